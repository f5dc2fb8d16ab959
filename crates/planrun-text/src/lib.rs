//! Text helpers shared by planrun's engine and its sandbox crate, one definition of
//! each: durations (one grammar for plans, scenario files and flags, one way of
//! printing them), counted nouns, container image tags, Kubernetes server versions,
//! Kubernetes objects read from YAML manifests, "did you mean" suggestions, shell
//! quoting, long lines cut saying how much, and control characters made visible before
//! text from outside reaches a terminal or a report.
//!
//! A leaf crate: it depends on nothing of planrun, so both the engine and the sandbox
//! (which may not depend on the engine) can use it.

mod duration;
mod escape;
mod image;
mod kube_version;
mod lines;
mod manifests;
mod plural;
mod quote;
mod suggest;

pub use duration::{DURATION_HELP, MAX_DURATION, format_duration, format_rough, parse_duration};
pub use escape::{escape_controls, escape_controls_keep_colours};
pub use image::image_tag;
pub use kube_version::KubeVersion;
pub use lines::{EXCERPT_LINE, cap_line, clip, one_line, size};
pub use manifests::manifest_objects;
pub use plural::plural;
pub use quote::shell_quote;
pub use suggest::did_you_mean;
