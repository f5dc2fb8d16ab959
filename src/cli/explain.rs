//! `planrun explain [TYPE]`: a task type's keys with their docs and an example
//! task, read from the plan schema (`planrun schema`), so the two never disagree;
//! without TYPE, every type with its summary.

use std::fmt::Write as _;

use clap::Args;
use serde_json::Value;

use crate::error::Error;
use crate::plan::{COMMON_KEYS, TaskType, plan_schema_value};

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// The task type, e.g. `wait-absent`; without it, every type.
    pub task_type: Option<String>,
}

pub fn run(args: &ExplainArgs) -> Result<(), Error> {
    let text = match &args.task_type {
        None => overview(),
        Some(name) => {
            let Some(task_type) = TaskType::from_name(name) else {
                let names = TaskType::ALL.iter().map(|t| t.name());
                let hint = planrun_text::did_you_mean(name, names)
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                return Err(Error::Invalid(miette::miette!(
                    help = format!("{hint}`planrun explain` lists the types"),
                    "no task type `{name}`"
                )));
            };
            explain(task_type)
        }
    };
    super::print(&text)
}

/// Every type with its summary.
fn overview() -> String {
    let width = TaskType::ALL
        .iter()
        .map(|t| t.name().len())
        .max()
        .unwrap_or(0);
    let mut out = String::from("task types (`planrun explain TYPE` for one):\n");
    for t in TaskType::ALL {
        let _ = writeln!(out, "  {:<width$}  {}", t.name(), t.info().summary);
    }
    out
}

/// The type's own keys (and the selection's), required first, with their docs;
/// the keys every task takes, named; then the example.
pub fn explain(task_type: TaskType) -> String {
    let schema = plan_schema_value();
    let index = TaskType::ALL
        .iter()
        .position(|&t| t == task_type)
        .unwrap_or_default();
    let variant = &schema["properties"]["tasks"]["additionalProperties"]["allOf"][index]["then"];
    let required: Vec<&str> = variant["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut keys: Vec<(&str, &Value)> = variant["properties"]
        .as_object()
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.as_str(), v))
                .filter(|(k, _)| !COMMON_KEYS.contains(k))
                .collect()
        })
        .unwrap_or_default();
    keys.sort_by_key(|(k, _)| (!required.contains(k), *k));
    let mut out = format!(
        "{}: {}\n\nkeys:\n",
        task_type.name(),
        task_type.info().summary
    );
    let width = keys.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, prop) in &keys {
        let mut kind = value_type(prop, &schema);
        if required.contains(key) {
            kind.push_str(", required");
        }
        let doc = prop["description"].as_str().unwrap_or_default();
        let _ = writeln!(
            out,
            "  {key:<width$}  ({kind}) {}",
            planrun_text::one_line(doc)
        );
    }
    if keys.is_empty() {
        let _ = writeln!(out, "  (none of its own)");
    }
    let _ = writeln!(
        out,
        "\nevery task also takes: {} (see the README's task reference)",
        COMMON_KEYS[1..].join(", ")
    );
    if let Some(example) = variant["examples"].get(0) {
        let _ = writeln!(out, "\nexample:\n");
        out.push_str(&example_toml(task_type.info().example_id, example));
    }
    out
}

/// The example task as a plan would hold it: `type` first, then `description`,
/// then its other keys.
pub fn example_toml(id: &str, example: &Value) -> String {
    let mut task = toml::Table::new();
    let keys = example.as_object().into_iter().flatten();
    let mut keys: Vec<(&String, &Value)> = keys.collect();
    keys.sort_by_key(|(k, _)| match k.as_str() {
        "type" => 0,
        "description" => 1,
        _ => 2,
    });
    for (key, value) in keys {
        if let Ok(value) = serde_json::from_value::<toml::Value>(value.clone()) {
            task.insert(key.clone(), value);
        }
    }
    let mut tasks = toml::Table::new();
    tasks.insert(id.to_owned(), toml::Value::Table(task));
    let mut root = toml::Table::new();
    root.insert("tasks".to_owned(), toml::Value::Table(tasks));
    toml::to_string(&root).unwrap_or_default()
}

/// "string", "list of string", "table", `"stop" or "refresh"`, ... from a property's
/// schema.
fn value_type(prop: &Value, schema: &Value) -> String {
    // An optional key: one of its types or null.
    if let Some(alternatives) = prop["anyOf"].as_array() {
        return alternatives
            .iter()
            .filter(|a| a["type"] != "null")
            .map(|a| value_type(a, schema))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    let prop = match prop["$ref"].as_str() {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .map_or(prop, |name| &schema["$defs"][name]),
        None => prop,
    };
    let of = |t: &Value| match t {
        Value::String(s) => s.clone(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => String::new(),
    };
    if let Some(values) = prop["enum"].as_array()
        && values.iter().all(Value::is_string)
    {
        return values
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" or ");
    }
    match of(&prop["type"]).as_str() {
        "array" => format!("list of {}", value_type(&prop["items"], schema)),
        "object" => "table".to_owned(),
        "" if prop.get("oneOf").is_some() => "one of the values named".to_owned(),
        "" => "value".to_owned(),
        other => other.to_owned(),
    }
}
