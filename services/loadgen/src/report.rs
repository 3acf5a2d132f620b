//! Turns what was sent and what arrived into the result: rates, latency percentiles, loss,
//! duplicates and a per-second timeline.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::driver::Sent;
use crate::histogram::{self, Bucket};
use crate::procs::ProcessUsage;
use crate::receiver::Arrival;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles; `None` for no samples.
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            ms(samples[rank - 1])
        };
        Some(Self {
            count: samples.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        })
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

#[derive(Debug, Serialize)]
pub struct Events {
    pub sent: usize,
    pub accepted: usize,
    /// Answers other than 201, by status code.
    pub refused: BTreeMap<u16, usize>,
    /// Requests that got no HTTP answer (connection error or timeout).
    pub errors: usize,
    /// Accepted events from the first send to the last 201 (the window at least).
    pub accepted_per_second: f64,
    /// Seconds from the first send to the last 201.
    pub last_accept_s: f64,
    /// From the time each event was due to its 201: includes any wait behind a stalled API.
    pub api_latency: Option<Percentiles>,
}

#[derive(Debug, Serialize)]
pub struct Deliveries {
    /// Delivery ids named in the 201 answers.
    pub expected: usize,
    /// Distinct expected delivery ids the receiver saw.
    pub delivered: usize,
    /// Requests beyond the first for a delivery id.
    pub duplicates: usize,
    /// Expected delivery ids never seen by the end of the drain.
    pub lost: usize,
    /// Delivery ids seen that no 201 named (e.g. an event whose answer timed out).
    pub unexpected: usize,
    /// Distinct deliveries that arrived within the sending window, per second of it.
    pub per_second_sending_window: f64,
    /// Distinct deliveries over the time from the first send to the last arrival.
    pub per_second_overall: f64,
    /// Seconds from the first send to the last arrival.
    pub last_arrival_s: f64,
    /// Event accepted (201 received) to the receiver's first sight of the delivery.
    pub end_to_end: Option<Percentiles>,
    /// Event due (open loop) to the receiver's first sight: the latency a producer sending
    /// at this rate sees, queueing in front of a saturated API included.
    pub due_to_delivery: Option<Percentiles>,
    /// `end_to_end` of the deliveries that arrived from `WARM_UP` after the first send on:
    /// the steady state, without a new tenant's first second (its consumer being found).
    pub end_to_end_steady: Option<Percentiles>,
    /// `end_to_end` as counts per latency bucket (see `histogram`).
    pub end_to_end_histogram: Vec<Bucket>,
}

/// Read back by `graphs` from results of any loadgen version: a field an older one did not
/// write comes back as its default.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Second {
    pub second: u64,
    /// Events due in this second (the schedule).
    pub due: usize,
    /// Requests started in this second: fewer than `due` when the in-flight cap held them.
    pub sent: usize,
    pub accepted: usize,
    pub delivered: usize,
    /// End to end latency of this second's arrivals.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// The first arrival of each distinct delivery id.
/// Arrivals before this, counted from the first send, are left out of `end_to_end_steady`.
pub const WARM_UP: Duration = Duration::from_secs(5);

struct Matched {
    from_due: Vec<Duration>,
    first: HashMap<String, Instant>,
    latencies: Vec<(Instant, Duration)>,
    duplicates: usize,
}

fn matched(sent: &[Sent], arrivals: &[Arrival]) -> Matched {
    let accepted_at: HashMap<String, (Instant, Instant)> = sent
        .iter()
        .filter_map(|s| s.event_id.clone().map(|id| (id, (s.due, s.answered))))
        .collect();
    let mut from_due = Vec::with_capacity(arrivals.len());
    let mut first: HashMap<String, Instant> = HashMap::with_capacity(arrivals.len());
    let mut latencies = Vec::with_capacity(arrivals.len());
    let mut duplicates = 0;
    for arrival in arrivals {
        if first.contains_key(&arrival.delivery_id) {
            duplicates += 1;
            continue;
        }
        first.insert(arrival.delivery_id.clone(), arrival.at);
        if let Some((due, accepted)) = accepted_at.get(&arrival.event_id) {
            from_due.push(arrival.at.saturating_duration_since(*due));
            // A delivery can beat the 201 back to us; that counts as zero, not negative.
            latencies.push((arrival.at, arrival.at.saturating_duration_since(*accepted)));
        }
    }
    Matched {
        from_due,
        first,
        latencies,
        duplicates,
    }
}

