//! `Timestamp`: a point in time as the AWS JSON protocols encode it (epoch seconds, fractional).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time with millisecond precision, on the wire as fractional epoch seconds
/// (`1700000000.123`), which is how AWS JSON 1.1 encodes `timestamp` shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    millis: i64,
}

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self::from_millis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    /// A timestamp `millis` milliseconds after the Unix epoch.
    pub fn from_millis(millis: i64) -> Self {
        Self { millis }
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_millis(self) -> i64 {
        self.millis
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.millis as f64 / 1000.0)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        if !seconds.is_finite() {
            return Err(serde::de::Error::custom(
                "timestamp must be a finite number",
            ));
        }
        Ok(Self::from_millis((seconds * 1000.0).round() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_fractional_epoch_seconds_and_back() {
        let t = Timestamp::from_millis(1_700_000_000_123);
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(text, "1700000000.123");
        assert_eq!(serde_json::from_str::<Timestamp>(&text).unwrap(), t);
        assert_eq!(
            serde_json::from_str::<Timestamp>("1700000000").unwrap(),
            Timestamp::from_millis(1_700_000_000_000)
        );
    }
}
