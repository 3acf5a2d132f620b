//! SVG graphs of a result, written next to its JSON: `<stem>-throughput.svg` (accepted
//! events/s and deliveries/s per second), `<stem>-latency.svg` (end-to-end p50/p95/p99 per
//! second) and `<stem>-histogram.svg` (end-to-end latency by bucket). `regenerate` draws them
//! again from a saved result, including one from an older loadgen that lacks some fields.

mod chart;
mod ticks;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::histogram::Bucket;
use crate::report::{Report, Second};
use chart::{Labels, Line};

/// What the graphs are drawn from.
pub struct Source<'a> {
    pub scenario: &'a str,
    pub timeline: &'a [Second],
    pub histogram: &'a [Bucket],
}

/// Writes the three graphs next to the result at `result` and returns their paths.
pub fn write_next_to(result: &Path, source: &Source) -> anyhow::Result<Vec<PathBuf>> {
    let graphs = [
        ("throughput", throughput(source.scenario, source.timeline)),
        ("latency", latency(source.scenario, source.timeline)),
        ("histogram", histogram(source.scenario, source.histogram)),
    ];
    graphs
        .into_iter()
        .map(|(kind, svg)| {
            let path = path_next_to(result, kind);
            std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

/// Writes the graphs of a load run next to its result (no histogram with `--target`).
pub fn write_for_report(result: &Path, report: &Report) -> anyhow::Result<Vec<PathBuf>> {
    let histogram = report
        .deliveries
        .as_ref()
        .map(|d| d.end_to_end_histogram.as_slice())
        .unwrap_or_default();
    let source = Source {
        scenario: &report.scenario,
        timeline: &report.timeline,
        histogram,
    };
    write_next_to(result, &source)
}

/// `results/seed.json` and `latency` give `results/seed-latency.svg`.
pub fn path_next_to(result: &Path, kind: &str) -> PathBuf {
    let stem = result
        .file_stem()
        .map_or_else(|| "result".into(), |s| s.to_string_lossy());
    result.with_file_name(format!("{stem}-{kind}.svg"))
}

/// The parts of a saved result the graphs need; whatever an older loadgen left out is empty.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Saved {
    scenario: String,
    timeline: Vec<Second>,
    deliveries: Option<SavedDeliveries>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct SavedDeliveries {
    end_to_end_histogram: Vec<Bucket>,
}

/// Reads a saved JSON result and writes its graphs next to it.
pub fn regenerate(result: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let json =
        std::fs::read_to_string(result).with_context(|| format!("reading {}", result.display()))?;
    let saved: Saved = serde_json::from_str(&json)
        .with_context(|| format!("{} is not a loadgen result", result.display()))?;
    let histogram = saved
        .deliveries
        .map(|d| d.end_to_end_histogram)
        .unwrap_or_default();
    let source = Source {
        scenario: &saved.scenario,
        timeline: &saved.timeline,
        histogram: &histogram,
    };
    write_next_to(result, &source)
}

pub fn throughput(scenario: &str, timeline: &[Second]) -> String {
    let per_second = |count: fn(&Second) -> usize| -> Vec<(f64, f64)> {
        timeline
            .iter()
            .map(|s| (s.second as f64, count(s) as f64))
            .collect()
    };
    let series = [
        Line {
            name: "accepted events/s",
            colour: "#1f77b4",
            points: per_second(|s| s.accepted),
        },
        Line {
            name: "deliveries/s",
            colour: "#d62728",
            points: per_second(|s| s.delivered),
        },
    ];
    let title = format!("{scenario}: throughput");
    let labels = Labels {
        title: &title,
        x: "seconds since the first send",
        y: "per second",
    };
    chart::lines(&labels, &series, 1.0, 1.0)
}

/// The percentiles an older result lacks have no points, and so no line.
pub fn latency(scenario: &str, timeline: &[Second]) -> String {
    let percentile = |value: fn(&Second) -> Option<f64>| -> Vec<(f64, f64)> {
        timeline
            .iter()
            .filter_map(|s| value(s).map(|ms| (s.second as f64, ms)))
            .filter(|(_, ms)| ms.is_finite())
            .collect()
    };
    let series = [
        Line {
            name: "p50",
            colour: "#2ca02c",
            points: percentile(|s| s.p50_ms),
        },
        Line {
            name: "p95",
            colour: "#ff7f0e",
            points: percentile(|s| s.p95_ms),
        },
        Line {
            name: "p99",
            colour: "#d62728",
            points: percentile(|s| s.p99_ms),
        },
    ];
    let title = format!("{scenario}: end-to-end latency (201 to receiver) per second");
    let labels = Labels {
        title: &title,
        x: "seconds since the first send",
        y: "milliseconds",
    };
    chart::lines(&labels, &series, 1.0, 0.0)
}

pub fn histogram(scenario: &str, buckets: &[Bucket]) -> String {
    let bars: Vec<(String, f64)> = buckets
        .iter()
        .map(|b| (bucket_label(b.le_ms), b.count as f64))
        .collect();
    let title = format!("{scenario}: end-to-end latency histogram");
    let labels = Labels {
        title: &title,
        x: "end-to-end latency, upper bound of each bucket (ms unless marked s)",
        y: "deliveries",
    };
    chart::bars(&labels, &bars, "#1f77b4")
}

fn bucket_label(le_ms: Option<f64>) -> String {
    match le_ms {
        None => ">10s".into(),
        Some(ms) if ms >= 1000.0 => format!("{}s", ms / 1000.0),
        Some(ms) => format!("{ms}"),
    }
}

#[cfg(test)]
mod tests;
