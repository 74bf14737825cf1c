//! The plan: an immutable, ordered list of actions that turns the live state into the
//! desired one. Built by the pure [`planner`]; rendered by `render`; executed by
//! `apply`, which makes no decisions of its own.
//!
//! A plan is data: it serializes to the JSON documented by `schemas/plan.schema.json`
//! and can be saved (`plan --out`) and applied later (`apply PLANFILE`), which is why
//! every action carries its full operation and the fingerprint of the live object it
//! was planned against.

pub mod integrity;
pub mod leaves;
pub mod lookups;
pub mod planner;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::live::{LiveNextTerm, LiveStatus};
use crate::manifest::model::{Agreement, Billing, BillingCycle, ResellerSpec, TermDuration};
use crate::rules::Rule;

pub use planner::{PlanOptions, plan, plan_and_lookups, purchases_under_way};

/// Version of the plan JSON; bumped on any incompatible change.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// What an action does.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    Create,
    Update,
    Suspend,
    Reactivate,
    SetSupportContact,
    ResetSupportContact,
    Manual,
    /// New commerce: a change written now as the subscription's scheduled
    /// next-term instructions, which Partner Center applies at the renewal.
    AtRenewal,
    /// New commerce: cancel inside the 7-day window (prorated refund).
    Cancel,
}

impl ActionType {
    pub const ALL: [ActionType; 9] = [
        ActionType::Create,
        ActionType::Update,
        ActionType::Suspend,
        ActionType::Reactivate,
        ActionType::SetSupportContact,
        ActionType::ResetSupportContact,
        ActionType::Manual,
        ActionType::AtRenewal,
        ActionType::Cancel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Create => "create",
            ActionType::Update => "update",
            ActionType::Suspend => "suspend",
            ActionType::Reactivate => "reactivate",
            ActionType::SetSupportContact => "set_support_contact",
            ActionType::ResetSupportContact => "reset_support_contact",
            ActionType::Manual => "manual",
            ActionType::AtRenewal => "at_renewal",
            ActionType::Cancel => "cancel",
        }
    }
}

/// Whether an action can run now.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// cspctl can carry it out.
    Ready,
    /// Waiting on a person in another tenant (see `instructions`).
    Manual,
    /// Depends on a manual action; runs once that is done and the plan is made again.
    Blocked,
}

impl ActionStatus {
    pub const ALL: [ActionStatus; 3] = [
        ActionStatus::Ready,
        ActionStatus::Manual,
        ActionStatus::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Ready => "ready",
            ActionStatus::Manual => "manual",
            ActionStatus::Blocked => "blocked",
        }
    }
}

/// What a reviewer should look at twice.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Buys something (an order).
    Purchase,
    /// Raises what the customer is billed.
    CostIncrease,
    /// The customer notices (access, licenses, tenant, support).
    CustomerVisible,
    /// Cannot be undone through the API.
    Irreversible,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Purchase => "purchase",
            Risk::CostIncrease => "cost_increase",
            Risk::CustomerVisible => "customer_visible",
            Risk::Irreversible => "irreversible",
        }
    }
}

/// One field that changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    /// Dotted path in the manifest's `spec`, e.g. `billing.address.city`.
    pub path: String,
    /// Live value; `null` when the object or field does not exist yet.
    pub before: serde_json::Value,
    /// Desired value.
    pub after: serde_json::Value,
}

impl FieldChange {
    pub fn new(path: &str, before: serde_json::Value, after: serde_json::Value) -> FieldChange {
        FieldChange {
            path: path.to_owned(),
            before,
            after,
        }
    }
}

/// Where the object is declared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceRef {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

/// How a live object is found again when a saved plan is applied.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum LiveKey {
    Reseller {
        tenant_id: String,
    },
    /// A sandbox reseller declared without a tenant id, by its MPN id.
    ResellerMpn {
        mpn_id: String,
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
    /// A subscription of the customer with `customer_domain`, by friendly name.
    SubscriptionName {
        customer_domain: String,
        friendly_name: String,
    },
}

/// The live object an action was planned against: its key and fingerprint
/// (`null` = it did not exist). `apply PLANFILE` refuses when either changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Precondition {
    pub key: LiveKey,
    pub fingerprint: Option<String>,
}

