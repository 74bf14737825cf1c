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
    s.add_reseller(Reseller::new("r1-tenant", "2000001", "Reseller One", "US"))
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
    assert_eq!(refused(s.create_customer(input, NOW), "refused"), 800016);
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
        refused(s.create_customer(input, NOW), "needs phone"),
        600051
    );
}

#[test]
fn new_commerce_needs_mca_and_partner_of_record_must_be_a_reseller() {
    let mut s = world();
    let c = customer(&mut s);
    assert_eq!(refused(order(&mut s, &c, NCE, 1, None), "no MCA"), 13605);
    attest(&mut s, &c);
    let input = parse_value(json!({"primaryContact": {"firstName": "a", "lastName": "b", "email": "A@B.C"}, "templateId": MCA_TEMPLATE_ID, "type": "MicrosoftCustomerAgreement"})).expect("input");
    assert_eq!(
        refused(s.add_agreement(&c, input, NOW), "duplicate"),
        600061
    );
    let err = order(&mut s, &c, NCE, 1, Some("1000001")).expect_err("provider");
    assert_eq!((err.status, err.code), (404, 2072));
    assert_eq!(
        refused(order(&mut s, &c, NCE, 1, Some("999")), "stranger"),
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
        refused(
            patch(&mut s, &c, &sid, json!({"quantity": 3}), NOW),
            "pending"
        ),
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
    // New commerce: a mid-term billing-cycle change goes through this PATCH, but
    // not to triennial billing (blocked mid-term since April 2025).
    assert_eq!(
        refused(
            patch(
                &mut s,
                &c,
                &sid,
                json!({"billingCycle": "triennial"}),
                NOW + 10
            ),
            "triennial"
        ),
        800042
    );
    assert_eq!(
        patch(
            &mut s,
            &c,
            &sid,
            json!({"billingCycle": "annual"}),
            NOW + 10
        )
        .expect("a mid-term change")["billingCycle"],
        "annual"
    );
    // Legacy: the billing cycle belongs to the order (2054).
    let legacy = sub_id(&order(&mut s, &c, LEGACY, 2, None).expect("bought"));
    s.settle(NOW + 20);
    assert_eq!(
        refused(
            patch(
                &mut s,
                &c,
                &legacy,
                json!({"billingCycle": "annual"}),
                NOW + 20
            ),
            "cycle"
        ),
        2054
    );
    assert_eq!(
        refused(
            patch(&mut s, &c, &sid, json!({"quantity": 4}), later),
            "window"
        ),
        800090
    );
    assert_eq!(
        refused(
            patch(&mut s, &c, &sid, json!({"status": "deleted"}), later),
            "window"
        ),
        800096
    );
    patch(&mut s, &c, &sid, json!({"quantity": 6}), later).expect("increase is fine");
    patch(&mut s, &c, &sid, json!({"Status": "Suspended"}), later).expect("suspended");
    assert_eq!(
        refused(
            patch(&mut s, &c, &sid, json!({"quantity": 7}), later),
            "suspended"
        ),
        2001
    );
    assert_eq!(
        refused(
            patch(&mut s, &c, &sid, json!({"partnerId": "1000001"}), later),
            "provider"
        ),
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
        refused(
            patch(&mut s, &c, &sid, json!({"friendlyName": "x"}), NOW + 11),
            "deleted"
        ),
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
    assert_eq!(refused(s.get_support_contact(&c, &nce), "nce"), 800042);
    let bad: SupportContactInput =
        parse_value(json!({"SupportTenantId": "r1-tenant", "SupportMpnId": "999"})).expect("input");
    assert_eq!(
        refused(s.put_support_contact(&c, &legacy, bad), "mismatch"),
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
    let first = s
        .checkout(&c, &id, NOW, 0, CheckoutShape::default())
        .expect("checkout");
    assert_eq!(first["orders"].as_array().expect("orders").len(), 1);
    assert_eq!(first["orderErrors"].as_array().expect("errors").len(), 2);
    assert_eq!(
        s.checkout(&c, &id, NOW + 5, 0, CheckoutShape::default())
            .expect("again"),
        first
    );
    assert_eq!(s.orders.len(), 1);
    assert_eq!(refused(s.get_cart(&c, "nope"), "unknown"), 800008);
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
        refused(s.put_billing(&c, None, input.clone()), "missing"),
        2055
    );
    assert_eq!(
        s.put_billing(&c, Some(&format!("\"{etag}\"")), input.clone())
            .expect("updated")["email"],
        "new@b.c"
    );
    assert_eq!(
        refused(s.put_billing(&c, Some(&etag), input), "stale"),
        2055
    );
}

#[test]
fn unknown_ids_are_404_and_tenants_are_403() {
    let mut s = world();
    assert_eq!(s.customer_index("nope").expect_err("404").status, 404);
    s.add_tenant(Some("t1".into()), "t1.onmicrosoft.com", "T1")
        .expect("tenant");
    assert_eq!(refused(s.customer_index("t1"), "403"), 20002);
    let c = s
        .accept_relationship("t1.onmicrosoft.com", Some("r1-tenant"), NOW)
        .expect("accepted");
    assert_eq!(c["associatedPartnerId"], "r1-tenant");
    assert_eq!(refused(s.get_subscription("t1", "nope", NOW), "404"), 20003);
    assert_eq!(refused(s.get_order("t1", "nope"), "404"), 20000);
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
    s.remember(
        Replay {
            request_id: "r".into(),
            method: "POST".into(),
            path: "/v1/customers".into(),
            status: 201,
            body: Some(CachedBody::of(&json!({"id": "x"}))),
            headers: Vec::new(),
            bom: false,
            pascal_case: false,
            at: NOW,
        },
        None,
    );
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
        refused(s.delete_sandbox_reseller("r1-tenant"), "gone"),
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
        refused(s.patch_customer(&c, bad.expect("input")), "only none"),
        3000
    );
    s.settle(NOW + 10);
    patch(&mut s, &c, &sid, json!({"status": "deleted"}), NOW + 10).expect("cancelled");
    let body = s
        .patch_customer(&c, none().expect("input"))
        .expect("removed");
    assert_eq!(body["relationshipToPartner"], "none");
    assert_eq!(refused(s.require_relationship(&c), "403"), 20002);
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
    // The term's last day (bought 2026-01-01 for P1Y), as commitmentEndDate.
    assert_eq!(status["endDate"], "2026-12-31T00:00:00Z");
    s.settle(NOW + 10);
    assert_eq!(
        s.subscription_provisioning_status(&c, &sid)
            .expect("status")["status"],
        "success"
    );
}

const LEGACY: &str = "031C9E47-4802-4248-838E-778FB1D2CC05";

/// The request body of change-the-billing-cycle.md, for one line.
fn billing_cycle_body(c: &str, sid: &str, offer: &str, quantity: i64) -> Value {
    json!({
        "Id": null,
        "ReferenceCustomerId": c,
        "BillingCycle": "Annual",
        "LineItems": [{
            "LineItemNumber": 0,
            "OfferId": offer,
            "SubscriptionId": sid,
            "FriendlyName": "Some friendly name",
            "Quantity": quantity,
            "PartnerIdOnRecord": null,
            "Attributes": {"ObjectType": "OrderLineItem"}
        }],
        "CreationDate": null,
        "Attributes": {"ObjectType": "Order"}
    })
}

#[test]
fn the_documented_billing_cycle_body_is_accepted_and_its_required_fields_enforced() {
    let mut s = world();
    let c = customer(&mut s);
    let o = order(&mut s, &c, LEGACY, 2, None).expect("bought");
    let (oid, sid) = (o["id"].as_str().expect("id").to_owned(), sub_id(&o));
    s.settle(NOW + 10);
    let send =
        |s: &mut State, body: Value| s.patch_order(&c, &oid, parse_value(body).expect("input"));
    let done = send(
        &mut s,
        billing_cycle_body(&c, &sid, &LEGACY.to_lowercase(), 2),
    )
    .expect("changed");
    assert_eq!(done["billingCycle"], "annual");
    assert_eq!(
        s.get_subscription(&c, &sid, NOW + 10).expect("sub")["billingCycle"],
        "annual"
    );

    for (pointer, field) in [
        ("/ReferenceCustomerId", "ReferenceCustomerId"),
        ("/BillingCycle", "BillingCycle"),
        ("/LineItems/0/LineItemNumber", "LineItems[0].LineItemNumber"),
        ("/LineItems/0/OfferId", "LineItems[0].OfferId"),
        ("/LineItems/0/SubscriptionId", "LineItems[0].SubscriptionId"),
        ("/LineItems/0/Quantity", "LineItems[0].Quantity"),
    ] {
        let mut body = billing_cycle_body(&c, &sid, LEGACY, 2);
        *body.pointer_mut(pointer).expect("field") = Value::Null;
        let err = send(&mut s, body).expect_err("missing");
        assert_eq!((err.status, err.code), (400, 3000), "{field}");
        assert!(
            err.description.contains(field),
            "{field}: {}",
            err.description
        );
    }
    let mut no_lines = billing_cycle_body(&c, &sid, LEGACY, 2);
    no_lines["LineItems"] = json!([]);
    assert!(
        send(&mut s, no_lines)
            .expect_err("no lines")
            .description
            .contains("LineItems")
    );
    let wrong_customer = billing_cycle_body("someone-else", &sid, LEGACY, 2);
    assert_eq!(refused(send(&mut s, wrong_customer), "other"), 3000);
    let wrong_offer = billing_cycle_body(&c, &sid, "MS-AZR-0145P", 2);
    assert!(
        send(&mut s, wrong_offer)
            .expect_err("offer")
            .description
            .contains("OfferId")
    );
    let wrong_quantity = billing_cycle_body(&c, &sid, LEGACY, 3);
    assert!(
        send(&mut s, wrong_quantity)
            .expect_err("quantity")
            .description
            .contains("Quantity")
    );
    let unknown = billing_cycle_body(&c, "not-in-order", LEGACY, 2);
    assert_eq!(send(&mut s, unknown).expect_err("unknown").status, 404);
    assert_eq!(
        s.get_subscription(&c, &sid, NOW + 10).expect("sub")["quantity"],
        2
    );
}

#[test]
fn new_commerce_billing_cycles_are_not_changed_through_the_order() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let o = order(&mut s, &c, NCE, 2, None).expect("bought");
    let (oid, sid) = (o["id"].as_str().expect("id").to_owned(), sub_id(&o));
    s.settle(NOW + 10);
    let err = s
        .patch_order(
            &c,
            &oid,
            parse_value(billing_cycle_body(&c, &sid, NCE, 2)).expect("input"),
        )
        .expect_err("legacy only");
    assert_eq!((err.status, err.code), (400, 800042));
    assert!(err.description.contains("legacy"), "{}", err.description);
    assert_eq!(
        s.get_subscription(&c, &sid, NOW + 10).expect("sub")["billingCycle"],
        "monthly"
    );
}

