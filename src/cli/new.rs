//! `planrun new PATH [--from TEMPLATE]`: a commented plan and a rehearsal file
//! beside it that rehearses green as written, from one of the plans the project
//! itself runs and rehearses (the templates are those files, built in), with the
//! files the rehearsal names written beside them (`<name>.rehearsal/`).
//!
//! The plan's first line, `#:schema`, points at `schemas/plan.schema.json` in the
//! nearest directory above that has one; when none has, the schema is written
//! beside the plan (`schemas/plan.schema.json`), so editors complete and check keys
//! at once.

use std::path::{Component, Path, PathBuf};

use clap::{Args, ValueEnum};
use miette::Report;

use crate::error::Error;

#[derive(Debug, Clone, Args)]
pub struct NewArgs {
    /// The plan to write: `NAME` or `DIR/NAME` (`.toml` is added); NAME becomes the
    /// plan's name.
    pub path: PathBuf,
    /// What to start from.
    #[arg(long, value_enum, default_value_t = TemplateName::Blank)]
    pub from: TemplateName,
    /// Overwrite files that exist.
    #[arg(long)]
    pub force: bool,
}

/// The templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplateName {
    /// The Flux Helm v4 rebuild (plans/flux-rebuild.toml), with its rehearsal world.
    FluxRebuild,
    /// Reinstall cert-manager and its CRDs (examples/cert-manager-reinstall.toml).
    CertManagerReinstall,
    /// A PostgreSQL migration with a backup first (examples/db-migration.toml).
    DbMigration,
    /// A gate and one step, to fill in.
    Blank,
}

/// One template: the plan and its rehearsal file as the repository holds them, and
/// the files the rehearsal file names.
struct Template {
    /// The plan's name in the template.
    name: &'static str,
    /// Where the repository keeps the plan (for rewriting mentions of it).
    plan_path: &'static str,
    plan: &'static str,
    rehearsal: &'static str,
    /// How the rehearsal file names the directory its files are in.
    assets_prefix: &'static str,
    /// The files, by path under that directory, with whether they are executable.
    assets: &'static [(&'static str, &'static str, bool)],
}

macro_rules! asset {
    ($dir:literal, $path:literal) => {
        (
            $path,
            include_str!(concat!("../../examples/", $dir, $path)),
            false,
        )
    };
    ($dir:literal, $path:literal, exec) => {
        (
            $path,
            include_str!(concat!("../../examples/", $dir, $path)),
            true,
        )
    };
}

const FLUX: Template = Template {
    name: "flux-rebuild",
    plan_path: "plans/flux-rebuild.toml",
    plan: include_str!("../../plans/flux-rebuild.toml"),
    rehearsal: include_str!("../../plans/flux-rebuild.rehearsal.yaml"),
    assets_prefix: "../examples/rehearsal/",
    assets: &[
        asset!("rehearsal/", "old-flux.yaml"),
        asset!("rehearsal/", "flux-v2.7.0.yaml"),
        asset!("rehearsal/", "faults/source-controller-v1.6.2.yaml"),
        asset!("rehearsal/", "faults/helmreleases-crd-kubectl-apply.yaml"),
        asset!("rehearsal/", "oceanid/package.json"),
        asset!("rehearsal/", "oceanid/pnpm-workspace.yaml"),
        asset!("rehearsal/", "oceanid/docs/flux-rebuild-log.md"),
        asset!("rehearsal/", "oceanid/cluster/Pulumi.yaml"),
        asset!("rehearsal/", "oceanid/cluster/package.json"),
        asset!(
            "rehearsal/",
            "oceanid/cluster/scripts/flux-health-check.sh",
            exec
        ),
        asset!("rehearsal/", "oceanid/cluster/src/gitops/fluxBootstrap.ts"),
    ],
};

const CERT_MANAGER: Template = Template {
    name: "cert-manager-reinstall",
    plan_path: "examples/cert-manager-reinstall.toml",
    plan: include_str!("../../examples/cert-manager-reinstall.toml"),
    rehearsal: include_str!("../../examples/cert-manager-reinstall.rehearsal.yaml"),
    assets_prefix: "rehearsal/cert-manager/",
    assets: &[
        asset!("rehearsal/cert-manager/", "old-cert-manager.yaml"),
        asset!("rehearsal/cert-manager/", "cert-manager-v1.16.2.yaml"),
    ],
};

const DB_MIGRATION: Template = Template {
    name: "db-migration",
    plan_path: "examples/db-migration.toml",
    plan: include_str!("../../examples/db-migration.toml"),
    rehearsal: include_str!("../../examples/db-migration.rehearsal.yaml"),
    assets_prefix: "rehearsal/",
    assets: &[
        asset!("rehearsal/", "db-app/bin/maintenance", exec),
        asset!("rehearsal/", "db-app/bin/migrate", exec),
        asset!("rehearsal/", "db-app/bin/smoke-test", exec),
    ],
};

