//! `cspctl completions SHELL` and `cspctl man`: generated from the same clap
//! definition the parser uses, so they cannot fall out of step with the flags.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::Cli;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `cspctl.1` and a page per command (`cspctl-plan.1`, ...) into this
    /// directory instead of printing `cspctl.1`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Prints the completion script on stdout.
pub fn run_completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    let mut stdout = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "cspctl", &mut stdout);
    Ok(ExitCode::SUCCESS)
}

/// Prints the top-level page, or writes every page into `--out`.
pub fn run_man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let command = Cli::command();
    match args.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("rendering the manual page")?;
            use std::io::Write as _;
            std::io::stdout()
                .lock()
                .write_all(&page)
                .context("writing the manual page")?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(command, &dir)
                .with_context(|| format!("writing manual pages into {}", dir.display()))?;
            note!("Wrote the manual pages into {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
