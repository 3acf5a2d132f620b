use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

pub struct NewEvent<'a> {
    pub id: Uuid,
    pub tenant: Uuid,
    pub event_type: &'a str,
    pub payload: &'a serde_json::value::RawValue,
    pub occurred_at: DateTime<Utc>,
    pub idempotency_key: Option<&'a str>,
    /// The emitting request's trace context.
    pub traceparent: Option<&'a str>,
}

const COLUMNS: &str = "id, event_type, payload, occurred_at, created_at";

pub async fn insert(conn: &mut PgConnection, new: NewEvent<'_>) -> anyhow::Result<EventRow> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO events
             (id, tenant_id, event_type, payload, occurred_at, idempotency_key, traceparent)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    )))
    .bind(new.id)
    .bind(new.tenant)
    .bind(new.event_type)
    .bind(sqlx::types::Json(new.payload))
    .bind(new.occurred_at)
    .bind(new.idempotency_key)
    .bind(new.traceparent)
    .fetch_one(conn)
    .await
    .context("inserting event")
}

pub async fn find(pool: &PgPool, tenant: Uuid, id: Uuid) -> anyhow::Result<Option<EventRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM events WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
    .context("looking up event")
}

/// The tenant's events, newest first, optionally of one type; `limit + 1` rows so the caller
/// knows whether another page follows.
pub async fn list(
    pool: &PgPool,
    tenant: Uuid,
    event_type: Option<&str>,
    before: Option<crate::pagination::Cursor>,
    limit: u32,
) -> anyhow::Result<Vec<EventRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM events
         WHERE tenant_id = $1
           AND ($2::text IS NULL OR event_type = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
         ORDER BY created_at DESC, id DESC LIMIT $5"
    )))
    .bind(tenant)
    .bind(event_type)
    .bind(before.map(|c| c.created_at))
    .bind(before.map(|c| c.id))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
    .context("listing events")
}
