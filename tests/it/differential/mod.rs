//! The sandbox measured against the real API server: every scripted session
//! ([`sessions::ALL`]) runs against both, through kube-rs, raw HTTP and the built
//! kubectl; what legitimately differs is normalised ([`compare`]); everything else must
//! be the same, or be listed in `known-differences.yaml` beside this file with its
//! reason. A new difference fails the test, and so does a known one that is gone (the
//! list stays true). The table (behaviour, same or different, what differs) is printed:
//! `cargo test differential -- --nocapture`.

mod compare;
mod sessions;
mod side;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use crate::realcluster::{self, Kubectl};
use crate::support::start_sandbox;
use compare::{Difference, differences, normalise};
use side::Side;

/// How many sessions run at once (each against both sides).
const PARALLEL: usize = 12;
/// The longest a session may take before it counts as failed (its waits are shorter).
const SESSION_LIMIT: std::time::Duration = std::time::Duration::from_secs(240);

/// One accepted difference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Known {
    behaviour: String,
    /// JSON pointers into the behaviour's observation; a difference at or under one of
    /// them is accepted.
    paths: Vec<String>,
    reason: String,
}

fn known_differences() -> Vec<Known> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/differential/known-differences.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let known: Vec<Known> = serde_yaml::from_str(&text).unwrap();
    for k in &known {
        assert!(
            sessions::ALL.iter().any(|s| s.name == k.behaviour),
            "known-differences.yaml names an unknown behaviour {}",
            k.behaviour
        );
        assert!(!k.reason.trim().is_empty(), "{}: no reason", k.behaviour);
    }
    known
}

fn covers(path: &str, known: &str) -> bool {
    path == known || path.starts_with(&format!("{known}/"))
}

/// The namespace a session works in.
fn namespace_of(session: &str) -> String {
    format!("diff-{}", session.replace('_', "-"))
}

/// A row of the table.
struct Row {
    behaviour: &'static str,
    /// Differences nobody accounted for.
    new: Vec<Difference>,
    /// Accepted differences, by reason.
    known: Vec<String>,
    /// Known entries that no longer differ.
    stale: Vec<String>,
}

async fn run_on(side: Arc<Side>, session: &'static sessions::Session) -> Value {
    let ns = namespace_of(session.name);
    let started = std::time::Instant::now();
    let task = tokio::spawn((session.run)(side.clone(), ns));
    let abort = task.abort_handle();
    let outcome = tokio::time::timeout(SESSION_LIMIT, task).await;
    eprintln!(
        "differential: {} on {} in {:.1} s",
        session.name,
        side.name,
        started.elapsed().as_secs_f64()
    );
    let Ok(outcome) = outcome else {
        abort.abort();
        return serde_json::json!({"session failed": format!("no end within {SESSION_LIMIT:?}")});
    };
    match outcome {
        Ok(v) => v,
        Err(e) => {
            let why = e
                .try_into_panic()
                .ok()
                .and_then(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                })
                .unwrap_or_else(|| "cancelled".to_owned());
            serde_json::json!({"session failed": why})
        }
    }
}

