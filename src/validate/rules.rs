//! Rules across fields and objects that a JSON Schema cannot express: uniqueness,
//! references, and Partner Center's domain rules (support contacts only on legacy
//! subscriptions, the Microsoft Customer Agreement before new-commerce purchases,
//! country-specific required fields). Each problem points at the offending value.
//!
//! These are the planner's own checks. The local tenant and the simulator enforce
//! Partner Center's rules separately, so one can catch the other's mistakes; the
//! Partner Center rules among them take their codes from the catalogue in
//! [`crate::rules`], which `tests/rules_agree.rs` checks against the simulator.

use std::collections::hash_map::Entry;

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::hash::{HashMap, HashSet, map_with_capacity};
use crate::manifest::model::{BillingCycle, Kind, TermDuration};
use crate::manifest::{Object, Origin};
use crate::rules::Rule;
use crate::validate::Desired;

/// Countries where Partner Center requires `organizationRegistrationNumber` (and a
/// phone number) on customer creation (partner-center-api.md §7, error 600049/600051).
pub const REGISTRATION_NUMBER_COUNTRIES: [&str; 24] = [
    "AE", "AM", "AZ", "BR", "BY", "HU", "IN", "IQ", "KG", "KZ", "MD", "MM", "PL", "RU", "SA", "SS",
    "TH", "TJ", "TR", "UA", "UZ", "VE", "VN", "ZA",
];

/// Checks every cross-object rule; returns all problems found.
pub fn check_rules(desired: &Desired) -> Vec<Diagnostic> {
    // Two independent halves, on two threads (each was half of the rules' 0.2 s
    // at 20,000 customers, with the other core idle); the diagnostics come out
    // in the order of one thread.
    let (mut out, references) = std::thread::scope(|scope| {
        let references = scope.spawn(|| check_references(desired));
        let out = check_uniqueness(desired);
        let references = references
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (out, references)
    });
    out.extend(references);
    out
}

/// Names, and the values that identify an object in Partner Center, are unique.
fn check_uniqueness(desired: &Desired) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let m = &desired.manifests;
    unique_names(Kind::Reseller, &m.resellers, &mut out);
    unique_names(Kind::Customer, &m.customers, &mut out);
    unique_names(Kind::Subscription, &m.subscriptions, &mut out);
    unique_names(Kind::SupportContact, &m.support_contacts, &mut out);

    unique_values(
        &m.resellers,
        "spec.tenantId",
        "reseller tenant id",
        |r| r.spec.tenant_id.as_ref().map(|t| t.to_ascii_lowercase()),
        &mut out,
    );
    unique_values(
        &m.resellers,
        "spec.mpnId",
        "reseller MPN ID",
        |r| Some(r.spec.mpn_id.clone()),
        &mut out,
    );
    unique_values(
        &m.customers,
        "spec.domain",
        "customer domain",
        |c| Some(c.spec.domain.to_ascii_lowercase()),
        &mut out,
    );
    unique_values(
        &m.customers,
        "spec.tenantId",
        "customer tenant id",
        |c| c.spec.tenant_id.as_ref().map(|t| t.to_ascii_lowercase()),
        &mut out,
    );
    unique_values(
        &m.subscriptions,
        "spec.id",
        "subscription id",
        |s| s.spec.id.as_ref().map(|t| t.to_ascii_lowercase()),
        &mut out,
    );
    // A friendly name finds the live subscription of a manifest without `spec.id`,
    // so it must be unique among those; subscriptions adopted by id may share one
    // (Partner Center allows it, and an exported tenant often has two "Microsoft
    // 365 Business Basic"), unless a manifest without an id would find them too.
    let friendly_key = |s: &Object<crate::manifest::model::SubscriptionSpec>| {
        format!(
            "{}\u{0}{}",
            s.spec.customer,
            friendly_name(s).to_lowercase()
        )
    };
    let found_by_name: HashSet<String> = m
        .subscriptions
        .iter()
        .filter(|s| s.spec.id.is_none())
        .map(friendly_key)
        .collect();
    unique_values(
        &m.subscriptions,
        "spec.friendlyName",
        "friendly name for this customer",
        |s| Some(friendly_key(s)).filter(|key| found_by_name.contains(key)),
        &mut out,
    );
    out
}

