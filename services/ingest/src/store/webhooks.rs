use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::pagination::Cursor;

/// One signing secret; all unexpired ones sign (rotation keeps the old one for a while).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSecret {
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub secrets: Json<Vec<StoredSecret>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookRow {
    /// The newest secret: the one shown to the tenant.
    pub fn current_secret(&self) -> Option<&str> {
        self.secrets.0.first().map(|s| s.secret.as_str())
    }
}

const COLUMNS: &str = "id, url, description, event_types, secrets, enabled, disabled_reason, \
                       created_at, updated_at";

pub struct NewWebhook<'a> {
    pub id: Uuid,
    /// The secret as stored: sealed when a keyring is configured.
    pub sealed_secret: String,
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub event_types: &'a [String],
}

pub async fn insert(
    conn: &mut PgConnection,
    tenant: Uuid,
    new: NewWebhook<'_>,
) -> anyhow::Result<WebhookRow> {
    let secrets = vec![StoredSecret {
        secret: new.sealed_secret,
        created_at: Utc::now(),
        expires_at: None,
    }];
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhooks (id, tenant_id, url, description, event_types, secrets)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    )))
    .bind(new.id)
    .bind(tenant)
    .bind(new.url)
    .bind(new.description)
    .bind(new.event_types)
    .bind(Json(secrets))
    .fetch_one(conn)
    .await
    .context("inserting webhook")
}

pub async fn count(conn: &mut PgConnection, tenant: Uuid) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE tenant_id = $1 AND deleted_at IS NULL")
        .bind(tenant)
        .fetch_one(conn)
        .await
        .context("counting webhooks")
}

pub async fn find(pool: &PgPool, tenant: Uuid, id: Uuid) -> anyhow::Result<Option<WebhookRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhooks WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
    .context("looking up webhook")
}

pub async fn list(
    pool: &PgPool,
    tenant: Uuid,
    after: Option<Cursor>,
    limit: u32,
) -> anyhow::Result<Vec<WebhookRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhooks
         WHERE tenant_id = $1 AND deleted_at IS NULL
           AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
         ORDER BY created_at, id LIMIT $4"
    )))
    .bind(tenant)
    .bind(after.map(|c| c.created_at))
    .bind(after.map(|c| c.id))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
    .context("listing webhooks")
}

/// A partial update; `None` leaves a column as it is.
#[derive(Debug, Default, serde::Serialize)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

pub async fn update(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
    changes: WebhookChanges,
) -> anyhow::Result<Option<WebhookRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhooks SET
           url = coalesce($3, url),
           description = coalesce($4, description),
           event_types = coalesce($5, event_types),
           enabled = coalesce($6, enabled),
           disabled_reason = CASE WHEN $6 THEN NULL
                                  WHEN $6 = false THEN 'disabled by the tenant'
                                  ELSE disabled_reason END,
           updated_at = now()
         WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
         RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(changes.url)
    .bind(changes.description)
    .bind(changes.event_types)
    .bind(changes.enabled)
    .fetch_optional(conn)
    .await
    .context("updating webhook")
}

/// Soft delete: the row stays so its deliveries keep their history. `false`: no such webhook.
pub async fn delete(conn: &mut PgConnection, tenant: Uuid, id: Uuid) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE webhooks SET deleted_at = now(), enabled = false, updated_at = now()
         WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
    )
    .bind(tenant)
    .bind(id)
    .execute(conn)
    .await
    .context("deleting webhook")?;
    Ok(done.rows_affected() == 1)
}

/// The webhooks an event of this type goes to.
pub async fn matching(
    conn: &mut PgConnection,
    tenant: Uuid,
    event_type: &str,
) -> anyhow::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM webhooks
         WHERE tenant_id = $1 AND enabled AND deleted_at IS NULL
           AND (cardinality(event_types) = 0 OR $2 = ANY (event_types))
         ORDER BY id",
    )
    .bind(tenant)
    .bind(event_type)
    .fetch_all(conn)
    .await
    .context("finding matching webhooks")
}
