//! The simulated Flux CLI. `flux check` looks at the cluster of `KUBECONFIG` (or
//! `--kubeconfig`, `--context`) as fluxcd/flux2 v2.7.0 `cmd/flux/check.go` does and
//! prints what it prints, with its logger's prefixes (`cmd/flux/log.go`: `►`
//! action, `✔` success, `✗` failure, all on stderr) and its exit codes:
//!
//! - prerequisites: the server's version against `>=1.32.0-0`; with `--pre` that is
//!   all (`✔ prerequisites checks passed`, or exit 1 at once);
//! - the version in the cluster, from the labels of the GitRepository CRD
//!   (`cluster_info.go`);
//! - the controllers: the Deployments labelled `app.kubernetes.io/part-of=flux` in
//!   the namespace, each assessed for readiness until `--timeout` (`pkg/status`) and
//!   its images listed;
//! - the CRDs labelled so, each with its last stored version;
//! - `✔ all checks passed`, or `✗ check failed` and exit 1.
//!
//! The check for a newer CLI release (network) is left out. Any other command
//! answers by the behaviour file's rules.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use planrun_text::KubeVersion;

use super::behaviour::ToolBehaviour;

/// What `flux check` requires of the server (`kubernetesConstraints`).
const KUBERNETES_CONSTRAINT: &str = ">=1.32.0-0";
/// The least version the constraint accepts (its `-0` lets pre-releases of it pass).
const MIN_FLUX: KubeVersion = KubeVersion::new(1, 32);
/// The label of everything Flux installs (`manifestgen.PartOfLabelKey`/`Value`).
const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "flux");

/// Runs one simulated `flux` command; returns its exit code.
pub fn run(tool: &ToolBehaviour, args: &[String]) -> i32 {
    if args.first().map(String::as_str) != Some("check") {
        return super::generic::run(tool, args);
    }
    let flags = match Flags::parse(&args[1..]) {
        Ok(flags) => flags,
        Err(message) => {
            failure(&message);
            return 1;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            failure(&e.to_string());
            return 1;
        }
    };
    runtime.block_on(check(&flags))
}

/// `flux check`'s flags (and the global ones it uses).
#[derive(Debug, Clone, PartialEq)]
struct Flags {
    pre: bool,
    namespace: String,
    context: Option<String>,
    kubeconfig: Option<String>,
    timeout: Duration,
    poll_interval: Duration,
}

impl Flags {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut flags = Flags {
            pre: false,
            namespace: std::env::var("FLUX_SYSTEM_NAMESPACE")
                .ok()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "flux-system".into()),
            context: None,
            kubeconfig: None,
            timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(5),
        };
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (arg.as_str(), None),
            };
            let mut value = || -> Result<String, String> {
                if let Some(v) = inline.clone() {
                    return Ok(v);
                }
                let v = args
                    .get(i)
                    .cloned()
                    .ok_or_else(|| format!("flag needs an argument: {name}"))?;
                i += 1;
                Ok(v)
            };
            match name {
                "--pre" => flags.pre = inline.as_deref() != Some("false"),
                "--namespace" | "-n" => flags.namespace = value()?,
                "--context" => flags.context = Some(value()?),
                "--kubeconfig" => flags.kubeconfig = Some(value()?),
                "--timeout" => flags.timeout = duration(&value()?)?,
                "--poll-interval" => flags.poll_interval = duration(&value()?)?,
                "--components" | "--components-extra" => {
                    value()?;
                }
                "--verbose" => {}
                other if other.starts_with('-') => return Err(format!("unknown flag: {other}")),
                other => {
                    return Err(format!("unknown command \"{other}\" for \"flux check\""));
                }
            }
        }
        Ok(flags)
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    planrun_text::parse_duration(text).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

fn action(text: &str) {
    eprintln!("► {text}");
}

fn success(text: &str) {
    eprintln!("✔ {text}");
}

fn failure(text: &str) {
    eprintln!("✗ {text}");
}

async fn client(flags: &Flags) -> Result<kube::Client, String> {
    let options = KubeConfigOptions {
        context: flags.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &flags.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| e.to_string())?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| e.to_string())?
        }
        None => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| e.to_string())?,
    };
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

async fn check(flags: &Flags) -> i32 {
    action("checking prerequisites");
    let client = match client(flags).await {
        Ok(c) => c,
        Err(e) => {
            failure(&format!("Kubernetes client initialization failed: {e}"));
            return 1;
        }
    };
    let mut failed = !kubernetes_check(&client).await;
    if flags.pre {
        if failed {
            return 1;
        }
        success("prerequisites checks passed");
        return 0;
    }
    action("checking version in cluster");
    failed |= !cluster_version_check(&client).await;
    action("checking controllers");
    failed |= !components_check(&client, flags).await;
    action("checking crds");
    failed |= !crds_check(&client).await;
    if failed {
        failure("check failed");
        return 1;
    }
    success("all checks passed");
    0
}

/// `kubernetesCheck`: the server's version against the constraint.
async fn kubernetes_check(client: &kube::Client) -> bool {
    let info = match client.apiserver_version().await {
        Ok(info) => info,
        Err(e) => {
            failure(&format!("Kubernetes API call failed: {e}"));
            return false;
        }
    };
    let Some(version) = KubeVersion::parse(&info.git_version) else {
        failure("Kubernetes version can't be determined");
        return false;
    };
    if version < MIN_FLUX {
        failure(&format!(
            "Kubernetes version {} does not match {KUBERNETES_CONSTRAINT}",
            info.git_version
        ));
        return false;
    }
    success(&format!("Kubernetes {version} {KUBERNETES_CONSTRAINT}"));
    true
}

