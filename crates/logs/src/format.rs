//! One log record as a line of text: `TIMESTAMP STREAM TAG MESSAGE`, where TAG is `F` for a
//! full line and `P` for part of a longer one (split at the writer's buffer size, or cut off
//! by the container's exit).

use std::time::{SystemTime, UNIX_EPOCH};

/// Which output stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The name in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line (or part of one) a container wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When the supervisor read it, RFC 3339 in UTC with nanoseconds.
    pub timestamp: String,
    /// Where it was written.
    pub stream: Stream,
    /// False when the line continues in the next record.
    pub complete: bool,
    /// The text, without its newline.
    pub message: Vec<u8>,
}

impl Record {
    /// The record as one line of the file, newline included.
    pub fn encode(&self) -> Vec<u8> {
        let mut line = Vec::with_capacity(self.timestamp.len() + self.message.len() + 12);
        line.extend_from_slice(self.timestamp.as_bytes());
        line.push(b' ');
        line.extend_from_slice(self.stream.as_str().as_bytes());
        line.extend_from_slice(if self.complete { b" F " } else { b" P " });
        line.extend_from_slice(&self.message);
        line.push(b'\n');
        line
    }

    /// Parses one line of the file (without its newline); `None` when it is not a record.
    pub fn decode(line: &[u8]) -> Option<Record> {
        let mut parts = line.splitn(4, |b| *b == b' ');
        let timestamp = std::str::from_utf8(parts.next()?).ok()?.to_owned();
        let stream = match parts.next()? {
            b"stdout" => Stream::Stdout,
            b"stderr" => Stream::Stderr,
            _ => return None,
        };
        let complete = match parts.next()? {
            b"F" => true,
            b"P" => false,
            _ => return None,
        };
        let message = parts.next().unwrap_or_default().to_vec();
        Some(Record {
            timestamp,
            stream,
            complete,
            message,
        })
    }

    /// The message as the container wrote it: with its newline when the line is complete.
    pub fn output(&self) -> Vec<u8> {
        let mut out = self.message.clone();
        if self.complete {
            out.push(b'\n');
        }
        out
    }
}

/// `time` as RFC 3339 in UTC with nanoseconds: `2026-11-25T17:00:00.123456789Z`.
pub fn format_timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since.subsec_nanos()
    )
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_rfc3339_with_nanoseconds() {
        assert_eq!(
            format_timestamp(UNIX_EPOCH),
            "1970-01-01T00:00:00.000000000Z"
        );
        let t = UNIX_EPOCH + Duration::new(1_795_712_400, 123_456_789);
        assert_eq!(format_timestamp(t), "2026-11-26T17:00:00.123456789Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(format_timestamp(leap), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn records_round_trip_including_spaces_and_partials() {
        let record = Record {
            timestamp: "2026-11-25T17:00:00.000000001Z".into(),
            stream: Stream::Stderr,
            complete: false,
            message: b"two  spaces ".to_vec(),
        };
        let line = record.encode();
        assert_eq!(
            line,
            b"2026-11-25T17:00:00.000000001Z stderr P two  spaces \n".to_vec()
        );
        assert_eq!(Record::decode(&line[..line.len() - 1]), Some(record));
        assert_eq!(Record::decode(b"garbage"), None);
        let empty = Record::decode(b"t stdout F ").unwrap();
        assert_eq!(empty.output(), b"\n");
    }
}
