//! Rendered diagnostics of bad plans: each names the problem, points at the right
//! line, and says how to fix it. Snapshots are rendered without colour at a fixed
//! width.

use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme};
use planrun::plan::PlanSource;
use planrun::validate::{ErrorKind, InvalidPlan, validate};

const HEADER: &str = "[plan]\nname = \"t\"\n\n";

fn invalid(text: &str, overrides: &[(&str, &str)]) -> InvalidPlan {
    let overrides: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let source = Arc::new(PlanSource::new("plan.toml", text));
    match validate(source, &overrides, &|_| None) {
        Ok(_) => panic!("plan unexpectedly valid:\n{text}"),
        Err(e) => e,
    }
}

fn render(error: &InvalidPlan) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_links(false)
        .render_report(&mut out, error)
        .unwrap();
    out
}

/// Asserts the problems' kinds and the 1-based lines their primary spans are on.
fn assert_problems(text: &str, error: &InvalidPlan, expected: &[(ErrorKind, usize)]) {
    let got: Vec<(ErrorKind, usize)> = error
        .problems()
        .map(|p| {
            let offset = p.labels.first().map_or(0, |(s, _)| s.offset());
            (p.kind, text[..offset].matches('\n').count() + 1)
        })
        .collect();
    assert_eq!(got, expected, "kinds and lines of:\n{}", render(error));
}

fn check(name: &str, text: &str, expected: &[(ErrorKind, usize)]) {
    check_with(name, text, &[], expected);
}

fn check_with(name: &str, text: &str, overrides: &[(&str, &str)], expected: &[(ErrorKind, usize)]) {
    let error = invalid(text, overrides);
    assert_problems(text, &error, expected);
    insta::assert_snapshot!(name, render(&error));
}

#[test]
fn toml_syntax_error() {
    let text = format!("{HEADER}[tasks.a]\ntype = \"exec-script\ncommand = [\"true\"]\n");
    check("syntax", &text, &[(ErrorKind::Syntax, 5)]);
}

#[test]
fn unknown_top_level_key() {
    let text = format!(
        "{HEADER}[task.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\n\n[tasks.b]\ntype = \"exec-script\"\ncommand = [\"true\"]\n"
    );
    check("unknown_top_level", &text, &[(ErrorKind::UnknownKey, 4)]);
}

#[test]
fn unknown_key_with_suggestion() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\ntimout = \"5s\"\n"
    );
    check("unknown_key", &text, &[(ErrorKind::UnknownKey, 7)]);
}

#[test]
fn wrong_type() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\nretries = \"three\"\n"
    );
    check("wrong_type", &text, &[(ErrorKind::WrongType, 7)]);
}

#[test]
fn bad_duration() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\ntimeout = \"10 minutes\"\n"
    );
    check("bad_duration", &text, &[(ErrorKind::BadDuration, 7)]);
}

#[test]
fn bad_regex() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"kube-delete\"\nkind = \"CustomResourceDefinition\"\nname_pattern = \"(toolkit\"\n"
    );
    check("bad_regex", &text, &[(ErrorKind::BadRegex, 7)]);
}

#[test]
fn unknown_task_type_with_suggestion() {
    let text =
        format!("{HEADER}[tasks.a]\ntype = \"kube-delet\"\nkind = \"Namespace\"\nname = \"x\"\n");
    check(
        "unknown_task_type",
        &text,
        &[(ErrorKind::UnknownTaskType, 5)],
    );
}

/// An unknown type hides none of the task's other problems: the keys every task
/// takes are still checked.
#[test]
fn unknown_task_type_with_a_bad_timeout_gives_both_errors() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"wait-absnt\"\nkind = \"Namespace\"\nname = \"x\"\ntimeout = \"10 minutes\"\nretries = \"two\"\nneeds = [\"b\"]\n"
    );
    check(
        "unknown_type_and_common_keys",
        &text,
        &[
            (ErrorKind::UnknownTaskType, 5),
            (ErrorKind::BadDuration, 8),
            (ErrorKind::WrongType, 9),
            (ErrorKind::UnknownDependency, 10),
        ],
    );
}