/// Reference to an object that may only get its id while the plan is applied (a
/// customer created by an earlier action, say).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectRef {
    /// Address of the object in this plan, e.g. `Customer/contoso`.
    pub address: String,
    /// Its Partner Center id, when it existed at planning time.
    pub id: Option<String>,
}

/// Fields of a subscription PATCH; `None` leaves the field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_renew: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_cycle: Option<BillingCycle>,
    /// Reseller of record: `Some(None)` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LiveStatus>,
    /// New commerce: the scheduled next-term instructions to write (`Some(None)`
    /// removes them), after every immediate change, since a mid-term change
    /// deletes what was scheduled (create-scheduled-changes).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub next_term: Option<Option<LiveNextTerm>>,
}

impl SubscriptionPatch {
    /// Whether the patch changes the current term (anything but the scheduled
    /// instructions).
    pub fn is_immediate(&self) -> bool {
        self.quantity.is_some()
            || self.auto_renew.is_some()
            || self.billing_cycle.is_some()
            || self.partner_id.is_some()
            || self.status.is_some()
    }
}

/// A field that is present, `null` included (`Some(None)`), versus absent (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The manifest's word for a status in a plan's changes: Partner Center's
/// `deleted` is what `status: cancelled` asks for.
pub fn shown_status(status: LiveStatus) -> serde_json::Value {
    match status {
        LiveStatus::Deleted => serde_json::json!("cancelled"),
        other => serde_json::json!(other),
    }
}

/// The changes scheduled next-term instructions make, as `renewal.*` fields:
/// what the next term would be without this action (the instructions Partner
/// Center holds, else the current term after `patch`'s immediate changes) and
/// with it. The planner shows them; `integrity` derives them again.
pub fn next_term_changes(
    live: &crate::live::LiveSubscription,
    patch: &SubscriptionPatch,
) -> Vec<FieldChange> {
    let Some(wanted) = &patch.next_term else {
        return Vec::new();
    };
    let current = |next: Option<&LiveNextTerm>| {
        (
            next.map_or_else(
                || serde_json::json!(live.offer_id),
                |n| serde_json::json!(n.offer_id),
            ),
            next.map_or_else(
                || serde_json::json!(patch.quantity.unwrap_or(live.quantity)),
                |n| serde_json::json!(n.quantity),
            ),
            next.map_or_else(
                || serde_json::json!(live.term_duration),
                |n| serde_json::json!(n.term_duration),
            ),
            next.map_or_else(
                || serde_json::json!(patch.billing_cycle.or(live.billing_cycle)),
                |n| serde_json::json!(n.billing_cycle),
            ),
        )
    };
    let before = current(live.next_term.as_ref());
    let after = current(wanted.as_ref());
    let mut changes = Vec::new();
    for (path, before, after) in [
        ("renewal.offerId", before.0, after.0),
        ("renewal.quantity", before.1, after.1),
        ("renewal.termDuration", before.2, after.2),
        ("renewal.billingCycle", before.3, after.3),
    ] {
        let same = match (before.as_str(), after.as_str()) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => before == after,
        };
        if !same {
            changes.push(FieldChange::new(path, before, after));
        }
    }
    changes
}

/// When a subscription renews: the date, and how many days from the plan's
/// clock (rounded up: "in 3 days" is within three days).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RenewalDate {
    /// `YYYY-MM-DD`: the renewal happens at 00:00 UTC that day.
    pub date: String,
    /// Days from the plan's clock (`CSPCTL_NOW`, else the system clock).
    pub in_days: i64,
}

impl RenewalDate {
    /// The renewal at `renewal_at` (unix seconds) seen at `now`.
    pub fn new(renewal_at: i64, now: i64) -> RenewalDate {
        RenewalDate {
            date: crate::time::format_date(renewal_at),
            in_days: (renewal_at - now + 86_399).div_euclid(86_400),
        }
    }

    /// `2027-01-15 (in 42 days)`.
    pub fn describe(&self) -> String {
        match self.in_days {
            0 => format!("{} (today)", self.date),
            1 => format!("{} (in 1 day)", self.date),
            n if n < 0 => format!("{} ({} days ago)", self.date, -n),
            n => format!("{} (in {n} days)", self.date),
        }
    }
}

