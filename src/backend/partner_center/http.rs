//! The HTTP layer: Entra ID tokens, Partner Center's request headers, retries
//! and error mapping. It knows nothing about resources: callers give a method,
//! a path under `/v1`, an optional JSON body and the request id to send.
//!
//! Retry rules (partner-center-api.md §2, §4): connection errors, timeouts, 408
//! and 5xx are retried with exponential backoff and jitter; 429 waits for
//! `Retry-After`; 409/800060 ("order in progress") waits and retries. Every retry
//! of a request carries the same `MS-RequestId`, so Partner Center's idempotency
//! makes it safe for purchases. Other 4xx are never retried. A 401 refreshes the
//! token once.
//!
//! Every attempt first waits for its turn in the [`Throttle`] (rate limits per
//! partner and per customer, learned from 429s, see `throttle`), which also does the
//! waiting a 429 asks for, for every request of the throttled key at once.
//!
//! Every request, its retries and its waits end by the run's [`Deadline`]
//! (`--timeout`), and every answer (the token's included) is read up to
//! `max_response_bytes`, within the per-request timeout: a server cannot make a run
//! last or grow without bound.
//!
//! Secrets (client secret, refresh token, access token) go only into the request
//! that needs them; no error built here contains one.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::credentials::{APP_USER_HINT, Credentials, Secret};
use super::deadline::Deadline;
use super::throttle::{Scope, Throttle, ThrottleTuning};
use super::transport::{InProcessRequest, InProcessServer, Transport};
use super::wire::{self, ApiFault, TokenError, TokenResponse};
use crate::backend::{BackendError, RetryNotice, report_retry};
use crate::ids::{random_guid, random_u64};

/// The audience of Partner Center tokens.
pub const RESOURCE: &str = "https://api.partnercenter.microsoft.com";
/// Refresh a token this long before it expires (as the .NET SDK does).
const EXPIRY_BUFFER: Duration = Duration::from_secs(30);
/// "Your order is in progress": the same request is still being processed.
pub const CODE_ORDER_IN_PROGRESS: u32 = 800_060;

/// How failed requests are retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// First backoff; doubled per attempt.
    pub base: Duration,
    /// Longest single backoff.
    pub cap: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Longest `Retry-After` honoured; a longer one is cut to this.
    pub retry_after_cap: Duration,
    /// How long one request may wait on 429s in all. Throttling is not a failure of
    /// the request: it is retried as Partner Center asks (`Retry-After`) without
    /// using up `attempts`, until this much waiting is spent.
    pub throttled_budget: Duration,
    /// Per-request timeout, from connecting to the last byte of the body.
    pub request_timeout: Duration,
    /// The run's deadline (`--timeout`).
    pub deadline: Deadline,
    /// The largest response body read (`--max-response-bytes`).
    pub max_response_bytes: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            attempts: 5,
            retry_after_cap: Duration::from_secs(120),
            throttled_budget: Duration::from_secs(900),
            request_timeout: Duration::from_secs(100),
            deadline: Deadline::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl RetryPolicy {
    /// Backoff before retry number `retry` (1-based): `base · 2^(retry-1)`, capped,
    /// with ±25 % jitter so parallel clients do not retry in step.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let capped = exp.min(self.cap);
        let jitter = (random_u64() % 501) as f64 / 1000.0 + 0.75; // 0.75..=1.25
        capped.mul_f64(jitter).min(self.cap)
    }
}

/// `MS-Contract-Version`, which headers.md lists as required on every request.
pub const CONTRACT_VERSION: &str = "v1";
/// The largest response body read unless told otherwise. Partner Center's largest
/// documented answers (a 500-customer page, a customer's subscription list) are a
/// few MiB; anything far larger is a broken server or proxy, and reading it whole
/// would let a server decide how much memory cspctl uses.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;

