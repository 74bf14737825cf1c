//! The snapshot cache on a tenant of 2,000 customers (issue 16, "Plans that cost
//! what changed"): after a full apply, a plan of one changed subscription and a
//! change made in the portal (the simulator's admin API) found by `drift`, each
//! with the Partner Center calls it made (the `cost` every run reports). A
//! snapshot past `--max-cache-age` is read again in full: `sim_e2e`,
//! `every_run_reports_what_it_cost_in_partner_center_calls` (a small tenant
//! shows it as well, for 4,000 fewer calls).
//!
//! Against the simulator over HTTP, as the partner-center backend runs in CI.

mod common;

use std::path::Path;

use common::{Sim, cspctl, http, parse_json, sim_config, start_with, text, token};
use serde_json::{Value, json};

const CUSTOMERS: usize = 2_000;
/// The bound for a plan of one changed subscription, and for `drift`
/// (plus the audit log's pages).
const BOUND: u64 = 40;

/// The reseller and `CUSTOMERS` customers with one new-commerce subscription
/// each, in one file.
fn write_tenant(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::copy(
        format!(
            "{}/examples/basic/resellers.yaml",
            env!("CARGO_MANIFEST_DIR")
        ),
        dir.join("resellers.yaml"),
    )
    .expect("copy");
    let mut all = String::new();
    for i in 0..CUSTOMERS {
        all.push_str(&customer(i, 5));
    }
    std::fs::write(dir.join("customers.yaml"), all).expect("write");
}

fn customer(i: usize, quantity: u32) -> String {
    format!(
        "---\napiVersion: cspctl/v1\nkind: Customer\nmetadata:\n  name: c{i:04}\nspec:\n  domain: c{i:04}-demo.onmicrosoft.com\n  companyName: Customer {i:04}\n  resellers: [northwind]\n  billing:\n    email: it@c{i:04}.example\n    culture: en-GB\n    language: en\n    address:\n      firstName: Ben\n      lastName: Miller\n      addressLine1: 10 Downing Lane\n      city: London\n      postalCode: SW1A 2AA\n      country: GB\n  agreement:\n    contact:\n      firstName: Ben\n      lastName: Miller\n      email: ben@c{i:04}.example\n    dateAgreed: \"2026-01-15\"\n---\napiVersion: cspctl/v1\nkind: Subscription\nmetadata:\n  name: c{i:04}-m365\nspec:\n  customer: c{i:04}\n  offerId: CFQ7TTC0LH18:0001:CFQ7TTC0K5DM\n  quantity: {quantity}\n  termDuration: P1Y\n  billingCycle: monthly\n  friendlyName: C{i:04} Microsoft 365 Business Basic\n  reseller: northwind\n"
    )
}

fn set_quantity(dir: &Path, i: usize, quantity: u32) {
    let path = dir.join("customers.yaml");
    let all = std::fs::read_to_string(&path).expect("read");
    let changed = all.replacen(&customer(i, 5), &customer(i, quantity), 1);
    assert_ne!(changed, all, "customer {i} is in the file");
    std::fs::write(path, changed).expect("write");
}

fn cost(report: &Value) -> (u64, &Value) {
    (
        report["cost"]["requests"].as_u64().expect("cost.requests"),
        &report["cost"]["read"],
    )
}

