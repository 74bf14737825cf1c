//! Rules in two places, and proven to agree (issue 13).
//!
//! The pure side (validation and the planner) reports the Partner Center rules a
//! user needs to know about at plan time, by the ids of the catalogue in
//! `cspctl::rules`; the simulator, which the local backend runs in process,
//! enforces what Partner Center refuses, with Partner Center's error codes. The two
//! are written independently. This property checks that they agree, on small
//! generated worlds:
//!
//! 1. A first manifest set is carried out on an empty local tenant, object by object
//!    and without any check of cspctl's (what the simulator refuses simply does not
//!    exist afterwards); the extra reseller relationships are accepted. That is the
//!    live state.
//! 2. A second, changed manifest set is validated and planned against it.
//! 3. (a) When the planner accepts (no error, no warning predicting a refusal that
//!    the state alone decides), the plan is applied to a copy of the tenant: no
//!    action may fail.
//! 4. (b) The second set is also carried out on another copy without cspctl's checks,
//!    as in step 1. Every refusal of the simulator maps, through the catalogue's
//!    codes, to rules; one of them must have been reported at plan time (a
//!    diagnostic's code, or an action's `rules`). A rule that needs the live state
//!    is reported by the planner, which runs only once validation passes; when
//!    validation failed, it counts if the planner reports it on the same manifests
//!    (what the user sees after fixing the validation errors).
//!
//! Everything runs on a fixed clock with no person acting in between, so refusals
//! that depend on time passing or on a person (a cancellation window closing, a
//! relationship accepted or removed) are out of scope: their codes are listed in
//! [`OUT_OF_SCOPE_CODES`]. A reseller of record or support contact the manifests
//! relate to the customer, named before the customer accepted that reseller, is
//! refused like an unrelated one (800016, 10004 on a cart line), but the customer
//! accepting decides it: such a refusal is out of scope too, as long as the plan
//! asks for the manual step (`Relationship/<customer>/<reseller>`) its request
//! waits for.
//!
//! The seed is fixed, so CI is repeatable; the number of cases is small enough for
//! the normal suite. A longer run, with a seed of one's own if wanted:
//!
//! ```text
//! PROPTEST_CASES=2000 cargo test --release --test rules_agree
//! PROPTEST_RNG_SEED=7 PROPTEST_CASES=2000 cargo test --release --test rules_agree
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cspctl::apply::{ActionOutcome, execute_unattended};
use cspctl::backend::local::LocalBackend;
use cspctl::backend::{Backend, BackendError};
use cspctl::diagnostic::Diagnostic;
use cspctl::live::{Live, LiveStatus};
use cspctl::manifest::Manifests;
use cspctl::manifest::load::{SchemaValidators, load_manifests};
use cspctl::manifest::model::{BillingCycle, DesiredStatus, TermDuration};
use cspctl::manifest::source::SourceMap;
use cspctl::plan::{ObjectRef, Operation, Plan, PlanOptions, SubscriptionPatch};
use cspctl::rules::{Reported, Rule, Scope};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// The local tenant's clock, the same for every step.
const NOW: &str = "2026-03-01T10:00:00Z";

/// Refusals that depend on time passing or on a person, not on the manifests and
/// the live state: out of the property's scope, whatever the plan said.
const OUT_OF_SCOPE_CODES: [(u32, &str); 6] = [
    (
        800_090,
        "seat decrease after the cancellation window closed",
    ),
    (800_096, "cancellation after the cancellation window closed"),
    (20_002, "the customer removed the relationship"),
    (800_060, "a change still in progress"),
    (800_081, "a purchase still being provisioned"),
    (800_082, "a purchase still being provisioned"),
];

/// Resellers by index: tenant id and MPN ID. The same index is the same reseller
/// in both manifest sets.
const RESELLERS: [(&str, &str); 3] = [
    ("6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "4847383"),
    ("22222222-3333-4444-8555-666666666666", "517285"),
    ("3a3a3a3a-4b4b-4c4c-8d8d-5e5e5e5e5e5e", "600123"),
];

/// Customer countries: some need a registration number and a phone number.
const COUNTRIES: [&str; 6] = ["US", "GB", "DE", "IN", "BR", "PL"];

/// Legacy offers (GUIDs) and new-commerce ones (`PRODUCT:SKU:AVAILABILITY`).
const OFFERS: [&str; 4] = [
    "031c9e47-4802-4248-838e-778fb1d2cc05",
    "91fd106f-4b2c-4938-95ac-f54f74e9a239",
    "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM",
    "CFQ7TTC0LF8Q:0001:CFQ7TTC0KCJV",
];

/// The term and billing cycle pairs Partner Center offers.
const VALID_TERMS: [(TermDuration, BillingCycle); 6] = [
    (TermDuration::P1M, BillingCycle::Monthly),
    (TermDuration::P1Y, BillingCycle::Monthly),
    (TermDuration::P1Y, BillingCycle::Annual),
    (TermDuration::P3Y, BillingCycle::Monthly),
    (TermDuration::P3Y, BillingCycle::Annual),
    (TermDuration::P3Y, BillingCycle::Triennial),
];

// ---------------------------------------------------------------------------------
// Generated worlds

#[derive(Clone, Debug)]
struct CustomerGen {
    country: usize,
    registration_number: bool,
    phone: bool,
    agreement: bool,
    /// Reseller indices (modulo the resellers declared); the first is the
    /// associated reseller, the others relationships the customer must accept.
    resellers: Vec<usize>,
}

#[derive(Clone, Debug)]
struct SubscriptionGen {
    /// Customer index, modulo the customers declared.
    customer: usize,
    offer: usize,
    term: TermDuration,
    cycle: BillingCycle,
    quantity: u32,
    suspended: bool,
    auto_renew: bool,
    /// Reseller of record.
    reseller: Option<ResellerPick>,
}

/// A reseller for a subscription or support contact: mostly one of the customer's
/// (`related`: an index into its list), sometimes any (an index modulo the
/// resellers declared), which may have no relationship with the customer.
#[derive(Clone, Copy, Debug)]
struct ResellerPick {
    related: bool,
    index: usize,
}

fn reseller_pick() -> impl Strategy<Value = ResellerPick> {
    (prop::bool::weighted(0.85), 0..RESELLERS.len())
        .prop_map(|(related, index)| ResellerPick { related, index })
}

#[derive(Clone, Debug)]
struct ContactGen {
    /// Mostly a legacy subscription (`legacy`: an index among those, when there
    /// are any), sometimes any (new commerce has no support contacts).
    legacy: bool,
    /// Subscription index, modulo the subscriptions picked from.
    subscription: usize,
    reseller: ResellerPick,
}

#[derive(Clone, Debug)]
struct World {
    resellers: usize,
    customers: Vec<CustomerGen>,
    subscriptions: Vec<SubscriptionGen>,
    contacts: Vec<ContactGen>,
}

/// A term and billing cycle: mostly a pair Partner Center offers, sometimes any.
fn terms() -> impl Strategy<Value = (TermDuration, BillingCycle)> {
    let term = prop::sample::select(&[TermDuration::P1M, TermDuration::P1Y, TermDuration::P3Y][..]);
    let cycle = prop::sample::select(
        &[
            BillingCycle::Monthly,
            BillingCycle::Annual,
            BillingCycle::Triennial,
        ][..],
    );
    prop_oneof![
        5 => prop::sample::select(&VALID_TERMS[..]),
        1 => (term, cycle),
    ]
}

fn customer() -> impl Strategy<Value = CustomerGen> {
    (
        0..COUNTRIES.len(),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.8),
        prop::collection::vec(0..RESELLERS.len(), 1..=3),
    )
        .prop_map(
            |(country, registration_number, phone, agreement, resellers)| CustomerGen {
                country,
                registration_number,
                phone,
                agreement,
                resellers,
            },
        )
}

