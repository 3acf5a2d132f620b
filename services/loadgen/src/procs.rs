//! Samples the CPU time and resident memory of named processes from /proc once a second.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

/// One process's figures over the run.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessUsage {
    pub name: String,
    pub pid: u32,
    /// User plus system CPU seconds between the first and the last sample.
    pub cpu_seconds: f64,
    /// `cpu_seconds` over the sampled wall time: 1.0 is one core busy.
    pub cpu_cores: f64,
    pub rss_peak_mib: f64,
    pub rss_last_mib: f64,
    /// RSS at the first sample and then once a minute: flat over a soak, or growing.
    pub rss_by_minute_mib: Vec<f64>,
    /// False when the process was gone before the first sample.
    pub sampled: bool,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    cpu_ticks: u64,
    rss_kib: u64,
}

/// Reads `/proc/<pid>/stat` (utime + stime, in clock ticks) and `/proc/<pid>/status` (VmRSS).
fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After `)`: state is field 3 of stat(5), so utime (14) and stime (15) sit at 11 and 12.
    let cpu_ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(Sample {
        at: Instant::now(),
        cpu_ticks,
        rss_kib,
    })
}

/// Clock ticks per second for /proc times; 100 on every Linux this runs on in practice.
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Samples every second until `stop` turns true, then summarises each process.
pub async fn sample_until(
    pids: Vec<(String, u32)>,
    mut stop: watch::Receiver<bool>,
) -> Vec<ProcessUsage> {
    let hz = ticks_per_second();
    let mut series: Vec<Vec<Sample>> = vec![Vec::new(); pids.len()];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        for ((_, pid), samples) in pids.iter().zip(&mut series) {
            samples.extend(sample(*pid));
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    for ((_, pid), samples) in pids.iter().zip(&mut series) {
        samples.extend(sample(*pid));
    }
    pids.into_iter()
        .zip(series)
        .map(|((name, pid), samples)| summarise(name, pid, &samples, hz))
        .collect()
}

fn summarise(name: String, pid: u32, samples: &[Sample], hz: f64) -> ProcessUsage {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return ProcessUsage {
            name,
            pid,
            cpu_seconds: 0.0,
            cpu_cores: 0.0,
            rss_peak_mib: 0.0,
            rss_last_mib: 0.0,
            rss_by_minute_mib: Vec::new(),
            sampled: false,
        };
    };
    let cpu_seconds = last.cpu_ticks.saturating_sub(first.cpu_ticks) as f64 / hz;
    let wall = last.at.duration_since(first.at).as_secs_f64();
    ProcessUsage {
        name,
        pid,
        cpu_seconds,
        cpu_cores: if wall > 0.0 { cpu_seconds / wall } else { 0.0 },
        rss_peak_mib: mib(samples.iter().map(|s| s.rss_kib).max().unwrap_or(0)),
        rss_last_mib: mib(last.rss_kib),
        rss_by_minute_mib: by_minute(samples)
            .map(|s| (mib(s.rss_kib) * 10.0).round() / 10.0)
            .collect(),
        sampled: true,
    }
}

/// The first sample and the first one at least a whole minute after the one before.
fn by_minute(samples: &[Sample]) -> impl Iterator<Item = &Sample> {
    let mut next = samples.first().map(|s| s.at);
    samples.iter().filter(move |s| match next {
        Some(due) if s.at >= due => {
            next = Some(due + Duration::from_secs(60));
            true
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_kept_once_a_minute() {
        let start = Instant::now();
        let samples: Vec<Sample> = (0..150)
            .map(|n| Sample {
                at: start + Duration::from_secs(n),
                cpu_ticks: n,
                rss_kib: 1024 * (n + 1),
            })
            .collect();
        let usage = summarise("p".into(), 1, &samples, 100.0);
        assert_eq!(usage.rss_by_minute_mib, vec![1.0, 61.0, 121.0]);
        assert_eq!(usage.rss_last_mib, 150.0);
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).expect("our own /proc entry");
        assert!(s.rss_kib > 0);
    }

    #[test]
    fn a_process_never_seen_is_marked_unsampled() {
        let usage = summarise("gone".into(), 1, &[], 100.0);
        assert!(!usage.sampled);
    }
}
