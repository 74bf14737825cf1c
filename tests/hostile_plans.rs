//! Hostile-input catalogue, saved plans (issue 14, "Plans"): what a reviewer read
//! is what apply does. A saved plan whose operations say other than its changes
//! (what every rendering shows) is refused before anything is sent, naming the
//! action; a plan damaged or edited without its digest being made again is refused
//! as such. Each case edits a real plan made by `cspctl plan --out` on the local
//! backend, then checks that nothing was applied.

mod common;

use std::path::Path;

use common::{cspctl, text};
use cspctl::plan::{Operation, Plan};
use serde_json::Value;

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A workspace where examples/basic is applied and then Contoso's subscription is
/// raised from 25 to 30 seats, planned into `plan.json`.
fn workspace_with_a_saved_update() -> tempfile::TempDir {
    let work = tempfile::tempdir().expect("tempdir");
    let manifests = work.path().join("m");
    std::fs::create_dir(&manifests).expect("mkdir");
    for file in ["customers.yaml", "resellers.yaml", "subscriptions.yaml"] {
        std::fs::copy(format!("{}/{file}", example("basic")), manifests.join(file)).expect("copy");
    }
    let applied = cspctl(&["apply", "m", "--auto-approve"], work.path(), None);
    assert!(applied.status.success(), "{}", text(&applied));
    let subscriptions = manifests.join("subscriptions.yaml");
    let raised = std::fs::read_to_string(&subscriptions)
        .expect("read")
        .replacen("quantity: 25", "quantity: 30", 1);
    std::fs::write(&subscriptions, raised).expect("write");
    let planned = cspctl(&["plan", "m", "--out", "plan.json"], work.path(), None);
    assert!(planned.status.success(), "{}", text(&planned));
    work
}

/// A workspace where examples/basic is planned into `plan.json` on an empty local
/// state, and that plan.
fn a_saved_first_plan() -> (tempfile::TempDir, Plan) {
    let work = tempfile::tempdir().expect("tempdir");
    let planned = cspctl(
        &["plan", &example("basic"), "--out", "plan.json"],
        work.path(),
        None,
    );
    assert!(planned.status.success(), "{}", text(&planned));
    let plan = read(work.path());
    (work, plan)
}

/// The saved plan, read without its checks (as an editor of the file would).
fn read(work: &Path) -> Plan {
    let text = std::fs::read_to_string(work.join("plan.json")).expect("read plan");
    serde_json::from_str(&text).expect("a plan")
}

/// Writes `plan` with a digest made again, as a careful editor would: only the
/// comparison of operations with changes can catch it.
fn write_with_fresh_digest(work: &Path, mut plan: Plan) {
    plan.digest = None;
    std::fs::write(work.join("plan.json"), cspctl::render::render_json(&plan)).expect("write");
}

/// Applies `plan.json` and asserts it is refused (exit 1) with every one of
/// `fragments` in its output; returns the output.
fn refused_saying(work: &Path, fragments: &[&str]) -> String {
    let output = cspctl(&["apply", "plan.json", "--auto-approve"], work, None);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    for fragment in fragments {
        assert!(all.contains(fragment), "missing {fragment:?} in:\n{all}");
    }
    all
}

/// Applies `plan.json` and asserts it is refused with `fragments`, and that the
/// change it holds is still to be made (nothing was applied).
fn assert_refused(work: &Path, fragments: &[&str]) {
    refused_saying(work, fragments);
    let again = cspctl(&["plan", "m", "--detailed-exitcode"], work, None);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("quantity"), "{}", text(&again));
}

fn update_patch(plan: &mut Plan) -> &mut cspctl::plan::SubscriptionPatch {
    let action = plan
        .actions
        .iter_mut()
        .find(|a| a.address == "Subscription/contoso-m365-business-basic")
        .expect("the update");
    match &mut action.operation {
        Operation::UpdateSubscription { patch, .. } => patch,
        other => panic!("not an update: {other:?}"),
    }
}

#[test]
fn an_edited_operation_is_refused_naming_the_action() {
    let work = workspace_with_a_saved_update();
    let mut plan = read(work.path());
    update_patch(&mut plan).quantity = Some(300);
    write_with_fresh_digest(work.path(), plan);
    assert_refused(
        work.path(),
        &[
            "Subscription/contoso-m365-business-basic",
            "disagree on `quantity`",
            "nothing was applied",
        ],
    );
}

