//! A Partner Center made of Microsoft's documented answers: every request is
//! answered with the body a `tests/contract/docs` fixture shows for its route,
//! byte for byte (BOMs, PascalCase, fields left out), with its documented status.
//! It records what cspctl sends, so the requests can be compared with the
//! documented ones.
//!
//! The pages' examples come from different tenants, so a few ids are made to
//! agree, and nothing else is changed:
//! - the customer list answers its first documented customer only, and
//!   `GET /customers/{id}` the documented customer under the id asked for (both
//!   listed customers would otherwise resolve to the one customer
//!   get-a-customer-by-id.md shows);
//! - an order of the documented checkout result that was `pending` is answered,
//!   when read by id, as completed with a subscription id: the progression
//!   checkout-a-cart.md and get-an-order-by-id.md describe ("subscription ids
//!   appear once provisioned"), which no single page shows.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::contract::{self, Fixture, route};

/// One request cspctl sent.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub route: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// The subscription id a completed documented order line gets.
pub const PROVISIONED_SUBSCRIPTION: &str = "968ba1cf-c146-4adf-a300-308dcf718eee";

struct Shared {
    /// Documented answer by route: `(status, body bytes)`.
    answers: HashMap<String, (u16, Vec<u8>)>,
    /// The documented checkout result (for the order progression).
    checkout: Value,
    seen: Vec<Seen>,
}

/// A running replay server.
pub struct Replay {
    pub base_url: String,
    shared: Arc<Mutex<Shared>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Replay {
    /// Everything cspctl sent so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().expect("lock").seen.clone()
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The route → fixture table: which documented answer each route gets.
const ROUTES: &[(&str, &str)] = &[
    (
        "GET /v1/relationships",
        "retrieve-a-list-of-indirect-resellers",
    ),
    ("GET /v1/customers", "get-a-list-of-customers"),
    ("GET /v1/customers/*", "get-a-customer-by-id"),
    (
        "GET /v1/customers/*/relationships",
        "get-indirect-resellers-of-a-customer",
    ),
    (
        "GET /v1/customers/relationshiprequests",
        "request-reseller-relationship",
    ),
    (
        "GET /v1/customers/*/agreements",
        "get-confirmation-of-customer-agreement",
    ),
    ("GET /v1/agreements", "get-customer-agreement-metadata"),
    ("GET /v1/profiles/mpn", "get-partner-network-profile"),
    (
        "GET /v1/customers/*/subscriptions",
        "get-all-of-a-customer-s-subscriptions",
    ),
    (
        "GET /v1/customers/*/subscriptions/*",
        "get-a-subscription-by-id-addon",
    ),
    (
        "GET /v1/customers/*/subscriptions/*/supportcontact",
        "get-a-subscription-s-support-contact",
    ),
    (
        "GET /v1/customers/*/orders",
        "get-all-of-a-customer-s-orders",
    ),
    ("GET /v1/customers/*/orders/*", "get-an-order-by-id"),
    (
        "GET /v1/customers/*/orders/*/provisioningstatus",
        "get-order-provisioning-status",
    ),
    ("POST /v1/customers/*/carts", "create-a-cart-new-commerce"),
    ("POST /v1/customers/*/carts/*/checkout", "checkout-a-cart"),
];

fn answer_of(fixture: &Fixture, method: &str) -> (u16, Vec<u8>) {
    let response = fixture
        .response
        .as_ref()
        .unwrap_or_else(|| panic!("{}: a documented response", fixture.name));
    let status = response
        .status()
        .unwrap_or(if method == "POST" { 201 } else { 200 });
    (status, response.wire_body())
}

/// Starts the replay on 127.0.0.1:0.
pub fn start() -> Replay {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut answers = HashMap::new();
    for (route_key, name) in ROUTES {
        let fixture = contract::named(name);
        let method = route_key.split(' ').next().expect("a method");
        answers.insert((*route_key).to_owned(), answer_of(&fixture, method));
    }
    let checkout = contract::named("checkout-a-cart")
        .response
        .expect("a checkout answer")
        .json()
        .expect("JSON")
        .expect("a body");
    let shared = Arc::new(Mutex::new(Shared {
        answers,
        checkout,
        seen: Vec::new(),
    }));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let state = shared.clone();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let address = listener.local_addr().expect("address");
            ready_tx.send(address).expect("ready");
            let app = axum::Router::new().fallback(handle).with_state(state);
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = shutdown_rx.await;
                })
                .await
                .expect("serve");
        });
    });
    let address = ready_rx.recv().expect("the replay listens");
    Replay {
        base_url: format!("http://{address}"),
        shared,
        shutdown: Some(shutdown_tx),
        thread: Some(thread),
    }
}

fn bytes(status: u16, body: Vec<u8>, headers: &[(&str, String)]) -> Response {
    let mut response = (
        StatusCode::from_u16(status).expect("a status"),
        [("content-type", "application/json; charset=utf-8")],
        body,
    )
        .into_response();
    for (name, value) in headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("a name"),
            value.parse().expect("a value"),
        );
    }
    response
}

async fn handle(
    State(shared): State<Arc<Mutex<Shared>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    if path.ends_with("/oauth2/token") {
        let token = json!({"token_type": "Bearer", "expires_in": "3599",
            "access_token": "replay-access-token", "refresh_token": "replay-refresh-token"});
        return bytes(200, token.to_string().into_bytes(), &[]);
    }
    let route_key = route(method.as_str(), &path);
    let mut shared = shared.lock().expect("lock");
    shared.seen.push(Seen {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        route: route_key.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").to_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    });
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match route_key.as_str() {
        "GET /v1/customers" => {
            let (status, body) = shared.answers[&route_key].clone();
            let mut list = cspctl::backend::partner_center::http::parse_body(&body)
                .expect("the documented list");
            if let Some(items) = list["items"].as_array_mut() {
                items.truncate(1);
            }
            return bytes(status, list.to_string().into_bytes(), &[]);
        }
        "GET /v1/customers/*" => {
            let (status, body) = shared.answers[&route_key].clone();
            let mut customer = cspctl::backend::partner_center::http::parse_body(&body)
                .expect("the documented customer");
            customer["id"] = json!(segments[2]);
            customer["companyProfile"]["tenantId"] = json!(segments[2]);
            return bytes(status, customer.to_string().into_bytes(), &[]);
        }
        "GET /v1/customers/*/orders/*" => {
            let order_id = segments[4];
            let found = shared.checkout["orders"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|o| o["id"].as_str() == Some(order_id))
                .cloned();
            if let Some(mut order) = found {
                order["status"] = json!("completed");
                for line in order["lineItems"].as_array_mut().into_iter().flatten() {
                    if line.get("subscriptionId").is_none() {
                        line["subscriptionId"] = json!(PROVISIONED_SUBSCRIPTION);
                    }
                }
                return bytes(200, order.to_string().into_bytes(), &[]);
            }
        }
        _ => {}
    }
    match shared.answers.get(&route_key) {
        Some((status, body)) => bytes(*status, body.clone(), &[]),
        None => bytes(
            404,
            json!({"code": 0, "description": format!("the replay has no documented answer for {route_key}")})
                .to_string()
                .into_bytes(),
            &[],
        ),
    }
}
