//! The simulated Pulumi CLI: the real commands and flags planrun uses, the real
//! error messages for the failures planrun must explain, the config as the real CLI
//! stores and shows it, a stack state that `up` compares the program with and
//! `refresh` corrects, the diff display and `--json` output in the real shapes,
//! saved plans binding `up --plan`, SIGINT handled the way the real CLI does, and
//! the pulumi-kubernetes provider's writes to the sandbox cluster.

mod config;
mod diff;
mod flags;
mod lock;
mod operation;
mod output;
mod plan_file;
mod provider;
mod state;
mod steps;

use std::path::{Path, PathBuf};

use super::behaviour::{Behaviour, PulumiBehaviour};
use config::Config;
use flags::Parsed;
use state::StackState;

/// Prefix of the field manager the pulumi-kubernetes provider uses in server-side
/// apply mode (`pulumi-kubernetes-<random suffix>`).
pub const DEFAULT_FIELD_MANAGER_PREFIX: &str = "pulumi-kubernetes-";

/// The version the stand-in reports.
const VERSION: &str = "v3.190.0";

/// The real CLI exits with 255 on any error.
const ERROR_EXIT: i32 = 255;

/// Runs one simulated `pulumi` command with its stacks' state under `state_dir`;
/// returns its exit code.
pub fn run(behaviour: &Behaviour, state_dir: &Path, args: &[String]) -> i32 {
    let parsed = match flags::parse(args) {
        Ok(p) => p,
        Err(message) => return fail(&message),
    };
    if parsed.on("help") {
        println!("simulated pulumi: see the Pulumi CLI reference");
        return 0;
    }
    let cli = Cli {
        behaviour,
        pulumi: &behaviour.pulumi,
        state_dir: state_dir.to_path_buf(),
        parsed,
    };
    match cli.dispatch() {
        Ok(code) => code,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> i32 {
    eprintln!("error: {message}");
    ERROR_EXIT
}

/// One invocation being answered.
struct Cli<'a> {
    behaviour: &'a Behaviour,
    pulumi: &'a PulumiBehaviour,
    state_dir: PathBuf,
    parsed: Parsed,
}

/// The stack an invocation is about, once login, project and stack are checked.
struct Target {
    name: String,
    project: String,
    config: Config,
    /// The stack's state manifests from the behaviour (used when no state is saved).
    initial_state: Vec<PathBuf>,
}

impl Cli<'_> {
    fn dispatch(&self) -> Result<i32, String> {
        let command: Vec<&str> = self.parsed.command.iter().map(String::as_str).collect();
        match command.as_slice() {
            ["version"] => {
                println!("{VERSION}");
                Ok(0)
            }
            ["whoami"] => {
                self.check_login()?;
                if self.parsed.on("json") {
                    // pkg/cmd/pulumi/whoami/whoami.go's whoAmIJSON; the backend is
                    // self-managed, rooted at the tools' state directory.
                    let url = format!("file://{}", self.state_dir.display());
                    println!("{}", serde_json::json!({"user": "planrun-sim", "url": url}));
                } else {
                    println!("planrun-sim");
                }
                Ok(0)
            }
            ["cancel"] => {
                let target = self.target(self.parsed.positional.first().map(String::as_str))?;
                if !self.parsed.on("yes") && self.parsed.on("non-interactive") {
                    return Err(
                        "--yes must be passed in to proceed when running in non-interactive mode"
                            .into(),
                    );
                }
                // A self-managed backend's cancel deletes the stack's lock files.
                lock::cancel(&self.state_dir, &target.project, &target.name);
                println!(
                    "The currently running update for '{}' has been canceled!",
                    target.name
                );
                Ok(0)
            }
            ["stack", "select"] => {
                self.target(self.parsed.positional.first().map(String::as_str))?;
                Ok(0)
            }
            ["stack", "export"] => {
                let target = self.target(None)?;
                let state = self.load_state(&target)?;
                let mut text = Vec::new();
                let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
                let mut ser = serde_json::Serializer::with_formatter(&mut text, formatter);
                serde::Serialize::serialize(&state.export(), &mut ser)
                    .map_err(|e| e.to_string())?;
                text.push(b'\n');
                match self.parsed.value("file") {
                    Some(file) => std::fs::write(self.project_dir().join(file), text)
                        .map_err(|e| format!("could not write the file: {e}"))?,
                    None => {
                        use std::io::Write;
                        let _ = std::io::stdout().write_all(&text);
                    }
                }
                Ok(0)
            }
            ["config"] => self.config_list(),
            ["config", "get"] => self.config_get(),
            ["preview"] | ["up"] | ["refresh"] => {
                let target = self.target(None)?;
                operation::run(self, &target, command[0])
            }
            _ => Err(format!(
                "the simulated pulumi does not implement `pulumi {}`",
                command.join(" ")
            )),
        }
    }

    fn check_login(&self) -> Result<(), String> {
        let token_missing = self.pulumi.require_access_token
            && std::env::var_os("PULUMI_ACCESS_TOKEN").is_none_or(|t| t.is_empty());
        if !self.pulumi.logged_in || token_missing {
            return Err(
                "PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions"
                    .into(),
            );
        }
        Ok(())
    }

    /// The project directory: `--cwd`, else the working directory.
    fn project_dir(&self) -> PathBuf {
        let cwd = std::env::current_dir().unwrap_or_default();
        match self.parsed.value("cwd") {
            Some(dir) => cwd.join(dir),
            None => cwd,
        }
    }

    /// Checks login, the project file and the stack, like every stack command does.
    fn target(&self, positional_stack: Option<&str>) -> Result<Target, String> {
        self.check_login()?;
        let dir = self.project_dir();
        let project = project_name(&dir)?;
        let project = self.pulumi.project.clone().unwrap_or(project);
        let name = self
            .parsed
            .value("stack")
            .or(positional_stack)
            .ok_or("no stack selected; please use `pulumi stack select` to choose one")?
            .to_owned();
        let (config, initial_state) = if self.pulumi.stacks.is_empty() {
            (
                Config::from_entries(&Default::default(), &project),
                Vec::new(),
            )
        } else {
            let stack = self
                .pulumi
                .stacks
                .get(&name)
                .ok_or_else(|| format!("no stack named '{name}' found"))?;
            (
                Config::from_entries(&stack.config, &project),
                stack
                    .state
                    .iter()
                    .map(|p| self.behaviour.resolve(p))
                    .collect(),
            )
        };
        Ok(Target {
            name,
            project,
            config,
            initial_state,
        })
    }

    /// The stack's saved state, or the state the behaviour gives it at first.
    fn load_state(&self, target: &Target) -> Result<StackState, String> {
        let path = StackState::path(&self.state_dir, &target.name);
        if let Some(state) = StackState::load(&path, &target.name, &target.project)? {
            return Ok(state);
        }
        let mut state = StackState::new(&target.name, &target.project);
        let seeded = operation::desired(self, target, &target.initial_state)?;
        state.has_stack = !seeded.is_empty();
        for d in seeded {
            state.put(state::Resource {
                field_manager: self.field_manager(&target.name, &d.urn),
                urn: d.urn,
                type_token: d.type_token,
                id: d.name,
                inputs: d.inputs,
            });
        }
        Ok(state)
    }

    /// Fails like the real CLI when secrets must be decrypted and the passphrase is
    /// missing or wrong.
    fn check_passphrase(&self) -> Result<(), String> {
        let Some(expected) = &self.pulumi.passphrase else {
            return Ok(());
        };
        match std::env::var("PULUMI_CONFIG_PASSPHRASE") {
            Ok(given) if &given == expected => Ok(()),
            Ok(_) => Err("getting secrets manager: incorrect passphrase".into()),
            Err(_) => Err("getting secrets manager: passphrase must be set with \
                 PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables"
                .into()),
        }
    }

    fn config_list(&self) -> Result<i32, String> {
        let target = self.target(None)?;
        let show = self.parsed.on("show-secrets");
        if show && target.config.has_secure_value() {
            self.check_passphrase()?;
        }
        if self.parsed.on("json") {
            let text = serde_json::to_string_pretty(&target.config.list_json(show))
                .map_err(|e| e.to_string())?;
            println!("{text}");
        } else {
            println!("KEY                                   VALUE");
            for (key, shown) in target.config.list_table(show) {
                println!("{key:<37} {shown}");
            }
        }
        Ok(0)
    }

    fn config_get(&self) -> Result<i32, String> {
        let target = self.target(None)?;
        let [key] = self.parsed.positional.as_slice() else {
            return Err("accepts 1 arg(s), received ".to_owned()
                + &self.parsed.positional.len().to_string());
        };
        let node = target
            .config
            .get(key, self.parsed.on("path"))
            .ok_or_else(|| {
                format!(
                    "configuration key '{}' not found for stack '{}'",
                    target.config.pretty(key),
                    target.name
                )
            })?;
        if node.secure() {
            self.check_passphrase()?;
        }
        println!("{}", Config::get_output(node, self.parsed.on("json")));
        Ok(0)
    }

    /// The server-side apply field manager of a resource: the behaviour's, or
    /// `pulumi-kubernetes-<8 hex digits>` derived from the stack and the URN (the
    /// provider draws it at random once and keeps it in the state).
    fn field_manager(&self, stack: &str, urn: &str) -> String {
        self.pulumi.field_manager.clone().unwrap_or_else(|| {
            format!(
                "{DEFAULT_FIELD_MANAGER_PREFIX}{:08x}",
                crc32fast::hash(format!("{stack}\n{urn}").as_bytes())
            )
        })
    }
}

/// The `name` in `Pulumi.yaml` (or `Pulumi.yml`) of `dir`, with the real CLI's error
/// when there is none.
fn project_name(dir: &Path) -> Result<String, String> {
    let file = ["Pulumi.yaml", "Pulumi.yml"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "no Pulumi.yaml project file found (searching upwards from {}). If you have \
                 not created a project yet, use `pulumi new` to do so: no project file found",
                dir.display()
            )
        })?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("could not read {}: {e}", file.display()))?;
    let value: serde_yaml::Value = serde_yaml::from_str(&text)
        .map_err(|e| format!("could not parse {}: {e}", file.display()))?;
    value
        .get("name")
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "project is missing a 'name' attribute in {}",
                file.display()
            )
        })
}