/// The request body of create-indirect-reseller-in-sandbox.md.
fn sandbox_reseller_body(prefix: &str, mpn: &str) -> Value {
    json!({
        "mpnId": mpn,
        "tenant": {
            "domainPrefix": prefix, "name": prefix, "displayName": prefix,
            "adminUserName": "admin", "adminFirstName": prefix, "adminLastName": prefix,
            "adminAlternateEmail": format!("{prefix}@test.com"), "country": "US", "culture": "en-us"
        },
        "legalBusinessProfile": {
            "companyName": prefix,
            "address": {"country": "FR", "city": "Issy-les-Moulineaux", "state": "",
                "addressLine1": "39-41 quai du Président Roosevelt", "addressLine2": "", "postalCode": "92130"},
            "primaryContact": {"firstName": "Sandbox", "lastName": "Scenario",
                "email": "Sandbox.Scenario@test.com", "phoneNumber": "1234567890"},
            "culture": "en-US"
        },
        "organizationProfileLanguage": "en"
    })
}

#[test]
fn sandbox_resellers_get_their_tenant_from_the_simulator() {
    let mut s = world();
    let input = |v: Value| parse_value::<SandboxResellerInput>(v).expect("input");
    let body = sandbox_reseller_body("TipIRIntTest705", "6363276");
    assert_eq!(
        refused(
            s.create_sandbox_reseller(input(body.clone()), NOW),
            "production"
        ),
        6004
    );
    s.sandbox = true;
    let mut with_id = body.clone();
    with_id["tenant"]["id"] = json!("11111111-1111-1111-1111-111111111111");
    let answer = s
        .create_sandbox_reseller(input(with_id), NOW)
        .expect("created");
    let tenant = answer["tenant"]["id"].as_str().expect("tenant").to_owned();
    assert_ne!(tenant, "11111111-1111-1111-1111-111111111111");
    assert_eq!(answer["accountId"], tenant.as_str());
    assert_eq!(answer["mpnId"], "6363276");
    assert_eq!(
        answer["tenant"]["adminUserAccount"],
        "admin@tipirinttest705.onmicrosoft.com"
    );
    assert_eq!(answer["partnerRelationship"]["id"], "p-tenant");
    assert_eq!(answer["partnerRelationship"]["name"], "Provider");
    assert_eq!(
        answer["partnerRelationship"]["relationshipType"],
        "is_indirect_reseller_of"
    );
    assert_eq!(answer["partnerRelationship"]["state"], "Active");
    assert_eq!(answer["partnerRelationship"]["mpnId"], "6363276");
    assert_eq!(
        answer["agreementSignature"]["signedByUserTenantId"],
        "p-tenant"
    );
    let reseller = s.reseller_by_tenant(&tenant).expect("related").clone();
    assert_eq!(
        (reseller.mpn_id.as_str(), reseller.name.as_str()),
        ("6363276", "TipIRIntTest705")
    );
    assert!(s.domain_taken("tipirinttest705.onmicrosoft.com"));
    // The same request again: the same answer, nothing new (the API is idempotent).
    assert_eq!(
        s.create_sandbox_reseller(input(body), NOW + 5)
            .expect("again"),
        answer
    );
    assert_eq!(s.resellers.len(), 2);
    // The same MPN id for another reseller is allowed (documented); another MPN id
    // on a taken domain prefix is not.
    // Empty-or-absent `state` and `addressLine2` (as cspctl sends them) are fine.
    let mut second = sandbox_reseller_body("Second", "6363276");
    let address = second["legalBusinessProfile"]["address"]
        .as_object_mut()
        .expect("address");
    address.shift_remove("state");
    address.shift_remove("addressLine2");
    s.create_sandbox_reseller(input(second), NOW)
        .expect("shared MPN");
    let err = s
        .create_sandbox_reseller(input(sandbox_reseller_body("second", "42")), NOW)
        .expect_err("taken prefix");
    assert_eq!((err.status, err.code), (409, 1003));
    // Required properties are named.
    for (pointer, field) in [
        ("/mpnId", "mpnId"),
        ("/tenant/adminUserName", "tenant.adminUserName"),
        ("/tenant/culture", "tenant.culture"),
        (
            "/legalBusinessProfile/companyName",
            "legalBusinessProfile.companyName",
        ),
        (
            "/legalBusinessProfile/primaryContact",
            "legalBusinessProfile.primaryContact",
        ),
        (
            "/legalBusinessProfile/address/city",
            "legalBusinessProfile.address.city",
        ),
        (
            "/organizationProfileLanguage",
            "organizationProfileLanguage",
        ),
    ] {
        let mut body = sandbox_reseller_body("Third", "7");
        *body.pointer_mut(pointer).expect("field") = Value::Null;
        let err = s
            .create_sandbox_reseller(input(body), NOW)
            .expect_err("missing");
        assert_eq!((err.status, err.code), (400, 3000), "{field}");
        assert!(
            err.description.contains(field),
            "{field}: {}",
            err.description
        );
    }
    // The table's misspelling is read too.
    let mut typo = sandbox_reseller_body("Third", "7");
    let email = typo["tenant"]
        .as_object_mut()
        .and_then(|t| t.shift_remove("adminAlternateEmail"))
        .expect("email");
    typo["tenant"]["AdminAlernateEmail"] = email;
    s.create_sandbox_reseller(input(typo), NOW)
        .expect("table spelling");
    s.create_sandbox_reseller(input(sandbox_reseller_body("Fourth", "8")), NOW)
        .expect("fifth");
    let err = s
        .create_sandbox_reseller(input(sandbox_reseller_body("Sixth", "9")), NOW)
        .expect_err("limit");
    assert_eq!((err.status, err.code), (400, 800018));
    assert!(
        err.description.contains("limit of 5"),
        "{}",
        err.description
    );
    // The quota is a setting: lifted, the sixth one is created.
    s.sandbox_reseller_limit = None;
    s.create_sandbox_reseller(input(sandbox_reseller_body("Sixth", "9")), NOW)
        .expect("no quota");
}

