//! Emitting events through the API, as a client does, apart from the cluster it goes to.

use std::time::Duration;

use herald_test_support::eventually;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Emitter {
    pub(crate) api: String,
    pub(crate) http: reqwest::Client,
}

impl Emitter {
    /// Emits one `order.created` event once, whatever the answer; returns its status.
    pub async fn try_emit(&self, key: &str, payload: Value) -> u16 {
        let body = json!({ "type": "order.created", "payload": payload });
        let response = self
            .http
            .post(format!("{}/events", self.api))
            .bearer_auth(key)
            .json(&body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        response.map_or(0, |r| r.status().as_u16())
    }

    /// Emits events numbered `numbers`, `parallel` at a time. Each is retried with its
    /// Idempotency-Key until accepted, as a careful client does through an outage; returns
    /// their ids.
    pub async fn emit_many(
        &self,
        key: &str,
        numbers: std::ops::Range<usize>,
        parallel: usize,
    ) -> Vec<String> {
        use futures::StreamExt;
        futures::stream::iter(numbers)
            .map(|n| self.emit_until_accepted(key, n))
            .buffer_unordered(parallel)
            .collect()
            .await
    }

    async fn emit_until_accepted(&self, key: &str, n: usize) -> String {
        let body = json!({ "type": "order.created", "payload": { "n": n } });
        let idempotency_key = format!("chaos-{n}");
        let accepted = eventually(
            &format!("event {n} to be accepted"),
            Duration::from_secs(60),
            || async {
                let response = self
                    .http
                    .post(format!("{}/events", self.api))
                    .bearer_auth(key)
                    .header("Idempotency-Key", &idempotency_key)
                    .json(&body)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .ok()?;
                if !response.status().is_success() {
                    return None;
                }
                response.json::<Value>().await.ok()
            },
        )
        .await;
        accepted["id"].as_str().expect("an event id").to_owned()
    }

    /// Emits events numbered `numbers` one after another, `every` apart (each retried until
    /// accepted): a steady load that lasts while a drill injects its faults.
    pub async fn emit_paced(
        &self,
        key: &str,
        numbers: std::ops::Range<usize>,
        every: Duration,
    ) -> Vec<String> {
        let mut ids = Vec::with_capacity(numbers.len());
        for n in numbers {
            ids.push(self.emit_until_accepted(key, n).await);
            tokio::time::sleep(every).await;
        }
        ids
    }
}
