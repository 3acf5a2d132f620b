//! Herald's Kubernetes manifests: the operator's own files, and every kustomize overlay as
//! `kubectl kustomize` renders it.

mod nats;
mod network;
mod operator;
mod overlays;
mod render;
mod wiring;
