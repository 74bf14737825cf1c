//! `cspctl export`: writes manifests for the live tenant.

use std::path::PathBuf;
use std::process::ExitCode;

use super::Settings;
use super::backend::BackendArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write the manifests into (a file per customer, one for the
    /// resellers); without it, every document is printed on stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn run(args: Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let _ = (args, settings);
    anyhow::bail!("export is being written")
}