/// References resolve, and each object's rules across fields and objects hold.
fn check_references(desired: &Desired) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let m = &desired.manifests;
    let names = NameIndex::new(desired);

    for customer in &m.customers {
        for (i, reseller) in customer.spec.resellers.iter().enumerate() {
            names.resolve(
                Kind::Reseller,
                reseller,
                &customer.origin,
                &format!("spec.resellers.{i}"),
                &mut out,
            );
        }
        let country = customer.spec.billing.address.country.as_str();
        if REGISTRATION_NUMBER_COUNTRIES.contains(&country) {
            if customer.spec.organization_registration_number.is_none() {
                out.push(
                    Diagnostic::error(
                        Rule::RegistrationNumberRequired.id(),
                        Some(customer.origin.key_at("spec.billing.address.country")),
                        format!("customers in {country} need `organizationRegistrationNumber`; Partner Center rejects the customer without it (error 600049)"),
                    )
                    .with_hint("add `spec.organizationRegistrationNumber`"),
                );
            }
            if customer.spec.billing.address.phone_number.is_none() {
                out.push(
                    Diagnostic::error(
                        Rule::PhoneRequired.id(),
                        Some(customer.origin.key_at("spec.billing.address")),
                        format!("customers in {country} need `billing.address.phoneNumber`; Partner Center rejects the customer without it (error 600051)"),
                    )
                    .with_hint("add `spec.billing.address.phoneNumber`"),
                );
            }
        }
    }

    let mut new_commerce_customers: HashMap<&str, &Object<_>> = HashMap::default();
    for subscription in &m.subscriptions {
        names.resolve(
            Kind::Customer,
            &subscription.spec.customer,
            &subscription.origin,
            "spec.customer",
            &mut out,
        );
        if let Some(reseller) = &subscription.spec.reseller
            && names.resolve(
                Kind::Reseller,
                reseller,
                &subscription.origin,
                "spec.reseller",
                &mut out,
            )
            && let Some(&c) = desired.customer_index.get(&subscription.spec.customer)
            && !m.customers[c].spec.resellers.contains(reseller)
        {
            out.push(
                Diagnostic::error(
                    Rule::ResellerNotRelated.id(),
                    Some(subscription.origin.value_at("spec.reseller")),
                    format!(
                        "reseller of record `{reseller}` has no relationship with customer `{}`",
                        subscription.spec.customer
                    ),
                )
                .with_hint(format!("add `{reseller}` to the customer's `spec.resellers`, or name one of its resellers")),
            );
        }
        // A purchase needs both; a subscription adopted by `id` may leave them out
        // (Partner Center's documented answers do not report them either), and
        // then they are not managed.
        if subscription.spec.id.is_none() {
            for (field, value) in [
                ("termDuration", subscription.spec.term_duration.is_some()),
                ("billingCycle", subscription.spec.billing_cycle.is_some()),
            ] {
                if !value {
                    out.push(
                        Diagnostic::error(
                            Rule::PurchaseTerms.id(),
                            Some(subscription.origin.key_at("spec")),
                            format!("missing required field `{field}` in `spec`: a subscription cspctl may buy needs it"),
                        )
                        .with_hint("declare it; only a subscription adopted with `spec.id` may leave `termDuration` and `billingCycle` out"),
                    );
                }
            }
        }
        // `effective` speaks of new commerce's cancellation window and renewal;
        // a legacy subscription changes at once, so the field would mislead.
        if subscription.spec.effective.is_some() && !subscription.spec.is_new_commerce() {
            out.push(
                Diagnostic::error(
                    "schema",
                    Some(subscription.origin.value_at("spec.effective")),
                    "`effective` applies to new-commerce subscriptions only (a catalog id `PRODUCT:SKU:AVAILABILITY`); a legacy subscription's changes take effect at once".to_owned(),
                )
                .with_hint("remove `effective`"),
            );
        }
        // Coterminosity (custom-term-end-dates): a new-commerce purchase may end
        // its first term with another new-commerce subscription of the same
        // customer; Partner Center offers no such date for anything else.
        if let Some(target) = &subscription.spec.term_end_aligned_with
            && names.resolve(
                Kind::Subscription,
                target,
                &subscription.origin,
                "spec.termEndAlignedWith",
                &mut out,
            )
        {
            let at = Some(subscription.origin.value_at("spec.termEndAlignedWith"));
            let other = m.subscriptions.iter().find(|s| &s.name == target);
            let problem = if target == &subscription.name {
                Some((
                    "a subscription cannot align its term end with itself".to_owned(),
                    "name another subscription of the same customer",
                ))
            } else if !subscription.spec.is_new_commerce() {
                Some(("`termEndAlignedWith` applies to new-commerce purchases only (a catalog id `PRODUCT:SKU:AVAILABILITY`)".to_owned(), "remove `termEndAlignedWith`"))
            } else if let Some(other) = other {
                if other.spec.customer != subscription.spec.customer {
                    Some((
                        format!(
                            "subscription `{target}` belongs to customer `{}`, not `{}`: a term end aligns only with a subscription of the same customer",
                            other.spec.customer, subscription.spec.customer
                        ),
                        "name a subscription of the same customer",
                    ))
                } else if !other.spec.is_new_commerce() {
                    Some((
                        format!(
                            "subscription `{target}` is a legacy subscription: a term end aligns only with a new-commerce one"
                        ),
                        "name a new-commerce subscription of the same customer",
                    ))
                } else {
                    None
                }
            } else {
                None
            };
            if let Some((message, hint)) = problem {
                out.push(Diagnostic::error("term-end-alignment", at, message).with_hint(hint));
            }
        }
        let (Some(term), Some(cycle)) = (
            subscription.spec.term_duration,
            subscription.spec.billing_cycle,
        ) else {
            if subscription.spec.is_new_commerce() {
                new_commerce_customers
                    .entry(subscription.spec.customer.as_str())
                    .or_insert(subscription);
            }
            continue;
        };
        let compatible = matches!(
            (term, cycle),
            (TermDuration::P1M, BillingCycle::Monthly)
                | (
                    TermDuration::P1Y,
                    BillingCycle::Monthly | BillingCycle::Annual
                )
                | (
                    TermDuration::P3Y,
                    BillingCycle::Monthly | BillingCycle::Annual | BillingCycle::Triennial
                )
        );
        if !compatible {
            out.push(
                Diagnostic::error(
                    Rule::BillingCycle.id(),
                    Some(subscription.origin.value_at("spec.billingCycle")),
                    format!(
                        "billing cycle `{}` is not offered with term `{term:?}`",
                        serde_plain(&cycle)
                    ),
                )
                .with_hint(
                    "P1M bills monthly; P1Y monthly or annual; P3Y monthly, annual or triennial",
                ),
            );
        }
        if subscription.spec.is_new_commerce() {
            new_commerce_customers
                .entry(subscription.spec.customer.as_str())
                .or_insert(subscription);
        }
    }

    for (customer_name, subscription) in &new_commerce_customers {
        if let Some(&c) = desired.customer_index.get(*customer_name) {
            let customer = &m.customers[c];
            if customer.spec.agreement.is_none() {
                out.push(
                    Diagnostic::error(
                        Rule::AgreementRequired.id(),
                        Some(customer.origin.key_at("spec")),
                        format!(
                            "customer `{customer_name}` has new-commerce subscriptions (e.g. `{}`) but no `agreement`; Partner Center refuses new-commerce purchases until the customer accepts the Microsoft Customer Agreement (error 13605)",
                            subscription.name
                        ),
                    )
                    .with_hint("add `spec.agreement` with the contact who accepted and `dateAgreed`"),
                );
            }
        }
    }

    let mut contact_for_subscription: HashMap<&str, &Origin> = HashMap::default();
    for contact in &m.support_contacts {
        let subscription_ok = names.resolve(
            Kind::Subscription,
            &contact.spec.subscription,
            &contact.origin,
            "spec.subscription",
            &mut out,
        );
        let reseller_ok = names.resolve(
            Kind::Reseller,
            &contact.spec.reseller,
            &contact.origin,
            "spec.reseller",
            &mut out,
        );
        match contact_for_subscription.entry(contact.spec.subscription.as_str()) {
            Entry::Occupied(first) => out.push(
                Diagnostic::error(
                    Rule::DuplicateSupportContact.id(),
                    Some(contact.origin.value_at("spec.subscription")),
                    format!(
                        "subscription `{}` already has a support contact",
                        contact.spec.subscription
                    ),
                )
                .with_related(
                    first.get().value_at("metadata.name"),
                    "the other one is defined at",
                )
                .with_hint("a subscription has at most one designated support contact; remove one"),
            ),
            Entry::Vacant(slot) => {
                slot.insert(&contact.origin);
            }
        }
        if !subscription_ok {
            continue;
        }
        let subscription = &m.subscriptions[desired.subscription_index[&contact.spec.subscription]];
        if subscription.spec.is_new_commerce() {
            out.push(
                Diagnostic::error(
                    Rule::SupportContactNewCommerce.id(),
                    Some(contact.origin.value_at("spec.subscription")),
                    format!(
                        "subscription `{}` is a new-commerce subscription (offer {}); Partner Center supports designated support contacts only on legacy (traditional) license-based subscriptions",
                        subscription.name, subscription.spec.offer_id
                    ),
                )
                .with_hint("remove this SupportContact; support for new-commerce subscriptions is handled through the reseller relationship"),
            );
        }
        if reseller_ok
            && let Some(&c) = desired.customer_index.get(&subscription.spec.customer)
            && !m.customers[c]
                .spec
                .resellers
                .contains(&contact.spec.reseller)
        {
            out.push(
                Diagnostic::error(
                    Rule::ResellerNotRelated.id(),
                    Some(contact.origin.value_at("spec.reseller")),
                    format!(
                        "reseller `{}` has no relationship with customer `{}`, which owns subscription `{}`",
                        contact.spec.reseller, subscription.spec.customer, subscription.name
                    ),
                )
                .with_hint(format!("add `{}` to the customer's `spec.resellers` first", contact.spec.reseller)),
            );
        }
    }
    out
}

