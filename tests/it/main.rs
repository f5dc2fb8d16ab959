//! One integration-test binary (one link step) with a module per area.
mod journal;
