//! Reading Pulumi's output: with `--json`, the engine event stream of `up` and
//! `refresh` (one JSON object per line) and the digest `preview` prints at the end;
//! without, the diff display of a preview a person reviews, kept as printed. Each
//! is turned into lines for the task log, and into what the run report needs: the
//! change summary, the resources that failed, the errors.
//!
//! Pulumi blinds secret values in both shapes (`[secret]`); the prelude's config is
//! dropped all the same, and every line still passes the run's redactor.

use serde_json::Value;

use super::summary::ChangeSummary;

/// What the output of one operation said.
#[derive(Debug, Clone, Default)]
pub struct OperationLog {
    pub summary: Option<ChangeSummary>,
    /// Resources whose operation failed: `type name`.
    pub failed: Vec<String>,
    /// Error diagnostics, in order.
    pub errors: Vec<String>,
    /// Lines written to stderr (the CLI's own errors).
    pub stderr: Vec<String>,
    /// The human display, as printed (a reviewed preview's diff).
    pub shown: Vec<String>,
    /// Whether the human display reached its `Resources:` summary.
    pub in_summary: bool,
}

impl OperationLog {
    /// Reads one stdout line of `up --json` / `refresh --json`; returns what the log
    /// shows for it (`None`: nothing). Lines that are not events pass as written.
    pub fn event_line(&mut self, line: &str) -> Option<String> {
        let Ok(Value::Object(event)) = serde_json::from_str::<Value>(line) else {
            return (!line.trim().is_empty()).then(|| line.to_owned());
        };
        if let Some(e) = event.get("diagnosticEvent") {
            return self.diagnostic(e);
        }
        if let Some(e) = event.get("stdoutEvent") {
            return text(e, "message").map(|m| m.trim_end().to_owned());
        }
        if let Some(e) = event.get("resourcePreEvent") {
            return step_line(e, Phase::Started);
        }
        if let Some(e) = event.get("resOutputsEvent") {
            return step_line(e, Phase::Done);
        }
        if let Some(e) = event.get("resOpFailedEvent") {
            let line = step_line(e, Phase::Failed);
            if let Some(meta) = e.get("metadata") {
                let (ty, name) = urn_parts(text(meta, "urn").unwrap_or_default());
                self.failed.push(format!("{ty} {name}"));
            }
            return line;
        }
        if let Some(e) = event.get("summaryEvent") {
            let preview = e.get("isPreview").and_then(Value::as_bool).unwrap_or(false);
            let summary =
                ChangeSummary::from_json(e.get("resourceChanges").unwrap_or(&Value::Null), preview);
            let line = format!("resources: {summary}");
            self.summary = Some(summary);
            return Some(line);
        }
        if let Some(e) = event.get("policyEvent") {
            return Some(format!(
                "policy {} {}: {}",
                text(e, "enforcementLevel").unwrap_or("?"),
                text(e, "policyName").unwrap_or("?"),
                text(e, "message").unwrap_or_default().trim_end()
            ));
        }
        // preludeEvent (holds config), cancelEvent, progress and the rest: nothing
        // a reader of the log needs.
        None
    }

    fn diagnostic(&mut self, e: &Value) -> Option<String> {
        if e.get("ephemeral").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        let message = text(e, "message").unwrap_or_default().trim_end().to_owned();
        let severity = text(e, "severity").unwrap_or("info");
        let urn = text(e, "urn").filter(|u| !u.is_empty());
        let about = urn
            .map(|u| {
                let (ty, name) = urn_parts(u);
                format!("{ty} {name}: ")
            })
            .unwrap_or_default();
        match severity {
            "error" => {
                self.errors.push(format!("{about}{message}"));
                Some(format!("error: {about}{message}"))
            }
            "warning" => Some(format!("warning: {about}{message}")),
            _ => Some(format!("{about}{message}")),
        }
    }

