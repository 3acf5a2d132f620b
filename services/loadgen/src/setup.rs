//! Prepares a run through Herald's own API: a fresh tenant with quotas that do not limit the
//! run, its event types and its webhooks, spread so each event matches exactly `fanout`.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::Config;

/// What the driver needs from the setup.
#[derive(Debug, Clone)]
pub struct Setup {
    pub tenant: String,
    pub api_key: String,
    /// Event type names; event `n` has type `event_types[n % len]`.
    pub event_types: Vec<String>,
}

#[derive(Deserialize)]
struct TenantCreated {
    name: String,
    api_key: String,
}

pub async fn prepare(
    client: &reqwest::Client,
    config: &Config,
    webhook_url: &str,
) -> anyhow::Result<Setup> {
    let api = |path: &str| format!("{}{path}", config.api);
    let admin = format!("Bearer {}", config.admin_token);
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let name = format!("loadgen-{stamp}-{}", std::process::id());
    let tenant: TenantCreated = call(
        client
            .post(api("/admin/tenants"))
            .header("authorization", &admin),
        &json!({ "name": name }),
        "creating the tenant",
    )
    .await
    .and_then(|v| serde_json::from_value(v).context("reading the new tenant"))?;

    // Far above what the run can reach: the run measures Herald, not its quotas.
    let ceiling = i32::MAX as u64;
    call(
        client
            .put(api(&format!("/admin/tenants/{}/quotas", tenant.name)))
            .header("authorization", &admin),
        &json!({
            "events_per_second": ceiling,
            "burst": ceiling,
            "max_concurrent_deliveries": ceiling,
            "max_webhooks": config.webhooks.max(100),
            "max_dlq_size": ceiling,
        }),
        "raising the tenant's quotas",
    )
    .await?;

    let key = format!("Bearer {}", tenant.api_key);
    let event_types: Vec<String> = (0..config.event_types())
        .map(|i| format!("bench.t{i:04}"))
        .collect();
    for event_type in &event_types {
        call(
            client
                .post(api("/event-types"))
                .header("authorization", &key),
            &json!({ "name": event_type }),
            "creating an event type",
        )
        .await?;
    }
    for i in 0..config.webhooks {
        let event_type = &event_types[i / config.fanout];
        call(
            client.post(api("/webhooks")).header("authorization", &key),
            &json!({
                "url": webhook_url,
                "event_types": [event_type],
                "description": format!("loadgen webhook {i}"),
            }),
            "creating a webhook",
        )
        .await?;
    }
    Ok(Setup {
        tenant: tenant.name,
        api_key: tenant.api_key,
        event_types,
    })
}

async fn call(request: reqwest::RequestBuilder, body: &Value, what: &str) -> anyhow::Result<Value> {
    let answer = request
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .with_context(|| format!("{what}: sending"))?;
    let status = answer.status();
    let text = answer
        .text()
        .await
        .with_context(|| format!("{what}: reading the answer"))?;
    if !status.is_success() {
        bail!("{what}: {status} {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("{what}: the answer is not JSON"))
}
