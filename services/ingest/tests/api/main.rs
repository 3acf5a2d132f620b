//! The ingest API against a real PostgreSQL (a fresh database per test, from `#[sqlx::test]`)
//! and a real nats-server per test.

mod event_types;
mod events;
mod fuzz;
mod health;
mod helpers;
mod idempotency;
mod immutability;
mod isolation;
mod quotas;
mod rate_limits;
mod ssrf;
mod tenants;
mod webhooks;
