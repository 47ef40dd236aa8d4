//! Durations in settings, written as `250ms`, `5s`, `10m` or `1h` (or bare seconds).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer, de};

/// Reads `250ms`, `5s`, `10m`, `1h`, or a bare number of seconds.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(secs) => Ok(Duration::from_secs(secs)),
        Raw::Text(text) => parse(&text).map_err(de::Error::custom),
    }
}

/// Writes the duration back in the same notation.
pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    let millis = value.as_millis();
    if millis % 1000 == 0 {
        serializer.serialize_str(&format!("{}s", millis / 1000))
    } else {
        serializer.serialize_str(&format!("{millis}ms"))
    }
}

/// Parses a number followed by a unit: `ms`, `s`, `m` or `h`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 250ms, 5s or 10m"))?;
    let millis_per_unit = match unit {
        "ms" => 1,
        "s" | "" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("`{text}` has an unknown unit (use ms, s, m or h)")),
    };
    Ok(Duration::from_millis(
        number.saturating_mul(millis_per_unit),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_unit() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("7"), Ok(Duration::from_secs(7)));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        assert!(parse("soon").is_err());
        assert!(parse("5 days").is_err());
        assert!(parse("-1s").is_err());
    }
}
