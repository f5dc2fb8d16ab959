//! What can go wrong with Pulumi, told so the person at the keyboard knows the fix:
//! each error carries the command that repairs it where there is one.

use std::path::PathBuf;

use miette::Diagnostic;

/// Where Pulumi can be installed from.
pub const INSTALL_HELP: &str = "install the Pulumi CLI: `curl -fsSL https://get.pulumi.com | sh` \
    (or `brew install pulumi/tap/pulumi`), see https://www.pulumi.com/docs/iac/download-install/; \
    or set `binary` on the task to its path";

/// A Pulumi failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Diagnostic)]
pub enum PulumiError {
    #[error("the Pulumi CLI `{binary}` is not installed (not found on PATH)")]
    #[diagnostic(code(planrun::pulumi::not_installed), help("{}", INSTALL_HELP))]
    NotInstalled { binary: String },

    #[error("the Pulumi project directory {} does not exist", .0.display())]
    #[diagnostic(
        code(planrun::pulumi::no_project_dir),
        help("`cwd` of the task must be the directory holding Pulumi.yaml")
    )]
    ProjectDirMissing(PathBuf),

    #[error("no Pulumi project (Pulumi.yaml) in {}", .0.display())]
    #[diagnostic(
        code(planrun::pulumi::no_project),
        help("`cwd` of the task must be the directory holding Pulumi.yaml")
    )]
    NoProject(PathBuf),

    #[error("stack `{stack}` not found")]
    #[diagnostic(
        code(planrun::pulumi::stack_not_found),
        help(
            "check the stack name (`pulumi stack ls --cwd {}`), the backend you are logged in to \
             (`pulumi whoami -v`), or create the stack with `pulumi stack init {stack}`",
            cwd.display()
        )
    )]
    StackNotFound { stack: String, cwd: PathBuf },

    #[error("not logged in to a Pulumi backend")]
    #[diagnostic(
        code(planrun::pulumi::not_logged_in),
        help(
            "run `pulumi login` first (Pulumi Cloud: set PULUMI_ACCESS_TOKEN for non-interactive \
             runs; a self-managed backend: `pulumi login s3://...` or `pulumi login file://...`)"
        )
    )]
    NotLoggedIn { detail: String },

    #[error("cannot decrypt the secrets of stack `{stack}`: {detail}")]
    #[diagnostic(
        code(planrun::pulumi::passphrase),
        help(
            "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the stack's \
             passphrase, or log in to the stack's secrets provider"
        )
    )]
    Passphrase { stack: String, detail: String },

    #[error("stack `{stack}` lacks required config: {}", keys.join(", "))]
    #[diagnostic(code(planrun::pulumi::missing_config), help("{fix}"))]
    MissingConfig {
        stack: String,
        keys: Vec<String>,
        /// The `pulumi config set --secret` commands that fix it.
        fix: String,
    },

    #[error("stack `{stack}` would deploy to another cluster: {detail}")]
    #[diagnostic(
        code(planrun::pulumi::other_cluster),
        help(
            "make the stack's provider use the run's cluster: remove the setting \
             (`pulumi config rm {key} --stack {stack} --cwd {}`; the provider then uses the \
             kubeconfig planrun gives it), or run the plan against the cluster the stack names \
             (--context) if that is the one meant",
            cwd.display()
        )
    )]
    OtherCluster {
        stack: String,
        cwd: PathBuf,
        /// The stack config key that points elsewhere.
        key: String,
        detail: String,
    },

    #[error("the plan `{preview}` saved is missing: {}", path.display())]
    #[diagnostic(
        code(planrun::pulumi::plan_missing),
        help("run the preview again, review its diff and confirm it: `{rerun}`")
    )]
    PlanMissing {
        preview: String,
        path: PathBuf,
        rerun: String,
    },

    #[error("the plan `{preview}` saved changed since it was reviewed: {}", path.display())]
    #[diagnostic(
        code(planrun::pulumi::plan_changed),
        help("run the preview again, review its diff and confirm it: `{rerun}`")
    )]
    PlanChanged {
        preview: String,
        path: PathBuf,
        rerun: String,
    },

    #[error(
        "`pulumi up --plan` refused to update stack `{stack}`: it no longer matches the plan \
         `{preview}` saved (the stack's state or the program changed since): {detail}"
    )]
    #[diagnostic(
        code(planrun::pulumi::plan_refused),
        help(
            "the update stopped at the first change outside the plan; run the preview again, \
             review the new diff and confirm it: `{rerun}`"
        )
    )]
    PlanRefused {
        stack: String,
        preview: String,
        detail: String,
        rerun: String,
    },

    #[error("another update of stack `{stack}` is in progress")]
    #[diagnostic(
        code(planrun::pulumi::update_in_progress),
        help(
            "wait for it; if nothing is really running (an update was killed), \
             `pulumi cancel --stack {stack} --yes` releases the stack"
        )
    )]
    UpdateInProgress { stack: String },

    #[error("`pulumi {command}` failed for stack `{stack}` ({status}){}", detail_suffix(.detail))]
    #[diagnostic(code(planrun::pulumi::failed))]
    Failed {
        command: String,
        stack: String,
        status: String,
        /// The error lines Pulumi printed, most telling first.
        detail: Vec<String>,
    },

    #[error("`pulumi {command}` printed output planrun cannot read: {detail}")]
    #[diagnostic(code(planrun::pulumi::bad_output))]
    BadOutput { command: String, detail: String },

    #[error("`pulumi {command}` did not finish within {seconds} s")]
    #[diagnostic(code(planrun::pulumi::timeout))]
    Timeout { command: String, seconds: u64 },

    #[error("cannot run `{binary}`: {detail}")]
    #[diagnostic(code(planrun::pulumi::spawn))]
    Spawn { binary: String, detail: String },
}