/// A subscription renewing (or ending) within the `--renewals` period: the
/// renewal calendar of `plan` and `drift`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Renewal {
    /// `Subscription/name` when a manifest declares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub subscription_id: String,
    /// The customer's domain.
    pub customer: String,
    pub friendly_name: String,
    pub renews: RenewalDate,
    /// `false`: the subscription ends that day instead of renewing. `None`:
    /// Partner Center did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_renew: Option<bool>,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_duration: Option<TermDuration>,
    /// What the renewal changes (scheduled next-term instructions), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_term: Option<LiveNextTerm>,
}

/// The request an action makes; everything needed to execute it without the manifests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Sandbox only: create an indirect reseller and its partnership.
    CreateReseller { reseller: ResellerSpec },
    /// Create a customer tenant for its first reseller, then record its agreement.
    CreateCustomer {
        domain: String,
        company_name: String,
        billing: Billing,
        organization_registration_number: Option<String>,
        /// Tenant id of the associated reseller; empty when that reseller is created
        /// by this plan (see `associated_reseller`).
        associated_partner_id: String,
        /// The address of the action creating the associated reseller, whose
        /// tenant id Partner Center gives it only then: apply takes it from there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        associated_reseller: Option<String>,
        agreement: Option<Agreement>,
    },
    /// Update the billing profile and/or record the agreement.
    UpdateCustomer {
        customer: ObjectRef,
        billing: Option<Billing>,
        company_name: Option<String>,
        agreement: Option<Agreement>,
    },
    /// Buy a subscription (an order with one line item).
    CreateSubscription {
        customer: ObjectRef,
        offer_id: String,
        quantity: u32,
        term_duration: TermDuration,
        billing_cycle: BillingCycle,
        auto_renew: bool,
        friendly_name: String,
        /// MPN ID of the reseller of record (`partnerIdOnRecord`).
        partner_id_on_record: Option<String>,
        /// Suspend right after provisioning (the manifest says `status: suspended`).
        suspend: bool,
        /// New commerce: the first term's last day, `YYYY-MM-DD` (the cart line's
        /// `customTermEndDate`), aligned with another subscription
        /// (`termEndAlignedWith`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        custom_term_end_date: Option<String>,
    },
    /// PATCH a subscription.
    UpdateSubscription {
        customer: ObjectRef,
        subscription_id: String,
        patch: SubscriptionPatch,
    },
    /// PUT the designated support contact.
    SetSupportContact {
        customer: ObjectRef,
        subscription: ObjectRef,
        /// Empty when the reseller is created by this plan (`reseller_created_by`).
        reseller_tenant_id: String,
        /// The address of the action creating the reseller, when its tenant id is
        /// known only once Partner Center created it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reseller_created_by: Option<String>,
        reseller_mpn_id: String,
        reseller_name: String,
    },
    /// Put the support contact back to the default (the indirect provider).
    ResetSupportContact {
        customer: ObjectRef,
        subscription_id: String,
    },
    /// Nothing cspctl can do: a person must act (see the action's instructions).
    Manual,
}

impl Operation {
    /// The Partner Center id of the existing customer this operation changes, if
    /// any (a customer it creates has none yet).
    pub fn customer_id(&self) -> Option<&str> {
        match self {
            Operation::UpdateCustomer { customer, .. }
            | Operation::CreateSubscription { customer, .. }
            | Operation::UpdateSubscription { customer, .. }
            | Operation::SetSupportContact { customer, .. }
            | Operation::ResetSupportContact { customer, .. } => customer.id.as_deref(),
            Operation::CreateReseller { .. }
            | Operation::CreateCustomer { .. }
            | Operation::Manual => None,
        }
    }
}

