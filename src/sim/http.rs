//! The HTTP face of the simulator: one axum fallback handler that parses the request
//! itself and routes by path segments. Doing the routing by hand keeps every answer in
//! Partner Center's shapes (axum's extractor rejections would answer in its own), and
//! lets faults, authentication, throttling and idempotency wrap every `/v1` route the
//! same way, in this order: latency → bearer check → throttling → 5xx → idempotency
//! replay → the operation → persistence → drop-after-commit.
//!
//! Answer-shape variants ([`super::faults::Variants`]) are drawn per request in
//! [`api`]: the byte-order mark and PascalCase keys are applied when the reply is
//! serialized ([`into_response`]), the others by the operations; a cached answer
//! keeps the shape it was first given, so a replay returns the same bytes.
//!
//! All decisions are made in [`super::state`]; this module only translates.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::audit::{self, AuditQuery, Change};
use super::auth::{self, Caller, Credentials};
use super::clock::{SimClock, format_rfc3339};
use super::cut::Cut;
use super::faults::{Buckets, Draw, Faults, Shape};
use super::input::{fold_enum, parse_body, parse_value};
use super::state::{
    ApiError, ApiResult, CachedBody, CheckoutShape, CustomerFilter, Replay, Reseller, State,
};
use crate::ids::splitmix64;

/// Largest request body accepted (1 MiB is far above any Partner Center payload).
const MAX_BODY: usize = 1 << 20;
/// Largest customer page (choice; the documentation gives no maximum).
pub const MAX_PAGE_SIZE: usize = 500;

/// Settings that do not change while the server runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub credentials: Credentials,
    pub provisioning_delay_seconds: i64,
    pub order_list_lag_seconds: i64,
    pub state_path: Option<std::path::PathBuf>,
}

/// A customer-list continuation.
#[derive(Clone, Debug)]
struct Continuation {
    offset: usize,
    size: usize,
    filter: Option<CustomerFilter>,
}

/// Counters served at `/_sim/stats`.
#[derive(Clone, Debug, Default)]
struct Stats {
    requests: u64,
    /// API requests by the last segment of their path when it names a kind
    /// of resource (`subscriptions`, `transitioneligibilities`), so a test can
    /// see what a run asked for, not only how much.
    by_resource: BTreeMap<String, u64>,
    by_status: BTreeMap<u16, u64>,
    throttled: u64,
    server_errors: u64,
    dropped: u64,
    replayed: u64,
}

impl Stats {
    fn count_resource(&mut self, request: &Incoming) {
        if let Some(last) = request.segments.last()
            && request.segments.len() > 1
            && last.bytes().all(|b| b.is_ascii_alphabetic())
        {
            *self
                .by_resource
                .entry(last.to_ascii_lowercase())
                .or_default() += 1;
        }
    }
}

/// Everything mutable, behind one mutex (requests are short and never await while
/// holding it, so a single lock is simpler than finer ones and serializes commits).
pub struct Inner {
    pub state: State,
    pub clock: SimClock,
    pub faults: Faults,
    /// At most this many cached answers (see [`State::remember`]); `None`: 24 hours'.
    pub replay_limit: Option<usize>,
    /// Audit records kept at most ([`super::audit::MAX_RECORDS`] when served).
    pub audit_limit: usize,
    buckets: Buckets,
    continuations: HashMap<String, Continuation>,
    runtime_counter: u64,
    fault_counter: u64,
    stats: Stats,
}

impl Inner {
    pub fn new(state: State, clock: SimClock, faults: Faults) -> Inner {
        Inner {
            state,
            clock,
            faults,
            replay_limit: None,
            audit_limit: super::audit::MAX_RECORDS,
            buckets: Buckets::default(),
            continuations: HashMap::new(),
            runtime_counter: 0,
            fault_counter: 0,
            stats: Stats::default(),
        }
    }

    /// Ids that are not part of the state (generated request ids, continuation
    /// tokens) come from their own stream so reads do not shift the state's ids.
    fn runtime_id(&mut self, prefix: &str) -> String {
        self.runtime_counter += 1;
        let v = splitmix64(self.state.id_seed ^ 0x5eed ^ splitmix64(self.runtime_counter));
        format!("{prefix}{v:016x}")
    }
}

/// The server's shared state.
pub struct Shared {
    pub settings: Settings,
    pub inner: Mutex<Inner>,
}

impl Shared {
    /// Locks the state; a poisoned lock (a panic elsewhere) is recovered, since the
    /// state is only ever replaced whole by operations that validate first.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the state file atomically (temp file + rename), without expired
    /// idempotency entries; errors go to stderr because a failed write must not fail
    /// the request that was already committed.
    pub fn persist(&self, inner: &mut Inner) {
        let Some(path) = &self.settings.state_path else {
            return;
        };
        let now = inner.clock.now();
        inner.state.expire_replays(now);
        inner.state.audit.trim(now, inner.audit_limit);
        inner.state.clock_offset_seconds = inner.clock.offset();
        if let Err(e) = write_atomically(path, &inner.state) {
            crate::diagnostic::warn(format_args!(
                "warning: could not write the simulator state to {}: {e}",
                path.display()
            ));
        }
    }
}

/// Whether a request with `method` may change the state (and so is cached by its
/// request id, and journaled by an in-process caller).
pub fn is_mutating(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// A request handed to the simulator in process (cspctl's local backend): no socket,
/// no bytes, no bearer token (the caller is the provider's App+User identity), and
/// no injected latency; everything else is what a served request gets: routing, the
/// rules, the idempotency cache by `MS-RequestId`, the answer-shape variants.
#[derive(Debug)]
pub struct DirectRequest<'a> {
    pub method: Method,
    /// Path with its query, e.g. `/v1/customers?size=500` or `/_sim/resellers`.
    pub path: &'a str,
    /// `MS-RequestId`, `If-Match`, `MS-ContinuationToken`, …
    pub headers: &'a [(String, String)],
    pub body: Option<Value>,
}

/// The simulator's answer to a [`DirectRequest`].
#[derive(Debug)]
pub struct DirectReply {
    pub status: u16,
    /// Headers beyond the standard ones (`Location` of a 202, `Retry-After`).
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// The request changed the state: a log that rebuilds the state by replaying
    /// requests must keep it (committed changes, cached answers, `/_sim` changes).
    pub changed_state: bool,
}

impl Shared {
    /// Answers `request` in process, under the state lock for its whole duration, so
    /// callers that log [`DirectReply::changed_state`] requests while still holding
    /// the answer see them in commit order (see [`Shared::call_direct_then`]).
    pub fn call_direct(&self, request: DirectRequest<'_>) -> DirectReply {
        self.call_direct_then(request, |_| {})
    }

