//! cspctl against servers that do not play fair (issue 14, "Network"): each test
//! points the real binary (or, for the per-request timeout, the client) at a small
//! TCP server in this process that answers Entra ID's token request and then
//! misbehaves on every Partner Center request.
//!
//! What a user relies on, and why each test exists:
//! - **A deadline** (`--timeout`): a server that accepts and never answers, or one
//!   that answers 429 forever, ends the run at the deadline with an error naming
//!   the request and exit 1, instead of after 507 s of retries or 15 minutes of
//!   throttling. An apply cut off by it keeps its purchase in flight open in the
//!   journal, starts nothing new, and the next apply settles the purchase instead
//!   of buying again (against the simulator).
//! - **A body cap** (`--max-response-bytes`): an endless body, a body announced
//!   larger than the cap, and an endless token answer each fail at once with an
//!   error naming the request, having read no more than the cap.
//! - **A per-request timeout that bounds the body**: a body trickled forever ends
//!   within the request's timeout.
//!
//! The only time limit in a test is a hang guard, generous for a busy machine.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{
    CLIENT_SECRET, REFRESH_TOKEN, add_declared_resellers, cspctl, http, point_at, sim_config,
    sim_counts, start_with, text,
};
use cspctl::backend::partner_center::journal::{default_journal_path, read_open};
use cspctl::sim::{DEFAULT_PARTNER_TENANT_ID, SimConfig};

/// Longer than any test here should take on a loaded two-core machine.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// How the hostile server answers a request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// A token, as Entra ID gives one.
    Token,
    /// Reads the request and never answers.
    Silent,
    /// `429` with `Retry-After: 1`, every time.
    Throttle,
    /// `200` with a chunked body that never ends.
    Endless,
    /// `200` announcing a 10 GB body, then nothing.
    Announced,
    /// `200` announcing 1 MB, then a byte every 50 ms.
    Trickle,
}

/// A server on 127.0.0.1 answering the token request with `token` and every other
/// request with `api`; counts the bytes of body it managed to send.
struct Hostile {
    url: String,
    sent: Arc<AtomicU64>,
    /// The `MS-RequestId` of each API request received.
    request_ids: Arc<Mutex<Vec<String>>>,
}

fn hostile(token: Behaviour, api: Behaviour) -> Hostile {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let sent = Arc::new(AtomicU64::new(0));
    let request_ids = Arc::new(Mutex::new(Vec::new()));
    let (counted, api_requests) = (Arc::clone(&sent), Arc::clone(&request_ids));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (sent, requests) = (Arc::clone(&counted), Arc::clone(&api_requests));
            std::thread::spawn(move || serve(stream, token, api, &sent, &requests));
        }
    });
    Hostile {
        url,
        sent,
        request_ids,
    }
}

