//! Drift: how the live tenant differs from the manifests, for scheduled jobs that
//! ask "did anyone change Partner Center behind git's back?".
//!
//! A drift report is derived from a [`Plan`] rather than from a second diff engine:
//! the planner already matches every manifest to its live object and knows each
//! field that differs, so drift and plan can never disagree about what "in sync"
//! means. The report turns the plan around: an action to create is an object
//! *missing* from Partner Center, an action to change is an object whose live
//! fields *differ* (each field with its live and declared value), and the plan's
//! unmanaged list is what exists in Partner Center but in no manifest.
//!
//! Pure and deterministic, like the planner: the report keeps the plan's order.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::{
    Action, ActionType, PartlyKnown, Plan, Precondition, SourceRef, USAGE_SUBSCRIPTION_KIND,
    Unmanaged,
};
pub use crate::scope::Scope;

/// Version of the drift JSON; bumped on any incompatible change.
pub const DRIFT_FORMAT_VERSION: u32 = 1;

/// How a declared object differs from Partner Center.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Declared, but Partner Center has no such object (or relationship).
    Missing,
    /// Exists, but some fields differ from the manifest.
    Changed,
}

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftedField {
    /// Dotted path in the manifest's `spec`, e.g. `quantity`.
    pub path: String,
    /// What Partner Center holds; `null` when the field is absent there.
    pub live: serde_json::Value,
    /// What the manifest declares.
    pub declared: serde_json::Value,
}

/// A declared object that is not as its manifest says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftedObject {
    /// `Kind/name` of the manifest object (as in plans).
    pub address: String,
    /// The customer it belongs to, if any.
    pub customer: Option<String>,
    pub kind: DriftKind,
    /// For `changed`: every field that differs. For `missing`: empty.
    pub fields: Vec<DriftedField>,
    /// What it takes to converge when cspctl cannot do it alone (a partnership or
    /// relationship someone must accept).
    pub note: Option<String>,
    /// Where the object is declared.
    pub source: Option<SourceRef>,
}

/// Counts, for the summary line and for scripts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DriftSummary {
    /// Declared objects whose live fields differ.
    pub changed: usize,
    /// Fields that differ, over all changed objects.
    pub fields: usize,
    /// Declared objects Partner Center does not have.
    pub missing: usize,
    /// Live objects no manifest declares.
    pub unmanaged: usize,
}

/// The whole report (`drift --format json`; schema `schemas/drift.schema.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftReport {
    pub format_version: u32,
    /// The backend that was read, as in plans.
    pub backend: String,
    /// Customers (manifest names) the report is limited to; empty = the whole tenant.
    pub scope: Vec<String>,
    /// Whether unmanaged objects are left out of the verdict (`--ignore-unmanaged`);
    /// they are still listed.
    pub ignore_unmanaged: bool,
    /// No drift: nothing changed, nothing missing, and no unmanaged object (unless
    /// they are ignored). `drift` exits 0 exactly when this is true, else 2.
    pub in_sync: bool,
    pub summary: DriftSummary,
    /// In plan (dependency) order.
    pub objects: Vec<DriftedObject>,
    pub unmanaged: Vec<Unmanaged>,
    /// Declared objects compared only in part (fields Partner Center did not
    /// report, purchases still provisioning): not drift, but not checked either.
    #[serde(default)]
    pub partly_known: Vec<PartlyKnown>,
    /// What reading the live state cost in Partner Center requests (the
    /// partner-center backend only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::plan::ApiCost>,
    /// The renewal calendar (`--renewals PERIOD`), as in plans: not drift, but
    /// what the reviewer should see coming.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renewals: Vec<crate::plan::Renewal>,
}

/// Whether an action means its object is missing from Partner Center (rather than
/// present with other values).
fn is_missing(action: &Action) -> bool {
    match action.action_type {
        ActionType::Create => true,
        // A partnership or relationship that does not exist yet, or a customer
        // tenant that has not accepted; a manual action with field changes on an
        // existing object is a profile difference.
        ActionType::Manual => {
            action.changes.is_empty()
                || matches!(
                    action.precondition,
                    Some(Precondition {
                        fingerprint: None,
                        ..
                    })
                )
        }
        ActionType::Update
        | ActionType::Suspend
        | ActionType::Reactivate
        | ActionType::SetSupportContact
        | ActionType::ResetSupportContact
        | ActionType::AtRenewal
        | ActionType::Cancel => false,
    }
}

