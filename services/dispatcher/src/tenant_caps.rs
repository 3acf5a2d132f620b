//! Each tenant's `max_concurrent_deliveries`, as this process enforces it on top of the
//! consumer's `max_ack_pending`: if a consumer's setting lags behind a lowered quota (an
//! operator that has not reconciled yet, a hand-edited consumer), the tenant still gets no
//! more than its quota from this process. Read from the quotas table on every discovery
//! pass; each puller holds its tenant's value.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use sqlx::PgPool;

pub struct TenantCaps {
    caps: HashMap<String, Arc<AtomicUsize>>,
    /// A new tenant's cap until its quota is read.
    fallback: usize,
}

impl TenantCaps {
    pub fn new(fallback: usize) -> Self {
        Self {
            caps: HashMap::new(),
            fallback,
        }
    }

    /// Reads every tenant's quota and updates the values pullers hold.
    pub async fn refresh(&mut self, pool: &PgPool) -> anyhow::Result<()> {
        let rows: Vec<(String, i32)> = sqlx::query_as(
            "SELECT t.name, q.max_concurrent_deliveries
             FROM tenants t JOIN quotas q ON q.tenant_id = t.id",
        )
        .fetch_all(pool)
        .await
        .context("reading concurrency quotas")?;
        for (tenant, cap) in rows {
            let cap = usize::try_from(cap).unwrap_or(1).max(1);
            self.caps
                .entry(tenant)
                .or_insert_with(|| Arc::new(AtomicUsize::new(cap)))
                .store(cap, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The tenant's cap, shared with whoever holds it; the fallback until it is read.
    pub fn of(&self, tenant: &str) -> Arc<AtomicUsize> {
        self.caps
            .get(tenant)
            .cloned()
            .unwrap_or_else(|| Arc::new(AtomicUsize::new(self.fallback)))
    }
}
