//! `POST /webhooks/{id}/secret/rotate`: a new signing secret, with the previous ones signing
//! beside it for a grace period so receivers switch without rejecting a delivery.

use chrono::{DateTime, Utc};
use herald_domain::WebhookSecret;
use herald_domain::duration::parse_duration;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use serde_json::json;

use super::{audit, parse_id};
use crate::api::ApiTags;
use crate::auth::TenantAuth;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::secret_rotation;

/// Previous secrets keep signing this long unless the request says otherwise.
const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
const MAX_GRACE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

pub struct WebhookSecretsApi;

/// A rotation; `{}` takes the defaults.
#[derive(Debug, Default, Object, Deserialize)]
#[oai(example, rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct RotateSecretIn {
    /// Your own `whsec_...` secret; Herald generates one when absent.
    pub secret: Option<String>,
    /// How long the previous secrets keep signing beside the new one: `0s` (at once) to
    /// `168h`. Default `24h`.
    pub grace_period: Option<String>,
}

impl Example for RotateSecretIn {
    fn example() -> Self {
        Self {
            secret: None,
            grace_period: Some("24h".into()),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct RotatedSecretOut {
    /// The new secret: it signs from now on, and `X-Webhook-Signature` uses it alone.
    pub secret: String,
    /// When the previous secrets stop signing `webhook-signature`; null if there were none.
    #[oai(nullable)]
    pub previous_expire_at: Option<DateTime<Utc>>,
}

impl Example for RotatedSecretOut {
    fn example() -> Self {
        Self {
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            previous_expire_at: DateTime::from_timestamp(1_790_086_400, 0),
        }
    }
}

#[OpenApi(tag = "ApiTags::Webhooks")]
impl WebhookSecretsApi {
    /// Rotate a webhook's signing secret
    ///
    /// Makes a new secret (or the one given) the webhook's current secret. During the grace
    /// period (default 24 h) every delivery's `webhook-signature` carries a signature by the
    /// new secret and one by each previous secret, space-separated, so a receiver verifying
    /// with either accepts it; afterwards only the new secret signs. The rotation is audited
    /// (without the secret).
    #[oai(
        path = "/webhooks/:id/secret/rotate",
        method = "post",
        operation_id = "rotateWebhookSecret"
    )]
    async fn rotate(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        id: Path<String>,
        body: JsonBody<RotateSecretIn>,
    ) -> ApiResult<Json<RotatedSecretOut>> {
        let webhook = parse_id(&id.0)?;
        let input = body.value;
        let secret = match input.secret.as_deref() {
            Some(raw) => WebhookSecret::parse(raw)
                .map_err(|e| ApiError::bad_request("invalid_secret", format!("secret: {e}")))?,
            None => WebhookSecret::generate(),
        };
        let grace = grace_period(input.grace_period.as_deref())?;

        let mut tx = state.pool.begin().await.map_err(anyhow::Error::new)?;
        let before = secret_rotation::lock(&mut tx, auth.0.id.as_uuid(), webhook)
            .await?
            .ok_or_else(|| ApiError::not_found("webhook"))?;
        let new = secret.expose();
        let mut reused = false;
        for stored in &before {
            reused |= state.open(&stored.secret, webhook)? == new;
        }
        if reused {
            return Err(ApiError::bad_request(
                "invalid_secret",
                "secret: this secret is already one of the webhook's; give a new one",
            ));
        }
        let now = Utc::now();
        let grace = chrono::Duration::from_std(grace).map_err(anyhow::Error::new)?;
        let after = secret_rotation::rotated(&before, state.seal(&new, webhook), grace, now);
        let previous_expire_at = after.iter().skip(1).filter_map(|s| s.expires_at).max();
        secret_rotation::store(&mut tx, webhook, after).await?;
        let details = json!({ "grace_period_s": grace.num_seconds(), "previous_expire_at": previous_expire_at });
        audit(&mut tx, &auth.0, "webhook.secret_rotated", webhook, details).await?;
        tx.commit().await.map_err(anyhow::Error::new)?;
        Ok(Json(RotatedSecretOut {
            secret: new,
            previous_expire_at,
        }))
    }
}

fn grace_period(raw: Option<&str>) -> Result<std::time::Duration, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_GRACE);
    };
    let invalid = |why: String| ApiError::bad_request("invalid_grace_period", why);
    let grace = parse_duration(raw).map_err(|e| invalid(format!("grace_period: {e}")))?;
    if grace > MAX_GRACE {
        return Err(invalid("grace_period: at most 168h".into()));
    }
    Ok(grace)
}
