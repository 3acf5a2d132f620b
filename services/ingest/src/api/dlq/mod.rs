//! `/dlq`: the tenant's dead letters, and retrying them (one, or in bulk at a bounded rate).

use chrono::{DateTime, Utc};
use herald_domain::job::DeliveryJob;
use herald_domain::{DeliveryId, EventId, WebhookId};
use herald_runtime::outbox::OutboxJob;
use herald_runtime::trace_context::traceparent;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::json;
use uuid::Uuid;

use super::ApiTags;
use crate::auth::{Tenant, TenantAuth};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::pagination::PageQuery;
use crate::state::AppState;
use crate::store;
use crate::store::dead_letters::{BulkFilter, Filter};

mod model;

pub use model::*;

pub struct DlqApi;

/// How long a retry's answer may wait for JetStream; past it the relay takes over.
const PUBLISH_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);
/// The most dead letters one bulk retry takes.
const BULK_MAX: i64 = 10_000;
#[derive(ApiResponse)]
enum RetryResponse {
    /// Accepted: the delivery is `pending` again under a new job.
    #[oai(status = 202)]
    Accepted(Json<RetryAccepted>),
}

#[derive(ApiResponse)]
enum DiscardResponse {
    /// Discarded: the delivery stays `failed` and no longer counts against `max_dlq_size`.
    #[oai(status = 204)]
    Discarded,
}

#[derive(ApiResponse)]
enum BulkRetryResponse {
    /// Accepted: the deliveries start at the requested rate.
    #[oai(status = 202)]
    Accepted(Json<BulkRetryAccepted>),
}

fn parse_webhook(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse::<WebhookId>()
        .map(|id| id.as_uuid())
        .map_err(|_| ApiError::bad_request("invalid_webhook_id", "webhook_id: not a webhook id"))
}

impl DlqApi {
    /// Publishes the retried jobs in the trace of the request that retried them.
    async fn publish(state: &AppState, tenant: &Tenant, jobs: Vec<DeliveryJob>) {
        let trace = traceparent(&tracing::Span::current());
        let jobs: Vec<OutboxJob> = jobs
            .into_iter()
            .map(|job| OutboxJob {
                job,
                tenant: tenant.name.clone(),
                traceparent: trace.clone(),
            })
            .collect();
        state.publisher.publish_within(&jobs, PUBLISH_LIMIT).await;
    }

    /// Why a retry of this delivery cannot go ahead, as a 404 or 409.
    async fn refusal(state: &AppState, tenant: Uuid, delivery: Uuid) -> ApiError {
        match store::dead_letters::delivery_status(&state.pool, tenant, delivery).await {
            Ok(None) => ApiError::not_found("delivery"),
            Ok(Some(status)) => ApiError::conflict(
                "not_dead",
                format!("the delivery is not in the DLQ (its status is {status})"),
            ),
            Err(error) => ApiError::internal(error),
        }
    }
}

#[OpenApi(tag = "ApiTags::Dlq")]
impl DlqApi {
    /// List dead letters
    ///
    /// The tenant's open dead letters (not yet retried), newest first, each with its event,
    /// last error and attempt count.
    #[oai(path = "/dlq", method = "get", operation_id = "listDeadLetters")]
    async fn list(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        /// Page size, 1 to 250 (default 50).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Only this webhook's.
        webhook_id: Query<Option<String>>,
        /// Only those dead-lettered at or after this time (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Json<DeadLetterPage>> {
        let page = PageQuery::parse(limit.0, cursor.0.as_deref())?;
        let filter = Filter {
            webhook: webhook_id.0.as_deref().map(parse_webhook).transpose()?,
            since: since.0,
        };
        let rows = store::dead_letters::list(
            &state.pool,
            auth.0.id.as_uuid(),
            &filter,
            page.cursor,
            page.limit,
        )
        .await?;
        let (rows, next_cursor) = page.finish(rows, |r| (r.failed_at, r.id));
        Ok(Json(DeadLetterPage {
            items: rows.into_iter().map(DeadLetterOut::from).collect(),
            next_cursor,
        }))
    }

