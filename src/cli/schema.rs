//! `cspctl schema`: prints the manifest JSON Schema (the committed
//! `schemas/manifest.schema.json`), the plan JSON Schema with `--plan`, or the drift
//! report's with `--drift`.

use std::process::ExitCode;

use crate::manifest::schema::{manifest_schema, to_pretty};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the schema of `plan --format json` instead.
    #[arg(long, conflicts_with = "drift")]
    plan: bool,
    /// Print the schema of `drift --format json` instead.
    #[arg(long)]
    drift: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let schema = if args.plan {
        crate::render::json::plan_schema()
    } else if args.drift {
        crate::drift::drift_schema()
    } else {
        manifest_schema()
    };
    out!("{}", to_pretty(&schema))?;
    Ok(ExitCode::SUCCESS)
}
