//! The live snapshot of the local tenant, handed across as typed values.
//!
//! Reading a snapshot through the client costs four requests per customer and one
//! per legacy subscription: 120,000 answers built as JSON and read back for a
//! tenant of 20,000 customers, several seconds in process. The in-process transport
//! can hand the values across instead (the issue's "no JSON round trip per call
//! where the client can hand typed values across"): this module makes, from the
//! simulator's state, exactly the `Live` the client makes from the simulator's
//! answers. It is a reader, not a second model: no rule is decided here, only how
//! the answers read. The local backend's tests and the rule property
//! (`tests/rules_agree.rs`) check it against the client's read of the same tenant,
//! object by object.

use std::collections::{BTreeMap, BTreeSet};

use crate::live::{
    Live, LiveAgreement, LiveCustomer, LiveNextTerm, LiveReseller, LiveStatus, LiveSubscription,
    LiveSupportContact,
};
use crate::manifest::model::{
    Address, Billing, BillingCycle, Contact, TermDuration, is_new_commerce_offer,
};
use crate::sim::clock::format_rfc3339;
use crate::sim::state::{self, Customer, Cycle, State, Status, Subscription, Term};

/// `Some(text)` unless it is empty or blank, as the client reads optional fields.
fn non_empty(text: Option<&String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty()).cloned()
}

fn text(value: Option<&String>) -> String {
    value.cloned().unwrap_or_default()
}

/// The snapshot the client reads from `state` (the provider's own view: its
/// resellers, the customers it serves, their subscriptions and support contacts).
pub fn live(state: &State) -> Live {
    let resellers = state
        .resellers
        .iter()
        .filter(|r| !r.tenant_id.trim().is_empty())
        .map(|r| {
            let tenant_id = r.tenant_id.to_ascii_lowercase();
            let reseller = LiveReseller {
                tenant_id: tenant_id.clone(),
                mpn_id: r.mpn_id.clone(),
                name: r.name.clone(),
                location: non_empty(Some(&r.location)),
            };
            (tenant_id, reseller)
        })
        .collect();
    let mut live = Live {
        resellers,
        customers: BTreeMap::new(),
        subscriptions: BTreeMap::new(),
        usage_based: BTreeMap::new(),
        // The local tenant is an integration sandbox: no relationship request link.
        relationship_request_url: None,
        ..Live::default()
    };
    let by_customer = subscriptions_by_customer(state);
    // Collected, then built at once: a map built from a list sorts it and fills
    // its nodes in order, where inserting 100,000 ids one by one searched and
    // split the tree for each. Of ids listed twice, the last is kept either way.
    let mut customers = Vec::with_capacity(state.customers.len());
    let mut subscriptions = Vec::with_capacity(state.subscriptions.len());
    for customer in state.customers.iter().filter(|c| !c.relationship_removed) {
        let id = customer.id.to_ascii_lowercase();
        for subscription in by_customer.get(customer.id.as_str()).into_iter().flatten() {
            let subscription = live_subscription(state, &id, subscription);
            subscriptions.push((subscription.id.clone(), subscription));
        }
        customers.push((id.clone(), live_customer(state, id, customer)));
    }
    live.customers = customers.into_iter().collect();
    live.subscriptions = subscriptions.into_iter().collect();
    live
}

/// Each customer's subscriptions, in creation order (the order of its list).
fn subscriptions_by_customer(state: &State) -> BTreeMap<&str, Vec<&Subscription>> {
    let mut by_customer: BTreeMap<&str, Vec<&Subscription>> = BTreeMap::new();
    for subscription in &state.subscriptions {
        by_customer
            .entry(subscription.customer_id.as_str())
            .or_default()
            .push(subscription);
    }
    by_customer
}

