use anyhow::Context;
use chrono::{DateTime, Utc};
use herald_domain::{ApiKey, QuotaLimits, TenantId, TenantName};
use sqlx::PgPool;
use uuid::Uuid;

use super::audit::{self, AuditEntry};
use super::quotas;
use crate::pagination::Cursor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TenantRow {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Creates the tenant with its first API key and its quotas. `None`: the name is taken.
pub async fn create(
    pool: &PgPool,
    name: &TenantName,
    key: &ApiKey,
    limits: &QuotaLimits,
) -> anyhow::Result<Option<TenantRow>> {
    let mut tx = pool.begin().await.context("starting transaction")?;
    let tenant: Option<TenantRow> = sqlx::query_as(
        "INSERT INTO tenants (id, name) VALUES ($1, $2)
         ON CONFLICT (name) DO NOTHING RETURNING id, name, created_at",
    )
    .bind(TenantId::new().as_uuid())
    .bind(name.as_str())
    .fetch_optional(&mut *tx)
    .await
    .context("inserting tenant")?;
    let Some(tenant) = tenant else {
        return Ok(None);
    };
    sqlx::query("INSERT INTO api_keys (id, tenant_id, key_hash, prefix) VALUES ($1, $2, $3, $4)")
        .bind(Uuid::now_v7())
        .bind(tenant.id)
        .bind(key.hash())
        .bind(key.display_prefix())
        .execute(&mut *tx)
        .await
        .context("inserting API key")?;
    quotas::upsert(&mut tx, tenant.id, limits).await?;
    audit::record(
        &mut tx,
        AuditEntry {
            tenant_id: Some(tenant.id),
            actor: "admin",
            action: "tenant.created",
            target: Some(TenantId::from_uuid(tenant.id).to_string()),
            details: serde_json::json!({ "name": tenant.name }),
        },
    )
    .await?;
    tx.commit().await.context("committing tenant")?;
    Ok(Some(tenant))
}

/// Finds a tenant by its id (`tnt_...`) or its name, as the admin paths allow either.
pub async fn find(pool: &PgPool, id_or_name: &str) -> anyhow::Result<Option<TenantRow>> {
    let id = id_or_name.parse::<TenantId>().ok().map(|id| id.as_uuid());
    sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE id = $1 OR name = $2")
        .bind(id)
        .bind(id_or_name)
        .fetch_optional(pool)
        .await
        .context("looking up tenant")
}

pub async fn list(
    pool: &PgPool,
    after: Option<Cursor>,
    limit: u32,
) -> anyhow::Result<Vec<TenantRow>> {
    sqlx::query_as(
        "SELECT id, name, created_at FROM tenants
         WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2))
         ORDER BY created_at, id LIMIT $3",
    )
    .bind(after.map(|c| c.created_at))
    .bind(after.map(|c| c.id))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
    .context("listing tenants")
}
