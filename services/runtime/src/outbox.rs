//! The transactional outbox's sending half. A delivery row is committed first; its job is
//! then published here with pipelined acks, and the publish marks record JetStream's
//! confirmation (see `publish_marks`). What is not confirmed (a process died, NATS was down) the relay publishes
//! once due; JetStream's duplicate window and the dispatcher's checks absorb any repeat.
//!
//! Every job of a delivery has its own generation (first send, each retry, each manual
//! retry), and the message id is `<delivery>-<generation>`. The jobs of one event published
//! together (a new event's fan-out, a relayed or bulk-retried batch) travel as one message,
//! a `JobBundle` of up to `HERALD_BUNDLE_JOBS`, whose id is `bundle-<first job's>-<count>`.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use async_nats::jetstream::Context as JetStream;
use async_nats::jetstream::message::PublishMessage;
use herald_domain::job::{DeliveryJob, JobBundle};
use herald_domain::{DeliveryId, EventId, WebhookId};
use sqlx::PgPool;
use tracing::Instrument;
use tracing::field::Empty;
use uuid::Uuid;

use crate::jetstream::Topology;
use crate::publish_marks::PublishMarks;
use crate::trace_context::{continue_trace, traceparent};

/// A job and where it goes.
#[derive(Debug, Clone)]
pub struct OutboxJob {
    pub job: DeliveryJob,
    pub tenant: String,
    /// The span the publish belongs under (the emitting request, the retry decision).
    pub traceparent: Option<String>,
}

/// What one message carries: a job, or an event's jobs (see `JobBundle`).
struct Envelope<'a> {
    jobs: Vec<&'a OutboxJob>,
}

impl Envelope<'_> {
    fn first(&self) -> &OutboxJob {
        self.jobs[0]
    }

    fn subject(&self, topology: &Topology) -> (String, Option<String>) {
        let first = self.first();
        if self.jobs.len() == 1 {
            let webhook = WebhookId::from_uuid(first.job.webhook_id).to_string();
            let subject = topology.job_subject(&first.tenant, &webhook);
            (subject, Some(webhook))
        } else {
            let event = EventId::from_uuid(first.job.event_id).to_string();
            (topology.bundle_subject(&first.tenant, &event), None)
        }
    }

    fn encode(&self) -> anyhow::Result<(Vec<u8>, String)> {
        if let [one] = self.jobs.as_slice() {
            let payload = serde_json::to_vec(&one.job).context("encoding a job")?;
            return Ok((payload, one.job.message_id()));
        }
        let bundle = JobBundle {
            jobs: self.jobs.iter().map(|outbox| outbox.job).collect(),
        };
        let payload = serde_json::to_vec(&bundle).context("encoding a bundle of jobs")?;
        Ok((payload, bundle.message_id()))
    }
}

/// The jobs in messages of at most `most` jobs each: the jobs of one event for one tenant,
/// under one trace, share a message; everything else goes alone. Order is kept.
fn envelopes(jobs: &[OutboxJob], most: usize) -> Vec<Envelope<'_>> {
    let mut envelopes: Vec<Envelope> = Vec::with_capacity(jobs.len());
    let mut open: HashMap<(&str, Uuid, Option<&str>), usize> = HashMap::new();
    for outbox in jobs {
        let key = (
            outbox.tenant.as_str(),
            outbox.job.event_id,
            outbox.traceparent.as_deref(),
        );
        match open.get(&key) {
            Some(&at) if envelopes[at].jobs.len() < most => envelopes[at].jobs.push(outbox),
            _ => {
                open.insert(key, envelopes.len());
                envelopes.push(Envelope { jobs: vec![outbox] });
            }
        }
    }
    envelopes
}

/// What JetStream confirmed of one publish, as the publish marks record it.
#[derive(Debug, Default, PartialEq)]
pub struct Confirmed {
    /// Later jobs (generation above 0), as `(delivery, generation)`.
    pub jobs: Vec<(Uuid, i32)>,
    /// Events whose first jobs (generation 0) in the publish were all confirmed: their rows
    /// leave the event outbox. An event with one of them unconfirmed stays, and the relay
    /// publishes its pending first jobs again.
    pub events: Vec<Uuid>,
    /// Jobs confirmed, first and later.
    pub count: usize,
}

impl Confirmed {
    /// From each message's jobs and whether JetStream confirmed it; order is kept.
    fn of<'a>(messages: impl IntoIterator<Item = (Envelope<'a>, bool)>) -> Self {
        let mut confirmed = Confirmed::default();
        let mut events: Vec<(Uuid, bool)> = Vec::new();
        let mut position: HashMap<Uuid, usize> = HashMap::new();
        for (envelope, ok) in messages {
            for outbox in envelope.jobs {
                let job = &outbox.job;
                confirmed.count += usize::from(ok);
                if job.generation > 0 {
                    if ok {
                        confirmed.jobs.push((job.delivery_id, job.generation));
                    }
                    continue;
                }
                let at = *position.entry(job.event_id).or_insert_with(|| {
                    events.push((job.event_id, true));
                    events.len() - 1
                });
                events[at].1 &= ok;
            }
        }
        confirmed.events = events
            .into_iter()
            .filter_map(|(event, all)| all.then_some(event))
            .collect();
        confirmed
    }
}

