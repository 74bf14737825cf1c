//! The command line: clap arguments (kept dumb), resolved [`Settings`], and one file
//! per command. Commands turn flags into settings, call the library, render, and
//! return an exit code; they hold no domain logic.
//!
//! Exit codes: 0 success or no changes; 1 error, usage errors included; 2 changes
//! present (`plan --detailed-exitcode`) or drift (`drift`); 3 apply finished but
//! manual steps remain; 130 interrupted by Ctrl-C or SIGTERM, in every command (an
//! interrupted apply converges on the next one).

#[macro_use]
mod output;

mod apply;
mod backend;
mod completions;
mod config;
mod drift;
mod export;
mod github;
mod graph;
mod help;
mod init;
mod local;
mod plan;
mod refresh;
mod schema;
mod scope;
mod show;
mod signals;
mod sim;
mod unlock;
mod validate;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{FromArgMatches as _, Parser, Subcommand};

use crate::diagnostic::{Diagnostic, DiagnosticFormat, Problems};
use crate::manifest::files::read_manifest_files;
use crate::manifest::source::SourceMap;
use crate::validate::Desired;

/// Exit code: changes present (plan with --detailed-exitcode).
pub const EXIT_CHANGES: u8 = 2;
/// Exit code: apply finished but manual steps remain.
pub const EXIT_MANUAL: u8 = 3;
/// Exit code: interrupted by SIGINT or SIGTERM, as a shell reports SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;
/// Seconds a command that changes the local state waits for another one's lock.
pub const DEFAULT_LOCK_TIMEOUT_SECONDS: u64 = 30;

/// GitOps for the Microsoft Partner Center CSP indirect channel.
#[derive(Debug, Parser)]
#[command(name = "cspctl", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Colour on a terminal: auto (unless NO_COLOR is set or TERM=dumb), always, or
    /// never; pipes and files get none with auto.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        env = "CSPCTL_COLOR"
    )]
    color: Option<ColorWhen>,
}

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set (not empty) or TERM is dumb.
    #[default]
    Auto,
    /// Always, even into a pipe and despite NO_COLOR.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check manifests against the schema and the cross-object rules.
    Validate(validate::Args),
    /// Show what apply would change.
    Plan(plan::Args),
    /// Carry out a plan (made now from manifests, or a saved plan file).
    Apply(apply::Args),
    /// Print a saved plan file (text, JSON or the Markdown comment).
    Show(show::Args),
    /// Compare the live state with the manifests: every drifted field and unmanaged
    /// object (exit 0 in sync, 2 drift, 1 error).
    Drift(drift::Args),
    /// Write manifests for the live tenant, to adopt an existing one.
    Export(export::Args),
    /// Print the dependency graph.
    Graph(graph::Args),
    /// Release the remote state's lock held by an apply whose runner died (the
    /// lock's id is in the message of the apply that waited for it).
    ForceUnlock(unlock::Args),
    /// Print the JSON Schema of manifests (or of plans with --plan).
    Schema(schema::Args),
    /// Work with the local state (simulate the other party's acceptance).
    #[command(subcommand)]
    Local(local::Command),
    /// The Partner Center simulator: an HTTP server speaking Partner Center's API.
    #[command(subcommand)]
    Sim(sim::Command),
    /// Scaffold a repository: manifests with a commented example, cspctl.toml, a
    /// GitHub workflow using the cspctl Action, and a .gitignore for .cspctl/.
    Init(init::Args),
    /// Print the resolved settings and where each comes from (flag, environment,
    /// cspctl.toml, default); secrets masked.
    Config(config::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff), or write one per command with --out.
    Man(completions::ManArgs),
}

