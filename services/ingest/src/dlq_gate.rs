//! `max_dlq_size`: while a tenant's open dead letters reach it, new events are refused
//! (429 `dlq_quota_exceeded`) until the tenant retries or discards some. Nothing accepted is
//! ever dropped for it. Each replica re-counts a tenant at most once a second, so a few events
//! may still be accepted in the second the limit is reached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

/// How long a count is trusted.
const FRESH: Duration = Duration::from_secs(1);

pub struct DlqGate {
    pool: PgPool,
    counted: Mutex<HashMap<Uuid, (bool, Instant)>>,
}

impl DlqGate {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            counted: Mutex::default(),
        }
    }

    /// Whether the tenant's open dead letters have reached `max`.
    pub async fn is_full(&self, tenant: Uuid, max: u64) -> anyhow::Result<bool> {
        if let Some((full, at)) = self.lock().get(&tenant).copied()
            && at.elapsed() < FRESH
        {
            return Ok(full);
        }
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        // Counts at most `max` rows, however large the DLQ.
        let full: bool = sqlx::query_scalar(
            "SELECT count(*) >= $2 FROM (
               SELECT 1 FROM dead_letter_queue
               WHERE tenant_id = $1 AND closed_at IS NULL LIMIT $2) open",
        )
        .bind(tenant)
        .bind(max)
        .fetch_one(&self.pool)
        .await
        .context("counting open dead letters")?;
        self.lock().insert(tenant, (full, Instant::now()));
        Ok(full)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (bool, Instant)>> {
        self.counted.lock().unwrap_or_else(|p| p.into_inner())
    }
}
