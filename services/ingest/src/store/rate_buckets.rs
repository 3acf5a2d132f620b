//! The shared token buckets behind `events_per_second` and `burst`.

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

/// What one take from a bucket got.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct Take {
    /// Tokens granted, at most the number asked for.
    pub granted: i64,
    /// Tokens in the bucket before the take (after refilling).
    pub available: f64,
}

/// Refills the tenant's bucket for the time since its last take (`rate` per second, up to
/// `capacity`), then takes up to `wanted` whole tokens, atomically: concurrent takes from any
/// number of replicas never grant more than the bucket holds.
pub async fn take(
    pool: &PgPool,
    tenant: Uuid,
    rate: f64,
    capacity: f64,
    wanted: i64,
) -> anyhow::Result<Take> {
    for _ in 0..2 {
        let taken: Option<Take> = sqlx::query_as(
            "WITH current AS (
               SELECT b.tenant_id, clock_timestamp() AS at,
                      least($3::float8, b.tokens
                        + greatest(0, extract(epoch FROM clock_timestamp() - b.refilled_at)) * $2)
                        AS available
               FROM rate_buckets b WHERE b.tenant_id = $1 FOR UPDATE
             )
             UPDATE rate_buckets b
             SET tokens = c.available - least(floor(c.available), $4), refilled_at = c.at
             FROM current c WHERE b.tenant_id = c.tenant_id
             RETURNING least(floor(c.available), $4)::int8 AS granted, c.available",
        )
        .bind(tenant)
        .bind(rate)
        .bind(capacity)
        .bind(wanted as f64)
        .fetch_optional(pool)
        .await
        .context("taking from the rate bucket")?;
        if let Some(taken) = taken {
            return Ok(taken);
        }
        // A tenant's first event: its bucket starts full.
        sqlx::query(
            "INSERT INTO rate_buckets (tenant_id, tokens, refilled_at)
             VALUES ($1, $2, clock_timestamp()) ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(tenant)
        .bind(capacity)
        .execute(pool)
        .await
        .context("creating the rate bucket")?;
    }
    anyhow::bail!("the rate bucket vanished while being created")
}
