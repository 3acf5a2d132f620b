//! The audit log: who changed what.

use anyhow::Context;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct AuditEntry<'a> {
    pub tenant_id: Option<Uuid>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

/// Written in the caller's transaction, so a change and its audit row commit together.
pub async fn record(conn: &mut PgConnection, entry: AuditEntry<'_>) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, tenant_id, actor, action, target, details)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(entry.tenant_id)
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.target)
    .bind(entry.details)
    .execute(conn)
    .await
    .with_context(|| format!("recording audit entry {}", entry.action))?;
    Ok(())
}

/// An entry for a change a tenant made with its API key.
pub async fn record_by_tenant(
    conn: &mut PgConnection,
    tenant: &crate::auth::Tenant,
    action: &str,
    target: Option<String>,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let actor = tenant.actor();
    let entry = AuditEntry {
        tenant_id: Some(tenant.id.as_uuid()),
        actor: &actor,
        action,
        target,
        details,
    };
    record(conn, entry).await
}

/// An audit row as `GET /audit` shows it.
#[derive(Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub details: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Which entries a listing shows.
pub struct AuditFilter<'a> {
    /// Only this tenant's (always set for a tenant's own listing).
    pub tenant: Option<Uuid>,
    /// Only actions starting with this, e.g. `webhook.`.
    pub action_prefix: Option<&'a str>,
}

/// Entries newest first, strictly before `before`.
pub async fn list(
    pool: &sqlx::PgPool,
    filter: &AuditFilter<'_>,
    before: Option<crate::pagination::Cursor>,
    limit: u32,
) -> anyhow::Result<Vec<AuditRow>> {
    let prefix = filter.action_prefix.map(|p| {
        format!(
            "{}%",
            p.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    sqlx::query_as(
        "SELECT id, tenant_id, actor, action, target, details, created_at FROM audit_log
         WHERE ($1::uuid IS NULL OR tenant_id = $1)
           AND ($2::text IS NULL OR action LIKE $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
         ORDER BY created_at DESC, id DESC LIMIT $5",
    )
    .bind(filter.tenant)
    .bind(prefix)
    .bind(before.map(|c| c.created_at))
    .bind(before.map(|c| c.id))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
    .context("listing audit entries")
}
