//! Converging one `WebhookTenant`: the tenant and its API key Secret, its settings, its quotas,
//! its consumer, then the status. Every step reads before it writes, so a repeat is a no-op
//! and a run cut short anywhere picks up where it stopped.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::conditions::{self, CONSUMER_READY, QUOTAS_APPLIED, Wanted};
use crate::consumer::{ConsumerState, Consumers};
use crate::controller::Context;
use crate::error::{Error, Result};
use crate::herald_api::{Limits, Tenant, TenantChange, Usage};
use crate::resource::{TenantUsage, WebhookTenant, WebhookTenantStatus};
use crate::secret;

/// How far a run got: what the status reports.
#[derive(Default)]
struct Progress {
    limits: Option<Limits>,
    usage: Option<Usage>,
    consumer: Option<ConsumerState>,
}

pub async fn apply(resource: &WebhookTenant, ctx: &Context) -> Result<Action> {
    let mut progress = Progress::default();
    let outcome = converge(resource, ctx, &mut progress).await;
    let status = status(resource, &progress, outcome.as_ref().err());
    let written = write_status(resource, ctx, status).await;
    let Err(error) = outcome else {
        return written.map(|()| Action::requeue(ctx.resync));
    };
    // The first error is the one to report; a status that could not be written is logged.
    if let Err(unwritten) = written {
        tracing::warn!(error = %unwritten, "status not written");
    }
    let note = error.to_string();
    ctx.publish(resource, EventType::Warning, error.reason(), note)
        .await;
    Err(error)
}

async fn converge(resource: &WebhookTenant, ctx: &Context, progress: &mut Progress) -> Result<()> {
    let spec = &resource.spec;
    if let Some(owner) = ctx.claims.earlier_claimant(resource).await {
        return Err(Error::TenantTaken {
            tenant: spec.tenant.clone(),
            owner,
        });
    }
    let secrets: Api<Secret> = Api::namespaced(
        ctx.client.clone(),
        &resource.namespace().ok_or(Error::Unnamed)?,
    );
    let keeps_key_of = secret::tenant_of(&secrets, resource).await?;
    if let Some(managed) = keeps_key_of.as_ref().filter(|t| **t != spec.tenant) {
        return Err(Error::TenantRenamed {
            managed: managed.clone(),
            wanted: spec.tenant.clone(),
        });
    }
    let tenant = ensure_tenant(resource, ctx, &secrets, keeps_key_of.is_some()).await?;
    update_tenant(resource, ctx, &tenant).await?;

    let quotas = ctx.herald.quotas(&spec.tenant).await?;
    progress.usage = Some(quotas.usage);
    let limits = match quotas.limits.changes_for(&spec.quotas, &ctx.default_quotas) {
        None => quotas.limits,
        Some(changes) => {
            let note = format!("quotas set: {changes}");
            let limits = ctx.herald.set_quotas(&spec.tenant, changes).await?;
            ctx.publish(resource, EventType::Normal, "QuotasUpdated", note)
                .await;
            limits
        }
    };
    progress.limits = Some(limits);

    let settings = ctx.consumers.settings(limits.max_concurrent_deliveries);
    let before = ctx
        .consumers
        .state(&spec.tenant)
        .await
        .map_err(Error::Nats)?;
    if before.is_none_or(|state| !state.matches(&settings)) {
        ctx.consumers
            .ensure(&spec.tenant, settings)
            .await
            .map_err(Error::Nats)?;
        let (reason, verb) = match before {
            None => ("ConsumerCreated", "created"),
            Some(_) => ("ConsumerUpdated", "updated"),
        };
        let note = format!(
            "consumer {} {verb}: max_ack_pending {}, ack_wait {}s, max_deliver {}",
            Consumers::name(&spec.tenant),
            settings.max_ack_pending,
            settings.ack_wait.as_secs(),
            settings.max_deliver
        );
        ctx.publish(resource, EventType::Normal, reason, note).await;
    }
    progress.consumer = ctx
        .consumers
        .state(&spec.tenant)
        .await
        .map_err(Error::Nats)?;
    Ok(())
}

/// The tenant, created when missing; a key Secret holding a key that works.
async fn ensure_tenant(
    resource: &WebhookTenant,
    ctx: &Context,
    secrets: &Api<Secret>,
    has_secret: bool,
) -> Result<Tenant> {
    let spec = &resource.spec;
    let label = secret::key_label(resource);
    let (tenant, fresh_key) = match ctx.herald.tenant(&spec.tenant).await? {
        Some(tenant) => (tenant, None),
        None => {
            let created = ctx
                .herald
                .create_tenant(&spec.tenant, spec.display_name.as_deref(), &label)
                .await?;
            let note = format!("tenant {} created in Herald", spec.tenant);
            ctx.publish(resource, EventType::Normal, "TenantCreated", note)
                .await;
            let key = created.api_key.clone();
            (created, key)
        }
    };
    let key = match (fresh_key, has_secret) {
        (Some(key), _) => Some(key),
        // Created before, but its key never reached a Secret (or the Secret was deleted):
        // issue another, which revokes the earlier key of this label.
        (None, false) => Some(ctx.herald.issue_api_key(&spec.tenant, &label).await?),
        (None, true) => None,
    };
    if let Some(key) = key {
        secret::store(secrets, resource, &key, has_secret).await?;
        let note = format!("API key stored in Secret {}", secret::name(resource));
        ctx.publish(resource, EventType::Normal, "ApiKeyIssued", note)
            .await;
    }
    Ok(tenant)
}

