//! Settings from every layer (flags, CSPCTL_* variables, a saved plan, cspctl.toml,
//! defaults), `cspctl config`, saved plans applied against the backend they
//! recorded, `cspctl show`, `cspctl init`, the help sections and validate's machine
//! formats, all through the real binary.

mod common;

use std::path::Path;
use std::process::Output;

use clap::{CommandFactory as _, Parser as _};
use common::{cspctl, cspctl_command, text};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `examples/basic` copied to `dir/manifests`.
fn manifests(dir: &Path) {
    let to = dir.join("manifests");
    std::fs::create_dir_all(&to).expect("mkdir");
    for entry in std::fs::read_dir(root().join("examples/basic")).expect("examples") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(output)))
}

#[test]
fn the_file_sets_defaults_and_variables_and_flags_win_over_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    manifests(dir.path());
    std::fs::write(
        dir.path().join("cspctl.toml"),
        "manifests = \"manifests\"\nstate = \"states/team.json\"\ncustomer = [\"contoso\"]\n",
    )
    .expect("write");
    // From a subfolder: the file is found upward, its paths relative to it.
    let sub = dir.path().join("manifests");
    let output = cspctl(&["config", "--format", "json"], &sub, None);
    assert!(output.status.success(), "{}", text(&output));
    let config = json(&output);
    assert_eq!(config["file"], "../cspctl.toml");
    assert_eq!(config["settings"]["state"]["value"], "../states/team.json");
    assert_eq!(config["settings"]["state"]["source"], "../cspctl.toml:2");
    assert_eq!(config["settings"]["backend"]["source"], "default");

    // plan: manifests and state from the file, scoped to contoso by it.
    let output = cspctl(&["plan"], dir.path(), None);
    assert!(output.status.success(), "{}", text(&output));
    let shown = text(&output);
    assert!(
        shown.contains("Subscription/contoso-m365-business-basic"),
        "{shown}"
    );
    assert!(
        !shown.contains("Customer/fabrikam"),
        "scoped by the file: {shown}"
    );
    let output = cspctl(&["apply", "--auto-approve"], dir.path(), None);
    assert!(output.status.success(), "{}", text(&output));
    assert!(dir.path().join("states/team.json").is_file());
    assert!(!dir.path().join(".cspctl/state.json").exists());

    // A saved plan carries its scope and state: the file's are not added to apply.
    std::fs::write(
        dir.path().join("manifests/subscriptions.yaml"),
        std::fs::read_to_string(dir.path().join("manifests/subscriptions.yaml"))
            .expect("read")
            .replace("quantity: 25", "quantity: 30"),
    )
    .expect("write");
    let output = cspctl(&["plan", "--out", "plan.json"], dir.path(), None);
    assert!(output.status.success(), "{}", text(&output));
    let output = cspctl(&["apply", "plan.json", "--auto-approve"], dir.path(), None);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("1 applied"), "{}", text(&output));

    // A variable wins over the file, a flag over the variable.
    let output = cspctl_command(&["config", "--format", "json"], dir.path(), None)
        .env("CSPCTL_STATE", "env.json")
        .output()
        .expect("runs");
    let config = json(&output);
    assert_eq!(config["settings"]["state"]["value"], "env.json");
    assert_eq!(config["settings"]["state"]["source"], "env CSPCTL_STATE");
    let output = cspctl_command(
        &["config", "--format", "json", "--state", "flag.json"],
        dir.path(),
        None,
    )
    .env("CSPCTL_STATE", "env.json")
    .output()
    .expect("runs");
    let config = json(&output);
    assert_eq!(
        (
            &config["settings"]["state"]["value"],
            &config["settings"]["state"]["source"]
        ),
        (&Value::from("flag.json"), &Value::from("command line"))
    );
}