#[test]
fn split_and_pending_checkouts_answer_in_their_shapes() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let input: CartInput = parse_value(json!({"lineItems": [
        {"id": 0, "catalogItemId": NCE, "quantity": 1, "billingCycle": "monthly", "termDuration": "P1Y"},
        {"id": 1, "catalogItemId": LEGACY, "quantity": 2, "billingCycle": "monthly", "termDuration": "P1Y"},
        {"id": 2, "catalogItemId": NCE, "quantity": 3, "billingCycle": "annual", "termDuration": "P1Y"}]}))
    .expect("input");
    let cart = s.create_cart(&c, input, NOW).expect("cart");
    let id = cart["id"].as_str().expect("id").to_owned();
    let shape = CheckoutShape {
        split: true,
        pending: true,
    };
    let result = s.checkout(&c, &id, NOW, 0, shape).expect("checkout");
    let orders = result["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 3);
    // Reverse line order: quantities 3, 2, 1; one line each, numbered 0.
    let quantities: Vec<i64> = orders
        .iter()
        .map(|o| o["lineItems"][0]["quantity"].as_i64().expect("quantity"))
        .collect();
    assert_eq!(quantities, [3, 2, 1]);
    for o in orders {
        assert_eq!(o["status"], "pending");
        let lines = o["lineItems"].as_array().expect("lines");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["lineItemNumber"], 0);
        assert!(lines[0].get("offerId").is_some());
        assert!(lines[0].get("subscriptionId").is_none(), "{o}");
    }
    assert_eq!(orders[1]["lineItems"][0]["offerId"], LEGACY);
    // The stored orders hold the subscriptions; a second checkout answers the same.
    assert_eq!(s.orders.len(), 3);
    assert!(
        s.orders
            .iter()
            .all(|o| !o.line_items[0].subscription_id.is_empty())
    );
    assert_eq!(
        s.checkout(&c, &id, NOW + 5, 0, CheckoutShape::default())
            .expect("again"),
        result
    );
    // A GET of an order still provisioning hides the ids in this shape only.
    let mut pending = json!({"status": "pending", "lineItems": [{"lineItemNumber": 0, "offerId": NCE, "subscriptionId": "x"}]});
    State::hide_pending_subscriptions(&mut pending, false);
    assert!(pending["lineItems"][0].get("subscriptionId").is_none());
    let mut completed = json!({"status": "completed", "lineItems": [{"lineItemNumber": 0, "offerId": NCE, "subscriptionId": "x"}]});
    State::hide_pending_subscriptions(&mut completed, false);
    assert_eq!(completed["lineItems"][0]["subscriptionId"], "x");
}

#[test]
fn accepted_patches_apply_after_the_delay_and_block_other_changes() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let o = order(&mut s, &c, NCE, 5, None).expect("bought");
    let sid = sub_id(&o);
    s.settle(NOW + 10);
    let input = |v: Value| parse_value::<SubscriptionInput>(v).expect("input");
    let location = s
        .patch_subscription_accepted(&c, &sid, input(json!({"Quantity": 7})), NOW + 10, 60)
        .expect("accepted");
    assert_eq!(location, format!("/customers/{c}/subscriptions/{sid}"));
    assert_eq!(
        s.get_subscription(&c, &sid, NOW + 11).expect("sub")["quantity"],
        5
    );
    let busy = patch(&mut s, &c, &sid, json!({"quantity": 8}), NOW + 11).expect_err("busy");
    assert_eq!((busy.status, busy.code), (409, 800060));
    let oid = o["id"].as_str().expect("id");
    let busy = s
        .patch_order(
            &c,
            oid,
            parse_value(billing_cycle_body(&c, &sid, NCE, 5)).expect("input"),
        )
        .expect_err("busy");
    assert_eq!(busy.code, 800060);
    s.settle(NOW + 69);
    assert_eq!(
        s.get_subscription(&c, &sid, NOW + 69).expect("sub")["quantity"],
        5
    );
    s.settle(NOW + 70);
    assert_eq!(
        s.get_subscription(&c, &sid, NOW + 70).expect("sub")["quantity"],
        7
    );
    assert!(s.subscriptions.iter().all(|x| x.pending_change.is_none()));
    assert_eq!(
        patch(&mut s, &c, &sid, json!({"quantity": 8}), NOW + 70).expect("free")["quantity"],
        8
    );
    // Validation happens at once: a refused change is refused, not accepted.
    let err = s
        .patch_subscription_accepted(&c, &sid, input(json!({"quantity": 0})), NOW + 70, 60)
        .expect_err("invalid");
    assert_eq!(err.code, 2002);
    assert!(s.subscriptions.iter().all(|x| x.pending_change.is_none()));
}

#[test]
fn the_documented_subscription_has_the_documented_keys_only() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let sid = sub_id(&order(&mut s, &c, NCE, 5, Some("2000001")).expect("bought"));
    let full = s.get_subscription(&c, &sid, NOW).expect("sub");
    assert!(full.get("billingCycle").is_some() && full.get("termDuration").is_some());
    let documented = s.documented_subscription(full);
    let keys: Vec<&str> = documented
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    // The keys of the page's own example, from its fixture, in its order.
    let page = include_str!("../../../tests/contract/docs/get-a-subscription-by-id-standard.http");
    let body = &page[page.rfind("\n{").expect("the example's body")..];
    let example: Value = serde_json::from_str(body).expect("the example is JSON");
    let expected: Vec<&str> = example
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, expected);
    assert_eq!(documented["billingType"], "license");
    assert_eq!(
        documented["links"]["self"]["uri"],
        format!("/customers/{c}/subscriptions/{sid}")
    );
    // What the state holds is unchanged.
    assert_eq!(s.subscriptions[0].partner_id, "2000001");
    assert_eq!(s.documented_subscription(json!("x")), json!("x"));
}

// ---- index -----------------------------------------------------------------------