    /// As [`Shared::call_direct`], running `log` on the answer before the state lock
    /// is released: requests that changed the state reach `log` in the order they
    /// were committed, which is the order a replay must follow.
    pub fn call_direct_then(
        &self,
        request: DirectRequest<'_>,
        log: impl FnOnce(&DirectReply),
    ) -> DirectReply {
        let (path, query) = request.path.split_once('?').unwrap_or((request.path, ""));
        let mut headers = HeaderMap::new();
        for (name, value) in request.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(n, v);
            }
        }
        let incoming = Incoming::new(
            request.method,
            path,
            query,
            headers,
            RequestBody::Json(request.body),
        );
        let mut inner = self.lock();
        inner.stats.requests += 1;
        let answered = match incoming.seg(0).as_deref() {
            Some("v1") => {
                inner.stats.count_resource(&incoming);
                inner.fault_counter += 1;
                let n = inner.fault_counter;
                let now = inner.clock.now();
                inner.state.settle(now);
                // Taken out for the call (the operations borrow the rest of `inner`).
                let faults = std::mem::take(&mut inner.faults);
                let answered = answer(self, &mut inner, Caller::AppUser, &incoming, n, &faults);
                inner.faults = faults;
                answered
            }
            Some("_sim") => {
                let reply = admin_locked(self, &mut inner, &incoming);
                let changed_state = incoming.mutating() && reply.status < 300;
                Answered {
                    reply,
                    changed_state,
                }
            }
            _ => Answered {
                reply: Reply::error(&ApiError::not_found(0, "Resource not found")),
                changed_state: false,
            },
        };
        *inner
            .stats
            .by_status
            .entry(answered.reply.status)
            .or_insert(0) += 1;
        let reply = answered.reply;
        let body = match reply.body {
            Some(body) if reply.pascal_case => Some(pascal_keys(body)),
            body => body,
        };
        let direct = DirectReply {
            status: reply.status,
            headers: reply.headers,
            body,
            changed_state: answered.changed_state,
        };
        log(&direct);
        direct
    }
}

/// Serializes `state` to `path` through a temporary file in the same directory.
pub fn write_atomically(path: &std::path::Path, state: &State) -> std::io::Result<()> {
    let text = serde_json::to_vec(state).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// A response before it becomes an HTTP response.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(String, String)>,
    /// The dropped-answer fault: close the connection instead of answering.
    drop_connection: bool,
    /// The `bom` variant: the body starts with EF BB BF.
    bom: bool,
    /// The `pascal-case` variant: object keys PascalCase.
    pascal_case: bool,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
            drop_connection: false,
            bom: false,
            pascal_case: false,
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
            drop_connection: false,
            bom: false,
            pascal_case: false,
        }
    }

    fn error(error: &ApiError) -> Reply {
        let mut reply = Reply::json(error.status, error.body());
        if error.status == 401 {
            reply
                .headers
                .push(("www-authenticate".to_owned(), "Bearer".to_owned()));
        }
        reply
    }

    /// Serialized in the request's shape (byte-order mark, key case).
    fn shaped(mut self, shape: Shape) -> Reply {
        self.bom = shape.bom;
        self.pascal_case = shape.pascal_case;
        self
    }
}

/// Upper-cases the first letter of every object key, recursively (the
/// `pascal-case` variant); values are unchanged.
/// `value` without the credentials an answer may carry (a new customer's admin
/// user name and password, `userCredentials`): an audit record is read by anyone
/// with access to the log, and the state file keeps it, so no secret goes in.
fn without_credentials(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(key, _)| {
                    let key = key.to_ascii_lowercase();
                    key != "usercredentials" && key != "password"
                })
                .map(|(key, inner)| (key, without_credentials(inner)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_credentials).collect()),
        other => other,
    }
}

fn pascal_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, inner)| {
                    let mut chars = key.chars();
                    let key = match chars.next() {
                        Some(first) => first.to_uppercase().chain(chars).collect(),
                        None => String::new(),
                    };
                    (key, pascal_keys(inner))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(pascal_keys).collect()),
        other => other,
    }
}

/// Decodes `%XX` escapes (and `+` as space when `plus` is set).
fn percent_decode(text: &str, plus: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `a=b&c=d` (query strings and form bodies).
fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn collection(items: Vec<Value>) -> Value {
    json!({"totalCount": items.len(), "items": items, "attributes": {"objectType": "Collection"}})
}

/// The one handler behind every path.
pub async fn handle(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let (request_id, correlation_id) = {
        let mut inner = shared.lock();
        inner.stats.requests += 1;
        // An empty header is no request id (it would make every such request a replay).
        let given = header(&parts.headers, "ms-requestid")
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        let generated = inner.runtime_id("sim-request-");
        let correlation = header(&parts.headers, "ms-correlationid")
            .map(str::to_owned)
            .unwrap_or_else(|| inner.runtime_id("sim-correlation-"));
        (given.unwrap_or(generated), correlation)
    };
    let reply = match axum::body::to_bytes(body, MAX_BODY).await {
        Err(_) => Reply::error(&ApiError::new(413, 0, "The request body is too large")),
        Ok(bytes) => {
            let request = Incoming::new(
                parts.method.clone(),
                parts.uri.path(),
                parts.uri.query().unwrap_or(""),
                parts.headers.clone(),
                RequestBody::Bytes(bytes.to_vec()),
            );
            route(&shared, request).await
        }
    };
    if reply.drop_connection
        && let Some(ConnectInfo(cut)) = parts.extensions.get::<ConnectInfo<Cut>>()
    {
        // Counted as `dropped`, not under a status: no status goes out.
        cut.cut();
    } else {
        let mut inner = shared.lock();
        *inner.stats.by_status.entry(reply.status).or_insert(0) += 1;
    }
    // The simulated clock, as Partner Center's own `Date` header gives its clock: a
    // client that compares audit records with its reads needs the server's time.
    let date = crate::time::format_http_date(shared.lock().clock.now());
    let mut response = into_response(reply, &request_id, &correlation_id);
    if let Ok(value) = HeaderValue::from_str(&date) {
        response
            .headers_mut()
            .insert(axum::http::header::DATE, value);
    }
    response
}

/// The bytes of a JSON body in the reply's shape.
fn body_bytes(reply: &Reply) -> Option<Vec<u8>> {
    let value = reply.body.as_ref()?;
    let mut bytes = Vec::new();
    if reply.bom {
        bytes.extend_from_slice(&[0xEF, 0xBB, 0xBF]);
    }
    let text = if reply.pascal_case {
        serde_json::to_vec(&pascal_keys(value.clone()))
    } else {
        serde_json::to_vec(value)
    };
    bytes.extend(text.unwrap_or_default());
    Some(bytes)
}

fn into_response(reply: Reply, request_id: &str, correlation_id: &str) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match body_bytes(&reply) {
        Some(bytes) => Body::from(bytes),
        None => Body::empty(),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut put = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            headers.insert(n, v);
        }
    };
    if reply.body.is_some() {
        put("content-type", "application/json; charset=utf-8");
    }
    put("ms-requestid", request_id);
    put("ms-correlationid", correlation_id);
    for (name, value) in &reply.headers {
        put(name, value);
    }
    response
}

