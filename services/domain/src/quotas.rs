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
