//! The diff display (`--diff`), a faithful subset of pulumi/pulumi
//! `pkg/backend/display/diff.go` (`renderDiff`, `renderSummaryEvent`) and
//! `object_diff.go` (`getResourcePropertiesSummary`, `PrintObject`, the property
//! printer): each resource's header with its operation, its id and URN, its
//! properties (all of them for a create or a delete, the changed ones for an
//! update), then the `Resources:` summary. No colours (`--color never`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::steps::{Op, Step};

/// `deploy.RawPrefix`: the two characters before a step of `op`.
fn raw_prefix(op: Op) -> &'static str {
    match op {
        Op::Same => "  ",
        Op::Create => "+ ",
        Op::Update => "~ ",
        Op::Delete => "- ",
    }
}

/// `getIndentationString`: four spaces per level, the last two replaced by the
/// prefix when asked.
fn indentation(indent: usize, op: Op, prefix: bool) -> String {
    let spaces = "    ".repeat(indent);
    if !prefix || spaces.len() < 2 {
        return spaces;
    }
    format!("{}{}", &spaces[..spaces.len() - 2], raw_prefix(op))
}

/// One resource's block of the diff display.
pub fn render_step(step: &Step) -> String {
    let indent = usize::from(!step.is_stack());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}{}{}: ({})",
        indentation(indent, step.op, false),
        raw_prefix(step.op),
        step.type_token,
        step.op.as_str()
    );
    if step.old.is_some() && !step.is_stack() {
        let _ = writeln!(
            out,
            "{}[id={}]",
            indentation(indent + 1, step.op, false),
            step.name
        );
    }
    let _ = writeln!(
        out,
        "{}[urn={}]",
        indentation(indent + 1, step.op, false),
        step.urn
    );
    if step.op == Op::Same || step.is_stack() {
        return out;
    }
    let empty = Map::new();
    let as_map = |v: Option<&Value>| v.and_then(Value::as_object).cloned().unwrap_or_default();
    match step.op {
        Op::Create => print_object(&mut out, &as_map(step.new.as_ref()), indent + 1, step.op),
        Op::Delete => print_object(&mut out, &as_map(step.old.as_ref()), indent + 1, step.op),
        Op::Update => print_object_diff(
            &mut out,
            step.old
                .as_ref()
                .and_then(Value::as_object)
                .unwrap_or(&empty),
            step.new
                .as_ref()
                .and_then(Value::as_object)
                .unwrap_or(&empty),
            indent + 1,
        ),
        Op::Same => {}
    }
    out
}

/// `printObject`: each key, aligned, then its value.
fn print_object(out: &mut String, props: &Map<String, Value>, indent: usize, op: Op) {
    let width = props.keys().map(String::len).max().unwrap_or(0);
    let mut keys: Vec<&String> = props.keys().collect();
    keys.sort();
    for key in keys {
        let value = &props[key];
        let _ = write!(out, "{}{key:<width$}: ", indentation(indent, op, false));
        print_value(out, value, indent, op);
        out.push('\n');
    }
}

/// `printPropertyValue`, without the final newline.
fn print_value(out: &mut String, value: &Value, indent: usize, op: Op) {
    match value {
        Value::Null => out.push_str("<null>"),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                let _ = write!(out, "{f:.0}");
            }
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        Value::String(s) => out.push_str(&quote(s)),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                let _ = write!(out, "{}    [{i}]: ", indentation(indent, op, false));
                print_value(out, item, indent + 1, op);
                out.push('\n');
            }
            let _ = write!(out, "{}]", indentation(indent, op, false));
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            out.push_str("{\n");
            print_object(out, map, indent + 1, op);
            let _ = write!(out, "{}}}", indentation(indent, op, false));
        }
    }
}

/// The changed properties of an update, each with its own prefix: `+` added, `-`
/// removed, `~` changed (`old => new` for a value, nested for an object).
fn print_object_diff(
    out: &mut String,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    indent: usize,
) {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let changed: Vec<&String> = keys
        .into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .collect();
    let width = changed.iter().map(|k| k.len()).max().unwrap_or(0);
    for key in changed {
        match (old.get(key), new.get(key)) {
            (None, Some(v)) => {
                let _ = write!(
                    out,
                    "{}{key:<width$}: ",
                    indentation(indent, Op::Create, true)
                );
                print_value(out, v, indent, Op::Create);
            }
            (Some(v), None) => {
                let _ = write!(
                    out,
                    "{}{key:<width$}: ",
                    indentation(indent, Op::Delete, true)
                );
                print_value(out, v, indent, Op::Delete);
            }
            (Some(Value::Object(o)), Some(Value::Object(n))) => {
                let _ = writeln!(
                    out,
                    "{}{key:<width$}: {{",
                    indentation(indent, Op::Update, true)
                );
                print_object_diff(out, o, n, indent + 1);
                let _ = write!(out, "{}}}", indentation(indent, Op::Update, false));
            }
            (Some(o), Some(n)) => {
                let _ = write!(
                    out,
                    "{}{key:<width$}: ",
                    indentation(indent, Op::Update, true)
                );
                print_value(out, o, indent, Op::Update);
                out.push_str(" => ");
                print_value(out, n, indent, Op::Update);
            }
            (None, None) => continue,
        }
        out.push('\n');
    }
}