impl Plan {
    /// The existing customers (lowercase tenant ids) the plan's actions change.
    pub fn customers_changed(&self) -> std::collections::BTreeSet<String> {
        self.actions
            .iter()
            .filter_map(|action| action.operation.customer_id())
            .map(str::to_ascii_lowercase)
            .collect()
    }
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Action {
    /// `Kind/name`, unique in the plan.
    pub address: String,
    /// The customer the action belongs to (for grouping), if any.
    pub customer: Option<String>,
    #[serde(rename = "type")]
    pub action_type: ActionType,
    pub status: ActionStatus,
    /// Addresses of the actions that must succeed first.
    pub depends_on: Vec<String>,
    pub changes: Vec<FieldChange>,
    pub risks: Vec<Risk>,
    /// Partner Center roles the account that applies this needs (any one of them).
    pub roles: Vec<String>,
    /// For manual and blocked actions: what must happen, by whom.
    pub instructions: Option<String>,
    /// A link for the person who must act (e.g. the relationship-request URL).
    pub url: Option<String>,
    /// What Partner Center will do that a reviewer may not expect (a refused change,
    /// billing that continues while suspended, a window that closes).
    pub warnings: Vec<String>,
    /// The Partner Center rules (`cspctl::rules`) that `warnings` say this action
    /// breaks, by id: what a program reads instead of the text. (Read as empty from
    /// a plan saved before it existed.)
    #[serde(default)]
    pub rules: Vec<Rule>,
    pub source: Option<SourceRef>,
    pub precondition: Option<Precondition>,
    pub operation: Operation,
    /// For a change at renewal (and an end by auto-renew off): when the term ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<RenewalDate>,
}

/// Manual actions on `Customer/c0`, `Customer/c1`, …, each with the one change
/// `change(i)`: plans for the tests of how plans are serialized and digested.
#[cfg(test)]
pub(crate) fn manual_actions(count: usize, change: impl Fn(usize) -> FieldChange) -> Vec<Action> {
    (0..count)
        .map(|i| {
            let mut action = Action::new(
                format!("Customer/c{i}"),
                Some(format!("c{i}")),
                ActionType::Manual,
                Operation::Manual,
            );
            action.changes = vec![change(i)];
            action
        })
        .collect()
}

impl Action {
    /// An action with nothing but its identity and request: no dependencies,
    /// changes, risks, roles, instructions or source yet. Manual actions start
    /// `manual`, every other one `ready`.
    pub fn new(
        address: String,
        customer: Option<String>,
        action_type: ActionType,
        operation: Operation,
    ) -> Action {
        Action {
            address,
            customer,
            action_type,
            status: if action_type == ActionType::Manual {
                ActionStatus::Manual
            } else {
                ActionStatus::Ready
            },
            depends_on: Vec::new(),
            changes: Vec::new(),
            risks: Vec::new(),
            roles: Vec::new(),
            instructions: None,
            url: None,
            warnings: Vec::new(),
            rules: Vec::new(),
            source: None,
            precondition: None,
            operation,
            renewal: None,
        }
    }
}

/// The [`Unmanaged`] kind of a usage-based subscription (an Azure plan): listed so
/// that leaving it out is visible, but no manifest can declare one, so it never
/// counts as drift.
pub const USAGE_SUBSCRIPTION_KIND: &str = "UsageBasedSubscription";

/// A live object no manifest declares; reported, never changed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Unmanaged {
    pub kind: String,
    pub id: String,
    pub name: String,
}

/// A managed live object the plan could not compare in full: Partner Center did
/// not report some of its fields (the documented subscription answers carry no
/// `termDuration` or `billingCycle`), or it is still being provisioned. Those
/// fields are neither changed nor guessed; the object is never bought again.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct PartlyKnown {
    /// `Kind/name` in the manifests.
    pub address: String,
    /// Its Partner Center id.
    pub id: String,
    /// Manifest fields Partner Center did not report (not compared).
    pub unknown: Vec<String>,
    /// Why else it was not compared (e.g. a purchase still in progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl PartlyKnown {
    /// The live subscription at `address`, with the fields Partner Center did not
    /// report and why else it was not compared.
    pub fn of(address: String, live: &crate::live::LiveSubscription, note: Option<String>) -> Self {
        PartlyKnown {
            address,
            id: live.id.clone(),
            unknown: live
                .unknown_fields()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            note,
        }
    }
}

/// Counts of actions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub total: usize,
    pub by_type: BTreeMap<ActionType, usize>,
    pub by_status: BTreeMap<ActionStatus, usize>,
    pub unmanaged: usize,
    /// Managed objects compared only in part (see [`PartlyKnown`]).
    #[serde(default)]
    pub partly_known: usize,
}

