//! What can stop a reconciliation, and the reason each is counted and reported under.

use crate::herald_api::HeraldError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Herald(#[from] HeraldError),
    #[error("NATS: {0:#}")]
    Nats(anyhow::Error),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// `spec.tenant` differs from the tenant this resource created: the name is fixed.
    #[error(
        "spec.tenant is {wanted:?} but this resource manages tenant {managed:?}; the tenant name is fixed once created (delete and re-create the resource to move it)"
    )]
    TenantRenamed { managed: String, wanted: String },
    /// An earlier resource manages the tenant this one names.
    #[error(
        "tenant {tenant:?} is managed by WebhookTenant {owner}; this resource changes nothing while that one exists"
    )]
    TenantTaken { tenant: String, owner: String },
    #[error("the resource has no namespace or name")]
    Unnamed,
}

impl Error {
    /// One CamelCase word: the condition reason, the Event reason and the metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Herald(HeraldError::Unavailable(_)) => "HeraldUnavailable",
            Self::Herald(HeraldError::Refused { .. }) => "HeraldRefused",
            Self::Nats(_) => "NatsUnavailable",
            Self::Kube(_) => "KubernetesApiError",
            Self::TenantRenamed { .. } => "TenantRenamed",
            Self::TenantTaken { .. } => "TenantTaken",
            Self::Unnamed => "Unnamed",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
