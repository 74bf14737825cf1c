//! The new-commerce lifecycle end to end, against the simulator on a frozen,
//! injected clock (moved with `/_sim/clock/advance`, never slept on): a decrease
//! outside the 168-hour window scheduled and applied by the renewal; a term change
//! at renewal; a cancellation inside the window; one outside it refused at plan
//! time with its dates, then expressed as auto-renew off and the subscription
//! expiring; drift seeing a scheduled change that a mid-term change deleted; the
//! renewal calendar in text, JSON and Markdown. cspctl's own clock (`CSPCTL_NOW`)
//! follows the simulator's.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{
    NOW, Sim, add_declared_resellers, cspctl_command, http, parse_json, sim_counts, sim_state,
    start_plain, text, token,
};
use cspctl::sim::SimConfig;
use serde_json::{Value, json};

const DAY: i64 = 86_400;
const NCE_NAME: &str = "contoso-m365-business-basic";

/// A simulator whose clock moves only when a test moves it.
fn frozen_sim() -> Sim {
    start_plain(SimConfig {
        frozen_clock: true,
        provisioning_delay: Duration::ZERO,
        order_list_lag: Duration::ZERO,
        ..common::sim_config(true)
    })
}

/// A frozen simulator with `examples/basic` bought in it ([`bought`]), in a work
/// directory kept as long as the returned one.
fn bought_tenant() -> (Sim, tempfile::TempDir, PathBuf) {
    let sim = frozen_sim();
    let work = tempfile::tempdir().expect("temp dir");
    let manifests = bought(&sim, work.path());
    (sim, work, manifests)
}

/// `examples/basic` copied to `work/m`, its reseller added, applied at `NOW`.
fn bought(sim: &Sim, work: &Path) -> PathBuf {
    let manifests = work.join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/basic");
    for entry in std::fs::read_dir(example).expect("example") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), manifests.join(entry.file_name())).expect("copy");
    }
    add_declared_resellers(sim, &manifests);
    let apply = run(sim, work, NOW, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    manifests
}

/// cspctl against `sim` with its clock at `now`.
fn run(sim: &Sim, work: &Path, now: &str, args: &[&str]) -> Output {
    cspctl_command(args, work, Some(sim))
        .env("CSPCTL_NOW", now)
        .output()
        .expect("cspctl runs")
}

/// Moves the simulator's clock `seconds` on; returns its new time (RFC 3339).
fn advance(sim: &Sim, seconds: i64) -> String {
    let (status, body) = http(
        reqwest::Method::POST,
        &format!("{}/_sim/clock/advance", sim.base_url()),
        None,
        Some(json!({ "seconds": seconds })),
    );
    assert_eq!(status, 200, "{body}");
    body["now"].as_str().expect("now").to_owned()
}

/// Moves the clock to `to` (RFC 3339); returns it.
fn advance_to(sim: &Sim, from: &str, to: &str) -> String {
    let (from, to) = (
        cspctl::time::parse(from).expect("from"),
        cspctl::time::parse(to).expect("to"),
    );
    advance(sim, to - from)
}

