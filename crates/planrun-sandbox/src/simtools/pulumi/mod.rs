//! The simulated Pulumi CLI: the real commands and flags planrun uses, the real
//! error messages for the failures planrun must explain, `--json` output in the real
//! shapes, SIGINT handled the way the real CLI does, and `up` server-side applying
//! manifests to the sandbox cluster.

mod flags;
mod operation;
mod output;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::behaviour::{Behaviour, ConfigEntry, PulumiBehaviour};
use flags::Parsed;

/// Prefix of the field manager the pulumi-kubernetes provider uses in server-side
/// apply mode (`pulumi-kubernetes-<random suffix>`).
pub const DEFAULT_FIELD_MANAGER_PREFIX: &str = "pulumi-kubernetes-";

/// The real CLI exits with 255 on any error.
const ERROR_EXIT: i32 = 255;

/// Runs one simulated `pulumi` command; returns its exit code.
pub fn run(behaviour: &Behaviour, args: &[String]) -> i32 {
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
    parsed: Parsed,
}

/// The stack an invocation is about, once login, project and stack are checked.
struct Target<'a> {
    name: String,
    project: String,
    /// Fully qualified key (`namespace:key`) -> entry.
    config: BTreeMap<String, &'a ConfigEntry>,
}

impl<'a> Cli<'a> {
    fn dispatch(&self) -> Result<i32, String> {
        let command: Vec<&str> = self.parsed.command.iter().map(String::as_str).collect();
        match command.as_slice() {
            ["version"] => {
                println!("v3.190.0");
                Ok(0)
            }
            ["whoami"] => {
                self.check_login()?;
                println!("planrun-sim");
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
    fn target(&self, positional_stack: Option<&str>) -> Result<Target<'a>, String> {
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
        let config = if self.pulumi.stacks.is_empty() {
            BTreeMap::new()
        } else {
            let stack = self
                .pulumi
                .stacks
                .get(&name)
                .ok_or_else(|| format!("no stack named '{name}' found"))?;
            stack
                .config
                .iter()
                .map(|(k, v)| (qualify(k, &project), v))
                .collect()
        };
        Ok(Target {
            name,
            project,
            config,
        })
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
        if show && target.config.values().any(|e| e.secret) {
            self.check_passphrase()?;
        }
        if self.parsed.on("json") {
            let mut map = serde_json::Map::new();
            for (key, entry) in &target.config {
                let mut value = serde_json::Map::new();
                if !entry.secret || show {
                    value.insert("value".into(), entry.value.clone().into());
                }
                value.insert("secret".into(), entry.secret.into());
                map.insert(key.clone(), value.into());
            }
            let text = serde_json::to_string_pretty(&serde_json::Value::Object(map))
                .map_err(|e| e.to_string())?;
            println!("{text}");
        } else {
            println!("KEY                                   VALUE");
            for (key, entry) in &target.config {
                let shown = if entry.secret && !show {
                    "[secret]"
                } else {
                    &entry.value
                };
                let key = key
                    .strip_prefix(&format!("{}:", target.project))
                    .unwrap_or(key);
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
        let qualified = qualify(key, &target.project);
        let entry = target.config.get(&qualified).ok_or_else(|| {
            format!(
                "configuration key '{key}' not found for stack '{}'",
                target.name
            )
        })?;
        if entry.secret {
            self.check_passphrase()?;
        }
        if self.parsed.on("json") {
            let json = serde_json::json!({ "value": entry.value, "secret": entry.secret });
            println!("{json}");
        } else {
            println!("{}", entry.value);
        }
        Ok(0)
    }

    /// The field manager `up` applies with.
    fn field_manager(&self, stack: &str) -> String {
        self.pulumi.field_manager.clone().unwrap_or_else(|| {
            format!(
                "{DEFAULT_FIELD_MANAGER_PREFIX}{:08x}",
                crc32fast::hash(stack.as_bytes())
            )
        })
    }
}

/// `key` with the project namespace unless it has one.
fn qualify(key: &str, project: &str) -> String {
    if key.contains(':') {
        key.to_owned()
    } else {
        format!("{project}:{key}")
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
