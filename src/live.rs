//! The live snapshot: a normalized view of what a Partner Center tenant holds, as
//! read by a backend. The planner compares it with the desired model.
//!
//! Keys are lowercase GUIDs (Partner Center treats GUIDs case-insensitively) and
//! maps are `BTreeMap`s, so snapshots serialize and fingerprint deterministically.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::manifest::model::{Billing, BillingCycle, Contact, TermDuration};

/// Everything the provider sees in its tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Live {
    /// Indirect resellers the provider has a partnership with, by tenant id.
    #[serde(default)]
    pub resellers: BTreeMap<String, LiveReseller>,
    /// Customers, by customer tenant id.
    #[serde(default)]
    pub customers: BTreeMap<String, LiveCustomer>,
    /// Subscriptions of all customers, by subscription id.
    #[serde(default)]
    pub subscriptions: BTreeMap<String, LiveSubscription>,
    /// Usage-based subscriptions (Azure plans), by id: nothing a manifest
    /// declares (no seats, no term), so they are left out of `subscriptions` on
    /// purpose, by their billing type, and listed here so a plan can say so.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub usage_based: BTreeMap<String, LiveUsageSubscription>,
    /// The link a customer's admin opens to accept a reseller relationship request
    /// (`GET /v1/customers/relationshiprequests`), when the backend has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_request_url: Option<String>,
    /// What a plan asked Partner Center about the changes it plans, never part
    /// of a snapshot ([`Lookups`]): the scheduled transitions of a subscription
    /// whose SKU the manifest changes, by subscription id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub transitions: BTreeMap<String, Vec<LiveTransition>>,
    /// The custom term end dates a purchase aligned with another subscription
    /// may take, by [`TermEndQuery::key`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub term_end_dates: BTreeMap<String, Vec<LiveTermEnd>>,
}

/// A target a new-commerce subscription can move to at renewal, as Partner
/// Center's transition-eligibility API lists it
/// (learn.microsoft.com/partner-center/developer/transition-a-new-commerce-subscription:
/// `GET …/subscriptions/{id}/transitionEligibilities?eligibilityType=scheduled`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveTransition {
    /// `PRODUCT:SKU:AVAILABILITY` (`catalogItemId`).
    pub catalog_item_id: String,
    /// The SKU's title, when Partner Center gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Whether any of its `eligibilities` is eligible.
    pub eligible: bool,
    /// Why not, when it is not (the `errors` descriptions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// A custom term end date a purchase may take
/// (learn.microsoft.com/partner-center/developer/custom-term-end-dates).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveTermEnd {
    /// `YYYY-MM-DD` (`allowedCustomTermEndDate`, a date at midnight without offset).
    pub date: String,
    /// `allowedCustomTermEndDateType`: `calendarMonthAligned` or `subscriptionAligned`.
    pub kind: String,
    /// The subscriptions that end that day (`cotermSubscriptionIds`), lowercase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coterm_subscription_ids: Vec<String>,
}

/// The allowed custom term end dates of one purchase: a term, for a customer,
/// aligned with one of its subscriptions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TermEndQuery {
    pub customer_id: String,
    pub term_duration: TermDuration,
    /// `target_coterm_subscription_id`.
    pub coterm_subscription_id: String,
}

impl TermEndQuery {
    /// The key of its answer in [`Live::term_end_dates`].
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.customer_id,
            self.term_duration.as_iso(),
            self.coterm_subscription_id
        )
    }
}

/// What a plan must ask Partner Center beyond the snapshot, in proportion to
/// what it changes (so a plan that changes no SKU and aligns no purchase costs
/// no request more): the transitions of each subscription whose SKU the
/// manifest changes, and the allowed term end dates of each purchase aligned
/// with another subscription.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lookups {
    /// `(customer id, subscription id)`.
    pub transitions: BTreeSet<(String, String)>,
    pub term_ends: BTreeSet<TermEndQuery>,
}

impl Lookups {
    pub fn is_empty(&self) -> bool {
        self.transitions.is_empty() && self.term_ends.is_empty()
    }
}

/// A usage-based subscription (`billingType: usage`), known only by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveUsageSubscription {
    pub customer_id: String,
    pub offer_id: String,
    pub friendly_name: String,
}

/// A partnership with an indirect reseller (Partner Center `PartnerRelationship`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveReseller {
    pub tenant_id: String,
    pub mpn_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// A customer and what Partner Center says about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveCustomer {
    pub id: String,
    pub domain: String,
    pub company_name: String,
    pub billing: Billing,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_registration_number: Option<String>,
    /// The reseller the customer was created for (`associatedPartnerId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_partner_id: Option<String>,
    /// Tenant ids of the indirect resellers the customer has a relationship with.
    #[serde(default)]
    pub reseller_relationships: BTreeSet<String>,
    /// The Microsoft Customer Agreement attestation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<LiveAgreement>,
}

/// A recorded Microsoft Customer Agreement acceptance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveAgreement {
    pub contact: Contact,
    pub date_agreed: String,
}

/// Partner Center's subscription status values.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LiveStatus {
    Active,
    Suspended,
    Pending,
    Deleted,
    Expired,
    Disabled,
}

impl LiveStatus {
    /// Whether the subscription still exists in a form that can be managed.
    pub fn is_gone(self) -> bool {
        matches!(
            self,
            LiveStatus::Deleted | LiveStatus::Expired | LiveStatus::Disabled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LiveStatus::Active => "active",
            LiveStatus::Suspended => "suspended",
            LiveStatus::Pending => "pending",
            LiveStatus::Deleted => "deleted",
            LiveStatus::Expired => "expired",
            LiveStatus::Disabled => "disabled",
        }
    }
}

