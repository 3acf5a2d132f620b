//! One tenant's pull loop: fetch only as many jobs as the process has free slots for (and,
//! while the tenant has none waiting, wait for its next one holding no slot), work each in
//! its own task (a bundle's jobs side by side, each under the tenant's cap), and map its
//! outcome to an ack (and, for a retry or a deferral, the next job published when due) or a
//! short NAK. Retries are not NAK delays: on the servers we run, a message waiting out a NAK
//! delay still counts against `max_ack_pending`, so a failing webhook in back-off would block
//! its whole tenant. On shutdown the loop stops fetching and lets in-flight jobs finish; past
//! the drain limit they are left unacked and JetStream redelivers them.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::message::Message;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use herald_domain::job::{DeliveryJob, JobMessage};
use herald_runtime::outbox::{Outbox, OutboxJob};
use herald_runtime::shutdown::ShutdownToken;
use herald_runtime::trace_context;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

pub use crate::load::TenantLoad;
use crate::load::{MessageSize, cap_change};
use crate::spans;
use crate::worker::{Outcome, Worker};

/// At most this many jobs per fetch.
const MAX_BATCH: usize = 64;
/// A fetch waits at most this long for jobs (2.9 needs an expiry, see the design notes).
const FETCH_EXPIRES: Duration = Duration::from_secs(1);
/// After an error the worker could not classify (database down...), ask again after this.
const ERROR_BACKOFF: Duration = Duration::from_secs(5);

pub struct Puller {
    pub consumer: PullConsumer,
    pub tenant: String,
    pub worker: Arc<Worker>,
    pub outbox: Outbox,
    pub slots: Arc<Semaphore>,
    /// The tenant's `max_concurrent_deliveries`, 0 while it is not active; kept current by
    /// the supervisor.
    pub tenant_cap: watch::Receiver<usize>,
    /// The tenant's jobs in flight in this process.
    pub load: TenantLoad,
    /// How often a job in progress tells JetStream it is still being worked.
    pub heartbeat: Duration,
    /// How long shutdown waits for in-flight jobs.
    pub drain: Duration,
    /// Jobs per message lately (bundles carry several).
    pub(crate) message_size: MessageSize,
}

