//! What can go wrong with Pulumi, told so the person at the keyboard knows the fix:
//! each error carries the command that repairs it where there is one.

use std::path::PathBuf;

use miette::Diagnostic;

use super::lock::{LockHolder, Whereabouts};

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
            "pulumi refused the changes outside the plan and applied the others it could (the \
             task's log lists each step); run the preview again, review the new diff and \
             confirm it: `{rerun}`"
        )
    )]
    PlanRefused {
        stack: String,
        preview: String,
        detail: String,
        rerun: String,
    },

    #[error("stack `{stack}` is locked by an update still running: pid {} on this machine, since {}", holder.pid, holder.since)]
    #[diagnostic(
        code(planrun::pulumi::locked_running),
        help(
            "wait for it to end, or stop it with `kill -INT {}` (Pulumi then cancels what it \
             was doing and releases the stack); if it is the update of a planrun that was cut \
             off, `--resume` runs this task again once it has ended",
            holder.pid
        )
    )]
    LockedRunning {
        stack: String,
        holder: Box<LockHolder>,
    },

    #[error(
        "stack `{stack}` is locked by an update that no longer runs (pid {} on this machine, \
         since {}): it was cut off (killed, or its machine stopped) and left its lock, and \
         perhaps pending operations, behind", holder.pid, holder.since
    )]
    #[diagnostic(
        code(planrun::pulumi::locked_abandoned),
        help(
            "make sure nobody else is updating the stack, then release it: `pulumi cancel \
             --stack {stack} --yes --cwd {}`; the next update warns about the operations the \
             cut-off one left pending (`pulumi stack export` lists them) and does them again",
            cwd.display()
        )
    )]
    LockedAbandoned {
        stack: String,
        cwd: PathBuf,
        holder: Box<LockHolder>,
    },

    #[error("stack `{stack}` is locked by an update on another machine: {} (pid {}), since {}", holder.by, holder.pid, holder.since)]
    #[diagnostic(
        code(planrun::pulumi::locked_elsewhere),
        help(
            "wait for it; if nothing runs there any more, `pulumi cancel --stack {stack} --yes \
             --cwd {}` releases the stack",
            cwd.display()
        )
    )]
    LockedElsewhere {
        stack: String,
        cwd: PathBuf,
        holder: Box<LockHolder>,
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

    #[error(
        "the checkpoint of stack `{stack}` cannot be read: its metadata file {} is empty or cut \
         short",
        paths(files)
    )]
    #[diagnostic(
        code(planrun::pulumi::damaged_checkpoint),
        help(
            "an update killed while it saved the stack leaves the file so: the self-managed \
             backend rewrites it in place just before it renames the new checkpoint over the \
             old one, so the checkpoint itself is whole (the state saved before the kill, or \
             the one being saved). Remove the damaged file and run again: `rm -- {}`",
            files
                .iter()
                .map(|f| planrun_text::shell_quote(&f.display().to_string()))
                .collect::<Vec<_>>()
                .join(" ")
        )
    )]
    DamagedCheckpoint { stack: String, files: Vec<PathBuf> },

    #[error("pulumi cannot read the checkpoint of stack `{stack}`: {detail}")]
    #[diagnostic(
        code(planrun::pulumi::checkpoint_unreadable),
        help(
            "`pulumi stack export --stack {stack}` shows the same error. On a self-managed \
             backend (`pulumi whoami -v` names it), an update killed while it saved the stack \
             can leave the metadata file beside the checkpoint \
             (`.pulumi/stacks/<project>/{stack}.json.attrs`) empty: remove it if so; else \
             restore the latest good state from `.pulumi/backups/` with `pulumi stack import \
             --stack {stack} --file FILE`"
        )
    )]
    CheckpointUnreadable { stack: String, detail: String },

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

fn paths(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn detail_suffix(detail: &[String]) -> String {
    match detail.first() {
        Some(first) => format!(": {first}"),
        None => String::new(),
    }
}

/// What was looked up about a failure beyond what the CLI printed: where the
/// holder of a lock it named is ([`super::lock`]), and which metadata files of a
/// checkpoint it could not read are damaged ([`super::checkpoint`]).
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    pub lock: Option<(LockHolder, Whereabouts)>,
    pub damaged: Vec<PathBuf>,
}

