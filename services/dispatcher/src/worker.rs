//! The worker step: one delivery job in, one `Outcome` out. The loop that maps outcomes to
//! JetStream acks lives in `puller`; tests call this step directly.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use herald_domain::classify::{AttemptResult, Verdict, classify, describe};
use herald_domain::envelope::envelope_body;
use herald_domain::job::{DeadLetter, DeadReason, DeliveryJob};
use herald_domain::retry::{Decision, RetryPolicy, decide};
use herald_domain::sealing::{self, Keyring};
use herald_domain::traceparent::TraceParent;
use herald_domain::{DeliveryId, EventId, TenantRetrySchedule};
use herald_runtime::trace_context::traceparent;
use sqlx::PgPool;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use crate::claim_batch::Claimer;
use crate::dead_letters::DeadLetters;
use crate::metrics::DispatchMetrics;
use crate::record_batch::{AttemptRecord, Recorder};
use crate::request::{Signed, active_secrets, headers};
use crate::sender::{AttemptReport, Sender};
use crate::slots::WebhookSlots;
use crate::spans;
use crate::store::{self, Claimed};

/// What became of a job; `puller` turns it into an ack or a delayed NAK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver accepted it.
    Delivered,
    /// Its next job is this one, due after the delay: a retry after a transient failure, or
    /// a deferral while the webhook is saturated. The current job is done (acked); the new
    /// one is published when due.
    Rescheduled(DeliveryJob, Duration),
    /// It failed for good and was handed to the DLQ service.
    Dead,
    /// Nothing to do: already delivered, a stale generation, or no such delivery.
    Skip,
    /// Not yet: another dispatcher holds it, or it is not due. Redeliver after the delay.
    Defer(Duration),
}

/// An attempt made, and what the schedule makes of it.
struct Attempted {
    number: i32,
    report: AttemptReport,
    decision: Decision,
    error: Option<String>,
}

/// How long a job may wait for a slot of its webhook before it is parked.
const SLOT_WAIT: Duration = Duration::from_millis(250);
/// The least a deferral waits, so a busy job does not spin.
const MIN_DEFER: Duration = Duration::from_millis(100);

pub struct Worker {
    pub pool: PgPool,
    /// Claims, in batches across concurrent jobs, on a pool whose commits do not wait for
    /// the disk: a claim lost in a crash leaves the delivery claimable, and its unacked job is
    /// redelivered (see `claims_pool`).
    pub claimer: Claimer,
    /// Attempts are recorded through this, in batches across concurrent jobs.
    pub recorder: Recorder,
    pub sender: Sender,
    /// The platform's policy (`HERALD_RETRY_SCHEDULE`); a tenant's own schedule replaces
    /// its delays for that tenant's deliveries.
    pub policy: RetryPolicy,
    pub dead_letters: DeadLetters,
    /// How long a job whose webhook is saturated is parked (jitter is added).
    pub park: Duration,
    pub slots: WebhookSlots,
    pub metrics: Arc<DispatchMetrics>,
    /// Opens webhook secrets sealed at rest; none: they are stored as given.
    pub keyring: Option<Arc<Keyring>>,
}

impl Worker {
    /// Works the job in the current span (see `spans::deliver`).
    pub async fn work(&self, job: &DeliveryJob, tenant: &str) -> anyhow::Result<Outcome> {
        self.work_in(job, tenant, None).await
    }

    /// `work`, holding `process_slot` (one of the process's `HERALD_DISPATCHER_CONCURRENCY`)
    /// only until the attempt is over: recording it, a database round trip, then overlaps
    /// the next job's attempt instead of keeping a slot idle.
    pub async fn work_in(
        &self,
        job: &DeliveryJob,
        tenant: &str,
        process_slot: Option<OwnedSemaphorePermit>,
    ) -> anyhow::Result<Outcome> {
        // The rare paths (park, unclaimable, dead without an attempt, the dead-letter
        // hand-off) are boxed: each holds a database future of a KB or more, and a job's
        // future has room for its largest path, copied whole each time it is moved (into its
        // task, into a bundle's set); the common path needs far less.
        let Some(webhook_slot) = self.slots.acquire(job.webhook_id, SLOT_WAIT).await else {
            return Box::pin(self.park(job, tenant)).await;
        };
        let claim = self.claimer.claim(job.delivery_id, job.generation).await?;
        let Some(mut claimed) = claim else {
            return Box::pin(self.unclaimable(job, tenant)).await;
        };
        // Never sent unsigned: a secret that does not open (a key missing from the keyring)
        // fails the job, which JetStream redelivers after a back-off.
        self.open_secrets(&mut claimed, job.webhook_id)?;
        if claimed.webhook_deleted || !claimed.webhook_enabled {
            return Box::pin(self.dead_unattempted(job, tenant, &claimed)).await;
        }
        let attempt = claimed.attempts + 1;
        tracing::Span::current().record("attempt", attempt);
        tracing::info!(url = %claimed.url, "attempt started");
        let report = tokio::select! {
            report = self.attempt(job, &claimed, attempt) => report,
            never = self.claimer.hold(job.delivery_id, job.generation) => match never {},
        };
        drop((webhook_slot, process_slot));
        let verdict = classify(&report.result);
        // The schedule counts the attempts since the latest manual retry.
        let in_cycle = (attempt - claimed.attempt_base).unsigned_abs();
        let policy = self.policy_for(&claimed);
        let decision = decide(verdict, in_cycle, &policy, rand::random());
        let error = (verdict != Verdict::Success).then(|| describe(&report.result));
        self.metrics.observe_attempt(&report, decision);
        let attempted = Attempted {
            number: attempt,
            report,
            decision,
            error,
        };
        self.carry_out(job, tenant, &claimed, attempted)
            .instrument(spans::decide())
            .await
    }

