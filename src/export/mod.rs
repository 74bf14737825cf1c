//! Export: a live tenant → manifests that declare exactly what it holds.
//!
//! The pure core of `cspctl export`: [`export`] turns a [`Live`] snapshot into
//! documents of the four kinds, [`Export::files`] and [`Export::to_stream`] turn them
//! into YAML text, and [`verify`] plans that text against the same snapshot the way
//! `cspctl plan` would. No I/O, no clock: the same snapshot gives the same bytes.
//!
//! The goal is adoption: `cspctl plan` on the exported manifests shows no change and
//! no unmanaged object. Whatever cannot be declared so that the plan stays empty is
//! left out, never approximated, and each such object gets a [`Warning`] saying why
//! and what to do; `plan` then lists it as unmanaged and never changes it. Choices:
//!
//! - Every Customer gets `spec.tenantId` and every Subscription `spec.id`: adoption
//!   by id. A subscription renamed in Partner Center later stays matched (by name it
//!   would look new, and a plan would buy it again), two subscriptions whose names
//!   differ only in case stay apart, and a customer that leaves the tenant becomes a
//!   manual step instead of a new customer.
//! - `spec.friendlyName` is written whenever it differs from `metadata.name`, so the
//!   manifest says what Partner Center calls the subscription.
//! - Names are DNS labels made from what people recognise (reseller display names,
//!   domain prefixes, friendly names); collisions get `-2`, `-3`, ... in the order of
//!   the objects' ids, so the same tenant always gets the same names.
//! - An exported directory gets its own `schemas/manifest.schema.json` (what
//!   `cspctl schema` prints) for the files' `yaml-language-server` lines to point at:
//!   the examples point at the repository's copy, which an exported tree lacks.
//! - YAML is written by a small emitter ([`yaml`]; the crate only parses YAML).
//!
//! Modules: [`names`] (manifest names), [`yaml`] (the emitter), `verify` (the round
//! trip, [`verify`]); this one turns the snapshot into documents and lays them out
//! in files.

pub mod names;
mod verify;
pub mod yaml;

pub use self::verify::verify;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;
use serde_json::Value as Json;

use crate::live::{Live, LiveCustomer, LiveReseller, LiveStatus, LiveSubscription};
use crate::manifest::model::{
    Agreement, BillingCycle, CustomerDocument, CustomerSpec, DesiredStatus, Effective, Kind,
    ResellerDocument, ResellerSpec, SubscriptionDocument, SubscriptionSpec, SupportContactDocument,
    SupportContactSpec, TermDuration, is_new_commerce_offer, same_offer,
};
use crate::manifest::schema::{kind_schema, manifest_schema, to_pretty};
use crate::validate::rules::REGISTRATION_NUMBER_COUNTRIES;

use self::names::{assign_names, customer_base, reseller_base, subscription_base, truncate_name};
use self::yaml::yaml_file;

/// Longest `metadata.name` (a DNS label).
pub const MAX_NAME: usize = 63;
/// Where the exported tree keeps the manifest schema its files point editors at.
pub const SCHEMA_FILE: &str = "schemas/manifest.schema.json";
/// The file with every Reseller document.
pub const RESELLERS_FILE: &str = "resellers.yaml";
/// The directory with a file per customer.
pub const CUSTOMERS_DIR: &str = "customers";

/// A live object left out of the export (or a part of one), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The live object, e.g. `Customer contoso.onmicrosoft.com (c501…)`.
    pub subject: String,
    /// Why, and what to do about it.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)
    }
}

/// A customer's documents, which go to one file.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomerManifests {
    pub customer: CustomerDocument,
    /// Sorted by name.
    pub subscriptions: Vec<SubscriptionDocument>,
    /// Sorted by name.
    pub support_contacts: Vec<SupportContactDocument>,
}

/// The exported documents.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Export {
    /// Sorted by name.
    pub resellers: Vec<ResellerDocument>,
    /// Sorted by customer name.
    pub customers: Vec<CustomerManifests>,
    /// Everything left out, in the order of the live snapshot.
    pub warnings: Vec<Warning>,
    /// Live objects left out on purpose, as `(kind, id)` the way the plan lists
    /// unmanaged objects (`Reseller`, `Customer`, `Subscription`).
    pub skipped: BTreeSet<(String, String)>,
}

/// How many documents of each kind an export holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub resellers: usize,
    pub customers: usize,
    pub subscriptions: usize,
    pub support_contacts: usize,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} reseller(s), {} customer(s), {} subscription(s), {} support contact(s)",
            self.resellers, self.customers, self.subscriptions, self.support_contacts
        )
    }
}

impl Export {
    pub fn counts(&self) -> Counts {
        Counts {
            resellers: self.resellers.len(),
            customers: self.customers.len(),
            subscriptions: self.customers.iter().map(|c| c.subscriptions.len()).sum(),
            support_contacts: self
                .customers
                .iter()
                .map(|c| c.support_contacts.len())
                .sum(),
        }
    }

    /// The manifest files, as (path relative to the output directory with `/`
    /// separators, content): `resellers.yaml`, `customers/<name>.yaml` per customer
    /// (the Customer, its Subscriptions, their SupportContacts), in that order. Each
    /// document starts with a `yaml-language-server` line pointing at [`SCHEMA_FILE`].
    pub fn manifest_files(&self) -> Vec<(String, String)> {
        let mut files = Vec::with_capacity(self.customers.len() + 1);
        if !self.resellers.is_empty() {
            let documents: Vec<Json> = self.resellers.iter().map(to_json).collect();
            files.push((
                RESELLERS_FILE.to_owned(),
                yaml_file(Some(SCHEMA_FILE), &documents),
            ));
        }
        let schema = format!("../{SCHEMA_FILE}");
        for customer in &self.customers {
            files.push((
                format!("{CUSTOMERS_DIR}/{}.yaml", customer.customer.metadata.name),
                yaml_file(Some(&schema), &customer_documents(customer)),
            ));
        }
        files
    }

    /// [`Export::manifest_files`] and, when there is any, the schema they point at.
    pub fn files(&self) -> Vec<(String, String)> {
        let mut files = self.manifest_files();
        if !files.is_empty() {
            files.push((SCHEMA_FILE.to_owned(), to_pretty(&manifest_schema())));
        }
        files
    }