/// A misspelled key is reported once: the key it stands for is not also reported
/// missing ("selects no objects", "missing key").
#[test]
fn a_misspelled_key_gives_only_its_own_error() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"kube-delete\"\nkind = \"Namespace\"\nnmae = \"x\"\n\n[tasks.b]\ntype = \"assert-deployments\"\nnamespace = \"x\"\ndeploymnts = {{ a = \"v1\" }}\n\n[tasks.c]\ntype = \"exec-script\"\nscritp = \"true\"\n"
    );
    check(
        "misspelled_keys_only",
        &text,
        &[
            (ErrorKind::UnknownKey, 7),
            (ErrorKind::UnknownKey, 12),
            (ErrorKind::UnknownKey, 16),
        ],
    );
}

/// A key that suggests nothing leaves the missing-key problem standing: it is a
/// problem of its own.
#[test]
fn an_unrelated_unknown_key_keeps_the_missing_key_error() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"kube-delete\"\nkind = \"Namespace\"\ncolour = \"blue\"\n"
    );
    let error = invalid(&text, &[]);
    assert_problems(
        &text,
        &error,
        &[(ErrorKind::MissingField, 6), (ErrorKind::UnknownKey, 7)],
    );
}

#[test]
fn duplicate_dependency() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\n\n[tasks.b]\ntype = \"exec-script\"\ncommand = [\"true\"]\nneeds = [\"a\", \"a\"]\n"
    );
    check(
        "duplicate_dependency",
        &text,
        &[(ErrorKind::DuplicateDependency, 11)],
    );
}

#[test]
fn unknown_dependency_with_suggestion() {
    let text = format!(
        "{HEADER}[tasks.capture-secrets]\ntype = \"exec-script\"\ncommand = [\"true\"]\n\n[tasks.b]\ntype = \"exec-script\"\ncommand = [\"true\"]\nneeds = [\"capture-secret\"]\n"
    );
    check(
        "unknown_dependency",
        &text,
        &[(ErrorKind::UnknownDependency, 11)],
    );
}

#[test]
fn cycle_names_every_task_in_order() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\nneeds = [\"c\"]\n\n\
         [tasks.b]\ntype = \"exec-script\"\ncommand = [\"true\"]\nneeds = [\"a\"]\n\n\
         [tasks.c]\ntype = \"exec-script\"\ncommand = [\"true\"]\nneeds = [\"b\"]\n\n\
         [tasks.d]\ntype = \"exec-script\"\ncommand = [\"true\"]\nneeds = [\"c\"]\n"
    );
    let error = invalid(&text, &[]);
    let problem = error.problems().next().unwrap();
    assert_eq!(problem.message, "dependency cycle: a -> b -> c -> a");
    assert_eq!(problem.labels.len(), 3, "one label per link of the cycle");
    check("cycle", &text, &[(ErrorKind::Cycle, 7)]);
}

/// A cycle through a task with a mistake of its own is named too: one pass reports
/// every mistake.
#[test]
fn a_cycle_through_a_task_with_another_mistake_is_still_named() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\ntimout = \"1m\"\nneeds = [\"b\"]\n\n\
         [tasks.b]\ntype = \"exec-script\"\ncommand = [\"true\"]\nneeds = [\"a\"]\n"
    );
    let error = invalid(&text, &[]);
    let messages: Vec<String> = error.problems().map(|p| p.message.clone()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m == "dependency cycle: a -> b -> a"),
        "{messages:?}"
    );
    assert_problems(
        &text,
        &error,
        &[(ErrorKind::UnknownKey, 7), (ErrorKind::Cycle, 8)],
    );
}

#[test]
fn self_dependency_is_a_cycle() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\nneeds = [\"a\"]\n"
    );
    check("self_cycle", &text, &[(ErrorKind::Cycle, 7)]);
}

#[test]
fn undefined_variable_points_inside_the_string() {
    let text = format!(
        "{HEADER}[vars]\nnamespace = \"flux-system\"\n\n[tasks.a]\ntype = \"kube-delete\"\nkind = \"Namespace\"\nname = \"{{{{ namespce }}}}\"\n"
    );
    let error = invalid(&text, &[]);
    let (span, _) = &error.problems().next().unwrap().labels[0];
    assert_eq!(
        &text[span.offset()..span.offset() + span.len()],
        "{{ namespce }}"
    );
    check(
        "undefined_variable",
        &text,
        &[(ErrorKind::UndefinedVariable, 10)],
    );
}

