//! What a notification says, and the JSON body it is posted as.

use crate::validate::Webhook;

/// The fields a template's placeholders name (`${plan}`...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// `start`, `failure`, `interruption`, `end`, or `task` (a `notify` task).
    pub event: String,
    pub plan: String,
    /// The kube context the run acts on, when it has one.
    pub context: String,
    pub run_id: String,
    /// The run's outcome (`end`), else empty.
    pub outcome: String,
    /// Where the run report is (or will be).
    pub report: String,
    /// The task it is about (`failure`, `task`), else empty.
    pub task: String,
    /// The whole message, in words.
    pub text: String,
}

impl Message {
    /// The JSON body: the webhook's template with every placeholder replaced
    /// (JSON-escaped), or `{"text": ...}`.
    pub fn body(&self, webhook: &Webhook) -> String {
        let Some(template) = &webhook.template else {
            return serde_json::json!({ "text": self.text }).to_string();
        };
        let mut out = template.clone();
        for (name, value) in [
            ("event", &self.event),
            ("plan", &self.plan),
            ("context", &self.context),
            ("run_id", &self.run_id),
            ("outcome", &self.outcome),
            ("report", &self.report),
            ("task", &self.task),
            ("text", &self.text),
        ] {
            let escaped = serde_json::to_string(value).unwrap_or_default();
            let inner = &escaped[1..escaped.len().saturating_sub(1).max(1)];
            out = out.replace(&format!("${{{name}}}"), inner);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hook(template: Option<&str>) -> Webhook {
        Webhook {
            url: "http://x".into(),
            template: template.map(str::to_owned),
            retries: 0,
            timeout: std::time::Duration::from_secs(1),
        }
    }

    #[test]
    fn the_body_is_slack_json_or_the_template_with_escaped_values() {
        let m = Message {
            event: "end".into(),
            plan: "p".into(),
            text: "say \"hi\"\nthere".into(),
            ..Message::default()
        };
        let body: serde_json::Value = serde_json::from_str(&m.body(&hook(None))).unwrap();
        assert_eq!(body, serde_json::json!({"text": "say \"hi\"\nthere"}));
        let t = hook(Some(r#"{"event": "${event}", "msg": "[${plan}] ${text}"}"#));
        let body: serde_json::Value = serde_json::from_str(&m.body(&t)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"event": "end", "msg": "[p] say \"hi\"\nthere"})
        );
    }
}
