//! Herald's admin API, as the operator uses it. The operator owns no tables: every change to a
//! tenant goes through these calls, authenticated with the admin token.

use std::time::Duration;

use herald_domain::quotas::QuotaLimits;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::resource::TenantQuotas;

/// A tenant as `GET /admin/tenants/{tenant}` shows it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `active`, `suspended` or `disabled`.
    pub status: String,
    /// The tenant's own delays between attempts; `None` = the platform's schedule.
    #[serde(default)]
    pub retry_schedule: Option<Vec<String>>,
    /// Only in the answer that created the tenant.
    #[serde(default)]
    pub api_key: Option<String>,
}

/// What an update sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TenantChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<Option<Vec<String>>>,
}

impl TenantChange {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `limits` of `GET /quotas/{tenant}`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub struct Limits {
    pub events_per_second: u64,
    pub burst: u64,
    pub max_concurrent_deliveries: u64,
    pub max_dlq_size: u64,
    pub max_payload_bytes: u64,
    pub max_webhooks: u64,
}

/// `usage` of `GET /quotas/{tenant}`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
pub struct Usage {
    /// `None` when Herald could not ask JetStream.
    pub in_flight: Option<i64>,
    pub dlq_size: i64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Quotas {
    pub limits: Limits,
    pub usage: Usage,
}

impl Limits {
    /// Where these limits differ from what the spec asks for, as a partial quotas update;
    /// `None` when nothing differs. A field the spec leaves out asks for the platform's
    /// default (`defaults`), so removing it from the spec undoes the value it set.
    pub fn changes_for(&self, spec: &TenantQuotas, defaults: &QuotaLimits) -> Option<Value> {
        let want = |spec: Option<u64>, default: u64| spec.unwrap_or(default);
        let wanted = [
            (
                "events_per_second",
                want(
                    spec.events_per_second.map(u64::from),
                    defaults.events_per_second.into(),
                ),
                self.events_per_second,
            ),
            (
                "burst",
                want(spec.burst.map(u64::from), defaults.burst.into()),
                self.burst,
            ),
            (
                "max_concurrent_deliveries",
                want(
                    spec.max_concurrent_deliveries.map(u64::from),
                    defaults.max_concurrent_deliveries.into(),
                ),
                self.max_concurrent_deliveries,
            ),
            (
                "max_dlq_size",
                want(spec.max_dlq_size, defaults.max_dlq_size),
                self.max_dlq_size,
            ),
            (
                "max_payload_bytes",
                want(spec.max_payload_bytes, defaults.max_payload_bytes),
                self.max_payload_bytes,
            ),
            (
                "max_webhooks",
                want(
                    spec.max_webhooks.map(u64::from),
                    defaults.max_webhooks.into(),
                ),
                self.max_webhooks,
            ),
        ];
        let changes: serde_json::Map<String, Value> = wanted
            .into_iter()
            .filter(|(_, want, have)| want != have)
            .map(|(name, want, _)| (name.to_owned(), json!(want)))
            .collect();
        (!changes.is_empty()).then_some(Value::Object(changes))
    }
}

/// Why a call to Herald failed.
#[derive(Debug, thiserror::Error)]
pub enum HeraldError {
    /// Herald could not be reached, or answered 5xx: worth retrying as is.
    #[error("Herald's API is unavailable: {0}")]
    Unavailable(String),
    /// Herald refused the request (4xx): the spec or the token needs fixing.
    #[error("Herald refused {what}: {status} {code}: {message}")]
    Refused {
        what: String,
        status: u16,
        code: String,
        message: String,
    },
}

/// A client of Herald's admin API.
#[derive(Clone)]
pub struct HeraldApi {
    http: reqwest::Client,
    base: String,
    admin_token: String,
}

impl HeraldApi {
    pub fn new(base: &str, admin_token: &str) -> Result<Self, HeraldError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(|e| HeraldError::Unavailable(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            admin_token: admin_token.to_owned(),
        })
    }

    /// The tenant, or `None` when Herald has none of that name.
    pub async fn tenant(&self, name: &str) -> Result<Option<Tenant>, HeraldError> {
        let path = format!("/admin/tenants/{name}");
        self.call_opt(Method::GET, &path, None).await
    }

    /// Creates the tenant; its first API key carries `key_label`.
    pub async fn create_tenant(
        &self,
        name: &str,
        display_name: Option<&str>,
        key_label: &str,
    ) -> Result<Tenant, HeraldError> {
        let body =
            json!({ "name": name, "display_name": display_name, "api_key_label": key_label });
        self.call(Method::POST, "/admin/tenants", Some(body)).await
    }

    pub async fn update_tenant(
        &self,
        name: &str,
        change: &TenantChange,
    ) -> Result<Tenant, HeraldError> {
        let body = serde_json::to_value(change).unwrap_or_default();
        let path = format!("/admin/tenants/{name}");
        self.call(Method::PATCH, &path, Some(body)).await
    }

    /// Disables the tenant (its data stays); a tenant Herald does not know is already gone.
    pub async fn disable_tenant(&self, name: &str) -> Result<(), HeraldError> {
        let path = format!("/admin/tenants/{name}");
        self.call_opt::<Value>(Method::DELETE, &path, None)
            .await
            .map(drop)
    }

    /// Issues a new API key, revoking the tenant's earlier keys of the same label.
    pub async fn issue_api_key(&self, name: &str, label: &str) -> Result<String, HeraldError> {
        #[derive(Deserialize)]
        struct Issued {
            api_key: String,
        }
        let path = format!("/admin/tenants/{name}/api-keys");
        let issued: Issued = self
            .call(Method::POST, &path, Some(json!({ "label": label })))
            .await?;
        Ok(issued.api_key)
    }

    pub async fn quotas(&self, name: &str) -> Result<Quotas, HeraldError> {
        self.call(Method::GET, &format!("/quotas/{name}"), None)
            .await
    }

    /// Applies a partial quotas update; answers the limits now in force.
    pub async fn set_quotas(&self, name: &str, changes: Value) -> Result<Limits, HeraldError> {
        let path = format!("/admin/tenants/{name}/quotas");
        let answer: Value = self.call(Method::PUT, &path, Some(changes)).await?;
        let limits = answer.get("limits").cloned().unwrap_or(answer);
        serde_json::from_value(limits)
            .map_err(|e| HeraldError::Unavailable(format!("reading the quotas answer: {e}")))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, HeraldError> {
        self.call_opt(method.clone(), path, body)
            .await?
            .ok_or_else(|| HeraldError::Refused {
                what: format!("{method} {path}"),
                status: 404,
                code: "not_found".into(),
                message: "no such tenant".into(),
            })
    }

    /// Like `call`, with 404 as `None` and an empty 2xx body as JSON null.
    async fn call_opt<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<T>, HeraldError> {
        let what = format!("{method} {path}");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| HeraldError::Unavailable(format!("{what}: {e}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| HeraldError::Unavailable(format!("{what}: reading the answer: {e}")))?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status.is_server_error() {
            return Err(HeraldError::Unavailable(format!("{what}: {status}")));
        }
        if !status.is_success() {
            let error: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let text = |field: &str| error[field].as_str().unwrap_or_default().to_owned();
            return Err(HeraldError::Refused {
                what,
                status: status.as_u16(),
                code: text("error"),
                message: text("message"),
            });
        }
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| HeraldError::Unavailable(format!("{what}: not JSON: {e}")))?
        };
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| HeraldError::Unavailable(format!("{what}: unexpected answer: {e}")))
    }
}
