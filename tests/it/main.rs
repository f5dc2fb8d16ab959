//! One integration-test binary (one link step) with a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod architecture;
mod child_kubeconfig;
mod engine;
mod flux_sim;
mod journal;
mod kube_apply;
mod kube_finalizers;
mod kube_harness;
mod kube_patch;
mod kube_tasks;
mod plan_diagnostics;
mod plan_files;
mod pulumi;
mod pulumi_review;
mod pulumi_sim;
mod realcluster;
mod rehearsal;
mod sandbox;
mod sandbox_controllers;
mod sandbox_kubectl;
mod sandbox_namespace;
mod support;
mod vocabulary;