    /// Reads one stdout line of the human display (`preview --diff` without
    /// `--json`): kept as printed, and the `Resources:` block read for the change
    /// summary (pulumi/pulumi `pkg/backend/display/diff.go` `renderSummaryEvent`:
    /// `+ 22 to create`, `- 1 to delete`, `2 changes. 1 unchanged`).
    pub fn human_line(&mut self, line: &str) -> Option<String> {
        self.shown.push(line.to_owned());
        let trimmed = line.trim();
        if trimmed == "Resources:" {
            self.in_summary = true;
            self.summary = Some(ChangeSummary {
                preview: true,
                ..ChangeSummary::default()
            });
        } else if self.in_summary
            && let Some(summary) = &mut self.summary
        {
            for piece in trimmed.split(". ") {
                let words: Vec<&str> = piece
                    .split_whitespace()
                    .skip_while(|w| w.parse::<u64>().is_err())
                    .collect();
                let (Some(n), Some(op)) = (
                    words.first().and_then(|w| w.parse::<u64>().ok()),
                    words.last(),
                ) else {
                    continue;
                };
                let op = match *op {
                    "unchanged" => "same",
                    "change" | "changes" => continue,
                    other => other,
                };
                *summary.counts.entry(op.to_owned()).or_insert(0) += n;
            }
            if trimmed.is_empty() {
                self.in_summary = false;
            }
        }
        Some(line.to_owned())
    }

    /// Reads the digest `preview --json` prints (the whole of stdout); returns the log
    /// lines: each step that changes something, then the diagnostics.
    pub fn digest(&mut self, stdout: &str) -> Result<Vec<String>, String> {
        let start = stdout.find('{').ok_or("no JSON object in the output")?;
        let digest: Value =
            serde_json::from_str(&stdout[start..]).map_err(|e| format!("invalid JSON: {e}"))?;
        let mut lines = Vec::new();
        for step in digest
            .get("steps")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let op = text(step, "op").unwrap_or("?");
            if op == "same" {
                continue;
            }
            let (ty, name) = urn_parts(text(step, "urn").unwrap_or_default());
            let mut line = format!("{} {op} {ty} {name}", sign(op));
            let diffs: Vec<&str> = step
                .get("detailedDiff")
                .and_then(Value::as_object)
                .map(|m| m.keys().map(String::as_str).collect())
                .or_else(|| {
                    step.get("diffReasons")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                })
                .unwrap_or_default();
            if !diffs.is_empty() {
                line.push_str(&format!(" (changes: {})", diffs.join(", ")));
            }
            lines.push(line);
        }
        for d in digest
            .get("diagnostics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(line) = self.diagnostic(d) {
                lines.push(line);
            }
        }
        let summary =
            ChangeSummary::from_json(digest.get("changeSummary").unwrap_or(&Value::Null), true);
        lines.push(format!("resources: {summary}"));
        self.summary = Some(summary);
        Ok(lines)
    }
}

#[derive(Clone, Copy)]
enum Phase {
    Started,
    Done,
    Failed,
}

fn step_line(e: &Value, phase: Phase) -> Option<String> {
    if e.get("planning").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let meta = e.get("metadata")?;
    let op = text(meta, "op").unwrap_or("?");
    if op == "same" && !matches!(phase, Phase::Failed) {
        return None;
    }
    let (ty, name) = urn_parts(text(meta, "urn").unwrap_or_default());
    let verb = match phase {
        Phase::Started => format!("{op} started"),
        Phase::Done => format!("{op} done"),
        Phase::Failed => format!("{op} FAILED"),
    };
    Some(format!("{} {verb}: {ty} {name}", sign(op)))
}

