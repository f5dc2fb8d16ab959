//! What the simulated CLI prints: the human display (the diff view with `--diff`,
//! see `diff.rs`), or with `--json` the real machine shapes: a stream of engine
//! events (one JSON object per line) for `up` and `refresh`, one preview digest
//! object at the end for `preview` (pulumi/pulumi `pkg/backend/display/json.go`,
//! `jsonmessage.go`).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use super::diff;
use super::steps::Step;

/// The display of one operation.
pub struct Out {
    json: bool,
    /// `--diff`: the diff view.
    diff: bool,
    kind: String,
    stack: String,
    project: String,
    sequence: u64,
    /// For the preview digest: steps and diagnostics seen so far.
    steps: Vec<Value>,
    diagnostics: Vec<Value>,
    config: BTreeMap<String, String>,
}

impl Out {
    pub fn new(json: bool, diff: bool, kind: &str, stack: &str, project: &str) -> Self {
        Self {
            json,
            diff,
            kind: kind.to_owned(),
            stack: stack.to_owned(),
            project: project.to_owned(),
            sequence: 0,
            steps: Vec::new(),
            diagnostics: Vec::new(),
            config: BTreeMap::new(),
        }
    }

    /// `preview --json` prints one digest at the end instead of events.
    fn digest_mode(&self) -> bool {
        self.json && self.kind == "preview"
    }

    fn urn(&self, type_token: &str, name: &str) -> String {
        super::state::urn(&self.stack, &self.project, type_token, name)
    }

    fn event(&mut self, key: &str, body: Value) {
        self.sequence += 1;
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut event = json!({ "sequence": self.sequence, "timestamp": timestamp });
        event[key] = body;
        println!("{event}");
    }

    /// The start: the config (secrets blinded) and the header.
    pub fn prelude(&mut self, config: BTreeMap<String, String>) {
        self.config = config;
        if self.digest_mode() {
            return;
        }
        if self.json {
            let config = json!(self.config);
            self.event("preludeEvent", json!({ "config": config }));
        } else {
            let verb = match self.kind.as_str() {
                "preview" => "Previewing update",
                "up" => "Updating",
                _ => "Refreshing",
            };
            println!("{verb} ({}):", self.stack);
        }
    }

    /// A line the program printed.
    pub fn program_line(&mut self, line: &str) {
        self.diagnostic(None, line, "info");
    }

    /// An error diagnostic.
    pub fn error(&mut self, urn: Option<&str>, message: &str) {
        self.diagnostic(urn, message, "error");
    }

    fn diagnostic(&mut self, urn: Option<&str>, message: &str, severity: &str) {
        let prefix = if severity == "error" { "error: " } else { "" };
        if self.digest_mode() {
            self.diagnostics.push(json!({
                "urn": urn.unwrap_or_default(),
                "prefix": prefix,
                "message": format!("{message}\n"),
                "severity": severity,
            }));
        } else if self.json {
            let mut body = json!({
                "prefix": prefix,
                "message": format!("{message}\n"),
                "color": "never",
                "severity": severity,
            });
            if let Some(urn) = urn {
                body["urn"] = urn.into();
            }
            self.event("diagnosticEvent", body);
        } else {
            // The display writes engine diagnostics to stderr, prefix then message
            // (pulumi/pulumi pkg/backend/display/diff.go `ShowDiffEvents`,
            // `renderDiffDiagEvent`).
            let prefix = if severity == "warning" {
                "warning: "
            } else {
                prefix
            };
            eprintln!("{prefix}{message}");
        }
    }

    /// A warning (pending operations left by an interrupted update).
    pub fn warning(&mut self, message: &str) {
        self.diagnostic(None, message, "warning");
    }

    fn metadata(&self, step: &Step) -> Value {
        let urn = step.urn.clone();
        json!({
            "op": step.op.as_str(),
            "urn": urn,
            "type": step.type_token,
            "old": null,
            "new": { "type": step.type_token, "urn": urn, "id": "", "parent": "", "inputs": {}, "outputs": {}, "provider": "" },
            "detailedDiff": null,
            "provider": "",
        })
    }