/// The drift `plan` shows, limited to `scope` when there is one.
///
/// With a scope, the live snapshot the plan was made from should hold only the
/// customers in scope: everything else declared would look missing, and is left
/// out here. Unmanaged resellers are left out too (a scoped job is about its
/// customers).
pub fn drift_report(plan: &Plan, scope: Option<&Scope>, ignore_unmanaged: bool) -> DriftReport {
    let objects: Vec<DriftedObject> = plan
        .actions
        .iter()
        .filter(|action| scope.is_none_or(|scope| scope.includes(action)))
        .map(|action| {
            let kind = if is_missing(action) {
                DriftKind::Missing
            } else {
                DriftKind::Changed
            };
            DriftedObject {
                address: action.address.clone(),
                customer: action.customer.clone(),
                kind,
                fields: match kind {
                    DriftKind::Missing => Vec::new(),
                    DriftKind::Changed => action
                        .changes
                        .iter()
                        .map(|change| DriftedField {
                            path: change.path.clone(),
                            live: change.before.clone(),
                            declared: change.after.clone(),
                        })
                        .collect(),
                },
                note: action.instructions.clone(),
                source: action.source.clone(),
            }
        })
        .collect();
    let unmanaged: Vec<Unmanaged> = plan
        .unmanaged
        .iter()
        .filter(|u| scope.is_none() || u.kind != "Reseller")
        .cloned()
        .collect();
    // Usage-based subscriptions are listed but cannot be declared: never drift.
    let declarable = unmanaged
        .iter()
        .filter(|u| u.kind != USAGE_SUBSCRIPTION_KIND)
        .count();
    let summary = DriftSummary {
        changed: objects
            .iter()
            .filter(|o| o.kind == DriftKind::Changed)
            .count(),
        fields: objects.iter().map(|o| o.fields.len()).sum(),
        missing: objects
            .iter()
            .filter(|o| o.kind == DriftKind::Missing)
            .count(),
        unmanaged: unmanaged.len(),
    };
    DriftReport {
        format_version: DRIFT_FORMAT_VERSION,
        backend: plan.backend.clone(),
        scope: scope.map_or_else(Vec::new, |s| s.customers.iter().cloned().collect()),
        ignore_unmanaged,
        in_sync: objects.is_empty() && (ignore_unmanaged || declarable == 0),
        summary,
        objects,
        unmanaged,
        partly_known: plan.partly_known.clone(),
        cost: plan.cost.clone(),
        // A scoped drift reads only the customers in scope, so the calendar
        // made from that read is already limited to them.
        renewals: plan.renewals.clone(),
    }
}

impl DriftReport {
    /// One line for logs and eyes: `In sync: ...` or `Drift: ...`.
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        let unmanaged = if self.ignore_unmanaged && s.unmanaged > 0 {
            format!("{} unmanaged (ignored)", s.unmanaged)
        } else {
            format!("{} unmanaged", s.unmanaged)
        };
        if self.in_sync {
            let mut line = "In sync: the live state matches the manifests.".to_owned();
            if s.unmanaged > 0 {
                line.push_str(&format!(" ({unmanaged})"));
            }
            return line;
        }
        format!(
            "Drift: {} object(s) differ ({} field(s)), {} missing, {unmanaged}.",
            s.changed, s.fields, s.missing
        )
    }
}

/// The drift schema's `$id`.
pub const DRIFT_SCHEMA_ID: &str = "urn:cspctl:schema:drift:v1";

