//! Unit tests of the simulator's rules, on the pure model with an explicit clock.

use serde_json::json;

use super::*;
use crate::sim::input::parse_value;

const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const NCE: &str = "CFQ7TTC0LH18:0001:CFQ7TTC0K59S";

fn world() -> State {
    let mut s = State::new(
        Partner {
            tenant_id: "p-tenant".into(),
            mpn_id: "1000001".into(),
            name: "Provider".into(),
        },
        false,
        1,
    );
    s.add_reseller(Reseller {
        tenant_id: "r1-tenant".into(),
        mpn_id: "2000001".into(),
        name: "Reseller One".into(),
        location: "US".into(),
    })
    .expect("reseller");
    s
}

fn customer_input(domain: &str, country: &str) -> CustomerInput {
    parse_value(json!({
        "CompanyProfile": {"Domain": domain},
        "BillingProfile": {"Email": "a@b.c", "Culture": "en-US", "Language": "en", "CompanyName": "Contoso",
            "DefaultAddress": {"FirstName": "A", "LastName": "B", "AddressLine1": "1 Way", "City": "X", "PostalCode": "1", "Country": country}},
        "AssociatedPartnerId": "r1-tenant",
    }))
    .expect("input")
}

fn customer(s: &mut State) -> String {
    let body = s
        .create_customer(customer_input("contoso.onmicrosoft.com", "US"), NOW)
        .expect("created");
    body["id"].as_str().expect("id").to_owned()
}

fn attest(s: &mut State, c: &str) {
    let input = parse_value(json!({"primaryContact": {"firstName": "A", "lastName": "B", "email": "a@b.c"}, "templateId": MCA_TEMPLATE_ID, "dateAgreed": "2026-01-01T00:00:00Z", "type": "MicrosoftCustomerAgreement"})).expect("input");
    s.add_agreement(c, input, NOW).expect("attested");
}

fn order(
    s: &mut State,
    c: &str,
    offer: &str,
    quantity: i64,
    partner: Option<&str>,
) -> ApiResult<Value> {
    let input: OrderInput = parse_value(json!({"billingCycle": "monthly", "lineItems": [{"lineItemNumber": 0, "offerId": offer, "termDuration": "P1Y", "quantity": quantity, "friendlyName": "E3", "partnerIdOnRecord": partner}]})).expect("input");
    s.create_order(c, input, NOW, 10)
}

fn sub_id(order: &Value) -> String {
    order["lineItems"][0]["subscriptionId"]
        .as_str()
        .expect("sub")
        .to_owned()
}

fn patch(s: &mut State, c: &str, sid: &str, body: Value, now: i64) -> ApiResult<Value> {
    s.patch_subscription(c, sid, parse_value(body).expect("input"), now)
}

#[test]
fn ids_are_deterministic_for_a_seed() {
    let (mut a, mut b) = (world(), world());
    assert_eq!(customer(&mut a), customer(&mut b));
}

#[test]
fn associated_partner_must_be_a_related_reseller() {
    let mut s = world();
    let mut input = customer_input("x.onmicrosoft.com", "US");
    input.associated_partner_id = Some("stranger".into());
    assert_eq!(
        s.create_customer(input, NOW).expect_err("refused").code,
        800016
    );
}

#[test]
fn domains_are_unique_and_country_rules_apply() {
    let mut s = world();
    customer(&mut s);
    let err = s
        .create_customer(customer_input("CONTOSO.onmicrosoft.com", "US"), NOW)
        .expect_err("taken");
    assert_eq!((err.status, err.code), (409, 1003));
    let err = s
        .create_customer(customer_input("pl.onmicrosoft.com", "PL"), NOW)
        .expect_err("needs number");
    assert_eq!(err.code, 600049);
    let mut input = customer_input("pl.onmicrosoft.com", "PL");
    input.company_profile.organization_registration_number = Some("123".into());
    assert_eq!(
        s.create_customer(input, NOW).expect_err("needs phone").code,
        600051
    );
}