/// Partner Center's settings from a variable or the file do not trip up the local
/// backend (their flags would be refused there), and the local state's do not trip
/// up Partner Center.
#[test]
fn settings_of_the_other_backend_are_left_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    manifests(dir.path());
    std::fs::write(
        dir.path().join("cspctl.toml"),
        "endpoint = \"http://127.0.0.1:9\"\nsandbox = true\njournal = \"j.journal\"\n",
    )
    .expect("write");
    let output = cspctl_command(&["plan", "manifests"], dir.path(), None)
        .env("CSPCTL_PC_AUTHORITY", "http://127.0.0.1:9")
        .env("CSPCTL_SANDBOX", "1")
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output));

    // With partner-center in force they are used: here the unreachable endpoint.
    let output = cspctl_command(&["plan", "manifests", "--timeout", "20s"], dir.path(), None)
        .env("CSPCTL_BACKEND", "partner-center")
        .env("CSPCTL_STATE", "ignored.json")
        .env(
            "CSPCTL_PC_TENANT_ID",
            "11111111-1111-4111-8111-111111111111",
        )
        .env(
            "CSPCTL_PC_CLIENT_ID",
            "22222222-2222-4222-8222-222222222222",
        )
        .env("CSPCTL_PC_CLIENT_SECRET", "x")
        .env("CSPCTL_PC_REFRESH_TOKEN", "y")
        .env("CSPCTL_PC_AUTHORITY", "http://127.0.0.1:9")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        !text(&output).contains("--state is for the local backend"),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains("127.0.0.1:9"), "{}", text(&output));
}

#[test]
fn a_bad_file_is_refused_at_its_line_and_column_and_holds_no_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("cspctl.toml");
    for (content, expected) in [
        (
            "backend = \"local\"\nstat = \"x.json\"\n",
            "cspctl.toml:2:1: unknown setting `stat` (did you mean `state`?)",
        ),
        (
            "timeout = \"soon\"\n",
            "cspctl.toml:1:11: `timeout`: invalid value 'soon' for '--timeout",
        ),
        (
            "backend = \"azure\"\n",
            "cspctl.toml:1:11: `backend`: invalid value 'azure'",
        ),
        (
            "sandbox = \"yes\"\n",
            "cspctl.toml:1:11: `sandbox`: expected true or false",
        ),
        (
            "pc-client-secret = \"hunter2\"\n",
            "cspctl.toml:1:1: `pc-client-secret` is a credential",
        ),
        ("backend = \n", "cspctl.toml:1:"),
    ] {
        std::fs::write(&file, content).expect("write");
        let output = cspctl(&["validate", "."], dir.path(), None);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{content}: {}",
            text(&output)
        );
        assert!(
            text(&output).contains(expected),
            "{content}: {}",
            text(&output)
        );
        assert!(!text(&output).contains("hunter2"));
    }
    // Commands that read no setting do not read the file.
    for args in [
        &["completions", "bash"][..],
        &["schema"],
        &["init", "--force"],
    ] {
        let output = cspctl(args, dir.path(), None);
        assert!(output.status.success(), "{args:?}: {}", text(&output));
    }
}

#[test]
fn config_masks_secrets_and_names_every_source() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = cspctl_command(&["config"], dir.path(), None)
        .env("CSPCTL_PC_CLIENT_SECRET", "s3cret-value")
        .env("CSPCTL_PC_CLIENT_ID", "client-1")
        .env("CSPCTL_STATE_URL", "file:///tmp/x?sig=tok3n")
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output));
    let shown = text(&output);
    assert!(
        !shown.contains("s3cret-value") && !shown.contains("tok3n"),
        "{shown}"
    );
    let secret = shown
        .lines()
        .find(|l| l.starts_with("pc-client-secret "))
        .expect("a row");
    assert!(
        secret.contains(" ******** (set) ") && secret.ends_with(" env CSPCTL_PC_CLIENT_SECRET"),
        "{secret}"
    );
    assert!(shown.contains("file:///tmp/x?********"), "{shown}");
    assert!(shown.contains("Configuration file: none"), "{shown}");

    // Paths given on the command line are the manifests.
    let output = cspctl(
        &["config", "--format", "json", "manifests"],
        dir.path(),
        None,
    );
    let config = json(&output);
    assert_eq!(config["settings"]["manifests"]["value"], "manifests");
    assert_eq!(config["settings"]["manifests"]["source"], "command line");
}

