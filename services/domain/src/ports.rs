//! The ports a webhook may use (`HERALD_ALLOWED_PORTS`): a list of ports and ranges, by
//! default `80,443,1024-65535`, so a webhook cannot reach SSH, SMTP or other well-known
//! services below 1024 on a public host.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortList(Vec<RangeInclusive<u16>>);

impl PortList {
    pub const DEFAULT: &'static str = "80,443,1024-65535";

    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|range| range.contains(&port))
    }
}

impl Default for PortList {
    fn default() -> Self {
        Self(vec![80..=80, 443..=443, 1024..=65535])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a port (1-65535) or a range of ports like 8000-8999")]
pub struct PortListError(String);

impl FromStr for PortList {
    type Err = PortListError;

    /// `80,443,1024-65535`: comma-separated ports and inclusive ranges; at least one.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let port = |s: &str| s.trim().parse::<u16>().ok().filter(|p| *p > 0);
        let ranges = raw
            .split(',')
            .map(str::trim)
            .map(|entry| {
                let range = match entry.split_once('-') {
                    Some((from, to)) => port(from).zip(port(to)).map(|(a, b)| a..=b),
                    None => port(entry).map(|p| p..=p),
                };
                range
                    .filter(|r| r.start() <= r.end())
                    .ok_or_else(|| PortListError(entry.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(ranges))
    }
}

impl fmt::Display for PortList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|r| match r.start() == r.end() {
                true => r.start().to_string(),
                false => format!("{}-{}", r.start(), r.end()),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_allows_web_ports_and_unprivileged_ones() {
        let ports = PortList::default();
        assert_eq!(ports, PortList::DEFAULT.parse().unwrap());
        assert_eq!(ports.to_string(), PortList::DEFAULT);
        for open in [80, 443, 1024, 8080, 65535] {
            assert!(ports.contains(open), "{open}");
        }
        for closed in [0, 22, 25, 81, 442, 444, 1023] {
            assert!(!ports.contains(closed), "{closed}");
        }
    }

    #[test]
    fn lists_parse_with_spaces_and_ranges() {
        let ports: PortList = " 443 , 8000-8999".parse().unwrap();
        assert!(ports.contains(443) && ports.contains(8000) && ports.contains(8999));
        assert!(!ports.contains(80) && !ports.contains(9000));
        assert_eq!(ports.to_string(), "443,8000-8999");
    }

    #[test]
    fn bad_lists_name_the_bad_entry() {
        for (raw, entry) in [
            ("", ""),
            ("80,", ""),
            ("0", "0"),
            ("65536", "65536"),
            ("http", "http"),
            ("9000-8000", "9000-8000"),
            ("80-", "80-"),
            ("-5", "-5"),
        ] {
            let err = raw.parse::<PortList>().expect_err(raw);
            assert_eq!(err, PortListError(entry.to_owned()), "{raw}");
        }
    }
}