fn live_customer(state: &State, id: String, customer: &Customer) -> LiveCustomer {
    let billing = &customer.billing;
    let address = billing.default_address.clone().unwrap_or_default();
    LiveCustomer {
        id,
        domain: non_empty(Some(&customer.domain)).unwrap_or_default(),
        // The billing profile's name is the one cspctl writes (PUT profiles/billing).
        company_name: non_empty(billing.company_name.as_ref())
            .or_else(|| non_empty(Some(&customer.company_name)))
            .unwrap_or_default(),
        billing: Billing {
            email: text(billing.email.as_ref()),
            culture: text(billing.culture.as_ref()),
            language: text(billing.language.as_ref()),
            address: live_address(&address),
        },
        organization_registration_number: non_empty(
            customer.organization_registration_number.as_ref(),
        ),
        associated_partner_id: non_empty(customer.associated_partner_id.as_ref())
            .map(|p| p.to_ascii_lowercase()),
        // The relationships list names the resellers the provider knows.
        reseller_relationships: customer
            .reseller_ids
            .iter()
            .filter_map(|r| state.reseller_by_tenant(r))
            .filter(|r| !r.tenant_id.trim().is_empty())
            .map(|r| r.tenant_id.to_ascii_lowercase())
            .collect::<BTreeSet<_>>(),
        agreement: customer
            .agreements
            .iter()
            .map(|a| LiveAgreement {
                contact: live_contact(&a.primary_contact),
                date_agreed: a.date_agreed.clone(),
            })
            // The latest by date; of equal dates the last listed, as the client.
            .max_by(|a, b| a.date_agreed.cmp(&b.date_agreed)),
    }
}

fn live_address(address: &state::Address) -> Address {
    Address {
        first_name: text(address.first_name.as_ref()),
        last_name: text(address.last_name.as_ref()),
        address_line1: text(address.address_line1.as_ref()),
        address_line2: non_empty(address.address_line2.as_ref()),
        city: text(address.city.as_ref()),
        state: non_empty(address.state.as_ref()),
        postal_code: text(address.postal_code.as_ref()),
        country: text(address.country.as_ref()),
        phone_number: non_empty(address.phone_number.as_ref()),
    }
}

fn live_contact(contact: &state::Contact) -> Contact {
    Contact {
        first_name: text(contact.first_name.as_ref()),
        last_name: text(contact.last_name.as_ref()),
        email: text(contact.email.as_ref()),
        phone_number: non_empty(contact.phone_number.as_ref()),
    }
}

fn live_subscription(state: &State, customer_id: &str, s: &Subscription) -> LiveSubscription {
    let status = match s.status {
        Status::Pending => LiveStatus::Pending,
        Status::Active => LiveStatus::Active,
        Status::Suspended => LiveStatus::Suspended,
        Status::Deleted => LiveStatus::Deleted,
        Status::Expired => LiveStatus::Expired,
    };
    // Partner Center has support contacts for legacy subscriptions only, and the
    // client does not ask for those of gone ones.
    let support_contact = if is_new_commerce_offer(&s.offer_id) || status.is_gone() {
        None
    } else {
        s.support_contact
            .as_ref()
            .filter(|(tenant, _, _)| {
                !tenant.trim().is_empty() && !tenant.eq_ignore_ascii_case(&state.partner.tenant_id)
            })
            .map(|(tenant, mpn, name)| LiveSupportContact {
                tenant_id: tenant.to_ascii_lowercase(),
                mpn_id: mpn.clone(),
                name: name.clone(),
            })
    };
    LiveSubscription {
        id: s.id.to_ascii_lowercase(),
        customer_id: customer_id.to_owned(),
        offer_id: non_empty(Some(&s.offer_id)).unwrap_or_default(),
        friendly_name: s.friendly_name.clone(),
        quantity: u32::try_from(s.quantity).unwrap_or(0),
        term_duration: Some(term_duration(s.term)),
        billing_cycle: Some(billing_cycle(s.billing_cycle)),
        auto_renew: Some(s.auto_renew_enabled),
        status,
        partner_id: non_empty(Some(&s.partner_id)),
        partner_id_unreported: false,
        support_contact,
        order_id: non_empty(Some(&s.order_id)),
        creation_date: Some(format_rfc3339(s.created_at)),
        cancellation_allowed_until: s.is_new_commerce().then(|| format_rfc3339(s.window_end())),
        commitment_end_date: Some(format_rfc3339(s.commitment_end())),
        next_term: s.next_term.as_ref().map(|next| LiveNextTerm {
            offer_id: next.offer_id.clone(),
            quantity: u32::try_from(next.quantity).unwrap_or(0),
            term_duration: term_duration(next.term),
            billing_cycle: billing_cycle(next.billing_cycle),
        }),
        // The tenant always says (`null` when nothing is scheduled).
        next_term_unreported: false,
    }
}

fn term_duration(term: Term) -> TermDuration {
    match term {
        Term::P1M => TermDuration::P1M,
        Term::P1Y => TermDuration::P1Y,
        Term::P3Y => TermDuration::P3Y,
    }
}

fn billing_cycle(cycle: Cycle) -> BillingCycle {
    match cycle {
        Cycle::Monthly => BillingCycle::Monthly,
        Cycle::Annual => BillingCycle::Annual,
        Cycle::Triennial => BillingCycle::Triennial,
    }
}