impl Summary {
    pub fn of(actions: &[Action], unmanaged: usize) -> Summary {
        let mut by_type: BTreeMap<ActionType, usize> =
            ActionType::ALL.into_iter().map(|t| (t, 0)).collect();
        let mut by_status: BTreeMap<ActionStatus, usize> =
            ActionStatus::ALL.into_iter().map(|s| (s, 0)).collect();
        for action in actions {
            *by_type.entry(action.action_type).or_default() += 1;
            *by_status.entry(action.status).or_default() += 1;
        }
        Summary {
            total: actions.len(),
            by_type,
            by_status,
            unmanaged,
            partly_known: 0,
        }
    }

    pub fn count(&self, action_type: ActionType) -> usize {
        self.by_type.get(&action_type).copied().unwrap_or(0)
    }

    pub fn count_status(&self, status: ActionStatus) -> usize {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
}

/// Why a saved plan could not be read: a message and, where known, `(line, column)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanFileError {
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl std::fmt::Display for PlanFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{line}:{column}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A complete plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    pub format_version: u32,
    /// Which backend the plan was made against (e.g. `local:.cspctl/state.json`);
    /// `apply PLANFILE` refuses another one.
    pub backend: String,
    /// How that backend was chosen (kind, state location, endpoint, sandbox), so
    /// `apply PLANFILE` opens the same one without the flags being repeated.
    /// Absent from plans made before it was recorded, and from drift's plans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_settings: Option<BackendSettings>,
    pub summary: Summary,
    /// In dependency order: every action comes after those it depends on.
    pub actions: Vec<Action>,
    pub unmanaged: Vec<Unmanaged>,
    /// Managed objects compared only in part, by address.
    #[serde(default)]
    pub partly_known: Vec<PartlyKnown>,
    /// The declared resellers by manifest name, as the plan resolved them: what
    /// ties the names its changes show (`reseller: northwind`) to the ids its
    /// operations send, checked by [`integrity`] before a saved plan is applied.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resellers: BTreeMap<String, PlannedReseller>,
    /// What reading the live state for this plan cost in Partner Center requests
    /// (the partner-center backend; the local backend spends no budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<ApiCost>,
    /// Set when the plan covers only part of the tenant (`--customer`,
    /// `--target`, `--changed-since`): what it read; `apply PLANFILE` reads the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<crate::scope::PlanScope>,
    /// `sha256:` of the plan's JSON without this field, written by `plan --out`
    /// and `--format json` and checked by `apply PLANFILE`: it catches a damaged
    /// or edited file, but it is no signature (see [`integrity`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The renewal calendar (`--renewals PERIOD`): subscriptions renewing or
    /// ending within the period, soonest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renewals: Vec<Renewal>,
}

/// The backend a plan was made against, as the settings that chose it (never a
/// credential: those come from the environment when the plan is applied).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BackendSettings {
    /// `local` or `partner-center`.
    pub kind: String,
    /// The local state file (local backend, state kept on this machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The remote state's URL (`--state-url`), when the state is kept there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_url: Option<String>,
    /// Partner Center's API base URL (partner-center backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The Entra ID authority its tokens come from (partner-center backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Integration sandbox (partner-center backend).
    #[serde(default)]
    pub sandbox: bool,
}

/// Partner Center's documented request budget for a partner on the resources a
/// plan reads: about 500 requests a minute (partner-center-api.md, "Throttling").
pub const PARTNER_REQUESTS_PER_MINUTE: u64 = 500;

/// The Partner Center requests a run sent, against the partner's budget, and how
/// it read the tenant for them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiCost {
    /// Requests sent, each attempt counted (token requests are not).
    pub requests: u64,
    /// Of those, answered 429 (throttled).
    pub throttled: u64,
    /// The per-minute budget the share is taken of.
    pub budget_per_minute: u64,
    /// How the tenant was read: whole, or a snapshot refreshed from the audit
    /// log ([`crate::cache`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<crate::cache::Refresh>,
}