fn subscription() -> impl Strategy<Value = SubscriptionGen> {
    (
        0..4usize,
        0..OFFERS.len(),
        terms(),
        // Up to 30 seats: the simulator refuses more than 10,000 on a line (a
        // choice of its own, "limits vary per offer") and the planner does not
        // guess offer limits, so larger quantities are not generated.
        1..=30u32,
        prop::bool::weighted(0.3),
        any::<bool>(),
        prop::option::weighted(0.7, reseller_pick()),
    )
        .prop_map(
            |(customer, offer, (term, cycle), quantity, suspended, auto_renew, reseller)| {
                SubscriptionGen {
                    customer,
                    offer,
                    term,
                    cycle,
                    quantity,
                    suspended,
                    auto_renew,
                    reseller,
                }
            },
        )
}

fn world() -> impl Strategy<Value = World> {
    (
        1..=RESELLERS.len(),
        prop::collection::vec(customer(), 0..=4),
        prop::collection::vec(subscription(), 0..=5),
        prop::collection::vec(
            (prop::bool::weighted(0.8), 0..5usize, reseller_pick()).prop_map(
                |(legacy, subscription, reseller)| ContactGen {
                    legacy,
                    subscription,
                    reseller,
                },
            ),
            0..=2,
        ),
    )
        .prop_map(|(resellers, customers, subscriptions, contacts)| World {
            resellers,
            customers,
            subscriptions,
            contacts,
        })
}

/// Which objects of the second set keep what the first set said (so they are
/// changed in place rather than replaced): per customer, per subscription.
#[derive(Clone, Debug)]
struct Keep {
    customers: Vec<bool>,
    subscriptions: Vec<bool>,
}

fn keep() -> impl Strategy<Value = Keep> {
    (
        prop::collection::vec(prop::bool::weighted(0.75), 4),
        prop::collection::vec(prop::bool::weighted(0.75), 5),
    )
        .prop_map(|(customers, subscriptions)| Keep {
            customers,
            subscriptions,
        })
}

/// The second manifest set: `changed`, except that what `keep` says stays as in
/// `first`. A kept customer keeps its country, registration number and resellers
/// (its agreement may come, its phone number come or go: a billing profile update
/// that drops the phone of a customer whose country needs one); a kept
/// subscription keeps its customer,
/// offer and term, and changes the rest (quantity, status, auto-renew, billing
/// cycle, reseller of record) as `changed` says.
fn evolve(first: &World, changed: World, keep: &Keep) -> World {
    let mut second = changed;
    for (i, customer) in second.customers.iter_mut().enumerate() {
        if let (Some(true), Some(before)) = (keep.customers.get(i), first.customers.get(i)) {
            *customer = CustomerGen {
                agreement: customer.agreement || before.agreement,
                phone: customer.phone,
                ..before.clone()
            };
        }
    }
    for (i, subscription) in second.subscriptions.iter_mut().enumerate() {
        if let (Some(true), Some(before)) = (keep.subscriptions.get(i), first.subscriptions.get(i))
        {
            subscription.customer = before.customer;
            subscription.offer = before.offer;
            subscription.term = before.term;
        }
    }
    second
}

