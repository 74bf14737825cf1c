//! `cspctl export`: writes manifests for the live tenant, to adopt an existing one.
//!
//! Reads the live state from the chosen backend, turns it into manifests
//! (`crate::export`, pure), checks that planning them against the same snapshot
//! changes nothing, then prints them or writes them into a directory. Whatever
//! cannot be declared is left out with a warning on stderr.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::Settings;
use super::backend::BackendArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write the manifests into (a file per customer, one for the
    /// resellers); without it, every document is printed on stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace files that already exist in DIR.
    #[arg(long, requires = "out")]
    force: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn run(args: Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let backend = args.backend.resolve()?;
    let (live, _options, mut reader) = backend.read_live(settings)?;
    reader.save_snapshot()?;
    let export = crate::export::export(&live);
    let problems = crate::export::verify(&live, &export);
    for warning in &export.warnings {
        note!("warning: {warning}");
    }
    let counts = export.counts();
    match &args.out {
        None => {
            let text = export.to_stream();
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.context("writing the manifests to stdout")?,
            }
            note!("Exported {counts} to stdout.");
        }
        Some(dir) => {
            let files = export.files();
            if files.is_empty() {
                note!(
                    "Nothing to export: the tenant has no reseller or customer that can be declared; nothing was written to {}.",
                    dir.display()
                );
            } else {
                write_files(dir, &files, args.force)?;
                note!("Exported {counts} into {}.", dir.display());
            }
        }
    }
    if !export.warnings.is_empty() {
        note!(
            "{} object(s) or field(s) could not be declared (see the warnings above); `cspctl plan` lists left-out objects as unmanaged and never changes them.",
            export.warnings.len()
        );
    }
    if !problems.is_empty() {
        for problem in &problems {
            note!("error: {}", problem.trim_end());
        }
        note!(
            "error: the exported manifests do not match the live state exactly ({} problem(s) above); this is a bug in cspctl export. Review `cspctl plan` on them before applying anything.",
            problems.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `files` (relative paths with `/`) under `dir`, each atomically. Without
/// `force`, refuses before writing anything when one of them exists. Warns about
/// other manifest files already there, which `cspctl plan DIR` would read too.
fn write_files(dir: &Path, files: &[(String, String)], force: bool) -> anyhow::Result<()> {
    let targets: Vec<PathBuf> = files.iter().map(|(path, _)| dir.join(path)).collect();
    if !force {
        let existing: Vec<String> = targets
            .iter()
            .filter(|path| path.symlink_metadata().is_ok())
            .map(|path| path.display().to_string())
            .collect();
        if let Some(first) = existing.first() {
            let more = match existing.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            anyhow::bail!(
                "{first} already exists{more}; export does not overwrite files: choose an empty directory, or add --force to replace them"
            );
        }
    }
    let written: BTreeSet<&Path> = targets.iter().map(PathBuf::as_path).collect();
    for stray in stray_manifests(dir, &written) {
        note!(
            "warning: {} was not written by this export, and `cspctl plan {}` reads it too; delete it if it no longer belongs there",
            stray.display(),
            dir.display()
        );
    }
    for (target, (_, text)) in targets.iter().zip(files) {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        super::write_atomically(target, text.as_bytes(), false)
            .with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(())
}

/// `*.yaml`/`*.yml` files directly in `dir` and in `dir/customers` that are not
/// among `written`.
fn stray_manifests(dir: &Path, written: &BTreeSet<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for folder in [dir.to_path_buf(), dir.join(crate::export::CUSTOMERS_DIR)] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                    && !written.contains(p.as_path())
            })
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}
