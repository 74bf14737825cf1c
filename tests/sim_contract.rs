//! Contract tests of the Partner Center simulator, black box over HTTP: what the
//! `partner-center` client relies on (docs/simulator.md). Each test starts its own
//! simulator on 127.0.0.1:0 with a frozen clock, so time moves only when a test
//! advances it.

mod common;

use std::time::Duration;

use common::{
    Answer, advance, app_user, call, call_with, client, put_faults, serve, token_response,
};
use cspctl::sim::{Faults, SimConfig, SimHandle};
use reqwest::Method;
use serde_json::{Value, json};

const NCE: &str = "CFQ7TTC0LH18:0001:CFQ7TTC0K59S";
const RESELLER_TENANT: &str = "484e548c-f5f3-4528-93a9-c16c6373cb59";
const RESELLER_MPN: &str = "4847383";

fn config() -> SimConfig {
    SimConfig {
        frozen_clock: true,
        start_time: "2026-03-01T10:00:00Z".to_owned(),
        provisioning_delay: Duration::from_secs(60),
        order_list_lag: Duration::from_secs(300),
        ..SimConfig::default()
    }
}

async fn app_only(sim: &SimHandle) -> String {
    let (status, body) = token_response(
        sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "cspctl-sim"),
            ("client_secret", "sim-secret"),
            ("resource", "https://api.partnercenter.microsoft.com"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());
    body["access_token"].as_str().expect("token").to_owned()
}

async fn add_reseller(sim: &SimHandle) {
    let a = call(sim, Method::POST, "/_sim/resellers", None, Some(json!({"tenantId": RESELLER_TENANT, "mpnId": RESELLER_MPN, "name": "First Up", "location": "US"})), None).await;
    assert_eq!(a.status, 201, "{}", a.text());
}

fn customer_body(domain: &str, reseller: Option<&str>) -> Value {
    let mut body = json!({
        "companyProfile": {"domain": domain},
        "billingProfile": {"email": "gena@example.com", "culture": "en-US", "language": "en", "companyName": format!("Company {domain}"),
            "defaultAddress": {"firstName": "Gena", "lastName": "Soto", "addressLine1": "One Way", "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"}},
    });
    if let (Some(r), Value::Object(map)) = (reseller, &mut body) {
        map.insert("associatedPartnerId".into(), json!(r));
    }
    body
}

async fn create_customer(sim: &SimHandle, token: &str, domain: &str) -> String {
    let a = call(
        sim,
        Method::POST,
        "/v1/customers",
        Some(token),
        Some(customer_body(domain, Some(RESELLER_TENANT))),
        None,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text());
    a.body["id"].as_str().expect("id").to_owned()
}

async fn attest(sim: &SimHandle, token: &str, customer: &str) {
    let a = call(sim, Method::POST, &format!("/v1/customers/{customer}/agreements"), Some(token), Some(json!({"primaryContact": {"firstName": "Gena", "lastName": "Soto", "email": "gena@example.com"}, "templateId": "117a77b0-9360-443b-8795-c6dedc750cf9", "dateAgreed": "2026-03-01T00:00:00Z", "type": "MicrosoftCustomerAgreement"})), None).await;
    assert_eq!(a.status, 201, "{}", a.text());
}

fn order_body(quantity: i64) -> Value {
    json!({"billingCycle": "monthly", "lineItems": [{"lineItemNumber": 0, "offerId": NCE, "termDuration": "P1Y", "quantity": quantity, "friendlyName": "E3", "partnerIdOnRecord": RESELLER_MPN}]})
}

async fn ready_customer(sim: &SimHandle) -> (String, String) {
    add_reseller(sim).await;
    let token = app_user(sim).await;
    let customer = create_customer(sim, &token, "contoso.onmicrosoft.com").await;
    attest(sim, &token, &customer).await;
    (token, customer)
}

async fn state_counts(sim: &SimHandle) -> (usize, usize, usize) {
    let s = call(sim, Method::GET, "/_sim/state", None, None, None)
        .await
        .body;
    let n = |k: &str| s[k].as_array().map_or(0, Vec::len);
    (n("customers"), n("orders"), n("subscriptions"))
}

/// The request body of create-indirect-reseller-in-sandbox.md (every property the
/// page requires).
/// `POST /v1/customers/{customer}/orders` for `quantity` seats, asserted created:
/// the answer and the subscription id of its line.
async fn place_order(
    sim: &SimHandle,
    token: &str,
    customer: &str,
    quantity: i64,
) -> (Answer, String) {
    let order = call(
        sim,
        Method::POST,
        &format!("/v1/customers/{customer}/orders"),
        Some(token),
        Some(order_body(quantity)),
        None,
    )
    .await;
    assert_eq!(order.status, 201, "{}", order.text());
    let subscription = order.body["lineItems"][0]["subscriptionId"]
        .as_str()
        .expect("the order names its subscription")
        .to_owned();
    (order, subscription)
}

fn sandbox_reseller_body(prefix: &str, mpn: &str) -> Value {
    json!({
        "mpnId": mpn,
        "tenant": {"domainPrefix": prefix, "name": prefix, "displayName": prefix, "adminUserName": "admin",
            "adminFirstName": "Ada", "adminLastName": "Admin", "adminAlternateEmail": format!("{prefix}@example.com"),
            "country": "US", "culture": "en-us"},
        "legalBusinessProfile": {"companyName": prefix.to_uppercase(),
            "address": {"country": "US", "city": "Redmond", "state": "WA", "addressLine1": "One Way", "addressLine2": "", "postalCode": "98052"},
            "primaryContact": {"firstName": "Ada", "lastName": "Admin", "email": format!("{prefix}@example.com"), "phoneNumber": "4255550100"},
            "culture": "en-US"},
        "organizationProfileLanguage": "en"
    })
}

fn assert_error(a: &Answer, status: u16, code: u64) {
    assert_eq!(
        (a.status, a.body["code"].as_u64()),
        (status, Some(code)),
        "{}",
        a.text()
    );
    assert_eq!(a.body["source"], "PartnerFD");
}

