//! Helpers shared by the tests that run the real `cspctl` binary against the Partner
//! Center simulator (`tests/sim_e2e.rs`, `tests/reliability.rs`): starting the
//! simulator in-process, pointing cspctl at it, reading JSON output and the
//! simulator's `/_sim` endpoints, and collecting every secret a run could leak;
//! and the async HTTP calls of the simulator's black-box suites
//! (`tests/sim_contract.rs`, `tests/sim_variants.rs`).
//!
//! Each test binary uses a different subset, hence `dead_code` is allowed here.

#![allow(dead_code)]

pub mod azurite;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use cspctl::sim::input::normalize_keys;
use cspctl::sim::{Faults, SimConfig, SimHandle, spawn};
use reqwest::Method;
use serde_json::Value;

/// The simulated clock's start, also given to cspctl as `CSPCTL_NOW`.
pub const NOW: &str = "2026-03-01T10:00:00Z";
/// Credentials the simulator is configured with (not its defaults, so a leak of
/// these values can only come from a test's own run).
pub const CLIENT_SECRET: &str = "e2e-client-secret-value";
pub const REFRESH_TOKEN: &str = "e2e-refresh-token-value";

/// A running simulator and whether it plays the integration sandbox.
pub struct Sim {
    pub handle: SimHandle,
    pub sandbox: bool,
}

impl Sim {
    pub fn base_url(&self) -> String {
        self.handle.base_url()
    }
}

/// The configuration the tests start from: the test credentials, a fixed start
/// time, provisioning in 300 ms.
pub fn sim_config(sandbox: bool) -> SimConfig {
    SimConfig {
        sandbox,
        client_secret: CLIENT_SECRET.to_owned(),
        refresh_token: REFRESH_TOKEN.to_owned(),
        provisioning_delay: Duration::from_millis(300),
        start_time: NOW.to_owned(),
        ..SimConfig::default()
    }
}

pub fn start(sandbox: bool) -> Sim {
    start_with_faults(sandbox, Faults::default())
}

pub fn start_with_faults(sandbox: bool, faults: Faults) -> Sim {
    start_with(SimConfig {
        faults,
        ..sim_config(sandbox)
    })
}

/// The documented answer shapes every simulator of the suite serves, mixed at
/// random under the fault seed (issue "Speak Partner Center as Microsoft documents
/// it": the end-to-end and reliability suites run with them on). Half of the
/// answers carry a byte-order mark, half PascalCase keys, half of the subscriptions
/// only the documented fields (no term, billing cycle or reseller of record), half
/// of the checkouts answer pending and split, half of the PATCHes 202.
pub fn documented_mix() -> cspctl::sim::faults::Variants {
    cspctl::sim::faults::Variants {
        bom: 0.5,
        pascal_case: 0.5,
        documented_subscription: 0.5,
        pending_checkout: 0.5,
        split_checkout: 0.5,
        accepted_patch: 0.5,
    }
}

/// Starts the simulator on 127.0.0.1:0 with `config`, serving the
/// [`documented_mix`] unless the test chose variants itself; returns once it
/// listens.
pub fn start_with(mut config: SimConfig) -> Sim {
    if config.faults.variants == cspctl::sim::faults::Variants::default() {
        config.faults.variants = documented_mix();
    }
    start_plain(config)
}

/// Starts the simulator with exactly `config` (no documented variants unless it
/// names them): for a test about what the simulator's fields say.
pub fn start_plain(config: SimConfig) -> Sim {
    let sandbox = config.sandbox;
    let handle = serve(config);
    Sim { handle, sandbox }
}

/// Starts the simulator on 127.0.0.1:0 with exactly `config`; returns once it listens.
pub fn serve(config: SimConfig) -> SimHandle {
    install_tls_provider();
    spawn(config, "127.0.0.1:0".parse().expect("address")).expect("the simulator starts")
}

/// A plain-HTTP client (with the TLS provider reqwest needs installed).
pub fn client() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::new()
}

