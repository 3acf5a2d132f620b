//! What every Herald service shares at run time: configuration, telemetry, shutdown, the
//! connections to PostgreSQL and NATS, and the health and metrics routes.

pub mod config;
pub mod database;
pub mod group_commit;
pub mod health;
pub mod http_trace;
pub mod jetstream;
pub mod log_lines;
pub mod log_writer;
pub mod metrics;
pub mod nats;
pub mod outbox;
pub mod publish_marks;
pub mod resolve;
pub mod shutdown;
pub mod span_fields;
pub mod telemetry;
pub mod trace_context;
pub mod trace_ids;

pub use config::Config;
pub use database::MIGRATOR;
pub use metrics::Metrics;