/// A response body as JSON, keys normalized: empty (or blank) is `Null`, and a
/// leading UTF-8 byte-order mark is skipped (both documented support-contact
/// responses begin with U+FEFF, and serde_json rejects it).
pub fn parse_body(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice::<Value>(bytes).map(wire::normalize_keys)
}

enum ReadError {
    Transport(reqwest::Error),
    /// Over the cap: fatal, not retried (the same server sends the same answer),
    /// with the message naming `described`.
    TooLarge(BackendError),
}

/// Reads a body chunk by chunk, failing as soon as it passes `cap` bytes (at once
/// when the announced length does). The client's timeout bounds the whole read, so
/// a body trickled forever ends too.
async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    described: &str,
) -> Result<Vec<u8>, ReadError> {
    let status = response.status().as_u16();
    let too_large = || {
        ReadError::TooLarge(BackendError::State(format!(
            "{described}: HTTP {status} with a body larger than {cap} bytes; not read any further (a broken server or proxy? if the answer is genuine, raise --max-response-bytes or CSPCTL_PC_MAX_RESPONSE_BYTES)"
        )))
    };
    if response
        .content_length()
        .is_some_and(|length| length > cap as u64)
    {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if bytes.len() + chunk.len() > cap {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// What to do with a response status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// Retry after a backoff (transient).
    Retry,
    /// 409/800060: the same request is still being processed; retry later
    /// (longer waits: Partner Center says "in a few minutes").
    InProgress,
    /// Retry after `Retry-After`.
    Throttled,
    /// Refresh the token once, then retry.
    Reauthenticate,
    Fail,
}

/// Classifies a status (and, for 409, Partner Center's error code).
pub fn classify(status: u16, code: Option<u32>) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        401 => Verdict::Reauthenticate,
        408 => Verdict::Retry,
        409 if code == Some(CODE_ORDER_IN_PROGRESS) => Verdict::InProgress,
        429 => Verdict::Throttled,
        500..=599 => Verdict::Retry,
        _ => Verdict::Fail,
    }
}

/// A successful response: status, headers and (normalized) JSON body, `Null`
/// when empty.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Response {
    /// The body as `T`, or an error naming the request.
    pub fn parse<T: for<'de> serde::Deserialize<'de>>(
        self,
        request: &str,
    ) -> Result<T, BackendError> {
        wire::from_value(self.body, request).map_err(BackendError::State)
    }
}

/// One request to send.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: Method,
    /// Path under `/v1` with its query, e.g. `/customers?size=500`.
    pub path: &'a str,
    pub body: Option<&'a Value>,
    pub request_id: &'a str,
    /// Further headers (`If-Match`, `MS-ContinuationToken`, …).
    pub headers: Vec<(String, String)>,
}

impl<'a> Request<'a> {
    pub fn new(method: Method, path: &'a str, request_id: &'a str) -> Self {
        Request {
            method,
            path,
            body: None,
            request_id,
            headers: Vec::new(),
        }
    }
    /// `METHOD /v1/path?query (request id …)`, for errors.
    pub fn described(&self) -> String {
        format!(
            "{} /v1{} (request id {})",
            self.method, self.path, self.request_id
        )
    }

    /// `METHOD /v1/path`, without the query string (which can be long), for events.
    pub fn describe(&self) -> String {
        let path = self.path.split('?').next().unwrap_or(self.path);
        format!("{} /v1{path}", self.method)
    }

    pub fn body(mut self, body: &'a Value) -> Self {
        self.body = Some(body);
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// What a client has sent so far: API requests (each attempt; token requests
/// excluded) and how many of them were answered 429.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestStats {
    pub requests: u64,
    pub throttled: u64,
}

#[derive(Debug)]
struct Counters {
    requests: AtomicU64,
    throttled: AtomicU64,
    /// The earliest `Date` a response carried since [`HttpClient::mark_server_time`]
    /// (Unix seconds; `i64::MAX`: none yet).
    earliest_date: AtomicI64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            earliest_date: AtomicI64::new(i64::MAX),
        }
    }
}