/// A parsed request.
struct Incoming {
    method: Method,
    /// Lowercased path (the idempotency key and route matching are case-insensitive).
    path: String,
    /// Decoded segments, original case.
    segments: Vec<String>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: RequestBody,
    client_request_id: Option<String>,
}

/// A request body: bytes off the wire, or a value handed over in process (no JSON
/// text is written or read for it).
enum RequestBody {
    Bytes(Vec<u8>),
    Json(Option<Value>),
}

impl RequestBody {
    /// The body as text (a token request's form); empty for an in-process value.
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            RequestBody::Bytes(bytes) => String::from_utf8_lossy(bytes),
            RequestBody::Json(_) => std::borrow::Cow::Borrowed(""),
        }
    }

    /// The body as `T`, read as leniently as Partner Center reads it.
    fn parse<T: serde::de::DeserializeOwned>(&self) -> ApiResult<T> {
        match self {
            RequestBody::Bytes(bytes) => parse_body(bytes),
            RequestBody::Json(None) => parse_body(b""),
            RequestBody::Json(Some(value)) => parse_value(value.clone()),
        }
    }

    /// The body as `T`, exactly as sent (the simulator's own `/_sim` inputs).
    fn parse_strict<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        match self {
            RequestBody::Bytes(bytes) => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            RequestBody::Json(value) => {
                serde_json::from_value(value.clone().unwrap_or(Value::Null))
                    .map_err(|e| e.to_string())
            }
        }
    }
}

impl Incoming {
    fn new(method: Method, path: &str, query: &str, headers: HeaderMap, body: RequestBody) -> Self {
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode(s, false))
            .collect();
        // An empty header is no request id (it would make every such request a replay).
        let client_request_id = header(&headers, "ms-requestid")
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        Incoming {
            method,
            path: path.to_ascii_lowercase(),
            segments,
            query: parse_form(query),
            headers,
            body,
            client_request_id,
        }
    }

    fn mutating(&self) -> bool {
        is_mutating(&self.method)
    }

    fn seg(&self, i: usize) -> Option<String> {
        self.segments.get(i).map(|s| s.to_ascii_lowercase())
    }

    /// The segments after the first (`v1` or `_sim`), lowercased, for matching
    /// routes case-insensitively.
    fn route_segments(&self) -> Vec<String> {
        self.segments
            .iter()
            .skip(1)
            .map(|s| s.to_ascii_lowercase())
            .collect()
    }
}

async fn route(shared: &Arc<Shared>, request: Incoming) -> Reply {
    let first = request.seg(0);
    match first.as_deref() {
        Some("_sim") => admin(shared, &request),
        Some("v1") => {
            shared.lock().stats.count_resource(&request);
            api(shared, request).await
        }
        Some(tenant)
            if request.segments.len() == 3
                && request.seg(1).as_deref() == Some("oauth2")
                && request.seg(2).as_deref() == Some("token") =>
        {
            if request.method != Method::POST {
                return Reply::error(&ApiError::new(405, 0, "Use POST"));
            }
            let form = parse_form(&request.body.text());
            let tenant = tenant.to_owned();
            let mut inner = shared.lock();
            let now = inner.clock.now();
            inner.state.settle(now);
            let (status, body) = auth::token(
                &mut inner.state,
                &shared.settings.credentials,
                &tenant,
                &form,
                now,
            );
            if status == 200 {
                shared.persist(&mut inner);
            }
            Reply::json(status, body)
        }
        _ => Reply::error(&ApiError::not_found(0, "Resource not found")),
    }
}

async fn api(shared: &Arc<Shared>, request: Incoming) -> Reply {
    let (n, faults) = {
        let mut inner = shared.lock();
        inner.fault_counter += 1;
        (inner.fault_counter, inner.faults.clone())
    };
    let latency = faults.latency_ms(n);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let mut inner = shared.lock();
    let now = inner.clock.now();
    inner.state.settle(now);
    let caller =
        match auth::check_bearer(&inner.state, header(&request.headers, "authorization"), now) {
            Ok(caller) => caller,
            // One draw per variant and request, from its own stream.
            Err(e) => return Reply::error(&e).shaped(faults.shape(n)),
        };
    answer(shared, &mut inner, caller, &request, n, &faults).reply
}

/// What [`answer`] did: the reply, and whether the request changed the state (a
/// committed change, or an answer cached for its request id), which is what a
/// write-ahead log must record to rebuild the state by replaying requests.
struct Answered {
    reply: Reply,
    changed_state: bool,
}

/// Everything after authentication: throttling, injected 5xx, idempotency replay,
/// the operation, the idempotency cache, persistence and the dropped answer.
fn answer(
    shared: &Shared,
    inner: &mut Inner,
    caller: Caller,
    request: &Incoming,
    n: u64,
    faults: &Faults,
) -> Answered {
    let unchanged = |reply: Reply| Answered {
        reply,
        changed_state: false,
    };
    let shape = faults.shape(n);
    let now = inner.clock.now();
    if let Some(reply) = throttle(inner, request, n) {
        inner.stats.throttled += 1;
        return unchanged(reply.shaped(shape));
    }
    if faults.hits(n, Draw::ServerError, faults.server_error_rate) {
        inner.stats.server_errors += 1;
        return unchanged(
            Reply::error(&ApiError::new(
                503,
                0,
                "The service is temporarily unavailable (simulated fault); retry later",
            ))
            .shaped(shape),
        );
    }
    let request_id = request
        .client_request_id
        .as_ref()
        .filter(|_| request.mutating());
    let method = request.method.to_string();
    if let Some(id) = request_id
        && let Some(cached) = inner.state.replay(id, &method, &request.path, now)
    {
        // The first answer's status, headers, body and shape: the same bytes.
        let reply = Reply {
            status: cached.status,
            body: cached.body.as_ref().map(CachedBody::value),
            headers: cached.headers.clone(),
            drop_connection: false,
            bom: cached.bom,
            pascal_case: cached.pascal_case,
        };
        inner.stats.replayed += 1;
        return unchanged(reply);
    }
    let before = audit_before(&inner.state, request, false, now);
    let reply = match dispatch(shared, inner, caller, request, now, shape) {
        Ok(reply) => reply,
        Err(e) => Reply::error(&e),
    }
    .shaped(shape);
    // Operations validate before they change anything, so only a successful mutating
    // request has committed a change.
    let committed = request.mutating() && reply.status < 300;
    if committed && let Some(before) = before {
        let actor = Actor {
            application_id: shared.settings.credentials.client_id.clone(),
            user_principal_name: (caller == Caller::AppUser).then(|| audit::API_USER.to_owned()),
        };
        audit_after(inner, request, before, &reply, &actor, now);
    }
    let request_id = request_id.filter(|_| is_final_answer(&reply));
    if let Some(id) = request_id {
        inner.state.remember(
            Replay {
                request_id: id.clone(),
                method,
                path: request.path.clone(),
                status: reply.status,
                body: reply.body.as_ref().map(CachedBody::of),
                headers: reply.headers.clone(),
                bom: reply.bom,
                pascal_case: reply.pascal_case,
                at: now,
            },
            inner.replay_limit,
        );
    }
    // A cached answer is saved too, so a restarted simulator still replays it.
    let changed_state = committed || request_id.is_some();
    if changed_state {
        shared.persist(inner);
    }
    if committed && faults.hits(n, Draw::Drop, faults.drop_after_commit_rate) {
        inner.stats.dropped += 1;
        // `handle` cuts the connection (every listener is wrapped by `serve`); the
        // empty 504 is only what would go out if the switch were missing.
        let mut dropped = Reply::empty(504);
        dropped.drop_connection = true;
        return Answered {
            reply: dropped,
            changed_state,
        };
    }
    Answered {
        reply,
        changed_state,
    }
}

