//! The rules of ARCHITECTURE.md, checked on the sources: which module never imports
//! which, that executors never print, and that the sandbox crate and the engine
//! library stay apart.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Modules and the engine modules they may never use.
const NEVER: &[(&str, &[&str])] = &[
    // The plan model knows nothing of execution.
    (
        "plan",
        &[
            "validate", "exec", "schedule", "journal", "report", "cli", "signals",
        ],
    ),
    (
        "validate",
        &["exec", "schedule", "journal", "report", "cli", "signals"],
    ),
    // Executors are run by the scheduler and know neither it, the journal, the
    // reporters nor the command line.
    (
        "exec",
        &["schedule", "journal", "report", "cli", "signals", "error"],
    ),
    // The scheduler records through its StateSink and emits events.
    (
        "schedule",
        &["journal", "report", "cli", "signals", "error"],
    ),
    // The journal returns its own errors; the command line maps them to exit codes.
    ("journal", &["exec", "report", "cli", "signals", "error"]),
    // Reporters see events only.
    (
        "report",
        &["exec", "schedule", "journal", "validate", "cli"],
    ),
    ("events", &["exec", "schedule", "journal", "report", "cli"]),
    (
        "layout",
        &["exec", "schedule", "journal", "report", "cli", "validate"],
    ),
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The files of engine module `name` (`src/name/` or `src/name.rs`).
fn module_files(name: &str) -> Vec<PathBuf> {
    let src = Path::new(ROOT).join("src");
    let dir = src.join(name);
    if dir.is_dir() {
        rust_files(&dir)
    } else {
        vec![src.join(format!("{name}.rs"))]
    }
}

/// The `crate::<module>` paths a file names.
fn crate_paths(text: &str) -> BTreeSet<String> {
    text.match_indices("crate::")
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn modules_import_only_what_the_architecture_allows() {
    let mut broken = Vec::new();
    for (module, never) in NEVER {
        for file in module_files(module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for used in crate_paths(&text) {
                if never.contains(&used.as_str()) {
                    broken.push(format!("{} uses crate::{used}", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
fn the_engine_never_prints() {
    for module in ["exec", "schedule", "journal", "validate"] {
        for file in module_files(module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for print in ["println!", "eprintln!", "print!(", "eprint!("] {
                assert!(!text.contains(print), "{} prints ({print})", file.display());
            }
        }
    }
}

#[test]
fn the_library_never_uses_the_sandbox_crate_and_the_sandbox_nothing_of_the_engine() {
    let src = Path::new(ROOT).join("src");
    let binary: Vec<PathBuf> = ["main.rs", "sandbox_command.rs", "rehearse"]
        .iter()
        .map(|p| src.join(p))
        .collect();
    for file in rust_files(&src) {
        if binary.iter().any(|b| file.starts_with(b)) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains("planrun_sandbox"),
            "{} (the library) uses the sandbox crate",
            file.display()
        );
    }
    let sandbox = Path::new(ROOT).join("crates/planrun-sandbox");
    for file in rust_files(&sandbox.join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains("planrun::"),
            "{} (the sandbox) uses the engine",
            file.display()
        );
    }
    let manifest = std::fs::read_to_string(sandbox.join("Cargo.toml")).unwrap();
    assert!(
        !manifest.lines().any(|l| l.starts_with("planrun ")),
        "the sandbox crate depends on the engine"
    );
}
