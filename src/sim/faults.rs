//! Injected faults: latency, throttling (429), server errors (503), responses dropped
//! after the change was committed, and read-after-create lag.
//!
//! Every random-looking decision comes from [`splitmix64`](crate::ids::splitmix64) over (fault seed, request
//! number, fault kind), so a run with the same seed and the same request sequence
//! fails the same requests. Throttling is the exception: it uses token buckets in
//! real time, because that is what a client's back-off reacts to.

use std::collections::HashMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::ids::splitmix64;

/// Fault configuration for a run; `Default` injects nothing. Also the body of
/// `GET|PUT /_sim/faults`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Added latency in milliseconds: fixed when `latency_max_ms <= latency_min_ms`,
    /// otherwise drawn from `[min, max]`.
    pub latency_min_ms: u64,
    pub latency_max_ms: u64,
    /// Requests per minute per partner tenant before 429 (`None` = unlimited).
    pub partner_requests_per_minute: Option<u32>,
    /// Requests per minute per (partner, customer) before 429 (`None` = unlimited).
    pub customer_requests_per_minute: Option<u32>,
    /// Fraction (0..=1) of `/v1` requests answered 503 before doing anything.
    pub server_error_rate: f64,
    /// Fraction (0..=1) of `/v1` requests answered 429 with `Retry-After: 1`
    /// whatever the buckets say: throttling as a rate, for reliability tests.
    pub throttle_rate: f64,
    /// Fraction (0..=1) of mutating `/v1` requests whose change is committed and
    /// whose connection then closes without an answer.
    pub drop_after_commit_rate: f64,
    /// Seconds after creation during which `GET /v1/customers/{id}` answers 404.
    pub read_after_create_lag_seconds: u64,
    /// Subscriptions still provisioning are left out of `GET …/subscriptions`
    /// (GET by id still finds them): the worst case a client must survive, where a
    /// purchase under way is invisible in the list a plan reads.
    pub pending_subscriptions_unlisted: bool,
    /// Seed of the decision generator.
    pub seed: u64,
}

/// Which decision a draw is for (separate streams, so enabling one fault does not
/// shift the requests another fault hits).
#[derive(Clone, Copy, Debug)]
pub enum Draw {
    Latency = 1,
    ServerError = 2,
    Drop = 3,
    Throttle = 4,
}

impl Faults {
    /// A uniform draw in [0, 1) for request number `n`.
    pub fn draw(&self, n: u64, kind: Draw) -> f64 {
        let mixed = splitmix64(self.seed ^ splitmix64(n.wrapping_mul(8).wrapping_add(kind as u64)));
        // 53 high bits → an exact f64 in [0, 1).
        (mixed >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether request `n` hits a fault of the given rate.
    pub fn hits(&self, n: u64, kind: Draw, rate: f64) -> bool {
        rate > 0.0 && self.draw(n, kind) < rate
    }

    /// Latency to add to request `n`, in milliseconds.
    pub fn latency_ms(&self, n: u64) -> u64 {
        if self.latency_max_ms <= self.latency_min_ms {
            return self.latency_min_ms;
        }
        let span = self.latency_max_ms - self.latency_min_ms + 1;
        let offset = (self.draw(n, Draw::Latency) * span as f64) as u64;
        self.latency_min_ms + offset.min(span - 1)
    }

    /// Rejects nonsense (rates outside 0..=1, NaN) so a bad PUT cannot wedge the run.
    pub fn check(&self) -> Result<(), String> {
        for (name, rate) in [
            ("serverErrorRate", self.server_error_rate),
            ("dropAfterCommitRate", self.drop_after_commit_rate),
            ("throttleRate", self.throttle_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if self.latency_max_ms > 600_000 || self.latency_min_ms > 600_000 {
            return Err("latency must not exceed 600000 ms".to_owned());
        }
        if self.partner_requests_per_minute == Some(0)
            || self.customer_requests_per_minute == Some(0)
        {
            return Err("a requests-per-minute limit must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// Token buckets keyed by partner tenant or (partner, customer), refilled in real
/// time at `limit / 60` tokens per second up to `limit`.
#[derive(Debug, Default)]
pub struct Buckets {
    buckets: HashMap<String, (f64, Instant)>,
}

impl Buckets {
    /// Takes one token for `key`; `Err(retry_after_seconds)` when the bucket is empty.
    pub fn take(&mut self, key: &str, limit: u32, now: Instant) -> Result<(), u64> {
        let capacity = f64::from(limit);
        let rate = capacity / 60.0;
        let entry = self
            .buckets
            .entry(key.to_owned())
            .or_insert((capacity, now));
        let elapsed = now.saturating_duration_since(entry.1).as_secs_f64();
        entry.0 = (entry.0 + elapsed * rate).min(capacity);
        entry.1 = now;
        if entry.0 >= 1.0 {
            entry.0 -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - entry.0) / rate).ceil().max(1.0);
            Err(wait as u64)
        }
    }

    /// Forgets all buckets (after the limits change).
    pub fn clear(&mut self) {
        self.buckets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_deterministic_and_seed_dependent() {
        let a = Faults {
            seed: 7,
            ..Faults::default()
        };
        let b = Faults {
            seed: 8,
            ..Faults::default()
        };
        let seq = |f: &Faults| {
            (0..64)
                .map(|n| f.hits(n, Draw::ServerError, 0.5))
                .collect::<Vec<_>>()
        };
        assert_eq!(seq(&a), seq(&a));
        assert_ne!(seq(&a), seq(&b));
        assert!(!a.hits(3, Draw::ServerError, 0.0));
        assert!(a.hits(3, Draw::ServerError, 1.0));
    }

    #[test]
    fn bucket_refuses_after_limit() {
        let mut buckets = Buckets::default();
        let now = Instant::now();
        assert!(buckets.take("p", 2, now).is_ok());
        assert!(buckets.take("p", 2, now).is_ok());
        let wait = buckets.take("p", 2, now).expect_err("empty");
        assert!((1..=30).contains(&wait));
        assert!(buckets.take("other", 2, now).is_ok());
    }

    #[test]
    fn latency_range_stays_inside() {
        let f = Faults {
            latency_min_ms: 5,
            latency_max_ms: 9,
            ..Faults::default()
        };
        assert!((0..100).all(|n| (5..=9).contains(&f.latency_ms(n))));
    }
}
