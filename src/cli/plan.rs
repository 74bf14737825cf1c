//! `cspctl plan`: desired manifests + live state → a plan, printed and optionally
//! saved for `apply PLANFILE`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::backend::BackendError;
use crate::live::{Live, LiveSubscription, Lookups};
use crate::manifest::source::SourceMap;
use crate::plan::{Operation, Plan, PlanOptions};
use crate::render::{PlanFormat, RenderOptions, write_plan};
use crate::validate::Desired;

use super::backend::BackendArgs;
use super::scope::ScopeArgs;
use super::{
    DEFAULT_MAX_PROBLEMS, EXIT_CHANGES, ProblemLimit, Settings, desired_or_report, report,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories (default: the current directory).
    paths: Vec<PathBuf>,
    #[command(flatten)]
    backend: BackendArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: PlanFormat,
    /// Exit 2 when the plan has changes (0 = none, 1 = error).
    #[arg(long)]
    detailed_exitcode: bool,
    /// Also save the plan (JSON) for `cspctl apply PLANFILE`.
    #[arg(long, value_name = "PLANFILE")]
    out: Option<PathBuf>,
    /// Show personal data (contact names, emails, phone numbers) in the markdown and
    /// github formats; they are masked by default, as those end up in pull requests.
    #[arg(long)]
    show_sensitive: bool,
    /// Where reviewers find the full JSON plan (e.g. the CI run's artifacts page); a
    /// markdown comment too long for GitHub is truncated with this link [default:
    /// the --out file].
    #[arg(long, value_name = "URL")]
    full_plan_url: Option<String>,
    #[command(flatten)]
    scope: ScopeArgs,
    #[command(flatten)]
    problems: ProblemLimit,
    #[command(flatten)]
    renewals: RenewalsArg,
}

/// `--renewals PERIOD`, on `plan` and `drift`: the renewal calendar.
#[derive(Clone, Copy, Debug, Default, clap::Args)]
pub struct RenewalsArg {
    /// List the subscriptions that renew (or end, without auto-renew) within
    /// PERIOD from now: `30d` (days), `12h` (hours) or `2w` (weeks), with seats,
    /// auto-renew and what their renewal changes
    #[arg(long, value_name = "PERIOD", value_parser = parse_period)]
    renewals: Option<i64>,
}

impl RenewalsArg {
    /// `settings` with the renewal calendar's period, when one was asked for.
    pub fn apply(self, settings: &Settings) -> Settings {
        Settings {
            renewal_horizon: self.renewals.or(settings.renewal_horizon),
            ..settings.clone()
        }
    }
}

/// `30d`, `12h`, `2w` → seconds.
fn parse_period(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let seconds = match unit {
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "`{text}` is not a period: write a number of days, hours or weeks such as 30d, 12h or 2w"
            ));
        }
    };
    match number.parse::<i64>() {
        Ok(n) if (0..=36_500).contains(&n) => Ok(n * seconds),
        _ => Err(format!(
            "`{text}` is not a period: write a number of days, hours or weeks such as 30d, 12h or 2w"
        )),
    }
}

/// What planning may read beyond the snapshot, in proportion to what the plan
/// changes (see [`plan_desired`]).
pub trait PlanReads {
    /// The subscriptions that orders still provisioning will create, for the
    /// given customer ids.
    fn pending_purchases(
        &self,
        customers: &[String],
    ) -> Result<Vec<LiveSubscription>, BackendError>;
    /// Answers `lookups` into `live` (transition eligibilities, allowed custom
    /// term end dates: [`crate::plan::lookups`]).
    fn lookups(&self, lookups: &Lookups, live: &mut Live) -> Result<(), BackendError>;
}

/// The reads a plan may make beyond the snapshot.
pub type PendingPurchases<'a> = &'a dyn PlanReads;

/// Makes a plan from manifests against a live snapshot; `Ok(None)` = problems reported.
pub fn make_plan(
    paths: &[PathBuf],
    live: &Live,
    options: &PlanOptions,
    settings: &Settings,
    pending: PendingPurchases<'_>,
) -> anyhow::Result<Option<Plan>> {
    let Some(desired) = desired_or_report(paths, settings) else {
        return Ok(None);
    };
    plan_desired(desired, live, options, settings, pending)
}