/// A state as a restarted simulator gets it: through its state file's bytes.
fn reloaded(s: &State) -> State {
    let bytes = serde_json::to_vec(s).expect("serialized");
    let eager = State::from_json_slice(&bytes).expect("loaded");
    // Deserialized without the constructor, the index is built on first use.
    let lazy: State = serde_json::from_slice(&bytes).expect("loaded");
    assert_eq!(eager, lazy);
    assert_eq!(&eager, s, "the index is not part of a state's value");
    lazy
}

/// One legacy subscription bought through a cart; `(cart id, order id, subscription id)`.
fn bought_through_cart(s: &mut State, c: &str, delay: i64) -> (String, String, String) {
    let input: CartInput = parse_value(json!({"lineItems": [{"id": 0, "catalogItemId": LEGACY, "quantity": 2, "billingCycle": "monthly", "termDuration": "P1Y"}]})).expect("input");
    let cart = s.create_cart(c, input, NOW).expect("cart");
    let cart_id = cart["id"].as_str().expect("id").to_owned();
    let result = s
        .checkout(c, &cart_id, NOW, delay, CheckoutShape::default())
        .expect("checkout");
    let order_id = result["orders"][0]["id"]
        .as_str()
        .expect("order")
        .to_owned();
    let order = s.get_order(c, &order_id).expect("order");
    (cart_id, order_id, sub_id(&order))
}

#[test]
fn lookups_take_ids_in_any_case_after_a_reload() {
    let mut s = world();
    s.add_tenant(Some("t-only".into()), "t.onmicrosoft.com", "T")
        .expect("tenant");
    let c = customer(&mut s);
    let (cart, order, sub) = bought_through_cart(&mut s, &c, 0);
    for state in [s.clone(), reloaded(&s)] {
        let upper = |id: &str| id.to_ascii_uppercase();
        assert_eq!(
            state.get_customer(&upper(&c), NOW, 0).expect("customer")["id"],
            c.as_str()
        );
        assert_eq!(
            state.get_cart(&upper(&c), &upper(&cart)).expect("cart")["id"],
            cart.as_str()
        );
        assert_eq!(
            state.get_order(&c, &upper(&order)).expect("order")["id"],
            order.as_str()
        );
        assert_eq!(
            state
                .get_subscription(&c, &upper(&sub), NOW)
                .expect("subscription")["id"],
            sub.as_str()
        );
        assert!(state.domain_taken("CONTOSO.onmicrosoft.com"));
        assert!(state.domain_taken("T.ONMICROSOFT.COM"));
        assert!(!state.domain_taken("other.onmicrosoft.com"));
        assert_eq!(refused(state.customer_index("T-ONLY"), "403"), 20002);
        assert_eq!(
            state
                .reseller_by_tenant("R1-TENANT")
                .map(|r| r.mpn_id.as_str()),
            Some("2000001")
        );
        assert_eq!(
            state
                .list_subscriptions(&upper(&c), None, None, NOW)
                .expect("list")
                .len(),
            1
        );
        assert_eq!(state.list_orders(&c, NOW, 0).expect("orders").len(), 1);
    }
}

#[test]
fn removals_keep_every_other_lookup_working() {
    let mut s = world();
    s.sandbox = true;
    s.add_tenant(Some("t1".into()), "t1.onmicrosoft.com", "T1")
        .expect("tenant");
    s.add_tenant(Some("t2".into()), "t2.onmicrosoft.com", "T2")
        .expect("tenant");
    let first = customer(&mut s);
    bought_through_cart(&mut s, &first, 0);
    let second = s
        .create_customer(customer_input("fabrikam.onmicrosoft.com", "US"), NOW)
        .expect("created")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (cart, order, sub) = bought_through_cart(&mut s, &second, 0);
    // The first customer goes, with its cart, order and subscription: positions shift.
    s.delete_customer(&first).expect("deleted");
    assert!(!s.domain_taken("contoso.onmicrosoft.com"));
    assert_eq!(refused(s.get_customer(&first, NOW, 0), "gone"), 1000);
    s.get_cart(&second, &cart).expect("cart");
    s.get_order(&second, &order).expect("order");
    s.get_subscription(&second, &sub, NOW)
        .expect("subscription");
    let listed = s
        .list_subscriptions(&second, None, None, NOW)
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], sub.as_str());
    // A tenant becoming a customer leaves the tenant list: the other is still a tenant.
    s.accept_relationship("T1.onmicrosoft.com", None, NOW)
        .expect("accepted");
    s.get_customer("t1", NOW, 0).expect("a customer now");
    assert_eq!(refused(s.customer_index("t2"), "403"), 20002);
    assert!(s.domain_taken("t2.onmicrosoft.com"));
    // And the new customer can buy.
    bought_through_cart(&mut s, "T1", 0);
    assert_eq!(
        s.list_subscriptions("t1", None, None, NOW)
            .expect("list")
            .len(),
        1
    );
    assert_eq!(reloaded(&s), s);
}

#[test]
fn settle_completes_only_the_orders_that_are_due() {
    let mut s = world();
    let c = customer(&mut s);
    let bought: Vec<(String, String)> = [30, 10, 20]
        .into_iter()
        .map(|delay| {
            let (_, order, sub) = bought_through_cart(&mut s, &c, delay);
            (order, sub)
        })
        .collect();
    let statuses = |s: &State| -> Vec<String> {
        bought
            .iter()
            .map(|(order, _)| {
                s.get_order(&c, order).expect("order")["status"]
                    .as_str()
                    .expect("status")
                    .to_owned()
            })
            .collect()
    };
    s.settle(NOW + 9);
    assert_eq!(statuses(&s), ["pending", "pending", "pending"]);
    s.settle(NOW + 15);
    assert_eq!(statuses(&s), ["pending", "completed", "pending"]);
    // A restarted simulator knows what is still to provision.
    let mut s = reloaded(&s);
    s.settle(NOW + 20);
    assert_eq!(statuses(&s), ["pending", "completed", "completed"]);
    let sub_status = |s: &State, i: usize| {
        s.get_subscription(&c, &bought[i].1, NOW).expect("sub")["status"].clone()
    };
    assert_eq!(sub_status(&s, 0), "pending");
    assert_eq!(sub_status(&s, 2), "active");
    // Settling again changes nothing (the version is not bumped twice).
    let before = s.clone();
    s.settle(NOW + 25);
    assert_eq!(s, before);
    s.settle(NOW + 30);
    assert_eq!(statuses(&s), ["completed", "completed", "completed"]);
}

#[test]
fn accepted_changes_survive_a_reload_and_apply_when_due() {
    let mut s = world();
    let c = customer(&mut s);
    let (_, _, sid) = bought_through_cart(&mut s, &c, 0);
    let input = parse_value::<SubscriptionInput>(json!({"quantity": 7})).expect("input");
    s.patch_subscription_accepted(&c, &sid, input, NOW, 60)
        .expect("accepted");
    let mut s = reloaded(&s);
    s.settle(NOW + 59);
    assert_eq!(
        s.get_subscription(&c, &sid, NOW).expect("sub")["quantity"],
        2
    );
    s.settle(NOW + 60);
    assert_eq!(
        s.get_subscription(&c, &sid, NOW).expect("sub")["quantity"],
        7
    );
}

