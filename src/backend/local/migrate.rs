//! Reads a state file of the first local backend (format 1, written by
//! `tenant.rs`'s `Tenant`) and turns it into the Partner Center simulator's world
//! ([`crate::sim::State`]), which becomes the local state. Run once, when a local
//! state file turns out to be in the old format.
//!
//! The old format is read with this module's own, deserialize-only copies of the
//! old record types (field lists and serde attributes copied from `tenant.rs` and
//! from the `Live*` types it stored), so files keep reading after those types
//! change or go. Reading is as tolerant as it was: unknown fields are ignored and
//! the same fields have serde defaults. Enumerations (term, billing cycle, status)
//! are read as text and checked here, so an unknown value is reported with the
//! object that holds it rather than as a bare serde position.
//!
//! # Telling the two formats apart
//!
//! Both files are JSON objects with `"formatVersion": 1`, so the version alone
//! does not decide. [`is_local_v1`] takes a file for old-format when
//! `formatVersion` is exactly 1, it has neither `idSeed` nor `idCounter` (the
//! simulator's `State` requires both; the old format never had them), and each of
//! `resellers`, `customers`, `subscriptions`, `orders` and `agreements` that is
//! present is a JSON object (the old maps by id; the simulator writes arrays). A
//! file without `formatVersion` was refused by the old release too, and is not
//! taken for either.
//!
//! # What becomes what
//!
//! Identical meaning, field by field; what has no place in the simulator's world
//! is an error naming the object and what to do, never dropped. Ids keep their
//! spelling; references (a subscription's customer and order, a customer's
//! resellers) are matched case-insensitively, as Partner Center matches GUIDs, and
//! written with the spelling of the object they name, because the simulator
//! compares them exactly.
//!
//! - **Partner** (tenant id, MPN id, name; the old built-in default when absent)
//!   → `State::partner`. `sandbox = true` (the local backend always had
//!   integration-sandbox semantics) and `sandbox_reseller_limit = None` (it never
//!   enforced the quota). `formatVersion` is the simulator's (1).
//! - **Ids for new objects**: `id_seed` is a hash of the partner's tenant id and
//!   the old `nextId`; `id_counter` starts at 0 and
//!   advances by the ids the migration draws. The simulator derives ids from
//!   seed and counter with another function than the old generator, so a new id
//!   equals a migrated one with negligible probability (two 122-bit random
//!   values); the ids this migration itself draws (billing profiles, agreement
//!   user ids) are checked against every id in the file and skip any taken one.
//! - **Resellers** (`tenantId`, `mpnId`, `name`, `location`) → `Reseller`; no
//!   location becomes the simulator's empty one (which Partner Center's answer
//!   leaves out the same way). An empty location given as `""` is an error (the
//!   two could not be told apart afterwards).
//! - **Customers**: `id`, `domain`, `companyName` (also the billing profile's
//!   company name, which is the one Partner Center shows and cspctl changes),
//!   `billing` (email, culture, language, address with its contact fields and
//!   phone) → `billing`, `organizationRegistrationNumber`, `associatedPartnerId`
//!   (kept verbatim), `resellerRelationships` → `reseller_ids` (sorted; each must be
//!   one of the file's resellers: the simulator shows relationships only to
//!   resellers it knows), `creationDate` → `created_at` (unix seconds; required).
//!   Each customer gets a new billing profile id and `billing_version` 1.
//! - **Agreements** (old top-level map by customer id) → the customer's
//!   `agreements`, oldest first, each with a new `userId` and the simulator's MCA
//!   template id. Only Microsoft Customer Agreement records exist in the simulator
//!   (any other type is an error); `dateAgreed` is kept as written. Dropped: each
//!   record's `recorded` (the old tenant's own bookkeeping of when it saw the
//!   request; nothing ever showed it). Note: the old live view took the *last
//!   recorded* attestation, Partner Center's reader takes the one with the latest
//!   `dateAgreed`; they differ only if a later attestation names an earlier date.
//! - **Subscriptions**: `id`, `customerId`, `orderId` (required, and the order must
//!   be in the file, of the same customer), `offerId`, `friendlyName`, `quantity`,
//!   `termDuration` and `billingCycle` (required: the simulator always knows them),
//!   `autoRenew` (required), `status` (`active`, `suspended`, `deleted`; the old
//!   tenant never wrote `pending`, `expired` or `disabled`, and the simulator has
//!   no place for the last two), `partnerId` (MPN id of the reseller of record),
//!   `supportContact` → `support_contact` (tenant id, MPN id, name),
//!   `creationDate` → `created_at` (required). `cancellationAllowedUntil` is not
//!   stored by the simulator: it is always creation + 7 days for new commerce and
//!   absent for legacy offers, so the file's value must say exactly that (it
//!   always did). `partnerIdUnreported` is a reader's flag the old tenant never set.
//! - **Orders**: `id`, `customerId`, `billingCycle`, `creationDate` → `created_at`
//!   (and `ready_at`: already provisioned), `status` `completed` → `completed`
//!   (the old tenant provisioned synchronously; any other status is an error), and
//!   each line (number, offer, subscription id, friendly name, quantity, term,
//!   partner id on record) as it is.
//! - **Not carried over**: `revision` (it only tied the old write-ahead journal to a
//!   state; the caller must not migrate a file whose journal still holds
//!   operations) and fields the old release did not know either.
//!
//! Times: creation dates are parsed as RFC 3339 (as the old release wrote them,
//! `YYYY-MM-DDTHH:MM:SSZ`); one given with an offset or a fraction of a second is
//! the same instant afterwards, shown in UTC and whole seconds. A date that is not
//! RFC 3339 is an error.
//!
//! Deterministic: the same bytes give the same `State` (maps are read in key order,
//! objects sorted by creation time then id, ids drawn in that order).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::state::local_partner;
use crate::sim::state::{
    Address, Agreement, BillingProfile, CANCELLATION_WINDOW_SECONDS, Contact, Customer, Cycle,
    MCA_TEMPLATE_ID, Order, OrderLine, Partner, Reseller, State, Status, Subscription, Term,
};
use crate::time;

/// The only format version of the old local state file.
const LOCAL_V1: u64 = 1;

/// The agreement type the old tenant recorded for an MCA attestation.
const MCA: &str = "MicrosoftCustomerAgreement";

/// What to do about any object the simulator cannot hold: said after each error.
const EDIT_HINT: &str = "edit the state file (keep a copy of it), then run cspctl again";

/// A v1 local state file that cannot become a simulator state, with what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationError {
    message: String,
}

impl MigrationError {
    fn new(message: impl Into<String>) -> MigrationError {
        MigrationError {
            message: message.into(),
        }
    }

    /// The same problem in `object` (e.g. `subscription 1d0b…`).
    fn of(object: &str, problem: impl fmt::Display) -> MigrationError {
        MigrationError::new(format!("{object}: {problem}"))
    }
}

impl fmt::Display for MigrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MigrationError {}

type Result<T> = std::result::Result<T, MigrationError>;