#[derive(Default)]
struct TokenState {
    access: Option<(Secret, Instant)>,
    /// The newest refresh token Entra returned (each use returns a new one).
    refresh: Option<Secret>,
}

/// Partner Center over HTTP. Cheap to clone; clones share the token.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    endpoint: String,
    authority: String,
    credentials: Credentials,
    policy: RetryPolicy,
    token: Mutex<TokenState>,
    throttle: Throttle,
    counters: Counters,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("endpoint", &self.inner.endpoint)
            .field("authority", &self.inner.authority)
            .finish_non_exhaustive()
    }
}

/// Checks that `url` is an http(s) URL and that plain http goes only to a
/// loopback host: a bearer token or client secret must never cross a network
/// unencrypted. Returns the URL without a trailing slash.
pub fn check_url(what: &str, url: &str) -> Result<String, BackendError> {
    let parsed = Url::parse(url)
        .map_err(|e| BackendError::State(format!("invalid {what} URL `{url}`: {e}")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(BackendError::State(format!(
            "the {what} URL must not contain credentials"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(BackendError::State(format!(
            "the {what} URL `{url}` must not have a query or fragment"
        )));
    }
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback(&parsed) => {}
        "http" => {
            return Err(BackendError::State(format!(
                "refusing to send credentials over plain http to `{url}` ({what}): use https, or http only to a loopback host (127.0.0.1, ::1, localhost)"
            )));
        }
        other => {
            return Err(BackendError::State(format!(
                "the {what} URL `{url}` must be https (got `{other}`)"
            )));
        }
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    // IPv6 hosts come bracketed (`[::1]`).
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Outcome of one attempt, before the retry decision.
enum Attempt {
    Done(Response),
    /// A transport failure (connection, timeout): retried.
    Transport(String),
    /// An in-process server that can no longer keep its state: not retried.
    Fatal(BackendError),
    Status {
        status: u16,
        headers: HeaderMap,
        body: Value,
    },
}

impl Attempt {
    /// An answer: done when its status is 2xx.
    fn answered(status: u16, headers: HeaderMap, body: Value) -> Attempt {
        if (200..300).contains(&status) {
            Attempt::Done(Response {
                status,
                headers,
                body,
            })
        } else {
            Attempt::Status {
                status,
                headers,
                body,
            }
        }
    }
}

impl HttpClient {
    /// A client for `endpoint` (Partner Center) and `authority` (Entra ID), both
    /// checked with [`check_url`].
    pub fn new(
        endpoint: &str,
        authority: &str,
        credentials: Credentials,
        policy: RetryPolicy,
        throttle: ThrottleTuning,
    ) -> Result<HttpClient, BackendError> {
        let endpoint = check_url("Partner Center endpoint", endpoint)?;
        let authority = check_url("Entra ID authority", authority)?;
        // Installing twice is harmless (another part of the program may have).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .user_agent(concat!("cspctl/", env!("CARGO_PKG_VERSION")))
            .timeout(policy.request_timeout)
            .connect_timeout(Duration::from_secs(30))
            // A redirect could carry the bearer token elsewhere: never follow one.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BackendError::State(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpClient::with_transport(
            Transport::Http(http),
            endpoint,
            authority,
            credentials,
            policy,
            throttle,
        ))
    }

    /// A client whose requests go to `server` in this process (the local backend).
    /// No token is fetched: the server serves the provider itself, whose
    /// `credentials` name it (tenant id) and hold no secret.
    pub fn in_process(
        server: Arc<dyn InProcessServer>,
        describe_as: &str,
        credentials: Credentials,
        policy: RetryPolicy,
        throttle: ThrottleTuning,
    ) -> HttpClient {
        HttpClient::with_transport(
            Transport::InProcess(server),
            describe_as.to_owned(),
            String::new(),
            credentials,
            policy,
            throttle,
        )
    }

    fn with_transport(
        transport: Transport,
        endpoint: String,
        authority: String,
        credentials: Credentials,
        policy: RetryPolicy,
        throttle: ThrottleTuning,
    ) -> HttpClient {
        let refresh = credentials.refresh_token.clone();
        HttpClient {
            inner: Arc::new(Inner {
                transport,
                endpoint,
                authority,
                credentials,
                policy,
                token: Mutex::new(TokenState {
                    access: None,
                    refresh,
                }),
                throttle: Throttle::new(throttle),
                counters: Counters::default(),
            }),
        }
    }

    /// Whether requests go to a server in this process.
    pub fn is_in_process(&self) -> bool {
        matches!(self.inner.transport, Transport::InProcess(_))
    }

    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.inner.policy
    }

    /// API requests sent so far by this client and its clones, and 429s received.
    pub fn stats(&self) -> RequestStats {
        RequestStats {
            requests: self.inner.counters.requests.load(Ordering::Relaxed),
            throttled: self.inner.counters.throttled.load(Ordering::Relaxed),
        }
    }

    /// Starts a new reading of the server's clock: [`HttpClient::server_time_since_mark`]
    /// then gives the earliest `Date` answered after this call.
    pub fn mark_server_time(&self) {
        self.inner
            .counters
            .earliest_date
            .store(i64::MAX, Ordering::Relaxed);
    }

    /// The earliest server time (`Date` header) of the answers since
    /// [`HttpClient::mark_server_time`]: no read made since then saw the tenant
    /// before it. `None` when no answer carried a `Date`.
    pub fn server_time_since_mark(&self) -> Option<i64> {
        let earliest = self.inner.counters.earliest_date.load(Ordering::Relaxed);
        (earliest != i64::MAX).then_some(earliest)
    }

    /// The current access token, fetched or refreshed when it is missing or within
    /// 30 s of expiry. `stale` is a token the API refused (401): it is replaced,
    /// unless another task already did so, in which case the new one is used.
    async fn token(&self, stale: Option<&Secret>) -> Result<Secret, BackendError> {
        if matches!(self.inner.transport, Transport::InProcess(_)) {
            // The in-process server trusts its caller; no token exists to leak.
            return Ok(Secret::new(String::new()));
        }
        // Bound here too (the wait for another task's fetch included), so that a
        // deadline passing while Entra ID keeps us waiting names the token request
        // rather than the API requests that needed it.
        let described = format!("POST /{}/oauth2/token", self.inner.credentials.tenant_id);
        let deadline = self.inner.policy.deadline;
        deadline
            .bound(&described, async {
                let mut state = self.inner.token.lock().await;
                if let Some((token, expires)) = &state.access {
                    let refused = stale.is_some_and(|s| s == token);
                    if !refused && Instant::now() + EXPIRY_BUFFER < *expires {
                        return Ok(token.clone());
                    }
                }
                let (token, lifetime, refresh) = self.fetch_token(state.refresh.as_ref()).await?;
                if let Some(refresh) = refresh {
                    state.refresh = Some(refresh);
                }
                state.access = Some((token.clone(), Instant::now() + lifetime));
                Ok(token)
            })
            .await
    }

    /// `POST {authority}/{tenant}/oauth2/token`: the refresh-token grant when a
    /// refresh token is known (App+User), else client credentials (app-only).
    /// Transient failures are retried like API calls.
    async fn fetch_token(
        &self,
        refresh: Option<&Secret>,
    ) -> Result<(Secret, Duration, Option<Secret>), BackendError> {
        let credentials = &self.inner.credentials;
        let path = format!("/{}/oauth2/token", credentials.tenant_id);
        let url = format!("{}{path}", self.inner.authority);
        let described = format!("POST {path}");
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &credentials.client_id),
            ("client_secret", credentials.client_secret.expose()),
            ("resource", RESOURCE),
        ];
        match refresh {
            Some(refresh) => {
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", refresh.expose()));
            }
            None => form.push(("grant_type", "client_credentials")),
        }
        let Transport::Http(http) = &self.inner.transport else {
            return Err(BackendError::State(format!(
                "{described}: no token is needed in process; this is a bug in cspctl"
            )));
        };
        let policy = &self.inner.policy;
        let mut attempt = 1;
        loop {
            let result = http
                .post(&url)
                .header("Accept", "application/json")
                .form(&form)
                .send()
                .await;
            let failure = match result {
                Err(e) => format!("Entra ID could not be reached: {}", transport_error(&e)),
                Ok(response) => {
                    let status = response.status().as_u16();
                    match read_capped(response, policy.max_response_bytes, &described).await {
                        Err(ReadError::TooLarge(error)) => return Err(error),
                        Err(ReadError::Transport(e)) => format!(
                            "Entra ID's answer could not be read: {}",
                            transport_error(&e)
                        ),
                        Ok(bytes) => {
                            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                            if (200..300).contains(&status) {
                                let token: TokenResponse = serde_json::from_value(body).map_err(|e| {
                            BackendError::State(format!(
                                "{described}: unexpected token response from Entra ID: {e}"
                            ))
                        })?;
                                let access =
                                    wire::non_empty(token.access_token).ok_or_else(|| {
                                        BackendError::State(format!(
                                            "{described}: Entra ID answered without an access_token"
                                        ))
                                    })?;
                                // Capped so that a silly value cannot overflow the clock.
                                let lifetime = Duration::from_secs(
                                    token.expires_in.unwrap_or(3599).min(86_400),
                                );
                                let refresh = wire::non_empty(token.refresh_token).map(Secret::new);
                                return Ok((Secret::new(access), lifetime, refresh));
                            }
                            if status != 408 && status != 429 && status < 500 {
                                let error: TokenError =
                                    serde_json::from_value(body).unwrap_or_default();
                                let mut description = format!(
                                    "{described}: HTTP {status}, Entra ID refused the token request ({} grant): {}: {}",
                                    if refresh.is_some() {
                                        "refresh_token"
                                    } else {
                                        "client_credentials"
                                    },
                                    error.error.as_deref().unwrap_or("unknown_error"),
                                    error
                                        .error_description
                                        .as_deref()
                                        .unwrap_or("no description"),
                                );
                                if refresh.is_some()
                                    && error.error.as_deref() == Some("invalid_grant")
                                {
                                    description.push_str(
                                " (the refresh token is expired or revoked: consent again and update CSPCTL_PC_REFRESH_TOKEN)",
                            );
                                }
                                // Not an `Api` error: that variant reads "Partner Center
                                // error <code>", and Entra's errors are names, not codes.
                                return Err(BackendError::State(scrub(
                                    &description,
                                    credentials,
                                    None,
                                )));
                            }
                            format!("Entra ID answered HTTP {status}")
                        }
                    }
                }
            };
            if attempt >= policy.attempts {
                return Err(BackendError::State(format!(
                    "{described}: {failure} (gave up after {attempt} attempts)"
                )));
            }
            policy
                .deadline
                .sleep(policy.backoff(attempt), &format!("{described}: {failure}"))
                .await?;
            attempt += 1;
        }
    }

    /// Sends `request` with retries; a success gives the response, anything else a
    /// [`BackendError`] naming method, path and request id.
    pub async fn send(&self, request: Request<'_>) -> Result<Response, BackendError> {
        let described = request.described();
        let deadline = self.inner.policy.deadline;
        deadline
            .bound(&described, self.send_with_retries(&request, &described))
            .await
    }

    /// [`HttpClient::send`] without the run's deadline on the whole; its waits
    /// still fail early when they would pass it.
    async fn send_with_retries(
        &self,
        request: &Request<'_>,
        described: &str,
    ) -> Result<Response, BackendError> {
        // headers.md: "MS-CorrelationId … used for logs; a new GUID per call". One per
        // call, kept across its retries, so a support case can name one call.
        let correlation_id = random_guid();
        let policy = &self.inner.policy;
        let mut attempt = 1;
        let mut reauthenticated = false;
        let mut refused: Option<Secret> = None;
        let mut throttled_for = Duration::ZERO;
        let scope = Scope::of_path(request.path);
        // After a 429 this request waits at least its `Retry-After`, whatever the
        // limiter decides for the key as a whole.
        let mut not_before: Option<Instant> = None;
        loop {
            if let Some(at) = not_before.take() {
                tokio::time::sleep_until(at).await;
            }
            let sent_at = self.inner.throttle.acquire(&scope).await;
            let token = self.token(refused.as_ref()).await?;
            let outcome = self.attempt(request, &token, &correlation_id).await;
            self.observe(&scope, sent_at, &outcome);
            let (wait, last_error) = match outcome {
                Attempt::Done(response) => return Ok(response),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Transport(message) => {
                    (policy.backoff(attempt), format!("{described}: {message}"))
                }
                Attempt::Status {
                    status,
                    headers,
                    body,
                } => {
                    let fault: ApiFault = serde_json::from_value(body.clone()).unwrap_or_default();
                    let code = fault.code.and_then(|c| u32::try_from(c).ok());
                    let error = || self.api_error(described, status, &fault, &body, &token);
                    match classify(status, code) {
                        // `attempt` gives every 2xx as `Done`; kept total anyway.
                        Verdict::Success => {
                            return Ok(Response {
                                status,
                                headers,
                                body,
                            });
                        }
                        Verdict::Fail => return Err(error()),
                        Verdict::Reauthenticate if !reauthenticated => {
                            reauthenticated = true;
                            refused = Some(token);
                            continue;
                        }
                        Verdict::Reauthenticate => return Err(error()),
                        Verdict::Retry => (policy.backoff(attempt), error().to_string()),
                        // Starts at 8× base (4 s by default), reaching the cap soon.
                        Verdict::InProgress => (policy.backoff(attempt + 3), error().to_string()),
                        Verdict::Throttled => {
                            // At least `base`, so a server answering `Retry-After: 0`
                            // forever cannot spin us; the budget ends it either way.
                            let wait = retry_after(&headers)
                                .map(|w| w.clamp(policy.base, policy.retry_after_cap))
                                .unwrap_or_else(|| policy.backoff(attempt));
                            // The limiter pauses the key for `wait` (and slows it down):
                            // the next `acquire` does the waiting, for every request
                            // of the key.
                            self.inner.throttle.throttled(&scope, sent_at, wait);
                            policy
                                .deadline
                                .check(wait, &format!("{} (throttled)", error()))?;
                            if throttled_for + wait <= policy.throttled_budget {
                                throttled_for += wait;
                                not_before = Some(Instant::now() + wait);
                                report_retry(RetryNotice {
                                    request: request.describe(),
                                    reason: "HTTP 429 (throttled)".to_owned(),
                                    attempt,
                                    wait,
                                });
                                continue;
                            }
                            return Err(BackendError::State(format!(
                                "{} (still throttled after waiting {} s as Partner Center asked; try again later or with less parallelism)",
                                error(),
                                throttled_for.as_secs()
                            )));
                        }
                    }
                }
            };
            if attempt >= policy.attempts {
                return Err(BackendError::State(format!(
                    "{last_error} (gave up after {attempt} attempts with the same request id)"
                )));
            }
            policy.deadline.check(wait, &last_error)?;
            report_retry(RetryNotice {
                request: request.describe(),
                reason: retry_reason(described, &last_error),
                attempt,
                wait,
            });
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Counts a 429, or tells the limiter the server let the request through (any
    /// other answer; a transport failure says nothing).
    fn observe(&self, scope: &Scope, sent_at: Instant, outcome: &Attempt) {
        let counters = &self.inner.counters;
        match outcome {
            Attempt::Transport(_) | Attempt::Fatal(_) => {}
            Attempt::Status { status: 429, .. } => {
                counters.throttled.fetch_add(1, Ordering::Relaxed);
            }
            Attempt::Done(_) | Attempt::Status { .. } => {
                self.inner.throttle.admitted(scope, sent_at);
            }
        }
    }

    async fn attempt(
        &self,
        request: &Request<'_>,
        token: &Secret,
        correlation_id: &str,
    ) -> Attempt {
        let http = match &self.inner.transport {
            Transport::Http(http) => http,
            Transport::InProcess(server) => {
                return self
                    .attempt_in_process(server.as_ref(), request, correlation_id)
                    .await;
            }
        };
        let url = format!("{}/v1{}", self.inner.endpoint, request.path);
        let mut builder = http
            .request(request.method.clone(), &url)
            .bearer_auth(token.expose())
            .header("Accept", "application/json")
            .header("MS-Contract-Version", CONTRACT_VERSION)
            .header("MS-RequestId", request.request_id)
            .header("MS-CorrelationId", correlation_id);
        for (name, value) in &request.headers {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => builder = builder.header(name, value),
                // A header a server sent us (paging) that HTTP cannot carry back.
                _ => {
                    return Attempt::Transport(format!(
                        "invalid header `{name}` for {} /v1{}",
                        request.method, request.path
                    ));
                }
            }
        }
        if let Some(body) = request.body {
            // serde_json::to_vec of a Value cannot fail.
            builder = builder
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(body).unwrap_or_default());
        }
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let response = match builder.send().await {
            Ok(response) => response,
            Err(e) => return Attempt::Transport(transport_error(&e)),
        };
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(date) = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::time::parse_http_date)
        {
            self.inner
                .counters
                .earliest_date
                .fetch_min(date, Ordering::Relaxed);
        }
        let cap = self.inner.policy.max_response_bytes;
        let bytes = match read_capped(response, cap, &request.described()).await {
            Ok(bytes) => bytes,
            Err(ReadError::Transport(e)) => return Attempt::Transport(transport_error(&e)),
            Err(ReadError::TooLarge(error)) => return Attempt::Fatal(error),
        };
        let body = match parse_body(&bytes) {
            Ok(value) => value,
            Err(_) if !status.is_success() => {
                // An error page from a proxy: keep a cut of it as the message.
                Value::String(String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into())
            }
            Err(e) => {
                return Attempt::Status {
                    status: 502,
                    headers,
                    body: serde_json::json!({
                        "description": format!("HTTP {status} with a body that is not JSON: {e}")
                    }),
                };
            }
        };
        Attempt::answered(status.as_u16(), headers, body)
    }

    /// [`HttpClient::attempt`] in process: the same headers (but no token), the body
    /// as a value, the answer read as the HTTP path reads it (keys normalized, error
    /// bodies classified by status).
    async fn attempt_in_process(
        &self,
        server: &dyn InProcessServer,
        request: &Request<'_>,
        correlation_id: &str,
    ) -> Attempt {
        let path = format!("/v1{}", request.path);
        let mut headers = vec![
            (
                "MS-Contract-Version".to_owned(),
                CONTRACT_VERSION.to_owned(),
            ),
            ("MS-RequestId".to_owned(), request.request_id.to_owned()),
            ("MS-CorrelationId".to_owned(), correlation_id.to_owned()),
        ];
        headers.extend(request.headers.iter().cloned());
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let answer = server
            .call(InProcessRequest {
                method: request.method.clone(),
                path: &path,
                headers,
                body: request.body.cloned(),
            })
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => return Attempt::Fatal(error),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in answer.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.insert(name, value);
            }
        }
        let body = answer.body.map(wire::normalize_keys).unwrap_or(Value::Null);
        Attempt::answered(answer.status, headers, body)
    }

    fn api_error(
        &self,
        described: &str,
        status: u16,
        fault: &ApiFault,
        body: &Value,
        token: &Secret,
    ) -> BackendError {
        let code = fault
            .code
            .or(fault.status_code)
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0);
        let mut description = wire::non_empty(fault.description.clone())
            .or_else(|| wire::non_empty(fault.message.clone()))
            .or_else(|| body.as_str().map(str::to_owned))
            .unwrap_or_else(|| {
                StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("no description")
                    .to_owned()
            });
        if matches!(status, 401 | 403) && !self.inner.credentials.is_app_user() {
            description.push_str(&format!(" (hint: {APP_USER_HINT})"));
        }
        BackendError::Api {
            request: described.to_owned(),
            status,
            code,
            description: scrub(&description, &self.inner.credentials, Some(token)),
        }
    }
}

