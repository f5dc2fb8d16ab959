//! `notify`: post a message to a webhook.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Posts `message` as JSON (Slack-compatible `{"text": ...}` unless `template`
/// says otherwise) to a webhook whose URL comes from a secret variable; each
/// attempt tries 4 times with backoff (1s, 2s, 4s). Not delivered, it fails the run
/// only with `required = true`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawNotifyTask {
    /// The webhook URL, from a secret variable (masked in every output): url =
    /// "{{ slack_webhook }}".
    pub url: String,
    /// The message.
    pub message: String,
    /// The JSON body, with ${text} (the message), ${plan}, ${run_id}, ${task} and
    /// ${event} ("task") replaced (JSON-escaped); default {"text": "${text}"}.
    #[serde(default)]
    pub template: Option<String>,
    /// A notification not delivered fails the task, and so the run (default false:
    /// the task then fails as allowed, and the run goes on).
    #[serde(default)]
    pub required: bool,
}

/// The `notify` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "notify",
    summary: "post a message to a webhook (Slack-compatible JSON), the URL from a secret variable",
    selection: false,
    kubernetes: false,
    waits: false,
    typical: Duration::from_secs(1),
    schema: schema_of::<RawNotifyTask>,
    example_id: "announce-window",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "notify",
        "url": "{{ slack_webhook }}",
        "message": "Flux rebuild on oceanid: the window starts now"
    })
}