impl World {
    /// The manifests, as one multi-document YAML file.
    fn yaml(&self) -> String {
        let mut out = String::new();
        let reseller = |index: usize| format!("r{}", index % self.resellers);
        let customer_resellers: Vec<Vec<String>> = self
            .customers
            .iter()
            .map(|c| {
                let mut names: Vec<String> = Vec::new();
                for &r in &c.resellers {
                    if !names.contains(&reseller(r)) {
                        names.push(reseller(r));
                    }
                }
                names
            })
            .collect();
        let pick = |customer: usize, pick: ResellerPick| {
            let names = &customer_resellers[customer];
            if pick.related && !names.is_empty() {
                names[pick.index % names.len()].clone()
            } else {
                reseller(pick.index)
            }
        };
        for (i, (tenant, mpn)) in RESELLERS.iter().take(self.resellers).enumerate() {
            let _ = write!(
                out,
                "---\napiVersion: cspctl/v1\nkind: Reseller\nmetadata: {{name: r{i}}}\nspec: {{tenantId: {tenant}, mpnId: \"{mpn}\", displayName: Reseller {i}}}\n"
            );
        }
        for (i, (c, resellers)) in self.customers.iter().zip(&customer_resellers).enumerate() {
            let phone = if c.phone {
                ", phoneNumber: \"5550100\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "---\napiVersion: cspctl/v1\nkind: Customer\nmetadata: {{name: c{i}}}\nspec:\n  domain: c{i}.onmicrosoft.com\n  companyName: Customer {i}\n  resellers: [{}]\n  billing:\n    email: a@c{i}.example\n    culture: en-US\n    language: en\n    address: {{firstName: A, lastName: B, addressLine1: 1 Way, city: Town, postalCode: \"12345\", country: {}{phone}}}\n",
                resellers.join(", "),
                COUNTRIES[c.country]
            );
            if c.registration_number {
                let _ = writeln!(out, "  organizationRegistrationNumber: \"REG-{i}\"");
            }
            if c.agreement {
                let _ = write!(
                    out,
                    "  agreement:\n    contact: {{firstName: A, lastName: B, email: a@c{i}.example}}\n    dateAgreed: \"2026-01-01\"\n"
                );
            }
        }
        if self.customers.is_empty() {
            return out;
        }
        let customer_of = |s: &SubscriptionGen| s.customer % self.customers.len();
        for (i, s) in self.subscriptions.iter().enumerate() {
            let mut extra = String::new();
            if s.suspended {
                extra.push_str(", status: suspended");
            }
            if !s.auto_renew {
                extra.push_str(", autoRenew: false");
            }
            if let Some(r) = s.reseller {
                let _ = write!(extra, ", reseller: {}", pick(customer_of(s), r));
            }
            let _ = write!(
                out,
                "---\napiVersion: cspctl/v1\nkind: Subscription\nmetadata: {{name: s{i}}}\nspec: {{customer: c{}, offerId: \"{}\", quantity: {}, termDuration: {:?}, billingCycle: {}{extra}}}\n",
                customer_of(s),
                OFFERS[s.offer],
                s.quantity,
                s.term,
                cycle_name(s.cycle),
            );
        }
        if self.subscriptions.is_empty() {
            return out;
        }
        let legacy: Vec<usize> = (0..self.subscriptions.len())
            .filter(|&s| !OFFERS[self.subscriptions[s].offer].contains(':'))
            .collect();
        for (i, contact) in self.contacts.iter().enumerate() {
            let subscription = if contact.legacy && !legacy.is_empty() {
                legacy[contact.subscription % legacy.len()]
            } else {
                contact.subscription % self.subscriptions.len()
            };
            let _ = write!(
                out,
                "---\napiVersion: cspctl/v1\nkind: SupportContact\nmetadata: {{name: sc{i}}}\nspec: {{subscription: s{subscription}, reseller: {}}}\n",
                pick(
                    customer_of(&self.subscriptions[subscription]),
                    contact.reseller
                )
            );
        }
        out
    }
}

fn cycle_name(cycle: BillingCycle) -> &'static str {
    match cycle {
        BillingCycle::Monthly => "monthly",
        BillingCycle::Annual => "annual",
        BillingCycle::Triennial => "triennial",
    }
}

// ---------------------------------------------------------------------------------
// Loading and planning

/// The YAML text as a one-file source map and its manifests (schema-checked only).
fn load(yaml: &str, validators: &SchemaValidators) -> Result<(SourceMap, Manifests), String> {
    let mut sources = SourceMap::new();
    sources.add("world.yaml".to_owned(), yaml.to_owned());
    let (manifests, problems) = load_manifests(&sources, validators);
    if problems.iter().any(Diagnostic::is_error) {
        // The generator writes schema-valid manifests; anything else is its bug.
        return Err(format!(
            "the generated manifests do not load: {problems:?}\n{yaml}"
        ));
    }
    Ok((sources, manifests))
}

/// What planning the second set said.
struct Planned {
    /// Diagnostic codes (validation, then planning) and the actions' rule ids.
    reported: BTreeSet<String>,
    /// When validation failed, what the planner reports on the same manifests
    /// once the validation errors are out of the way (the rules that need the live
    /// state): what the user sees on the plan after fixing them. Empty otherwise.
    reported_once_valid: BTreeSet<String>,
    /// The plan, when there is one.
    plan: Option<Plan>,
    /// The manual actions of the plan made (of the second set, or once its
    /// validation errors are fixed), by address; `None` when the planner made none.
    manual: Option<BTreeSet<String>>,
}

impl Planned {
    /// The planner accepts: a plan, and no action that a rule decided by the state
    /// alone says Partner Center will refuse.
    fn accepted(&self) -> Option<&Plan> {
        self.plan.as_ref().filter(|plan| {
            plan.actions
                .iter()
                .flat_map(|a| &a.rules)
                .all(|rule| rule.scope() == Scope::TimeOrPerson)
        })
    }
}

fn plan_options(path: &Path) -> PlanOptions {
    // As the CLI plans for the local backend.
    PlanOptions {
        backend: LocalBackend::describe_path(path),
        sandbox: true,
        simulate_hint: None,
        sandbox_reseller_limit: None,
        declared_reseller_tenants: true,
        // The CLI's clock (`CSPCTL_NOW`), which the tenant runs on too.
        now: cspctl::time::parse(NOW),
        ..PlanOptions::default()
    }
}

fn plan_against(sources: &SourceMap, manifests: Manifests, live: &Live, path: &Path) -> Planned {
    let mut reported = BTreeSet::new();
    let mut reported_once_valid = BTreeSet::new();
    let (plan, made) = match cspctl::validate::validate(manifests.clone()) {
        Ok((desired, warnings)) => {
            reported.extend(warnings.iter().map(|d| d.code.to_owned()));
            let plan = plan_rules(&desired, sources, live, path, &mut reported);
            (plan.clone(), plan)
        }
        Err(problems) => {
            reported.extend(problems.iter().map(|d| d.code.to_owned()));
            // The generated manifests break only domain rules (every name resolves
            // and is unique), so the planner can plan them once the one rule its
            // dependency graph needs is fixed as its hint says.
            let desired = cspctl::validate::Desired::new(relate_resellers(manifests));
            let made = plan_rules(&desired, sources, live, path, &mut reported_once_valid);
            (None, made)
        }
    };
    let manual = made.map(|plan| {
        plan.actions
            .iter()
            .filter(|a| matches!(a.operation, Operation::Manual))
            .map(|a| a.address.clone())
            .collect()
    });
    Planned {
        reported,
        reported_once_valid,
        plan,
        manual,
    }
}

/// `manifests` with every reseller of record and support contact added to its
/// customer's resellers (the fix `reseller-not-related` suggests), without which
/// the dependency graph cannot be built.
fn relate_resellers(mut manifests: Manifests) -> Manifests {
    let mut needed: Vec<(String, String)> = Vec::new();
    for subscription in &manifests.subscriptions {
        if let Some(reseller) = &subscription.spec.reseller {
            needed.push((subscription.spec.customer.clone(), reseller.clone()));
        }
    }
    for contact in &manifests.support_contacts {
        if let Some(subscription) = manifests
            .subscriptions
            .iter()
            .find(|s| s.name == contact.spec.subscription)
        {
            needed.push((
                subscription.spec.customer.clone(),
                contact.spec.reseller.clone(),
            ));
        }
    }
    for (customer, reseller) in needed {
        if let Some(customer) = manifests.customers.iter_mut().find(|c| c.name == customer)
            && !customer.spec.resellers.contains(&reseller)
        {
            customer.spec.resellers.push(reseller);
        }
    }
    manifests
}

/// Plans `desired`; adds the codes of the planner's errors, or the rules of the
/// plan's actions, to `reported`.
fn plan_rules(
    desired: &cspctl::validate::Desired,
    sources: &SourceMap,
    live: &Live,
    path: &Path,
    reported: &mut BTreeSet<String>,
) -> Option<Plan> {
    match cspctl::plan::plan(desired, sources, live, &plan_options(path)) {
        Ok(plan) => {
            for action in &plan.actions {
                reported.extend(action.rules.iter().map(|r| r.id().to_owned()));
            }
            Some(plan)
        }
        Err(problems) => {
            reported.extend(problems.iter().map(|d| d.code.to_owned()));
            None
        }
    }
}

// ---------------------------------------------------------------------------------
// Carrying manifests out without cspctl's checks

/// One refusal of the simulator: which object, and Partner Center's error.
#[derive(Debug)]
struct Refusal {
    address: String,
    code: u32,
    message: String,
    /// The customer–reseller relationship the request named a reseller of, when
    /// the manifests declare it and the live state does not have it yet: only the
    /// customer accepting the reseller's request creates it (a person acting), so
    /// a refusal for want of it is out of scope, provided the plan asks for that
    /// manual step (`Relationship/<customer>/<reseller>`).
    awaits: Option<String>,
}

/// Sends operations to the local backend, collecting business refusals (4xx);
/// anything else is a failure of the test.
struct Unchecked<'a> {
    backend: &'a mut LocalBackend,
    requests: u64,
    refusals: Vec<Refusal>,
}

