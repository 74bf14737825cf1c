//! In-process tests against a mock Partner Center (axum on 127.0.0.1:0): the
//! headers sent, retries with the same request id, `Retry-After`, seek paging,
//! token refresh after a 401, secrets kept out of errors, and a purchase end to
//! end through the synchronous [`Backend`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::*;
use crate::plan::ObjectRef;

const TENANT: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const SECRET: &str = "client-secret-value";
const REFRESH: &str = "initial-refresh-token";

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

#[derive(Default)]
struct Mock {
    seen: Vec<Seen>,
    tokens_issued: u32,
    /// Per "method path": how many times it was asked.
    counts: HashMap<String, u32>,
    /// Responses to give before the normal one, per "method path".
    script: HashMap<String, Vec<Scripted>>,
    order_polls: u32,
}

type Shared = Arc<Mutex<Mock>>;
/// A scripted answer: status, headers, body.
type Scripted = (u16, Vec<(String, String)>, Value);

fn json_response(status: u16, headers: &[(String, String)], body: Value) -> Response {
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response();
    for (k, v) in headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    response
}

async fn handle(
    State(mock): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let mut mock = mock.lock().unwrap();
    let body = String::from_utf8_lossy(&body).into_owned();
    mock.seen.push(Seen {
        method: method.to_string(),
        path: path.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.clone(),
    });
    let key = format!("{method} {}", uri.path());
    *mock.counts.entry(key.clone()).or_default() += 1;
    if let Some(queue) = mock.script.get_mut(&key)
        && !queue.is_empty()
    {
        let (status, headers, body) = queue.remove(0);
        return json_response(status, &headers, body);
    }
    if uri.path().ends_with("/oauth2/token") {
        if body.contains("client_secret=wrong") {
            return json_response(
                401,
                &[],
                json!({"error": "invalid_client", "error_description": format!("AADSTS7000215: Invalid client secret provided: {body}")}),
            );
        }
        mock.tokens_issued += 1;
        let n = mock.tokens_issued;
        return json_response(
            200,
            &[],
            json!({"token_type": "Bearer", "expires_in": "3599", "access_token": format!("token-{n}"),
                   "refresh_token": format!("refresh-{n}"), "scope": "user_impersonation"}),
        );
    }
    // Every API call must carry the current token.
    let expected = format!("Bearer token-{}", mock.tokens_issued);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return json_response(
            401,
            &[],
            json!({"code": 800001, "description": "token expired"}),
        );
    }
    let c1 = "cccccccc-0000-0000-0000-000000000001";
    match (method.as_str(), uri.path()) {
        ("GET", "/v1/relationships") => json_response(
            200,
            &[],
            json!({"totalCount": 1, "items": [{"id": "BBBBBBBB-0000-0000-0000-000000000001",
                "name": "First Up", "relationshipType": "is_indirect_cloud_solution_provider_of",
                "state": "Active", "mpnId": "4847383", "location": "US"}]}),
        ),
        ("GET", "/v1/customers/relationshiprequests") => {
            json_response(200, &[], json!({"url": "https://admin.example/accept"}))
        }
        ("GET", "/v1/customers") => {
            if uri.query().unwrap_or("").contains("seekOperation=Next") {
                if headers
                    .get("ms-continuationtoken")
                    .and_then(|v| v.to_str().ok())
                    != Some("tok/2")
                {
                    return json_response(
                        400,
                        &[],
                        json!({"code": 3000, "description": "bad token"}),
                    );
                }
                json_response(
                    200,
                    &[],
                    json!({"totalCount": 1, "items": [
                    {"id": "dddddddd-0000-0000-0000-000000000002", "relationshipToPartner": "none",
                     "companyProfile": {"domain": "gone.onmicrosoft.com"}}]}),
                )
            } else {
                json_response(
                    200,
                    &[],
                    json!({"totalCount": 1, "continuationToken": "tok/2",
                    "items": [{"id": c1, "companyProfile": {"domain": "contoso.onmicrosoft.com"},
                               "relationshipToPartner": "reseller"}],
                    "links": {"next": {"uri": "/customers?size=500&seekOperation=Next", "method": "GET",
                        "headers": [{"key": "MS-ContinuationToken", "value": "tok/2"}]}}}),
                )
            }
        }
        ("GET", p) if p == format!("/v1/customers/{c1}") => json_response(
            200,
            &[],
            json!({
            "Id": c1, "CompanyProfile": {"Domain": "contoso.onmicrosoft.com", "CompanyName": "Contoso"},
            "BillingProfile": {"Email": "a@contoso.com", "Culture": "en-US", "Language": "en",
                "CompanyName": "Contoso", "DefaultAddress": {"FirstName": "A", "LastName": "B",
                "AddressLine1": "1 Way", "City": "X", "PostalCode": "1", "Country": "US"}},
            "RelationshipToPartner": "reseller",
            "AssociatedPartnerId": "BBBBBBBB-0000-0000-0000-000000000001"}),
        ),
        ("GET", p) if p.ends_with("/relationships") => json_response(
            200,
            &[],
            json!({"items": [
            {"id": "BBBBBBBB-0000-0000-0000-000000000001", "mpnId": "4847383"}]}),
        ),
        ("GET", p) if p.ends_with("/agreements") => json_response(200, &[], json!({"items": []})),
        ("GET", p) if p == format!("/v1/customers/{c1}/subscriptions") => json_response(
            200,
            &[],
            json!({"items": [
            {"id": "11111111-0000-0000-0000-000000000001", "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM",
             "friendlyName": "E3 (older)", "quantity": 5, "termDuration": "P1Y", "billingCycle": "monthly",
             "autoRenewEnabled": true, "status": "active", "partnerId": "4847383"},
            {"id": "22222222-0000-0000-0000-000000000002", "offerId": "91FD106F-4B2C-4938-95AC-F54F74E9A239",
             "friendlyName": "Legacy", "quantity": "2", "termDuration": "P1M", "billingCycle": "Monthly",
             "autoRenewEnabled": true, "status": "Active", "partnerId": ""},
            {"id": "33333333-0000-0000-0000-000000000003", "offerId": "91FD106F-4B2C-4938-95AC-F54F74E9A239",
             "friendlyName": "Old", "quantity": 1, "termDuration": "P1M", "billingCycle": "monthly",
             "autoRenewEnabled": false, "status": "deleted", "partnerId": ""}]}),
        ),
        ("GET", p) if p.ends_with("/supportcontact") => json_response(
            200,
            &[],
            json!({
            "supportTenantId": TENANT.to_uppercase(), "supportMpnId": "1", "name": "Provider"}),
        ),
        // Purchase flow: the order list read just before buying.
        ("GET", p) if p.ends_with("/orders") => json_response(200, &[], json!({"items": []})),
        ("POST", p) if p.ends_with("/carts") => json_response(
            201,
            &[],
            json!({"id": "cart-1", "status": "Active",
            "lineItems": [{"id": 0, "catalogItemId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM"}]}),
        ),
        ("POST", p) if p.ends_with("/carts/cart-1/checkout") => json_response(
            201,
            &[],
            json!({"orders": [
            {"id": "order-1", "status": "pending", "lineItems": [{"lineItemNumber": 0,
              "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM", "friendlyName": "E3", "quantity": 1,
              "subscriptionId": "44444444-0000-0000-0000-000000000004"}]}], "orderErrors": []}),
        ),
        // A pending order as checkout-a-cart.md shows one: its line names the
        // offer but no subscription until the second read.
        ("GET", p) if p.ends_with("/orders/order-7") => {
            mock.order_polls += 1;
            let done = mock.order_polls >= 2;
            let mut line = json!({"lineItemNumber": 0, "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM",
                "friendlyName": "E3", "quantity": 1});
            if done {
                line["subscriptionId"] = json!("44444444-0000-0000-0000-000000000004");
            }
            json_response(
                200,
                &[],
                json!({"id": "order-7", "status": if done { "completed" } else { "pending" },
                    "lineItems": [line]}),
            )
        }
        ("GET", p) if p.ends_with("/orders/order-1") => {
            mock.order_polls += 1;
            let status = if mock.order_polls >= 2 {
                "completed"
            } else {
                "pending"
            };
            json_response(200, &[], json!({"id": "order-1", "status": status}))
        }
        ("GET", p) if p.ends_with("/subscriptions/44444444-0000-0000-0000-000000000004") => {
            json_response(
                200,
                &[],
                json!({"id": "44444444-0000-0000-0000-000000000004",
                "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM", "quantity": 1, "status": "active",
                "autoRenewEnabled": true, "billingCycle": "monthly", "termDuration": "P1Y",
                "attributes": {"etag": "e1", "objectType": "Subscription"}}),
            )
        }
        ("PATCH", p) if p.ends_with("/subscriptions/44444444-0000-0000-0000-000000000004") => {
            json_response(200, &[], serde_json::from_str(&body).unwrap_or(Value::Null))
        }
        // Update flow.
        ("GET", p) if p.ends_with("/subscriptions/55555555-0000-0000-0000-000000000005") => {
            json_response(
                200,
                &[],
                json!({"id": "55555555-0000-0000-0000-000000000005",
                "offerId": "91FD106F-4B2C-4938-95AC-F54F74E9A239", "quantity": 3, "status": "suspended",
                "autoRenewEnabled": true, "billingCycle": "monthly", "termDuration": "P1M",
                "partnerId": "4847383", "orderId": "order-9"}),
            )
        }
        ("PATCH", p) if p.ends_with("/subscriptions/55555555-0000-0000-0000-000000000005") => {
            json_response(200, &[], serde_json::from_str(&body).unwrap_or(Value::Null))
        }
        ("GET", p) if p.ends_with("/orders/order-9") => json_response(
            200,
            &[],
            json!({"id": "order-9",
            "status": "completed", "lineItems": [{"lineItemNumber": 3,
            "subscriptionId": "55555555-0000-0000-0000-000000000005"}]}),
        ),
        ("PATCH", p) if p.ends_with("/orders/order-9") => {
            json_response(200, &[], json!({"id": "order-9"}))
        }
        ("GET", p) if p == format!("/v1/customers/{c1}/profiles/billing") => json_response(
            200,
            &[],
            json!({
            "id": "bp1", "email": "old@contoso.com", "culture": "en-US", "language": "en",
            "companyName": "Contoso", "defaultAddress": {"firstName": "A"},
            "attributes": {"etag": "etag-7", "objectType": "CustomerBillingProfile"}}),
        ),
        ("PUT", p) if p == format!("/v1/customers/{c1}/profiles/billing") => {
            json_response(200, &[], serde_json::from_str(&body).unwrap_or(Value::Null))
        }
        ("GET", "/v1/profiles/mpn") => json_response(
            200,
            &[],
            json!({"mpnId": "1000001",
            "partnerName": "The Provider", "profileType": "MpnProfile"}),
        ),
        ("PUT", p) if p.ends_with("/supportcontact") => {
            json_response(200, &[], serde_json::from_str(&body).unwrap_or(Value::Null))
        }
        ("POST", "/v1/customers") => json_response(
            400,
            &[],
            json!({"code": "600049", "description": "organizationRegistrationNumber is required"}),
        ),
        _ => json_response(
            404,
            &[],
            json!({"code": 1000, "description": format!("no mock for {key}")}),
        ),
    }
}