impl ApiCost {
    pub fn new(requests: u64, throttled: u64) -> ApiCost {
        ApiCost {
            requests,
            throttled,
            budget_per_minute: PARTNER_REQUESTS_PER_MINUTE,
            read: None,
        }
    }

    /// `Partner Center calls: 12 (2.4 % of the partner's 500-a-minute budget)`, or
    /// in minutes of the budget when a read takes more than one.
    pub fn line(&self) -> String {
        let budget = self.budget_per_minute.max(1);
        let share = if self.requests > budget {
            format!(
                "{:.1} minutes of the partner's {budget}-a-minute budget",
                self.requests as f64 / budget as f64
            )
        } else {
            format!(
                "{:.1} % of the partner's {budget}-a-minute budget",
                self.requests as f64 * 100.0 / budget as f64
            )
        };
        let throttled = if self.throttled > 0 {
            format!(", {} throttled (429)", self.throttled)
        } else {
            String::new()
        };
        let read = self
            .read
            .as_ref()
            .map(|read| format!(". {}", read.line()))
            .unwrap_or_default();
        format!(
            "Partner Center calls: {} ({share}{throttled}){read}",
            self.requests
        )
    }
}

/// A declared reseller as a plan resolved it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedReseller {
    /// `None` for a sandbox reseller this plan creates (Partner Center gives the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    pub mpn_id: String,
    pub display_name: String,
}

impl Plan {
    /// A plan of the current format version with its summary counted.
    pub fn new(backend: String, actions: Vec<Action>, unmanaged: Vec<Unmanaged>) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            backend,
            backend_settings: None,
            summary: Summary::of(&actions, unmanaged.len()),
            actions,
            unmanaged,
            partly_known: Vec::new(),
            resellers: BTreeMap::new(),
            cost: None,
            scope: None,
            digest: None,
            renewals: Vec::new(),
        }
    }

    /// Reads a saved plan (`plan --out`). The version is checked first, so a plan
    /// from another cspctl is reported as such rather than as a field mismatch.
    pub fn from_json(text: &str) -> Result<Plan, PlanFileError> {
        let positioned = |what: &str, e: serde_json::Error| PlanFileError {
            position: Some((e.line(), e.column())),
            message: format!("{what}: {e}"),
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| positioned("not a plan file", e))?;
        let found = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64);
        if found != Some(u64::from(PLAN_FORMAT_VERSION)) {
            return Err(PlanFileError {
                position: None,
                message: format!(
                    "plan format_version {} is not supported (this cspctl reads {PLAN_FORMAT_VERSION}); make the plan again with this version",
                    found.map_or_else(|| "missing".to_owned(), |v| v.to_string())
                ),
            });
        }
        // Parsed from the text again (it is small) so a mismatch keeps its position.
        let plan: Plan =
            serde_json::from_str(text).map_err(|e| positioned("invalid plan file", e))?;
        integrity::verify_digest(&plan).map_err(|message| PlanFileError {
            position: None,
            message,
        })?;
        Ok(plan)
    }

    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty()
    }

    /// The one-line summary, e.g. `Plan: 3 to create, 1 to update, 0 manual, 0 blocked.`
    pub fn summary_line(&self) -> String {
        if !self.has_changes() {
            return "No changes. The live state matches the manifests.".to_owned();
        }
        let s = &self.summary;
        let updates = s.count(ActionType::Update);
        let mut parts = vec![
            format!("{} to create", s.count(ActionType::Create)),
            format!("{updates} to update"),
        ];
        for (action_type, label) in [
            (ActionType::Suspend, "to suspend"),
            (ActionType::Reactivate, "to reactivate"),
            (ActionType::SetSupportContact, "support contact(s) to set"),
            (
                ActionType::ResetSupportContact,
                "support contact(s) to reset",
            ),
            (ActionType::AtRenewal, "at renewal"),
            (ActionType::Cancel, "to cancel"),
        ] {
            let n = s.count(action_type);
            if n > 0 {
                parts.push(format!("{n} {label}"));
            }
        }
        parts.push(format!("{} manual", s.count(ActionType::Manual)));
        parts.push(format!("{} blocked", s.count_status(ActionStatus::Blocked)));
        format!("Plan: {}.", parts.join(", "))
    }
}

#[cfg(test)]
mod tests;