/// `fluxClusterVersionCheck`: the labels of the GitRepository CRD.
async fn cluster_version_check(client: &kube::Client) -> bool {
    let name = "gitrepositories.source.toolkit.fluxcd.io";
    let crd = match Api::<CustomResourceDefinition>::all(client.clone())
        .get(name)
        .await
    {
        Ok(crd) => crd,
        Err(kube::Error::Api(e)) => {
            failure(&format!("checking failed: {}", e.message));
            return false;
        }
        Err(e) => {
            failure(&format!("checking failed: {e}"));
            return false;
        }
    };
    let labels = crd.metadata.labels.unwrap_or_default();
    let version = labels
        .get("app.kubernetes.io/version")
        .cloned()
        .unwrap_or_default();
    let distribution = match labels.get(PART_OF.0) {
        Some(part_of) => format!("{part_of}-{version}"),
        None => version,
    };
    if !distribution.is_empty() {
        success(&format!("distribution: {distribution}"));
    }
    // Only the last of the bootstrap labels decides (the loop in cluster_info.go).
    let bootstrapped = labels.contains_key("kustomize.toolkit.fluxcd.io/namespace");
    success(&format!("bootstrapped: {bootstrapped}"));
    true
}

/// `componentsCheck`: each Flux Deployment of the namespace ready (polled until the
/// timeout), and its images.
async fn components_check(client: &kube::Client, flags: &Flags) -> bool {
    let api = Api::<Deployment>::namespaced(client.clone(), &flags.namespace);
    let selector = format!("{}={}", PART_OF.0, PART_OF.1);
    let Ok(list) = api.list(&ListParams::default().labels(&selector)).await else {
        return true;
    };
    if list.items.is_empty() {
        failure(&format!(
            "no controllers found in the '{}' namespace with the label selector '{selector}'",
            flags.namespace
        ));
        return false;
    }
    let mut ok = true;
    for deployment in &list.items {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        match assess(&api, &name, flags).await {
            Readiness::Ready => success(&format!("{name}: deployment ready")),
            Readiness::NotFound => {
                ok = false;
                failure(&format!("{name}: deployment not found"));
            }
            Readiness::NotReady => {
                ok = false;
                failure(&format!("{name}: deployment not ready"));
            }
        }
        let containers = deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .map(|s| s.containers.clone())
            .unwrap_or_default();
        for container in containers {
            action(container.image.as_deref().unwrap_or_default());
        }
    }
    ok
}

enum Readiness {
    Ready,
    NotReady,
    NotFound,
}

/// kstatus' verdict on a Deployment, polled every `--poll-interval` until
/// `--timeout`.
async fn assess(api: &Api<Deployment>, name: &str, flags: &Flags) -> Readiness {
    let deadline = Instant::now() + flags.timeout;
    loop {
        let verdict = match api.get_opt(name).await {
            Ok(Some(d)) if current(&d) => return Readiness::Ready,
            Ok(Some(_)) => Readiness::NotReady,
            Ok(None) => Readiness::NotFound,
            Err(_) => Readiness::NotReady,
        };
        if Instant::now() + flags.poll_interval > deadline {
            return verdict;
        }
        tokio::time::sleep(flags.poll_interval).await;
    }
}

/// A Deployment rolled out: observed, every replica updated, ready and available.
fn current(d: &Deployment) -> bool {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(status) = &d.status else {
        return false;
    };
    let observed = status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    observed
        && status.updated_replicas.unwrap_or(0) >= want
        && status.ready_replicas.unwrap_or(0) >= want
        && status.available_replicas.unwrap_or(0) >= want
}

/// `crdsCheck`: each Flux CRD with its last stored version.
async fn crds_check(client: &kube::Client) -> bool {
    let selector = format!("{}={}", PART_OF.0, PART_OF.1);
    let Ok(list) = Api::<CustomResourceDefinition>::all(client.clone())
        .list(&ListParams::default().labels(&selector))
        .await
    else {
        return true;
    };
    if list.items.is_empty() {
        failure(&format!(
            "no crds found with the label selector '{selector}'"
        ));
        return false;
    }
    let mut ok = true;
    for crd in &list.items {
        let name = crd.metadata.name.clone().unwrap_or_default();
        match crd
            .status
            .as_ref()
            .and_then(|s| s.stored_versions.as_ref())
            .and_then(|v| v.last())
        {
            Some(version) => success(&format!("{name}/{version}")),
            None => {
                ok = false;
                failure(&format!("no stored versions for {name}"));
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_the_flags_the_plan_uses() {
        let f = Flags::parse(&args("--pre --namespace flux-system --timeout=2m")).unwrap();
        assert!(f.pre);
        assert_eq!(f.namespace, "flux-system");
        assert_eq!(f.timeout, Duration::from_secs(120));
        let f = Flags::parse(&args("-n other --context oceanid")).unwrap();
        assert_eq!(
            (f.namespace.as_str(), f.context.as_deref()),
            ("other", Some("oceanid"))
        );
        assert_eq!(
            Flags::parse(&args("--nope")).unwrap_err(),
            "unknown flag: --nope"
        );
    }
}
