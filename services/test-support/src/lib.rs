//! Test helpers shared by every service's tests: a real `nats-server` per test (or a cluster
//! of them, for stream replicas), scriptable webhook receivers on loopback, an OTLP
//! collector, and polling with a deadline instead of sleeping.

mod certificates;
pub mod collector;
pub mod dns;
mod eventually;
pub mod loopback;
mod nats_cluster;
mod nats_server;
pub mod pg_cluster;
pub mod ports;
pub mod process;
pub mod proxy;
mod receiver;
pub mod stack;

pub use certificates::TestCertificates;
pub use dns::ScriptedDns;
pub use eventually::eventually;
pub use nats_cluster::NatsCluster;
pub use nats_server::{NatsAuth, NatsServer, NatsSetup};
pub use ports::unused_port;
pub use receiver::{Received, Receiver, Reply};
pub use stack::until_connected;
