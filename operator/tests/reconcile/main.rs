//! The reconciler against a scripted Kubernetes API server and a real Herald: real
//! PostgreSQL, a private nats-server, Herald's API on loopback. Each test lists the API
//! calls the operator must make, in order, and checks what Herald and JetStream hold after.

mod api_server;
mod claims;
mod create;
mod delete;
mod failures;
mod fixtures;
mod leader;
mod update;