/// The JSON Schema of [`DriftReport`] (`schemas/drift.schema.json`, `cspctl schema
/// --drift`).
pub fn drift_schema() -> serde_json::Value {
    crate::render::json::with_id(
        schemars::schema_for!(DriftReport).to_value(),
        DRIFT_SCHEMA_ID,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::{FieldChange, LiveKey, Operation};

    /// `drift --format json` users read the committed schema; regenerate it with
    /// `CSPCTL_BLESS=1 cargo test --lib schema`.
    #[test]
    fn committed_drift_schema_is_up_to_date() {
        crate::manifest::schema::assert_committed_schema(
            "schemas/drift.schema.json",
            &drift_schema(),
        );
    }

    fn action(
        address: &str,
        customer: Option<&str>,
        action_type: ActionType,
        fingerprint: Option<&str>,
        changes: Vec<FieldChange>,
    ) -> Action {
        let mut action = Action::new(
            address.to_owned(),
            customer.map(str::to_owned),
            action_type,
            Operation::Manual,
        );
        action.changes = changes;
        action.precondition = Some(Precondition {
            key: LiveKey::CustomerId { id: "x".into() },
            fingerprint: fingerprint.map(str::to_owned),
        });
        action
    }

    fn plan(actions: Vec<Action>, unmanaged: Vec<Unmanaged>) -> Plan {
        Plan::new("local:state.json".into(), actions, unmanaged)
    }

    fn sample() -> Plan {
        plan(
            vec![
                // A partnership nobody accepted yet: missing.
                action("Reseller/nw", None, ActionType::Manual, None, Vec::new()),
                // A reseller profile that differs: changed, with its fields.
                action(
                    "Reseller/adatum",
                    None,
                    ActionType::Manual,
                    Some("f"),
                    vec![FieldChange::new(
                        "displayName",
                        json!("Adatum"),
                        json!("Adatum Ltd"),
                    )],
                ),
                action(
                    "Customer/contoso",
                    Some("contoso"),
                    ActionType::Create,
                    None,
                    vec![FieldChange::new(
                        "companyName",
                        json!(null),
                        json!("Contoso"),
                    )],
                ),
                action(
                    "Relationship/fabrikam/nw",
                    Some("fabrikam"),
                    ActionType::Manual,
                    Some("f"),
                    Vec::new(),
                ),
                action(
                    "Subscription/fabrikam-e3",
                    Some("fabrikam"),
                    ActionType::Suspend,
                    Some("f"),
                    vec![
                        FieldChange::new("quantity", json!(12), json!(10)),
                        FieldChange::new("status", json!("active"), json!("suspended")),
                    ],
                ),
            ],
            vec![
                Unmanaged {
                    kind: "Reseller".into(),
                    id: "r".into(),
                    name: "Other".into(),
                },
                Unmanaged {
                    kind: "Subscription".into(),
                    id: "s".into(),
                    name: "Visio".into(),
                },
            ],
        )
    }

    #[test]
    fn creations_and_absent_relationships_are_missing_and_updates_list_fields() {
        let report = drift_report(&sample(), None, false);
        let kinds: Vec<(&str, DriftKind, usize)> = report
            .objects
            .iter()
            .map(|o| (o.address.as_str(), o.kind, o.fields.len()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("Reseller/nw", DriftKind::Missing, 0),
                ("Reseller/adatum", DriftKind::Changed, 1),
                ("Customer/contoso", DriftKind::Missing, 0),
                ("Relationship/fabrikam/nw", DriftKind::Missing, 0),
                ("Subscription/fabrikam-e3", DriftKind::Changed, 2),
            ]
        );
        assert_eq!(
            report.objects[4].fields[0],
            DriftedField {
                path: "quantity".into(),
                live: json!(12),
                declared: json!(10),
            }
        );
        assert_eq!(
            report.summary,
            DriftSummary {
                changed: 2,
                fields: 3,
                missing: 3,
                unmanaged: 2,
            }
        );
        assert!(!report.in_sync);
        assert_eq!(
            report.summary_line(),
            "Drift: 2 object(s) differ (3 field(s)), 3 missing, 2 unmanaged."
        );
    }

    #[test]
    fn unmanaged_objects_alone_are_drift_unless_ignored() {
        let only_unmanaged = plan(Vec::new(), sample().unmanaged);
        assert!(!drift_report(&only_unmanaged, None, false).in_sync);
        let ignored = drift_report(&only_unmanaged, None, true);
        assert!(ignored.in_sync);
        assert_eq!(
            ignored.summary_line(),
            "In sync: the live state matches the manifests. (2 unmanaged (ignored))"
        );
        let nothing = drift_report(&plan(Vec::new(), Vec::new()), None, false);
        assert!(nothing.in_sync);
        assert_eq!(
            nothing.summary_line(),
            "In sync: the live state matches the manifests."
        );
    }

    #[test]
    fn a_scope_keeps_its_customers_and_the_resellers_they_rely_on() {
        let scope = Scope {
            customers: ["fabrikam".to_owned()].into(),
            resellers: ["nw".to_owned()].into(),
            removed: Default::default(),
        };
        let report = drift_report(&sample(), Some(&scope), false);
        let addresses: Vec<&str> = report.objects.iter().map(|o| o.address.as_str()).collect();
        assert_eq!(
            addresses,
            [
                "Reseller/nw",
                "Relationship/fabrikam/nw",
                "Subscription/fabrikam-e3"
            ]
        );
        // Unmanaged resellers belong to no customer's scope.
        assert_eq!(report.unmanaged.len(), 1);
        assert_eq!(report.unmanaged[0].kind, "Subscription");
        assert_eq!(report.scope, ["fabrikam"]);
        assert!(report.objects.iter().all(|o| o.note.is_none()));
    }
}
