//! `cspctl graph`: the dependency graph as Graphviz DOT or Mermaid.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::graph::{DependencyGraph, to_dot, to_mermaid};

use super::{Settings, desired_or_report, report};

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
}

pub fn run(args: Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let Some((sources, desired)) = desired_or_report(&args.paths, settings) else {
        return Ok(ExitCode::from(1));
    };
    let graph = match DependencyGraph::build(&desired)
        .and_then(|g| g.topological_order(&desired).map(|_| g))
    {
        Ok(graph) => graph,
        Err(problems) => {
            report(&problems, &sources, settings);
            return Ok(ExitCode::from(1));
        }
    };
    let text = match args.format {
        Format::Dot => to_dot(&graph, &desired),
        Format::Mermaid => to_mermaid(&graph, &desired),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