#[test]
fn conflicting_selection_fields() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"wait-absent\"\nkind = \"Namespace\"\nname = \"x\"\nname_pattern = \"x.*\"\n"
    );
    check(
        "conflicting_fields",
        &text,
        &[(ErrorKind::ConflictingFields, 7)],
    );
}

#[test]
fn command_and_script_conflict() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\nscript = \"true\"\n"
    );
    check(
        "command_and_script",
        &text,
        &[(ErrorKind::ConflictingFields, 6)],
    );
}

#[test]
fn missing_type() {
    let text = format!("{HEADER}[tasks.a]\ncommand = [\"true\"]\n");
    check("missing_type", &text, &[(ErrorKind::MissingField, 4)]);
}

#[test]
fn missing_plan_table() {
    let text = "[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\n";
    check("missing_plan", text, &[(ErrorKind::MissingField, 1)]);
}

#[test]
fn missing_required_field_points_at_the_task() {
    let text = format!("{HEADER}[tasks.up]\ntype = \"pulumi-up\"\ncwd = \"cluster\"\n");
    check(
        "missing_required_field",
        &text,
        &[(ErrorKind::MissingField, 4)],
    );
}

#[test]
fn unknown_enum_value() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"kube-delete\"\nkind = \"Namespace\"\nname = \"x\"\npropagation = \"sideways\"\n"
    );
    check("unknown_enum_value", &text, &[(ErrorKind::BadValue, 8)]);
}

#[test]
fn capture_of_a_kind_that_is_not_secret_or_configmap() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"capture\"\nkind = \"Deployment\"\nnamespace = \"x\"\nname = \"y\"\n"
    );
    check("capture_kind", &text, &[(ErrorKind::BadValue, 6)]);
}

#[test]
fn unknown_command_line_variable() {
    let text = format!(
        "{HEADER}[vars]\nstack = \"prod\"\n\n[tasks.a]\ntype = \"exec-script\"\ncommand = [\"echo\", \"{{{{ stack }}}}\"]\n"
    );
    check_with(
        "unknown_override",
        &text,
        &[("stak", "dev")],
        &[(ErrorKind::UndefinedVariable, 4)],
    );
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\ntimeout = \"soon\"\n\n\
         [tasks.b]\ntype = \"wait-absnt\"\n\n\
         [tasks.c]\ntype = \"exec-script\"\ncommand = [\"{{{{ nope }}}}\"]\nneeds = [\"zz\"]\n"
    );
    check(
        "many_problems",
        &text,
        &[
            (ErrorKind::BadDuration, 7),
            (ErrorKind::UnknownTaskType, 10),
            (ErrorKind::UndefinedVariable, 14),
            (ErrorKind::UnknownDependency, 15),
        ],
    );
}

/// The problems of a plan, as (kind, line) pairs, with its rendering for messages.
fn problems_of(text: &str) -> (Vec<(ErrorKind, usize)>, String) {
    let error = invalid(text, &[]);
    let got = error
        .problems()
        .map(|p| {
            let offset = p.labels.first().map_or(0, |(s, _)| s.offset());
            (p.kind, text[..offset].matches('\n').count() + 1)
        })
        .collect();
    (got, render(&error))
}

#[test]
fn kinds_are_named_one_way_and_api_version_pins_only_one_kind() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"kube-delete\"\nkind = \"ClusterRole\"\nkinds = [\"ClusterRoleBinding\"]\nname = \"x\"\n"
    );
    check(
        "kind_and_kinds",
        &text,
        &[(ErrorKind::ConflictingFields, 6)],
    );
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"wait-absent\"\ngroup_pattern = 'fluxcd\\.io$'\napi_version = \"v1\"\nnamespace = \"*\"\nname_pattern = \".*\"\n"
    );
    let (got, shown) = problems_of(&text);
    assert_eq!(got, vec![(ErrorKind::ConflictingFields, 7)], "{shown}");
    assert!(shown.contains("pins the version of one `kind`"), "{shown}");
    let text = format!("{HEADER}[tasks.a]\ntype = \"wait-absent\"\nname = \"x\"\n");
    let (got, shown) = problems_of(&text);
    assert_eq!(got, vec![(ErrorKind::MissingField, 5)], "{shown}");
    assert!(shown.contains("names no kind"), "{shown}");
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"kube-delete\"\nkinds = [\"Secret\", \"Secret\"]\nnamespace = \"\"\nname = \"x\"\n"
    );
    let (got, shown) = problems_of(&text);
    assert_eq!(
        got,
        vec![(ErrorKind::BadValue, 6), (ErrorKind::BadValue, 7)],
        "{shown}"
    );
}

