use anyhow::Context;
use chrono::{DateTime, Utc};
use herald_domain::EventTypeName;
use sqlx::PgPool;
use uuid::Uuid;

use crate::pagination::Cursor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventTypeRow {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub schema: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, description, schema, created_at, updated_at";

/// `None`: the tenant already has a type of that name.
pub async fn create(
    pool: &PgPool,
    tenant: Uuid,
    name: &EventTypeName,
    description: Option<&str>,
    schema: Option<&serde_json::Value>,
) -> anyhow::Result<Option<EventTypeRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO event_types (id, tenant_id, name, description, schema)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, name) DO NOTHING RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(tenant)
    .bind(name.as_str())
    .bind(description)
    .bind(schema)
    .fetch_optional(pool)
    .await
    .context("inserting event type")
}

pub async fn find_by_name(
    pool: &PgPool,
    tenant: Uuid,
    name: &str,
) -> anyhow::Result<Option<EventTypeRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM event_types WHERE tenant_id = $1 AND name = $2"
    )))
    .bind(tenant)
    .bind(name)
    .fetch_optional(pool)
    .await
    .context("looking up event type")
}

pub async fn list(
    pool: &PgPool,
    tenant: Uuid,
    after: Option<Cursor>,
    limit: u32,
) -> anyhow::Result<Vec<EventTypeRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM event_types
         WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
         ORDER BY created_at, id LIMIT $4"
    )))
    .bind(tenant)
    .bind(after.map(|c| c.created_at))
    .bind(after.map(|c| c.id))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
    .context("listing event types")
}

/// Names of the tenant's types, for error messages that say what is allowed.
pub async fn names(pool: &PgPool, tenant: Uuid, at_most: i64) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar("SELECT name FROM event_types WHERE tenant_id = $1 ORDER BY name LIMIT $2")
        .bind(tenant)
        .bind(at_most)
        .fetch_all(pool)
        .await
        .context("listing event type names")
}

/// Which of `wanted` the tenant has not registered.
pub async fn unknown_among(
    pool: &PgPool,
    tenant: Uuid,
    wanted: &[String],
) -> anyhow::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT w FROM unnest($2::text[]) AS w
         WHERE NOT EXISTS (SELECT 1 FROM event_types WHERE tenant_id = $1 AND name = w)
         ORDER BY w",
    )
    .bind(tenant)
    .bind(wanted)
    .fetch_all(pool)
    .await
    .context("checking event types")
}