    /// Every document as one YAML stream (resellers, then customer by customer).
    pub fn to_stream(&self) -> String {
        let mut documents: Vec<Json> = self.resellers.iter().map(to_json).collect();
        for customer in &self.customers {
            documents.extend(customer_documents(customer));
        }
        yaml_file(None, &documents)
    }
}

fn customer_documents(customer: &CustomerManifests) -> Vec<Json> {
    let mut documents = vec![to_json(&customer.customer)];
    documents.extend(customer.subscriptions.iter().map(to_json));
    documents.extend(customer.support_contacts.iter().map(to_json));
    documents
}

fn to_json<T: Serialize>(value: &T) -> Json {
    serde_json::to_value(value).expect("manifest documents always serialize")
}

// ---------------------------------------------------------------------------
// Schema checks

/// The per-kind JSON Schemas, to leave out documents `cspctl validate` would reject.
struct Schemas {
    validators: Vec<(Kind, jsonschema::Validator)>,
}

impl Schemas {
    fn new() -> Self {
        let validators = Kind::ALL
            .into_iter()
            .map(|kind| {
                let validator = jsonschema::options()
                    .build(&kind_schema(kind))
                    .expect("the generated schema is a valid JSON Schema");
                (kind, validator)
            })
            .collect();
        Schemas { validators }
    }

    /// The schema errors of a document, as `path: message`; empty when valid.
    fn errors<T: Serialize>(&self, document: &T) -> Vec<String> {
        let json = to_json(document);
        let kind = json["kind"].as_str().and_then(Kind::parse);
        let validator = &self
            .validators
            .iter()
            .find(|(k, _)| Some(*k) == kind)
            .expect("a validator per kind")
            .1;
        if validator.is_valid(&json) {
            return Vec::new();
        }
        validator
            .iter_errors(&json)
            .map(|error| {
                let path = error
                    .instance_path()
                    .as_str()
                    .trim_start_matches('/')
                    .replace('/', ".");
                format!("`{path}`: {error}")
            })
            .collect()
    }
}

/// A name every schema accepts, for checking documents before they are named.
const PLACEHOLDER: &str = "placeholder";

// ---------------------------------------------------------------------------
// Export

fn reseller_subject(reseller: &LiveReseller) -> String {
    format!(
        "Reseller {} (tenant {}, MPN ID {})",
        quoted(&reseller.name),
        reseller.tenant_id,
        reseller.mpn_id
    )
}

fn customer_subject(customer: &LiveCustomer) -> String {
    format!("Customer {} ({})", customer.domain, customer.id)
}

fn subscription_subject(subscription: &LiveSubscription, domain: &str) -> String {
    format!(
        "Subscription {} ({}) of {domain}",
        quoted(&subscription.friendly_name),
        subscription.id
    )
}

/// A live string shown in a message: JSON-quoted, so control characters and
/// surrounding spaces are visible and nothing is printed raw.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

fn is_country(text: &str) -> bool {
    text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase())
}

fn cycle_fits_term(term: TermDuration, cycle: BillingCycle) -> bool {
    matches!(
        (term, cycle),
        (TermDuration::P1M, BillingCycle::Monthly)
            | (
                TermDuration::P1Y,
                BillingCycle::Monthly | BillingCycle::Annual
            )
            | (TermDuration::P3Y, _)
    )
}

const UNMANAGED: &str = "`cspctl plan` lists it as unmanaged and never changes it";

/// An exported reseller: its name and the live facts references are checked against.
struct ResellerRef {
    name: String,
    tenant_id: String,
    mpn_id: String,
}

/// A customer that will be exported, before subscriptions are named.
struct CustomerDraft<'a> {
    live: &'a LiveCustomer,
    name: String,
    spec: CustomerSpec,
}

/// A subscription that will be exported, before it is named.
struct SubscriptionDraft<'a> {
    live: &'a LiveSubscription,
    customer: usize,
    spec: SubscriptionSpec,
    /// The reseller name of its support contact, if one is designated.
    support_contact: Option<String>,
}

struct Exporter<'a> {
    live: &'a Live,
    schemas: Schemas,
    warnings: Vec<Warning>,
    skipped: BTreeSet<(String, String)>,
}

/// Builds the manifests that declare `live`, leaving out (with a warning) what
/// cannot be declared without the plan showing a change.
pub fn export(live: &Live) -> Export {
    let mut exporter = Exporter {
        live,
        schemas: Schemas::new(),
        warnings: Vec::new(),
        skipped: BTreeSet::new(),
    };
    let resellers = exporter.resellers();
    let customers = exporter.customers(&resellers);
    let subscriptions = exporter.subscriptions(&resellers, &customers);
    exporter.assemble(resellers, customers, subscriptions)
}

impl<'a> Exporter<'a> {
    fn warn(&mut self, subject: String, message: String) {
        self.warnings.push(Warning { subject, message });
    }

    fn skip(&mut self, kind: &str, id: &str) {
        self.skipped.insert((kind.to_owned(), id.to_owned()));
    }

    /// Live subscriptions that still exist, by customer id.
    fn subscriptions_of(&self) -> BTreeMap<&'a str, Vec<&'a LiveSubscription>> {
        let mut map: BTreeMap<&str, Vec<&LiveSubscription>> = BTreeMap::new();
        for subscription in self.live.subscriptions.values() {
            if !subscription.status.is_gone() {
                map.entry(subscription.customer_id.as_str())
                    .or_default()
                    .push(subscription);
            }
        }
        map
    }

