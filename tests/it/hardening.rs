//! Issue 14's hardening through the real binary: escapes, state files that are
//! private and never written through links, and the minor points (a corrupt or
//! empty journal, an unusable state directory, a missing working directory).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

fn planrun(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("planrun"));
    cmd.current_dir(dir).env("NO_COLOR", "1");
    cmd
}

fn all(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn plan(dir: &Path, text: &str) {
    std::fs::write(dir.join("plan.toml"), text).unwrap();
}

const SIMPLE: &str =
    "[plan]\nname = \"p\"\n[tasks.a]\ntype = \"exec-script\"\ncommand = [\"true\"]\n";

fn run_dir(dir: &Path, plan: &str) -> std::path::PathBuf {
    let runs = dir.join(".planrun").join(plan).join("runs");
    std::fs::read_dir(runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// Issue 14, break 10: escape sequences from a task's output, a plan name and a
/// variable reach neither the terminal nor the report raw.
#[test]
fn control_characters_from_outside_are_escaped_on_the_terminal_and_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    plan(
        dir.path(),
        r#"
[plan]
name = "evil\u001b]0;pwned\u0007"

[vars]
title = "x"

[tasks.shout]
type = "exec-script"
script = "printf '\\033]52;c;cm0gLXJmIC8K\\a\\033[2J\\n'; printf '%s\\n' {{ title }}; exit 3"
"#,
    );
    let out = planrun(dir.path())
        .args(["plan.toml", "--var", "title=\u{1b}]0;title\u{7}"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !bytes.contains(&0x1b) && !bytes.contains(&0x07),
            "raw control in {what}: {}",
            all(&out)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r"\u{1b}]52;c;cm0gLXJmIC8K\u{7}\u{1b}[2J"),
        "{stdout}"
    );
    assert!(stdout.contains(r"evil\u{1b}]0;pwned\u{7}"), "{stdout}");
    let run = run_dir(dir.path(), "evil__0_pwned_");
    let report = std::fs::read(run.join("report.md")).unwrap();
    assert!(
        !report.contains(&0x1b),
        "{}",
        String::from_utf8_lossy(&report)
    );
    let report = String::from_utf8_lossy(&report);
    assert!(report.contains(r"\u{1b}]52;c;cm0gLXJmIC8K"), "{report}");
    // The log keeps the bytes as the task wrote them (it is the record); the events
    // file is JSON, where they are escaped.
    let events = std::fs::read(run.join("events.jsonl")).unwrap();
    assert!(!events.contains(&0x1b));
    // `list` and `status` show plan text escaped too.
    let out = planrun(dir.path())
        .args(["list", "plan.toml"])
        .output()
        .unwrap();
    assert!(!out.stdout.contains(&0x1b), "{}", all(&out));
    let out = planrun(dir.path())
        .args(["status", "plan.toml"])
        .output()
        .unwrap();
    assert!(!out.stdout.contains(&0x1b), "{}", all(&out));
}

/// Issue 14, break 11: a `lock` link planted in the state directory is refused,
/// naming it, and what it points at is untouched; runs are private.
#[test]
fn state_files_are_private_and_links_in_the_state_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    plan(dir.path(), SIMPLE);
    let out = planrun(dir.path()).arg("plan.toml").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let run = run_dir(dir.path(), "p");
    for d in [
        dir.path().join(".planrun/p"),
        dir.path().join(".planrun/p/runs"),
        run.clone(),
    ] {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
    for f in ["journal", "report.md", "events.jsonl"] {
        let mode = std::fs::metadata(run.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let target = dir.path().join("precious");
    std::fs::write(&target, "keep").unwrap();
    let lock = dir.path().join(".planrun/p/lock");
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    let out = planrun(dir.path()).arg("plan.toml").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", all(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a symbolic link"), "{err}");
    assert!(err.contains("lock"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
}

/// Issue 14, break 14: a corrupt journal is planrun failing (exit 4), not a task.
#[test]
fn a_corrupt_journal_exits_4_and_an_empty_one_is_no_run() {
    let dir = tempfile::tempdir().unwrap();
    plan(dir.path(), SIMPLE);
    assert_eq!(
        planrun(dir.path())
            .arg("plan.toml")
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    let journal = run_dir(dir.path(), "p").join("journal");
    let mut bytes = std::fs::read(&journal).unwrap();
    // Damage the first record, with valid ones after it: corruption, not a torn end.
    bytes[5] ^= 0xff;
    std::fs::write(&journal, &bytes).unwrap();
    for args in [&["plan.toml"][..], &["status", "plan.toml"]] {
        let out = planrun(dir.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", all(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is corrupt at byte"),
            "{}",
            all(&out)
        );
    }
    // An empty journal is no run: nothing is blocked.
    std::fs::write(&journal, "").unwrap();
    let out = planrun(dir.path()).arg("plan.toml").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
}

/// Issue 14, break 14: a state directory that cannot be made says so (not "cannot
/// lock").
#[test]
fn an_unusable_state_directory_says_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    plan(dir.path(), SIMPLE);
    std::fs::write(dir.path().join("file"), "").unwrap();
    let out = planrun(dir.path())
        .args(["plan.toml", "--state-dir", "file/state"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", all(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot create the state directory file/state/p"),
        "{err}"
    );
    assert!(!err.contains("cannot lock"), "{err}");
}

/// Issue 14, break 14: a missing working directory is named as such.
#[test]
fn a_missing_working_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    plan(
        dir.path(),
        "[plan]\nname = \"p\"\n[tasks.a]\ntype = \"exec-script\"\ncommand = [\"echo\"]\ncwd = \"nowhere\"\n",
    );
    let out = planrun(dir.path()).arg("plan.toml").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "cannot run `echo`: its working directory {} does not exist",
            dir.path().join("nowhere").display()
        )),
        "{stdout}"
    );
}
