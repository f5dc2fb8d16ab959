//! planrun: run declarative maintenance plans.

pub mod sandbox;
