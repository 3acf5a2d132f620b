//! The Herald operator: `WebhookTenant` resources (`resource`) reconciled into Herald tenants,
//! their JetStream consumers and quotas. `crdgen` writes the CRD from the Rust type.

pub mod resource;

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
