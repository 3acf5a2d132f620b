//! The ingest API against a real PostgreSQL (a fresh database per test, from `#[sqlx::test]`)
//! and a real nats-server per test.

mod api_keys;
mod audit;
mod backpressure;
mod event_log;
mod event_types;
mod events;
mod fuzz;
mod hardening;
mod health;
mod helpers;
mod idempotency;
mod immutability;
mod isolation;
mod portal;
mod quotas;
mod rate_limits;
mod relay;
mod sealing;
mod secret_rotation;
mod ssrf;
mod tenant_lifecycle;
mod tenants;
mod webhooks;