/// Resolved, validated settings the commands work from (the two-stage pattern: clap
/// structs stay dumb, everything below sees settings).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Colour on stdout.
    pub color_stdout: bool,
    /// Colour on stderr.
    pub color_stderr: bool,
    /// The current time as RFC 3339, injected into the local tenant (`CSPCTL_NOW`
    /// overrides the clock, for reproducible states in tests and demos).
    pub now: String,
    /// Most problems printed (`usize::MAX`: all); see [`ProblemLimit`].
    pub max_problems: usize,
    /// The renewal calendar's period in seconds (`plan`/`drift --renewals`).
    pub renewal_horizon: Option<i64>,
}

impl Settings {
    /// [`Settings::now`] as Unix seconds (it is checked when read, so the
    /// system clock is only a fallback that cannot be reached).
    pub fn now_unix(&self) -> i64 {
        crate::time::parse(&self.now)
            .or_else(|| crate::time::parse(&crate::time::system_now()))
            .unwrap_or(0)
    }
}

/// Problems printed when `--max-problems` is not given.
pub const DEFAULT_MAX_PROBLEMS: usize = 50;

/// `--max-problems`, for the commands that report manifest problems.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct ProblemLimit {
    /// Print at most N problems, then how many more there are (0 prints all); the
    /// exit code and the final count cover every problem [default: 50]
    #[arg(long, value_name = "N")]
    max_problems: Option<usize>,
}

impl ProblemLimit {
    /// `settings` printing at most the problems asked for, or `default`.
    fn apply(self, settings: &Settings, default: usize) -> Settings {
        Settings {
            max_problems: match self.max_problems.unwrap_or(default) {
                0 => usize::MAX,
                n => n,
            },
            ..settings.clone()
        }
    }
}

impl Settings {
    fn resolve(color: ColorWhen) -> anyhow::Result<Settings> {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let auto = !no_color && !dumb;
        let (color_stdout, color_stderr) = match color {
            ColorWhen::Always => (true, true),
            ColorWhen::Never => (false, false),
            ColorWhen::Auto => (
                auto && std::io::stdout().is_terminal(),
                auto && std::io::stderr().is_terminal(),
            ),
        };
        let now = match std::env::var("CSPCTL_NOW") {
            Ok(value) => {
                anyhow::ensure!(
                    is_rfc3339(&value),
                    "CSPCTL_NOW must be an RFC 3339 UTC time such as 2026-01-31T12:00:00Z, got `{value}`"
                );
                value
            }
            Err(_) => crate::time::system_now(),
        };
        Ok(Settings {
            max_problems: DEFAULT_MAX_PROBLEMS,
            renewal_horizon: None,
            color_stdout,
            color_stderr,
            now,
        })
    }
}

fn is_rfc3339(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16 | 19) || c.is_ascii_digit())
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<ExitCode> {
    signals::install().map_err(|e| anyhow::anyhow!("cannot listen for signals: {e}"))?;
    let resolved = match config::resolve(help::command(), std::env::args_os().collect()) {
        Ok(resolved) => resolved,
        Err(config::Failure::Usage(error)) => return Ok(usage(&error)),
        Err(config::Failure::Other(error)) => return Err(error),
    };
    let cli = match Cli::from_arg_matches(&resolved.matches) {
        Ok(cli) => cli,
        Err(error) => return Ok(usage(&error)),
    };
    let settings = Settings::resolve(cli.color.unwrap_or_default())?;
    match cli.command {
        Command::Validate(args) => validate::run(args, &settings),
        Command::Plan(args) => plan::run(args, &settings),
        Command::Apply(args) => apply::run(args, &settings),
        Command::Show(args) => show::run(args, &settings),
        Command::Init(args) => init::run(args),
        Command::Config(args) => config::run(&args, &resolved),
        Command::Drift(args) => drift::run(args, &settings),
        Command::Export(args) => export::run(args, &settings),
        Command::Graph(args) => graph::run(args, &settings),
        Command::ForceUnlock(args) => unlock::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Local(command) => local::run(command, &settings),
        Command::Sim(command) => sim::run(command, &settings),
        Command::Completions(args) => completions::run_completions(args),
        Command::Man(args) => completions::run_man(args),
    }
}

