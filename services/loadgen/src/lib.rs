//! A load benchmark for Herald: prepares a tenant whose webhooks point at a built-in receiver,
//! drives `POST /events` open loop (or as fast as possible), and measures what arrives. Also
//! measures the plain-HTTP ceiling of the machine (`ceiling`) and draws graphs (`graphs`).

pub mod append_log;
pub mod ceiling;
pub mod config;
pub mod driver;
pub mod graphs;
pub mod histogram;
pub mod procs;
pub mod receiver;
pub mod report;
pub mod setup;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::sync::watch;

use config::{Command, Config};
use receiver::{Arrival, Receiver};
use report::Report;

/// Runs what the command line asked for.
pub async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Load(config) => run(config).await,
        Command::Ceiling(config) => ceiling::run(config).await,
        Command::Graphs(results) => {
            for result in results {
                for written in graphs::regenerate(&result)? {
                    println!("{}", written.display());
                }
            }
            Ok(())
        }
    }
}

/// The keep-alive client every request goes through, load run and ceiling alike.
pub fn http_client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let client = http_client(config.concurrency)?;
    let receiver = Receiver::start(config.receiver_delay).await?;
    let url = config
        .target
        .clone()
        .unwrap_or_else(|| receiver.url("hook"));
    eprintln!("setting up {} webhooks at {url}", config.webhooks);
    let setup = setup::prepare(&client, &config, &url).await?;

    let (stop_sampling, stop) = watch::channel(false);
    // The load generator itself too (its receiver included): it shares the machine.
    let mut pids = config.pids.clone();
    pids.push(("herald-loadgen".to_owned(), std::process::id()));
    let sampler = tokio::spawn(procs::sample_until(pids, stop));
    eprintln!(
        "tenant {}: sending for {:?} at {}",
        setup.tenant,
        config.duration,
        rate_label(&config)
    );
    let start = Instant::now();
    let sent = driver::drive(client, &config, &setup, start).await;
    let arrivals = if config.target.is_none() {
        drain(&receiver, &sent, config.drain).await
    } else {
        Vec::new()
    };
    let _ = stop_sampling.send(true);
    let processes = sampler.await.unwrap_or_default();

    let report = build(&config, setup.tenant, &sent, &arrivals, start, processes);
    let json = serde_json::to_string_pretty(&report).context("serialising the result")?;
    std::fs::write(&config.out, json + "\n").with_context(|| format!("writing {}", config.out))?;
    let written = graphs::write_for_report(Path::new(&config.out), &report)?;
    print!("{}", report::summary(&report));
    println!("  result: {}", config.out);
    for path in written {
        println!("  graph: {}", path.display());
    }
    Ok(())
}

/// Waits until every delivery named in a 201 has arrived, or `drain` has passed.
async fn drain(receiver: &Receiver, sent: &[driver::Sent], drain: Duration) -> Vec<Arrival> {
    let expected: HashSet<&str> = sent
        .iter()
        .flat_map(|s| s.deliveries.iter().map(String::as_str))
        .collect();
    let deadline = Instant::now() + drain;
    loop {
        if receiver.count() >= expected.len() {
            let arrivals = receiver.arrivals();
            let seen: HashSet<&str> = arrivals.iter().map(|a| a.delivery_id.as_str()).collect();
            if expected.iter().all(|id| seen.contains(id)) {
                return arrivals;
            }
        }
        if Instant::now() >= deadline {
            return receiver.arrivals();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn build(
    config: &Config,
    tenant: String,
    sent: &[driver::Sent],
    arrivals: &[Arrival],
    start: Instant,
    processes: Vec<procs::ProcessUsage>,
) -> Report {
    let events = report::events(sent, start, config.duration);
    let (deliveries, timeline) = report::deliveries(sent, arrivals, start, config.duration);
    Report {
        scenario: config.scenario.clone(),
        settings: json!({
            "api": config.api,
            "rate": config.rate,
            "concurrency": config.concurrency,
            "duration_s": config.duration.as_secs_f64(),
            "webhooks": config.webhooks,
            "fanout": config.fanout,
            "receiver_delay_ms": config.receiver_delay.as_secs_f64() * 1e3,
            "payload_bytes": config.payload_bytes,
            "drain_s": config.drain.as_secs_f64(),
            "target": config.target,
        }),
        tenant,
        events,
        deliveries: config.target.is_none().then_some(deliveries),
        timeline,
        processes,
    }
}

fn rate_label(config: &Config) -> String {
    if config.rate == 0 {
        format!("full speed with {} in flight", config.concurrency)
    } else {
        format!("{} events/s", config.rate)
    }
}
