//! `meta.k8s.io/v1` Table answers, which `kubectl get` asks for to print its columns.

use serde_json::{Value, json};

use super::resources::ResourceDef;

/// Whether the Accept header asks for a Table.
pub fn wants_table(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("as=Table") && a.contains("g=meta.k8s.io"))
}

/// `kubectl`'s human duration (`45s`, `3m20s`, `5h`, `2d3h`, `40d`).
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match s {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 && s % 60 != 0 => format!("{m}m{}s", s % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 && m % 60 != 0 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if d < 8 && h % 24 != 0 => format!("{d}d{}h", h % 24),
        _ if d < 730 => format!("{d}d"),
        _ => format!("{}y", d / 365),
    }
}

fn age(obj: &Value) -> String {
    let created = obj
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    match created {
        Some(t) => human_age(jiff::Timestamp::now().as_second() - t.as_second()),
        None => "<unknown>".to_owned(),
    }
}

fn s(obj: &Value, pointer: &str) -> String {
    match obj.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn count(obj: &Value, key: &str) -> usize {
    obj.get(key)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

/// Evaluate the simple JSONPath forms CRD printer columns use: `.a.b` and
/// `.a[?(@.k=="v")].b`.
pub fn json_path(obj: &Value, path: &str) -> Option<Value> {
    let mut cur = obj.clone();
    let mut rest = path.trim().trim_start_matches('{').trim_end_matches('}');
    rest = rest.strip_prefix('.').unwrap_or(rest);
    while !rest.is_empty() {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let key = &rest[..end];
        if !key.is_empty() {
            cur = cur.get(key)?.clone();
        }
        rest = &rest[end..];
        if let Some(r) = rest.strip_prefix("[?(@.") {
            let close = r.find(")]")?;
            let (k, v) = r[..close].split_once("==")?;
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            cur = cur
                .as_array()?
                .iter()
                .find(|item| item.get(k.trim()).and_then(Value::as_str) == Some(v))?
                .clone();
            rest = &r[close + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']')?;
            let i: usize = r[..close].parse().ok()?;
            cur = cur.as_array()?.get(i)?.clone();
            rest = &r[close + 1..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    Some(cur)
}

fn column(name: &str, ty: &str, format: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": "", "priority": 0})
}

type Cells = Box<dyn Fn(&Value) -> Vec<Value>>;

fn columns_and_cells(def: &ResourceDef, crd: Option<&Value>, version: &str) -> (Vec<Value>, Cells) {
    let name_col = column("Name", "string", "name");
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => (
            vec![
                name_col,
                column("Status", "string", ""),
                column("Age", "string", ""),
            ],
            Box::new(|o| {
                vec![
                    json!(s(o, "/metadata/name")),
                    json!(s(o, "/status/phase")),
                    json!(age(o)),
                ]
            }),
        ),
        ("", "configmaps") => (
            vec![
                name_col,
                column("Data", "integer", ""),
                column("Age", "string", ""),
            ],
            Box::new(|o| {
                vec![
                    json!(s(o, "/metadata/name")),
                    json!(count(o, "data") + count(o, "binaryData")),
                    json!(age(o)),
                ]
            }),
        ),
        ("", "secrets") => (
            vec![
                name_col,
                column("Type", "string", ""),
                column("Data", "integer", ""),
                column("Age", "string", ""),
            ],
            Box::new(|o| {
                vec![
                    json!(s(o, "/metadata/name")),
                    json!(s(o, "/type")),
                    json!(count(o, "data")),
                    json!(age(o)),
                ]
            }),
        ),
        ("apps", "deployments") => (
            vec![
                name_col,
                column("Ready", "string", ""),
                column("Up-to-date", "string", ""),
                column("Available", "string", ""),
                column("Age", "string", ""),
            ],
            Box::new(|o| {
                let want = o
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                vec![
                    json!(s(o, "/metadata/name")),
                    json!(format!("{}/{want}", int(o, "/status/readyReplicas"))),
                    json!(int(o, "/status/updatedReplicas")),
                    json!(int(o, "/status/availableReplicas")),
                    json!(age(o)),
                ]
            }),
        ),
        ("apiextensions.k8s.io", "customresourcedefinitions") => (
            vec![name_col, column("Created At", "date", "")],
            Box::new(|o| {
                vec![
                    json!(s(o, "/metadata/name")),
                    json!(s(o, "/metadata/creationTimestamp")),
                ]
            }),
        ),
        _ => {
            let printer: Vec<Value> = crd
                .and_then(|c| c.pointer("/spec/versions"))
                .and_then(Value::as_array)
                .and_then(|vs| {
                    vs.iter()
                        .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
                })
                .and_then(|v| v.get("additionalPrinterColumns"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if printer.is_empty() {
                return (
                    vec![name_col, column("Age", "date", "")],
                    Box::new(|o| vec![json!(s(o, "/metadata/name")), json!(age(o))]),
                );
            }
            let mut cols = vec![name_col];
            cols.extend(printer.iter().map(|p| {
                column(
                    p.get("name").and_then(Value::as_str).unwrap_or(""),
                    p.get("type").and_then(Value::as_str).unwrap_or("string"),
                    "",
                )
            }));
            let cells: Cells = Box::new(move |o: &Value| {
                let mut cells = vec![json!(s(o, "/metadata/name"))];
                for p in &printer {
                    let path = p.get("jsonPath").and_then(Value::as_str).unwrap_or("");
                    let v = if path == ".metadata.creationTimestamp" {
                        json!(age(o))
                    } else {
                        json_path(o, path).unwrap_or(Value::Null)
                    };
                    cells.push(v);
                }
                cells
            });
            (cols, cells)
        }
    }
}

/// A Table of objects (`crd` is the defining CRD of a custom kind, for printer columns).
pub fn table(
    def: &ResourceDef,
    crd: Option<&Value>,
    version: &str,
    objects: &[Value],
    rv: u64,
    cont: Option<String>,
) -> Value {
    let (cols, cells) = columns_and_cells(def, crd, version);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            json!({
                "cells": cells(o),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
                },
            })
        })
        .collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": cols,
        "rows": rows,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(human_age(45), "45s");
        assert_eq!(human_age(200), "3m20s");
        assert_eq!(human_age(3600 * 5), "5h");
        assert_eq!(human_age(86400 * 2 + 3600 * 3), "2d3h");
        assert_eq!(human_age(86400 * 40), "40d");
    }

    #[test]
    fn printer_column_paths() {
        let o = json!({"spec":{"url":"u"},"status":{"conditions":[{"type":"Other","status":"False"},{"type":"Ready","status":"True"}]}});
        assert_eq!(json_path(&o, ".spec.url"), Some(json!("u")));
        assert_eq!(
            json_path(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(json!("True"))
        );
        assert_eq!(
            json_path(&o, ".status.conditions[0].type"),
            Some(json!("Other"))
        );
        assert_eq!(json_path(&o, ".spec.missing"), None);
    }
}
