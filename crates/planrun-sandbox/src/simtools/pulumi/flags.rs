//! The real Pulumi CLI's commands and flags (as documented in its command
//! reference), and a parser with pflag's rules, so the stand-in rejects exactly what
//! the real CLI rejects and a test proves planrun's argv is real.

use std::collections::BTreeMap;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// `--yes`, or `--yes=false`.
    Bool,
    /// `--stack dev` or `--stack=dev`.
    Value,
    /// `--refresh` (meaning the default given) or `--refresh=false`; never takes the
    /// next word.
    Optional(&'static str),
}

/// One flag: long name, optional one-letter shorthand, arity.
pub type Flag = (&'static str, Option<char>, Arity);

use Arity::{Bool, Optional, Value};

/// Flags every command inherits from the root command.
const GLOBAL: &[Flag] = &[
    ("color", None, Value),
    ("cwd", Some('C'), Value),
    ("disable-integrity-checking", None, Bool),
    ("emoji", Some('e'), Bool),
    ("fully-qualify-stack-names", Some('Q'), Bool),
    ("help", Some('h'), Bool),
    ("logflow", None, Bool),
    ("logtostderr", None, Bool),
    ("memprofilerate", None, Value),
    ("non-interactive", None, Bool),
    ("otel-traces", None, Value),
    ("profiling", None, Value),
    ("tracing", None, Value),
    ("verbose", Some('v'), Value),
];

/// Flags `up`, `preview` and `refresh` share.
const OPERATION: &[Flag] = &[
    ("config", Some('c'), Value),
    ("config-file", None, Value),
    ("config-path", None, Bool),
    ("debug", Some('d'), Bool),
    ("diff", None, Bool),
    ("exclude", Some('x'), Value),
    ("exclude-dependents", None, Bool),
    ("expect-no-changes", None, Bool),
    ("json", Some('j'), Bool),
    ("message", Some('m'), Value),
    ("parallel", Some('p'), Value),
    ("show-replacement-steps", None, Bool),
    ("show-sames", None, Bool),
    ("stack", Some('s'), Value),
    ("suppress-outputs", None, Bool),
    ("suppress-permalink", None, Optional("false")),
    ("suppress-progress", None, Bool),
    ("target", Some('t'), Value),
    ("target-dependents", None, Bool),
];

/// `up` and `preview` (beyond [`OPERATION`]).
const UPDATE: &[Flag] = &[
    ("attach-debugger", None, Optional("program")),
    ("policy-pack", None, Value),
    ("policy-pack-config", None, Value),
    ("refresh", Some('r'), Optional("true")),
    ("replace", None, Value),
    ("show-config", None, Bool),
    ("show-policy-remediations", None, Bool),
    ("show-reads", None, Bool),
    ("show-secrets", None, Bool),
    ("target-replace", None, Value),
];

const UP: &[Flag] = &[
    ("continue-on-error", None, Bool),
    // Hidden unless PULUMI_EXPERIMENTAL is set, but accepted
    // (pkg/cmd/pulumi/operations/up.go).
    ("plan", None, Value),
    ("secrets-provider", None, Value),
    ("show-full-output", None, Bool),
    ("skip-preview", Some('f'), Bool),
    ("yes", Some('y'), Bool),
];

const PREVIEW: &[Flag] = &[("import-file", None, Value), ("save-plan", None, Value)];

const REFRESH: &[Flag] = &[
    ("clear-pending-creates", None, Bool),
    ("import-pending-creates", None, Value),
    ("preview-only", None, Bool),
    ("run-program", None, Bool),
    ("skip-pending-creates", None, Bool),
    ("skip-preview", Some('f'), Bool),
    ("yes", Some('y'), Bool),
];

/// `config` and its subcommands (persistent flags of `config`).
const CONFIG: &[Flag] = &[
    ("config-file", None, Value),
    ("json", Some('j'), Bool),
    ("open", None, Bool),
    ("show-secrets", None, Bool),
    ("stack", Some('s'), Value),
];

const CONFIG_GET: &[Flag] = &[("path", None, Bool)];

const STACK_EXPORT: &[Flag] = &[
    ("file", None, Value),
    ("show-secrets", None, Bool),
    ("stack", Some('s'), Value),
    ("version", None, Value),
];

const STACK_SELECT: &[Flag] = &[
    ("create", Some('c'), Bool),
    ("secrets-provider", None, Value),
    ("stack", Some('s'), Value),
];

const CANCEL: &[Flag] = &[("stack", Some('s'), Value), ("yes", Some('y'), Bool)];

const WHOAMI: &[Flag] = &[("json", Some('j'), Bool)];

/// A command the stand-in knows, with its flag tables.
struct CommandSpec {
    path: &'static [&'static str],
    flags: &'static [&'static [Flag]],
}

