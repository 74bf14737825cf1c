//! The catalogue of Partner Center rules cspctl checks before anything is sent.
//!
//! Each [`Rule`] is one thing Partner Center refuses (or, for a few, one thing a
//! manifest must not ask of it) that the pure side reports at plan time: as a
//! validation diagnostic whose `code` is the rule's [`Rule::id`], as a planner error
//! with that code, or as a plan action's warning with the rule in
//! [`crate::plan::Action::rules`]. The id is stable: CI annotations, plan JSON and
//! scripts key on it.
//!
//! [`Rule::codes`] are the Partner Center error codes the simulator (`crate::sim`)
//! answers when the rule is broken, read off `src/sim/state.rs`. The simulator does
//! not use this module: the two are independent readings of the documentation, and
//! `tests/rules_agree.rs` checks that they agree: a plan the planner accepts applies
//! on the simulator without a business error, and every refusal of the simulator
//! that depends only on the manifests and the live state was reported at plan time
//! under the rule its code maps to here.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What breaking a rule depends on, besides the manifests and the live state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The manifests and the live state alone decide it: the plan can tell for sure.
    State,
    /// Time passing or a person acting decides it (a window that closes, a request
    /// someone accepts): the plan can only warn that it may happen.
    TimeOrPerson,
}

/// Where cspctl reports a breach of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reported {
    /// A validation error (`cspctl validate`, and `plan` before it plans), whose
    /// `code` is the rule's id: it needs the manifests only.
    Validation,
    /// A planner error with the rule's id as `code`: it needs the live state, so
    /// it is found only once the manifests are valid.
    PlanError,
    /// A warning on a plan action, with the rule in the action's `rules`.
    PlanWarning,
}

/// A Partner Center rule cspctl checks at plan time; one variant per rule.
///
/// Serialized as its [`Rule::id`] (the plan JSON's `rules`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Customers in some countries need `organizationRegistrationNumber`.
    RegistrationNumberRequired,
    /// Customers in the same countries need a billing phone number.
    PhoneRequired,
    /// A reseller of record or support contact must be one of the customer's resellers.
    ResellerNotRelated,
    /// A purchase needs a term and a billing cycle.
    PurchaseTerms,
    /// The billing cycle must be one the term offers.
    BillingCycle,
    /// New-commerce purchases need the Microsoft Customer Agreement first.
    AgreementRequired,
    /// A subscription has at most one designated support contact.
    DuplicateSupportContact,
    /// Designated support contacts exist only on legacy subscriptions.
    SupportContactNewCommerce,
    /// A new-commerce billing frequency cannot change to or from triennial mid-term.
    TriennialBillingChange,
    /// A suspended subscription's quantity cannot change.
    SuspendedQuantity,
    /// New-commerce seats can be removed only within 7 days of purchase or renewal.
    SeatDecreaseWindow,
    /// The integration sandbox allows a limited number of indirect resellers.
    SandboxResellerLimit,
}

impl Rule {
    /// Every rule, in catalogue order.
    pub const ALL: [Rule; 12] = [
        Rule::RegistrationNumberRequired,
        Rule::PhoneRequired,
        Rule::ResellerNotRelated,
        Rule::PurchaseTerms,
        Rule::BillingCycle,
        Rule::AgreementRequired,
        Rule::DuplicateSupportContact,
        Rule::SupportContactNewCommerce,
        Rule::TriennialBillingChange,
        Rule::SuspendedQuantity,
        Rule::SeatDecreaseWindow,
        Rule::SandboxResellerLimit,
    ];

    /// The stable id: a diagnostic's `code`, a plan action's `rules` entry.
    pub const fn id(self) -> &'static str {
        match self {
            Rule::RegistrationNumberRequired => "registration-number-required",
            Rule::PhoneRequired => "phone-required",
            Rule::ResellerNotRelated => "reseller-not-related",
            Rule::PurchaseTerms => "purchase-terms",
            Rule::BillingCycle => "billing-cycle",
            Rule::AgreementRequired => "agreement-required",
            Rule::DuplicateSupportContact => "duplicate-support-contact",
            Rule::SupportContactNewCommerce => "support-contact-new-commerce",
            Rule::TriennialBillingChange => "triennial-billing-change",
            Rule::SuspendedQuantity => "suspended-quantity",
            Rule::SeatDecreaseWindow => "seat-decrease-window",
            Rule::SandboxResellerLimit => "sandbox-reseller-limit",
        }
    }

    /// The Partner Center error codes the simulator answers when the rule is
    /// broken. Empty for a rule whose breach Partner Center does not refuse with an
    /// error of its own: a manifest that cannot be carried out as written (two
    /// support contacts for one subscription: the second would silently replace
    /// the first) or a purchase the plan cannot even express (no term). A code may
    /// belong to several rules (800042 is Partner Center's "not supported").
    pub const fn codes(self) -> &'static [u32] {
        match self {
            Rule::RegistrationNumberRequired => &[600_049],
            Rule::PhoneRequired => &[600_051],
            // A reseller of record (a legacy order line, a subscription's
            // `partnerId`) or a support contact that is no indirect reseller of the
            // provider, or one without a relationship with the customer: 800016;
            // 10004 on a new-commerce cart line. (The code for the second case is
            // the simulator's choice; docs/simulator.md.)
            Rule::ResellerNotRelated => &[800_016, 10_004],
            Rule::PurchaseTerms => &[],
            // 6001 on a legacy order or its billing-cycle change (error-codes.md),
            // 10010 on a new-commerce cart line or subscription PATCH.
            Rule::BillingCycle => &[6001, 10_010],
            Rule::AgreementRequired => &[13_605],
            Rule::DuplicateSupportContact => &[],
            Rule::SupportContactNewCommerce => &[800_042],
            Rule::TriennialBillingChange => &[800_042],
            Rule::SuspendedQuantity => &[2001],
            Rule::SeatDecreaseWindow => &[800_090],
            Rule::SandboxResellerLimit => &[800_018],
        }
    }

    /// Whether the manifests and the live state alone decide a breach.
    pub const fn scope(self) -> Scope {
        match self {
            Rule::SeatDecreaseWindow => Scope::TimeOrPerson,
            _ => Scope::State,
        }
    }

    /// Where cspctl reports a breach.
    pub const fn reported(self) -> Reported {
        match self {
            Rule::TriennialBillingChange => Reported::PlanError,
            Rule::SuspendedQuantity | Rule::SeatDecreaseWindow | Rule::SandboxResellerLimit => {
                Reported::PlanWarning
            }
            _ => Reported::Validation,
        }
    }

    /// The rules whose breach the simulator answers with `code`.
    pub fn for_code(code: u32) -> Vec<Rule> {
        Rule::ALL
            .into_iter()
            .filter(|rule| rule.codes().contains(&code))
            .collect()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_serialize_as_themselves() {
        let mut ids: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
        for rule in Rule::ALL {
            assert_eq!(
                serde_json::to_value(rule).unwrap(),
                serde_json::json!(rule.id())
            );
            assert_eq!(
                serde_json::from_value::<Rule>(serde_json::json!(rule.id())).unwrap(),
                rule
            );
        }
    }

    #[test]
    fn codes_map_back_to_their_rules() {
        assert_eq!(Rule::for_code(600_049), [Rule::RegistrationNumberRequired]);
        assert_eq!(
            Rule::for_code(800_042),
            [
                Rule::SupportContactNewCommerce,
                Rule::TriennialBillingChange
            ]
        );
        assert!(Rule::for_code(1).is_empty());
    }
}
