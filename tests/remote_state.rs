//! Remote state (issue 15, "Many runners, one tenant"): the state, journals and
//! lock kept in a store every runner reaches, here Azure Blob Storage served by
//! Azurite (started by the test, never mocked; see `common::azurite`) and a
//! `file://` folder, each runner with its own working directory.
//!
//! - Runners share the state: what one applied, the other plans as done.
//! - The lock: a second apply waits and says for whom; fails naming the holder
//!   when it may not wait; a runner killed with SIGKILL keeps the lock until
//!   `force-unlock ID` or until its lease runs out.
//! - A purchase a killed runner announced is settled by the next runner from the
//!   remote journal, on another machine, never bought twice.
//! - Two runners with one remote state and faults on (5xx, 429, answers dropped
//!   after the change), started together, 3 s and 8 s apart: no purchase twice,
//!   and the next plan is empty.
//!
//! Waits are for events (a line on stderr, an order in the simulator); the only
//! time limits are hang guards.

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::azurite::Azurite;
use common::{Sim, cspctl_command, parse_json, sim_config, sim_state, start_with, text};
use cspctl::sim::SimConfig;
use cspctl::sim::faults::Faults;

/// Hang guard for anything a test waits for.
const LIMIT: Duration = Duration::from_secs(600);

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A remote state location and the environment that reaches it.
struct Store {
    label: &'static str,
    url: String,
    env: Vec<(&'static str, String)>,
    _azurite: Option<Azurite>,
    _folder: tempfile::TempDir,
}

/// A `file://` store, and an Azure Blob Storage one on Azurite when Azurite can
/// run here (always in `.ci/run`).
fn stores(container: &str) -> Vec<Store> {
    let folder = tempfile::tempdir().expect("tempdir");
    let mut stores = vec![Store {
        label: "file",
        url: format!("file://{}/state", folder.path().display()),
        env: Vec::new(),
        _azurite: None,
        _folder: folder,
    }];
    if let Some(azurite) = Azurite::start() {
        azurite.create_container(container);
        stores.push(Store {
            label: "azure",
            url: format!("az://{container}/tenant-a"),
            env: azurite.env(),
            _azurite: Some(azurite),
            _folder: tempfile::tempdir().expect("tempdir"),
        });
    }
    stores
}

impl Store {
    /// cspctl in `cwd` with this remote state, against `sim` or the local backend.
    fn command(&self, args: &[&str], cwd: &Path, sim: Option<&Sim>) -> Command {
        let mut command = cspctl_command(args, cwd, sim);
        command.args(["--state-url", &self.url]);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    fn run(&self, args: &[&str], cwd: &Path, sim: Option<&Sim>) -> Output {
        self.command(args, cwd, sim).output().expect("cspctl runs")
    }
}

/// A runner's working directory, empty: it shares nothing with another runner but
/// the remote state.
fn runner() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A child whose stderr lines arrive on a channel, so a test can wait for one.
struct Watched {
    child: Child,
    /// Each stderr line with when it arrived.
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<String>,
    /// How long it waited for the lock: from "Waiting for the lock" to "Locked".
    waited: Option<Duration>,
    waiting_since: Option<Instant>,
}

impl Watched {
    fn spawn(mut command: Command) -> Watched {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cspctl starts");
        let stderr = child.stderr.take().expect("piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send((Instant::now(), line));
            }
        });
        Watched {
            child,
            lines,
            seen: Vec::new(),
            waited: None,
            waiting_since: None,
        }
    }

    fn record(&mut self, (at, line): (Instant, String)) -> String {
        if line.starts_with("Waiting for the lock") {
            self.waiting_since = Some(at);
        }
        if line.starts_with("Locked ")
            && let Some(since) = self.waiting_since
        {
            self.waited = Some(at - since);
        }
        self.seen.push(line.clone());
        line
    }

    /// Waits for a stderr line containing `needle` and returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let until = Instant::now() + LIMIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(received) => {
                    let line = self.record(received);
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with `{needle}` on stderr; it said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Waits for the exit (hang guard) and returns the code, all of stderr and how
    /// long it waited for the lock.
    fn finish(mut self) -> (Option<i32>, String, Option<Duration>) {
        let until = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < until, "cspctl hangs");
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(received) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.record(received);
        }
        (status.code(), self.seen.join("\n"), self.waited)
    }
}

