//! Leader election over a `coordination.k8s.io/v1` Lease, so that of several replicas only one
//! reconciles. The holder renews every `renew`; a lease not renewed for `duration` may be
//! taken by another replica. Writes carry the lease's `resourceVersion`, so two replicas
//! racing for it cannot both win: the loser gets 409 and keeps waiting.

use std::time::Duration;

use herald_runtime::shutdown::ShutdownToken;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

pub struct LeaderLease {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    renew: Duration,
}

impl LeaderLease {
    pub fn new(api: Api<Lease>, name: &str, identity: &str) -> Self {
        Self {
            api,
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration: Duration::from_secs(15),
            renew: Duration::from_secs(5),
        }
    }

    /// One attempt to take or renew the lease: true when this replica holds it afterwards.
    pub async fn try_hold(&self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, None)),
            };
            return lost_race_is_false(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let mine = holder == Some(self.identity.as_str());
        let expired = spec.renew_time.as_ref().is_none_or(|renewed| {
            let held_for = i64::from(spec.lease_duration_seconds.unwrap_or(15));
            renewed.0.as_second() + held_for < now.0.as_second()
        });
        if !(mine || holder.is_none() || expired) {
            return Ok(false);
        }
        let mut next = self.spec(now.clone(), Some(&spec));
        if mine {
            next.acquire_time = spec.acquire_time;
            next.lease_transitions = spec.lease_transitions;
        }
        lease.spec = Some(next);
        lost_race_is_false(
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await,
        )
    }

    fn spec(&self, now: MicroTime, before: Option<&LeaseSpec>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration.as_secs() as i32),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(
                before.and_then(|s| s.lease_transitions).unwrap_or(0) + i32::from(before.is_some()),
            ),
            ..LeaseSpec::default()
        }
    }

    /// Waits until this replica holds the lease (or `shutdown`): true when it does.
    pub async fn acquire(&self, shutdown: &ShutdownToken) -> bool {
        loop {
            match self.try_hold().await {
                Ok(true) => return true,
                Ok(false) => tracing::debug!(lease = %self.name, "another replica leads"),
                Err(error) => tracing::warn!(%error, "leader lease not readable"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(self.renew) => {}
            }
        }
    }

    /// Renews until `shutdown`, then gives the lease up. Returns early when the lease is lost
    /// (another replica took it, or it could not be renewed in time).
    pub async fn keep(&self, shutdown: &ShutdownToken) {
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    self.release().await;
                    return;
                }
                _ = tokio::time::sleep(self.renew) => {}
            }
            match self.try_hold().await {
                Ok(true) => last_renewal = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(%error, "leader lease not renewed");
                    if last_renewal.elapsed() >= self.duration {
                        return;
                    }
                }
            }
        }
    }

    /// Clears the holder so another replica takes over without waiting for expiry.
    async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        if let Err(error) = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(%error, "leader lease not released; it expires on its own");
        }
    }
}

/// A write refused for a stale `resourceVersion` (409) or a lease created meanwhile means
/// another replica got there first.
fn lost_race_is_false(result: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}
