//! [`Timestamp`]: whole seconds since the Unix epoch, read and written as RFC 3339 (UTC).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time, to the second, as recorded in the sessions index (`"at"`).
///
/// Written as RFC 3339 in UTC (`2026-11-25T16:00:00Z`); read from any RFC 3339 date-time
/// (fractions of a second are dropped, offsets are applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time (the epoch if the clock is set before it).
    #[must_use]
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Timestamp(secs)
    }

    /// The time `secs` seconds after the Unix epoch.
    #[must_use]
    pub fn from_unix(secs: i64) -> Self {
        Timestamp(secs)
    }

    /// Seconds since the Unix epoch.
    #[must_use]
    pub fn unix(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[5..7])?;
        let day = digits(&b[8..10])?;
        let (hour, min, sec) = (
            digits(&b[11..13])?,
            digits(&b[14..16])?,
            digits(&b[17..19])?,
        );
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || min > 59 || sec > 60 {
            return None;
        }
        let mut rest = &b[19..];
        if rest.first() == Some(&b'.') {
            let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            rest = &rest[1 + n..];
        }
        let offset = match rest {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
                if h > 23 || m > 59 {
                    return None;
                }
                let off = h * 3600 + m * 60;
                if *sign == b'-' { -off } else { off }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        // A leap second (:60) counts as the last second of its minute.
        let secs = days * 86_400 + hour * 3600 + min * 60 + sec.min(59) - offset;
        Some(Timestamp(secs))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(1_795_622_400).to_string(), "2026-11-25T16:00:00Z");
        assert_eq!(Timestamp(951_782_400).to_string(), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parses_what_it_formats_for_many_days() {
        for secs in (-5_000_000_000i64..5_000_000_000).step_by(7_777_777) {
            let t = Timestamp(secs);
            assert_eq!(Timestamp::parse(&t.to_string()), Some(t), "{t}");
        }
    }

    #[test]
    fn parses_fractions_and_offsets() {
        let base = Timestamp::parse("2026-11-25T16:00:00Z").unwrap();
        assert_eq!(Timestamp::parse("2026-11-25T16:00:00.123456Z"), Some(base));
        assert_eq!(Timestamp::parse("2026-11-25T17:30:00+01:30"), Some(base));
        assert_eq!(Timestamp::parse("2026-11-25T11:00:00-05:00"), Some(base));
    }

    #[test]
    fn refuses_what_is_not_rfc3339() {
        for bad in [
            "",
            "2026-11-25",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T16:00:00",
            "2026-11-25T16:00:00.Z",
            "2026-11-25T16:00:00+0100",
            "２026-11-25T16:00:00Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }
}
