//! The simulator's documented answer-shape variants (`Faults::variants`,
//! `--variant`, `--documented`) and the documented request shapes it accepts, black
//! box over HTTP. Each test starts its own simulator with a frozen clock.

mod common;

use std::time::Duration;

use common::{Answer, Body, advance, app_user, call, put_faults, serve};
use cspctl::sim::faults::{Variant, Variants};
use cspctl::sim::{Faults, SimConfig, SimHandle};
use reqwest::Method;
use serde_json::{Value, json};

const NCE: &str = "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM";
const LEGACY: &str = "031c9e47-4802-4248-838e-778fb1d2cc05";
const RESELLER_TENANT: &str = "484e548c-f5f3-4528-93a9-c16c6373cb59";
const RESELLER_MPN: &str = "4847383";
/// The simulated provisioning delay of these tests.
const DELAY: i64 = 60;

fn config(variants: Variants) -> SimConfig {
    SimConfig {
        frozen_clock: true,
        start_time: "2026-03-01T10:00:00Z".to_owned(),
        provisioning_delay: Duration::from_secs(DELAY as u64),
        order_list_lag: Duration::from_secs(0),
        faults: Faults {
            variants,
            ..Faults::default()
        },
        ..SimConfig::default()
    }
}

fn only(variant: Variant) -> Variants {
    let mut v = Variants::default();
    v.set(variant, 1.0);
    v
}

/// `GET path` with the bearer token.
async fn get(sim: &SimHandle, token: &str, path: &str) -> Answer {
    call(sim, Method::GET, path, Some(token), Body::None, None).await
}

async fn admin(sim: &SimHandle, path: &str, body: Value) {
    let a = call(sim, Method::POST, path, None, Body::Json(body), None).await;
    assert!(a.status < 300, "{path}: {}", a.text());
    assert!(!a.has_bom(), "/_sim answers are not shaped");
}

async fn set_variants(sim: &SimHandle, seed: u64, variants: Variants) {
    let faults = Faults {
        seed,
        variants,
        ..Faults::default()
    };
    put_faults(sim, &faults).await;
}

/// A customer with an MCA attestation, related to a seeded reseller.
async fn ready_customer(sim: &SimHandle) -> (String, String) {
    admin(
        sim,
        "/_sim/resellers",
        json!({"tenantId": RESELLER_TENANT, "mpnId": RESELLER_MPN, "name": "First Up", "location": "US"}),
    )
    .await;
    let token = app_user(sim).await;
    let customer = call(
        sim,
        Method::POST,
        "/v1/customers",
        Some(&token),
        Body::Json(json!({
            "companyProfile": {"domain": "contoso.onmicrosoft.com"},
            "billingProfile": {"email": "gena@example.com", "culture": "en-US", "language": "en", "companyName": "Contoso",
                "defaultAddress": {"firstName": "Gena", "lastName": "Soto", "addressLine1": "One Way", "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"}},
            "associatedPartnerId": RESELLER_TENANT,
        })),
        None,
    )
    .await;
    assert_eq!(customer.status, 201, "{}", customer.text());
    let customer = customer.normalized["id"].as_str().expect("id").to_owned();
    let agreement = call(
        sim,
        Method::POST,
        &format!("/v1/customers/{customer}/agreements"),
        Some(&token),
        Body::Json(json!({"primaryContact": {"firstName": "Gena", "lastName": "Soto", "email": "gena@example.com"},
            "templateId": "117a77b0-9360-443b-8795-c6dedc750cf9", "dateAgreed": "2026-03-01T00:00:00Z", "type": "MicrosoftCustomerAgreement"})),
        None,
    )
    .await;
    assert_eq!(agreement.status, 201, "{}", agreement.text());
    (token, customer)
}

