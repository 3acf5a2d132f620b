//! Drives `POST /events`. At a fixed rate the schedule is open loop: event `n` is due at
//! `start + n / rate` whatever happened to the earlier ones, so a slow API shows up as
//! latency instead of silently lowering the rate. At rate 0, `concurrency` senders go as fast
//! as the API answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::append_log::AppendLog;
use crate::config::Config;
use crate::setup::Setup;

/// What became of one event.
#[derive(Debug, Clone)]
pub struct Sent {
    /// When it was due (open loop) or sent (as fast as possible).
    pub due: Instant,
    /// When the request actually started: later than `due` once the in-flight cap is reached.
    pub started: Instant,
    pub answered: Instant,
    /// `None` when no HTTP answer came (connection error, timeout).
    pub status: Option<u16>,
    pub event_id: Option<String>,
    pub deliveries: Vec<String>,
}

#[derive(Deserialize)]
struct Accepted {
    id: String,
    deliveries: Vec<Delivery>,
}

#[derive(Deserialize)]
struct Delivery {
    id: String,
}

struct Sender {
    client: reqwest::Client,
    url: String,
    auth: String,
    types: Vec<String>,
    /// `,"items":[...]`, the same for every event, or empty.
    filler: String,
    log: AppendLog<Sent>,
}

/// Order items, as JSON text after a leading comma, that bring a `{"seq": n}` payload to about
/// `bytes`: a payload shaped like a real event (objects, strings, numbers), not one long string.
fn filler(bytes: usize) -> String {
    let seq_alone = r#"{"seq":18446744073709551615}"#.len();
    if bytes <= seq_alone {
        return String::new();
    }
    let mut items = String::from(r#","items":["#);
    for n in 1usize.. {
        if n > 1 {
            items.push(',');
        }
        items += &format!(
            r#"{{"sku":"SKU-{n:06}","name":"Item number {n}","quantity":{},"unit_price":{},"currency":"EUR"}}"#,
            n % 5 + 1,
            999 + n * 100
        );
        if seq_alone + items.len() + 1 >= bytes {
            break;
        }
    }
    items.push(']');
    items
}

impl Sender {
    async fn send(&self, seq: u64, due: Instant) {
        let started = Instant::now();
        let event_type = &self.types[seq as usize % self.types.len()];
        let body = format!(
            r#"{{"type":{},"payload":{{"seq":{seq}{}}}}}"#,
            json!(event_type),
            self.filler
        );
        let answer = self
            .client
            .post(&self.url)
            .header("authorization", &self.auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let (status, accepted) = match answer {
            Ok(answer) => {
                let status = answer.status().as_u16();
                let bytes = answer.bytes().await.unwrap_or_default();
                let accepted = (status == 201)
                    .then(|| serde_json::from_slice::<Accepted>(&bytes).ok())
                    .flatten();
                (Some(status), accepted)
            }
            Err(_) => (None, None),
        };
        let answered = Instant::now();
        let (event_id, deliveries) = match accepted {
            Some(a) => (Some(a.id), a.deliveries.into_iter().map(|d| d.id).collect()),
            None => (None, Vec::new()),
        };
        let sent = Sent {
            due,
            started,
            answered,
            status,
            event_id,
            deliveries,
        };
        self.log.push(sent);
    }
}

/// Sends for `config.duration` from `start`, waits for the last answers, and returns every
/// event's outcome (in answer order).
pub async fn drive(
    client: reqwest::Client,
    config: &Config,
    setup: &Setup,
    start: Instant,
) -> Vec<Sent> {
    let sender = Arc::new(Sender {
        client,
        url: format!("{}/events", config.api),
        auth: format!("Bearer {}", setup.api_key),
        types: setup.event_types.clone(),
        filler: filler(config.payload_bytes),
        log: AppendLog::default(),
    });
    let end = start + config.duration;
    let in_flight = Arc::new(Semaphore::new(config.concurrency));
    if config.rate > 0 {
        let interval = Duration::from_secs_f64(1.0 / f64::from(config.rate));
        for seq in 0u64.. {
            let due = start + interval.mul_f64(seq as f64);
            if due >= end {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
            // The cap only bites when the API has stalled; the `due` time keeps the lag visible.
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                break;
            };
            let sender = sender.clone();
            tokio::spawn(async move {
                sender.send(seq, due).await;
                drop(permit);
            });
        }
    } else {
        let next = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..config.concurrency)
            .map(|_| {
                let (sender, next) = (sender.clone(), next.clone());
                tokio::spawn(async move {
                    while Instant::now() < end {
                        let seq = next.fetch_add(1, Ordering::Relaxed);
                        sender.send(seq, Instant::now()).await;
                    }
                })
            })
            .collect();
        for worker in workers {
            let _ = worker.await;
        }
    }
    // Every permit back means every request has its answer.
    let _ = in_flight.acquire_many(config.concurrency as u32).await;
    sender.log.take()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filler_brings_a_payload_to_about_the_size_asked() {
        assert_eq!(filler(0), "");
        for bytes in [100, 1024, 16 * 1024] {
            let payload = format!(r#"{{"seq":7{}}}"#, filler(bytes));
            let parsed: serde_json::Value = serde_json::from_str(&payload).unwrap();
            assert_eq!(parsed["seq"], 7);
            assert!(
                parsed["items"]
                    .as_array()
                    .is_some_and(|items| !items.is_empty())
            );
            assert!(
                payload.len() >= bytes - 40 && payload.len() <= bytes + 120,
                "{}",
                payload.len()
            );
        }
    }
}
