//! RFC 3339 timestamps, as much as cspctl needs: parse one into Unix seconds, format
//! Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`, add calendar months, read the system
//! clock once (the CLI's default "now"). The local tenant and the simulator share it.
//!
//! Rules never read the clock themselves: the current time arrives from the caller,
//! which is what keeps them deterministic and testable. This must not grow into a
//! date library; a dependency would be the better answer if it had to.

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into seconds since the Unix
/// epoch (UTC). The fraction is dropped: Partner Center's windows are whole days.
pub fn parse(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let separator =
        |index: usize, allowed: &[u8]| bytes.get(index).is_some_and(|b| allowed.contains(b));
    if !(separator(4, b"-")
        && separator(7, b"-")
        && separator(10, b"Tt ")
        && separator(13, b":")
        && separator(16, b":"))
    {
        return None;
    }
    let year = digits(text, 0, 4)?;
    let month = digits(text, 5, 7)?;
    let day = digits(text, 8, 10)?;
    let hour = digits(text, 11, 13)?;
    let minute = digits(text, 14, 16)?;
    // 60 is a leap second; it is allowed by RFC 3339 and harmless here.
    let second = digits(text, 17, 19)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = text.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        let count = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if count == 0 {
            return None;
        }
        rest = fraction.get(count..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let (hours, minutes) = (digits(rest, 1, 3)?, digits(rest, 4, 6)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
///
/// Digits are written directly: a snapshot of a large tenant formats three times
/// per subscription, and `format!` took a fifth of making it.
pub fn format(seconds: i64) -> String {
    let mut text = format_date(seconds);
    let rest = seconds.rem_euclid(86_400);
    text.push('T');
    push_digits(&mut text, rest / 3600, 2);
    text.push(':');
    push_digits(&mut text, rest % 3600 / 60, 2);
    text.push(':');
    push_digits(&mut text, rest % 60, 2);
    text.push('Z');
    text
}

/// Unix seconds as the UTC date, `YYYY-MM-DD` (the first ten characters of
/// [`format`]).
pub fn format_date(seconds: i64) -> String {
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    if !(0..=9999).contains(&year) {
        return format!("{year:04}-{month:02}-{day:02}");
    }
    let mut text = String::with_capacity(20);
    push_digits(&mut text, year, 4);
    text.push('-');
    push_digits(&mut text, month, 2);
    text.push('-');
    push_digits(&mut text, day, 2);
    text
}

/// Appends `value` (0 ≤ value < 10^width) in `width` decimal digits.
fn push_digits(text: &mut String, value: i64, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10_i64.pow(place) % 10;
        text.push(char::from(b'0' + u8::try_from(digit).unwrap_or(0)));
    }
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix seconds as an HTTP date (RFC 9110 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`):
/// the `Date` header a server sends, which is how a client learns the server's clock.
pub fn format_http_date(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let rest = seconds.rem_euclid(86_400);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0)];
    let month = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!(
        "{weekday}, {day:02} {month} {year:04} {:02}:{:02}:{:02} GMT",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Parses an IMF-fixdate (the only `Date` form RFC 9110 lets a server send) into Unix
/// seconds; `None` for anything else (the weekday is not checked).
pub fn parse_http_date(text: &str) -> Option<i64> {
    let text = text.trim();
    let rest = text.get(5..)?; // "Sun, "
    if text.get(3..5)? != ", " || rest.len() != 24 || !rest.ends_with(" GMT") {
        return None;
    }
    let month = MONTHS.iter().position(|m| rest.get(3..6) == Some(*m))? + 1;
    let iso = format!(
        "{}-{month:02}-{}T{}Z",
        rest.get(7..11)?,
        rest.get(0..2)?,
        rest.get(12..20)?
    );
    if rest.get(2..3)? != " " || rest.get(6..7)? != " " || rest.get(11..12)? != " " {
        return None;
    }
    parse(&iso)
}

/// The ASCII digits `text[start..end]` as a number; `None` for anything else.
fn digits(text: &str, start: usize, end: usize) -> Option<i64> {
    let part = text.get(start..end)?;
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `unix` plus `months` calendar months (the day is clamped to the month's length:
/// January 31st plus one month is February 28th or 29th).
pub fn add_months(unix: i64, months: i64) -> i64 {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    let total = year * 12 + (month - 1) + months;
    let (new_year, new_month) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let new_day = day.min(days_in_month(new_year, new_month));
    days_from_civil(new_year, new_month, new_day) * 86_400 + unix.rem_euclid(86_400)
}

/// The system clock as `YYYY-MM-DDTHH:MM:SSZ` (the CLI's default "now").
pub fn system_now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format(i64::try_from(seconds).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates_round_trip() {
        // RFC 9110's own example.
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            format_http_date(784_111_777),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        let t = parse("2026-12-04T14:05:09Z").expect("valid");
        assert_eq!(parse_http_date(&format_http_date(t)), Some(t));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Xyz 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date(""), None);
    }

    use super::*;

    #[test]
    fn parses_and_formats_utc() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        let seconds = parse("2026-01-31T12:00:00Z").expect("valid");
        assert_eq!(format(seconds), "2026-01-31T12:00:00Z");
        assert_eq!(format(seconds + 7 * 86_400), "2026-02-07T12:00:00Z");
        for at in [0, seconds, -1, 951_782_399, 253_402_300_799] {
            assert_eq!(format_date(at), format(at)[..10], "{at}");
        }
        // Written digit by digit; the same as the format string would give.
        for at in [
            0,
            59,
            3_599,
            86_399,
            -62_167_219_200,
            253_402_300_799,
            seconds,
        ] {
            let (year, month, day) = civil_from_days(at.div_euclid(86_400));
            let rest = at.rem_euclid(86_400);
            let expected = format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
                rest / 3600,
                rest % 3600 / 60,
                rest % 60
            );
            assert_eq!(format(at), expected, "{at}");
        }
        assert_eq!(format(-62_167_219_201), "-001-12-31T23:59:59Z");
    }

    #[test]
    fn handles_offsets_fractions_and_leap_years() {
        assert_eq!(
            parse("2024-02-29T01:30:00.123+01:30"),
            parse("2024-02-29T00:00:00Z")
        );
        assert_eq!(
            format(parse("2024-02-25T00:00:00Z").expect("valid") + 7 * 86_400),
            "2024-03-03T00:00:00Z"
        );
        assert_eq!(
            format(parse("2025-12-28T23:59:59-00:00").expect("valid") + 7 * 86_400),
            "2026-01-04T23:59:59Z"
        );
    }

    #[test]
    fn rejects_malformed_times() {
        for bad in [
            "",
            "2026-01-31",
            "2026-01-31T12:00:00",
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-31T24:00:00Z",
            "2026-01-31T12:00:00.Z",
            "2026-01-31T12:00:00+1:00",
            "２026-01-31T12:00:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
