//! Ingest: Herald's public REST API. Tenants manage event types and webhooks here and emit
//! events, which are stored with their deliveries before the answer.

mod answer;
pub mod api;
mod app;
mod auth;
pub mod backpressure;
mod body;
pub mod dlq_gate;
pub mod error;
mod fingerprint;
mod hardening;
pub mod lookups;
pub mod maintenance;
mod pagination;
mod portal;
pub mod publisher;
pub mod rate_limit;
pub mod relay;
pub mod state;
mod store;

pub use app::{Application, background, endpoint};