impl Puller {
    pub async fn run(self, shutdown: ShutdownToken) {
        let this = Arc::new(self);
        let mut tasks = JoinSet::new();
        // A fetch that finds no job lasts its whole expiry. Holding process slots through it
        // would keep them from the busy tenants' pullers, so at first and after an empty
        // fetch the puller holds no slot while it waits, and takes one for each job as it
        // arrives.
        let mut idle = true;
        while let Some((mut permits, size)) = this.slots_for_fetch(idle, &shutdown).await {
            let batch = this
                .consumer
                .fetch()
                .max_messages(size)
                .expires(FETCH_EXPIRES)
                .messages()
                .await;
            let mut batch = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    drop(permits);
                    if this.consumer_gone().await {
                        tracing::info!(tenant = %this.tenant, "consumer deleted; puller stops");
                        break;
                    }
                    tracing::warn!(tenant = %this.tenant, %error, "fetch failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(ERROR_BACKOFF) => continue,
                    }
                }
            };
            let mut received = 0;
            while let Some(next) = batch.next().await {
                let Ok(message) = next else {
                    continue;
                };
                received += 1;
                // A job fetched without a slot (the puller was idle, or another tenant took
                // the slot first) waits for one in its own task, telling JetStream it is
                // still held, so that the rest of the batch does not wait unheard behind it.
                let permit = permits.pop();
                this.load.running.fetch_add(1, Ordering::Relaxed);
                tasks.spawn(this.clone().handle(message, permit, shutdown.clone()));
            }
            idle = received == 0;
            while tasks.try_join_next().is_some() {}
        }
        if tokio::time::timeout(this.drain, async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!(tenant = %this.tenant, "drain limit reached; unfinished jobs will be redelivered");
            tasks.abort_all();
        }
    }

    /// Whether the tenant's consumer no longer exists (the tenant was removed).
    async fn consumer_gone(&self) -> bool {
        let mut consumer = self.consumer.clone();
        match consumer.info().await {
            Ok(_) => false,
            Err(error) => matches!(
                error.kind(),
                ConsumerInfoErrorKind::NotFound | ConsumerInfoErrorKind::StreamNotFound
            ),
        }
    }

    /// The slots and the size of the next fetch. Waits for room under the tenant's cap;
    /// then, unless the tenant is `idle` (its last fetch found nothing), for at least one
    /// free process slot, and takes as many more as are free now and the cap allows. An idle
    /// tenant takes none and asks for as many jobs as slots are free now (at least one). With
    /// no room (a cap of 0 while the tenant is suspended, or its jobs in flight at the cap)
    /// it sleeps until a job finishes or the cap changes. `None`: shutting down.
    async fn slots_for_fetch(
        &self,
        idle: bool,
        shutdown: &ShutdownToken,
    ) -> Option<(Vec<OwnedSemaphorePermit>, usize)> {
        let mut cap = self.tenant_cap.clone();
        let room = loop {
            let limit = *cap.borrow_and_update();
            let room = limit.saturating_sub(self.load.running.load(Ordering::Relaxed));
            if room > 0 {
                break room;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = self.load.done.notified() => {}
                _ = cap_change(&mut cap) => {}
            }
        };
        if idle {
            let size = self.slots.available_permits().min(MAX_BATCH.min(room));
            let size = self.message_size.messages_for(size);
            return (!shutdown.is_cancelled()).then_some((Vec::new(), size));
        }
        let first = self.one_slot(shutdown).await?;
        let mut permits = vec![first];
        while permits.len() < MAX_BATCH.min(room) {
            match self.slots.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        // A bundle's first job takes its message's slot; the rest take slots as they come
        // free, so the slots beyond one a message go back now.
        let size = self.message_size.messages_for(permits.len());
        permits.truncate(size);
        Some((permits, size))
    }

    /// One process slot, when one is free; `None`: shutting down.
    async fn one_slot(&self, shutdown: &ShutdownToken) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            _ = shutdown.cancelled() => None,
            permit = self.slots.clone().acquire_owned() => permit.ok(),
        }
    }

    /// Works the job in `slot`, or in the first slot to come free while heartbeating it.
    async fn handle(
        self: Arc<Self>,
        message: Message,
        slot: Option<OwnedSemaphorePermit>,
        shutdown: ShutdownToken,
    ) {
        let slot = match slot {
            Some(slot) => Some(slot),
            None => tokio::select! {
                slot = self.one_slot(&shutdown) => slot,
                never = heartbeat(&message, self.heartbeat) => match never {},
            },
        };
        let counted = match slot {
            Some(slot) => self.clone().work_message(message, slot, &shutdown).await,
            // Shutting down: back to the stream for another dispatcher.
            None => {
                let _ = message.ack_with(AckKind::Nak(None)).await;
                true
            }
        };
        if counted {
            self.load.leave();
        }
    }

    /// `slot`: the process slot the message was fetched for; the worker frees it once the
    /// (first) attempt is over. Returns whether the message still counts against the
    /// tenant's cap (a bundle hands its count to its first job, which gives it back when
    /// done).
    async fn work_message(
        self: Arc<Self>,
        message: Message,
        slot: OwnedSemaphorePermit,
        shutdown: &ShutdownToken,
    ) -> bool {
        let Ok(carried) = serde_json::from_slice::<JobMessage>(&message.payload) else {
            tracing::error!(subject = %message.subject, "undecodable job terminated");
            let _ = message.ack_with(AckKind::Term).await;
            return true;
        };
        let traceparent = message
            .headers
            .as_ref()
            .and_then(|h| h.get("traceparent"))
            .map(|v| v.as_str().to_owned());
        match carried {
            JobMessage::One(job) => {
                self.message_size.observe(1);
                let span = spans::deliver(&job, &self.tenant, traceparent.as_deref());
                self.work_job(&message, &job, slot).instrument(span).await;
                true
            }
            JobMessage::Bundle(bundle) => {
                self.message_size.observe(bundle.jobs.len());
                let jobs = bundle.jobs;
                self.work_bundle(&message, &jobs, slot, traceparent.as_deref(), shutdown)
                    .await;
                false
            }
        }
    }

    /// Works the job, in its span, and acks as the outcome says.
    async fn work_job(&self, message: &Message, job: &DeliveryJob, slot: OwnedSemaphorePermit) {
        self.worker.metrics.in_flight.inc();
        let outcome = tokio::select! {
            outcome = self.worker.work_in(job, &self.tenant, Some(slot)) => outcome,
            never = heartbeat(message, self.heartbeat) => match never {},
        };
        self.worker.metrics.in_flight.dec();
        let ack = match &outcome {
            Ok(Outcome::Delivered | Outcome::Dead | Outcome::Skip) => AckKind::Ack,
            Ok(Outcome::Rescheduled(next, due)) => {
                let trace = trace_context::traceparent(&tracing::Span::current());
                self.publish_when_due(*next, *due, trace);
                AckKind::Ack
            }
            Ok(Outcome::Defer(delay)) => AckKind::Nak(Some(*delay)),
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "delivery job failed; it will be redelivered"
                );
                AckKind::Nak(Some(ERROR_BACKOFF))
            }
        };
        self.worker.metrics.observe_job(outcome.ok());
        if let Err(error) = message.ack_with(ack).await {
            tracing::warn!(%error, "ack not sent; JetStream will redeliver after ack_wait");
        }
    }
}

