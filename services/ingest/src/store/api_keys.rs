//! Tenant API keys: stored as hashes, optionally labelled with who holds them. A label names
//! one holder, so issuing a key under a label revokes that holder's earlier keys.

use anyhow::Context;
use chrono::{DateTime, Utc};
use herald_domain::ApiKey;
use sqlx::PgConnection;
use uuid::Uuid;

/// A key as stored (never the key itself).
#[derive(Debug, sqlx::FromRow)]
pub struct KeyRow {
    pub id: Uuid,
    pub prefix: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(
    conn: &mut PgConnection,
    tenant: Uuid,
    key: &ApiKey,
    label: Option<&str>,
) -> anyhow::Result<KeyRow> {
    sqlx::query_as(
        "INSERT INTO api_keys (id, tenant_id, key_hash, prefix, label) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, prefix, label, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(tenant)
    .bind(key.hash())
    .bind(key.display_prefix())
    .bind(label)
    .fetch_one(conn)
    .await
    .context("inserting API key")
}

/// Revokes the tenant's live keys with this label; returns their ids. Call it in the
/// transaction that inserts the holder's new key, under the tenant's row lock.
pub async fn revoke_labelled(
    conn: &mut PgConnection,
    tenant: Uuid,
    label: &str,
) -> anyhow::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = now()
         WHERE tenant_id = $1 AND label = $2 AND revoked_at IS NULL
         RETURNING id",
    )
    .bind(tenant)
    .bind(label)
    .fetch_all(conn)
    .await
    .context("revoking labelled API keys")
}
