//! Which cluster a stack's Kubernetes provider would act on. The default provider
//! of pulumi-kubernetes uses the stack config `kubernetes:kubeconfig` (a path or the
//! file's contents) and `kubernetes:context` when they are set, else `KUBECONFIG`'s
//! current context (pulumi/pulumi-kubernetes `provider/pkg/provider/provider.go`
//! `Configure`, `util.go` `parseKubeconfigString`). planrun gives its children the
//! run's cluster; a stack config that points elsewhere would deploy to another
//! cluster than the one the plan's guard checked, so the run is refused before
//! anything runs. (A provider the program constructs with its own kubeconfig cannot
//! be seen from outside.)

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use super::config::Listing;

/// The cluster a run acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCluster {
    /// The kube context's name.
    pub context: String,
    /// The API server's URL.
    pub server: String,
}

/// Why the stack's provider would act on another cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elsewhere {
    /// The stack config key that points elsewhere.
    pub key: &'static str,
    pub message: String,
}

/// The stack config keys that choose the provider's cluster.
const CONTEXT_KEY: &str = "kubernetes:context";
const KUBECONFIG_KEY: &str = "kubernetes:kubeconfig";

/// Checks the listing (with secrets revealed, when the stack has any) against the
/// run's cluster. `project_dir` is where the provider resolves a relative path.
pub fn check(
    listing: &Listing,
    stack: &str,
    project_dir: &Path,
    run: &RunCluster,
) -> Result<(), Elsewhere> {
    let value = |key: &str| {
        listing
            .get(key)
            .map(|entry| entry.value.clone().filter(|v| !v.is_empty()))
    };
    let context = value(CONTEXT_KEY).flatten();
    match value(KUBECONFIG_KEY) {
        None | Some(None) if listing.get(KUBECONFIG_KEY).is_none_or(|e| !e.secret) => {}
        None | Some(None) => {
            return Err(elsewhere(
                KUBECONFIG_KEY,
                format!(
                    "stack `{stack}` sets `{KUBECONFIG_KEY}` as a secret planrun could not read: \
                 the provider would not use this run's kubeconfig, and planrun cannot tell which \
                 cluster it would act on"
                ),
            ));
        }
        Some(Some(path_or_contents)) => {
            let (kubeconfig, what) = read_kubeconfig(&path_or_contents, project_dir).map_err(|reason| {
                elsewhere(KUBECONFIG_KEY, format!(
                    "stack `{stack}` sets `{KUBECONFIG_KEY}`, which planrun cannot read ({reason}): \
                     the provider would not use this run's kubeconfig, and planrun cannot tell which \
                     cluster it would act on"
                ))
            })?;
            let chosen = context
                .clone()
                .or_else(|| kubeconfig.current_context.clone())
                .unwrap_or_default();
            let server = kubeconfig
                .contexts
                .iter()
                .find(|c| c.name == chosen)
                .and_then(|c| c.context.as_ref())
                .and_then(|c| kubeconfig.clusters.iter().find(|k| k.name == c.cluster))
                .and_then(|k| k.cluster.as_ref())
                .and_then(|k| k.server.clone())
                .unwrap_or_default();
            let same_server = server.trim_end_matches('/') == run.server.trim_end_matches('/');
            if chosen != run.context || !same_server {
                return Err(elsewhere(
                    KUBECONFIG_KEY,
                    format!(
                        "stack `{stack}` sets `{KUBECONFIG_KEY}` ({what}): the provider would act on its context \
                     `{chosen}` (server {}), not this run's context `{}` (server {})",
                        if server.is_empty() {
                            "unknown"
                        } else {
                            &server
                        },
                        run.context,
                        run.server
                    ),
                ));
            }
            return Ok(());
        }
    }
    match context {
        Some(context) if context != run.context => Err(elsewhere(
            CONTEXT_KEY,
            format!(
                "stack `{stack}` sets `{CONTEXT_KEY}` to `{context}`, but this run acts on context `{}`: \
             the provider would deploy to another cluster than the one the plan's guard checked",
                run.context
            ),
        )),
        _ => Ok(()),
    }
}

fn elsewhere(key: &'static str, message: String) -> Elsewhere {
    Elsewhere { key, message }
}

