use std::path::Path;

use super::*;
use crate::histogram;

fn second(second: u64, accepted: usize, delivered: usize, p95_ms: Option<f64>) -> Second {
    Second {
        second,
        accepted,
        delivered,
        p95_ms,
        ..Second::default()
    }
}

/// Well formed enough for a browser: one root `<svg>` closed at the end, no NaN or infinity.
fn assert_well_formed(svg: &str) {
    assert!(svg.starts_with("<svg "), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<svg").count(), 1);
    assert_eq!(svg.matches("</svg>").count(), 1);
    assert_eq!(svg.matches('<').count(), svg.matches('>').count());
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
}

/// The `points` of each data polyline (the axes are the black one).
fn polylines(svg: &str) -> Vec<usize> {
    svg.lines()
        .filter(|l| l.starts_with("<polyline") && !l.contains(r#"stroke="black""#))
        .map(|l| {
            let points = l.split(r#"points=""#).nth(1).unwrap();
            points.split('"').next().unwrap().split(' ').count()
        })
        .collect()
}

#[test]
fn throughput_draws_one_point_per_second_for_each_series() {
    let timeline: Vec<Second> = (0..7).map(|s| second(s, 300, 290, Some(1.5))).collect();
    let svg = throughput("seed", &timeline);
    assert_well_formed(&svg);
    assert_eq!(polylines(&svg), [7, 7]);
    assert!(svg.contains("seed: throughput"));
    assert!(svg.contains("accepted events/s") && svg.contains("deliveries/s"));
    assert!(!svg.contains("no data"));
}

#[test]
fn latency_leaves_out_the_seconds_and_percentiles_it_lacks() {
    let mut timeline = vec![
        second(0, 1, 1, Some(2.0)),
        second(1, 1, 0, None),
        second(2, 1, 1, Some(4.0)),
    ];
    timeline[2].p99_ms = Some(9.0);
    let svg = latency("old", &timeline);
    assert_well_formed(&svg);
    // p50 has no points at all; p95 skips second 1; p99 has one point.
    assert_eq!(polylines(&svg), [2, 1]);
    assert!(!svg.contains(">p50<"));
}

#[test]
fn histogram_has_a_bar_per_bucket() {
    let buckets = histogram::of([std::time::Duration::from_millis(3)]);
    let svg = histogram("seed", &buckets);
    assert_well_formed(&svg);
    assert_eq!(svg.matches("<rect").count(), 1 + buckets.len());
    assert!(svg.contains("&gt;10s"));
}

#[test]
fn empty_input_says_no_data() {
    for svg in [
        throughput("empty", &[]),
        latency("empty", &[]),
        histogram("empty", &[]),
        histogram("empty", &histogram::of([])),
    ] {
        assert_well_formed(&svg);
        assert!(svg.contains("no data"));
        assert!(polylines(&svg).is_empty());
    }
}

#[test]
fn titles_are_escaped() {
    let svg = throughput("a<b & c", &[]);
    assert_well_formed(&svg);
    assert!(svg.contains("a&lt;b &amp; c"));
}

#[test]
fn graphs_go_next_to_the_result() {
    assert_eq!(
        path_next_to(Path::new("docs/perf/results/seed-1.json"), "latency"),
        Path::new("docs/perf/results/seed-1-latency.svg")
    );
}

#[test]
fn an_older_result_without_the_new_fields_still_graphs() {
    let dir = std::env::temp_dir().join(format!("loadgen-graphs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let result = dir.join("old.json");
    let old = r#"{"scenario": "seed", "timeline": [{"second": 0, "sent": 10, "accepted": 9,
        "delivered": 8, "p95_ms": 1.5}], "deliveries": {"expected": 9}}"#;
    std::fs::write(&result, old).unwrap();
    let written = regenerate(&result).unwrap();
    assert_eq!(written.len(), 3);
    let throughput = std::fs::read_to_string(&written[0]).unwrap();
    assert_eq!(polylines(&throughput), [1, 1]);
    let histogram = std::fs::read_to_string(&written[2]).unwrap();
    assert!(histogram.contains("no data"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_empty_run_writes_three_no_data_graphs() {
    let start = std::time::Instant::now();
    let window = std::time::Duration::from_secs(1);
    let (deliveries, timeline) = crate::report::deliveries(&[], &[], start, window);
    let report = Report {
        scenario: "empty".into(),
        settings: serde_json::json!({}),
        tenant: "t".into(),
        events: crate::report::events(&[], start, window),
        deliveries: Some(deliveries),
        timeline,
        processes: Vec::new(),
    };
    let dir = std::env::temp_dir().join(format!("loadgen-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let written = write_for_report(&dir.join("empty.json"), &report).unwrap();
    for path in &written {
        let svg = std::fs::read_to_string(path).unwrap();
        assert_well_formed(&svg);
        assert!(svg.contains("no data"), "{}", path.display());
    }
    assert_eq!(written.len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}
