//! `cspctl drift`: how the live tenant differs from the manifests.

use std::path::PathBuf;
use std::process::ExitCode;

use super::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories (default: the current directory).
    paths: Vec<PathBuf>,
}

pub fn run(args: Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let _ = (args, settings);
    anyhow::bail!("drift is being written")
}