const BLANK: Template = Template {
    name: "blank",
    plan_path: "blank.toml",
    plan: include_str!("../../examples/templates/blank.toml"),
    rehearsal: include_str!("../../examples/templates/blank.rehearsal.yaml"),
    assets_prefix: "rehearsal/",
    assets: &[],
};

impl TemplateName {
    fn template(self) -> &'static Template {
        match self {
            TemplateName::FluxRebuild => &FLUX,
            TemplateName::CertManagerReinstall => &CERT_MANAGER,
            TemplateName::DbMigration => &DB_MIGRATION,
            TemplateName::Blank => &BLANK,
        }
    }
}

/// One file to write.
struct File {
    path: PathBuf,
    text: String,
    executable: bool,
}

pub fn run(args: &NewArgs) -> Result<(), Error> {
    let (dir, name) = split(&args.path)?;
    let template = args.from.template();
    let plan_path = dir.join(format!("{name}.toml"));
    let shown = plan_path.display().to_string();
    let assets_dir = format!("{name}.rehearsal/");
    let mut files = Vec::new();

    let (schema_ref, schema_file) = schema_for(&dir);
    let mut plan = rename(template.plan, template, &name, &shown);
    plan = match plan.split_once('\n') {
        Some((first, rest)) if first.starts_with("#:schema ") => {
            format!("#:schema {schema_ref}\n{rest}")
        }
        _ => format!("#:schema {schema_ref}\n{plan}"),
    };
    files.push(File {
        path: plan_path.clone(),
        text: plan,
        executable: false,
    });
    let rehearsal = rename(template.rehearsal, template, &name, &shown)
        .replace(template.assets_prefix, &assets_dir);
    files.push(File {
        path: dir.join(format!("{name}.rehearsal.yaml")),
        text: rehearsal,
        executable: false,
    });
    for (path, text, executable) in template.assets {
        files.push(File {
            path: dir.join(&assets_dir).join(path),
            text: (*text).to_owned(),
            executable: *executable,
        });
    }
    if let Some(path) = &schema_file {
        files.push(File {
            path: path.clone(),
            text: crate::plan::plan_schema(),
            executable: false,
        });
    }
    if !args.force {
        let existing: Vec<String> = files
            .iter()
            .filter(|f| f.path.exists())
            .map(|f| f.path.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(Error::Refused(miette::miette!(
                help = "choose another name, or overwrite them with --force",
                "not overwriting what exists: {}",
                existing.join(", ")
            )));
        }
    }
    for f in &files {
        write(f).map_err(|e| {
            Error::Internal(Report::msg(format!(
                "cannot write {}: {e}",
                f.path.display()
            )))
        })?;
    }
    let from = args
        .from
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let mut said = format!(
        "planrun: wrote {shown} (from {from}) and its rehearsal file {}",
        dir.join(format!("{name}.rehearsal.yaml")).display()
    );
    if !template.assets.is_empty() {
        said.push_str(&format!(
            ", with {} files it names in {}",
            template.assets.len(),
            dir.join(&assets_dir).display()
        ));
    }
    if let Some(path) = &schema_file {
        said.push_str(&format!(
            "; the plan schema for editors in {}",
            path.display()
        ));
    }
    crate::console::say(&said);
    crate::console::say(&format!(
        "planrun: next: `planrun validate {shown}`, then `planrun rehearse {shown}`"
    ));
    Ok(())
}

/// The directory and the plan name of `path` (`.toml` dropped); the name must be a
/// task-id-like word.
fn split(path: &Path) -> Result<(PathBuf, String), Error> {
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or_default();
    let name = file.strip_suffix(".toml").unwrap_or(file).to_owned();
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(Error::Invalid(miette::miette!(
            help = "a plan name uses letters, digits, `-`, `_` and `.`, and starts with a letter or digit: `planrun new plans/flux-rebuild-staging`",
            "bad plan name `{name}`"
        )));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok((dir, name))
}

/// The template's text for a plan called `name` at `shown`: its name, and the
/// commands its comments show, follow.
fn rename(text: &str, template: &Template, name: &str, shown: &str) -> String {
    text.replace(template.plan_path, shown)
        .replace(&format!("{}.toml", template.name), &format!("{name}.toml"))
        .replace(
            &format!("name = \"{}\"", template.name),
            &format!("name = \"{name}\""),
        )
}

/// The `#:schema` reference for a plan in `dir`, and the schema file to write when
/// no directory above has `schemas/plan.schema.json`.
fn schema_for(dir: &Path) -> (String, Option<PathBuf>) {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    for (ups, ancestor) in absolute.ancestors().enumerate() {
        if ancestor.join("schemas/plan.schema.json").is_file() {
            let mut reference = "../".repeat(ups);
            reference.push_str("schemas/plan.schema.json");
            return (reference, None);
        }
        // `..` in the path moves up without a name to come back by.
        if ancestor.components().next_back() == Some(Component::ParentDir) {
            break;
        }
    }
    (
        "schemas/plan.schema.json".to_owned(),
        Some(dir.join("schemas/plan.schema.json")),
    )
}

fn write(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = file.path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&file.path, &file.text)?;
    if file.executable {
        std::fs::set_permissions(&file.path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}
