//! Two runners, one tenant, each with its own `.cspctl/` (issue 15, "A purchase is
//! checked just before it is sent"): a subscription another runner bought after
//! this one planned is recorded as done elsewhere, never bought a second time,
//! also while that purchase is still being provisioned (listed as an order only).
//! A saved plan is covered by the stale-plan check; this is the window inside one
//! run, between its plan and its purchase, which the test opens deterministically
//! by planning, letting the other runner buy, then executing the plan.
//!
//! Where that check is blind (the other runner's order neither listed as an order
//! nor as a subscription yet: Partner Center's order list lags), the purchase's
//! request id closes the window (issue 15, item 3): both runners derive it from
//! the same intent, each with a journal of its own, so Partner Center answers the
//! second with the first one's order.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{
    add_declared_resellers, cspctl, order_lines_by_name, sim_config, sim_state, sim_stats,
    start_with, text,
};
use cspctl::apply::{ActionOutcome, ApplyReport, execute_unattended};
use cspctl::backend::Backend as _;
use cspctl::backend::partner_center::journal::{PurchaseJournal, default_journal_path, read_open};
use cspctl::backend::partner_center::{
    Credentials, DEFAULT_MAX_RESPONSE_BYTES, PartnerCenterBackend, PartnerCenterConfig, Secret,
};
use cspctl::manifest::files::read_manifest_files;
use cspctl::plan::{Operation, Plan, PlanOptions};
use cspctl::sim::SimConfig;

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// examples/basic's customers and resellers only, in `dir`.
fn customers_only(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for file in ["customers.yaml", "resellers.yaml"] {
        std::fs::copy(format!("{}/{file}", example("basic")), dir.join(file)).expect("copy");
    }
}

/// A Partner Center client of the simulator, as a second runner has one.
fn client_of(sim: &common::Sim) -> PartnerCenterBackend {
    client_waiting(sim, Duration::from_secs(60))
}

/// As [`client_of`], waiting at most `provisioning` for a purchase to provision.
fn client_waiting(sim: &common::Sim, provisioning: Duration) -> PartnerCenterBackend {
    let defaults = SimConfig::default();
    PartnerCenterBackend::new(PartnerCenterConfig {
        endpoint: sim.base_url(),
        authority: sim.base_url(),
        sandbox: true,
        credentials: Credentials {
            tenant_id: defaults.partner_tenant_id.clone(),
            client_id: defaults.client_id.clone(),
            client_secret: Secret::new(common::CLIENT_SECRET),
            refresh_token: Some(Secret::new(common::REFRESH_TOKEN)),
        },
        read_concurrency: 4,
        provisioning_timeout: provisioning,
        timeout: None,
        max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
    })
    .expect("a client")
}

/// The second runner's plan of examples/basic, made from the tenant as it is now.
fn plan_now(backend: &PartnerCenterBackend) -> Plan {
    let (sources, problems) = read_manifest_files(&[PathBuf::from(example("basic"))]);
    let (desired, _) = cspctl::validate::check_sources(&sources, problems, usize::MAX)
        .map_err(|_| "invalid manifests")
        .expect("valid");
    let live = backend
        .block_on(backend.client().read_live())
        .expect("read");
    let options = PlanOptions {
        backend: backend.describe(),
        sandbox: true,
        simulate_hint: None,
        sandbox_reseller_limit: Some(5),
        declared_reseller_tenants: false,
        ..PlanOptions::default()
    };
    cspctl::plan::plan(&desired, &sources, &live, &options).expect("a plan")
}

/// The second runner executes `plan` (made before the first runner bought).
fn execute(backend: &PartnerCenterBackend, plan: &Plan) -> ApplyReport {
    backend.block_on(execute_unattended(
        plan,
        Arc::new(backend.client().clone()),
        2,
    ))
}

/// A simulator with examples/basic's resellers and customers (not its
/// subscriptions), set up by the first runner, whose working directory it returns.
fn with_customers(config: SimConfig) -> (common::Sim, tempfile::TempDir) {
    let sim = start_with(config);
    add_declared_resellers(&sim, Path::new(&example("basic")));
    let first = tempfile::tempdir().expect("dir");
    customers_only(&first.path().join("setup"));
    let setup = cspctl(
        &["apply", "setup", "--auto-approve"],
        first.path(),
        Some(&sim),
    );
    assert!(setup.status.success(), "{}", text(&setup));
    (sim, first)
}

/// The first runner applies examples/basic from `cwd`, waiting a second for
/// provisioning: each subscription is ordered once. Returns the order lines.
fn first_runner_buys(sim: &common::Sim, cwd: &Path) -> Lines {
    let bought = cspctl(
        &[
            "apply",
            &example("basic"),
            "--auto-approve",
            "--provisioning-timeout",
            "1",
        ],
        cwd,
        Some(sim),
    );
    let before = order_lines_by_name(&sim_state(sim));
    assert!(
        before.len() == 2 && before.values().all(|n| *n == 1),
        "{before:?}\n{}",
        text(&bought)
    );
    before
}

