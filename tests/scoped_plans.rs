//! Scoped plans (issue 16, "Plans that cost what changed"): a plan of one changed
//! subscription reads that customer, not the tenant, and says what it did not
//! refresh; a saved scoped plan applies with the same scope; `--changed-since`
//! scopes to the manifest files git says changed, deleted ones included, whose
//! live objects show as unmanaged instead of going unseen.
//!
//! Against the simulator, as a pull-request pipeline runs against Partner Center,
//! with the calls each run reports (`cost`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{Sim, cspctl, parse_json, sim_config, start_with, text};
use serde_json::Value;

const CUSTOMERS: usize = 12;

/// A reseller and `CUSTOMERS` customers, one file each, with one legacy
/// subscription each.
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
    for i in 1..=CUSTOMERS {
        std::fs::write(
            dir.join(format!("c{i:02}.yaml")),
            format!(
                "apiVersion: cspctl/v1\nkind: Customer\nmetadata:\n  name: c{i:02}\nspec:\n  domain: c{i:02}-demo.onmicrosoft.com\n  companyName: Customer {i:02}\n  resellers: [northwind]\n  billing:\n    email: it@c{i:02}.example\n    culture: en-GB\n    language: en\n    address:\n      firstName: Ben\n      lastName: Miller\n      addressLine1: 10 Downing Lane\n      city: London\n      postalCode: SW1A 2AA\n      country: GB\n---\napiVersion: cspctl/v1\nkind: Subscription\nmetadata:\n  name: c{i:02}-e3\nspec:\n  customer: c{i:02}\n  offerId: 031c9e47-4802-4248-838e-778fb1d2cc05\n  quantity: 5\n  termDuration: P1M\n  billingCycle: monthly\n  friendlyName: C{i:02} Office 365 E3\n  reseller: northwind\n"
            ),
        )
        .expect("write");
    }
}

/// The simulator with the tenant applied, and the working directory holding it
/// under `m/`.
fn applied_tenant() -> (Sim, tempfile::TempDir) {
    let sim = start_with(sim_config(true));
    let cwd = tempfile::tempdir().expect("tempdir");
    write_tenant(&cwd.path().join("m"));
    common::add_declared_resellers(&sim, &cwd.path().join("m"));
    let applied = cspctl(&["apply", "m", "--auto-approve"], cwd.path(), Some(&sim));
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    (sim, cwd)
}

fn plan_json(args: &[&str], cwd: &Path, sim: &Sim) -> Value {
    let mut all = vec!["plan", "m", "--format", "json"];
    all.extend_from_slice(args);
    let output = cspctl(&all, cwd, Some(sim));
    assert!(output.status.success(), "{}", text(&output));
    parse_json(&output)
}

fn requests(plan: &Value) -> u64 {
    plan["cost"]["requests"].as_u64().expect("cost.requests")
}

fn addresses(plan: &Value) -> Vec<String> {
    plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["address"].as_str().expect("address").to_owned())
        .collect()
}

fn set_quantity(cwd: &Path, customer: usize, quantity: u32) {
    let path = cwd.join(format!("m/c{customer:02}.yaml"));
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replace("quantity: 5", &format!("quantity: {quantity}")),
    )
    .expect("write");
}

/// On the local state, read whole while the manifests are checked, a scoped plan
/// shows only its scope: what changed elsewhere waits for its own plan, and the
/// customers outside it are not taken for unmanaged ones.
#[test]
fn a_scoped_plan_on_the_local_state_shows_only_its_scope() {
    let cwd = tempfile::tempdir().expect("tempdir");
    write_tenant(&cwd.path().join("m"));
    let local = ["--state", "state.json"];
    let applied = cspctl(
        &["apply", "m", "--auto-approve", local[0], local[1]],
        cwd.path(),
        None,
    );
    assert!(
        matches!(applied.status.code(), Some(0 | 3)),
        "{}",
        text(&applied)
    );
    set_quantity(cwd.path(), 3, 8);
    set_quantity(cwd.path(), 7, 9);
    let plan = |extra: &[&str]| {
        let mut args = vec!["plan", "m", "--format", "json", local[0], local[1]];
        args.extend_from_slice(extra);
        let output = cspctl(&args, cwd.path(), None);
        assert!(output.status.success(), "{}", text(&output));
        parse_json(&output)
    };
    assert_eq!(
        addresses(&plan(&[])),
        ["Subscription/c03-e3", "Subscription/c07-e3"]
    );
    for scope in [
        vec!["--target", "Subscription/c07-e3"],
        vec!["--customer", "c07"],
    ] {
        let scoped = plan(&scope);
        assert_eq!(addresses(&scoped), ["Subscription/c07-e3"], "{scope:?}");
        assert_eq!(scoped["scope"]["customers"], serde_json::json!(["c07"]));
        // The other customers were read, but are not the scope's: not unmanaged.
        assert_eq!(scoped["unmanaged"], serde_json::json!([]), "{scope:?}");
    }
}