/// Go's `%q` for the strings a manifest holds.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `renderSummaryEvent`: the `Resources:` block (and, after an update, the
/// duration).
pub fn render_summary(changes: &BTreeMap<String, u64>, preview: bool, seconds: u64) -> String {
    let mut out = String::from("Resources:\n");
    let plan_to = if preview { "to " } else { "" };
    let (mut kinds, mut total) = (0, 0);
    for (op, past) in [
        ("create", "created"),
        ("update", "updated"),
        ("delete", "deleted"),
        ("replace", "replaced"),
    ] {
        let n = changes.get(op).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        kinds += 1;
        total += n;
        let sign = match op {
            "create" => "+ ",
            "update" => "~ ",
            "delete" => "- ",
            _ => "+-",
        };
        let said = if preview { op } else { past };
        let _ = writeln!(out, "    {sign}{n} {plan_to}{said}");
    }
    let mut pieces = Vec::new();
    if kinds >= 2 {
        pieces.push(format!(
            "{total} {}",
            if total == 1 { "change" } else { "changes" }
        ));
    }
    if let Some(same) = changes.get("same").filter(|n| **n > 0) {
        pieces.push(format!("{same} unchanged"));
    }
    if !pieces.is_empty() {
        let _ = writeln!(out, "    {}", pieces.join(". "));
    }
    if !preview {
        let _ = write!(out, "\nDuration: {seconds}s\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(op: Op, old: Option<Value>, new: Option<Value>) -> Step {
        Step {
            op,
            urn: "urn:pulumi:dev::cluster::kubernetes:core/v1:ConfigMap::flux-system/settings"
                .into(),
            type_token: "kubernetes:core/v1:ConfigMap".into(),
            name: "flux-system/settings".into(),
            old,
            new,
            object: None,
        }
    }

    #[test]
    fn a_create_shows_every_property_aligned() {
        let new = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "flux-system"},
            "data": {"replicas": "2"}, "list": [1, "two"]});
        assert_eq!(
            render_step(&step(Op::Create, None, Some(new))),
            "    + kubernetes:core/v1:ConfigMap: (create)\n\
             \x20       [urn=urn:pulumi:dev::cluster::kubernetes:core/v1:ConfigMap::flux-system/settings]\n\
             \x20       apiVersion: \"v1\"\n\
             \x20       data      : {\n\
             \x20           replicas: \"2\"\n\
             \x20       }\n\
             \x20       kind      : \"ConfigMap\"\n\
             \x20       list      : [\n\
             \x20           [0]: 1\n\
             \x20           [1]: \"two\"\n\
             \x20       ]\n\
             \x20       metadata  : {\n\
             \x20           name     : \"settings\"\n\
             \x20           namespace: \"flux-system\"\n\
             \x20       }\n"
        );
    }

    #[test]
    fn an_update_shows_what_changed_with_its_prefix() {
        let old = json!({"kind": "ConfigMap", "data": {"a": "1", "b": "2"}});
        let new = json!({"kind": "ConfigMap", "data": {"a": "1", "b": "3", "c": "4"}});
        assert_eq!(
            render_step(&step(Op::Update, Some(old), Some(new))),
            "    ~ kubernetes:core/v1:ConfigMap: (update)\n\
             \x20       [id=flux-system/settings]\n\
             \x20       [urn=urn:pulumi:dev::cluster::kubernetes:core/v1:ConfigMap::flux-system/settings]\n\
             \x20     ~ data: {\n\
             \x20         ~ b: \"2\" => \"3\"\n\
             \x20         + c: \"4\"\n\
             \x20       }\n"
        );
    }

    #[test]
    fn the_summary_is_the_clis() {
        let changes = BTreeMap::from([("create".to_owned(), 22), ("same".to_owned(), 1)]);
        assert_eq!(
            render_summary(&changes, true, 0),
            "Resources:\n    + 22 to create\n    1 unchanged\n"
        );
        let changes = BTreeMap::from([("create".to_owned(), 2), ("delete".to_owned(), 1)]);
        assert_eq!(
            render_summary(&changes, false, 3),
            "Resources:\n    + 2 created\n    - 1 deleted\n    3 changes\n\nDuration: 3s\n"
        );
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
    }
}
