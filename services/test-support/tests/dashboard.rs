//! The Grafana dashboard is valid JSON and queries only what Herald exports: a metric one of
//! the services registers, or a series the recording rules make.

use std::collections::BTreeSet;
use std::path::Path;

use prometheus_client::registry::Registry;

const MONITORING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../k8s/monitoring");

/// Every sample name the three services can export, from their registries. Families print
/// only once they hold a series, so each gets one sample first.
fn exported() -> BTreeSet<String> {
    use herald_dispatcher::metrics::{DispatchMetrics, TenantLabel};
    use herald_dispatcher::sender::AttemptReport;
    use herald_dlq::metrics::{DlqMetrics, WriteLabels};
    use herald_domain::classify::AttemptResult;
    use herald_domain::retry::Decision;
    use herald_runtime::metrics::HttpLabels;

    let mut http = herald_runtime::Metrics::new();
    let ingest = herald_ingest::state::IngestMetrics::register(http.registry_mut());
    let labels = HttpLabels {
        method: "GET".into(),
        operation: "getEvent".into(),
        status: 200,
    };
    http.http_requests.get_or_create(&labels).inc();
    http.http_duration.get_or_create(&labels).observe(0.01);
    let event = herald_ingest::state::EventLabels {
        tenant: "t".into(),
        event_type: "e".into(),
    };
    ingest.events_accepted.get_or_create(&event).inc();
    ingest.rejected("t", "events_per_second");

    let mut dispatcher = Registry::with_prefix("herald");
    let dispatch = DispatchMetrics::register(&mut dispatcher);
    let report = AttemptReport {
        result: AttemptResult::Response {
            status: 200,
            retry_after: None,
        },
        duration: std::time::Duration::from_millis(5),
        response_excerpt: None,
    };
    dispatch.observe_attempt(&report, Decision::Succeeded);
    dispatch.observe_job(None);
    let tenant = TenantLabel { tenant: "t".into() };
    dispatch.queue_depth.get_or_create(&tenant).set(1);
    dispatch.ack_pending.get_or_create(&tenant).set(1);

    let mut dlq = Registry::with_prefix("herald");
    let dead = DlqMetrics::register(&mut dlq);
    dead.writes
        .get_or_create(&WriteLabels {
            tenant: "t".into(),
            reason: "gone".into(),
        })
        .inc();
    dead.size
        .get_or_create(&herald_dlq::metrics::TenantLabel { tenant: "t".into() })
        .set(1);

    let mut text = http.encode();
    for registry in [&dispatcher, &dlq] {
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    }
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.strip_prefix("# TYPE ").unwrap_or_default().split(' ');
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    names
}

/// Series the recording rules define.
fn recorded() -> BTreeSet<String> {
    let rules = std::fs::read_to_string(Path::new(MONITORING).join("herald-slo.yaml")).unwrap();
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- record: "))
        .map(str::to_owned)
        .collect()
}

/// The `herald_...` and `herald:...` names in a PromQL expression.
fn names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(start) = expr[i..].find("herald").map(|s| s + i) {
        let end = expr[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map_or(expr.len(), |e| e + start);
        let before_ok =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if before_ok {
            names.push(expr[start..end].trim_end_matches(':').to_owned());
        }
        i = end;
    }
    names
}

fn exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                    _ => exprs(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

#[test]
fn the_dashboard_queries_only_what_herald_exports() {
    let text =
        std::fs::read_to_string(Path::new(MONITORING).join("dashboards/herald.json")).unwrap();
    let dashboard: serde_json::Value =
        serde_json::from_str(&text).expect("the dashboard is valid JSON");
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() > 10));
    let mut all = Vec::new();
    exprs(&dashboard, &mut all);
    assert!(all.len() > 20, "{} queries", all.len());
    let known: BTreeSet<String> = exported().union(&recorded()).cloned().collect();
    let used: BTreeSet<String> = all.iter().flat_map(|e| names_in(e)).collect();
    let unknown: Vec<&String> = used.iter().filter(|n| !known.contains(*n)).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries {unknown:?}, which Herald does not export"
    );
    for required in [
        "herald_delivery_end_to_end_seconds_bucket",
        "herald_dlq_writes_total",
        "herald_consumer_pending_jobs",
    ] {
        assert!(
            used.contains(required),
            "{required} is not on the dashboard"
        );
    }
}

#[test]
fn names_are_found_in_promql() {
    let found = names_in(r#"sum(rate(herald_a_total{x="y"}[5m])) / herald:c:rate5m + myherald_d"#);
    assert_eq!(found, ["herald_a_total", "herald:c:rate5m"]);
}