/// A producer span per message; the dispatcher's span for each job becomes its child.
fn publish_span(envelope: &Envelope, webhook: Option<&str>, subject: &str) -> tracing::Span {
    let first = envelope.first();
    let span = tracing::info_span!(
        "publish",
        "otel.name" = "publish delivery job",
        "otel.kind" = "producer",
        "messaging.system" = "nats",
        "messaging.destination.name" = subject,
        "messaging.batch.message_count" = envelope.jobs.len(),
        tenant = %first.tenant,
        event_id = %EventId::from_uuid(first.job.event_id),
        webhook_id = webhook,
        "otel.status_code" = Empty,
        trace_id = Empty,
        span_id = Empty,
    );
    continue_trace(&span, first.traceparent.as_deref());
    span
}

#[derive(Clone)]
pub struct Outbox {
    js: JetStream,
    topology: Topology,
    pool: PgPool,
    /// Records JetStream's confirmations (`published_at`).
    marks: Arc<PublishMarks>,
    /// The most jobs one message carries (`HERALD_BUNDLE_JOBS`); 1: a message per job.
    bundle_jobs: usize,
}

impl Outbox {
    pub fn new(js: JetStream, topology: Topology, pool: PgPool) -> Self {
        Self {
            js,
            topology,
            marks: Arc::new(PublishMarks::new(pool.clone())),
            pool,
            bundle_jobs: 1,
        }
    }

    /// Lets one message carry up to `most` jobs of an event (at least one).
    pub fn with_bundle_jobs(mut self, most: usize) -> Self {
        self.bundle_jobs = most.max(1);
        self
    }

    pub fn jetstream(&self) -> &JetStream {
        &self.js
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether the NATS connection is up right now. While it is down, publishing would only
    /// wait: callers that can leave the jobs to the relay skip it.
    pub fn connected(&self) -> bool {
        crate::nats::is_connected(&self.js.client())
    }

    /// Publishes the jobs with pipelined acks and records which JetStream confirmed before
    /// returning. Returns how many were confirmed.
    pub async fn publish(&self, jobs: &[OutboxJob]) -> anyhow::Result<usize> {
        let confirmed = self.send(jobs).await?;
        self.marks.mark_now(&confirmed).await?;
        Ok(confirmed.count)
    }

    /// `publish` for jobs a dispatcher is about to take (a new event's, a retry's when due):
    /// the confirmations are recorded a moment later, a later job's only where no
    /// dispatcher has claimed it by then (a claim records the publish itself), so the usual
    /// delivery row is not rewritten just to say its job was sent.
    pub async fn publish_fresh(&self, jobs: &[OutboxJob]) -> anyhow::Result<usize> {
        let confirmed = self.send(jobs).await?;
        self.marks.mark_later(&confirmed);
        Ok(confirmed.count)
    }

    /// Takes events out of the event outbox without publishing: none of their first jobs
    /// is pending any more (the relay found them all claimed or ended).
    pub async fn settle_events(&self, events: Vec<Uuid>) -> anyhow::Result<()> {
        let settled = Confirmed {
            events,
            ..Confirmed::default()
        };
        self.marks.mark_now(&settled).await
    }

    /// Sends the jobs with pipelined acks, an event's jobs in one message (up to
    /// `bundle_jobs`); returns what JetStream confirmed.
    async fn send(&self, jobs: &[OutboxJob]) -> anyhow::Result<Confirmed> {
        let mut pending = Vec::with_capacity(jobs.len());
        for envelope in envelopes(jobs, self.bundle_jobs) {
            let (subject, webhook) = envelope.subject(&self.topology);
            let span = publish_span(&envelope, webhook.as_deref(), &subject);
            let (payload, message_id) = envelope.encode()?;
            let mut message = PublishMessage::build()
                .payload(payload.into())
                .message_id(message_id);
            if let Some(traceparent) = traceparent(&span) {
                message = message.header("traceparent", traceparent.as_str());
            }
            let ack = self
                .js
                .send_publish(subject, message)
                .instrument(span.clone())
                .await
                .context("publishing a delivery job")?;
            // Logged on sending, before JetStream's ack: a dispatcher may take the job before
            // the ack is back, and the journey must read in order.
            span.in_scope(|| {
                for outbox in &envelope.jobs {
                    let delivery = DeliveryId::from_uuid(outbox.job.delivery_id);
                    tracing::info!(delivery_id = %delivery, generation = outbox.job.generation, "job enqueued");
                }
            });
            pending.push((envelope, ack, span));
        }
        // Each producer span lasts until JetStream's confirmation.
        let acks = futures::future::join_all(pending.into_iter().map(|(envelope, ack, span)| {
            async move {
                match ack.await {
                    Ok(_) => Ok(envelope),
                    Err(error) => {
                        tracing::Span::current().record("otel.status_code", "error");
                        Err((envelope, error))
                    }
                }
            }
            .instrument(span)
        }))
        .await;
        let mut failures = 0;
        let confirmed = Confirmed::of(acks.into_iter().map(|ack| match ack {
            Ok(envelope) => (envelope, true),
            Err((envelope, error)) => {
                failures += 1;
                tracing::debug!(%error, "publish not confirmed");
                (envelope, false)
            }
        }));
        if failures > 0 {
            tracing::warn!(
                failures,
                "delivery jobs not confirmed; the relay will publish them"
            );
        }
        Ok(confirmed)
    }
}

#[cfg(test)]
mod tests {
    use herald_domain::job::JobMessage;

