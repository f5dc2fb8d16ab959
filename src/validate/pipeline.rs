//! The validation pipeline: syntax, top-level tables, variables, tasks, graph.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use miette::{IntoDiagnostic, WrapErr};
use planrun_text::did_you_mean;
use toml::de::{DeTable, DeValue};

use super::document::{deserialize, key_span, str_items};
use super::error::{ErrorKind, InvalidPlan, PlanError};
use super::graph::build_graph;
use super::model::{PlanHeader, ValidatedPlan};
use super::task_ref::check_references;
use super::task_table::{TaskContext, parse_task};
use super::vars::resolve_vars;
use crate::plan::{PlanSource, RawHeader};
use crate::redact::Redactor;

const TOP_LEVEL_KEYS: &[&str] = &["plan", "vars", "tasks"];

/// Reads and validates a plan file. `overrides` are `--var` pairs.
pub fn load_and_validate(
    path: &Path,
    overrides: &[(String, String)],
) -> miette::Result<ValidatedPlan> {
    let source = PlanSource::read(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read plan {}", path.display()))?;
    validate(Arc::new(source), overrides, &|name| {
        std::env::var(name).ok()
    })
    .map_err(miette::Report::new)
}

/// Validates a plan, reporting every problem at once.
pub fn validate(
    source: Arc<PlanSource>,
    overrides: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ValidatedPlan, InvalidPlan> {
    let invalid =
        |errors| InvalidPlan::new(source.named(), source.path().display().to_string(), errors);
    let text = source.text();
    let (root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        let errors = syntax
            .iter()
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                PlanError::new(
                    ErrorKind::Syntax,
                    format!("TOML syntax: {}", e.message().trim()),
                )
                .at(span, "here")
                .help("fix the TOML syntax first; the plan's other checks run once it parses")
            })
            .collect();
        return Err(invalid(errors));
    }
    let root = root.into_inner();
    let mut errors = Vec::new();

    for (key, _) in root.iter() {
        let name: &str = key.get_ref();
        if !TOP_LEVEL_KEYS.contains(&name) {
            let help = match did_you_mean(name, TOP_LEVEL_KEYS.iter().copied()) {
                Some(close) => format!("did you mean `[{close}]`?"),
                None => "a plan has [plan], [vars] and [tasks.<id>] tables".into(),
            };
            errors.push(
                PlanError::new(
                    ErrorKind::UnknownKey,
                    format!("unknown top-level key `{name}`"),
                )
                .at(key.span(), "unknown key")
                .help(help),
            );
        }
    }

    let start = 0..0usize;
    let header = match root.get("plan") {
        Some(value) => match value.get_ref() {
            DeValue::Table(t) => {
                let key = key_span(&root, "plan").unwrap_or(start.clone());
                deserialize::<RawHeader>(t.clone(), value.span(), key)
                    .map_err(|e| errors.push(e))
                    .ok()
            }
            other => {
                errors.push(
                    PlanError::new(
                        ErrorKind::WrongType,
                        format!("`plan` must be a table, not {}", other.type_str()),
                    )
                    .at(value.span(), "wrong type")
                    .help("write [plan] with name = \"...\" below it"),
                );
                None
            }
        },
        None => {
            errors.push(
                PlanError::new(ErrorKind::MissingField, "the plan has no [plan] table")
                    .at(start.clone(), "expected [plan] in this file")
                    .help("start the plan with [plan] and name = \"...\""),
            );
            None
        }
    };

    let plan_name = header.as_ref().map_or_else(String::new, |h| h.name.clone());
    let builtins = [
        ("plan_dir", source.dir().display().to_string()),
        ("plan_name", plan_name),
    ];
    let vars_table = match root.get("vars") {
        Some(value) => match value.get_ref() {
            DeValue::Table(t) => Some((t, key_span(&root, "vars").unwrap_or(value.span()))),
            other => {
                errors.push(
                    PlanError::new(
                        ErrorKind::WrongType,
                        format!("`vars` must be a table, not {}", other.type_str()),
                    )
                    .at(value.span(), "wrong type")
                    .help("write [vars] with name = \"value\" lines below it"),
                );
                None
            }
        },
        None => None,
    };
    let vars = resolve_vars(vars_table, overrides, env, &builtins, &mut errors);
    let redactor = Redactor::new();
    for var in vars.iter().filter(|v| v.secret) {
        redactor.add(var.value.clone());
    }
    let values: HashMap<String, String> = vars
        .iter()
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect();
    let cx = TaskContext {
        vars: &values,
        plan_dir: source.dir(),
        redactor: &redactor,
        source: text,
        regexes: Default::default(),
    };

    let mut parsed = Vec::new();
    let mut unparsed = Vec::new();
    let mut all_ids = HashMap::new();
    match root.get("tasks").map(|v| (v.get_ref(), v.span())) {
        Some((DeValue::Table(tasks), _)) => {
            if tasks.is_empty() {
                errors.push(
                    PlanError::new(ErrorKind::MissingField, "the plan has no tasks")
                        .at(key_span(&root, "tasks").unwrap_or(start.clone()), "empty")
                        .help("add tasks as [tasks.<id>] tables"),
                );
            }
            for (key, _) in tasks.iter() {
                all_ids.insert(key.get_ref().to_string(), key.span());
            }
            for (key, value) in tasks.iter() {
                match parse_task(key.get_ref(), key.span(), value, &cx, &mut errors) {
                    Some(task) => parsed.push(task),
                    None => {
                        let needs = match value.get_ref() {
                            DeValue::Table(t) => str_items(t, "needs")
                                .into_iter()
                                .map(|(need, span)| (need.to_string(), span))
                                .collect(),
                            _ => Vec::new(),
                        };
                        unparsed.push((key.get_ref().to_string(), needs));
                    }
                }
            }
        }
        Some((other, span)) => errors.push(
            PlanError::new(
                ErrorKind::WrongType,
                format!("`tasks` must be a table, not {}", other.type_str()),
            )
            .at(span, "wrong type")
            .help("write each task as a [tasks.<id>] table"),
        ),
        None => errors.push(
            PlanError::new(ErrorKind::MissingField, "the plan has no tasks")
                .at(start.clone(), "expected [tasks.<id>] tables in this file")
                .help("add tasks as [tasks.<id>] tables with a type = \"...\""),
        ),
    }

    let order = build_graph(&mut parsed, &unparsed, &all_ids, &mut errors);
    if order.is_some() {
        let tasks: Vec<_> = parsed.iter().map(|p| p.task.clone()).collect();
        check_references(&tasks, &mut errors);
    }
    let (Some(header), Some(order), true) = (header, order, errors.is_empty()) else {
        return Err(invalid(errors));
    };
    Ok(ValidatedPlan {
        source: source.clone(),
        header: PlanHeader {
            name: header.name,
            description: header.description,
            context: header.context,
        },
        vars,
        tasks: parsed.into_iter().map(|p| p.task).collect(),
        order,
        redactor,
    })
}
