//! Stream's timestamps: RFC 3339 strings in captured traffic, Unix nanoseconds in its SDKs.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// An instant as Stream sends it, read from either notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Seconds from `earlier` to `self`, if `self` is not before it.
    pub fn seconds_since(&self, earlier: &Timestamp) -> Option<f64> {
        let delta = self.0.signed_duration_since(earlier.0);
        let micros = delta.num_microseconds()?;
        (micros >= 0).then(|| micros as f64 / 1e6)
    }

    fn from_unix_nanos(nanos: i128) -> Option<Self> {
        let nanos = i64::try_from(nanos).ok()?;
        Some(Self(DateTime::from_timestamp_nanos(nanos)))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TimestampVisitor)
    }
}

struct TimestampVisitor;

impl Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 string or integer Unix nanoseconds")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Timestamp, E> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| Timestamp(t.with_timezone(&Utc)))
            .map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))
    }

    fn visit_u64<E: de::Error>(self, nanos: u64) -> Result<Timestamp, E> {
        Timestamp::from_unix_nanos(nanos.into()).ok_or_else(|| E::custom("timestamp out of range"))
    }

    fn visit_i64<E: de::Error>(self, nanos: i64) -> Result<Timestamp, E> {
        Timestamp::from_unix_nanos(nanos.into()).ok_or_else(|| E::custom("timestamp out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Timestamp, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn reads_rfc3339_with_zero_to_nine_fractional_digits() {
        let whole = parse("\"2023-11-14T14:49:14Z\"").expect("whole seconds");
        let nanos = parse("\"2023-11-14T14:49:14.142187951Z\"").expect("nanoseconds");
        assert_eq!(nanos.0.timestamp(), whole.0.timestamp());
        assert_eq!(nanos.0.timestamp_subsec_nanos(), 142_187_951);
        assert!(parse("\"2023-11-14T14:49:14.5+02:00\"").is_ok());
    }

    #[test]
    fn reads_integer_unix_nanoseconds() {
        let t = parse("1778198400000000000").expect("nanoseconds");
        assert_eq!(t.0.timestamp(), 1_778_198_400);
    }

    #[test]
    fn refuses_other_shapes() {
        assert!(parse("\"yesterday\"").is_err());
        assert!(parse("1.5").is_err());
        assert!(parse("99999999999999999999").is_err());
    }

    #[test]
    fn measures_seconds_between_two_instants() {
        let start = parse("\"2024-01-15T10:32:00Z\"").expect("start");
        let end = parse("\"2024-01-15T11:30:00.5Z\"").expect("end");
        assert_eq!(end.seconds_since(&start), Some(3480.5));
        assert_eq!(start.seconds_since(&end), None);
    }
}
