//! Which cluster a run talks to: the kubeconfig (`--kubeconfig`, `KUBECONFIG` or
//! `~/.kube/config`), the context (`--context` or the kubeconfig's current one), the
//! plan's context guard, and the shared client with its kind cache.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::config::{ExecConfig, KubeConfigOptions, Kubeconfig};
use planrun_text::KubeVersion;

use super::error::KubeError;
use super::kinds::Kinds;

/// How to find the cluster, from the command line.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// `--kubeconfig`; `None`: `KUBECONFIG`, then `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; `None`: the kubeconfig's current context.
    pub context: Option<String>,
}

/// A client for one cluster, shared by every Kubernetes task of a run, with the kinds
/// discovery has resolved so far.
#[derive(Clone)]
pub struct Connection {
    client: Client,
    context: String,
    server: String,
    kinds: Kinds,
    /// The server's version, once asked (`GET /version`; [`Connection::server_version`]).
    version: Arc<tokio::sync::OnceCell<KubeVersion>>,
    /// The kubeconfig files read, in merge order (absolute); empty for a client made
    /// elsewhere ([`Connection::new`]).
    files: Vec<PathBuf>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Reads the kubeconfig and builds a client for the effective context. Sends no
    /// request: an unreachable cluster shows up in the first task that uses it.
    pub async fn open(options: &ConnectOptions) -> Result<Self, KubeError> {
        let kubeconfig = match &options.kubeconfig {
            Some(path) => Kubeconfig::read_from(path).map_err(|e| KubeError::Kubeconfig {
                message: format!("cannot read {}: {}", path.display(), error_chain(&e)),
            })?,
            None => Kubeconfig::read().map_err(|e| KubeError::Kubeconfig {
                message: error_chain(&e),
            })?,
        };
        let context = effective_context(&kubeconfig, options.context.as_deref())?;
        let plugin = credential_plugin(&kubeconfig, &context);
        let files = loaded_files(options);
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &KubeConfigOptions {
                context: Some(context.clone()),
                cluster: None,
                user: None,
            },
        )
        .await
        .map_err(|e| KubeError::Kubeconfig {
            message: format!("context `{context}`: {}", error_chain(&e)),
        })?;
        let server = config.cluster_url.to_string();
        let mut config = config;
        tune(&mut config, SILENCE_LIMIT);
        // Runs the context's credential plugin, if it has one, for the first time.
        let client = Client::try_from(config).map_err(|e| {
            match credentials_failure(&e, plugin.as_ref()) {
                Some(error) => KubeError::Credentials {
                    context: context.clone(),
                    error,
                },
                None => KubeError::Kubeconfig {
                    message: format!("context `{context}`: {}", error_chain(&e)),
                },
            }
        })?;
        let mut conn = Self::new(client, context, server);
        conn.files = files;
        Ok(conn)
    }

    /// A connection over an existing client (tests, the embedded sandbox).
    pub fn new(client: Client, context: impl Into<String>, server: impl Into<String>) -> Self {
        let server = server.into();
        let server = server.strip_suffix('/').unwrap_or(&server).to_string();
        Self {
            kinds: Kinds::new(client.clone()),
            version: Arc::default(),
            client,
            context: context.into(),
            server,
            files: Vec::new(),
        }
    }

    /// The kubeconfig files this connection was read from, in merge order.
    pub fn kubeconfig_files(&self) -> &[PathBuf] {
        &self.files
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The effective kube context's name.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Kinds resolved through discovery, cached for the run.
    pub fn kinds(&self) -> &Kinds {
        &self.kinds
    }

    /// The server's version: `GET /version` the first time (or the one
    /// [`Connection::check_reachable`] made), the same answer after. The error says what
    /// went wrong; a failure is not kept, so a later call asks again.
    pub(crate) async fn server_version(&self) -> Result<KubeVersion, String> {
        self.version
            .get_or_try_init(|| async {
                let info = self
                    .client
                    .apiserver_version()
                    .await
                    .map_err(|e| format!("GET /version: {}", super::retry::describe(&e)))?;
                KubeVersion::parse(&info.git_version).ok_or_else(|| {
                    format!("GET /version: unreadable gitVersion {:?}", info.git_version)
                })
            })
            .await
            .cloned()
    }

    /// Whether the API server answers: `GET /version`, then discovery (`GET /api`,
    /// `GET /apis`), all within `within` (one deadline for the three, retries of
    /// the client included). Refuses with the server, the context and what went wrong:
    /// connection refused, a TLS failure, 401/403, no answer in time.
    pub async fn check_reachable(&self, within: Duration) -> Result<(), KubeError> {
        let probe = async {
            let info = self
                .client
                .apiserver_version()
                .await
                .map_err(|e| ("GET /version", e))?;
            if let Some(version) = KubeVersion::parse(&info.git_version) {
                // Kept for whoever asks next (`server_version`).
                let _ = self.version.set(version);
            }
            self.client
                .list_core_api_versions()
                .await
                .map_err(|e| ("GET /api", e))?;
            self.client
                .list_api_groups()
                .await
                .map_err(|e| ("GET /apis", e))?;
            Ok::<(), (&str, kube::Error)>(())
        };
        let unreachable = |error: String| KubeError::Unreachable {
            server: self.server.clone(),
            context: self.context.clone(),
            error,
        };
        match tokio::time::timeout(within, probe).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err((request, e))) => Err(unreachable(format!("{request}: {}", cause(&e)))),
            Err(_) => Err(unreachable(format!(
                "no answer within {}",
                planrun_text::format_duration(within)
            ))),
        }
    }

    /// The plan's context guard: refuses when the plan names a context and this
    /// connection uses another.
    pub fn check_guard(&self, expected: Option<&str>) -> Result<(), KubeError> {
        check_guard(expected, &self.context)
    }
}

