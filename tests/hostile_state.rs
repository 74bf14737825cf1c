//! A damaged local state and its journals, run through the real binary: only a torn
//! last line of a journal (a kill mid-write) is recovered by itself, and reported;
//! anything else is refused with the file, the line and what to do, and the file is
//! left byte for byte as it was. Also what the paths may be: a symlinked state is
//! written through its link; a FIFO is refused by name, never opened (it would
//! hang the run).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{cspctl_command, text};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/basic")
}

/// Runs `command` to its end; a generous limit turns a hang into a failure.
fn finish(mut command: Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cspctl starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("waits").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "cspctl hung: {:?}",
                child.wait_with_output().map(|o| text(&o))
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// `cspctl <args> examples/basic --state <state>` in `dir`.
fn run(dir: &Path, args: &[&str], state: &Path) -> Output {
    let examples = examples();
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        examples.to_str().expect("utf-8"),
        "--state",
        state.to_str().expect("utf-8"),
    ]);
    if args == ["apply"] {
        all.push("--auto-approve");
    }
    finish(cspctl_command(&all, dir, None))
}

/// A state with the examples applied (revision 1), and its path.
fn applied() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.json");
    let output = run(dir.path(), &["apply"], &state);
    assert!(output.status.success(), "{}", text(&output));
    (dir, state)
}

fn beside(state: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", state.display()))
}

/// What an apply in `dir` left of a purchase request, as a journal line would hold.
const ENTRY: &str = r#"{"method":"POST","path":"/v1/customers","status":201}"#;

/// Runs `commands` on `state` with `file` holding `bytes`; each must fail naming the
/// file and `expected`, leaving every file as it was.
fn refused(commands: &[&str], state: &Path, file: &Path, bytes: &str, expected: &str) {
    fs::write(file, bytes).expect("written");
    let before = fs::read(state).expect("state");
    let dir = state.parent().expect("a directory");
    for &command in commands {
        let output = run(dir, &[command], state);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{command}: {}", text(&output));
        assert!(
            stderr.contains(&file.display().to_string()) && stderr.contains(expected),
            "{command} must name {} and say `{expected}`:\n{stderr}",
            file.display()
        );
        assert_eq!(fs::read_to_string(file).expect("kept"), bytes, "{command}");
        assert_eq!(fs::read(state).expect("state"), before, "{command}");
    }
}

#[test]
fn a_damaged_local_journal_is_refused_and_left_as_it_is() {
    let (_dir, state) = applied();
    let journal = beside(&state, ".journal");
    let header = r#"{"baseRevision":1,"now":"2026-03-01T10:00:00Z"}"#;
    // Each of these was ignored, and the journal then removed with what it held.
    refused(
        &["plan", "apply"],
        &state,
        &journal,
        &format!("{{\"baseRev\n{ENTRY}\n"),
        "line 1 is not the journal's header",
    );
    refused(
        &["plan", "apply"],
        &state,
        &journal,
        &format!("{}\n{ENTRY}\n", header.replace(":1,", ":7,")),
        "the journal holds changes to state revision 7, but the state file is at revision 1",
    );
    refused(
        &["plan", "apply"],
        &state,
        &journal,
        &format!("{header}\nnot json\n{ENTRY}\n"),
        "line 2 is not a journal entry",
    );
    // A whole last line was written whole: it is damage too, not a torn write.
    refused(
        &["plan", "apply"],
        &state,
        &journal,
        &format!("{header}\n{ENTRY}\nnot json\n"),
        "line 3 is not a journal entry",
    );
}

#[test]
fn a_torn_or_folded_in_local_journal_is_recovered_and_reported() {
    let (dir, state) = applied();
    let journal = beside(&state, ".journal");
    // A kill while the header was written: the only line has no newline.
    fs::write(&journal, r#"{"baseRevision":1,"no"#).expect("written");
    let output = run(dir.path(), &["apply"], &state);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        stderr.contains(&format!(
            "warning: {}: line 1 was cut short by an interrupted write",
            journal.display()
        )),
        "{stderr}"
    );
    assert!(!journal.exists(), "recovered, then removed by the apply");

    // The compaction-crash case: the state was written (revision 1) but the journal
    // of revision 0 was not removed. It is in the state already: not replayed.
    fs::write(&journal, format!("{{\"baseRevision\":0}}\n{ENTRY}\n")).expect("written");
    let output = run(dir.path(), &["plan"], &state);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        stderr.contains("the state file holds everything in it, so it is not replayed"),
        "{stderr}"
    );
    assert!(journal.exists(), "plan changes nothing");
    let output = run(dir.path(), &["apply"], &state);
    assert!(output.status.success(), "{}", text(&output));
    assert!(!journal.exists(), "the apply removes it");
}