fn detail_suffix(detail: &[String]) -> String {
    match detail.first() {
        Some(first) => format!(": {first}"),
        None => String::new(),
    }
}

impl PulumiError {
    /// The message and the help, on one line each, for a task error.
    pub fn with_help(&self) -> String {
        match self.help() {
            Some(help) => format!("{self}\nhelp: {help}"),
            None => self.to_string(),
        }
    }
}

/// Recognises the CLI's messages for the failures with a known fix in what it
/// printed to stderr; `None` for anything else.
pub fn classify(stderr: &[String], stack: &str, cwd: &std::path::Path) -> Option<PulumiError> {
    let find = |needle: &str| stderr.iter().find(|l| l.contains(needle));
    if find("no stack named").is_some() {
        return Some(PulumiError::StackNotFound {
            stack: stack.to_owned(),
            cwd: cwd.to_path_buf(),
        });
    }
    if let Some(line) = find("PULUMI_ACCESS_TOKEN must be set")
        .or_else(|| find("not logged in"))
        .or_else(|| find("[401]"))
    {
        return Some(PulumiError::NotLoggedIn {
            detail: strip_error(line),
        });
    }
    if let Some(line) = find("passphrase must be set")
        .or_else(|| find("incorrect passphrase"))
        .or_else(|| find("getting secrets manager"))
    {
        return Some(PulumiError::Passphrase {
            stack: stack.to_owned(),
            detail: strip_error(line),
        });
    }
    if find("no Pulumi.yaml project file found").is_some() {
        return Some(PulumiError::NoProject(cwd.to_path_buf()));
    }
    if find("[409] Conflict").is_some() || find("currently in progress").is_some() {
        return Some(PulumiError::UpdateInProgress {
            stack: stack.to_owned(),
        });
    }
    None
}

/// `error: x` -> `x`.
pub fn strip_error(line: &str) -> String {
    line.trim()
        .strip_prefix("error: ")
        .unwrap_or(line.trim())
        .to_owned()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn recognises_the_clis_messages() {
        let cwd = Path::new("/p");
        assert!(matches!(
            classify(&lines("error: no stack named 'dev' found"), "dev", cwd),
            Some(PulumiError::StackNotFound { .. })
        ));
        assert!(matches!(
            classify(
                &lines(
                    "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions"
                ),
                "dev",
                cwd
            ),
            Some(PulumiError::NotLoggedIn { .. })
        ));
        let e = classify(
            &lines("error: getting secrets manager: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables"),
            "dev",
            cwd,
        )
        .expect("a passphrase error");
        assert!(
            e.with_help().contains("help: set PULUMI_CONFIG_PASSPHRASE"),
            "{}",
            e.with_help()
        );
        assert!(matches!(
            classify(
                &lines("error: [409] Conflict: Another update is currently in progress."),
                "dev",
                cwd
            ),
            Some(PulumiError::UpdateInProgress { .. })
        ));
        assert_eq!(classify(&lines("error: something else"), "dev", cwd), None);
    }

    #[test]
    fn says_how_to_install() {
        let e = PulumiError::NotInstalled {
            binary: "pulumi".into(),
        };
        assert!(e.with_help().contains("https://get.pulumi.com"));
    }
}
