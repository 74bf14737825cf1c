//! `cspctl drift`: exit 0 in sync, 2 drift, 1 error; every drifted field with its
//! live and declared value; unmanaged objects; `--customer` scoping, on the local
//! backend and against the simulator (where a scoped job must read less).

mod common;

use std::path::{Path, PathBuf};

use common::{cspctl, http, parse_json, sim_stats, start, text, token};
use serde_json::{Value, json};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// A copy of an example in `work/m`, applied to the local state `work/state.json`.
fn applied_locally(work: &Path, name: &str) -> PathBuf {
    let manifests = work.join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    for entry in std::fs::read_dir(example(name)).expect("example") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), manifests.join(entry.file_name())).expect("copy");
    }
    let apply = cspctl(
        &["apply", "m", "--auto-approve", "--state", "state.json"],
        work,
        None,
    );
    assert!(
        matches!(apply.status.code(), Some(0 | 3)),
        "{}",
        text(&apply)
    );
    manifests
}

fn drift(work: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["drift", "m", "--state", "state.json"];
    args.extend_from_slice(extra);
    cspctl(&args, work, None)
}

/// Replaces the first `from` in a manifest file.
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).expect("manifest");
    assert!(text.contains(from), "{from} in {}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).expect("write");
}

#[test]
fn in_sync_is_exit_0_and_a_changed_field_is_exit_2_with_both_values() {
    let work = tempfile::tempdir().expect("temp dir");
    let manifests = applied_locally(work.path(), "basic");

    let same = drift(work.path(), &[]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(text(&same).contains("In sync"), "{}", text(&same));

    // The manifest now says 30 where Partner Center has 25: that is drift.
    edit(
        &manifests.join("subscriptions.yaml"),
        "quantity: 25",
        "quantity: 30",
    );
    let changed = drift(work.path(), &[]);
    assert_eq!(changed.status.code(), Some(2), "{}", text(&changed));
    let out = text(&changed);
    assert!(
        out.contains("Subscription/contoso-m365-business-basic (differs)"),
        "{out}"
    );
    assert!(
        out.contains("quantity: 25 in Partner Center, 30 in the manifest"),
        "{out}"
    );
    assert!(out.contains("m/subscriptions.yaml:6:9"), "{out}");

    let json = drift(work.path(), &["--format", "json"]);
    assert_eq!(json.status.code(), Some(2), "{}", text(&json));
    let report = parse_json(&json);
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["in_sync"], false);
    assert_eq!(
        report["summary"],
        json!({"changed": 1, "fields": 1, "missing": 0, "unmanaged": 0})
    );
    let object = &report["objects"][0];
    assert_eq!(object["kind"], "changed");
    assert_eq!(
        object["fields"],
        json!([{"path": "quantity", "live": 25, "declared": 30}])
    );
    assert_eq!(object["source"]["line"], 6);
}

#[test]
fn unmanaged_objects_are_drift_unless_ignored_and_missing_ones_are_reported() {
    let work = tempfile::tempdir().expect("temp dir");
    let manifests = applied_locally(work.path(), "basic");

    // Someone bought a subscription outside git: here, a manifest is dropped, so
    // its live subscription is in no manifest.
    let subscriptions = manifests.join("subscriptions.yaml");
    let text_before = std::fs::read_to_string(&subscriptions).expect("read");
    let first_document_end = text_before.find("\n---\n").expect("two documents");
    std::fs::write(&subscriptions, &text_before[first_document_end + 5..]).expect("write");
    let unmanaged = drift(work.path(), &["--format", "json"]);
    assert_eq!(unmanaged.status.code(), Some(2), "{}", text(&unmanaged));
    let report = parse_json(&unmanaged);
    assert_eq!(report["summary"]["unmanaged"], 1, "{report:#}");
    assert_eq!(report["unmanaged"][0]["kind"], "Subscription");

    let ignored = drift(work.path(), &["--ignore-unmanaged"]);
    assert_eq!(ignored.status.code(), Some(0), "{}", text(&ignored));
    assert!(
        text(&ignored).contains("1 unmanaged (ignored)"),
        "{}",
        text(&ignored)
    );

    // A declared subscription Partner Center does not have is missing.
    std::fs::write(&subscriptions, &text_before).expect("restore");
    edit(
        &subscriptions,
        "name: contoso-m365-business-basic",
        "name: contoso-m365-second",
    );
    let missing = drift(work.path(), &["--format", "json"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    let report = parse_json(&missing);
    let kinds: Vec<(&str, &str)> = report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            (
                o["address"].as_str().expect("address"),
                o["kind"].as_str().expect("kind"),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("Subscription/contoso-m365-second", "missing")),
        "{report:#}"
    );
    // The subscription it used to match is now in no manifest.
    assert_eq!(report["summary"]["unmanaged"], 1, "{report:#}");
}

#[test]
fn customer_scope_reports_only_that_customer_and_unknown_names_are_errors() {
    let work = tempfile::tempdir().expect("temp dir");
    let manifests = applied_locally(work.path(), "basic");
    edit(
        &manifests.join("subscriptions.yaml"),
        "quantity: 25",
        "quantity: 30",
    );
    // contoso drifted, fabrikam did not.
    let fabrikam = drift(work.path(), &["--customer", "fabrikam"]);
    assert_eq!(fabrikam.status.code(), Some(0), "{}", text(&fabrikam));
    let contoso = drift(work.path(), &["--customer", "contoso", "--format", "json"]);
    assert_eq!(contoso.status.code(), Some(2), "{}", text(&contoso));
    let report = parse_json(&contoso);
    assert_eq!(report["scope"], json!(["contoso"]));
    for object in report["objects"].as_array().expect("objects") {
        assert_eq!(object["customer"], "contoso", "{report:#}");
    }

    let unknown = drift(work.path(), &["--customer", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown));
    let out = text(&unknown);
    assert!(out.contains("`nobody`"), "{out}");
    assert!(out.contains("contoso, fabrikam"), "{out}");
}

#[test]
fn broken_manifests_are_exit_1_not_drift() {
    let work = tempfile::tempdir().expect("temp dir");
    let manifests = applied_locally(work.path(), "basic");
    edit(
        &manifests.join("subscriptions.yaml"),
        "quantity: 25",
        "quantity: lots",
    );
    let broken = drift(work.path(), &[]);
    assert_eq!(broken.status.code(), Some(1), "{}", text(&broken));
    assert!(
        text(&broken).contains("subscriptions.yaml:10:"),
        "{}",
        text(&broken)
    );
}

/// Someone changes a quantity in Partner Center directly; returns the customer
/// id and the quantity it had.
fn raise_a_quantity_directly(sim: &common::Sim) -> (String, u64) {
    let token = token(sim);
    let (_, customers) = http(
        reqwest::Method::GET,
        &format!("{}/v1/customers?size=10", sim.base_url()),
        Some(&token),
        None,
    );
    for customer in customers["items"].as_array().expect("customers") {
        let id = customer["id"].as_str().expect("id");
        let (_, subscriptions) = http(
            reqwest::Method::GET,
            &format!("{}/v1/customers/{id}/subscriptions", sim.base_url()),
            Some(&token),
            None,
        );
        // A suspended subscription's quantity cannot change (Partner Center 2001).
        let active = subscriptions["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|s| s["status"].as_str() == Some("active"))
        });
        let Some(subscription) = active else {
            continue;
        };
        let mut subscription = subscription.clone();
        let sub_id = subscription["id"].as_str().expect("id").to_owned();
        let quantity = subscription["quantity"].as_u64().expect("quantity");
        subscription["quantity"] = json!(quantity + 1);
        debug_assert_eq!(subscription["id"], json!(sub_id));
        common::patch_subscription_directly(
            sim,
            &token,
            id,
            subscription,
            "quantity",
            json!(quantity + 1),
        );
        return (id.to_owned(), quantity);
    }
    panic!("no customer with a subscription");
}