/// A customer's id and its one subscription, as Partner Center answers.
fn find_subscription(sim: &Sim, token: &str, domain: &str) -> (String, Value) {
    let state = common::sim_state(sim);
    let customer = state["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .find(|c| c.to_string().contains(domain))
        .unwrap_or_else(|| panic!("{domain} in the simulator"));
    let id = customer["id"]
        .as_str()
        .or_else(|| customer["tenantId"].as_str())
        .expect("customer id")
        .to_owned();
    let (status, subscriptions) = http(
        reqwest::Method::GET,
        &format!("{}/v1/customers/{id}/subscriptions", sim.base_url()),
        Some(token),
        None,
    );
    assert_eq!(status, 200, "{subscriptions}");
    (id, subscriptions["items"][0].clone())
}

/// Someone sets a subscription's quantity in the Partner Center portal (the
/// simulator's admin API): a change outside cspctl, in the audit log as the
/// portal's. A new token each time: one lasts an hour of the simulated clock.
fn portal_change(sim: &Sim, domain: &str, quantity: u64) {
    let (customer, mut subscription) = find_subscription(sim, &token(sim), domain);
    let sid = subscription["id"].as_str().expect("id").to_owned();
    subscription["quantity"] = json!(quantity);
    let (status, answer) = http(
        reqwest::Method::PATCH,
        &format!(
            "{}/_sim/customers/{customer}/subscriptions/{sid}",
            sim.base_url()
        ),
        None,
        Some(subscription),
    );
    assert_eq!(status, 200, "{answer}");
}

/// The simulator with `examples/basic` applied through the partner-center
/// backend, the working directory, and the example's path.
fn applied_basic() -> (Sim, tempfile::TempDir, String) {
    let sim = start_with(sim_config(true));
    let cwd = tempfile::tempdir().expect("tempdir");
    let basic = format!("{}/examples/basic", env!("CARGO_MANIFEST_DIR"));
    common::add_declared_resellers(&sim, Path::new(&basic));
    let applied = cspctl(&["apply", &basic, "--auto-approve"], cwd.path(), Some(&sim));
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    (sim, cwd, basic)
}

/// The snapshot file a run left in `cwd`'s `.cspctl/`.
fn snapshot_file(cwd: &Path) -> std::path::PathBuf {
    std::fs::read_dir(cwd.join(".cspctl"))
        .expect(".cspctl")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".snapshot.json"))
        .expect("a snapshot beside the purchase journal")
}

#[test]
fn a_large_tenant_costs_calls_in_proportion_to_what_changed() {
    // Purchases provision at once: 2,000 of them at the default 300 ms would
    // only make the test slower.
    let sim = start_with(cspctl::sim::SimConfig {
        provisioning_delay: std::time::Duration::ZERO,
        ..sim_config(true)
    });
    let cwd = tempfile::tempdir().expect("tempdir");
    let m = cwd.path().join("m");
    write_tenant(&m);
    common::add_declared_resellers(&sim, &m);

    // A full apply: no snapshot yet, so the tenant is read whole, then what the
    // apply changed is read again for the snapshot.
    let applied = cspctl(
        &["apply", "m", "--auto-approve", "--format", "json"],
        cwd.path(),
        Some(&sim),
    );
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let snapshot = snapshot_file(cwd.path());
    assert!(
        std::fs::metadata(&snapshot).expect("metadata").len() > 0,
        "the apply left a snapshot beside the purchase journal"
    );

    // 1. A plan that changes one customer's subscription.
    set_quantity(&m, 1234, 9);
    let plan = cspctl(&["plan", "m", "--format", "json"], cwd.path(), Some(&sim));
    assert!(plan.status.success(), "{}", text(&plan));
    let plan = parse_json(&plan);
    let actions: Vec<&str> = plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["address"].as_str().expect("address"))
        .collect();
    assert_eq!(actions, ["Subscription/c1234-m365"], "{plan:#}");
    assert_eq!(plan["actions"][0]["changes"][0]["after"], json!(9));
    let (calls, read) = cost(&plan);
    assert_eq!(read["mode"], "incremental", "{read}");
    assert_eq!(
        read["changed"], 0,
        "the apply's own changes are known: {read}"
    );
    assert_eq!(
        read["planned"], 1,
        "the changed customer is read live: {read}"
    );
    assert!(
        calls <= BOUND,
        "a one-subscription plan made {calls} calls: {read}"
    );
    eprintln!("one-subscription plan: {calls} calls; {read}");

    // 2. Someone changes a subscription in the portal; drift finds it.
    portal_change(&sim, "c0077-demo", 7);
    let drift = cspctl(&["drift", "m", "--format", "json"], cwd.path(), Some(&sim));
    assert_eq!(drift.status.code(), Some(2), "{}", text(&drift));
    let drift = parse_json(&drift);
    let drifted: Vec<&str> = drift["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["address"].as_str().expect("address"))
        .collect();
    // c1234 is still planned to change (the manifest says 9), and c0077 drifted.
    assert_eq!(
        drifted,
        ["Subscription/c0077-m365", "Subscription/c1234-m365"],
        "{drift:#}"
    );
    let (calls, read) = cost(&drift);
    let records = read["auditRecords"].as_u64().expect("auditRecords");
    let pages = records.div_ceil(500).max(1);
    assert_eq!(read["changed"], 1, "the portal's change: {read}");
    assert!(
        calls <= BOUND + pages,
        "drift made {calls} calls ({pages} audit pages): {read}"
    );
    eprintln!("drift after a portal change: {calls} calls ({pages} audit pages); {read}");
}