#[test]
fn edited_changes_are_refused_not_ignored() {
    let work = workspace_with_a_saved_update();
    let mut plan = read(work.path());
    let action = plan
        .actions
        .iter_mut()
        .find(|a| a.address == "Subscription/contoso-m365-business-basic")
        .expect("the update");
    action.changes[0].after = serde_json::json!(3);
    write_with_fresh_digest(work.path(), plan);
    assert_refused(
        work.path(),
        &["Subscription/contoso-m365-business-basic", "`quantity`"],
    );
}

#[test]
fn a_patch_that_sends_more_than_the_changes_show_is_refused() {
    let work = workspace_with_a_saved_update();
    let mut plan = read(work.path());
    update_patch(&mut plan).auto_renew = Some(false);
    write_with_fresh_digest(work.path(), plan);
    assert_refused(work.path(), &["disagree on `autoRenew`"]);
}

#[test]
fn another_subscription_or_reseller_of_record_is_refused() {
    let work = workspace_with_a_saved_update();
    let mut plan = read(work.path());
    if let Some(Operation::UpdateSubscription {
        subscription_id, ..
    }) = plan
        .actions
        .iter_mut()
        .find(|a| a.address == "Subscription/contoso-m365-business-basic")
        .map(|a| &mut a.operation)
    {
        *subscription_id = "00000000-0000-0000-0000-000000000000".into();
    }
    write_with_fresh_digest(work.path(), plan);
    assert_refused(work.path(), &["another object than its precondition names"]);

    let work = workspace_with_a_saved_update();
    let mut plan = read(work.path());
    update_patch(&mut plan).partner_id = Some(Some("9999999".into()));
    write_with_fresh_digest(work.path(), plan);
    assert_refused(work.path(), &["another reseller of record"]);

    // The reseller table edited along with the purchases' reseller of record:
    // its ids are no live reseller's and no creation's in the plan.
    let (work, mut plan) = a_saved_first_plan();
    plan.resellers
        .get_mut("northwind")
        .expect("northwind")
        .mpn_id = "9999999".into();
    for action in &mut plan.actions {
        if let Operation::CreateSubscription {
            partner_id_on_record,
            ..
        } = &mut action.operation
        {
            *partner_id_on_record = Some("9999999".into());
        }
    }
    write_with_fresh_digest(work.path(), plan);
    refused_saying(
        work.path(),
        &["`resellers.northwind` holds ids that no live reseller"],
    );
}

#[test]
fn a_purchase_edited_after_review_is_refused() {
    let (work, mut plan) = a_saved_first_plan();
    let actions = plan.actions.len();
    for action in &mut plan.actions {
        if let Operation::CreateSubscription { quantity, .. } = &mut action.operation {
            *quantity = 2500;
        }
    }
    write_with_fresh_digest(work.path(), plan);
    refused_saying(
        work.path(),
        &[
            "Subscription/contoso-m365-business-basic",
            "Subscription/fabrikam-e3",
        ],
    );
    // Nothing was applied: the whole plan is still to do.
    let again = cspctl(
        &["plan", &example("basic"), "--format", "json"],
        work.path(),
        None,
    );
    let again: Value = serde_json::from_slice(&again.stdout).expect("a JSON plan");
    assert_eq!(again["actions"].as_array().map(Vec::len), Some(actions));
}

#[test]
fn a_damaged_plan_file_is_refused_by_its_digest_and_an_intact_one_applies() {
    let work = workspace_with_a_saved_update();
    let original = std::fs::read_to_string(work.path().join("plan.json")).expect("read");
    let damaged = original.replacen("\"after\":30", "\"after\":31", 1);
    assert_ne!(damaged, original);
    std::fs::write(work.path().join("plan.json"), &damaged).expect("write");
    assert_refused(work.path(), &["does not match its digest"]);

    std::fs::write(work.path().join("plan.json"), &original).expect("write");
    let output = cspctl(&["apply", "plan.json", "--auto-approve"], work.path(), None);
    assert!(output.status.success(), "{}", text(&output));
    let again = cspctl(&["plan", "m", "--detailed-exitcode"], work.path(), None);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}
