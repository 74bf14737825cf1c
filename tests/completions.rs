//! `cspctl completions SHELL` and `cspctl man` come from the parser's own
//! definition: every command and flag a user can type is in them.

use std::process::Command;

fn cspctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cspctl"))
        .args(args)
        .output()
        .expect("cspctl runs")
}

#[test]
fn every_shell_gets_a_script_that_knows_every_command_and_flag() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = cspctl(&["completions", shell]);
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8(output.stdout).expect("utf-8");
        for word in [
            "validate",
            "plan",
            "apply",
            "drift",
            "export",
            "detailed-exitcode",
            "show-sensitive",
            "ignore-unmanaged",
            "markdown",
        ] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let unknown = cspctl(&["completions", "tcsh"]);
    // A usage error: exit 1, never 2 (which means "changes" to CI).
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("possible values"));
}

#[test]
fn the_manual_page_is_roff_and_one_page_per_command_can_be_written() {
    let output = cspctl(&["man"]);
    assert!(output.status.success(), "{output:?}");
    let page = String::from_utf8(output.stdout).expect("utf-8");
    assert!(page.contains(".TH cspctl 1"), "{page}");
    assert!(page.contains("drift"), "{page}");

    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("man1");
    let output = cspctl(&["man", "--out", out.to_str().expect("utf-8")]);
    assert!(output.status.success(), "{output:?}");
    for page in [
        "cspctl.1",
        "cspctl-plan.1",
        "cspctl-drift.1",
        "cspctl-export.1",
    ] {
        let text =
            std::fs::read_to_string(out.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}");
    }
    let plan = std::fs::read_to_string(out.join("cspctl-plan.1")).expect("plan page");
    assert!(plan.contains("detailed\\-exitcode"), "{plan}");
}