    /// Discard a dead letter
    ///
    /// For a delivery the tenant no longer wants: it stays `failed`, is never retried, and
    /// its dead letter is kept as history but no longer listed nor counted against
    /// `max_dlq_size`. 404 when the delivery has no open dead letter.
    #[oai(
        path = "/dlq/:delivery_id",
        method = "delete",
        operation_id = "discardDeadLetter"
    )]
    async fn discard(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        delivery_id: Path<String>,
    ) -> ApiResult<DiscardResponse> {
        let delivery = delivery_id
            .0
            .parse::<DeliveryId>()
            .map_err(|_| ApiError::not_found("dead letter"))?
            .as_uuid();
        let mut tx = state.pool.begin().await.map_err(anyhow::Error::new)?;
        let closed = store::dead_letters::discard(&mut tx, auth.0.id.as_uuid(), delivery).await?;
        let (event, webhook) = closed.ok_or_else(|| ApiError::not_found("dead letter"))?;
        let target = DeliveryId::from_uuid(delivery).to_string();
        store::audit::record_by_tenant(
            &mut tx,
            &auth.0,
            "dlq.discarded",
            Some(target.clone()),
            json!({}),
        )
        .await?;
        tx.commit().await.map_err(anyhow::Error::new)?;
        tracing::info!(
            tenant = %auth.0.name,
            event_id = %EventId::from_uuid(event),
            delivery_id = %target,
            webhook_id = %WebhookId::from_uuid(webhook),
            "dead letter discarded"
        );
        Ok(DiscardResponse::Discarded)
    }

    /// Retry a dead letter
    ///
    /// Puts the delivery back to `pending` under a new job with the whole retry schedule; the
    /// receiver sees the same `webhook-id` as before. The dead letter stays as history and is
    /// no longer listed. A delivery that is not dead answers 409; so does one whose webhook
    /// is disabled, unless `force=true`, which re-enables the webhook.
    #[oai(
        path = "/dlq/:delivery_id/retry",
        method = "post",
        operation_id = "retryDeadLetter"
    )]
    async fn retry(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        delivery_id: Path<String>,
        /// Re-enable a disabled webhook to retry its delivery.
        force: Query<Option<bool>>,
    ) -> ApiResult<RetryResponse> {
        let tenant = auth.0.id.as_uuid();
        let delivery = delivery_id
            .0
            .parse::<DeliveryId>()
            .map_err(|_| ApiError::not_found("delivery"))?
            .as_uuid();
        let mut tx = state.pool.begin().await.map_err(anyhow::Error::new)?;
        let Some(webhook) = store::dead_letters::close_open(&mut tx, tenant, delivery).await?
        else {
            drop(tx);
            return Err(Self::refusal(&state, tenant, delivery).await);
        };
        let webhook_name = WebhookId::from_uuid(webhook.webhook_id).to_string();
        if webhook.deleted {
            return Err(ApiError::conflict(
                "webhook_deleted",
                format!("webhook {webhook_name} was deleted; its deliveries cannot be retried"),
            ));
        }
        if !webhook.enabled {
            if !force.0.unwrap_or(false) {
                let why = webhook
                    .disabled_reason
                    .as_deref()
                    .unwrap_or("no reason given");
                return Err(ApiError::conflict(
                    "webhook_disabled",
                    format!(
                        "webhook {webhook_name} is disabled ({why}); retry with ?force=true to re-enable it"
                    ),
                ));
            }
            store::dead_letters::enable_webhook(&mut tx, webhook.webhook_id).await?;
            store::audit::record_by_tenant(
                &mut tx,
                &auth.0,
                "webhook.enabled",
                Some(webhook_name.clone()),
                json!({ "by": "dlq retry" }),
            )
            .await?;
        }
        let reopened = store::dead_letters::reopen(&mut tx, &[delivery], &[0.0]).await?;
        let Some(generation) = reopened.first().map(|r| r.generation) else {
            return Err(Self::refusal(&state, tenant, delivery).await);
        };
        let target = DeliveryId::from_uuid(delivery).to_string();
        store::audit::record_by_tenant(
            &mut tx,
            &auth.0,
            "dlq.retried",
            Some(target.clone()),
            json!({ "generation": generation }),
        )
        .await?;
        tx.commit().await.map_err(anyhow::Error::new)?;
        tracing::info!(
            tenant = %auth.0.name,
            event_id = %EventId::from_uuid(webhook.event_id),
            delivery_id = %target,
            webhook_id = %webhook_name,
            generation,
            "manual retry"
        );
        let job = DeliveryJob {
            delivery_id: delivery,
            event_id: webhook.event_id,
            webhook_id: webhook.webhook_id,
            tenant_id: tenant,
            generation,
        };
        Self::publish(&state, &auth.0, vec![job]).await;
        Ok(RetryResponse::Accepted(Json(RetryAccepted {
            delivery_id: target,
            status: "pending".into(),
        })))
    }

    /// Retry dead letters in bulk
    ///
    /// Retries every open dead letter that matches (a webhook, a time range; all when the
    /// body is `{}`), up to 10,000 per call, starting `per_second` of them each second so a
    /// receiver recovering from an outage is not flooded. Dead letters of disabled or deleted
    /// webhooks are left as they are.
    #[oai(
        path = "/dlq/retry",
        method = "post",
        operation_id = "retryDeadLettersInBulk"
    )]
    async fn retry_bulk(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        body: JsonBody<BulkRetryIn>,
    ) -> ApiResult<BulkRetryResponse> {
        let input = body.value;
        let per_second = input.per_second.unwrap_or(10);
        if !(1..=1000).contains(&per_second) {
            return Err(ApiError::bad_request(
                "invalid_rate",
                "per_second: between 1 and 1000",
            ));
        }
        let filter = BulkFilter {
            webhook: input.webhook_id.as_deref().map(parse_webhook).transpose()?,
            since: input.since,
            until: input.until,
            at_most: BULK_MAX,
        };
        let mut tx = state.pool.begin().await.map_err(anyhow::Error::new)?;
        let deliveries =
            store::dead_letters::close_matching(&mut tx, auth.0.id.as_uuid(), &filter).await?;
        let due: Vec<f64> = (0..deliveries.len())
            .map(|n| n as f64 / f64::from(per_second))
            .collect();
        let reopened = store::dead_letters::reopen(&mut tx, &deliveries, &due).await?;
        let details = json!({ "retried": reopened.len(), "per_second": per_second });
        store::audit::record_by_tenant(&mut tx, &auth.0, "dlq.bulk_retried", None, details).await?;
        tx.commit().await.map_err(anyhow::Error::new)?;
        let due_of: std::collections::HashMap<Uuid, f64> = deliveries
            .iter()
            .copied()
            .zip(due.iter().copied())
            .collect();
        let trace = traceparent(&tracing::Span::current());
        let schedule = reopened
            .iter()
            .map(|r| {
                let job = DeliveryJob {
                    delivery_id: r.id,
                    event_id: r.event_id,
                    webhook_id: r.webhook_id,
                    tenant_id: auth.0.id.as_uuid(),
                    generation: r.generation,
                };
                let at =
                    std::time::Duration::from_secs_f64(due_of.get(&r.id).copied().unwrap_or(0.0));
                (
                    at,
                    OutboxJob {
                        job,
                        tenant: auth.0.name.clone(),
                        traceparent: trace.clone(),
                    },
                )
            })
            .collect();
        for retried in &reopened {
            tracing::info!(
                tenant = %auth.0.name,
                event_id = %EventId::from_uuid(retried.event_id),
                delivery_id = %DeliveryId::from_uuid(retried.id),
                webhook_id = %WebhookId::from_uuid(retried.webhook_id),
                generation = retried.generation,
                "manual retry"
            );
        }
        state.publisher.publish_spread(schedule);
        Ok(BulkRetryResponse::Accepted(Json(BulkRetryAccepted {
            retried: reopened.len() as u64,
            spread_seconds: due.last().copied().unwrap_or(0.0),
        })))
    }
}