/// reqwest is built without a default TLS provider (cspctl installs ring itself).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Points a cspctl command at the simulator at `url`: the partner-center backend
/// flags, and the credentials the simulator accepts (`secrets`: client secret and
/// refresh token; its defaults for the tenant and client ids).
pub fn point_at(command: &mut Command, url: &str, sandbox: bool, secrets: (&str, &str)) {
    let defaults = SimConfig::default();
    command
        .args([
            "--backend",
            "partner-center",
            "--endpoint",
            url,
            "--authority",
            url,
        ])
        .env("CSPCTL_PC_TENANT_ID", &defaults.partner_tenant_id)
        .env("CSPCTL_PC_CLIENT_ID", &defaults.client_id)
        .env("CSPCTL_PC_CLIENT_SECRET", secrets.0)
        .env("CSPCTL_PC_REFRESH_TOKEN", secrets.1)
        .env_remove("CSPCTL_PC_CREDENTIALS")
        .env_remove("CSPCTL_PC_JOURNAL");
    if sandbox {
        command.arg("--sandbox");
    }
}

/// Runs cspctl with the simulator's default credentials against a simulator started
/// as its own process (`cspctl sim serve`).
pub fn cspctl_at(url: &str, sandbox: bool, args: &[&str], cwd: &Path) -> Output {
    let defaults = SimConfig::default();
    let mut command = Command::new(env!("CARGO_BIN_EXE_cspctl"));
    command.args(args).current_dir(cwd).env("NO_COLOR", "1");
    point_at(
        &mut command,
        url,
        sandbox,
        (&defaults.client_secret, &defaults.refresh_token),
    );
    command.output().expect("cspctl runs")
}

/// A cspctl command in `cwd` against the simulator (`sim`, with the test
/// credentials) or, with `None`, the local backend; not started yet.
pub fn cspctl_command(args: &[&str], cwd: &Path, sim: Option<&Sim>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cspctl"));
    command
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("CSPCTL_NOW", NOW)
        .env_remove("CSPCTL_BACKEND")
        .env_remove("CSPCTL_STATE_URL")
        .env_remove("CSPCTL_LOCK_TTL")
        .env_remove("GITHUB_BASE_REF")
        .env_remove("CI_MERGE_REQUEST_DIFF_BASE_SHA");
    if let Some(sim) = sim {
        point_at(
            &mut command,
            &sim.base_url(),
            sim.sandbox,
            (CLIENT_SECRET, REFRESH_TOKEN),
        );
    }
    command
}

/// Runs cspctl against the simulator (`sim`) or, with `None`, the local backend.
pub fn cspctl(args: &[&str], cwd: &Path, sim: Option<&Sim>) -> Output {
    cspctl_command(args, cwd, sim)
        .output()
        .expect("cspctl runs")
}

/// stdout then stderr, for assertion messages and leak checks.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// stdout as one JSON document.
pub fn parse_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}):\n{}", text(output)))
}

/// stdout as JSON Lines (`apply --format json`): one event per line. A line that
/// is not JSON fails the test, except a torn last line of a killed process.
pub fn parse_json_lines(stdout: &[u8], killed: bool) -> Vec<Value> {
    let text = String::from_utf8_lossy(stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut events = Vec::new();
    for (number, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(event) => events.push(event),
            Err(_) if killed && number + 1 == lines.len() => {}
            Err(e) => panic!("line {} of stdout is not JSON ({e}):\n{text}", number + 1),
        }
    }
    events
}

/// One HTTP call to the simulator, for playing the other party and making drift.
pub fn http(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut request = client().request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the simulator answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        // Read as cspctl reads Partner Center: the simulator may answer in a
        // documented shape (byte-order mark, PascalCase keys).
        let value =
            cspctl::backend::partner_center::http::parse_body(&bytes).unwrap_or(Value::Null);
        (status, value)
    })
}

/// `GET /_sim/<what>` (`state`, `stats`, `faults`, `clock`), asserted 200.
pub fn sim_get(sim: &Sim, what: &str) -> Value {
    let (status, value) = http(
        reqwest::Method::GET,
        &format!("{}/_sim/{what}", sim.base_url()),
        None,
        None,
    );
    assert_eq!(status, 200, "GET /_sim/{what}: {value}");
    value
}

/// The whole simulated state (`GET /_sim/state`).
pub fn sim_state(sim: &Sim) -> Value {
    sim_get(sim, "state")
}

