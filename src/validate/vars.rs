//! `[vars]`: declared variables, `--var` overrides and environment values resolved
//! into one value each, plus the built-in variables.

use std::collections::HashMap;
use std::ops::Range;

use toml::de::DeValue;

use super::document::{Table, deserialize};
use super::error::{ErrorKind, PlanError};
use super::model::{VarOrigin, Variable};
use crate::plan::RawVarSpec;
use planrun_text::did_you_mean;

/// Variables every plan has without declaring them.
pub const BUILTIN_VARS: &[&str] = &["plan_dir", "plan_name"];

/// What a variable taken from an environment variable that is not set gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unset {
    /// Nothing: the plan is invalid, since a run needs the value.
    Invalid,
    /// [`STAND_IN`], with a warning: to check, list or draw a plan where its
    /// secrets are not at hand (a CI job, another terminal), nothing runs.
    StandIn,
}

/// The value [`Unset::StandIn`] gives: a word any name, path or argument takes.
pub const STAND_IN: &str = "stand-in";

/// Resolves the `[vars]` table. `env` looks environment variables up (injected so
/// tests need not touch the process environment); `unset` says what a variable
/// whose environment variable is not set gets (a warning goes to `warnings`).
pub fn resolve_vars(
    table: Option<(&Table<'_>, Range<usize>)>,
    overrides: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
    unset: Unset,
    builtins: &[(&str, String)],
    errors: &mut Vec<PlanError>,
    warnings: &mut Vec<PlanError>,
) -> Vec<Variable> {
    let mut vars = Vec::new();
    let mut declared: HashMap<String, Range<usize>> = HashMap::new();
    if let Some((table, _)) = table {
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            let span = key.span();
            if !is_identifier(name) {
                errors.push(
                    PlanError::new(ErrorKind::BadValue, format!("bad variable name `{name}`"))
                        .at(span.clone(), "not a valid name")
                        .help("variable names use letters, digits, `_` and `-`, and start with a letter or `_`"),
                );
                continue;
            }
            if BUILTIN_VARS.contains(&name) {
                errors.push(
                    PlanError::new(
                        ErrorKind::BadValue,
                        format!("`{name}` is a built-in variable"),
                    )
                    .at(span.clone(), "reserved name")
                    .help(format!(
                        "built-in variables ({}) cannot be declared; pick another name",
                        BUILTIN_VARS.join(", ")
                    )),
                );
                continue;
            }
            let spec = match value.get_ref() {
                DeValue::String(s) => RawVarSpec {
                    value: Some(s.to_string()),
                    ..RawVarSpec::default()
                },
                DeValue::Table(t) => {
                    match deserialize::<RawVarSpec>(t.clone(), value.span(), span.clone()) {
                        Ok(spec) => spec,
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    }
                }
                other => {
                    errors.push(
                        PlanError::new(
                            ErrorKind::WrongType,
                            format!("variable `{name}` must be a string or a table, not {}", other.type_str()),
                        )
                        .at(value.span(), "wrong type")
                        .help(format!("write `{name} = \"value\"` or `{name} = {{ value = \"...\", secret = true }}`")),
                    );
                    continue;
                }
            };
            declared.insert(name.to_string(), span.clone());
            let overridden = overrides.iter().rev().find(|(k, _)| k == name);
            let from_env = spec.env.as_deref().and_then(env);
            let (value, origin) = match (overridden, from_env, spec.value) {
                (Some((_, v)), _, _) => (v.clone(), VarOrigin::CommandLine),
                (None, Some(v), _) => (v, VarOrigin::Env),
                (None, None, Some(v)) => (v, VarOrigin::Plan),
                (None, None, None) if let (Some(var), Unset::StandIn) = (&spec.env, unset) => {
                    warnings.push(
                        PlanError::new(
                            ErrorKind::StandIn,
                            format!("variable `{name}` has no value here: {var} is not set"),
                        )
                        .at(span, "checked with a stand-in value")
                        .help(format!(
                            "its uses were checked with the value `{STAND_IN}`; a run needs {var} set (or `--var {name}=...`)"
                        )),
                    );
                    (STAND_IN.to_owned(), VarOrigin::StandIn)
                }
                (None, None, None) => {
                    let help = match &spec.env {
                        Some(var) => {
                            format!("set the environment variable {var} or give `--var {name}=...`")
                        }
                        None => format!("give it with `--var {name}=...` or add `value = \"...\"`"),
                    };
                    errors.push(
                        PlanError::new(
                            ErrorKind::MissingField,
                            format!("variable `{name}` has no value"),
                        )
                        .at(span, "declared without a value")
                        .help(help),
                    );
                    // Still defined, so its uses are not reported again as undefined.
                    (String::new(), VarOrigin::Plan)
                }
            };
            vars.push(Variable {
                name: name.to_string(),
                value,
                secret: spec.secret,
                origin,
            });
        }
    }
    let vars_span = table.map(|(_, span)| span);
    for (name, _) in overrides {
        if !declared.contains_key(name) {
            let known: Vec<&str> = declared.keys().map(String::as_str).collect();
            let mut error = PlanError::new(
                ErrorKind::UndefinedVariable,
                format!("--var {name}: the plan declares no variable `{name}`"),
            );
            if let Some(span) = vars_span.clone() {
                error = error.at(span, "variables are declared here");
            }
            let help = match did_you_mean(name, known.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => {
                    "declare it in [vars] first, so a typo on the command line cannot go unnoticed"
                        .into()
                }
            };
            errors.push(error.help(help));
        }
    }
    for (name, value) in builtins {
        vars.push(Variable {
            name: (*name).to_string(),
            value: value.clone(),
            secret: false,
            origin: VarOrigin::Plan,
        });
    }
    vars
}

/// `[A-Za-z_][A-Za-z0-9_-]*`
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Parses a `--var key=value` argument.
pub fn parse_override(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((key, value)) if is_identifier(key) => Ok((key.to_string(), value.to_string())),
        Some((key, _)) => Err(format!("`{key}` is not a variable name")),
        None => Err(format!("expected key=value, got `{arg}`")),
    }
}
