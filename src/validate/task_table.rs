//! One task table -> [`Task`]: interpolation, the key groups of its type, and the
//! checks serde cannot make (exclusive keys, durations, patterns).

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use regex::Regex;
use sha2::{Digest, Sha256};
use toml::Spanned;
use toml::de::DeValue;

use super::document::{Table, canonical, deserialize, key_span, str_items, str_value, value_span};
use super::error::{ErrorKind, PlanError};
use super::interpolate::{ScriptReference, interpolate, interpolate_script};
use super::model::{RetryPolicy, Task};
use super::selection::{Selection, build_selection};
use super::shell::Place;
use super::task::TaskKind;
use crate::plan::{COMMON_KEYS, RawCommon, RawSelection, SELECTION_KEYS, TaskType};
use crate::redact::Redactor;
use planrun_text::{DURATION_HELP, did_you_mean, parse_duration};

/// Default deadline of tasks that wait on the cluster.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(300);
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// A task before its `needs` are resolved to indexes.
pub struct ParsedTask {
    pub task: Task,
    /// Each entry of `needs` with its span.
    pub needs: Vec<(String, Range<usize>)>,
}

/// What every task of a plan is checked against.
pub struct TaskContext<'a> {
    pub vars: &'a HashMap<String, String>,
    pub plan_dir: &'a Path,
    pub redactor: &'a Redactor,
    pub source: &'a str,
    /// Compiled patterns by source text.
    pub regexes: std::cell::RefCell<HashMap<String, Regex>>,
    /// What deserves a second look without making the plan invalid.
    pub warnings: std::cell::RefCell<Vec<PlanError>>,
    /// Every variable as `PLANRUN_VAR_<NAME>`, for exec-script children.
    pub exported: std::sync::Arc<Vec<(String, String)>>,
}

/// The keys of a task type whose value is shell source.
fn shell_keys(raw: &Table<'_>) -> &'static [&'static str] {
    match str_value(raw, "type") {
        // `verify` is shell source too: the same quoting rules.
        Some((name, _)) if TaskType::from_name(name) == Some(TaskType::ExecScript) => {
            &["script", "verify"]
        }
        _ => &[],
    }
}

/// Parses one `[tasks.<id>]` table; `None` when it has errors (pushed to `errors`).
pub fn parse_task(
    id: &str,
    id_span: Range<usize>,
    value: &Spanned<DeValue<'_>>,
    cx: &TaskContext<'_>,
    errors: &mut Vec<PlanError>,
) -> Option<ParsedTask> {
    let before = errors.len();
    if !is_task_id(id) {
        errors.push(
            PlanError::new(ErrorKind::BadValue, format!("bad task id `{id}`"))
                .at(id_span.clone(), "not a valid task id")
                .help("task ids use letters, digits, `_`, `-` and `.`, start with a letter or digit, and name log files"),
        );
    }
    let DeValue::Table(raw) = value.get_ref() else {
        errors.push(
            PlanError::new(
                ErrorKind::WrongType,
                format!(
                    "task `{id}` must be a table, not {}",
                    value.get_ref().type_str()
                ),
            )
            .at(value.span(), "wrong type")
            .help(format!(
                "write it as a table: [tasks.{id}] with type = \"...\" below"
            )),
        );
        return None;
    };
    let table = interpolate_table(raw, cx, errors, shell_keys(raw));
    let span = value.span();
    let Some(task_type) = task_type_of(id, &id_span, &table, errors) else {
        // Its own keys cannot be checked without a known type, but the keys every
        // task takes can: every mistake is reported at once, not after the type is
        // fixed.
        check_common(&table, &span, &id_span, errors);
        return None;
    };
    let suggested = check_unknown_keys(id, &table, task_type, errors);
    let parsed = build_task(id, &id_span, &span, &table, task_type, cx, errors);
    // A misspelled key explains the missing-key problems of the key it suggests: only
    // the misspelling is reported.
    let mut i = before;
    while i < errors.len() {
        if errors[i]
            .missing
            .iter()
            .any(|k| suggested.contains(k.as_str()))
        {
            errors.remove(i);
        } else {
            i += 1;
        }
    }
    parsed.filter(|_| errors.len() == before)
}

/// The task's type, or `None` with the problem reported (unknown, missing, not a
/// string).
fn task_type_of(
    id: &str,
    id_span: &Range<usize>,
    table: &Table<'_>,
    errors: &mut Vec<PlanError>,
) -> Option<TaskType> {
    match str_value(table, "type") {
        Some((name, type_span)) => {
            let found = TaskType::from_name(name);
            if found.is_none() {
                let help = match did_you_mean(name, TaskType::ALL.iter().map(|t| t.name())) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("known types: {}", type_names()),
                };
                errors.push(
                    PlanError::new(
                        ErrorKind::UnknownTaskType,
                        format!("unknown task type `{name}`"),
                    )
                    .at(type_span, "no such task type")
                    .help(help),
                );
            }
            found
        }
        None => {
            let error = match value_span(table, "type") {
                Some(type_span) => PlanError::new(
                    ErrorKind::WrongType,
                    format!("task `{id}`: `type` must be a string"),
                )
                .at(type_span, "not a string"),
                None => PlanError::new(
                    ErrorKind::MissingField,
                    format!("task `{id}` has no `type`"),
                )
                .at(id_span.clone(), "this task"),
            };
            errors.push(error.help(format!("add type = \"...\", one of: {}", type_names())));
            None
        }
    }
}