#[test]
fn new_commerce_needs_mca_and_partner_of_record_must_be_a_reseller() {
    let mut s = world();
    let c = customer(&mut s);
    assert_eq!(
        order(&mut s, &c, NCE, 1, None).expect_err("no MCA").code,
        13605
    );
    attest(&mut s, &c);
    let input = parse_value(json!({"primaryContact": {"firstName": "a", "lastName": "b", "email": "A@B.C"}, "templateId": MCA_TEMPLATE_ID, "type": "MicrosoftCustomerAgreement"})).expect("input");
    assert_eq!(
        s.add_agreement(&c, input, NOW).expect_err("duplicate").code,
        600061
    );
    let err = order(&mut s, &c, NCE, 1, Some("1000001")).expect_err("provider");
    assert_eq!((err.status, err.code), (404, 2072));
    assert_eq!(
        order(&mut s, &c, NCE, 1, Some("999"))
            .expect_err("stranger")
            .code,
        800016
    );
    order(&mut s, &c, NCE, 1, Some("2000001")).expect("bought");
}

#[test]
fn provisioning_completes_after_the_delay() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let o = order(&mut s, &c, NCE, 2, None).expect("bought");
    assert_eq!(o["status"], "pending");
    let sid = sub_id(&o);
    assert_eq!(
        patch(&mut s, &c, &sid, json!({"quantity": 3}), NOW)
            .expect_err("pending")
            .code,
        800082
    );
    assert!(s.list_orders(&c, NOW + 5, 60).expect("list").is_empty());
    s.settle(NOW + 10);
    assert_eq!(
        s.get_order(&c, o["id"].as_str().expect("id"))
            .expect("order")["status"],
        "completed"
    );
    assert_eq!(s.list_orders(&c, NOW + 60, 60).expect("list").len(), 1);
    assert_eq!(
        patch(&mut s, &c, &sid, json!({"quantity": 3}), NOW + 10).expect("patched")["quantity"],
        3
    );
}

#[test]
fn subscription_patch_rules() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let sid = sub_id(&order(&mut s, &c, NCE, 5, None).expect("bought"));
    s.settle(NOW + 10);
    let later = NOW + CANCELLATION_WINDOW_SECONDS + 1;
    assert_eq!(
        patch(
            &mut s,
            &c,
            &sid,
            json!({"billingCycle": "annual"}),
            NOW + 10
        )
        .expect_err("cycle")
        .code,
        2054
    );
    assert_eq!(
        patch(&mut s, &c, &sid, json!({"quantity": 4}), later)
            .expect_err("window")
            .code,
        800090
    );
    assert_eq!(
        patch(&mut s, &c, &sid, json!({"status": "deleted"}), later)
            .expect_err("window")
            .code,
        800096
    );
    patch(&mut s, &c, &sid, json!({"quantity": 6}), later).expect("increase is fine");
    patch(&mut s, &c, &sid, json!({"Status": "Suspended"}), later).expect("suspended");
    assert_eq!(
        patch(&mut s, &c, &sid, json!({"quantity": 7}), later)
            .expect_err("suspended")
            .code,
        2001
    );
    assert_eq!(
        patch(&mut s, &c, &sid, json!({"partnerId": "1000001"}), later)
            .expect_err("provider")
            .code,
        2072
    );
}

#[test]
fn deleted_subscriptions_cannot_change() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let sid = sub_id(&order(&mut s, &c, NCE, 5, None).expect("bought"));
    s.settle(NOW + 10);
    patch(&mut s, &c, &sid, json!({"status": "deleted"}), NOW + 10).expect("cancelled in window");
    assert_eq!(
        patch(&mut s, &c, &sid, json!({"friendlyName": "x"}), NOW + 11)
            .expect_err("deleted")
            .code,
        2011
    );
}

#[test]
fn support_contact_rules() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let legacy = sub_id(
        &order(&mut s, &c, "A1B2C3D4-0000-0000-0000-000000000000", 1, None).expect("bought"),
    );
    let nce = sub_id(&order(&mut s, &c, NCE, 1, None).expect("bought"));
    assert_eq!(
        s.get_support_contact(&c, &legacy).expect("default")["supportMpnId"],
        "1000001"
    );
    assert_eq!(
        s.get_support_contact(&c, &nce).expect_err("nce").code,
        800042
    );
    let bad: SupportContactInput =
        parse_value(json!({"SupportTenantId": "r1-tenant", "SupportMpnId": "999"})).expect("input");
    assert_eq!(
        s.put_support_contact(&c, &legacy, bad)
            .expect_err("mismatch")
            .code,
        800016
    );
    let good = parse_value(json!({"supportTenantId": "R1-TENANT", "supportMpnId": "2000001"}))
        .expect("input");
    assert_eq!(
        s.put_support_contact(&c, &legacy, good).expect("set")["name"],
        "Reseller One"
    );
    let reset = parse_value(json!({"supportTenantId": "p-tenant", "supportMpnId": "1000001"}))
        .expect("input");
    assert_eq!(
        s.put_support_contact(&c, &legacy, reset).expect("reset")["supportTenantId"],
        "p-tenant"
    );
}

