//! planrun: run declarative maintenance plans.
