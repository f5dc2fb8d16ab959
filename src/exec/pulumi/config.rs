//! Required configuration: which keys a stack has, read from `pulumi config
//! --json`, as the real CLI stores and shows them (pulumi/pulumi
//! `pkg/cmd/pulumi/config/config.go` `listConfig`; `sdk/go/common/resource/config/`
//! `map.go`, `object.go`):
//!
//! - `pulumi config set github.token` stores the flat key `<project>:github.token`;
//!   `pulumi config set --path flux.ssh_private_key` stores the object
//!   `<project>:flux` holding `ssh_private_key`. A plan's key (`github.token`, or with
//!   a namespace `cluster:github.token`) is found in either form, since a plan
//!   cannot tell which one the program reads.
//! - Without `--show-secrets` the listing leaves out the value of a secret entry,
//!   and an object holding a secret leaf is itself secret: whether
//!   `flux.ssh_private_key` is inside it cannot be seen ([`Presence::Hidden`]). The
//!   caller then reads the listing with `--show-secrets`, in memory, registering
//!   every secret with the redactor before anything derived from it can be shown:
//!   planrun needs those values anyway to mask them wherever Pulumi or the program
//!   might print them, so one decrypted listing answers both questions (a
//!   `pulumi config get --path` per key would print each secret to a pipe as well,
//!   and start the CLI once per key).
//! - A missing key gets the command that matches how it is missing
//!   ([`Missing`], [`suggestion`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::Value;

use crate::redact::Redactor;

/// One key of `pulumi config --json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigKey {
    pub secret: bool,
    /// Absent for blinded secrets.
    pub value: Option<String>,
    /// The object of a structured value, absent for blinded secrets.
    pub object_value: Option<Value>,
}

/// `namespace:key` -> key, as listed.
pub type Listing = BTreeMap<String, ConfigKey>;

/// Parses the output of `pulumi config --json`. The error never quotes the output
/// (it may hold secrets).
pub fn parse_listing(stdout: &str) -> Result<Listing, String> {
    let value: Value = serde_json::from_str(stdout.trim()).map_err(|e| {
        format!(
            "not the JSON object expected (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let map = value.as_object().ok_or("not the JSON object expected")?;
    Ok(map
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                ConfigKey {
                    secret: v.get("secret").and_then(Value::as_bool).unwrap_or(false),
                    value: v.get("value").and_then(Value::as_str).map(str::to_owned),
                    object_value: v.get("objectValue").cloned(),
                },
            )
        })
        .collect())
}

/// The `name` in the project's `Pulumi.yaml`, when it can be read.
pub fn project_name(dir: &Path) -> Option<String> {
    ["Pulumi.yaml", "Pulumi.yml"].iter().find_map(|f| {
        let text = std::fs::read_to_string(dir.join(f)).ok()?;
        let value: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
        value.get("name")?.as_str().map(str::to_owned)
    })
}

/// Where a required key stands in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Present,
    /// It could only be inside a secret object whose contents the listing leaves
    /// out: read the listing with `--show-secrets` to know.
    Hidden,
    Missing(Missing),
}

/// How a required key is missing, which decides the command that sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// The object holding it exists (`flux`, set with `--path`): set it inside.
    InObject { object: String },
    /// A flat key of the same prefix exists (`github.user`): set it flat too.
    FlatSibling { sibling: String },
    /// Nothing near it: either form.
    Nothing,
}

/// A required key split into its namespace (when written) and name.
#[derive(Clone, Copy)]
struct KeyName<'a> {
    namespace: Option<&'a str>,
    name: &'a str,
}

impl<'a> KeyName<'a> {
    fn of(key: &'a str) -> Self {
        match key.split_once(':') {
            Some((ns, name)) => Self {
                namespace: Some(ns),
                name,
            },
            None => Self {
                namespace: None,
                name: key,
            },
        }
    }

    /// The name of a listed key in this key's namespace (the project's when none
    /// was written; any when the project is unknown).
    fn local<'l>(&self, full: &'l str, project: Option<&str>) -> Option<&'l str> {
        let (ns, name) = full.split_once(':')?;
        let ok = match self.namespace {
            Some(want) => want == ns,
            None => project.is_none_or(|p| p == ns),
        };
        ok.then_some(name)
    }

    /// `(root, rest)` of a dotted name.
    fn path(&self) -> Option<(&'a str, Vec<&'a str>)> {
        let mut segments = self.name.split('.');
        let root = segments.next()?;
        let rest: Vec<&str> = segments.collect();
        (!rest.is_empty()).then_some((root, rest))
    }
}

