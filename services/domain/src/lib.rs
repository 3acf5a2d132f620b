//! Herald's domain: the types and rules every service shares. Pure: no I/O, no clocks
//! beyond what callers pass in, so every rule here is a unit test away.

pub mod api_key;
pub mod classify;
pub mod duration;
pub mod envelope;
pub mod ids;
pub mod job;
pub mod names;
pub mod ports;
pub mod quotas;
pub mod retry;
pub mod sealing;
pub mod secret;
pub mod signing;
pub mod ssrf;
pub mod status;
pub mod tenant;
pub mod traceparent;
pub mod webhook_url;

pub use api_key::ApiKey;
pub use ids::{DeliveryId, EventId, EventTypeId, TenantId, WebhookId};
pub use names::{EventTypeName, TenantName};
pub use ports::PortList;
pub use quotas::QuotaLimits;
pub use secret::WebhookSecret;
pub use ssrf::AddressPolicy;
pub use tenant::{TenantRetrySchedule, TenantStatus};
pub use webhook_url::WebhookUrl;