impl Unchecked<'_> {
    /// Executes `operation` for `address`: the id it created, `Ok(None)` when
    /// refused (recorded).
    fn execute(&mut self, address: &str, operation: &Operation) -> Result<Option<String>, String> {
        self.execute_awaiting(address, operation, None)
    }

    /// As `execute`, for a request that names a reseller whose relationship with
    /// the customer is still to be accepted (`awaits`, see [`Refusal::awaits`]).
    fn execute_awaiting(
        &mut self,
        address: &str,
        operation: &Operation,
        awaits: Option<String>,
    ) -> Result<Option<String>, String> {
        self.requests += 1;
        let request_id = format!("00000000-0000-4000-8000-{:012x}", self.requests);
        match self.backend.execute(operation, &request_id) {
            Ok(outcome) => Ok(Some(outcome.created_id.unwrap_or_default())),
            Err(error) => match &error {
                BackendError::Api { status, code, .. } if (400..500).contains(status) => {
                    self.refusals.push(Refusal {
                        address: address.to_owned(),
                        code: *code,
                        message: error.to_string(),
                        awaits,
                    });
                    Ok(None)
                }
                _ => Err(format!("{address}: {error}")),
            },
        }
    }
}

/// Carries `manifests` out on `backend` object by object, as directly as the
/// operations allow and with none of cspctl's checks: what the plan would ask
/// for if validation and the planner checked nothing. With `accept`, the
/// customers then accept their other resellers' relationships (building a live
/// state). Returns the simulator's refusals.
fn apply_unchecked(
    backend: &mut LocalBackend,
    manifests: &Manifests,
    accept: bool,
) -> Result<Vec<Refusal>, String> {
    let live = backend.read_live().map_err(|e| e.to_string())?;
    let mut run = Unchecked {
        backend,
        requests: 0,
        refusals: Vec::new(),
    };
    let reseller_by_name: BTreeMap<&str, &_> = manifests
        .resellers
        .iter()
        .map(|r| (r.name.as_str(), &r.spec))
        .collect();
    // The relationship a request naming `reseller` for customer `customer` waits
    // for (see `Refusal::awaits`): declared, and neither live nor made by the
    // customer's creation (its first reseller). None while building the live
    // state, whose customers accept every declared relationship.
    let awaits = |customer: &str, reseller: &str| -> Option<String> {
        if accept {
            return None;
        }
        let spec = &manifests
            .customers
            .iter()
            .find(|c| c.name == customer)?
            .spec;
        if !spec.resellers.iter().any(|r| r == reseller) {
            return None;
        }
        let tenant = reseller_by_name.get(reseller)?.tenant_id.as_deref()?;
        let related = match live.customer_by_domain(&spec.domain) {
            Some(live_customer) => live_customer
                .reseller_relationships
                .iter()
                .any(|t| t.eq_ignore_ascii_case(tenant)),
            None => spec.resellers.first().map(String::as_str) == Some(reseller),
        };
        (!related).then(|| format!("Relationship/{customer}/{reseller}"))
    };
    for reseller in &manifests.resellers {
        let known = reseller
            .spec
            .tenant_id
            .as_deref()
            .is_some_and(|t| live.resellers.contains_key(&t.to_ascii_lowercase()));
        if !known {
            let operation = Operation::CreateReseller {
                reseller: reseller.spec.clone(),
            };
            run.execute(&format!("Reseller/{}", reseller.name), &operation)?;
        }
    }

    let mut customer_ids: BTreeMap<&str, String> = BTreeMap::new();
    for customer in &manifests.customers {
        let address = format!("Customer/{}", customer.name);
        let spec = &customer.spec;
        let id = match live.customer_by_domain(&spec.domain) {
            None => {
                let Some(first) = spec
                    .resellers
                    .first()
                    .and_then(|r| reseller_by_name.get(r.as_str()))
                else {
                    continue;
                };
                let operation = Operation::CreateCustomer {
                    domain: spec.domain.clone(),
                    company_name: spec.company_name.clone(),
                    billing: spec.billing.clone(),
                    organization_registration_number: spec.organization_registration_number.clone(),
                    associated_partner_id: first.tenant_id.clone().unwrap_or_default(),
                    associated_reseller: None,
                    agreement: spec.agreement.clone(),
                };
                run.execute(&address, &operation)?
            }
            Some(live_customer) => {
                let billing = (live_customer.billing != spec.billing).then(|| spec.billing.clone());
                let company_name = (live_customer.company_name != spec.company_name)
                    .then(|| spec.company_name.clone());
                let agreement = spec
                    .agreement
                    .clone()
                    .filter(|_| live_customer.agreement.is_none());
                // The profile and the agreement are separate requests: a refused
                // profile (a phone a country needs) must not keep the agreement
                // from being recorded, or the purchases after it would be refused
                // for want of it (13605) although the manifests declare it.
                if billing.is_some() || company_name.is_some() {
                    let operation = Operation::UpdateCustomer {
                        customer: object_ref(&address, &live_customer.id),
                        billing,
                        company_name,
                        agreement: None,
                    };
                    run.execute(&address, &operation)?;
                }
                if agreement.is_some() {
                    let operation = Operation::UpdateCustomer {
                        customer: object_ref(&address, &live_customer.id),
                        billing: None,
                        company_name: None,
                        agreement,
                    };
                    run.execute(&address, &operation)?;
                }
                Some(live_customer.id.clone())
            }
        };
        let Some(id) = id else { continue };
        if accept {
            for name in spec.resellers.iter().skip(1) {
                let tenant = reseller_by_name
                    .get(name.as_str())
                    .and_then(|r| r.tenant_id.clone())
                    .unwrap_or_default();
                // A person accepting; refused only for a reseller that does not exist.
                let _ = run.backend.accept_relationship(&spec.domain, &tenant);
            }
        }
        customer_ids.insert(customer.name.as_str(), id);
    }

    let mut subscription_ids: BTreeMap<&str, (String, String)> = BTreeMap::new();
    let mut managed: BTreeSet<String> = BTreeSet::new();
    for subscription in &manifests.subscriptions {
        let address = format!("Subscription/{}", subscription.name);
        let spec = &subscription.spec;
        let Some(customer_id) = customer_ids.get(spec.customer.as_str()) else {
            continue;
        };
        let customer = object_ref(&format!("Customer/{}", spec.customer), customer_id);
        let record_mpn = spec
            .reseller
            .as_deref()
            .and_then(|r| reseller_by_name.get(r))
            .map(|r| r.mpn_id.clone());
        let found = live.subscriptions.values().find(|s| {
            s.customer_id == *customer_id
                && !s.status.is_gone()
                && s.friendly_name.eq_ignore_ascii_case(&subscription.name)
        });
        let id = match found {
            None => {
                let (Some(term_duration), Some(billing_cycle)) =
                    (spec.term_duration, spec.billing_cycle)
                else {
                    // A purchase without a term cannot even be expressed.
                    continue;
                };
                let operation = Operation::CreateSubscription {
                    customer,
                    offer_id: spec.offer_id.clone(),
                    quantity: spec.quantity,
                    term_duration,
                    billing_cycle,
                    auto_renew: spec.auto_renew,
                    friendly_name: subscription.name.clone(),
                    partner_id_on_record: record_mpn,
                    suspend: spec.status == DesiredStatus::Suspended,
                    custom_term_end_date: None,
                };
                let waits = spec
                    .reseller
                    .as_deref()
                    .and_then(|r| awaits(&spec.customer, r));
                run.execute_awaiting(&address, &operation, waits)?
            }
            Some(live_subscription) => {
                managed.insert(live_subscription.id.clone());
                // Another offer or term under the same name is no operation at all
                // (the planner refuses it as a conflict with the live state).
                if !live_subscription
                    .offer_id
                    .eq_ignore_ascii_case(&spec.offer_id)
                    || live_subscription.term_duration != spec.term_duration
                {
                    continue;
                }
                let desired_status = match spec.status {
                    DesiredStatus::Active => LiveStatus::Active,
                    DesiredStatus::Suspended => LiveStatus::Suspended,
                    // Not generated: a cancellation's form depends on the window.
                    DesiredStatus::Cancelled => LiveStatus::Deleted,
                };
                let patch = SubscriptionPatch {
                    quantity: (live_subscription.quantity != spec.quantity)
                        .then_some(spec.quantity),
                    auto_renew: (live_subscription.auto_renew != Some(spec.auto_renew))
                        .then_some(spec.auto_renew),
                    billing_cycle: spec
                        .billing_cycle
                        .filter(|c| live_subscription.billing_cycle != Some(*c)),
                    partner_id: (live_subscription.partner_id != record_mpn)
                        .then(|| record_mpn.clone()),
                    status: (live_subscription.status != desired_status).then_some(desired_status),
                    next_term: None,
                };
                if patch != SubscriptionPatch::default() {
                    let waits = match (&patch.partner_id, spec.reseller.as_deref()) {
                        (Some(Some(_)), Some(reseller)) => awaits(&spec.customer, reseller),
                        _ => None,
                    };
                    let operation = Operation::UpdateSubscription {
                        customer,
                        subscription_id: live_subscription.id.clone(),
                        patch,
                    };
                    run.execute_awaiting(&address, &operation, waits)?;
                }
                Some(live_subscription.id.clone())
            }
        };
        if let Some(id) = id {
            subscription_ids.insert(subscription.name.as_str(), (customer_id.clone(), id));
        }
    }

    let customer_of_subscription: BTreeMap<&str, &str> = manifests
        .subscriptions
        .iter()
        .map(|s| (s.name.as_str(), s.spec.customer.as_str()))
        .collect();
    let mut with_contact: BTreeSet<&str> = BTreeSet::new();
    for contact in &manifests.support_contacts {
        with_contact.insert(contact.spec.subscription.as_str());
        let (Some((customer_id, subscription_id)), Some(reseller)) = (
            subscription_ids.get(contact.spec.subscription.as_str()),
            reseller_by_name.get(contact.spec.reseller.as_str()),
        ) else {
            continue;
        };
        let tenant = reseller.tenant_id.clone().unwrap_or_default();
        let current = live
            .subscriptions
            .get(subscription_id)
            .and_then(|s| s.support_contact.as_ref());
        if current.is_some_and(|c| {
            c.tenant_id.eq_ignore_ascii_case(&tenant) && c.mpn_id == reseller.mpn_id
        }) {
            continue;
        }
        let operation = Operation::SetSupportContact {
            customer: object_ref("Customer", customer_id),
            subscription: object_ref("Subscription", subscription_id),
            reseller_tenant_id: tenant,
            reseller_created_by: None,
            reseller_mpn_id: reseller.mpn_id.clone(),
            reseller_name: reseller.display_name.clone(),
        };
        let waits = customer_of_subscription
            .get(contact.spec.subscription.as_str())
            .and_then(|customer| awaits(customer, &contact.spec.reseller));
        run.execute_awaiting(
            &format!("SupportContact/{}", contact.name),
            &operation,
            waits,
        )?;
    }
    for (name, (customer_id, subscription_id)) in &subscription_ids {
        let has_contact = live
            .subscriptions
            .get(subscription_id)
            .is_some_and(|s| s.support_contact.is_some());
        if has_contact && !with_contact.contains(name) {
            let operation = Operation::ResetSupportContact {
                customer: object_ref("Customer", customer_id),
                subscription_id: subscription_id.clone(),
            };
            run.execute(&format!("Subscription/{name}/supportContact"), &operation)?;
        }
    }
    Ok(run.refusals)
}

