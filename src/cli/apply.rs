//! `cspctl apply`: makes a plan from manifests (or reads a saved one), asks for
//! confirmation unless `--auto-approve`, executes it and reports.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::apply::{
    ActionOutcome, ApplyObserver, ApplyReport, DEFAULT_LOCAL_PARALLELISM, DEFAULT_PARALLELISM,
    stale_actions,
};
use crate::backend::RetryNotice;
use crate::plan::{Action, Plan};
use crate::render::github::{render_github_apply, render_github_stale};
use crate::render::{PlanFormat, RenderOptions, render_plan};

use super::backend::BackendArgs;
use super::github::with_repository_paths;
use super::plan::make_plan;
use super::scope::ScopeArgs;
use super::{
    DEFAULT_LOCK_TIMEOUT_SECONDS, DEFAULT_MAX_PROBLEMS, EXIT_INTERRUPTED, EXIT_MANUAL,
    ProblemLimit, Settings,
};

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
    /// Actions in flight at once; an action still starts only after everything it
    /// depends on was applied [default: 10 against Partner Center, 64 on the local
    /// state].
    #[arg(long, value_name = "N")]
    parallelism: Option<usize>,
    /// How to report: text, JSON Lines events on stdout, or text plus GitHub
    /// Actions annotations.
    #[arg(long, value_enum, default_value = "text")]
    format: ApplyFormat,
    #[command(flatten)]
    scope: ScopeArgs,
    #[command(flatten)]
    problems: ProblemLimit,
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

pub(super) fn read_plan_file(path: &Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading plan file {}", path.display()))?;
    Plan::from_json(&text).map_err(|e| match e.position {
        Some(_) => anyhow::anyhow!("{}:{e}", path.display()),
        None => anyhow::anyhow!("{}: {e}", path.display()),
    })
}

/// How apply reports as it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ApplyFormat {
    /// The plan, progress on stderr (a bar on a terminal), then a report.
    Text,
    /// JSON Lines on stdout: one event per line (plan, started, retried,
    /// finished, failed, interrupted, summary).
    Json,
    /// As text, then GitHub Actions annotations on stdout: an error on the manifest
    /// line of each failed action, a warning on each skipped or waiting one, a
    /// notice on each applied one.
    Github,
}

/// Progress as text on stderr: a bar on a terminal, otherwise a line per event
/// (CI logs keep every line; a bar would only be noise there).
struct TextProgress {
    bar: Option<ProgressBar>,
}