/// The keys every task takes, checked: their types and durations.
struct Common {
    raw: RawCommon,
    timeout: Option<Duration>,
    backoff: Duration,
    backoff_max: Duration,
}

/// Checks the keys every task takes, whatever its type; `None` when one is wrong
/// (reported).
fn check_common(
    table: &Table<'_>,
    span: &Range<usize>,
    id_span: &Range<usize>,
    errors: &mut Vec<PlanError>,
) -> Option<Common> {
    let raw = deserialize::<RawCommon>(
        super::document::subtable(table, &COMMON_KEYS[1..]),
        span.clone(),
        id_span.clone(),
    );
    let raw = keep(raw, errors);
    let before = errors.len();
    // Durations are read from the table, so a bad one is reported even when another
    // common key has the wrong type.
    let mut duration = |key: &str| {
        let text = str_value(table, key).map(|(text, _)| text);
        duration_key(table, key, text, errors)
    };
    let timeout = duration("timeout");
    let backoff = duration("backoff").unwrap_or(DEFAULT_BACKOFF);
    let backoff_max = duration("backoff_max").unwrap_or(DEFAULT_BACKOFF_MAX);
    let raw = raw?;
    (errors.len() == before).then_some(Common {
        raw,
        timeout,
        backoff,
        backoff_max,
    })
}