fn object_ref(address: &str, id: &str) -> ObjectRef {
    ObjectRef {
        address: address.to_owned(),
        id: Some(id.to_owned()),
    }
}

// ---------------------------------------------------------------------------------
// The property

/// A temporary directory with the live state of the first set written in it.
struct Case {
    dir: tempfile::TempDir,
    live_path: PathBuf,
}

impl Case {
    /// A copy of the live state, named `name`, opened to be changed.
    fn copy(&self, name: &str) -> Result<LocalBackend, String> {
        let path = self.dir.path().join(name);
        std::fs::copy(&self.live_path, &path).map_err(|e| e.to_string())?;
        open(&path)
    }
}

fn open(path: &Path) -> Result<LocalBackend, String> {
    // The lock is what lets a local backend change its state; nobody else waits.
    LocalBackend::open(
        path.to_path_buf(),
        NOW.to_owned(),
        Some(Duration::from_secs(10)),
    )
    .map_err(|e| e.to_string())
}

/// Builds the live state from the first set (see the module documentation).
fn live_state(first: &Manifests) -> Result<Case, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let live_path = dir.path().join("live.json");
    let mut backend = open(&live_path)?;
    apply_unchecked(&mut backend, first, true)?;
    backend.finish().map_err(|e| e.to_string())?;
    Ok(Case { dir, live_path })
}