/// Whether `reply` is the answer a repeat of its request id gets back: a success or
/// a business failure. The headers page
/// (<https://learn.microsoft.com/partner-center/developer/headers>, `MS-RequestId`:
/// "used to ensure id-potency. If there's a timeout, the retry call should include
/// the same value. Upon receiving a response (success or business failure), the
/// value should be reset for the next call") ties those two to the id; a server
/// error or 409/800060 ("in progress") is no answer of either kind, a client
/// retries it with the same id as after a timeout, so it is not kept: the retry is
/// processed. (401, 429 and injected 503s are answered before the cache.)
fn is_final_answer(reply: &Reply) -> bool {
    let in_progress = reply.status == 409
        && reply
            .body
            .as_ref()
            .and_then(|body| body.get("code"))
            .and_then(Value::as_u64)
            == Some(800_060);
    reply.status < 500 && reply.status != 408 && !in_progress
}

/// Token buckets per partner and per (partner, customer).
fn throttle(inner: &mut Inner, request: &Incoming, n: u64) -> Option<Reply> {
    let rejected = |wait: u64| Reply {
        status: 429,
        body: Some(
            json!({"statusCode": 429, "message": format!("Rate limit is exceeded. Try again in {wait} seconds.")}),
        ),
        headers: vec![("retry-after".to_owned(), wait.to_string())],
        drop_connection: false,
        bom: false,
        pascal_case: false,
    };
    if inner
        .faults
        .hits(n, Draw::Throttle, inner.faults.throttle_rate)
    {
        return Some(rejected(1));
    }
    let partner = inner.state.partner.tenant_id.to_ascii_lowercase();
    let now = Instant::now();
    let mut keys = Vec::new();
    if let Some(limit) = inner.faults.partner_requests_per_minute {
        keys.push((partner.clone(), limit));
    }
    if let Some(limit) = inner.faults.customer_requests_per_minute
        && request.seg(1).as_deref() == Some("customers")
        && let Some(customer) = request.seg(2)
        && customer != "relationshiprequests"
    {
        keys.push((format!("{partner}/{customer}"), limit));
    }
    for (key, limit) in keys {
        if let Err(wait) = inner.buckets.take(&key, limit, now) {
            return Some(rejected(wait));
        }
    }
    None
}

fn require_app_user(caller: Caller) -> ApiResult<()> {
    match caller {
        Caller::AppUser => Ok(()),
        Caller::AppOnly => Err(ApiError::forbidden(
            900419,
            "This resource can't be accessed by application credentials; App+User authentication is required",
        )),
    }
}

fn parse<T: serde::de::DeserializeOwned>(request: &Incoming) -> ApiResult<T> {
    request.body.parse()
}