/// Display name, suspension and retry schedule, where they differ from the spec.
async fn update_tenant(resource: &WebhookTenant, ctx: &Context, tenant: &Tenant) -> Result<()> {
    let change = tenant_change(resource, tenant);
    if change.is_empty() {
        return Ok(());
    }
    ctx.herald.update_tenant(&tenant.name, &change).await?;
    let (reason, note) = match change.status {
        Some("suspended") => (
            "Suspended",
            "deliveries paused; events are queued".to_owned(),
        ),
        Some(_) => (
            "Resumed",
            format!("deliveries running (was {})", tenant.status),
        ),
        None => (
            "TenantUpdated",
            "display name or retry schedule updated".to_owned(),
        ),
    };
    ctx.publish(resource, EventType::Normal, reason, note).await;
    Ok(())
}

/// What the tenant lacks of the spec. Schedules compare as durations: Herald answers `60s`
/// as `1m`.
pub fn tenant_change(resource: &WebhookTenant, tenant: &Tenant) -> TenantChange {
    let spec = &resource.spec;
    let wanted_status = if spec.suspended {
        "suspended"
    } else {
        "active"
    };
    let delays = |list: &Option<Vec<String>>| -> Option<Vec<Duration>> {
        list.as_ref().map(|l| {
            l.iter()
                .filter_map(|d| herald_domain::duration::parse_duration(d).ok())
                .collect()
        })
    };
    TenantChange {
        display_name: (spec.display_name != tenant.display_name).then(|| spec.display_name.clone()),
        status: (tenant.status != wanted_status).then_some(wanted_status),
        retry_schedule: (delays(&spec.retry_schedule) != delays(&tenant.retry_schedule))
            .then(|| spec.retry_schedule.clone()),
    }
}

fn status(
    resource: &WebhookTenant,
    progress: &Progress,
    error: Option<&Error>,
) -> WebhookTenantStatus {
    let failed = |type_| {
        let (reason, message) =
            error.map_or(("Pending", String::new()), |e| (e.reason(), e.to_string()));
        Wanted::new(type_, false, reason, message)
    };
    let quotas = match progress.limits {
        Some(l) => Wanted::new(
            QUOTAS_APPLIED,
            true,
            "Applied",
            format!(
                "{}/s (burst {}), {} concurrent, DLQ {}, payload {} B, {} webhooks",
                l.events_per_second,
                l.burst,
                l.max_concurrent_deliveries,
                l.max_dlq_size,
                l.max_payload_bytes,
                l.max_webhooks
            ),
        ),
        None => failed(QUOTAS_APPLIED),
    };
    let consumer = match progress.consumer {
        Some(c) => Wanted::new(
            CONSUMER_READY,
            true,
            "Ready",
            format!(
                "max_ack_pending {}, ack_wait {}s, max_deliver {}; {} waiting, {} unacknowledged",
                c.max_ack_pending,
                c.ack_wait.as_secs(),
                c.max_deliver,
                c.pending,
                c.ack_pending
            ),
        ),
        None => failed(CONSUMER_READY),
    };
    let ready = conditions::ready(&[quotas.clone(), consumer.clone()], resource.spec.suspended);
    let existing = resource.status.clone().unwrap_or_default();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let generation = resource.metadata.generation;
    WebhookTenantStatus {
        conditions: conditions::merge(
            &existing.conditions,
            &[ready, consumer, quotas],
            generation,
            &now,
        ),
        observed_generation: generation,
        consumer: Some(Consumers::name(&resource.spec.tenant)),
        api_key_secret: Some(secret::name(resource)),
        usage: reported_usage(progress.usage, existing.usage),
    }
}

/// The usage the status reports: what Herald said this run, or the last status's while
/// Herald could not say (no answer, or an in-flight count it could not read from JetStream).
fn reported_usage(fresh: Option<Usage>, last: Option<TenantUsage>) -> Option<TenantUsage> {
    fresh
        .and_then(|u| {
            Some(TenantUsage {
                in_flight: u.in_flight?,
                dlq_size: u.dlq_size,
            })
        })
        .or(last)
}

/// Patches the status subresource, unless it already says exactly this.
async fn write_status(
    resource: &WebhookTenant,
    ctx: &Context,
    status: WebhookTenantStatus,
) -> Result<()> {
    if resource.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<WebhookTenant> = Api::namespaced(
        ctx.client.clone(),
        &resource.namespace().ok_or(Error::Unnamed)?,
    );
    let patch = Patch::Merge(json!({ "status": status }));
    api.patch_status(&resource.name_any(), &PatchParams::default(), &patch)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAST: TenantUsage = TenantUsage {
        in_flight: 4,
        dlq_size: 2,
    };

    #[test]
    fn usage_is_what_herald_said_this_run() {
        let fresh = Usage {
            in_flight: Some(7),
            dlq_size: 1,
        };
        let reported = reported_usage(Some(fresh), Some(LAST));
        assert_eq!(
            reported,
            Some(TenantUsage {
                in_flight: 7,
                dlq_size: 1
            })
        );
    }

    #[test]
    fn an_unread_in_flight_count_keeps_the_last_usage() {
        let fresh = Usage {
            in_flight: None,
            dlq_size: 1,
        };
        assert_eq!(reported_usage(Some(fresh), Some(LAST)), Some(LAST));
        assert_eq!(reported_usage(Some(fresh), None), None);
        assert_eq!(reported_usage(None, Some(LAST)), Some(LAST));
    }
}