async fn create_namespaces(side: &Side) {
    for s in sessions::ALL {
        let ns = namespace_of(s.name);
        let raw = side
            .raw(
                "POST",
                "/api/v1/namespaces",
                Some("application/json"),
                Some(
                    serde_json::to_vec(&serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
                        .unwrap(),
                ),
            )
            .await;
        assert_eq!(raw.status, 201, "{}: namespace {ns}: {:?}", side.name, raw);
    }
    // The real API server admits pods only once the namespace's default ServiceAccount
    // exists; Deployments wait for it anyway, nothing to do here.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_answers_as_the_real_api_server() {
    let Some(real) = realcluster::shared().await else {
        return;
    };
    let known = known_differences();
    let sandbox = start_sandbox(planrun_sandbox::Scenario::default(), &[] as &[&str]).await;
    let dir = tempfile::tempdir().unwrap();
    let sb_kubeconfig = dir.path().join("sandbox.kubeconfig");
    sandbox.write_kubeconfig(&sb_kubeconfig, "sandbox").unwrap();
    let kubectl = |kubeconfig: PathBuf, cache: &str| Kubectl {
        bin: realcluster::tools().expect("the tools are built").kubectl(),
        kubeconfig,
        cache: dir.path().join(cache),
    };
    let sb = Arc::new(Side {
        name: "sandbox",
        client: sandbox.client().await.unwrap(),
        kubectl: kubectl(sb_kubeconfig, "sandbox-cache"),
    });
    let rc = Arc::new(Side {
        name: "real",
        client: real.client().await,
        kubectl: kubectl(real.kubeconfig.clone(), "real-cache"),
    });
    create_namespaces(&sb).await;
    create_namespaces(&rc).await;

    let results: Vec<(&'static str, Value, Value)> = futures::stream::iter(sessions::ALL)
        .map(|session| {
            let (sb, rc) = (sb.clone(), rc.clone());
            async move {
                let (a, b) = tokio::join!(run_on(sb, session), run_on(rc, session));
                (session.name, a, b)
            }
        })
        .buffered(PARALLEL)
        .collect()
        .await;

    let mut rows = Vec::new();
    for (behaviour, mut a, mut b) in results {
        normalise(&mut a);
        normalise(&mut b);
        let diffs = differences(&a, &b);
        let mine: Vec<&Known> = known.iter().filter(|k| k.behaviour == behaviour).collect();
        let mut row = Row {
            behaviour,
            new: Vec::new(),
            known: Vec::new(),
            stale: Vec::new(),
        };
        for d in &diffs {
            match mine
                .iter()
                .find(|k| k.paths.iter().any(|p| covers(&d.path, p)))
            {
                Some(k) => {
                    if !row.known.contains(&k.reason) {
                        row.known.push(k.reason.clone());
                    }
                }
                None => row.new.push(d.clone()),
            }
        }
        for k in &mine {
            for p in &k.paths {
                if !diffs.iter().any(|d| covers(&d.path, p)) {
                    row.stale.push(p.clone());
                }
            }
        }
        if !row.new.is_empty() {
            eprintln!(
                "--- {behaviour}\nsandbox: {}\nreal:    {}",
                serde_json::to_string(&a).unwrap(),
                serde_json::to_string(&b).unwrap()
            );
        }
        rows.push(row);
    }
    println!("{}", table(&rows));
    sandbox.shutdown().await;

    let new: Vec<String> = rows
        .iter()
        .flat_map(|r| r.new.iter().map(move |d| format!("{}: {d}", r.behaviour)))
        .collect();
    let stale: Vec<String> = rows
        .iter()
        .flat_map(|r| r.stale.iter().map(move |p| format!("{}: {p}", r.behaviour)))
        .collect();
    assert!(
        new.is_empty() && stale.is_empty(),
        "{} new difference(s) between the sandbox and the real API server (fix the sandbox, or \
         add them with a reason to tests/it/differential/known-differences.yaml):\n{}\n\
         {} known difference(s) that are gone (remove them from known-differences.yaml):\n{}",
        new.len(),
        new.join("\n"),
        stale.len(),
        stale.join("\n")
    );
    assert!(rows.len() >= 25, "only {} behaviours compared", rows.len());
}

/// The Markdown table: behaviour, same or different, what differs.
fn table(rows: &[Row]) -> String {
    let mut out = String::from("| behaviour | sandbox vs real | what differs |\n|---|---|---|\n");
    for r in rows {
        let (verdict, what) = if !r.new.is_empty() {
            (
                "DIFFERENT (new)",
                r.new
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        } else if !r.known.is_empty() {
            ("different (known)", r.known.join("; "))
        } else {
            ("same", String::new())
        };
        let stale = if r.stale.is_empty() {
            String::new()
        } else {
            format!(" (known but gone: {})", r.stale.join(", "))
        };
        out.push_str(&format!(
            "| {} | {verdict} | {}{stale} |\n",
            r.behaviour,
            what.replace('|', "\\|").replace('\n', " ")
        ));
    }
    out
}
