//! Hostile-input catalogue, output side (issue 14, "Output and exit codes"): what a
//! CI pipeline, a terminal and an attacker do to cspctl's output.
//!
//! - A reader that goes away (`cspctl plan | head`) ends the output quietly: no
//!   panic, and the command's own exit code (a plan with changes is still 2).
//! - Usage errors exit 1, never 2 or 3, which mean "changes" and "manual steps".
//! - SIGTERM and SIGINT end every command with 130, also before apply executes.
//! - No manifest value, file name or server answer reaches a terminal, a log or a
//!   PR comment raw: control characters, C1 controls and bidirectional overrides
//!   are escaped in every format of every command.
//!
//! Each test waits for an event (a prompt, a readiness line, a connection), never
//! for time to pass.

mod common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{cspctl, cspctl_command};

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `customers` customers, each with a subscription, under one reseller: enough
/// for every command's output to outgrow a pipe's buffer (64 KiB on Linux).
fn many_customers(dir: &Path, customers: usize) {
    let mut yaml = String::from(
        "apiVersion: cspctl/v1\nkind: Reseller\nmetadata:\n  name: northwind\nspec:\n  tenantId: 6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n  mpnId: \"4847383\"\n  displayName: Northwind Traders\n  location: US\n",
    );
    for n in 0..customers {
        yaml.push_str(&format!(
            "---\napiVersion: cspctl/v1\nkind: Customer\nmetadata:\n  name: customer-{n}\nspec:\n  domain: customer-{n}.onmicrosoft.com\n  companyName: Customer {n} Ltd\n  resellers: [northwind]\n  billing:\n    email: billing@customer-{n}.example\n    culture: en-GB\n    language: en\n    address:\n      firstName: Ann\n      lastName: Lee\n      addressLine1: {n} High Street\n      city: London\n      postalCode: SW1A 2AA\n      country: GB\n---\napiVersion: cspctl/v1\nkind: Subscription\nmetadata:\n  name: customer-{n}-e3\nspec:\n  customer: customer-{n}\n  offerId: 031c9e47-4802-4248-838e-778fb1d2cc05\n  quantity: 10\n  termDuration: P1M\n  billingCycle: monthly\n  reseller: northwind\n"
        ));
    }
    std::fs::write(dir.join("tenant.yaml"), yaml).expect("write manifests");
}

/// Runs `args` with stdout read for one line and then closed, as `| head -1` does.
fn with_reader_gone(args: &[&str], cwd: &Path) -> Output {
    let mut child = cspctl_command(args, cwd, None)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cspctl starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("a first line");
    assert!(!first.is_empty(), "{args:?} printed nothing");
    drop(stdout);
    child.wait_with_output().expect("cspctl ends")
}