/// Whether `value` is a state file of the first local backend (see the module
/// documentation for why these tests, and why they cannot match a simulator state).
pub fn is_local_v1(value: &Value) -> bool {
    let Some(object) = value.as_object() else {
        return false;
    };
    object.get("formatVersion").and_then(Value::as_u64) == Some(LOCAL_V1)
        && !object.contains_key("idSeed")
        && !object.contains_key("idCounter")
        && [
            "resellers",
            "customers",
            "subscriptions",
            "orders",
            "agreements",
        ]
        .iter()
        .all(|key| object.get(*key).is_none_or(Value::is_object))
}

/// Reads a v1 local state file and returns the simulator state that holds the
/// same tenant (see the module documentation for the mapping and its errors).
pub fn from_local_v1(bytes: &[u8]) -> Result<State> {
    let file: V1File = serde_json::from_slice(bytes).map_err(|error| {
        if error.is_data() && has_id_seed(bytes) {
            return already_simulator();
        }
        let what = if error.is_data() {
            "does not match the version 1 local state format"
        } else {
            "is not valid JSON"
        };
        MigrationError::new(format!(
            "line {} column {}: the state file {what}: {}. Restore it from a backup or version control, or {EDIT_HINT}",
            error.line(),
            error.column(),
            strip_position(&error)
        ))
    })?;
    if file.id_seed.is_some() {
        return Err(already_simulator());
    }
    match file.format_version {
        Some(LOCAL_V1) => {}
        Some(other) => {
            return Err(MigrationError::new(format!(
                "the state file has format version {other}, not the version 1 local state this migrates from; it was written by another cspctl: use that one, or move the file away to start from an empty local tenant"
            )));
        }
        None => {
            return Err(MigrationError::new(
                "the state file has no valid `formatVersion`, so it is not a cspctl state file (or it was damaged); restore it from a backup or version control, or move it away to start from an empty local tenant",
            ));
        }
    }
    Migration::new(&file)?.run(file)
}

fn already_simulator() -> MigrationError {
    MigrationError::new(
        "the state file has `idSeed`: it is already a simulator state, not a version 1 local state, so there is nothing to migrate",
    )
}

/// Whether a file the v1 types cannot read has the simulator's `idSeed` (its arrays
/// fail the typed read before the field is checked). Only on that error path: a
/// second pass, which skips everything else without building it.
fn has_id_seed(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, rename = "idSeed")]
        id_seed: Option<IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(bytes).is_ok_and(|probe| probe.id_seed.is_some())
}

/// serde_json's message without its trailing position (shown up front instead).
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

// ---- the old format, deserialize-only ------------------------------------------

/// The whole v1 file (`tenant.rs`'s `Tenant`). `revision` is not read: see the
/// module documentation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1File {
    /// Required, unlike the old struct's default: the old reader refused a file
    /// without it (`state.rs`).
    format_version: Option<u64>,
    /// Only to recognize a simulator state given by mistake.
    id_seed: Option<IgnoredAny>,
    /// The simulator's own `Partner`: the same three fields, spelled the same.
    partner: Option<Partner>,
    #[serde(default = "first_id")]
    next_id: u64,
    #[serde(default)]
    resellers: BTreeMap<String, V1Reseller>,
    #[serde(default)]
    customers: BTreeMap<String, V1Customer>,
    #[serde(default)]
    subscriptions: BTreeMap<String, V1Subscription>,
    #[serde(default)]
    orders: BTreeMap<String, V1Order>,
    #[serde(default)]
    agreements: BTreeMap<String, Vec<V1Agreement>>,
}

fn first_id() -> u64 {
    1
}

/// `LiveReseller`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Reseller {
    tenant_id: String,
    mpn_id: String,
    name: String,
    location: Option<String>,
}

/// `CustomerRecord`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Customer {
    id: String,
    domain: String,
    company_name: String,
    billing: V1Billing,
    organization_registration_number: Option<String>,
    associated_partner_id: Option<String>,
    #[serde(default)]
    reseller_relationships: BTreeSet<String>,
    creation_date: Option<String>,
}

/// `BillingRecord`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Billing {
    email: String,
    culture: String,
    language: String,
    address: V1Address,
}

/// `AddressRecord`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Address {
    first_name: String,
    last_name: String,
    address_line1: String,
    address_line2: Option<String>,
    city: String,
    state: Option<String>,
    postal_code: String,
    country: String,
    phone_number: Option<String>,
}

/// `ContactRecord`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Contact {
    first_name: String,
    last_name: String,
    email: String,
    phone_number: Option<String>,
}

/// `AgreementRecord`; `recorded` is not read (see the module documentation).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Agreement {
    #[serde(rename = "type")]
    agreement_type: String,
    contact: V1Contact,
    date_agreed: String,
}

/// `LiveSubscription`; term, billing cycle and status as text (checked here).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Subscription {
    id: String,
    customer_id: String,
    offer_id: String,
    friendly_name: String,
    quantity: u32,
    term_duration: Option<String>,
    billing_cycle: Option<String>,
    auto_renew: Option<bool>,
    status: String,
    partner_id: Option<String>,
    #[serde(default)]
    partner_id_unreported: bool,
    support_contact: Option<V1SupportContact>,
    order_id: Option<String>,
    creation_date: Option<String>,
    cancellation_allowed_until: Option<String>,
}

/// `LiveSupportContact`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1SupportContact {
    tenant_id: String,
    mpn_id: String,
    name: String,
}

/// `OrderRecord`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Order {
    id: String,
    customer_id: String,
    billing_cycle: String,
    line_items: Vec<V1OrderLine>,
    creation_date: String,
    status: String,
}

/// `OrderLineItemRecord`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1OrderLine {
    line_item_number: u32,
    offer_id: String,
    subscription_id: String,
    friendly_name: String,
    quantity: u32,
    term_duration: String,
    partner_id_on_record: Option<String>,
}

// ---- the conversion ------------------------------------------------------------

/// The ids the file holds (lowercased, for lookups and collision checks) and the
/// spelling each object's own id has.
struct Migration {
    /// Lowercased id → the id as the file spells it, per kind of object.
    reseller_ids: BTreeMap<String, String>,
    customer_ids: BTreeMap<String, String>,
    /// Lowercased order id → (its id, its customer's lowercased id).
    orders: BTreeMap<String, (String, String)>,
    /// Every id in the file, lowercased: what a newly drawn id must not be.
    taken: BTreeSet<String>,
    /// The indirect provider's tenant id.
    partner_tenant: String,
}

