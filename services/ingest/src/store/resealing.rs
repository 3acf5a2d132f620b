//! Moving every stored webhook secret to the keyring's newest key: secrets stored before a
//! keyring was configured get sealed, secrets sealed with an older key get sealed again. Runs
//! in batches, each in its own transaction, skipping rows another replica holds.

use anyhow::Context;
use herald_domain::sealing::Keyring;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use super::webhooks::StoredSecret;

const BATCH: i64 = 100;

/// One batch; returns how many webhooks were sealed again (0 when none is left).
pub async fn reseal_batch(pool: &PgPool, keyring: &Keyring) -> anyhow::Result<usize> {
    let current = format!("sealed:v1:{}:%", keyring.active_id());
    let mut tx = pool.begin().await.context("starting a resealing batch")?;
    let rows: Vec<(Uuid, Json<Vec<StoredSecret>>)> = sqlx::query_as(
        "SELECT id, secrets FROM webhooks
         WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(secrets) s
                       WHERE s->>'secret' NOT LIKE $1)
         LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(&current)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await
    .context("finding secrets to seal")?;
    for (id, Json(mut secrets)) in rows.iter().cloned() {
        for stored in &mut secrets {
            if keyring.is_stale(&stored.secret) {
                let secret = keyring
                    .open(&stored.secret, id.as_bytes())
                    .with_context(|| format!("opening a secret of webhook {id}"))?;
                stored.secret = keyring.seal(&secret, id.as_bytes());
            }
        }
        sqlx::query("UPDATE webhooks SET secrets = $2 WHERE id = $1")
            .bind(id)
            .bind(Json(secrets))
            .execute(&mut *tx)
            .await
            .context("storing sealed secrets")?;
    }
    tx.commit().await.context("committing a resealing batch")?;
    Ok(rows.len())
}

/// Batches until nothing is left; returns the number of webhooks sealed again.
pub async fn reseal_all(pool: &PgPool, keyring: &Keyring) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        match reseal_batch(pool, keyring).await? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}