/// The lock id in an apply's "Locked URL (lock ID, ...)" line.
fn lock_id(line: &str) -> String {
    line.split("(lock ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no lock id in {line}"))
        .to_owned()
}

/// A server that accepts connections and never answers: an apply against it
/// holds the lock for as long as it lives.
fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

/// `apply` of examples/basic against a server that never answers, holding the
/// lock until killed.
fn stuck_holder(store: &Store, lease: &str) -> (Watched, String) {
    let cwd = runner();
    let silent = silent_server();
    let mut command = store.command(
        &[
            "apply",
            &example("basic"),
            "--auto-approve",
            "--lock-ttl",
            lease,
            "--timeout",
            "none",
        ],
        cwd.path(),
        None,
    );
    command.args([
        "--backend",
        "partner-center",
        "--endpoint",
        &silent,
        "--authority",
        &silent,
    ]);
    command
        .env(
            "CSPCTL_PC_TENANT_ID",
            "00000000-0000-0000-0000-000000000001",
        )
        .env("CSPCTL_PC_CLIENT_ID", "client")
        .env("CSPCTL_PC_CLIENT_SECRET", "secret");
    let mut holder = Watched::spawn(command);
    let id = lock_id(&holder.wait_for("Locked "));
    // The working directory may go: the holder only needs the remote state.
    drop(cwd);
    (holder, id)
}

/// A sandbox simulator with examples/basic's resellers, as a person adds them.
fn basic_sim(config: SimConfig) -> Sim {
    let sim = start_with(config);
    common::add_declared_resellers(&sim, Path::new(&example("basic")));
    sim
}

fn sandbox_sim() -> Sim {
    basic_sim(sim_config(true))
}