/// Routes a `/v1` request to its operation.
fn dispatch(
    shared: &Shared,
    inner: &mut Inner,
    caller: Caller,
    request: &Incoming,
    now: i64,
    shape: Shape,
) -> ApiResult<Reply> {
    let lower = request.route_segments();
    let seg: Vec<&str> = lower.iter().map(String::as_str).collect();
    let raw: Vec<&str> = request
        .segments
        .iter()
        .skip(1)
        .map(String::as_str)
        .collect();
    let id = |i: usize| raw.get(i).copied().unwrap_or("");
    let settings = &shared.settings;
    let delay = settings.provisioning_delay_seconds;
    let m = request.method.clone();
    let state = &mut inner.state;
    let ok = |v: Value| Ok(Reply::json(200, v));
    let created = |v: Value| Ok(Reply::json(201, v));
    // Changes under a customer whose reseller relationship was removed are refused
    // (the customer's own PATCH and DELETE are not under it).
    if request.mutating() && matches!(seg.as_slice(), ["customers", _, _, ..]) {
        state.require_relationship(id(1))?;
    }
    match (m, seg.as_slice()) {
        (Method::GET, ["relationships"]) => {
            require_app_user(caller)?;
            if let Some(t) = param(&request.query, "relationship_type")
                && fold_enum(t) != "isindirectcloudsolutionproviderof"
            {
                return ok(collection(Vec::new()));
            }
            ok(collection(
                state
                    .resellers
                    .iter()
                    .map(State::relationship_json)
                    .collect(),
            ))
        }
        (Method::GET, ["profiles", "mpn"]) => {
            require_app_user(caller)?;
            ok(state.mpn_profile(param(&request.query, "mpnId"))?)
        }
        (Method::POST, ["sandboxindirectreseller"]) => {
            require_app_user(caller)?;
            if !state.sandbox {
                // Refused before the body is read.
                return Err(ApiError::forbidden(
                    6004,
                    "Creating indirect resellers is only allowed in the integration sandbox",
                ));
            }
            let input = parse(request)?;
            created(state.create_sandbox_reseller(input, now)?)
        }
        (Method::DELETE, ["sandboxindirectreseller", _]) => {
            require_app_user(caller)?;
            state.delete_sandbox_reseller(id(1))?;
            Ok(Reply::empty(204))
        }
        (Method::HEAD, ["domains", _]) => Ok(Reply::empty(if state.domain_taken(id(1)) {
            200
        } else {
            404
        })),
        (Method::POST, ["customers"]) => {
            let input: super::state::CustomerInput = parse(request)?;
            if input
                .associated_partner_id
                .as_deref()
                .is_some_and(|p| !p.trim().is_empty())
            {
                require_app_user(caller)?;
            }
            created(state.create_customer(input, now)?)
        }
        (Method::GET, ["customers"]) => list_customers(inner, request),
        (Method::GET, ["auditrecords"]) => audit_records(inner, request, now),
        (Method::GET, ["customers", "relationshiprequests"]) => {
            require_app_user(caller)?;
            if state.sandbox {
                return Err(ApiError::bad_request(
                    800042,
                    "Reseller relationship requests are not supported in the integration sandbox",
                ));
            }
            ok(json!({
                "url": format!("https://admin.microsoft.com/Adminportal/Home?invType=ResellerRelationship&partnerId={}&msppId=0&DAP=false#/BillingAccounts/partner-invitation", state.partner.tenant_id),
                "attributes": {"objectType": "RelationshipRequest"},
            }))
        }
        (Method::GET, ["customers", _]) => {
            let lag = i64::try_from(inner.faults.read_after_create_lag_seconds).unwrap_or(i64::MAX);
            ok(inner.state.get_customer(id(1), now, lag)?)
        }
        (Method::PATCH, ["customers", _]) => {
            require_app_user(caller)?;
            let input = parse(request)?;
            ok(state.patch_customer(id(1), input)?)
        }
        (Method::DELETE, ["customers", _]) => {
            state.delete_customer(id(1))?;
            Ok(Reply::empty(204))
        }
        (Method::GET, ["customers", _, "profiles", "billing"]) => ok(state.get_billing(id(1))?),
        (Method::PUT, ["customers", _, "profiles", "billing"]) => {
            let input = parse(request)?;
            ok(state.put_billing(id(1), header(&request.headers, "if-match"), input)?)
        }
        (Method::GET, ["customers", _, "relationships"]) => {
            require_app_user(caller)?;
            ok(collection(state.customer_relationships(id(1))?))
        }
        (Method::GET, ["agreements"]) => ok(collection(agreement_filter(
            request,
            State::agreement_templates(),
        ))),
        (Method::GET, ["customers", _, "agreements"]) => {
            require_app_user(caller)?;
            ok(collection(agreement_filter(
                request,
                state.customer_agreements(id(1))?,
            )))
        }
        (Method::POST, ["customers", _, "agreements"]) => {
            require_app_user(caller)?;
            let input = parse(request)?;
            created(state.add_agreement(id(1), input, now)?)
        }
        (Method::POST, ["customers", _, "carts"]) => {
            let input = parse(request)?;
            created(state.create_cart(id(1), input, now)?)
        }
        (Method::GET, ["customers", _, "carts", _]) => ok(state.get_cart(id(1), id(3))?),
        (Method::PUT, ["customers", _, "carts", _]) => {
            let input = parse(request)?;
            ok(state.put_cart(id(1), id(3), input, now)?)
        }
        // The body is never read: the docs send none, the SDK the JSON string
        // "success", others `{}`.
        (Method::POST, ["customers", _, "carts", _, "checkout"]) => {
            let checkout = CheckoutShape {
                split: shape.split_checkout,
                pending: shape.pending_checkout,
            };
            created(state.checkout(id(1), id(3), now, delay, checkout)?)
        }
        (Method::POST, ["customers", _, "orders"]) => {
            let input = parse(request)?;
            let mut order = state.create_order(id(1), input, now, delay)?;
            if shape.pending_checkout {
                State::hide_pending_subscriptions(&mut order, true);
            }
            created(order)
        }
        (Method::GET, ["customers", _, "orders"]) => {
            let mut orders = state.list_orders(id(1), now, settings.order_list_lag_seconds)?;
            if shape.pending_checkout {
                for order in &mut orders {
                    State::hide_pending_subscriptions(order, false);
                }
            }
            ok(collection(orders))
        }
        (Method::GET, ["customers", _, "orders", _]) => {
            let mut order = state.get_order(id(1), id(3))?;
            if shape.pending_checkout {
                State::hide_pending_subscriptions(&mut order, false);
            }
            ok(order)
        }
        (Method::PATCH, ["customers", _, "orders", _]) => {
            let input = parse(request)?;
            ok(state.patch_order(id(1), id(3), input)?)
        }
        (Method::GET, ["customers", _, "orders", _, "provisioningstatus"]) => {
            let mut items = state.provisioning_status(id(1), id(3))?;
            if shape.pending_checkout {
                State::hide_pending_resources(&mut items);
            }
            ok(collection(items))
        }
        (Method::GET, ["customers", _, "subscriptions"]) => {
            let mut listed = state.list_subscriptions(
                id(1),
                param(&request.query, "order_id"),
                param(&request.query, "mpn_id"),
                now,
            )?;
            if inner.faults.pending_subscriptions_unlisted {
                listed.retain(|s| s.get("status").and_then(Value::as_str) != Some("pending"));
            }
            let faults = &inner.faults;
            listed = listed
                .into_iter()
                .map(|s| subscription_shape(&inner.state, faults, s))
                .collect();
            ok(collection(listed))
        }
        // Before `subscriptions/{id}`, which the segment would otherwise name.
        (Method::GET, ["customers", _, "subscriptions", "customtermenddates"]) => ok(state
            .custom_term_end_dates(
                id(1),
                param(&request.query, "term_duration"),
                param(&request.query, "term_start_date"),
                param(&request.query, "target_coterm_subscription_id"),
                now,
            )?),
        (
            Method::GET,
            [
                "customers",
                _,
                "subscriptions",
                _,
                "transitioneligibilities",
            ],
        ) => ok(collection(state.transition_eligibilities(
            id(1),
            id(3),
            param(&request.query, "eligibilityType"),
        )?)),
        (Method::GET, ["customers", _, "subscriptions", _]) => {
            let sub = state.get_subscription(id(1), id(3), now)?;
            ok(subscription_shape(state, &inner.faults, sub))
        }
        (Method::PATCH, ["customers", _, "subscriptions", _]) => {
            let input = parse(request)?;
            if shape.accepted_patch {
                let location =
                    state.patch_subscription_accepted(id(1), id(3), input, now, delay)?;
                let mut reply = Reply::empty(202);
                reply.headers.push(("location".to_owned(), location));
                return Ok(reply);
            }
            let sub = state.patch_subscription(id(1), id(3), input, now)?;
            ok(subscription_shape(state, &inner.faults, sub))
        }
        (Method::GET, ["customers", _, "subscriptions", _, "provisioningstatus"]) => {
            require_app_user(caller)?;
            ok(state.subscription_provisioning_status(id(1), id(3))?)
        }
        (Method::GET, ["customers", _, "subscriptions", _, "supportcontact"]) => {
            require_app_user(caller)?;
            ok(state.get_support_contact(id(1), id(3))?)
        }
        (Method::PUT, ["customers", _, "subscriptions", _, "supportcontact"]) => {
            require_app_user(caller)?;
            let input = parse(request)?;
            ok(state.put_support_contact(id(1), id(3), input)?)
        }
        (_, path) if known_path(path) => Err(ApiError::new(
            405,
            0,
            "The method is not allowed on this resource",
        )),
        _ => Err(ApiError::not_found(0, "Resource not found")),
    }
}

