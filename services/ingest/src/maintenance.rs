//! Housekeeping that runs beside the API, at start and hourly: expired idempotency answers are
//! deleted so the table stays the size of one day's keys, and with a keyring configured,
//! webhook secrets not yet sealed with its newest key are sealed again.

use std::time::Duration;

use herald_domain::sealing::Keyring;
use herald_runtime::shutdown::ShutdownToken;
use sqlx::PgPool;

const EVERY: Duration = Duration::from_secs(3600);

/// One pass; returns how many expired answers were deleted.
pub async fn expire_idempotency_keys(pool: &PgPool) -> anyhow::Result<u64> {
    crate::store::idempotency::delete_expired(pool).await
}

/// Seals every webhook secret not yet sealed with the keyring's newest key; returns how many
/// webhooks changed.
pub async fn reseal_secrets(pool: &PgPool, keyring: &Keyring) -> anyhow::Result<usize> {
    crate::store::resealing::reseal_all(pool, keyring).await
}

pub async fn run(pool: PgPool, keyring: Option<Keyring>, shutdown: ShutdownToken) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match expire_idempotency_keys(&pool).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "expired idempotency keys deleted"),
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "idempotency cleanup failed")
            }
        }
        if let Some(keyring) = &keyring {
            match reseal_secrets(&pool, keyring).await {
                Ok(0) => {}
                Ok(webhooks) => tracing::info!(
                    webhooks,
                    key = keyring.active_id(),
                    "webhook secrets sealed with the newest key"
                ),
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "sealing webhook secrets failed; keep every older key in HERALD_ENCRYPTION_KEY until it succeeds"
                ),
            }
        }
    }
}