impl Migration {
    /// Indexes the file's objects; refuses a map key that is not its object's id
    /// (the simulator has only the id) and two objects whose ids differ only in case
    /// (the simulator could not tell them apart).
    fn new(file: &V1File) -> Result<Migration> {
        let partner_tenant = file
            .partner
            .as_ref()
            .map_or_else(|| local_partner().tenant_id, |p| p.tenant_id.clone());
        let mut taken = BTreeSet::from([partner_tenant.to_ascii_lowercase()]);
        let reseller_ids = index(
            "reseller",
            file.resellers.iter().map(|(k, r)| (k, &r.tenant_id)),
        )?;
        let customer_ids = index("customer", file.customers.iter().map(|(k, c)| (k, &c.id)))?;
        let subscription_ids = index(
            "subscription",
            file.subscriptions.iter().map(|(k, s)| (k, &s.id)),
        )?;
        let order_ids = index("order", file.orders.iter().map(|(k, o)| (k, &o.id)))?;
        taken.extend(reseller_ids.keys().cloned());
        taken.extend(customer_ids.keys().cloned());
        taken.extend(subscription_ids.keys().cloned());
        taken.extend(order_ids.keys().cloned());
        let orders = file
            .orders
            .values()
            .map(|o| {
                (
                    o.id.to_ascii_lowercase(),
                    (o.id.clone(), o.customer_id.to_ascii_lowercase()),
                )
            })
            .collect();
        Ok(Migration {
            reseller_ids,
            customer_ids,
            orders,
            taken,
            partner_tenant,
        })
    }

    fn run(mut self, file: V1File) -> Result<State> {
        // The old tenant's built-in provider, when the file names none, is the same
        // made-up one a new local tenant has.
        let partner = file.partner.unwrap_or_else(local_partner);
        let seed = id_seed(&partner.tenant_id, file.next_id);
        let mut state = State::new(partner, true, seed);
        state.sandbox_reseller_limit = None;

        for (key, reseller) in file.resellers {
            state.resellers.push(self.reseller(&key, reseller)?);
        }

        let mut agreements = file.agreements;
        let mut customers = Vec::with_capacity(file.customers.len());
        for (key, customer) in file.customers {
            let records = agreements.remove(&key).unwrap_or_default();
            customers.push(self.customer(&key, customer, records)?);
        }
        if let Some(customer_id) = agreements.keys().next() {
            return Err(MigrationError::of(
                &format!("agreements of customer {customer_id}"),
                format!(
                    "there is no customer {customer_id} in the file, so nobody made these attestations; remove them from `agreements` or restore the customer: {EDIT_HINT}"
                ),
            ));
        }
        // Partner Center lists customers in creation order; ids break ties so the
        // order never depends on anything but the file.
        customers.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        // New ids are drawn in that order, after sorting, for determinism.
        for customer in &mut customers {
            customer.billing_profile_id = self.new_id(&mut state);
            for agreement in &mut customer.agreements {
                agreement.user_id = self.new_id(&mut state);
            }
        }
        state.customers = customers;

        let mut subscriptions = Vec::with_capacity(file.subscriptions.len());
        for (key, subscription) in file.subscriptions {
            subscriptions.push(self.subscription(&key, subscription)?);
        }
        subscriptions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        state.subscriptions = subscriptions;

        let mut orders = Vec::with_capacity(file.orders.len());
        for (key, order) in file.orders {
            orders.push(self.order(&key, order)?);
        }
        orders.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        state.orders = orders;
        Ok(state)
    }

    fn reseller(&self, key: &str, reseller: V1Reseller) -> Result<Reseller> {
        let object = format!("reseller {key}");
        let location = optional(&object, "location", reseller.location)?.unwrap_or_default();
        Ok(Reseller::new(
            &reseller.tenant_id,
            &reseller.mpn_id,
            &reseller.name,
            &location,
        ))
    }

    /// The customer with its agreement records; its billing profile id and the
    /// agreements' user ids are drawn later, in the final order.
    fn customer(
        &self,
        key: &str,
        customer: V1Customer,
        records: Vec<V1Agreement>,
    ) -> Result<Customer> {
        let object = format!("customer {key}");
        let created_at = required_time(&object, "creationDate", customer.creation_date.as_deref())?;
        let mut reseller_ids = Vec::with_capacity(customer.reseller_relationships.len());
        for reseller in &customer.reseller_relationships {
            let Some(id) = self.reseller_ids.get(&reseller.to_ascii_lowercase()) else {
                return Err(MigrationError::of(
                    &object,
                    format!(
                        "it has a relationship with reseller {reseller}, which is not in the file's `resellers`; Partner Center shows relationships with the provider's resellers only. Add the reseller to `resellers`, or remove it from this customer's `resellerRelationships`: {EDIT_HINT}"
                    ),
                ));
            };
            reseller_ids.push(id.clone());
        }
        reseller_ids.sort();
        reseller_ids.dedup();
        let mut agreements = Vec::with_capacity(records.len());
        for (index, record) in records.into_iter().enumerate() {
            agreements.push(agreement(
                &format!("agreement {} of {object}", index + 1),
                record,
            )?);
        }
        let billing = customer.billing;
        let address = billing.address;
        Ok(Customer {
            id: customer.id,
            domain: customer.domain,
            // Partner Center shows (and cspctl changes) the billing profile's name;
            // the company profile's is the one the customer was created with. The old
            // tenant had one name: both hold it.
            company_name: customer.company_name.clone(),
            organization_registration_number: optional(
                &object,
                "organizationRegistrationNumber",
                customer.organization_registration_number,
            )?,
            billing_profile_id: String::new(),
            billing: BillingProfile {
                email: Some(billing.email),
                culture: Some(billing.culture),
                language: Some(billing.language),
                company_name: Some(customer.company_name),
                default_address: Some(Address {
                    first_name: Some(address.first_name),
                    last_name: Some(address.last_name),
                    address_line1: Some(address.address_line1),
                    address_line2: optional(
                        &object,
                        "billing.address.addressLine2",
                        address.address_line2,
                    )?,
                    city: Some(address.city),
                    state: optional(&object, "billing.address.state", address.state)?,
                    postal_code: Some(address.postal_code),
                    country: Some(address.country),
                    phone_number: optional(
                        &object,
                        "billing.address.phoneNumber",
                        address.phone_number,
                    )?,
                }),
            },
            billing_version: 1,
            associated_partner_id: optional(
                &object,
                "associatedPartnerId",
                customer.associated_partner_id,
            )?,
            reseller_ids,
            agreements,
            created_at,
            relationship_removed: false,
        })
    }