/// The friendly name a subscription has in Partner Center.
pub fn friendly_name(subscription: &Object<crate::manifest::model::SubscriptionSpec>) -> &str {
    subscription
        .spec
        .friendly_name
        .as_deref()
        .unwrap_or(&subscription.name)
}

fn serde_plain<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn unique_names<S>(kind: Kind, objects: &[Object<S>], out: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, &Origin> = map_with_capacity(objects.len());
    for object in objects {
        match seen.entry(object.name.as_str()) {
            Entry::Occupied(first) => out.push(
                Diagnostic::error(
                    "duplicate-name",
                    Some(object.origin.value_at("metadata.name")),
                    format!("duplicate {kind} name `{}`", object.name),
                )
                .with_related(first.get().value_at("metadata.name"), "first defined at")
                .with_hint(format!(
                    "names are unique per kind; rename one of the {kind}s"
                )),
            ),
            Entry::Vacant(slot) => {
                slot.insert(&object.origin);
            }
        }
    }
}

fn unique_values<S>(
    objects: &[Object<S>],
    path: &str,
    what: &str,
    key: impl Fn(&Object<S>) -> Option<String>,
    out: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<String, &Object<S>> = map_with_capacity(objects.len());
    for object in objects {
        let Some(value) = key(object) else { continue };
        match seen.entry(value) {
            Entry::Occupied(first) => {
                let shown = first
                    .key()
                    .rsplit('\u{0}')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                out.push(
                    Diagnostic::error(
                        "duplicate-value",
                        Some(object.origin.value_at(path)),
                        format!(
                            "duplicate {what} `{shown}`: `{}` uses it too",
                            first.get().name
                        ),
                    )
                    .with_related(first.get().origin.value_at(path), "first used at")
                    .with_hint("each must identify exactly one object in Partner Center"),
                );
            }
            Entry::Vacant(slot) => {
                slot.insert(object);
            }
        }
    }
}

