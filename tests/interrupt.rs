//! Ctrl-C during an apply, end to end against the simulator: the first SIGINT stops
//! new actions from starting while those in flight finish, the report says what
//! did not start, the exit code is 130, and the next apply converges with nothing
//! bought twice. Also: a plan that buys for an existing customer counts a purchase
//! another run has under way (an order still provisioning, not yet listed as a
//! subscription) as bought.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::{Sim, cspctl, cspctl_command, parse_json, sim_config, start_with, text};
use cspctl::sim::faults::Faults;
use serde_json::Value;

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A sandbox simulator slow enough (latency, provisioning) for an interrupt to land
/// while actions are in flight.
fn slow_sim() -> Sim {
    let mut config = sim_config(true);
    config.provisioning_delay = Duration::from_secs(1);
    config.faults = Faults {
        latency_min_ms: 150,
        latency_max_ms: 150,
        ..Faults::default()
    };
    start_with(config)
}

#[test]
fn ctrl_c_lets_actions_in_flight_finish_reports_and_the_next_apply_converges() {
    let sim = slow_sim();
    let work = tempfile::tempdir().expect("tempdir");
    let basic = example("basic");
    common::add_declared_resellers(&sim, std::path::Path::new(&basic));
    let mut child = cspctl_command(
        &[
            "apply",
            &basic,
            "--auto-approve",
            "--format",
            "json",
            "--parallelism",
            "2",
        ],
        work.path(),
        Some(&sim),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("cspctl starts");
    let mut events = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // Interrupt once the first action has finished and others are under way.
    for line in lines.by_ref() {
        let event: Value = serde_json::from_str(&line.expect("line")).expect("JSON event");
        let first_done = event["event"] == "finished";
        events.push(event);
        if first_done {
            let status = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success());
            break;
        }
    }
    for line in lines {
        events.push(serde_json::from_str(&line.expect("line")).expect("JSON event"));
    }
    let status = child.wait().expect("cspctl exits");
    let stderr = std::io::read_to_string(child.stderr.take().expect("stderr")).expect("stderr");
    assert_eq!(status.code(), Some(130), "{events:#?}\n{stderr}");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert!(kinds.contains(&"interrupted"), "{kinds:?}");
    let summary = events.last().expect("a summary");
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["exitCode"], 130);
    assert!(
        summary["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Apply interrupted")),
        "{summary}"
    );
    // Nothing started after the interruption, and what never started says so.
    let interrupted_at = kinds
        .iter()
        .position(|k| *k == "interrupted")
        .expect("index");
    assert!(
        !kinds[interrupted_at..].contains(&"started"),
        "an action started after the interruption: {kinds:?}"
    );
    let not_started = events
        .iter()
        .filter(|e| e["reason"] == "not started: the apply was interrupted")
        .count();
    assert!(not_started > 0, "{events:#?}");
    assert_eq!(summary["skipped"].as_u64(), Some(not_started as u64));
    // Every action that started finished (none abandoned by one Ctrl-C).
    let started = kinds.iter().filter(|k| **k == "started").count();
    let done = events
        .iter()
        .filter(|e| e["event"] == "failed" || e["outcome"] == "applied")
        .count();
    assert_eq!(started, done, "{events:#?}");

    let again = cspctl(
        &["apply", &basic, "--auto-approve"],
        work.path(),
        Some(&sim),
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let plan = cspctl(
        &["plan", &basic, "--format", "json"],
        work.path(),
        Some(&sim),
    );
    assert_eq!(parse_json(&plan)["summary"]["total"], 0, "{}", text(&plan));
    let state = common::sim_state(&sim);
    let orders = state["orders"].as_array().map_or(0, Vec::len);
    let subscriptions = state["subscriptions"].as_array().map_or(0, Vec::len);
    assert_eq!(orders, subscriptions, "one order per subscription");
}

#[test]
fn a_purchase_another_run_has_under_way_is_not_planned_again() {
    // Orders stay pending for ten minutes and their subscriptions are not listed
    // meanwhile: only the customer's order list shows the purchase.
    let mut config = sim_config(true);
    config.provisioning_delay = Duration::from_secs(600);
    config.order_list_lag = Duration::ZERO;
    config.faults.pending_subscriptions_unlisted = true;
    let sim = start_with(config);
    let work = tempfile::tempdir().expect("tempdir");
    let basic = example("basic");
    common::add_declared_resellers(&sim, std::path::Path::new(&basic));
    let (resellers, customers) = (
        format!("{basic}/resellers.yaml"),
        format!("{basic}/customers.yaml"),
    );
    let setup = cspctl(
        &["apply", &resellers, &customers, "--auto-approve"],
        work.path(),
        Some(&sim),
    );
    assert_eq!(setup.status.code(), Some(0), "{}", text(&setup));

    let plan = |label: &str| {
        let output = cspctl(
            &["plan", &basic, "--format", "json"],
            work.path(),
            Some(&sim),
        );
        assert_eq!(output.status.code(), Some(0), "{label}: {}", text(&output));
        let purchases: Vec<Value> = parse_json(&output)["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|a| a["operation"].clone())
            .filter(|op| op["op"] == "create_subscription")
            .collect();
        (
            purchases,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (before, _) = plan("before");
    assert_eq!(before.len(), 2, "{before:#?}");

    // Someone else buys the new-commerce one; its order is still provisioning.
    let bought = before
        .iter()
        .find(|op| op["offer_id"].as_str().is_some_and(|o| o.contains(':')))
        .expect("a new-commerce purchase");
    let customer = bought["customer"]["id"].as_str().expect("customer id");
    let token = common::token(&sim);
    let base = format!("{}/v1/customers/{customer}/carts", sim.base_url());
    let (status, cart) = common::http(
        reqwest::Method::POST,
        &base,
        Some(&token),
        Some(serde_json::json!({"lineItems": [{
            "id": 0,
            "catalogItemId": bought["offer_id"],
            "quantity": bought["quantity"],
            "billingCycle": bought["billing_cycle"],
            "termDuration": bought["term_duration"],
            "friendlyName": bought["friendly_name"],
            "participants": [{"key": "transaction_reseller", "value": bought["partner_id_on_record"]}],
        }]})),
    );
    assert_eq!(status, 201, "{cart}");
    let cart_id = cart["id"].as_str().expect("cart id");
    let (status, checkout) = common::http(
        reqwest::Method::POST,
        &format!("{base}/{cart_id}/checkout"),
        Some(&token),
        Some(serde_json::json!({})),
    );
    assert_eq!(status, 201, "{checkout}");
    assert_eq!(checkout["orders"][0]["status"], "pending", "{checkout}");

    let (after, stderr) = plan("after");
    assert_eq!(
        after.len(),
        1,
        "only the other purchase is left: {after:#?}"
    );
    assert_ne!(after[0]["friendly_name"], bought["friendly_name"]);
    assert!(
        stderr.contains("1 subscription(s) of orders still being provisioned were found"),
        "{stderr}"
    );
}
