//! Starting a new plan: `planrun new` from each template validates and rehearses
//! green as written, `planrun explain` shows each type's keys and an example that
//! is a valid task, and `planrun completions` writes scripts the shells accept.

use std::path::Path;
use std::process::{Command, Output};

fn planrun(dir: &Path, args: &[&str]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin!("planrun"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        // The db-migration template's secret comes from the environment.
        .env("PGPASSWORD", "rehearsal")
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn every_template_validates_and_rehearses_green_where_it_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir(d.join("plans")).unwrap();
    for template in [
        "blank",
        "db-migration",
        "cert-manager-reinstall",
        "flux-rebuild",
    ] {
        let name = format!("plans/my-{template}");
        let file = format!("{name}.toml");
        let o = planrun(d, &["new", &name, "--from", template]);
        assert!(o.status.success(), "{template}: {}", text(&o));
        let plan = std::fs::read_to_string(d.join(&file)).unwrap();
        // The schema line points at a schema that is there, from where the plan is.
        let schema = plan
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("#:schema "))
            .unwrap_or_else(|| panic!("{template}: no #:schema line"));
        assert!(
            d.join("plans").join(schema).is_file(),
            "{template}: {schema}"
        );
        assert!(
            plan.contains(&format!("name = \"my-{template}\"")),
            "{template}: {plan}"
        );
        let o = planrun(d, &["validate", &file]);
        assert!(o.status.success(), "{template}: {}", text(&o));
        let o = planrun(d, &["rehearse", &file, "--state-dir", "state"]);
        assert_eq!(o.status.code(), Some(0), "{template}: {}", text(&o));
        assert!(text(&o).contains("rehearsal: succeeded"), "{template}");
    }
    // Nothing is overwritten without --force.
    let o = planrun(d, &["new", "plans/my-blank"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("not overwriting what exists"),
        "{}",
        text(&o)
    );
    let o = planrun(d, &["new", "plans/my-blank", "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    // A name that cannot be a plan's is refused as a usage error.
    let o = planrun(d, &["new", "plans/-x"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_plan_whose_secret_is_not_in_the_environment_is_checked_with_a_stand_in_and_never_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plan = "examples/db-migration.toml";
    let state = tempfile::tempdir().unwrap();
    let without_secret = |args: &[&str]| {
        Command::new(assert_cmd::cargo::cargo_bin!("planrun"))
            .current_dir(root)
            .env("NO_COLOR", "1")
            .env_remove("PGPASSWORD")
            .args(args)
            .output()
            .unwrap()
    };
    // Checked, listed and drawn where the secret is not at hand (a CI job).
    let o = without_secret(&["validate", plan]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(0), "{said}");
    assert!(
        said.contains("variable `pg_password` has no value here: PGPASSWORD is not set"),
        "{said}"
    );
    assert!(
        said.contains("is valid") && said.contains("1 warning"),
        "{said}"
    );
    assert!(
        said.contains("Warning: planrun::stand_in") && !said.contains("Error:"),
        "{said}"
    );
    let o = without_secret(&["list", plan]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(0), "{said}");
    assert!(
        said.contains("pg_password = ******** (a stand-in"),
        "{said}"
    );
    let o = without_secret(&["graph", plan, "--format", "mermaid"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A run needs the value: refused before anything runs, even a dry run.
    for run in [&["run", plan][..], &["run", plan, "--dry-run"]] {
        let mut args = run.to_vec();
        args.extend(["--state-dir", state.path().to_str().unwrap()]);
        let o = without_secret(&args);
        let said = text(&o);
        assert_eq!(o.status.code(), Some(2), "{run:?}: {said}");
        assert!(
            said.contains("variable `pg_password` has no value")
                && said.contains("set the environment variable PGPASSWORD"),
            "{run:?}: {said}"
        );
    }
    assert!(
        std::fs::read_dir(state.path()).unwrap().next().is_none(),
        "a refused run wrote state"
    );
}

#[test]
fn inside_the_repository_the_schema_line_points_at_its_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir_in(root.join("target")).unwrap();
    let o = planrun(tmp.path(), &["new", "p"]);
    assert!(o.status.success(), "{}", text(&o));
    let plan = std::fs::read_to_string(tmp.path().join("p.toml")).unwrap();
    assert!(
        plan.starts_with("#:schema ../../schemas/plan.schema.json\n"),
        "{plan}"
    );
    assert!(!tmp.path().join("schemas").exists());
}

#[test]
fn explain_shows_the_keys_and_an_example_that_is_a_valid_task() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = planrun(d, &["explain"]);
    let list = text(&o);
    let types: Vec<String> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/plan.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let known =
        &schema["properties"]["tasks"]["additionalProperties"]["properties"]["type"]["enum"];
    assert_eq!(types.len(), known.as_array().unwrap().len(), "{list}");
    for t in &types {
        let o = planrun(d, &["explain", t]);
        let said = text(&o);
        assert!(o.status.success(), "{said}");
        assert!(said.starts_with(&format!("{t}: ")), "{said}");
        let example = &said[said
            .find("example:\n\n")
            .unwrap_or_else(|| panic!("{said}"))
            + 10..];
        assert!(example.contains(&format!("type = \"{t}\"")), "{said}");
        // Every key's kind of value is named: a choice by its values.
        assert!(
            !said.contains("(value)") && !said.contains("one of the values named"),
            "{said}"
        );
        // The example, as a plan, validates (with the secret a webhook comes from).
        let plan = format!(
            "[plan]\nname = \"x\"\n\n[vars]\nslack_webhook = {{ value = \"https://hooks.example/T0/B0/x\", secret = true }}\n\n{example}"
        );
        std::fs::write(d.join("x.toml"), &plan).unwrap();
        let o = planrun(d, &["validate", "x.toml"]);
        assert!(o.status.success(), "{t}: {}\n{plan}", text(&o));
    }
    let o = planrun(d, &["explain", "wait-condition"]);
    let said = text(&o);
    // Each key on its line, its docs after its type (aligned with the longest key).
    assert!(
        said.lines().any(|l| l.starts_with("  condition ")
            && l.ends_with(" (string, required) Condition type, e.g. \"Ready\".")),
        "{said}"
    );
    let o = planrun(d, &["explain", "wait-absnt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("did you mean `wait-absent`?"),
        "{}",
        text(&o)
    );
}

#[test]
fn completion_scripts_are_accepted_by_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = planrun(d, &["completions", "bash"]);
    assert!(o.status.success());
    std::fs::write(d.join("planrun.bash"), &o.stdout).unwrap();
    // bash parses it, and once sourced completes planrun's subcommands.
    let check = Command::new("bash")
        .arg("-c")
        .arg(
            "source ./planrun.bash && complete -p planrun && \
             COMP_WORDS=(planrun re) COMP_CWORD=1 && _planrun planrun re planrun && \
             printf '%s\\n' \"${COMPREPLY[@]}\"",
        )
        .current_dir(d)
        .output()
        .unwrap();
    let said = text(&check);
    assert!(check.status.success(), "{said}");
    for sub in ["rehearse", "resume"] {
        assert!(said.lines().any(|l| l == sub), "no `{sub}` in {said}");
    }
    for (shell, head) in [("zsh", "#compdef planrun"), ("fish", "complete -c planrun")] {
        let o = planrun(d, &["completions", shell]);
        let script = String::from_utf8(o.stdout).unwrap();
        assert!(script.contains(head), "{shell}: {script}");
        assert!(script.contains("rehearse"), "{shell}");
    }
}
