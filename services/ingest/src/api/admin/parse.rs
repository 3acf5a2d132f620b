//! Admin request fields turned into domain values, with the error each bad value answers.

use herald_domain::TenantRetrySchedule;
use herald_domain::tenant::{InvalidRetrySchedule, check_display_name};
use poem_openapi::types::MaybeUndefined;

use super::model::{SettingsChange, TenantPatch};
use crate::error::ApiError;
use crate::store::tenants::TenantSettings;

/// A key label's length, in characters.
const LABEL_CHARS: std::ops::RangeInclusive<usize> = 1..=200;

pub fn display_name(raw: &str) -> Result<(), ApiError> {
    check_display_name(raw).map_err(|why| {
        ApiError::bad_request("invalid_display_name", format!("display_name: {why}"))
    })
}

/// `field` names the label in the request (`label`, `api_key_label`).
pub fn key_label(field: &str, raw: &str) -> Result<(), ApiError> {
    if LABEL_CHARS.contains(&raw.chars().count()) {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "invalid_label",
        format!(
            "{field}: {} to {} characters",
            LABEL_CHARS.start(),
            LABEL_CHARS.end()
        ),
    ))
}

pub fn retry_schedule(raw: &[String]) -> Result<TenantRetrySchedule, ApiError> {
    TenantRetrySchedule::parse(raw).map_err(|error| {
        // Element errors read `[i]: ...`, so they follow the field name directly.
        let message = match error {
            InvalidRetrySchedule::Length(_) => format!("retry_schedule: {error}"),
            _ => format!("retry_schedule{error}"),
        };
        ApiError::bad_request("invalid_retry_schedule", message)
    })
}

impl TenantPatch {
    /// Checks every field before anything is written.
    pub fn parse(self) -> Result<SettingsChange, ApiError> {
        let display_name = match self.display_name {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(name) => {
                display_name(&name)?;
                Some(Some(name))
            }
        };
        let retry_schedule = match self.retry_schedule {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(delays) => Some(Some(retry_schedule(&delays)?)),
        };
        Ok(SettingsChange {
            display_name,
            status: self.status.map(Into::into),
            retry_schedule,
        })
    }
}

impl SettingsChange {
    pub fn apply(self, mut settings: TenantSettings) -> TenantSettings {
        if let Some(name) = self.display_name {
            settings.display_name = name;
        }
        if let Some(status) = self.status {
            settings.status = status;
        }
        if let Some(schedule) = self.retry_schedule {
            settings.retry_schedule = schedule;
        }
        settings
    }
}
