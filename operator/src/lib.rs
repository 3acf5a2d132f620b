//! The Herald operator: `WebhookTenant` resources (`resource`) reconciled into Herald tenants,
//! their JetStream consumers and quotas (`controller`, `apply`, `cleanup`), through Herald's
//! admin API (`herald_api`) and JetStream (`consumer`); one resource per tenant (`claims`). One replica leads (`leader`);
//! `/healthz`, `/readyz` and `/metrics` are in `http`. `crdgen` writes the CRD from the type.

pub mod apply;
pub mod claims;
pub mod cleanup;
pub mod conditions;
pub mod consumer;
pub mod controller;
pub mod error;
pub mod herald_api;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod resource;
pub mod secret;
pub mod settings;

/// The CRD file's text: a header saying where it comes from, then the YAML.
pub fn crd_yaml(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> Result<String, serde_yaml::Error> {
    Ok(format!(
        "# Generated from operator/src/resource.rs by `cargo run -p herald-operator --bin crdgen`.\n\
         # Do not edit: change the Rust type and regenerate.\n{}",
        serde_yaml::to_string(crd)?
    ))
}