    fn subscription(&self, key: &str, subscription: V1Subscription) -> Result<Subscription> {
        let object = format!("subscription {key}");
        let fail = |problem: String| MigrationError::of(&object, format!("{problem}: {EDIT_HINT}"));
        let customer_id = self
            .customer_ids
            .get(&subscription.customer_id.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| {
                fail(format!(
                    "its customer {} is not in the file's `customers`, so Partner Center would not show it. Restore the customer, or remove the subscription",
                    subscription.customer_id
                ))
            })?;
        let order_ref = subscription.order_id.ok_or_else(|| {
            fail(
                "it has no `orderId`; the simulated tenant keeps every subscription with the order that bought it (its billing cycle changes through that order). Add the id of its order in `orders`".to_owned(),
            )
        })?;
        let Some((order_id, order_customer)) = self.orders.get(&order_ref.to_ascii_lowercase())
        else {
            return Err(fail(format!(
                "its order {order_ref} is not in the file's `orders`; the simulated tenant changes a subscription's billing cycle through its order. Restore the order"
            )));
        };
        if *order_customer != customer_id.to_ascii_lowercase() {
            return Err(fail(format!(
                "its order {order_id} belongs to customer {order_customer}, not to its customer {customer_id}. Correct `customerId` of the one that is wrong"
            )));
        }
        let term = match subscription.term_duration.as_deref() {
            Some(text) => parse_term(&object, "termDuration", text)?,
            None => {
                return Err(fail(
                    "it has no `termDuration`; the simulated tenant knows the term of every subscription. Add the term Partner Center shows for it (\"P1M\", \"P1Y\" or \"P3Y\")".to_owned(),
                ));
            }
        };
        let billing_cycle = match subscription.billing_cycle.as_deref() {
            Some(text) => parse_cycle(&object, "billingCycle", text)?,
            None => {
                return Err(fail(
                    "it has no `billingCycle`; the simulated tenant knows the billing cycle of every subscription. Add the one Partner Center shows for it (\"monthly\", \"annual\" or \"triennial\")".to_owned(),
                ));
            }
        };
        let auto_renew_enabled = subscription.auto_renew.ok_or_else(|| {
            fail(
                "it has no `autoRenew`; the simulated tenant knows whether every subscription renews. Add `\"autoRenew\": true` or `false`".to_owned(),
            )
        })?;
        let status = parse_status(&object, &subscription.status)?;
        if subscription.partner_id_unreported {
            return Err(fail(
                "it is marked `partnerIdUnreported` (its reseller of record unknown), which the old local tenant never wrote and the simulated tenant cannot be: it always knows. Remove the flag, and give `partnerId` if it has a reseller of record".to_owned(),
            ));
        }
        // The simulator's "none" is the empty text, as in Partner Center's answers.
        let partner_id =
            optional(&object, "partnerId", subscription.partner_id)?.unwrap_or_default();
        let new_commerce = subscription.offer_id.contains(':');
        let support_contact = match subscription.support_contact {
            None => None,
            Some(_) if new_commerce => {
                return Err(fail(
                    "it is a new-commerce subscription with a `supportContact`, which new commerce does not support (Partner Center refuses to show or set one). Remove `supportContact`".to_owned(),
                ));
            }
            Some(contact) if contact.tenant_id.eq_ignore_ascii_case(&self.partner_tenant) => {
                return Err(fail(format!(
                    "its `supportContact` is the indirect provider itself ({}), which Partner Center shows as no designated contact. Remove `supportContact`",
                    contact.tenant_id
                )));
            }
            Some(contact) => Some((contact.tenant_id, contact.mpn_id, contact.name)),
        };
        let created_at = required_time(
            &object,
            "creationDate",
            subscription.creation_date.as_deref(),
        )?;
        check_cancellation_window(
            &object,
            new_commerce,
            created_at,
            subscription.cancellation_allowed_until.as_deref(),
        )?;
        Ok(Subscription {
            id: subscription.id,
            customer_id,
            order_id: order_id.clone(),
            offer_id: subscription.offer_id,
            friendly_name: subscription.friendly_name,
            quantity: i64::from(subscription.quantity),
            term,
            billing_cycle,
            status,
            auto_renew_enabled,
            partner_id,
            created_at,
            version: 1,
            support_contact,
            pending_change: None,
            term_start: None,
            next_term: None,
            first_term_end: None,
        })
    }

    fn order(&self, key: &str, order: V1Order) -> Result<Order> {
        let object = format!("order {key}");
        let customer_id = self
            .customer_ids
            .get(&order.customer_id.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| {
                MigrationError::of(
                    &object,
                    format!(
                        "its customer {} is not in the file's `customers`. Restore the customer, or remove the order and its subscriptions: {EDIT_HINT}",
                        order.customer_id
                    ),
                )
            })?;
        let billing_cycle = parse_cycle(&object, "billingCycle", &order.billing_cycle)?;
        let created_at = instant(&object, "creationDate", &order.creation_date)?;
        if order.status != "completed" {
            return Err(MigrationError::of(
                &object,
                format!(
                    "its status is `{}`; the old local tenant completed every order at once and wrote only `completed`, and the simulated tenant would provision an order that is not completed anew. Set it to `completed`: {EDIT_HINT}",
                    order.status
                ),
            ));
        }
        let mut line_items = Vec::with_capacity(order.line_items.len());
        for line in order.line_items {
            let line_object = format!("line {} of {object}", line.line_item_number);
            line_items.push(OrderLine {
                line_item_number: i64::from(line.line_item_number),
                offer_id: line.offer_id,
                subscription_id: line.subscription_id,
                term: parse_term(&line_object, "termDuration", &line.term_duration)?,
                quantity: i64::from(line.quantity),
                friendly_name: line.friendly_name,
                partner_id_on_record: optional(
                    &line_object,
                    "partnerIdOnRecord",
                    line.partner_id_on_record,
                )?,
            });
        }
        // The simulator keeps an order's lines by number, as it answers them.
        line_items.sort_by_key(|line| line.line_item_number);
        Ok(Order {
            id: order.id,
            customer_id,
            billing_cycle,
            created_at,
            // Provisioned long ago: nothing is left to settle.
            ready_at: created_at,
            completed: true,
            line_items,
        })
    }

    /// The next id of the simulator's generator that is not an id of the file.
    fn new_id(&mut self, state: &mut State) -> String {
        loop {
            let id = state.new_guid();
            if self.taken.insert(id.to_ascii_lowercase()) {
                return id;
            }
        }
    }
}

/// Lowercased id → id, for one kind of object stored in a map by id.
fn index<'a>(
    kind: &str,
    entries: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result<BTreeMap<String, String>> {
    let mut ids = BTreeMap::new();
    for (key, id) in entries {
        if key != id {
            return Err(MigrationError::of(
                &format!("{kind} {key}"),
                format!(
                    "it is stored under the key `{key}` but its id is `{id}`; the simulated tenant knows it by its id only. Make the two the same: {EDIT_HINT}"
                ),
            ));
        }
        if let Some(other) = ids.insert(id.to_ascii_lowercase(), id.clone()) {
            return Err(MigrationError::of(
                &format!("{kind} {id}"),
                format!(
                    "its id differs from {kind} {other}'s in letter case only; Partner Center's ids ignore case, so they would be one {kind}. Remove one of them: {EDIT_HINT}"
                ),
            ));
        }
    }
    Ok(ids)
}

/// An MCA attestation (the type is checked: the simulator records only those).
fn agreement(object: &str, record: V1Agreement) -> Result<Agreement> {
    if record.agreement_type != MCA {
        return Err(MigrationError::of(
            object,
            format!(
                "its type is `{}`; the simulated tenant records Microsoft Customer Agreement attestations (`{MCA}`) only, and so did the old local tenant. Remove the record: {EDIT_HINT}",
                record.agreement_type
            ),
        ));
    }
    let contact = record.contact;
    Ok(Agreement {
        primary_contact: Contact {
            first_name: Some(contact.first_name),
            last_name: Some(contact.last_name),
            email: Some(contact.email),
            phone_number: optional(object, "contact.phoneNumber", contact.phone_number)?,
        },
        template_id: MCA_TEMPLATE_ID.to_owned(),
        date_agreed: record.date_agreed,
        user_id: String::new(),
    })
}