#[test]
fn a_checkout_answers_the_same_although_only_its_orders_are_kept() {
    let mut s = world();
    let c = customer(&mut s);
    let input: CartInput = parse_value(json!({"lineItems": [
        {"id": 0, "catalogItemId": LEGACY, "quantity": 1, "billingCycle": "monthly", "termDuration": "P1Y"},
        {"id": 1, "catalogItemId": LEGACY, "quantity": 2, "billingCycle": "annual", "termDuration": "P1Y"},
        {"id": 2, "catalogItemId": LEGACY, "quantity": 3, "billingCycle": "triennial", "termDuration": "P1M"}]}))
    .expect("input");
    let cart = s.create_cart(&c, input, NOW).expect("cart")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let first = s
        .checkout(&c, &cart, NOW, 10, CheckoutShape::default())
        .expect("checkout");
    assert_eq!(first["orders"].as_array().expect("orders").len(), 2);
    assert_eq!(first["orderErrors"][0]["orderGroupId"], "2");
    // The cart keeps the order ids, not the answer.
    let file = serde_json::to_value(&s).expect("json");
    let kept = &file["carts"][0]["checkout"];
    assert_eq!(kept["orderIds"].as_array().expect("ids").len(), 2);
    assert!(kept.get("orders").is_none());
    // Provisioned since, and reloaded: the answer still shows what was answered.
    s.settle(NOW + 10);
    let mut s = reloaded(&s);
    let again = s
        .checkout(&c, &cart, NOW + 20, 0, CheckoutShape::default())
        .expect("again");
    assert_eq!(again.to_string(), first.to_string());
    // The legacy order's billing cycle changes: the cart keeps the answer it gave.
    let order = first["orders"][0]["id"].as_str().expect("id").to_owned();
    let sid = first["orders"][0]["lineItems"][0]["subscriptionId"]
        .as_str()
        .expect("sub")
        .to_owned();
    s.patch_order(
        &c,
        &order,
        parse_value(billing_cycle_body(&c, &sid, LEGACY, 1)).expect("input"),
    )
    .expect("changed");
    assert_eq!(
        s.get_order(&c, &order).expect("order")["billingCycle"],
        "annual"
    );
    let after = s
        .checkout(&c, &cart, NOW + 30, 0, CheckoutShape::default())
        .expect("after");
    assert_eq!(after.to_string(), first.to_string());
    assert_eq!(reloaded(&s), s);
}

#[test]
fn carts_of_older_files_keep_their_whole_answer() {
    let mut s = world();
    let c = customer(&mut s);
    let (cart, _, _) = bought_through_cart(&mut s, &c, 0);
    let mut file = serde_json::to_value(&s).expect("json");
    let answer = json!({"orders": [{"id": "as-it-was"}], "orderErrors": [], "attributes": {"objectType": "CartCheckoutResult"}});
    file["carts"][0]["checkout"] = answer.clone();
    let mut old: State = serde_json::from_value(file).expect("an older file loads");
    assert_eq!(
        old.carts[0].checkout,
        Some(CheckoutRecord::Answer(answer.clone()))
    );
    assert_eq!(
        old.checkout(&c, &cart, NOW, 0, CheckoutShape::default())
            .expect("again"),
        answer
    );
    assert_eq!(
        serde_json::to_value(&old).expect("json")["carts"][0]["checkout"],
        answer
    );
}

#[test]
fn cached_answers_are_found_after_a_reload_until_they_expire() {
    let mut s = world();
    let replay = |id: &str, at: i64| Replay {
        request_id: id.into(),
        method: "POST".into(),
        path: "/v1/customers".into(),
        status: 201,
        body: Some(CachedBody::of(&json!({"id": id}))),
        headers: Vec::new(),
        bom: false,
        pascal_case: false,
        at,
    };
    s.remember(replay("a", NOW), None);
    s.remember(replay("b", NOW + 100), None);
    let mut s = reloaded(&s);
    let found = |s: &mut State, id: &str, now: i64| {
        s.replay(id, "POST", "/v1/customers", now)
            .and_then(|r| r.body.as_ref().map(CachedBody::value))
    };
    assert_eq!(found(&mut s, "b", NOW + 10), Some(json!({"id": "b"})));
    assert_eq!(found(&mut s, "B", NOW + 10), None, "request ids are exact");
    assert_eq!(found(&mut s, "a", NOW + IDEMPOTENCY_SECONDS), None);
    assert_eq!(s.idempotency.len(), 1);
    assert_eq!(
        found(&mut s, "b", NOW + IDEMPOTENCY_SECONDS),
        Some(json!({"id": "b"}))
    );
    s.remember(replay("c", NOW + IDEMPOTENCY_SECONDS), None);
    assert_eq!(
        found(&mut s, "c", NOW + IDEMPOTENCY_SECONDS + 1),
        Some(json!({"id": "c"}))
    );
}

#[test]
fn keys_that_share_a_hash_bucket_are_told_apart() {
    // A lookup that lands on another item (a duplicate id under another customer, as
    // a seed can make) falls back to the first item that really matches.
    let mut s = world();
    let seed: Seed = serde_json::from_value(json!({"customers": [
        {"domain": "a.onmicrosoft.com", "companyName": "A", "subscriptions": [{"id": "same", "offerId": LEGACY, "quantity": 1, "termDuration": "P1Y", "billingCycle": "monthly"}]},
        {"domain": "b.onmicrosoft.com", "companyName": "B", "subscriptions": [{"id": "SAME", "offerId": LEGACY, "quantity": 2, "termDuration": "P1Y", "billingCycle": "monthly"}]}]}))
    .expect("seed");
    s.apply_seed(seed, NOW).expect("applied");
    let b = s.customers[1].id.clone();
    assert_eq!(
        s.get_subscription(&b, "same", NOW).expect("sub")["quantity"],
        2
    );
    let a = s.customers[0].id.clone();
    assert_eq!(
        s.get_subscription(&a, "Same", NOW).expect("sub")["quantity"],
        1
    );
}