#[test]
fn a_scoped_plan_reads_the_customer_it_changes_and_says_what_it_left_out() {
    let (sim, cwd) = applied_tenant();
    set_quantity(cwd.path(), 7, 9);
    let full = plan_json(&["--refresh=full"], cwd.path(), &sim);
    assert_eq!(addresses(&full), ["Subscription/c07-e3"]);
    assert!(full.get("scope").is_none());

    for scope in [
        vec!["--target", "Subscription/c07-e3"],
        vec!["--customer", "c07"],
    ] {
        let scoped = plan_json(&scope, cwd.path(), &sim);
        assert_eq!(addresses(&scoped), ["Subscription/c07-e3"], "{scope:?}");
        assert_eq!(scoped["scope"]["customers"], serde_json::json!(["c07"]));
        assert_eq!(
            scoped["scope"]["notRefreshed"],
            serde_json::json!(CUSTOMERS - 1)
        );
        // The full read grows with the tenant; the scoped one with the change.
        assert!(
            requests(&scoped) * 4 <= requests(&full),
            "{scope:?}: scoped {} calls, full {}",
            requests(&scoped),
            requests(&full)
        );
    }
    let shown = text(&cspctl(
        &["plan", "m", "--target", "Subscription/c07-e3"],
        cwd.path(),
        Some(&sim),
    ));
    assert!(
        shown
            .contains("Scope: c07; 11 declared customer(s) outside it were not read or refreshed."),
        "{shown}"
    );

    // A reseller touches every customer that names it.
    let reseller = plan_json(&["--target", "Reseller/northwind"], cwd.path(), &sim);
    assert_eq!(reseller["scope"]["notRefreshed"], serde_json::json!(0));
    assert_eq!(addresses(&reseller), ["Subscription/c07-e3"]);

    let unknown = cspctl(
        &["plan", "m", "--target", "Subscription/nope"],
        cwd.path(),
        Some(&sim),
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        text(&unknown).contains("no Subscription manifest is named nope"),
        "{}",
        text(&unknown)
    );
}

#[test]
fn a_saved_scoped_plan_applies_with_its_scope() {
    let (sim, cwd) = applied_tenant();
    set_quantity(cwd.path(), 3, 8);
    let saved = cspctl(
        &["plan", "m", "--customer", "c03", "--out", "plan.json"],
        cwd.path(),
        Some(&sim),
    );
    assert!(saved.status.success(), "{}", text(&saved));
    let refused = cspctl(
        &["apply", "plan.json", "--auto-approve", "--customer", "c03"],
        cwd.path(),
        Some(&sim),
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("carries its own scope"),
        "{}",
        text(&refused)
    );

    let applied = cspctl(
        &["apply", "plan.json", "--auto-approve", "--format", "json"],
        cwd.path(),
        Some(&sim),
    );
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let summary = common::parse_json_lines(&applied.stdout, false)
        .into_iter()
        .find(|e| e["event"] == "summary")
        .expect("summary event");
    let full = plan_json(&["--refresh=full"], cwd.path(), &sim);
    assert!(
        full["actions"].as_array().expect("actions").is_empty(),
        "{full}"
    );
    assert!(
        summary["cost"]["requests"].as_u64().expect("cost") < requests(&full),
        "apply of a scoped plan read only its scope: {summary} vs a full read of {}",
        requests(&full)
    );

    // Apply from manifests with a scope plans and applies only that scope.
    set_quantity(cwd.path(), 4, 6);
    set_quantity(cwd.path(), 5, 6);
    let applied = cspctl(
        &["apply", "m", "--auto-approve", "--target", "Customer/c04"],
        cwd.path(),
        Some(&sim),
    );
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    assert_eq!(
        addresses(&plan_json(&[], cwd.path(), &sim)),
        ["Subscription/c05-e3"]
    );
}

fn git(cwd: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(["-c", "user.email=ci@example.com", "-c", "user.name=ci"])
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", text(&output));
}

#[test]
fn changed_since_scopes_to_the_files_git_says_changed_deleted_ones_included() {
    let (sim, cwd) = applied_tenant();
    git(cwd.path(), &["init", "-q", "."]);
    git(cwd.path(), &["add", "m"]);
    git(cwd.path(), &["commit", "-q", "-m", "tenant"]);

    let nothing = plan_json(&["--changed-since", "HEAD"], cwd.path(), &sim);
    assert_eq!(nothing["scope"]["customers"], serde_json::json!([]));
    assert_eq!(
        nothing["scope"]["notRefreshed"],
        serde_json::json!(CUSTOMERS)
    );

    set_quantity(cwd.path(), 2, 7);
    std::fs::remove_file(cwd.path().join("m/c09.yaml")).expect("delete a customer's file");
    let scoped = plan_json(&["--changed-since", "HEAD"], cwd.path(), &sim);
    assert_eq!(
        scoped["scope"]["customers"],
        serde_json::json!(["c02"]),
        "{}",
        scoped["scope"]
    );
    assert_eq!(addresses(&scoped), ["Subscription/c02-e3"]);
    // The deleted customer is read: what it holds is unmanaged, never "missing".
    let unmanaged: Vec<String> = scoped["unmanaged"]
        .as_array()
        .expect("unmanaged")
        .iter()
        .map(|u| u["kind"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert!(
        unmanaged.contains(&"Customer".to_owned())
            && unmanaged.contains(&"Subscription".to_owned()),
        "{}",
        scoped["unmanaged"]
    );
    assert!(requests(&scoped) * 3 <= requests(&plan_json(&["--refresh=full"], cwd.path(), &sim)));

    let outside = cspctl(&["plan", "m", "--changed-since"], cwd.path(), Some(&sim));
    assert_eq!(outside.status.code(), Some(1));
    assert!(
        text(&outside).contains("needs a revision"),
        "{}",
        text(&outside)
    );
}