/// The task of a known type; `None` when it has problems (reported).
fn build_task(
    id: &str,
    id_span: &Range<usize>,
    span: &Range<usize>,
    table: &Table<'_>,
    task_type: TaskType,
    cx: &TaskContext<'_>,
    errors: &mut Vec<PlanError>,
) -> Option<ParsedTask> {
    let before = errors.len();
    let selection = task_type.info().selection.then(|| {
        deserialize::<RawSelection>(
            super::document::subtable(table, SELECTION_KEYS),
            span.clone(),
            id_span.clone(),
        )
    });
    let own_keys: Vec<&str> = task_type.own_keys().iter().map(String::as_str).collect();
    let own = super::document::subtable(table, &own_keys);

    let common = check_common(table, span, id_span, errors);
    let selection = match selection {
        Some(s) => {
            keep(s, errors).and_then(|s| build_selection(cx, s, table, id, task_type, errors))
        }
        None => None,
    };
    let mut builder = Builder {
        id,
        id_span: id_span.clone(),
        table,
        own,
        span: span.clone(),
        selection,
        cx,
        errors,
    };
    let kind = TaskKind::build(task_type, &mut builder);
    let common = common?;
    let timeout = common
        .timeout
        .or_else(|| task_type.info().waits.then_some(DEFAULT_WAIT_TIMEOUT));
    let needs = str_items(table, "needs")
        .into_iter()
        .map(|(need, need_span)| (need.to_string(), need_span))
        .collect();

    let kind = kind?;
    if errors.len() > before {
        return None;
    }
    let fingerprint = fingerprint(table, cx.redactor);
    Some(ParsedTask {
        task: Task {
            id: id.to_string(),
            description: common.raw.description,
            needs: Vec::new(),
            timeout,
            retry: RetryPolicy {
                retries: common.raw.retries,
                backoff: common.backoff,
                backoff_max: common.backoff_max.max(common.backoff),
            },
            // A notification that is not required never fails the run.
            allow_failure: common.raw.allow_failure
                || matches!(&kind, TaskKind::Notify(n) if !n.required),
            always: common.raw.always,
            kind,
            fingerprint,
        },
        needs,
    })
}