#[test]
fn a_saved_plan_is_applied_against_the_local_state_it_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    manifests(dir.path());
    let plan = cspctl(
        &[
            "plan",
            "manifests",
            "--state",
            "custom.json",
            "--out",
            "plan.json",
        ],
        dir.path(),
        None,
    );
    assert!(plan.status.success(), "{}", text(&plan));

    // A contradicting flag or variable is refused, naming it.
    let output = cspctl(
        &[
            "apply",
            "plan.json",
            "--auto-approve",
            "--state",
            "other.json",
        ],
        dir.path(),
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("--state says `other.json`, but the saved plan plan.json was made with state `custom.json`"),
        "{}",
        text(&output)
    );
    let output = cspctl_command(&["apply", "plan.json", "--auto-approve"], dir.path(), None)
        .env("CSPCTL_BACKEND", "partner-center")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("CSPCTL_BACKEND says `partner-center`"),
        "{}",
        text(&output)
    );
    assert!(!dir.path().join("custom.json").exists(), "nothing applied");

    // The same value repeated is fine; none at all too.
    let output = cspctl(
        &[
            "apply",
            "plan.json",
            "--auto-approve",
            "--state",
            "custom.json",
        ],
        dir.path(),
        None,
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(dir.path().join("custom.json").is_file());
    assert!(!dir.path().join(".cspctl/state.json").exists());
}

#[test]
fn a_sandbox_plan_is_applied_without_repeating_its_flags() {
    let sim = common::start(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let example = root().join("examples/sandbox");
    let example = example.to_str().expect("utf-8");
    let plan = cspctl(
        &["plan", example, "--out", "plan.json"],
        dir.path(),
        Some(&sim),
    );
    assert!(plan.status.success(), "{}", text(&plan));
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).expect("plan"))
            .expect("json");
    assert_eq!(saved["backend_settings"]["kind"], "partner-center");
    assert_eq!(saved["backend_settings"]["sandbox"], true);
    assert_eq!(
        saved["backend_settings"]["endpoint"],
        sim.base_url().as_str()
    );

    // Only the credentials, from the environment: no --backend, --endpoint, --sandbox.
    let defaults = cspctl::sim::SimConfig::default();
    let apply = |extra: &[&str]| {
        let mut args = vec!["apply", "plan.json", "--auto-approve"];
        args.extend_from_slice(extra);
        cspctl_command(&args, dir.path(), None)
            .env("CSPCTL_PC_TENANT_ID", &defaults.partner_tenant_id)
            .env("CSPCTL_PC_CLIENT_ID", &defaults.client_id)
            .env("CSPCTL_PC_CLIENT_SECRET", common::CLIENT_SECRET)
            .env("CSPCTL_PC_REFRESH_TOKEN", common::REFRESH_TOKEN)
            .env_remove("CSPCTL_PC_CREDENTIALS")
            .env_remove("CSPCTL_PC_JOURNAL")
            .output()
            .expect("runs")
    };
    let refused = apply(&["--endpoint", "http://127.0.0.1:9"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("--endpoint says `http://127.0.0.1:9`"),
        "{}",
        text(&refused)
    );
    let output = apply(&[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("Apply complete"),
        "{}",
        text(&output)
    );
}

#[test]
fn show_prints_a_saved_plan_in_each_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    manifests(dir.path());
    let plan = cspctl(
        &["plan", "manifests", "--out", "plan.json"],
        dir.path(),
        None,
    );
    assert!(plan.status.success(), "{}", text(&plan));
    let output = cspctl(&["show", "plan.json"], dir.path(), None);
    assert!(output.status.success(), "{}", text(&output));
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.starts_with("Plan plan.json against local:.cspctl/state.json (--backend local --state .cspctl/state.json)\n"),
        "{shown}"
    );
    assert!(shown.contains("Plan: 5 to create"), "{shown}");
    let output = cspctl(&["show", "plan.json", "--format", "json"], dir.path(), None);
    assert_eq!(
        output.stdout,
        std::fs::read(dir.path().join("plan.json")).expect("plan"),
        "the saved JSON, byte for byte"
    );
    let output = cspctl(
        &["show", "plan.json", "--format", "markdown"],
        dir.path(),
        None,
    );
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("Subscription/contoso-m365-business-basic")
    );

    // An edited plan is refused, as apply refuses it.
    let path = dir.path().join("plan.json");
    let edited = std::fs::read_to_string(&path).expect("plan").replacen(
        "\"quantity\":25",
        "\"quantity\":250",
        1,
    );
    std::fs::write(&path, edited).expect("write");
    let output = cspctl(&["show", "plan.json"], dir.path(), None);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
}

