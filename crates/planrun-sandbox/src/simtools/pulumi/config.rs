//! A stack's configuration as the real CLI stores and shows it (pulumi/pulumi
//! `sdk/go/common/resource/config/` `map.go`, `object.go`, `value.go`;
//! `pkg/cmd/pulumi/config/config.go` `listConfig`, `getConfig`; `io.go`
//! `parseConfigKey`):
//!
//! - a key without a namespace belongs to the project: `github.token` is stored as
//!   `<project>:github.token`;
//! - `config set --path flux.ssh_private_key` stores the object `<project>:flux`
//!   holding `ssh_private_key`; an object holding a secret leaf is itself secret;
//! - `config --json` maps each fully qualified key to `{"value", "objectValue",
//!   "secret"}`, and leaves out both values of a secret entry unless
//!   `--show-secrets`;
//! - `config get KEY` finds a flat key; with `--path` the first segment names the
//!   key and the rest is looked up inside its object.
//!
//! Only `.`-separated paths are modelled (not `names[0]` or `["a.b"]`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::simtools::behaviour::ConfigEntry;

/// A stored value: a string (secret or not) or an object of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text { value: String, secret: bool },
    Object(BTreeMap<String, Node>),
}

impl Node {
    /// Secret itself, or an object with a secret leaf (`object.Secure()`).
    pub fn secure(&self) -> bool {
        match self {
            Node::Text { secret, .. } => *secret,
            Node::Object(map) => map.values().any(Node::secure),
        }
    }

    fn is_object(&self) -> bool {
        matches!(self, Node::Object(_))
    }

    /// The value with secrets in plain text (`reveal`) or as `[secret]` (the
    /// blinding decrypter).
    fn json(&self, reveal: bool) -> Value {
        match self {
            Node::Text { secret: true, .. } if !reveal => json!("[secret]"),
            Node::Text { value, .. } => json!(value),
            Node::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), v.json(reveal)))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// As printed: a string as is, an object as compact JSON.
    fn text(&self, reveal: bool) -> String {
        match self.json(reveal) {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }
}

/// A stack's configuration: fully qualified key -> value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub values: BTreeMap<String, Node>,
    pub project: String,
}

/// `key` with the project's namespace unless it has one.
pub fn qualify(key: &str, project: &str) -> String {
    if key.contains(':') {
        key.to_owned()
    } else {
        format!("{project}:{key}")
    }
}

impl Config {
    /// The configuration the behaviour file describes, each entry stored as
    /// `pulumi config set [--path] [--secret] KEY VALUE` would store it.
    pub fn from_entries(entries: &BTreeMap<String, ConfigEntry>, project: &str) -> Self {
        let mut config = Config {
            values: BTreeMap::new(),
            project: project.to_owned(),
        };
        for (key, entry) in entries {
            config.set(key, &entry.value, entry.secret, entry.path);
        }
        config
    }

    /// `config set [--path] [--secret] key value` (`Map.Set`).
    pub fn set(&mut self, key: &str, value: &str, secret: bool, path: bool) {
        let leaf = Node::Text {
            value: value.to_owned(),
            secret,
        };
        let qualified = qualify(key, &self.project);
        let (namespace, name) = qualified.split_once(':').unwrap_or(("", &qualified));
        if !path || !name.contains('.') {
            self.values.insert(qualified.clone(), leaf);
            return;
        }
        let mut segments = name.split('.');
        let root = format!("{namespace}:{}", segments.next().unwrap_or_default());
        let rest: Vec<&str> = segments.collect();
        let slot = self
            .values
            .entry(root)
            .or_insert_with(|| Node::Object(BTreeMap::new()));
        if !slot.is_object() {
            *slot = Node::Object(BTreeMap::new());
        }
        let mut cur = slot;
        for (i, segment) in rest.iter().enumerate() {
            let Node::Object(map) = cur else { return };
            if i + 1 == rest.len() {
                map.insert((*segment).to_owned(), leaf);
                return;
            }
            let next = map
                .entry((*segment).to_owned())
                .or_insert_with(|| Node::Object(BTreeMap::new()));
            if !next.is_object() {
                *next = Node::Object(BTreeMap::new());
            }
            cur = next;
        }
    }

    /// Whether any value is secret (`Map.HasSecureValue`).
    pub fn has_secure_value(&self) -> bool {
        self.values.values().any(Node::secure)
    }

    /// `config --json [--show-secrets]`.
    pub fn list_json(&self, show_secrets: bool) -> Value {
        let mut out = Map::new();
        for (key, node) in &self.values {
            let mut entry = Map::new();
            let secure = node.secure();
            if !secure || show_secrets {
                entry.insert("value".into(), json!(node.text(true)));
                if node.is_object() {
                    entry.insert("objectValue".into(), node.json(true));
                }
            }
            entry.insert("secret".into(), json!(secure));
            out.insert(key.clone(), Value::Object(entry));
        }
        Value::Object(out)
    }