/// Order lines per friendly name, across every order the simulator holds.
pub fn order_lines_by_name(state: &Value) -> std::collections::BTreeMap<String, usize> {
    let mut lines = std::collections::BTreeMap::new();
    for order in state["orders"].as_array().expect("orders") {
        let items = order["lineItems"]
            .as_array()
            .or_else(|| order["order"]["lineItems"].as_array())
            .cloned()
            .unwrap_or_default();
        for line in items {
            let name = line["friendlyName"].as_str().unwrap_or("?").to_owned();
            *lines.entry(name).or_insert(0) += 1;
        }
    }
    lines
}

/// The simulator's counters (`GET /_sim/stats`).
pub fn sim_stats(sim: &Sim) -> Value {
    sim_get(sim, "stats")
}

/// Counts of orders and subscriptions the simulator holds, to catch duplicates.
pub fn sim_counts(sim: &Sim) -> (usize, usize) {
    let state = sim_state(sim);
    let count = |key: &str| -> usize {
        match &state[key] {
            Value::Array(items) => items.len(),
            Value::Object(map) => map.len(),
            _ => 0,
        }
    };
    (count("orders"), count("subscriptions"))
}

/// An App+User token, as cspctl itself gets one.
pub fn token(sim: &Sim) -> String {
    let defaults = SimConfig::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let response = client()
            .post(format!(
                "{}/{}/oauth2/token",
                sim.base_url(),
                defaults.partner_tenant_id
            ))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", defaults.client_id.as_str()),
                ("client_secret", CLIENT_SECRET),
                ("refresh_token", REFRESH_TOKEN),
                ("resource", "https://api.partnercenter.microsoft.com"),
            ])
            .send()
            .await
            .expect("token endpoint answers");
        let body: Value = response.json().await.expect("token JSON");
        body["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    })
}

/// The configured client secret and refresh token, and every access and refresh
/// token the simulator issued so far (from `/_sim/state`).
pub fn issued_secrets(sim: &Sim) -> Vec<String> {
    let state = sim_state(sim);
    let mut secrets = vec![CLIENT_SECRET.to_owned(), REFRESH_TOKEN.to_owned()];
    for token in state["accessTokens"].as_array().expect("access tokens") {
        secrets.push(token["token"].as_str().expect("token").to_owned());
    }
    for token in state["refreshTokens"].as_array().expect("refresh tokens") {
        secrets.push(token.as_str().expect("token").to_owned());
    }
    secrets
}

/// Adds the resellers the manifests in `dir` declare with a tenant id to the
/// simulator, as a person adds them in Partner Center: the integration sandbox
/// creates a reseller only with a tenant id of its own (`sandboxTenant`), so a
/// declared one exists only if added. Returns how many were added.
pub fn add_declared_resellers(sim: &Sim, dir: &Path) -> usize {
    let (sources, problems) = cspctl::manifest::files::read_manifest_files(&[dir.to_path_buf()]);
    assert!(problems.is_empty(), "{problems:#?}");
    let (manifests, problems) = cspctl::manifest::load::load_manifests(
        &sources,
        &cspctl::manifest::load::SchemaValidators::new(),
    );
    assert!(problems.is_empty(), "{problems:#?}");
    let mut added = 0;
    for reseller in &manifests.resellers {
        let spec = &reseller.spec;
        let Some(tenant_id) = &spec.tenant_id else {
            continue;
        };
        let (status, body) = http(
            reqwest::Method::POST,
            &format!("{}/_sim/resellers", sim.base_url()),
            None,
            Some(serde_json::json!({
                "tenantId": tenant_id, "mpnId": spec.mpn_id,
                "name": spec.display_name, "location": spec.location,
            })),
        );
        assert!(status < 300, "adding reseller {}: {body}", reseller.name);
        added += 1;
    }
    added
}

