//! Names that users choose, parsed once at the edge.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "tenant name must be 2 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit"
    )]
    Tenant,
    #[error("event type must be 1 to 256 characters of letters, digits, '.', '_' and '-'")]
    EventType,
}

/// A tenant's name: `^[a-z0-9][a-z0-9-]{1,62}$`, usable as a Kubernetes name and in NATS
/// subjects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantName(String);

impl TenantName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let bytes = raw.as_bytes();
        let valid = (2..=63).contains(&bytes.len())
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        valid.then(|| Self(raw.to_owned())).ok_or(NameError::Tenant)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event type such as `order.created`: what receivers switch on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventTypeName(String);

impl EventTypeName {
    pub const MAX_LEN: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let valid = (1..=Self::MAX_LEN).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or(NameError::EventType)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_follow_the_contract_pattern() {
        for good in ["acme", "a1", "0-shop", "x".repeat(63).as_str()] {
            assert!(TenantName::parse(good).is_ok(), "{good:?} refused");
        }
        for bad in [
            "",
            "a",
            "-acme",
            "Acme",
            "acme_corp",
            "acme.io",
            &"x".repeat(64),
        ] {
            assert_eq!(TenantName::parse(bad), Err(NameError::Tenant), "{bad:?}");
        }
    }

    #[test]
    fn event_type_names() {
        for good in ["order.created", "user_updated", "Invoice-Paid.v2", "x"] {
            assert!(EventTypeName::parse(good).is_ok(), "{good:?} refused");
        }
        for bad in [
            "",
            "order created",
            "order/created",
            "ordér",
            &"x".repeat(257),
        ] {
            assert_eq!(
                EventTypeName::parse(bad),
                Err(NameError::EventType),
                "{bad:?}"
            );
        }
    }
}
