//! `cspctl drift`: how the live tenant differs from the manifests, for scheduled
//! jobs. Exit 0 in sync, 2 drift, 1 error (manifests, backend or arguments).

use std::path::PathBuf;
use std::process::ExitCode;

use super::scope::ScopeArgs;
use crate::drift::drift_report;
use crate::render::drift::{DriftFormat, render_drift_json, render_drift_text};

use super::backend::BackendArgs;
use super::plan::plan_desired;
use super::{DEFAULT_MAX_PROBLEMS, EXIT_CHANGES, ProblemLimit, Settings, desired_or_report};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories (default: the current directory).
    paths: Vec<PathBuf>,
    #[command(flatten)]
    backend: BackendArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: DriftFormat,
    #[command(flatten)]
    scope: ScopeArgs,
    /// List objects no manifest declares, but do not count them as drift (for a
    /// tenant managed only in part by cspctl).
    #[arg(long)]
    ignore_unmanaged: bool,
    /// Show personal data (contact names, emails, phone numbers) in the markdown and
    /// github formats; masked by default.
    #[arg(long)]
    show_sensitive: bool,
    #[command(flatten)]
    problems: ProblemLimit,
    #[command(flatten)]
    renewals: super::plan::RenewalsArg,
}

pub fn run(args: Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let settings = &args.problems.apply(settings, DEFAULT_MAX_PROBLEMS);
    let settings = &args.renewals.apply(settings);
    let backend = args.backend.resolve()?;
    let check = || -> anyhow::Result<_> {
        let Some((sources, desired)) = desired_or_report(&args.paths, settings) else {
            return Ok(None);
        };
        let scope = if args.scope.is_set() {
            Some(args.scope.resolve(&sources, &desired)?)
        } else {
            None
        };
        let live_scope = scope.as_ref().map(|scope| scope.live_scope(&desired));
        Ok(Some(((sources, desired), scope, live_scope)))
    };
    let Some((((sources, desired), scope, _), live, options, mut reader)) = backend
        .read_live_beside(
            settings,
            args.scope.is_set(),
            check,
            |(_, _, live_scope)| live_scope.as_ref(),
        )?
    else {
        return Ok(ExitCode::from(1));
    };
    let Some(mut plan) = plan_desired((sources, desired), &live, &options, settings, &reader)?
    else {
        return Ok(ExitCode::from(1));
    };
    // Drift found in the snapshot is confirmed by a read of this run.
    if let Some(view) = reader.verify(&plan)? {
        let Some(checked) = desired_or_report(&args.paths, settings) else {
            return Ok(ExitCode::from(1));
        };
        let Some(again) = plan_desired(checked, &view, &options, settings, &reader)? else {
            return Ok(ExitCode::from(1));
        };
        plan = again;
    }
    reader.save_snapshot()?;
    plan.cost = reader.cost();
    // Issues and annotations show paths relative to the repository.
    let plan = if matches!(args.format, DriftFormat::Markdown | DriftFormat::Github) {
        super::github::with_repository_paths(&plan)
    } else {
        plan
    };
    let report = drift_report(&plan, scope.as_ref(), args.ignore_unmanaged);
    let output = match args.format {
        DriftFormat::Text => render_drift_text(&report, settings.color_stdout),
        DriftFormat::Json => render_drift_json(&report),
        DriftFormat::Markdown => {
            crate::render::drift::render_drift_markdown(&report, args.show_sensitive)
        }
        DriftFormat::Github => {
            crate::render::drift::render_drift_github(&report, args.show_sensitive)
        }
    };
    out!("{output}")?;
    if args.format != DriftFormat::Text && args.format != DriftFormat::Json {
        note!("{}", report.summary_line());
    }
    Ok(if report.in_sync {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHANGES)
    })
}
