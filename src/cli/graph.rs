//! `cspctl graph`: the dependency graph as Graphviz DOT or Mermaid.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::graph::{to_dot, to_mermaid};

use super::{DEFAULT_MAX_PROBLEMS, ProblemLimit, Settings, desired_or_report, report};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories (default: the current directory).
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "dot")]
    format: Format,
    #[command(flatten)]
    problems: ProblemLimit,
}

pub fn run(args: Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let settings = &args.problems.apply(settings, DEFAULT_MAX_PROBLEMS);
    let Some((sources, desired)) = desired_or_report(&args.paths, settings) else {
        return Ok(ExitCode::from(1));
    };
    // `validate` built (and checked) the graph already.
    let Some((graph, _)) = &desired.graph else {
        report(
            &[crate::diagnostic::Diagnostic::error(
                "internal",
                None,
                "the dependency graph was not built",
            )],
            &sources,
            settings,
        );
        return Ok(ExitCode::from(1));
    };
    let text = match args.format {
        Format::Dot => to_dot(graph, &desired),
        Format::Mermaid => to_mermaid(graph, &desired),
    };
    out!("{text}")?;
    Ok(ExitCode::SUCCESS)
}
