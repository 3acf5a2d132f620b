//! Status conditions, by Kubernetes conventions: a condition's `lastTransitionTime` moves only
//! when its status changes.

use crate::resource::Condition;

pub const READY: &str = "Ready";
pub const CONSUMER_READY: &str = "ConsumerReady";
pub const QUOTAS_APPLIED: &str = "QuotasApplied";

/// A condition to report, before its transition time is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Wanted {
    pub fn new(type_: &'static str, status: bool, reason: &'static str, message: String) -> Self {
        Self {
            type_,
            status,
            reason,
            message,
        }
    }
}

/// The conditions to write: `wanted` in order, each keeping its earlier transition time when
/// its status is unchanged, and any condition not in `wanted` kept as it was.
pub fn merge(
    existing: &[Condition],
    wanted: &[Wanted],
    generation: Option<i64>,
    now: &str,
) -> Vec<Condition> {
    let mut merged: Vec<Condition> = wanted
        .iter()
        .map(|want| {
            let status = if want.status { "True" } else { "False" };
            let since = existing
                .iter()
                .find(|c| c.type_ == want.type_ && c.status == status)
                .map_or_else(|| now.to_owned(), |c| c.last_transition_time.clone());
            Condition {
                type_: want.type_.to_owned(),
                status: status.to_owned(),
                reason: want.reason.to_owned(),
                message: want.message.clone(),
                last_transition_time: since,
                observed_generation: generation,
            }
        })
        .collect();
    for other in existing {
        if !merged.iter().any(|c| c.type_ == other.type_) {
            merged.push(other.clone());
        }
    }
    merged
}

/// `Ready` from the two it rests on: true when both are, else false with the first failure's
/// reason.
pub fn ready(parts: &[Wanted], suspended: bool) -> Wanted {
    match parts.iter().find(|c| !c.status) {
        Some(failed) => Wanted::new(READY, false, failed.reason, failed.message.clone()),
        None if suspended => Wanted::new(
            READY,
            true,
            "Suspended",
            "the tenant is suspended: events are accepted and queued, nothing is delivered".into(),
        ),
        None => Wanted::new(
            READY,
            true,
            "Reconciled",
            "tenant, quotas and consumer in place".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(type_: &str, status: &str, at: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: "Before".into(),
            message: String::new(),
            last_transition_time: at.into(),
            observed_generation: Some(1),
        }
    }

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let before = [
            existing(READY, "True", "2026-01-01T00:00:00Z"),
            existing(QUOTAS_APPLIED, "False", "2026-01-01T00:00:00Z"),
            existing("Custom", "True", "2025-01-01T00:00:00Z"),
        ];
        let wanted = [
            Wanted::new(READY, true, "Reconciled", "ok".into()),
            Wanted::new(QUOTAS_APPLIED, true, "Applied", "ok".into()),
        ];
        let merged = merge(&before, &wanted, Some(2), "2026-02-02T00:00:00Z");
        assert_eq!(merged[0].last_transition_time, "2026-01-01T00:00:00Z");
        assert_eq!(merged[0].reason, "Reconciled");
        assert_eq!(merged[1].last_transition_time, "2026-02-02T00:00:00Z");
        assert_eq!(merged[1].status, "True");
        assert_eq!(merged[1].observed_generation, Some(2));
        assert_eq!(merged[2].type_, "Custom", "conditions of others are kept");
    }

    #[test]
    fn ready_takes_the_first_failure() {
        let parts = [
            Wanted::new(QUOTAS_APPLIED, true, "Applied", String::new()),
            Wanted::new(CONSUMER_READY, false, "NatsUnavailable", "down".into()),
        ];
        let ready = ready(&parts, false);
        assert!(!ready.status);
        assert_eq!(
            (ready.reason, ready.message.as_str()),
            ("NatsUnavailable", "down")
        );
        let all_true = [Wanted::new(QUOTAS_APPLIED, true, "Applied", String::new())];
        assert_eq!(super::ready(&all_true, true).reason, "Suspended");
        assert_eq!(super::ready(&all_true, false).reason, "Reconciled");
    }
}