impl TextProgress {
    fn new(runnable: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(runnable as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} actions done {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        TextProgress { bar }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => note!("{text}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl ApplyObserver for TextProgress {
    fn started(&mut self, action: &Action) {
        match &self.bar {
            Some(bar) => bar.set_message(action.address.clone()),
            None => note!("{}: {}...", action.address, action.action_type.as_str()),
        }
    }

    fn retried(&mut self, address: &str, notice: &RetryNotice) {
        self.line(&format!(
            "{address}: {} answered {}; retry {} in {:.1} s",
            notice.request,
            notice.reason,
            notice.attempt,
            notice.wait.as_secs_f64()
        ));
    }

    fn finished(&mut self, address: &str, outcome: &ActionOutcome) {
        match outcome {
            ActionOutcome::Applied => {
                if self.bar.is_none() {
                    note!("{address}: done");
                }
            }
            ActionOutcome::DoneElsewhere(reason) => self.line(&format!("{address}: {reason}")),
            ActionOutcome::Failed(reason) => self.line(&format!("{address}: failed: {reason}")),
            ActionOutcome::Skipped(_) | ActionOutcome::Waiting(_) => {}
        }
        if let Some(bar) = &self.bar
            && matches!(
                outcome,
                ActionOutcome::Applied | ActionOutcome::DoneElsewhere(_) | ActionOutcome::Failed(_)
            )
        {
            bar.inc(1);
        }
    }

    fn interrupted(&mut self, in_flight: usize) {
        self.line(&format!(
            "Interrupted: no new action starts; waiting for {in_flight} in flight to finish (interrupt again to abandon them; the next apply settles what they sent)"
        ));
    }
}

/// JSON Lines on stdout, one event per line, flushed as it happens.
struct JsonEvents;

impl JsonEvents {
    fn emit(value: serde_json::Value) {
        // A closed stdout (the reader went away) must not stop the apply.
        let _ = outln!("{}", crate::printable::to_json(&value, false));
    }
}

impl ApplyObserver for JsonEvents {
    fn started(&mut self, action: &Action) {
        JsonEvents::emit(json!({
            "event": "started",
            "address": action.address,
            "type": action.action_type.as_str(),
        }));
    }

    fn retried(&mut self, address: &str, notice: &RetryNotice) {
        JsonEvents::emit(json!({
            "event": "retried",
            "address": address,
            "request": notice.request,
            "reason": notice.reason,
            "attempt": notice.attempt,
            "waitMs": u64::try_from(notice.wait.as_millis()).unwrap_or(u64::MAX),
        }));
    }

    fn finished(&mut self, address: &str, outcome: &ActionOutcome) {
        let event = match outcome {
            ActionOutcome::Failed(reason) => json!({
                "event": "failed",
                "address": address,
                "error": reason,
            }),
            other => json!({
                "event": "finished",
                "address": address,
                "outcome": other.as_str(),
                "reason": other.reason(),
            }),
        };
        JsonEvents::emit(event);
    }

    fn interrupted(&mut self, in_flight: usize) {
        JsonEvents::emit(json!({"event": "interrupted", "inFlight": in_flight}));
    }
}

fn confirm() -> anyhow::Result<bool> {
    err!("Do you want to apply these actions? Only 'yes' is accepted: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

pub fn run(args: Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let settings = &args.problems.apply(settings, DEFAULT_MAX_PROBLEMS);
    let lock_timeout = Duration::from_secs(args.lock_timeout);
    let json = args.format == ApplyFormat::Json;
    let mut opened = args
        .backend
        .resolve_for_apply()?
        .open(settings, lock_timeout)?;
    // Purchases an interrupted apply left open are settled before anything is
    // planned, so a purchase still under way is never planned a second time.
    for line in opened.settle()? {
        if json {
            JsonEvents::emit(json!({"event": "settled", "purchase": line}));
        } else {
            note!("Settled {line}");
        }
    }
    let options = opened.plan_options().clone();
    let plan = match plan_file(&args.inputs) {
        Some(path) => {
            let plan = read_plan_file(path)?;
            if args.scope.is_set() {
                bail!(
                    "{} carries its own scope (what it read and planned); --customer, --target and --changed-since are for planning from manifests",
                    path.display()
                );
            }
            if plan.backend != opened.describe() {
                // A plan that recorded its backend is opened on it (cli::config): a
                // difference left is a flag spelled otherwise (`./state.json`).
                let advice = if plan.backend_settings.is_some() {
                    format!(
                        "drop the backend flags (the plan's are used; `cspctl show {}` names them) or give them as the plan has them",
                        path.display()
                    )
                } else {
                    "this plan predates recorded backends: give the flags it was made with, or make the plan again against this state".to_owned()
                };
                bail!(
                    "{} was planned against `{}`, not `{}`; {advice}",
                    path.display(),
                    plan.backend,
                    opened.describe()
                );
            }
            // A scoped plan is checked against the same part of the tenant it read.
            let mut live = match &plan.scope {
                Some(scope) => opened.read_live_scoped(&scope.live())?,
                None => opened.read_live()?,
            };
            // The objects the plan changes, as Partner Center holds them now.
            if let Some(view) = opened.verify(&plan)? {
                live = view;
            }
            let stale = stale_actions(&plan, &live);
            if !stale.is_empty() {
                for (address, what) in &stale {
                    note!("error: {address}: the live object {what}");
                }
                if args.format == ApplyFormat::Github {
                    out!(
                        "{}",
                        render_github_stale(&with_repository_paths(&plan), &stale)
                    )?;
                }
                bail!(
                    "the saved plan {} is stale: {} object(s) changed since it was made; run plan again and review the new plan",
                    path.display(),
                    stale.len()
                );
            }
            // What the reviewer read (changes) is what apply sends (operations).
            let disagreements = crate::plan::integrity::disagreements(&plan, &live);
            if !disagreements.is_empty() {
                for (address, problem) in &disagreements {
                    note!("error: {address}: {problem}");
                }
                bail!(
                    "the saved plan {} is not what it shows: {} action(s) would send other than their changes say; nothing was applied. Make the plan again and review it",
                    path.display(),
                    disagreements.len()
                );
            }
            plan
        }
        None if args.scope.is_set() => {
            let Some(scoped) = args.scope.read(&args.inputs, settings)? else {
                return Ok(ExitCode::from(1));
            };
            let live = opened.read_live_scoped(&scoped.live)?;
            match scoped.plan(&live, &options, settings, &opened)? {
                Some(plan) => plan,
                None => return Ok(ExitCode::from(1)),
            }
        }
        None => {
            let live = opened.read_live()?;
            let Some(plan) = make_plan(&args.inputs, &live, &options, settings, &opened)? else {
                return Ok(ExitCode::from(1));
            };
            // What the plan changes is read by this run, never taken from the snapshot.
            match opened.verify(&plan)? {
                None => plan,
                Some(view) => {
                    note!(
                        "The snapshot was behind for a customer this plan changes; planning again from what Partner Center holds now."
                    );
                    match make_plan(&args.inputs, &view, &options, settings, &opened)? {
                        Some(plan) => plan,
                        None => return Ok(ExitCode::from(1)),
                    }
                }
            }
        }
    };
    if json {
        JsonEvents::emit(json!({
            "event": "plan",
            "backend": plan.backend,
            "actions": plan.actions.len(),
            "summary": plan.summary,
        }));
    } else {
        out!(
            "{}",
            render_plan(
                &plan,
                PlanFormat::Text,
                &RenderOptions {
                    color: settings.color_stdout,
                    ..RenderOptions::default()
                }
            )
        )?;
    }
    if !plan.has_changes() {
        opened.save_snapshot()?;
        if json {
            JsonEvents::emit(summary_event(&ApplyReport::default(), 0));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.auto_approve {
        if json || !std::io::stdin().is_terminal() {
            bail!(
                "apply needs confirmation but {}; review the plan and pass --auto-approve (in CI, apply a reviewed plan file: cspctl plan --out plan.json, then cspctl apply plan.json --auto-approve)",
                if json {
                    "--format json leaves no room for a prompt"
                } else {
                    "stdin is not a terminal"
                }
            );
        }
        if !confirm()? {
            note!("Apply cancelled; nothing was changed.");
            return Ok(ExitCode::from(1));
        }
    }
    // A fresh `MS-RequestId` for each logical operation.
    let mut new_request_id = crate::ids::random_guid;
    let parallelism = args
        .parallelism
        .unwrap_or(if opened.is_local() {
            DEFAULT_LOCAL_PARALLELISM
        } else {
            DEFAULT_PARALLELISM
        })
        .max(1);
    let report = if json {
        opened.apply(&plan, parallelism, &mut new_request_id, &mut JsonEvents)?
    } else {
        let runnable = plan.actions.iter().filter(|a| !a.is_manual()).count();
        let mut progress = TextProgress::new(runnable);
        let report = opened.apply(&plan, parallelism, &mut new_request_id, &mut progress);
        progress.finish();
        report?
    };
    // Local: everything applied is journaled; this folds it into the state file.
    // Partner Center: drops settled purchases from the purchase journal.
    opened.finish()?;
    let code = exit_code(&report);
    let cost = opened.cost();
    if json {
        let mut event = summary_event(&report, code);
        if let Some(cost) = cost {
            event["cost"] = json!(cost);
        }
        JsonEvents::emit(event);
    } else {
        outln!()?;
        out!("{}", report.render())?;
        if let Some(cost) = cost {
            outln!("{}", cost.line())?;
        }
        if args.format == ApplyFormat::Github {
            out!(
                "{}",
                render_github_apply(&with_repository_paths(&plan), &report)
            )?;
        }
    }
    Ok(ExitCode::from(code))
}

/// Exit code: 130 interrupted (as a shell reports SIGINT), 1 a failure or the
/// deadline passed with actions not started, 3 manual steps remain, 0 done.
fn exit_code(report: &ApplyReport) -> u8 {
    if report.interrupted {
        EXIT_INTERRUPTED
    } else if report.failed() > 0 || report.stopped_at_deadline {
        1
    } else if report.waiting() > 0 {
        EXIT_MANUAL
    } else {
        0
    }
}

fn summary_event(report: &ApplyReport, exit_code: u8) -> serde_json::Value {
    json!({
        "event": "summary",
        "applied": report.applied(),
        "doneElsewhere": report.done_elsewhere(),
        "failed": report.failed(),
        "skipped": report.skipped(),
        "waiting": report.waiting(),
        "interrupted": report.interrupted,
        "stoppedAtDeadline": report.stopped_at_deadline,
        "exitCode": exit_code,
        "message": report.summary_line(),
        // Tenant ids Partner Center gave the sandbox resellers this apply created
        // without a declared one, by address: to pin in their manifests.
        "newTenants": report.new_tenants,
    })
}