/// Serves one connection, one request (`Connection: close`); a write error means
/// the client went away, which ends it.
fn serve(
    stream: TcpStream,
    token: Behaviour,
    api: Behaviour,
    sent: &AtomicU64,
    request_ids: &Mutex<Vec<String>>,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    let mut request_id = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("ms-requestid")
        {
            request_id = value.trim().to_owned();
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let behaviour = if request_line.contains("/oauth2/token") {
        token
    } else {
        request_ids.lock().expect("ids").push(request_id);
        api
    };
    let mut stream = stream;
    let head = |status: &str, headers: &str| {
        format!(
            "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: application/json\r\n{headers}\r\n"
        )
    };
    let _ = match behaviour {
        Behaviour::Token => {
            let body = r#"{"token_type":"Bearer","expires_in":3600,"access_token":"hostile-access-token"}"#;
            stream.write_all(
                format!(
                    "{}{body}",
                    head("200 OK", &format!("Content-Length: {}\r\n", body.len()))
                )
                .as_bytes(),
            )
        }
        Behaviour::Silent => {
            // Holds the connection until the client gives up on it.
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
            Ok(())
        }
        Behaviour::Throttle => stream.write_all(
            head(
                "429 Too Many Requests",
                "Retry-After: 1\r\nContent-Length: 0\r\n",
            )
            .as_bytes(),
        ),
        Behaviour::Endless => {
            let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
            stream
                .write_all(head("200 OK", "Transfer-Encoding: chunked\r\n").as_bytes())
                .and_then(|()| {
                    loop {
                        stream.write_all(chunk.as_bytes())?;
                        sent.fetch_add(0x10000, Ordering::Relaxed);
                    }
                })
        }
        Behaviour::Announced => {
            let _ = stream.write_all(head("200 OK", "Content-Length: 10000000000\r\n").as_bytes());
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
            Ok(())
        }
        Behaviour::Trickle => stream
            .write_all(head("200 OK", "Content-Length: 1000000\r\n").as_bytes())
            .and_then(|()| {
                loop {
                    // The hostile behaviour itself, not a synchronisation.
                    std::thread::sleep(Duration::from_millis(50));
                    stream.write_all(b" ")?;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }),
    };
}

/// Runs cspctl in `dir` against `server` (endpoint and authority), killing it at
/// the hang guard; returns its output and how long it took.
fn run_against(url: &str, args: &[&str], dir: &Path) -> (Output, Duration) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cspctl"));
    command.args(args);
    point_at(&mut command, url, false, (CLIENT_SECRET, REFRESH_TOKEN));
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CSPCTL_PC_MAX_RESPONSE_BYTES")
        .env_remove("CSPCTL_BACKEND")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let child = command.spawn().expect("cspctl starts");
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(HANG_GUARD) {
        Ok(output) => (output.expect("cspctl ran"), started.elapsed()),
        Err(_) => {
            // The hang guard: end the child this test started, by its pid.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("cspctl {args:?} still ran after {HANG_GUARD:?}");
        }
    }
}

/// A directory with one customer manifest (enough for plan to read the tenant).
fn manifests() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("customer.yaml"),
        "apiVersion: cspctl/v1\nkind: Reseller\nmetadata: {name: northwind}\nspec: {tenantId: 6b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d, mpnId: \"4847383\", displayName: Northwind, location: US}\n---\napiVersion: cspctl/v1\nkind: Customer\nmetadata: {name: contoso}\nspec:\n  domain: contoso.onmicrosoft.com\n  companyName: Contoso\n  resellers: [northwind]\n  billing:\n    email: billing@contoso.example\n    culture: en-US\n    language: en\n    address: {firstName: Ana, lastName: Bowman, addressLine1: 1 Main St, city: Redmond, state: WA, postalCode: \"98052\", country: US}\n",
    )
    .expect("write manifest");
    dir
}

/// Asserts a run failed with exit 1 and an error containing every one of `needles`.
fn assert_fails_with(output: &Output, needles: &[&str]) {
    let all = text(output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    for needle in needles {
        assert!(all.contains(needle), "`{needle}` missing from:\n{all}");
    }
    for secret in [CLIENT_SECRET, REFRESH_TOKEN, "hostile-access-token"] {
        assert!(!all.contains(secret), "{all}");
    }
}

#[test]
fn a_server_that_never_answers_stops_plan_at_the_timeout() {
    let dir = manifests();
    let server = hostile(Behaviour::Token, Behaviour::Silent);
    let (output, took) = run_against(&server.url, &["plan", "--timeout", "3s"], dir.path());
    assert_fails_with(
        &output,
        &[
            "GET /v1/",
            "request id",
            "stopped by the run's deadline (--timeout 3s)",
        ],
    );
    eprintln!("plan against a server that never answers failed after {took:?}");

    // The token request is bound by the same deadline.
    let silent = hostile(Behaviour::Silent, Behaviour::Silent);
    let (output, _) = run_against(&silent.url, &["plan", "--timeout", "2s"], dir.path());
    assert_fails_with(
        &output,
        &[
            &format!("POST /{DEFAULT_PARTNER_TENANT_ID}/oauth2/token"),
            "--timeout 2s",
        ],
    );
}

#[test]
fn a_server_that_throttles_forever_stops_plan_at_the_timeout() {
    let dir = manifests();
    let server = hostile(Behaviour::Token, Behaviour::Throttle);
    let (output, took) = run_against(&server.url, &["plan", "--timeout", "4s"], dir.path());
    assert_fails_with(
        &output,
        &["GET /v1/", "HTTP 429", "(throttled)", "--timeout 4s"],
    );
    eprintln!("plan against a server answering 429 forever failed after {took:?}");
}

#[test]
fn an_endless_body_is_cut_at_the_cap_and_not_retried() {
    let dir = manifests();
    let server = hostile(Behaviour::Token, Behaviour::Endless);
    let (output, _) = run_against(
        &server.url,
        &[
            "plan",
            "--timeout",
            "100s",
            "--max-response-bytes",
            "1048576",
        ],
        dir.path(),
    );
    assert_fails_with(
        &output,
        &["GET /v1/", "request id", "larger than 1048576 bytes"],
    );
    // Retries reuse the request id: none may appear twice.
    let mut ids = server.request_ids.lock().expect("ids").clone();
    let asked = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), asked, "the same answer was asked for again");
    // What the server got out before cspctl hung up: the cap, plus what socket
    // buffers hold (a few MiB at most), not an unbounded stream.
    let sent = server.sent.load(Ordering::Relaxed);
    assert!(sent < 64 << 20, "{sent} bytes were sent");
}