#[tokio::test]
async fn customers_are_seek_paged_and_bad_continuations_are_refused() {
    let sim = serve(config());
    let token = app_only(&sim).await;
    let mut created = Vec::new();
    for n in 0..5 {
        let a = call(
            &sim,
            Method::POST,
            "/v1/customers",
            Some(&token),
            Some(customer_body(&format!("c{n}.onmicrosoft.com"), None)),
            None,
        )
        .await;
        assert_eq!(a.status, 201, "{}", a.text());
        created.push(a.body["id"].as_str().expect("id").to_owned());
    }
    let mut seen = Vec::new();
    let mut page = call(
        &sim,
        Method::GET,
        "/v1/customers?size=2",
        Some(&token),
        None,
        None,
    )
    .await;
    let mut pages = 1;
    loop {
        assert_eq!(page.status, 200, "{}", page.text());
        for item in page.body["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        let Some(next) = page.body["links"].get("next").cloned() else {
            break;
        };
        let uri = next["uri"].as_str().expect("uri");
        assert!(uri.contains("seekOperation=Next"), "{uri}");
        let token_value = next["headers"][0]["value"]
            .as_str()
            .expect("token")
            .to_owned();
        assert_eq!(next["headers"][0]["key"], "MS-ContinuationToken");
        assert_eq!(page.body["continuationToken"], token_value.as_str());
        page = call_with(
            &sim,
            Method::GET,
            &format!("/v1{uri}"),
            Some(&token),
            None,
            &[("MS-ContinuationToken", &token_value)],
        )
        .await;
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "creation order, nothing lost or repeated");

    let bad = call_with(
        &sim,
        Method::GET,
        "/v1/customers?size=2&seekOperation=Next",
        Some(&token),
        None,
        &[("MS-ContinuationToken", "forged")],
    )
    .await;
    assert_error(&bad, 400, 3000);
    let missing = call(
        &sim,
        Method::GET,
        "/v1/customers?size=2&seekOperation=Next",
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(missing.status, 400);
    let first = call(
        &sim,
        Method::GET,
        "/v1/customers?size=2",
        Some(&token),
        None,
        None,
    )
    .await;
    let t = first.body["continuationToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let no_seek = call_with(
        &sim,
        Method::GET,
        "/v1/customers?size=2",
        Some(&token),
        None,
        &[("MS-ContinuationToken", &t)],
    )
    .await;
    assert_eq!(no_seek.status, 400);
    let hostile = call(
        &sim,
        Method::GET,
        "/v1/customers?size=-1&filter=%7Bnot",
        Some(&token),
        None,
        None,
    )
    .await;
    assert_error(&hostile, 400, 3000);
    let filter = call(&sim, Method::GET, "/v1/customers?size=0&filter=%7B%22Field%22%3A%22Domain%22%2C%22Value%22%3A%22C3%22%2C%22Operator%22%3A%22starts_with%22%7D", Some(&token), None, None).await;
    assert_eq!(
        filter.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        filter.text()
    );
}

#[tokio::test]
async fn replays_with_the_same_request_id_change_nothing_and_new_ids_buy_again() {
    let sim = serve(config());
    let (token, customer) = ready_customer(&sim).await;
    let body = customer_body("fabrikam.onmicrosoft.com", Some(RESELLER_TENANT));
    let first = call(
        &sim,
        Method::POST,
        "/v1/customers",
        Some(&token),
        Some(body.clone()),
        Some("req-cust-1"),
    )
    .await;
    let again = call(
        &sim,
        Method::POST,
        "/v1/customers",
        Some(&token),
        Some(body),
        Some("req-cust-1"),
    )
    .await;
    assert_eq!((first.status, again.status), (201, 201));
    assert_eq!(first.body, again.body);
    assert_eq!(state_counts(&sim).await.0, 2);

    let path = format!("/v1/customers/{customer}/orders");
    let a = call(
        &sim,
        Method::POST,
        &path,
        Some(&token),
        Some(order_body(3)),
        Some("req-order-1"),
    )
    .await;
    let b = call(
        &sim,
        Method::POST,
        &path,
        Some(&token),
        Some(order_body(3)),
        Some("req-order-1"),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text());
    assert_eq!(a.body, b.body);
    assert_eq!(state_counts(&sim).await.1, 1);
    let c = call(
        &sim,
        Method::POST,
        &path,
        Some(&token),
        Some(order_body(3)),
        Some("req-order-2"),
    )
    .await;
    assert_eq!(c.status, 201);
    assert_ne!(a.body["id"], c.body["id"]);
    assert_eq!(
        state_counts(&sim).await.1,
        2,
        "a new request id is a new purchase"
    );
    assert_eq!(a.headers["ms-requestid"], "req-order-1");
}

#[tokio::test]
async fn bearer_tokens_are_checked() {
    let sim = serve(config());
    add_reseller(&sim).await;
    let missing = call(&sim, Method::GET, "/v1/customers", None, None, None).await;
    assert_error(&missing, 401, 800001);
    assert!(missing.headers.contains_key("www-authenticate"));
    assert_error(
        &call(
            &sim,
            Method::GET,
            "/v1/customers",
            Some("forged"),
            None,
            None,
        )
        .await,
        401,
        800001,
    );

    let only = app_only(&sim).await;
    assert_eq!(
        call(&sim, Method::GET, "/v1/customers", Some(&only), None, None)
            .await
            .status,
        200
    );
    let forbidden = call(
        &sim,
        Method::GET,
        "/v1/relationships?relationship_type=IsIndirectCloudSolutionProviderOf",
        Some(&only),
        None,
        None,
    )
    .await;
    assert_error(&forbidden, 403, 900419);
    let forbidden = call(
        &sim,
        Method::POST,
        "/v1/customers",
        Some(&only),
        Some(customer_body("x.onmicrosoft.com", Some(RESELLER_TENANT))),
        None,
    )
    .await;
    assert_error(&forbidden, 403, 900419);

    let user = app_user(&sim).await;
    let list = call(
        &sim,
        Method::GET,
        "/v1/relationships?relationship_type=IsIndirectCloudSolutionProviderOf",
        Some(&user),
        None,
        None,
    )
    .await;
    assert_eq!(
        list.body["items"][0]["mpnId"],
        RESELLER_MPN,
        "{}",
        list.text()
    );
    advance(&sim, 3600).await;
    assert_error(
        &call(&sim, Method::GET, "/v1/customers", Some(&user), None, None).await,
        401,
        800001,
    );

    let (status, body) = token_response(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "cspctl-sim"),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = token_response(
        &sim,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "cspctl-sim"),
            ("client_secret", "sim-secret"),
            ("refresh_token", "stale"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let response = client()
        .post(format!("{}/someone-else/oauth2/token", sim.base_url()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn business_rules_answer_with_documented_codes() {
    let sim = serve(config());
    add_reseller(&sim).await;
    let token = app_user(&sim).await;
    let stranger = call(
        &sim,
        Method::POST,
        "/v1/customers",
        Some(&token),
        Some(customer_body(
            "a.onmicrosoft.com",
            Some("00000000-0000-0000-0000-000000000000"),
        )),
        None,
    )
    .await;
    assert_error(&stranger, 400, 800016);
    let customer = create_customer(&sim, &token, "contoso.onmicrosoft.com").await;
    assert_error(
        &call(
            &sim,
            Method::POST,
            "/v1/customers",
            Some(&token),
            Some(customer_body("contoso.onmicrosoft.com", None)),
            None,
        )
        .await,
        409,
        1003,
    );
    let mut pl = customer_body("pl.onmicrosoft.com", None);
    pl["billingProfile"]["defaultAddress"]["country"] = json!("PL");
    assert_error(
        &call(
            &sim,
            Method::POST,
            "/v1/customers",
            Some(&token),
            Some(pl),
            None,
        )
        .await,
        400,
        600049,
    );
    assert_eq!(
        call(
            &sim,
            Method::HEAD,
            "/v1/domains/contoso.onmicrosoft.com",
            Some(&token),
            None,
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(
            &sim,
            Method::HEAD,
            "/v1/domains/free.onmicrosoft.com",
            Some(&token),
            None,
            None
        )
        .await
        .status,
        404
    );

    let orders = format!("/v1/customers/{customer}/orders");
    assert_error(
        &call(
            &sim,
            Method::POST,
            &orders,
            Some(&token),
            Some(order_body(1)),
            None,
        )
        .await,
        403,
        13605,
    );
    attest(&sim, &token, &customer).await;
    let mut own = order_body(1);
    own["lineItems"][0]["partnerIdOnRecord"] = json!("1000001");
    assert_error(
        &call(&sim, Method::POST, &orders, Some(&token), Some(own), None).await,
        404,
        2072,
    );
    let order = call(
        &sim,
        Method::POST,
        &orders,
        Some(&token),
        Some(order_body(5)),
        None,
    )
    .await;
    let sid = order.body["lineItems"][0]["subscriptionId"]
        .as_str()
        .expect("sid")
        .to_owned();
    advance(&sim, 60).await;
    let sub_path = format!("/v1/customers/{customer}/subscriptions/{sid}");
    let mut sub = call(&sim, Method::GET, &sub_path, Some(&token), None, None)
        .await
        .body;
    assert_eq!(sub["status"], "active");
    // New commerce changes its billing frequency through this PATCH, but not to
    // triennial mid-term (blocked since April 2025); legacy ones answer 2054.
    let cycle = sub["billingCycle"].clone();
    sub["billingCycle"] = json!("triennial");
    assert_error(
        &call(
            &sim,
            Method::PATCH,
            &sub_path,
            Some(&token),
            Some(sub.clone()),
            None,
        )
        .await,
        400,
        800042,
    );
    sub["billingCycle"] = cycle;
    assert_error(
        &call(
            &sim,
            Method::GET,
            &format!("{sub_path}/supportcontact"),
            Some(&token),
            None,
            None,
        )
        .await,
        400,
        800042,
    );
    advance(&sim, 8 * 86_400).await;
    let token = app_user(&sim).await; // the old one expired with the clock
    let mut sub = call(&sim, Method::GET, &sub_path, Some(&token), None, None)
        .await
        .body;
    sub["quantity"] = json!(4);
    assert_error(
        &call(
            &sim,
            Method::PATCH,
            &sub_path,
            Some(&token),
            Some(sub.clone()),
            None,
        )
        .await,
        400,
        800090,
    );
    sub["quantity"] = json!(5);
    sub["status"] = json!("suspended");
    let suspended = call(
        &sim,
        Method::PATCH,
        &sub_path,
        Some(&token),
        Some(sub),
        None,
    )
    .await;
    assert_eq!(suspended.status, 200, "{}", suspended.text());
    let mut sub = suspended.body;
    sub["quantity"] = json!(9);
    assert_error(
        &call(
            &sim,
            Method::PATCH,
            &sub_path,
            Some(&token),
            Some(sub),
            None,
        )
        .await,
        400,
        2001,
    );

    assert_error(
        &call(
            &sim,
            Method::GET,
            "/v1/customers/unknown",
            Some(&token),
            None,
            None,
        )
        .await,
        404,
        1000,
    );
    assert_error(
        &call(
            &sim,
            Method::GET,
            &format!("/v1/customers/{customer}/subscriptions/unknown"),
            Some(&token),
            None,
            None,
        )
        .await,
        404,
        20003,
    );
    assert_error(
        &call(
            &sim,
            Method::GET,
            &format!("/v1/customers/{customer}/orders/unknown"),
            Some(&token),
            None,
            None,
        )
        .await,
        404,
        20000,
    );
    let bad_json = client()
        .post(format!("{}/v1/customers", sim.base_url()))
        .bearer_auth(&token)
        .body("{oops")
        .send()
        .await
        .expect("answer");
    assert_eq!(bad_json.status().as_u16(), 400);
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after() {
    let sim = serve(config());
    let token = app_only(&sim).await;
    put_faults(
        &sim,
        &Faults {
            partner_requests_per_minute: Some(3),
            ..Faults::default()
        },
    )
    .await;
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(call(&sim, Method::GET, "/v1/customers", Some(&token), None, None).await);
    }
    assert!(answers[..3].iter().all(|a| a.status == 200));
    let throttled = &answers[3];
    assert_eq!(throttled.status, 429);
    let wait: u64 = throttled.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(wait >= 1);
    assert_eq!(throttled.body["statusCode"], 429);
    assert_eq!(
        throttled.body["message"],
        format!("Rate limit is exceeded. Try again in {wait} seconds.")
    );
    let stats = call(&sim, Method::GET, "/_sim/stats", None, None, None)
        .await
        .body;
    assert_eq!(stats["throttled"], 1);
}

#[tokio::test]
async fn server_errors_are_deterministic_for_a_seed() {
    let run = || async {
        let faults = Faults {
            server_error_rate: 0.5,
            seed: 42,
            ..Faults::default()
        };
        let sim = serve(SimConfig { faults, ..config() });
        let token = app_only(&sim).await;
        let mut statuses = Vec::new();
        for _ in 0..24 {
            let a = call(&sim, Method::GET, "/v1/customers", Some(&token), None, None).await;
            if a.status == 503 {
                assert!(a.body["description"].is_string());
            }
            statuses.push(a.status);
        }
        statuses
    };
    let (a, b) = (run().await, run().await);
    assert_eq!(a, b);
    assert!(a.contains(&503) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn orders_provision_asynchronously_and_the_list_lags() {
    let sim = serve(config());
    let (token, customer) = ready_customer(&sim).await;
    let order = call(
        &sim,
        Method::POST,
        &format!("/v1/customers/{customer}/orders"),
        Some(&token),
        Some(order_body(2)),
        None,
    )
    .await;
    assert_eq!(
        (order.status, order.body["status"].as_str()),
        (201, Some("pending")),
        "{}",
        order.text()
    );
    let oid = order.body["id"].as_str().expect("id").to_owned();
    let sid = order.body["lineItems"][0]["subscriptionId"]
        .as_str()
        .expect("sid")
        .to_owned();
    let sub_path = format!("/v1/customers/{customer}/subscriptions/{sid}");
    let mut sub = call(&sim, Method::GET, &sub_path, Some(&token), None, None)
        .await
        .body;
    assert_eq!(sub["status"], "pending");
    sub["quantity"] = json!(3);
    assert_error(
        &call(
            &sim,
            Method::PATCH,
            &sub_path,
            Some(&token),
            Some(sub.clone()),
            None,
        )
        .await,
        400,
        800082,
    );
    let listed = call(
        &sim,
        Method::GET,
        &format!("/v1/customers/{customer}/orders"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(listed.body["totalCount"], 0, "the list lags");
    let by_id = call(
        &sim,
        Method::GET,
        &format!("/v1/customers/{customer}/orders/{oid}"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(by_id.status, 200);
    let status = call(
        &sim,
        Method::GET,
        &format!("/v1/customers/{customer}/orders/{oid}/provisioningstatus"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(status.body["items"][0]["status"], "PrefulfillmentPending");

    advance(&sim, 60).await;
    let by_id = call(
        &sim,
        Method::GET,
        &format!("/v1/customers/{customer}/orders/{oid}"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(by_id.body["status"], "completed");
    let mut sub = call(&sim, Method::GET, &sub_path, Some(&token), None, None)
        .await
        .body;
    assert_eq!(sub["status"], "active");
    sub["quantity"] = json!(3);
    assert_eq!(
        call(
            &sim,
            Method::PATCH,
            &sub_path,
            Some(&token),
            Some(sub),
            None
        )
        .await
        .body["quantity"],
        3
    );
    assert_eq!(
        call(
            &sim,
            Method::GET,
            &format!("/v1/customers/{customer}/orders"),
            Some(&token),
            None,
            None
        )
        .await
        .body["totalCount"],
        0
    );
    advance(&sim, 300).await;
    assert_eq!(
        call(
            &sim,
            Method::GET,
            &format!("/v1/customers/{customer}/orders"),
            Some(&token),
            None,
            None
        )
        .await
        .body["totalCount"],
        1
    );
    let by_order = call(
        &sim,
        Method::GET,
        &format!("/v1/customers/{customer}/subscriptions?order_id={oid}"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(by_order.body["totalCount"], 1);
    let by_mpn = call(
        &sim,
        Method::GET,
        &format!("/v1/customers/{customer}/subscriptions?mpn_id=999"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(by_mpn.body["totalCount"], 0);
}

#[tokio::test]
async fn pascal_case_input_is_accepted() {
    let sim = serve(config());
    let (token, customer) = ready_customer(&sim).await;
    let body = json!({"CompanyProfile": {"Domain": "pascal.onmicrosoft.com"},
        "BillingProfile": {"Email": "a@b.c", "Culture": "en-US", "Language": "en", "CompanyName": "Pascal",
            "DefaultAddress": {"FirstName": "A", "LastName": "B", "AddressLine1": "1 Way", "City": "X", "PostalCode": "1", "Country": "US"}},
        "AssociatedPartnerId": RESELLER_TENANT});
    let a = call(
        &sim,
        Method::POST,
        "/v1/customers",
        Some(&token),
        Some(body),
        None,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text());
    assert_eq!(a.body["companyProfile"]["domain"], "pascal.onmicrosoft.com");
    let cart = json!({"LineItems": [{"Id": 0, "CatalogItemId": NCE, "Quantity": 2, "BillingCycle": "Monthly", "TermDuration": "P1Y",
        "Participants": [{"Key": "TransactionReseller", "Value": RESELLER_MPN}]}]});
    let created = call(
        &sim,
        Method::POST,
        &format!("/v1/customers/{customer}/carts"),
        Some(&token),
        Some(cart),
        None,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(
        created.body["lineItems"][0].get("error").is_none(),
        "{}",
        created.text()
    );
    let cart_id = created.body["id"].as_str().expect("id").to_owned();
    let checkout = format!("/v1/customers/{customer}/carts/{cart_id}/checkout");
    let first = call(
        &sim,
        Method::POST,
        &checkout,
        Some(&token),
        Some(json!("success")),
        None,
    )
    .await;
    let second = call(&sim, Method::POST, &checkout, Some(&token), None, None).await;
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.body, second.body, "checkout is idempotent per cart");
    assert_eq!(
        first.body["orders"][0]["lineItems"][0]["partnerIdOnRecord"],
        RESELLER_MPN
    );
    assert_eq!(state_counts(&sim).await.1, 1);
}

/// POSTs an order and expects no answer at all (the dropped-answer fault).
async fn post_unanswered(
    sim: &SimHandle,
    path: &str,
    token: &str,
    request_id: &str,
) -> reqwest::Error {
    client()
        .post(format!("{}{path}", sim.base_url()))
        .bearer_auth(token)
        .header("ms-requestid", request_id)
        .json(&order_body(1))
        .send()
        .await
        .expect_err("the connection closes without an answer")
}

#[tokio::test]
async fn dropped_responses_commit_and_replays_return_the_result() {
    let sim = serve(config());
    let (token, customer) = ready_customer(&sim).await;
    put_faults(
        &sim,
        &Faults {
            drop_after_commit_rate: 1.0,
            ..Faults::default()
        },
    )
    .await;
    let path = format!("/v1/customers/{customer}/orders");
    // The order is committed, then the connection closes before any answer: what a
    // client sees after a lost response or a reset, not an HTTP status.
    let dropped = post_unanswered(&sim, &path, &token, "drop-1").await;
    assert!(dropped.is_request(), "{dropped:?}");
    assert_eq!(
        state_counts(&sim).await.1,
        1,
        "committed despite the lost response"
    );
    let replay = call(
        &sim,
        Method::POST,
        &path,
        Some(&token),
        Some(order_body(1)),
        Some("drop-1"),
    )
    .await;
    assert_eq!(replay.status, 201, "{}", replay.text());
    assert_eq!(state_counts(&sim).await.1, 1);
    let fresh = post_unanswered(&sim, &path, &token, "drop-2").await;
    assert!(fresh.is_request(), "{fresh:?}");
    assert_eq!(
        state_counts(&sim).await.1,
        2,
        "a new request id duplicates the purchase"
    );
}

#[tokio::test]
async fn new_customers_can_be_invisible_for_a_while() {
    let sim = serve(SimConfig {
        faults: Faults {
            read_after_create_lag_seconds: 30,
            ..Faults::default()
        },
        ..config()
    });
    add_reseller(&sim).await;
    let token = app_user(&sim).await;
    let id = create_customer(&sim, &token, "late.onmicrosoft.com").await;
    assert_eq!(
        call(
            &sim,
            Method::GET,
            &format!("/v1/customers/{id}"),
            Some(&token),
            None,
            None
        )
        .await
        .status,
        404
    );
    advance(&sim, 30).await;
    let found = call(
        &sim,
        Method::GET,
        &format!("/v1/customers/{id}"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body["associatedPartnerId"], RESELLER_TENANT);
}

#[tokio::test]
async fn sandbox_and_production_differ() {
    let sandbox = serve(SimConfig {
        sandbox: true,
        ..config()
    });
    let token = app_user(&sandbox).await;
    for n in 0..6 {
        let body = sandbox_reseller_body(&format!("r{n}"), &format!("90000{n}"));
        let a = call(
            &sandbox,
            Method::POST,
            "/v1/sandboxIndirectReseller",
            Some(&token),
            Some(body),
            None,
        )
        .await;
        if n < 5 {
            assert_eq!(a.status, 201, "{}", a.text());
            assert_eq!(
                a.body["partnerRelationship"]["relationshipType"],
                "is_indirect_reseller_of"
            );
        } else {
            assert_error(&a, 400, 800018);
        }
    }
    assert_error(
        &call(
            &sandbox,
            Method::GET,
            "/v1/customers/relationshiprequests",
            Some(&token),
            None,
            None,
        )
        .await,
        400,
        800042,
    );

    let production = serve(config());
    let token = app_user(&production).await;
    let a = call(
        &production,
        Method::POST,
        "/v1/sandboxIndirectReseller",
        Some(&token),
        Some(json!({"mpnId": "1"})),
        None,
    )
    .await;
    assert_error(&a, 403, 6004);
    let link = call(
        &production,
        Method::GET,
        "/v1/customers/relationshiprequests",
        Some(&token),
        None,
        None,
    )
    .await;
    assert!(
        link.body["url"]
            .as_str()
            .is_some_and(|u| u.contains("ResellerRelationship")),
        "{}",
        link.text()
    );
}

#[tokio::test]
async fn existing_tenants_become_customers_on_acceptance() {
    let sim = serve(config());
    add_reseller(&sim).await;
    let token = app_user(&sim).await;
    let t = call(&sim, Method::POST, "/_sim/tenants", None, Some(json!({"id": "11111111-2222-3333-4444-555555555555", "domain": "old.onmicrosoft.com", "companyName": "Old"})), None).await;
    assert_eq!(t.status, 201, "{}", t.text());
    assert_error(
        &call(
            &sim,
            Method::GET,
            "/v1/customers/11111111-2222-3333-4444-555555555555",
            Some(&token),
            None,
            None,
        )
        .await,
        403,
        20002,
    );
    let a = call(
        &sim,
        Method::POST,
        "/_sim/customers/old.onmicrosoft.com/accept-relationship",
        None,
        Some(json!({"resellerTenantId": RESELLER_TENANT})),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let rel = call(
        &sim,
        Method::GET,
        "/v1/customers/11111111-2222-3333-4444-555555555555/relationships",
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(
        rel.body["items"][0]["mpnId"],
        RESELLER_MPN,
        "{}",
        rel.text()
    );
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sim.json");
    let cfg = SimConfig {
        state_path: Some(path.clone()),
        ..config()
    };
    let sim = serve(cfg.clone());
    let (token, _customer) = ready_customer(&sim).await;
    sim.stop();
    assert!(path.is_file());
    let sim = serve(cfg);
    let list = call(&sim, Method::GET, "/v1/customers", Some(&token), None, None).await;
    assert_eq!(list.body["totalCount"], 1, "{}", list.text());
    let clock = call(&sim, Method::GET, "/_sim/clock", None, None, None).await;
    assert_eq!(clock.body["now"], "2026-03-01T10:00:00Z");
}

#[tokio::test]
async fn stopping_does_not_wait_for_idle_keep_alive_connections() {
    let sim = serve(config());
    let kept = client();
    let response = kept
        .get(format!("{}/_sim/clock", sim.base_url()))
        .header("MS-CorrelationId", "corr-1")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.headers()["ms-correlationid"], "corr-1");
    assert!(response.headers().contains_key("ms-requestid"));
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || sim.stop())
        .await
        .expect("stopped");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(kept);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_the_error_shape() {
    let sim = serve(config());
    let token = app_only(&sim).await;
    assert_error(
        &call(
            &sim,
            Method::GET,
            "/v1/nothing/here",
            Some(&token),
            None,
            None,
        )
        .await,
        404,
        0,
    );
    assert_error(
        &call(
            &sim,
            Method::DELETE,
            "/v1/customers",
            Some(&token),
            None,
            None,
        )
        .await,
        405,
        0,
    );
    let bad_faults = call(
        &sim,
        Method::PUT,
        "/_sim/faults",
        None,
        Some(json!({"serverErrorRate": 2.0})),
        None,
    )
    .await;
    assert_eq!(bad_faults.status, 400);
    let bad_advance = call(
        &sim,
        Method::POST,
        "/_sim/clock/advance",
        None,
        Some(json!({"seconds": -5})),
        None,
    )
    .await;
    assert_eq!(bad_advance.status, 400);
}

#[tokio::test]
async fn replays_survive_a_restart_until_they_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sim.json");
    let cfg = SimConfig {
        state_path: Some(path.clone()),
        ..config()
    };
    let sim = serve(cfg.clone());
    let (token, customer) = ready_customer(&sim).await;
    let orders = format!("/v1/customers/{customer}/orders");
    let first = call(
        &sim,
        Method::POST,
        &orders,
        Some(&token),
        Some(order_body(2)),
        Some("req-persisted"),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text());
    sim.stop();

    // A restarted simulator answers the replay from the state file.
    let sim = serve(cfg.clone());
    let again = call(
        &sim,
        Method::POST,
        &orders,
        Some(&token),
        Some(order_body(2)),
        Some("req-persisted"),
    )
    .await;
    assert_eq!((again.status, &again.body), (201, &first.body));
    assert_eq!(state_counts(&sim).await.1, 1, "the replay bought nothing");
    sim.stop();

    // A state file written before the cache was persisted still loads.
    let mut file: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    assert_eq!(file["idempotency"][0]["requestId"], "req-persisted");
    if let Value::Object(map) = &mut file {
        map.remove("idempotency");
    }
    std::fs::write(&path, serde_json::to_vec(&file).expect("json")).expect("write");
    let sim = serve(cfg.clone());
    assert_eq!(state_counts(&sim).await.1, 1);
    sim.stop();
    let mut file: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    if let Value::Object(map) = &mut file {
        map.insert(
            "idempotency".into(),
            json!([{"requestId": "req-persisted", "method": "POST", "path": orders.to_ascii_lowercase(),
                "status": 201, "body": first.body, "at": 1_772_359_200}]),
        );
    }
    std::fs::write(&path, serde_json::to_vec(&file).expect("json")).expect("write");

    // After 24 simulated hours the entry is gone: dropped on save, and the same id
    // is a new purchase.
    let sim = serve(cfg);
    advance(&sim, 86_400).await;
    let token = app_user(&sim).await;
    let later = call(
        &sim,
        Method::POST,
        &orders,
        Some(&token),
        Some(order_body(2)),
        Some("req-later"),
    )
    .await;
    assert_eq!(later.status, 201, "{}", later.text());
    let saved: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    let ids: Vec<&str> = saved["idempotency"]
        .as_array()
        .expect("cache")
        .iter()
        .filter_map(|e| e["requestId"].as_str())
        .collect();
    assert_eq!(ids, ["req-later"]);
    let expired = call(
        &sim,
        Method::POST,
        &orders,
        Some(&token),
        Some(order_body(2)),
        Some("req-persisted"),
    )
    .await;
    assert_eq!(expired.status, 201);
    assert_ne!(expired.body["id"], first.body["id"]);
    assert_eq!(state_counts(&sim).await.1, 3);
}

#[tokio::test]
async fn sandbox_resellers_are_deleted_once_their_customers_are_inactive() {
    let sim = serve(SimConfig {
        sandbox: true,
        ..config()
    });
    let (token, customer) = ready_customer(&sim).await;
    for n in 0..4 {
        let body = sandbox_reseller_body(&format!("r{n}"), &format!("90000{n}"));
        let a = call(
            &sim,
            Method::POST,
            "/v1/sandboxIndirectReseller",
            Some(&token),
            Some(body),
            None,
        )
        .await;
        assert_eq!(a.status, 201, "{}", a.text());
    }
    let sixth = sandbox_reseller_body("r9", "900009");
    let a = call(
        &sim,
        Method::POST,
        "/v1/sandboxIndirectReseller",
        Some(&token),
        Some(sixth.clone()),
        None,
    )
    .await;
    assert_error(&a, 400, 800018);

    let (_, sub) = place_order(&sim, &token, &customer, 1).await;
    let delete = format!("/v1/sandboxIndirectReseller/{RESELLER_TENANT}");
    let app = app_only(&sim).await;
    assert_error(
        &call(&sim, Method::DELETE, &delete, Some(&app), None, None).await,
        403,
        900419,
    );
    // Pending and active subscriptions both block the deletion.
    assert_error(
        &call(&sim, Method::DELETE, &delete, Some(&token), None, None).await,
        409,
        800100,
    );
    advance(&sim, 60).await;
    assert_error(
        &call(&sim, Method::DELETE, &delete, Some(&token), None, None).await,
        409,
        800100,
    );
    let suspend = call(
        &sim,
        Method::PATCH,
        &format!("/v1/customers/{customer}/subscriptions/{sub}"),
        Some(&token),
        Some(json!({"status": "suspended"})),
        None,
    )
    .await;
    assert_eq!(suspend.status, 200, "{}", suspend.text());
    let gone = call(
        &sim,
        Method::DELETE,
        &delete,
        Some(&token),
        None,
        Some("req-del-reseller"),
    )
    .await;
    assert_eq!((gone.status, gone.text().as_str()), (204, ""));
    let replay = call(
        &sim,
        Method::DELETE,
        &delete,
        Some(&token),
        None,
        Some("req-del-reseller"),
    )
    .await;
    assert_eq!(replay.status, 204);
    assert_error(
        &call(&sim, Method::DELETE, &delete, Some(&token), None, None).await,
        404,
        60003,
    );
    let rel = call(
        &sim,
        Method::GET,
        &format!("/v1/customers/{customer}/relationships"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(rel.body["totalCount"], 0, "{}", rel.text());
    // The quota is freed.
    let a = call(
        &sim,
        Method::POST,
        "/v1/sandboxIndirectReseller",
        Some(&token),
        Some(sixth),
        None,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text());

    let production = serve(config());
    add_reseller(&production).await;
    let token = app_user(&production).await;
    assert_error(
        &call(
            &production,
            Method::DELETE,
            &delete,
            Some(&token),
            None,
            None,
        )
        .await,
        403,
        6003,
    );
}

#[tokio::test]
async fn customers_are_deleted_in_the_sandbox_and_released_in_production() {
    let sandbox = serve(SimConfig {
        sandbox: true,
        ..config()
    });
    let (_, customer) = ready_customer(&sandbox).await;
    let app = app_only(&sandbox).await;
    let path = format!("/v1/customers/{customer}");
    let a = call(&sandbox, Method::DELETE, &path, Some(&app), None, None).await;
    assert_eq!((a.status, a.text().as_str()), (204, ""));
    assert_error(
        &call(&sandbox, Method::GET, &path, Some(&app), None, None).await,
        404,
        1000,
    );
    let domain = call(
        &sandbox,
        Method::HEAD,
        "/v1/domains/contoso.onmicrosoft.com",
        Some(&app),
        None,
        None,
    )
    .await;
    assert_eq!(domain.status, 404, "the domain is free again");

    let sim = serve(config());
    let (token, customer) = ready_customer(&sim).await;
    let path = format!("/v1/customers/{customer}");
    assert_error(
        &call(&sim, Method::DELETE, &path, Some(&token), None, None).await,
        403,
        800042,
    );
    let order = call(
        &sim,
        Method::POST,
        &format!("{path}/orders"),
        Some(&token),
        Some(order_body(1)),
        None,
    )
    .await;
    let sub = order.body["lineItems"][0]["subscriptionId"]
        .as_str()
        .expect("sub")
        .to_owned();
    let none = json!({"relationshipToPartner": "none", "attributes": {"objectType": "Customer"}});
    let app = app_only(&sim).await;
    assert_error(
        &call(
            &sim,
            Method::PATCH,
            &path,
            Some(&app),
            Some(none.clone()),
            None,
        )
        .await,
        403,
        900419,
    );
    assert_error(
        &call(
            &sim,
            Method::PATCH,
            &path,
            Some(&token),
            Some(none.clone()),
            None,
        )
        .await,
        409,
        800100,
    );
    assert_error(
        &call(
            &sim,
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"relationshipToPartner": "advisor"})),
            None,
        )
        .await,
        400,
        3000,
    );
    advance(&sim, 60).await;
    let cancel = call(
        &sim,
        Method::PATCH,
        &format!("{path}/subscriptions/{sub}"),
        Some(&token),
        Some(json!({"status": "deleted"})),
        None,
    )
    .await;
    assert_eq!(cancel.status, 200, "{}", cancel.text());
    let removed = call(&sim, Method::PATCH, &path, Some(&token), Some(none), None).await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    assert_eq!(removed.body["relationshipToPartner"], "none");
    let list = call(&sim, Method::GET, "/v1/customers", Some(&token), None, None).await;
    assert_eq!(
        (
            &list.body["totalCount"],
            &list.body["items"][0]["relationshipToPartner"]
        ),
        (&json!(1), &json!("none")),
        "{}",
        list.text()
    );
    let read = call(&sim, Method::GET, &path, Some(&token), None, None).await;
    assert_eq!(read.body["relationshipToPartner"], "none");
    assert_error(
        &call(
            &sim,
            Method::POST,
            &format!("{path}/orders"),
            Some(&token),
            Some(order_body(1)),
            None,
        )
        .await,
        403,
        20002,
    );
    let subs = call(
        &sim,
        Method::GET,
        &format!("{path}/subscriptions"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(subs.body["totalCount"], 1, "{}", subs.text());
}

#[tokio::test]
async fn subscription_provisioning_status_follows_the_order() {
    let sim = serve(config());
    let (token, customer) = ready_customer(&sim).await;
    let (_, sub) = place_order(&sim, &token, &customer, 4).await;
    let path = format!("/v1/customers/{customer}/subscriptions/{sub}/provisioningstatus");
    let a = call(&sim, Method::GET, &path, Some(&token), None, None).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        (&a.body["skuId"], &a.body["status"], &a.body["quantity"]),
        (&json!("CFQ7TTC0LH18:0001"), &json!("pending"), &json!(4))
    );
    // The term's last day (commitmentEndDate: bought 2026-03-01 for P1Y).
    assert_eq!(a.body["endDate"], "2027-02-28T00:00:00Z");
    advance(&sim, 60).await;
    let b = call(&sim, Method::GET, &path, Some(&token), None, None).await;
    assert_eq!(b.body["status"], "success", "{}", b.text());
    let app = app_only(&sim).await;
    assert_error(
        &call(&sim, Method::GET, &path, Some(&app), None, None).await,
        403,
        900419,
    );
    assert_error(
        &call(
            &sim,
            Method::GET,
            &format!("/v1/customers/{customer}/subscriptions/nope/provisioningstatus"),
            Some(&token),
            None,
            None,
        )
        .await,
        404,
        20003,
    );
}

// ---- audit records (issue 16) -------------------------------------------------------

/// `&filter=` with the documented filter JSON, percent-encoded.
fn audit_filter(field: &str, value: &str, operator: &str) -> String {
    let text = json!({"Field": field, "Value": value, "Operator": operator}).to_string();
    let encoded: String = text
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("&filter={encoded}")
}

async fn audit(sim: &SimHandle, token: &str, query: &str) -> Answer {
    call(
        sim,
        Method::GET,
        &format!("/v1/auditrecords?{query}"),
        Some(token),
        None,
        None,
    )
    .await
}

fn operations(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            r["operationType"]
                .as_str()
                .expect("operationType")
                .to_owned()
        })
        .collect()
}

/// The record's `resourceOldValue`/`resourceNewValue` (JSON in a string).
fn resource_value(record: &Value, key: &str) -> Value {
    serde_json::from_str(record[key].as_str().expect(key)).expect("JSON in the string")
}

#[tokio::test]
async fn audit_records_show_api_and_portal_changes_with_the_documented_fields() {
    let sim = serve(config());
    let (token, customer) = ready_customer(&sim).await;
    let (order, sid) = place_order(&sim, &token, &customer, 2).await;
    advance(&sim, 120).await;
    let sub_path = format!("/v1/customers/{customer}/subscriptions/{sid}");
    let mut sub = call(&sim, Method::GET, &sub_path, Some(&token), None, None)
        .await
        .body;
    sub["quantity"] = json!(3);
    let patched = call(
        &sim,
        Method::PATCH,
        &sub_path,
        Some(&token),
        Some(sub.clone()),
        None,
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    // Someone in the Partner Center portal, outside cspctl.
    let mut sub = call(&sim, Method::GET, &sub_path, Some(&token), None, None)
        .await
        .body;
    sub["quantity"] = json!(4);
    let portal = call(
        &sim,
        Method::PATCH,
        &format!("/_sim/customers/{customer}/subscriptions/{sid}"),
        None,
        Some(sub),
        None,
    )
    .await;
    assert_eq!(portal.status, 200, "{}", portal.text());
    let other = create_customer(&sim, &token, "fabrikam.onmicrosoft.com").await;

    let all = audit(&sim, &token, "").await;
    assert_eq!(all.status, 200, "{}", all.text());
    // Newest first, as in the response example.
    assert_eq!(
        operations(&all.body),
        [
            "add_customer",
            "update_subscription",
            "update_subscription",
            "create_order",
            "create_agreement",
            "add_customer",
            "create_partner_relationship",
        ],
        "{}",
        all.text()
    );
    assert_eq!(all.body["totalCount"], 7);
    assert_eq!(all.body["attributes"]["objectType"], "Collection");
    assert!(all.body.get("continuationToken").is_none());
    let items = all.body["items"].as_array().expect("items");
    for record in items {
        assert_eq!(record["partnerId"], config().partner_tenant_id.as_str());
        assert_eq!(record["operationStatus"], "succeeded");
        assert_eq!(record["attributes"]["objectType"], "AuditRecord");
        assert!(record["id"].as_str().is_some_and(|id| id.len() == 36));
    }
    let dates: Vec<&str> = items
        .iter()
        .map(|r| r["operationDate"].as_str().expect("date"))
        .collect();
    assert_eq!(dates[0], "2026-03-01T10:02:00Z");
    assert_eq!(dates[6], "2026-03-01T10:00:00Z");

    // The portal's change: another application and user, old and new values.
    let (by_portal, by_api) = (&items[1], &items[2]);
    assert_eq!(by_portal["applicationId"], "Partner Center");
    assert_eq!(by_api["applicationId"], "cspctl-sim");
    assert_ne!(by_portal["userPrincipalName"], by_api["userPrincipalName"]);
    for record in [by_portal, by_api] {
        assert_eq!(record["resourceType"], "subscription");
        assert_eq!(record["customerId"], customer.as_str());
        assert_eq!(record["customerName"], "Company contoso.onmicrosoft.com");
    }
    assert_eq!(resource_value(by_api, "resourceOldValue")["Quantity"], 2);
    assert_eq!(resource_value(by_api, "resourceNewValue")["Quantity"], 3);
    assert_eq!(resource_value(by_portal, "resourceOldValue")["Quantity"], 3);
    assert_eq!(resource_value(by_portal, "resourceNewValue")["Quantity"], 4);
    let order_record = &items[3];
    assert_eq!(order_record["resourceType"], "order");
    assert!(order_record.get("resourceOldValue").is_none());
    assert_eq!(
        order_record["customizedData"][0],
        json!({"key": "OrderId", "value": order.body["id"]})
    );
    assert_eq!(items[6]["resourceType"], "partner_relationship");
    assert!(items[6].get("customerId").is_none());
    // The new customer's record keeps no credentials its answer carried.
    let created = resource_value(&items[5], "resourceNewValue");
    assert_eq!(
        created["CompanyProfile"]["Domain"],
        "contoso.onmicrosoft.com"
    );
    assert!(
        !all.text().to_ascii_lowercase().contains("password")
            && !all.text().contains("UserCredentials"),
        "{}",
        all.text()
    );
    assert_eq!(items[5]["customerId"], customer.as_str());
    assert_eq!(items[0]["customerId"], other.as_str());

    // The documented filters.
    let mine = audit(
        &sim,
        &token,
        &audit_filter("CustomerId", &customer.to_uppercase(), "equals"),
    )
    .await;
    assert_eq!(
        operations(&mine.body),
        [
            "update_subscription",
            "update_subscription",
            "create_order",
            "create_agreement",
            "add_customer"
        ],
        "{}",
        mine.text()
    );
    let named = audit(
        &sim,
        &token,
        &audit_filter("CompanyName", "FABRI", "substring"),
    )
    .await;
    assert_eq!(
        operations(&named.body),
        ["add_customer"],
        "{}",
        named.text()
    );
    let subs = audit(
        &sim,
        &token,
        &audit_filter("ResourceType", "Subscription", "equals"),
    )
    .await;
    assert_eq!(
        operations(&subs.body),
        ["update_subscription", "update_subscription"]
    );
    // Same authentication as every /v1 route; App-only is allowed.
    let unauthenticated = call(&sim, Method::GET, "/v1/auditrecords", None, None, None).await;
    assert_eq!(unauthenticated.status, 401);
    let app = app_only(&sim).await;
    assert_eq!(audit(&sim, &app, "").await.body["totalCount"], 7);
    // Reads are not recorded.
    assert_eq!(audit(&sim, &token, "").await.body["totalCount"], 7);
}

#[tokio::test]
async fn audit_records_are_paged_kept_90_days_and_bad_requests_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = SimConfig {
        state_path: Some(dir.path().join("sim.json")),
        ..config()
    };
    let sim = serve(cfg.clone());
    let token = app_only(&sim).await;
    let mut created = Vec::new();
    for n in 0..7 {
        let a = call(
            &sim,
            Method::POST,
            "/v1/customers",
            Some(&token),
            Some(customer_body(&format!("c{n}.onmicrosoft.com"), None)),
            None,
        )
        .await;
        assert_eq!(a.status, 201, "{}", a.text());
        created.push(a.body["id"].as_str().expect("id").to_owned());
        advance(&sim, 1).await;
    }
    // The log is saved with the state.
    sim.stop();
    let sim = serve(cfg);
    let token = app_only(&sim).await;

    // Pages of 3 through links.next (header) and through ?seek=: every record once.
    for through_seek in [false, true] {
        let mut seen = Vec::new();
        let mut page = audit(&sim, &token, "size=3").await;
        loop {
            assert_eq!(page.status, 200, "{}", page.text());
            for item in page.body["items"].as_array().expect("items") {
                seen.push(item["customerId"].as_str().expect("customer").to_owned());
            }
            let Some(token_value) = page.body["continuationToken"].as_str() else {
                assert!(page.body["links"].get("next").is_none());
                break;
            };
            let next = &page.body["links"]["next"];
            assert_eq!(next["headers"][0]["key"], "MS-ContinuationToken");
            assert_eq!(next["headers"][0]["value"], token_value);
            page = if through_seek {
                audit(&sim, &token, &format!("seek={token_value}")).await
            } else {
                let uri = next["uri"].as_str().expect("uri");
                call_with(
                    &sim,
                    Method::GET,
                    &format!("/v1{uri}"),
                    Some(&token),
                    None,
                    &[("MS-ContinuationToken", token_value)],
                )
                .await
            };
        }
        let expected: Vec<String> = created.iter().rev().cloned().collect();
        assert_eq!(seen, expected, "every record exactly once, newest first");
    }

    // A range with nothing in it, and ranges in the documented forms.
    let before = audit(&sim, &token, "startDate=2026-02-20&endDate=2026-02-28").await;
    assert_eq!(
        (before.status, before.body["totalCount"].as_u64()),
        (200, Some(0))
    );
    let that_day = audit(&sim, &token, "startDate=2026-03-01&endDate=2026-03-01").await;
    assert_eq!(that_day.body["totalCount"], 7, "{}", that_day.text());
    let example_form = audit(&sim, &token, "startDate=3/1/2026%2012:00:00%20AM").await;
    assert_eq!(
        example_form.body["totalCount"],
        7,
        "{}",
        example_form.text()
    );
    let narrow = audit(
        &sim,
        &token,
        "startDate=2026-03-01T10:00:02Z&endDate=2026-03-01T10:00:03Z",
    )
    .await;
    assert_eq!(narrow.body["totalCount"], 2, "{}", narrow.text());

    // Bad input: 400 in Partner Center's error shape.
    for query in [
        "startDate=2025-11-01".to_owned(),
        "startDate=yesterday".to_owned(),
        "startDate=2026-03-01&endDate=2026-02-01".to_owned(),
        "startDate=2026-02-01&endDate=2026-03-15".to_owned(),
        "size=-1".to_owned(),
        "seek=nonsense".to_owned(),
        audit_filter("Domain", "x", "equals"),
        audit_filter("CustomerId", "x", "substring"),
        "filter=%7Bnot".to_owned(),
    ] {
        assert_error(&audit(&sim, &token, &query).await, 400, 3000);
    }
    let no_header = audit(&sim, &token, "seekOperation=Next").await;
    assert_error(&no_header, 400, 3000);

    // 89 days on the records are still there; 91 days on they are gone.
    advance(&sim, 89 * 86_400).await;
    let token = app_only(&sim).await;
    let old = audit(&sim, &token, "startDate=2026-03-01&endDate=2026-03-02").await;
    assert_eq!(old.body["totalCount"], 7, "{}", old.text());
    advance(&sim, 2 * 86_400).await;
    let token = app_only(&sim).await;
    let state = call(&sim, Method::GET, "/_sim/state", None, None, None).await;
    assert!(
        state.body["audit"]["records"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "records older than 90 days are dropped: {}",
        state.body["audit"]
    );
    let late = call(
        &sim,
        Method::POST,
        "/v1/customers",
        Some(&token),
        Some(customer_body("late.onmicrosoft.com", None)),
        None,
    )
    .await;
    assert_eq!(late.status, 201);
    let recent = audit(&sim, &token, "").await;
    assert_eq!(recent.body["totalCount"], 1, "{}", recent.text());
    assert_error(
        &audit(&sim, &token, "startDate=2026-03-01").await,
        400,
        3000,
    );
}

/// Every answer carries the simulated clock in `Date`, as Partner Center's carry
/// its own: what a client compares audit records with (the snapshot refresh).
#[tokio::test]
async fn answers_carry_the_simulated_clock_in_date() {
    let sim = serve(config());
    let (token, _customer) = ready_customer(&sim).await;
    let date = |answer: &Answer| {
        answer
            .headers
            .get("date")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let first = audit(&sim, &token, "").await;
    assert_eq!(
        date(&first).as_deref(),
        Some("Sun, 01 Mar 2026 10:00:00 GMT")
    );
    advance(&sim, 86_400 + 61).await;
    let later = audit(&sim, &token, "").await;
    assert_eq!(
        date(&later).as_deref(),
        Some("Mon, 02 Mar 2026 10:01:01 GMT")
    );
}

/// Transition eligibilities and allowed custom term end dates in the shapes of
/// their learn pages' examples, refusals with their (UNCONFIRMED) codes, and a
/// cart line's `customTermEndDate` checked against the allowed dates.
#[tokio::test]
async fn transitions_and_custom_term_end_dates_answer_in_the_documented_shapes() {
    let sim = serve(config());
    let (token, customer) = ready_customer(&sim).await;
    let (_, sub) = place_order(&sim, &token, &customer, 5).await;
    let eligibilities = format!(
        "/v1/customers/{customer}/subscriptions/{sub}/transitionEligibilities?eligibilityType=scheduled"
    );
    // Still provisioning: listed, not eligible, with the page's reason.
    let a = call(&sim, Method::GET, &eligibilities, Some(&token), None, None).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.body["items"][0]["eligibilities"][0]["isEligible"], false);
    assert_eq!(
        a.body["items"][0]["eligibilities"][0]["errors"][0]["description"],
        "Subscription can't be Transitioned - source subscription isn't provisioned yet."
    );
    advance(&sim, 120).await;
    let a = call(&sim, Method::GET, &eligibilities, Some(&token), None, None).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.body["totalCount"], 2, "{}", a.text());
    assert_eq!(a.body["attributes"]["objectType"], "Collection");
    let first = &a.body["items"][0];
    assert_eq!(first["catalogItemId"], "CFQ7TTC0LDPB:0001:CFQ7TTC0K5BF");
    assert_eq!(first["title"], "Microsoft 365 Business Standard");
    assert_eq!(first["quantity"], 5);
    assert_eq!(first["subscriptionEligibilities"], json!([]));
    assert_eq!(
        first["eligibilities"],
        json!([{"isEligible": true, "transitionType": "transition_only", "errors": []}])
    );
    assert_eq!(first["attributes"]["objectType"], "TransitionEligibility");
    let bad = call(
        &sim,
        Method::GET,
        &eligibilities.replace("scheduled", "later"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_error(&bad, 400, 3000);

    let dates = format!("/v1/customers/{customer}/subscriptions/customTermEndDates");
    let missing = call(&sim, Method::GET, &dates, Some(&token), None, None).await;
    assert_error(&missing, 400, 3000);
    let a = call(
        &sim,
        Method::GET,
        &format!("{dates}?term_duration=P1Y"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.body["items"],
        json!([
            {"allowedCustomTermEndDateType": "calendarMonthAligned", "allowedCustomTermEndDate": "2027-02-28T00:00:00"},
            {"allowedCustomTermEndDateType": "subscriptionAligned", "allowedCustomTermEndDate": "2027-02-28T00:00:00", "cotermSubscriptionIds": [sub]},
        ]),
        "{}",
        a.text()
    );
    assert_eq!(a.body["links"]["self"]["method"], "GET");
    // A month's term cannot end when a year's does.
    let a = call(
        &sim,
        Method::GET,
        &format!("{dates}?term_duration=P1M&target_coterm_subscription_id={sub}"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.body["items"], json!([]), "{}", a.text());
    let past = call(
        &sim,
        Method::GET,
        &format!("{dates}?term_duration=P1Y&term_start_date=2026-02-01"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_error(&past, 400, 3000);

    // A cart line's date: allowed, echoed; not allowed, a line error.
    let cart = |date: &str| {
        json!({"lineItems": [{"id": 0, "catalogItemId": "CFQ7TTC0LDPB:0001:CFQ7TTC0K5BF", "quantity": 2,
            "billingCycle": "monthly", "termDuration": "P1Y", "customTermEndDate": date}]})
    };
    let carts = format!("/v1/customers/{customer}/carts");
    let ok = call(
        &sim,
        Method::POST,
        &carts,
        Some(&token),
        Some(cart("2027-02-28T00:00:00")),
        None,
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert!(
        ok.body["lineItems"][0].get("error").is_none(),
        "{}",
        ok.text()
    );
    assert_eq!(
        ok.body["lineItems"][0]["customTermEndDate"],
        "2027-02-28T00:00:00"
    );
    let refused = call(
        &sim,
        Method::POST,
        &carts,
        Some(&token),
        Some(cart("2027-01-15")),
        None,
    )
    .await;
    assert_eq!(refused.status, 201, "{}", refused.text());
    assert_eq!(refused.body["lineItems"][0]["error"]["errorCode"], 10010);
}
