//! The REST API: one module per resource, combined into one OpenAPI service.

mod admin;
mod audit;
mod deliveries;
mod dlq;
mod event_types;
mod events;
mod quotas;
mod tenant;
mod webhooks;

use poem_openapi::{OpenApiService, Tags};

#[derive(Tags)]
pub enum ApiTags {
    /// Platform administration: tenants, their lifecycle, API keys and quotas (admin token).
    Admin,
    /// The tenant's catalog of event types, with optional JSON Schemas.
    EventTypes,
    /// Webhook endpoints that receive the tenant's events.
    Webhooks,
    /// Events emitted by the tenant, and their deliveries.
    Events,
    /// Dead letters: deliveries that failed for good, and retrying them.
    Dlq,
    /// The key's tenant, its quotas and current usage.
    Quotas,
    /// Who changed what: the audit log.
    Audit,
}

pub type Apis = (
    admin::AdminApi,
    admin::TenantLifecycleApi,
    admin::ApiKeysApi,
    event_types::EventTypesApi,
    webhooks::WebhooksApi,
    webhooks::WebhookSecretsApi,
    events::EventsApi,
    events::TestEventsApi,
    deliveries::DeliveriesApi,
    dlq::DlqApi,
    quotas::QuotasApi,
    tenant::CurrentTenantApi,
    audit::AuditApi,
);

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            admin::AdminApi,
            admin::TenantLifecycleApi,
            admin::ApiKeysApi,
            event_types::EventTypesApi,
            webhooks::WebhooksApi,
            webhooks::WebhookSecretsApi,
            events::EventsApi,
            events::TestEventsApi,
            deliveries::DeliveriesApi,
            dlq::DlqApi,
            quotas::QuotasApi,
            tenant::CurrentTenantApi,
            audit::AuditApi,
        ),
        "Herald",
        env!("CARGO_PKG_VERSION"),
    )
    .description(include_str!("../../../../docs/api-intro.md"))
}