/// A cart of `lines` (offer, quantity, billing cycle); returns its id.
async fn cart(sim: &SimHandle, token: &str, customer: &str, lines: &[(&str, i64, &str)]) -> String {
    let items: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (offer, quantity, cycle))| {
            json!({"id": i, "catalogItemId": offer, "quantity": quantity, "billingCycle": cycle,
                "termDuration": "P1Y", "friendlyName": format!("line {i}"),
                "participants": [{"key": "transaction_reseller", "value": RESELLER_MPN}]})
        })
        .collect();
    let a = call(
        sim,
        Method::POST,
        &format!("/v1/customers/{customer}/carts"),
        Some(token),
        Body::Json(json!({"lineItems": items})),
        None,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text());
    a.normalized["id"].as_str().expect("cart id").to_owned()
}

/// Buys one subscription through an order and waits for it; returns (order, sub).
async fn bought(sim: &SimHandle, token: &str, customer: &str, offer: &str) -> (String, String) {
    let a = call(
        sim,
        Method::POST,
        &format!("/v1/customers/{customer}/orders"),
        Some(token),
        Body::Json(json!({"billingCycle": "monthly", "lineItems": [{"lineItemNumber": 0, "offerId": offer,
            "termDuration": "P1Y", "quantity": 5, "friendlyName": "E3", "partnerIdOnRecord": RESELLER_MPN}]})),
        None,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text());
    advance(sim, DELAY).await;
    let order = a.normalized["id"].as_str().expect("order").to_owned();
    let get = call(
        sim,
        Method::GET,
        &format!("/v1/customers/{customer}/orders/{order}"),
        Some(token),
        Body::None,
        None,
    )
    .await;
    let sub = get.normalized["lineItems"][0]["subscriptionId"]
        .as_str()
        .expect("subscription id")
        .to_owned();
    (order, sub)
}

