//! `events_per_second` and `burst`, held across every ingest replica.
//!
//! Each tenant has one token bucket in PostgreSQL (`rate_buckets`): capacity `burst`, refilled
//! at `events_per_second`. A replica does not touch it per event: it takes a small chunk of
//! tokens at once (a tenth of a second's worth, 1 to 50) and spends them locally within a
//! second; tokens left over then are dropped, never returned. So, with R replicas serving a
//! tenant and chunk size C, in any window of T seconds:
//!
//! - accepted <= burst + rate x T + R x C (the bucket never grants more than it holds; only
//!   a chunk taken before the window and spent inside it can add to that);
//! - when demand exceeds the limit, accepted >= rate x T - R x C per second of leftovers.
//!
//! A refused request is answered from memory until the bucket can hold a token again, so a
//! tenant hammering past its limit costs one query per refill, not one per request.
//! docs/design.md ("Resource isolation") explains the choice of PostgreSQL over NATS KV.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_domain::QuotaLimits;
use sqlx::PgPool;
use uuid::Uuid;

use crate::store::rate_buckets;

/// How long tokens taken from the shared bucket may be spent.
const LEASE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    Admitted,
    /// Over the rate: the bucket holds a whole token again after this long.
    Refused {
        retry_after: Duration,
    },
}

/// Tokens one replica takes at once: a tenth of a second's worth, 1 to 50.
pub fn chunk(limits: &QuotaLimits) -> i64 {
    i64::from((limits.events_per_second / 10).clamp(1, 50))
}

#[derive(Default)]
struct Allotment {
    tokens: i64,
    expires: Option<Instant>,
    refused_until: Option<Instant>,
}

pub struct RateLimiter {
    pool: PgPool,
    tenants: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<Allotment>>>>,
}

impl RateLimiter {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            tenants: Mutex::default(),
        }
    }

    /// Spends one token of the tenant's rate, or says how long until one is there.
    pub async fn admit(&self, tenant: Uuid, limits: &QuotaLimits) -> anyhow::Result<Admission> {
        let allotment = self.allotment(tenant);
        // One request per tenant and replica refills at a time; the others wait for it.
        let mut allotment = allotment.lock().await;
        let now = Instant::now();
        if let Some(until) = allotment.refused_until {
            if now < until {
                return Ok(Admission::Refused {
                    retry_after: until - now,
                });
            }
            allotment.refused_until = None;
        }
        if allotment.expires.is_some_and(|at| now >= at) {
            allotment.tokens = 0;
        }
        if allotment.tokens == 0 {
            let rate = f64::from(limits.events_per_second.max(1));
            let capacity = f64::from(limits.burst.max(1));
            let taken =
                rate_buckets::take(&self.pool, tenant, rate, capacity, chunk(limits)).await?;
            if taken.granted == 0 {
                let wait = Duration::from_secs_f64(((1.0 - taken.available) / rate).max(0.001));
                allotment.refused_until = Some(now + wait);
                return Ok(Admission::Refused { retry_after: wait });
            }
            allotment.tokens = taken.granted;
            allotment.expires = Some(now + LEASE);
        }
        allotment.tokens -= 1;
        Ok(Admission::Admitted)
    }

    fn allotment(&self, tenant: Uuid) -> Arc<tokio::sync::Mutex<Allotment>> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        tenants.entry(tenant).or_default().clone()
    }
}