#[test]
fn a_body_announced_over_the_cap_is_refused_unread() {
    let dir = manifests();
    let server = hostile(Behaviour::Token, Behaviour::Announced);
    // Without the check of the announced length, the read would wait for bytes
    // that never come and end at the deadline with another message.
    let (output, _) = run_against(&server.url, &["plan", "--timeout", "100s"], dir.path());
    assert_fails_with(
        &output,
        &["GET /v1/", &format!("larger than {} bytes", 32 << 20)],
    );
}

#[test]
fn the_token_answer_is_capped_too() {
    let dir = manifests();
    let server = hostile(Behaviour::Endless, Behaviour::Silent);
    let (output, _) = run_against(
        &server.url,
        &["plan", "--timeout", "100s", "--max-response-bytes", "65536"],
        dir.path(),
    );
    assert_fails_with(
        &output,
        &[
            &format!("POST /{DEFAULT_PARTNER_TENANT_ID}/oauth2/token"),
            "larger than 65536 bytes",
        ],
    );
    let sent = server.sent.load(Ordering::Relaxed);
    assert!(sent < 64 << 20, "{sent} bytes were sent");
}

/// The per-request timeout bounds the whole body read, not each chunk: a body
/// trickled a byte every 50 ms would otherwise take 14 hours.
#[test]
fn a_trickled_body_ends_within_the_request_timeout() {
    use cspctl::backend::partner_center::{
        Credentials, DEFAULT_MAX_RESPONSE_BYTES, PartnerCenterBackend, PartnerCenterConfig,
        RetryPolicy, Secret, Tuning,
    };
    common::install_tls_provider();
    let server = hostile(Behaviour::Token, Behaviour::Trickle);
    let tuning = Tuning {
        retry: RetryPolicy {
            attempts: 1,
            request_timeout: Duration::from_secs(2),
            ..RetryPolicy::default()
        },
        ..Tuning::default()
    };
    let backend = PartnerCenterBackend::with_tuning(
        PartnerCenterConfig {
            endpoint: server.url.clone(),
            authority: server.url.clone(),
            sandbox: false,
            credentials: Credentials {
                tenant_id: DEFAULT_PARTNER_TENANT_ID.to_owned(),
                client_id: "hostile-client".to_owned(),
                client_secret: Secret::new(CLIENT_SECRET),
                refresh_token: None,
            },
            read_concurrency: 1,
            provisioning_timeout: Duration::from_secs(1),
            // No run deadline: only the request's own timeout can end the read.
            timeout: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        },
        tuning,
    )
    .expect("a client");
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(backend.block_on(backend.client().read_live()).map(|_| ()));
    });
    let error = finished
        .recv_timeout(HANG_GUARD)
        .expect("the trickled read ended")
        .expect_err("a trickled body is an error")
        .to_string();
    assert!(
        error.contains("GET /v1/") && error.contains("timed out"),
        "{error}"
    );
    assert!(
        server.sent.load(Ordering::Relaxed) > 0,
        "the body did trickle"
    );
}

