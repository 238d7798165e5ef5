//! SigV4's timestamps: `YYYYMMDDTHHMMSSZ` (`X-Amz-Date`), and the HTTP `Date` header a request
//! may carry instead, both to and from seconds since the Unix epoch, without a date library.

use std::fmt;

/// A moment, to the second, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AmzDate {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub epoch_seconds: i64,
}

impl AmzDate {
    /// The moment `epoch_seconds` after the epoch.
    pub fn from_epoch(epoch_seconds: i64) -> Self {
        Self { epoch_seconds }
    }

    /// Now, by the system clock.
    pub fn now() -> Self {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Self::from_epoch(seconds)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, ISO 8601 as the Query protocols write timestamps.
    pub fn iso8601(&self) -> String {
        let compact = self.compact();
        let compact = std::str::from_utf8(&compact).unwrap_or_default();
        format!(
            "{}-{}-{}T{}:{}:{}Z",
            &compact[0..4],
            &compact[4..6],
            &compact[6..8],
            &compact[9..11],
            &compact[11..13],
            &compact[13..15]
        )
    }

    /// `YYYYMMDD`, the date of a credential scope.
    pub fn date_stamp(&self) -> String {
        String::from_utf8_lossy(&self.compact()[..8]).into_owned()
    }

    /// `YYYYMMDDTHHMMSSZ` as bytes, written without the formatting machinery: every signed
    /// request's verification writes its date once and compares its day once.
    pub fn compact(&self) -> [u8; 16] {
        let days = self.epoch_seconds.div_euclid(86_400);
        let second_of_day = self.epoch_seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let mut out = *b"00000000T000000Z";
        // A year outside 0..=9999 cannot be written in four digits; SigV4 dates never are.
        let year = year.clamp(0, 9999) as u32;
        let digits = |out: &mut [u8], mut value: u32| {
            for slot in out.iter_mut().rev() {
                *slot = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        digits(&mut out[0..4], year);
        digits(&mut out[4..6], month as u32);
        digits(&mut out[6..8], day as u32);
        digits(&mut out[9..11], (second_of_day / 3600) as u32);
        digits(&mut out[11..13], (second_of_day / 60 % 60) as u32);
        digits(&mut out[13..15], (second_of_day % 60) as u32);
        out
    }
}

impl fmt::Display for AmzDate {
    /// `YYYYMMDDTHHMMSSZ`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.compact()).map_err(|_| fmt::Error)?)
    }
}

/// `YYYYMMDDTHHMMSSZ`, or `None` when it is not one.
pub fn parse_amz_date(text: &str) -> Option<AmzDate> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    moment(
        number(0..4)?,
        number(4..6)?,
        number(6..8)?,
        number(9..11)?,
        number(11..13)?,
        number(13..15)?,
    )
}

/// An HTTP date (`Tue, 01 Dec 2026 04:17:16 GMT`, RFC 7231's preferred form), or `None`.
pub fn parse_http_date(text: &str) -> Option<AmzDate> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = text.split_whitespace();
    let _weekday = parts.next()?;
    let day = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as i64 + 1;
    let year = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    (parts.next()? == "GMT" && parts.next().is_none()).then_some(())?;
    moment(year, month, day, hour, minute, second)
}

fn moment(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Option<AmzDate> {
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..61).contains(&second);
    valid.then(|| {
        AmzDate::from_epoch(
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second,
        )
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date, counting in 400-year eras (each era is
/// exactly 146 097 days, and a year taken to start in March puts the leap day last).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let march_month = (month + 9) % 12;
    let day_of_year = (153 * march_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_round_trip() {
        for (text, epoch) in [
            ("19700101T000000Z", 0),
            ("20150830T123600Z", 1_440_938_160),
            ("20000229T235959Z", 951_868_799),
            ("20261202T041716Z", 1_796_185_036),
        ] {
            let date = parse_amz_date(text).unwrap();
            assert_eq!(date.epoch_seconds, epoch, "{text}");
            assert_eq!(date.to_string(), text);
        }
        assert_eq!(AmzDate::from_epoch(1_440_938_160).date_stamp(), "20150830");
        assert_eq!(
            AmzDate::from_epoch(1_440_938_160).iso8601(),
            "2015-08-30T12:36:00Z"
        );
        for bad in [
            "2015083T123600Z",
            "20150830 123600Z",
            "20150230T000000Z",
            "20151330T000000Z",
            "20150830T246000Z",
            "+0150830T123600Z",
            "20150830T123600",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
            parse_amz_date("20150830T123600Z")
        );
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 PST"), None);
        assert_eq!(parse_http_date("30 Aug 2015"), None);
    }
}
