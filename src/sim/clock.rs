//! The simulated clock and the RFC 3339 arithmetic the simulator needs.
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

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(unix: i64) -> String {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    let rest = unix.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only) into unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || !matches!(b[b.len() - 1], b'Z' | b'z') {
        return None;
    }
    // `get` rather than indexing: hostile input may put a multi-byte character here.
    let tail = text.get(19..text.len() - 1)?;
    if !(tail.is_empty()
        || (tail.starts_with('.')
            && tail.len() > 1
            && tail[1..].bytes().all(|c| c.is_ascii_digit())))
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// `unix` plus `months` calendar months (the day is clamped to the month's length).
pub fn add_months(unix: i64, months: i64) -> i64 {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    let total = year * 12 + (month - 1) + months;
    let (new_year, new_month) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let next_first = if new_month == 12 {
        days_from_civil(new_year + 1, 1, 1)
    } else {
        days_from_civil(new_year, new_month + 1, 1)
    };
    let month_len = next_first - days_from_civil(new_year, new_month, 1);
    let new_day = day.min(month_len);
    days_from_civil(new_year, new_month, new_day) * 86_400 + unix.rem_euclid(86_400)
}

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
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00+01:00"), None);
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