/// Applies an accepted plan on a copy of the live state: every failure is a
/// disagreement (the planner let through what the simulator refuses).
fn apply_accepted(plan: &Plan, case: &Case) -> Result<Vec<String>, String> {
    let backend = case.copy("accepted.json")?;
    let report = backend.block_on(execute_unattended(plan, backend.executor(), 4));
    Ok(report
        .results
        .iter()
        .filter_map(|(address, outcome)| match outcome {
            ActionOutcome::Failed(message) => Some(format!("{address}: {message}")),
            _ => None,
        })
        .collect())
}

/// The property for one generated case.
/// What one case showed, for the regression tests to assert on: the refusals of
/// the unchecked run and the rule ids reported at plan time.
struct Checked {
    refusals: Vec<Refusal>,
    reported: BTreeSet<String>,
}

impl Checked {
    /// The refusal of the object at `address`, if any.
    fn refusal(&self, address: &str) -> Option<&Refusal> {
        self.refusals.iter().find(|r| r.address == address)
    }
}

fn check(first: &World, second: &World) -> Result<Checked, TestCaseError> {
    let validators = SchemaValidators::new();
    let fail = |message: String| TestCaseError::fail(message);
    let first_yaml = first.yaml();
    let second_yaml = second.yaml();
    let (_, first_manifests) = load(&first_yaml, &validators).map_err(fail)?;
    let (sources, second_manifests) = load(&second_yaml, &validators).map_err(fail)?;
    let case = live_state(&first_manifests).map_err(fail)?;
    let live = LocalBackend::read_live(&case.live_path, NOW).map_err(|e| fail(e.to_string()))?;
    // The typed snapshot the local backend hands across must be what the client's
    // requests read from the same tenant, in every generated world.
    let through_client = LocalBackend::open(case.live_path.clone(), NOW.to_owned(), None)
        .and_then(|backend| backend.read_live_through_client())
        .map_err(|e| fail(e.to_string()))?;
    prop_assert_eq!(
        &live,
        &through_client,
        "typed snapshot and client read differ"
    );
    let planned = plan_against(&sources, second_manifests.clone(), &live, &case.live_path);
    let context = || {
        format!(
            "reported at plan time: {:?} (once the manifests are valid: {:?})\n--- second manifest set ---\n{second_yaml}\n--- first manifest set (the live state) ---\n{first_yaml}",
            planned.reported, planned.reported_once_valid
        )
    };

    // (a) What the planner accepts, the simulator applies.
    if let Some(plan) = planned.accepted() {
        let failed = apply_accepted(plan, &case).map_err(fail)?;
        prop_assert!(
            failed.is_empty(),
            "the planner accepted a plan the simulator refused:\n  {}\n{}",
            failed.join("\n  "),
            context()
        );
    }

    // (b) What the simulator refuses, the planner reported under the same rule.
    let mut backend = case.copy("unchecked.json").map_err(fail)?;
    let refusals = apply_unchecked(&mut backend, &second_manifests, false).map_err(fail)?;
    for refusal in &refusals {
        if OUT_OF_SCOPE_CODES
            .iter()
            .any(|(code, _)| *code == refusal.code)
        {
            continue;
        }
        let candidates = Rule::for_code(refusal.code);
        // A reseller the manifests relate to the customer, named before the
        // customer accepted it: a person's act decides, and the plan must ask for
        // it (the request itself waits for that manual step).
        if let Some(relationship) = &refusal.awaits
            && candidates.contains(&Rule::ResellerNotRelated)
        {
            prop_assert!(
                planned
                    .manual
                    .as_ref()
                    .is_none_or(|manual| manual.contains(relationship)),
                "{}: the simulator refused with {} ({}) until {relationship} is accepted, but the plan does not ask for that manual step\n{}",
                refusal.address,
                refusal.code,
                refusal.message,
                context()
            );
            continue;
        }
        prop_assert!(
            !candidates.is_empty(),
            "{}: the simulator refused with {}, which no rule of the catalogue names ({})\n{}",
            refusal.address,
            refusal.code,
            refusal.message,
            context()
        );
        if candidates
            .iter()
            .any(|rule| planned.reported.contains(rule.id()))
        {
            continue;
        }
        // The planner reports what needs the live state only once the manifests
        // are valid; the user sees it on the plan after fixing them.
        if candidates.iter().any(|rule| {
            rule.reported() != Reported::Validation
                && planned.reported_once_valid.contains(rule.id())
        }) {
            continue;
        }
        prop_assert!(
            false,
            "{}: the simulator refused with {} ({}), but the plan reported none of {:?}\n{}",
            refusal.address,
            refusal.code,
            refusal.message,
            candidates.iter().map(|r| r.id()).collect::<Vec<_>>(),
            context()
        );
    }
    Ok(Checked {
        refusals,
        reported: planned.reported,
    })
}