#[test]
fn init_scaffolds_a_repository_that_plans_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(".gitignore"), "target").expect("write");
    let output = cspctl(&["init"], dir.path(), None);
    assert!(output.status.success(), "{}", text(&output));
    for file in [
        "manifests/example.yaml",
        "cspctl.toml",
        ".github/workflows/cspctl.yml",
    ] {
        assert!(dir.path().join(file).is_file(), "{file}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".gitignore")).expect("read"),
        "target\n# cspctl: the local state, its journals and caches (never commit them).\n.cspctl/\n"
    );
    let output = cspctl(&["plan", "--detailed-exitcode"], dir.path(), None);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("Plan: 3 to create"),
        "{}",
        text(&output)
    );

    let again = cspctl(&["init"], dir.path(), None);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again).contains("already holds manifests/example.yaml, cspctl.toml"),
        "{}",
        text(&again)
    );
    let forced = cspctl(&["init", "--force"], dir.path(), None);
    assert!(forced.status.success(), "{}", text(&forced));
    let ignore = std::fs::read_to_string(dir.path().join(".gitignore")).expect("read");
    assert_eq!(ignore.matches(".cspctl/").count(), 1, "{ignore}");
}

#[test]
fn every_command_help_has_examples_exit_codes_and_variables() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut checked = 0;
    let top = cspctl::cli::Cli::command();
    let mut commands: Vec<(Vec<&str>, &clap::Command)> = Vec::new();
    for command in top.get_subcommands() {
        commands.push((vec![command.get_name()], command));
        for sub in command.get_subcommands() {
            commands.push((vec![command.get_name(), sub.get_name()], sub));
        }
    }
    for (words, command) in commands {
        let name = words.join(" ");
        let mut args = words.clone();
        args.push("--help");
        let output = cspctl(&args, dir.path(), None);
        assert!(output.status.success(), "{name}: {}", text(&output));
        let help = String::from_utf8_lossy(&output.stdout);
        for section in ["Exit codes:", "Environment (", "NO_COLOR", "CSPCTL_CONFIG"] {
            assert!(
                help.contains(section),
                "{name} --help lacks {section}:\n{help}"
            );
        }
        let leaf = command.get_subcommands().next().is_none();
        if leaf {
            assert!(help.contains("Examples:\n"), "{name} --help lacks examples");
        }
        // Every example is a command line the parser accepts.
        for line in help
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("cspctl "))
        {
            let words: Vec<&str> = line
                .split(" | ")
                .next()
                .expect("a command")
                .split(" > ")
                .next()
                .expect("a command")
                .split_whitespace()
                .collect();
            cspctl::cli::Cli::try_parse_from(&words)
                .unwrap_or_else(|e| panic!("{name} --help example `{line}`: {e}"));
            checked += 1;
        }
        if command
            .get_arguments()
            .any(|a| a.get_long() == Some("backend"))
        {
            for variable in [
                "CSPCTL_BACKEND",
                "CSPCTL_STATE_URL",
                "CSPCTL_PC_CLIENT_SECRET",
            ] {
                assert!(help.contains(variable), "{name} --help lacks {variable}");
            }
        }
    }
    assert!(checked > 20, "{checked} examples");
    let plan = cspctl(&["plan", "--help"], dir.path(), None);
    assert!(
        String::from_utf8_lossy(&plan.stdout)
            .contains("  2    changes present (with --detailed-exitcode)")
    );

    // The manual pages carry the same sections.
    let out = dir.path().join("man");
    let output = cspctl(
        &["man", "--out", out.to_str().expect("utf-8")],
        dir.path(),
        None,
    );
    assert!(output.status.success(), "{}", text(&output));
    let page = std::fs::read_to_string(out.join("cspctl-apply.1")).expect("page");
    for section in [
        ".SH EXAMPLES",
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        "CSPCTL_STATE_URL",
    ] {
        assert!(page.contains(section), "cspctl-apply.1 lacks {section}");
    }
    assert!(out.join("cspctl-local-accept-relationship.1").is_file());
}