/// Starts the mock on its own runtime thread; returns its base URL.
fn start(mock: Shared) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = Router::new().fallback(handle).with_state(mock);
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

fn config(base: &str, secret: &str, sandbox: bool) -> PartnerCenterConfig {
    PartnerCenterConfig {
        endpoint: base.to_owned(),
        authority: base.to_owned(),
        sandbox,
        credentials: Credentials {
            tenant_id: TENANT.to_owned(),
            client_id: "client".to_owned(),
            client_secret: Secret::new(secret),
            refresh_token: Some(Secret::new(REFRESH)),
        },
        read_concurrency: 4,
        provisioning_timeout: Duration::from_secs(10),
        timeout: None,
        max_response_bytes: crate::backend::partner_center::DEFAULT_MAX_RESPONSE_BYTES,
    }
}

fn fast() -> Tuning {
    Tuning {
        retry: RetryPolicy {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
            attempts: 5,
            retry_after_cap: Duration::from_secs(5),
            throttled_budget: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            ..RetryPolicy::default()
        },
        poll_initial: Duration::from_millis(10),
        poll_cap: Duration::from_millis(20),
        per_customer_concurrency: 2,
        read_after_create_wait: Duration::from_secs(1),
        throttle: ThrottleTuning::default(),
    }
}

