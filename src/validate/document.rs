//! Helpers over toml's spanned document tree: spans of keys and values, splitting a
//! task table into key groups, and deserializing a group with spans kept.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::{ErrorKind, PlanError};

pub type Table<'a> = DeTable<'a>;

/// The span of `key` itself.
pub fn key_span(table: &Table<'_>, key: &str) -> Option<Range<usize>> {
    table.get_key_value(key).map(|(k, _)| k.span())
}

/// The span of the value at `key`.
pub fn value_span(table: &Table<'_>, key: &str) -> Option<Range<usize>> {
    table.get(key).map(Spanned::span)
}

/// A string value at `key`, with its span.
pub fn str_value<'t>(table: &'t Table<'_>, key: &str) -> Option<(&'t str, Range<usize>)> {
    let value = table.get(key)?;
    value.get_ref().as_str().map(|s| (s, value.span()))
}

/// Each string of the array at `key`, with its span.
pub fn str_items<'t>(table: &'t Table<'_>, key: &str) -> Vec<(&'t str, Range<usize>)> {
    let Some(DeValue::Array(items)) = table.get(key).map(Spanned::get_ref) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| item.get_ref().as_str().map(|s| (s, item.span())))
        .collect()
}

/// For each item of the array of tables at `key`, the span of its `field` value (the
/// item's own span when it lacks one), in order.
pub fn table_items(table: &Table<'_>, key: &str, field: &str) -> Vec<Range<usize>> {
    let Some(DeValue::Array(items)) = table.get(key).map(Spanned::get_ref) else {
        return Vec::new();
    };
    items
        .iter()
        .map(|item| match item.get_ref() {
            DeValue::Table(t) => value_span(t, field).unwrap_or(item.span()),
            _ => item.span(),
        })
        .collect()
}

/// The entries of `table` whose key is in `keys`, as a table of their own.
pub fn subtable<'a>(table: &Table<'a>, keys: &[&str]) -> Table<'a> {
    let mut out = Table::new();
    for (key, value) in table.iter() {
        if keys.contains(&key.get_ref().as_ref()) {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}

/// Deserializes `table` into `T`, mapping serde's error onto a plan error at the
/// offending place (`fallback` when serde has no better place).
pub fn deserialize<T: DeserializeOwned>(
    table: Table<'_>,
    span: Range<usize>,
    fallback: Range<usize>,
) -> Result<T, PlanError> {
    let value = Spanned::new(span.clone(), DeValue::Table(table));
    T::deserialize(ValueDeserializer::from(value)).map_err(|e| serde_error(&e, span, fallback))
}

/// A serde error as a plan error. Errors spanning the whole table (a missing field)
/// point at `fallback`, usually the table's header key.
pub fn serde_error(e: &toml::de::Error, whole: Range<usize>, fallback: Range<usize>) -> PlanError {
    let message = e
        .message()
        .trim()
        .replace("missing field", "missing key")
        .replace("unknown field", "unknown key")
        .replace("unknown variant", "unknown value")
        .replace("expected u32", "expected a whole number")
        .replace("expected i32", "expected a whole number");
    let kind = if message.starts_with("invalid type") {
        ErrorKind::WrongType
    } else if message.starts_with("missing key") {
        ErrorKind::MissingField
    } else if message.starts_with("unknown key") {
        ErrorKind::UnknownKey
    } else {
        ErrorKind::BadValue
    };
    let span = match e.span() {
        Some(s) if s != whole && kind != ErrorKind::MissingField => s,
        _ => fallback,
    };
    let label = match kind {
        ErrorKind::WrongType => "wrong type",
        ErrorKind::MissingField => "this table misses a required key",
        ErrorKind::UnknownKey => "unknown key",
        _ => "bad value",
    };
    let help = match kind {
        ErrorKind::WrongType => "check the value's type against the plan schema (`planrun schema`)",
        ErrorKind::MissingField => "add the missing key",
        _ => "see `planrun schema` for the accepted values",
    };
    let missing = match kind {
        ErrorKind::MissingField => message.split('`').nth(1),
        _ => None,
    };
    PlanError::new(kind, message.clone())
        .at(span, label)
        .help(help)
        .about_missing(missing)
}

/// Writes `value` as canonical text (keys sorted, types tagged) for fingerprints.
pub fn canonical(value: &DeValue<'_>, out: &mut String) {
    match value {
        DeValue::String(s) => {
            out.push('"');
            out.push_str(&s.replace('\\', "\\\\").replace('"', "\\\""));
            out.push('"');
        }
        DeValue::Integer(i) => {
            out.push_str("i:");
            out.push_str(i.as_str());
        }
        DeValue::Float(f) => {
            out.push_str("f:");
            out.push_str(f.as_str());
        }
        DeValue::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        DeValue::Datetime(d) => {
            out.push_str("d:");
            out.push_str(&d.to_string());
        }
        DeValue::Array(items) => {
            out.push('[');
            for item in items.iter() {
                canonical(item.get_ref(), out);
                out.push(',');
            }
            out.push(']');
        }
        DeValue::Table(table) => {
            let mut entries: Vec<_> = table.iter().collect();
            entries.sort_by(|a, b| a.0.get_ref().cmp(b.0.get_ref()));
            out.push('{');
            for (key, value) in entries {
                out.push_str(key.get_ref());
                out.push('=');
                canonical(value.get_ref(), out);
                out.push(',');
            }
            out.push('}');
        }
    }
}
