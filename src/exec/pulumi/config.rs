//! Required configuration: which keys a stack has, read from
//! `pulumi config --json`, which shows no secret value (the `value` of a secret is
//! left out unless `--show-secrets` is given).
//!
//! Keys in a plan may be written with their namespace (`cluster:github.token`) or
//! without (`github.token`, meaning the project's namespace, as on the Pulumi command
//! line). A dotted key also matches a structured value set with `--path`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::redact::Redactor;

/// One key of `pulumi config --json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigKey {
    pub secret: bool,
    /// Absent for blinded secrets.
    pub value: Option<String>,
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

/// The required keys the listing lacks, in the order required.
pub fn missing<'a>(
    required: &'a [String],
    listing: &Listing,
    project: Option<&str>,
) -> Vec<&'a str> {
    required
        .iter()
        .filter(|key| !present(key, listing, project))
        .map(String::as_str)
        .collect()
}

fn present(key: &str, listing: &Listing, project: Option<&str>) -> bool {
    if listing.contains_key(key) {
        return true;
    }
    let (ns, name) = match key.split_once(':') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, key),
    };
    let in_namespace = |full: &str| -> Option<String> {
        let (fns, fname) = full.split_once(':')?;
        match ns {
            Some(ns) if ns != fns => None,
            Some(_) => Some(fname.to_owned()),
            None => project.is_none_or(|p| p == fns).then(|| fname.to_owned()),
        }
    };
    // Without a namespace: the project's (any namespace when the project is unknown).
    if listing
        .keys()
        .any(|full| in_namespace(full).as_deref() == Some(name))
    {
        return true;
    }
    // A path key (`flux.ssh_private_key`) inside a structured value (`flux`).
    let mut segments = name.split('.');
    let Some(root) = segments.next() else {
        return false;
    };
    let rest: Vec<&str> = segments.collect();
    if rest.is_empty() {
        return false;
    }
    listing.iter().any(|(full, entry)| {
        in_namespace(full).as_deref() == Some(root)
            && entry
                .object_value
                .as_ref()
                .is_some_and(|obj| rest.iter().try_fold(obj, |v, seg| v.get(*seg)).is_some())
    })
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
        let required: Vec<String> = [
            "github.token",
            "cluster:region",
            "flux.ssh_private_key",
            "aws:region",
            "flux.other",
            "other:github.token",
            "missing",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            missing(&required, &l, Some("cluster")),
            ["flux.other", "other:github.token", "missing"]
        );
        // Another project's namespace does not count for a bare key.
        assert_eq!(
            missing(&["github.token".into()], &l, Some("app")),
            ["github.token"]
        );
        assert!(missing(&["github.token".into()], &l, None).is_empty());
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
