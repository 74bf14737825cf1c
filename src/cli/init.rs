//! `cspctl init [DIR]`: a repository's first minute. Writes a manifests folder
//! with a commented example, `cspctl.toml`, a GitHub workflow using the cspctl
//! Action, and a `.gitignore` entry for `.cspctl/`, so `cspctl plan` works next.
//! It never overwrites a file unless `--force`; an existing `.gitignore` gets the
//! entry appended (once).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to scaffold (created if missing) [default: the current directory].
    dir: Option<PathBuf>,
    /// Replace files init would write that already exist.
    #[arg(long)]
    force: bool,
}

/// The files init writes, relative to the folder, and their content.
const FILES: &[(&str, &str)] = &[
    (
        "manifests/example.yaml",
        include_str!("init_templates/example.yaml"),
    ),
    ("cspctl.toml", include_str!("init_templates/cspctl.toml")),
    (
        ".github/workflows/cspctl.yml",
        include_str!("init_templates/workflow.yml"),
    ),
];

/// How the workflow template names the Action.
const TEMPLATE_ACTION: &str = "cspctl/cspctl@v0.1.0";

const GITIGNORE: &str = include_str!("init_templates/gitignore");

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let existing: Vec<&str> = FILES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| dir.join(name).exists())
        .collect();
    if !existing.is_empty() && !args.force {
        bail!(
            "{} already holds {}; nothing was written (--force replaces them)",
            dir.display(),
            existing.join(", ")
        );
    }
    for (name, content) in FILES {
        // The workflow uses the Action of this very release (the template names
        // the version it was written with, so actionlint can check it as it is).
        let content = content.replace(
            TEMPLATE_ACTION,
            &format!("cspctl/cspctl@v{}", env!("CARGO_PKG_VERSION")),
        );
        write(&dir.join(name), &content)?;
        note!("wrote {}", dir.join(name).display());
    }
    let ignore = dir.join(".gitignore");
    match std::fs::read_to_string(&ignore) {
        Ok(text)
            if text
                .lines()
                .any(|l| matches!(l.trim(), ".cspctl/" | ".cspctl" | "/.cspctl/")) => {}
        Ok(text) => {
            let separator = if text.is_empty() || text.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            write(&ignore, &format!("{text}{separator}{GITIGNORE}"))?;
            note!("added .cspctl/ to {}", ignore.display());
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            write(&ignore, GITIGNORE)?;
            note!("wrote {}", ignore.display());
        }
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", ignore.display()));
        }
    }
    let place = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", dir.display())
    };
    note!("Next: {place}cspctl plan   (then: cspctl apply, on the local state)");
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, content: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    super::write_atomically(path, content.as_bytes(), false)
        .with_context(|| format!("writing {}", path.display()))
}
