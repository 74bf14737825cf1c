//! Pins the JSON plan contract (`cspctl plan --format json`, saved plan files).
//!
//! The mirror structs below are written by hand, on the test side, with
//! `deny_unknown_fields`: renaming, adding or removing a field in `cspctl::plan` fails
//! here, which is the moment to decide whether `PLAN_FORMAT_VERSION` must change and
//! to update `schemas/plan.schema.json`. The rendered plan is also validated against
//! that committed schema, so the schema and the output cannot drift apart.

use std::collections::BTreeMap;

use cspctl::live::LiveStatus;
use cspctl::manifest::model::{BillingCycle, TermDuration};
use cspctl::plan::{
    Action, ActionStatus, ActionType, FieldChange, LiveKey, ObjectRef, Operation, PartlyKnown,
    Plan, PlannedReseller, Precondition, Risk, SourceRef, SubscriptionPatch, Unmanaged,
};
use cspctl::render::{PlanFormat, RenderOptions, render_plan};
use cspctl::rules::Rule;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanMirror {
    format_version: u32,
    backend: String,
    summary: SummaryMirror,
    actions: Vec<ActionMirror>,
    unmanaged: Vec<UnmanagedMirror>,
    partly_known: Vec<PartlyKnownMirror>,
    resellers: BTreeMap<String, ResellerMirror>,
    digest: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResellerMirror {
    tenant_id: Option<String>,
    mpn_id: String,
    display_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryMirror {
    total: usize,
    by_type: BTreeMap<String, usize>,
    by_status: BTreeMap<String, usize>,
    unmanaged: usize,
    partly_known: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionMirror {
    address: String,
    customer: Option<String>,
    #[serde(rename = "type")]
    action_type: String,
    status: String,
    depends_on: Vec<String>,
    changes: Vec<FieldChangeMirror>,
    risks: Vec<String>,
    roles: Vec<String>,
    instructions: Option<String>,
    url: Option<String>,
    warnings: Vec<String>,
    /// Rule ids (`cspctl::rules`).
    rules: Vec<String>,
    source: Option<SourceRefMirror>,
    precondition: Option<PreconditionMirror>,
    /// The request; its shape is documented by the schema, not pinned here.
    operation: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldChangeMirror {
    path: String,
    before: Value,
    after: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceRefMirror {
    file: String,
    line: u32,
    column: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreconditionMirror {
    key: LiveKeyMirror,
    fingerprint: Option<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
enum LiveKeyMirror {
    Reseller {
        tenant_id: String,
    },
    CustomerId {
        id: String,
    },
    CustomerDomain {
        domain: String,
    },
    SubscriptionId {
        id: String,
    },
    SubscriptionName {
        customer_domain: String,
        friendly_name: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartlyKnownMirror {
    address: String,
    id: String,
    unknown: Vec<String>,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnmanagedMirror {
    kind: String,
    id: String,
    name: String,
}

const COMMERCE: [&str; 4] = ["Global admin", "User admin", "Admin agent", "Sales agent"];

fn customer() -> ObjectRef {
    ObjectRef {
        address: "Customer/contoso".to_owned(),
        id: Some("c0ffee00-0000-4000-8000-000000000001".to_owned()),
    }
}

fn action(address: &str, action_type: ActionType, operation: Operation) -> Action {
    Action {
        roles: COMMERCE.map(str::to_owned).to_vec(),
        source: Some(SourceRef {
            file: "manifests/contoso.yaml".to_owned(),
            line: 3,
            column: 9,
        }),
        precondition: Some(Precondition {
            key: LiveKey::SubscriptionId {
                id: "50b5c71b-0000-4000-8000-000000000001".to_owned(),
            },
            fingerprint: Some("fp-1".to_owned()),
        }),
        ..Action::new(
            address.to_owned(),
            Some("contoso".to_owned()),
            action_type,
            operation,
        )
    }
}

fn patch(status: Option<LiveStatus>, quantity: Option<u32>) -> Operation {
    Operation::UpdateSubscription {
        customer: customer(),
        subscription_id: "50b5c71b-0000-4000-8000-000000000001".to_owned(),
        patch: SubscriptionPatch {
            quantity,
            status,
            ..SubscriptionPatch::default()
        },
    }
}

/// One action of each type, covering every status and risk.
fn sample() -> Plan {
    let mut create = action(
        "Subscription/contoso-m365",
        ActionType::Create,
        Operation::CreateSubscription {
            customer: customer(),
            offer_id: "CFQ7TTC0LH18:0001:CFQ7TTC0K5BD".to_owned(),
            quantity: 10,
            term_duration: TermDuration::P1Y,
            billing_cycle: BillingCycle::Monthly,
            auto_renew: true,
            friendly_name: "contoso-m365".to_owned(),
            partner_id_on_record: Some("1234567".to_owned()),
            suspend: false,
            custom_term_end_date: None,
        },
    );
    create.changes = vec![FieldChange {
        path: "quantity".to_owned(),
        before: Value::Null,
        after: json!(10),
    }];
    create.risks = vec![Risk::Purchase, Risk::CostIncrease, Risk::CustomerVisible];
    create.precondition = Some(Precondition {
        key: LiveKey::SubscriptionName {
            customer_domain: "contoso.onmicrosoft.com".to_owned(),
            friendly_name: "contoso-m365".to_owned(),
        },
        fingerprint: None,
    });

    let mut update = action(
        "Subscription/contoso-visio",
        ActionType::Update,
        patch(None, Some(3)),
    );
    update.changes = vec![FieldChange {
        path: "quantity".to_owned(),
        before: json!(5),
        after: json!(3),
    }];
    update.risks = vec![Risk::CustomerVisible, Risk::Irreversible];
    update.warnings = vec!["new commerce: seats can be removed only within 7 days".to_owned()];
    update.rules = vec![Rule::SeatDecreaseWindow];

    let suspend = action(
        "Subscription/contoso-project",
        ActionType::Suspend,
        patch(Some(LiveStatus::Suspended), None),
    );
    let reactivate = action(
        "Subscription/contoso-teams",
        ActionType::Reactivate,
        patch(Some(LiveStatus::Active), None),
    );

    let mut manual = action("Reseller/northwind", ActionType::Manual, Operation::Manual);
    manual.customer = None;
    manual.instructions = Some("Invite reseller `Northwind` in Partner Center.".to_owned());
    manual.url = Some("https://partner.microsoft.com/dashboard".to_owned());
    manual.precondition = Some(Precondition {
        key: LiveKey::Reseller {
            tenant_id: "4e5e11e4-0000-4000-8000-000000000001".to_owned(),
        },
        fingerprint: None,
    });

    let mut set = action(
        "SupportContact/contoso-m365",
        ActionType::SetSupportContact,
        Operation::SetSupportContact {
            customer: customer(),
            subscription: ObjectRef {
                address: "Subscription/contoso-m365".to_owned(),
                id: None,
            },
            reseller_tenant_id: "4e5e11e4-0000-4000-8000-000000000001".to_owned(),
            reseller_created_by: None,
            reseller_mpn_id: "1234567".to_owned(),
            reseller_name: "Northwind".to_owned(),
        },
    );
    set.status = ActionStatus::Blocked;
    set.depends_on = vec![
        "Reseller/northwind".to_owned(),
        "Subscription/contoso-m365".to_owned(),
    ];
    set.instructions = Some("Waits for Reseller/northwind.".to_owned());

    let reset = action(
        "Subscription/contoso-visio/supportContact",
        ActionType::ResetSupportContact,
        Operation::ResetSupportContact {
            customer: customer(),
            subscription_id: "50b5c71b-0000-4000-8000-000000000001".to_owned(),
        },
    );

    let actions = vec![manual, create, update, suspend, reactivate, set, reset];
    let unmanaged = vec![Unmanaged {
        kind: "Customer".to_owned(),
        id: "adad0000-0000-4000-8000-000000000001".to_owned(),
        name: "adatum.onmicrosoft.com".to_owned(),
    }];
    let mut plan = Plan::new("local:.cspctl/state.json".to_owned(), actions, unmanaged);
    plan.partly_known = vec![PartlyKnown {
        address: "Subscription/contoso-e3".to_owned(),
        id: "e3e30000-0000-4000-8000-000000000001".to_owned(),
        unknown: vec!["termDuration".to_owned(), "billingCycle".to_owned()],
        note: None,
    }];
    plan.summary.partly_known = 1;
    plan.resellers.insert(
        "northwind".to_owned(),
        PlannedReseller {
            tenant_id: Some("4e5e11e4-0000-4000-8000-000000000001".to_owned()),
            mpn_id: "1234567".to_owned(),
            display_name: "Northwind".to_owned(),
        },
    );
    plan
}

#[test]
fn plan_json_matches_the_mirror() {
    let text = render_plan(&sample(), PlanFormat::Json, &RenderOptions::default());
    assert!(text.ends_with("}\n"));
    let plan: PlanMirror = serde_json::from_str(&text).expect("the plan JSON fits the mirror");

    assert_eq!(plan.format_version, 1);
    assert_eq!(plan.backend, "local:.cspctl/state.json");
    assert_eq!(plan.summary.partly_known, 1);
    let northwind = &plan.resellers["northwind"];
    assert_eq!(
        (
            northwind.tenant_id.as_deref(),
            northwind.mpn_id.as_str(),
            northwind.display_name.as_str()
        ),
        (
            Some("4e5e11e4-0000-4000-8000-000000000001"),
            "1234567",
            "Northwind"
        )
    );
    assert!(plan.digest.starts_with("sha256:"), "{}", plan.digest);
    let partly = &plan.partly_known[0];
    assert_eq!(
        (
            partly.address.as_str(),
            partly.id.as_str(),
            partly.note.as_deref()
        ),
        (
            "Subscription/contoso-e3",
            "e3e30000-0000-4000-8000-000000000001",
            None
        )
    );
    assert_eq!(partly.unknown, ["termDuration", "billingCycle"]);

    let types: Vec<&str> = plan
        .actions
        .iter()
        .map(|a| a.action_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "manual",
            "create",
            "update",
            "suspend",
            "reactivate",
            "set_support_contact",
            "reset_support_contact"
        ]
    );
    let statuses: Vec<&str> = plan.actions.iter().map(|a| a.status.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "manual", "ready", "ready", "ready", "ready", "blocked", "ready"
        ]
    );
    assert_eq!(
        plan.actions[1].risks,
        ["purchase", "cost_increase", "customer_visible"]
    );
    assert_eq!(plan.actions[2].risks, ["customer_visible", "irreversible"]);

    let summary = &plan.summary;
    assert_eq!(summary.total, 7);
    assert_eq!(summary.unmanaged, 1);
    let by_type: Vec<(&str, usize)> = summary
        .by_type
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        by_type,
        [
            ("at_renewal", 0),
            ("cancel", 0),
            ("create", 1),
            ("manual", 1),
            ("reactivate", 1),
            ("reset_support_contact", 1),
            ("set_support_contact", 1),
            ("suspend", 1),
            ("update", 1)
        ]
    );
    let by_status: Vec<(&str, usize)> = summary
        .by_status
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(by_status, [("blocked", 1), ("manual", 1), ("ready", 5)]);

    let manual = &plan.actions[0];
    assert_eq!(manual.address, "Reseller/northwind");
    assert_eq!(manual.customer, None);
    assert_eq!(
        manual.url.as_deref(),
        Some("https://partner.microsoft.com/dashboard")
    );
    assert_eq!(
        manual.precondition.as_ref().map(|p| &p.key),
        Some(&LiveKeyMirror::Reseller {
            tenant_id: "4e5e11e4-0000-4000-8000-000000000001".to_owned()
        })
    );
    let create = &plan.actions[1];
    assert_eq!(create.customer.as_deref(), Some("contoso"));
    assert_eq!(create.operation["op"], "create_subscription");
    assert_eq!(create.changes[0].path, "quantity");
    assert_eq!(create.changes[0].before, Value::Null);
    assert_eq!(create.changes[0].after, json!(10));
    let source = create.source.as_ref().expect("a source");
    assert_eq!(
        (source.file.as_str(), source.line, source.column),
        ("manifests/contoso.yaml", 3, 9)
    );
    let precondition = create.precondition.as_ref().expect("a precondition");
    assert_eq!(precondition.fingerprint, None);
    assert!(matches!(
        precondition.key,
        LiveKeyMirror::SubscriptionName { .. }
    ));
    assert_eq!(
        plan.actions[5].depends_on,
        ["Reseller/northwind", "Subscription/contoso-m365"]
    );
    assert_eq!(
        plan.actions[2].warnings,
        ["new commerce: seats can be removed only within 7 days"]
    );
    assert_eq!(plan.actions[2].rules, ["seat-decrease-window"]);
    assert!(plan.actions[1].warnings.is_empty());
    assert!(plan.actions[1].rules.is_empty());
    assert_eq!(
        plan.actions[5].instructions.as_deref(),
        Some("Waits for Reseller/northwind.")
    );
    assert_eq!(plan.actions[6].roles, COMMERCE);
    assert_eq!(plan.actions[3].operation["patch"]["status"], "suspended");

    let unmanaged = &plan.unmanaged[0];
    assert_eq!(
        (
            unmanaged.kind.as_str(),
            unmanaged.name.as_str(),
            unmanaged.id.as_str()
        ),
        (
            "Customer",
            "adatum.onmicrosoft.com",
            "adad0000-0000-4000-8000-000000000001"
        )
    );
}

/// `Option` fields are written as `null`, never left out, and in a fixed order:
/// consumers (jq scripts, other languages) may rely on both.
#[test]
fn plan_json_field_order_is_stable() {
    let value: Value = serde_json::from_str(&render_plan(
        &sample(),
        PlanFormat::Json,
        &RenderOptions::default(),
    ))
    .unwrap();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&value),
        [
            "format_version",
            "backend",
            "summary",
            "actions",
            "unmanaged",
            "partly_known",
            "resellers",
            "digest"
        ]
    );
    assert_eq!(
        keys(&value["summary"]),
        ["total", "by_type", "by_status", "unmanaged", "partly_known"]
    );
    for action in value["actions"].as_array().unwrap() {
        assert_eq!(
            keys(action),
            [
                "address",
                "customer",
                "type",
                "status",
                "depends_on",
                "changes",
                "risks",
                "roles",
                "instructions",
                "url",
                "warnings",
                "rules",
                "source",
                "precondition",
                "operation"
            ]
        );
    }
}

/// The committed schema accepts what the renderer writes (and rejects an unknown
/// action type), so documentation and output cannot drift apart.
#[test]
fn plan_json_validates_against_the_committed_schema() {
    let schema: Value = serde_json::from_str(include_str!("../schemas/plan.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the plan schema compiles");
    let mut plan: Value = serde_json::from_str(&render_plan(
        &sample(),
        PlanFormat::Json,
        &RenderOptions::default(),
    ))
    .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&plan)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    plan["actions"][0]["type"] = json!("delete");
    assert!(!validator.is_valid(&plan));
}

#[test]
fn json_is_not_coloured_and_round_trips() {
    let plan = sample();
    let plain = render_plan(&plan, PlanFormat::Json, &RenderOptions::default());
    assert_eq!(
        render_plan(
            &plan,
            PlanFormat::Json,
            &RenderOptions {
                color: true,
                ..RenderOptions::default()
            }
        ),
        plain
    );
    let back: Plan = serde_json::from_str(&plain).unwrap();
    assert!(back.digest.is_some());
    assert_eq!(
        Plan {
            digest: None,
            ..back
        },
        plan
    );
}