/// How long a request may wait on a silent connection to the API server before the
/// connection is given up and the request made again on a new one, inside the task's
/// deadline (`retry.rs` takes the timeout as transient). A healthy server answers
/// within its `--request-timeout` (default 60 s: k8s.io/apiserver v0.36.3
/// `pkg/server/config.go`, `RequestTimeout`). A connection that went dead (a VPN that
/// dropped and came back on a new tunnel, a NAT that forgot it) never says so: no
/// reset ever comes, and a delete, a patch or a list sent on it would hang until the
/// task's deadline. client-go finds such a connection by HTTP/2 pings after 30 s of
/// silence (k8s.io/apimachinery `pkg/util/net/http.go`, `readIdleTimeoutSeconds`);
/// kube's client speaks HTTP/1.1 here, without pings. Watches, silent for long on a
/// healthy connection, are bounded by [`WATCH_SECONDS`].
pub const SILENCE_LIMIT: Duration = Duration::from_secs(90);

/// How long planrun asks the API server to keep one watch request open (kube's
/// default is 290 s). The server ends it then (k8s.io/apiserver v0.36.3
/// `pkg/endpoints/handlers/get.go`, `ListResource`) and kube's watcher starts the next
/// from where it was; the watcher gives up a watch that said nothing for 5 s longer
/// (kube-runtime 5 `watcher.rs`, `next_with_idle_timeout`), so a dead watch is found
/// after 65 s instead of 295 s. Bookmarks are no heartbeat: the watch cache sends one
/// only once the kind's resourceVersion has moved past the watch's
/// (`pkg/storage/cacher/cache_watcher.go`, `process`); a watch of a quiet kind hears
/// nothing at all (measured: nothing in 2 minutes). And a healthy connection is never
/// silent for [`SILENCE_LIMIT`].
pub const WATCH_SECONDS: u32 = 60;

/// How planrun's client talks to an API server (the harness of the tests makes its
/// client the same way).
pub fn tune(config: &mut kube::Config, silence: Duration) {
    // planrun retries transient errors itself, inside the task's deadline and saying
    // so in the task's log (`retry.rs`); kube's own retry layer would retry a 503
    // fifteen times with backoff first, silently (a down aggregated API would stall
    // discovery for minutes).
    config.default_retry = false;
    // A read that waits longer fails as a timeout, which `retry.rs` takes as
    // transient: the request is made again on a new connection (a watch resumes).
    config.read_timeout = Some(silence);
}

/// The kubeconfig files [`Connection::open`] reads, as kube and client-go do:
/// `--kubeconfig`, else every entry of `KUBECONFIG`, else `~/.kube/config`; made
/// absolute (children run in other directories).
fn loaded_files(options: &ConnectOptions) -> Vec<PathBuf> {
    let files: Vec<PathBuf> = match (&options.kubeconfig, std::env::var_os("KUBECONFIG")) {
        (Some(path), _) => vec![path.clone()],
        (None, Some(list)) if !list.is_empty() => std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        _ => std::env::home_dir()
            .map(|home| home.join(".kube").join("config"))
            .into_iter()
            .collect(),
    };
    files
        .into_iter()
        .map(|f| std::path::absolute(&f).unwrap_or(f))
        .collect()
}