    /// The tenant's own schedule when it has one, with the platform's jitter and
    /// `Retry-After` cap; otherwise the platform's policy.
    fn policy_for(&self, claimed: &Claimed) -> Cow<'_, RetryPolicy> {
        let tenant = claimed
            .retry_schedule_ms
            .as_deref()
            .and_then(TenantRetrySchedule::from_millis);
        match tenant {
            Some(schedule) => Cow::Owned(self.policy.with_schedule(schedule.delays().to_vec())),
            None => Cow::Borrowed(&self.policy),
        }
    }

    /// Records the attempt and acts on the decision: done, the next job, or the DLQ.
    async fn carry_out(
        &self,
        job: &DeliveryJob,
        tenant: &str,
        claimed: &Claimed,
        attempted: Attempted,
    ) -> anyhow::Result<Outcome> {
        let Attempted {
            number: attempt,
            report,
            decision,
            error,
        } = attempted;
        let span = tracing::Span::current();
        let status_code = report.status_code();
        let record = AttemptRecord {
            delivery: job.delivery_id,
            generation: job.generation,
            webhook: job.webhook_id,
            attempt,
            report,
            error: error.clone(),
            decision,
        };
        let generation = self.recorder.record(record).await?;
        let Some(generation) = generation else {
            span.record("outcome", "lease_lost");
            tracing::warn!("lease lost during the attempt");
            return Ok(Outcome::Skip);
        };
        Ok(match decision {
            Decision::Succeeded => {
                span.record("outcome", "success");
                let latency = (Utc::now() - claimed.created_at)
                    .to_std()
                    .unwrap_or_default();
                self.metrics.observe_delivered(latency);
                tracing::info!(end_to_end_ms = latency.as_millis() as u64, "delivered");
                Outcome::Delivered
            }
            Decision::RetryIn(delay) => {
                let delay_ms = delay.as_millis() as u64;
                span.record("outcome", "retry");
                span.record("retry.delay_ms", delay_ms);
                tracing::info!(delay_ms, "retry scheduled");
                Outcome::Rescheduled(DeliveryJob { generation, ..*job }, delay)
            }
            Decision::Dead(reason) => {
                span.record("outcome", "dead");
                let last_error = error.unwrap_or_default();
                Box::pin(self.hand_off(job, tenant, reason, last_error, status_code, attempt))
                    .await?;
                Outcome::Dead
            }
        })
    }

    /// Replaces the claimed secrets, as stored, with the secrets themselves.
    fn open_secrets(&self, claimed: &mut Claimed, webhook: uuid::Uuid) -> anyhow::Result<()> {
        for stored in &mut claimed.secrets.0 {
            stored.secret =
                sealing::open_with(self.keyring.as_deref(), &stored.secret, webhook.as_bytes())
                    .map_err(|e| anyhow::anyhow!("opening a secret of webhook {webhook}: {e}"))?;
        }
        Ok(())
    }

    /// Signs and POSTs the job in a client span whose context the receiver gets as
    /// `traceparent`; the result is logged (and recorded) inside that span.
    async fn attempt(&self, job: &DeliveryJob, claimed: &Claimed, attempt: i32) -> AttemptReport {
        let now = Utc::now();
        let body = envelope_body(
            EventId::from_uuid(job.event_id),
            &claimed.event_type,
            claimed.occurred_at,
            &claimed.payload.0,
        );
        let secrets = active_secrets(&claimed.secrets.0, now);
        let target = self.sender.parse_url(&claimed.url);
        let span = spans::post(target.as_ref().map(|target| &target.url));
        let headers = headers(&Signed {
            delivery: DeliveryId::from_uuid(job.delivery_id),
            event_type: &claimed.event_type,
            attempt,
            timestamp: now.timestamp(),
            secrets: &secrets,
            body: &body,
            traceparent: traceparent(&span).unwrap_or_else(|| TraceParent::new_root().to_string()),
        });
        let report = self
            .sender
            .send_to(&claimed.url, target.as_deref(), headers, body)
            .instrument(span.clone())
            .await;
        let verdict = classify(&report.result);
        let _entered = span.enter();
        if let Some(status) = report.status_code() {
            span.record("http.response.status_code", status);
        }
        if verdict != Verdict::Success {
            span.record("otel.status_code", "error");
            span.record("error.type", error_type(&report.result));
        }
        tracing::info!(
            status_code = report.status_code(),
            duration_ms = report.duration.as_millis() as u64,
            error = (verdict != Verdict::Success).then(|| describe(&report.result)),
            "attempt result"
        );
        report
    }

    /// The webhook is saturated: the job gives its place back and returns later.
    async fn park(&self, job: &DeliveryJob, tenant: &str) -> anyhow::Result<Outcome> {
        let delay = self.park.mul_f64(1.0 + rand::random::<f64>());
        match store::park(&self.pool, job.delivery_id, job.generation, delay).await? {
            Some(generation) => Ok(Outcome::Rescheduled(
                DeliveryJob { generation, ..*job },
                delay,
            )),
            None => self.unclaimable(job, tenant).await,
        }
    }

    /// Why the claim failed decides what the job does next.
    async fn unclaimable(&self, job: &DeliveryJob, tenant: &str) -> anyhow::Result<Outcome> {
        let Some(state) = store::state(&self.pool, job.delivery_id).await? else {
            tracing::warn!(delivery_id = %DeliveryId::from_uuid(job.delivery_id), "job for an unknown delivery dropped");
            return Ok(Outcome::Skip);
        };
        if state.generation != job.generation {
            // A newer job of this delivery exists; this one is a leftover.
            return Ok(Outcome::Skip);
        }
        let until = |at: Option<chrono::DateTime<Utc>>| {
            let wait = at.map(|at| (at - Utc::now()).to_std().unwrap_or_default());
            Outcome::Defer(wait.unwrap_or(MIN_DEFER).max(MIN_DEFER))
        };
        Ok(match state.status.as_str() {
            "success" => Outcome::Skip,
            "pending" => until(state.next_attempt_at),
            "processing" => until(state.lease_until),
            _ => {
                // Failed: the hand-off may not have been stored before a crash; repeat it
                // (the DLQ stream keeps one copy per message id).
                let reason = state
                    .dead_reason
                    .as_deref()
                    .and_then(DeadReason::parse)
                    .unwrap_or(DeadReason::Exhausted);
                let code = state.last_status_code.and_then(|c| u16::try_from(c).ok());
                let error = state.last_error.unwrap_or_default();
                self.hand_off(job, tenant, reason, error, code, state.attempts)
                    .await?;
                Outcome::Dead
            }
        })
    }

    async fn dead_unattempted(
        &self,
        job: &DeliveryJob,
        tenant: &str,
        claimed: &Claimed,
    ) -> anyhow::Result<Outcome> {
        let (reason, error) = if claimed.webhook_deleted {
            (
                DeadReason::WebhookDeleted,
                "the webhook was deleted".to_owned(),
            )
        } else {
            let why = claimed
                .disabled_reason
                .as_deref()
                .unwrap_or("no reason given");
            (
                DeadReason::WebhookDisabled,
                format!("the webhook is disabled: {why}"),
            )
        };
        store::fail_unattempted(&self.pool, job.delivery_id, reason, &error).await?;
        self.hand_off(job, tenant, reason, error, None, claimed.attempts)
            .await?;
        Ok(Outcome::Dead)
    }

    async fn hand_off(
        &self,
        job: &DeliveryJob,
        tenant: &str,
        reason: DeadReason,
        last_error: String,
        last_status_code: Option<u16>,
        attempts: i32,
    ) -> anyhow::Result<()> {
        let letter = DeadLetter {
            job: *job,
            reason,
            last_error,
            last_status_code,
            attempts,
            failed_at: Utc::now(),
        };
        self.dead_letters.hand_off(tenant, &letter).await
    }
}

/// A short, bounded name for what went wrong (the `error.type` of the client span).
fn error_type(result: &AttemptResult) -> String {
    match result {
        AttemptResult::Response { status, .. } => status.to_string(),
        AttemptResult::Timeout => "timeout".to_owned(),
        AttemptResult::Connection(_) => "connection".to_owned(),
        AttemptResult::Dns(_) => "dns".to_owned(),
        AttemptResult::Forbidden(_) => "forbidden".to_owned(),
    }
}