fn config() -> ProptestConfig {
    let mut config = ProptestConfig {
        // A failure is printed, shrunk; it belongs among the regression tests below
        // rather than in a regressions file.
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 24;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x0013_A9EE);
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn planner_and_simulator_agree(
        first in world(),
        changed in world(),
        keep in keep(),
    ) {
        let second = evolve(&first, changed, &keep);
        check(&first, &second)?;
    }
}

/// Found by the property: a plan that fails on a conflict with the live state (here
/// an offer that cannot change in place) showed no plan, so the warning that a
/// suspended subscription's quantity change will be refused (2001) went unsaid.
/// The planner now reports such warnings with its errors.
#[test]
fn a_failed_plan_still_reports_the_refusals_it_predicts() {
    let customer = CustomerGen {
        country: 0,
        registration_number: false,
        phone: false,
        agreement: true,
        resellers: vec![0],
    };
    let legacy = SubscriptionGen {
        customer: 0,
        offer: 0,
        term: TermDuration::P1M,
        cycle: BillingCycle::Monthly,
        quantity: 1,
        suspended: false,
        auto_renew: true,
        reseller: None,
    };
    let first = World {
        resellers: 1,
        customers: vec![customer],
        subscriptions: vec![
            SubscriptionGen {
                suspended: true,
                ..legacy.clone()
            },
            SubscriptionGen {
                offer: 2,
                term: TermDuration::P3Y,
                cycle: BillingCycle::Triennial,
                ..legacy.clone()
            },
        ],
        contacts: Vec::new(),
    };
    let second = World {
        subscriptions: vec![
            SubscriptionGen {
                suspended: true,
                quantity: 2,
                ..legacy.clone()
            },
            legacy,
        ],
        ..first.clone()
    };
    check(&first, &second).unwrap_or_else(|e| panic!("{e}"));
}

/// A customer of `resellers` (indices), in the US unless `country` says otherwise,
/// with the agreement, registration number and phone.
fn customer_of(resellers: &[usize], country: usize) -> CustomerGen {
    CustomerGen {
        country,
        registration_number: true,
        phone: true,
        agreement: true,
        resellers: resellers.to_vec(),
    }
}

/// A legacy subscription of customer 0: one seat, P1Y billed monthly, no reseller.
fn legacy_subscription() -> SubscriptionGen {
    SubscriptionGen {
        customer: 0,
        offer: 0,
        term: TermDuration::P1Y,
        cycle: BillingCycle::Monthly,
        quantity: 1,
        suspended: false,
        auto_renew: true,
        reseller: None,
    }
}