const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        path: &["up"],
        flags: &[OPERATION, UPDATE, UP],
    },
    CommandSpec {
        path: &["preview"],
        flags: &[OPERATION, UPDATE, PREVIEW],
    },
    CommandSpec {
        path: &["refresh"],
        flags: &[OPERATION, REFRESH],
    },
    CommandSpec {
        path: &["config"],
        flags: &[CONFIG],
    },
    CommandSpec {
        path: &["config", "get"],
        flags: &[CONFIG, CONFIG_GET],
    },
    CommandSpec {
        path: &["stack", "select"],
        flags: &[STACK_SELECT],
    },
    CommandSpec {
        path: &["stack", "export"],
        flags: &[STACK_EXPORT],
    },
    CommandSpec {
        path: &["cancel"],
        flags: &[CANCEL],
    },
    CommandSpec {
        path: &["whoami"],
        flags: &[WHOAMI],
    },
    CommandSpec {
        path: &["version"],
        flags: &[],
    },
];

/// A parsed command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The command path, e.g. `["config", "get"]`.
    pub command: Vec<String>,
    /// Long flag name -> values in order.
    pub flags: BTreeMap<String, Vec<String>>,
    /// Words that are neither the command nor flags.
    pub positional: Vec<String>,
}

impl Parsed {
    /// The last value of a flag.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Whether a boolean flag is on.
    pub fn on(&self, name: &str) -> bool {
        self.value(name).is_some_and(|v| v == "true")
    }
}

/// Parses `args` (argv without the program name) with the real CLI's rules. The
/// error is the message the real CLI prints after `error: `.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let (command, rest) = split_command(args)?;
    let mut tables: Vec<&[Flag]> = vec![GLOBAL];
    tables.extend(command.flags.iter().copied());
    let lookup_long = |name: &str| {
        tables
            .iter()
            .flat_map(|t| t.iter())
            .find(|(long, _, _)| *long == name)
            .copied()
    };
    let lookup_short = |c: char| {
        tables
            .iter()
            .flat_map(|t| t.iter())
            .find(|(_, short, _)| *short == Some(c))
            .copied()
    };
    let mut parsed = Parsed {
        command: command.path.iter().map(|s| (*s).to_owned()).collect(),
        ..Parsed::default()
    };
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        i += 1;
        if arg == "--" {
            parsed.positional.extend(rest[i..].iter().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let Some((name, _, arity)) = lookup_long(name) else {
                return Err(format!("unknown flag: --{name}"));
            };
            let value = match (arity, inline) {
                (_, Some(v)) => v,
                (Bool, None) => "true".to_owned(),
                (Optional(default), None) => default.to_owned(),
                (Value, None) => match rest.get(i) {
                    Some(v) => {
                        i += 1;
                        v.clone()
                    }
                    None => return Err(format!("flag needs an argument: --{name}")),
                },
            };
            check_bool(name, arity, &value)?;
            parsed.flags.entry(name.to_owned()).or_default().push(value);
        } else if let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let chars: Vec<char> = shorts.chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                let Some((name, _, arity)) = lookup_short(c) else {
                    return Err(format!("unknown shorthand flag: '{c}' in {arg}"));
                };
                let tail: String = chars[j..].iter().collect();
                let value = match arity {
                    Bool | Optional(_) if tail.starts_with('=') => {
                        j = chars.len();
                        tail[1..].to_owned()
                    }
                    Bool => "true".to_owned(),
                    Optional(default) => default.to_owned(),
                    Value if !tail.is_empty() => {
                        j = chars.len();
                        tail.strip_prefix('=').unwrap_or(&tail).to_owned()
                    }
                    Value => match rest.get(i) {
                        Some(v) => {
                            i += 1;
                            v.clone()
                        }
                        None => {
                            return Err(format!("flag needs an argument: '{c}' in -{c}"));
                        }
                    },
                };
                check_bool(name, arity, &value)?;
                parsed.flags.entry(name.to_owned()).or_default().push(value);
            }
        } else {
            parsed.positional.push(arg.clone());
        }
    }
    Ok(parsed)
}