#[test]
fn a_closed_stdout_ends_the_output_quietly_with_the_commands_own_exit_code() {
    let work = tempfile::tempdir().expect("tempdir");
    many_customers(work.path(), 600);
    for (args, code) in [
        (&["plan", "."][..], 0),
        (&["plan", ".", "--detailed-exitcode"][..], 2),
        (&["plan", ".", "--format", "json"][..], 0),
        (&["graph", "."][..], 0),
        (&["drift", "."][..], 2),
        (&["schema"][..], 0),
    ] {
        let output = with_reader_gone(args, work.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    }
}

#[test]
fn usage_errors_exit_1_never_a_code_that_means_changes_or_drift() {
    let work = tempfile::tempdir().expect("tempdir");
    for args in [
        &["--bogus"][..],
        &["plan", "--format", "nope", "."],
        &["plan", "--detailed-exitcode", "--out"],
        &["drift", "--bogus", "."],
        &["drift", "--format", "yaml", "."],
        &["apply", "--parallelism", "many", "."],
        &["nosuch"],
        &[],
    ] {
        let output = cspctl(args, work.path(), None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("error") || stderr.contains("Usage"),
            "{args:?}: {stderr}"
        );
    }
    for args in [&["--help"][..], &["plan", "--help"], &["--version"]] {
        let output = cspctl(args, work.path(), None);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(!output.stdout.is_empty(), "{args:?}");
    }
}

/// Sends `signal` (`TERM`, `INT`) to the child.
fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Reads `reader` until `needle` has been seen (the event a test waits for).
fn wait_for(reader: &mut impl std::io::Read, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        match reader.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => panic!(
                "ended before {needle:?}: {}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[cfg(unix)]
#[test]
fn sigterm_and_sigint_before_any_answer_end_every_command_with_130() {
    // A server that accepts connections and never answers: the signal lands while
    // the command waits for its first answer (the token), before apply executes
    // anything.
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", server.local_addr().expect("address"));
    let basic = example("basic");
    for (args, name) in [
        (&["plan", &basic][..], "TERM"),
        (&["apply", &basic, "--auto-approve"], "TERM"),
        (&["apply", &basic, "--auto-approve"], "INT"),
        (&["drift", &basic], "INT"),
        (&["export"], "TERM"),
    ] {
        let work = tempfile::tempdir().expect("tempdir");
        let mut command = cspctl_command(args, work.path(), None);
        common::point_at(&mut command, &url, false, ("secret", "refresh"));
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cspctl starts");
        let (_connection, _) = server.accept().expect("cspctl connects");
        signal(&child, name);
        let mut stderr = String::new();
        let _ = child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr);
        let status = child.wait().expect("cspctl ends");
        assert_eq!(status.code(), Some(130), "{args:?} SIG{name}: {stderr}");
        assert!(
            stderr.contains("Interrupted"),
            "{args:?} SIG{name}: {stderr}"
        );
    }
}

#[cfg(unix)]
#[test]
fn the_simulator_stops_on_sigterm_with_130() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cspctl"))
        .args(["sim", "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("simulator starts");
    let mut stdout = child.stdout.take().expect("stdout");
    wait_for(&mut stdout, "listening on");
    signal(&child, "TERM");
    assert_eq!(child.wait().expect("ends").code(), Some(130));
}

/// Characters that must never reach output raw: C0 controls but line breaks and
/// tabs, DEL, C1 controls, bidirectional marks, embeddings, overrides and isolates.
fn hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn assert_printable(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| hidden(c)) {
        let from = text[..at]
            .char_indices()
            .rev()
            .nth(60)
            .map_or(0, |(i, _)| i);
        panic!(
            "{what} printed {c:?} raw at byte {at}: …{}…",
            text[from..]
                .chars()
                .take(120)
                .collect::<String>()
                .escape_debug()
        );
    }
}

/// The basic example with hostile text in free-text fields and a file name that
/// retitles a terminal.
fn hostile_manifests(dir: &Path) {
    let evil = "\\e]0;pwned\\a\\u202eLtd \\e[31mred\\x9b2J\\u2066";
    let customers = std::fs::read_to_string(format!("{}/customers.yaml", example("basic")))
        .expect("read example")
        .replace(
            "companyName: Contoso Ltd",
            &format!("companyName: \"Contoso {evil}\""),
        )
        .replace("city: London", &format!("city: \"London {evil}\""));
    std::fs::write(dir.join("customers.yaml"), customers).expect("write");
    std::fs::copy(
        format!("{}/resellers.yaml", example("basic")),
        dir.join("resellers.yaml"),
    )
    .expect("copy");
    let subscriptions = std::fs::read_to_string(format!("{}/subscriptions.yaml", example("basic")))
        .expect("read example")
        .replace(
            "friendlyName: Fabrikam Office 365 E3",
            &format!("friendlyName: \"Fabrikam {evil}\""),
        );
    std::fs::write(
        dir.join("subs\u{1b}]0;pwned\u{7}\u{202e}.yaml"),
        subscriptions,
    )
    .expect("write");
}

#[test]
fn no_manifest_value_or_file_name_reaches_any_output_raw() {
    let work = tempfile::tempdir().expect("tempdir");
    let manifests = work.path().join("m");
    std::fs::create_dir(&manifests).expect("mkdir");
    hostile_manifests(&manifests);
    let run = |args: &[&str]| {
        let output = cspctl(args, work.path(), None);
        assert!(
            matches!(output.status.code(), Some(0..=3)),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_printable(&format!("{args:?} stdout"), &output.stdout);
        assert_printable(&format!("{args:?} stderr"), &output.stderr);
        output
    };
    for format in ["text", "json", "markdown", "github"] {
        run(&["plan", "m", "--format", format]);
        run(&["drift", "m", "--format", format]);
    }
    run(&["graph", "m"]);
    run(&["validate", "m"]);
    run(&["apply", "m", "--auto-approve"]);
    run(&["apply", "m", "--auto-approve", "--format", "json"]);
    // The applied tenant now holds the hostile values: drift and export show them.
    std::fs::write(
        manifests.join("customers.yaml"),
        std::fs::read_to_string(format!("{}/customers.yaml", example("basic"))).expect("read"),
    )
    .expect("write");
    for format in ["text", "json", "markdown", "github"] {
        run(&["drift", "m", "--format", format]);
        run(&["plan", "m", "--format", format]);
    }
    run(&["export", "--out", "exported"]);

    // A broken file with a hostile name: the diagnostics name it escaped.
    std::fs::write(
        manifests.join("bad\u{1b}]0;pwned\u{7}\u{202e}.yaml"),
        "kind: [\n",
    )
    .expect("write");
    for format in ["human", "github"] {
        let output = cspctl(&["validate", "m", "--format", format], work.path(), None);
        assert_eq!(output.status.code(), Some(1));
        assert_printable(
            &format!("validate --format {format} stdout"),
            &output.stdout,
        );
        assert_printable(
            &format!("validate --format {format} stderr"),
            &output.stderr,
        );
        let all = common::text(&output);
        assert!(
            all.contains("bad\\u{1b}]0;pwned\\u{7}\\u{202e}.yaml"),
            "{all}"
        );
    }
}