/// The designated support contact of a subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveSupportContact {
    pub tenant_id: String,
    pub mpn_id: String,
    pub name: String,
}

/// A subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveSubscription {
    pub id: String,
    pub customer_id: String,
    /// Empty when Partner Center did not report it (the documented list of a
    /// customer's subscriptions has none).
    pub offer_id: String,
    pub friendly_name: String,
    pub quantity: u32,
    /// `None`: Partner Center did not report it. The documented subscription
    /// answers carry neither a term nor a billing cycle, so these are partly known
    /// as a rule, not as an exception: compared only when known, never guessed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_duration: Option<TermDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_cycle: Option<BillingCycle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_renew: Option<bool>,
    pub status: LiveStatus,
    /// MPN ID of the reseller of record (Partner Center `partnerId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// Partner Center's answer did not carry `partnerId` at all (the documented
    /// get-a-subscription example has none), which is not the same as none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partner_id_unreported: bool,
    /// `None` means the default: the indirect provider itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_contact: Option<LiveSupportContact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
    /// New commerce: the last moment a cancel or quantity decrease is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_allowed_until: Option<String>,
    /// When the current term ends (`commitmentEndDate`): the subscription renews
    /// (or expires) then, a change Partner Center makes itself and its audit log
    /// does not show, so an incremental refresh re-reads it ([`crate::cache`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment_end_date: Option<String>,
    /// New commerce: the changes scheduled for the next renewal
    /// (`scheduledNextTermInstructions`); `None` when nothing is scheduled or
    /// Partner Center did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_term: Option<LiveNextTerm>,
    /// New commerce: Partner Center's answer did not say whether changes are
    /// scheduled (no `scheduledNextTermInstructions` key), which is not the same
    /// as none: an immediate change would delete any, and the plan says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub next_term_unreported: bool,
}

#[cfg(test)]
impl LiveSubscription {
    /// An active subscription with nothing else known: the base of the unit
    /// tests' fixtures, which set what they are about with `..`.
    pub(crate) fn known_only_by(
        id: &str,
        customer_id: &str,
        offer_id: &str,
        friendly_name: &str,
    ) -> LiveSubscription {
        LiveSubscription {
            id: id.to_owned(),
            customer_id: customer_id.to_owned(),
            offer_id: offer_id.to_owned(),
            friendly_name: friendly_name.to_owned(),
            quantity: 1,
            term_duration: None,
            billing_cycle: None,
            auto_renew: Some(true),
            status: LiveStatus::Active,
            partner_id: None,
            partner_id_unreported: false,
            support_contact: None,
            order_id: None,
            creation_date: None,
            cancellation_allowed_until: None,
            commitment_end_date: None,
            next_term: None,
            next_term_unreported: false,
        }
    }
}

/// A new-commerce subscription's scheduled next-term instructions: what its next
/// renewal applies (learn.microsoft.com/partner-center/developer/create-scheduled-changes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveNextTerm {
    /// `PRODUCT:SKU:AVAILABILITY`.
    pub offer_id: String,
    pub quantity: u32,
    pub term_duration: TermDuration,
    pub billing_cycle: BillingCycle,
}

impl LiveSubscription {
    /// The spec fields Partner Center did not report for this subscription
    /// (manifest names), in a fixed order; empty when it is fully known.
    pub fn unknown_fields(&self) -> Vec<&'static str> {
        let mut unknown = Vec::new();
        if self.offer_id.is_empty() {
            unknown.push("offerId");
        }
        if self.term_duration.is_none() {
            unknown.push("termDuration");
        }
        if self.billing_cycle.is_none() {
            unknown.push("billingCycle");
        }
        if self.auto_renew.is_none() {
            unknown.push("autoRenew");
        }
        if self.partner_id_unreported {
            unknown.push("reseller");
        }
        unknown
    }
}

impl Live {
    /// The customer with this domain (case-insensitive).
    pub fn customer_by_domain(&self, domain: &str) -> Option<&LiveCustomer> {
        self.customers
            .values()
            .find(|c| c.domain.eq_ignore_ascii_case(domain))
    }

    /// Builds a domain → customer id index (lowercase domains).
    pub fn customer_domain_index(&self) -> std::collections::HashMap<String, String> {
        self.customers
            .values()
            .map(|c| (c.domain.to_ascii_lowercase(), c.id.clone()))
            .collect()
    }
}

/// The customers a command looks at (`drift --customer`): by tenant id or domain,
/// both lowercase. Resellers are always read whole (one call); a scoped read skips
/// every other customer's details and subscriptions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerScope {
    pub tenant_ids: BTreeSet<String>,
    pub domains: BTreeSet<String>,
}

impl CustomerScope {
    /// Whether the customer with this id and domain is in scope.
    pub fn includes(&self, tenant_id: &str, domain: &str) -> bool {
        self.tenant_ids.contains(&tenant_id.to_ascii_lowercase())
            || self.domains.contains(&domain.to_ascii_lowercase())
    }

    /// Drops every customer out of scope, and its subscriptions.
    pub fn restrict(&self, live: &mut Live) {
        live.customers
            .retain(|id, customer| self.includes(id, &customer.domain));
        let customers = &live.customers;
        live.subscriptions
            .retain(|_, subscription| customers.contains_key(&subscription.customer_id));
        live.usage_based
            .retain(|_, subscription| customers.contains_key(&subscription.customer_id));
    }
}

/// A stable fingerprint of any serializable live object: FNV-1a (64-bit) over its
/// canonical JSON. Detects change, not tampering; no secret ever goes into it.
pub fn fingerprint<T: Serialize>(object: &T) -> String {
    let json = serde_json::to_vec(object).expect("live objects always serialize");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in json {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