    /// A step that was (or, in a preview, would be) carried out.
    pub fn step(&mut self, step: &Step) {
        if self.digest_mode() {
            let urn = step.urn.clone();
            self.steps.push(json!({
                "op": step.op.as_str(),
                "urn": urn,
                "provider": "",
                "newState": { "type": step.type_token, "urn": urn, "custom": true },
            }));
        } else if self.json {
            let metadata = self.metadata(step);
            let planning = self.kind == "preview";
            self.event(
                "resourcePreEvent",
                json!({ "metadata": metadata, "planning": planning }),
            );
            self.event(
                "resOutputsEvent",
                json!({ "metadata": metadata, "planning": planning }),
            );
        } else if self.diff {
            print!("{}", diff::render_step(step));
        } else if !step.is_stack() {
            let (sign, past) = symbol(step.op.as_str());
            let verb = if self.kind == "preview" {
                step.op.as_str()
            } else {
                past
            };
            println!("    {sign}  {}  {}  {verb}", step.type_token, step.name);
        }
    }

    /// A resource whose operation failed.
    pub fn failed(&mut self, op: &str, type_token: &str, name: &str, message: &str) {
        let urn = self.urn(type_token, name);
        self.error(Some(&urn), message);
        if self.digest_mode() {
            return;
        }
        if self.json {
            let metadata = json!({ "op": op, "urn": urn, "type": type_token, "provider": "" });
            self.event(
                "resOpFailedEvent",
                json!({ "metadata": metadata, "status": 1, "steps": 0 }),
            );
        } else {
            let (sign, _) = symbol(op);
            println!(
                "    {sign}  {type_token}  {name}  **{}ing failed**     1 error",
                op.trim_end_matches('e')
            );
        }
    }

    /// The change summary and duration.
    pub fn summary(&mut self, changes: &BTreeMap<String, u64>, elapsed: Duration) {
        if self.digest_mode() {
            let digest = json!({
                "config": self.config,
                "steps": self.steps,
                "diagnostics": self.diagnostics,
                "duration": u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
                "changeSummary": changes,
            });
            let text = serde_json::to_string_pretty(&digest).unwrap_or_default();
            println!("{text}");
        } else if self.json {
            let preview = self.kind == "preview";
            self.event(
                "summaryEvent",
                json!({
                    "maybeCorrupt": false,
                    "durationSeconds": elapsed.as_secs(),
                    "resourceChanges": changes,
                    "PolicyPacks": {},
                    "isPreview": preview,
                }),
            );
            self.event("cancelEvent", json!({}));
        } else {
            let preview = self.kind == "preview";
            print!(
                "{}",
                diff::render_summary(changes, preview, elapsed.as_secs().max(1))
            );
        }
        let _ = std::io::stdout().flush();
    }

    /// After a failure, the human display ends with a line saying so.
    pub fn failed_footer(&mut self) {
        if !self.json {
            let what = if self.kind == "preview" {
                "preview"
            } else {
                "update"
            };
            eprintln!("error: {what} failed");
        }
    }

    /// The first SIGINT.
    pub fn interrupted(&mut self) {
        println!(
            "^C received; cancelling. If you would like to terminate immediately, press ^C again."
        );
        let _ = std::io::stdout().flush();
    }

    /// The cancellation finished.
    pub fn canceled(&mut self) {
        if self.json && !self.digest_mode() {
            self.event("cancelEvent", json!({}));
        }
        eprintln!("error: update canceled");
    }
}

/// The display's sign and past participle for an operation.
fn symbol(op: &str) -> (&'static str, &'static str) {
    match op {
        "create" => ("+", "created"),
        "update" => ("~", "updated"),
        "delete" => ("-", "deleted"),
        "replace" => ("+-", "replaced"),
        "same" => (" ", "unchanged"),
        "refresh" => ("~", "refreshed"),
        "read" => (">", "read"),
        _ => ("*", "done"),
    }
}
