//! `Idempotency-Key` on `POST /events`: the first answer is stored with a fingerprint of the
//! request and replayed for 24 hours.

use anyhow::Context;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A stored first answer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredAnswer {
    pub request_hash: String,
    pub response: serde_json::Value,
}

/// The live (under 24 h old) answer stored under this key, if any.
pub async fn find(pool: &PgPool, tenant: Uuid, key: &str) -> anyhow::Result<Option<StoredAnswer>> {
    sqlx::query_as(
        "SELECT request_hash, response FROM idempotency_keys
         WHERE tenant_id = $1 AND key = $2 AND created_at > now() - interval '24 hours'",
    )
    .bind(tenant)
    .bind(key)
    .fetch_optional(pool)
    .await
    .context("looking up idempotency key")
}

/// Stores the answer in the caller's transaction. `false`: a live answer already exists (a
/// concurrent request with the same key committed first), so the caller must roll back and
/// replay that one. An expired entry is replaced.
pub async fn claim(
    conn: &mut PgConnection,
    tenant: Uuid,
    key: &str,
    request_hash: &str,
    response: &serde_json::Value,
) -> anyhow::Result<bool> {
    let stored = sqlx::query(
        "INSERT INTO idempotency_keys (tenant_id, key, request_hash, response)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, key) DO UPDATE
           SET request_hash = excluded.request_hash, response = excluded.response,
               created_at = now()
           WHERE idempotency_keys.created_at <= now() - interval '24 hours'",
    )
    .bind(tenant)
    .bind(key)
    .bind(request_hash)
    .bind(response)
    .execute(conn)
    .await
    .context("storing idempotency key")?;
    Ok(stored.rows_affected() == 1)
}

/// Deletes answers past their 24 hours; returns how many.
pub async fn delete_expired(pool: &PgPool) -> anyhow::Result<u64> {
    let done =
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at <= now() - interval '24 hours'")
            .execute(pool)
            .await
            .context("deleting expired idempotency keys")?;
    Ok(done.rows_affected())
}
