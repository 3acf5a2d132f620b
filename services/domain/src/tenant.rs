//! A tenant's lifecycle and its own settings: whether its deliveries run, how it is shown,
//! and the retry schedule it may have instead of the platform's.
//!
//! - `active`: everything works.
//! - `suspended`: the API works and events are queued, but nothing is delivered until the
//!   tenant is active again (the dispatcher gives it no concurrency).
//! - `disabled`: its API keys answer 403 and its JetStream consumer is deleted; its data stays.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::duration::{InvalidDuration, format_duration, parse_duration};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantStatus {
    Active,
    Suspended,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a tenant status: use active, suspended or disabled")]
pub struct InvalidTenantStatus(pub String);

impl TenantStatus {
    pub const ALL: [Self; 3] = [Self::Active, Self::Suspended, Self::Disabled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Disabled => "disabled",
        }
    }

    /// Whether the tenant has a JetStream consumer: every status but `disabled`.
    pub fn has_consumer(self) -> bool {
        self != Self::Disabled
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TenantStatus {
    type Err = InvalidTenantStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| InvalidTenantStatus(s.to_owned()))
    }
}

/// So a database column decodes straight into the type.
impl TryFrom<String> for TenantStatus {
    type Error = InvalidTenantStatus;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// A tenant's display name: at most 200 characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 200;

pub fn check_display_name(name: &str) -> Result<(), String> {
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(format!("at most {MAX_DISPLAY_NAME_CHARS} characters"));
    }
    Ok(())
}

/// A tenant's own delays between attempts, used instead of `HERALD_RETRY_SCHEDULE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRetrySchedule(Vec<Duration>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRetrySchedule {
    #[error("must have 1 to {max} delays, not {0}", max = TenantRetrySchedule::MAX_DELAYS)]
    Length(usize),
    #[error("[{0}]: {1}")]
    Delay(usize, InvalidDuration),
    #[error("[{0}]: at most {max}", max = format_duration(TenantRetrySchedule::MAX_DELAY))]
    TooLong(usize),
}

impl TenantRetrySchedule {
    /// Attempts in all are one more than this.
    pub const MAX_DELAYS: usize = 20;
    /// The longest single delay (a week): long enough for any receiver outage worth waiting
    /// out, and far inside what timestamps can hold.
    pub const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

    /// Parses delays written as the platform's are (`"100ms"`, `"30s"`, `"5m"`, `"1h"`).
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, InvalidRetrySchedule> {
        Self::check_length(raw.len())?;
        raw.iter()
            .enumerate()
            .map(|(i, delay)| {
                let delay = parse_duration(delay.as_ref())
                    .map_err(|error| InvalidRetrySchedule::Delay(i, error))?;
                if delay > Self::MAX_DELAY {
                    return Err(InvalidRetrySchedule::TooLong(i));
                }
                Ok(delay)
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The stored form (milliseconds); `None` if the values cannot be a schedule.
    pub fn from_millis(millis: &[i64]) -> Option<Self> {
        Self::check_length(millis.len()).ok()?;
        millis
            .iter()
            .map(|ms| u64::try_from(*ms).ok().map(Duration::from_millis))
            .collect::<Option<_>>()
            .map(Self)
    }

    fn check_length(len: usize) -> Result<(), InvalidRetrySchedule> {
        if len == 0 || len > Self::MAX_DELAYS {
            return Err(InvalidRetrySchedule::Length(len));
        }
        Ok(())
    }

    pub fn delays(&self) -> &[Duration] {
        &self.0
    }

    pub fn to_millis(&self) -> Vec<i64> {
        self.0
            .iter()
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .collect()
    }

    /// Each delay in its largest exact unit, as the API shows them.
    pub fn display(&self) -> Vec<String> {
        self.0.iter().copied().map(format_duration).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for status in TenantStatus::ALL {
            assert_eq!(status.as_str().parse::<TenantStatus>(), Ok(status));
        }
        assert!("paused".parse::<TenantStatus>().is_err());
        assert!(!TenantStatus::Disabled.has_consumer());
        assert!(TenantStatus::Suspended.has_consumer());
    }

    #[test]
    fn display_names_are_bounded_in_characters() {
        assert!(check_display_name(&"é".repeat(200)).is_ok());
        assert!(check_display_name(&"é".repeat(201)).is_err());
        assert!(check_display_name("").is_ok());
    }

    #[test]
    fn schedules_parse_and_show_in_the_largest_exact_unit() {
        let schedule =
            TenantRetrySchedule::parse(&["100ms", "1000ms", "90s", "120s", "2h"]).unwrap();
        assert_eq!(schedule.display(), ["100ms", "1s", "90s", "2m", "2h"]);
        assert_eq!(
            schedule.to_millis(),
            [100, 1000, 90_000, 120_000, 7_200_000]
        );
        assert_eq!(
            TenantRetrySchedule::from_millis(&schedule.to_millis()),
            Some(schedule)
        );
        assert!(TenantRetrySchedule::parse(&["0ms"]).is_ok());
    }

    #[test]
    fn bad_schedules_name_what_is_wrong() {
        let empty: [&str; 0] = [];
        assert_eq!(
            TenantRetrySchedule::parse(&empty),
            Err(InvalidRetrySchedule::Length(0))
        );
        let long = vec!["1s"; 21];
        assert_eq!(
            TenantRetrySchedule::parse(&long),
            Err(InvalidRetrySchedule::Length(21))
        );
        assert!(TenantRetrySchedule::parse(&vec!["1s"; 20]).is_ok());
        let bad = TenantRetrySchedule::parse(&["1s", "soon"]).unwrap_err();
        assert!(bad.to_string().starts_with("[1]: \"soon\""), "{bad}");
        let too_long = TenantRetrySchedule::parse(&["169h"]).unwrap_err();
        assert_eq!(too_long.to_string(), "[0]: at most 168h");
        assert_eq!(TenantRetrySchedule::from_millis(&[-1]), None);
        assert_eq!(TenantRetrySchedule::from_millis(&[]), None);
    }
}