/// `apply examples/basic --auto-approve --lock-timeout SECONDS`.
fn apply_basic(lock_timeout: &str) -> [String; 5] {
    [
        "apply".to_owned(),
        example("basic"),
        "--auto-approve".to_owned(),
        "--lock-timeout".to_owned(),
        lock_timeout.to_owned(),
    ]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn assert_bought_once(sim: &Sim, context: &str) {
    let lines = common::order_lines_by_name(&sim_state(sim));
    assert!(!lines.is_empty(), "nothing was bought: {context}");
    for (name, count) in &lines {
        assert_eq!(*count, 1, "{name} was bought {count} times: {context}");
    }
}

#[test]
fn runners_share_the_local_state_kept_remotely() {
    for store in stores("shared") {
        let (first, second) = (runner(), runner());
        let applied = store.run(
            &["apply", &example("basic"), "--auto-approve"],
            first.path(),
            None,
        );
        let all = text(&applied);
        assert_eq!(applied.status.code(), Some(0), "{}: {all}", store.label);
        assert!(all.contains("Locked "), "{}: {all}", store.label);
        assert!(
            !first.path().join(".cspctl").exists(),
            "{}: nothing is kept on the runner",
            store.label
        );
        // Another runner, with nothing of the first's, plans from the same state.
        let planned = store.run(&["plan", &example("basic")], second.path(), None);
        let all = text(&planned);
        assert_eq!(planned.status.code(), Some(0), "{}: {all}", store.label);
        assert!(all.contains("No changes"), "{}: {all}", store.label);
        let drift = store.run(&["drift", &example("basic")], second.path(), None);
        assert_eq!(
            drift.status.code(),
            Some(0),
            "{}: {}",
            store.label,
            text(&drift)
        );
        // The apply released its lock.
        let unlock = store.run(&["force-unlock", "any-id"], second.path(), None);
        let all = text(&unlock);
        assert_eq!(unlock.status.code(), Some(1), "{}: {all}", store.label);
        assert!(all.contains("already released"), "{}: {all}", store.label);
    }
}

/// The Partner Center snapshot is kept in the remote state too: a runner with
/// nothing of its own refreshes the one an apply on another runner left, instead
/// of reading the whole tenant.
#[test]
fn runners_share_the_partner_center_snapshot_kept_remotely() {
    for store in stores("snapshots") {
        let sim = sandbox_sim();
        let (first, second) = (runner(), runner());
        let applied = store.run(
            &["apply", &example("basic"), "--auto-approve"],
            first.path(),
            Some(&sim),
        );
        let all = text(&applied);
        assert_eq!(applied.status.code(), Some(0), "{}: {all}", store.label);
        assert!(
            all.contains("Read the whole tenant (no snapshot yet)"),
            "{}: {all}",
            store.label
        );
        let planned = store.run(
            &["plan", &example("basic"), "--format", "json"],
            second.path(),
            Some(&sim),
        );
        assert_eq!(
            planned.status.code(),
            Some(0),
            "{}: {}",
            store.label,
            text(&planned)
        );
        let read = &parse_json(&planned)["cost"]["read"];
        assert_eq!(read["mode"], "incremental", "{}: {read}", store.label);
        assert_eq!(read["changed"], 0, "{}: {read}", store.label);
        assert!(
            !second.path().join(".cspctl").exists(),
            "{}: nothing is kept on the runner",
            store.label
        );
        if store.label == "file" {
            let folder = store.url.trim_start_matches("file://");
            let kept: Vec<String> = std::fs::read_dir(folder)
                .expect("the store's folder")
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            assert!(
                kept.iter().any(|name| name.ends_with(".snapshot.json")),
                "{kept:?}"
            );
        }
    }
}

#[test]
fn a_dead_runners_lock_stops_others_until_it_is_forced() {
    for store in stores("forced") {
        let sim = sandbox_sim();
        let (holder, id) = stuck_holder(&store, "10m");

        // Not allowed to wait: fails at once, naming the holder and the way out.
        let cwd = runner();
        let refused = store.run(&strs(&apply_basic("0")), cwd.path(), Some(&sim));
        let all = text(&refused);
        assert_eq!(refused.status.code(), Some(1), "{}: {all}", store.label);
        assert!(all.contains(&id), "{}: {all}", store.label);
        assert!(
            all.contains(&format!("cspctl force-unlock {id}")),
            "{}: {all}",
            store.label
        );

        // Allowed to wait: it waits, saying for whom.
        let mut waiter =
            Watched::spawn(store.command(&strs(&apply_basic("600")), cwd.path(), Some(&sim)));
        let waiting = waiter.wait_for("Waiting for the lock");
        assert!(waiting.contains(&id), "{}: {waiting}", store.label);

        // The holder's runner dies; its lease (10 minutes) would outlive the test.
        holder.kill();
        let forced = store.run(&["force-unlock", &id], cwd.path(), None);
        let all = text(&forced);
        assert_eq!(forced.status.code(), Some(0), "{}: {all}", store.label);
        assert!(
            all.contains(&format!("Released lock {id}")),
            "{}: {all}",
            store.label
        );

        let (code, all, _) = waiter.finish();
        assert_eq!(code, Some(0), "{}: {all}", store.label);
        assert_bought_once(&sim, store.label);
    }
}

#[test]
fn a_dead_runners_lock_is_free_once_its_lease_runs_out() {
    for store in stores("expired") {
        let sim = sandbox_sim();
        let (holder, _) = stuck_holder(&store, "1s");
        holder.kill();
        let cwd = runner();
        let applied = store.run(&strs(&apply_basic("600")), cwd.path(), Some(&sim));
        let all = text(&applied);
        assert_eq!(applied.status.code(), Some(0), "{}: {all}", store.label);
        assert_bought_once(&sim, store.label);
    }
}

#[test]
fn a_purchase_a_killed_runner_announced_is_settled_by_the_next_runner() {
    for store in stores("settled") {
        // Orders stay provisioning until the test moves the clock, so the first
        // runner is still waiting on its purchases when it is killed.
        let mut config = sim_config(true);
        config.frozen_clock = true;
        config.provisioning_delay = Duration::from_secs(3600);
        let sim = basic_sim(config);
        let first = runner();
        let mut killed = Watched::spawn(store.command(
            &["apply", &example("basic"), "--auto-approve"],
            first.path(),
            Some(&sim),
        ));
        let id = lock_id(&killed.wait_for("Locked "));
        let until = Instant::now() + LIMIT;
        while common::order_lines_by_name(&sim_state(&sim)).is_empty() {
            assert!(
                Instant::now() < until,
                "{}: no order was placed",
                store.label
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        killed.kill();
        drop(first);

        // Another runner, another machine: only the remote state is shared.
        let second = runner();
        let forced = store.run(&["force-unlock", &id], second.path(), None);
        assert_eq!(
            forced.status.code(),
            Some(0),
            "{}: {}",
            store.label,
            text(&forced)
        );
        // The next runner settles what the killed one announced; the clock moves
        // while it runs, so the orders it waits for (and any it places, for a
        // purchase the killed runner announced but never sent) provision.
        let mut settling = Watched::spawn(store.command(
            &["apply", &example("basic"), "--auto-approve"],
            second.path(),
            Some(&sim),
        ));
        let until = Instant::now() + LIMIT;
        while settling.child.try_wait().expect("wait").is_none() {
            assert!(
                Instant::now() < until,
                "{}: the next apply hangs",
                store.label
            );
            let (status, answer) = common::http(
                reqwest::Method::POST,
                &format!("{}/_sim/clock/advance", sim.base_url()),
                None,
                Some(serde_json::json!({"seconds": 600})),
            );
            assert_eq!(status, 200, "{answer}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let (code, all, _) = settling.finish();
        assert_eq!(code, Some(0), "{}: {all}", store.label);
        assert!(
            all.contains("Settled"),
            "{}: the purchase journal came from the remote state: {all}",
            store.label
        );
        assert_bought_once(&sim, store.label);
        let planned = store.run(&["plan", &example("basic")], second.path(), Some(&sim));
        assert!(
            text(&planned).contains("No changes"),
            "{}: {}",
            store.label,
            text(&planned)
        );
    }
}

#[test]
fn two_runners_with_one_remote_state_never_buy_twice() {
    for offset in [0, 3, 8] {
        let store = stores("runners").pop().expect("a store");
        let mut config = sim_config(true);
        config.faults = Faults {
            server_error_rate: 0.1,
            throttle_rate: 0.1,
            drop_after_commit_rate: 0.1,
            seed: 15 + offset,
            ..Faults::default()
        };
        let sim = basic_sim(config);
        let (first, second) = (runner(), runner());
        let apply =
            |cwd: &Path| Watched::spawn(store.command(&strs(&apply_basic("600")), cwd, Some(&sim)));
        let started = Instant::now();
        let a = apply(first.path());
        // The second pipeline starts later: a scenario, not a timing assumption.
        std::thread::sleep(Duration::from_secs(offset));
        let b = apply(second.path());
        let (code_a, all_a, waited_a) = a.finish();
        let (code_b, all_b, waited_b) = b.finish();
        let context = format!(
            "{} store, {offset} s apart:\nfirst:\n{all_a}\nsecond:\n{all_b}",
            store.label
        );
        // A run may give up on an action after its retries of simulated faults
        // (exit 1); what it must never do is buy twice.
        for code in [code_a, code_b] {
            assert!(matches!(code, Some(0 | 1)), "{context}");
        }
        let waited = waited_a.or(waited_b).unwrap_or_default();
        eprintln!(
            "{} store, {offset} s apart: exits {code_a:?}/{code_b:?}, waited for the lock {:.2} s, both done in {:.1} s",
            store.label,
            waited.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        assert_bought_once(&sim, &context);
        // Converge without faults; then nothing is left to do.
        let (status, answer) = common::http(
            reqwest::Method::PUT,
            &format!("{}/_sim/faults", sim.base_url()),
            None,
            Some(serde_json::to_value(Faults::default()).expect("json")),
        );
        assert!(status < 300, "{answer}");
        let converged = store.run(
            &["apply", &example("basic"), "--auto-approve"],
            first.path(),
            Some(&sim),
        );
        assert_eq!(converged.status.code(), Some(0), "{}", text(&converged));
        let planned = store.run(&["plan", &example("basic")], second.path(), Some(&sim));
        assert!(text(&planned).contains("No changes"), "{}", text(&planned));
        assert_bought_once(&sim, &context);
    }
}

#[test]
fn damage_in_the_remote_state_is_reported_where_it_is() {
    let store = stores("damaged").remove(0);
    let cwd = runner();
    let applied = store.run(&strs(&apply_basic("0")), cwd.path(), None);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let folder = store.url.strip_prefix("file://").expect("a file store");
    let journal = format!("{folder}/state.json.journal");
    std::fs::write(&journal, "not a journal header\n").expect("damage the journal");
    for args in [vec!["plan", &example("basic")], strs(&apply_basic("0"))] {
        let refused = store.run(&args, cwd.path(), None);
        let all = text(&refused);
        assert_eq!(refused.status.code(), Some(1), "{all}");
        assert!(
            all.contains(&format!("{}/state.json.journal", store.url)),
            "names the remote object, not a working copy: {all}"
        );
        assert!(!all.contains("cspctl-remote-"), "{all}");
    }
    assert_eq!(
        std::fs::read_to_string(&journal).expect("journal"),
        "not a journal header\n",
        "the damaged object is left as it is"
    );
}