/// Two runners buy examples/basic's subscriptions for existing customers: the
/// second plans, the first buys, then the second executes its plan. Returns the
/// second's report and the simulator's order lines per friendly name before and
/// after the second ran.
fn race(provisioning: bool) -> (ApplyReport, Lines, Lines) {
    let mut config = sim_config(true);
    // Provisioning for an hour: the first runner's orders stay provisioning (and
    // unlisted as subscriptions) throughout, so only the order list shows them.
    // The order list shows a new order at once here; Partner Center's may lag (the
    // simulator models up to its default 5 s), a window this check cannot close.
    if provisioning {
        config.provisioning_delay = Duration::from_secs(3600);
        config.order_list_lag = Duration::ZERO;
        config.faults.pending_subscriptions_unlisted = true;
    }
    let (sim, first) = with_customers(config);

    let second = client_of(&sim);
    let plan = plan_now(&second);
    let purchases = plan
        .actions
        .iter()
        .filter(|a| matches!(a.operation, Operation::CreateSubscription { .. }))
        .count();
    assert_eq!(purchases, 2, "{:#?}", plan.actions);

    let before = first_runner_buys(&sim, first.path());
    let report = execute(&second, &plan);
    let after = order_lines_by_name(&sim_state(&sim));
    (report, before, after)
}

type Lines = std::collections::BTreeMap<String, usize>;

fn elsewhere(report: &ApplyReport) -> Vec<&str> {
    report
        .results
        .iter()
        .filter_map(|(address, outcome)| {
            matches!(outcome, ActionOutcome::DoneElsewhere(_)).then_some(address.as_str())
        })
        .collect()
}

#[test]
fn a_subscription_another_runner_bought_since_the_plan_is_not_bought_again() {
    let (report, before, after) = race(false);
    assert_eq!(after, before, "a purchase was made twice: {report:#?}");
    assert_eq!(
        elsewhere(&report),
        [
            "Subscription/contoso-m365-business-basic",
            "Subscription/fabrikam-e3"
        ],
        "{report:#?}"
    );
    // The support contact goes on, on the subscription the other runner bought.
    assert_eq!(report.failed(), 0, "{report:#?}");
    assert!(
        report.summary_line().contains("2 done elsewhere"),
        "{}",
        report.summary_line()
    );
}

#[test]
fn an_order_another_runner_placed_since_the_plan_is_not_placed_again() {
    let (report, before, after) = race(true);
    assert_eq!(after, before, "a purchase was made twice: {report:#?}");
    assert_eq!(elsewhere(&report).len(), 2, "{report:#?}");
    // Found through the order list: the subscription is not listed yet.
    let reasons: Vec<&str> = report
        .results
        .iter()
        .filter_map(|(_, o)| match o {
            ActionOutcome::DoneElsewhere(reason) => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("still being provisioned")),
        "{reasons:#?}"
    );
    assert_eq!(report.failed(), 0, "{report:#?}");
}

/// The request ids of the purchases left open in the journal at `path`, by
/// friendly name.
fn open_purchase_ids(path: &Path) -> std::collections::BTreeMap<String, String> {
    read_open(path)
        .expect("a journal")
        .into_iter()
        .map(|purchase| {
            let Operation::CreateSubscription { friendly_name, .. } = purchase.operation else {
                panic!("not a purchase: {:?}", purchase.operation);
            };
            (friendly_name, purchase.request_id)
        })
        .collect()
}

