//! Unit tests of the pure planning core with in-memory fixtures.

use crate::diagnostic::Diagnostic;
use crate::live::{
    Live, LiveCustomer, LiveReseller, LiveStatus, LiveSubscription, LiveSupportContact,
};
use crate::manifest::load::{SchemaValidators, load_manifests};
use crate::manifest::model::{BillingCycle, TermDuration};
use crate::manifest::source::SourceMap;
use crate::plan::{
    Action, ActionStatus, ActionType, FieldChange, Operation, Plan, PlanOptions, Risk, plan,
};
use crate::validate::{Desired, validate};
use serde_json::json;

const RESELLERS: &str = r#"
apiVersion: cspctl/v1
kind: Reseller
metadata: {name: northwind}
spec: {tenantId: 6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d, mpnId: "4847383", displayName: Northwind}
---
apiVersion: cspctl/v1
kind: Reseller
metadata: {name: litware}
spec: {tenantId: 22222222-3333-4444-8555-666666666666, mpnId: "517285", displayName: Litware}
"#;

fn customer(name: &str, resellers: &str) -> String {
    format!(
        r#"
---
apiVersion: cspctl/v1
kind: Customer
metadata: {{name: {name}}}
spec:
  domain: {name}.onmicrosoft.com
  companyName: {name} Ltd
  resellers: {resellers}
  billing:
    email: a@{name}.example
    culture: en-US
    language: en
    address: {{firstName: A, lastName: B, addressLine1: 1 Way, city: Redmond, postalCode: "98052", country: US}}
  agreement:
    contact: {{firstName: A, lastName: B, email: a@{name}.example}}
    dateAgreed: "2026-01-01"
"#
    )
}

fn subscription(name: &str, customer: &str, offer: &str, quantity: u32, extra: &str) -> String {
    format!(
        r#"
---
apiVersion: cspctl/v1
kind: Subscription
metadata: {{name: {name}}}
spec: {{customer: {customer}, offerId: "{offer}", quantity: {quantity}, termDuration: P1M, billingCycle: monthly{extra}}}
"#
    )
}

const LEGACY: &str = "031c9e47-4802-4248-838e-778fb1d2cc05";
const NCE: &str = "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM";

fn desired(text: &str) -> (SourceMap, Desired) {
    let mut sources = SourceMap::new();
    sources.add("test.yaml".into(), text.to_owned());
    let (manifests, problems) = load_manifests(&sources, &SchemaValidators::new());
    assert!(problems.is_empty(), "{problems:#?}");
    let (desired, _) = validate(manifests).unwrap_or_else(|p| panic!("{p:#?}"));
    (sources, desired)
}

fn options() -> PlanOptions {
    PlanOptions {
        backend: "test".into(),
        sandbox: true,
        simulate_hint: None,
        sandbox_reseller_limit: None,
        declared_reseller_tenants: true,
        now: None,
        renewal_horizon: None,
    }
}

fn run(text: &str, live: &Live) -> Plan {
    let (sources, desired) = desired(text);
    plan(&desired, &sources, live, &options()).unwrap_or_else(|p| panic!("{p:#?}"))
}

fn live_reseller(tenant: &str, mpn: &str, name: &str) -> LiveReseller {
    LiveReseller {
        tenant_id: tenant.into(),
        mpn_id: mpn.into(),
        name: name.into(),
        location: None,
    }
}

/// The live state the manifests of `base()` describe once applied.
fn base_text() -> String {
    format!(
        "{RESELLERS}{}{}",
        customer("contoso", "[northwind]"),
        subscription("contoso-e3", "contoso", LEGACY, 5, ", reseller: northwind")
    )
}