    use super::*;

    fn job(tenant: &str, event: Uuid, trace: Option<&str>) -> OutboxJob {
        OutboxJob {
            job: DeliveryJob {
                delivery_id: Uuid::now_v7(),
                event_id: event,
                webhook_id: Uuid::now_v7(),
                tenant_id: Uuid::now_v7(),
                generation: 0,
            },
            tenant: tenant.to_owned(),
            traceparent: trace.map(str::to_owned),
        }
    }

    /// Each message's jobs, as positions in `jobs`.
    fn grouping(jobs: &[OutboxJob], most: usize) -> Vec<Vec<usize>> {
        envelopes(jobs, most)
            .iter()
            .map(|envelope| {
                envelope
                    .jobs
                    .iter()
                    .map(|job| jobs.iter().position(|j| std::ptr::eq(j, *job)).unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn an_events_jobs_share_a_message_up_to_the_bundle_size() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let jobs = vec![
            job("acme", a, None),
            job("acme", b, None),
            job("acme", a, None),
            job("acme", a, None),
            job("acme", b, None),
        ];
        assert_eq!(grouping(&jobs, 16), [vec![0, 2, 3], vec![1, 4]]);
        assert_eq!(grouping(&jobs, 2), [vec![0, 2], vec![1, 4], vec![3]]);
        assert_eq!(
            grouping(&jobs, 1),
            [vec![0], vec![1], vec![2], vec![3], vec![4]]
        );
    }

    #[test]
    fn an_event_leaves_the_outbox_once_all_its_first_jobs_are_confirmed() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut retry = job("acme", a, None);
        retry.job.generation = 2;
        let jobs = [
            job("acme", a, None),
            job("acme", a, None),
            job("acme", b, None),
            retry,
        ];
        // Event a's first jobs went in two messages, one of them unconfirmed.
        let messages = vec![
            (
                Envelope {
                    jobs: vec![&jobs[0]],
                },
                true,
            ),
            (
                Envelope {
                    jobs: vec![&jobs[1]],
                },
                false,
            ),
            (
                Envelope {
                    jobs: vec![&jobs[2]],
                },
                true,
            ),
            (
                Envelope {
                    jobs: vec![&jobs[3]],
                },
                true,
            ),
        ];
        let confirmed = Confirmed::of(messages);
        assert_eq!(confirmed.events, [b]);
        assert_eq!(confirmed.jobs, [(jobs[3].job.delivery_id, 2)]);
        assert_eq!(confirmed.count, 3);
    }

    #[test]
    fn jobs_of_other_tenants_or_traces_go_apart() {
        let event = Uuid::now_v7();
        let jobs = vec![
            job("acme", event, Some("00-a")),
            job("globex", event, Some("00-a")),
            job("acme", event, Some("00-b")),
            job("acme", event, Some("00-a")),
        ];
        assert_eq!(grouping(&jobs, 16), [vec![0, 3], vec![1], vec![2]]);
    }

    #[test]
    fn a_lone_job_is_sent_as_itself_and_a_bundle_as_a_bundle() {
        let event = Uuid::now_v7();
        let jobs = vec![job("acme", event, None), job("acme", event, None)];
        let topology = Topology::new("herald");
        let lone = envelopes(&jobs[..1], 16);
        let (payload, id) = lone[0].encode().unwrap();
        assert_eq!(id, jobs[0].job.message_id());
        let decoded: JobMessage = serde_json::from_slice(&payload).unwrap();
        assert_eq!(decoded, JobMessage::One(jobs[0].job));
        let (subject, webhook) = lone[0].subject(&topology);
        assert_eq!(
            subject,
            topology.job_subject("acme", webhook.as_deref().unwrap())
        );

        let both = envelopes(&jobs, 16);
        let (payload, id) = both[0].encode().unwrap();
        assert!(id.starts_with("bundle-"), "{id}");
        let decoded: JobMessage = serde_json::from_slice(&payload).unwrap();
        assert_eq!(decoded.jobs(), [jobs[0].job, jobs[1].job]);
        let (subject, webhook) = both[0].subject(&topology);
        assert_eq!(webhook, None);
        assert!(
            subject.starts_with("herald.deliveries.acme.evt_"),
            "{subject}"
        );
    }
}
