//! `--format github` for plan, apply and drift: workflow annotations on the
//! manifest lines, paths relative to the repository (`GITHUB_WORKSPACE`), personal
//! data masked unless `--show-sensitive`.

mod common;

use std::path::{Path, PathBuf};

use common::{cspctl_command, text};

/// The `failures` trycmd fixture copied to `root/manifests`: one reseller that
/// Partner Center refuses (so its customer and subscription are skipped) and an
/// independent branch that applies.
fn fixture(root: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cmd/failures.in");
    let manifests = root.join("manifests");
    for dir in ["first", "second"] {
        std::fs::create_dir_all(manifests.join(dir)).expect("dir");
        for entry in std::fs::read_dir(source.join(dir)).expect("fixture") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), manifests.join(dir).join(entry.file_name())).expect("copy");
        }
    }
    manifests
}

/// Runs cspctl in `cwd` as GitHub Actions would, with the repository at `root`.
fn in_actions(args: &[&str], cwd: &Path, root: &Path) -> std::process::Output {
    cspctl_command(args, cwd, None)
        .env("GITHUB_WORKSPACE", root)
        .output()
        .expect("cspctl runs")
}

/// The workflow-command lines of stdout.
fn annotations(output: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with("::"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn apply_annotates_failures_skips_and_successes_on_their_manifest_lines() {
    let repository = tempfile::tempdir().expect("temp dir");
    let manifests = fixture(repository.path());
    let first = in_actions(
        &["apply", "first", "--auto-approve", "--state", "s.json"],
        &manifests,
        repository.path(),
    );
    assert!(first.status.success(), "{}", text(&first));

    let second = in_actions(
        &[
            "apply",
            "second",
            "--auto-approve",
            "--state",
            "s.json",
            "--parallelism",
            "1",
            "--format",
            "github",
        ],
        &manifests,
        repository.path(),
    );
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let lines = annotations(&second);
    // Failures first, then what was skipped, then what was applied, then the summary.
    assert!(
        lines[0].starts_with(
            "::error file=manifests/second/resellers.yaml,line=6,col=9,title=cspctl apply%3A Reseller/renamed::failed: POST /_sim/resellers: HTTP 409"
        ),
        "{lines:#?}"
    );
    assert!(
        lines[1].starts_with(
            "::warning file=manifests/second/alpha.yaml,line=4,col=9,title=cspctl apply%3A Customer/alpha::skipped: Reseller/renamed did not apply"
        ),
        "{lines:#?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("::notice file="))
            .count(),
        3
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some(
            "::error title=cspctl apply::Apply failed: 3 applied, 1 failed, 2 skipped, 0 waiting on a person."
        ),
        "{lines:#?}"
    );
    // The human report is still there for the log.
    assert!(text(&second).contains("Apply failed"), "{}", text(&second));
}

#[test]
fn plan_annotations_mask_personal_data_unless_asked() {
    let repository = tempfile::tempdir().expect("temp dir");
    let manifests = fixture(repository.path());
    let plan = in_actions(
        &["plan", "second", "--state", "s.json", "--format", "github"],
        &manifests,
        repository.path(),
    );
    assert!(plan.status.success(), "{}", text(&plan));
    let out = String::from_utf8_lossy(&plan.stdout).into_owned();
    let lines = annotations(&plan);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("file=manifests/second/alpha.yaml,line=4,col=9")),
        "{out}"
    );
    for personal in ["it@alpha.example", "Sam", "Lee"] {
        assert!(!out.contains(personal), "{personal} leaked:\n{out}");
    }
    assert!(out.contains("•••"), "{out}");

    let shown = in_actions(
        &[
            "plan",
            "second",
            "--state",
            "s.json",
            "--format",
            "github",
            "--show-sensitive",
        ],
        &manifests,
        repository.path(),
    );
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("it@alpha.example"),
        "{}",
        text(&shown)
    );
}

#[test]
fn a_stale_saved_plan_is_annotated_on_the_objects_that_changed() {
    let repository = tempfile::tempdir().expect("temp dir");
    let manifests = fixture(repository.path());
    let saved = in_actions(
        &["plan", "first", "--state", "s.json", "--out", "plan.json"],
        &manifests,
        repository.path(),
    );
    assert!(saved.status.success(), "{}", text(&saved));
    // Someone applies the same change first: the saved plan is now stale.
    let other = in_actions(
        &["apply", "first", "--state", "s.json", "--auto-approve"],
        &manifests,
        repository.path(),
    );
    assert!(other.status.success(), "{}", text(&other));
    let stale = in_actions(
        &[
            "apply",
            "plan.json",
            "--state",
            "s.json",
            "--auto-approve",
            "--format",
            "github",
        ],
        &manifests,
        repository.path(),
    );
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    assert_eq!(
        annotations(&stale),
        [
            "::error file=manifests/first/old-reseller.yaml,line=4,col=9,title=cspctl apply%3A stale plan%3A Reseller/old-name::the live object was created since the plan was made; run plan again and review the new plan"
        ],
        "{}",
        text(&stale)
    );
}

#[test]
fn drift_annotations_point_at_the_drifted_manifest_lines() {
    let repository = tempfile::tempdir().expect("temp dir");
    let manifests = fixture(repository.path());
    let apply = in_actions(
        &["apply", "first", "--state", "s.json", "--auto-approve"],
        &manifests,
        repository.path(),
    );
    assert!(apply.status.success(), "{}", text(&apply));
    let resellers = manifests.join("first/old-reseller.yaml");
    let yaml = std::fs::read_to_string(&resellers).expect("read");
    std::fs::write(
        &resellers,
        yaml.replace("Old Registration", "Old Registration Ltd"),
    )
    .expect("write");
    let drift = in_actions(
        &["drift", "first", "--state", "s.json", "--format", "github"],
        &manifests,
        repository.path(),
    );
    assert_eq!(drift.status.code(), Some(2), "{}", text(&drift));
    let lines = annotations(&drift);
    assert!(
        lines[0].starts_with("::warning file=manifests/first/old-reseller.yaml,line=4,col=9,"),
        "{lines:#?}"
    );
    assert!(lines[0].contains("displayName"), "{lines:#?}");
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains("Drift: 1 object(s) differ (1 field(s))")),
        "{lines:#?}"
    );
}

#[test]
fn the_markdown_comment_names_files_relative_to_the_repository() {
    let repository = tempfile::tempdir().expect("temp dir");
    let manifests = fixture(repository.path());
    let absolute = manifests.join("second");
    let plan = in_actions(
        &[
            "plan",
            absolute.to_str().expect("utf-8"),
            "--state",
            "s.json",
            "--format",
            "markdown",
        ],
        &manifests,
        repository.path(),
    );
    assert!(plan.status.success(), "{}", text(&plan));
    let out = String::from_utf8_lossy(&plan.stdout);
    assert!(out.contains("`manifests/second/alpha.yaml:4`"), "{out}");
    assert!(
        !out.contains(repository.path().to_str().expect("utf-8")),
        "{out}"
    );
}