#[test]
fn a_torn_last_line_of_the_purchase_journal_does_not_block_later_applies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state.json");
    let purchases = beside(&state, ".purchases");
    // A kill while a purchase was announced: it was never sent.
    fs::write(&purchases, r#"{"event":"intent","requestId":"r-"#).expect("written");
    let output = run(dir.path(), &["apply"], &state);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        stderr.contains(&format!(
            "warning: {}: line 1 was cut short",
            purchases.display()
        )),
        "{stderr}"
    );
    // The purchases appended after it were not glued onto it: the next apply reads
    // the journal and finds nothing to do.
    let output = run(dir.path(), &["apply"], &state);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("No changes"),
        "{}",
        text(&output)
    );

    // Read by apply only: plan buys nothing, so it has nothing to settle.
    let (_dir, state) = applied();
    refused(
        &["apply"],
        &state,
        &beside(&state, ".purchases"),
        "garbage\n",
        "line 1 is not a journal record",
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_as_manifest_or_state_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("pipe.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let output = finish(cspctl_command(&["validate", "pipe.yaml"], dir.path(), None));
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("pipe.yaml: not a regular file (a FIFO, socket or device), so not read"),
        "{}",
        text(&output)
    );
    for command in ["plan", "apply"] {
        let output = run(dir.path(), &[command], &fifo);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{}", text(&output));
        assert!(
            stderr.contains(&format!(
                "cannot read the local state file {}: it is not a regular file",
                fifo.display()
            )),
            "{stderr}"
        );
    }
    let (dir, state) = applied();
    for suffix in [".journal", ".purchases"] {
        // The applied state keeps its purchase generations in `.purchases`: the
        // FIFO takes its place.
        let _ = fs::remove_file(beside(&state, suffix));
        let made = Command::new("mkfifo").arg(beside(&state, suffix)).status();
        assert!(made.is_ok_and(|s| s.success()));
        let output = run(dir.path(), &["apply"], &state);
        assert!(!output.status.success(), "{}", text(&output));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("it is not a regular file"),
            "{}",
            text(&output)
        );
        fs::remove_file(beside(&state, suffix)).expect("removed");
    }
}

#[cfg(unix)]
#[test]
fn a_symlinked_state_is_written_through_its_link() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kept = dir.path().join("kept");
    fs::create_dir(&kept).expect("mkdir");
    let link = dir.path().join("state.json");
    // Relative, as `ln -s kept/state.json state.json` makes it.
    std::os::unix::fs::symlink("kept/state.json", &link).expect("linked");
    for _ in 0..2 {
        let output = run(dir.path(), &["apply"], &link);
        assert!(output.status.success(), "{}", text(&output));
        let meta = fs::symlink_metadata(&link).expect("still there");
        assert!(
            meta.file_type().is_symlink(),
            "the link was replaced by a file"
        );
        let written = fs::read_to_string(kept.join("state.json")).expect("the target");
        assert!(written.contains("\"revision\": 1"), "{written}");
    }
    let names: Vec<_> = fs::read_dir(&kept)
        .expect("lists")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["state.json"], "no temporary file is left behind");
}

/// `state` with `edit` applied to its text (one object a line, as cspctl writes it).
fn edited(state: &Path, edit: impl Fn(&str) -> String) -> String {
    edit(&fs::read_to_string(state).expect("state"))
}

#[test]
fn a_repeated_id_or_key_in_the_state_is_refused_at_its_line() {
    let (_dir, state) = applied();
    let text = fs::read_to_string(&state).expect("state");
    let (number, customer) = (1..)
        .zip(text.lines())
        .find(|(_, line)| line.contains("\"companyName\":\"Contoso Ltd\""))
        .expect("a customer line");
    let id = customer.split('"').nth(3).expect("its id").to_owned();
    // The same customer again, under another domain, on the next line (it is
    // followed by another customer, so it ends with a comma).
    let twice = edited(&state, |text| {
        let copy = customer.replace("contoso-demo", "other");
        text.replacen(customer, &format!("{customer}\n{copy}"), 1)
    });
    let state_path = state.display().to_string();
    refused(
        &["plan", "apply"],
        &state,
        &state,
        &twice,
        &format!("{state_path}:{}:", number + 1),
    );
    refused(
        &["plan", "apply"],
        &state,
        &state,
        &twice,
        &format!("a second object in `customers` has the id `{id}`"),
    );
    // A key twice: serde_json would keep the last one, unseen.
    let repeated = edited(&state, |text| {
        text.replacen(
            "\"sandbox\": true,",
            "\"sandbox\": true,\n  \"sandbox\": false,",
            1,
        )
    });
    refused(
        &["plan", "apply"],
        &state,
        &state,
        &repeated,
        "the key `sandbox` appears twice in one object",
    );
}

#[test]
fn fields_a_newer_release_wrote_survive_a_rewrite_by_this_one() {
    let (dir, state) = applied();
    // A newer cspctl's additions: a top-level field and one on a customer.
    let newer = edited(&state, |text| {
        text.replacen(
            "\"formatVersion\": 2,",
            "\"formatVersion\": 2,\n  \"addedLater\": {\"x\": [1, 2]},",
            1,
        )
        .replacen(
            "\"companyName\":\"Contoso Ltd\"",
            "\"companyName\":\"Contoso Ltd\",\"loyaltyTier\":\"gold\"",
            1,
        )
    });
    assert!(newer.contains("loyaltyTier"), "the edit found its place");
    fs::write(&state, newer).expect("written");
    // An apply that changes the tenant, so the state is rewritten.
    let manifests = dir.path().join("m");
    fs::create_dir(&manifests).expect("mkdir");
    for file in ["customers.yaml", "resellers.yaml", "subscriptions.yaml"] {
        let source = fs::read_to_string(examples().join(file)).expect("read");
        fs::write(
            manifests.join(file),
            source.replacen("quantity: 25", "quantity: 30", 1),
        )
        .expect("write");
    }
    let mut command = cspctl_command(
        &[
            "apply",
            "m",
            "--auto-approve",
            "--state",
            state.to_str().expect("utf-8"),
        ],
        dir.path(),
        None,
    );
    command.current_dir(dir.path());
    let output = finish(command);
    assert!(output.status.success(), "{}", text(&output));
    let rewritten = fs::read_to_string(&state).expect("state");
    let value: serde_json::Value = serde_json::from_str(&rewritten).expect("json");
    assert_eq!(value["addedLater"], serde_json::json!({"x": [1, 2]}));
    let contoso = value["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .find(|c| c.to_string().contains("Contoso Ltd"))
        .expect("contoso");
    assert_eq!(contoso["loyaltyTier"], "gold", "{contoso}");
    assert!(rewritten.contains("\"quantity\":30"), "the apply was made");
}
