//! The migration of a version 1 local state file (written by the release whose local
//! backend was `tenant.rs`) into the simulator's state, checked end to end: each
//! fixture under `tests/fixtures/state-v1/` is migrated, the simulator is started on
//! the result, cspctl's real Partner Center client reads the live snapshot from it,
//! and that must equal what the old release read from the same file
//! (`<name>.live.json`, recorded with that release; see the fixtures' README.md).
//! Whatever differs is a loss in the migration (or a simulator bug), except what
//! [`normalize`] lists with its reason.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use cspctl::backend::Backend;
use cspctl::backend::local::migrate::{from_local_v1, is_local_v1};
use cspctl::backend::partner_center::{
    Credentials, PartnerCenterBackend, PartnerCenterConfig, Secret,
};
use cspctl::live::Live;
use cspctl::sim::{SimConfig, State, spawn};
use serde_json::Value;

/// After every creation date in the fixtures (the live view does not depend on it:
/// a new-commerce cancellation window is reported from the creation date).
const READ_AT: &str = "2026-03-25T00:00:00Z";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/state-v1")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    let path = fixture(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// What cspctl's Partner Center client reads from a simulator started on `state`
/// (saved as its state file, the way the local backend will keep it).
fn live_through_the_simulator(state: &State) -> Live {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("state.json");
    let json = serde_json::to_vec_pretty(state).expect("the state serializes");
    std::fs::write(&path, json).expect("the state is written");
    let defaults = SimConfig::default();
    let config = SimConfig {
        // The simulator takes the provider from its configuration, not the file.
        partner_tenant_id: state.partner.tenant_id.clone(),
        partner_mpn_id: state.partner.mpn_id.clone(),
        partner_name: state.partner.name.clone(),
        sandbox: true,
        sandbox_reseller_limit: None,
        state_path: Some(path),
        start_time: READ_AT.to_owned(),
        frozen_clock: true,
        ..SimConfig::default()
    };
    common::install_tls_provider();
    let sim = spawn(config, "127.0.0.1:0".parse().expect("an address")).expect("starts");
    let mut backend = PartnerCenterBackend::new(PartnerCenterConfig {
        endpoint: sim.base_url(),
        authority: sim.base_url(),
        sandbox: true,
        credentials: Credentials {
            tenant_id: state.partner.tenant_id.clone(),
            client_id: defaults.client_id.clone(),
            client_secret: Secret::new(defaults.client_secret.clone()),
            refresh_token: Some(Secret::new(defaults.refresh_token.clone())),
        },
        read_concurrency: 4,
        provisioning_timeout: Duration::from_secs(10),
        timeout: None,
        max_response_bytes: cspctl::backend::partner_center::DEFAULT_MAX_RESPONSE_BYTES,
    })
    .expect("a client");
    let live = backend.read_live().expect("the snapshot reads");
    sim.stop();
    live
}

/// Differences that are not the migration's. The fixtures have none: everything
/// the old release showed, the simulator answers and the client reads the same.
/// Three can arise in other files, from the reader's rules rather than from the
/// migrated data, and are left out of the fixtures (the old release never wrote
/// them; `src/backend/local/migrate.rs` documents each): the support contact of a
/// deleted legacy subscription (the reader does not ask for one), a customer with
/// several attestations whose last one names an earlier `dateAgreed` (the reader
/// takes the latest date, the old view the last record), and a creation date
/// written with an offset (answered in UTC). Each one added here must say why
/// Partner Center (or its reader) legitimately shows it otherwise.
///
/// One field is newer than the old release's view and left out here: a
/// subscription's term end (`commitmentEndDate`), which the old release never
/// read; the simulator now answers it for every subscription, from the migrated
/// creation date and term.
fn normalize(mut live: Live) -> Live {
    for subscription in live.subscriptions.values_mut() {
        subscription.commitment_end_date = None;
    }
    live
}

/// The first JSON path where `actual` and `expected` differ, with both values.
fn first_difference(actual: &Value, expected: &Value, path: &str) -> Option<String> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(e.keys()).collect();
            keys.into_iter().find_map(|key| {
                let here = format!("{path}/{key}");
                match (a.get(key), e.get(key)) {
                    (Some(a), Some(e)) => first_difference(a, e, &here),
                    (a, e) => Some(format!("{here}: read {a:?}, expected {e:?}")),
                }
            })
        }
        (Value::Array(a), Value::Array(e)) if a.len() == e.len() => a
            .iter()
            .zip(e)
            .enumerate()
            .find_map(|(i, (a, e))| first_difference(a, e, &format!("{path}/{i}"))),
        _ if actual == expected => None,
        _ => Some(format!("{path}: read {actual}, expected {expected}")),
    }
}

fn assert_reads_as_before(name: &str) {
    let state = from_local_v1(&read(&format!("{name}.json")))
        .unwrap_or_else(|e| panic!("{name}.json does not migrate: {e}"));
    let expected: Live = serde_json::from_slice(&read(&format!("{name}.live.json")))
        .expect("the recorded live view parses");
    assert!(
        !expected.customers.is_empty() && !expected.subscriptions.is_empty(),
        "the fixture has something to compare"
    );
    let actual = normalize(live_through_the_simulator(&state));
    let as_json = |live: &Live| serde_json::to_value(live).expect("serializes");
    if let Some(difference) = first_difference(&as_json(&actual), &as_json(&expected), "") {
        panic!(
            "{name}.json read through the simulator differs from what the old release read ({name}.live.json) at {difference}\nread:\n{}",
            serde_json::to_string_pretty(&actual).unwrap_or_default()
        );
    }
}