#[test]
fn owners_and_the_apply_shorthand_conflict_and_bad_owner_patterns_point_at_their_item() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"assert-field-managers\"\nkind = \"CustomResourceDefinition\"\nname = \"x\"\n\
         required_apply_manager = '^pulumi'\nowners = [{{ manager = '^pulumi-kubernetes$', operation = \"Update\" }}]\n\n\
         [tasks.b]\ntype = \"assert-field-managers\"\nkind = \"Deployment\"\nnamespace = \"n\"\nname = \"x\"\n\
         owners = [\n  {{ manager = '^ok$' }},\n  {{ manager = '^pulumi-(kubernetes', operation = \"Apply\" }},\n]\n\n\
         [tasks.c]\ntype = \"assert-field-managers\"\nkind = \"Deployment\"\nnamespace = \"n\"\nname = \"x\"\n\
         owners = [{{ manager = 'x', operation = \"Patch\" }}]\n"
    );
    check(
        "owners",
        &text,
        &[
            (ErrorKind::ConflictingFields, 8),
            (ErrorKind::BadRegex, 18),
            (ErrorKind::BadValue, 26),
        ],
    );
}

#[test]
fn group_patterns_only_where_the_kinds_need_not_be_known() {
    for task_type in ["capture", "wait-condition"] {
        let extra = if task_type == "wait-condition" {
            "condition = \"Ready\"\n"
        } else {
            ""
        };
        let text = format!(
            "{HEADER}[tasks.a]\ntype = \"{task_type}\"\ngroup_pattern = 'fluxcd\\.io$'\nnamespace = \"*\"\nname_pattern = \".*\"\n{extra}"
        );
        let (got, shown) = problems_of(&text);
        assert_eq!(got, vec![(ErrorKind::ConflictingFields, 6)], "{shown}");
        assert!(
            shown.contains("cannot select kinds by `group_pattern`"),
            "{shown}"
        );
    }
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"capture\"\nkinds = [\"Secret\", \"Deployment\"]\nnamespace = \"x\"\nname = \"y\"\n"
    );
    let (got, shown) = problems_of(&text);
    assert_eq!(got, vec![(ErrorKind::BadValue, 6)], "{shown}");
    assert!(shown.contains("captures `Deployment`"), "{shown}");
}

#[test]
fn from_capture_names_a_capture_task_this_one_needs() {
    let capture =
        "[tasks.keep]\ntype = \"capture\"\nkind = \"Secret\"\nnamespace = \"x\"\nname = \"s\"\n\n";
    let script = "[tasks.build]\ntype = \"exec-script\"\ncommand = [\"true\"]\n\n";
    // Not needed: the capture might run after the restore.
    let text = format!(
        "{HEADER}{capture}{script}[tasks.restore]\ntype = \"kube-apply\"\nfrom_capture = \"keep\"\n"
    );
    let (got, shown) = problems_of(&text);
    assert_eq!(got, vec![(ErrorKind::BadValue, 16)], "{shown}");
    assert!(
        shown.contains("reads the capture of `keep` but does not need it"),
        "{shown}"
    );
    // Needed through another task is fine; naming a task of another type is not.
    let text = format!(
        "{HEADER}{capture}[tasks.build]\ntype = \"exec-script\"\ncommand = [\"true\"]\nneeds = [\"keep\"]\n\n[tasks.restore]\ntype = \"kube-apply\"\nfrom_capture = \"build\"\nneeds = [\"build\"]\n"
    );
    let (got, shown) = problems_of(&text);
    assert_eq!(got, vec![(ErrorKind::BadValue, 17)], "{shown}");
    assert!(
        shown.contains("names `build`, which is not a capture task (it is exec-script)"),
        "{shown}"
    );
    let text = format!(
        "{HEADER}{capture}[tasks.restore]\ntype = \"kube-apply\"\nfrom_capture = \"kep\"\nneeds = [\"keep\"]\nonly = [\"a/b/c\"]\n"
    );
    let (got, shown) = problems_of(&text);
    assert_eq!(
        got,
        vec![(ErrorKind::BadValue, 14)],
        "a bad `only` stops the task's own checks first: {shown}"
    );
    let text = format!(
        "{HEADER}{capture}[tasks.restore]\ntype = \"kube-apply\"\nfrom_capture = \"kep\"\nneeds = [\"keep\"]\n"
    );
    let (got, shown) = problems_of(&text);
    assert_eq!(got, vec![(ErrorKind::UnknownDependency, 12)], "{shown}");
    assert!(shown.contains("did you mean `keep`?"), "{shown}");
    let text = format!("{HEADER}[tasks.restore]\ntype = \"kube-apply\"\nfiles = []\n");
    let (got, shown) = problems_of(&text);
    assert_eq!(got, vec![(ErrorKind::BadValue, 6)], "{shown}");
}