/// Names of every kind, to resolve references and explain wrong-kind ones: a set
/// each to look them up, and, made only for a reference that does not resolve,
/// the sorted list the suggestion is taken from (the same whatever the order of
/// the files).
struct NameIndex<'a> {
    by_kind: [(Kind, KindNames<'a>); 4],
}

/// The names of one kind: the set, and the sorted list once asked for.
struct KindNames<'a> {
    set: HashSet<&'a str>,
    sorted: std::cell::OnceCell<Vec<&'a str>>,
}

impl<'a> NameIndex<'a> {
    fn new(desired: &'a Desired) -> Self {
        fn names<S>(objects: &[Object<S>]) -> KindNames<'_> {
            let mut set = HashSet::with_capacity_and_hasher(objects.len(), Default::default());
            set.extend(objects.iter().map(|o| o.name.as_str()));
            KindNames {
                set,
                sorted: std::cell::OnceCell::new(),
            }
        }
        let m = &desired.manifests;
        NameIndex {
            by_kind: [
                (Kind::Reseller, names(&m.resellers)),
                (Kind::Customer, names(&m.customers)),
                (Kind::Subscription, names(&m.subscriptions)),
                (Kind::SupportContact, names(&m.support_contacts)),
            ],
        }
    }

    fn of(&self, kind: Kind) -> &KindNames<'a> {
        &self
            .by_kind
            .iter()
            .find(|(k, _)| *k == kind)
            .expect("all kinds")
            .1
    }

    fn contains(&self, kind: Kind, name: &str) -> bool {
        self.of(kind).set.contains(name)
    }

    fn sorted(&self, kind: Kind) -> &[&'a str] {
        let names = self.of(kind);
        names.sorted.get_or_init(|| {
            let mut list: Vec<&str> = names.set.iter().copied().collect();
            list.sort_unstable();
            list
        })
    }

    /// Reports a reference that does not name an object of `kind`; true when it does.
    fn resolve(
        &self,
        kind: Kind,
        name: &str,
        origin: &Origin,
        path: &str,
        out: &mut Vec<Diagnostic>,
    ) -> bool {
        if self.contains(kind, name) {
            return true;
        }
        let location = Some(origin.value_at(path));
        let other_kind = Kind::ALL
            .into_iter()
            .find(|k| *k != kind && self.contains(*k, name));
        let mut diagnostic = match other_kind {
            Some(other) => Diagnostic::error(
                "wrong-kind-reference",
                location,
                format!("`{name}` is a {other}, but `{path}` must name a {kind}"),
            ),
            None => Diagnostic::error(
                "unresolved-reference",
                location,
                format!("no {kind} named `{name}`"),
            ),
        };
        if let Some(suggestion) = did_you_mean(name, self.sorted(kind).iter().copied()) {
            diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
        } else if other_kind.is_none() {
            diagnostic = diagnostic.with_hint(format!(
                "define a {kind} with `metadata.name: {name}`, or fix the reference"
            ));
        }
        out.push(diagnostic);
        false
    }
}
