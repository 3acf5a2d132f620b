//! SSRF at delivery: the dispatcher holds every attempt to the policy again, whatever the
//! webhooks table says and whatever DNS answers now. Each target below points at a receiver
//! on loopback that must never be called; the stack runs without the test exemption for
//! 127.0.0.0/8, as production does.

use std::sync::Arc;
use std::time::Duration;

use herald_dispatcher::sender::Sender;
use herald_domain::classify::AttemptResult;
use herald_domain::{AddressPolicy, WebhookId};
use herald_test_support::stack::Stack;
use herald_test_support::{Receiver, Reply, ScriptedDns};
use http::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::PgPool;

/// Production's policy: nothing exempt.
const NO_EXEMPTION: (&str, &str) = ("HERALD_ALLOW_PRIVATE_CIDRS", "");

/// Points a registered webhook somewhere else behind the API's back, as a row written before
/// a rule existed, or by hand, would.
async fn repoint(stack: &Stack, webhook: &str, url: &str) {
    let id: WebhookId = webhook.parse().expect("a webhook id");
    sqlx::query("UPDATE webhooks SET url = $1 WHERE id = $2")
        .bind(url)
        .bind(id.as_uuid())
        .execute(&stack.pool)
        .await
        .expect("the row is updated");
}

/// Every form of an internal target: a webhook each, one event, and each delivery fails at
/// its first attempt with an error that says why. The receiver hears nothing.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn every_internal_target_is_refused_at_delivery(pool: PgPool) {
    let dns = ScriptedDns::default();
    dns.answer("loopback.test", &[&["127.0.0.1"]])
        .answer("rebind.test", &[&["93.184.216.34"], &["127.0.0.1"]]);
    let stack = Stack::start_resolving(pool, &[NO_EXEMPTION], &dns).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    let port = receiver.port();
    let loopback = "127.0.0.1 is a loopback address (127.0.0.0/8)";
    let written = [
        (format!("http://2130706433:{port}/"), loopback.to_owned()),
        (format!("http://0x7f000001:{port}/"), loopback.to_owned()),
        (format!("http://0177.0.0.1:{port}/"), loopback.to_owned()),
        (format!("http://127.1:{port}/"), loopback.to_owned()),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            "::ffff:127.0.0.1 carries 127.0.0.1, a loopback address (127.0.0.0/8)".to_owned(),
        ),
        (
            format!("http://0.0.0.0:{port}/"),
            "0.0.0.0 is a \"this network\" address (0.0.0.0/8)".to_owned(),
        ),
        (
            format!("http://localhost.:{port}/"),
            "localhost. names an internal host".to_owned(),
        ),
        (
            format!("http://loopback.test:{port}/"),
            format!("loopback.test resolves only to refused addresses: {loopback}"),
        ),
        (
            "http://hooks.example.com:22/".to_owned(),
            "port 22 is not allowed (allowed: 80,443,1024-65535)".to_owned(),
        ),
    ];
    let mut expected = Vec::new();
    for (url, why) in written {
        let (webhook, _) = stack.webhook(&key, "https://hooks.example.com/").await;
        repoint(&stack, &webhook, &url).await;
        expected.push((webhook, url, why));
    }
    // The rebinding name registers through the API with its public answer, then answers
    // loopback to the dispatcher.
    let (rebinding, _) = stack
        .webhook(&key, &format!("http://rebind.test:{port}/"))
        .await;
    let why = format!("rebind.test resolves only to refused addresses: {loopback}");
    expected.push((rebinding, format!("http://rebind.test:{port}/"), why));

    let answer = stack.emit(&key, json!({ "order_id": "o1" })).await;
    let deliveries = answer["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), expected.len());
    for (webhook, url, why) in &expected {
        let delivery = deliveries
            .iter()
            .find(|d| d["webhook_id"] == webhook.as_str())
            .and_then(|d| d["id"].as_str())
            .expect("a delivery per webhook");
        let failed: Value = stack
            .wait_for(&key, delivery, "failed", Duration::from_secs(10))
            .await;
        assert_eq!(failed["attempt_count"], 1, "{url}: permanent at once");
        let error = failed["attempts"][0]["error"].as_str().unwrap_or_default();
        assert_eq!(
            error,
            format!("target refused by SSRF policy: {why}"),
            "{url}"
        );
    }
    assert_eq!(receiver.count(), 0, "no request reached the receiver");
    assert_eq!(dns.lookups("rebind.test"), 2, "registration, then delivery");
}

fn sender(policy: AddressPolicy, dns: &ScriptedDns) -> Sender {
    Sender::new(Duration::from_secs(2), Arc::new(policy), dns.lookup(), 8).unwrap()
}

/// The connector gets only what the checking resolver returned: a name that real DNS does
/// not know reaches the receiver through the scripted answer alone, with one lookup, and the
/// internal address beside it is dropped before any connection.
#[tokio::test]
async fn the_connection_goes_only_to_the_checked_address() {
    let receiver = Receiver::always(Reply::Status(204)).await;
    let dns = ScriptedDns::default();
    dns.answer("hooks.test", &[&["10.9.9.9", "127.0.0.1"]]);
    let exempt = AddressPolicy::allowing(vec!["127.0.0.1/32".parse().unwrap()]);
    let url = format!("http://hooks.test:{}/", receiver.port());
    let report = sender(exempt, &dns)
        .send(&url, HeaderMap::new(), b"{}".to_vec())
        .await;
    assert_eq!(report.status_code(), Some(204), "{:?}", report.result);
    assert_eq!(receiver.count(), 1);
    assert_eq!(dns.lookups("hooks.test"), 1, "one lookup, no second one");

    dns.answer("hooks.test", &[&["10.9.9.9"]]);
    let report = sender(AddressPolicy::default(), &dns)
        .send(&url, HeaderMap::new(), b"{}".to_vec())
        .await;
    match report.result {
        AttemptResult::Forbidden(why) => assert_eq!(
            why,
            "hooks.test resolves only to refused addresses: \
             10.9.9.9 is a private address (10.0.0.0/8)"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(receiver.count(), 1);
}
