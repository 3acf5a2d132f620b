//! Housekeeping that runs beside the API: expired idempotency answers are deleted hourly so
//! the table stays the size of one day's keys.

use std::time::Duration;

use herald_runtime::shutdown::ShutdownToken;
use sqlx::PgPool;

const EVERY: Duration = Duration::from_secs(3600);

/// One pass; returns how many expired answers were deleted.
pub async fn expire_idempotency_keys(pool: &PgPool) -> anyhow::Result<u64> {
    crate::store::idempotency::delete_expired(pool).await
}

pub async fn run(pool: PgPool, shutdown: ShutdownToken) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => match expire_idempotency_keys(&pool).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "expired idempotency keys deleted"),
                Err(error) => tracing::warn!(error = format!("{error:#}"), "idempotency cleanup failed"),
            },
        }
    }
}
