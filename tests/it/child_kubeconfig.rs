//! One cluster for every tool: a run's children get a private kubeconfig whose
//! current context is the run's, even when the user's current context is another
//! cluster. Checked with kube-rs's own merge of what a child sees, and with the real
//! `kubectl` when there is one.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use kube::config::Kubeconfig;
use serde_json::Value;

/// A kubeconfig with two clusters; the current context is `staging`.
const USER_KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: oceanid
  cluster: {server: 'http://127.0.0.1:9'}
- name: staging
  cluster: {server: 'http://127.0.0.1:10'}
users:
- name: me
  user: {token: do-not-copy-me}
contexts:
- name: oceanid
  context: {cluster: oceanid, user: me}
- name: staging
  context: {cluster: staging, user: me}
current-context: staging
";

const PLAN: &str = r#"[plan]
name = "one-cluster"
context = "oceanid"

[tasks.show]
type = "exec-script"
script = '''
first="${KUBECONFIG%%:*}"
echo "kubeconfig=$KUBECONFIG"
echo "mode=$(stat -c %a "$first") dir=$(stat -c %a "$(dirname "$first")")"
echo "private:"
sed 's/^/  /' "$first"
'''
"#;

/// The real kubectl: `$KUBECTL`, else the one `scripts/realcluster build` built,
/// else `kubectl` on PATH.
fn kubectl() -> Option<PathBuf> {
    if let Some(k) = std::env::var_os("KUBECTL").filter(|k| !k.is_empty()) {
        return Some(PathBuf::from(k));
    }
    if let Some(k) = crate::support::realcluster_env().and_then(|env| env.get("KUBECTL").cloned()) {
        return Some(PathBuf::from(k));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

/// The stdout lines of each task, from `--output json` events.
fn task_lines(stdout: &str, task: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "task-output" && e["task"] == task)
        .map(|e| e["line"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn run(dir: &Path, plan: &str) -> (i32, String) {
    std::fs::write(dir.join("plan.toml"), plan).unwrap();
    let out = Command::cargo_bin("planrun")
        .unwrap()
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .args(["run", "plan.toml", "--context", "oceanid", "--kubeconfig"])
        .arg(dir.join("config"))
        .args(["--output", "json", "--state-dir"])
        .arg(dir.join("state"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn children_act_on_the_runs_context_not_the_users_current_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config"), USER_KUBECONFIG).unwrap();
    let (code, out) = run(dir.path(), PLAN);
    assert_eq!(code, 0, "{out}");
    let lines = task_lines(&out, "show");
    let list = lines[0].strip_prefix("kubeconfig=").unwrap();
    let entries: Vec<&str> = list.split(':').collect();
    assert_eq!(entries.len(), 2, "{list}");
    assert_eq!(Path::new(entries[1]), dir.path().join("config"));
    assert_eq!(lines[1], "mode=600 dir=700", "{lines:?}");
    // The private file holds the context and nothing else: no credential is copied.
    let private: String = lines[3..]
        .iter()
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    assert_eq!(
        private,
        "apiVersion: v1\nkind: Config\ncurrent-context: \"oceanid\"\n"
    );
    // What any kube-rs child merges from that list: the run's context.
    let copy = dir.path().join("private-copy");
    std::fs::write(&copy, &private).unwrap();
    let merged = [copy, PathBuf::from(entries[1])]
        .iter()
        .map(|p| Kubeconfig::read_from(p).unwrap())
        .reduce(|a, b| a.merge(b).unwrap())
        .unwrap();
    assert_eq!(merged.current_context.as_deref(), Some("oceanid"));
    // Gone with the run.
    assert!(
        !Path::new(entries[0]).exists(),
        "{} left behind",
        entries[0]
    );
}

#[test]
fn kubectl_in_a_script_sees_the_runs_context() {
    let Some(kubectl) = kubectl() else {
        eprintln!(
            "skipped: no kubectl (build it with `scripts/realcluster build`, or set KUBECTL)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config"), USER_KUBECONFIG).unwrap();
    let plan = format!(
        "[plan]\nname = \"one-cluster\"\ncontext = \"oceanid\"\n\n[tasks.kubectl]\ntype = \"exec-script\"\ncommand = [\"{k}\", \"config\", \"current-context\"]\n\n[tasks.server]\ntype = \"exec-script\"\ncommand = [\"{k}\", \"config\", \"view\", \"--minify\", \"-o\", \"jsonpath={{.clusters[0].cluster.server}}\"]\n",
        k = kubectl.display()
    );
    let (code, out) = run(dir.path(), &plan);
    assert_eq!(code, 0, "{out}");
    assert_eq!(task_lines(&out, "kubectl"), vec!["oceanid"], "{out}");
    assert_eq!(
        task_lines(&out, "server"),
        vec!["http://127.0.0.1:9"],
        "{out}"
    );
}