fn requests(sim: &common::Sim) -> u64 {
    sim_stats(sim)["requests"].as_u64().expect("request count")
}

#[test]
fn drift_through_the_api_is_found_and_a_scoped_job_reads_less() {
    let sim = start(true);
    let work = tempfile::tempdir().expect("temp dir");
    let dir = example("multi-reseller");
    let path = dir.to_str().expect("utf-8");
    assert!(common::add_declared_resellers(&sim, &dir) > 0);
    // Apply what cspctl can; relationships wait for a customer to accept them, so
    // the tenant is not in sync, and drift must say exactly what plan says.
    let apply = cspctl(&["apply", path, "--auto-approve"], work.path(), Some(&sim));
    assert!(
        matches!(apply.status.code(), Some(0 | 3)),
        "{}",
        text(&apply)
    );
    let plan = cspctl(&["plan", path, "--format", "json"], work.path(), Some(&sim));
    let plan = parse_json(&plan);
    let report = cspctl(
        &["drift", path, "--format", "json"],
        work.path(),
        Some(&sim),
    );
    let report_value = parse_json(&report);
    // Drift and plan agree: one drifted object per action.
    let addresses = |value: &Value, key: &str| -> Vec<String> {
        value[key]
            .as_array()
            .expect("list")
            .iter()
            .map(|a| a["address"].as_str().expect("address").to_owned())
            .collect()
    };
    assert_eq!(
        addresses(&report_value, "objects"),
        addresses(&plan, "actions")
    );
    let baseline_in_sync = report_value["in_sync"] == true;
    assert_eq!(
        report.status.code(),
        Some(if baseline_in_sync { 0 } else { 2 }),
        "{}",
        text(&report)
    );

    let (customer_id, quantity) = raise_a_quantity_directly(&sim);
    let before = requests(&sim);
    // A full read (no snapshot refresh): what a job without a scope costs when
    // it reads every customer.
    let whole = cspctl(
        &["drift", path, "--format", "json", "--refresh=full"],
        work.path(),
        Some(&sim),
    );
    let whole_requests = requests(&sim) - before;
    assert_eq!(whole.status.code(), Some(2), "{}", text(&whole));
    let whole = parse_json(&whole);
    let drifted: Vec<&Value> = whole["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["fields"].as_array().is_some_and(|f| !f.is_empty()))
        .filter(|o| o["fields"][0]["path"] == "quantity")
        .collect();
    assert_eq!(drifted.len(), 1, "{whole:#}");
    assert_eq!(drifted[0]["fields"][0]["live"], json!(quantity + 1));
    assert_eq!(drifted[0]["fields"][0]["declared"], json!(quantity));
    let name = drifted[0]["customer"]
        .as_str()
        .expect("customer")
        .to_owned();

    // Scoped to that customer: the same field, and fewer requests (only its
    // details are read).
    let before = requests(&sim);
    let scoped = cspctl(
        &["drift", path, "--customer", &name, "--format", "json"],
        work.path(),
        Some(&sim),
    );
    let scoped_requests = requests(&sim) - before;
    assert_eq!(scoped.status.code(), Some(2), "{}", text(&scoped));
    let scoped = parse_json(&scoped);
    assert!(
        scoped["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .all(|o| o["customer"] == json!(name)),
        "{scoped:#}"
    );
    assert!(
        scoped["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .any(|o| o["fields"][0]["path"] == "quantity"),
        "{scoped:#}"
    );
    assert!(
        scoped_requests < whole_requests,
        "a job scoped to customer {customer_id} made {scoped_requests} requests, the whole tenant {whole_requests}"
    );
}