#[test]
fn read_live_sends_headers_retries_pages_and_refreshes() {
    let mock = Shared::default();
    {
        let mut m = mock.lock().unwrap();
        m.script.insert(
            "GET /v1/relationships".into(),
            vec![(503, vec![], json!({"code": 0, "description": "try later"}))],
        );
        m.script.insert(
            "GET /v1/customers/cccccccc-0000-0000-0000-000000000001".into(),
            vec![(
                401,
                vec![],
                json!({"code": 800001, "description": "expired"}),
            )],
        );
        m.script.insert(
            "GET /v1/customers/cccccccc-0000-0000-0000-000000000001/agreements".into(),
            vec![(
                429,
                vec![("Retry-After".into(), "1".into())],
                json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds."}),
            )],
        );
    }
    let base = start(mock.clone());
    let mut backend =
        PartnerCenterBackend::with_tuning(config(&base, SECRET, false), fast()).unwrap();
    let started = std::time::Instant::now();
    let live = backend.read_live().unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After honoured"
    );

    // The snapshot.
    assert_eq!(
        live.resellers.keys().collect::<Vec<_>>(),
        ["bbbbbbbb-0000-0000-0000-000000000001"]
    );
    assert_eq!(
        live.customers.len(),
        1,
        "relationshipToPartner none is skipped"
    );
    let customer = &live.customers["cccccccc-0000-0000-0000-000000000001"];
    assert_eq!(customer.domain, "contoso.onmicrosoft.com");
    assert_eq!(
        customer.associated_partner_id.as_deref(),
        Some("bbbbbbbb-0000-0000-0000-000000000001")
    );
    assert_eq!(live.subscriptions.len(), 3);
    let legacy = &live.subscriptions["22222222-0000-0000-0000-000000000002"];
    assert_eq!(legacy.quantity, 2);
    assert_eq!(legacy.partner_id, None);
    assert_eq!(legacy.support_contact, None, "the provider is the default");
    assert_eq!(
        live.relationship_request_url.as_deref(),
        Some("https://admin.example/accept")
    );

    let m = mock.lock().unwrap();
    // Support contacts: only the active legacy subscription.
    let contacts: Vec<_> = m
        .seen
        .iter()
        .filter(|s| s.path.ends_with("/supportcontact"))
        .collect();
    assert_eq!(contacts.len(), 1);
    assert!(contacts[0].path.contains("22222222"));

    let api: Vec<&Seen> = m
        .seen
        .iter()
        .filter(|s| s.path.starts_with("/v1/"))
        .collect();
    // headers.md: MS-Contract-Version on every request, and a new correlation id
    // per call (a retry of one call keeps its own).
    let mut correlations = std::collections::HashSet::new();
    for seen in &api {
        assert_eq!(seen.headers["ms-contract-version"], "v1", "{}", seen.path);
        correlations.insert(seen.headers["ms-correlationid"].clone());
        assert_eq!(
            seen.headers["user-agent"],
            format!("cspctl/{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(seen.headers["accept"], "application/json");
        assert!(seen.headers["authorization"].starts_with("Bearer token-"));
        assert!(!seen.headers["ms-requestid"].is_empty());
    }
    // The retry after 503 reused the request id.
    let relationships: Vec<_> = api
        .iter()
        .filter(|s| s.path.starts_with("/v1/relationships"))
        .collect();
    assert_eq!(relationships.len(), 2);
    assert_eq!(
        relationships[0].headers["ms-requestid"],
        relationships[1].headers["ms-requestid"]
    );
    assert_eq!(
        relationships[0].headers["ms-correlationid"], relationships[1].headers["ms-correlationid"],
        "a retry is the same call"
    );
    // One correlation id per call: the same for the attempts of one call (they
    // share a request id), different between calls.
    let calls: std::collections::HashSet<(&String, &String)> = api
        .iter()
        .map(|s| (&s.headers["ms-requestid"], &s.headers["ms-correlationid"]))
        .collect();
    let request_ids: std::collections::HashSet<&String> =
        api.iter().map(|s| &s.headers["ms-requestid"]).collect();
    assert_eq!(calls.len(), request_ids.len());
    assert_eq!(correlations.len(), request_ids.len());
    assert!(correlations.len() > 2);
    // Paging followed with the continuation header.
    let next = api
        .iter()
        .find(|s| s.path.contains("seekOperation=Next"))
        .expect("second page requested");
    assert_eq!(next.headers["ms-continuationtoken"], "tok/2");
    // The 401 led to one new token, asked with the newest refresh token.
    assert_eq!(m.tokens_issued, 2);
    let grants: Vec<_> = m
        .seen
        .iter()
        .filter(|s| s.path.ends_with("/oauth2/token"))
        .collect();
    assert!(grants[0].body.contains("grant_type=refresh_token"));
    assert!(grants[0].body.contains(REFRESH));
    assert!(
        grants[1].body.contains("refresh_token=refresh-1"),
        "{}",
        grants[1].body
    );
    assert!(
        grants[0]
            .body
            .contains("resource=https%3A%2F%2Fapi.partnercenter.microsoft.com")
    );
}

#[test]
fn errors_never_contain_secrets() {
    let mock = Shared::default();
    let base = start(mock.clone());
    let mut backend =
        PartnerCenterBackend::with_tuning(config(&base, "wrong", true), fast()).unwrap();
    let error = backend.read_live().unwrap_err().to_string();
    assert!(error.contains("invalid_client"), "{error}");
    assert!(!error.contains("client_secret=wrong"), "{error}");
    assert!(!error.contains(REFRESH), "{error}");

    // An API error keeps method, path, request id and the (string) code.
    let mut backend =
        PartnerCenterBackend::with_tuning(config(&base, SECRET, true), fast()).unwrap();
    let operation = Operation::CreateCustomer {
        domain: "x.onmicrosoft.com".into(),
        company_name: "X".into(),
        billing: serde_json::from_value(json!({"email": "a@x.com", "culture": "en-US",
            "language": "en", "address": {"firstName": "A", "lastName": "B",
            "addressLine1": "1", "city": "C", "postalCode": "1", "country": "IN"}}))
        .unwrap(),
        organization_registration_number: None,
        associated_partner_id: "bbbbbbbb-0000-0000-0000-000000000001".into(),
        associated_reseller: None,
        agreement: None,
    };
    let error = backend.execute(&operation, "req-1").unwrap_err();
    match &error {
        BackendError::Api {
            request,
            status,
            code,
            ..
        } => {
            assert_eq!(request, "POST /v1/customers (request id req-1)");
            assert_eq!((*status, *code), (400, 600_049));
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = format!("{error} {error:?} {backend:?}");
    for secret in [SECRET, REFRESH, "token-1"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[test]
fn buying_new_commerce_uses_cart_checkout_waits_and_patches() {
    let mock = Shared::default();
    let base = start(mock.clone());
    let mut backend =
        PartnerCenterBackend::with_tuning(config(&base, SECRET, true), fast()).unwrap();
    let operation = Operation::CreateSubscription {
        customer: ObjectRef {
            address: "Customer/contoso".into(),
            id: Some("cccccccc-0000-0000-0000-000000000001".into()),
        },
        offer_id: "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM".into(),
        quantity: 1,
        term_duration: crate::manifest::model::TermDuration::P1Y,
        billing_cycle: crate::manifest::model::BillingCycle::Monthly,
        auto_renew: false,
        friendly_name: "E3".into(),
        partner_id_on_record: Some("4847383".into()),
        suspend: false,
        custom_term_end_date: None,
    };
    let outcome = backend.execute(&operation, "op-1").unwrap();
    assert_eq!(
        outcome.created_id.as_deref(),
        Some("44444444-0000-0000-0000-000000000004")
    );
    let m = mock.lock().unwrap();
    // Just before buying, the customer's subscriptions and orders are read again
    // (another runner may have bought the same subscription since the plan).
    let position = |method: &str, end: &str| {
        m.seen
            .iter()
            .position(|s| s.method == method && s.path.ends_with(end))
            .unwrap_or_else(|| panic!("no {method} …{end}"))
    };
    assert!(position("GET", "/subscriptions") < position("POST", "/carts"));
    assert!(position("GET", "/orders") < position("POST", "/carts"));
    let cart = m.seen.iter().find(|s| s.path.ends_with("/carts")).unwrap();
    // Not apply's id: the purchase's own, from what it buys (generation 0: this
    // client keeps no journal, and the customer lists no subscription named E3).
    let purchase_id = ids::purchase_request_id(
        &backend.client().http.credentials().tenant_id,
        "cccccccc-0000-0000-0000-000000000001",
        "E3",
        0,
    );
    assert_eq!(cart.headers["ms-requestid"], purchase_id);
    assert_eq!(cart.headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&cart.body).unwrap();
    assert_eq!(body["lineItems"][0]["participants"][0]["value"], "4847383");
    let checkout = m
        .seen
        .iter()
        .find(|s| s.path.ends_with("/checkout"))
        .unwrap();
    assert_eq!(
        checkout.headers["ms-requestid"],
        ids::derive_request_id(&purchase_id, "checkout")
    );
    assert!(m.order_polls >= 2, "waited for the order to complete");
    let patch = m.seen.iter().find(|s| s.method == "PATCH").unwrap();
    let body: Value = serde_json::from_str(&patch.body).unwrap();
    assert_eq!(body["autoRenewEnabled"], false);
    assert_eq!(
        body["attributes"]["etag"], "e1",
        "the full resource is sent back"
    );
    assert_eq!(
        patch.headers["ms-requestid"],
        ids::derive_request_id(&purchase_id, "auto-renew")
    );
}

#[test]
fn describe_and_url_checks() {
    let mut remote = config("http://partner.example", SECRET, false);
    let error = PartnerCenterBackend::new(remote.clone())
        .unwrap_err()
        .to_string();
    assert!(error.contains("plain http"), "{error}");
    remote.endpoint = "https://api.partnercenter.microsoft.com/".into();
    remote.authority = "http://login.example".into();
    assert!(PartnerCenterBackend::new(remote.clone()).is_err());
    remote.authority = DEFAULT_AUTHORITY.into();
    remote.sandbox = true;
    let backend = PartnerCenterBackend::new(remote).unwrap();
    assert_eq!(
        backend.describe(),
        format!("partner-center:https://api.partnercenter.microsoft.com#{TENANT} (sandbox)")
    );
}

#[test]
fn production_refuses_to_create_resellers_and_manual_actions() {
    let mut backend =
        PartnerCenterBackend::new(config("http://127.0.0.1:9", SECRET, false)).unwrap();
    let reseller = Operation::CreateReseller {
        reseller: crate::manifest::model::ResellerSpec {
            tenant_id: Some("bbbbbbbb-0000-0000-0000-000000000001".into()),
            mpn_id: "1".into(),
            display_name: "R".into(),
            location: None,
            sandbox_tenant: None,
        },
    };
    let error = backend.execute(&reseller, "r").unwrap_err().to_string();
    assert!(
        error.contains("accepts the provider's invitation"),
        "{error}"
    );
    assert!(matches!(
        backend.execute(&Operation::Manual, "m"),
        Err(BackendError::Unresolved(_))
    ));
}

#[test]
fn updates_go_in_a_safe_order_with_derived_ids() {
    let mock = Shared::default();
    mock.lock().unwrap().script.insert(
        "PATCH /v1/customers/cccccccc-0000-0000-0000-000000000001/orders/order-9".into(),
        vec![(
            409,
            vec![],
            json!({"code": 800060, "description": "Your order is in progress."}),
        )],
    );
    let base = start(mock.clone());
    let mut backend =
        PartnerCenterBackend::with_tuning(config(&base, SECRET, true), fast()).unwrap();
    let customer = ObjectRef {
        address: "Customer/contoso".into(),
        id: Some("CCCCCCCC-0000-0000-0000-000000000001".into()),
    };
    let update = Operation::UpdateSubscription {
        customer: customer.clone(),
        subscription_id: "55555555-0000-0000-0000-000000000005".into(),
        patch: crate::plan::SubscriptionPatch {
            quantity: Some(7),
            auto_renew: None,
            billing_cycle: Some(crate::manifest::model::BillingCycle::Annual),
            partner_id: Some(None),
            status: Some(crate::live::LiveStatus::Active),
            next_term: None,
        },
    };
    backend.execute(&update, "upd-1").unwrap();
    let billing: crate::manifest::model::Billing = serde_json::from_value(json!({
        "email": "new@contoso.com", "culture": "en-US", "language": "en",
        "address": {"firstName": "A", "lastName": "B", "addressLine1": "1 Way",
            "city": "X", "postalCode": "1", "country": "US"}}))
    .unwrap();
    let customer_update = Operation::UpdateCustomer {
        customer: customer.clone(),
        billing: Some(billing),
        company_name: Some("Contoso Ltd".into()),
        agreement: None,
    };
    backend.execute(&customer_update, "upd-2").unwrap();
    let reset = Operation::ResetSupportContact {
        customer,
        subscription_id: "55555555-0000-0000-0000-000000000005".into(),
    };
    backend.execute(&reset, "upd-3").unwrap();

    let m = mock.lock().unwrap();
    let writes: Vec<&Seen> = m
        .seen
        .iter()
        .filter(|s| matches!(s.method.as_str(), "PATCH" | "PUT"))
        .collect();
    let bodies: Vec<Value> = writes
        .iter()
        .map(|s| serde_json::from_str(&s.body).unwrap())
        .collect();
    // Reactivate, then the billing cycle (409/800060 retried with the same id),
    // then the other fields.
    assert_eq!(bodies[0]["status"], "active");
    assert_eq!(
        writes[0].headers["ms-requestid"],
        ids::derive_request_id("upd-1", "reactivate")
    );
    assert!(writes[1].path.ends_with("/orders/order-9"));
    assert_eq!(
        writes[1].headers["ms-requestid"],
        writes[2].headers["ms-requestid"]
    );
    assert_eq!(
        bodies[2],
        // change-the-billing-cycle.md: ReferenceCustomerId, and per line
        // LineItemNumber, OfferId, SubscriptionId and Quantity are required.
        json!({"referenceCustomerId": "cccccccc-0000-0000-0000-000000000001",
            "billingCycle": "annual", "lineItems": [{"lineItemNumber": 3,
            "offerId": "91FD106F-4B2C-4938-95AC-F54F74E9A239",
            "subscriptionId": "55555555-0000-0000-0000-000000000005", "quantity": 3,
            "partnerIdOnRecord": "4847383"}]})
    );
    assert_eq!(bodies[3]["quantity"], 7);
    assert_eq!(bodies[3]["partnerId"], "");
    assert_eq!(
        bodies[3]["orderId"], "order-9",
        "the full resource goes back"
    );
    // The billing profile: If-Match with the etag, changed fields.
    assert!(writes[4].path.ends_with("/profiles/billing"));
    assert_eq!(writes[4].headers["if-match"], "etag-7");
    assert_eq!(bodies[4]["email"], "new@contoso.com");
    assert_eq!(bodies[4]["companyName"], "Contoso Ltd");
    assert_eq!(bodies[4]["id"], "bp1");
    // Reset: the provider's own tenant and MPN.
    assert_eq!(
        bodies[5],
        json!({"supportTenantId": TENANT, "supportMpnId": "1000001", "name": "The Provider"})
    );
    assert_eq!(writes[5].headers["ms-requestid"], "upd-3");
    assert_eq!(writes.len(), 6);
}

/// Throttling is waited out as Partner Center asks, beyond the retry attempts of a
/// failing request, until the throttling budget is spent.
#[test]
fn throttling_is_waited_out_within_a_budget_not_an_attempt_count() {
    let throttled = || {
        (
            429,
            vec![("Retry-After".to_owned(), "0".to_owned())],
            json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 0 seconds."}),
        )
    };
    let mock = Shared::default();
    mock.lock().unwrap().script.insert(
        "GET /v1/relationships".into(),
        (0..8).map(|_| throttled()).collect(),
    );
    let base = start(mock.clone());
    let mut backend =
        PartnerCenterBackend::with_tuning(config(&base, SECRET, false), fast()).unwrap();
    assert!(fast().retry.attempts < 8);
    backend
        .read_live()
        .expect("eight 429s in a row are waited out");

    let mock = Shared::default();
    mock.lock().unwrap().script.insert(
        "GET /v1/relationships".into(),
        (0..100).map(|_| throttled()).collect(),
    );
    let base = start(mock.clone());
    let mut tuning = fast();
    tuning.retry.throttled_budget = Duration::from_millis(50);
    let mut backend =
        PartnerCenterBackend::with_tuning(config(&base, SECRET, false), tuning).unwrap();
    let error = backend.read_live().unwrap_err().to_string();
    assert!(error.contains("still throttled"), "{error}");
    assert!(error.contains("GET /v1/relationships"), "{error}");
}

/// A 429 with `Retry-After: 1` pauses its key (here the customer's): the request
/// waits, then succeeds with the same request id, while a request outside that key
/// goes at once; the client counts both attempts and the 429.
#[test]
fn a_429_pauses_its_key_then_succeeds_and_is_counted() {
    let c1 = "cccccccc-0000-0000-0000-000000000001";
    let mock = Shared::default();
    mock.lock().unwrap().script.insert(
        format!("GET /v1/customers/{c1}/subscriptions"),
        vec![(
            429,
            vec![("Retry-After".into(), "1".into())],
            json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds."}),
        )],
    );
    let base = start(mock.clone());
    let client = PartnerCenterClient::with_tuning(config(&base, SECRET, false), fast()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let started = tokio::time::Instant::now();
        let throttled = {
            let client = client.clone();
            let path = format!("/customers/{c1}/subscriptions");
            tokio::spawn(async move {
                let request = http::Request::new(Method::GET, &path, "req-429");
                let response = client.http.send(request).await;
                (response, started.elapsed())
            })
        };
        // While the customer waits, the partner's key is free.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let other = tokio::time::Instant::now();
        let request = http::Request::new(Method::GET, "/profiles/mpn", "req-other");
        client.http.send(request).await.unwrap();
        assert!(
            other.elapsed() < Duration::from_millis(500),
            "{:?}",
            other.elapsed()
        );

        let (response, elapsed) = throttled.await.unwrap();
        assert_eq!(response.unwrap().status, 200);
        assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    });
    assert_eq!(
        client.request_stats(),
        RequestStats {
            requests: 3,
            throttled: 1
        }
    );
    let m = mock.lock().unwrap();
    let ids: Vec<&str> = m
        .seen
        .iter()
        .filter(|s| s.path.ends_with("/subscriptions"))
        .map(|s| s.headers["ms-requestid"].as_str())
        .collect();
    assert_eq!(ids, ["req-429", "req-429"]);
}

/// An apply killed after Partner Center answered a checkout with a pending order
/// (no subscription id yet) leaves the order id in the journal; the next apply
/// settles the purchase from that order, whatever the idempotency window, and
/// buys nothing.
#[test]
fn a_pending_order_left_in_the_journal_is_settled_from_it_not_bought_again() {
    use crate::backend::partner_center::journal::{PurchaseJournal, Record, read_open};
    let mock: Shared = Arc::new(Mutex::new(Mock::default()));
    let base = start(mock.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pc.journal");
    let operation = Operation::CreateSubscription {
        customer: ObjectRef {
            address: "Customer/contoso".into(),
            id: Some("cccccccc-0000-0000-0000-000000000001".into()),
        },
        offer_id: "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM".into(),
        quantity: 1,
        term_duration: crate::manifest::model::TermDuration::P1Y,
        billing_cycle: crate::manifest::model::BillingCycle::Monthly,
        auto_renew: true,
        friendly_name: "E3".into(),
        partner_id_on_record: None,
        suspend: false,
        custom_term_end_date: None,
    };
    let journal = PurchaseJournal::open(path.clone()).unwrap();
    journal
        .append(&Record::Intent {
            request_id: "op-7".into(),
            // Long past the idempotency window: a replay would be a new purchase.
            at: "2026-01-01T00:00:00Z".into(),
            operation: Box::new(operation),
            key: None,
            generation: None,
        })
        .unwrap();
    journal
        .append(&Record::Ordered {
            request_id: "op-7".into(),
            order_id: "order-7".into(),
            subscription_id: None,
        })
        .unwrap();
    journal.flush().unwrap();
    let backend = PartnerCenterBackend::with_tuning(config(&base, SECRET, true), fast())
        .unwrap()
        .with_journal(
            PurchaseJournal::open(path.clone()).unwrap(),
            "2026-03-01T10:00:00Z".into(),
        );
    let settled = backend.block_on(backend.client().settle()).unwrap();
    assert_eq!(settled.len(), 1, "{settled:?}");
    assert!(
        settled[0].contains(
            "order order-7 provisioned subscription 44444444-0000-0000-0000-000000000004"
        ),
        "{settled:?}"
    );
    assert!(read_open(&path).unwrap().is_empty());
    let m = mock.lock().unwrap();
    assert!(
        !m.seen
            .iter()
            .any(|s| s.method == "POST"
                && (s.path.contains("/carts") || s.path.ends_with("/orders"))),
        "nothing bought again"
    );
    assert!(
        m.order_polls >= 2,
        "the order was polled until it named the subscription"
    );
}

/// A re-purchase of a subscription cancelled since (issue 15, item 3): the
/// customer lists two cancelled subscriptions named `E3` that this runner's
/// journal never saw (another runner bought them), so the purchase is sent at
/// generation 2, not at the generation 0 whose id Partner Center may still answer
/// with the first purchase's order; once settled, the journal's next is 3.
#[test]
fn a_re_purchase_after_cancels_another_runner_made_gets_a_new_request_id() {
    use crate::backend::partner_center::journal::{PurchaseJournal, PurchaseKey, read};
    let mock = Shared::default();
    let customer = "cccccccc-0000-0000-0000-000000000001";
    mock.lock().unwrap().script.insert(
        format!("GET /v1/customers/{customer}/subscriptions"),
        vec![(
            200,
            vec![],
            json!({"items": [
            {"id": "66666666-0000-0000-0000-000000000006", "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM",
             "friendlyName": "E3", "quantity": 1, "status": "deleted"},
            {"id": "77777777-0000-0000-0000-000000000007", "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM",
             "friendlyName": "e3", "quantity": 1, "status": "deleted"},
            {"id": "11111111-0000-0000-0000-000000000001", "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM",
             "friendlyName": "E3 (older)", "quantity": 5, "status": "active"}]}),
        )],
    );
    let base = start(mock.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pc.journal");
    let mut backend = PartnerCenterBackend::with_tuning(config(&base, SECRET, true), fast())
        .unwrap()
        .with_journal(
            PurchaseJournal::open(path.clone()).unwrap(),
            "2026-03-01T10:00:00Z".into(),
        );
    let operation = Operation::CreateSubscription {
        customer: ObjectRef {
            address: "Customer/contoso".into(),
            id: Some(customer.into()),
        },
        offer_id: "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM".into(),
        quantity: 1,
        term_duration: crate::manifest::model::TermDuration::P1Y,
        billing_cycle: crate::manifest::model::BillingCycle::Monthly,
        auto_renew: true,
        friendly_name: "E3".into(),
        partner_id_on_record: None,
        suspend: false,
        custom_term_end_date: None,
    };
    backend.execute(&operation, "op-1").unwrap();
    let key = PurchaseKey::new(TENANT, customer, "E3");
    let m = mock.lock().unwrap();
    let cart = m.seen.iter().find(|s| s.path.ends_with("/carts")).unwrap();
    assert_eq!(cart.headers["ms-requestid"], key.request_id(2));
    drop(m);
    backend.client().compact_journal().unwrap();
    let contents = read(&path).unwrap();
    assert!(contents.open.is_empty(), "{contents:?}");
    assert_eq!(contents.generations.get(&key), Some(&3));
}

/// change-the-quantity-of-a-subscription.md: a PATCH that takes long answers
/// `202 Accepted` with a `Location` to watch. The change is followed there until it
/// shows, not reported done while Partner Center still applies it, and never sent
/// twice.
#[test]
fn an_accepted_patch_is_followed_until_the_change_shows() {
    let mock = Shared::default();
    let path = "/v1/customers/cccccccc-0000-0000-0000-000000000001/subscriptions/44444444-0000-0000-0000-000000000004";
    let before = json!({"id": "44444444-0000-0000-0000-000000000004",
        "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM", "quantity": 3, "status": "active",
        "autoRenewEnabled": true, "attributes": {"etag": "e0", "objectType": "Subscription"}});
    {
        let mut m = mock.lock().unwrap();
        // The read before the PATCH, then one read while the change is under way;
        // after those the mock answers quantity 1, the value asked for.
        m.script.insert(
            format!("GET {path}"),
            vec![(200, vec![], before.clone()), (200, vec![], before)],
        );
        m.script.insert(
            format!("PATCH {path}"),
            vec![(
                202,
                vec![(
                    "location".into(),
                    "/customers/cccccccc-0000-0000-0000-000000000001/subscriptions/44444444-0000-0000-0000-000000000004".into(),
                )],
                Value::Null,
            )],
        );
    }
    let base = start(mock.clone());
    let mut backend =
        PartnerCenterBackend::with_tuning(config(&base, SECRET, true), fast()).unwrap();
    let update = Operation::UpdateSubscription {
        customer: ObjectRef {
            address: "Customer/contoso".into(),
            id: Some("cccccccc-0000-0000-0000-000000000001".into()),
        },
        subscription_id: "44444444-0000-0000-0000-000000000004".into(),
        patch: crate::plan::SubscriptionPatch {
            quantity: Some(1),
            ..Default::default()
        },
    };
    backend.execute(&update, "upd-202").unwrap();
    let m = mock.lock().unwrap();
    let count = |method: &str| {
        m.seen
            .iter()
            .filter(|s| s.method == method && s.path == path)
            .count()
    };
    assert_eq!(count("PATCH"), 1, "the change is sent once");
    assert_eq!(count("GET"), 3, "read before, then until the change showed");
}