/// A kubeconfig given as a path (`~` expanded, relative to the project) or as its
/// contents, and how it was given (for messages: never the contents).
fn read_kubeconfig(
    path_or_contents: &str,
    project_dir: &Path,
) -> Result<(Kubeconfig, String), String> {
    let expanded = match path_or_contents.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(rest))
            .unwrap_or_else(|| PathBuf::from(path_or_contents)),
        None => PathBuf::from(path_or_contents),
    };
    let path = project_dir.join(&expanded);
    if !path_or_contents.contains('\n') && path.is_file() {
        let config = Kubeconfig::read_from(&path).map_err(|e| e.to_string())?;
        return Ok((config, format!("the file {}", path.display())));
    }
    let config = Kubeconfig::from_yaml(path_or_contents)
        .map_err(|_| "neither a file nor a kubeconfig's contents".to_owned())?;
    Ok((config, "a kubeconfig's contents".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::pulumi::config::parse_listing;

    fn run() -> RunCluster {
        RunCluster {
            context: "oceanid".into(),
            server: "https://10.0.0.1:6443".into(),
        }
    }

    fn kubeconfig(context: &str, server: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {context}\n\
             clusters:\n- name: c\n  cluster:\n    server: {server}\n\
             users:\n- name: u\n  user: {{}}\n\
             contexts:\n- name: {context}\n  context:\n    cluster: c\n    user: u\n"
        )
    }

    fn listing(entries: &[(&str, &str, bool)]) -> Listing {
        let map: serde_json::Map<String, serde_json::Value> = entries
            .iter()
            .map(|(k, v, secret)| {
                (
                    (*k).to_owned(),
                    serde_json::json!({"value": v, "secret": secret}),
                )
            })
            .collect();
        parse_listing(&serde_json::Value::Object(map).to_string()).unwrap()
    }

    #[test]
    fn no_provider_config_or_the_runs_context_is_fine() {
        let dir = Path::new("/nowhere");
        assert!(check(&listing(&[]), "prod", dir, &run()).is_ok());
        let same = listing(&[("kubernetes:context", "oceanid", false)]);
        assert!(check(&same, "prod", dir, &run()).is_ok());
    }

    #[test]
    fn another_context_is_refused_naming_both() {
        let other = listing(&[("kubernetes:context", "staging", false)]);
        let e = check(&other, "prod", Path::new("/p"), &run()).unwrap_err();
        assert_eq!(e.key, "kubernetes:context");
        assert_eq!(
            e.message,
            "stack `prod` sets `kubernetes:context` to `staging`, but this run acts on context \
             `oceanid`: the provider would deploy to another cluster than the one the plan's guard checked"
        );
    }

    #[test]
    fn a_kubeconfig_must_resolve_to_the_runs_context_and_server() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("kc.yaml"),
            kubeconfig("oceanid", "https://10.0.0.1:6443/"),
        )
        .unwrap();
        let by_path = listing(&[("kubernetes:kubeconfig", "kc.yaml", false)]);
        assert!(check(&by_path, "prod", tmp.path(), &run()).is_ok());

        // Given as contents (a secret), pointing at another server under the same name.
        let contents = kubeconfig("oceanid", "https://192.168.1.9:6443");
        let other = listing(&[("kubernetes:kubeconfig", &contents, true)]);
        let e = check(&other, "prod", tmp.path(), &run())
            .unwrap_err()
            .message;
        assert_eq!(
            e,
            "stack `prod` sets `kubernetes:kubeconfig` (a kubeconfig's contents): the provider \
             would act on its context `oceanid` (server https://192.168.1.9:6443), not this run's \
             context `oceanid` (server https://10.0.0.1:6443)"
        );
        assert!(!e.contains("apiVersion"), "never the contents: {e}");

        let unreadable = listing(&[("kubernetes:kubeconfig", "missing.yaml", false)]);
        let e = check(&unreadable, "prod", tmp.path(), &run())
            .unwrap_err()
            .message;
        assert!(
            e.contains("which planrun cannot read (neither a file"),
            "{e}"
        );

        let blind = parse_listing(r#"{"kubernetes:kubeconfig": {"secret": true}}"#).unwrap();
        assert!(check(&blind, "prod", tmp.path(), &run()).is_err());
    }
}