/// Two runners with separate journals buy the same declared subscriptions, the
/// second blind to the first's orders (provisioning for an hour, unlisted as
/// subscriptions meanwhile, and the order list lagging by an hour): both send the
/// same request id per purchase, so the simulator, as Partner Center does with
/// a repeated `MS-RequestId`, answers the second with the first one's cart and
/// order, and nothing is bought twice. With a random id per run (before issue 15,
/// item 3) the second runner placed a second order of each.
#[test]
fn two_runners_with_their_own_journals_send_one_request_id_and_get_one_order() {
    let mut config = sim_config(true);
    config.provisioning_delay = Duration::from_secs(3600);
    config.order_list_lag = Duration::from_secs(3600);
    config.faults.pending_subscriptions_unlisted = true;
    let (sim, first) = with_customers(config);

    let second_dir = tempfile::tempdir().expect("dir");
    let second_journal = second_dir.path().join("second.journal");
    // Waits a second for provisioning, then leaves the purchase open, as the
    // first runner's `--provisioning-timeout 1` does.
    let second = client_waiting(&sim, Duration::from_secs(1)).with_journal(
        PurchaseJournal::open(second_journal.clone()).expect("a journal"),
        "2026-03-01T10:00:00Z".to_owned(),
    );
    let plan = plan_now(&second);

    let before = first_runner_buys(&sim, first.path());
    let replayed_before = sim_stats(&sim)["replayed"].as_u64().expect("replayed");

    let report = execute(&second, &plan);
    second.client().compact_journal().expect("compacted");
    let after = order_lines_by_name(&sim_state(&sim));
    assert_eq!(after, before, "a purchase was made twice: {report:#?}");
    // The check just before buying saw nothing: the purchases were sent, and
    // every one of their requests was answered from the first runner's (the
    // new-commerce purchase's cart and checkout, the legacy purchase's order).
    assert!(elsewhere(&report).is_empty(), "{report:#?}");
    let replayed = sim_stats(&sim)["replayed"].as_u64().expect("replayed") - replayed_before;
    assert_eq!(replayed, 3, "answers replayed: {report:#?}");

    let first_journal = first.path().join(default_journal_path(
        &SimConfig::default().partner_tenant_id,
    ));
    let first_ids = open_purchase_ids(&first_journal);
    assert_eq!(first_ids.len(), 2, "{first_ids:?}\n{before:?}");
    assert_eq!(open_purchase_ids(&second_journal), first_ids, "{report:#?}");
}
/// Issue 15, item 5 (b): two apply processes, each with its own working directory
/// and no remote state, against one simulator with faults on (5xx, 429, answers
/// dropped after the change), started together, 3 s and 8 s apart. Whatever the
/// timing, no subscription is bought twice, and both converge.
#[test]
fn two_runners_with_separate_state_never_buy_twice() {
    for offset in [0, 3, 8] {
        let mut config = sim_config(true);
        config.faults = cspctl::sim::faults::Faults {
            server_error_rate: 0.1,
            throttle_rate: 0.1,
            drop_after_commit_rate: 0.1,
            seed: 150 + offset,
            ..cspctl::sim::faults::Faults::default()
        };
        let sim = start_with(config);
        add_declared_resellers(&sim, Path::new(&example("basic")));
        // The customers exist already, as for a merge and a re-run of one pipeline.
        let setup = tempfile::tempdir().expect("dir");
        customers_only(&setup.path().join("m"));
        let mut customers = cspctl(&["apply", "m", "--auto-approve"], setup.path(), Some(&sim));
        while customers.status.code() == Some(1) {
            // A simulated fault made it give up: a person would run it again.
            customers = cspctl(&["apply", "m", "--auto-approve"], setup.path(), Some(&sim));
        }
        assert!(customers.status.success(), "{}", text(&customers));

        let (first, second) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let spawn = |cwd: &Path| {
            common::cspctl_command(
                &["apply", &example("basic"), "--auto-approve"],
                cwd,
                Some(&sim),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("cspctl starts")
        };
        let a = spawn(first.path());
        // The second pipeline starts later: a scenario, not a timing assumption.
        std::thread::sleep(Duration::from_secs(offset));
        let b = spawn(second.path());
        let (a, b) = (
            a.wait_with_output().expect("first runner"),
            b.wait_with_output().expect("second runner"),
        );
        let context = format!(
            "{offset} s apart:\nfirst:\n{}\nsecond:\n{}",
            text(&a),
            text(&b)
        );
        for run in [&a, &b] {
            // Exit 1 only when a run gave up on simulated faults.
            assert!(matches!(run.status.code(), Some(0 | 1)), "{context}");
        }
        let lines = order_lines_by_name(&sim_state(&sim));
        assert!(
            lines.values().all(|n| *n == 1),
            "bought twice: {lines:?}\n{context}"
        );
        // Faults off: both converge, and nothing is left to do.
        let (status, answer) = common::http(
            reqwest::Method::PUT,
            &format!("{}/_sim/faults", sim.base_url()),
            None,
            Some(serde_json::to_value(cspctl::sim::faults::Faults::default()).expect("json")),
        );
        assert!(status < 300, "{answer}");
        for cwd in [first.path(), second.path()] {
            let converged = cspctl(
                &["apply", &example("basic"), "--auto-approve"],
                cwd,
                Some(&sim),
            );
            assert_eq!(converged.status.code(), Some(0), "{}", text(&converged));
            let plan = cspctl(&["plan", &example("basic")], cwd, Some(&sim));
            assert!(text(&plan).contains("No changes"), "{}", text(&plan));
        }
        let lines = order_lines_by_name(&sim_state(&sim));
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.values().all(|n| *n == 1), "bought twice: {lines:?}");
        eprintln!(
            "{offset} s apart: {lines:?}, exits {:?}/{:?}",
            a.status.code(),
            b.status.code()
        );
    }
}