/// An optional text; an empty one is refused, because Partner Center's answers
/// (and so the live view afterwards) do not tell it from none.
fn optional(object: &str, field: &str, value: Option<String>) -> Result<Option<String>> {
    match value {
        Some(text) if text.trim().is_empty() => Err(MigrationError::of(
            object,
            format!(
                "`{field}` is empty, which Partner Center does not tell from none. Remove it, or give it a value: {EDIT_HINT}"
            ),
        )),
        other => Ok(other),
    }
}

/// An RFC 3339 time as unix seconds.
fn instant(object: &str, field: &str, text: &str) -> Result<i64> {
    time::parse(text).ok_or_else(|| {
        MigrationError::of(
            object,
            format!(
                "`{field}` is `{text}`, which is not an RFC 3339 time such as 2026-01-31T12:00:00Z. Correct it: {EDIT_HINT}"
            ),
        )
    })
}

fn required_time(object: &str, field: &str, text: Option<&str>) -> Result<i64> {
    match text {
        Some(text) => instant(object, field, text),
        None => Err(MigrationError::of(
            object,
            format!(
                "it has no `{field}`; the simulated tenant knows when every object was created. Add it (RFC 3339, such as 2026-01-31T12:00:00Z): {EDIT_HINT}"
            ),
        )),
    }
}

/// The simulator derives the new-commerce cancellation window from the creation
/// date, so the file's stored end must be exactly that (and absent for legacy).
fn check_cancellation_window(
    object: &str,
    new_commerce: bool,
    created_at: i64,
    stored: Option<&str>,
) -> Result<()> {
    let expected = new_commerce.then(|| created_at + CANCELLATION_WINDOW_SECONDS);
    let given = stored
        .map(|text| instant(object, "cancellationAllowedUntil", text))
        .transpose()?;
    if given == expected {
        return Ok(());
    }
    let problem = match expected {
        Some(end) => format!(
            "its `cancellationAllowedUntil` is {}, but the simulated tenant derives a new-commerce subscription's cancellation window from its creation date: it ends {} (7 days after `creationDate`). Set `cancellationAllowedUntil` to that, or correct `creationDate`",
            stored.map_or_else(|| "missing".to_owned(), |text| format!("`{text}`")),
            time::format(end)
        ),
        None => "it has a `cancellationAllowedUntil`, which only new-commerce subscriptions have. Remove it".to_owned(),
    };
    Err(MigrationError::of(
        object,
        format!("{problem}: {EDIT_HINT}"),
    ))
}

/// The old format's terms (`TermDuration`, serialized as is).
fn parse_term(object: &str, field: &str, text: &str) -> Result<Term> {
    match text {
        "P1M" => Ok(Term::P1M),
        "P1Y" => Ok(Term::P1Y),
        "P3Y" => Ok(Term::P3Y),
        _ => Err(MigrationError::of(
            object,
            format!(
                "`{field}` is `{text}`, which is not a term (\"P1M\", \"P1Y\" or \"P3Y\"). Correct it to the term Partner Center shows: {EDIT_HINT}"
            ),
        )),
    }
}

/// The old format's billing cycles (`BillingCycle`, snake_case).
fn parse_cycle(object: &str, field: &str, text: &str) -> Result<Cycle> {
    match text {
        "monthly" => Ok(Cycle::Monthly),
        "annual" => Ok(Cycle::Annual),
        "triennial" => Ok(Cycle::Triennial),
        _ => Err(MigrationError::of(
            object,
            format!(
                "`{field}` is `{text}`, which is not a billing cycle (\"monthly\", \"annual\" or \"triennial\"). Correct it to the one Partner Center shows: {EDIT_HINT}"
            ),
        )),
    }
}

/// The old format's statuses (`LiveStatus`, snake_case), those the simulator has.
fn parse_status(object: &str, text: &str) -> Result<Status> {
    let problem = match text {
        "active" => return Ok(Status::Active),
        "suspended" => return Ok(Status::Suspended),
        "deleted" => return Ok(Status::Deleted),
        "pending" => "its status is `pending`, which the old local tenant never wrote (it provisioned at once); the simulated tenant has a subscription pending only while its order provisions. Set it to `active`".to_owned(),
        "expired" | "disabled" => format!(
            "its status is `{text}`, which the simulated tenant does not have (its subscriptions are active, suspended or deleted). Set it to `deleted` if the subscription is gone, or remove the subscription"
        ),
        _ => format!(
            "its status `{text}` is not a subscription status (\"active\", \"suspended\" or \"deleted\"). Correct it"
        ),
    };
    Err(MigrationError::of(
        object,
        format!("{problem}: {EDIT_HINT}"),
    ))
}