/// A Subscription in its shape (`documented-subscription`, decided per
/// subscription: see [`Faults::documented_subscription`]).
fn subscription_shape(state: &State, faults: &Faults, sub: Value) -> Value {
    let id = sub.get("id").and_then(Value::as_str).unwrap_or_default();
    if faults.documented_subscription(id) {
        state.documented_subscription(sub)
    } else {
        sub
    }
}

/// Whether a path (lowercased, without `v1`) names a resource under another method.
fn known_path(path: &[&str]) -> bool {
    matches!(
        path,
        ["relationships"]
            | ["profiles", "mpn"]
            | ["sandboxindirectreseller"]
            | ["sandboxindirectreseller", _]
            | ["domains", _]
            | ["customers"]
            | ["customers", _]
            | ["customers", _, "profiles", "billing"]
            | [
                "customers",
                _,
                "relationships" | "agreements" | "carts" | "orders" | "subscriptions"
            ]
            | ["customers", _, "carts" | "orders" | "subscriptions", _]
            | ["customers", _, "carts", _, "checkout"]
            | ["customers", _, "orders", _, "provisioningstatus"]
            | [
                "customers",
                _,
                "subscriptions",
                _,
                "supportcontact" | "provisioningstatus" | "transitioneligibilities"
            ]
            | ["agreements"]
            | ["auditrecords"]
    )
}

/// `agreementType` other than the MCA lists nothing.
fn agreement_filter(request: &Incoming, items: Vec<Value>) -> Vec<Value> {
    match param(&request.query, "agreementType") {
        Some(t)
            if fold_enum(t) != "microsoftcustomeragreement" && !t.eq_ignore_ascii_case("all") =>
        {
            Vec::new()
        }
        _ => items,
    }
}

/// The continuation token of a next-page request (`seekOperation=Next` with the
/// `MS-ContinuationToken` header, as `links.next` shows it), `None` for a first
/// page; either half alone is refused.
fn continuation_token(request: &Incoming) -> ApiResult<Option<&str>> {
    let seek = param(&request.query, "seekOperation");
    let token = header(&request.headers, "ms-continuationtoken");
    if seek.is_none() && token.is_none() {
        return Ok(None);
    }
    if seek.map(fold_enum).as_deref() != Some("next") {
        return Err(ApiError::bad_request(
            3000,
            "A continuation requires seekOperation=Next",
        ));
    }
    token.map(Some).ok_or_else(|| {
        ApiError::bad_request(
            3000,
            "seekOperation=Next requires the MS-ContinuationToken header",
        )
    })
}

/// `GET /v1/customers` with seek paging.
fn list_customers(inner: &mut Inner, request: &Incoming) -> ApiResult<Reply> {
    let page = if let Some(token) = continuation_token(request)? {
        inner.continuations.get(token).cloned().ok_or_else(|| {
            ApiError::bad_request(3000, "The continuation token is invalid or has expired")
        })?
    } else {
        let size = match param(&request.query, "size") {
            None | Some("") => 0,
            Some(text) => text.parse::<usize>().map_err(|_| {
                ApiError::bad_request(3000, format!("size '{text}' is not a non-negative integer"))
            })?,
        };
        let size = if size == 0 {
            MAX_PAGE_SIZE
        } else {
            size.min(MAX_PAGE_SIZE)
        };
        let filter = param(&request.query, "filter")
            .map(State::parse_filter)
            .transpose()?;
        Continuation {
            offset: 0,
            size,
            filter,
        }
    };
    let all = inner.state.filtered_customers(page.filter.as_ref());
    let total = all.len();
    let items: Vec<Value> = all
        .into_iter()
        .skip(page.offset)
        .take(page.size)
        .map(State::customer_list_item)
        .collect();
    let mut body = collection(items);
    let next_offset = page.offset.saturating_add(page.size);
    if next_offset < total {
        let token = inner.runtime_id("ct-");
        inner.continuations.insert(
            token.clone(),
            Continuation {
                offset: next_offset,
                size: page.size,
                filter: page.filter.clone(),
            },
        );
        if let Value::Object(map) = &mut body {
            map.insert("continuationToken".to_owned(), json!(token));
            map.insert(
                "links".to_owned(),
                json!({"next": {"uri": format!("/customers?size={}&seekOperation=Next", page.size), "method": "GET",
                    "headers": [{"key": "MS-ContinuationToken", "value": token}]}}),
            );
        }
    }
    Ok(Reply::json(200, body))
}

// ---- audit records -----------------------------------------------------------------

/// `GET /v1/auditrecords` (see [`super::audit`]): a first page from `startDate`,
/// `endDate`, `filter` and `size`; a next page from its continuation token, sent as
/// `links.next` shows it (`seekOperation=Next` and the `MS-ContinuationToken`
/// header) or as `?seek=<token>` (the audit service's Swagger).
fn audit_records(inner: &Inner, request: &Incoming, now: i64) -> ApiResult<Reply> {
    let seek = param(&request.query, "seek").filter(|t| !t.trim().is_empty());
    let query = if let Some(token) = seek {
        AuditQuery::from_token(token)?
    } else if let Some(token) = continuation_token(request)? {
        AuditQuery::from_token(token)?
    } else {
        AuditQuery::parse(
            param(&request.query, "startDate"),
            param(&request.query, "endDate"),
            param(&request.query, "filter"),
            param(&request.query, "size"),
            now,
        )?
    };
    Ok(Reply::json(
        200,
        inner
            .state
            .audit
            .page(&query, &inner.state.partner.tenant_id, now),
    ))
}

/// Who made a change: the `applicationId` and `userPrincipalName` of its records.
struct Actor {
    application_id: String,
    user_principal_name: Option<String>,
}

/// What a mutating request is about, read before it runs.
struct Before {
    resource_type: &'static str,
    operation_type: &'static str,
    /// The resource's value before the change (`resourceOldValue`).
    old: Option<Value>,
    /// The customer the request is under (id as stored, and name), if it exists.
    customer: Option<(String, String)>,
}