/// Where `key` stands in `listing`.
pub fn presence(key: &str, listing: &Listing, project: Option<&str>) -> Presence {
    let k = KeyName::of(key);
    let entries = || {
        listing
            .iter()
            .filter_map(move |(full, entry)| k.local(full, project).map(|name| (name, entry)))
    };
    let entries = &entries;
    if entries().any(|(name, _)| name == k.name) {
        return Presence::Present;
    }
    let Some((root, rest)) = k.path() else {
        return Presence::Missing(Missing::Nothing);
    };
    if let Some((_, entry)) = entries().find(|(name, _)| *name == root) {
        match &entry.object_value {
            Some(obj) => {
                if rest.iter().try_fold(obj, |v, seg| v.get(*seg)).is_some() {
                    return Presence::Present;
                }
                return Presence::Missing(Missing::InObject {
                    object: root.to_owned(),
                });
            }
            None if entry.secret && entry.value.is_none() => return Presence::Hidden,
            // A plain value where an object would be: as if nothing were there.
            None => {}
        }
    }
    let prefix = format!("{root}.");
    if let Some((sibling, _)) = entries().find(|(name, _)| name.starts_with(&prefix)) {
        return Presence::Missing(Missing::FlatSibling {
            sibling: sibling.to_owned(),
        });
    }
    Presence::Missing(Missing::Nothing)
}

/// How the program reads a key, when its source says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `config.require("github.token")`: a flat key.
    Flat,
    /// `config.requireObject("github")`: a key inside an object (`--path`).
    Path,
}

/// The command that sets `key` in `form` for a stack (it prompts for the value, so
/// the value never lands in shell history).
pub fn set_command(form: Form, key: &str, stack: &str, cwd: &Path) -> String {
    let path = if form == Form::Path { "--path " } else { "" };
    format!(
        "pulumi config set {path}--secret {key} --stack {stack} --cwd {}",
        cwd.display()
    )
}

/// What to run for a missing key: the form that matches how it is missing, or, with
/// nothing to go by, the form the program reads when its source says, else both.
/// `reads` is what [`program_reads`] found for the key.
pub fn suggestion(
    key: &str,
    missing: &Missing,
    reads: &[(Form, String)],
    stack: &str,
    cwd: &Path,
) -> String {
    let cmd = |form| set_command(form, key, stack, cwd);
    let k = KeyName::of(key);
    match missing {
        Missing::InObject { object } => format!(
            "{key}: the object `{object}` exists (set with --path): {}",
            cmd(Form::Path)
        ),
        Missing::FlatSibling { sibling } => {
            format!("{key}: set flat like `{sibling}`: {}", cmd(Form::Flat))
        }
        Missing::Nothing => {
            let flat_reads: Vec<&str> = reads
                .iter()
                .filter(|(f, _)| *f == Form::Flat)
                .map(|(_, at)| at.as_str())
                .collect();
            let path_reads: Vec<&str> = reads
                .iter()
                .filter(|(f, _)| *f == Form::Path)
                .map(|(_, at)| at.as_str())
                .collect();
            match (flat_reads.first(), path_reads.first(), k.path()) {
                (Some(at), None, _) => format!(
                    "{key}: the program reads it as a flat key ({at}): {}",
                    cmd(Form::Flat)
                ),
                (None, Some(at), Some((root, _))) => format!(
                    "{key}: the program reads it inside the object `{root}` ({at}): {}",
                    cmd(Form::Path)
                ),
                (_, _, Some((root, _))) => format!(
                    "{key}: set as the program reads it, a flat key: {}
    or inside the object `{root}`: {}",
                    cmd(Form::Flat),
                    cmd(Form::Path)
                ),
                (_, _, None) => format!("{key}: {}", cmd(Form::Flat)),
            }
        }
    }
}

/// Source files of a Pulumi program's languages.
const PROGRAM_EXTENSIONS: [&str; 9] = ["ts", "tsx", "js", "mjs", "cjs", "py", "go", "cs", "java"];
/// Directories that hold dependencies or build output, not the program.
const SKIPPED_DIRS: [&str; 6] = ["node_modules", "target", "vendor", "bin", "obj", "venv"];
/// At most this many files are read, each up to [`MAX_SOURCE_BYTES`].
const MAX_SOURCES: usize = 2000;
const MAX_SOURCE_BYTES: u64 = 1 << 20;

/// The program's source files under `dir` with their text (dependencies, build
/// output and hidden directories left out; bounded).
pub fn program_sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            if out.len() >= MAX_SOURCES {
                return out;
            }
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_str()) {
                    pending.push(path);
                }
                continue;
            }
            let source = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| PROGRAM_EXTENSIONS.contains(&e));
            let small = entry.metadata().is_ok_and(|m| m.len() <= MAX_SOURCE_BYTES);
            if source
                && small
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                out.push((path, text));
            }
        }
    }
    out.sort();
    out
}