/// A damaged snapshot is a cache miss, never a failed run or a wrong plan: the
/// run says what is wrong with it, reads the whole tenant and writes a good one.
#[test]
fn a_damaged_snapshot_is_read_again_from_partner_center() {
    let (sim, cwd, basic) = applied_basic();
    let path = snapshot_file(cwd.path());
    let addresses = |plan: &Value| -> Vec<String> {
        plan["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|a| a["address"].as_str().expect("address").to_owned())
            .collect()
    };
    let baseline = addresses(&parse_json(&cspctl(
        &["plan", &basic, "--format", "json", "--refresh=full"],
        cwd.path(),
        Some(&sim),
    )));
    for damage in [&b"{\"format\": 1, \"live\": tru"[..], b"\xff\xfe", b""] {
        std::fs::write(&path, damage).expect("damage");
        let plan = cspctl(
            &["plan", &basic, "--format", "json"],
            cwd.path(),
            Some(&sim),
        );
        let all = text(&plan);
        assert!(plan.status.success(), "{all}");
        assert!(
            all.contains("warning: the snapshot cannot be refreshed")
                && all.contains(&format!(
                    ".cspctl/{}",
                    path.file_name().expect("a name").to_string_lossy()
                )),
            "{all}"
        );
        let plan = parse_json(&plan);
        assert_eq!(plan["cost"]["read"]["mode"], "full", "{}", plan["cost"]);
        assert_eq!(
            addresses(&plan),
            baseline,
            "the same plan as from a full read"
        );
        // The run wrote a good one: the next refreshes it.
        let again = parse_json(&cspctl(
            &["plan", &basic, "--format", "json"],
            cwd.path(),
            Some(&sim),
        ));
        assert_eq!(
            again["cost"]["read"]["mode"], "incremental",
            "{}",
            again["cost"]
        );
    }
}

/// A snapshot older than the audit log's 30-day window per request is refreshed
/// window by window: changes in the first and in the last are both seen.
#[test]
fn a_refresh_across_more_than_one_audit_window_sees_every_change() {
    let (sim, cwd, basic) = applied_basic();
    let advance = |days: i64| {
        let (status, answer) = http(
            reqwest::Method::POST,
            &format!("{}/_sim/clock/advance", sim.base_url()),
            None,
            Some(json!({"seconds": days * 86_400})),
        );
        assert_eq!(status, 200, "{answer}");
    };
    advance(2);
    portal_change(&sim, "contoso", 31);
    advance(33);
    portal_change(&sim, "fabrikam", 17);
    let drift = common::cspctl_command(
        &[
            "drift",
            &basic,
            "--format",
            "json",
            "--max-cache-age",
            "60d",
        ],
        cwd.path(),
        Some(&sim),
    )
    .env("CSPCTL_NOW", "2026-04-05T10:00:00Z")
    .output()
    .expect("cspctl runs");
    assert_eq!(drift.status.code(), Some(2), "{}", text(&drift));
    let drift = parse_json(&drift);
    assert_eq!(
        drift["cost"]["read"]["mode"], "incremental",
        "{}",
        drift["cost"]
    );
    let quantities: Vec<Value> = drift["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .flat_map(|o| o["fields"].as_array().cloned().unwrap_or_default())
        // `quantity`, or `renewal.quantity` for a term that renewed since.
        .filter(|f| f["path"].as_str().is_some_and(|p| p.ends_with("quantity")))
        .map(|f| f["live"].clone())
        .collect();
    assert!(
        quantities.contains(&json!(31)) && quantities.contains(&json!(17)),
        "{drift:#}"
    );
}
