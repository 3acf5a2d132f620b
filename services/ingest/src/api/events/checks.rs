//! What `POST /events` checks before storing: the tenant's quotas, the event type and its
//! schema, and what PostgreSQL cannot store.

use std::sync::Arc;

use herald_domain::{EventTypeName, QuotaLimits};
use uuid::Uuid;

use super::{DLQ_FULL_RETRY_AFTER, EventIn, EventsApi, MAX_SCHEMA_ERRORS};
use crate::auth::Tenant;
use crate::error::ApiError;
use crate::lookups::KnownType;
use crate::rate_limit::Admission;
use crate::state::AppState;
use crate::store;

/// Where in `value` a string (or an object key) holds a NUL character, which PostgreSQL's
/// `jsonb` cannot store.
pub(super) fn nul_character(value: &serde_json::Value, path: &str) -> Option<String> {
    match value {
        serde_json::Value::String(text) => text.contains('\0').then(|| path.to_owned()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_character(item, &format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(name, field)| {
            let at = format!("{path}.{name}");
            if name.contains('\0') {
                return Some(at);
            }
            nul_character(field, &at)
        }),
        _ => None,
    }
}

impl EventsApi {
    /// Refuses types outside the catalog and payloads that break the type's schema.
    pub(super) async fn check_type_and_payload(
        state: &AppState,
        tenant: Uuid,
        input: &EventIn,
    ) -> Result<(), ApiError> {
        if !input.payload.is_object() {
            return Err(ApiError::bad_request(
                "invalid_payload",
                "payload: must be a JSON object",
            ));
        }
        let event_type = Self::known_type(state, tenant, &input.event_type).await?;
        let Some(validator) = &event_type.validator else {
            return Ok(());
        };
        let errors: Vec<String> = validator
            .iter_errors(&input.payload.to_value())
            .take(MAX_SCHEMA_ERRORS)
            .map(|e| format!("payload{}: {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        Err(ApiError::unprocessable(
            "schema_validation_failed",
            errors.join("; "),
        ))
    }

    /// The registered type named `name`, with its schema compiled (cached: types never
    /// change once registered); 422 listing the allowed ones when there is none.
    async fn known_type(
        state: &AppState,
        tenant: Uuid,
        name: &str,
    ) -> Result<Arc<KnownType>, ApiError> {
        if let Some(known) = state.lookups.event_types.get(tenant, name) {
            return Ok(known);
        }
        let found = match EventTypeName::parse(name) {
            Ok(name) => {
                store::event_types::find_by_name(&state.pool, tenant, name.as_str()).await?
            }
            Err(_) => None,
        };
        let Some(event_type) = found else {
            let allowed = store::event_types::names(&state.pool, tenant, 50).await?;
            let allowed = if allowed.is_empty() {
                "none yet: register types with POST /event-types".to_owned()
            } else {
                allowed.join(", ")
            };
            return Err(ApiError::unprocessable(
                "unknown_event_type",
                format!("type: {name:?} is not registered; allowed: {allowed}"),
            ));
        };
        let validator = event_type
            .schema
            .as_ref()
            .map(jsonschema::validator_for)
            .transpose()
            .map_err(|e| {
                anyhow::anyhow!("stored schema of {} does not compile: {e}", event_type.name)
            })?;
        let known = Arc::new(KnownType {
            name: event_type.name,
            validator,
        });
        state.lookups.event_types.put(tenant, known.clone());
        Ok(known)
    }

    /// The tenant's quotas, read at most once a second per replica (see `lookups`).
    pub(super) async fn quotas(state: &AppState, tenant: Uuid) -> anyhow::Result<QuotaLimits> {
        if let Some(limits) = state.lookups.quotas.get(&tenant) {
            return Ok(limits);
        }
        let limits = store::quotas::get(&state.pool, tenant).await?;
        state.lookups.quotas.put(tenant, limits);
        Ok(limits)
    }

    /// The rate and DLQ-size quotas, in that order: every request counts against the rate.
    pub(super) async fn check_quotas(
        state: &AppState,
        tenant: &Tenant,
        limits: &QuotaLimits,
    ) -> Result<(), ApiError> {
        let id = tenant.id.as_uuid();
        if let Admission::Refused { retry_after } = state.rate_limiter.admit(id, limits).await? {
            state.metrics.rejected(&tenant.name, "events_per_second");
            return Err(ApiError::too_many(
                "rate_limited",
                format!(
                    "over the events_per_second quota: {} per second, bursts of {}",
                    limits.events_per_second, limits.burst
                ),
                retry_after,
            ));
        }
        if state.dlq_gate.is_full(id, limits.max_dlq_size).await? {
            state.metrics.rejected(&tenant.name, "max_dlq_size");
            return Err(ApiError::too_many(
                "dlq_quota_exceeded",
                format!(
                    "the DLQ holds {} dead letters, the max_dlq_size quota: retry or discard \
                     some before sending more events",
                    limits.max_dlq_size
                ),
                DLQ_FULL_RETRY_AFTER,
            ));
        }
        Ok(())
    }
}