/// The simulator's id seed for a migrated tenant: FNV-1a over the partner's tenant
/// id (lowercased) and the old `nextId`, spread by splitmix64. Deterministic, and
/// different for every tenant and every point in its history.
fn id_seed(partner_tenant_id: &str, next_id: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = partner_tenant_id
        .to_ascii_lowercase()
        .into_bytes()
        .into_iter()
        .chain([0])
        .chain(next_id.to_le_bytes());
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    crate::ids::splitmix64(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The state file `tests/cmd/cycle.md` makes, as the old release wrote it.
    const CYCLE: &[u8] = include_bytes!("../../../tests/fixtures/state-v1/state.json");

    const PARTNER: &str = "5e1d0c4b-7a3f-4c2e-9b8d-1f0a2c3d4e5f";
    const RESELLER: &str = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    const OTHER_RESELLER: &str = "22222222-3333-4444-8555-666666666666";
    const CUSTOMER: &str = "0a0b0c0d-0000-4000-8000-000000000001";
    const LEGACY: &str = "0a0b0c0d-0000-4000-8000-000000000002";
    const NCE: &str = "0a0b0c0d-0000-4000-8000-000000000003";
    const ORDER: &str = "0a0b0c0d-0000-4000-8000-000000000004";
    const NOW: &str = "2026-03-01T10:00:00Z";
    const WINDOW_END: &str = "2026-03-08T10:00:00Z";

    /// A small v1 tenant: a reseller pair, one customer with an attestation, and
    /// an order of two lines (one legacy, one new-commerce subscription).
    fn v1() -> Value {
        json!({
            "formatVersion": 1,
            "partner": {"tenantId": PARTNER, "mpnId": "9900001", "name": "Local Indirect Provider"},
            "revision": 3,
            "nextId": 5,
            "resellers": {
                RESELLER: {"tenantId": RESELLER, "mpnId": "5357564", "name": "Adatum Partners", "location": "DE"},
                OTHER_RESELLER: {"tenantId": OTHER_RESELLER, "mpnId": "517285", "name": "Litware Solutions"}
            },
            "customers": {
                CUSTOMER: {
                    "id": CUSTOMER, "domain": "wingtip.onmicrosoft.com", "companyName": "Wingtip Toys",
                    "billing": {"email": "billing@wingtip.example", "culture": "en-US", "language": "en",
                        "address": {"firstName": "Gena", "lastName": "Soto", "addressLine1": "1 Main St",
                            "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"}},
                    "associatedPartnerId": RESELLER,
                    "resellerRelationships": [OTHER_RESELLER, RESELLER],
                    "creationDate": NOW
                }
            },
            "subscriptions": {
                LEGACY: {"id": LEGACY, "customerId": CUSTOMER, "offerId": "195416c1-3447-423a-b37b-ee59a99a19c4",
                    "friendlyName": "exchange", "quantity": 3, "termDuration": "P1M", "billingCycle": "monthly",
                    "autoRenew": false, "status": "suspended", "partnerId": "517285",
                    "supportContact": {"tenantId": OTHER_RESELLER, "mpnId": "517285", "name": "Litware Solutions"},
                    "orderId": ORDER, "creationDate": NOW},
                NCE: {"id": NCE, "customerId": CUSTOMER, "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM",
                    "friendlyName": "m365", "quantity": 25, "termDuration": "P1Y", "billingCycle": "monthly",
                    "autoRenew": true, "status": "active", "orderId": ORDER, "creationDate": NOW,
                    "cancellationAllowedUntil": WINDOW_END}
            },
            "orders": {
                ORDER: {"id": ORDER, "customerId": CUSTOMER, "billingCycle": "monthly", "creationDate": NOW,
                    "status": "completed", "lineItems": [
                        {"lineItemNumber": 1, "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM", "subscriptionId": NCE,
                            "friendlyName": "m365", "quantity": 25, "termDuration": "P1Y"},
                        {"lineItemNumber": 0, "offerId": "195416c1-3447-423a-b37b-ee59a99a19c4",
                            "subscriptionId": LEGACY, "friendlyName": "exchange", "quantity": 3,
                            "termDuration": "P1M", "partnerIdOnRecord": "517285"}
                    ]}
            },
            "agreements": {
                CUSTOMER: [
                    {"type": MCA, "contact": {"firstName": "Gena", "lastName": "Soto", "email": "gena@wingtip.example"},
                        "dateAgreed": "2026-01-15", "recorded": NOW},
                    {"type": MCA, "contact": {"firstName": "Ana", "lastName": "Bowman", "email": "ana@wingtip.example",
                        "phoneNumber": "4255550100"}, "dateAgreed": "2026-02-15T08:00:00Z", "recorded": NOW}
                ]
            }
        })
    }

    fn migrate(value: &Value) -> Result<State> {
        from_local_v1(&serde_json::to_vec(value).expect("serializes"))
    }

    /// The error for `value`, which must be refused.
    fn refusal(value: &Value) -> String {
        match migrate(value) {
            Ok(_) => panic!("migrated, expected a refusal"),
            Err(error) => error.to_string(),
        }
    }

    /// `v1()` with the JSON at `pointer` replaced (or removed, for `None`).
    fn changed(pointer: &str, replacement: Option<Value>) -> Value {
        let mut value = v1();
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
        let object = value
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .expect("the parent is an object");
        match replacement {
            Some(new) => object.insert(key.to_owned(), new),
            None => object.remove(key),
        };
        value
    }

    #[test]
    fn tells_a_v1_local_state_from_a_simulator_state() {
        let cycle: Value = serde_json::from_slice(CYCLE).expect("JSON");
        assert!(is_local_v1(&cycle));
        assert!(is_local_v1(&v1()));
        assert!(is_local_v1(&json!({"formatVersion": 1})), "an empty tenant");

        let simulator = State::new(
            Partner {
                tenant_id: PARTNER.into(),
                mpn_id: "1".into(),
                name: "P".into(),
            },
            true,
            7,
        );
        let simulator = serde_json::to_value(&simulator).expect("serializes");
        assert_eq!(simulator["formatVersion"], 1, "both formats say 1");
        assert!(!is_local_v1(&simulator));
        // Arrays without the id generator: neither format, not taken for v1.
        assert!(!is_local_v1(&json!({"formatVersion": 1, "customers": []})));
        assert!(!is_local_v1(&json!({"formatVersion": 2, "customers": {}})));
        assert!(!is_local_v1(&json!({"formatVersion": "1"})));
        assert!(!is_local_v1(&json!({"customers": {}})), "no version");
        assert!(!is_local_v1(&json!([{"formatVersion": 1}])));

        let error = from_local_v1(&serde_json::to_vec(&simulator).expect("JSON"))
            .expect_err("a simulator state is not migrated");
        assert!(
            error.to_string().contains("already a simulator state"),
            "{error}"
        );
    }

    /// The whole migrated state, compared as the JSON the state file will hold, so
    /// every field of every object is checked (a field the migration drops or
    /// changes fails this test). Only what the migration draws (the id seed, the
    /// billing profile and agreement user ids) is taken from the result: the test
    /// below checks those.
    #[test]
    fn migrates_every_field() {
        let state = serde_json::to_value(migrate(&v1()).expect("migrates")).expect("JSON");
        let drawn = |pointer: &str| state.pointer(pointer).cloned().expect("drawn");
        let created = time::parse(NOW).expect("time");
        let expected = json!({
            "formatVersion": 1,
            "partner": {"tenantId": PARTNER, "mpnId": "9900001", "name": "Local Indirect Provider"},
            "sandbox": true, "idSeed": drawn("/idSeed"), "idCounter": 6, "clockOffsetSeconds": 0,
            "sandboxResellerLimit": null,
            // By tenant id; no location is the simulator's empty one.
            "resellers": [
                {"tenantId": OTHER_RESELLER, "mpnId": "517285", "name": "Litware Solutions", "location": ""},
                {"tenantId": RESELLER, "mpnId": "5357564", "name": "Adatum Partners", "location": "DE"}
            ],
            "tenants": [],
            "customers": [{
                "id": CUSTOMER, "domain": "wingtip.onmicrosoft.com", "companyName": "Wingtip Toys",
                "billingProfileId": drawn("/customers/0/billingProfileId"),
                "billing": {"email": "billing@wingtip.example", "culture": "en-US", "language": "en",
                    "companyName": "Wingtip Toys",
                    "defaultAddress": {"firstName": "Gena", "lastName": "Soto", "addressLine1": "1 Main St",
                        "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"}},
                "billingVersion": 1,
                "associatedPartnerId": RESELLER,
                "resellerIds": [OTHER_RESELLER, RESELLER], // sorted
                // Both attestations, oldest first, each with its own new user id.
                "agreements": [
                    {"primaryContact": {"firstName": "Gena", "lastName": "Soto", "email": "gena@wingtip.example"},
                        "templateId": MCA_TEMPLATE_ID, "dateAgreed": "2026-01-15",
                        "userId": drawn("/customers/0/agreements/0/userId")},
                    {"primaryContact": {"firstName": "Ana", "lastName": "Bowman", "email": "ana@wingtip.example",
                            "phoneNumber": "4255550100"},
                        "templateId": MCA_TEMPLATE_ID, "dateAgreed": "2026-02-15T08:00:00Z",
                        "userId": drawn("/customers/0/agreements/1/userId")}
                ],
                "createdAt": created
            }],
            "carts": [],
            "orders": [{
                "id": ORDER, "customerId": CUSTOMER, "billingCycle": "monthly",
                "createdAt": created, "readyAt": created, "completed": true,
                // Both lines, by number.
                "lineItems": [
                    {"lineItemNumber": 0, "offerId": "195416c1-3447-423a-b37b-ee59a99a19c4",
                        "subscriptionId": LEGACY, "term": "P1M", "quantity": 3, "friendlyName": "exchange",
                        "partnerIdOnRecord": "517285"},
                    {"lineItemNumber": 1, "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM",
                        "subscriptionId": NCE, "term": "P1Y", "quantity": 25, "friendlyName": "m365"}
                ]
            }],
            "subscriptions": [
                {"id": LEGACY, "customerId": CUSTOMER, "orderId": ORDER,
                    "offerId": "195416c1-3447-423a-b37b-ee59a99a19c4", "friendlyName": "exchange",
                    "quantity": 3, "term": "P1M", "billingCycle": "monthly", "status": "suspended",
                    "autoRenewEnabled": false, "partnerId": "517285", "createdAt": created, "version": 1,
                    "supportContact": [OTHER_RESELLER, "517285", "Litware Solutions"]},
                {"id": NCE, "customerId": CUSTOMER, "orderId": ORDER,
                    "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM", "friendlyName": "m365",
                    "quantity": 25, "term": "P1Y", "billingCycle": "monthly", "status": "active",
                    "autoRenewEnabled": true, "partnerId": "", "createdAt": created, "version": 1}
            ],
            "accessTokens": [], "refreshTokens": [], "idempotency": []
        });
        assert_eq!(state, expected);
    }

    #[test]
    fn is_deterministic_and_draws_new_ids_that_are_not_taken() {
        let first = migrate(&v1()).expect("migrates");
        assert_eq!(first, migrate(&v1()).expect("migrates again"));
        assert_eq!(
            serde_json::to_string(&first).expect("JSON"),
            serde_json::to_string(&migrate(&v1()).expect("migrates")).expect("JSON")
        );
        let customer = &first.customers[0];
        let mut drawn = vec![customer.billing_profile_id.clone()];
        drawn.extend(customer.agreements.iter().map(|a| a.user_id.clone()));
        let file_ids = [
            PARTNER,
            RESELLER,
            OTHER_RESELLER,
            CUSTOMER,
            LEGACY,
            NCE,
            ORDER,
        ];
        for id in &drawn {
            assert_eq!(id.len(), 36, "{id}");
            assert!(!file_ids.contains(&id.as_str()), "{id}");
        }
        assert_eq!(
            drawn.iter().collect::<BTreeSet<_>>().len(),
            drawn.len(),
            "{drawn:?}"
        );
        assert_eq!(first.id_counter, 6, "three ids, two draws each");

        // Another point in the tenant's history (or another tenant) seeds other ids.
        let later = migrate(&changed("/nextId", Some(json!(6)))).expect("migrates");
        assert_ne!(first.id_seed, later.id_seed);
        assert_ne!(
            customer.billing_profile_id,
            later.customers[0].billing_profile_id
        );
        assert_ne!(id_seed(PARTNER, 5), id_seed(RESELLER, 5));
    }

    #[test]
    fn reads_the_old_defaults_and_the_cycle_fixture() {
        let empty = from_local_v1(br#"{"formatVersion": 1}"#).expect("an empty tenant");
        assert_eq!(
            empty.partner.tenant_id, PARTNER,
            "the old built-in provider"
        );
        assert!(empty.customers.is_empty() && empty.subscriptions.is_empty());

        let mut unknown = v1();
        unknown["somethingNewer"] = json!({"ignored": true});
        unknown["customers"][CUSTOMER]["alsoNewer"] = json!(1);
        assert!(
            migrate(&unknown).is_ok(),
            "unknown fields are ignored, as before"
        );

        let state = from_local_v1(CYCLE).expect("migrates");
        assert_eq!(state.customers.len(), 1);
        assert_eq!(state.subscriptions.len(), 2);
        assert_eq!(state.orders.len(), 2);
        assert_eq!(state.customers[0].agreements.len(), 1);
    }

    #[test]
    fn ids_keep_their_spelling_and_references_take_it() {
        let upper = CUSTOMER.to_ascii_uppercase();
        let mut value = v1();
        let customer = value["customers"][CUSTOMER].take();
        value["customers"] = json!({ upper.clone(): customer });
        value["customers"][&upper]["id"] = json!(upper);
        value["customers"][&upper]["resellerRelationships"] =
            json!([RESELLER.to_ascii_uppercase()]);
        let agreements = value["agreements"][CUSTOMER].take();
        value["agreements"] = json!({ upper.clone(): agreements });
        let state = migrate(&value).expect("migrates");
        assert_eq!(state.customers[0].id, upper);
        assert_eq!(state.customers[0].reseller_ids, [RESELLER]);
        assert_eq!(state.customers[0].agreements.len(), 2);
        assert!(state.subscriptions.iter().all(|s| s.customer_id == upper));
        assert_eq!(state.orders[0].customer_id, upper);
    }

    #[test]
    fn a_damaged_file_is_refused_with_its_position() {
        let error = from_local_v1(&CYCLE[..CYCLE.len() / 2]).expect_err("truncated");
        let error = error.to_string();
        assert!(error.starts_with("line "), "{error}");
        assert!(error.contains("is not valid JSON"), "{error}");
        assert!(error.contains("EOF while parsing"), "{error}");

        let error = refusal(&changed(
            &format!("/subscriptions/{LEGACY}/quantity"),
            Some(json!("three")),
        ));
        assert!(
            error.contains("does not match the version 1 local state format"),
            "{error}"
        );
    }

    #[test]
    fn other_format_versions_are_not_migrated() {
        let error = refusal(&changed("/formatVersion", Some(json!(2))));
        assert!(error.contains("format version 2"), "{error}");
        let error = refusal(&changed("/formatVersion", None));
        assert!(error.contains("no valid `formatVersion`"), "{error}");
    }

    /// A refused change of `v1()`: the JSON pointer, the new value (`None`: removed),
    /// and what the error says.
    type Refusal<'a> = (String, Option<Value>, &'a str);

    /// Each row changes one value of `v1()` (JSON pointer, new value or `None` to
    /// remove it); the file is refused with an error that names the object first,
    /// says what is wrong, and says what to do.
    #[test]
    fn what_the_simulator_cannot_hold_is_refused_by_name() {
        let (legacy, nce) = (
            format!("subscription {LEGACY}"),
            format!("subscription {NCE}"),
        );
        let customer = format!("customer {CUSTOMER}");
        let sub = |id: &str, field: &str| format!("/subscriptions/{id}/{field}");
        let of_customer = |field: &str| format!("/customers/{CUSTOMER}/{field}");
        let upper = RESELLER.to_ascii_uppercase();
        let cases: [(&str, Vec<Refusal>); 3] = [
            (
                &legacy,
                vec![
                    (
                        sub(LEGACY, "termDuration"),
                        Some(json!("P2Y")),
                        "`termDuration` is `P2Y`, which is not a term",
                    ),
                    (
                        sub(LEGACY, "termDuration"),
                        None,
                        "it has no `termDuration`",
                    ),
                    (
                        sub(LEGACY, "billingCycle"),
                        None,
                        "it has no `billingCycle`",
                    ),
                    (
                        sub(LEGACY, "billingCycle"),
                        Some(json!("weekly")),
                        "`billingCycle` is `weekly`",
                    ),
                    (sub(LEGACY, "autoRenew"), None, "it has no `autoRenew`"),
                    (
                        sub(LEGACY, "status"),
                        Some(json!("expired")),
                        "its status is `expired`",
                    ),
                    (
                        sub(LEGACY, "status"),
                        Some(json!("pending")),
                        "its status is `pending`",
                    ),
                    (
                        sub(LEGACY, "status"),
                        Some(json!("paused")),
                        "its status `paused` is not a subscription status",
                    ),
                    (
                        sub(LEGACY, "creationDate"),
                        Some(json!("yesterday")),
                        "`creationDate` is `yesterday`, which is not an RFC 3339 time",
                    ),
                    (
                        sub(LEGACY, "creationDate"),
                        None,
                        "it has no `creationDate`",
                    ),
                    (sub(LEGACY, "orderId"), None, "it has no `orderId`"),
                    (
                        sub(LEGACY, "orderId"),
                        Some(json!("0a0b0c0d-0000-4000-8000-0000000000ff")),
                        "its order 0a0b0c0d-0000-4000-8000-0000000000ff is not in the file's `orders`",
                    ),
                    (
                        sub(LEGACY, "customerId"),
                        Some(json!("0a0b0c0d-0000-4000-8000-0000000000ee")),
                        "its customer 0a0b0c0d-0000-4000-8000-0000000000ee is not in the file's `customers`",
                    ),
                    (
                        sub(LEGACY, "partnerIdUnreported"),
                        Some(json!(true)),
                        "`partnerIdUnreported`",
                    ),
                    (
                        sub(LEGACY, "partnerId"),
                        Some(json!("")),
                        "`partnerId` is empty",
                    ),
                    (
                        sub(LEGACY, "cancellationAllowedUntil"),
                        Some(json!(WINDOW_END)),
                        "only new-commerce subscriptions have",
                    ),
                    (
                        sub(LEGACY, "supportContact"),
                        Some(
                            json!({"tenantId": PARTNER.to_ascii_uppercase(), "mpnId": "9900001", "name": "P"}),
                        ),
                        "is the indirect provider itself",
                    ),
                    (sub(LEGACY, "id"), Some(json!(NCE)), "stored under the key"),
                ],
            ),
            (
                &nce,
                vec![
                    (
                        sub(NCE, "cancellationAllowedUntil"),
                        Some(json!("2026-03-09T10:00:00Z")),
                        "it ends 2026-03-08T10:00:00Z",
                    ),
                    (sub(NCE, "cancellationAllowedUntil"), None, "is missing"),
                    (
                        sub(NCE, "supportContact"),
                        Some(json!({"tenantId": RESELLER, "mpnId": "5357564", "name": "Adatum"})),
                        "new commerce does not support",
                    ),
                ],
            ),
            (
                &customer,
                vec![
                    (
                        of_customer("resellerRelationships"),
                        Some(json!([RESELLER, "0a0b0c0d-0000-4000-8000-0000000000dd"])),
                        "reseller 0a0b0c0d-0000-4000-8000-0000000000dd, which is not in the file's `resellers`",
                    ),
                    (
                        of_customer("creationDate"),
                        None,
                        "it has no `creationDate`",
                    ),
                    (
                        of_customer("organizationRegistrationNumber"),
                        Some(json!(" ")),
                        "`organizationRegistrationNumber` is empty",
                    ),
                ],
            ),
        ];
        for (object, rows) in cases {
            for (pointer, replacement, expected) in rows {
                let error = refusal(&changed(&pointer, replacement));
                assert!(
                    error.starts_with(&format!("{object}: ")),
                    "{pointer}: {error}"
                );
                assert!(
                    error.contains(expected),
                    "{pointer}: expected `{expected}` in: {error}"
                );
                assert!(
                    error.contains(EDIT_HINT),
                    "{pointer}: says what to do: {error}"
                );
            }
        }
        // Errors that start with what is wrong.
        let orphan = "0a0b0c0d-0000-4000-8000-0000000000cc";
        let cases: Vec<(String, Option<Value>, String)> = vec![
            (
                format!("/agreements/{CUSTOMER}/1/type"),
                Some(json!("ResellerAgreement")),
                format!("agreement 2 of customer {CUSTOMER}: its type is `ResellerAgreement`"),
            ),
            (
                format!("/agreements/{orphan}"),
                Some(v1()["agreements"][CUSTOMER].clone()),
                format!("agreements of customer {orphan}: there is no customer"),
            ),
            (
                format!("/orders/{ORDER}/status"),
                Some(json!("pending")),
                format!("order {ORDER}: its status is `pending`"),
            ),
            (
                format!("/orders/{ORDER}/lineItems/0/termDuration"),
                Some(json!("P5Y")),
                format!("line 1 of order {ORDER}: `termDuration` is `P5Y`"),
            ),
            (
                format!("/resellers/{OTHER_RESELLER}/location"),
                Some(json!("")),
                format!("reseller {OTHER_RESELLER}: `location` is empty"),
            ),
            (
                format!("/resellers/{upper}"),
                Some(
                    json!({"tenantId": upper, "mpnId": "5357564", "name": "Adatum Partners", "location": "DE"}),
                ),
                format!(
                    "reseller {RESELLER}: its id differs from reseller {upper}'s in letter case only"
                ),
            ),
        ];
        for (pointer, replacement, expected) in cases {
            let error = refusal(&changed(&pointer, replacement));
            assert!(
                error.starts_with(&expected),
                "{pointer}: expected `{expected}` first in: {error}"
            );
            assert!(
                error.contains(EDIT_HINT),
                "{pointer}: says what to do: {error}"
            );
        }
    }

    #[test]
    fn a_suspended_or_deleted_legacy_subscription_keeps_its_support_contact() {
        let state = migrate(&changed(
            &format!("/subscriptions/{LEGACY}/status"),
            Some(json!("deleted")),
        ))
        .expect("migrates");
        let legacy = state
            .subscriptions
            .iter()
            .find(|s| s.id == LEGACY)
            .expect("kept");
        assert_eq!(legacy.status, Status::Deleted);
        assert!(legacy.support_contact.is_some());
    }

    #[test]
    fn creation_dates_with_an_offset_are_the_same_instant() {
        let state = migrate(&changed(
            &format!("/customers/{CUSTOMER}/creationDate"),
            Some(json!("2026-03-01T11:00:00+01:00")),
        ))
        .expect("migrates");
        assert_eq!(
            state.customers[0].created_at,
            time::parse(NOW).expect("time")
        );
    }
}