impl PulumiError {
    /// A stack locked by `holder`, told by where the holder is.
    pub fn locked(stack: &str, cwd: &std::path::Path, holder: LockHolder, at: Whereabouts) -> Self {
        let (stack, cwd, holder) = (stack.to_owned(), cwd.to_path_buf(), Box::new(holder));
        match at {
            Whereabouts::Running => PulumiError::LockedRunning { stack, holder },
            Whereabouts::Gone => PulumiError::LockedAbandoned { stack, cwd, holder },
            Whereabouts::Elsewhere => PulumiError::LockedElsewhere { stack, cwd, holder },
        }
    }

    /// The message and the help, on one line each, for a task error.
    pub fn with_help(&self) -> String {
        match self.help() {
            Some(help) => format!("{self}\nhelp: {help}"),
            None => self.to_string(),
        }
    }
}

/// Recognises the CLI's messages for the failures with a known fix in what it
/// printed to stderr; `None` for anything else. `found` is what was looked up
/// about them.
pub fn classify(
    stderr: &[String],
    stack: &str,
    cwd: &std::path::Path,
    found: &Lookups,
) -> Option<PulumiError> {
    let find = |needle: &str| stderr.iter().find(|l| l.contains(needle));
    if find("the stack is currently locked by").is_some()
        && let Some((holder, whereabouts)) = &found.lock
    {
        return Some(PulumiError::locked(
            stack,
            cwd,
            holder.clone(),
            *whereabouts,
        ));
    }
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
    if let Some(unreadable) = super::checkpoint::error(stack, stderr, &found.damaged) {
        return Some(unreadable);
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
        // What the CLI printed alone, nothing looked up beside it.
        let classify =
            |text: &str| classify(&lines(text), "dev", Path::new("/p"), &Lookups::default());
        assert!(matches!(
            classify("error: no stack named 'dev' found"),
            Some(PulumiError::StackNotFound { .. })
        ));
        assert!(matches!(
            classify(
                "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions"
            ),
            Some(PulumiError::NotLoggedIn { .. })
        ));
        let e = classify("error: getting secrets manager: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables")
            .expect("a passphrase error");
        assert!(
            e.with_help().contains("help: set PULUMI_CONFIG_PASSPHRASE"),
            "{}",
            e.with_help()
        );
        assert!(matches!(
            classify("error: [409] Conflict: Another update is currently in progress."),
            Some(PulumiError::UpdateInProgress { .. })
        ));
        let e =
            classify("error: failed to load checkpoint: EOF").expect("an unreadable checkpoint");
        assert!(
            e.with_help()
                .contains(".pulumi/stacks/<project>/dev.json.attrs"),
            "{}",
            e.with_help()
        );
        assert_eq!(classify("error: something else"), None);
    }

    #[test]
    fn a_locked_stack_is_told_by_where_its_holder_is() {
        let cwd = Path::new("/p");
        let stderr = lines(
            "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n  file:///b/l.json: created by root@vm (pid 24042) at 2026-11-30T08:39:29Z",
        );
        let holder = super::super::lock::holder(&stderr).unwrap();
        let told = |w| {
            let found = Lookups {
                lock: Some((holder.clone(), w)),
                ..Lookups::default()
            };
            classify(&stderr, "s", cwd, &found).unwrap().with_help()
        };
        let running = told(Whereabouts::Running);
        assert!(
            running.contains("still running: pid 24042 on this machine"),
            "{running}"
        );
        assert!(running.contains("`kill -INT 24042`"), "{running}");
        let gone = told(Whereabouts::Gone);
        assert!(gone.contains("no longer runs (pid 24042"), "{gone}");
        assert!(
            gone.contains("`pulumi cancel --stack s --yes --cwd /p`"),
            "{gone}"
        );
        let far = told(Whereabouts::Elsewhere);
        assert!(
            far.contains("another machine: root@vm (pid 24042)"),
            "{far}"
        );
    }

    #[test]
    fn says_how_to_install() {
        let e = PulumiError::NotInstalled {
            binary: "pulumi".into(),
        };
        assert!(e.with_help().contains("https://get.pulumi.com"));
    }
}