    fn resellers(&mut self) -> Vec<(ResellerRef, ResellerSpec)> {
        let mut kept: Vec<(&LiveReseller, ResellerSpec)> = Vec::new();
        let mut mpn_taken: HashMap<&str, &LiveReseller> = HashMap::new();
        for reseller in self.live.resellers.values() {
            let subject = reseller_subject(reseller);
            if let Some(first) = mpn_taken.get(reseller.mpn_id.as_str()) {
                let message = format!(
                    "not exported: reseller {} (tenant {}) has the same MPN ID, and cspctl identifies a reseller of record and a support contact by MPN ID; {UNMANAGED}",
                    quoted(&first.name),
                    first.tenant_id
                );
                self.warn(subject, message);
                self.skip("Reseller", &reseller.tenant_id);
                continue;
            }
            let mut spec = ResellerSpec {
                // Always pinned: for a sandbox reseller cspctl created, this is
                // where the tenant id Partner Center gave it shows up.
                tenant_id: Some(reseller.tenant_id.to_ascii_lowercase()),
                mpn_id: reseller.mpn_id.clone(),
                display_name: reseller.name.clone(),
                location: reseller.location.clone(),
                sandbox_tenant: None,
            };
            if let Some(location) = reseller.location.as_deref().filter(|l| !is_country(l)) {
                let message = format!(
                    "its location {} is not a two-letter country code, so the manifest leaves `location` out (plan compares a location only when one is declared)",
                    quoted(location)
                );
                self.warn(subject.clone(), message);
                spec.location = None;
            }
            let errors = self
                .schemas
                .errors(&ResellerDocument::new(PLACEHOLDER, spec.clone()));
            if !errors.is_empty() {
                let message = format!(
                    "not exported: the manifest schema rejects its Partner Center profile ({}); the reseller owns its profile, so ask it to correct it, then export again; meanwhile its customers cannot name it and {UNMANAGED}",
                    errors.join("; ")
                );
                self.warn(subject, message);
                self.skip("Reseller", &reseller.tenant_id);
                continue;
            }
            mpn_taken.insert(reseller.mpn_id.as_str(), reseller);
            kept.push((reseller, spec));
        }
        let bases: Vec<(String, String)> = kept
            .iter()
            .map(|(r, _)| (reseller_base(r), r.tenant_id.to_ascii_lowercase()))
            .collect();
        let names = assign_names(&bases);
        let mut out: Vec<(ResellerRef, ResellerSpec)> = kept
            .into_iter()
            .zip(names)
            .map(|((live, spec), name)| {
                (
                    ResellerRef {
                        name,
                        tenant_id: live.tenant_id.to_ascii_lowercase(),
                        mpn_id: spec.mpn_id.clone(),
                    },
                    spec,
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        out
    }

    fn customers(&mut self, resellers: &[(ResellerRef, ResellerSpec)]) -> Vec<CustomerDraft<'a>> {
        let by_tenant: HashMap<&str, &ResellerRef> = resellers
            .iter()
            .map(|(r, _)| (r.tenant_id.as_str(), r))
            .collect();
        let subscriptions = self.subscriptions_of();
        let mut domains: HashMap<String, &LiveCustomer> = HashMap::new();
        let mut drafts: Vec<(&LiveCustomer, CustomerSpec)> = Vec::new();
        for customer in self.live.customers.values() {
            let subject = customer_subject(customer);
            let own: &[&LiveSubscription] = subscriptions
                .get(customer.id.as_str())
                .map_or(&[], Vec::as_slice);
            let left_out = |why: String| -> String {
                let also = match own.len() {
                    0 => String::new(),
                    n => format!(", nor its {n} subscription(s)"),
                };
                format!("not exported{also}: {why}; {UNMANAGED}")
            };
            if let Some(first) = domains.get(&customer.domain.to_ascii_lowercase()) {
                let message = left_out(format!(
                    "customer {} has the same domain, and a domain identifies one customer",
                    first.id
                ));
                self.skip_customer(customer, own, subject, message);
                continue;
            }
            let Some(resellers) = self.customer_resellers(customer, &by_tenant, &subject) else {
                let message = left_out(
                    "it has no relationship with any exported indirect reseller, and a Customer names at least one (`spec.resellers`); partner with its reseller (it then shows in `cspctl plan` as an unmanaged Reseller), then export again".to_owned(),
                );
                self.skip_customer(customer, own, subject, message);
                continue;
            };
            let country = customer.billing.address.country.as_str();
            let missing: Vec<&str> = [
                (
                    customer.organization_registration_number.is_none(),
                    "`organizationRegistrationNumber`",
                ),
                (
                    customer.billing.address.phone_number.is_none(),
                    "`billing.address.phoneNumber`",
                ),
            ]
            .into_iter()
            .filter_map(|(absent, what)| absent.then_some(what))
            .collect();
            if REGISTRATION_NUMBER_COUNTRIES.contains(&country) && !missing.is_empty() {
                let message = left_out(format!(
                    "Partner Center requires {} for customers in {country} and has none for it, so `cspctl validate` would reject the manifest; add it to the customer's profile in Partner Center, then export again",
                    missing.join(" and ")
                ));
                self.skip_customer(customer, own, subject, message);
                continue;
            }
            let mut spec = CustomerSpec {
                domain: customer.domain.clone(),
                company_name: customer.company_name.clone(),
                resellers,
                billing: customer.billing.clone(),
                organization_registration_number: customer.organization_registration_number.clone(),
                agreement: customer.agreement.as_ref().map(|a| Agreement {
                    contact: a.contact.clone(),
                    date_agreed: a.date_agreed.clone(),
                }),
                tenant_id: Some(customer.id.to_ascii_lowercase()),
            };
            let mut errors = self
                .schemas
                .errors(&CustomerDocument::new(PLACEHOLDER, spec.clone()));
            if !errors.is_empty() && spec.agreement.is_some() {
                let without = CustomerSpec {
                    agreement: None,
                    ..spec.clone()
                };
                let errors_without = self
                    .schemas
                    .errors(&CustomerDocument::new(PLACEHOLDER, without.clone()));
                if errors_without.is_empty() {
                    let message = format!(
                        "its Microsoft Customer Agreement attestation is left out: the manifest schema rejects it ({}); plan only uses a declared agreement to record a missing one, but its new-commerce subscriptions need one declared",
                        errors.join("; ")
                    );
                    self.warn(subject.clone(), message);
                    spec = without;
                    errors = errors_without;
                }
            }
            if !errors.is_empty() {
                let message = left_out(format!(
                    "the manifest schema rejects what Partner Center holds ({}); correct the customer's profile in Partner Center, then export again",
                    errors.join("; ")
                ));
                self.skip_customer(customer, own, subject, message);
                continue;
            }
            domains.insert(customer.domain.to_ascii_lowercase(), customer);
            drafts.push((customer, spec));
        }
        let bases: Vec<(String, String)> = drafts
            .iter()
            .map(|(c, _)| (customer_base(c), c.id.to_ascii_lowercase()))
            .collect();
        let names = assign_names(&bases);
        let mut out: Vec<CustomerDraft<'a>> = drafts
            .into_iter()
            .zip(names)
            .map(|((live, spec), name)| CustomerDraft { live, name, spec })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn skip_customer(
        &mut self,
        customer: &LiveCustomer,
        subscriptions: &[&LiveSubscription],
        subject: String,
        message: String,
    ) {
        self.warn(subject, message);
        self.skip("Customer", &customer.id);
        for subscription in subscriptions {
            self.skip("Subscription", &subscription.id);
        }
    }

    /// The customer's resellers by name: the associated partner first, then the
    /// other relationships by name. `None` when none can be named. Relationships
    /// with resellers that were not exported get a warning.
    fn customer_resellers(
        &mut self,
        customer: &LiveCustomer,
        by_tenant: &HashMap<&str, &ResellerRef>,
        subject: &str,
    ) -> Option<Vec<String>> {
        let related: BTreeSet<String> = customer
            .reseller_relationships
            .iter()
            .map(|t| t.to_ascii_lowercase())
            .collect();
        let associated = customer
            .associated_partner_id
            .as_deref()
            .map(str::to_ascii_lowercase)
            .filter(|a| related.contains(a));
        let mut first: Option<String> = None;
        let mut others: Vec<String> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        for tenant in &related {
            match by_tenant.get(tenant.as_str()) {
                Some(reseller) if associated.as_ref() == Some(tenant) => {
                    first = Some(reseller.name.clone());
                }
                Some(reseller) => others.push(reseller.name.clone()),
                None => unknown.push(match self.live.resellers.get(tenant) {
                    Some(r) => format!(
                        "{} (tenant {tenant}, not exported: see its warning)",
                        quoted(&r.name)
                    ),
                    None => format!(
                        "tenant {tenant} (not one of your indirect resellers: no partnership)"
                    ),
                }),
            }
        }
        others.sort();
        let names: Vec<String> = first.into_iter().chain(others).collect();
        if !unknown.is_empty() && !names.is_empty() {
            let message = format!(
                "its relationship(s) with {} cannot be declared and are left out of `spec.resellers`; cspctl never removes a relationship, so they stay as they are in Partner Center",
                unknown.join(", ")
            );
            self.warn(subject.to_owned(), message);
        }
        (!names.is_empty()).then_some(names)
    }

    fn subscriptions(
        &mut self,
        resellers: &[(ResellerRef, ResellerSpec)],
        customers: &[CustomerDraft<'a>],
    ) -> Vec<SubscriptionDraft<'a>> {
        let by_mpn: HashMap<&str, &ResellerRef> = resellers
            .iter()
            .map(|(r, _)| (r.mpn_id.as_str(), r))
            .collect();
        let by_tenant: HashMap<&str, &ResellerRef> = resellers
            .iter()
            .map(|(r, _)| (r.tenant_id.as_str(), r))
            .collect();
        let customer_index: HashMap<&str, usize> = customers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.live.id.as_str(), i))
            .collect();
        let mut drafts: Vec<SubscriptionDraft<'a>> = Vec::new();
        for (customer_id, list) in self.subscriptions_of() {
            let Some(&c) = customer_index.get(customer_id) else {
                if !self.live.customers.contains_key(customer_id) {
                    for subscription in list {
                        let message = format!(
                            "not exported: its customer {customer_id} is not in the snapshot; {UNMANAGED}"
                        );
                        self.warn(subscription_subject(subscription, customer_id), message);
                        self.skip("Subscription", &subscription.id);
                    }
                }
                // Otherwise its customer was left out, with a warning that says so.
                continue;
            };
            let customer = &customers[c];
            let mut kept: Vec<SubscriptionDraft<'a>> = Vec::new();
            for subscription in list {
                match self.subscription(subscription, customer, &by_mpn, &by_tenant) {
                    Ok((spec, support_contact)) => kept.push(SubscriptionDraft {
                        live: subscription,
                        customer: c,
                        spec,
                        support_contact,
                    }),
                    Err(why) => {
                        let subject = subscription_subject(subscription, &customer.live.domain);
                        self.warn(subject, format!("not exported: {why}; {UNMANAGED}"));
                        self.skip("Subscription", &subscription.id);
                    }
                }
            }
            // Subscriptions of a customer may share a friendly name: each is adopted by
            // its `spec.id`, which `cspctl validate` accepts.
            drafts.extend(kept);
        }
        drafts
    }

    /// A subscription's spec (without a name yet) and its support contact's reseller,
    /// or why it cannot be declared.
    fn subscription(
        &self,
        live: &LiveSubscription,
        customer: &CustomerDraft<'_>,
        by_mpn: &HashMap<&str, &ResellerRef>,
        by_tenant: &HashMap<&str, &ResellerRef>,
    ) -> Result<(SubscriptionSpec, Option<String>), String> {
        let related = |name: &str| customer.spec.resellers.iter().any(|r| r == name);
        if live.offer_id.is_empty() {
            return Err(
                "Partner Center did not report its offerId, which a manifest must declare; read it in Partner Center and declare the subscription with its `id`".to_owned(),
            );
        }
        let new_commerce = is_new_commerce_offer(&live.offer_id);
        // Partner Center's documented answers may carry neither: the exported
        // spec then leaves them out (allowed for a subscription adopted by `id`),
        // and they are not managed until declared.
        if let (Some(term), Some(cycle)) = (live.term_duration, live.billing_cycle)
            && !cycle_fits_term(term, cycle)
        {
            return Err(format!(
                "its billing cycle `{}` with term `{term:?}` is a combination cspctl does not accept",
                to_json(&cycle).as_str().unwrap_or_default(),
            ));
        }
        let reseller = match live.partner_id.as_deref() {
            // Not reported: left out of the manifest, and so not compared.
            _ if live.partner_id_unreported => None,
            None => None,
            Some(mpn) => match by_mpn.get(mpn) {
                None => {
                    return Err(format!(
                        "its reseller of record is MPN ID {mpn}, which is not an exported indirect reseller; without `reseller` the plan would clear it. Partner with that reseller, or set the reseller of record in Partner Center to one of the customer's resellers, then export again"
                    ));
                }
                Some(r) if !related(&r.name) => {
                    return Err(format!(
                        "its reseller of record is `{}` (MPN ID {mpn}), which is not one of the customer's declared resellers, and `cspctl validate` requires it to be; the reseller needs a relationship with the customer (or change the reseller of record in Partner Center), then export again",
                        r.name
                    ));
                }
                Some(r) => Some(r.name.clone()),
            },
        };
        if new_commerce && customer.spec.agreement.is_none() {
            return Err(
                "it is a new-commerce subscription, and the customer has no Microsoft Customer Agreement attestation that can be declared, which `cspctl validate` requires; record the customer's acceptance (declare `spec.agreement` on the exported Customer and apply), then export again".to_owned(),
            );
        }
        let support_contact = match &live.support_contact {
            None => None,
            Some(_) if new_commerce => {
                return Err("it has a designated support contact but is a new-commerce subscription, which cspctl cannot declare (Partner Center supports support contacts only on legacy subscriptions)".to_owned());
            }
            Some(contact) => match by_tenant.get(contact.tenant_id.to_ascii_lowercase().as_str()) {
                Some(r) if r.mpn_id == contact.mpn_id && related(&r.name) => Some(r.name.clone()),
                Some(r) if r.mpn_id == contact.mpn_id => {
                    return Err(format!(
                        "its support contact `{}` is not one of the customer's declared resellers, which `cspctl validate` requires; without a SupportContact the plan would reset it",
                        r.name
                    ));
                }
                _ => {
                    return Err(format!(
                        "its support contact {} (tenant {}, MPN ID {}) is not an exported indirect reseller; without a SupportContact the plan would reset it to the default",
                        quoted(&contact.name),
                        contact.tenant_id,
                        contact.mpn_id
                    ));
                }
            },
        };
        // A change scheduled for the renewal is what the subscription is meant to
        // become: the manifest declares it, to take effect at renewal, so that
        // adopting the tenant neither drops it nor makes it at once.
        let next = live.next_term.as_ref();
        let spec = SubscriptionSpec {
            effective: next.map(|_| Effective::Renewal),
            // A purchase-time choice: nothing in a live subscription says it.
            term_end_aligned_with: None,
            customer: customer.name.clone(),
            // Another SKU scheduled for the renewal is declared as the offer
            // too (a transition); the same SKU keeps the current catalog id.
            offer_id: next
                .filter(|n| !live.offer_id.is_empty() && !same_offer(&n.offer_id, &live.offer_id))
                .map_or_else(|| live.offer_id.clone(), |n| n.offer_id.clone()),
            quantity: next.map_or(live.quantity, |n| n.quantity),
            term_duration: next.map(|n| n.term_duration).or(live.term_duration),
            billing_cycle: next.map(|n| n.billing_cycle).or(live.billing_cycle),
            // Unknown: the manifest's default (on), which is not compared.
            auto_renew: live.auto_renew.unwrap_or(true),
            status: match live.status {
                LiveStatus::Suspended => DesiredStatus::Suspended,
                _ => DesiredStatus::Active,
            },
            reseller,
            friendly_name: Some(live.friendly_name.clone()),
            id: Some(live.id.to_ascii_lowercase()),
        };
        let errors = self
            .schemas
            .errors(&SubscriptionDocument::new(PLACEHOLDER, spec.clone()));
        if !errors.is_empty() {
            return Err(format!(
                "the manifest schema rejects what Partner Center holds ({})",
                errors.join("; ")
            ));
        }
        Ok((spec, support_contact))
    }

    fn assemble(
        self,
        resellers: Vec<(ResellerRef, ResellerSpec)>,
        customers: Vec<CustomerDraft<'a>>,
        subscriptions: Vec<SubscriptionDraft<'a>>,
    ) -> Export {
        let bases: Vec<(String, String)> = subscriptions
            .iter()
            .map(|s| {
                (
                    subscription_base(&customers[s.customer].name, &s.live.friendly_name),
                    s.live.id.to_ascii_lowercase(),
                )
            })
            .collect();
        let names = assign_names(&bases);
        let contact_bases: Vec<(String, String)> = subscriptions
            .iter()
            .zip(&names)
            .filter(|(s, _)| s.support_contact.is_some())
            .map(|(s, name)| {
                (
                    truncate_name(&format!("{name}-support"), MAX_NAME),
                    s.live.id.to_ascii_lowercase(),
                )
            })
            .collect();
        let mut contact_names = assign_names(&contact_bases).into_iter();
        let mut out: Vec<CustomerManifests> = customers
            .into_iter()
            .map(|c| CustomerManifests {
                customer: CustomerDocument::new(&c.name, c.spec),
                subscriptions: Vec::new(),
                support_contacts: Vec::new(),
            })
            .collect();
        for (draft, name) in subscriptions.into_iter().zip(names) {
            let mut spec = draft.spec;
            if spec.friendly_name.as_deref() == Some(name.as_str()) {
                spec.friendly_name = None;
            }
            let customer = &mut out[draft.customer];
            if let Some(reseller) = draft.support_contact {
                let contact_name = contact_names.next().expect("a name per support contact");
                customer.support_contacts.push(SupportContactDocument::new(
                    &contact_name,
                    SupportContactSpec {
                        subscription: name.clone(),
                        reseller,
                    },
                ));
            }
            customer
                .subscriptions
                .push(SubscriptionDocument::new(&name, spec));
        }
        for customer in &mut out {
            customer
                .subscriptions
                .sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            customer
                .support_contacts
                .sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        }
        Export {
            resellers: resellers
                .into_iter()
                .map(|(r, spec)| ResellerDocument::new(&r.name, spec))
                .collect(),
            customers: out,
            warnings: self.warnings,
            skipped: self.skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{LiveAgreement, LiveSupportContact};
    use crate::manifest::model::{Address, Billing, Contact};
    use crate::manifest::source::FileId;
    use crate::manifest::yaml::parse_documents;

    const NORTHWIND: &str = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    const ADATUM: &str = "11111111-2222-4333-8444-555555555555";
    const STRANGER: &str = "99999999-2222-4333-8444-555555555555";
    const NCE: &str = "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM";
    const LEGACY: &str = "031c9e47-4802-4248-838e-778fb1d2cc05";

    fn reseller(tenant: &str, mpn: &str, name: &str) -> LiveReseller {
        LiveReseller {
            tenant_id: tenant.to_owned(),
            mpn_id: mpn.to_owned(),
            name: name.to_owned(),
            location: Some("US".to_owned()),
        }
    }

    fn billing() -> Billing {
        Billing {
            email: "billing@contoso.example".to_owned(),
            culture: "en-US".to_owned(),
            language: "en".to_owned(),
            address: Address {
                first_name: "Ana".to_owned(),
                last_name: "Bowman".to_owned(),
                address_line1: "1 Microsoft Way".to_owned(),
                address_line2: None,
                city: "Redmond".to_owned(),
                state: Some("WA".to_owned()),
                postal_code: "98052".to_owned(),
                country: "US".to_owned(),
                phone_number: Some("4255550100".to_owned()),
            },
        }
    }

    fn customer(id: &str, domain: &str, resellers: &[&str]) -> LiveCustomer {
        LiveCustomer {
            id: id.to_owned(),
            domain: domain.to_owned(),
            company_name: format!("{domain} Ltd"),
            billing: billing(),
            organization_registration_number: None,
            associated_partner_id: resellers.first().map(|r| (*r).to_owned()),
            reseller_relationships: resellers.iter().map(|r| (*r).to_owned()).collect(),
            agreement: Some(LiveAgreement {
                contact: Contact {
                    first_name: "Ana".to_owned(),
                    last_name: "Bowman".to_owned(),
                    email: "ana@contoso.example".to_owned(),
                    phone_number: None,
                },
                date_agreed: "2026-01-15T00:00:00Z".to_owned(),
            }),
        }
    }

    fn subscription(id: &str, customer: &str, offer: &str, name: &str) -> LiveSubscription {
        LiveSubscription {
            quantity: 5,
            term_duration: Some(TermDuration::P1Y),
            billing_cycle: Some(BillingCycle::Monthly),
            ..LiveSubscription::known_only_by(id, customer, offer, name)
        }
    }

    fn guid(n: u32) -> String {
        format!("{n:08x}-0000-4000-8000-000000000000")
    }

    /// Two resellers, a customer of both, and subscriptions of every shape.
    fn tenant() -> Live {
        let mut live = Live::default();
        for r in [
            reseller(NORTHWIND, "4847383", "Northwind Traders"),
            reseller(ADATUM, "5357564", "Adatum"),
        ] {
            live.resellers.insert(r.tenant_id.clone(), r);
        }
        let contoso = customer(&guid(1), "contoso.onmicrosoft.com", &[ADATUM, NORTHWIND]);
        live.customers.insert(contoso.id.clone(), contoso);
        let mut nce = subscription(&guid(10), &guid(1), NCE, "Contoso E3");
        nce.partner_id = Some("4847383".to_owned());
        let mut legacy = subscription(&guid(11), &guid(1), LEGACY, "contoso-legacy");
        legacy.term_duration = Some(TermDuration::P1M);
        legacy.status = LiveStatus::Suspended;
        legacy.support_contact = Some(LiveSupportContact {
            tenant_id: NORTHWIND.to_owned(),
            mpn_id: "4847383".to_owned(),
            name: "Northwind Traders".to_owned(),
        });
        let mut pending = subscription(&guid(12), &guid(1), NCE, "Pending one");
        pending.status = LiveStatus::Pending;
        let mut gone = subscription(&guid(13), &guid(1), NCE, "Contoso E3");
        gone.status = LiveStatus::Deleted;
        for s in [nce, legacy, pending, gone] {
            live.subscriptions.insert(s.id.clone(), s);
        }
        live
    }

    fn assert_round_trip(live: &Live, export: &Export) {
        let problems = verify(live, export);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    fn messages(export: &Export) -> String {
        export
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Parses YAML text with the crate's own parser, as the loader does.
    fn parse(text: &str) -> Vec<Json> {
        parse_documents(text, FileId(0))
            .unwrap_or_else(|problems| panic!("{problems:?}\n{text}"))
            .into_iter()
            .map(|d| d.root.to_json())
            .collect()
    }

    #[test]
    fn a_rich_tenant_round_trips_with_no_changes() {
        let live = tenant();
        let export = export(&live);
        assert!(export.warnings.is_empty(), "{}", messages(&export));
        assert_round_trip(&live, &export);
        let counts = export.counts();
        assert_eq!(
            (
                counts.resellers,
                counts.customers,
                counts.subscriptions,
                counts.support_contacts
            ),
            (2, 1, 3, 1)
        );
        let customer = &export.customers[0];
        assert_eq!(customer.customer.metadata.name, "contoso");
        // The associated partner first, then the other relationship.
        assert_eq!(
            customer.customer.spec.resellers,
            ["adatum", "northwind-traders"]
        );
        assert_eq!(
            customer.customer.spec.tenant_id.as_deref(),
            Some(guid(1).as_str())
        );
        let names: Vec<&str> = customer
            .subscriptions
            .iter()
            .map(|s| s.metadata.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["contoso-e3", "contoso-legacy", "contoso-pending-one"]
        );
        let e3 = &customer.subscriptions[0].spec;
        assert_eq!(e3.friendly_name.as_deref(), Some("Contoso E3"));
        assert_eq!(e3.reseller.as_deref(), Some("northwind-traders"));
        assert_eq!(e3.id.as_deref(), Some(guid(10).as_str()));
        let legacy = &customer.subscriptions[1].spec;
        assert_eq!(legacy.friendly_name, None, "same as the name");
        assert_eq!(legacy.status, DesiredStatus::Suspended);
        assert_eq!(customer.subscriptions[2].spec.status, DesiredStatus::Active);
        assert_eq!(
            customer.support_contacts[0].metadata.name,
            "contoso-legacy-support"
        );
        assert_eq!(
            customer.support_contacts[0].spec.reseller,
            "northwind-traders"
        );
    }

    #[test]
    fn output_is_deterministic_and_laid_out_per_customer() {
        let live = tenant();
        let (a, b) = (export(&live), export(&live));
        assert_eq!(a.files(), b.files());
        assert_eq!(a.to_stream(), b.to_stream());
        let files = a.files();
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [RESELLERS_FILE, "customers/contoso.yaml", SCHEMA_FILE]
        );
        assert!(
            files[0]
                .1
                .starts_with("# yaml-language-server: $schema=schemas/manifest.schema.json\n")
        );
        assert!(
            files[1]
                .1
                .starts_with("# yaml-language-server: $schema=../schemas/manifest.schema.json\n")
        );
        let kinds: Vec<String> = parse(&files[1].1)
            .iter()
            .map(|d| d["kind"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            kinds,
            [
                "Customer",
                "Subscription",
                "Subscription",
                "Subscription",
                "SupportContact"
            ]
        );
        assert!(files[0].1.contains("mpnId: \"4847383\""), "{}", files[0].1);
    }

    #[test]
    fn awkward_strings_and_names_round_trip() {
        let mut live = tenant();
        let r = live.resellers.get_mut(NORTHWIND).expect("northwind");
        r.name = "yes".to_owned();
        let c = live.customers.get_mut(&guid(1)).expect("contoso");
        c.company_name = "\"Quotes\" & 'apostrophes': #1 — é 🚀".to_owned();
        c.billing.address.address_line1 = "- a\nsecond line".to_owned();
        c.billing.address.address_line2 = Some(String::new());
        c.billing.address.city = "0x10".to_owned();
        c.billing.address.last_name = "Bow\tman\u{0}\u{7}\u{7f}\u{85}\u{2028}\u{feff} ".to_owned();
        c.billing.address.state = Some("~".to_owned());
        c.billing.address.postal_code = "010".to_owned();
        c.organization_registration_number = Some("1e3".to_owned());
        for (i, name) in ["a: b", "#x", "CONTOSO  e3 ", "on", "\u{1f680}"]
            .iter()
            .enumerate()
        {
            let id = guid(20 + u32::try_from(i).expect("small"));
            let s = subscription(&id, &guid(1), NCE, name);
            live.subscriptions.insert(id, s);
        }
        let export = export(&live);
        assert!(export.warnings.is_empty(), "{}", messages(&export));
        assert_round_trip(&live, &export);
        assert_eq!(export.resellers[1].metadata.name, "yes");
    }

    #[test]
    fn colliding_names_are_numbered() {
        let mut live = Live::default();
        for (tenant, mpn) in [(NORTHWIND, "1"), (ADATUM, "2")] {
            live.resellers
                .insert(tenant.to_owned(), reseller(tenant, mpn, "Same Name"));
        }
        for (n, domain) in [
            (1, "contoso.onmicrosoft.com"),
            (2, "CONTOSO.onmicrosoft.com"),
        ] {
            let _ = domain;
            let c = customer(
                &guid(n),
                &format!("contoso{n}x.onmicrosoft.com"),
                &[NORTHWIND],
            );
            live.customers.insert(c.id.clone(), c);
        }
        // Customers whose domain prefixes slug to the same name.
        let c = customer(&guid(3), "con-toso.onmicrosoft.com", &[ADATUM]);
        live.customers.insert(c.id.clone(), c);
        let c = customer(&guid(4), "CON--TOSO.onmicrosoft.com", &[ADATUM]);
        live.customers.insert(c.id.clone(), c);
        // Subscriptions whose friendly names slug the same.
        for (n, name) in [(30, "E3!"), (31, "e3?"), (32, "E 3")] {
            let s = subscription(&guid(n), &guid(3), NCE, name);
            live.subscriptions.insert(s.id.clone(), s);
        }
        let export = export(&live);
        assert!(export.warnings.is_empty(), "{}", messages(&export));
        assert_round_trip(&live, &export);
        let resellers: Vec<&str> = export
            .resellers
            .iter()
            .map(|r| r.metadata.name.as_str())
            .collect();
        assert_eq!(resellers, ["same-name", "same-name-2"]);
        // Tenant ids sort ADATUM (1111…) before NORTHWIND (6f1b…).
        assert_eq!(export.resellers[0].spec.tenant_id.as_deref(), Some(ADATUM));
        let customers: Vec<&str> = export
            .customers
            .iter()
            .map(|c| c.customer.metadata.name.as_str())
            .collect();
        assert_eq!(
            customers,
            ["con-toso", "con-toso-2", "contoso1x", "contoso2x"]
        );
        let subscriptions: Vec<(&str, Option<&str>)> = export.customers[0]
            .subscriptions
            .iter()
            .map(|s| (s.metadata.name.as_str(), s.spec.friendly_name.as_deref()))
            .collect();
        assert_eq!(
            subscriptions,
            [
                ("con-toso-e-3", Some("E 3")),
                ("con-toso-e3", Some("E3!")),
                ("con-toso-e3-2", Some("e3?"))
            ]
        );
    }

    #[test]
    fn what_cannot_be_declared_is_skipped_with_a_warning() {
        let mut live = tenant();
        // A relationship with a reseller the provider does not partner with.
        live.customers
            .get_mut(&guid(1))
            .expect("contoso")
            .reseller_relationships
            .insert(STRANGER.to_owned());
        // A customer served only by that reseller.
        let lonely = customer(&guid(2), "lonely.onmicrosoft.com", &[STRANGER]);
        live.customers.insert(lonely.id.clone(), lonely);
        let orphaned = subscription(&guid(40), &guid(2), NCE, "Lonely E3");
        live.subscriptions.insert(orphaned.id.clone(), orphaned);
        // A customer in India without a registration number.
        let mut india = customer(&guid(3), "india.onmicrosoft.com", &[NORTHWIND]);
        india.billing.address.country = "IN".to_owned();
        live.customers.insert(india.id.clone(), india);
        // A customer without an agreement and a new-commerce subscription.
        let mut no_mca = customer(&guid(4), "nomca.onmicrosoft.com", &[NORTHWIND]);
        no_mca.agreement = None;
        live.customers.insert(no_mca.id.clone(), no_mca);
        let mut legacy_ok = subscription(&guid(41), &guid(4), LEGACY, "Legacy");
        legacy_ok.term_duration = Some(TermDuration::P1M);
        let nce_no_mca = subscription(&guid(42), &guid(4), NCE, "New commerce");
        // Reseller of record: an unknown MPN, and a reseller not related to the customer.
        let mut unknown_mpn = subscription(&guid(43), &guid(1), NCE, "Unknown MPN");
        unknown_mpn.partner_id = Some("777".to_owned());
        let mut unrelated = subscription(&guid(44), &guid(4), LEGACY, "Unrelated");
        unrelated.term_duration = Some(TermDuration::P1M);
        unrelated.partner_id = Some("5357564".to_owned());
        // Two subscriptions named alike.
        let twin = subscription(&guid(45), &guid(1), NCE, "CONTOSO e3");
        // A support contact on new commerce, and one by an unknown reseller.
        let mut nce_contact = subscription(&guid(46), &guid(1), NCE, "NCE contact");
        nce_contact.support_contact = Some(LiveSupportContact {
            tenant_id: NORTHWIND.to_owned(),
            mpn_id: "4847383".to_owned(),
            name: "Northwind Traders".to_owned(),
        });
        let mut stranger_contact = subscription(&guid(47), &guid(1), LEGACY, "Stranger contact");
        stranger_contact.term_duration = Some(TermDuration::P1M);
        stranger_contact.support_contact = Some(LiveSupportContact {
            tenant_id: STRANGER.to_owned(),
            mpn_id: "999".to_owned(),
            name: "Stranger".to_owned(),
        });
        // An invalid quantity and a billing cycle the term does not offer.
        let mut zero = subscription(&guid(48), &guid(1), NCE, "Zero seats");
        zero.quantity = 0;
        let mut cycle = subscription(&guid(49), &guid(1), NCE, "Triennial monthly");
        cycle.term_duration = Some(TermDuration::P1M);
        cycle.billing_cycle = Some(BillingCycle::Annual);
        for s in [
            legacy_ok,
            nce_no_mca,
            unknown_mpn,
            unrelated,
            twin,
            nce_contact,
            stranger_contact,
            zero,
            cycle,
        ] {
            live.subscriptions.insert(s.id.clone(), s);
        }
        // A reseller with a location that is no country code, one with a bad MPN ID.
        live.resellers.get_mut(ADATUM).expect("adatum").location = Some("Germany".to_owned());
        let bad = reseller(
            "aaaaaaaa-2222-4333-8444-555555555555",
            "not-digits",
            "Bad MPN",
        );
        live.resellers.insert(bad.tenant_id.clone(), bad);

        let export = export(&live);
        assert_round_trip(&live, &export);
        let text = messages(&export);
        for expected in [
            "Customer contoso.onmicrosoft.com (00000001-0000-4000-8000-000000000000): its relationship(s) with tenant 99999999-2222-4333-8444-555555555555 (not one of your indirect resellers: no partnership) cannot be declared",
            "Customer lonely.onmicrosoft.com (00000002-0000-4000-8000-000000000000): not exported, nor its 1 subscription(s): it has no relationship with any exported indirect reseller",
            "Customer india.onmicrosoft.com (00000003-0000-4000-8000-000000000000): not exported: Partner Center requires `organizationRegistrationNumber` for customers in IN",
            "Subscription \"New commerce\" (0000002a-0000-4000-8000-000000000000) of nomca.onmicrosoft.com: not exported: it is a new-commerce subscription, and the customer has no Microsoft Customer Agreement",
            "Subscription \"Unknown MPN\" (0000002b-0000-4000-8000-000000000000) of contoso.onmicrosoft.com: not exported: its reseller of record is MPN ID 777, which is not an exported indirect reseller",
            "Subscription \"Unrelated\" (0000002c-0000-4000-8000-000000000000) of nomca.onmicrosoft.com: not exported: its reseller of record is `adatum` (MPN ID 5357564), which is not one of the customer's declared resellers",
            "Subscription \"NCE contact\" (0000002e-0000-4000-8000-000000000000) of contoso.onmicrosoft.com: not exported: it has a designated support contact but is a new-commerce subscription",
            "Subscription \"Stranger contact\" (0000002f-0000-4000-8000-000000000000) of contoso.onmicrosoft.com: not exported: its support contact \"Stranger\"",
            "Subscription \"Zero seats\" (00000030-0000-4000-8000-000000000000) of contoso.onmicrosoft.com: not exported: the manifest schema rejects what Partner Center holds (`spec.quantity`",
            "Subscription \"Triennial monthly\" (00000031-0000-4000-8000-000000000000) of contoso.onmicrosoft.com: not exported: its billing cycle `annual` with term `P1M`",
            "Reseller \"Adatum\" (tenant 11111111-2222-4333-8444-555555555555, MPN ID 5357564): its location \"Germany\" is not a two-letter country code",
            "Reseller \"Bad MPN\" (tenant aaaaaaaa-2222-4333-8444-555555555555, MPN ID not-digits): not exported: the manifest schema rejects its Partner Center profile (`spec.mpnId`",
        ] {
            assert!(
                text.contains(expected),
                "missing warning:\n{expected}\nin:\n{text}"
            );
        }
        assert_eq!(export.warnings.len(), 12, "{text}");
        // Two subscriptions of a customer with one friendly name (any case) are both
        // exported, each adopted by its id.
        let stream = export.to_stream();
        assert!(stream.contains("friendlyName: CONTOSO e3"), "{stream}");
        assert!(
            stream.contains("id: 0000002d-0000-4000-8000-000000000000"),
            "{stream}"
        );
        assert!(
            export
                .warnings
                .iter()
                .all(|w| w.message.contains("unmanaged")
                    || w.message.contains("stay as they are")
                    || w.message.contains("location")),
            "{text}"
        );
        // Exported: contoso (3, and "CONTOSO e3"), nomca (1 legacy); skipped: lonely, india.
        let counts = export.counts();
        assert_eq!((counts.customers, counts.subscriptions), (2, 5), "{text}");
        assert!(
            export
                .skipped
                .contains(&("Subscription".to_owned(), guid(40)))
        );
        assert!(export.skipped.contains(&("Customer".to_owned(), guid(2))));
        assert_eq!(export.resellers[0].spec.location, None);
    }

    #[test]
    fn an_agreement_the_schema_rejects_is_left_out_alone() {
        let mut live = tenant();
        let contoso = live.customers.get_mut(&guid(1)).expect("contoso");
        contoso.agreement.as_mut().expect("agreement").date_agreed = "15/01/2026".to_owned();
        let export = export(&live);
        assert_round_trip(&live, &export);
        let text = messages(&export);
        assert!(
            text.contains("its Microsoft Customer Agreement attestation is left out"),
            "{text}"
        );
        // Its new-commerce subscriptions need one, so they are left out too.
        assert!(text.contains("\"Contoso E3\""), "{text}");
        assert_eq!(export.counts().subscriptions, 1, "{text}");
    }

    #[test]
    fn an_empty_tenant_exports_nothing() {
        let export = export(&Live::default());
        assert!(export.files().is_empty());
        assert_eq!(export.to_stream(), "");
        assert!(verify(&Live::default(), &export).is_empty());
    }

    #[test]
    fn verify_reports_what_would_change() {
        let live = tenant();
        let mut export = export(&live);
        export.customers[0].subscriptions[0].spec.quantity = 6;
        export.skipped.clear();
        let mut live_more = live.clone();
        let extra = subscription(&guid(99), &guid(1), NCE, "Extra");
        live_more.subscriptions.insert(extra.id.clone(), extra);
        let problems = verify(&live_more, &export);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("Subscription/contoso-e3") && p.contains("quantity: 5 → 6")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("\"Extra\"") && p.contains("unmanaged")),
            "{problems:?}"
        );
    }
}