#[test]
fn cart_lines_carry_errors_and_checkout_is_idempotent() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let input: CartInput = parse_value(json!({"lineItems": [
        {"id": 0, "catalogItemId": NCE, "quantity": 1, "billingCycle": "Monthly", "termDuration": "P1Y", "participants": [{"key": "TransactionReseller", "value": "2000001"}]},
        {"id": 1, "catalogItemId": NCE, "quantity": 1, "billingCycle": "monthly", "termDuration": "P1Y", "participants": [{"key": "transaction_reseller", "value": "42"}]},
        {"id": 2, "catalogItemId": NCE, "quantity": 1, "billingCycle": "triennial", "termDuration": "P1M"}]})).expect("input");
    let cart = s.create_cart(&c, input, NOW).expect("cart");
    assert_eq!(cart["lineItems"][1]["error"]["errorCode"], 10004);
    assert_eq!(cart["lineItems"][2]["error"]["errorCode"], 10010);
    let id = cart["id"].as_str().expect("id").to_owned();
    let first = s.checkout(&c, &id, NOW, 0).expect("checkout");
    assert_eq!(first["orders"].as_array().expect("orders").len(), 1);
    assert_eq!(first["orderErrors"].as_array().expect("errors").len(), 2);
    assert_eq!(s.checkout(&c, &id, NOW + 5, 0).expect("again"), first);
    assert_eq!(s.orders.len(), 1);
    assert_eq!(s.get_cart(&c, "nope").expect_err("unknown").code, 800008);
}

#[test]
fn billing_profile_needs_the_current_etag() {
    let mut s = world();
    let c = customer(&mut s);
    let etag = s.get_billing(&c).expect("profile")["attributes"]["etag"]
        .as_str()
        .expect("etag")
        .to_owned();
    let input = BillingProfile {
        email: Some("new@b.c".into()),
        ..BillingProfile::default()
    };
    assert_eq!(
        s.put_billing(&c, None, input.clone())
            .expect_err("missing")
            .code,
        2055
    );
    assert_eq!(
        s.put_billing(&c, Some(&format!("\"{etag}\"")), input.clone())
            .expect("updated")["email"],
        "new@b.c"
    );
    assert_eq!(
        s.put_billing(&c, Some(&etag), input)
            .expect_err("stale")
            .code,
        2055
    );
}

#[test]
fn unknown_ids_are_404_and_tenants_are_403() {
    let mut s = world();
    assert_eq!(s.customer_index("nope").expect_err("404").status, 404);
    s.add_tenant(Some("t1".into()), "t1.onmicrosoft.com", "T1")
        .expect("tenant");
    assert_eq!(s.customer_index("t1").expect_err("403").code, 20002);
    let c = s
        .accept_relationship("t1.onmicrosoft.com", Some("r1-tenant"), NOW)
        .expect("accepted");
    assert_eq!(c["associatedPartnerId"], "r1-tenant");
    assert_eq!(
        s.get_subscription("t1", "nope", NOW).expect_err("404").code,
        20003
    );
    assert_eq!(s.get_order("t1", "nope").expect_err("404").code, 20000);
}

#[test]
fn billing_cycle_must_fit_the_term() {
    assert!(Term::P1Y.allows(Cycle::Annual));
    assert!(!Term::P1M.allows(Cycle::Annual));
    assert!(!Term::P1Y.allows(Cycle::Triennial));
    assert!(Term::P3Y.allows(Cycle::Triennial));
}

#[test]
fn seed_loads_customers_and_subscriptions() {
    let mut s = world();
    let seed: Seed = serde_json::from_value(json!({"customers": [{"domain": "s.onmicrosoft.com", "companyName": "S", "resellers": ["r1-tenant"], "mcaAccepted": true,
        "subscriptions": [{"offerId": NCE, "quantity": 2, "termDuration": "P1Y", "billingCycle": "monthly", "partnerId": "2000001"}]}]})).expect("seed");
    s.apply_seed(seed, NOW).expect("applied");
    assert_eq!(
        (s.customers.len(), s.subscriptions.len(), s.orders.len()),
        (1, 1, 1)
    );
    assert_eq!(s.subscriptions[0].status, Status::Active);
}