/// `expected` is the plan's `[plan] context`; `None` means unguarded.
pub fn check_guard(expected: Option<&str>, actual: &str) -> Result<(), KubeError> {
    match expected {
        Some(expected) if expected != actual => Err(KubeError::ContextMismatch {
            expected: expected.to_string(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The context a run uses: `--context`, else the kubeconfig's current context; it must
/// exist in the kubeconfig.
pub fn effective_context(
    kubeconfig: &Kubeconfig,
    requested: Option<&str>,
) -> Result<String, KubeError> {
    let name = match requested {
        Some(c) => c.to_string(),
        None => kubeconfig
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| KubeError::Kubeconfig {
                message: "no current context is set and --context was not given".into(),
            })?,
    };
    if kubeconfig.contexts.iter().any(|c| c.name == name) {
        return Ok(name);
    }
    let known: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    Err(KubeError::Kubeconfig {
        message: if known.is_empty() {
            format!("context `{name}` not found: the kubeconfig has no contexts")
        } else {
            format!(
                "context `{name}` not found; known contexts: {}",
                known.join(", ")
            )
        },
    })
}

/// What went wrong with a request, in the words an operator looks for: "connection
/// refused", a TLS failure, "401 Unauthorized: ...", else the error's chain.
pub fn cause(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            let reason = if s.reason.is_empty() {
                "error"
            } else {
                &s.reason
            };
            if s.message.is_empty() {
                format!("{} {reason}", s.code)
            } else {
                format!("{} {reason}: {}", s.code, s.message)
            }
        }
        other => {
            if let Some(failure) = credentials_failure(other, None) {
                return failure;
            }
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(other);
            while let Some(s) = source {
                if let Some(io) = s.downcast_ref::<std::io::Error>() {
                    match io.kind() {
                        std::io::ErrorKind::ConnectionRefused => {
                            return "connection refused".into();
                        }
                        std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
                        std::io::ErrorKind::TimedOut => return "connection timed out".into(),
                        _ => {}
                    }
                }
                source = s.source();
            }
            let text = error_chain(other);
            if text.to_lowercase().contains("certificate") || text.contains("tls") {
                format!("TLS: {text}")
            } else {
                text
            }
        }
    }
}

/// kube's error about the context's credentials, anywhere in `e`'s chain: at the first
/// request of a run, or at a later one that found its token about to expire and ran the
/// plugin again (kube-client 5 `client/auth/mod.rs`, `RefreshableToken::to_header`: a
/// service error then).
pub(crate) fn auth_error<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a kube::client::AuthError> {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(auth) = s.downcast_ref::<kube::client::AuthError>() {
            return Some(auth);
        }
        source = s.source();
    }
    None
}

/// Why the context's credentials could not be had ([`auth_error`]). For an `exec`
/// credential plugin (`aws`, `gke-gcloud-auth-plugin`, `kubelogin`; named when `plugin`,
/// its kubeconfig entry, is known): its exit status and what it wrote on stderr, where
/// plugins say what is wrong ("the SSO session ... has expired"), or, when it is missing,
/// the kubeconfig's `installHint`, as client-go says them (k8s.io/client-go v0.36.3
/// `plugin/pkg/client/auth/exec/exec.go`, `refreshCredsLocked`, `wrapCmdRunErrorLocked`;
/// it lets that stderr through to the terminal, as kube does for a plugin the kubeconfig
/// lets interact). Never what kube's error quotes besides: the plugin's stdout, where a
/// credential may stand, and its command line with the environment the kubeconfig
/// gives it.
pub(crate) fn credentials_failure(
    e: &(dyn std::error::Error + 'static),
    plugin: Option<&ExecConfig>,
) -> Option<String> {
    use kube::client::AuthError;
    let named = match plugin.and_then(|p| p.command.as_deref()) {
        Some(command) => format!("credential plugin `{command}`"),
        None => "credential plugin".to_owned(),
    };
    Some(match auth_error(e)? {
        AuthError::AuthExecRun { out, .. } => {
            let said = planrun_text::one_line(&String::from_utf8_lossy(&out.stderr));
            // Empty too when the plugin may interact (`interactiveMode` other than
            // `Never`): kube lets its stderr through to the terminal then (`auth_exec`).
            if said.is_empty() {
                format!("{named} failed ({})", out.status)
            } else {
                format!(
                    "{named} failed ({}): {}",
                    out.status,
                    planrun_text::clip(&said, PLUGIN_SAID)
                )
            }
        }
        AuthError::AuthExecStart(e) => match plugin.and_then(|p| p.install_hint.as_deref()) {
            Some(hint) => format!(
                "{named} could not start: {e}; the kubeconfig says: {}",
                hint.trim()
            ),
            None => format!("{named} could not start: {e}"),
        },
        AuthError::AuthExecParse(_) => format!(
            "{named} printed no credential that can be read (what it printed is not shown: it may hold one)"
        ),
        other => format!("credentials: {other}"),
    })
}

/// The `exec` credential plugin of `context`'s user.
fn credential_plugin(kubeconfig: &Kubeconfig, context: &str) -> Option<ExecConfig> {
    let user = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)?
        .context
        .as_ref()?
        .user
        .as_deref()?;
    kubeconfig
        .auth_infos
        .iter()
        .find(|a| a.name == user)?
        .auth_info
        .as_ref()?
        .exec
        .clone()
}

/// The most of a credential plugin's stderr a message quotes.
const PLUGIN_SAID: usize = 500;

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(current: Option<&str>, contexts: &[&str]) -> Kubeconfig {
        let mut yaml = String::from("apiVersion: v1\nkind: Config\n");
        if let Some(c) = current {
            yaml.push_str(&format!("current-context: {c}\n"));
        }
        yaml.push_str("clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\n");
        yaml.push_str("users:\n- name: u\n  user: {}\n");
        yaml.push_str("contexts:\n");
        for c in contexts {
            yaml.push_str(&format!(
                "- name: {c}\n  context:\n    cluster: c\n    user: u\n"
            ));
        }
        Kubeconfig::from_yaml(&yaml).unwrap()
    }

    #[test]
    fn context_flag_overrides_current_context() {
        let kc = kubeconfig(Some("a"), &["a", "b"]);
        assert_eq!(effective_context(&kc, None).unwrap(), "a");
        assert_eq!(effective_context(&kc, Some("b")).unwrap(), "b");
    }

    #[test]
    fn unknown_or_missing_context_is_an_error() {
        let kc = kubeconfig(None, &["a"]);
        assert!(
            effective_context(&kc, None)
                .unwrap_err()
                .to_string()
                .contains("no current context")
        );
        let msg = effective_context(&kc, Some("zz")).unwrap_err().to_string();
        assert!(msg.contains("`zz` not found; known contexts: a"), "{msg}");
    }

    #[test]
    fn refusals_by_the_server_name_code_and_reason() {
        let status = |code, reason: &str, message: &str| {
            kube::Error::Api(
                kube::core::Status::failure(message, reason)
                    .with_code(code)
                    .boxed(),
            )
        };
        assert_eq!(
            cause(&status(401, "Unauthorized", "Unauthorized")),
            "401 Unauthorized: Unauthorized"
        );
        assert_eq!(
            cause(&status(
                403,
                "Forbidden",
                "forbidden: User \"x\" cannot get path \"/api\""
            )),
            "403 Forbidden: forbidden: User \"x\" cannot get path \"/api\""
        );
    }

    #[test]
    fn a_credential_plugin_failure_says_its_stderr_never_its_stdout_or_command_line() {
        use std::os::unix::process::ExitStatusExt;
        let failed = |stderr: &str| kube::client::AuthError::AuthExecRun {
            cmd: "PROFILE=\"env-secret\" \"aws\" \"eks\" \"get-token\"".into(),
            out: Box::new(std::process::Output {
                status: std::process::ExitStatus::from_raw(255 << 8),
                stdout: b"{\"status\": {\"token\": \"stdout-secret\"}}".to_vec(),
                stderr: stderr.as_bytes().to_vec(),
            }),
        };
        // At the first request (kube's auth error) and at a refresh (its service error).
        let first = kube::Error::Auth(failed(
            "\nerror: the SSO session has expired\n  run aws sso login\n",
        ));
        let refresh = kube::Error::Service(Box::new(failed("")));
        assert_eq!(
            cause(&first),
            "credential plugin failed (exit status: 255): error: the SSO session has expired run aws sso login"
        );
        assert_eq!(
            cause(&refresh),
            "credential plugin failed (exit status: 255)"
        );
        let long = kube::Error::Auth(failed(&"x".repeat(2 * PLUGIN_SAID)));
        assert!(cause(&long).ends_with(&format!("{}…", "x".repeat(PLUGIN_SAID))));
        let start = kube::Error::Auth(kube::client::AuthError::AuthExecStart(
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
        assert_eq!(
            cause(&start),
            "credential plugin could not start: entity not found"
        );
        let plugin: ExecConfig = serde_json::from_value(serde_json::json!({
            "command": "aws",
            "installHint": "Install the AWS CLI.\n"
        }))
        .unwrap();
        assert_eq!(
            credentials_failure(&start, Some(&plugin)).unwrap(),
            "credential plugin `aws` could not start: entity not found; the kubeconfig says: Install the AWS CLI."
        );
        let unauthorized = kube::Error::Api(
            kube::core::Status::failure("Unauthorized", "Unauthorized")
                .with_code(401)
                .boxed(),
        );
        assert_eq!(credentials_failure(&unauthorized, None), None);
    }

    #[test]
    fn guard_names_both_contexts() {
        assert!(check_guard(None, "x").is_ok());
        assert!(check_guard(Some("x"), "x").is_ok());
        let e = check_guard(Some("oceanid"), "kind-dev").unwrap_err();
        assert!(e.is_refusal());
        assert_eq!(
            e.to_string(),
            "the plan is for kube context `oceanid` but the effective context is `kind-dev`"
        );
    }
}
