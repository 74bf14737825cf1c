//! `cspctl validate`: schema and cross-object checks; exit 0 valid, 1 not.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::diagnostic::DiagnosticFormat;

use super::{DEFAULT_MAX_PROBLEMS, ProblemLimit, Settings, check_manifests};

/// Output format of diagnostics.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// `file:line:col: error: message` with a code frame, on stderr.
    Human,
    /// GitHub Actions annotations (`::error file=...::message`) on stdout.
    Github,
    /// A JSON object on stdout: `valid`, counts, and every problem with its file,
    /// line, column, code, message and hints.
    Json,
    /// SARIF 2.1.0 on stdout, for GitHub code scanning (paths relative to the
    /// repository).
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories (default: the current directory).
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    #[command(flatten)]
    problems: ProblemLimit,
}

/// Annotations `--format github` prints when `--max-problems` is not given: GitHub
/// shows no more error annotations per step, and drops the rest unseen.
const GITHUB_ANNOTATIONS: usize = 10;

pub fn run(args: Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let default = match args.format {
        Format::Github => GITHUB_ANNOTATIONS,
        Format::Human => DEFAULT_MAX_PROBLEMS,
        // Read by programs, which want them all.
        Format::Json | Format::Sarif => 0,
    };
    let settings = &args.problems.apply(settings, default);
    let checked = check_manifests(&args.paths, settings.max_problems);
    let (problems, ok) = match &checked.result {
        Ok(desired) => (&checked.warnings, Some(desired)),
        Err(problems) => (problems, None),
    };
    match args.format {
        Format::Github => out!(
            "{}",
            problems.render(&checked.sources, DiagnosticFormat::Github, false)
        )?,
        Format::Json => out!(
            "{}",
            crate::diagnostic_report::render_json(
                problems,
                &checked.sources,
                ok.is_some(),
                &|file: &str| file.to_owned()
            )
        )?,
        Format::Sarif => out!(
            "{}",
            crate::diagnostic_report::render_sarif(
                problems,
                &checked.sources,
                &super::github::repository_file
            )
        )?,
        Format::Human => {
            err!(
                "{}",
                problems.render(
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
            note!("error: {} problem(s) found", problems.errors());
            Ok(ExitCode::from(1))
        }
    }
}
