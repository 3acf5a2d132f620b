//! The delivery job carried by JetStream: just the ids. Everything else is read from
//! PostgreSQL, the system of record, when the job is worked.

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub delivery_id: Uuid,
    pub event_id: Uuid,
    pub webhook_id: Uuid,
    pub tenant_id: Uuid,
    /// Bumped by a manual retry from the DLQ, so the new job is not taken for a duplicate.
    pub generation: i32,
}

impl DeliveryJob {
    /// The JetStream message id: publishing the same job twice within the stream's
    /// duplicate window stores it once.
    pub fn message_id(&self) -> String {
        format!(
            "{}-{}",
            crate::DeliveryId::from_uuid(self.delivery_id),
            self.generation
        )
    }
}

/// The jobs of one event, carried by one JetStream message: a fan-out of ten is one message
/// to store, deliver and ack instead of ten. The dispatcher works each job as if it had come
/// alone and acks the message once every job is done (see `JobMessage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobBundle {
    pub jobs: Vec<DeliveryJob>,
}

impl JobBundle {
    /// The message id: the first job's, the size, and a prefix that no single job's id has,
    /// so a repeated publish of the same bundle is stored once.
    pub fn message_id(&self) -> String {
        match self.jobs.first() {
            Some(first) => format!("bundle-{}-{}", first.message_id(), self.jobs.len()),
            None => "bundle-empty".to_owned(),
        }
    }
}

/// What a message of the deliveries stream carries: one job (a retry, a relayed job, an
/// event with one webhook) or a bundle of an event's jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum JobMessage {
    One(DeliveryJob),
    Bundle(JobBundle),
}

/// Reads either shape in one pass: a derived untagged enum would buffer every message into
/// a tree first, then try each shape on it. A message with all of a job's fields is that
/// job; else one with `jobs` is a bundle.
impl<'de> Deserialize<'de> for JobMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Fields {
            jobs: Option<Vec<DeliveryJob>>,
            delivery_id: Option<Uuid>,
            event_id: Option<Uuid>,
            webhook_id: Option<Uuid>,
            tenant_id: Option<Uuid>,
            generation: Option<i32>,
        }
        let fields = Fields::deserialize(deserializer)?;
        match fields {
            Fields {
                delivery_id: Some(delivery_id),
                event_id: Some(event_id),
                webhook_id: Some(webhook_id),
                tenant_id: Some(tenant_id),
                generation: Some(generation),
                ..
            } => Ok(Self::One(DeliveryJob {
                delivery_id,
                event_id,
                webhook_id,
                tenant_id,
                generation,
            })),
            Fields {
                jobs: Some(jobs), ..
            } => Ok(Self::Bundle(JobBundle { jobs })),
            _ => Err(serde::de::Error::custom(
                "neither a delivery job nor a bundle of jobs",
            )),
        }
    }
}

impl JobMessage {
    pub fn jobs(self) -> Vec<DeliveryJob> {
        match self {
            JobMessage::One(job) => vec![job],
            JobMessage::Bundle(bundle) => bundle.jobs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_round_trip_and_match_serde() {
        for reason in DeadReason::ALL {
            assert_eq!(DeadReason::parse(reason.as_str()), Some(reason));
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
        assert_eq!(DeadReason::parse("other"), None);
    }

    fn job(generation: i32) -> DeliveryJob {
        DeliveryJob {
            delivery_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            webhook_id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            generation,
        }
    }

    #[test]
    fn a_single_job_and_a_bundle_decode_as_what_they_are() {
        let one = job(3);
        let decoded: JobMessage =
            serde_json::from_slice(&serde_json::to_vec(&one).unwrap()).unwrap();
        assert_eq!(decoded, JobMessage::One(one));
        let bundle = JobBundle {
            jobs: vec![job(0), job(0), job(1)],
        };
        let bytes = serde_json::to_vec(&bundle).unwrap();
        let decoded: JobMessage = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(decoded.clone(), JobMessage::Bundle(bundle.clone()));
        assert_eq!(decoded.jobs(), bundle.jobs);
        assert!(serde_json::from_slice::<JobMessage>(b"{\"jobs\":7}").is_err());
        let mut partial = serde_json::to_value(one).unwrap();
        partial.as_object_mut().unwrap().remove("generation");
        for refused in [partial, serde_json::json!({}), serde_json::json!([1])] {
            assert!(
                serde_json::from_value::<JobMessage>(refused.clone()).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_bundles_message_id_is_its_own() {
        let jobs = vec![job(0), job(0)];
        let bundle = JobBundle { jobs: jobs.clone() };
        assert!(bundle.message_id().starts_with("bundle-msg_"));
        assert_ne!(bundle.message_id(), jobs[0].message_id());
        let shorter = JobBundle {
            jobs: jobs[..1].to_vec(),
        };
        assert_ne!(bundle.message_id(), shorter.message_id());
    }

    #[test]
    fn message_ids_differ_by_generation() {
        let job = DeliveryJob {
            delivery_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            webhook_id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            generation: 0,
        };
        let retried = DeliveryJob {
            generation: 1,
            ..job
        };
        assert!(job.message_id().starts_with("msg_"));
        assert_ne!(job.message_id(), retried.message_id());
    }
}

/// Why a delivery was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadReason {
    /// The receiver answered a status that retrying cannot fix (4xx but 408/429).
    Permanent,
    /// Every scheduled attempt failed.
    Exhausted,
    /// The receiver answered 410 Gone; the webhook was disabled.
    Gone,
    /// The webhook was disabled before this delivery could be attempted.
    WebhookDisabled,
    /// The webhook was deleted before this delivery could be attempted.
    WebhookDeleted,
    /// JetStream gave up on the job: its dispatcher crashed or timed out on it every time.
    RedeliveryLimit,
}

impl DeadReason {
    pub const ALL: [DeadReason; 6] = [
        DeadReason::Permanent,
        DeadReason::Exhausted,
        DeadReason::Gone,
        DeadReason::WebhookDisabled,
        DeadReason::WebhookDeleted,
        DeadReason::RedeliveryLimit,
    ];

    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadReason::Permanent => "permanent",
            DeadReason::Exhausted => "exhausted",
            DeadReason::Gone => "gone",
            DeadReason::WebhookDisabled => "webhook_disabled",
            DeadReason::WebhookDeleted => "webhook_deleted",
            DeadReason::RedeliveryLimit => "redelivery_limit",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// The dispatcher's hand-off to the DLQ service, published on the dead-letters stream with
/// message id `dead-<delivery>-<generation>` so that repeats are stored once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub job: DeliveryJob,
    pub reason: DeadReason,
    pub last_error: String,
    pub last_status_code: Option<u16>,
    pub attempts: i32,
    pub failed_at: chrono::DateTime<chrono::Utc>,
}

impl DeadLetter {
    pub fn message_id(&self) -> String {
        format!("dead-{}", self.job.message_id())
    }
}