/// Every key of every object in `value`.
fn keys(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                keys(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn bom_starts_every_api_json_body() {
    let sim = serve(config(only(Variant::Bom)));
    let (token, customer) = ready_customer(&sim).await;
    let got = get(&sim, &token, &format!("/v1/customers/{customer}")).await;
    assert_eq!(got.status, 200);
    assert!(got.has_bom(), "{:?}", &got.bytes[..8]);
    assert_eq!(got.normalized["id"], customer.as_str());
    let missing = get(&sim, &token, "/v1/customers/nobody").await;
    assert_eq!(missing.status, 404);
    assert!(missing.has_bom());
    assert_eq!(missing.normalized["code"], 1000);
    // Without the variant: no mark.
    set_variants(&sim, 0, Variants::default()).await;
    let plain = get(&sim, &token, &format!("/v1/customers/{customer}")).await;
    assert!(!plain.has_bom() && plain.bytes.first() == Some(&b'{'));
}

#[tokio::test]
async fn pascal_case_upper_cases_keys_but_not_values() {
    let sim = serve(config(only(Variant::PascalCase)));
    let (token, customer) = ready_customer(&sim).await;
    let list = get(&sim, &token, "/v1/customers").await;
    assert_eq!(list.status, 200, "{}", list.text());
    assert_eq!(list.body["TotalCount"], 1, "{}", list.text());
    let item = &list.body["Items"][0];
    assert_eq!(item["Id"], customer.as_str());
    assert_eq!(item["CompanyProfile"]["Domain"], "contoso.onmicrosoft.com");
    assert_eq!(item["RelationshipToPartner"], "reseller");
    assert_eq!(item["Attributes"]["ObjectType"], "Customer");
    let mut all = Vec::new();
    keys(&list.body, &mut all);
    assert!(
        all.iter()
            .all(|k| k.starts_with(|c: char| c.is_ascii_uppercase())),
        "{all:?}"
    );
    // Errors too.
    let missing = get(&sim, &token, "/v1/customers/nobody").await;
    assert_eq!(missing.body["Code"], 1000);
    assert_eq!(missing.body["Source"], "PartnerFD");
}

#[tokio::test]
async fn documented_subscriptions_have_no_billing_cycle_or_term() {
    let sim = serve(config(Variants::default()));
    let (token, customer) = ready_customer(&sim).await;
    let (_, sub) = bought(&sim, &token, &customer, NCE).await;
    let path = format!("/v1/customers/{customer}/subscriptions/{sub}");
    let plain = get(&sim, &token, &path).await;
    assert_eq!(plain.normalized["billingCycle"], "monthly");
    set_variants(&sim, 0, only(Variant::DocumentedSubscription)).await;
    let one = get(&sim, &token, &path).await;
    let list = get(
        &sim,
        &token,
        &format!("/v1/customers/{customer}/subscriptions"),
    )
    .await;
    let patched = call(
        &sim,
        Method::PATCH,
        &path,
        Some(&token),
        Body::Json(json!({"quantity": 6})),
        None,
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    for s in [
        &one.normalized,
        &list.normalized["items"][0],
        &patched.normalized,
    ] {
        for absent in [
            "billingCycle",
            "termDuration",
            "cancellationAllowedUntilDate",
            "refundableQuantity",
            "partnerId",
            "isTrial",
        ] {
            assert!(s.get(absent).is_none(), "{absent} in {s}");
        }
        assert_eq!(s["billingType"], "license");
        assert_eq!(s["unitType"], "Licenses");
        assert_eq!(s["id"], sub.as_str());
        assert!(s["links"]["self"]["uri"].is_string(), "{s}");
    }
    assert_eq!(patched.normalized["quantity"], 6);
    // The state still holds what the full shape shows.
    set_variants(&sim, 0, Variants::default()).await;
    let full = get(&sim, &token, &path).await;
    assert_eq!(
        (
            full.normalized["billingCycle"].as_str(),
            full.normalized["termDuration"].as_str()
        ),
        (Some("monthly"), Some("P1Y"))
    );
    assert_eq!(full.normalized["partnerId"], RESELLER_MPN);
}

#[tokio::test]
async fn pending_checkout_reveals_subscriptions_once_the_order_completes() {
    let sim = serve(config(only(Variant::PendingCheckout)));
    let (token, customer) = ready_customer(&sim).await;
    let cart_id = cart(&sim, &token, &customer, &[(NCE, 3, "monthly")]).await;
    let checkout_path = format!("/v1/customers/{customer}/carts/{cart_id}/checkout");
    // The documented request has no body at all.
    let result = call(
        &sim,
        Method::POST,
        &checkout_path,
        Some(&token),
        Body::None,
        Some("checkout-1"),
    )
    .await;
    assert_eq!(result.status, 201, "{}", result.text());
    let order = &result.normalized["orders"][0];
    assert_eq!(order["status"], "pending");
    let line = &order["lineItems"][0];
    assert!(line.get("subscriptionId").is_none(), "{line}");
    assert_eq!(
        (line["offerId"].as_str(), line["lineItemNumber"].as_i64()),
        (Some(NCE), Some(0))
    );
    let order_id = order["id"].as_str().expect("order id").to_owned();
    let order_path = format!("/v1/customers/{customer}/orders/{order_id}");
    let pending = get(&sim, &token, &order_path).await;
    assert_eq!(pending.normalized["status"], "pending");
    assert!(
        pending.normalized["lineItems"][0]
            .get("subscriptionId")
            .is_none()
    );
    assert_eq!(pending.normalized["lineItems"][0]["offerId"], NCE);
    let status_path = format!("{order_path}/provisioningstatus");
    let status = get(&sim, &token, &status_path).await;
    assert_eq!(
        status.normalized["items"][0]["status"],
        "PrefulfillmentPending"
    );
    assert!(status.normalized["items"][0].get("resourceUri").is_none());

    advance(&sim, DELAY).await;
    let done = get(&sim, &token, &order_path).await;
    assert_eq!(done.normalized["status"], "completed");
    let sub = done.normalized["lineItems"][0]["subscriptionId"]
        .as_str()
        .expect("subscription id once completed")
        .to_owned();
    let status = get(&sim, &token, &status_path).await;
    assert_eq!(status.normalized["items"][0]["status"], "Fulfilled");
    assert!(
        status.normalized["items"][0]["resourceUri"]
            .as_str()
            .is_some_and(|u| u.ends_with(&sub)),
        "{}",
        status.text()
    );
    let got = get(
        &sim,
        &token,
        &format!("/v1/customers/{customer}/subscriptions/{sub}"),
    )
    .await;
    assert_eq!(
        (got.status, got.normalized["quantity"].as_i64()),
        (200, Some(3))
    );

    // A replay and a re-checkout return the first answer unchanged.
    let replay = call(
        &sim,
        Method::POST,
        &checkout_path,
        Some(&token),
        Body::None,
        Some("checkout-1"),
    )
    .await;
    assert_eq!((replay.status, &replay.bytes), (201, &result.bytes));
    let again = call(
        &sim,
        Method::POST,
        &checkout_path,
        Some(&token),
        Body::Raw("\"success\""),
        Some("checkout-2"),
    )
    .await;
    assert_eq!((again.status, &again.normalized), (201, &result.normalized));
}

#[tokio::test]
async fn checkout_accepts_no_body_an_empty_object_or_the_sdk_string() {
    let sim = serve(config(Variants::default()));
    let (token, customer) = ready_customer(&sim).await;
    for body in [
        Body::None,
        Body::Raw("{}"),
        Body::Raw("\"success\""),
        Body::Raw(""),
    ] {
        let cart_id = cart(&sim, &token, &customer, &[(NCE, 1, "monthly")]).await;
        let a = call(
            &sim,
            Method::POST,
            &format!("/v1/customers/{customer}/carts/{cart_id}/checkout"),
            Some(&token),
            body,
            None,
        )
        .await;
        assert_eq!(a.status, 201, "{}", a.text());
        assert_eq!(a.normalized["orders"].as_array().map(Vec::len), Some(1));
    }
}

#[tokio::test]
async fn split_checkout_places_one_order_per_line_in_reverse() {
    let sim = serve(config(only(Variant::SplitCheckout)));
    let (token, customer) = ready_customer(&sim).await;
    let lines = [
        (NCE, 1, "monthly"),
        (LEGACY, 2, "monthly"),
        (NCE, 3, "annual"),
    ];
    let cart_id = cart(&sim, &token, &customer, &lines).await;
    let result = call(
        &sim,
        Method::POST,
        &format!("/v1/customers/{customer}/carts/{cart_id}/checkout"),
        Some(&token),
        Body::None,
        None,
    )
    .await;
    assert_eq!(result.status, 201, "{}", result.text());
    let orders = result.normalized["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 3, "{}", result.text());
    let bought: Vec<(String, i64)> = orders
        .iter()
        .map(|o| {
            let lines = o["lineItems"].as_array().expect("lines");
            assert_eq!(lines.len(), 1);
            assert_eq!(lines[0]["lineItemNumber"], 0);
            (
                lines[0]["offerId"].as_str().expect("offer").to_owned(),
                lines[0]["quantity"].as_i64().expect("quantity"),
            )
        })
        .collect();
    assert_eq!(
        bought,
        [
            (NCE.to_owned(), 3),
            (LEGACY.to_owned(), 2),
            (NCE.to_owned(), 1)
        ]
    );
    assert_eq!(orders[0]["billingCycle"], "annual");
}

#[tokio::test]
async fn accepted_patches_answer_202_and_apply_after_the_delay() {
    let sim = serve(config(Variants::default()));
    let (token, customer) = ready_customer(&sim).await;
    let (_, sub) = bought(&sim, &token, &customer, NCE).await;
    set_variants(&sim, 0, only(Variant::AcceptedPatch)).await;
    let path = format!("/v1/customers/{customer}/subscriptions/{sub}");
    let patch = |id: &'static str, quantity: i64| {
        call(
            &sim,
            Method::PATCH,
            &path,
            Some(&token),
            Body::Json(json!({"Quantity": quantity, "Status": "active"})),
            Some(id),
        )
    };
    let first = patch("patch-1", 9).await;
    assert_eq!(first.status, 202, "{}", first.text());
    assert!(first.bytes.is_empty());
    assert_eq!(
        first.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/customers/{customer}/subscriptions/{sub}").as_str())
    );
    let before = get(&sim, &token, &path).await;
    assert_eq!(before.normalized["quantity"], 5);
    let replay = patch("patch-1", 9).await;
    assert_eq!(replay.status, 202);
    assert_eq!(
        replay.headers.get("location"),
        first.headers.get("location")
    );
    let second = patch("patch-2", 11).await;
    assert_eq!(second.status_and_code(), (409, Some(800060)));
    advance(&sim, DELAY).await;
    let after = get(&sim, &token, &path).await;
    assert_eq!(after.normalized["quantity"], 9);
    let replay = patch("patch-1", 9).await;
    assert_eq!(replay.status, 202);
    // A refused change is refused at once, not accepted.
    let invalid = patch("patch-3", 0).await;
    assert_eq!(invalid.status_and_code(), (400, Some(2002)));
    // "In progress" is not an answer a request id keeps (neither a success nor a
    // business failure; a client retries it with the same id): the same request
    // again, once the first change is applied, is processed.
    let retried = patch("patch-2", 11).await;
    assert_eq!(retried.status, 202, "{}", retried.text());
}

#[tokio::test]
async fn replays_return_the_first_answers_bytes_whatever_the_variants_now() {
    let sim = serve(config(Variants {
        bom: 1.0,
        pascal_case: 1.0,
        ..Variants::default()
    }));
    let (token, customer) = ready_customer(&sim).await;
    let path = format!("/v1/customers/{customer}/carts");
    let body = json!({"lineItems": [{"id": 0, "catalogItemId": NCE, "quantity": 1, "billingCycle": "monthly", "termDuration": "P1Y"}]});
    let first = call(
        &sim,
        Method::POST,
        &path,
        Some(&token),
        Body::Json(body.clone()),
        Some("cart-1"),
    )
    .await;
    assert!(
        first.has_bom() && first.body.get("LineItems").is_some(),
        "{}",
        first.text()
    );
    set_variants(&sim, 0, Variants::default()).await;
    let replay = call(
        &sim,
        Method::POST,
        &path,
        Some(&token),
        Body::Json(body),
        Some("cart-1"),
    )
    .await;
    assert_eq!((replay.status, &replay.bytes), (first.status, &first.bytes));
}

/// Which of bom and pascal-case each of a fixed request sequence got.
async fn shapes(seed: u64) -> Vec<(bool, bool)> {
    let sim = serve(SimConfig {
        faults: Faults {
            seed,
            variants: Variants {
                bom: 0.5,
                pascal_case: 0.5,
                ..Variants::default()
            },
            ..Faults::default()
        },
        ..config(Variants::default())
    });
    let token = app_user(&sim).await;
    let mut out = Vec::new();
    for _ in 0..24 {
        let a = get(&sim, &token, "/v1/customers").await;
        assert_eq!(a.status, 200);
        out.push((a.has_bom(), a.body.get("TotalCount").is_some()));
    }
    out
}

#[tokio::test]
async fn mixed_variants_are_deterministic_for_a_seed() {
    let a = shapes(11).await;
    assert_eq!(a, shapes(11).await);
    assert_ne!(a, shapes(12).await);
    assert!(a.iter().any(|s| s.0) && a.iter().any(|s| !s.0));
    assert!(a.iter().any(|s| s.1) && a.iter().any(|s| !s.1));
    // The streams are separate: bom and pascal-case do not always coincide.
    assert!(a.iter().any(|s| s.0 != s.1));
}

#[tokio::test]
async fn faults_carry_the_variants_and_refuse_bad_rates() {
    let sim = serve(config(Variants::every(1.0)));
    let got = call(&sim, Method::GET, "/_sim/faults", None, Body::None, None).await;
    assert_eq!(
        got.normalized["variants"],
        json!({"bom": 1.0, "pascalCase": 1.0, "documentedSubscription": 1.0, "pendingCheckout": 1.0,
            "splitCheckout": 1.0, "acceptedPatch": 1.0})
    );
    let bad = call(
        &sim,
        Method::PUT,
        "/_sim/faults",
        None,
        Body::Json(json!({"variants": {"splitCheckout": 1.5}})),
        None,
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("splitCheckout"));
}

#[tokio::test]
async fn the_documented_billing_cycle_body_changes_a_legacy_order() {
    let sim = serve(config(Variants::default()));
    let (token, customer) = ready_customer(&sim).await;
    let (order, sub) = bought(&sim, &token, &customer, LEGACY).await;
    let path = format!("/v1/customers/{customer}/orders/{order}");
    let body = |quantity: Value| {
        json!({
            "Id": null,
            "ReferenceCustomerId": customer,
            "BillingCycle": "Annual",
            "LineItems": [{"LineItemNumber": 0, "OfferId": LEGACY.to_uppercase(), "SubscriptionId": sub,
                "FriendlyName": "Some friendly name", "Quantity": quantity, "PartnerIdOnRecord": null,
                "Attributes": {"ObjectType": "OrderLineItem"}}],
            "CreationDate": null,
            "Attributes": {"ObjectType": "Order"}
        })
    };
    let missing = call(
        &sim,
        Method::PATCH,
        &path,
        Some(&token),
        Body::Json(body(Value::Null)),
        None,
    )
    .await;
    assert_eq!(missing.status_and_code(), (400, Some(3000)));
    assert!(
        missing.text().contains("LineItems[0].Quantity"),
        "{}",
        missing.text()
    );
    let changed = call(
        &sim,
        Method::PATCH,
        &path,
        Some(&token),
        Body::Json(body(json!(5))),
        None,
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(changed.normalized["billingCycle"], "annual");
    let got = get(
        &sim,
        &token,
        &format!("/v1/customers/{customer}/subscriptions/{sub}"),
    )
    .await;
    assert_eq!(got.normalized["billingCycle"], "annual");
}

#[tokio::test]
async fn the_documented_sandbox_reseller_body_creates_a_reseller_of_the_simulators_making() {
    let sim = serve(SimConfig {
        sandbox: true,
        ..config(Variants::default())
    });
    let token = app_user(&sim).await;
    let body = json!({
        "mpnId": "6363276",
        "tenant": {
            "domainPrefix": "TipIRIntTest705", "name": "TipIRIntTest705", "displayName": "TipIRIntTest705",
            "adminUserName": "admin", "adminFirstName": "TipIRIntTest705", "adminLastName": "TipIRIntTest705",
            "adminAlternateEmail": "TipIRIntTest705@test.com", "country": "US", "culture": "en-us"
        },
        "legalBusinessProfile": {
            "companyName": "TipIRIntTest705",
            "address": {"country": "FR", "city": "Issy-les-Moulineaux", "state": "",
                "addressLine1": "39-41 quai du Président Roosevelt", "addressLine2": "", "postalCode": "92130"},
            "primaryContact": {"firstName": "Sandbox", "lastName": "Scenario",
                "email": "Sandbox.Scenario@test.com", "phoneNumber": "1234567890"},
            "culture": "en-US"
        },
        "organizationProfileLanguage": "en"
    });
    let mut incomplete = body.clone();
    incomplete["tenant"]
        .as_object_mut()
        .expect("tenant")
        .shift_remove("adminUserName");
    let refused = call(
        &sim,
        Method::POST,
        "/v1/sandboxIndirectReseller",
        Some(&token),
        Body::Json(incomplete),
        None,
    )
    .await;
    assert_eq!(refused.status_and_code(), (400, Some(3000)));
    assert!(
        refused.text().contains("tenant.adminUserName"),
        "{}",
        refused.text()
    );

    let created = call(
        &sim,
        Method::POST,
        "/v1/sandboxIndirectReseller",
        Some(&token),
        Body::Json(body),
        Some("ir-1"),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let tenant = created.normalized["tenant"]["id"]
        .as_str()
        .expect("tenant id")
        .to_owned();
    assert_eq!(created.normalized["accountId"], tenant.as_str());
    assert_eq!(created.normalized["mpnId"], "6363276");
    assert!(created.normalized["tenant"]["password"].is_string());
    assert_eq!(
        created.normalized["tenant"]["adminUserAccount"],
        "admin@tipirinttest705.onmicrosoft.com"
    );
    let relationship = &created.normalized["partnerRelationship"];
    assert_eq!(
        relationship["id"],
        SimConfig::default().partner_tenant_id.as_str()
    );
    assert_eq!(
        relationship["name"],
        SimConfig::default().partner_name.as_str()
    );
    assert_eq!(relationship["relationshipType"], "is_indirect_reseller_of");
    assert_eq!(relationship["state"], "Active");
    assert_eq!(relationship["mpnId"], "6363276");
    assert_eq!(
        created.normalized["agreementSignature"]["agreementType"],
        "ValueAddedReseller"
    );

    let list = get(
        &sim,
        &token,
        "/v1/relationships?relationship_type=IsIndirectCloudSolutionProviderOf",
    )
    .await;
    let items = list.normalized["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", list.text());
    assert_eq!(
        (
            items[0]["id"].as_str(),
            items[0]["mpnId"].as_str(),
            items[0]["name"].as_str()
        ),
        (
            Some(tenant.as_str()),
            Some("6363276"),
            Some("TipIRIntTest705")
        )
    );
    let domain = call(
        &sim,
        Method::HEAD,
        "/v1/domains/tipirinttest705.onmicrosoft.com",
        Some(&token),
        Body::None,
        None,
    )
    .await;
    assert_eq!(domain.status, 200);
    let deleted = call(
        &sim,
        Method::DELETE,
        &format!("/v1/sandboxIndirectReseller/{tenant}"),
        Some(&token),
        Body::None,
        None,
    )
    .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    let list = get(&sim, &token, "/v1/relationships").await;
    assert_eq!(list.normalized["totalCount"], 0);
}

#[tokio::test]
async fn everything_documented_at_once_still_sells_and_updates() {
    let sim = serve(config(Variants::every(1.0)));
    let (token, customer) = ready_customer(&sim).await;
    let cart_id = cart(
        &sim,
        &token,
        &customer,
        &[(NCE, 2, "monthly"), (LEGACY, 4, "monthly")],
    )
    .await;
    let result = call(
        &sim,
        Method::POST,
        &format!("/v1/customers/{customer}/carts/{cart_id}/checkout"),
        Some(&token),
        Body::None,
        None,
    )
    .await;
    assert_eq!(result.status, 201, "{}", result.text());
    assert!(result.has_bom() && result.body.get("Orders").is_some());
    let orders = result.normalized["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 2);
    assert!(orders.iter().all(|o| o["status"] == "pending"));
    advance(&sim, DELAY).await;
    let order = orders[1]["id"].as_str().expect("order");
    let got = get(
        &sim,
        &token,
        &format!("/v1/customers/{customer}/orders/{order}"),
    )
    .await;
    let sub = got.normalized["lineItems"][0]["subscriptionId"]
        .as_str()
        .expect("sub")
        .to_owned();
    let path = format!("/v1/customers/{customer}/subscriptions/{sub}");
    let read = get(&sim, &token, &path).await;
    assert!(read.body.get("BillingCycle").is_none() && read.body["BillingType"] == "license");
    assert_eq!(read.normalized["offerId"], NCE);
    let patched = call(
        &sim,
        Method::PATCH,
        &path,
        Some(&token),
        Body::Json(json!({"quantity": 3})),
        None,
    )
    .await;
    assert_eq!(patched.status, 202);
    advance(&sim, DELAY).await;
    let read = get(&sim, &token, &path).await;
    assert_eq!(read.normalized["quantity"], 3);
}