impl Puller {
    /// Works a bundle's jobs side by side, each in its own span, under the tenant's cap and in
    /// process slots like jobs that came alone; the first takes the message's slot. The
    /// message is acked once every job is done with (delivered, dead, skipped, or its next job
    /// scheduled), and NAK'd for redelivery if any failed unclassified (database down...) or
    /// shutdown came first: the redelivered bundle skips what was done meanwhile.
    async fn work_bundle(
        &self,
        message: &Message,
        jobs: &[DeliveryJob],
        slot: OwnedSemaphorePermit,
        traceparent: Option<&str>,
        shutdown: &ShutdownToken,
    ) {
        let mut first = Some(slot);
        // Polled as they wake, one job at a time: `join_all` of a bundle's size polls every
        // job still going whenever any one of them wakes (each poll entering its span).
        let mut work: FuturesUnordered<_> = jobs
            .iter()
            .map(|job| {
                let span = spans::deliver(job, &self.tenant, traceparent);
                self.work_bundled(job, first.take(), shutdown)
                    .instrument(span)
            })
            .collect();
        let all_done = async {
            let mut all_done = true;
            while let Some(done) = work.next().await {
                all_done &= done;
            }
            all_done
        };
        let all_done = tokio::select! {
            all_done = all_done => all_done,
            never = heartbeat(message, self.heartbeat) => match never {},
        };
        let ack = if all_done {
            AckKind::Ack
        } else {
            AckKind::Nak(Some(ERROR_BACKOFF))
        };
        if let Err(error) = message.ack_with(ack).await {
            tracing::warn!(%error, "ack not sent; JetStream will redeliver after ack_wait");
        }
    }

    /// One job of a bundle until it is done with; `false`: it should come again (an error the
    /// worker could not classify, or shutdown). A deferral (another dispatcher holds the
    /// delivery, or it is not due) waits here rather than in the stream, since the message
    /// carries other jobs.
    async fn work_bundled(
        &self,
        job: &DeliveryJob,
        mut slot: Option<OwnedSemaphorePermit>,
        shutdown: &ShutdownToken,
    ) -> bool {
        // The first job (the one with the message's slot) holds the count its message took
        // against the tenant's cap when fetched; each other job takes its own. Every job
        // gives its count back when done, so a cap of one works the bundle one job at a time.
        if slot.is_none() && !self.load.enter(&self.tenant_cap, shutdown).await {
            return false;
        }
        let done = loop {
            let permit = match slot.take() {
                Some(permit) => permit,
                None => match self.one_slot(shutdown).await {
                    Some(permit) => permit,
                    None => break false,
                },
            };
            self.worker.metrics.in_flight.inc();
            let outcome = self.worker.work_in(job, &self.tenant, Some(permit)).await;
            self.worker.metrics.in_flight.dec();
            self.worker
                .metrics
                .observe_job(outcome.as_ref().ok().copied());
            match outcome {
                Ok(Outcome::Delivered | Outcome::Dead | Outcome::Skip) => break true,
                Ok(Outcome::Rescheduled(next, due)) => {
                    let trace = trace_context::traceparent(&tracing::Span::current());
                    self.publish_when_due(next, due, trace);
                    break true;
                }
                Ok(Outcome::Defer(delay)) => tokio::select! {
                    _ = shutdown.cancelled() => break false,
                    _ = tokio::time::sleep(delay) => {}
                },
                Err(error) => {
                    tracing::error!(
                        error = format!("{error:#}"),
                        "delivery job failed; its bundle will be redelivered"
                    );
                    break false;
                }
            }
        };
        self.load.leave();
        done
    }

    /// Publishes the delivery's next job at its due time. Should this process stop first,
    /// the relay publishes it (the delivery is `pending`, due, and unpublished).
    fn publish_when_due(&self, job: DeliveryJob, due: Duration, traceparent: Option<String>) {
        let outbox = self.outbox.clone();
        let next = OutboxJob {
            job,
            tenant: self.tenant.clone(),
            traceparent,
        };
        tokio::spawn(async move {
            tokio::time::sleep(due).await;
            if let Err(error) = outbox.publish_fresh(std::slice::from_ref(&next)).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "scheduled job not published; the relay will"
                );
            }
        });
    }
}

/// Tells JetStream the job is still in progress, until dropped.
async fn heartbeat(message: &Message, every: Duration) -> std::convert::Infallible {
    loop {
        tokio::time::sleep(every).await;
        let _ = message.ack_with(AckKind::Progress).await;
    }
}
