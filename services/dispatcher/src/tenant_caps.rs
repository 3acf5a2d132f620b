//! Each tenant's concurrency in this process, as the dispatcher enforces it on top of the
//! consumer's `max_ack_pending`: its `max_concurrent_deliveries` while the tenant is
//! `active`, and 0 while it is `suspended` or `disabled` (its puller then fetches nothing and
//! its jobs wait in the stream). If a consumer's setting lags behind a lowered quota (an
//! operator that has not reconciled yet, a hand-edited consumer), the tenant still gets no
//! more than its quota from this process. Read from the database on every discovery pass;
//! each puller watches its tenant's value and wakes as soon as it changes.

use std::collections::HashMap;

use anyhow::Context;
use sqlx::PgPool;
use tokio::sync::watch;

pub struct TenantCaps {
    caps: HashMap<String, watch::Sender<usize>>,
    /// A new tenant's cap until its quota is read.
    fallback: usize,
}

/// What a tenant may have in flight: nothing unless it is active, and then at least one.
pub fn cap_of(status: &str, max_concurrent_deliveries: i32) -> usize {
    if status != "active" {
        return 0;
    }
    usize::try_from(max_concurrent_deliveries)
        .unwrap_or(1)
        .max(1)
}

impl TenantCaps {
    pub fn new(fallback: usize) -> Self {
        Self {
            caps: HashMap::new(),
            fallback,
        }
    }

    /// Reads every tenant's status and quota and updates the values pullers watch.
    pub async fn refresh(&mut self, pool: &PgPool) -> anyhow::Result<()> {
        let rows: Vec<(String, String, i32)> = sqlx::query_as(
            "SELECT t.name, t.status, q.max_concurrent_deliveries
             FROM tenants t JOIN quotas q ON q.tenant_id = t.id",
        )
        .fetch_all(pool)
        .await
        .context("reading tenant statuses and concurrency quotas")?;
        for (tenant, status, quota) in rows {
            self.set(tenant, cap_of(&status, quota));
        }
        Ok(())
    }

    /// Sets a tenant's cap; its puller is woken only when the value changes.
    pub fn set(&mut self, tenant: String, cap: usize) {
        match self.caps.get(&tenant) {
            Some(sender) => {
                sender.send_if_modified(|current| std::mem::replace(current, cap) != cap);
            }
            None => {
                self.caps.insert(tenant, watch::Sender::new(cap));
            }
        }
    }

    /// The tenant's cap now; the fallback until its quota is read.
    pub fn current(&self, tenant: &str) -> usize {
        self.caps
            .get(tenant)
            .map_or(self.fallback, |cap| *cap.borrow())
    }

    /// The tenant's cap, to watch; the fallback until its quota is read.
    pub fn of(&mut self, tenant: &str) -> watch::Receiver<usize> {
        let fallback = self.fallback;
        self.caps
            .entry(tenant.to_owned())
            .or_insert_with(|| watch::Sender::new(fallback))
            .subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_tenants_get_a_cap() {
        assert_eq!(cap_of("active", 20), 20);
        assert_eq!(cap_of("active", 0), 1);
        assert_eq!(cap_of("suspended", 20), 0);
        assert_eq!(cap_of("disabled", 20), 0);
    }

    #[tokio::test]
    async fn a_watcher_wakes_on_a_change_and_only_then() {
        let mut caps = TenantCaps::new(5);
        let mut cap = caps.of("acme");
        assert_eq!(*cap.borrow_and_update(), 5);
        caps.set("acme".into(), 5);
        assert!(
            !cap.has_changed().unwrap(),
            "an unchanged value wakes no one"
        );
        caps.set("acme".into(), 0);
        tokio::time::timeout(std::time::Duration::from_secs(1), cap.changed())
            .await
            .expect("woken at once")
            .unwrap();
        assert_eq!(*cap.borrow_and_update(), 0);
    }
}