/// The short reason of a retry for events: `HTTP 503`, or the transport error.
fn retry_reason(described: &str, last_error: &str) -> String {
    // API errors read `… : HTTP 503, Partner Center error …`; keep the status.
    match last_error.find("HTTP ") {
        Some(at) => last_error[at..]
            .split(',')
            .next()
            .unwrap_or(last_error)
            .to_owned(),
        None => last_error
            .strip_prefix(described)
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(last_error)
            .to_owned(),
    }
}

/// A transport error without the chain's noise; reqwest includes the URL, which
/// never holds a secret here (tokens travel in headers and form bodies only).
fn transport_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut message = format!("{kind}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Partner Center).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Belt and braces: a server that echoes what it was sent must not make a
/// secret appear in an error message.
fn scrub(text: &str, credentials: &Credentials, token: Option<&Secret>) -> String {
    let mut text = text.to_owned();
    let secrets = [
        Some(&credentials.client_secret),
        credentials.refresh_token.as_ref(),
        token,
    ];
    for secret in secrets.into_iter().flatten() {
        if secret.expose().len() >= 4 {
            text = text.replace(secret.expose(), "***");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:9000/",
            "http://localhost:1",
            "https://api.partnercenter.microsoft.com",
        ] {
            assert!(check_url("endpoint", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1",
            "http://example.com",
            "http://localhost.example.com",
            "ftp://127.0.0.1",
            "not a url",
            "https://user:pw@example.com",
        ] {
            assert!(check_url("endpoint", bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_url("e", "https://x.example/").unwrap(),
            "https://x.example"
        );
    }

    #[test]
    fn retry_classification() {
        assert_eq!(classify(200, None), Verdict::Success);
        assert_eq!(classify(201, None), Verdict::Success);
        assert_eq!(classify(408, None), Verdict::Retry);
        assert_eq!(classify(500, None), Verdict::Retry);
        assert_eq!(classify(503, None), Verdict::Retry);
        assert_eq!(classify(429, None), Verdict::Throttled);
        assert_eq!(classify(401, Some(800_001)), Verdict::Reauthenticate);
        assert_eq!(classify(409, Some(800_060)), Verdict::InProgress);
        assert_eq!(classify(409, Some(800_064)), Verdict::Fail);
        for status in [400, 403, 404, 412] {
            assert_eq!(classify(status, None), Verdict::Fail, "{status}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        let first = policy.backoff(1);
        assert!(first >= Duration::from_millis(75) && first <= Duration::from_millis(125));
        let third = policy.backoff(3);
        assert!(third >= Duration::from_millis(300) && third <= Duration::from_millis(500));
        assert!(policy.backoff(30) <= Duration::from_millis(1000));
    }

    #[test]
    fn scrub_removes_secrets() {
        let credentials = Credentials {
            tenant_id: "t".into(),
            client_id: "c".into(),
            client_secret: Secret::new("topsecret"),
            refresh_token: Some(Secret::new("refresh-me")),
        };
        assert_eq!(
            scrub("bad topsecret and refresh-me", &credentials, None),
            "bad *** and ***"
        );
    }
}