/// The resource type and operation type of a mutating route (`admin`: a `/_sim`
/// route), or `None` for changes that are not recorded (carts are drafts, not a
/// documented resource type; the clock, faults and request-id cache are the
/// simulator's own; `/_sim/tenants` creates a tenant that is no customer yet).
/// Values from auditing-resources.md; where no documented operation fits the closest
/// is used (UNCONFIRMED, docs/simulator.md "Audit records").
fn audit_kind(method: &Method, seg: &[&str], admin: bool) -> Option<(&'static str, &'static str)> {
    Some(match (method.clone(), seg, admin) {
        (Method::POST, ["customers"], false) => ("customer", "add_customer"),
        (Method::PATCH, ["customers", _], false) => {
            ("customer", "remove_partner_customer_relationship")
        }
        (Method::DELETE, ["customers", _], false) => ("customer", "delete_customer"),
        (Method::PUT, ["customers", _, "profiles", "billing"], false) => {
            ("customer", "update_customer_billing_profile")
        }
        (Method::POST, ["customers", _, "agreements"], false) => ("customer", "create_agreement"),
        (Method::POST, ["customers", _, "orders"], false)
        | (Method::POST, ["customers", _, "carts", _, "checkout"], false) => {
            ("order", "create_order")
        }
        (Method::PATCH, ["customers", _, "orders", _], false) => ("order", "update_order"),
        (Method::PATCH, ["customers", _, "subscriptions", _], _)
        | (Method::PUT, ["customers", _, "subscriptions", _, "supportcontact"], false) => {
            ("subscription", "update_subscription")
        }
        (Method::POST, ["sandboxindirectreseller"], false)
        | (Method::POST, ["resellers"], true) => {
            ("partner_relationship", "create_partner_relationship")
        }
        (Method::DELETE, ["sandboxindirectreseller", _], false) => {
            ("partner_relationship", "remove_partner_relationship")
        }
        (Method::POST, ["customers", _, "accept-relationship"], true) => {
            ("customer", "add_customer")
        }
        _ => return None,
    })
}

/// The resource a route names, as it stands (`None`: none, or it does not exist).
fn audit_value(state: &State, seg: &[&str], raw: &[&str], now: i64) -> Option<Value> {
    let id = |i: usize| raw.get(i).copied().unwrap_or("");
    match seg {
        ["customers", _] | ["customers", _, "accept-relationship"] => {
            state.get_customer(id(1), now, 0).ok()
        }
        ["customers", _, "profiles", "billing"] => state.get_billing(id(1)).ok(),
        ["customers", _, "orders", _] => state.get_order(id(1), id(3)).ok(),
        ["customers", _, "subscriptions", _] => state.get_subscription(id(1), id(3), now).ok(),
        ["customers", _, "subscriptions", _, "supportcontact"] => {
            state.get_support_contact(id(1), id(3)).ok()
        }
        ["sandboxindirectreseller", _] => state
            .reseller_by_tenant(id(1))
            .map(State::relationship_json),
        _ => None,
    }
}

/// A customer's stored id and company name.
fn audit_customer(state: &State, id: &str) -> Option<(String, String)> {
    let i = state.customer_index(id).ok()?;
    let c = state.customers.get(i)?;
    Some((c.id.clone(), c.company_name.clone()))
}

/// Reads what a mutating request will change, before it runs.
fn audit_before(state: &State, request: &Incoming, admin: bool, now: i64) -> Option<Before> {
    if !request.mutating() {
        return None;
    }
    let lower = request.route_segments();
    let seg: Vec<&str> = lower.iter().map(String::as_str).collect();
    let raw: Vec<&str> = request
        .segments
        .iter()
        .skip(1)
        .map(String::as_str)
        .collect();
    let (resource_type, operation_type) = audit_kind(&request.method, &seg, admin)?;
    let customer = match seg.as_slice() {
        ["customers", _, ..] => raw.get(1).and_then(|id| audit_customer(state, id)),
        _ => None,
    };
    Some(Before {
        resource_type,
        operation_type,
        old: audit_value(state, &seg, &raw, now),
        customer,
    })
}

/// `customizedData` of a `create_order` record, as the response example shows it.
fn order_data(order: &Value) -> Vec<(String, Option<String>)> {
    let text = |v: &Value| match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let mut data = vec![
        ("OrderId".to_owned(), text(&order["id"])),
        ("BillingCycle".to_owned(), text(&order["billingCycle"])),
    ];
    for (i, line) in order["lineItems"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        for (key, field) in [
            ("OfferId", "offerId"),
            ("SubscriptionId", "subscriptionId"),
            ("SubscriptionName", "friendlyName"),
            ("Quantity", "quantity"),
            ("PartnerOnRecord", "partnerIdOnRecord"),
        ] {
            data.push((format!("{key}-{i}"), text(&line[field])));
        }
    }
    data
}

/// Records a committed change (`reply` is its successful answer).
fn audit_after(
    inner: &mut Inner,
    request: &Incoming,
    before: Before,
    reply: &Reply,
    actor: &Actor,
    now: i64,
) {
    let limit = inner.audit_limit;
    let state = &mut inner.state;
    let lower = request.route_segments();
    let seg: Vec<&str> = lower.iter().map(String::as_str).collect();
    let raw: Vec<&str> = request
        .segments
        .iter()
        .skip(1)
        .map(String::as_str)
        .collect();
    // The new values: one per order a checkout created; for a change answered 202
    // (applied later) the old value with the requested fields; otherwise the
    // resource read back, or the answer's body.
    let news: Vec<Option<Value>> = if request.method == Method::DELETE {
        vec![None]
    } else if seg.last() == Some(&"checkout") {
        reply
            .body
            .as_ref()
            .and_then(|b| b.get("orders"))
            .and_then(Value::as_array)
            .map(|orders| orders.iter().cloned().map(Some).collect())
            .unwrap_or_default()
    } else if reply.status == 202 {
        let mut merged = before.old.clone().unwrap_or_else(|| json!({}));
        if let (Value::Object(target), Ok(Value::Object(patch))) =
            (&mut merged, request.body.parse::<Value>())
        {
            for (k, v) in patch {
                target.insert(k, v);
            }
        }
        vec![Some(merged)]
    } else {
        vec![audit_value(state, &seg, &raw, now).or_else(|| reply.body.clone())]
    };
    for new in news {
        let customer = before.customer.clone().or_else(|| {
            // A new customer: the id in its answer.
            let id = new.as_ref()?.get("id")?.as_str()?;
            (before.resource_type == "customer")
                .then(|| audit_customer(state, id))
                .flatten()
        });
        let mut customized_data = Vec::new();
        if before.operation_type == "create_order"
            && let Some(order) = &new
        {
            customized_data = order_data(order);
        } else if before.resource_type == "subscription" {
            customized_data.push((
                "SubscriptionId".to_owned(),
                raw.get(3).map(|s| (*s).to_owned()),
            ));
        }
        let change = Change {
            customer_id: customer.as_ref().map(|(id, _)| id.clone()),
            customer_name: customer.map(|(_, name)| name),
            user_principal_name: actor.user_principal_name.clone(),
            application_id: actor.application_id.clone(),
            resource_type: before.resource_type,
            operation_type: before.operation_type,
            // PascalCase inside the strings, as in the response example.
            old_value: before.old.clone().map(without_credentials).map(pascal_keys),
            new_value: new.map(without_credentials).map(pascal_keys),
            customized_data,
        };
        let seed = state.id_seed;
        state.audit.record(change, now, seed, limit);
    }
}

