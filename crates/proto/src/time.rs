//! Calendar arithmetic for listings and MDTM, without a clock: callers pass
//! the instant and, for local time, its UTC offset.

/// A broken-down date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 59.
    pub second: u32,
}

const SECS_PER_DAY: i64 = 86_400;
/// Largest year (either side of 0) that [`DateTime::to_unix`] computes
/// with: its days, times 86 400, still fit `i64` arithmetic unchecked up to
/// the final multiplication, which is checked.
const MAX_YEAR: u64 = 1_000_000_000_000;

impl DateTime {
    /// The date and time `secs` seconds after the Unix epoch, shifted by
    /// `offset` seconds (0 for UTC).
    pub fn from_unix(secs: i64, offset: i32) -> DateTime {
        let t = secs.saturating_add(i64::from(offset));
        let days = t.div_euclid(SECS_PER_DAY);
        let rem = t.rem_euclid(SECS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }

    /// Seconds since the Unix epoch for this UTC date and time, if valid
    /// and within `i64` seconds (years beyond about ±292 billion are not).
    pub fn to_unix(&self) -> Option<i64> {
        // Past this the day count below could overflow; `i64` seconds end
        // near year 292e9 anyway.
        if self.year.unsigned_abs() > MAX_YEAR {
            return None;
        }
        let days_in_month = match self.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if is_leap(self.year) => 29,
            2 => 28,
            _ => return None,
        };
        if self.day == 0
            || self.day > days_in_month
            || self.hour > 23
            || self.minute > 59
            || self.second > 60
        {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        days.checked_mul(SECS_PER_DAY)?.checked_add(i64::from(
            self.hour * 3600 + self.minute * 60 + self.second.min(59),
        ))
    }

    /// `YYYYMMDDHHMMSS`, the RFC 3659 time-val (MDTM, MLSx `modify`).
    ///
    /// A year outside 0 to 9999 does not fit the four digits: it is
    /// written with more, or with a sign. [`Self::checked_time_val`] gives
    /// `None` instead.
    pub fn time_val(&self) -> String {
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// The RFC 3659 time-val, if the year has four digits (0 to 9999):
    /// the grammar allows nothing else, so a reply or fact that cannot hold
    /// the time is better left out than sent malformed.
    pub fn checked_time_val(&self) -> Option<String> {
        (0..=9999).contains(&self.year).then(|| self.time_val())
    }

    /// Parses an RFC 3659 time-val `YYYYMMDDHHMMSS[.sss]` (UTC).
    pub fn parse_time_val(s: &str) -> Option<DateTime> {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.len() != 14
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| whole[r].parse::<u32>().ok();
        let dt = DateTime {
            year: i64::from(num(0..4)?),
            month: num(4..6)?,
            day: num(6..8)?,
            hour: num(8..10)?,
            minute: num(10..12)?,
            second: num(12..14)?,
        };
        dt.to_unix().map(|_| dt)
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days since 1970-01-01 to (year, month, day). Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let cases = [
            (0, "19700101000000"),
            (951_782_400, "20000229000000"),
            (1_700_000_000, "20231114221320"),
            (-1, "19691231235959"),
            (4_102_444_800, "21000101000000"),
        ];
        for (secs, want) in cases {
            let dt = DateTime::from_unix(secs, 0);
            assert_eq!(dt.time_val(), want);
            assert_eq!(dt.to_unix(), Some(secs));
        }
    }

    #[test]
    fn to_unix_at_the_ends_of_i64_does_not_overflow() {
        // Found writing the `listing` fuzz target: i64::MIN lies in a day
        // whose midnight is before i64::MIN seconds.
        assert_eq!(DateTime::from_unix(i64::MIN, 0).to_unix(), None);
        assert_eq!(DateTime::from_unix(i64::MAX, 0).to_unix(), Some(i64::MAX));
        let min_day = i64::MIN.div_euclid(SECS_PER_DAY) + 1;
        let t = min_day * SECS_PER_DAY;
        assert_eq!(DateTime::from_unix(t, 0).to_unix(), Some(t));
        for year in [i64::MAX, i64::MIN, 300_000_000_000, -300_000_000_000] {
            let dt = DateTime {
                year,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
            };
            assert_eq!(dt.to_unix(), None, "{year}");
        }
    }

    #[test]
    fn time_val_only_for_four_digit_years() {
        let year = |year| DateTime {
            year,
            month: 1,
            day: 2,
            hour: 3,
            minute: 4,
            second: 5,
        };
        assert_eq!(
            year(0).checked_time_val().as_deref(),
            Some("00000102030405")
        );
        assert_eq!(
            year(9999).checked_time_val().as_deref(),
            Some("99990102030405")
        );
        assert_eq!(year(10_000).checked_time_val(), None);
        assert_eq!(year(-1).checked_time_val(), None);
    }

    #[test]
    fn offsets() {
        assert_eq!(DateTime::from_unix(0, 3600).time_val(), "19700101010000");
        assert_eq!(DateTime::from_unix(0, -60).time_val(), "19691231235900");
    }

    #[test]
    fn parse_time_vals() {
        assert_eq!(
            DateTime::parse_time_val("20231114221320").and_then(|d| d.to_unix()),
            Some(1_700_000_000)
        );
        assert!(DateTime::parse_time_val("20231114221320.123").is_some());
        for bad in [
            "",
            "2023111422132",
            "20231314221320",
            "20230230000000",
            "2023111422132x",
            "20231114221320.x",
        ] {
            assert_eq!(DateTime::parse_time_val(bad), None, "{bad}");
        }
    }
}