/// The refusal of `address` in `checked`: its code and what it waits for.
fn refused_with(checked: &Checked, address: &str) -> (u32, Option<String>) {
    let refusal = checked
        .refusal(address)
        .unwrap_or_else(|| panic!("{address} was not refused: {:?}", checked.refusals));
    (refusal.code, refusal.awaits.clone())
}

/// Issue 13, gap 1: Partner Center refuses a reseller of record or support contact
/// that has no relationship with the customer; the simulator did not check the
/// customer's relationships. Now it refuses (800016, 10004 on a cart line) and
/// validation reports it as `reseller-not-related`: on a legacy purchase, a
/// new-commerce purchase (a cart), a change of the reseller of record and a
/// support contact.
#[test]
fn a_reseller_without_a_relationship_with_the_customer_is_refused_and_reported() {
    let first = World {
        resellers: 2,
        customers: vec![customer_of(&[0], 0)],
        subscriptions: vec![legacy_subscription()],
        contacts: Vec::new(),
    };
    let stranger = Some(ResellerPick {
        related: false,
        index: 1,
    });
    let second = World {
        subscriptions: vec![
            SubscriptionGen {
                reseller: stranger,
                ..legacy_subscription()
            },
            SubscriptionGen {
                reseller: stranger,
                ..legacy_subscription()
            },
            SubscriptionGen {
                offer: 2,
                reseller: stranger,
                ..legacy_subscription()
            },
        ],
        contacts: vec![ContactGen {
            legacy: true,
            subscription: 0,
            reseller: ResellerPick {
                related: false,
                index: 1,
            },
        }],
        ..first.clone()
    };
    let checked = check(&first, &second).unwrap_or_else(|e| panic!("{e}"));
    assert!(checked.reported.contains(Rule::ResellerNotRelated.id()));
    for (address, code) in [
        ("Subscription/s0", 800_016),
        ("Subscription/s1", 800_016),
        ("Subscription/s2", 10_004),
        ("SupportContact/sc0", 800_016),
    ] {
        assert_eq!(refused_with(&checked, address), (code, None), "{address}");
    }
}

/// Issue 13, gap 1, the other half: a reseller the manifests relate to the
/// customer but the customer has not accepted yet is refused the same way; the
/// plan waits for the relationship (a manual step), so the refusal depends on a
/// person and the accepted plan applies without a failure.
#[test]
fn a_reseller_whose_relationship_is_pending_waits_for_the_manual_step() {
    let first = World {
        resellers: 2,
        customers: vec![customer_of(&[0], 0)],
        subscriptions: vec![legacy_subscription()],
        contacts: Vec::new(),
    };
    let second = World {
        customers: vec![customer_of(&[0, 1], 0)],
        subscriptions: vec![SubscriptionGen {
            reseller: Some(ResellerPick {
                related: true,
                index: 1,
            }),
            ..legacy_subscription()
        }],
        contacts: vec![ContactGen {
            legacy: true,
            subscription: 0,
            reseller: ResellerPick {
                related: true,
                index: 1,
            },
        }],
        ..first.clone()
    };
    let checked = check(&first, &second).unwrap_or_else(|e| panic!("{e}"));
    assert!(!checked.reported.contains(Rule::ResellerNotRelated.id()));
    let pending = Some("Relationship/c0/r1".to_owned());
    for address in ["Subscription/s0", "SupportContact/sc0"] {
        assert_eq!(
            refused_with(&checked, address),
            (800_016, pending.clone()),
            "{address}"
        );
    }
}

/// Issue 13, gap 2: the phone number a country needs was checked only when the
/// customer was created; a billing profile update dropping it went through. Now
/// the update is refused (600051), as validation reports (`phone-required`).
#[test]
fn a_billing_update_without_the_phone_a_country_needs_is_refused_and_reported() {
    let india = COUNTRIES.iter().position(|c| *c == "IN").expect("IN");
    let first = World {
        resellers: 1,
        customers: vec![customer_of(&[0], india)],
        subscriptions: Vec::new(),
        contacts: Vec::new(),
    };
    let second = World {
        customers: vec![CustomerGen {
            phone: false,
            ..customer_of(&[0], india)
        }],
        ..first.clone()
    };
    let checked = check(&first, &second).unwrap_or_else(|e| panic!("{e}"));
    assert!(checked.reported.contains(Rule::PhoneRequired.id()));
    assert_eq!(refused_with(&checked, "Customer/c0"), (600_051, None));
}

/// Issue 13, gap 3: a legacy purchase or billing-cycle change with a billing cycle
/// the term does not offer was refused with the generic 3000 (invalid property);
/// now with error-codes.md's 6001, which only `billing-cycle` maps.
#[test]
fn a_legacy_cycle_the_term_does_not_offer_is_refused_with_6001() {
    let first = World {
        resellers: 1,
        customers: vec![customer_of(&[0], 0)],
        subscriptions: vec![legacy_subscription()],
        contacts: Vec::new(),
    };
    let second = World {
        subscriptions: vec![
            SubscriptionGen {
                cycle: BillingCycle::Triennial,
                ..legacy_subscription()
            },
            SubscriptionGen {
                term: TermDuration::P1M,
                cycle: BillingCycle::Annual,
                ..legacy_subscription()
            },
        ],
        ..first.clone()
    };
    let checked = check(&first, &second).unwrap_or_else(|e| panic!("{e}"));
    assert!(checked.reported.contains(Rule::BillingCycle.id()));
    assert_eq!(Rule::for_code(6001), [Rule::BillingCycle]);
    assert!(Rule::for_code(3000).is_empty());
    for address in ["Subscription/s0", "Subscription/s1"] {
        assert_eq!(refused_with(&checked, address), (6001, None), "{address}");
    }
}
