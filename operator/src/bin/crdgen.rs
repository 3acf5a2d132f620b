//! Prints the `WebhookTenant` CRD as YAML: `cargo run -p herald-operator --bin crdgen >
//! k8s/crds/webhooktenant.yaml`. A test fails when the committed file differs.

use herald_operator::resource::WebhookTenant;
use kube::CustomResourceExt;

fn main() -> Result<(), serde_yaml::Error> {
    print!("{}", herald_operator::crd_yaml(&WebhookTenant::crd())?);
    Ok(())
}
