//! One integration-test binary (one link step) with a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod architecture;
mod engine;
mod flux_sim;
mod journal;
mod kube_tasks;
mod plan_diagnostics;
mod plan_files;
mod pulumi;
mod pulumi_review;
mod pulumi_sim;
mod rehearsal;
mod sandbox;
mod sandbox_kubectl;
mod sandbox_namespace;
mod support;
mod vocabulary;