/// Where the program's source reads `key`, and in which form: the whole dotted key
/// as a string literal is a flat read (`config.require("github.token")`), its first
/// segment given to an object getter is a path read (`requireObject("github")`,
/// `get_secret_object('github')`, `RequireObject("github", &v)`). Locations are
/// `file:line`, relative to `base`.
pub fn program_reads(key: &str, sources: &[(PathBuf, String)], base: &Path) -> Vec<(Form, String)> {
    let k = KeyName::of(key);
    let quoted = |s: &str| format!(r#"["'`]{}["'`]"#, regex::escape(s));
    let Ok(flat) = Regex::new(&quoted(k.name)) else {
        return Vec::new();
    };
    let object = k.path().and_then(|(root, _)| {
        Regex::new(&format!(
            r"(?i)(require|get)_?(secret_?)?object\s*(<[^>(]*>)?\s*\(\s*{}",
            quoted(root)
        ))
        .ok()
    });
    let mut out = Vec::new();
    for (path, text) in sources {
        for (i, line) in text.lines().enumerate() {
            let at = || {
                let shown = path.strip_prefix(base).unwrap_or(path);
                format!("{}:{}", shown.display(), i + 1)
            };
            if k.path().is_some() && flat.is_match(line) {
                out.push((Form::Flat, at()));
            }
            if object.as_ref().is_some_and(|re| re.is_match(line)) {
                out.push((Form::Path, at()));
            }
        }
    }
    out
}

/// Adds every secret value of a `--show-secrets` listing to `redactor`: the value,
/// its JSON form, every string inside a structured secret, and each substantial line
/// of a multi-line secret (an SSH key is printed line by line). Returns how many
/// secret keys were found.
pub fn mask_secrets(listing: &Listing, redactor: &Redactor) -> usize {
    let mut found = 0;
    for entry in listing.values().filter(|e| e.secret) {
        found += 1;
        if let Some(value) = &entry.value {
            redactor.add_secret(value);
        }
        if let Some(object) = &entry.object_value {
            add_strings(object, redactor);
        }
    }
    found
}

fn add_strings(value: &Value, redactor: &Redactor) {
    match value {
        Value::String(s) => redactor.add_secret(s),
        Value::Array(items) => items.iter().for_each(|v| add_strings(v, redactor)),
        Value::Object(map) => map.values().for_each(|v| add_strings(v, redactor)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn listing() -> Listing {
        parse_listing(
            r#"{
  "cluster:github.token": {"secret": true},
  "cluster:region": {"value": "eu", "secret": false},
  "cluster:flux": {"value": "{\"ssh_private_key\":\"[secret]\"}", "objectValue": {"ssh_private_key": "[secret]"}, "secret": true},
  "aws:region": {"value": "us-east-1", "secret": false}
}"#,
        )
        .unwrap()
    }

    #[test]
    fn finds_keys_with_or_without_namespace_and_by_path() {
        let l = listing();
        let at = |key: &str| presence(key, &l, Some("cluster"));
        assert_eq!(at("github.token"), Presence::Present);
        assert_eq!(at("cluster:region"), Presence::Present);
        assert_eq!(at("aws:region"), Presence::Present);
        assert_eq!(at("flux.ssh_private_key"), Presence::Present);
        assert_eq!(
            at("flux.other"),
            Presence::Missing(Missing::InObject {
                object: "flux".into()
            })
        );
        assert_eq!(
            at("other:github.token"),
            Presence::Missing(Missing::Nothing)
        );
        assert_eq!(at("missing"), Presence::Missing(Missing::Nothing));
        // Another project's namespace does not count for a bare key.
        assert_eq!(
            presence("github.token", &l, Some("app")),
            Presence::Missing(Missing::Nothing)
        );
        assert_eq!(presence("github.token", &l, None), Presence::Present);
    }

    /// flat/path x secret/plain x present/missing, as `pulumi config --json` lists
    /// them without `--show-secrets`.
    #[test]
    fn every_form_of_a_key_secret_or_not_present_or_missing() {
        let blind = parse_listing(
            r#"{
  "cluster:github.token": {"secret": true},
  "cluster:github.user": {"value": "bot", "secret": false},
  "cluster:flux": {"secret": true},
  "cluster:app": {"value": "{\"replicas\":\"3\"}", "objectValue": {"replicas": "3"}, "secret": false}
}"#,
        )
        .unwrap();
        let at = |key: &str| presence(key, &blind, Some("cluster"));
        // Flat, secret and plain, present.
        assert_eq!(at("github.token"), Presence::Present);
        assert_eq!(at("github.user"), Presence::Present);
        // Path, plain, present and missing.
        assert_eq!(at("app.replicas"), Presence::Present);
        assert_eq!(
            at("app.image"),
            Presence::Missing(Missing::InObject {
                object: "app".into()
            })
        );
        // Path inside a secret object: cannot be told without the secrets.
        assert_eq!(at("flux.ssh_private_key"), Presence::Hidden);
        // Flat, missing, with a flat sibling.
        assert_eq!(
            at("github.email"),
            Presence::Missing(Missing::FlatSibling {
                sibling: "github.token".into()
            })
        );
        // Revealed: the secret object's contents are there.
        let revealed = parse_listing(
            r#"{"cluster:flux": {"value": "{\"ssh_private_key\":\"k\"}", "objectValue": {"ssh_private_key": "k"}, "secret": true}}"#,
        )
        .unwrap();
        assert_eq!(
            presence("flux.ssh_private_key", &revealed, Some("cluster")),
            Presence::Present
        );
        assert_eq!(
            presence("flux.known_hosts", &revealed, Some("cluster")),
            Presence::Missing(Missing::InObject {
                object: "flux".into()
            })
        );
    }

    #[test]
    fn the_suggestion_matches_how_the_key_is_missing() {
        let cwd = Path::new("/repo/cluster");
        let s = |key: &str, m: Missing, reads: &[(Form, String)]| {
            suggestion(key, &m, reads, "prod", cwd)
        };
        assert_eq!(
            s(
                "flux.ssh_private_key",
                Missing::InObject {
                    object: "flux".into()
                },
                &[]
            ),
            "flux.ssh_private_key: the object `flux` exists (set with --path): \
             pulumi config set --path --secret flux.ssh_private_key --stack prod --cwd /repo/cluster"
        );
        assert_eq!(
            s(
                "github.token",
                Missing::FlatSibling {
                    sibling: "github.user".into()
                },
                &[]
            ),
            "github.token: set flat like `github.user`: \
             pulumi config set --secret github.token --stack prod --cwd /repo/cluster"
        );
        assert_eq!(
            s("github.token", Missing::Nothing, &[]),
            "github.token: set as the program reads it, a flat key: \
             pulumi config set --secret github.token --stack prod --cwd /repo/cluster\n    \
             or inside the object `github`: \
             pulumi config set --path --secret github.token --stack prod --cwd /repo/cluster"
        );
        assert_eq!(
            s(
                "github.token",
                Missing::Nothing,
                &[(Form::Path, "src/index.ts:4".into())]
            ),
            "github.token: the program reads it inside the object `github` (src/index.ts:4): \
             pulumi config set --path --secret github.token --stack prod --cwd /repo/cluster"
        );
        assert_eq!(
            s("token", Missing::Nothing, &[]),
            "token: pulumi config set --secret token --stack prod --cwd /repo/cluster"
        );
    }

    #[test]
    fn the_program_source_tells_which_form_it_reads() {
        let base = Path::new("/p");
        let sources = vec![
            (
                PathBuf::from("/p/src/index.ts"),
                "const cfg = new pulumi.Config();\nconst gh = cfg.requireSecret(\"github.token\");\n\
                 const flux = cfg.requireSecretObject<{ ssh_private_key: string }>(\"flux\");\n"
                    .to_owned(),
            ),
            (
                PathBuf::from("/p/__main__.py"),
                "flux = config.require_object('flux')\n".to_owned(),
            ),
        ];
        assert_eq!(
            program_reads("github.token", &sources, base),
            [(Form::Flat, "src/index.ts:2".to_owned())]
        );
        assert_eq!(
            program_reads("flux.ssh_private_key", &sources, base),
            [
                (Form::Path, "src/index.ts:3".to_owned()),
                (Form::Path, "__main__.py:1".to_owned())
            ]
        );
        assert!(program_reads("other.key", &sources, base).is_empty());
    }

    #[test]
    fn never_quotes_the_output_in_errors() {
        let err = parse_listing("{\"k\": \"hunter2-secret\" ").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(parse_listing("[]").is_err());
    }

    #[test]
    fn masks_every_form_of_a_secret() {
        let l = parse_listing(
            r#"{"p:key": {"value": "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFF\n-----END KEY-----", "secret": true},
                "p:tok": {"value": "ghp_abcdef", "secret": true},
                "p:obj": {"objectValue": {"a": ["s3cr3t-in-list"]}, "secret": true},
                "p:plain": {"value": "visible", "secret": false}}"#,
        )
        .unwrap();
        let r = Redactor::new();
        assert_eq!(mask_secrets(&l, &r), 3);
        let out =
            r.redact("x AAAABBBBCCCCDDDD ghp_abcdef s3cr3t-in-list visible -----END KEY-----");
        assert_eq!(
            out,
            "x ******** ******** ******** visible -----END KEY-----"
        );
        assert!(
            !r.redact(r#""-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFF\n-----END KEY-----""#)
                .contains("AAAA")
        );
    }
}
