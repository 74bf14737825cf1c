//! The local backend under a kill: an apply killed (SIGKILL) in the middle of its
//! work loses no change that was answered, buys nothing twice, and the next apply
//! finishes the job from the journals it left (`STATE.journal`, `STATE.purchases`).
//! The kill comes after a number of finished actions read from the apply's own
//! events, never after a sleep; the apply cannot have finished by then, because
//! its events outgrow the pipe's buffer and it waits for them to be read.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

const CUSTOMERS: usize = 200;
const RESELLER_TENANT: &str = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const NOW: &str = "2026-03-01T10:00:00Z";

/// A reseller, then per customer a customer and three subscriptions (two legacy
/// offers and a new-commerce one): 801 actions, purchases most of them, whose
/// events are far more than a pipe holds.
fn write_manifests(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut text = format!(
        "apiVersion: cspctl/v1\nkind: Reseller\nmetadata:\n  name: northwind\nspec:\n  tenantId: {RESELLER_TENANT}\n  mpnId: \"4847383\"\n  displayName: Northwind Traders\n"
    );
    for n in 0..CUSTOMERS {
        text.push_str(&format!(
            r#"---
apiVersion: cspctl/v1
kind: Customer
metadata:
  name: customer-{n}
spec:
  domain: customer-{n}.onmicrosoft.com
  companyName: Customer {n}
  resellers: [northwind]
  agreement:
    contact: {{ firstName: Ana, lastName: Bowman, email: ana@customer-{n}.example }}
    dateAgreed: "2026-01-15"
  billing:
    email: billing@customer-{n}.example
    culture: en-US
    language: en
    address:
      firstName: Ana
      lastName: Bowman
      addressLine1: 1 Main St
      city: Redmond
      state: WA
      postalCode: "98052"
      country: US
---
apiVersion: cspctl/v1
kind: Subscription
metadata:
  name: customer-{n}-exchange
spec:
  customer: customer-{n}
  offerId: 195416c1-3447-423a-b37b-ee59a99a19c4
  quantity: {q1}
  termDuration: P1M
  billingCycle: monthly
---
apiVersion: cspctl/v1
kind: Subscription
metadata:
  name: customer-{n}-e3
spec:
  customer: customer-{n}
  offerId: 031c9e47-4802-4248-838e-778fb1d2cc05
  quantity: {q2}
  termDuration: P1M
  billingCycle: monthly
---
apiVersion: cspctl/v1
kind: Subscription
metadata:
  name: customer-{n}-m365
spec:
  customer: customer-{n}
  offerId: CFQ7TTC0LH18:0001:CFQ7TTC0K5DM
  quantity: {q3}
  termDuration: P1Y
  billingCycle: monthly
"#,
            q1 = n + 1,
            q2 = n + 2,
            q3 = n + 3,
        ));
    }
    std::fs::write(dir.join("tenant.yaml"), text).expect("manifests");
}

fn cspctl(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cspctl"));
    command
        .current_dir(dir)
        .env("CSPCTL_NOW", NOW)
        .env("NO_COLOR", "1");
    command
}

/// The subscriptions in the state file, as (customer id, friendly name).
fn subscriptions(state: &Path) -> Vec<(String, String)> {
    let value: Value =
        serde_json::from_slice(&std::fs::read(state).expect("state")).expect("state json");
    value["subscriptions"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| {
            (
                s["customerId"].as_str().unwrap_or_default().to_owned(),
                s["friendlyName"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn killed_apply_then_rerun(kill_after: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    write_manifests(&dir.path().join("manifests"));
    let mut child = cspctl(dir.path())
        .args([
            "apply",
            "manifests",
            "--state",
            "state.json",
            "--auto-approve",
            "--format",
            "json",
            "--parallelism",
            "8",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("apply starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut finished = 0;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if line.contains("\"event\":\"finished\"") {
            finished += 1;
            if finished == kill_after {
                break;
            }
        }
    }
    // SIGKILL: no destructor, no flush, no compaction.
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        dir.path().join("state.json.journal").exists(),
        "killed half-way, the apply leaves its journal"
    );

    let again = cspctl(dir.path())
        .args([
            "apply",
            "manifests",
            "--state",
            "state.json",
            "--auto-approve",
        ])
        .output()
        .expect("apply runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        again.status.code(),
        Some(0),
        "after a kill at {kill_after}:\n{text}"
    );

    let bought = subscriptions(&dir.path().join("state.json"));
    assert_eq!(
        bought.len(),
        CUSTOMERS * 3,
        "every subscription exactly once after a kill at {kill_after}: {bought:?}"
    );
    let mut unique = bought.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        bought.len(),
        "nothing bought twice: {bought:?}"
    );
    assert!(!dir.path().join("state.json.journal").exists());
    // Every purchase settled; the purchase journal keeps one generation per
    // subscription bought, each settled once (issue 15, item 3).
    let purchases =
        cspctl::backend::partner_center::journal::read(&dir.path().join("state.json.purchases"))
            .expect("purchase journal");
    assert!(purchases.open.is_empty(), "{:?}", purchases.open);
    assert_eq!(purchases.generations.len(), CUSTOMERS * 3);
    assert!(
        purchases.generations.values().all(|next| *next == 1),
        "{:?}",
        purchases.generations
    );

    let plan = cspctl(dir.path())
        .args([
            "plan",
            "manifests",
            "--state",
            "state.json",
            "--detailed-exitcode",
        ])
        .output()
        .expect("plan runs");
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&plan.stdout)
    );
}

#[test]
fn an_apply_killed_early_loses_nothing_and_buys_nothing_twice() {
    killed_apply_then_rerun(3);
}

#[test]
fn an_apply_killed_half_way_loses_nothing_and_buys_nothing_twice() {
    killed_apply_then_rerun(40);
}

#[test]
fn an_apply_killed_late_loses_nothing_and_buys_nothing_twice() {
    killed_apply_then_rerun(400);
}
