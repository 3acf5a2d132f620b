use anyhow::Context;
use herald_domain::QuotaLimits;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
struct QuotaRow {
    events_per_second: i32,
    burst: i32,
    max_concurrent_deliveries: i32,
    max_dlq_size: i64,
    max_payload_bytes: i64,
    max_webhooks: i32,
}

impl From<QuotaRow> for QuotaLimits {
    fn from(row: QuotaRow) -> Self {
        // The table's CHECK constraints keep every value positive.
        Self {
            events_per_second: row.events_per_second.unsigned_abs(),
            burst: row.burst.unsigned_abs(),
            max_concurrent_deliveries: row.max_concurrent_deliveries.unsigned_abs(),
            max_dlq_size: row.max_dlq_size.unsigned_abs(),
            max_payload_bytes: row.max_payload_bytes.unsigned_abs(),
            max_webhooks: row.max_webhooks.unsigned_abs(),
        }
    }
}

const COLUMNS: &str = "events_per_second, burst, max_concurrent_deliveries, max_dlq_size, max_payload_bytes, max_webhooks";

/// Writes the whole set of limits (callers merge partial updates first).
pub async fn upsert(conn: &mut PgConnection, tenant: Uuid, q: &QuotaLimits) -> anyhow::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO quotas (tenant_id, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (tenant_id) DO UPDATE SET
           events_per_second = $2, burst = $3, max_concurrent_deliveries = $4,
           max_dlq_size = $5, max_payload_bytes = $6, max_webhooks = $7, updated_at = now()"
    )))
    .bind(tenant)
    .bind(q.events_per_second as i32)
    .bind(q.burst as i32)
    .bind(q.max_concurrent_deliveries as i32)
    .bind(q.max_dlq_size as i64)
    .bind(q.max_payload_bytes as i64)
    .bind(q.max_webhooks as i32)
    .execute(conn)
    .await
    .context("writing quotas")?;
    Ok(())
}

pub async fn get(pool: &PgPool, tenant: Uuid) -> anyhow::Result<QuotaLimits> {
    let row: Option<QuotaRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM quotas WHERE tenant_id = $1"
    )))
    .bind(tenant)
    .fetch_optional(pool)
    .await
    .context("reading quotas")?;
    Ok(row.map(QuotaLimits::from).unwrap_or_default())
}

/// Reads the limits and locks them for the rest of the transaction, so checks such as
/// "at most N webhooks" hold under concurrent requests.
pub async fn get_for_update(conn: &mut PgConnection, tenant: Uuid) -> anyhow::Result<QuotaLimits> {
    let row: Option<QuotaRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM quotas WHERE tenant_id = $1 FOR UPDATE"
    )))
    .bind(tenant)
    .fetch_optional(conn)
    .await
    .context("locking quotas")?;
    Ok(row.map(QuotaLimits::from).unwrap_or_default())
}

#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Usage {
    /// Events accepted per second, averaged over the last ten seconds.
    pub events_per_second: f64,
    pub dlq_size: i64,
    pub webhooks: i64,
}

pub async fn usage(pool: &PgPool, tenant: Uuid) -> anyhow::Result<Usage> {
    sqlx::query_as(
        "SELECT
           (SELECT count(*) FROM events
             WHERE tenant_id = $1 AND created_at > now() - interval '10 seconds')::float8 / 10
             AS events_per_second,
           (SELECT count(*) FROM dead_letter_queue WHERE tenant_id = $1 AND closed_at IS NULL)
             AS dlq_size,
           (SELECT count(*) FROM webhooks WHERE tenant_id = $1 AND deleted_at IS NULL)
             AS webhooks",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await
    .context("measuring quota usage")
}
