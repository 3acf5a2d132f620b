//! The SQL behind the API, one module per table group. Every tenant-facing query takes the
//! tenant id, so a tenant cannot reach another's rows by construction.

pub mod api_keys;
pub mod audit;
pub mod dead_letters;
pub mod deliveries;
pub mod event_batch;
pub mod event_types;
pub mod events;
pub mod idempotency;
pub mod quotas;
pub mod rate_buckets;
pub mod resealing;
pub mod secret_rotation;
pub mod tenants;
pub mod webhooks;
