//! Delivery end to end: ingest and dispatcher in-process against a real nats-server, a real
//! PostgreSQL database per test, and real HTTP receivers on loopback. Retry delays are scaled
//! down through `HERALD_RETRY_SCHEDULE`.

mod bundles;
mod contract;
mod isolation;
mod late_records;
mod lifecycle;
mod nats_auth;
mod recovery;
mod retries;
mod rotation;
mod ssrf;