#[test]
fn plan_from_and_show_preview_name_a_pulumi_preview_task_that_is_needed() {
    let text = format!(
        "{HEADER}[tasks.preview]\ntype = \"pulumi-preview\"\nstack = \"prod\"\n\n\
         [tasks.other]\ntype = \"exec-script\"\ncommand = [\"true\"]\n\n\
         [tasks.gate]\ntype = \"confirm\"\nshow_preview = \"preview\"\n\n\
         [tasks.up]\ntype = \"pulumi-up\"\nstack = \"prod\"\nplan_from = \"other\"\nneeds = [\"other\"]\n\n\
         [tasks.up2]\ntype = \"pulumi-up\"\nstack = \"dev\"\nplan_from = \"preview\"\nneeds = [\"preview\"]\n\n\
         [tasks.up3]\ntype = \"pulumi-up\"\nstack = \"prod\"\npreview = true\nplan_from = \"previw\"\n"
    );
    check(
        "plan_from",
        &text,
        &[
            (ErrorKind::BadValue, 14),
            (ErrorKind::BadValue, 19),
            (ErrorKind::BadValue, 25),
            (ErrorKind::ConflictingFields, 31),
        ],
    );
}

#[test]
fn a_reference_inside_quotes_in_a_script() {
    let text = format!(
        "{HEADER}[vars]\nname = \"x\"\n\n[tasks.a]\ntype = \"exec-script\"\nscript = '''\necho {{{{ name }}}}\necho \"hello {{{{ name }}}}\"\ncat <<EOF\n{{{{ name }}}}\nEOF\n'''\n"
    );
    check(
        "quoted_reference",
        &text,
        &[
            (ErrorKind::UnquotableReference, 11),
            (ErrorKind::UnquotableReference, 13),
        ],
    );
}

#[test]
fn variables_exported_under_one_name() {
    let text = format!(
        "{HEADER}[vars]\nfoo-bar = \"1\"\nfoo_bar = \"2\"\n\n[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\n"
    );
    check("exported_collision", &text, &[(ErrorKind::BadValue, 4)]);
}

#[test]
fn durations_longer_than_thirty_days() {
    let text = format!(
        "{HEADER}[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\ntimeout = \"9223372036854775807s\"\nbackoff = \"31d\"\n"
    );
    check(
        "duration_too_long",
        &text,
        &[(ErrorKind::BadDuration, 7), (ErrorKind::BadDuration, 8)],
    );
}

#[test]
fn a_raw_reference_is_valid_with_a_warning() {
    let text = format!(
        "{HEADER}[vars]\nflags = \"-x\"\n\n[tasks.a]\ntype = \"exec-script\"\nscript = \"set {{{{ raw(flags) }}}}; true\"\n"
    );
    let source = Arc::new(PlanSource::new("plan.toml", text.as_str()));
    let plan = validate(source, &[], &|_| None).unwrap();
    let warnings = plan.warnings().expect("a warning");
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_links(false)
        .render_report(&mut out, warnings)
        .unwrap();
    insta::assert_snapshot!("raw_reference", out);
    let planrun::validate::Program::Script(script) = &match &plan.tasks()[0].kind {
        planrun::validate::TaskKind::ExecScript(e) => e,
        other => panic!("{other:?}"),
    }
    .program
    else {
        panic!("a script")
    };
    assert_eq!(script, "set -x; true");
}

#[test]
fn an_empty_object_name() {
    let text =
        format!("{HEADER}[tasks.a]\ntype = \"kube-delete\"\nkind = \"Namespace\"\nname = \"\"\n");
    check("empty_name", &text, &[(ErrorKind::BadValue, 7)]);
}
