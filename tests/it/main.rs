//! One integration-test binary (one link step) with a module per area.
#![allow(clippy::unwrap_used)]

mod sandbox;
mod sandbox_kubectl;