fn check_bool(name: &str, arity: Arity, value: &str) -> Result<(), String> {
    if arity == Bool && value != "true" && value != "false" {
        return Err(format!(
            "invalid argument \"{value}\" for \"--{name}\" flag: strconv.ParseBool: parsing \"{value}\": invalid syntax"
        ));
    }
    Ok(())
}

/// Finds the command: the longest known path made of the leading non-flag words
/// (skipping global flags and their values), and returns the other words.
fn split_command(args: &[String]) -> Result<(&'static CommandSpec, Vec<String>), String> {
    let mut words = Vec::new();
    let mut rest = Vec::new();
    let mut i = 0;
    let mut in_path = true;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg.starts_with('-') {
            rest.push(arg.clone());
            // A global value flag before the command takes the next word with it.
            let takes_value = match arg.strip_prefix("--") {
                Some(long) if !long.contains('=') => {
                    GLOBAL.iter().any(|(l, _, a)| *l == long && *a == Value)
                }
                Some(_) => false,
                None => {
                    arg.len() == 2
                        && GLOBAL
                            .iter()
                            .any(|(_, s, a)| *a == Value && s.is_some_and(|c| arg.ends_with(c)))
                }
            };
            if takes_value && let Some(v) = args.get(i) {
                rest.push(v.clone());
                i += 1;
            }
            continue;
        }
        if in_path {
            let mut candidate = words.clone();
            candidate.push(arg.as_str());
            if COMMANDS.iter().any(|c| {
                c.path.len() >= candidate.len() && c.path[..candidate.len()] == candidate[..]
            }) {
                words.push(arg.as_str());
                continue;
            }
            in_path = false;
        }
        rest.push(arg.clone());
    }
    if words.is_empty() {
        return match args.iter().find(|a| !a.starts_with('-')) {
            Some(word) => Err(format!("unknown command \"{word}\" for \"pulumi\"")),
            None => {
                Err("no command given (the stand-in does not open an interactive shell)".into())
            }
        };
    }
    COMMANDS
        .iter()
        .find(|c| c.path == words.as_slice())
        .map(|c| (c, rest))
        .ok_or_else(|| {
            format!(
                "the simulated pulumi does not implement `pulumi {}`",
                words.join(" ")
            )
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(line: &str) -> Result<Parsed, String> {
        parse(
            &line
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn parses_long_short_inline_and_optional_values() {
        let parsed = p("--non-interactive up -s dev --cwd=/x --yes --refresh -p 4 --json").unwrap();
        assert_eq!(parsed.command, ["up"]);
        assert_eq!(parsed.value("stack"), Some("dev"));
        assert_eq!(parsed.value("cwd"), Some("/x"));
        assert_eq!(parsed.value("parallel"), Some("4"));
        assert!(parsed.on("yes") && parsed.on("refresh") && parsed.on("json"));
        assert!(parsed.on("non-interactive"));
        let parsed = p("up -yf -sdev --refresh=false").unwrap();
        assert!(parsed.on("yes") && parsed.on("skip-preview"));
        assert_eq!(parsed.value("stack"), Some("dev"));
        assert!(!parsed.on("refresh"));
    }

    #[test]
    fn rejects_flags_the_command_does_not_have() {
        assert_eq!(p("preview --yes").unwrap_err(), "unknown flag: --yes");
        assert_eq!(p("up --bogus").unwrap_err(), "unknown flag: --bogus");
        assert_eq!(
            p("config -z").unwrap_err(),
            "unknown shorthand flag: 'z' in -z"
        );
        assert!(p("up --stack").unwrap_err().contains("needs an argument"));
        assert!(
            p("up --yes=maybe")
                .unwrap_err()
                .contains("invalid argument")
        );
        assert!(p("stack ls").unwrap_err().contains("does not implement"));
        assert!(p("frobnicate").unwrap_err().contains("unknown command"));
    }

    #[test]
    fn finds_subcommands_and_positionals() {
        let parsed = p("config get github.token --stack dev --json").unwrap();
        assert_eq!(parsed.command, ["config", "get"]);
        assert_eq!(parsed.positional, ["github.token"]);
        let parsed = p("-C /d config --stack dev --json").unwrap();
        assert_eq!(parsed.command, ["config"]);
        assert_eq!(parsed.value("cwd"), Some("/d"));
        let parsed = p("stack select dev").unwrap();
        assert_eq!(parsed.positional, ["dev"]);
    }
}
