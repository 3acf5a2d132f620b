//! A NATS server that asks for credentials, or for TLS with a client certificate: the
//! services present what `NATS_URL` and the `HERALD_NATS_TLS_*` files give them, and
//! deliveries flow as they do on an open server.

use std::sync::Arc;
use std::time::Duration;

use herald_test_support::stack::{Stack, first_delivery};
use herald_test_support::{
    NatsAuth, NatsServer, NatsSetup, Receiver, Reply, ScriptedDns, TestCertificates,
};
use serde_json::json;
use sqlx::PgPool;

/// Delivers one event through a stack on `nats`; a client with nothing to show is refused.
async fn delivers_through(pool: PgPool, nats: NatsServer, settings: &[(&str, &str)]) {
    let bare_url = nats.url().to_owned();
    let stack = Stack::start_on(pool, nats, settings, &ScriptedDns::default()).await;
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
    let auth = NatsAuth::UserAndPassword("herald", "s3cr3t");
    let nats = NatsServer::start_requiring(auth).expect("nats-server starts");
    delivers_through(pool, nats, &[]).await;
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn deliveries_flow_through_a_nats_server_that_asks_for_a_token(pool: PgPool) {
    let nats = NatsServer::start_requiring(NatsAuth::Token("t0k3n")).expect("nats-server starts");
    delivers_through(pool, nats, &[]).await;
}

/// TLS whose server certificate only the given CA vouches for, and a server that verifies
/// its clients' certificates too.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn deliveries_flow_over_tls_with_a_client_certificate(pool: PgPool) {
    let certificates = Arc::new(TestCertificates::generate().expect("openssl makes certificates"));
    let setup = NatsSetup {
        auth: NatsAuth::UserAndPassword("herald", "s3cr3t"),
        tls: Some(certificates.clone()),
    };
    let nats = NatsServer::start_with(setup).expect("nats-server starts");
    let url = nats.url_with_credentials();
    assert!(url.starts_with("tls://"), "{url}");
    let (ca, (cert, key)) = (certificates.ca(), certificates.client());
    let settings = [
        ("NATS_URL", url.as_str()),
        ("HERALD_NATS_TLS_CA", ca.to_str().unwrap()),
        ("HERALD_NATS_TLS_CERT", cert.to_str().unwrap()),
        ("HERALD_NATS_TLS_KEY", key.to_str().unwrap()),
    ];
    delivers_through(pool, nats, &settings).await;
}