fn sign(op: &str) -> &'static str {
    match op {
        "create" | "create-replacement" | "import" => "+",
        "update" | "refresh" => "~",
        "delete" | "delete-replaced" | "discard" => "-",
        "replace" => "+-",
        "read" => ">",
        _ => "*",
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `(type, name)` of `urn:pulumi:<stack>::<project>::<[parent$]type>::<name>`.
pub fn urn_parts(urn: &str) -> (&str, &str) {
    let mut parts = urn.splitn(4, "::");
    let _stack = parts.next();
    let _project = parts.next();
    match (parts.next(), parts.next()) {
        (Some(ty), Some(name)) => (ty.rsplit('$').next().unwrap_or(ty), name),
        _ => ("", urn),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const URN: &str = "urn:pulumi:dev::cluster::kubernetes:helm.sh/v4:Chart$kubernetes:apps/v1:Deployment::flux-system/source-controller";

    #[test]
    fn splits_urns() {
        assert_eq!(
            urn_parts(URN),
            (
                "kubernetes:apps/v1:Deployment",
                "flux-system/source-controller"
            )
        );
        assert_eq!(urn_parts("garbage"), ("", "garbage"));
    }

    #[test]
    fn reads_an_update_event_stream() {
        let mut log = OperationLog::default();
        let lines = [
            r#"{"sequence":1,"timestamp":1,"preludeEvent":{"config":{"cluster:github.token":"[secret]"}}}"#.to_owned(),
            format!(r#"{{"sequence":2,"timestamp":1,"resourcePreEvent":{{"metadata":{{"op":"create","urn":"{URN}","type":"t"}}}}}}"#),
            format!(r#"{{"sequence":3,"timestamp":1,"diagnosticEvent":{{"urn":"{URN}","message":"image pull failed\n","color":"never","severity":"error"}}}}"#),
            format!(r#"{{"sequence":4,"timestamp":1,"resOpFailedEvent":{{"metadata":{{"op":"create","urn":"{URN}","type":"t"}},"status":1,"steps":0}}}}"#),
            r#"{"sequence":5,"timestamp":1,"diagnosticEvent":{"message":"hello\n","color":"never","severity":"info"}}"#.to_owned(),
            r#"{"sequence":6,"timestamp":1,"summaryEvent":{"maybeCorrupt":false,"durationSeconds":3,"resourceChanges":{"create":2,"same":1},"PolicyPacks":{}}}"#.to_owned(),
            r#"{"sequence":7,"timestamp":1,"cancelEvent":{}}"#.to_owned(),
            "not json at all".to_owned(),
        ];
        let shown: Vec<String> = lines.iter().filter_map(|l| log.event_line(l)).collect();
        assert_eq!(
            shown,
            [
                "+ create started: kubernetes:apps/v1:Deployment flux-system/source-controller",
                "error: kubernetes:apps/v1:Deployment flux-system/source-controller: image pull failed",
                "+ create FAILED: kubernetes:apps/v1:Deployment flux-system/source-controller",
                "hello",
                "resources: 2 created, 1 unchanged",
                "not json at all",
            ]
        );
        assert_eq!(
            log.failed,
            ["kubernetes:apps/v1:Deployment flux-system/source-controller"]
        );
        assert_eq!(log.errors.len(), 1);
        assert_eq!(log.summary.unwrap().creates(), 2);
    }

    #[test]
    fn reads_a_preview_digest() {
        let mut log = OperationLog::default();
        let digest = format!(
            r#"{{
  "steps": [
    {{"op": "create", "urn": "{URN}"}},
    {{"op": "same", "urn": "urn:pulumi:dev::cluster::kubernetes:core/v1:Namespace::flux-system"}},
    {{"op": "update", "urn": "urn:pulumi:dev::cluster::kubernetes:core/v1:ConfigMap::x", "detailedDiff": {{"data": {{"diffKind": "update"}}}}}}
  ],
  "diagnostics": [{{"message": "warn me\n", "severity": "warning"}}],
  "changeSummary": {{"create": 1, "update": 1, "same": 1}}
}}"#
        );
        let lines = log.digest(&digest).unwrap();
        assert_eq!(
            lines,
            [
                "+ create kubernetes:apps/v1:Deployment flux-system/source-controller",
                "~ update kubernetes:core/v1:ConfigMap x (changes: data)",
                "warning: warn me",
                "resources: 1 to create, 1 to update, 1 unchanged",
            ]
        );
        assert!(log.digest("oops").is_err());
    }

    #[test]
    fn reads_the_summary_of_a_human_diff() {
        let mut log = OperationLog::default();
        let text = "Previewing update (dev):\n  pulumi:pulumi:Stack: (same)\n    + kubernetes:core/v1:Namespace: (create)\n\
                    Resources:\n    + 22 to create\n    - 1 to delete\n    23 changes. 1 unchanged\n\n\
                    Update plan written to 'p.json'\n";
        for line in text.lines() {
            assert_eq!(log.human_line(line).as_deref(), Some(line));
        }
        let summary = log.summary.unwrap();
        assert_eq!(
            summary.to_string(),
            "22 to create, 1 to delete, 1 unchanged"
        );
        assert_eq!(log.shown.len(), text.lines().count());
    }
}
