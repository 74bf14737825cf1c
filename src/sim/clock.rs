//! The simulated clock (RFC 3339 arithmetic is shared with the local tenant: `crate::time`).
//!
//! `now = start + advanced offset + real elapsed` (the last part is dropped when the
//! clock is frozen). Seconds granularity: every rule the simulator models (token
//! expiry, provisioning delay, order-list lag, cancellation window) is measured in
//! seconds, and whole seconds keep responses reproducible.

use std::time::Instant;

/// The simulated clock. Cheap to read; owned by the server state.
#[derive(Debug)]
pub struct SimClock {
    start: i64,
    offset: i64,
    real_start: Instant,
    frozen: bool,
}

impl SimClock {
    /// A clock reading `start` (unix seconds) now.
    pub fn new(start: i64, offset: i64, frozen: bool) -> SimClock {
        SimClock {
            start,
            offset,
            real_start: Instant::now(),
            frozen,
        }
    }

    /// The current simulated time in unix seconds.
    pub fn now(&self) -> i64 {
        let real = if self.frozen {
            0
        } else {
            i64::try_from(self.real_start.elapsed().as_secs()).unwrap_or(i64::MAX / 4)
        };
        self.start.saturating_add(self.offset).saturating_add(real)
    }

    /// Moves the clock forward (never backward: a negative advance is refused by the
    /// caller, because expiry and provisioning would otherwise run backwards).
    pub fn advance(&mut self, seconds: i64) {
        self.offset = self.offset.saturating_add(seconds);
    }

    /// Total seconds advanced so far (persisted with the state).
    pub fn offset(&self) -> i64 {
        self.offset
    }
}

pub use crate::time::{add_months, format as format_rfc3339, parse as parse_rfc3339};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let t = parse_rfc3339("2026-01-31T12:34:56Z").expect("valid");
        assert_eq!(format_rfc3339(t), "2026-01-31T12:34:56Z");
        assert_eq!(
            parse_rfc3339("2018-06-14T00:00:00.000Z"),
            Some(1_528_934_400)
        );
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("garbage"), None);
        assert_eq!(parse_rfc3339("2026-01-01T00:00:0é0Z"), None);
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00.ééZ"), None);
        assert_eq!(
            parse_rfc3339("2026-01-01T01:00:00+01:00"),
            parse_rfc3339("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn months_clamp_to_month_end() {
        let t = parse_rfc3339("2026-01-31T10:00:00Z").expect("valid");
        assert_eq!(format_rfc3339(add_months(t, 1)), "2026-02-28T10:00:00Z");
        assert_eq!(format_rfc3339(add_months(t, 12)), "2027-01-31T10:00:00Z");
    }

    #[test]
    fn frozen_clock_only_moves_when_advanced() {
        let mut clock = SimClock::new(1000, 0, true);
        assert_eq!(clock.now(), 1000);
        clock.advance(60);
        assert_eq!(clock.now(), 1060);
    }
}
