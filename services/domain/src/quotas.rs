//! A tenant's limits. Defaults suit a small tenant; operators raise them per tenant.

use serde::{Deserialize, Serialize};

/// The largest payload limit an operator may grant: above this, events belong in object
/// storage with a link in the payload.
pub const MAX_PAYLOAD_CEILING: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaLimits {
    pub events_per_second: u32,
    pub burst: u32,
    pub max_concurrent_deliveries: u32,
    pub max_dlq_size: u64,
    pub max_payload_bytes: u64,
    pub max_webhooks: u32,
}

impl Default for QuotaLimits {
    fn default() -> Self {
        Self {
            events_per_second: 100,
            burst: 200,
            max_concurrent_deliveries: 20,
            max_dlq_size: 10_000,
            max_payload_bytes: 256 * 1024,
            max_webhooks: 100,
        }
    }
}

impl QuotaLimits {
    /// These limits with some replaced, from `name=value` pairs separated by commas (the
    /// quota field names, as in the API), e.g. `events_per_second=500,burst=1000`. Every value
    /// must be a whole number of at least 1; payloads at most `MAX_PAYLOAD_CEILING`.
    pub fn with_overrides(mut self, spec: &str) -> Result<Self, String> {
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, raw) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not name=value"))?;
            let (name, raw) = (name.trim(), raw.trim());
            let value: u64 =
                raw.parse().ok().filter(|v| *v >= 1).ok_or_else(|| {
                    format!("{name}: {raw:?} is not a whole number of at least 1")
                })?;
            let small = || {
                u32::try_from(value)
                    .ok()
                    .filter(|v| *v <= i32::MAX as u32)
                    .ok_or_else(|| format!("{name}: {value} is too large"))
            };
            match name {
                "events_per_second" => self.events_per_second = small()?,
                "burst" => self.burst = small()?,
                "max_concurrent_deliveries" => self.max_concurrent_deliveries = small()?,
                "max_webhooks" => self.max_webhooks = small()?,
                "max_dlq_size" if value <= i64::MAX as u64 => self.max_dlq_size = value,
                "max_payload_bytes" if value <= MAX_PAYLOAD_CEILING => {
                    self.max_payload_bytes = value
                }
                "max_dlq_size" | "max_payload_bytes" => {
                    return Err(format!("{name}: {value} is too large"));
                }
                other => return Err(format!("{other:?} is not a quota")),
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_the_named_limits() {
        let limits = QuotaLimits::default()
            .with_overrides(" events_per_second=500, burst = 1000 ,max_payload_bytes=1024")
            .unwrap();
        assert_eq!(limits.events_per_second, 500);
        assert_eq!(limits.burst, 1000);
        assert_eq!(limits.max_payload_bytes, 1024);
        assert_eq!(limits.max_webhooks, QuotaLimits::default().max_webhooks);
        assert_eq!(
            QuotaLimits::default().with_overrides(""),
            Ok(QuotaLimits::default())
        );
    }

    #[test]
    fn bad_overrides_name_the_problem() {
        for (spec, needle) in [
            ("burst", "name=value"),
            ("burst=0", "at least 1"),
            ("burst=-3", "at least 1"),
            ("burst=x", "at least 1"),
            ("burst=4294967296", "too large"),
            ("max_payload_bytes=99999999", "too large"),
            ("speed=3", "not a quota"),
        ] {
            let error = QuotaLimits::default().with_overrides(spec).unwrap_err();
            assert!(error.contains(needle), "{spec}: {error}");
        }
    }
}