#[test]
fn the_cycle_state_reads_the_same_after_migration() {
    assert_reads_as_before("state");
}

#[test]
fn a_state_with_every_kind_of_object_reads_the_same_after_migration() {
    assert_reads_as_before("full");
}

#[test]
fn the_fixtures_are_version_1_and_migrate_deterministically() {
    for name in ["state.json", "full.json"] {
        let bytes = read(name);
        let value: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert!(is_local_v1(&value), "{name}");
        let first = from_local_v1(&bytes).expect("migrates");
        let second = from_local_v1(&bytes).expect("migrates");
        assert_eq!(
            serde_json::to_string(&first).expect("JSON"),
            serde_json::to_string(&second).expect("JSON"),
            "{name}"
        );
        // The migrated state is not taken for a version 1 file again.
        let migrated = serde_json::to_value(&first).expect("JSON");
        assert!(!is_local_v1(&migrated), "{name} migrated");
        let error = from_local_v1(&serde_json::to_vec(&migrated).expect("JSON"))
            .expect_err("a simulator state is not migrated again");
        assert!(
            error.to_string().contains("already a simulator state"),
            "{error}"
        );
    }
}

#[test]
fn a_damaged_file_is_refused_naming_the_problem() {
    let bytes = read("full.json");
    let truncated = &bytes[..bytes.len() * 2 / 3];
    let error = from_local_v1(truncated).expect_err("truncated").to_string();
    assert!(error.contains("is not valid JSON"), "{error}");
    assert!(error.contains("EOF while parsing"), "{error}");
    assert!(error.contains("backup"), "says what to do: {error}");

    let mut value: Value = serde_json::from_slice(&bytes).expect("JSON");
    let subscriptions = value["subscriptions"]
        .as_object_mut()
        .expect("subscriptions by id");
    let (id, subscription) = subscriptions.iter_mut().next().expect("a subscription");
    let id = id.clone();
    subscription["termDuration"] = Value::from("P2Y");
    assert!(is_local_v1(&value), "still a version 1 file");
    let error = from_local_v1(&serde_json::to_vec(&value).expect("JSON"))
        .expect_err("an unknown term")
        .to_string();
    assert!(
        error.starts_with(&format!(
            "subscription {id}: `termDuration` is `P2Y`, which is not a term"
        )),
        "{error}"
    );
    assert!(
        error.contains("edit the state file"),
        "says what to do: {error}"
    );
}

#[test]
fn a_newer_format_is_not_taken_for_version_1() {
    for version in [2, 3, 17] {
        let mut value: Value = serde_json::from_slice(&read("state.json")).expect("JSON");
        value["formatVersion"] = Value::from(version);
        assert!(!is_local_v1(&value), "format version {version}");
        let error = from_local_v1(&serde_json::to_vec(&value).expect("JSON"))
            .expect_err("not version 1")
            .to_string();
        assert!(
            error.contains(&format!("format version {version}")),
            "{error}"
        );
    }
}

/// Runs the cspctl binary in `dir` at `READ_AT`.
fn cspctl(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cspctl"))
        .args(args)
        .current_dir(dir)
        .env("CSPCTL_NOW", READ_AT)
        .env("NO_COLOR", "1")
        .output()
        .expect("cspctl runs")
}

#[test]
fn the_cli_plans_on_an_older_file_and_apply_writes_it_in_the_new_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.json");
    std::fs::write(&state, read("full.json")).expect("copied");
    let manifests = fixture("manifests/step2");
    let manifests = manifests.to_str().expect("utf-8 path");
    let text = |output: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };

    let plan = cspctl(
        dir.path(),
        &[
            "plan",
            manifests,
            "--state",
            "state.json",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert_eq!(
        std::fs::read(&state).expect("state"),
        read("full.json"),
        "a plan reads the older file in memory and leaves it as it is"
    );

    let apply = cspctl(
        dir.path(),
        &[
            "apply",
            manifests,
            "--state",
            "state.json",
            "--auto-approve",
        ],
    );
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let written: Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state")).expect("json");
    assert_eq!(
        written["formatVersion"], 2,
        "apply writes the migrated tenant"
    );
    assert!(!is_local_v1(&written));

    let again = cspctl(
        dir.path(),
        &[
            "plan",
            manifests,
            "--state",
            "state.json",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}

#[test]
fn a_journal_an_older_release_left_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.json");
    let old: Value = serde_json::from_slice(&read("full.json")).expect("json");
    std::fs::write(&state, read("full.json")).expect("copied");
    // What the older release's apply left when it was killed: its header names the
    // file's revision, its lines are operations.
    std::fs::write(
        dir.path().join("state.json.journal"),
        format!(
            "{{\"baseRevision\":{}}}\n{{\"now\":\"{READ_AT}\",\"operation\":{{\"type\":\"manual\"}}}}\n{{\"now\":\"{READ_AT}\",\"operation\":{{\"type\":\"manual\"}}}}\n",
            old["revision"]
        ),
    )
    .expect("journal");
    let manifests = fixture("manifests/step2");
    let plan = cspctl(
        dir.path(),
        &[
            "plan",
            manifests.to_str().expect("utf-8"),
            "--state",
            "state.json",
        ],
    );
    let stderr = String::from_utf8_lossy(&plan.stderr);
    assert_eq!(plan.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("older cspctl") && stderr.contains("state.json.journal"),
        "{stderr}"
    );
}
