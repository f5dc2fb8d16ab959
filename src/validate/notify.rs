//! Webhooks: the plan's `[notify]` table and the `notify` task type share their
//! checks here. The URL must come from a secret variable (a webhook URL is a
//! credential: masked everywhere), be http(s), and a template must be a JSON body
//! with known placeholders.

use std::collections::BTreeSet;
use std::ops::Range;
use std::time::Duration;

use toml::de::DeValue;

use super::document::{deserialize, value_span};
use super::error::{ErrorKind, PlanError};
use super::task_table::{TaskContext, interpolate_table};
use crate::plan::{RawNotify, RawNotifyOn};
use crate::redact::Redactor;

/// The moments a run is announced at.
pub type NotifyOn = RawNotifyOn;

/// Tries after the first, unless the plan says.
pub const DEFAULT_RETRIES: u32 = 3;
/// Longest one POST may take, unless the plan says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "event", "plan", "context", "run_id", "outcome", "report", "task", "text",
];

/// A webhook to post to.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Secret: pass everything said about it through the plan's redactor.
    pub url: String,
    /// The JSON body with `${placeholder}`s; `None`: `{"text": "${text}"}`.
    pub template: Option<String>,
    pub retries: u32,
    /// Per POST.
    pub timeout: Duration,
}

/// The plan's `[notify]` table.
#[derive(Debug, Clone)]
pub struct Notifications {
    pub webhook: Webhook,
    pub on: BTreeSet<NotifyOn>,
}

/// What is wrong with a webhook's keys: the key, the message, the help.
pub(super) type Problem = (&'static str, String, &'static str);

/// Checks a webhook's keys (already interpolated).
pub(super) fn webhook(
    url: &str,
    template: Option<&str>,
    retries: Option<u32>,
    timeout: Option<&str>,
    redactor: &Redactor,
) -> Result<Webhook, Vec<Problem>> {
    let mut problems = Vec::new();
    if redactor.redact(url) == url {
        problems.push((
            "url",
            "the webhook URL does not come from a secret variable".to_owned(),
            "a webhook URL is a credential: declare it secret and use it, e.g. slack_webhook = { env = \"SLACK_WEBHOOK_URL\", secret = true } and url = \"{{ slack_webhook }}\"",
        ));
    } else if !(url.starts_with("https://") || url.starts_with("http://")) {
        problems.push((
            "url",
            "the webhook URL is not an http(s) URL".to_owned(),
            "give the URL the webhook's service shows, starting https://",
        ));
    }
    if let Some(template) = template
        && let Err(why) = check_template(template)
    {
        problems.push((
            "template",
            format!("the template is not a JSON body: {why}"),
            "write the JSON to post, with placeholders inside strings: '{\"text\": \"${text}\", \"username\": \"planrun\"}'",
        ));
    }
    let timeout = match timeout.map(planrun_text::parse_duration) {
        None => DEFAULT_TIMEOUT,
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            problems.push(("timeout", format!("bad duration: {e}"), "e.g. \"10s\""));
            DEFAULT_TIMEOUT
        }
    };
    if problems.is_empty() {
        Ok(Webhook {
            url: url.to_owned(),
            template: template.map(str::to_owned),
            retries: retries.unwrap_or(DEFAULT_RETRIES),
            timeout,
        })
    } else {
        Err(problems)
    }
}

/// A template is JSON once every placeholder is replaced, and names only known
/// placeholders.
fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err("a `${` is not closed".to_owned());
        };
        let name = &after[..end];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder `${{{name}}}` (known: {})",
                PLACEHOLDERS
                    .iter()
                    .map(|p| format!("${{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &after[end + 1..];
    }
    let mut filled = template.to_owned();
    for p in PLACEHOLDERS {
        filled = filled.replace(&format!("${{{p}}}"), "x");
    }
    serde_json::from_str::<serde_json::Value>(&filled)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The `[notify]` table (`value`, at `key_span`), validated; problems reported.
pub(super) fn notifications(
    value: &toml::Spanned<DeValue<'_>>,
    key_span: Range<usize>,
    cx: &TaskContext<'_>,
    errors: &mut Vec<PlanError>,
) -> Option<Notifications> {
    let DeValue::Table(raw) = value.get_ref() else {
        errors.push(
            PlanError::new(
                ErrorKind::WrongType,
                format!(
                    "`notify` must be a table, not {}",
                    value.get_ref().type_str()
                ),
            )
            .at(value.span(), "wrong type")
            .help("write [notify] with url = \"{{ a_secret_variable }}\" below it"),
        );
        return None;
    };
    let table = interpolate_table(raw, cx, errors, &[]);
    let raw: RawNotify = deserialize(table.clone(), value.span(), key_span.clone())
        .map_err(|e| errors.push(e))
        .ok()?;
    match webhook(
        &raw.url,
        raw.template.as_deref(),
        raw.retries,
        raw.timeout.as_deref(),
        cx.redactor,
    ) {
        Ok(webhook) => Some(Notifications {
            webhook,
            on: raw.on.map_or_else(
                || {
                    [
                        NotifyOn::Start,
                        NotifyOn::Failure,
                        NotifyOn::Interruption,
                        NotifyOn::End,
                    ]
                    .into()
                },
                |on| on.into_iter().collect(),
            ),
        }),
        Err(problems) => {
            for (key, message, help) in problems {
                let span = value_span(&table, key).unwrap_or(key_span.clone());
                errors.push(
                    PlanError::new(ErrorKind::BadValue, format!("[notify]: {message}"))
                        .at(span, "here")
                        .help(help),
                );
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_json_with_known_placeholders() {
        assert!(check_template(r#"{"text": "${text}", "run": "${run_id}"}"#).is_ok());
        assert!(
            check_template(r#"{"text": "${nope}"}"#)
                .unwrap_err()
                .contains("unknown placeholder `${nope}`")
        );
        assert!(check_template(r#"{"text": ${text}}"#).is_err());
    }

    #[test]
    fn the_url_must_be_secret_and_http() {
        let r = Redactor::new();
        r.add("https://hooks.example/T0/B0/xyz".to_owned());
        assert!(webhook("https://hooks.example/T0/B0/xyz", None, None, None, &r).is_ok());
        let plain = webhook("https://hooks.example/open", None, None, None, &r).unwrap_err();
        assert!(plain[0].1.contains("secret variable"), "{plain:?}");
        r.add("hooks.example/T1".to_owned());
        let scheme = webhook("hooks.example/T1", None, None, None, &r).unwrap_err();
        assert!(scheme[0].1.contains("http(s)"), "{scheme:?}");
    }
}
