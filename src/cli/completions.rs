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

/// Prints the top-level page, or writes every page into `--out`: each command's
/// page has the EXAMPLES, EXIT STATUS and ENVIRONMENT its `--help` has.
pub fn run_man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let mut command = super::help::command().disable_help_subcommand(true);
    command.build();
    match args.out {
        None => {
            let page = page(&command, None)?;
            use std::io::Write as _;
            std::io::stdout()
                .lock()
                .write_all(&page)
                .context("writing the manual page")?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut pages = vec![(format!("{}.1", command.get_name()), page(&command, None)?)];
            for (path, sub) in super::help::commands(&command) {
                let words: Vec<&str> = path.iter().map(String::as_str).collect();
                pages.push((
                    format!("{}-{}.1", command.get_name(), path.join("-")),
                    page(&sub, Some(&words))?,
                ));
            }
            for (name, page) in pages {
                let file = dir.join(&name);
                std::fs::write(&file, page)
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            note!("Wrote the manual pages into {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One page: clap_mangen's sections, then (for a command) the help's sections as
/// roff instead of its `--help` copy.
fn page(command: &clap::Command, path: Option<&[&str]>) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    match path {
        None => clap_mangen::Man::new(command.clone()).render(&mut out),
        Some(path) => {
            let bare = command.clone().after_long_help(None::<&'static str>);
            clap_mangen::Man::new(bare).render(&mut out).map(|()| {
                out.extend_from_slice(super::help::sections(command, path).roff().as_bytes());
            })
        }
    }
    .context("rendering the manual page")?;
    Ok(out)
}