fn base_live() -> Live {
    let (_, d) = desired(&base_text());
    let c = &d.manifests.customers[0].spec;
    let mut live = Live::default();
    for r in [
        (
            "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "4847383",
            "Northwind",
        ),
        ("22222222-3333-4444-8555-666666666666", "517285", "Litware"),
    ] {
        live.resellers
            .insert(r.0.into(), live_reseller(r.0, r.1, r.2));
    }
    live.customers.insert(
        "c1".into(),
        LiveCustomer {
            id: "c1".into(),
            domain: c.domain.clone(),
            company_name: c.company_name.clone(),
            billing: c.billing.clone(),
            organization_registration_number: None,
            associated_partner_id: Some("6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into()),
            reseller_relationships: ["6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".to_owned()].into(),
            agreement: c.agreement.clone().map(|a| crate::live::LiveAgreement {
                contact: a.contact,
                date_agreed: a.date_agreed,
            }),
        },
    );
    live.subscriptions
        .insert("s1".into(), live_subscription("s1", "contoso-e3", 5));
    live
}

fn live_subscription(id: &str, name: &str, quantity: u32) -> LiveSubscription {
    LiveSubscription {
        quantity,
        term_duration: Some(TermDuration::P1M),
        billing_cycle: Some(BillingCycle::Monthly),
        partner_id: Some("4847383".into()),
        ..LiveSubscription::known_only_by(id, "c1", LEGACY, name)
    }
}

#[test]
fn empty_tenant_creates_everything_in_dependency_order() {
    let plan = run(&base_text(), &Live::default());
    let addresses: Vec<&str> = plan.actions.iter().map(|a| a.address.as_str()).collect();
    assert_eq!(
        addresses,
        [
            "Reseller/northwind",
            "Reseller/litware",
            "Customer/contoso",
            "Subscription/contoso-e3"
        ]
    );
    assert!(
        plan.actions
            .iter()
            .all(|a| a.action_type == ActionType::Create && a.status == ActionStatus::Ready)
    );
    assert_eq!(plan.actions[2].depends_on, ["Reseller/northwind"]);
    assert_eq!(plan.actions[3].depends_on, ["Customer/contoso"]);
    assert_eq!(
        plan.actions[3].risks,
        [Risk::Purchase, Risk::CostIncrease, Risk::CustomerVisible]
    );
    assert_eq!(
        plan.summary_line(),
        "Plan: 4 to create, 0 to update, 0 manual, 0 blocked."
    );
}

#[test]
fn matching_live_state_means_no_changes() {
    let plan = run(&base_text(), &base_live());
    assert!(!plan.has_changes(), "{:#?}", plan.actions);
    assert_eq!(
        plan.summary_line(),
        "No changes. The live state matches the manifests."
    );
}

#[test]
fn quantity_increase_is_an_update_with_cost_risk() {
    let text = base_text().replace("quantity: 5", "quantity: 8");
    let plan = run(&text, &base_live());
    assert_eq!(plan.actions.len(), 1);
    let action = &plan.actions[0];
    assert_eq!(
        (action.action_type, action.address.as_str()),
        (ActionType::Update, "Subscription/contoso-e3")
    );
    assert_eq!(action.changes[0].path, "quantity");
    assert_eq!(
        (
            action.changes[0].before.as_u64(),
            action.changes[0].after.as_u64()
        ),
        (Some(5), Some(8))
    );
    assert_eq!(action.risks, [Risk::CostIncrease]);
    match &action.operation {
        Operation::UpdateSubscription {
            patch,
            subscription_id,
            ..
        } => {
            assert_eq!(patch.quantity, Some(8));
            assert_eq!(subscription_id, "s1");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn suspending_is_its_own_action_type() {
    let text = base_text().replace(
        "reseller: northwind}",
        "reseller: northwind, status: suspended}",
    );
    let plan = run(&text, &base_live());
    assert_eq!(plan.actions[0].action_type, ActionType::Suspend);
    assert!(plan.actions[0].risks.contains(&Risk::CustomerVisible));
}

#[test]
fn unmanaged_live_objects_are_reported_never_changed() {
    let mut live = base_live();
    live.subscriptions
        .insert("s2".into(), live_subscription("s2", "someone-else", 1));
    let plan = run(&base_text(), &live);
    assert!(!plan.has_changes());
    assert_eq!(plan.unmanaged.len(), 1);
    assert_eq!(plan.unmanaged[0].id, "s2");
}

#[test]
fn a_renamed_subscription_is_a_new_purchase_never_a_guess() {
    let text = base_text().replace(
        "reseller: northwind}",
        "reseller: northwind, friendlyName: Contoso E3 renamed}",
    );
    let plan = run(&text, &base_live());
    assert_eq!(plan.actions[0].action_type, ActionType::Create);
    assert_eq!(plan.unmanaged.len(), 1);
}

#[test]
fn second_reseller_relationship_is_manual_and_blocks_its_support_contact() {
    let text = format!(
        "{RESELLERS}{}{}\n---\napiVersion: cspctl/v1\nkind: SupportContact\nmetadata: {{name: sc}}\nspec: {{subscription: contoso-e3, reseller: litware}}\n",
        customer("contoso", "[northwind, litware]"),
        subscription("contoso-e3", "contoso", LEGACY, 5, ", reseller: northwind")
    );
    let plan = run(&text, &base_live());
    let relationship = plan
        .actions
        .iter()
        .find(|a| a.address == "Relationship/contoso/litware")
        .expect("manual step");
    assert_eq!(
        (relationship.action_type, relationship.status),
        (ActionType::Manual, ActionStatus::Manual)
    );
    assert!(
        relationship
            .instructions
            .as_deref()
            .unwrap()
            .contains("accepts it")
    );
    let contact = plan
        .actions
        .iter()
        .find(|a| a.address == "SupportContact/sc")
        .expect("support contact");
    assert_eq!(contact.status, ActionStatus::Blocked);
    assert!(
        contact
            .depends_on
            .contains(&"Relationship/contoso/litware".to_owned())
    );
    assert_eq!(
        plan.summary_line(),
        "Plan: 0 to create, 0 to update, 1 support contact(s) to set, 1 manual, 1 blocked."
    );
}

#[test]
fn undeclared_support_contact_on_a_managed_subscription_is_reset() {
    let mut live = base_live();
    live.subscriptions.get_mut("s1").unwrap().support_contact = Some(LiveSupportContact {
        tenant_id: "22222222-3333-4444-8555-666666666666".into(),
        mpn_id: "517285".into(),
        name: "Litware".into(),
    });
    let plan = run(&base_text(), &live);
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(plan.actions[0].action_type, ActionType::ResetSupportContact);
    assert_eq!(plan.actions[0].changes[0].before, "litware");
}

#[test]
fn sandbox_reseller_creations_beyond_the_limit_are_warned_about() {
    let (sources, desired) = desired(&base_text());
    let creations = |plan: &Plan| -> Vec<Vec<String>> {
        plan.actions
            .iter()
            .filter(|a| matches!(a.operation, Operation::CreateReseller { .. }))
            .map(|a| a.warnings.clone())
            .collect()
    };
    let unlimited = plan(&desired, &sources, &Live::default(), &options()).unwrap();
    assert!(!creations(&unlimited).is_empty());
    assert!(creations(&unlimited).iter().all(Vec::is_empty));

    let full = PlanOptions {
        sandbox_reseller_limit: Some(0),
        ..options()
    };
    let refused = plan(&desired, &sources, &Live::default(), &full).unwrap();
    assert!(creations(&refused).iter().all(|warnings| {
        warnings
            .iter()
            .any(|w| w.contains("allows 0 indirect resellers") && w.contains("800018"))
    }));
}

#[test]
fn production_backend_makes_a_missing_partnership_manual() {
    let (sources, desired) = desired(&base_text());
    let options = PlanOptions {
        sandbox: false,
        ..options()
    };
    let plan = plan(&desired, &sources, &Live::default(), &options).unwrap();
    assert_eq!(plan.actions[0].action_type, ActionType::Manual);
    let customer = plan
        .actions
        .iter()
        .find(|a| a.address == "Customer/contoso")
        .unwrap();
    assert_eq!(customer.status, ActionStatus::Blocked);
}

#[test]
fn changing_the_offer_in_place_is_refused_with_a_position() {
    let (sources, desired) = desired(&base_text().replace(LEGACY, NCE));
    let problems = plan(&desired, &sources, &base_live(), &options()).unwrap_err();
    assert!(
        problems[0].message.contains("offer cannot change in place"),
        "{problems:#?}"
    );
    assert!(problems[0].location.is_some());
}

#[test]
fn two_live_subscriptions_with_one_name_are_ambiguous() {
    let mut live = base_live();
    live.subscriptions
        .insert("s2".into(), live_subscription("s2", "contoso-e3", 1));
    let (sources, desired) = desired(&base_text());
    let problems = plan(&desired, &sources, &live, &options()).unwrap_err();
    assert!(problems[0].message.contains("are named"), "{problems:#?}");
}

#[test]
fn plans_are_deterministic() {
    let a = serde_json::to_string(&run(&base_text(), &Live::default())).unwrap();
    let b = serde_json::to_string(&run(&base_text(), &Live::default())).unwrap();
    assert_eq!(a, b);
}

#[test]
fn domain_warnings_explain_what_partner_center_will_do() {
    let mut live = base_live();
    live.subscriptions.get_mut("s1").unwrap().status = LiveStatus::Suspended;
    let text = base_text().replace("quantity: 5", "quantity: 6").replace(
        "reseller: northwind}",
        "reseller: northwind, status: suspended}",
    );
    let plan = run(&text, &live);
    assert!(
        plan.actions[0]
            .warnings
            .iter()
            .any(|w| w.contains("error 2001")),
        "{:?}",
        plan.actions[0].warnings
    );
    // The warning that predicts a refusal names its rule for programs.
    assert_eq!(
        plan.actions[0].rules,
        [crate::rules::Rule::SuspendedQuantity]
    );

    let text = base_text().replace(
        "reseller: northwind}",
        "reseller: northwind, status: suspended}",
    );
    let plan = run(&text, &base_live());
    assert!(
        plan.actions[0]
            .warnings
            .iter()
            .any(|w| w.contains("loses access")),
        "{:?}",
        plan.actions[0].warnings
    );
    // Losing access is no refusal: no rule.
    assert!(plan.actions[0].rules.is_empty());
}

#[test]
fn saved_plans_round_trip_and_other_versions_are_refused() {
    let plan = run(&base_text(), &Live::default());
    let text = crate::render::render_json(&plan);
    let read = Plan::from_json(&text).unwrap();
    assert!(read.digest.is_some());
    assert_eq!(
        Plan {
            digest: None,
            ..read
        },
        plan
    );

    let other = text.replacen("\"format_version\": 1", "\"format_version\": 2", 1);
    let error = Plan::from_json(&other).unwrap_err();
    assert!(
        error.position.is_none() && error.message.contains("format_version 2"),
        "{error}"
    );

    let error = Plan::from_json("{\"format_version\": 1}").unwrap_err();
    assert_eq!(error.position, Some((1, 21)), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("1:21: invalid plan file: missing field"),
        "{error}"
    );
}

/// The never-buy-twice guard against orders still provisioning.
mod under_way {
    use super::*;
    use crate::plan::{Action, ActionType, ObjectRef, Operation, Plan, purchases_under_way};

    fn purchase(offer: &str) -> Plan {
        let operation = Operation::CreateSubscription {
            customer: ObjectRef {
                address: "Customer/contoso".into(),
                id: Some("c1".into()),
            },
            offer_id: offer.into(),
            quantity: 1,
            term_duration: TermDuration::P1M,
            billing_cycle: BillingCycle::Monthly,
            auto_renew: true,
            friendly_name: "Barracuda".into(),
            partner_id_on_record: None,
            suspend: false,
            custom_term_end_date: None,
        };
        let action = Action::new(
            "Subscription/barracuda".into(),
            Some("contoso".into()),
            ActionType::Create,
            operation,
        );
        Plan::new("test".into(), vec![action], Vec::new())
    }

    fn pending_line(customer: &str, offer: &str, name: &str) -> LiveSubscription {
        LiveSubscription {
            auto_renew: None,
            status: LiveStatus::Pending,
            order_id: Some("o1".into()),
            ..LiveSubscription::known_only_by("pending-order-o1-0", customer, offer, name)
        }
    }

    /// A pending order line without a name, of the customer and offer a plan would
    /// buy, stops the plan rather than risk buying it twice.
    #[test]
    fn an_unnamed_pending_line_of_the_same_purchase_stops_the_plan() {
        let plan = purchase("DZH318Z0BXWC:0002:DZH318Z0BMRV");
        let unnamed = pending_line("C1", "DZH318Z0BXWC:0002", "");
        assert_eq!(purchases_under_way(&plan, &[unnamed]).len(), 1);
        // Named lines are matched by name instead; other customers and offers are
        // not this purchase.
        for other in [
            pending_line("c1", "DZH318Z0BXWC:0002:DZH318Z0BMRV", "Barracuda"),
            pending_line("c2", "DZH318Z0BXWC:0002:DZH318Z0BMRV", ""),
            pending_line("c1", "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM", ""),
        ] {
            assert!(purchases_under_way(&plan, &[other]).is_empty());
        }
    }
}

#[test]
fn a_triennial_billing_change_now_is_refused_under_its_rule() {
    let text = format!(
        "{RESELLERS}{}{}",
        customer("contoso", "[northwind]"),
        subscription("contoso-e3", "contoso", NCE, 5, ", reseller: northwind")
    )
    .replace("termDuration: P1M", "termDuration: P3Y")
    .replace(
        "billingCycle: monthly",
        "billingCycle: triennial, effective: now",
    );
    let mut live = base_live();
    let subscription = live.subscriptions.get_mut("s1").unwrap();
    subscription.offer_id = NCE.into();
    subscription.term_duration = Some(TermDuration::P3Y);
    subscription.billing_cycle = Some(BillingCycle::Annual);
    let (sources, desired) = desired(&text);
    let problems = plan(&desired, &sources, &live, &options()).unwrap_err();
    let codes: Vec<&str> = problems.iter().map(|p| p.code).collect();
    assert_eq!(
        codes,
        [crate::rules::Rule::TriennialBillingChange.id()],
        "{problems:#?}"
    );
}

// ---- new-commerce lifecycle: changes at renewal, the window, cancellation ----

/// 2026-03-10T12:00:00Z: the plan's clock in the lifecycle tests.
const LIFECYCLE_NOW: &str = "2026-03-10T12:00:00Z";

fn at(text: &str) -> i64 {
    crate::time::parse(text).expect("a valid time")
}

fn options_now() -> PlanOptions {
    PlanOptions {
        now: Some(at(LIFECYCLE_NOW)),
        ..options()
    }
}

/// The base manifests with a new-commerce P1Y subscription of `quantity` seats
/// and `extra` spec fields, against a live one of 10 seats bought on
/// `bought` (its window 168 h later, its term ending a year on).
fn lifecycle(quantity: u32, extra: &str, bought: &str) -> (Result<Plan, Vec<Diagnostic>>, Live) {
    let text = format!(
        "{RESELLERS}{}{}",
        customer("contoso", "[northwind]"),
        subscription(
            "contoso-e3",
            "contoso",
            NCE,
            quantity,
            &format!(", reseller: northwind{extra}")
        )
    )
    .replace("termDuration: P1M", "termDuration: P1Y");
    let mut live = base_live();
    let s = live.subscriptions.get_mut("s1").unwrap();
    s.offer_id = NCE.into();
    s.quantity = 10;
    s.term_duration = Some(TermDuration::P1Y);
    let start = at(bought);
    s.cancellation_allowed_until = Some(crate::time::format(start + 7 * 86_400));
    let end = crate::time::add_months(start, 12);
    s.commitment_end_date = Some(crate::time::format(end - end.rem_euclid(86_400) - 86_400));
    let (sources, desired) = desired(&text);
    (plan(&desired, &sources, &live, &options_now()), live)
}

fn only_action(result: Result<Plan, Vec<Diagnostic>>) -> Action {
    let plan = result.unwrap_or_else(|p| panic!("{p:#?}"));
    assert_eq!(plan.actions.len(), 1, "{:#?}", plan.actions);
    plan.actions.into_iter().next().unwrap()
}

#[test]
fn a_decrease_outside_the_window_is_scheduled_for_the_renewal() {
    let (result, _) = lifecycle(7, "", "2025-06-01T09:00:00Z");
    let action = only_action(result);
    assert_eq!(action.action_type, ActionType::AtRenewal);
    assert_eq!(
        action.changes,
        [FieldChange::new("renewal.quantity", json!(10), json!(7))]
    );
    let renewal = action.renewal.clone().expect("a renewal date");
    assert_eq!((renewal.date.as_str(), renewal.in_days), ("2026-06-01", 83));
    let Operation::UpdateSubscription { patch, .. } = &action.operation else {
        panic!("an update");
    };
    assert_eq!(patch.quantity, None, "nothing is sent for now");
    let next = patch.next_term.clone().flatten().expect("instructions");
    assert_eq!((next.quantity, next.term_duration), (7, TermDuration::P1Y));
    assert!(
        action.rules.is_empty(),
        "no refusal is predicted: {action:#?}"
    );
}

#[test]
fn a_decrease_inside_the_window_is_immediate_and_shows_the_window_end() {
    let (result, _) = lifecycle(7, "", "2026-03-08T09:00:00Z");
    let action = only_action(result);
    assert_eq!(action.action_type, ActionType::Update);
    assert_eq!(
        action.changes,
        [FieldChange::new("quantity", json!(10), json!(7))]
    );
    assert!(
        action
            .warnings
            .iter()
            .any(|w| w.contains("until 2026-03-15T09:00:00Z")),
        "{:?}",
        action.warnings
    );
    // `effective: renewal` schedules it even inside the window.
    let (result, _) = lifecycle(7, ", effective: renewal", "2026-03-08T09:00:00Z");
    assert_eq!(only_action(result).action_type, ActionType::AtRenewal);
}

#[test]
fn a_decrease_demanded_now_outside_the_window_is_a_plan_error_with_its_dates() {
    let (result, _) = lifecycle(7, ", effective: now", "2025-06-01T09:00:00Z");
    let problems = result.unwrap_err();
    assert_eq!(
        problems[0].code,
        crate::rules::Rule::SeatDecreaseWindow.id()
    );
    assert!(
        problems[0].message.contains("2025-06-08T09:00:00Z")
            && problems[0].message.contains("2026-06-01 (in 83 days)"),
        "{}",
        problems[0].message
    );
}

#[test]
fn a_term_change_is_scheduled_for_the_renewal() {
    let (result, _) = lifecycle(10, "", "2025-06-01T09:00:00Z");
    assert!(result.unwrap().actions.is_empty(), "in sync");
    let text_change = |text: String| text.replace("termDuration: P1Y", "termDuration: P3Y");
    let (_, live) = lifecycle(10, "", "2025-06-01T09:00:00Z");
    let text = text_change(
        format!(
            "{RESELLERS}{}{}",
            customer("contoso", "[northwind]"),
            subscription("contoso-e3", "contoso", NCE, 10, ", reseller: northwind")
        )
        .replace("termDuration: P1M", "termDuration: P1Y"),
    );
    let (sources, desired) = desired(&text);
    let action = only_action(plan(&desired, &sources, &live, &options_now()));
    assert_eq!(action.action_type, ActionType::AtRenewal);
    assert_eq!(
        action.changes,
        [FieldChange::new(
            "renewal.termDuration",
            json!("P1Y"),
            json!("P3Y")
        )]
    );
}

#[test]
fn cancelling_inside_the_window_cancels_and_outside_turns_auto_renew_off() {
    let (result, _) = lifecycle(10, ", status: cancelled", "2026-03-08T09:00:00Z");
    let action = only_action(result);
    assert_eq!(action.action_type, ActionType::Cancel);
    assert_eq!(
        action.changes,
        [FieldChange::new(
            "status",
            json!("active"),
            json!("cancelled")
        )]
    );
    assert!(action.risks.contains(&Risk::Irreversible));

    let (result, _) = lifecycle(10, ", status: cancelled", "2025-06-01T09:00:00Z");
    let action = only_action(result);
    assert_eq!(action.action_type, ActionType::Update);
    assert_eq!(
        action.changes,
        [FieldChange::new("autoRenew", json!(true), json!(false))]
    );
    assert!(
        action
            .warnings
            .iter()
            .any(|w| w.contains("ends at the end of its term (2026-05-31)")),
        "{:?}",
        action.warnings
    );

    let (result, _) = lifecycle(
        10,
        ", status: cancelled, effective: now",
        "2025-06-01T09:00:00Z",
    );
    let problems = result.unwrap_err();
    assert!(
        problems[0].message.contains("cannot be cancelled now")
            && problems[0].message.contains("2025-06-08T09:00:00Z")
            && problems[0].message.contains("2026-05-31"),
        "{}",
        problems[0].message
    );
}

#[test]
fn a_cancelled_subscription_that_has_ended_is_never_bought_again() {
    let (_, mut live) = lifecycle(10, "", "2026-03-08T09:00:00Z");
    live.subscriptions.get_mut("s1").unwrap().status = LiveStatus::Deleted;
    let text = format!(
        "{RESELLERS}{}{}",
        customer("contoso", "[northwind]"),
        subscription(
            "contoso-e3",
            "contoso",
            NCE,
            10,
            ", reseller: northwind, status: cancelled"
        )
    );
    let (sources, desired) = desired(&text);
    let plan = plan(&desired, &sources, &live, &options_now()).unwrap();
    assert!(plan.actions.is_empty(), "{:#?}", plan.actions);
    assert!(plan.unmanaged.is_empty(), "{:#?}", plan.unmanaged);
    // Not live at all: nothing is bought either.
    let mut empty = live.clone();
    empty.subscriptions.clear();
    let plan = crate::plan::plan(&desired, &sources, &empty, &options_now()).unwrap();
    assert!(plan.actions.is_empty(), "{:#?}", plan.actions);
}

#[test]
fn an_immediate_change_writes_the_scheduled_change_again_and_says_so() {
    let (_, mut live) = lifecycle(10, "", "2025-06-01T09:00:00Z");
    // Scheduled earlier: P3Y at renewal. The manifest now adds seats at once.
    live.subscriptions.get_mut("s1").unwrap().next_term = Some(crate::live::LiveNextTerm {
        offer_id: NCE.into(),
        quantity: 12,
        term_duration: TermDuration::P3Y,
        billing_cycle: BillingCycle::Monthly,
    });
    let text = format!(
        "{RESELLERS}{}{}",
        customer("contoso", "[northwind]"),
        subscription("contoso-e3", "contoso", NCE, 12, ", reseller: northwind")
    )
    .replace("termDuration: P1M", "termDuration: P3Y");
    let (sources, desired) = desired(&text);
    let action = only_action(plan(&desired, &sources, &live, &options_now()));
    assert_eq!(action.action_type, ActionType::Update);
    assert_eq!(
        action.changes,
        [FieldChange::new("quantity", json!(10), json!(12))]
    );
    let Operation::UpdateSubscription { patch, .. } = &action.operation else {
        panic!("an update");
    };
    assert_eq!(
        patch.next_term,
        Some(live.subscriptions["s1"].next_term.clone())
    );
    assert!(
        action
            .warnings
            .iter()
            .any(|w| w.contains("deletes the change scheduled")),
        "{:?}",
        action.warnings
    );
    // A scheduled change the manifest no longer asks for is removed.
    let text = text
        .replace("termDuration: P3Y", "termDuration: P1Y")
        .replace("quantity: 12", "quantity: 10");
    let (sources, desired) = self::desired(&text);
    let action = only_action(plan(&desired, &sources, &live, &options_now()));
    assert_eq!(action.action_type, ActionType::AtRenewal);
    assert_eq!(
        action.changes,
        [
            FieldChange::new("renewal.quantity", json!(12), json!(10)),
            FieldChange::new("renewal.termDuration", json!("P3Y"), json!("P1Y")),
        ]
    );
}

#[test]
fn the_renewal_calendar_lists_what_renews_within_the_period() {
    let (_, live) = lifecycle(10, "", "2025-03-12T09:00:00Z");
    let text = format!(
        "{RESELLERS}{}{}",
        customer("contoso", "[northwind]"),
        subscription("contoso-e3", "contoso", NCE, 10, ", reseller: northwind")
    )
    .replace("termDuration: P1M", "termDuration: P1Y");
    let (sources, desired) = desired(&text);
    let options = PlanOptions {
        renewal_horizon: Some(7 * 86_400),
        ..options_now()
    };
    let plan = crate::plan::plan(&desired, &sources, &live, &options).unwrap();
    assert_eq!(plan.renewals.len(), 1, "{:#?}", plan.renewals);
    let renewal = &plan.renewals[0];
    assert_eq!(renewal.address.as_deref(), Some("Subscription/contoso-e3"));
    assert_eq!(
        (
            renewal.renews.date.as_str(),
            renewal.renews.in_days,
            renewal.quantity
        ),
        ("2026-03-12", 2, 10)
    );
    let options = PlanOptions {
        renewal_horizon: Some(86_400),
        ..options_now()
    };
    assert!(
        crate::plan::plan(&desired, &sources, &live, &options)
            .unwrap()
            .renewals
            .is_empty()
    );
}

const STANDARD: &str = "CFQ7TTC0LDPB:0001:CFQ7TTC0K5BF";

/// The lifecycle manifests with `offer` and an extra subscription document,
/// against the lifecycle's live subscription (bought 2025-06-01, so its term
/// ends 2026-05-31) and `prepare`d live lookups: the lookups the plan needs,
/// and the plan.
fn with_lookups(
    offer: &str,
    more: &str,
    prepare: impl FnOnce(&mut Live),
) -> (crate::live::Lookups, Result<Plan, Vec<Diagnostic>>) {
    let (_, mut live) = lifecycle(10, "", "2025-06-01T09:00:00Z");
    let text = format!(
        "{RESELLERS}{}{}{more}",
        customer("contoso", "[northwind]"),
        subscription("contoso-e3", "contoso", offer, 10, ", reseller: northwind")
    )
    .replace("termDuration: P1M", "termDuration: P1Y");
    let (sources, desired) = desired(&text);
    let (_, needed) = crate::plan::plan_and_lookups(&desired, &sources, &live, &options_now());
    prepare(&mut live);
    (needed, plan(&desired, &sources, &live, &options_now()))
}

fn eligible(catalog_item_id: &str) -> crate::live::LiveTransition {
    crate::live::LiveTransition {
        catalog_item_id: catalog_item_id.into(),
        title: None,
        eligible: true,
        reasons: Vec::new(),
    }
}

#[test]
fn another_sku_on_an_eligible_transition_is_scheduled_at_renewal() {
    let (needed, result) = with_lookups(STANDARD, "", |live| {
        live.transitions
            .insert("s1".into(), vec![eligible(STANDARD)]);
    });
    assert_eq!(
        needed.transitions,
        [("c1".to_owned(), "s1".to_owned())].into(),
        "one lookup, for the subscription whose SKU changes"
    );
    assert!(needed.term_ends.is_empty());
    let action = only_action(result);
    assert_eq!(action.action_type, ActionType::AtRenewal);
    assert_eq!(
        action.changes,
        [FieldChange::new(
            "renewal.offerId",
            json!(NCE),
            json!(STANDARD)
        )]
    );
    assert_eq!(action.renewal.expect("a date").date, "2026-06-01");
    let Operation::UpdateSubscription { patch, .. } = &action.operation else {
        panic!("an update");
    };
    let next = patch.next_term.clone().flatten().expect("instructions");
    assert_eq!((next.offer_id.as_str(), next.quantity), (STANDARD, 10));
}

#[test]
fn another_sku_not_eligible_is_a_plan_error_at_the_offer() {
    let (_, result) = with_lookups(STANDARD, "", |live| {
        live.transitions.insert(
            "s1".into(),
            vec![eligible("CFQ7TTC0LCHC:0002:CFQ7TTC0K0XF")],
        );
    });
    let problems = result.expect_err("not eligible");
    assert!(
        problems[0].message.contains(&format!(
            "{STANDARD} is not an eligible transition at renewal for {NCE}; eligible: CFQ7TTC0LCHC:0002:CFQ7TTC0K0XF"
        )),
        "{problems:#?}"
    );
    assert!(problems[0].location.is_some());
    // The same SKU needs no lookup.
    let (needed, _) = with_lookups(NCE, "", |_| {});
    assert!(needed.is_empty());
}

#[test]
fn a_purchase_aligned_with_a_live_subscription_sends_its_term_end() {
    let aligned = subscription(
        "contoso-std",
        "contoso",
        STANDARD,
        3,
        ", termEndAlignedWith: contoso-e3",
    )
    .replace("termDuration: P1M", "termDuration: P1Y");
    let query = crate::live::TermEndQuery {
        customer_id: "c1".into(),
        term_duration: TermDuration::P1Y,
        coterm_subscription_id: "s1".into(),
    };
    let allowed = |date: &str| crate::live::LiveTermEnd {
        date: date.into(),
        kind: "subscriptionAligned".into(),
        coterm_subscription_ids: vec!["s1".into()],
    };
    let (needed, result) = with_lookups(NCE, &aligned, |live| {
        live.term_end_dates
            .insert(query.key(), vec![allowed("2026-05-31")]);
    });
    assert_eq!(needed.term_ends, [query.clone()].into());
    let action = only_action(result);
    let Operation::CreateSubscription {
        custom_term_end_date,
        ..
    } = &action.operation
    else {
        panic!("a purchase");
    };
    assert_eq!(custom_term_end_date.as_deref(), Some("2026-05-31"));
    assert!(
        action
            .changes
            .iter()
            .any(|c| c.path == "customTermEndDate" && c.after == json!("2026-05-31")),
        "{:#?}",
        action.changes
    );
    // A date Partner Center does not offer is refused, with the ones it does.
    let (_, result) = with_lookups(NCE, &aligned, |live| {
        live.term_end_dates
            .insert(query.key(), vec![allowed("2026-04-30")]);
    });
    let problems = result.expect_err("not allowed");
    assert!(
        problems[0]
            .message
            .contains("its term ends on 2026-05-31, which Partner Center does not allow")
            && problems[0].message.contains("allowed: 2026-04-30"),
        "{problems:#?}"
    );
}
