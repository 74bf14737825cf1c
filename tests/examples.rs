//! Every example under `examples/` must validate, plan and apply on a fresh local
//! state, converge (after the manual steps its plan asks for are simulated with the
//! command the plan prints), and then plan no changes. Two fresh applies must write
//! byte-identical state files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW: &str = "2026-03-01T10:00:00Z";

fn cspctl(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cspctl"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("CSPCTL_NOW", NOW)
        .output()
        .expect("cspctl runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn example_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("examples/ exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            std::fs::read_dir(p).expect("dir").any(|e| {
                e.expect("entry")
                    .path()
                    .extension()
                    .is_some_and(|x| x == "yaml")
            })
        })
        .collect();
    dirs.sort();
    dirs
}

/// The `cspctl local accept-relationship ...` commands a plan's manual steps print.
fn acceptance_commands(plan_json: &str) -> Vec<Vec<String>> {
    let plan: serde_json::Value = serde_json::from_str(plan_json).expect("plan JSON");
    plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["type"] == "manual")
        .filter_map(|a| a["instructions"].as_str())
        .filter_map(|text| text.split("cspctl ").nth(1))
        .map(|command| command.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// Applies an example into `state` until it converges; returns the state file's
/// bytes, then the purchase journal's.
fn converge(example: &Path, work: &Path) -> Vec<u8> {
    let dir = example.to_str().expect("utf-8 path");
    let state = work.join("state.json");
    let state = state.to_str().expect("utf-8 path");

    let validate = cspctl(&["validate", dir], work);
    assert!(
        validate.status.success(),
        "validate {dir}:\n{}",
        text(&validate)
    );

    let plan = cspctl(
        &["plan", dir, "--state", state, "--detailed-exitcode"],
        work,
    );
    assert_eq!(
        plan.status.code(),
        Some(2),
        "first plan of {dir} has changes:\n{}",
        text(&plan)
    );

    for round in 0..3 {
        let apply = cspctl(&["apply", dir, "--state", state, "--auto-approve"], work);
        let code = apply.status.code();
        assert!(
            matches!(code, Some(0 | 3)),
            "apply {dir} (round {round}) failed:\n{}",
            text(&apply)
        );
        if code == Some(0) {
            break;
        }
        let plan_json = cspctl(&["plan", dir, "--state", state, "--format", "json"], work);
        let commands = acceptance_commands(&String::from_utf8_lossy(&plan_json.stdout));
        assert!(
            !commands.is_empty(),
            "apply exited 3 but the plan names no manual step to simulate:\n{}",
            text(&plan_json)
        );
        for command in commands {
            let args: Vec<&str> = command.iter().map(String::as_str).collect();
            let accept = cspctl(&args, work);
            assert!(accept.status.success(), "{command:?}:\n{}", text(&accept));
        }
    }

    let again = cspctl(
        &["plan", dir, "--state", state, "--detailed-exitcode"],
        work,
    );
    assert_eq!(
        again.status.code(),
        Some(0),
        "plan after apply of {dir} must have no changes:\n{}",
        text(&again)
    );
    assert!(text(&again).contains("No changes."), "{}", text(&again));
    // What plan read (the typed snapshot) is what the client's requests read.
    let backend = cspctl::backend::local::LocalBackend::open(
        work.join("state.json"),
        "2026-03-01T10:00:00Z".to_owned(),
        None,
    )
    .expect("opens");
    assert_eq!(
        backend.read_live_scoped(None),
        backend.read_live_through_client().expect("reads"),
        "{dir}: typed snapshot and client read differ"
    );
    // The purchase journal keeps each subscription's purchase generation: the same
    // applies write the same one, byte for byte (the request ids derived from it
    // are the same in every run).
    let purchases = std::fs::read(work.join("state.json.purchases")).unwrap_or_default();
    let mut state = std::fs::read(work.join("state.json")).expect("state written");
    let bought =
        serde_json::from_slice::<serde_json::Value>(&state).expect("state JSON")["subscriptions"]
            .as_array()
            .is_some_and(|s| !s.is_empty());
    assert_eq!(
        !purchases.is_empty(),
        bought,
        "{dir}: the purchase journal keeps a generation per subscription bought"
    );
    state.extend_from_slice(b"\n--- state.json.purchases ---\n");
    state.extend_from_slice(&purchases);
    state
}

#[test]
fn every_example_validates_plans_applies_and_converges() {
    let examples = example_dirs();
    assert!(
        examples.len() >= 2,
        "examples/basic and examples/multi-reseller at least: {examples:?}"
    );
    for example in examples {
        let first = tempfile::tempdir().expect("temp dir");
        let second = tempfile::tempdir().expect("temp dir");
        let a = converge(&example, first.path());
        let b = converge(&example, second.path());
        assert!(
            a == b,
            "two applies of {} wrote different state files or purchase journals",
            example.display()
        );
    }
}

#[test]
fn the_readme_quick_start_runs_on_the_default_state_path() {
    // `cargo run --release -- apply examples/basic --auto-approve` from the repository
    // root, reproduced in a scratch copy so the test leaves the tree clean.
    let work = tempfile::tempdir().expect("temp dir");
    let examples = work.path().join("examples");
    std::fs::create_dir_all(examples.join("basic")).expect("mkdir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/basic");
    for entry in std::fs::read_dir(&source).expect("examples/basic") {
        let path = entry.expect("entry").path();
        std::fs::copy(
            &path,
            examples.join("basic").join(path.file_name().expect("name")),
        )
        .expect("copy");
    }
    let apply = cspctl(&["apply", "examples/basic", "--auto-approve"], work.path());
    assert!(apply.status.success(), "{}", text(&apply));
    assert!(
        text(&apply)
            .contains("Apply complete: 6 applied, 0 failed, 0 skipped, 0 waiting on a person."),
        "{}",
        text(&apply)
    );
    assert!(work.path().join(".cspctl/state.json").is_file());
    let plan = cspctl(
        &["plan", "examples/basic", "--detailed-exitcode"],
        work.path(),
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}

#[test]
fn a_second_apply_waits_for_the_lock_then_fails_clearly() {
    let work = tempfile::tempdir().expect("temp dir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/basic");
    let state = work.path().join("state.json");
    let lock = std::fs::File::create(work.path().join("state.json.lock")).expect("lock file");
    lock.lock().expect("hold the lock like a running apply");
    let apply = cspctl(
        &[
            "apply",
            example.to_str().expect("path"),
            "--state",
            state.to_str().expect("path"),
            "--auto-approve",
            "--lock-timeout",
            "1",
        ],
        work.path(),
    );
    assert_eq!(apply.status.code(), Some(1), "{}", text(&apply));
    assert!(text(&apply).contains("lock"), "{}", text(&apply));
    assert!(
        !state.exists(),
        "nothing may be written while another apply holds the lock"
    );
    drop(lock);
    let apply = cspctl(
        &[
            "apply",
            example.to_str().expect("path"),
            "--state",
            state.to_str().expect("path"),
            "--auto-approve",
        ],
        work.path(),
    );
    assert!(apply.status.success(), "{}", text(&apply));
}

/// yaml-language-server reads the `$schema` modeline among each document's own
/// comments (as `export` writes them): a file whose modeline is only at the top gets
/// its second document and later ones unchecked in the editor.
#[test]
fn every_document_of_every_example_names_the_schema() {
    for dir in example_dirs() {
        for entry in std::fs::read_dir(&dir).expect("example dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|x| x != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("example text");
            for document in text.split("\n---\n") {
                assert!(
                    document.starts_with(
                        "# yaml-language-server: $schema=../../schemas/manifest.schema.json\n"
                    ),
                    "{}: a document without the modeline:\n{document}",
                    path.display()
                );
            }
        }
    }
}
