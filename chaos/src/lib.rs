//! The chaos harness: Herald's three services as child processes (so they can be killed with
//! SIGKILL) against the test's own nats-server and database, each reached through a
//! fault-injecting proxy, and the invariants every drill checks once the faults are healed.

mod cluster;
mod emitter;
mod invariants;

pub use cluster::Cluster;
pub use emitter::Emitter;
pub use invariants::{Settled, assert_settled, received_ids};
