//! The validation pipeline: syntax, top-level tables, variables, tasks, graph.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use miette::{IntoDiagnostic, WrapErr};
use planrun_text::did_you_mean;
use toml::de::{DeTable, DeValue};

use super::document::{deserialize, key_span, str_items};
use super::error::{ErrorKind, InvalidPlan, PlanError, PlanWarnings};
use super::graph::build_graph;
use super::model::{PlanHeader, ValidatedPlan, VarOrigin};
use super::task::{ApplySource, TaskKind};
use super::task_ref::check_references;
use super::task_table::{ParsedTask, TaskContext, exported_name, parse_task};
use super::vars::{Unset, resolve_vars};
use crate::plan::{PlanSource, RawHeader};
use crate::redact::Redactor;

const TOP_LEVEL_KEYS: &[&str] = &["plan", "vars", "notify", "tasks"];

/// Gives each `kube-apply` that applies a capture the file its capture task writes.
fn link_captures(parsed: &mut [ParsedTask]) {
    let files: HashMap<String, String> = parsed
        .iter()
        .filter_map(|p| match &p.task.kind {
            TaskKind::Capture(c) => Some((p.task.id.clone(), c.file.clone())),
            _ => None,
        })
        .collect();
    for p in parsed.iter_mut() {
        if let TaskKind::KubeApply(apply) = &mut p.task.kind
            && let ApplySource::Capture { task, file } = &mut apply.source
        {
            file.clone_from(
                files
                    .get(task.id.as_str())
                    .unwrap_or(&format!("{}.yaml", task.id)),
            );
        }
    }
}

/// Reads and validates a plan file to run it. `overrides` are `--var` pairs.
pub fn load_and_validate(
    path: &Path,
    overrides: &[(String, String)],
) -> miette::Result<ValidatedPlan> {
    load(path, overrides, Unset::Invalid)
}

/// Reads and validates a plan file to check, list or draw it: a variable whose
/// environment variable is not set gets a stand-in and a warning
/// ([`Unset::StandIn`]). Such a plan never runs.
pub fn load_to_check(path: &Path, overrides: &[(String, String)]) -> miette::Result<ValidatedPlan> {
    load(path, overrides, Unset::StandIn)
}

fn load(
    path: &Path,
    overrides: &[(String, String)],
    unset: Unset,
) -> miette::Result<ValidatedPlan> {
    let source = PlanSource::read(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read plan {}", path.display()))?;
    validate_with(
        Arc::new(source),
        overrides,
        &|name| std::env::var(name).ok(),
        unset,
    )
    .map_err(miette::Report::new)
}

/// Every variable as `PLANRUN_VAR_<NAME>` (see [`exported_name`]); two variables
/// that would share a name are an error.
fn export_vars(
    vars: &[super::model::Variable],
    vars_span: Option<std::ops::Range<usize>>,
    errors: &mut Vec<PlanError>,
) -> Vec<(String, String)> {
    let mut by_name: HashMap<String, &str> = HashMap::new();
    let mut out = Vec::new();
    for var in vars {
        let name = exported_name(&var.name);
        if let Some(other) = by_name.insert(name.clone(), &var.name) {
            let mut error = PlanError::new(
                ErrorKind::BadValue,
                format!(
                    "variables `{other}` and `{}` would both be exported to scripts as {name}",
                    var.name
                ),
            );
            if let Some(span) = vars_span.clone() {
                error = error.at(span, "variables are declared here");
            }
            errors.push(error.help(
                "scripts get every variable as PLANRUN_VAR_<NAME> (upper case, other characters than letters and digits as `_`); rename one of them",
            ));
            continue;
        }
        out.push((name, var.value.clone()));
    }
    out
}

/// Validates a plan to run it, reporting every problem at once.
pub fn validate(
    source: Arc<PlanSource>,
    overrides: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ValidatedPlan, InvalidPlan> {
    validate_with(source, overrides, env, Unset::Invalid)
}

/// Validates a plan, reporting every problem at once; `unset` says what a variable
/// whose environment variable is not set gets.
fn validate_with(
    source: Arc<PlanSource>,
    overrides: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
    unset: Unset,
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
                None => "a plan has [plan], [vars], [notify] and [tasks.<id>] tables".into(),
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
    let vars_span = vars_table.as_ref().map(|(_, span)| span.clone());
    let mut stand_ins = Vec::new();
    let vars = resolve_vars(
        vars_table,
        overrides,
        env,
        unset,
        &builtins,
        &mut errors,
        &mut stand_ins,
    );
    let redactor = Redactor::new();
    // A stand-in is no secret: masking it would hide the word wherever it stands.
    for var in vars
        .iter()
        .filter(|v| v.secret && v.origin != VarOrigin::StandIn)
    {
        redactor.add_secret(&var.value);
    }
    let values: HashMap<String, String> = vars
        .iter()
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect();
    let exported = export_vars(&vars, vars_span, &mut errors);
    let cx = TaskContext {
        vars: &values,
        plan_dir: source.dir(),
        redactor: &redactor,
        source: text,
        regexes: Default::default(),
        warnings: Default::default(),
        exported: Arc::new(exported),
    };

    let notify = root.get("notify").and_then(|value| {
        let key = key_span(&root, "notify").unwrap_or(value.span());
        super::notify::notifications(value, key, &cx, &mut errors)
    });

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
        link_captures(&mut parsed);
    }
    let (Some(header), Some(order), true) = (header, order, errors.is_empty()) else {
        return Err(invalid(errors));
    };
    let mut warnings = cx.warnings.take();
    warnings.extend(stand_ins);
    let warnings = (!warnings.is_empty()).then(|| {
        PlanWarnings::new(
            source.named(),
            source.path().display().to_string(),
            warnings,
        )
    });
    Ok(ValidatedPlan {
        warnings,
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
        notify,
    })
}
