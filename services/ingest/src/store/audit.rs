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
