//! Durations as operators write them: `250ms`, `15s`, `5m`, `1h`, and comma lists of them.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration: use a whole number with ms, s, m or h (e.g. 15s)")]
pub struct InvalidDuration(pub String);

pub fn parse_duration(raw: &str) -> Result<Duration, InvalidDuration> {
    let raw = raw.trim();
    let invalid = || InvalidDuration(raw.to_owned());
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().map_err(|_| invalid())?;
    let millis = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    };
    millis.map(Duration::from_millis).ok_or_else(invalid)
}

/// The duration in its largest exact unit (`90s`, `2m`, `1500ms`), as `parse_duration` reads
/// it back; sub-millisecond parts are dropped. Zero is `0s`.
pub fn format_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// A comma-separated list such as `1s,4s,16s`. An empty list is refused.
pub fn parse_duration_list(raw: &str) -> Result<Vec<Duration>, InvalidDuration> {
    if raw.trim().is_empty() {
        return Err(InvalidDuration(raw.to_owned()));
    }
    raw.split(',').map(parse_duration).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration(" 5m "), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in [
            "",
            "s",
            "15",
            "1.5s",
            "-1s",
            "10 s",
            "3d",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn formats_in_the_largest_exact_unit_and_reads_back() {
        for (ms, shown) in [
            (0, "0s"),
            (250, "250ms"),
            (1_000, "1s"),
            (1_500, "1500ms"),
            (90_000, "90s"),
            (300_000, "5m"),
            (5_400_000, "90m"),
            (7_200_000, "2h"),
        ] {
            let duration = Duration::from_millis(ms);
            assert_eq!(format_duration(duration), shown);
            assert_eq!(parse_duration(shown), Ok(duration));
        }
    }

    #[test]
    fn parses_the_default_retry_schedule() {
        let schedule = parse_duration_list("1s,4s,16s,64s,256s").unwrap();
        assert_eq!(schedule.len(), 5);
        assert_eq!(schedule[4], Duration::from_secs(256));
        assert!(parse_duration_list("").is_err());
        assert!(parse_duration_list("1s,,2s").is_err());
    }
}
