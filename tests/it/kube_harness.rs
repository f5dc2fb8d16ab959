//! The harness of the Kubernetes executor tests: a sandbox, a connection to it, the
//! progress lines a task says, and short ways to write selections and seeds.

use std::sync::Mutex;
use std::time::Duration;

use planrun::exec::kube::{Connection, Progress, TaskEnv};
use planrun::validate::{KubeDelete, Propagation, Selection, Target};
use planrun_sandbox::{Sandbox, Scenario};
use regex::Regex;

use crate::support::{self, FLUX_CRDS, start_sandbox};

/// Budget of a task expected to succeed: generous for a busy 2-core machine.
pub const LONG: Duration = Duration::from_secs(30);
/// Budget of a task expected to time out.
pub const SHORT: Duration = Duration::from_millis(1500);

/// Progress lines, kept for assertions.
#[derive(Default)]
pub struct Lines(Mutex<Vec<String>>);

impl Progress for Lines {
    fn line(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_string());
    }
}

impl Lines {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

pub fn fast() -> Scenario {
    support::fast(100)
}

pub struct Harness {
    pub sb: Sandbox,
    pub conn: Connection,
    pub lines: Lines,
}

impl Harness {
    pub async fn start(scenario: Scenario, seeds: &[&str]) -> Self {
        let sb = start_sandbox(scenario, seeds).await;
        let client = client_of(&sb.url(), planrun::exec::kube::SILENCE_LIMIT);
        let conn = Connection::new(client, "sandbox", sb.url());
        Self {
            sb,
            conn,
            lines: Lines::default(),
        }
    }

    /// The Flux CRDs, the flux-system namespace and an unfinalized GitRepository named after
    /// each of `repos` in it.
    pub async fn with_flux_repos(repos: &[&str]) -> Self {
        let repos: Vec<String> = repos.iter().map(|r| git_repository(r, &[])).collect();
        let mut seeds = vec![FLUX_CRDS, FLUX_NS];
        seeds.extend(repos.iter().map(String::as_str));
        Self::start(fast(), &seeds).await
    }

    pub fn env(&self, budget: Duration) -> TaskEnv<'_> {
        TaskEnv::new(&self.conn, &self.lines, budget)
    }

    pub fn client(&self) -> kube::Client {
        self.conn.client().clone()
    }

    pub fn exists(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> bool {
        self.sb.state().get(api_version, kind, ns, name).is_some()
    }
}

/// A client of the API server at `url` as `Connection::open` makes one, with
/// `silence` the longest its connections may stay silent.
pub fn client_of(url: &str, silence: Duration) -> kube::Client {
    let mut config = kube::Config::new(url.parse().unwrap());
    planrun::exec::kube::tune(&mut config, silence);
    kube::Client::try_from(config).unwrap()
}

pub fn selection(kind: &str, namespace: Option<&str>, target: Target) -> Selection {
    Selection::of_kind(kind, namespace, target)
}

pub fn name(n: &str) -> Target {
    Target::Name(n.into())
}

pub fn pattern(p: &str) -> Target {
    Target::Pattern(Regex::new(p).unwrap())
}

pub fn delete(sel: Selection) -> KubeDelete {
    KubeDelete {
        selection: sel,
        propagation: Propagation::Background,
    }
}

pub const FLUX_NS: &str = "{apiVersion: v1, kind: Namespace, metadata: {name: flux-system}}";

pub fn git_repository(name: &str, finalizers: &[&str]) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: {name}, namespace: flux-system, finalizers: {finalizers:?}}}\nspec: {{url: 'https://example.com/repo', interval: 1m}}\n"
    )
}