#[test]
fn replays_expire_after_24_hours_and_old_files_load() {
    let mut s = world();
    s.remember(Replay {
        request_id: "r".into(),
        method: "POST".into(),
        path: "/v1/customers".into(),
        status: 201,
        body: Some(json!({"id": "x"})),
        at: NOW,
    });
    assert!(s.replay("r", "POST", "/v1/customers", NOW + 10).is_some());
    assert!(s.replay("r", "PUT", "/v1/customers", NOW + 10).is_none());
    let mut text = serde_json::to_value(&s).expect("json");
    assert_eq!(text["idempotency"][0]["requestId"], "r");
    if let Value::Object(map) = &mut text {
        map.remove("idempotency");
    }
    let old: State = serde_json::from_value(text).expect("a file without the cache loads");
    assert!(old.idempotency.is_empty());
    assert!(
        s.replay("r", "POST", "/v1/customers", NOW + IDEMPOTENCY_SECONDS)
            .is_none()
    );
    assert!(s.idempotency.is_empty());
}

#[test]
fn sandbox_resellers_are_deleted_only_without_active_subscriptions() {
    let mut s = world();
    assert_eq!(
        s.delete_sandbox_reseller("r1-tenant")
            .expect_err("production"),
        ApiError::new(
            403,
            6003,
            "Deleting indirect resellers is only allowed in the integration sandbox"
        )
    );
    s.sandbox = true;
    let c = customer(&mut s);
    attest(&mut s, &c);
    let sid = sub_id(&order(&mut s, &c, NCE, 1, Some("2000001")).expect("bought"));
    let err = s.delete_sandbox_reseller("R1-TENANT").expect_err("busy");
    assert_eq!((err.status, err.code), (409, ACTIVE_SUBSCRIPTIONS_CODE));
    s.settle(NOW + 10);
    patch(&mut s, &c, &sid, json!({"status": "suspended"}), NOW + 10).expect("suspended");
    s.delete_sandbox_reseller("r1-tenant").expect("deleted");
    assert!(s.resellers.is_empty());
    assert_eq!(s.customers[0].associated_partner_id, None);
    assert!(s.customers[0].reseller_ids.is_empty());
    assert_eq!(
        s.delete_sandbox_reseller("r1-tenant")
            .expect_err("gone")
            .code,
        60003
    );
}

#[test]
fn customers_lose_the_relationship_or_are_deleted() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let sid = sub_id(&order(&mut s, &c, NCE, 1, None).expect("bought"));
    let none = || parse_value::<CustomerPatch>(json!({"RelationshipToPartner": "None"}));
    let err = s
        .patch_customer(&c, none().expect("input"))
        .expect_err("pending counts as active");
    assert_eq!(err.code, ACTIVE_SUBSCRIPTIONS_CODE);
    let bad = parse_value::<CustomerPatch>(json!({"relationshipToPartner": "reseller"}));
    assert_eq!(
        s.patch_customer(&c, bad.expect("input"))
            .expect_err("only none")
            .code,
        3000
    );
    s.settle(NOW + 10);
    patch(&mut s, &c, &sid, json!({"status": "deleted"}), NOW + 10).expect("cancelled");
    let body = s
        .patch_customer(&c, none().expect("input"))
        .expect("removed");
    assert_eq!(body["relationshipToPartner"], "none");
    assert_eq!(s.require_relationship(&c).expect_err("403").code, 20002);
    assert!(s.require_relationship("unknown").is_ok());
    assert_eq!(s.delete_customer(&c).expect_err("production").status, 403);
    s.sandbox = true;
    s.delete_customer(&c).expect("deleted");
    assert!(s.customers.is_empty() && s.orders.is_empty() && s.subscriptions.is_empty());
    assert!(!s.domain_taken("contoso.onmicrosoft.com"));
}

#[test]
fn subscription_provisioning_status_follows_the_order() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let sid = sub_id(&order(&mut s, &c, NCE, 3, None).expect("bought"));
    let status = s
        .subscription_provisioning_status(&c, &sid)
        .expect("status");
    assert_eq!(
        (&status["skuId"], &status["status"], &status["quantity"]),
        (&json!("CFQ7TTC0LH18:0001"), &json!("pending"), &json!(3))
    );
    assert_eq!(status["endDate"], "2027-01-01T00:00:00Z");
    s.settle(NOW + 10);
    assert_eq!(
        s.subscription_provisioning_status(&c, &sid)
            .expect("status")["status"],
        "success"
    );
}
