//! Rotating a webhook's signing secret: the new secret goes first (the one shown and used for
//! `X-Webhook-Signature`), earlier ones keep signing `webhook-signature` until their grace
//! period ends, and secrets already expired are dropped.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::webhooks::StoredSecret;

/// The secret list after a rotation at `now`: `new` first; each earlier secret expiring at the
/// sooner of its own expiry and `now + grace`; expired ones gone.
pub fn rotated(
    before: &[StoredSecret],
    new: String,
    grace: Duration,
    now: DateTime<Utc>,
) -> Vec<StoredSecret> {
    let ends = now + grace;
    let kept = before
        .iter()
        .filter(|s| s.expires_at.is_none_or(|at| at > now))
        .map(|s| StoredSecret {
            expires_at: Some(s.expires_at.map_or(ends, |at| at.min(ends))),
            ..s.clone()
        })
        .filter(|s| s.expires_at.is_some_and(|at| at > now));
    std::iter::once(StoredSecret {
        secret: new,
        created_at: now,
        expires_at: None,
    })
    .chain(kept)
    .collect()
}

/// The webhook's secrets, locked for the rest of the transaction; `None` when the tenant has
/// no such webhook.
pub async fn lock(
    conn: &mut PgConnection,
    tenant: Uuid,
    webhook: Uuid,
) -> anyhow::Result<Option<Vec<StoredSecret>>> {
    let row: Option<Json<Vec<StoredSecret>>> = sqlx::query_scalar(
        "SELECT secrets FROM webhooks
         WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE",
    )
    .bind(tenant)
    .bind(webhook)
    .fetch_optional(&mut *conn)
    .await
    .context("locking the webhook's secrets")?;
    Ok(row.map(|json| json.0))
}

pub async fn store(
    conn: &mut PgConnection,
    webhook: Uuid,
    secrets: Vec<StoredSecret>,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE webhooks SET secrets = $2, updated_at = now() WHERE id = $1")
        .bind(webhook)
        .bind(Json(secrets))
        .execute(conn)
        .await
        .context("storing the rotated secrets")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, expires_at: Option<DateTime<Utc>>) -> StoredSecret {
        StoredSecret {
            secret: name.into(),
            created_at: DateTime::from_timestamp(0, 0).unwrap(),
            expires_at,
        }
    }

    #[test]
    fn the_new_secret_leads_and_the_old_ones_expire_after_the_grace() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let soon = now + Duration::hours(1);
        let past = now - Duration::seconds(1);
        let before = [
            secret("current", None),
            secret("ending-soon", Some(soon)),
            secret("gone", Some(past)),
        ];
        let after = rotated(&before, "new".into(), Duration::hours(24), now);
        let names: Vec<_> = after.iter().map(|s| s.secret.as_str()).collect();
        assert_eq!(names, ["new", "current", "ending-soon"]);
        assert_eq!(after[0].expires_at, None);
        assert_eq!(after[1].expires_at, Some(now + Duration::hours(24)));
        assert_eq!(after[2].expires_at, Some(soon), "a sooner expiry is kept");
    }

    #[test]
    fn no_grace_retires_the_old_secrets_at_once() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let after = rotated(
            &[secret("current", None)],
            "new".into(),
            Duration::zero(),
            now,
        );
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].secret, "new");
    }
}