// ---- /_sim -----------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AdminReseller {
    tenant_id: Option<String>,
    mpn_id: Option<String>,
    name: Option<String>,
    location: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AdminTenant {
    id: Option<String>,
    domain: Option<String>,
    company_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AdminAccept {
    reseller_tenant_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AdminAdvance {
    seconds: Option<i64>,
}

fn admin(shared: &Shared, request: &Incoming) -> Reply {
    let mut inner = shared.lock();
    admin_locked(shared, &mut inner, request)
}

/// A `/_sim` request under a lock the caller already holds.
fn admin_locked(shared: &Shared, inner: &mut Inner, request: &Incoming) -> Reply {
    let now = inner.clock.now();
    inner.state.settle(now);
    let before = audit_before(&inner.state, request, true, now);
    let reply = match admin_inner(inner, request) {
        Ok(reply) => reply,
        Err(e) => Reply::error(&e),
    };
    if request.mutating() && reply.status < 300 {
        if let Some(before) = before {
            // Someone outside cspctl, in the Partner Center portal.
            let actor = Actor {
                application_id: audit::PORTAL_APPLICATION_ID.to_owned(),
                user_principal_name: Some(audit::PORTAL_USER.to_owned()),
            };
            let now = inner.clock.now();
            audit_after(inner, request, before, &reply, &actor, now);
        }
        shared.persist(inner);
    }
    reply
}

fn admin_inner(inner: &mut Inner, request: &Incoming) -> ApiResult<Reply> {
    let lower = request.route_segments();
    let seg: Vec<&str> = lower.iter().map(String::as_str).collect();
    let now = inner.clock.now();
    inner.state.settle(now);
    let reply = match (request.method.clone(), seg.as_slice()) {
        (Method::POST, ["resellers"]) => {
            let input: AdminReseller = parse(request)?;
            let reseller = inner.state.add_reseller(Reseller::new(
                input.tenant_id.as_deref().unwrap_or_default(),
                input.mpn_id.as_deref().unwrap_or_default(),
                input.name.as_deref().unwrap_or_default(),
                input.location.as_deref().unwrap_or_default(),
            ))?;
            Reply::json(201, State::relationship_json(&reseller))
        }
        (Method::POST, ["tenants"]) => {
            let input: AdminTenant = parse(request)?;
            let tenant = inner.state.add_tenant(
                input.id,
                input.domain.as_deref().unwrap_or(""),
                input.company_name.as_deref().unwrap_or(""),
            )?;
            Reply::json(201, serde_json::to_value(tenant).unwrap_or(Value::Null))
        }
        (Method::POST, ["customers", _, "accept-relationship"]) => {
            let input: AdminAccept = parse(request)?;
            let target = request.segments.get(2).map(String::as_str).unwrap_or("");
            let reseller = input.reseller_tenant_id.filter(|r| !r.trim().is_empty());
            Reply::json(
                200,
                inner
                    .state
                    .accept_relationship(target, reseller.as_deref(), now)?,
            )
        }
        // A change made in the Partner Center portal (someone outside cspctl): the
        // body and rules of `PATCH /v1/customers/{id}/subscriptions/{id}`.
        (Method::PATCH, ["customers", _, "subscriptions", _]) => {
            let input = parse(request)?;
            let customer = request.segments.get(2).map(String::as_str).unwrap_or("");
            let subscription = request.segments.get(4).map(String::as_str).unwrap_or("");
            inner.state.require_relationship(customer)?;
            Reply::json(
                200,
                inner
                    .state
                    .patch_subscription(customer, subscription, input, now)?,
            )
        }
        (Method::POST, ["clock", "advance"]) => {
            let input: AdminAdvance = parse(request)?;
            let seconds = input.seconds.unwrap_or(-1);
            if !(0..=10 * 365 * 86_400).contains(&seconds) {
                return Err(ApiError::bad_request(
                    3000,
                    "seconds must be an integer between 0 and 315360000",
                ));
            }
            inner.clock.advance(seconds);
            let now = inner.clock.now();
            inner.state.settle(now);
            Reply::json(200, json!({"now": format_rfc3339(now)}))
        }
        // Partner Center forgetting every request id at once: how long it remembers
        // them is not documented (UNCONFIRMED; the simulator's 24 hours are a
        // choice), so tests of what must hold without that memory start here.
        (Method::DELETE, ["idempotency"]) => {
            let forgotten = inner.state.idempotency.len();
            inner.state.forget_replays();
            Reply::json(200, json!({ "forgotten": forgotten }))
        }
        (Method::GET, ["clock"]) => {
            return Ok(Reply::json(
                200,
                json!({"now": format_rfc3339(now), "unix": now}),
            ));
        }
        (Method::GET, ["faults"]) => {
            return Ok(Reply::json(
                200,
                serde_json::to_value(&inner.faults).unwrap_or(Value::Null),
            ));
        }
        (Method::PUT, ["faults"]) => {
            let faults: Faults = request
                .body
                .parse_strict()
                .map_err(|e| ApiError::bad_request(3000, format!("invalid faults: {e}")))?;
            faults.check().map_err(|e| ApiError::bad_request(3000, e))?;
            inner.faults = faults;
            inner.buckets.clear();
            inner.fault_counter = 0;
            return Ok(Reply::json(
                200,
                serde_json::to_value(&inner.faults).unwrap_or(Value::Null),
            ));
        }
        (Method::GET, ["stats"]) => {
            let s = &inner.stats;
            let by_status: BTreeMap<String, u64> = s
                .by_status
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
            return Ok(Reply::json(
                200,
                json!({
                    "requests": s.requests, "byStatus": by_status, "byResource": s.by_resource, "throttled": s.throttled,
                    "serverErrors": s.server_errors, "dropped": s.dropped, "replayed": s.replayed,
                    "resellers": inner.state.resellers.len(), "customers": inner.state.customers.len(),
                    "orders": inner.state.orders.len(), "subscriptions": inner.state.subscriptions.len(),
                    "carts": inner.state.carts.len(),
                }),
            ));
        }
        (Method::GET, ["state"]) => {
            return Ok(Reply::json(
                200,
                serde_json::to_value(&inner.state).unwrap_or(Value::Null),
            ));
        }
        _ => return Err(ApiError::not_found(0, "Unknown simulator endpoint")),
    };
    // Persisted by `admin_locked`, after the change is recorded.
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_escapes_decode_without_panicking() {
        assert_eq!(
            parse_form("a=1&b=x+y%2Fz&c&=&d=%ZZ%"),
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x y/z".to_owned()),
                ("c".to_owned(), String::new()),
                (String::new(), String::new()),
                ("d".to_owned(), "%ZZ%".to_owned()),
            ]
        );
        assert_eq!(percent_decode("a%2", false), "a%2");
        assert_eq!(percent_decode("%C3%A9+", false), "é+");
        assert_eq!(percent_decode("%FF", false), "\u{FFFD}");
    }

    #[test]
    fn known_paths_answer_405_not_404() {
        assert!(known_path(&[
            "customers",
            "x",
            "subscriptions",
            "y",
            "supportcontact"
        ]));
        assert!(!known_path(&["customers", "x", "nothing"]));
    }
}