/// An apply cut off by the deadline while a purchase is in flight (placed, not
/// provisioned: the simulator's clock is frozen) keeps that purchase open in the
/// journal, starts nothing after the deadline and exits 1; the next apply settles
/// the purchase rather than buying it again.
#[test]
fn an_apply_stopped_by_the_deadline_keeps_its_purchase_and_buys_it_once() {
    let sim = start_with(SimConfig {
        frozen_clock: true,
        provisioning_delay: Duration::from_secs(600),
        ..sim_config(true)
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let subscription = |name: &str, offer: &str| {
        format!(
            "---\napiVersion: cspctl/v1\nkind: Subscription\nmetadata: {{name: {name}}}\nspec: {{customer: contoso, offerId: \"{offer}\", quantity: 5, termDuration: P1Y, billingCycle: monthly, friendlyName: {name}}}\n"
        )
    };
    std::fs::write(
        dir.path().join("fleet.yaml"),
        format!(
            "apiVersion: cspctl/v1\nkind: Reseller\nmetadata: {{name: northwind}}\nspec: {{tenantId: 6b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d, mpnId: \"4847383\", displayName: Northwind, location: US}}\n---\napiVersion: cspctl/v1\nkind: Customer\nmetadata: {{name: contoso}}\nspec:\n  domain: contoso-deadline.onmicrosoft.com\n  companyName: Contoso\n  resellers: [northwind]\n  billing:\n    email: billing@contoso.example\n    culture: en-US\n    language: en\n    address: {{firstName: Ana, lastName: Bowman, addressLine1: 1 Main St, city: Redmond, state: WA, postalCode: \"98052\", country: US}}\n  agreement:\n    contact: {{firstName: Ana, lastName: Bowman, email: ana@contoso.example}}\n    dateAgreed: \"2026-01-15\"\n{}{}",
            subscription("basic", "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM"),
            subscription("standard", "CFQ7TTC0LDPB:0001:CFQ7TTC0K5BF"),
        ),
    )
    .expect("write manifests");
    add_declared_resellers(&sim, dir.path());
    let apply = |extra: &[&str]| {
        let mut args = vec!["apply", "--auto-approve", "--parallelism", "1"];
        args.extend_from_slice(extra);
        let started = Instant::now();
        let output = cspctl(&args, dir.path(), Some(&sim));
        (output, started.elapsed())
    };

    // Provisioning polls wait 2, 4, 8 s, then a wait would pass the deadline: the
    // purchase fails at once, open in the journal. (Whether the second purchase
    // starts before the deadline depends on the machine's speed; the executor's
    // unit tests pin that nothing starts after it.)
    let (output, took) = apply(&["--timeout", "20s"]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(
        all.contains("stopped by the run's deadline (--timeout 20s)"),
        "{all}"
    );
    assert!(all.contains("do not buy again"), "{all}");
    eprintln!("the apply stopped after {took:?}");
    let journal = dir
        .path()
        .join(default_journal_path(DEFAULT_PARTNER_TENANT_ID));
    let open = read_open(&journal).expect("journal").len();
    assert!(open >= 1, "{all}");
    assert_eq!(
        sim_counts(&sim).0,
        open,
        "every order placed is open in the journal"
    );

    // The orders complete; the next apply settles them and buys only what is left.
    let (status, body) = http(
        reqwest::Method::POST,
        &format!("{}/_sim/clock/advance", sim.base_url()),
        None,
        Some(serde_json::json!({"seconds": 3600})),
    );
    assert!(status < 300, "{body}");
    let (output, _) = apply(&[]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(all.contains("Settled"), "{all}");
    assert_eq!(sim_counts(&sim), (2, 2), "each subscription bought once");
    assert!(read_open(&journal).expect("journal").is_empty(), "{all}");
}