fn type_names() -> String {
    TaskType::ALL
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[A-Za-z0-9][A-Za-z0-9_.-]*`, never `..` (ids name log files).
pub fn is_task_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !id.contains("..")
}

fn keep<T>(result: Result<T, PlanError>, errors: &mut Vec<PlanError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// Reports keys the type does not take; returns the keys suggested for them.
fn check_unknown_keys(
    id: &str,
    table: &Table<'_>,
    task_type: TaskType,
    errors: &mut Vec<PlanError>,
) -> std::collections::BTreeSet<&'static str> {
    let mut suggested = std::collections::BTreeSet::new();
    let own = task_type.own_keys();
    let allowed = || {
        COMMON_KEYS
            .iter()
            .copied()
            .chain(
                task_type
                    .info()
                    .selection
                    .then_some(SELECTION_KEYS)
                    .into_iter()
                    .flatten()
                    .copied(),
            )
            .chain(own.iter().map(String::as_str))
    };
    for (key, _) in table.iter() {
        let name: &str = key.get_ref();
        if allowed().any(|k| k == name) {
            continue;
        }
        let help = match did_you_mean(name, allowed()) {
            Some(close) => {
                suggested.insert(close);
                format!("did you mean `{close}`?")
            }
            None => {
                let mut keys: Vec<&str> = allowed().collect();
                keys.sort_unstable();
                format!("a `{}` task takes: {}", task_type.name(), keys.join(", "))
            }
        };
        errors.push(
            PlanError::new(
                ErrorKind::UnknownKey,
                format!("unknown key `{name}` in task `{id}` ({})", task_type.name()),
            )
            .at(key.span(), "unknown key")
            .help(help),
        );
    }
    suggested
}

/// Interpolates every string value (not keys) of a task table; the values of
/// `shell_keys` are shell source (see [`interpolate_script`]).
pub(super) fn interpolate_table<'a>(
    table: &Table<'a>,
    cx: &TaskContext<'_>,
    errors: &mut Vec<PlanError>,
    shell_keys: &[&str],
) -> Table<'a> {
    let mut out = Table::new();
    for (key, value) in table.iter() {
        let shell = shell_keys.contains(&key.get_ref().as_ref());
        out.insert(key.clone(), interpolate_value(value, cx, errors, shell));
    }
    out
}

/// Where the reference at `range` of string `value` (written at `span`) is in the
/// plan file: the same occurrence of its text in the value's source, else the value.
fn reference_span(
    cx: &TaskContext<'_>,
    span: &Range<usize>,
    value: &str,
    range: Range<usize>,
) -> Range<usize> {
    let reference = &value[range.clone()];
    let nth = value[..range.start].matches(reference).count();
    let raw = cx.source.get(span.clone()).unwrap_or("");
    raw.match_indices(reference)
        .nth(nth)
        .map_or(span.clone(), |(i, _)| {
            span.start + i..span.start + i + reference.len()
        })
}

/// A reference a script cannot take, or takes raw, as a problem or a warning.
fn script_reference(found: &ScriptReference, at: Range<usize>) -> PlanError {
    let name = &found.name;
    let env = exported_name(name);
    if found.raw {
        return PlanError::new(
            ErrorKind::RawReference,
            format!("`{{{{ raw({name}) }}}}` pastes the value of `{name}` into the script as written"),
        )
        .at(at, "pasted as shell source")
        .help(format!(
            "a value with shell syntax in it changes what the script does; write `{{{{ {name} }}}}` for the value as one quoted word, or use \"${env}\""
        ));
    }
    let (label, why) = match found.place {
        Place::Quoted => (
            "inside quotes",
            "inside quotes a quoted value would show its quotes, and a quote in the value could end the string",
        ),
        Place::HereDoc => (
            "in a here-document",
            "a line of the value could end the here-document",
        ),
        Place::Backticks => (
            "inside backticks",
            "quoting nests differently inside backticks",
        ),
        Place::Word | Place::Comment | Place::Unknown => (
            "where planrun cannot tell how the shell reads it",
            "planrun could not follow the script up to here (an unbalanced `)`?)",
        ),
    };
    PlanError::new(
        ErrorKind::UnquotableReference,
        format!("`{{{{ {name} }}}}` is {label} in a script: {why}"),
    )
    .at(at, label)
    .help(format!(
        "the value goes in as one quoted shell word where the shell reads words: write `{{{{ {name} }}}}` outside quotes (`echo {{{{ {name} }}}}`), or read the variable from the environment, \"${env}\""
    ))
}

/// The environment variable a plan variable is exported as to exec-script children:
/// `PLANRUN_VAR_` and the name in upper case, every other character than a letter
/// or a digit as `_`.
pub fn exported_name(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PLANRUN_VAR_{upper}")
}

fn interpolate_value<'a>(
    value: &Spanned<DeValue<'a>>,
    cx: &TaskContext<'_>,
    errors: &mut Vec<PlanError>,
    shell: bool,
) -> Spanned<DeValue<'a>> {
    let span = value.span();
    let new = match value.get_ref() {
        DeValue::String(s) => {
            let mut undefined = Vec::new();
            let out = if shell {
                let (mut refused, mut raw) = (Vec::new(), Vec::new());
                let out = interpolate_script(s, cx.vars, &mut undefined, &mut refused, &mut raw);
                for found in &refused {
                    let at = reference_span(cx, &span, s, found.range.clone());
                    errors.push(script_reference(found, at));
                }
                for found in &raw {
                    let at = reference_span(cx, &span, s, found.range.clone());
                    cx.warnings.borrow_mut().push(script_reference(found, at));
                }
                out
            } else {
                interpolate(s, cx.vars, &mut undefined)
            };
            for missing in undefined {
                let at = reference_span(cx, &span, s, missing.range.clone());
                let mut known: Vec<&str> = cx.vars.keys().map(String::as_str).collect();
                known.sort_unstable();
                let help = match did_you_mean(&missing.name, known.iter().copied()) {
                    Some(close) => format!("did you mean `{{{{ {close} }}}}`?"),
                    None => format!(
                        "declare it in [vars] or give --var {}=...; defined: {}",
                        missing.name,
                        known.join(", ")
                    ),
                };
                errors.push(
                    PlanError::new(
                        ErrorKind::UndefinedVariable,
                        format!("undefined variable `{}`", missing.name),
                    )
                    .at(at, "not defined")
                    .help(help),
                );
            }
            DeValue::String(out.into_owned().into())
        }
        DeValue::Array(items) => {
            let mut array = toml::de::DeArray::new();
            for item in items.iter() {
                array.push(interpolate_value(item, cx, errors, false));
            }
            DeValue::Array(array)
        }
        DeValue::Table(t) => DeValue::Table(interpolate_table(t, cx, errors, &[])),
        other => other.clone(),
    };
    Spanned::new(span, new)
}

fn duration_key(
    table: &Table<'_>,
    key: &str,
    text: Option<&str>,
    errors: &mut Vec<PlanError>,
) -> Option<Duration> {
    let text = text?;
    match parse_duration(text) {
        Ok(d) => Some(d),
        Err(reason) => {
            let span = value_span(table, key).unwrap_or(0..0);
            errors.push(
                PlanError::new(
                    ErrorKind::BadDuration,
                    format!("bad duration `{text}` for `{key}`: {reason}"),
                )
                .at(span, "not a duration")
                .help(DURATION_HELP),
            );
            None
        }
    }
}

/// Which of the mutually exclusive `candidates` (each paired with whether the task
/// sets it) the task sets: `Some(None)` for none, `None` when it sets several (the
/// conflict is reported, `help` naming the keys).
pub(super) fn exactly_one<'k>(
    id: &str,
    table: &Table<'_>,
    candidates: &[(&'k str, bool)],
    errors: &mut Vec<PlanError>,
) -> Option<Option<&'k str>> {
    let given: Vec<&str> = candidates
        .iter()
        .filter_map(|(k, set)| set.then_some(*k))
        .collect();
    if given.len() > 1 {
        let names: Vec<String> = candidates.iter().map(|(k, _)| format!("`{k}`")).collect();
        let help = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => {
                format!("give exactly one of {} or {last}", rest.join(", "))
            }
            _ => "give one of them".to_owned(),
        };
        errors.push(conflict(id, table, &given, &help));
        return None;
    }
    Some(given.first().copied())
}

/// A task that sets two (or more) of `keys`, which exclude one another: the first
/// two named, every one of them pointed at.
pub(super) fn conflict(id: &str, table: &Table<'_>, keys: &[&str], help: &str) -> PlanError {
    let mut error = PlanError::new(
        ErrorKind::ConflictingFields,
        format!("task `{id}` sets both `{}` and `{}`", keys[0], keys[1]),
    );
    for key in keys {
        if let Some(span) = key_span(table, key) {
            error = error.at(span, format!("`{key}` here"));
        }
    }
    error.help(help)
}

/// Compiles `pattern`, once per distinct pattern of a plan (a 10,000-task plan
/// repeats a handful of patterns; compiling each copy dominated validation time).
pub(super) fn regex_at(
    cx: &TaskContext<'_>,
    table: &Table<'_>,
    key: &str,
    pattern: &str,
    span: Option<Range<usize>>,
    errors: &mut Vec<PlanError>,
) -> Option<Regex> {
    if let Some(re) = cx.regexes.borrow().get(pattern) {
        return Some(re.clone());
    }
    match Regex::new(pattern) {
        Ok(re) => {
            cx.regexes
                .borrow_mut()
                .insert(pattern.to_string(), re.clone());
            Some(re)
        }
        Err(e) => {
            let span = span.or_else(|| value_span(table, key)).unwrap_or(0..0);
            let reason = e.to_string();
            let reason = reason
                .lines()
                .last()
                .unwrap_or("invalid")
                .trim()
                .trim_start_matches("error: ");
            errors.push(
                PlanError::new(ErrorKind::BadRegex, format!("bad regular expression for `{key}`: {reason}"))
                    .at(span, "not a valid regex")
                    .help("patterns use Rust regex syntax; escape dots as `\\\\.` in TOML basic strings or use 'literal strings'"),
            );
            None
        }
    }
}

/// What the type-specific part of a task is built from: the task's own keys, its
/// selection (for the types that take one), and where to report problems. Each
/// task type's `build` (under `validate/task/`) uses it.
pub(super) struct Builder<'b, 'a> {
    pub id: &'b str,
    pub id_span: Range<usize>,
    pub table: &'b Table<'a>,
    own: Table<'a>,
    span: Range<usize>,
    selection: Option<Selection>,
    pub cx: &'b TaskContext<'b>,
    pub errors: &'b mut Vec<PlanError>,
}

impl Builder<'_, '_> {
    /// The type's own keys, deserialized.
    pub fn own<T: serde::de::DeserializeOwned>(&mut self) -> Option<T> {
        let own = std::mem::take(&mut self.own);
        keep(
            deserialize::<T>(own, self.span.clone(), self.id_span.clone()),
            self.errors,
        )
    }

    /// The task's selection (`None` when it had errors, already reported).
    pub fn selection(&mut self) -> Option<Selection> {
        self.selection.take()
    }

    /// The task's selection, refused (with `why`) when it uses `group_pattern`: for
    /// task types that must know their kinds in advance.
    pub fn selection_of_named_kinds(&mut self, why: &str) -> Option<Selection> {
        let selection = self.selection.take()?;
        if matches!(selection.kinds, super::selection::KindSet::GroupPattern(_)) {
            let span = key_span(self.table, "group_pattern").unwrap_or(self.id_span.clone());
            self.errors.push(
                PlanError::new(
                    ErrorKind::ConflictingFields,
                    format!("task `{}` cannot select kinds by `group_pattern`", self.id),
                )
                .at(span, "not for this task type")
                .help(why.to_owned()),
            );
            return None;
        }
        Some(selection)
    }

    /// Reports a problem with the value of `key` (or the task, without one).
    pub fn error(&mut self, kind: ErrorKind, message: String, key: &str, label: &str, help: &str) {
        let span = value_span(self.table, key).unwrap_or(self.id_span.clone());
        self.errors
            .push(PlanError::new(kind, message).at(span, label).help(help));
    }

    /// A path of the plan, resolved against the plan's directory.
    pub fn path(&self, rel: Option<&str>) -> std::path::PathBuf {
        normalize(&self.cx.plan_dir.join(rel.unwrap_or(".")))
    }

    /// The pattern at `key`, compiled.
    pub fn regex(&mut self, key: &str, pattern: &str) -> Option<Regex> {
        regex_at(self.cx, self.table, key, pattern, None, self.errors)
    }

    /// `pattern` (from the value of `key`), compiled; an error points at `span` when
    /// given.
    pub fn regex_at(
        &mut self,
        key: &str,
        pattern: &str,
        span: Option<Range<usize>>,
    ) -> Option<Regex> {
        regex_at(self.cx, self.table, key, pattern, span, self.errors)
    }

    /// The patterns of the list at `key`, compiled, each error pointing at its item.
    pub fn regexes(&mut self, key: &str, patterns: &[String]) -> Vec<Option<Regex>> {
        let items = str_items(self.table, key);
        patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let span = items.get(i).map(|(_, s)| s.clone());
                regex_at(self.cx, self.table, key, p, span, self.errors)
            })
            .collect()
    }
}

/// A hash of what the task does: its type and own keys with variables resolved;
/// common keys (needs, timeout, description...) are left out, and secret values
/// are masked first so no digest of a secret is ever stored.
fn fingerprint(table: &Table<'_>, redactor: &Redactor) -> String {
    let mut canonical_text = String::new();
    let mut entries: Vec<_> = table
        .iter()
        .filter(|(k, _)| {
            let key: &str = k.get_ref();
            key == "type" || !COMMON_KEYS.contains(&key)
        })
        .collect();
    entries.sort_by(|a, b| a.0.get_ref().cmp(b.0.get_ref()));
    for (key, value) in entries {
        canonical_text.push_str(key.get_ref());
        canonical_text.push('=');
        canonical(value.get_ref(), &mut canonical_text);
        canonical_text.push('\n');
    }
    let masked = redactor.redact(&canonical_text);
    let digest = Sha256::digest(masked.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Removes `.` and `..` components lexically, so paths read as a person writes them.
pub fn normalize(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}