pub fn events(sent: &[Sent], start: Instant, window: Duration) -> Events {
    let mut refused = BTreeMap::new();
    let mut errors = 0;
    let mut api = Vec::new();
    for s in sent {
        match s.status {
            Some(201) => api.push(s.answered.saturating_duration_since(s.due)),
            Some(code) => *refused.entry(code).or_default() += 1,
            None => errors += 1,
        }
    }
    let last = sent
        .iter()
        .filter(|s| s.status == Some(201))
        .map(|s| s.answered.saturating_duration_since(start))
        .max()
        .unwrap_or_default();
    Events {
        sent: sent.len(),
        accepted: api.len(),
        refused,
        errors,
        accepted_per_second: api.len() as f64 / last.max(window).as_secs_f64(),
        last_accept_s: (last.as_secs_f64() * 1e3).round() / 1e3,
        api_latency: Percentiles::of(api),
    }
}

pub fn deliveries(
    sent: &[Sent],
    arrivals: &[Arrival],
    start: Instant,
    window: Duration,
) -> (Deliveries, Vec<Second>) {
    let m = matched(sent, arrivals);
    let expected: HashSet<&str> = sent
        .iter()
        .flat_map(|s| s.deliveries.iter().map(String::as_str))
        .collect();
    let delivered = expected
        .iter()
        .filter(|id| m.first.contains_key(**id))
        .count();
    let unexpected = m
        .first
        .keys()
        .filter(|id| !expected.contains(id.as_str()))
        .count();
    let send_end = start + window;
    let in_window = m.first.values().filter(|at| **at <= send_end).count();
    let last = m.first.values().max().map(|at| at.duration_since(start));
    let last_s = last.map_or(0.0, |d| d.as_secs_f64());
    let summary = Deliveries {
        expected: expected.len(),
        delivered,
        duplicates: m.duplicates,
        lost: expected.len() - delivered,
        unexpected,
        per_second_sending_window: in_window as f64 / window.as_secs_f64(),
        per_second_overall: if last_s > 0.0 {
            m.first.len() as f64 / last_s
        } else {
            0.0
        },
        last_arrival_s: (last_s * 1e3).round() / 1e3,
        end_to_end: Percentiles::of(m.latencies.iter().map(|(_, d)| *d).collect()),
        end_to_end_steady: Percentiles::of(
            m.latencies
                .iter()
                .filter(|(at, _)| at.saturating_duration_since(start) >= WARM_UP)
                .map(|(_, d)| *d)
                .collect(),
        ),
        due_to_delivery: Percentiles::of(m.from_due.clone()),
        end_to_end_histogram: histogram::of(m.latencies.iter().map(|(_, d)| *d)),
    };
    (summary, timeline(sent, &m, start))
}

fn timeline(sent: &[Sent], m: &Matched, start: Instant) -> Vec<Second> {
    let second = |at: Instant| at.saturating_duration_since(start).as_secs();
    let mut seconds: BTreeMap<u64, (usize, usize, usize, usize, Vec<Duration>)> = BTreeMap::new();
    for s in sent {
        seconds.entry(second(s.due)).or_default().0 += 1;
        seconds.entry(second(s.started)).or_default().1 += 1;
        if s.status == Some(201) {
            seconds.entry(second(s.answered)).or_default().2 += 1;
        }
    }
    for (at, latency) in &m.latencies {
        let entry = seconds.entry(second(*at)).or_default();
        entry.3 += 1;
        entry.4.push(*latency);
    }
    seconds
        .into_iter()
        .map(|(second, (due, sent, accepted, delivered, latencies))| {
            let p = Percentiles::of(latencies);
            Second {
                second,
                due,
                sent,
                accepted,
                delivered,
                p50_ms: p.map(|p| p.p50_ms),
                p95_ms: p.map(|p| p.p95_ms),
                p99_ms: p.map(|p| p.p99_ms),
            }
        })
        .collect()
}

/// The whole JSON result.
#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub settings: serde_json::Value,
    pub tenant: String,
    pub events: Events,
    /// `None` when webhooks pointed at `--target` rather than the built-in receiver.
    pub deliveries: Option<Deliveries>,
    pub timeline: Vec<Second>,
    pub processes: Vec<ProcessUsage>,
}