/// A measurement, not a check (run by hand, see `bench/sim-state-scale.sh`): builds a
/// tenant of `SIM_SCALE_CUSTOMERS` customers (20,000 by default) with five legacy
/// subscriptions each, every one bought through its own cart, the way an apply does
/// it through the public operations (with the idempotency cache the HTTP layer keeps
/// for every mutating request), then prints the time taken and what the state file
/// weighs, field by field.
#[test]
#[ignore = "measurement; run with --ignored --nocapture"]
fn scale_measurement() {
    use std::time::Instant;
    let customers: usize = std::env::var("SIM_SCALE_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    const PER_CUSTOMER: usize = 5;
    let support = || -> SupportContactInput {
        parse_value(json!({"supportTenantId": "r1-tenant", "supportMpnId": "2000001", "name": "Reseller One"}))
            .expect("input")
    };
    let cart_input = |n: usize| -> CartInput {
        parse_value(json!({"lineItems": [{"id": 0, "catalogItemId": LEGACY, "quantity": 1 + n as i64, "billingCycle": "monthly", "termDuration": "P1Y", "friendlyName": format!("seat {n}")}]}))
            .expect("input")
    };
    let mut s = world();
    let mut calls = 0_usize;
    let mut request = 0_u64;
    // What the HTTP layer does around a mutating request with an `MS-RequestId`.
    let mut remembered = |s: &mut State, method: &str, path: String, now: i64, body: &Value| {
        request += 1;
        let id = format!("req-{request}");
        assert!(s.replay(&id, method, &path, now).is_none());
        s.remember(
            Replay {
                request_id: id,
                method: method.to_owned(),
                path: path.to_ascii_lowercase(),
                status: 201,
                body: Some(CachedBody::of(body)),
                headers: Vec::new(),
                bom: false,
                pascal_case: false,
                at: now,
            },
            None,
        );
    };
    let started = Instant::now();
    let mut now = NOW;
    for n in 0..customers {
        s.settle(now);
        let mut input = customer_input(&format!("c{n}.onmicrosoft.com"), "US");
        input.billing_profile.company_name = Some(format!("Customer {n}"));
        let body = s.create_customer(input, now).expect("customer");
        let c = body["id"].as_str().expect("id").to_owned();
        remembered(&mut s, "POST", "/v1/customers".to_owned(), now, &body);
        let mut subscriptions = Vec::new();
        for k in 0..PER_CUSTOMER {
            s.settle(now);
            let cart = s.create_cart(&c, cart_input(k), now).expect("cart");
            let cart_id = cart["id"].as_str().expect("id").to_owned();
            remembered(
                &mut s,
                "POST",
                format!("/v1/customers/{c}/carts"),
                now,
                &cart,
            );
            s.settle(now);
            let result = s
                .checkout(&c, &cart_id, now, 2, CheckoutShape::default())
                .expect("checkout");
            let path = format!("/v1/customers/{c}/carts/{cart_id}/checkout");
            remembered(&mut s, "POST", path, now, &result);
            let order_id = result["orders"][0]["id"]
                .as_str()
                .expect("order")
                .to_owned();
            s.settle(now);
            let order = s.get_order(&c, &order_id).expect("order");
            subscriptions.push(sub_id(&order));
            calls += 3;
        }
        // Provisioning (2 s) is over when the next customer's turn comes.
        now += 3;
        for sid in &subscriptions {
            s.settle(now);
            let contact = s.put_support_contact(&c, sid, support()).expect("contact");
            let path = format!("/v1/customers/{c}/subscriptions/{sid}/supportcontact");
            remembered(&mut s, "PUT", path, now, &contact);
            s.settle(now);
            let patched = patch(&mut s, &c, sid, json!({"quantity": 9}), now).expect("patch");
            let path = format!("/v1/customers/{c}/subscriptions/{sid}");
            remembered(&mut s, "PATCH", path, now, &patched);
            calls += 2;
        }
        s.settle(now);
        let listed = s.list_subscriptions(&c, None, None, now).expect("list");
        assert_eq!(listed.len(), PER_CUSTOMER);
        calls += 2;
    }
    let built = started.elapsed();
    let built_peak = peak_memory();
    let started = Instant::now();
    let file = serde_json::to_vec(&s).expect("serialized");
    let serialized = started.elapsed();
    let started = Instant::now();
    let loaded = State::from_json_slice(&file).expect("loaded");
    let loaded_in = started.elapsed();
    assert_eq!(loaded, s);
    let size = |v: &dyn erased::Json| v.bytes();
    let checkouts: usize = s
        .carts
        .iter()
        .filter_map(|c| c.checkout.as_ref())
        .map(|c| size(c))
        .sum();
    let replay_bodies: usize = s
        .idempotency
        .iter()
        .filter_map(|r| r.body.as_ref())
        .map(|b| size(b))
        .sum();
    println!(
        "{customers} customers, {} subscriptions, {} orders, {} carts, {} cached answers",
        s.subscriptions.len(),
        s.orders.len(),
        s.carts.len(),
        s.idempotency.len()
    );
    println!("{calls} operations in {built:.2?} ({request} remembered answers)");
    println!(
        "state file {} bytes: serialized in {serialized:.2?}, loaded in {loaded_in:.2?}",
        file.len()
    );
    for (name, bytes) in [
        ("customers", size(&s.customers)),
        ("carts", size(&s.carts)),
        ("  of which checkout answers", checkouts),
        ("orders", size(&s.orders)),
        ("subscriptions", size(&s.subscriptions)),
        ("idempotency", size(&s.idempotency)),
        ("  of which answer bodies", replay_bodies),
    ] {
        println!("  {name:30} {bytes:>12} bytes");
    }
    println!(
        "peak resident memory (VmHWM): {built_peak} once built, {} with the file and its reload",
        peak_memory()
    );
}

/// The process's peak resident memory, where Linux tells it.
fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "n/a".to_owned())
}

/// Serialized size of anything serializable, behind one object-safe trait so the
/// measurement can list fields of different types side by side.
mod erased {
    pub trait Json {
        fn bytes(&self) -> usize;
    }

    impl<T: serde::Serialize> Json for T {
        fn bytes(&self) -> usize {
            serde_json::to_vec(self).map_or(0, |v| v.len())
        }
    }
}

#[test]
fn a_limit_keeps_the_newest_cached_answers_only() {
    let mut s = world();
    let replay = |n: usize| Replay {
        request_id: format!("r{n}"),
        method: "POST".into(),
        path: "/v1/customers".into(),
        status: 201,
        body: Some(CachedBody::of(&json!({"n": n}))),
        headers: Vec::new(),
        bom: false,
        pascal_case: false,
        at: NOW,
    };
    for n in 0..100 {
        s.remember(replay(n), Some(16));
        assert!(
            s.idempotency.len() <= 20,
            "bounded: {}",
            s.idempotency.len()
        );
    }
    let newest = s
        .replay("r99", "POST", "/v1/customers", NOW)
        .and_then(|r| r.body.as_ref().map(CachedBody::value));
    assert_eq!(newest, Some(json!({"n": 99})));
    assert!(s.replay("r0", "POST", "/v1/customers", NOW).is_none());
    // The 16 newest at least are always there.
    for n in 84..100 {
        assert!(
            s.replay(&format!("r{n}"), "POST", "/v1/customers", NOW)
                .is_some()
        );
    }
}

/// The error code `result` was refused with (it must be refused, for `why`).
fn refused<T: std::fmt::Debug>(result: ApiResult<T>, why: &str) -> u32 {
    result.expect_err(why).code
}

/// Issue 13 (rules in two places): a reseller of record or a designated support
/// contact must be one of the customer's resellers, not only one of the provider's.
#[test]
fn partner_of_record_and_support_contact_need_the_customers_relationship() {
    let mut s = world();
    s.add_reseller(Reseller::new("r2-tenant", "2000002", "Reseller Two", "US"))
        .expect("reseller");
    let c = customer(&mut s);
    attest(&mut s, &c);
    let err = order(&mut s, &c, LEGACY, 1, Some("2000002")).expect_err("not the customer's");
    assert_eq!((err.status, err.code), (400, 800016));
    assert!(
        err.description
            .contains("no relationship with the customer"),
        "{}",
        err.description
    );
    assert!(s.orders.is_empty(), "nothing bought");

    let line = |mpn: &str| {
        parse_value::<CartInput>(json!({"lineItems": [{"id": 0, "catalogItemId": NCE, "quantity": 1, "billingCycle": "monthly", "termDuration": "P1Y", "participants": [{"key": "transaction_reseller", "value": mpn}]}]}))
            .expect("input")
    };
    let cart = s.create_cart(&c, line("2000002"), NOW).expect("cart");
    assert_eq!(cart["lineItems"][0]["error"]["errorCode"], 10004);

    let sid = sub_id(&order(&mut s, &c, LEGACY, 1, Some("2000001")).expect("bought"));
    s.settle(NOW + 10);
    assert_eq!(
        refused(
            patch(&mut s, &c, &sid, json!({"partnerId": "2000002"}), NOW + 10),
            "partner change"
        ),
        800016
    );
    let contact = || {
        parse_value::<SupportContactInput>(
            json!({"supportTenantId": "r2-tenant", "supportMpnId": "2000002"}),
        )
        .expect("input")
    };
    assert_eq!(
        refused(s.put_support_contact(&c, &sid, contact()), "contact"),
        800016
    );

    // Once the customer accepts the reseller, the same requests pass.
    s.accept_relationship(&c, Some("r2-tenant"), NOW + 10)
        .expect("accepted");
    order(&mut s, &c, LEGACY, 1, Some("2000002")).expect("bought");
    let cart = s.create_cart(&c, line("2000002"), NOW + 10).expect("cart");
    assert!(cart["lineItems"][0].get("error").is_none(), "{cart}");
    patch(&mut s, &c, &sid, json!({"partnerId": "2000002"}), NOW + 10).expect("changed");
    assert_eq!(
        s.put_support_contact(&c, &sid, contact()).expect("set")["supportMpnId"],
        "2000002"
    );
}