/// Prints clap's answer to a command line it did not run: help and version on
/// stdout (exit 0), a usage error on stderr with exit 1. clap's own exit code for
/// usage errors is 2, which `plan --detailed-exitcode` and `drift` use for "changes
/// found": a typo in a CI pipeline must read as an error, not as drift.
fn usage(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    // Plain text: the command line may hold anything, so it is escaped like every
    // other message (no colours here, which would be escaped with it).
    let text = error.render().to_string();
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = out!("{text}");
            ExitCode::SUCCESS
        }
        _ => {
            err!("{}", crate::printable::escape_hidden_keeping_lines(&text));
            ExitCode::from(1)
        }
    }
}

/// Manifests read and checked: the desired model, or the problems found (the
/// first `max_problems`, the rest counted).
struct Checked {
    sources: SourceMap,
    result: Result<Desired, Problems>,
    warnings: Problems,
}

/// Reads, parses, schema-checks and rule-checks the manifests under `paths`.
fn check_manifests(paths: &[PathBuf], max_problems: usize) -> Checked {
    let paths = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let (sources, problems) = read_manifest_files(&paths);
    let (result, warnings) = match crate::validate::check_sources(&sources, problems, max_problems)
    {
        Ok((desired, warnings)) => (Ok(desired), warnings),
        Err(problems) => (Err(problems), Problems::new(max_problems)),
    };
    Checked {
        sources,
        result,
        warnings,
    }
}

/// Writes a file so that a reader (a CI step picking up a plan, an editor, `cspctl
/// plan` on an export) sees the old content or the new, never half a file: a
/// temporary file beside it, then renamed over it. `durable` flushes it to disk
/// before the rename, so even a power loss leaves the old or the new content: a plan
/// file is worth it; an export of 20,000 files made again in seconds is not (the
/// flushes took 5 of its 11 seconds).
fn write_atomically(path: &std::path::Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    write_atomically_with(path, durable, |file| file.write_all(bytes))
}

/// [`write_atomically`] with the content written by `write` into the temporary
/// file (buffered), for content too large to hold in memory first.
fn write_atomically_with(
    path: &std::path::Path,
    durable: bool,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&temp)?);
        write(&mut file)?;
        let file = file
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        if durable {
            file.sync_all()?;
        }
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Prints diagnostics to stderr (human format, at most `settings.max_problems`) and
/// returns how many were errors.
fn report(diagnostics: &[Diagnostic], sources: &SourceMap, settings: &Settings) -> usize {
    let problems = Problems::capped(diagnostics.to_vec(), settings.max_problems, sources);
    report_problems(&problems, sources, settings)
}

fn report_problems(problems: &Problems, sources: &SourceMap, settings: &Settings) -> usize {
    if !problems.is_empty() {
        err!(
            "{}",
            problems.render(sources, DiagnosticFormat::Human, settings.color_stderr)
        );
    }
    let errors = problems.errors();
    if errors > 0 {
        note!("error: {errors} problem(s) found; nothing was planned or changed");
    }
    errors
}

/// Loads manifests or prints why not; `None` means "exit 1".
fn desired_or_report(paths: &[PathBuf], settings: &Settings) -> Option<(SourceMap, Desired)> {
    let checked = check_manifests(paths, settings.max_problems);
    match checked.result {
        Ok(desired) => {
            report_problems(&checked.warnings, &checked.sources, settings);
            Some((checked.sources, desired))
        }
        Err(problems) => {
            report_problems(&problems, &checked.sources, settings);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// clap checks a command definition only when it is built: a misplaced
    /// attribute in a rarely used subcommand would otherwise panic at run time.
    #[test]
    fn every_command_definition_is_valid() {
        super::Cli::command().debug_assert();
        super::help::command().debug_assert();
    }
}
