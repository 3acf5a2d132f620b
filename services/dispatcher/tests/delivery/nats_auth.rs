//! A NATS server that asks for credentials: the services present the ones `NATS_URL`
//! carries, and deliveries flow as they do on an open server.

use std::time::Duration;

use herald_test_support::stack::{Stack, first_delivery};
use herald_test_support::{NatsAuth, NatsServer, Receiver, Reply, ScriptedDns};
use serde_json::json;
use sqlx::PgPool;

async fn delivers_through(pool: PgPool, auth: NatsAuth) {
    let nats = NatsServer::start_requiring(auth).expect("nats-server starts");
    let bare_url = nats.url().to_owned();
    let stack = Stack::start_on(pool, nats, &[], &ScriptedDns::default()).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);
    stack
        .wait_for(&key, &delivery, "success", Duration::from_secs(10))
        .await;
    assert_eq!(receiver.count(), 1);
    assert!(
        async_nats::connect(bare_url).await.is_err(),
        "the server refuses a client without credentials"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn deliveries_flow_through_a_nats_server_that_asks_for_a_password(pool: PgPool) {
    delivers_through(pool, NatsAuth::UserAndPassword("herald", "s3cr3t")).await;
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn deliveries_flow_through_a_nats_server_that_asks_for_a_token(pool: PgPool) {
    delivers_through(pool, NatsAuth::Token("t0k3n")).await;
}
