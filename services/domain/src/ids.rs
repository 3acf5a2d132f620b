//! Typed, prefixed identifiers. The database stores a UUIDv7 (time-ordered, so index-friendly);
//! the API shows `<prefix>_<32 hex>`, so an id pasted into the wrong place is caught at once.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct InvalidId {
    pub kind: &'static str,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Straight into the formatter: `write!` with two arguments took several
                // times the instructions, for ids shown in every answer and every request.
                f.write_str($prefix)?;
                f.write_str("_")?;
                f.write_str(self.0.simple().encode_lower(&mut Uuid::encode_buffer()))
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let hex = s
                    .strip_prefix(concat!($prefix, "_"))
                    .ok_or(InvalidId { kind: $kind })?;
                if hex.len() != 32 {
                    return Err(InvalidId { kind: $kind });
                }
                Uuid::try_parse(hex)
                    .map(Self)
                    .map_err(|_| InvalidId { kind: $kind })
            }
        }
    };
}

prefixed_id!(
    /// A tenant: the unit of isolation.
    TenantId, "tnt", "tenant"
);
prefixed_id!(
    /// A webhook endpoint registered by a tenant.
    WebhookId, "wh", "webhook"
);
prefixed_id!(
    /// An event emitted by a tenant; immutable once stored.
    EventId, "evt", "event"
);
prefixed_id!(
    /// One event for one webhook. Receivers see it as `webhook-id` and dedupe on it.
    DeliveryId, "msg", "delivery"
);
prefixed_id!(
    /// An entry in a tenant's event-type catalog.
    EventTypeId, "et", "event type"
);
prefixed_id!(
    /// A tenant API key (the key itself is never stored, only its hash).
    ApiKeyId, "key", "api key"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let id = WebhookId::new();
        let shown = id.to_string();
        assert!(shown.starts_with("wh_"));
        assert_eq!(shown.len(), 3 + 32);
        assert_eq!(shown.parse::<WebhookId>(), Ok(id));
    }

    #[test]
    fn another_kind_of_id_is_refused() {
        let event = EventId::new().to_string();
        assert_eq!(
            event.parse::<WebhookId>(),
            Err(InvalidId { kind: "webhook" })
        );
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "wh_",
            "wh_xyz",
            "wh_0190f5e2-0000-7000-8000-000000000000",
            "WH_0190f5e200007000800000000000000g",
        ] {
            assert!(bad.parse::<WebhookId>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn ids_made_later_sort_later() {
        let first = EventId::new();
        let second = EventId::new();
        assert!(first < second);
    }
}
