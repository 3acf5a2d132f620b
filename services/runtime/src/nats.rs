//! The NATS connection. A service starts even while NATS is down: the client keeps retrying
//! in the background and `/readyz` reports the outage.

use anyhow::Context;

pub async fn connect(url: &str, service: &str) -> anyhow::Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .name(format!("herald-{service}"))
        .retry_on_initial_connect()
        .connect(url)
        .await
        .with_context(|| format!("connecting to NATS at {url}"))
}

pub fn is_connected(client: &async_nats::Client) -> bool {
    client.connection_state() == async_nats::connection::State::Connected
}