/// Changes a subscription through the API as another tool would (`PATCH` with
/// the full resource `subscription`); when Partner Center answers 202 Accepted
/// (change-the-quantity-of-a-subscription.md), waits until the subscription shows
/// `field` = `value`, as that page says to. Hang guard: a minute.
pub fn patch_subscription_directly(
    sim: &Sim,
    token: &str,
    customer: &str,
    subscription: Value,
    field: &str,
    value: Value,
) {
    let id = subscription["id"].as_str().expect("id").to_owned();
    let url = format!(
        "{}/v1/customers/{customer}/subscriptions/{id}",
        sim.base_url()
    );
    let (status, patched) = http(
        reqwest::Method::PATCH,
        &url,
        Some(token),
        Some(subscription.clone()),
    );
    assert!(
        status == 200 || status == 202,
        "{status} {patched}\nPATCH of {subscription:#}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while http(reqwest::Method::GET, &url, Some(token), None).1[field] != value {
        assert!(
            std::time::Instant::now() < deadline,
            "the accepted change of {field} never showed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- async calls, for the simulator's black-box suites ------------------------

/// The byte-order mark the simulator's `bom` variant starts a body with.
pub const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// A request body: JSON, raw bytes, or none at all.
pub enum Body {
    None,
    Json(Value),
    Raw(&'static str),
}

impl From<Option<Value>> for Body {
    fn from(body: Option<Value>) -> Body {
        body.map_or(Body::None, Body::Json)
    }
}

/// The simulator's answer, read every way the suites look at it.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
    /// The body without a byte-order mark, keys as sent (`Null` if not JSON).
    pub body: Value,
    /// The same with keys normalized to camelCase, as cspctl reads them.
    pub normalized: Value,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The status and Partner Center's error code, as a refusal is asserted.
    pub fn status_and_code(&self) -> (u16, Option<u64>) {
        (self.status, self.normalized["code"].as_u64())
    }

    pub fn has_bom(&self) -> bool {
        self.bytes.starts_with(&BOM)
    }
}

/// `method path` with an optional bearer token, body and `MS-RequestId`.
pub async fn call(
    sim: &SimHandle,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: impl Into<Body>,
    request_id: Option<&str>,
) -> Answer {
    let headers = [("ms-requestid", request_id.unwrap_or(""))];
    call_with(sim, method, path, token, body, &headers).await
}

/// [`call`] with any headers (an empty value is not sent).
pub async fn call_with(
    sim: &SimHandle,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: impl Into<Body>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = client().request(method, format!("{}{path}", sim.base_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers.iter().filter(|(_, value)| !value.is_empty()) {
        request = request.header(*name, *value);
    }
    request = match body.into() {
        Body::None => request,
        Body::Json(value) => request.json(&value),
        Body::Raw(text) => request
            .header("content-type", "application/json")
            .body(text),
    };
    let response = request.send().await.expect("the simulator answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body").to_vec();
    let json = bytes.strip_prefix(&BOM).unwrap_or(&bytes);
    let body: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        bytes,
        normalized: normalize_keys(body.clone()),
        body,
    }
}

/// The token endpoint's status and JSON answer for `form`; Entra's answers are
/// never shaped (no byte-order mark).
pub async fn token_response(sim: &SimHandle, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .post(format!(
            "{}/{}/oauth2/token",
            sim.base_url(),
            SimConfig::default().partner_tenant_id
        ))
        .form(form)
        .send()
        .await
        .expect("token endpoint answers");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    assert!(!bytes.starts_with(&BOM), "Entra's answers are not shaped");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// An App+User token for the simulator's default credentials.
pub async fn app_user(sim: &SimHandle) -> String {
    let (status, body) = token_response(
        sim,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "cspctl-sim"),
            ("client_secret", "sim-secret"),
            ("refresh_token", "sim-refresh-token"),
            ("resource", "https://api.partnercenter.microsoft.com"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "user_impersonation");
    assert!(body["expires_in"].is_string() && body["refresh_token"].is_string());
    body["access_token"].as_str().expect("token").to_owned()
}

/// `POST /_sim/clock/advance` (the clock is frozen in these suites).
pub async fn advance(sim: &SimHandle, seconds: i64) {
    let a = call(
        sim,
        Method::POST,
        "/_sim/clock/advance",
        None,
        Some(serde_json::json!({"seconds": seconds})),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(!a.has_bom(), "/_sim answers are not shaped");
}

/// `PUT /_sim/faults`.
pub async fn put_faults(sim: &SimHandle, faults: &Faults) {
    let body = serde_json::to_value(faults).expect("json");
    let a = call(sim, Method::PUT, "/_sim/faults", None, Some(body), None).await;
    assert_eq!(a.status, 200, "{}", a.text());
}
