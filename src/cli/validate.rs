//! `cspctl validate`: schema and cross-object checks; exit 0 valid, 1 not.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::diagnostic::{DiagnosticFormat, render_diagnostics};

use super::{Settings, check_manifests};

/// Output format of diagnostics.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// `file:line:col: error: message` with a code frame, on stderr.
    Human,
    /// GitHub Actions annotations (`::error file=...::message`) on stdout.
    Github,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories (default: the current directory).
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
}

pub fn run(args: Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let checked = check_manifests(&args.paths);
    let (problems, ok) = match &checked.result {
        Ok(desired) => (checked.warnings.clone(), Some(desired)),
        Err(problems) => (problems.clone(), None),
    };
    match args.format {
        Format::Github => out!(
            "{}",
            render_diagnostics(&problems, &checked.sources, DiagnosticFormat::Github, false)
        )?,
        Format::Human => {
            err!(
                "{}",
                render_diagnostics(
                    &problems,
                    &checked.sources,
                    DiagnosticFormat::Human,
                    settings.color_stderr
                )
            );
        }
    }
    match ok {
        Some(desired) => {
            let counts = desired.manifests.counts();
            let parts: Vec<String> = counts
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            note!(
                "valid: {} object(s) in {} file(s) ({})",
                desired.manifests.len(),
                checked.sources.len(),
                parts.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let errors = problems.iter().filter(|d| d.is_error()).count();
            note!("error: {errors} problem(s) found");
            Ok(ExitCode::from(1))
        }
    }
}
