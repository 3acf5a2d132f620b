//! Chaos drills (`make chaos`): Herald's services as processes under faults. Each drill loads
//! the system, injects its fault mid-load, heals it, and checks the invariants of
//! `herald_chaos::assert_settled`. Run `cargo build --bins` first.

mod concurrency;
mod kills;
mod netns;
mod outages;
mod receivers;
mod restarts;
mod slow_tenant;
mod traces;