/// Plans checked manifests; `Ok(None)` = problems reported.
///
/// A plan that buys something for an existing customer is checked against that
/// customer's orders still provisioning (`pending`): a purchase already under way
/// (made by an apply that was killed, or by someone else) may not be listed as a
/// subscription yet, and must not be bought again. Only then are orders read, so
/// a plan without purchases costs no extra request.
pub(super) fn plan_desired(
    (sources, desired): (SourceMap, Desired),
    live: &Live,
    options: &PlanOptions,
    settings: &Settings,
    pending: PendingPurchases<'_>,
) -> anyhow::Result<Option<Plan>> {
    // The plan's clock and calendar come from the settings (`CSPCTL_NOW`,
    // `--renewals`): the planner itself reads no clock.
    let options = &PlanOptions {
        now: crate::time::parse(&settings.now),
        renewal_horizon: settings.renewal_horizon,
        ..options.clone()
    };
    // A plan that moves a subscription to another SKU, or aligns a purchase's
    // term end, asks Partner Center what it allows for those (one request
    // each), and plans again with the answers.
    let (mut result, lookups) = crate::plan::plan_and_lookups(&desired, &sources, live, options);
    let looked_up;
    let live = if lookups.is_empty() {
        live
    } else {
        let mut with = live.clone();
        pending.lookups(&lookups, &mut with)?;
        looked_up = with;
        result = crate::plan::plan(&desired, &sources, &looked_up, options);
        &looked_up
    };
    if let Ok(plan) = &result {
        let buying = customers_buying(plan);
        if !buying.is_empty() {
            let found: Vec<LiveSubscription> = pending
                .pending_purchases(&buying)?
                .into_iter()
                .filter(|s| !live.subscriptions.contains_key(&s.id))
                .collect();
            let unnamed = crate::plan::purchases_under_way(plan, &found);
            if !unnamed.is_empty() {
                // Never-buy-twice guard: a pending order line that does not say its
                // name cannot be matched to a manifest, and might be the very
                // purchase this plan would make.
                anyhow::bail!(
                    "{} purchase(s) of this plan may already be under way, in orders still being provisioned whose lines do not name their subscription:\n  {}\nNothing was planned (buying now could buy twice). Wait for those orders to complete, then plan again.",
                    unnamed.len(),
                    unnamed.join("\n  ")
                );
            }
            if !found.is_empty() {
                note!(
                    "note: {} subscription(s) of orders still being provisioned were found ({}); the plan counts them as bought",
                    found.len(),
                    found
                        .iter()
                        .map(|s| format!("\"{}\" of customer {}", s.friendly_name, s.customer_id))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut live = live.clone();
                live.subscriptions
                    .extend(found.into_iter().map(|s| (s.id.clone(), s)));
                result = crate::plan::plan(&desired, &sources, &live, options);
            }
        }
    }
    // A large tenant's model takes a noticeable time to free, and the process is about
    // to end: leave that to the operating system.
    std::mem::forget(desired);
    match result {
        Ok(plan) => Ok(Some(plan)),
        Err(problems) => {
            report(&problems, &sources, settings);
            Ok(None)
        }
    }
}

/// Existing customers the plan buys a subscription for (ids, sorted).
fn customers_buying(plan: &Plan) -> Vec<String> {
    let ids: std::collections::BTreeSet<String> = plan
        .actions
        .iter()
        .filter_map(|action| match &action.operation {
            Operation::CreateSubscription { customer, .. } => customer.id.clone(),
            _ => None,
        })
        .collect();
    ids.into_iter().collect()
}

pub fn run(args: Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let settings = &args.problems.apply(settings, DEFAULT_MAX_PROBLEMS);
    let settings = &args.renewals.apply(settings);
    let backend = args.backend.resolve()?;
    let (plan, mut reader) = if args.scope.is_set() {
        let Some((scoped, live, options, reader)) = backend.read_live_beside(
            settings,
            true,
            || args.scope.read(&args.paths, settings),
            |scoped| Some(&scoped.live),
        )?
        else {
            return Ok(ExitCode::from(1));
        };
        let plan = scoped.plan(&live, &options, settings, &reader)?;
        (plan, reader)
    } else {
        let Some((checked, live, options, mut reader)) = backend.read_live_beside(
            settings,
            false,
            || Ok(desired_or_report(&args.paths, settings)),
            |_| None,
        )?
        else {
            return Ok(ExitCode::from(1));
        };
        let mut plan = plan_desired(checked, &live, &options, settings, &reader)?;
        std::mem::forget(live);
        // What the plan changes is read by this run, never taken from the snapshot.
        if let Some(view) = plan
            .as_ref()
            .map(|p| reader.verify(p))
            .transpose()?
            .flatten()
        {
            note!(
                "The snapshot was behind for a customer this plan changes; planning again from what Partner Center holds now."
            );
            let Some(checked) = desired_or_report(&args.paths, settings) else {
                return Ok(ExitCode::from(1));
            };
            plan = plan_desired(checked, &view, &options, settings, &reader)?;
        }
        (plan, reader)
    };
    reader.save_snapshot()?;
    let Some(mut plan) = plan else {
        return Ok(ExitCode::from(1));
    };
    plan.cost = reader.cost();
    plan.backend_settings = Some(backend.settings());
    let render_options = RenderOptions {
        color: settings.color_stdout,
        show_sensitive: args.show_sensitive,
        full_plan: args
            .full_plan_url
            .clone()
            .or_else(|| args.out.as_ref().map(|out| out.display().to_string())),
    };
    // Written as it is rendered: a whole tenant's plan is too large to hold as text.
    let mut stdout = super::output::stdout_writer();
    if matches!(args.format, PlanFormat::Github | PlanFormat::Markdown) {
        // Annotations and the comment show paths relative to the repository; the
        // saved plan keeps them as given.
        let given = super::github::use_repository_paths(&mut plan);
        write_plan(&plan, args.format, &render_options, &mut stdout)?;
        super::github::restore_paths(&mut plan, given);
    } else {
        write_plan(&plan, args.format, &render_options, &mut stdout)?;
    }
    stdout.flush()?;
    drop(stdout);
    if let Some(out) = &args.out {
        super::write_atomically_with(out, true, |file| {
            write_plan(&plan, PlanFormat::Json, &RenderOptions::default(), file)
        })
        .with_context(|| format!("writing the plan to {}", out.display()))?;
        note!(
            "Saved the plan to {}; apply it with: cspctl apply {}",
            out.display(),
            out.display()
        );
    }
    let code = if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    };
    // A whole tenant's plan is millions of allocations, and the process is about
    // to end: leave freeing them to the operating system.
    std::mem::forget(plan);
    Ok(code)
}
