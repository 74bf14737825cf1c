//! `cspctl apply`: makes a plan from manifests (or reads a saved one), asks for
//! confirmation unless `--auto-approve`, executes it and reports.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::apply::{ActionOutcome, ApplyObserver, execute_plan, stale_actions};
use crate::plan::{Action, Plan};
use crate::render::{PlanFormat, render_plan};

use super::backend::BackendArgs;
use super::plan::make_plan;
use super::{DEFAULT_LOCK_TIMEOUT_SECONDS, EXIT_MANUAL, Settings};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories (default: the current directory), or one plan
    /// file saved by `cspctl plan --out`.
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    backend: BackendArgs,
    /// Apply without asking (required when stdin is not a terminal).
    #[arg(long)]
    auto_approve: bool,
    /// Seconds to wait for another apply holding the state lock.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_LOCK_TIMEOUT_SECONDS)]
    lock_timeout: u64,
}

/// A single input that is a file but not YAML is a saved plan.
fn plan_file(inputs: &[PathBuf]) -> Option<&Path> {
    match inputs {
        [one]
            if one.is_file()
                && !matches!(
                    one.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                ) =>
        {
            Some(one)
        }
        _ => None,
    }
}

fn read_plan_file(path: &Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading plan file {}", path.display()))?;
    Plan::from_json(&text).map_err(|e| match e.position {
        Some(_) => anyhow::anyhow!("{}:{e}", path.display()),
        None => anyhow::anyhow!("{}: {e}", path.display()),
    })
}

/// Prints each action as it finishes, on stderr.
struct Progress;

impl ApplyObserver for Progress {
    fn started(&mut self, action: &Action) {
        eprintln!("{}: {}...", action.address, action.action_type.as_str());
    }

    fn finished(&mut self, address: &str, outcome: &ActionOutcome) {
        match outcome {
            ActionOutcome::Applied => eprintln!("{address}: done"),
            ActionOutcome::Failed(reason) => eprintln!("{address}: failed: {reason}"),
            ActionOutcome::Skipped(_) | ActionOutcome::Waiting(_) => {}
        }
    }
}

fn confirm() -> anyhow::Result<bool> {
    eprint!("Do you want to apply these actions? Only 'yes' is accepted: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

pub fn run(args: Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let lock_timeout = Duration::from_secs(args.lock_timeout);
    let mut opened = args.backend.resolve()?.open(settings, lock_timeout)?;
    let options = opened.plan_options().clone();
    let backend = opened.backend();
    let plan = match plan_file(&args.inputs) {
        Some(path) => {
            let plan = read_plan_file(path)?;
            if plan.backend != backend.describe() {
                bail!(
                    "{} was planned against `{}`, not `{}`; make the plan again against this state",
                    path.display(),
                    plan.backend,
                    backend.describe()
                );
            }
            let live = backend.read_live()?;
            let stale = stale_actions(&plan, &live);
            if !stale.is_empty() {
                for (address, what) in &stale {
                    eprintln!("error: {address}: the live object {what}");
                }
                bail!(
                    "the saved plan {} is stale: {} object(s) changed since it was made; run plan again and review the new plan",
                    path.display(),
                    stale.len()
                );
            }
            plan
        }
        None => match make_plan(&args.inputs, &backend.read_live()?, &options, settings)? {
            Some(plan) => plan,
            None => return Ok(ExitCode::from(1)),
        },
    };
    print!(
        "{}",
        render_plan(&plan, PlanFormat::Text, settings.color_stdout)
    );
    if !plan.has_changes() {
        return Ok(ExitCode::SUCCESS);
    }
    if !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            bail!(
                "apply needs confirmation but stdin is not a terminal; review the plan and pass --auto-approve (in CI, apply a reviewed plan file: cspctl plan --out plan.json, then cspctl apply plan.json --auto-approve)"
            );
        }
        if !confirm()? {
            eprintln!("Apply cancelled; nothing was changed.");
            return Ok(ExitCode::from(1));
        }
    }
    // A fresh `MS-RequestId` for each logical operation.
    let report = execute_plan(&plan, backend, &mut crate::ids::random_guid, &mut Progress);
    // Everything applied locally is already journaled; this folds it into the state file.
    opened.finish()?;
    println!();
    print!("{}", report.render());
    Ok(if report.failed() > 0 {
        ExitCode::from(1)
    } else if report.waiting() > 0 {
        ExitCode::from(EXIT_MANUAL)
    } else {
        ExitCode::SUCCESS
    })
}