/// Issue 13: the phone rule of creation (600051) holds for a billing profile update.
#[test]
fn a_billing_profile_update_keeps_the_phone_rule() {
    let mut s = world();
    let c = customer(&mut s);
    let etag = |s: &State| {
        s.get_billing(&c).expect("profile")["attributes"]["etag"]
            .as_str()
            .expect("etag")
            .to_owned()
    };
    let address = |country: &str, phone: Option<&str>| {
        BillingProfile {
        default_address: Some(
            parse_value(json!({"firstName": "A", "lastName": "B", "addressLine1": "1 Way", "city": "X", "postalCode": "1", "country": country, "phoneNumber": phone}))
                .expect("address"),
        ),
        ..BillingProfile::default()
    }
    };
    let before = etag(&s);
    let err = s
        .put_billing(&c, Some(&before), address("in", None))
        .expect_err("no phone");
    assert_eq!((err.status, err.code), (400, 600051));
    assert!(err.description.contains("phone"), "{}", err.description);
    assert_eq!(etag(&s), before, "a refused update changes nothing");
    let updated = s
        .put_billing(&c, Some(&before), address("IN", Some("+91 22 5550 0100")))
        .expect("with a phone");
    assert_eq!(updated["defaultAddress"]["country"], "IN");
    // Leaving the address out keeps the stored one, phone included.
    let email_only = BillingProfile {
        email: Some("new@b.c".into()),
        ..BillingProfile::default()
    };
    let now = etag(&s);
    s.put_billing(&c, Some(&now), email_only)
        .expect("phone kept");
    // Countries without the rule need no phone.
    let now = etag(&s);
    s.put_billing(&c, Some(&now), address("US", None))
        .expect("US needs none");
}

/// Issue 13: a legacy order or its billing-cycle change asking for a billing cycle
/// the term does not offer answers error-codes.md's 6001, not the generic 3000.
#[test]
fn legacy_orders_refuse_a_cycle_the_term_does_not_offer_with_6001() {
    let mut s = world();
    let c = customer(&mut s);
    let input: OrderInput = parse_value(json!({"billingCycle": "annual", "lineItems": [{"lineItemNumber": 0, "offerId": LEGACY, "termDuration": "P1M", "quantity": 1}]})).expect("input");
    let err = s
        .create_order(&c, input, NOW, 0)
        .expect_err("P1M bills monthly");
    assert_eq!((err.status, err.code), (400, CYCLE_NOT_OFFERED_CODE));
    assert!(s.orders.is_empty(), "nothing bought");

    let input: OrderInput = parse_value(json!({"billingCycle": "monthly", "lineItems": [{"lineItemNumber": 0, "offerId": LEGACY, "termDuration": "P1M", "quantity": 2}]})).expect("input");
    let o = s.create_order(&c, input, NOW, 0).expect("bought");
    let (oid, sid) = (o["id"].as_str().expect("id").to_owned(), sub_id(&o));
    s.settle(NOW);
    let err = s
        .patch_order(
            &c,
            &oid,
            parse_value(billing_cycle_body(&c, &sid, LEGACY, 2)).expect("input"),
        )
        .expect_err("P1M cannot bill annually");
    assert_eq!((err.status, err.code), (400, 6001));
    assert!(
        err.description.starts_with(
            "The billing cycle could not be changed because one of the order's Offer IDs does not support the billing term"
        ),
        "{}",
        err.description
    );
    assert_eq!(
        s.get_subscription(&c, &sid, NOW).expect("sub")["billingCycle"],
        "monthly"
    );
}

// ---- terms, renewals and scheduled next-term instructions ----

const DAY: i64 = 86_400;

fn instructions(quantity: i64, term: &str, cycle: &str) -> Value {
    json!({"scheduledNextTermInstructions": {
        "product": {"productId": "CFQ7TTC0LH18", "skuId": "0001", "availabilityId": "CFQ7TTC0K59S",
                    "billingCycle": cycle, "termDuration": term},
        "quantity": quantity}})
}

#[test]
fn a_term_renews_at_midnight_after_its_last_day_applying_the_scheduled_instructions() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let sid = sub_id(&order(&mut s, &c, NCE, 5, None).expect("bought"));
    s.settle(NOW + 10);
    let read = s.get_subscription(&c, &sid, NOW + 10).expect("read");
    assert_eq!(read["commitmentEndDate"], "2026-12-31T00:00:00Z");
    assert_eq!(read["cancellationAllowedUntilDate"], "2026-01-08T00:00:00Z");
    assert_eq!(read["scheduledNextTermInstructions"], Value::Null);
    // Outside the window a decrease is refused, and can be scheduled instead.
    let later = NOW + 30 * DAY;
    let refused = patch(&mut s, &c, &sid, json!({"quantity": 3}), later).unwrap_err();
    assert_eq!(refused.code, 800090);
    let read = patch(&mut s, &c, &sid, instructions(3, "P3Y", "annual"), later).expect("scheduled");
    assert_eq!(read["scheduledNextTermInstructions"]["quantity"], 3);
    assert_eq!(read["quantity"], 5, "nothing changes before the renewal");
    // Writing the same again changes nothing (same version).
    let version = s.subscriptions[0].version;
    patch(&mut s, &c, &sid, instructions(3, "P3Y", "annual"), later).expect("again");
    assert_eq!(s.subscriptions[0].version, version);
    // The renewal: 2027-01-01T00:00:00Z, not a second earlier.
    let renewal = parse_rfc3339("2027-01-01T00:00:00Z").unwrap();
    s.settle(renewal - 1);
    assert_eq!(s.subscriptions[0].quantity, 5);
    s.settle(renewal);
    let read = s.get_subscription(&c, &sid, renewal).expect("read");
    assert_eq!(
        (
            &read["quantity"],
            &read["termDuration"],
            &read["billingCycle"]
        ),
        (&json!(3), &json!("P3Y"), &json!("annual"))
    );
    assert_eq!(read["scheduledNextTermInstructions"], Value::Null);
    assert_eq!(read["effectiveStartDate"], "2027-01-01T00:00:00Z");
    assert_eq!(read["commitmentEndDate"], "2029-12-31T00:00:00Z");
    // The renewal opens a new 168-hour window: seats can be removed again.
    assert_eq!(read["cancellationAllowedUntilDate"], "2027-01-08T00:00:00Z");
    patch(&mut s, &c, &sid, json!({"quantity": 2}), renewal + DAY).expect("inside the new window");
}