#[test]
fn color_always_wins_over_no_color_and_never_over_a_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    manifests(dir.path());
    let output = cspctl(
        &["plan", "manifests", "--color", "always"],
        dir.path(),
        None,
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("\x1b["),
        "{}",
        text(&output)
    );
    let output = cspctl_command(&["plan", "manifests"], dir.path(), None)
        .env("CSPCTL_COLOR", "always")
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&output.stdout).contains("\x1b["));
    let output = cspctl(&["plan", "manifests", "--color", "never"], dir.path(), None);
    assert!(!String::from_utf8_lossy(&output.stdout).contains('\x1b'));
}

#[test]
fn validate_speaks_json_and_sarif() {
    let cases = root().join("tests/cmd/diagnostics.in");
    let base = cases.join("base");
    let bad = cases.join("bad/unknown-field.yaml");
    let args = |format: &str| {
        vec![
            "validate".to_owned(),
            base.display().to_string(),
            bad.display().to_string(),
            "--format".to_owned(),
            format.to_owned(),
        ]
    };
    let run = |format: &str| {
        let words = args(format);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        cspctl(&words, root(), None)
    };
    let output = run("json");
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"], 2);
    let first = &report["diagnostics"][0];
    assert_eq!(first["line"], 5);
    assert_eq!(first["column"], 1);
    assert!(
        first["file"]
            .as_str()
            .expect("file")
            .ends_with("unknown-field.yaml")
    );
    assert_eq!(
        report["diagnostics"][1]["hints"][0],
        "did you mean `quantity`?"
    );

    let output = cspctl_command(
        &args("sarif").iter().map(String::as_str).collect::<Vec<_>>(),
        root(),
        None,
    )
    .env("GITHUB_WORKSPACE", root())
    .output()
    .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let sarif = json(&output);
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "cspctl");
    let result = &run["results"][1];
    let rule = result["ruleId"].as_str().expect("rule");
    let index = result["ruleIndex"].as_u64().expect("index") as usize;
    assert_eq!(run["tool"]["driver"]["rules"][index]["id"], rule);
    assert_eq!(result["level"], "error");
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"], "tests/cmd/diagnostics.in/bad/unknown-field.yaml",
        "relative to the repository"
    );
    assert_eq!(location["region"]["startLine"], 8);
    assert_eq!(location["region"]["startColumn"], 3);

    let valid = cspctl(
        &[
            "validate",
            root().join("examples/basic").to_str().expect("utf-8"),
            "--format",
            "sarif",
        ],
        root(),
        None,
    );
    assert!(valid.status.success(), "{}", text(&valid));
    assert_eq!(json(&valid)["runs"][0]["results"], Value::Array(Vec::new()));
}