    /// `config` (the table): `KEY` without the project's namespace, `VALUE` with
    /// secrets blinded unless `show_secrets`.
    pub fn list_table(&self, show_secrets: bool) -> Vec<(String, String)> {
        let prefix = format!("{}:", self.project);
        self.values
            .iter()
            .map(|(key, node)| {
                let shown = key.strip_prefix(&prefix).unwrap_or(key).to_owned();
                (shown, node.text(show_secrets))
            })
            .collect()
    }

    /// `config get [--path] key` (`Map.Get`): the node, if found.
    pub fn get(&self, key: &str, path: bool) -> Option<&Node> {
        let qualified = qualify(key, &self.project);
        if !path {
            return self.values.get(&qualified);
        }
        let (namespace, name) = qualified.split_once(':')?;
        let mut segments = name.split('.');
        let root = format!("{namespace}:{}", segments.next()?);
        segments.try_fold(self.values.get(&root)?, |node, segment| match node {
            Node::Object(map) => map.get(segment),
            Node::Text { .. } => None,
        })
    }

    /// What `config get` prints for a found node: the value (an object as JSON), or
    /// with `--json` the `configValueJSON` shape.
    pub fn get_output(node: &Node, json_out: bool) -> String {
        if !json_out {
            return node.text(true);
        }
        let mut entry = Map::new();
        entry.insert("value".into(), json!(node.text(true)));
        if node.is_object() {
            entry.insert("objectValue".into(), node.json(true));
        }
        entry.insert("secret".into(), json!(node.secure()));
        serde_json::to_string_pretty(&Value::Object(entry)).unwrap_or_default()
    }

    /// The value of a flat key in plain text (a secret decrypted), if set.
    pub fn revealed(&self, key: &str) -> Option<String> {
        self.get(key, false).map(|node| node.text(true))
    }

    /// The config as the prelude and the plan file show it: secrets blinded.
    pub fn blinded(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .map(|(k, v)| {
                let shown = if v.secure() {
                    "[secret]".to_owned()
                } else {
                    v.text(false)
                };
                (k.clone(), shown)
            })
            .collect()
    }

    /// `PrettyKey`: the key without the project's namespace.
    pub fn pretty(&self, key: &str) -> String {
        let qualified = qualify(key, &self.project);
        qualified
            .strip_prefix(&format!("{}:", self.project))
            .map(str::to_owned)
            .unwrap_or(qualified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(entries: &[(&str, &str, bool, bool)]) -> Config {
        let mut c = Config {
            values: BTreeMap::new(),
            project: "cluster".into(),
        };
        for (k, v, secret, path) in entries {
            c.set(k, v, *secret, *path);
        }
        c
    }

    #[test]
    fn a_flat_key_and_a_path_key_are_stored_as_the_cli_stores_them() {
        let c = config(&[
            ("github.token", "ghp_1", true, false),
            ("flux.ssh_private_key", "KEY", true, true),
            ("flux.branch", "main", false, true),
            ("aws:region", "eu", false, false),
        ]);
        assert_eq!(
            c.values.keys().collect::<Vec<_>>(),
            ["aws:region", "cluster:flux", "cluster:github.token"]
        );
        // The object holds a secret leaf: it is secret itself.
        assert!(c.values["cluster:flux"].secure());
        assert!(c.get("flux.ssh_private_key", true).is_some());
        assert!(c.get("flux.ssh_private_key", false).is_none());
        assert!(c.get("github.token", false).is_some());
        assert!(c.get("github.token", true).is_none());
        assert_eq!(
            Config::get_output(c.get("flux", false).unwrap(), false),
            r#"{"branch":"main","ssh_private_key":"KEY"}"#
        );
    }

    #[test]
    fn the_json_listing_leaves_out_secret_values_and_secret_objects_contents() {
        let c = config(&[
            ("github.token", "ghp_1", true, false),
            ("flux.ssh_private_key", "KEY", true, true),
            ("app.replicas", "3", false, true),
            ("region", "eu", false, false),
        ]);
        assert_eq!(
            c.list_json(false),
            json!({
                "cluster:app": {"value": "{\"replicas\":\"3\"}", "objectValue": {"replicas": "3"}, "secret": false},
                "cluster:flux": {"secret": true},
                "cluster:github.token": {"secret": true},
                "cluster:region": {"value": "eu", "secret": false},
            })
        );
        let shown = c.list_json(true);
        assert_eq!(
            shown["cluster:flux"]["objectValue"]["ssh_private_key"],
            "KEY"
        );
        assert_eq!(shown["cluster:github.token"]["value"], "ghp_1");
        assert_eq!(
            c.list_table(false),
            [
                ("app".to_owned(), r#"{"replicas":"3"}"#.to_owned()),
                (
                    "flux".to_owned(),
                    r#"{"ssh_private_key":"[secret]"}"#.to_owned()
                ),
                ("github.token".to_owned(), "[secret]".to_owned()),
                ("region".to_owned(), "eu".to_owned()),
            ]
        );
    }
}