#[test]
fn a_mid_term_change_deletes_the_scheduled_instructions_and_auto_renew_is_required() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let sid = sub_id(&order(&mut s, &c, NCE, 5, None).expect("bought"));
    s.settle(NOW + 10);
    let later = NOW + 30 * DAY;
    patch(&mut s, &c, &sid, instructions(3, "P1Y", "monthly"), later).expect("scheduled");
    // The full resource sent back with more seats: the instructions it carries
    // are the ones scheduled, and the immediate change deletes them.
    let mut body = s.get_subscription(&c, &sid, later).expect("read");
    body["quantity"] = json!(6);
    let read = patch(&mut s, &c, &sid, body, later).expect("increased");
    assert_eq!(read["scheduledNextTermInstructions"], Value::Null);
    // Turning auto-renew off refuses scheduling, and deletes what was scheduled.
    patch(&mut s, &c, &sid, instructions(3, "P1Y", "monthly"), later).expect("scheduled");
    let read = patch(&mut s, &c, &sid, json!({"autoRenewEnabled": false}), later).expect("off");
    assert_eq!(read["scheduledNextTermInstructions"], Value::Null);
    let refused = patch(&mut s, &c, &sid, instructions(3, "P1Y", "monthly"), later).unwrap_err();
    assert_eq!(refused.code, 800111);
    // Another SKU has no transition here; a cycle the term does not offer is refused.
    patch(&mut s, &c, &sid, json!({"autoRenewEnabled": true}), later).expect("on");
    let mut other = instructions(3, "P1Y", "monthly");
    other["scheduledNextTermInstructions"]["product"]["skuId"] = json!("0002");
    assert_eq!(
        patch(&mut s, &c, &sid, other, later).unwrap_err().code,
        800113
    );
    let refused = patch(&mut s, &c, &sid, instructions(3, "P1M", "annual"), later).unwrap_err();
    assert_eq!(refused.code, 10010);
    // `null` removes them.
    patch(&mut s, &c, &sid, instructions(3, "P1Y", "monthly"), later).expect("scheduled");
    let read = patch(
        &mut s,
        &c,
        &sid,
        json!({"scheduledNextTermInstructions": null}),
        later,
    )
    .expect("removed");
    assert_eq!(read["scheduledNextTermInstructions"], Value::Null);
}

#[test]
fn without_auto_renew_the_subscription_expires_at_the_end_of_its_term() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let sid = sub_id(&order(&mut s, &c, NCE, 5, None).expect("bought"));
    s.settle(NOW + 10);
    // Outside the window a cancel is refused.
    let refused = patch(
        &mut s,
        &c,
        &sid,
        json!({"status": "deleted"}),
        NOW + 8 * DAY,
    )
    .unwrap_err();
    assert_eq!(refused.code, 800096);
    patch(
        &mut s,
        &c,
        &sid,
        json!({"autoRenewEnabled": false}),
        NOW + 8 * DAY,
    )
    .expect("off");
    let renewal = parse_rfc3339("2027-01-01T00:00:00Z").unwrap();
    s.settle(renewal);
    let read = s.get_subscription(&c, &sid, renewal).expect("read");
    assert_eq!(read["status"], "expired");
    let refused = patch(&mut s, &c, &sid, json!({"quantity": 9}), renewal).unwrap_err();
    assert_eq!(refused.code, 2011);
}

#[test]
fn renewals_survive_a_reload_and_skip_terms_the_clock_jumped_over() {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let sid = sub_id(&order(&mut s, &c, NCE, 5, None).expect("bought"));
    s.settle(NOW + 10);
    // A state read back from its file (the index is rebuilt) renews all the same,
    // once per term the clock passed.
    let mut reloaded: State = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    let three_years = parse_rfc3339("2029-01-01T00:00:00Z").unwrap();
    reloaded.settle(three_years);
    let read = reloaded
        .get_subscription(&c, &sid, three_years)
        .expect("read");
    assert_eq!(read["effectiveStartDate"], "2029-01-01T00:00:00Z");
    assert_eq!(read["status"], "active");
}

/// A state with one attested customer and one Business Basic P1Y subscription
/// bought at `NOW` (2026-01-01) and provisioned.
fn basic_bought() -> (State, String, String) {
    let mut s = world();
    let c = customer(&mut s);
    attest(&mut s, &c);
    let sid = sub_id(&order(&mut s, &c, NCE, 5, None).expect("order"));
    s.settle(NOW + 10);
    (s, c, sid)
}

#[test]
fn allowed_term_ends_are_month_ends_and_the_ends_of_the_customer_subscriptions() {
    let (s, c, sid) = basic_bought();
    let owner = s.customer_index(&c).expect("customer");
    let day = |text: &str| parse_rfc3339(&format!("{text}T00:00:00Z")).expect("date");
    // Its term's last day: 2026-12-31, also a month's last day.
    let mid_march = day("2026-03-15") + 3_600;
    assert_eq!(
        s.allowed_term_ends(owner, Term::P1Y, mid_march, None),
        vec![
            (day("2026-12-31"), "subscriptionAligned", vec![sid.clone()]),
            (day("2027-02-28"), "calendarMonthAligned", Vec::new()),
        ]
    );
    // A month's term from mid-March ends by 2026-04-14: only March's end.
    assert_eq!(
        s.allowed_term_ends(owner, Term::P1M, mid_march, None),
        vec![(day("2026-03-31"), "calendarMonthAligned", Vec::new())]
    );
    // Aligned with the subscription only.
    assert_eq!(
        s.allowed_term_ends(owner, Term::P1Y, mid_march, Some(&sid)),
        vec![(day("2026-12-31"), "subscriptionAligned", vec![sid.clone()])]
    );
}

#[test]
fn a_first_term_cut_to_a_custom_end_renews_the_day_after_then_runs_in_full() {
    let (mut s, c, _) = basic_bought();
    let cart = |date: &str| -> CartInput {
        parse_value(json!({"lineItems": [{"id": 0, "catalogItemId": "CFQ7TTC0LDPB:0001:CFQ7TTC0K5BF", "quantity": 2,
            "billingCycle": "monthly", "termDuration": "P1Y", "friendlyName": "aligned", "customTermEndDate": date}]}))
        .expect("input")
    };
    let later = NOW + 40 * 86_400;
    let refused = s.create_cart(&c, cart("2026-12-30"), later).expect("cart");
    assert_eq!(refused["lineItems"][0]["error"]["errorCode"], 10010);
    let created = s
        .create_cart(&c, cart("2026-12-31T00:00:00"), later)
        .expect("cart");
    assert!(created["lineItems"][0].get("error").is_none(), "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    s.checkout(&c, &id, later, 0, CheckoutShape::default())
        .expect("checkout");
    s.settle(later + 1);
    let sub = s
        .subscriptions
        .iter()
        .find(|x| x.friendly_name == "aligned")
        .expect("bought")
        .clone();
    let last = parse_rfc3339("2026-12-31T00:00:00Z").expect("date");
    assert_eq!(sub.commitment_end(), last);
    assert_eq!(sub.renewal_at(), last + 86_400);
    let mut renewed = sub.clone();
    assert_eq!(
        State::renew(&mut renewed, last + 86_400),
        Some(parse_rfc3339("2028-01-01T00:00:00Z").expect("date"))
    );
}

#[test]
fn scheduled_transitions_follow_the_paths() {
    let (mut s, c, sid) = basic_bought();
    let later = NOW + 30 * 86_400;
    let next = |offer: &str| {
        json!({"scheduledNextTermInstructions": {"product": {"productId": offer.split(':').next(), "skuId": offer.split(':').nth(1),
            "availabilityId": offer.split(':').nth(2), "billingCycle": "monthly", "termDuration": "P1Y"}, "quantity": 5}})
    };
    let off_path = patch(
        &mut s,
        &c,
        &sid,
        next("CFQ7TTC0LF8Q:0001:CFQ7TTC0KCJV"),
        later,
    )
    .expect_err("not a path");
    assert_eq!((off_path.status, off_path.code), (400, 800113));
    let scheduled = patch(
        &mut s,
        &c,
        &sid,
        next("CFQ7TTC0LDPB:0001:CFQ7TTC0K5BF"),
        later,
    )
    .expect("a path");
    assert_eq!(
        scheduled["scheduledNextTermInstructions"]["product"]["productId"],
        "CFQ7TTC0LDPB"
    );
    let listed = s
        .transition_eligibilities(&c, &sid, Some("Scheduled"))
        .expect("listed");
    let ids: Vec<&str> = listed
        .iter()
        .filter_map(|t| t["catalogItemId"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "CFQ7TTC0LDPB:0001:CFQ7TTC0K5BF",
            "CFQ7TTC0LCHC:0002:CFQ7TTC0K0XF"
        ]
    );
}
