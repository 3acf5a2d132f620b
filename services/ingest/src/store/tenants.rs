use anyhow::Context;
use chrono::{DateTime, Utc};
use herald_domain::{ApiKey, QuotaLimits, TenantId, TenantName, TenantRetrySchedule, TenantStatus};
use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use uuid::Uuid;

use super::api_keys;
use super::audit::{self, AuditEntry};
use super::quotas;
use crate::pagination::Cursor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TenantRow {
    pub id: Uuid,
    pub name: String,
    pub display_name: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: TenantStatus,
    /// The tenant's own retry delays; `None`: the platform's schedule.
    pub retry_schedule_ms: Option<Vec<i64>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, display_name, status, retry_schedule_ms, created_at, updated_at";

/// What the admin may change on a tenant (`PATCH /admin/tenants/{tenant}`).
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSettings {
    pub display_name: Option<String>,
    pub status: TenantStatus,
    pub retry_schedule: Option<TenantRetrySchedule>,
}

impl TenantRow {
    pub fn settings(&self) -> TenantSettings {
        TenantSettings {
            display_name: self.display_name.clone(),
            status: self.status,
            retry_schedule: self.retry_schedule(),
        }
    }

    /// The stored schedule; the table's CHECK keeps it valid.
    pub fn retry_schedule(&self) -> Option<TenantRetrySchedule> {
        self.retry_schedule_ms
            .as_deref()
            .and_then(TenantRetrySchedule::from_millis)
    }
}

impl TenantSettings {
    /// The settings as the API shows them, for the audit log.
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "display_name": self.display_name,
            "status": self.status.as_str(),
            "retry_schedule": self.retry_schedule.as_ref().map(TenantRetrySchedule::display),
        })
    }
}

/// A tenant to create, with its first API key.
pub struct NewTenant<'a> {
    pub name: &'a TenantName,
    pub display_name: Option<&'a str>,
    pub key: &'a ApiKey,
    pub key_label: Option<&'a str>,
    pub limits: &'a QuotaLimits,
}

/// Creates the tenant with its first API key and its quotas. `None`: the name is taken.
pub async fn create(pool: &PgPool, new: NewTenant<'_>) -> anyhow::Result<Option<TenantRow>> {
    let mut tx = pool.begin().await.context("starting transaction")?;
    let tenant: Option<TenantRow> = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO tenants (id, name, display_name) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING RETURNING {COLUMNS}"
    )))
    .bind(TenantId::new().as_uuid())
    .bind(new.name.as_str())
    .bind(new.display_name)
    .fetch_optional(&mut *tx)
    .await
    .context("inserting tenant")?;
    let Some(tenant) = tenant else {
        return Ok(None);
    };
    api_keys::insert(&mut tx, tenant.id, new.key, new.key_label).await?;
    quotas::upsert(&mut tx, tenant.id, new.limits).await?;
    audit::record(
        &mut tx,
        AuditEntry {
            tenant_id: Some(tenant.id),
            actor: "admin",
            action: "tenant.created",
            target: Some(TenantId::from_uuid(tenant.id).to_string()),
            details: serde_json::json!({
                "name": tenant.name,
                "display_name": tenant.display_name,
                "api_key_label": new.key_label,
            }),
        },
    )
    .await?;
    tx.commit().await.context("committing tenant")?;
    Ok(Some(tenant))
}

/// Finds a tenant by its id (`tnt_...`) or its name, as the admin paths allow either.
pub async fn find(pool: &PgPool, id_or_name: &str) -> anyhow::Result<Option<TenantRow>> {
    find_in(pool, id_or_name, "").await
}

/// `find` on any executor; `lock` is appended to the query (`FOR UPDATE`).
async fn find_in(
    conn: impl sqlx::PgExecutor<'_>,
    id_or_name: &str,
    lock: &str,
) -> anyhow::Result<Option<TenantRow>> {
    let id = id_or_name.parse::<TenantId>().ok().map(|id| id.as_uuid());
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tenants WHERE id = $1 OR name = $2 {lock}"
    )))
    .bind(id)
    .bind(id_or_name)
    .fetch_optional(conn)
    .await
    .context("looking up tenant")
}

/// `find` in a transaction, holding the tenant's row until it ends: changes to one tenant
/// (its settings, its keys) happen one at a time.
pub async fn lock(conn: &mut PgConnection, id_or_name: &str) -> anyhow::Result<Option<TenantRow>> {
    find_in(conn, id_or_name, "FOR UPDATE").await
}

pub async fn list(
    pool: &PgPool,
    after: Option<Cursor>,
    limit: u32,
) -> anyhow::Result<Vec<TenantRow>> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tenants
         WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2))
         ORDER BY created_at, id LIMIT $3"
    )))
    .bind(after.map(|c| c.created_at))
    .bind(after.map(|c| c.id))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
    .context("listing tenants")
}

/// A tenant before and after a change.
pub struct Updated {
    pub before: TenantRow,
    pub after: TenantRow,
}

/// Applies `change` to the tenant's settings and audits it as `action`, in one transaction
/// under the tenant's row lock. A change that changes nothing writes nothing (so repeating
/// one is harmless). `None`: no such tenant.
pub async fn update(
    pool: &PgPool,
    id_or_name: &str,
    action: &str,
    change: impl FnOnce(TenantSettings) -> TenantSettings,
) -> anyhow::Result<Option<Updated>> {
    let mut tx = pool.begin().await.context("starting transaction")?;
    let Some(before) = lock(&mut tx, id_or_name).await? else {
        return Ok(None);
    };
    let (old, new) = (before.settings(), change(before.settings()));
    if old == new {
        return Ok(Some(Updated {
            after: before.clone(),
            before,
        }));
    }
    let after: TenantRow = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE tenants SET display_name = $2, status = $3, retry_schedule_ms = $4,
           updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(before.id)
    .bind(new.display_name.as_deref())
    .bind(new.status.as_str())
    .bind(
        new.retry_schedule
            .as_ref()
            .map(TenantRetrySchedule::to_millis),
    )
    .fetch_one(&mut *tx)
    .await
    .context("updating tenant")?;
    let entry = AuditEntry {
        tenant_id: Some(before.id),
        actor: "admin",
        action,
        target: Some(TenantId::from_uuid(before.id).to_string()),
        details: serde_json::json!({ "before": old.to_json(), "after": new.to_json() }),
    };
    audit::record(&mut tx, entry).await?;
    tx.commit().await.context("committing tenant update")?;
    Ok(Some(Updated { before, after }))
}
