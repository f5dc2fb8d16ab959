//! The committed plans and schema: every plan in plans/ and examples/ validates and
//! conforms to the schema, the schema is what the code generates, and the validator
//! never panics on mutated plans.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use assert_cmd::Command;
use planrun::plan::PlanSource;
use proptest::prelude::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.toml` plan under plans/ and examples/ (recursively).
fn plan_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("plans"), &mut out);
    walk(&root().join("examples"), &mut out);
    out.sort();
    out
}

#[test]
fn committed_schema_is_what_the_code_generates() {
    let committed = std::fs::read_to_string(root().join("schemas/plan.schema.json")).unwrap();
    assert!(
        committed == planrun::plan::plan_schema(),
        "schemas/plan.schema.json is stale: run `cargo run -- schema > schemas/plan.schema.json`"
    );
}

#[test]
fn every_plan_validates_and_conforms_to_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/plan.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let plans = plan_files();
    assert!(
        plans.len() >= 3,
        "expected the Flux plan and at least two examples, found {plans:?}"
    );
    for path in plans {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("#:schema "),
            "{} must start with a #:schema line for editors",
            path.display()
        );
        let value: toml::Value = toml::from_str(&text).unwrap();
        let json = serde_json::to_value(&value).unwrap();
        let problems: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            problems.is_empty(),
            "{} breaks the schema: {problems:#?}",
            path.display()
        );
        // Secrets come from the environment in real runs; any value will do here.
        let source = Arc::new(PlanSource::new(&path, text));
        if let Err(e) = planrun::validate::validate(source, &[], &|_| Some("from-env".into())) {
            panic!(
                "{} is invalid: {:?}",
                path.display(),
                miette::Report::new(e)
            );
        }
    }
}

#[test]
fn schema_rejects_what_the_validator_rejects() {
    let schema: serde_json::Value = serde_json::from_str(&planrun::plan::plan_schema()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let bad = [
        "[plan]\nname='x'\n[tasks.a]\ntype='exec-script'\ncommand=['true']\ntimout='1s'\n",
        "[plan]\nname='x'\n[tasks.a]\ntype='kube-delet'\nkind='Namespace'\nname='x'\n",
        "[plan]\nname='x'\n[tasks.a]\ntype='pulumi-up'\n",
        "[plan]\n[tasks.a]\ntype='confirm'\n",
    ];
    for text in bad {
        let json = serde_json::to_value(toml::from_str::<toml::Value>(text).unwrap()).unwrap();
        assert!(!validator.is_valid(&json), "schema accepted:\n{text}");
    }
}

#[test]
fn invalid_plan_exits_2_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "[plan]\nname = 'x'\n[tasks.a]\ntype = 'exec-script'\ncommand = ['touch', '{}']\n[tasks.b]\ntype = 'exec-script'\ncommand = ['true']\nneeds = ['nope']\n",
            marker.display()
        ),
    )
    .unwrap();
    let out = Command::cargo_bin("planrun")
        .unwrap()
        .arg("validate")
        .arg(&plan)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs `nope`, which is not a task of this plan"),
        "{stderr}"
    );
    assert!(!marker.exists());
}

#[test]
fn list_masks_secret_variables() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        "[plan]\nname = 'x'\n[vars]\ntoken = { secret = true, env = 'PLANRUN_TEST_TOKEN' }\n[tasks.a]\ntype = 'exec-script'\ncommand = ['login', '--token', '{{ token }}']\n",
    )
    .unwrap();
    let out = Command::cargo_bin("planrun")
        .unwrap()
        .arg("list")
        .arg(&plan)
        .env("PLANRUN_TEST_TOKEN", "s3cr3t-value")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("s3cr3t-value"), "{stdout}");
    assert!(stdout.contains("login --token ********"), "{stdout}");
}

#[test]
fn graph_formats_show_every_edge() {
    let plan = root().join("plans/flux-rebuild.toml");
    for (format, edge) in [
        (
            "dot",
            "\"delete-flux-namespace\" -> \"flux-namespace-gone\";",
        ),
        ("mermaid", " --> "),
    ] {
        let out = Command::cargo_bin("planrun")
            .unwrap()
            .args(["graph", "--format", format])
            .arg(&plan)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(edge),
            "{format}"
        );
    }
}

/// Mutations of the Flux plan: delete a line, swap two lines' values, duplicate a
/// table, cut the file short. The validator must never panic: it accepts or it
/// reports at least one diagnostic, each with a span inside the text.
fn mutate(text: &str, op: u8, a: usize, b: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    let (a, b) = (a % n, b % n);
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match op % 5 {
        0 => {
            out.remove(a);
        }
        1 => {
            let va = lines[a].split_once('=').map(|x| x.1);
            let vb = lines[b].split_once('=').map(|x| x.1);
            if let (Some(va), Some(vb)) = (va, vb) {
                out[a] = format!("{}={vb}", lines[a].split_once('=').unwrap().0);
                out[b] = format!("{}={va}", lines[b].split_once('=').unwrap().0);
            }
        }
        2 => {
            // Duplicate the table that starts at or before line a.
            let start = (0..=a)
                .rev()
                .find(|&i| lines[i].starts_with('['))
                .unwrap_or(0);
            let end = (start + 1..n)
                .find(|&i| lines[i].starts_with('['))
                .unwrap_or(n);
            let block: Vec<String> = out[start..end].to_vec();
            out.extend(block);
        }
        3 => out.truncate(a),
        _ => out.swap(a, b),
    }
    out.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn validator_never_panics_on_mutated_flux_plan(ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..4)) {
        let original = std::fs::read_to_string(root().join("plans/flux-rebuild.toml")).unwrap();
        let mut text = original;
        for (op, a, b) in ops {
            text = mutate(&text, op, a, b);
            if text.is_empty() { text.push('\n'); }
        }
        let source = Arc::new(PlanSource::new(root().join("plans/flux-rebuild.toml"), text.clone()));
        match planrun::validate::validate(source, &[], &|_| None) {
            Ok(plan) => prop_assert!(!plan.tasks().is_empty()),
            Err(invalid) => {
                prop_assert!(!invalid.is_empty());
                for problem in invalid.problems() {
                    for (span, _) in &problem.labels {
                        prop_assert!(span.offset() + span.len() <= text.len());
                    }
                }
            }
        }
    }
}
