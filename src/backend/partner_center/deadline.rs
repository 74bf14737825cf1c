//! The run's deadline (`--timeout`): the moment after which the client sends no
//! request, begins no wait and waits for no answer, and fails instead with an error
//! naming the request. It bounds what the per-request limits do not: a server that
//! never answers is retried, and one that answers 429 forever is waited on, for
//! minutes each.
//!
//! A wait that would end past the deadline fails at once rather than sleeping
//! until then. Failing leaves nothing half-recorded: a purchase's intent is in the
//! journal before its request is sent, so one cut off here stays open for the next
//! apply to settle.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::BackendError;

/// When the run must stop, if ever.
#[derive(Clone, Copy, Debug, Default)]
pub struct Deadline {
    at: Option<Instant>,
    /// The `--timeout` it was set from, for messages.
    timeout: Duration,
}

impl Deadline {
    /// `timeout` from now; `None` is no deadline.
    pub fn after(timeout: Option<Duration>) -> Deadline {
        Deadline {
            at: timeout.map(|timeout| Instant::now() + timeout),
            timeout: timeout.unwrap_or_default(),
        }
    }

    /// The moment itself, for a caller that must stop starting work then.
    pub fn at(&self) -> Option<Instant> {
        self.at
    }

    /// Whether waiting `wait` from now ends by the deadline.
    pub fn allows(&self, wait: Duration) -> bool {
        self.at.is_none_or(|at| {
            Instant::now()
                .checked_add(wait)
                .is_some_and(|end| end <= at)
        })
    }

    /// The error for `what` (a request or a wait) cut off by the deadline.
    pub fn exceeded(&self, what: &str) -> BackendError {
        BackendError::State(format!(
            "{what}: stopped by the run's deadline (--timeout {}); run again later, or with a longer --timeout",
            describe_duration(self.timeout)
        ))
    }

    /// Fails, naming `what`, when waiting `wait` from now would pass the deadline.
    pub fn check(&self, wait: Duration, what: &str) -> Result<(), BackendError> {
        if self.allows(wait) {
            return Ok(());
        }
        Err(self.exceeded(&format!(
            "{what}; waiting {} more would pass it",
            describe_duration(wait)
        )))
    }

    /// Sleeps `wait`, or fails at once when the deadline would pass first.
    pub async fn sleep(&self, wait: Duration, what: &str) -> Result<(), BackendError> {
        self.check(wait, what)?;
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Runs `future`, or fails naming `what` when the deadline passes first (the
    /// future is dropped: whatever it sent stays unanswered).
    pub async fn bound<T>(
        &self,
        what: &str,
        future: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        match self.at {
            None => future.await,
            Some(at) => tokio::time::timeout_at(at, future)
                .await
                .unwrap_or_else(|_| Err(self.exceeded(what))),
        }
    }
}

/// `90s`, `10m`, `1h`, `1.5s`: the units `--timeout` is written in.
pub fn describe_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() != 0 {
        format!("{:.1}s", duration.as_secs_f64())
    } else if seconds != 0 && seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds != 0 && seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// Reads a duration as `--timeout` takes it: a number with a unit (`ms`, `s`, `m`,
/// `h`), or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("`{text}` is not a duration: write a whole number and a unit, e.g. 90s, 10m, 1h")
    })?;
    let unit_seconds = match unit {
        "ms" => return Ok(Duration::from_millis(number)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "`{other}` is not a unit of duration: use ms, s, m, h or d (e.g. 90s, 10m, 1h, 7d)"
            ));
        }
    };
    number
        .checked_mul(unit_seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written_and_print_back() {
        for (text, seconds) in [("90s", 90), ("90", 90), ("10m", 600), ("1h", 3600)] {
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(seconds)));
        }
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "s", "1.5s", "10 minutes", "-1s", "99999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        for text in ["90s", "10m", "1h", "0s"] {
            assert_eq!(describe_duration(parse_duration(text).unwrap()), text);
        }
    }

    /// A wait that would pass the deadline fails without sleeping (an hour-long
    /// sleep would hang the test).
    #[tokio::test]
    async fn a_wait_past_the_deadline_fails_at_once() {
        let deadline = Deadline::after(Some(Duration::from_secs(3600)));
        let error = deadline
            .sleep(
                Duration::from_secs(7200),
                "GET /v1/customers (request id r)",
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("GET /v1/customers (request id r)"),
            "{error}"
        );
        assert!(error.contains("--timeout 1h"), "{error}");
        assert!(deadline.sleep(Duration::ZERO, "w").await.is_ok());
        assert!(Deadline::after(None).allows(Duration::MAX));
    }

    #[tokio::test]
    async fn a_bound_future_is_cut_off_at_the_deadline() {
        let deadline = Deadline::after(Some(Duration::ZERO));
        let never = std::future::pending::<Result<(), BackendError>>();
        let error = deadline.bound("POST /v1/x", never).await.unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("POST /v1/x: stopped by the run's deadline"),
            "{error}"
        );
    }
}