/// A few lines for a person at a terminal.
pub fn summary(report: &Report) -> String {
    let e = &report.events;
    let mut out = format!(
        "{}: sent {}, accepted {} ({:.1}/s, last at {:.1}s), refused {:?}, no answer {}\n",
        report.scenario,
        e.sent,
        e.accepted,
        e.accepted_per_second,
        e.last_accept_s,
        e.refused,
        e.errors
    );
    if let Some(p) = &e.api_latency {
        out += &format!("  POST /events (due -> 201): {}\n", line(p));
    }
    if let Some(d) = &report.deliveries {
        out += &format!(
            "  deliveries: {} of {} ({:.1}/s while sending, {:.1}/s overall, last at {:.1}s), \
             lost {}, duplicates {}, unexpected {}\n",
            d.delivered,
            d.expected,
            d.per_second_sending_window,
            d.per_second_overall,
            d.last_arrival_s,
            d.lost,
            d.duplicates,
            d.unexpected
        );
        if let Some(p) = &d.end_to_end {
            out += &format!("  end to end (201 -> receiver): {}\n", line(p));
        }
        if let Some(p) = &d.end_to_end_steady {
            out += &format!("  end to end from {}s on: {}\n", WARM_UP.as_secs(), line(p));
        }
        if let Some(p) = &d.due_to_delivery {
            out += &format!("  due -> receiver: {}\n", line(p));
        }
    }
    for p in &report.processes {
        out += &format!(
            "  {} (pid {}): {:.1} CPU s ({:.2} cores), RSS peak {:.0} MiB, last {:.0} MiB\n",
            p.name, p.pid, p.cpu_seconds, p.cpu_cores, p.rss_peak_mib, p.rss_last_mib
        );
        if p.rss_by_minute_mib.len() > 2 {
            let minutes: Vec<String> = p
                .rss_by_minute_mib
                .iter()
                .map(|m| format!("{m:.0}"))
                .collect();
            out += &format!("    RSS by minute (MiB): {}\n", minutes.join(", "));
        }
    }
    out
}

pub fn line(p: &Percentiles) -> String {
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={})",
        p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms, p.count
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(start: Instant, n: u64, deliveries: &[&str]) -> Sent {
        Sent {
            due: start + Duration::from_millis(n),
            started: start + Duration::from_millis(n),
            answered: start + Duration::from_millis(n + 5),
            status: Some(201),
            event_id: Some(format!("evt_{n}")),
            deliveries: deliveries.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn arrival(start: Instant, ms: u64, delivery: &str, event: u64) -> Arrival {
        Arrival {
            at: start + Duration::from_millis(ms),
            delivery_id: delivery.into(),
            event_id: format!("evt_{event}"),
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let p = Percentiles::of((1..=100).map(Duration::from_millis).collect()).unwrap();
        assert_eq!(
            (p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms),
            (50.0, 95.0, 99.0, 100.0)
        );
        assert!(Percentiles::of(Vec::new()).is_none());
    }

    #[test]
    fn counts_duplicates_loss_and_strangers_once_each() {
        let start = Instant::now();
        let sent = vec![sent(start, 0, &["msg_a"]), sent(start, 1, &["msg_b"])];
        let arrivals = vec![
            arrival(start, 25, "msg_a", 0),
            arrival(start, 1500, "msg_a", 0),
            arrival(start, 30, "msg_x", 9),
        ];
        let (d, timeline) = deliveries(&sent, &arrivals, start, Duration::from_secs(1));
        assert_eq!((d.expected, d.delivered, d.lost), (2, 1, 1));
        assert_eq!((d.duplicates, d.unexpected), (1, 1));
        assert_eq!(d.end_to_end.unwrap().max_ms, 20.0);
        assert_eq!(d.due_to_delivery.unwrap().max_ms, 25.0);
        assert_eq!(timeline[0].delivered, 1);
        assert_eq!(timeline[0].p50_ms, Some(20.0));
        let counted: usize = d.end_to_end_histogram.iter().map(|b| b.count).sum();
        assert_eq!(counted, 1);
    }

    #[test]
    fn the_steady_figure_leaves_out_the_warm_up() {
        let start = Instant::now();
        let warm = WARM_UP.as_millis() as u64;
        let sent = vec![sent(start, 0, &["msg_a"]), sent(start, warm, &["msg_b"])];
        let arrivals = vec![
            arrival(start, 900, "msg_a", 0),
            arrival(start, warm + 15, "msg_b", warm),
        ];
        let (d, _) = deliveries(&sent, &arrivals, start, WARM_UP * 2);
        assert_eq!(d.end_to_end.unwrap().max_ms, 895.0);
        let steady = d.end_to_end_steady.unwrap();
        assert_eq!((steady.count, steady.max_ms), (1, 10.0));
    }

    #[test]
    fn a_delivery_that_beats_its_201_counts_as_zero() {
        let start = Instant::now();
        let sent = vec![sent(start, 10, &["msg_a"])];
        let arrivals = vec![arrival(start, 12, "msg_a", 10)];
        let (d, _) = deliveries(&sent, &arrivals, start, Duration::from_secs(1));
        assert_eq!(d.end_to_end.unwrap().max_ms, 0.0);
    }

    #[test]
    fn refusals_are_counted_by_status() {
        let start = Instant::now();
        let mut refused = sent(start, 1, &[]);
        refused.status = Some(429);
        let mut lost = sent(start, 2, &[]);
        lost.status = None;
        let e = events(
            &[sent(start, 0, &["m"]), refused, lost],
            start,
            Duration::from_secs(1),
        );
        assert_eq!((e.accepted, e.errors), (1, 1));
        assert_eq!(e.refused.get(&429), Some(&1));
    }
}