/// The simulator's subscription named `name`.
fn subscription(sim: &Sim, name: &str) -> Value {
    sim_state(sim)["subscriptions"]
        .as_array()
        .expect("subscriptions")
        .iter()
        .find(|s| s["friendlyName"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no subscription {name}"))
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).expect("manifest");
    assert!(text.contains(from), "{from} in {}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).expect("write");
}

/// Adds `line` to the new-commerce subscription's spec.
fn add_to_spec(manifests: &Path, line: &str) {
    edit(
        &manifests.join("subscriptions.yaml"),
        "  reseller: northwind\n---",
        &format!("  reseller: northwind\n  {line}\n---"),
    );
}

fn no_changes(sim: &Sim, work: &Path, now: &str) {
    let plan = run(sim, work, now, &["plan", "m", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}

#[test]
fn a_decrease_outside_the_window_is_scheduled_and_the_renewal_applies_it() {
    let (sim, work, manifests) = bought_tenant();
    let (orders, subscriptions) = sim_counts(&sim);
    // Ten days on, the 168-hour window after the purchase has closed.
    let now = advance(&sim, 10 * DAY);
    edit(
        &manifests.join("subscriptions.yaml"),
        "quantity: 25",
        "quantity: 20",
    );

    let plan = run(&sim, work.path(), &now, &["plan", "m"]);
    assert!(plan.status.success(), "{}", text(&plan));
    let shown = text(&plan);
    assert!(
        shown.contains(&format!(
            "@ at renewal on 2027-03-01 (in 355 days) Subscription/{NCE_NAME}"
        )) && shown.contains("renewal.quantity: 25 → 20"),
        "{shown}"
    );
    assert!(
        shown.contains("Plan: 0 to create, 0 to update, 1 at renewal"),
        "{shown}"
    );
    let json = parse_json(&run(
        &sim,
        work.path(),
        &now,
        &["plan", "m", "--format", "json"],
    ));
    assert_eq!(json["actions"][0]["type"], "at_renewal");
    assert_eq!(
        json["actions"][0]["renewal"],
        json!({"date": "2027-03-01", "in_days": 355})
    );

    let apply = run(&sim, work.path(), &now, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let live = subscription(&sim, NCE_NAME);
    assert_eq!(live["quantity"], 25, "nothing changes before the renewal");
    assert_eq!(live["nextTerm"]["quantity"], 20, "{live:#}");
    // Written once: the next plan has nothing to do, and drift is in sync.
    no_changes(&sim, work.path(), &now);
    let drift = run(&sim, work.path(), &now, &["drift", "m"]);
    assert_eq!(drift.status.code(), Some(0), "{}", text(&drift));

    // The renewal, 00:00 UTC the day after the term's last day, applies it.
    let renewed = advance_to(&sim, &now, "2027-03-01T00:00:00Z");
    let live = subscription(&sim, NCE_NAME);
    assert_eq!(live["quantity"], 20, "{live:#}");
    assert!(live.get("nextTerm").is_none(), "{live:#}");
    no_changes(&sim, work.path(), &renewed);
    assert_eq!(sim_counts(&sim), (orders, subscriptions), "nothing bought");
}

#[test]
fn a_term_change_is_scheduled_for_the_renewal() {
    let (sim, work, manifests) = bought_tenant();
    edit(
        &manifests.join("subscriptions.yaml"),
        "termDuration: P1Y",
        "termDuration: P3Y",
    );
    // Inside the window too: a term changes only at renewal.
    let plan = run(&sim, work.path(), NOW, &["plan", "m"]);
    let shown = text(&plan);
    assert!(shown.contains("renewal.termDuration: P1Y → P3Y"), "{shown}");
    let apply = run(&sim, work.path(), NOW, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    no_changes(&sim, work.path(), NOW);
    let renewed = advance_to(&sim, NOW, "2027-03-01T00:00:00Z");
    let live = subscription(&sim, NCE_NAME);
    assert_eq!(
        (&live["term"], &live["quantity"]),
        (&json!("P3Y"), &json!(25)),
        "{live:#}"
    );
    no_changes(&sim, work.path(), &renewed);
}

#[test]
fn a_cancellation_inside_the_window_cancels_and_buys_nothing_again() {
    let (sim, work, manifests) = bought_tenant();
    let counts = sim_counts(&sim);
    let now = advance(&sim, 2 * DAY);
    add_to_spec(&manifests, "status: cancelled");
    let plan = run(&sim, work.path(), &now, &["plan", "m"]);
    let shown = text(&plan);
    assert!(
        shown.contains(&format!("x cancel Subscription/{NCE_NAME}"))
            && shown.contains("status: active → cancelled")
            && shown.contains("until 2026-03-08T10:00:00Z"),
        "{shown}"
    );
    let apply = run(&sim, work.path(), &now, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert_eq!(subscription(&sim, NCE_NAME)["status"], "deleted");
    // Cancelled stays cancelled: never bought again, never unmanaged.
    no_changes(&sim, work.path(), &now);
    assert_eq!(sim_counts(&sim), counts);
}

#[test]
fn a_cancellation_outside_the_window_is_refused_at_plan_time_then_ends_with_its_term() {
    let (sim, work, manifests) = bought_tenant();
    let counts = sim_counts(&sim);
    let now = advance(&sim, 10 * DAY);
    add_to_spec(&manifests, "status: cancelled\n  effective: now");
    let plan = run(&sim, work.path(), &now, &["plan", "m"]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    let shown = text(&plan);
    assert!(
        shown.contains("cannot be cancelled now")
            && shown.contains("2026-03-08T10:00:00Z")
            && shown.contains("ends at the end of its term (2027-02-28)")
            && shown.contains("subscriptions.yaml:"),
        "{shown}"
    );
    assert_eq!(
        subscription(&sim, NCE_NAME)["status"],
        "active",
        "nothing sent"
    );

    edit(
        &manifests.join("subscriptions.yaml"),
        "\n  effective: now",
        "",
    );
    let plan = run(&sim, work.path(), &now, &["plan", "m"]);
    let shown = text(&plan);
    assert!(
        shown.contains("autoRenew: true → false")
            && shown.contains("ends at the end of its term (2027-02-28)"),
        "{shown}"
    );
    let apply = run(&sim, work.path(), &now, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert_eq!(subscription(&sim, NCE_NAME)["autoRenewEnabled"], false);
    no_changes(&sim, work.path(), &now);

    let ended = advance_to(&sim, &now, "2027-03-01T00:00:00Z");
    assert_eq!(subscription(&sim, NCE_NAME)["status"], "expired");
    no_changes(&sim, work.path(), &ended);
    assert_eq!(
        sim_counts(&sim),
        counts,
        "an ended subscription is not bought again"
    );
}

/// Auto-renew off, as declared: the term ends and the subscription expires. A
/// manifest that still declares it active does not buy it again (a new purchase
/// nobody declared as one): a person decides, told how.
#[test]
fn a_subscription_whose_term_ended_is_not_bought_again() {
    let (sim, work, manifests) = bought_tenant();
    let now = advance(&sim, 10 * DAY);
    add_to_spec(&manifests, "autoRenew: false");
    let apply = run(&sim, work.path(), &now, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let counts = sim_counts(&sim);

    let ended = advance_to(&sim, &now, "2027-03-01T00:00:00Z");
    assert_eq!(subscription(&sim, NCE_NAME)["status"], "expired");
    let plan = run(&sim, work.path(), &ended, &["plan", "m"]);
    let shown = text(&plan);
    assert!(
        shown.contains(&format!("Subscription/{NCE_NAME}"))
            && shown.contains("is expired in Partner Center")
            && shown.contains("does not buy a subscription again once it has ended")
            && !shown.contains(&format!("+ create Subscription/{NCE_NAME}")),
        "{shown}"
    );
    let apply = run(&sim, work.path(), &ended, &["apply", "m", "--auto-approve"]);
    assert_eq!(
        sim_counts(&sim),
        counts,
        "an ended subscription is not bought again: {}",
        text(&apply)
    );
    // Declared ended, as the action says: nothing left to do.
    edit(
        &manifests.join("subscriptions.yaml"),
        "  autoRenew: false\n",
        "  autoRenew: false\n  status: cancelled\n",
    );
    no_changes(&sim, work.path(), &ended);
}

#[test]
fn drift_sees_a_scheduled_change_that_a_mid_term_change_deleted() {
    let (sim, work, manifests) = bought_tenant();
    let now = advance(&sim, 10 * DAY);
    edit(
        &manifests.join("subscriptions.yaml"),
        "quantity: 25",
        "quantity: 20",
    );
    let apply = run(&sim, work.path(), &now, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));

    // Someone adds seats in Partner Center: a mid-term change, which deletes the
    // scheduled one.
    let token = token(&sim);
    let live = subscription(&sim, NCE_NAME);
    let (customer, id) = (
        live["customerId"].as_str().expect("customer").to_owned(),
        live["id"].as_str().expect("id").to_owned(),
    );
    let url = format!(
        "{}/v1/customers/{customer}/subscriptions/{id}",
        sim.base_url()
    );
    let (_, mut resource) = http(reqwest::Method::GET, &url, Some(&token), None);
    resource["quantity"] = json!(30);
    let (status, patched) = http(reqwest::Method::PATCH, &url, Some(&token), Some(resource));
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["scheduledNextTermInstructions"], Value::Null);

    let drift = run(&sim, work.path(), &now, &["drift", "m", "--format", "json"]);
    assert_eq!(drift.status.code(), Some(2), "{}", text(&drift));
    let report = parse_json(&drift);
    let fields = &report["objects"][0]["fields"];
    assert_eq!(
        fields,
        &json!([{"path": "renewal.quantity", "live": 30, "declared": 20}]),
        "{report:#}"
    );
    // The next apply schedules it again.
    let apply = run(&sim, work.path(), &now, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert_eq!(subscription(&sim, NCE_NAME)["nextTerm"]["quantity"], 20);
}

#[test]
fn the_renewal_calendar_lists_renewals_in_text_json_and_markdown() {
    let (sim, work, manifests) = bought_tenant();
    let now = advance(&sim, 10 * DAY);
    edit(
        &manifests.join("subscriptions.yaml"),
        "quantity: 25",
        "quantity: 20",
    );
    let apply = run(&sim, work.path(), &now, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));

    // 30 days: only the monthly legacy subscription (renews 2026-04-01).
    let plan = run(&sim, work.path(), &now, &["plan", "m", "--renewals", "30d"]);
    let shown = text(&plan);
    assert!(
        shown.contains("Renewals:\n  2026-04-01 (in 21 days) Subscription/fabrikam-e3: 10 seats P1M, auto-renew on\n"),
        "{shown}"
    );
    assert!(!shown.contains(NCE_NAME), "{shown}");

    // A year: both, soonest first, with what the renewal changes.
    let json = parse_json(&run(
        &sim,
        work.path(),
        &now,
        &["plan", "m", "--renewals", "52w", "--format", "json"],
    ));
    let renewals = json["renewals"].as_array().expect("renewals");
    let addresses: Vec<&str> = renewals
        .iter()
        .map(|r| r["address"].as_str().expect("address"))
        .collect();
    assert_eq!(
        addresses,
        [
            "Subscription/fabrikam-e3",
            &format!("Subscription/{NCE_NAME}")
        ]
    );
    assert_eq!(
        renewals[1]["renews"],
        json!({"date": "2027-03-01", "in_days": 355})
    );
    assert_eq!(renewals[1]["quantity"], 25);
    assert_eq!(renewals[1]["nextTerm"]["quantity"], 20);

    let markdown = run(
        &sim,
        work.path(),
        &now,
        &["plan", "m", "--renewals", "52w", "--format", "markdown"],
    );
    let shown = text(&markdown);
    assert!(
        shown.contains("**Renewals** in the period:")
            && shown.contains(&format!(
                "- 2027-03-01 (in 355 days) Subscription/{NCE_NAME}: 25 seats P1Y, auto-renew on; at renewal: 20 seats P1Y monthly"
            )),
        "{shown}"
    );
    let drift = run(
        &sim,
        work.path(),
        &now,
        &["drift", "m", "--renewals", "30d", "--format", "markdown"],
    );
    assert_eq!(drift.status.code(), Some(0), "{}", text(&drift));
    assert!(
        text(&drift).contains("- 2026-04-01 (in 21 days) Subscription/fabrikam-e3: 10 seats P1M"),
        "{}",
        text(&drift)
    );
    // A bad period is a usage error naming what to write.
    let bad = run(
        &sim,
        work.path(),
        &now,
        &["plan", "m", "--renewals", "soon"],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("such as 30d"), "{}", text(&bad));
}

#[test]
fn a_saved_plan_schedules_and_removes_a_change_at_renewal() {
    let (sim, work, manifests) = bought_tenant();
    let now = advance(&sim, 10 * DAY);
    let file = manifests.join("subscriptions.yaml");
    edit(&file, "quantity: 25", "quantity: 20");
    // Reviewed, then applied exactly: apply PLANFILE derives the renewal.* changes
    // again from the operation and the live subscription.
    let plan = run(
        &sim,
        work.path(),
        &now,
        &["plan", "m", "--out", "plan.json"],
    );
    assert!(plan.status.success(), "{}", text(&plan));
    let apply = run(
        &sim,
        work.path(),
        &now,
        &["apply", "plan.json", "--auto-approve"],
    );
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert_eq!(subscription(&sim, NCE_NAME)["nextTerm"]["quantity"], 20);

    // Back to 25: the scheduled change is removed (`null`), also from a saved plan.
    edit(&file, "quantity: 20", "quantity: 25");
    let plan = run(
        &sim,
        work.path(),
        &now,
        &["plan", "m", "--out", "plan.json"],
    );
    let shown = text(&plan);
    assert!(
        shown.contains("renewal.quantity: 20 → 25")
            && shown.contains("removes the change scheduled for the renewal"),
        "{shown}"
    );
    let saved = std::fs::read_to_string(work.path().join("plan.json")).expect("plan");
    assert!(saved.contains("\"nextTerm\":null"), "{saved}");
    let apply = run(
        &sim,
        work.path(),
        &now,
        &["apply", "plan.json", "--auto-approve"],
    );
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert!(subscription(&sim, NCE_NAME).get("nextTerm").is_none());
    no_changes(&sim, work.path(), &now);
}

#[test]
fn the_local_state_keeps_terms_on_its_clock() {
    // The default backend runs the same tenant in process, on CSPCTL_NOW.
    let work = tempfile::tempdir().expect("temp dir");
    let manifests = work.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/basic");
    for entry in std::fs::read_dir(example).expect("example") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), manifests.join(entry.file_name())).expect("copy");
    }
    let local = |now: &str, args: &[&str]| {
        cspctl_command(args, work.path(), None)
            .env("CSPCTL_NOW", now)
            .output()
            .expect("cspctl runs")
    };
    let apply = local(NOW, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    edit(
        &manifests.join("subscriptions.yaml"),
        "quantity: 25",
        "quantity: 20",
    );
    let later = "2026-03-11T10:00:00Z";
    let plan = local(later, &["plan", "m"]);
    assert!(
        text(&plan).contains(&format!(
            "@ at renewal on 2027-03-01 (in 355 days) Subscription/{NCE_NAME}"
        )),
        "{}",
        text(&plan)
    );
    let apply = local(later, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let plan = local(later, &["plan", "m", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    // After the renewal the tenant has 20 seats: still nothing to do.
    let renewed = "2027-03-01T00:00:01Z";
    let plan = local(
        renewed,
        &["plan", "m", "--detailed-exitcode", "--renewals", "400d"],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(
        text(&plan).contains(&format!(
            "2028-03-01 (in 366 days) Subscription/{NCE_NAME}: 20 seats P1Y, auto-renew on"
        )),
        "{}",
        text(&plan)
    );
}

const BASIC: &str = "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM";
const STANDARD: &str = "CFQ7TTC0LDPB:0001:CFQ7TTC0K5BF";
const PREMIUM: &str = "CFQ7TTC0LCHC:0002:CFQ7TTC0K0XF";

/// Every file under `dir`, concatenated (in no particular order).
fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).expect("a directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.push_str(&all_text(&path));
        } else {
            out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    out
}

/// How many API requests the simulator has answered for paths ending in
/// `resource` (lowercase).
fn requests_to(sim: &Sim, resource: &str) -> u64 {
    let (status, body) = http(
        reqwest::Method::GET,
        &format!("{}/_sim/stats", sim.base_url()),
        None,
        None,
    );
    assert_eq!(status, 200, "{body}");
    body["byResource"][resource].as_u64().unwrap_or(0)
}

#[test]
fn another_sku_on_an_eligible_transition_is_scheduled_and_the_renewal_moves_it() {
    let (sim, work, manifests) = bought_tenant();
    let (orders, subscriptions) = sim_counts(&sim);
    let now = advance(&sim, 10 * DAY);
    // A plan that changes no SKU asks nothing about transitions.
    no_changes(&sim, work.path(), &now);
    assert_eq!(requests_to(&sim, "transitioneligibilities"), 0);
    edit(&manifests.join("subscriptions.yaml"), BASIC, STANDARD);

    let plan = run(&sim, work.path(), &now, &["plan", "m"]);
    assert!(plan.status.success(), "{}", text(&plan));
    let shown = text(&plan);
    assert!(
        shown.contains(&format!(
            "@ at renewal on 2027-03-01 (in 355 days) Subscription/{NCE_NAME}"
        )) && shown.contains("renewal.offerId:")
            && shown.contains(STANDARD),
        "{shown}"
    );
    // One eligibility read, for the one subscription whose SKU changes.
    assert_eq!(requests_to(&sim, "transitioneligibilities"), 1);

    let apply = run(&sim, work.path(), &now, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let live = subscription(&sim, NCE_NAME);
    assert_eq!(live["offerId"], BASIC, "nothing moves before the renewal");
    assert_eq!(live["nextTerm"]["offerId"], STANDARD, "{live:#}");
    let drift = run(&sim, work.path(), &now, &["drift", "m"]);
    assert_eq!(drift.status.code(), Some(0), "{}", text(&drift));
    // Scheduled once: a second apply has nothing to do.
    let again = run(&sim, work.path(), &now, &["apply", "m", "--auto-approve"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(text(&again).contains("No changes"), "{}", text(&again));
    no_changes(&sim, work.path(), &now);
    // Exported, the scheduled move is declared as the new offer at renewal,
    // and plans to nothing.
    let export = run(&sim, work.path(), &now, &["export", "--out", "exported"]);
    assert!(export.status.success(), "{}", text(&export));
    let exported = all_text(&work.path().join("exported"));
    assert!(
        exported.contains(&format!("offerId: {STANDARD}"))
            && exported.contains("effective: renewal"),
        "{exported}"
    );
    let replanned = run(
        &sim,
        work.path(),
        &now,
        &["plan", "exported", "--detailed-exitcode"],
    );
    assert_eq!(replanned.status.code(), Some(0), "{}", text(&replanned));

    let renewed = advance_to(&sim, &now, "2027-03-01T00:00:00Z");
    let live = subscription(&sim, NCE_NAME);
    assert_eq!(
        (&live["offerId"], &live["quantity"]),
        (&json!(STANDARD), &json!(25)),
        "{live:#}"
    );
    assert!(live.get("nextTerm").is_none(), "{live:#}");
    no_changes(&sim, work.path(), &renewed);
    assert_eq!(sim_counts(&sim), (orders, subscriptions), "nothing bought");
}

#[test]
fn another_sku_off_the_transition_paths_is_a_plan_error_naming_the_eligible_ones() {
    let (sim, work, manifests) = bought_tenant();
    let now = advance(&sim, 10 * DAY);
    // Office 365 E3: not a path the simulator offers Business Basic.
    let e3 = "CFQ7TTC0LF8Q:0001:CFQ7TTC0KCJV";
    edit(&manifests.join("subscriptions.yaml"), BASIC, e3);
    let plan = run(&sim, work.path(), &now, &["plan", "m"]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    let shown = text(&plan);
    assert!(
        shown.contains(&format!(
            "{e3} is not an eligible transition at renewal for {BASIC}; eligible: {STANDARD} (Microsoft 365 Business Standard), {PREMIUM} (Microsoft 365 Business Premium)"
        )) && shown.contains("subscriptions.yaml:9:"),
        "{shown}"
    );
    // `effective: now` is refused too: cspctl moves SKUs at renewal only.
    edit(&manifests.join("subscriptions.yaml"), e3, PREMIUM);
    add_to_spec(&manifests, "effective: now");
    let plan = run(&sim, work.path(), &now, &["plan", "m"]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    assert!(
        text(&plan).contains("only at its renewal"),
        "{}",
        text(&plan)
    );
}

#[test]
fn a_purchase_aligned_with_an_existing_subscription_ends_its_term_with_it() {
    let (sim, work, manifests) = bought_tenant();
    let now = advance(&sim, 10 * DAY);
    let aligned = "contoso-m365-business-standard";
    let file = manifests.join("subscriptions.yaml");
    let mut text_of = std::fs::read_to_string(&file).expect("manifest");
    text_of.push_str(&format!(
        "---\napiVersion: cspctl/v1\nkind: Subscription\nmetadata:\n  name: {aligned}\nspec:\n  customer: contoso\n  offerId: {STANDARD}\n  quantity: 5\n  termDuration: P1Y\n  billingCycle: monthly\n  reseller: northwind\n  termEndAlignedWith: {NCE_NAME}\n"
    ));
    std::fs::write(&file, text_of).expect("write");

    let plan = run(&sim, work.path(), &now, &["plan", "m"]);
    assert!(plan.status.success(), "{}", text(&plan));
    let shown = text(&plan);
    assert!(
        shown.contains(&format!("+ create Subscription/{aligned}"))
            && shown.contains("customTermEndDate")
            && shown.contains("2027-02-28")
            && shown.contains("the first term ends on 2027-02-28"),
        "{shown}"
    );
    assert_eq!(requests_to(&sim, "customtermenddates"), 1);

    let apply = run(&sim, work.path(), &now, &["apply", "m", "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let live = subscription(&sim, aligned);
    let last_day = cspctl::time::parse("2027-02-28T00:00:00Z").expect("date");
    assert_eq!(live["firstTermEnd"], last_day, "{live:#}");
    // The term the subscription answers with ends that day, as its target's.
    let (status, body) = http(
        reqwest::Method::GET,
        &format!(
            "{}/v1/customers/{}/subscriptions/{}",
            sim.base_url(),
            live["customerId"].as_str().expect("customer"),
            live["id"].as_str().expect("id")
        ),
        Some(&token(&sim)),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["commitmentEndDate"], "2027-02-28T00:00:00Z",
        "{body:#}"
    );
    no_changes(&sim, work.path(), &now);

    // Both renew together, the aligned one into a full term.
    let renewed = advance_to(&sim, &now, "2027-03-01T00:00:00Z");
    let live = subscription(&sim, aligned);
    assert_eq!(
        live["termStart"],
        cspctl::time::parse("2027-03-01T00:00:00Z").expect("date"),
        "{live:#}"
    );
    assert_eq!(live["status"], "active", "{live:#}");
    no_changes(&sim, work.path(), &renewed);
}

#[test]
fn a_term_end_aligned_with_a_subscription_not_bought_yet_is_a_plan_error() {
    let (sim, work, manifests) = bought_tenant();
    let file = manifests.join("subscriptions.yaml");
    let mut text_of = std::fs::read_to_string(&file).expect("manifest");
    text_of.push_str(&format!(
        "---\napiVersion: cspctl/v1\nkind: Subscription\nmetadata:\n  name: first\nspec:\n  customer: contoso\n  offerId: {STANDARD}\n  quantity: 5\n  termDuration: P1Y\n  billingCycle: monthly\n---\napiVersion: cspctl/v1\nkind: Subscription\nmetadata:\n  name: second\nspec:\n  customer: contoso\n  offerId: {PREMIUM}\n  quantity: 5\n  termDuration: P1Y\n  billingCycle: monthly\n  termEndAlignedWith: first\n"
    ));
    std::fs::write(&file, text_of).expect("write");
    let plan = run(&sim, work.path(), NOW, &["plan", "m"]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    assert!(
        text(&plan)
            .contains("aligns its term end with `first`, which is not in Partner Center (yet)"),
        "{}",
        text(&plan)
    );
}
