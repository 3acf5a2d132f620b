//! Test helpers shared by every service's tests: a real `nats-server` per test, and polling
//! with a deadline instead of sleeping.

mod eventually;
mod nats_server;

pub use eventually::eventually;
pub use nats_server::NatsServer;
