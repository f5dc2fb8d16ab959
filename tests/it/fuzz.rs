//! The bounded fuzz tier, run by `cargo test` on stable Rust with a fixed case
//! budget (proptest, a fixed seed per run in CI through `PROPTEST_RNG_SEED` if
//! wanted): plan validation never panics and answers every plan it refuses with at
//! least one diagnostic; the journal reader never panics on any bytes; the sandbox
//! never answers 500 to a malformed request.
//!
//! Budgets (cases per property): [`PLAN_CASES`] random and [`PLAN_CASES`] mutated
//! plans, [`JOURNAL_CASES`] random and [`JOURNAL_CASES`] damaged journals,
//! [`SANDBOX_CASES`] requests against one live sandbox.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use planrun::journal::{Journal, JournalWriter, Record, RunStarted, VarOverrides};
use planrun::plan::PlanSource;

use crate::support::{raw_http, start_sandbox};

const PLAN_CASES: u32 = 512;
const JOURNAL_CASES: u32 = 512;
const SANDBOX_CASES: u32 = 256;

const VALID_PLAN: &str = r#"[plan]
name = "fuzz"
context = "ctx"

[vars]
ns = "flux-system"
token = { env = "FUZZ_TOKEN", value = "t0ken-value", secret = true }

[tasks.capture]
type = "capture"
kind = "Secret"
namespace = "{{ ns }}"
name_pattern = ".*"

[tasks.delete]
type = "kube-delete"
kind = "Namespace"
name = "{{ ns }}"
needs = ["capture"]
timeout = "1m"
retries = 2
backoff = "1s"

[tasks.script]
type = "exec-script"
script = "echo {{ ns }} && test -n \"$PLANRUN_VAR_TOKEN\""
needs = ["delete"]
always = true
"#;

/// Validates `text`: the property fails if validation panics (the runner catches
/// panics as failures) or refuses a plan without saying why.
fn check_plan(text: &str) -> Result<(), TestCaseError> {
    let source = Arc::new(PlanSource::new("plan.toml", text));
    if let Err(invalid) = planrun::validate::validate(source, &[], &|_| None) {
        prop_assert!(!invalid.is_empty(), "refused without a diagnostic:\n{text}");
        // Rendering every diagnostic (spans into the text) must not panic either.
        let rendered = format!("{:?}", miette::Report::new(invalid));
        prop_assert!(!rendered.is_empty());
    }
    Ok(())
}

/// Mutations of a valid plan: a line dropped, duplicated, or a byte range replaced.
fn mutated_plan() -> impl Strategy<Value = String> {
    let lines: Vec<&'static str> = VALID_PLAN.lines().collect();
    let n = lines.len();
    (
        prop::collection::vec((0..n, 0u8..4, ".{0,12}"), 1..6),
        Just(lines),
    )
        .prop_map(|(edits, lines)| {
            let mut lines: Vec<String> = lines.into_iter().map(str::to_owned).collect();
            for (at, how, text) in edits {
                let at = at.min(lines.len().saturating_sub(1));
                match how {
                    0 if !lines.is_empty() => {
                        lines.remove(at);
                    }
                    1 => {
                        let copy = lines.get(at).cloned().unwrap_or_default();
                        lines.insert(at, copy);
                    }
                    2 => {
                        if let Some(line) = lines.get_mut(at) {
                            let cut = line
                                .char_indices()
                                .map(|(i, _)| i)
                                .nth(line.chars().count() / 2)
                                .unwrap_or(0);
                            line.replace_range(cut.., &text);
                        }
                    }
                    _ => lines.insert(at, text),
                }
            }
            lines.join("\n")
        })
}

#[test]
fn plan_validation_never_panics_and_always_says_why() {
    runner(PLAN_CASES)
        .run(&any::<String>(), |text| check_plan(&text))
        .unwrap();
    runner(PLAN_CASES)
        .run(&mutated_plan(), |text| check_plan(&text))
        .unwrap();
}

fn valid_journal() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let at = "2026-11-26T06:36:12Z".parse().unwrap();
    let mut w = JournalWriter::create(
        &path,
        &Record::RunStarted(RunStarted {
            format: planrun::journal::FORMAT_VERSION,
            run_id: "r".into(),
            plan_name: "p".into(),
            plan_path: "p.toml".into(),
            at,
            planrun_version: "0".into(),
            pid: 1,
            vars: VarOverrides::default(),
            process: planrun::journal::ProcessInfo::default(),
        }),
    )
    .unwrap();
    for task in ["a", "b", "c"] {
        w.append(&[Record::TaskStarted {
            task: task.into(),
            attempt: 1,
            fingerprint: "f".into(),
            expected_ms: None,
            at,
        }])
        .unwrap();
    }
    std::fs::read(&path).unwrap()
}

/// Reads `bytes` as a journal: the property fails if the reader panics.
fn check_journal(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(journal) = Journal::parse(Path::new("journal"), bytes) {
        // Folding what was read must not panic either.
        let _ = journal.history();
    }
    Ok(())
}

