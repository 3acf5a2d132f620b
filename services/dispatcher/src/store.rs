//! The dispatcher's one-delivery SQL: its state, recording an attempt in one transaction (the
//! batched forms are in `claim_batch` and `record_batch`), parking and failing it.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use herald_domain::job::DeadReason;
use herald_domain::retry::Decision;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::record_batch::AttemptRecord;

/// A delivery this dispatcher now holds, with what it needs to send it.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    pub attempts: i32,
    /// Attempts made before the latest manual retry: the schedule counts from here.
    pub attempt_base: i32,
    pub url: String,
    pub secrets: Json<Vec<StoredSecret>>,
    pub webhook_enabled: bool,
    pub webhook_deleted: bool,
    pub disabled_reason: Option<String>,
    pub event_type: String,
    /// The payload's JSON text, as PostgreSQL writes the stored `jsonb`.
    pub payload: Json<Box<serde_json::value::RawValue>>,
    pub occurred_at: DateTime<Utc>,
    /// When Herald accepted the event: the start of its end-to-end latency.
    pub created_at: DateTime<Utc>,
    /// The tenant's own retry delays in milliseconds; `None`: the platform's schedule.
    pub retry_schedule_ms: Option<Vec<i64>>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct StoredSecret {
    pub secret: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Where a delivery stands, when it could not be claimed.
#[derive(Debug, sqlx::FromRow)]
pub struct State {
    pub status: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub lease_until: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub last_status_code: Option<i32>,
    pub dead_reason: Option<String>,
    pub generation: i32,
}

pub async fn state(pool: &PgPool, delivery: Uuid) -> anyhow::Result<Option<State>> {
    sqlx::query_as(
        "SELECT status, next_attempt_at, lease_until, attempts, last_error, last_status_code,
                dead_reason, generation
         FROM deliveries WHERE id = $1",
    )
    .bind(delivery)
    .fetch_optional(pool)
    .await
    .context("reading a delivery's state")
}

/// Records the attempt and moves the delivery to its next state, in one transaction. A retry
/// gets a new generation (its job is published when due). Returns the delivery's generation
/// now, or `None` when the claim made at the record's generation was lost to another
/// dispatcher meanwhile (nothing changed). The generation matters: after a takeover and a
/// retry, the delivery may be processing again under a newer claim, which a late record must
/// not move.
///
/// The attempt row goes in only once the delivery moved. At most one record per generation
/// moves it (the first; the rest find it no longer processing), and each generation's
/// attempt number is one more than the last recorded, so the row's `(delivery_id, attempt)`
/// is always new: a conflict there would be a bug, and fails the statement rather than
/// vanishing.
pub async fn record(pool: &PgPool, record: &AttemptRecord) -> anyhow::Result<Option<i32>> {
    let mut tx = pool
        .begin()
        .await
        .context("starting the attempt transaction")?;
    let report = &record.report;
    let status_code = report.status_code().map(i32::from);
    let duration_ms = i32::try_from(report.duration.as_millis()).unwrap_or(i32::MAX);
    let (status, retry_in, dead_reason) = next_state(record.decision);
    let moved: Option<i32> = sqlx::query_scalar(
        "UPDATE deliveries SET status = $2, attempts = $3, last_status_code = $4, last_error = $5,
           next_attempt_at = CASE WHEN $6::float8 IS NULL THEN NULL
                                  ELSE now() + make_interval(secs => $6) END,
           completed_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END,
           dead_reason = $7, lease_until = NULL, updated_at = now(),
           generation = generation + CASE WHEN $2 = 'pending' THEN 1 ELSE 0 END,
           published_at = CASE WHEN $2 = 'pending' THEN NULL ELSE published_at END
         WHERE id = $1 AND status = 'processing' AND generation = $8
         RETURNING generation",
    )
    .bind(record.delivery)
    .bind(status)
    .bind(record.attempt)
    .bind(status_code)
    .bind(record.error.as_deref())
    .bind(retry_in)
    .bind(dead_reason)
    .bind(record.generation)
    .fetch_optional(&mut *tx)
    .await
    .context("updating the delivery after an attempt")?;
    let Some(generation) = moved else {
        tx.rollback().await.context("rolling back a lost lease")?;
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO delivery_attempts
           (delivery_id, attempt, started_at, duration_ms, status_code, error, response_body)
         VALUES ($1, $2, now() - make_interval(secs => $3), $4, $5, $6, $7)",
    )
    .bind(record.delivery)
    .bind(record.attempt)
    .bind(report.duration.as_secs_f64())
    .bind(duration_ms)
    .bind(status_code)
    .bind(record.error.as_deref())
    .bind(report.response_excerpt.as_deref())
    .execute(&mut *tx)
    .await
    .context("recording an attempt")?;
    if record.decision == Decision::Dead(DeadReason::Gone) {
        disable_webhook(&mut tx, record.webhook, "the receiver answered 410 Gone").await?;
    }
    tx.commit().await.context("committing the attempt")?;
    Ok(Some(generation))
}

/// `(status, retry in seconds, dead reason)` the decision moves a delivery to.
pub(crate) fn next_state(decision: Decision) -> (&'static str, Option<f64>, Option<&'static str>) {
    match decision {
        Decision::Succeeded => ("success", None, None),
        Decision::RetryIn(delay) => ("pending", Some(delay.as_secs_f64()), None),
        Decision::Dead(reason) => ("failed", None, Some(reason.as_str())),
    }
}

/// Puts a due, pending delivery back for `delay` under a new generation, so that its job
/// leaves JetStream's in-flight set (NAK delays would keep counting against the tenant's
/// `max_ack_pending`). `None`: the delivery was not pending and due at this generation.
pub async fn park(
    pool: &PgPool,
    delivery: Uuid,
    generation: i32,
    delay: Duration,
) -> anyhow::Result<Option<i32>> {
    sqlx::query_scalar(
        "UPDATE deliveries SET generation = generation + 1, published_at = NULL,
           next_attempt_at = now() + make_interval(secs => $3), updated_at = now()
         WHERE id = $1 AND generation = $2 AND status = 'pending'
           AND (next_attempt_at IS NULL OR next_attempt_at <= now())
         RETURNING generation",
    )
    .bind(delivery)
    .bind(generation)
    .bind(delay.as_secs_f64())
    .fetch_optional(pool)
    .await
    .context("parking a delivery")
}

async fn disable_webhook(
    conn: &mut sqlx::PgConnection,
    webhook: Uuid,
    reason: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE webhooks SET enabled = false, disabled_reason = $2, updated_at = now() WHERE id = $1",
    )
    .bind(webhook)
    .bind(reason)
    .execute(conn)
    .await
    .context("disabling a webhook")?;
    Ok(())
}

/// Fails a claimed delivery without an attempt (its webhook is gone or disabled).
pub async fn fail_unattempted(
    pool: &PgPool,
    delivery: Uuid,
    reason: DeadReason,
    error: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE deliveries SET status = 'failed', last_error = $2, dead_reason = $3,
           completed_at = now(), lease_until = NULL, updated_at = now()
         WHERE id = $1 AND status = 'processing'",
    )
    .bind(delivery)
    .bind(error)
    .bind(reason.as_str())
    .execute(pool)
    .await
    .context("failing an unattempted delivery")?;
    Ok(())
}
