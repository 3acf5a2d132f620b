use anyhow::Context;
use chrono::{DateTime, Utc};
use herald_domain::DeliveryId;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub webhook_id: Uuid,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub response_body: Option<String>,
}

const COLUMNS: &str = "id, event_id, webhook_id, status, attempts, next_attempt_at, \
                       last_status_code, last_error, created_at, updated_at, completed_at";

/// One `pending` delivery per webhook, in one statement.
pub async fn insert_pending(
    conn: &mut PgConnection,
    tenant: Uuid,
    event: Uuid,
    webhooks: &[Uuid],
) -> anyhow::Result<Vec<DeliveryRow>> {
    let ids: Vec<Uuid> = webhooks
        .iter()
        .map(|_| DeliveryId::new().as_uuid())
        .collect();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO deliveries (id, tenant_id, event_id, webhook_id)
         SELECT d.id, $1, $2, d.webhook_id FROM unnest($3::uuid[], $4::uuid[]) AS d (id, webhook_id)
         RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(event)
    .bind(&ids)
    .bind(webhooks)
    .fetch_all(conn)
    .await
    .context("inserting deliveries")
}

pub async fn of_event(
    pool: &PgPool,
    tenant: Uuid,
    event: Uuid,
) -> anyhow::Result<Vec<DeliveryRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM deliveries WHERE tenant_id = $1 AND event_id = $2 ORDER BY id"
    )))
    .bind(tenant)
    .bind(event)
    .fetch_all(pool)
    .await
    .context("listing deliveries of event")
}

pub async fn find(pool: &PgPool, tenant: Uuid, id: Uuid) -> anyhow::Result<Option<DeliveryRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM deliveries WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
    .context("looking up delivery")
}

pub async fn attempts(pool: &PgPool, delivery: Uuid) -> anyhow::Result<Vec<AttemptRow>> {
    sqlx::query_as(
        "SELECT attempt, started_at, duration_ms, status_code, error, response_body
         FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt",
    )
    .bind(delivery)
    .fetch_all(pool)
    .await
    .context("listing delivery attempts")
}