#[test]
fn the_journal_reader_never_panics() {
    runner(JOURNAL_CASES)
        .run(&prop::collection::vec(any::<u8>(), 0..512), |bytes| {
            check_journal(&bytes)
        })
        .unwrap();
    let valid = valid_journal();
    let len = valid.len();
    let damage = (
        prop::collection::vec((0..len, any::<u8>()), 0..8),
        0..=len,
        prop::collection::vec(any::<u8>(), 0..16),
    );
    runner(JOURNAL_CASES)
        .run(&damage, |(flips, cut, tail)| {
            let mut bytes = valid.clone();
            for (at, byte) in flips {
                bytes[at] = byte;
            }
            bytes.truncate(cut);
            bytes.extend(tail);
            check_journal(&bytes)
        })
        .unwrap();
}

/// A runner of `cases` cases that keeps no failure files.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Paths the API serves (with odd queries), and paths made of its words and garbage.
fn path() -> impl Strategy<Value = String> {
    let served = prop_oneof![
        Just("/api/v1/namespaces"),
        Just("/api/v1/namespaces/ns"),
        Just("/api/v1/namespaces/ns/status"),
        Just("/api/v1/namespaces/ns/finalize"),
        Just("/api/v1/namespaces/ns/configmaps"),
        Just("/api/v1/namespaces/ns/configmaps/cm"),
        Just("/api/v1/namespaces/ns/secrets"),
        Just("/api/v1/configmaps"),
        Just("/apis/apps/v1/namespaces/ns/deployments"),
        Just("/apis/apiextensions.k8s.io/v1/customresourcedefinitions"),
    ];
    let query = prop::option::of(prop_oneof![
        Just("watch=true&timeoutSeconds=0".to_owned()),
        Just("watch=1&resourceVersion=notanumber&timeoutSeconds=0".to_owned()),
        Just("limit=1&continue=%%%".to_owned()),
        Just("labelSelector=a%20in%20(".to_owned()),
        Just("fieldSelector=spec.x%3D1".to_owned()),
        Just("dryRun=All&fieldManager=".to_owned()),
        Just("propagationPolicy=Sideways".to_owned()),
        "[a-zA-Z=&!%()0-9,.-]{0,30}",
    ]);
    let served = (served, query).prop_map(|(p, q)| match q {
        Some(q) => format!("{p}?{q}"),
        None => p.to_owned(),
    });
    prop_oneof![3 => served, 1 => made_up_path()]
}

/// Paths made of the API's own words and garbage.
fn made_up_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("api".to_owned()),
        Just("apis".to_owned()),
        Just("v1".to_owned()),
        Just("namespaces".to_owned()),
        Just("ns".to_owned()),
        Just("configmaps".to_owned()),
        Just("secrets".to_owned()),
        Just("status".to_owned()),
        Just("finalize".to_owned()),
        Just("apps".to_owned()),
        Just("deployments".to_owned()),
        Just("apiextensions.k8s.io".to_owned()),
        Just("customresourcedefinitions".to_owned()),
        "[a-z0-9.%-]{0,12}",
    ];
    (
        prop::collection::vec(segment, 0..7),
        prop::option::of("[a-zA-Z=&!%()0-9,.-]{0,30}"),
    )
        .prop_map(|(segments, query)| {
            let mut p = format!("/{}", segments.join("/"));
            if let Some(q) = query {
                p.push('?');
                p.push_str(&q);
            }
            p
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        Just(
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"b"}}"#
                .to_vec()
        ),
        "[{}\\[\\]\":,a-z0-9 ]{0,80}".prop_map(String::into_bytes),
        Just(b"k8s\x00\x0a\x00".to_vec()),
        Just(br#"[{"op":"remove","path":"/metadata/labels/nope"}]"#.to_vec()),
    ]
}

fn content_type() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("application/json"),
        Just("application/yaml"),
        Just("application/merge-patch+json"),
        Just("application/strategic-merge-patch+json"),
        Just("application/json-patch+json"),
        Just("application/apply-patch+yaml"),
        Just("application/vnd.kubernetes.protobuf"),
        Just("text/plain"),
        Just(""),
    ]
}

#[test]
fn the_sandbox_never_answers_500_to_a_malformed_request() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seeds = [
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: ns}\ndata: {a: \"1\"}\n",
    ];
    let sb = runtime.block_on(start_sandbox(planrun_sandbox::Scenario::default(), &seeds));
    let addr = sb.addr();
    let method = prop_oneof![
        4 => Just("GET"),
        4 => Just("POST"),
        4 => Just("PUT"),
        4 => Just("PATCH"),
        4 => Just("DELETE"),
        1 => Just("HEAD"),
        1 => Just("OPTIONS"),
        1 => Just("BREW"),
    ];
    runner(SANDBOX_CASES)
        .run(
            &(method, path(), content_type(), body()),
            |(method, path, content_type, body)| {
                let headers: &[(&str, &str)] = if content_type.is_empty() {
                    &[]
                } else {
                    &[("Content-Type", content_type)]
                };
                let (status, text) =
                    runtime.block_on(raw_http(addr, method, &path, headers, &body));
                // Answered at all, and never an internal error: the real server's
                // own 500s (an unknown `$patch`, etcd's size limit) need bodies the
                // generator does not make.
                prop_assert!(status >= 200, "{method} {path}: no answer");
                prop_assert!(
                    status != 500,
                    "{method} {path} ({content_type}) {:?} -> {status} {text}",
                    String::from_utf8_lossy(&body)
                );
                Ok(())
            },
        )
        .unwrap();
    runtime.block_on(sb.shutdown());
}
