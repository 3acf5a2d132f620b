//! The dead-letter path end to end: ingest, dispatcher and DLQ service in-process against a
//! real nats-server and PostgreSQL, with receivers on loopback.

mod advisories;
mod api;
mod quota;
mod races;
