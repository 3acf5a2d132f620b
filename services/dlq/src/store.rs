//! The DLQ service's SQL. Every write is idempotent: a dead letter is one row per delivery
//! and generation, however often its hand-off or advisory arrives.

use anyhow::Context;
use chrono::Utc;
use herald_domain::job::{DeadLetter, DeadReason, DeliveryJob};
use sqlx::PgPool;
use uuid::Uuid;

/// Writes the dead letter's row, if the delivery is `failed` at that generation and it has
/// none yet. Returns whether a row was written.
pub async fn record(pool: &PgPool, letter: &DeadLetter) -> anyhow::Result<bool> {
    let job = &letter.job;
    let written: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO dead_letter_queue (id, delivery_id, generation, tenant_id, webhook_id,
             event_id, reason, last_error, last_status_code, attempts, failed_at)
         SELECT $1, d.id, d.generation, d.tenant_id, d.webhook_id, d.event_id, $4, $5, $6, $7, $8
         FROM deliveries d
         WHERE d.id = $2 AND d.generation = $3 AND d.status = 'failed'
         ON CONFLICT (delivery_id, generation) DO NOTHING
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(job.delivery_id)
    .bind(job.generation)
    .bind(letter.reason.as_str())
    .bind(&letter.last_error)
    .bind(letter.last_status_code.map(i32::from))
    .bind(letter.attempts)
    .bind(letter.failed_at)
    .fetch_optional(pool)
    .await
    .context("writing a dead letter")?;
    Ok(written.is_some())
}

/// JetStream gave up on this job: fails the delivery if it is still open at that generation
/// and returns its dead letter; `None` when it was delivered, dead-lettered or retried
/// meanwhile (a failed one keeps the letter its dispatcher sent).
pub async fn fail_abandoned(
    pool: &PgPool,
    job: &DeliveryJob,
    deliveries: i64,
) -> anyhow::Result<Option<DeadLetter>> {
    let error = format!(
        "JetStream gave up on the job after {deliveries} deliveries: its dispatcher crashed or \
         timed out on it every time"
    );
    let row: Option<(i32, Option<i32>)> = sqlx::query_as(
        "UPDATE deliveries SET status = 'failed', dead_reason = 'redelivery_limit',
           last_error = $3, completed_at = now(), lease_until = NULL, updated_at = now(),
           published_at = coalesce(published_at, now())
         WHERE id = $1 AND generation = $2 AND status IN ('pending', 'processing')
         RETURNING attempts, last_status_code",
    )
    .bind(job.delivery_id)
    .bind(job.generation)
    .bind(&error)
    .fetch_optional(pool)
    .await
    .context("failing an abandoned delivery")?;
    Ok(row.map(|(attempts, last_status_code)| DeadLetter {
        job: *job,
        reason: DeadReason::RedeliveryLimit,
        last_error: error,
        last_status_code: last_status_code.and_then(|c| u16::try_from(c).ok()),
        attempts,
        failed_at: Utc::now(),
    }))
}

/// Open dead letters per tenant name, for the size gauge.
pub async fn open_counts(pool: &PgPool) -> anyhow::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT t.name, count(q.id) FROM tenants t
         LEFT JOIN dead_letter_queue q ON q.tenant_id = t.id AND q.closed_at IS NULL
         GROUP BY t.name",
    )
    .fetch_all(pool)
    .await
    .context("counting open dead letters")
}
