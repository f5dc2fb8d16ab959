//! The `[notify]` table: announce the window on a webhook.

use schemars::JsonSchema;
use serde::Deserialize;

/// Where and when to announce the run: a JSON POST (Slack-compatible `{"text":
/// ...}` unless `template` says otherwise) at the moments `on` names. A
/// notification that cannot be delivered never fails the run.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawNotify {
    /// The webhook URL, from a secret variable (it is a credential, masked in every
    /// output): url = "{{ slack_webhook }}" with slack_webhook = { env =
    /// "SLACK_WEBHOOK_URL", secret = true }.
    pub url: String,
    /// When to post (default all four): "start" (the run starts or resumes),
    /// "failure" (the first task failure), "interruption" (Ctrl-C, SIGTERM,
    /// SIGHUP), "end" (the run's outcome).
    #[serde(default)]
    pub on: Option<Vec<RawNotifyOn>>,
    /// The JSON body, with ${event}, ${plan}, ${context}, ${run_id}, ${outcome},
    /// ${report}, ${task}, ${text} replaced (JSON-escaped); default
    /// {"text": "${text}"} (Slack, Mattermost, Rocket.Chat, Teams workflows).
    #[serde(default)]
    pub template: Option<String>,
    /// Tries after the first (default 3), waiting 1s, 2s, 4s...
    #[serde(default)]
    pub retries: Option<u32>,
    /// Longest one POST may take (default "10s").
    #[serde(default)]
    pub timeout: Option<String>,
}

/// A moment a run is announced at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RawNotifyOn {
    Start,
    Failure,
    Interruption,
    End,
}

fn example() -> serde_json::Value {
    serde_json::json!({
        "url": "{{ slack_webhook }}",
        "on": ["start", "failure", "interruption", "end"]
    })
}
