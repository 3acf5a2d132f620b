//! Dead letters as tenants see them, and manual retries (one, or in bulk at a bounded rate).

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::pagination::Cursor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadLetterRow {
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub reason: String,
    pub last_error: String,
    pub last_status_code: Option<i32>,
    pub attempts: i32,
    pub failed_at: DateTime<Utc>,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

pub struct Filter {
    pub webhook: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
}

/// Open dead letters, newest first.
pub async fn list(
    pool: &PgPool,
    tenant: Uuid,
    filter: &Filter,
    before: Option<Cursor>,
    limit: u32,
) -> anyhow::Result<Vec<DeadLetterRow>> {
    sqlx::query_as(
        "SELECT q.id, q.delivery_id, q.webhook_id, q.event_id, q.reason, q.last_error,
                q.last_status_code, q.attempts, q.failed_at, e.event_type, e.payload, e.occurred_at
         FROM dead_letter_queue q JOIN events e ON e.id = q.event_id
         WHERE q.tenant_id = $1 AND q.closed_at IS NULL
           AND ($2::uuid IS NULL OR q.webhook_id = $2)
           AND ($3::timestamptz IS NULL OR q.failed_at >= $3)
           AND ($4::timestamptz IS NULL OR (q.failed_at, q.id) < ($4, $5))
         ORDER BY q.failed_at DESC, q.id DESC LIMIT $6",
    )
    .bind(tenant)
    .bind(filter.webhook)
    .bind(filter.since)
    .bind(before.map(|c| c.created_at))
    .bind(before.map(|c| c.id))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
    .context("listing dead letters")
}

/// The webhook of a retried dead letter, as it stands.
#[derive(Debug, sqlx::FromRow)]
pub struct RetriedWebhook {
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub enabled: bool,
    pub deleted: bool,
    pub disabled_reason: Option<String>,
}

/// Closes the delivery's open dead letter, in the caller's transaction. `None`: it has none
/// (never dead, or already retried: of two concurrent retries, one gets `None`).
pub async fn close_open(
    conn: &mut PgConnection,
    tenant: Uuid,
    delivery: Uuid,
) -> anyhow::Result<Option<RetriedWebhook>> {
    sqlx::query_as(
        "WITH closed AS (
           UPDATE dead_letter_queue SET closed_at = now(), resolution = 'retried'
           WHERE tenant_id = $1 AND delivery_id = $2 AND closed_at IS NULL
           RETURNING webhook_id, event_id)
         SELECT c.webhook_id, c.event_id, w.enabled, w.deleted_at IS NOT NULL AS deleted,
                w.disabled_reason
         FROM closed c JOIN webhooks w ON w.id = c.webhook_id",
    )
    .bind(tenant)
    .bind(delivery)
    .fetch_optional(conn)
    .await
    .context("closing a dead letter")
}

/// Closes the delivery's open dead letter as discarded: the delivery stays `failed` and is
/// not retried. `None`: no open dead letter.
pub async fn discard(
    conn: &mut PgConnection,
    tenant: Uuid,
    delivery: Uuid,
) -> anyhow::Result<Option<(Uuid, Uuid)>> {
    sqlx::query_as(
        "UPDATE dead_letter_queue SET closed_at = now(), resolution = 'discarded'
         WHERE tenant_id = $1 AND delivery_id = $2 AND closed_at IS NULL
         RETURNING event_id, webhook_id",
    )
    .bind(tenant)
    .bind(delivery)
    .fetch_optional(conn)
    .await
    .context("discarding a dead letter")
}

/// A delivery put back on its way, with what its next job needs.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Reopened {
    pub id: Uuid,
    pub generation: i32,
    pub event_id: Uuid,
    pub webhook_id: Uuid,
}

/// Puts failed deliveries back to `pending` under a new generation, the schedule starting
/// over; their jobs are due now, or spread out by `due_in_secs`.
pub async fn reopen(
    conn: &mut PgConnection,
    deliveries: &[Uuid],
    due_in_secs: &[f64],
) -> anyhow::Result<Vec<Reopened>> {
    sqlx::query_as(
        "UPDATE deliveries d SET status = 'pending', generation = d.generation + 1,
           attempt_base = d.attempts, published_at = NULL, completed_at = NULL,
           dead_reason = NULL, lease_until = NULL, updated_at = now(),
           next_attempt_at = CASE WHEN r.due_in = 0 THEN NULL
                                  ELSE now() + make_interval(secs => r.due_in) END
         FROM unnest($1::uuid[], $2::float8[]) AS r (id, due_in)
         WHERE d.id = r.id AND d.status = 'failed'
         RETURNING d.id, d.generation, d.event_id, d.webhook_id",
    )
    .bind(deliveries)
    .bind(due_in_secs)
    .fetch_all(conn)
    .await
    .context("reopening deliveries")
}

pub async fn enable_webhook(conn: &mut PgConnection, webhook: Uuid) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE webhooks SET enabled = true, disabled_reason = NULL, updated_at = now() WHERE id = $1",
    )
    .bind(webhook)
    .execute(conn)
    .await
    .context("re-enabling a webhook")?;
    Ok(())
}

pub struct BulkFilter {
    pub webhook: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub at_most: i64,
}

/// Closes the open dead letters matching the filter whose webhooks can receive (enabled,
/// not deleted), oldest first; returns their deliveries in that order.
pub async fn close_matching(
    conn: &mut PgConnection,
    tenant: Uuid,
    filter: &BulkFilter,
) -> anyhow::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "WITH picked AS (
           SELECT q.id FROM dead_letter_queue q JOIN webhooks w ON w.id = q.webhook_id
           WHERE q.tenant_id = $1 AND q.closed_at IS NULL AND w.enabled AND w.deleted_at IS NULL
             AND ($2::uuid IS NULL OR q.webhook_id = $2)
             AND ($3::timestamptz IS NULL OR q.failed_at >= $3)
             AND ($4::timestamptz IS NULL OR q.failed_at < $4)
           ORDER BY q.failed_at, q.id LIMIT $5
           FOR UPDATE OF q SKIP LOCKED)
         UPDATE dead_letter_queue q SET closed_at = now(), resolution = 'retried' FROM picked
         WHERE q.id = picked.id
         RETURNING q.delivery_id",
    )
    .bind(tenant)
    .bind(filter.webhook)
    .bind(filter.since)
    .bind(filter.until)
    .bind(filter.at_most)
    .fetch_all(conn)
    .await
    .context("closing matching dead letters")
}

/// Whether the tenant has this delivery, and its status.
pub async fn delivery_status(
    pool: &PgPool,
    tenant: Uuid,
    delivery: Uuid,
) -> anyhow::Result<Option<String>> {
    sqlx::query_scalar("SELECT status FROM deliveries WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(delivery)
        .fetch_optional(pool)
        .await
        .context("reading a delivery's status")
}
