//! The plain-HTTP ceiling of this machine: the built-in receiver, POSTed a 1 KiB JSON body by
//! the same HTTP client a load run uses, `concurrency` requests in flight, no Herald between.
//! Herald's deliveries/s read best as a fraction of this figure measured on the same machine.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use serde_json::json;

use crate::config::Config;
use crate::receiver::Receiver;
use crate::report::{self, Percentiles};

/// The size of each request body, about that of a small webhook.
pub const BODY_BYTES: usize = 1024;

#[derive(Debug, Serialize)]
pub struct Ceiling {
    /// Requests answered 2xx with their whole answer read.
    pub requests: usize,
    /// Other answers and requests without an answer.
    pub errors: usize,
    /// Requests the receiver recorded (a check that they reached it).
    pub received: usize,
    /// `requests` over the time from the first send to the last answer.
    pub requests_per_second: f64,
    /// Request start to the whole answer read.
    pub latency: Option<Percentiles>,
}

/// The whole JSON result of a ceiling run.
#[derive(Debug, Serialize)]
pub struct CeilingReport {
    pub scenario: String,
    pub settings: serde_json::Value,
    pub ceiling: Ceiling,
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let client = crate::http_client(config.concurrency)?;
    let receiver = Receiver::start(config.receiver_delay).await?;
    eprintln!(
        "ceiling: POSTing {BODY_BYTES} bytes to {} for {:?} with {} in flight",
        receiver.url("ceiling"),
        config.duration,
        config.concurrency
    );
    let mut ceiling = measure(
        &client,
        &receiver.url("ceiling"),
        config.concurrency,
        config.duration,
    )
    .await;
    ceiling.received = receiver.count();
    let report = CeilingReport {
        scenario: config.scenario.clone(),
        settings: json!({
            "concurrency": config.concurrency,
            "duration_s": config.duration.as_secs_f64(),
            "body_bytes": BODY_BYTES,
            "receiver_delay_ms": config.receiver_delay.as_secs_f64() * 1e3,
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        }),
        ceiling,
    };
    let json = serde_json::to_string_pretty(&report).context("serialising the result")?;
    std::fs::write(Path::new(&config.out), json + "\n")
        .with_context(|| format!("writing {}", config.out))?;
    print!("{}", summary(&report));
    println!("  result: {}", config.out);
    Ok(())
}

/// Sends from `concurrency` closed-loop workers for `duration` and counts what came back.
pub async fn measure(
    client: &reqwest::Client,
    url: &str,
    concurrency: usize,
    duration: Duration,
) -> Ceiling {
    let start = Instant::now();
    let end = start + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (client, url) = (client.clone(), url.to_owned());
            tokio::spawn(async move { post_until(&client, &url, worker, end).await })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for worker in workers {
        if let Ok((mut worker_latencies, worker_errors)) = worker.await {
            latencies.append(&mut worker_latencies);
            errors += worker_errors;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ceiling {
        requests: latencies.len(),
        errors,
        received: 0,
        requests_per_second: if elapsed > 0.0 {
            latencies.len() as f64 / elapsed
        } else {
            0.0
        },
        latency: Percentiles::of(latencies),
    }
}

/// One worker: a request at a time until `end`; the latencies of its successes and its errors.
async fn post_until(
    client: &reqwest::Client,
    url: &str,
    worker: usize,
    end: Instant,
) -> (Vec<Duration>, usize) {
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for seq in 0u64.. {
        if Instant::now() >= end {
            break;
        }
        let began = Instant::now();
        let answer = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", format!("msg_ceiling_{worker}_{seq}"))
            .body(body(seq))
            .send()
            .await;
        let ok = match answer {
            Ok(answer) => answer.status().is_success() && answer.bytes().await.is_ok(),
            Err(_) => false,
        };
        if ok {
            latencies.push(began.elapsed());
        } else {
            errors += 1;
        }
    }
    (latencies, errors)
}

/// A webhook-shaped JSON body of exactly `BODY_BYTES`, padded with a filler string.
pub fn body(seq: u64) -> String {
    let head = format!(r#"{{"id":"evt_ceiling_{seq}","type":"ceiling","payload":{{"pad":""#);
    let tail = r#""}}"#;
    let pad = BODY_BYTES.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad))
}

/// A few lines for a person at a terminal.
pub fn summary(report: &CeilingReport) -> String {
    let c = &report.ceiling;
    let mut out = format!(
        "{}: {:.1} requests/s plain HTTP ({} answered, {} errors, {} seen by the receiver)\n",
        report.scenario, c.requests_per_second, c.requests, c.errors, c.received
    );
    if let Some(p) = &c.latency {
        out += &format!("  request to answer: {}\n", report::line(p));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_one_kibibyte_of_json() {
        for seq in [0, 7, u64::MAX] {
            let body = body(seq);
            assert_eq!(body.len(), BODY_BYTES);
            let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(parsed["id"], format!("evt_ceiling_{seq}"));
        }
    }

    #[tokio::test]
    async fn measures_requests_against_the_receiver() {
        let receiver = Receiver::start(Duration::ZERO).await.unwrap();
        let client = crate::http_client(4).unwrap();
        let url = receiver.url("ceiling");
        let c = measure(&client, &url, 4, Duration::from_millis(300)).await;
        assert!(c.requests > 0);
        assert_eq!(c.errors, 0);
        assert_eq!(receiver.count(), c.requests);
        assert!(c.latency.is_some());
    }
}
