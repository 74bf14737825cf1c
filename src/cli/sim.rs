//! `cspctl sim ...`: the Partner Center simulator. (Placeholder; being written.)

use std::process::ExitCode;

use super::Settings;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the Partner Center simulator.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

pub fn run(_command: Command, _settings: &Settings) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the simulator is not built yet")
}
