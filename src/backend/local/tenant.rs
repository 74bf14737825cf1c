//! The simulated Partner Center tenant behind the local backend, with Partner
//! Center's rules for the requests cspctl makes, in integration-sandbox semantics
//! (indirect resellers can be created, as the sandbox API allows).
//!
//! Pure: no I/O, no clock (the current time is passed in), no randomness (ids come
//! from a counter stored in the tenant), so the same sequence of operations yields
//! the same tenant, byte for byte once serialized. Its rules are written from
//! Partner Center's documentation (`partner-center-api.md`), independently of the
//! planner and of validation, which it must never call: the point of a second,
//! independent implementation is that each can catch the other's mistakes. Error
//! codes are Partner Center's; where no source shows the code, the choice is marked
//! "assumed" next to it.
//!
//! This is also the state file's data model (see `state.rs` for the envelope). It
//! mirrors the manifest's billing and contact types instead of embedding them
//! because those deny unknown fields, and a state file must be read tolerantly.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::backend::{BackendError, Outcome};
use crate::ids::{format_guid, next_splitmix64};
use crate::live::{
    Live, LiveAgreement, LiveCustomer, LiveReseller, LiveStatus, LiveSubscription,
    LiveSupportContact,
};
use crate::manifest::model::{
    Address, Agreement, Billing, BillingCycle, Contact, ResellerSpec, TermDuration,
};
use crate::plan::{ObjectRef, Operation, SubscriptionPatch};
use crate::time;

/// Version of the state file format this release writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// New commerce allows cancellation and seat decreases for 7 days after purchase.
const CANCELLATION_WINDOW_SECONDS: i64 = 7 * 86_400;

/// Countries where Partner Center requires `organizationRegistrationNumber` (and a
/// phone number) to create a customer (`partner-center-api.md` §7).
const REGISTRATION_NUMBER_COUNTRIES: [&str; 24] = [
    "AM", "AZ", "BY", "HU", "KZ", "KG", "MD", "RU", "TJ", "UZ", "UA", "IN", "BR", "ZA", "PL", "AE",
    "SA", "TR", "TH", "VN", "MM", "IQ", "SS", "VE",
];

/// The agreement type Partner Center records for an MCA attestation.
const MCA: &str = "MicrosoftCustomerAgreement";

/// Why a manual action cannot be executed.
const MANUAL: &str = "a manual action cannot be executed by a backend: a person must act \
    (see the action's instructions), then run plan again";

/// The indirect provider that owns the simulated tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Partner {
    pub tenant_id: String,
    pub mpn_id: String,
    pub name: String,
}

impl Default for Partner {
    /// Made up, fixed values: a new state file must not depend on anything outside it.
    fn default() -> Self {
        Partner {
            tenant_id: "5e1d0c4b-7a3f-4c2e-9b8d-1f0a2c3d4e5f".to_owned(),
            mpn_id: "9900001".to_owned(),
            name: "Local Indirect Provider".to_owned(),
        }
    }
}

/// The whole simulated tenant; serialized as the state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    #[serde(default = "format_version")]
    pub format_version: u32,
    #[serde(default)]
    pub partner: Partner,
    /// How many times the state file has been written; a journal applies to one
    /// revision only (see `journal.rs`).
    #[serde(default)]
    pub revision: u64,
    /// Seed of the next generated id; only ever increases.
    #[serde(default = "first_id")]
    pub next_id: u64,
    /// Partnerships with indirect resellers, by reseller tenant id.
    #[serde(default)]
    pub resellers: BTreeMap<String, LiveReseller>,
    /// Customers, by customer tenant id.
    #[serde(default)]
    pub customers: BTreeMap<String, CustomerRecord>,
    /// Subscriptions of all customers, by subscription id.
    #[serde(default)]
    pub subscriptions: BTreeMap<String, LiveSubscription>,
    /// Orders, by order id.
    #[serde(default)]
    pub orders: BTreeMap<String, OrderRecord>,
    /// Agreement attestations, by customer id, oldest first.
    #[serde(default)]
    pub agreements: BTreeMap<String, Vec<AgreementRecord>>,
}

/// The parts of the state file the live view needs, without the orders (the largest
/// part, which no plan reads). For read-only uses such as `plan`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveParts {
    #[serde(default = "format_version")]
    pub format_version: u32,
    #[serde(default)]
    pub resellers: BTreeMap<String, LiveReseller>,
    #[serde(default)]
    pub customers: BTreeMap<String, CustomerRecord>,
    #[serde(default)]
    pub subscriptions: BTreeMap<String, LiveSubscription>,
    #[serde(default)]
    pub agreements: BTreeMap<String, Vec<AgreementRecord>>,
}

impl LiveParts {
    pub fn into_live(self) -> Live {
        Tenant {
            format_version: self.format_version,
            resellers: self.resellers,
            customers: self.customers,
            subscriptions: self.subscriptions,
            agreements: self.agreements,
            ..Tenant::default()
        }
        .into_live()
    }
}

fn format_version() -> u32 {
    FORMAT_VERSION
}

fn first_id() -> u64 {
    1
}

impl Default for Tenant {
    fn default() -> Self {
        Tenant {
            format_version: FORMAT_VERSION,
            partner: Partner::default(),
            revision: 0,
            next_id: first_id(),
            resellers: BTreeMap::new(),
            customers: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            orders: BTreeMap::new(),
            agreements: BTreeMap::new(),
        }
    }
}

/// A customer as the tenant stores it; its agreement lives in [`Tenant::agreements`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerRecord {
    pub id: String,
    pub domain: String,
    pub company_name: String,
    pub billing: BillingRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_registration_number: Option<String>,
    /// Tenant id of the reseller the customer was created for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_partner_id: Option<String>,
    /// Tenant ids of the resellers the customer has a relationship with.
    #[serde(default)]
    pub reseller_relationships: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
}

/// A customer's billing profile (mirrors [`Billing`], read tolerantly).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingRecord {
    pub email: String,
    pub culture: String,
    pub language: String,
    pub address: AddressRecord,
}

/// A postal address (mirrors [`Address`], read tolerantly).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressRecord {
    pub first_name: String,
    pub last_name: String,
    pub address_line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub postal_code: String,
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// A person (mirrors [`Contact`], read tolerantly).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactRecord {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// One `POST /v1/customers/{id}/agreements` that Partner Center accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgreementRecord {
    #[serde(rename = "type")]
    pub agreement_type: String,
    pub contact: ContactRecord,
    pub date_agreed: String,
    /// When the attestation was recorded (the tenant's clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
}

/// An order, as `POST /v1/customers/{id}/orders` creates it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRecord {
    pub id: String,
    pub customer_id: String,
    pub billing_cycle: BillingCycle,
    pub line_items: Vec<OrderLineItemRecord>,
    pub creation_date: String,
    /// Always `completed` here: the local tenant provisions synchronously.
    pub status: String,
}

/// One line item of an order and the subscription it created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLineItemRecord {
    pub line_item_number: u32,
    pub offer_id: String,
    pub subscription_id: String,
    pub friendly_name: String,
    pub quantity: u32,
    pub term_duration: TermDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id_on_record: Option<String>,
}

/// The fields of a `CreateCustomer` operation, borrowed.
struct NewCustomer<'a> {
    domain: &'a str,
    company_name: &'a str,
    billing: &'a Billing,
    organization_registration_number: Option<&'a str>,
    associated_partner_id: &'a str,
    agreement: Option<&'a Agreement>,
}

/// The fields of a `CreateSubscription` operation, borrowed.
struct NewSubscription<'a> {
    customer: &'a ObjectRef,
    offer_id: &'a str,
    quantity: u32,
    term_duration: TermDuration,
    billing_cycle: BillingCycle,
    auto_renew: bool,
    friendly_name: &'a str,
    partner_id_on_record: Option<&'a str>,
    suspend: bool,
}

impl Tenant {
    /// Executes one operation the way Partner Center would: completely, or not at
    /// all with Partner Center's error. `now` is the tenant's clock (RFC 3339).
    pub fn execute(&mut self, operation: &Operation, now: &str) -> Result<Outcome, BackendError> {
        let now = time::parse(now).ok_or_else(|| {
            BackendError::State(format!("invalid current time `{now}`: expected an RFC 3339 time such as 2026-01-31T12:00:00Z"))
        })?;
        // Every operation checks all of its rules before it changes anything, so a
        // refused request leaves nothing half-done (not even a consumed id). That is
        // kept by construction rather than by copying the tenant: a copy per operation
        // costs as much as the whole state, which is large for big tenants.
        self.apply(operation, now)
    }

    fn apply(&mut self, operation: &Operation, now: i64) -> Result<Outcome, BackendError> {
        match operation {
            Operation::CreateReseller { reseller } => self.create_reseller(reseller),
            Operation::CreateCustomer {
                domain,
                company_name,
                billing,
                organization_registration_number,
                associated_partner_id,
                // Filled into `associated_partner_id` by apply (`apply::resolve`).
                associated_reseller: _,
                agreement,
            } => self.create_customer(
                NewCustomer {
                    domain,
                    company_name,
                    billing,
                    organization_registration_number: organization_registration_number.as_deref(),
                    associated_partner_id,
                    agreement: agreement.as_ref(),
                },
                now,
            ),
            Operation::UpdateCustomer {
                customer,
                billing,
                company_name,
                agreement,
            } => self.update_customer(
                customer,
                billing.as_ref(),
                company_name.as_deref(),
                agreement.as_ref(),
                now,
            ),
            Operation::CreateSubscription {
                customer,
                offer_id,
                quantity,
                term_duration,
                billing_cycle,
                auto_renew,
                friendly_name,
                partner_id_on_record,
                suspend,
            } => self.create_subscription(
                NewSubscription {
                    customer,
                    offer_id,
                    quantity: *quantity,
                    term_duration: *term_duration,
                    billing_cycle: *billing_cycle,
                    auto_renew: *auto_renew,
                    friendly_name,
                    partner_id_on_record: partner_id_on_record.as_deref(),
                    suspend: *suspend,
                },
                now,
            ),
            Operation::UpdateSubscription {
                customer,
                subscription_id,
                patch,
            } => self.update_subscription(customer, subscription_id, patch, now),
            Operation::SetSupportContact {
                customer,
                subscription,
                reseller_tenant_id,
                // Filled into `reseller_tenant_id` by apply (`apply::resolve`).
                reseller_created_by: _,
                reseller_mpn_id,
                reseller_name,
            } => self.set_support_contact(
                customer,
                subscription,
                reseller_tenant_id,
                reseller_mpn_id,
                reseller_name,
            ),
            Operation::ResetSupportContact {
                customer,
                subscription_id,
            } => self.reset_support_contact(customer, subscription_id),
            // There is no variant for "not an operation"; Unresolved is the closest:
            // the request cannot be made as given.
            Operation::Manual => Err(BackendError::Unresolved(MANUAL.to_owned())),
        }
    }

    /// `POST /v1/sandboxIndirectReseller`: creates a reseller and its partnership.
    fn create_reseller(&mut self, spec: &ResellerSpec) -> Result<Outcome, BackendError> {
        const REQUEST: &str = "POST /v1/sandboxIndirectReseller";
        // Partner Center creates the tenant and its id; the local tenant also takes
        // a declared one, so rehearsals need no `sandboxTenant`.
        let tenant_id = match &spec.tenant_id {
            Some(declared) => declared.to_ascii_lowercase(),
            None => self.new_id(),
        };
        if self.resellers.contains_key(&tenant_id)
            || self.customers.contains_key(&tenant_id)
            || self.partner.tenant_id.eq_ignore_ascii_case(&tenant_id)
        {
            return Err(api(
                REQUEST,
                409,
                1003,
                format!("Tenant conflict: a tenant with id {tenant_id} already exists."),
            ));
        }
        // Assumed: the sandbox page documents 409/1003 for a tenant conflict only; a
        // duplicate MPN ID is treated as the same conflict.
        if self.partner.mpn_id == spec.mpn_id
            || self.resellers.values().any(|r| r.mpn_id == spec.mpn_id)
        {
            return Err(api(
                REQUEST,
                409,
                1003,
                format!(
                    "Tenant conflict: MPN ID {} already belongs to another partner.",
                    spec.mpn_id
                ),
            ));
        }
        self.resellers.insert(
            tenant_id.clone(),
            LiveReseller {
                tenant_id: tenant_id.clone(),
                mpn_id: spec.mpn_id.clone(),
                name: spec.display_name.clone(),
                location: spec.location.clone(),
            },
        );
        Ok(Outcome {
            created_id: Some(tenant_id),
        })
    }

    /// `POST /v1/customers` with `associatedPartnerId`, then the agreement if any.
    fn create_customer(&mut self, new: NewCustomer<'_>, now: i64) -> Result<Outcome, BackendError> {
        const REQUEST: &str = "POST /v1/customers";
        let partner_id = new.associated_partner_id.to_ascii_lowercase();
        if !self.resellers.contains_key(&partner_id) {
            // Assumed code: the docs say only that the request fails when the
            // reseller has no partnership with the provider.
            return Err(api(
                REQUEST,
                400,
                800016,
                format!(
                    "associatedPartnerId {partner_id} is not an indirect reseller in partnership with this indirect provider."
                ),
            ));
        }
        if let Some(taken) = self
            .customers
            .values()
            .find(|c| c.domain.eq_ignore_ascii_case(new.domain))
        {
            // Assumed code: the error for a taken domain is not documented
            // (`HEAD /v1/domains/{domain}` answers 200 for one); 1003 is the
            // documented "tenant conflict".
            return Err(api(
                REQUEST,
                409,
                1003,
                format!(
                    "Tenant conflict: the domain {} is already taken (customer {}).",
                    new.domain, taken.id
                ),
            ));
        }
        check_country_rules(REQUEST, new.billing, new.organization_registration_number)?;
        let id = self.new_id();
        self.customers.insert(
            id.clone(),
            CustomerRecord {
                id: id.clone(),
                domain: new.domain.to_owned(),
                company_name: new.company_name.to_owned(),
                billing: BillingRecord::from(new.billing),
                organization_registration_number: new
                    .organization_registration_number
                    .map(str::to_owned),
                associated_partner_id: Some(partner_id.clone()),
                // Creating a customer for a reseller also creates their relationship.
                reseller_relationships: BTreeSet::from([partner_id]),
                creation_date: Some(time::format(now)),
            },
        );
        if let Some(agreement) = new.agreement {
            self.record_agreement(&id, agreement, now)?;
        }
        Ok(Outcome {
            created_id: Some(id),
        })
    }

    /// `PUT /v1/customers/{id}/profiles/billing` and/or `POST .../agreements`.
    fn update_customer(
        &mut self,
        customer: &ObjectRef,
        billing: Option<&Billing>,
        company_name: Option<&str>,
        agreement: Option<&Agreement>,
        now: i64,
    ) -> Result<Outcome, BackendError> {
        let id = resolve(customer)?;
        let billing_request = format!("PUT /v1/customers/{id}/profiles/billing");
        let first_request = if billing.is_some() || company_name.is_some() {
            billing_request.clone()
        } else {
            agreements_request(&id)
        };
        if !self.customers.contains_key(&id) {
            return Err(customer_not_found(&first_request, &id));
        }
        // Checks first (the agreement, then the billing rules), changes after.
        if let Some(agreement) = agreement {
            self.check_new_agreement(&id, agreement)?;
        }
        let record = self
            .customers
            .get_mut(&id)
            .ok_or_else(|| customer_not_found(&first_request, &id))?;
        if let Some(billing) = billing {
            // Assumed: the create-time country rules also hold for a billing update
            // (checked against the registration number the customer was created with).
            check_country_rules(
                &billing_request,
                billing,
                record.organization_registration_number.as_deref(),
            )?;
            record.billing = BillingRecord::from(billing);
        }
        if let Some(company_name) = company_name {
            record.company_name = company_name.to_owned();
        }
        if let Some(agreement) = agreement {
            self.record_agreement(&id, agreement, now)?;
        }
        Ok(Outcome::default())
    }

    /// `POST /v1/customers/{id}/agreements` (Microsoft Customer Agreement).
    fn record_agreement(
        &mut self,
        customer_id: &str,
        agreement: &Agreement,
        now: i64,
    ) -> Result<(), BackendError> {
        self.check_new_agreement(customer_id, agreement)?;
        self.agreements
            .entry(customer_id.to_owned())
            .or_default()
            .push(AgreementRecord {
                agreement_type: MCA.to_owned(),
                contact: ContactRecord::from(&agreement.contact),
                date_agreed: agreement.date_agreed.clone(),
                recorded: Some(time::format(now)),
            });
        Ok(())
    }

    /// Refuses a second attestation by the same person (600061).
    fn check_new_agreement(
        &self,
        customer_id: &str,
        agreement: &Agreement,
    ) -> Result<(), BackendError> {
        let contact = ContactRecord::from(&agreement.contact);
        let records = self
            .agreements
            .get(customer_id)
            .map_or(&[][..], Vec::as_slice);
        if records
            .iter()
            .any(|r| r.agreement_type == MCA && same_person(&r.contact, &contact))
        {
            // Code documented; the HTTP status is assumed.
            return Err(api(
                &agreements_request(customer_id),
                409,
                600061,
                format!(
                    "PartnerConfirmedAgreementAlreadyExists: the customer's agreement was already confirmed with contact {}.",
                    contact.email
                ),
            ));
        }
        Ok(())
    }

    /// `POST /v1/customers/{id}/orders` with one line item; provisions at once.
    fn create_subscription(
        &mut self,
        new: NewSubscription<'_>,
        now: i64,
    ) -> Result<Outcome, BackendError> {
        let customer_id = resolve(new.customer)?;
        let request = format!("POST /v1/customers/{customer_id}/orders");
        if !self.customers.contains_key(&customer_id) {
            return Err(customer_not_found(&request, &customer_id));
        }
        if new.quantity < 1 {
            return Err(api(
                &request,
                400,
                2002,
                format!(
                    "Quantity {} is outside the allowed range: at least 1 license.",
                    new.quantity
                ),
            ));
        }
        let new_commerce = is_new_commerce(new.offer_id);
        if new_commerce
            && !self
                .agreements
                .get(&customer_id)
                .is_some_and(|records| records.iter().any(|r| r.agreement_type == MCA))
        {
            return Err(api(
                &request,
                403,
                13605,
                format!(
                    "Customer {customer_id} has not accepted the Microsoft Customer Agreement; attest it (POST /v1/customers/{customer_id}/agreements) before purchasing new-commerce offers."
                ),
            ));
        }
        if let Some(mpn_id) = new.partner_id_on_record {
            self.check_partner_on_record(&request, &customer_id, mpn_id)?;
        }
        let order_id = self.new_id();
        let subscription_id = self.new_id();
        let creation_date = time::format(now);
        self.orders.insert(
            order_id.clone(),
            OrderRecord {
                id: order_id.clone(),
                customer_id: customer_id.clone(),
                billing_cycle: new.billing_cycle,
                line_items: vec![OrderLineItemRecord {
                    line_item_number: 0,
                    offer_id: new.offer_id.to_owned(),
                    subscription_id: subscription_id.clone(),
                    friendly_name: new.friendly_name.to_owned(),
                    quantity: new.quantity,
                    term_duration: new.term_duration,
                    partner_id_on_record: new.partner_id_on_record.map(str::to_owned),
                }],
                creation_date: creation_date.clone(),
                status: "completed".to_owned(),
            },
        );
        self.subscriptions.insert(
            subscription_id.clone(),
            LiveSubscription {
                id: subscription_id.clone(),
                customer_id,
                offer_id: new.offer_id.to_owned(),
                friendly_name: new.friendly_name.to_owned(),
                quantity: new.quantity,
                term_duration: Some(new.term_duration),
                billing_cycle: Some(new.billing_cycle),
                auto_renew: Some(new.auto_renew),
                // The suspension is the PATCH cspctl sends once the order is provisioned.
                status: if new.suspend {
                    LiveStatus::Suspended
                } else {
                    LiveStatus::Active
                },
                partner_id: new.partner_id_on_record.map(str::to_owned),
                partner_id_unreported: false,
                support_contact: None,
                order_id: Some(order_id),
                creation_date: Some(creation_date),
                cancellation_allowed_until: new_commerce
                    .then(|| time::format(now + CANCELLATION_WINDOW_SECONDS)),
            },
        );
        Ok(Outcome {
            created_id: Some(subscription_id),
        })
    }

    /// `PATCH /v1/customers/{c}/subscriptions/{s}` (billing cycle: `PATCH .../orders/{o}`).
    fn update_subscription(
        &mut self,
        customer: &ObjectRef,
        subscription_id: &str,
        patch: &SubscriptionPatch,
        now: i64,
    ) -> Result<Outcome, BackendError> {
        let customer_id = resolve(customer)?;
        let subscription_id = subscription_id.to_ascii_lowercase();
        let request = format!("PATCH /v1/customers/{customer_id}/subscriptions/{subscription_id}");
        let mut subscription = self
            .subscription_of(&request, &customer_id, &subscription_id)?
            .clone();
        match subscription.status {
            LiveStatus::Active | LiveStatus::Suspended => {}
            LiveStatus::Deleted => {
                return Err(api(
                    &request,
                    400,
                    2011,
                    "Subscription in deleted status cannot be updated.",
                ));
            }
            LiveStatus::Pending => {
                return Err(api(
                    &request,
                    400,
                    800082,
                    "The subscription is not ready to be updated; try again after some time.",
                ));
            }
            // Assumed code (800096 "cannot update status"): the docs say only that an
            // expired subscription cannot be reactivated.
            LiveStatus::Expired | LiveStatus::Disabled => {
                return Err(api(
                    &request,
                    400,
                    800096,
                    format!(
                        "The subscription is {}; it cannot be reactivated or changed. Buy a new subscription instead.",
                        subscription.status.as_str()
                    ),
                ));
            }
        }
        if let Some(status) = patch.status
            && !matches!(
                status,
                LiveStatus::Active | LiveStatus::Suspended | LiveStatus::Deleted
            )
        {
            return Err(api(
                &request,
                400,
                3000,
                format!(
                    "Invalid property: status cannot be set to {}.",
                    status.as_str()
                ),
            ));
        }
        let new_commerce = is_new_commerce(&subscription.offer_id);
        let window_open = subscription
            .cancellation_allowed_until
            .as_deref()
            .and_then(time::parse)
            .is_some_and(|until| now <= until);
        // One PATCH carries the whole resource, so its parts apply in the order that
        // makes a sensible request valid: reactivate before changing the quantity
        // (a suspended subscription's quantity cannot change), and suspend or cancel
        // after it.
        if patch.status == Some(LiveStatus::Active) {
            subscription.status = LiveStatus::Active;
        }
        if let Some(quantity) = patch.quantity
            && quantity != subscription.quantity
        {
            if subscription.status == LiveStatus::Suspended {
                return Err(api(
                    &request,
                    400,
                    2001,
                    "The quantity of a suspended subscription cannot be changed; reactivate it first.",
                ));
            }
            if quantity < 1 {
                return Err(api(
                    &request,
                    400,
                    2002,
                    format!(
                        "Quantity {quantity} is outside the allowed range: at least 1 license."
                    ),
                ));
            }
            // Simplified: Partner Center tracks refundable seats per purchase; here
            // every seat shares the subscription's window.
            if new_commerce && quantity < subscription.quantity && !window_open {
                return Err(api(
                    &request,
                    400,
                    800090,
                    format!(
                        "Subscription quantity cannot be decreased: new-commerce seats can only be removed until {}.",
                        subscription
                            .cancellation_allowed_until
                            .as_deref()
                            .unwrap_or("the end of the cancellation window")
                    ),
                ));
            }
            subscription.quantity = quantity;
        }
        if let Some(auto_renew) = patch.auto_renew {
            subscription.auto_renew = Some(auto_renew);
        }
        if let Some(billing_cycle) = patch.billing_cycle
            && Some(billing_cycle) != subscription.billing_cycle
        {
            // Partner Center changes the billing cycle through the subscription's
            // order (a subscription PATCH is refused with 2054), so the order follows.
            subscription.billing_cycle = Some(billing_cycle);
        }
        if let Some(partner_id) = &patch.partner_id {
            if let Some(mpn_id) = partner_id {
                self.check_partner_on_record(&request, &customer_id, mpn_id)?;
            }
            subscription.partner_id.clone_from(partner_id);
        }
        match patch.status {
            Some(LiveStatus::Suspended) => subscription.status = LiveStatus::Suspended,
            Some(LiveStatus::Deleted) => {
                if new_commerce && !window_open {
                    // Assumed code: the docs say only that a late cancel errors.
                    return Err(api(
                        &request,
                        400,
                        800096,
                        "A new-commerce subscription can only be cancelled within 7 days of purchase or renewal.",
                    ));
                }
                subscription.status = LiveStatus::Deleted;
            }
            _ => {}
        }
        // Every check passed: only now does anything change.
        if let Some(order) = subscription
            .order_id
            .as_ref()
            .and_then(|o| self.orders.get_mut(o))
            && let Some(cycle) = subscription.billing_cycle
        {
            order.billing_cycle = cycle;
        }
        self.subscriptions.insert(subscription_id, subscription);
        Ok(Outcome::default())
    }

    /// `PUT .../subscriptions/{s}/supportcontact` with a reseller.
    fn set_support_contact(
        &mut self,
        customer: &ObjectRef,
        subscription: &ObjectRef,
        reseller_tenant_id: &str,
        reseller_mpn_id: &str,
        reseller_name: &str,
    ) -> Result<Outcome, BackendError> {
        let customer_id = resolve(customer)?;
        let subscription_id = resolve(subscription)?;
        let request = support_contact_request(&customer_id, &subscription_id);
        let live = self.subscription_of(&request, &customer_id, &subscription_id)?;
        check_not_gone(&request, live)?;
        if is_new_commerce(&live.offer_id) {
            // Assumed code (800042 "not supported"); the behaviour is documented.
            return Err(api(
                &request,
                400,
                800042,
                format!(
                    "Not supported: new commerce does not support designated support contacts (subscription {subscription_id} has offer {}).",
                    live.offer_id
                ),
            ));
        }
        let tenant_id = reseller_tenant_id.to_ascii_lowercase();
        let is_partner = self
            .resellers
            .get(&tenant_id)
            .is_some_and(|r| r.mpn_id == reseller_mpn_id);
        if !is_partner {
            // Assumed code; documented rule: the contact must be one of the
            // provider's indirect resellers (tenant id and MPN ID of one partnership).
            return Err(api(
                &request,
                400,
                800016,
                format!(
                    "supportTenantId {tenant_id} with supportMpnId {reseller_mpn_id} is not an indirect reseller in partnership with this indirect provider."
                ),
            ));
        }
        if !self
            .customers
            .get(&customer_id)
            .is_some_and(|c| c.reseller_relationships.contains(&tenant_id))
        {
            // Assumed rule and code: the docs leave open whether the reseller must also
            // have a relationship with the customer; cspctl's design requires it.
            return Err(api(
                &request,
                400,
                800016,
                format!(
                    "Indirect reseller {tenant_id} has no relationship with customer {customer_id}."
                ),
            ));
        }
        if let Some(live) = self.subscriptions.get_mut(&subscription_id) {
            live.support_contact = Some(LiveSupportContact {
                tenant_id,
                mpn_id: reseller_mpn_id.to_owned(),
                name: reseller_name.to_owned(),
            });
        }
        Ok(Outcome::default())
    }

    /// `PUT .../subscriptions/{s}/supportcontact` back to the indirect provider.
    fn reset_support_contact(
        &mut self,
        customer: &ObjectRef,
        subscription_id: &str,
    ) -> Result<Outcome, BackendError> {
        let customer_id = resolve(customer)?;
        let subscription_id = subscription_id.to_ascii_lowercase();
        let request = support_contact_request(&customer_id, &subscription_id);
        check_not_gone(
            &request,
            self.subscription_of(&request, &customer_id, &subscription_id)?,
        )?;
        if let Some(live) = self.subscriptions.get_mut(&subscription_id) {
            live.support_contact = None;
        }
        Ok(Outcome::default())
    }

    /// The subscription `subscription_id` of customer `customer_id`, or Partner
    /// Center's 404 for the first of the two that does not exist.
    fn subscription_of(
        &self,
        request: &str,
        customer_id: &str,
        subscription_id: &str,
    ) -> Result<&LiveSubscription, BackendError> {
        if !self.customers.contains_key(customer_id) {
            return Err(customer_not_found(request, customer_id));
        }
        self.subscriptions
            .get(subscription_id)
            .filter(|s| s.customer_id.eq_ignore_ascii_case(customer_id))
            .ok_or_else(|| {
                api(
                    request,
                    404,
                    20003,
                    format!(
                        "Subscription {subscription_id} of customer {customer_id} was not found."
                    ),
                )
            })
    }

    /// `partnerIdOnRecord` must be the MPN ID of an indirect reseller (never the
    /// provider's own) that has a relationship with the customer.
    fn check_partner_on_record(
        &self,
        request: &str,
        customer_id: &str,
        mpn_id: &str,
    ) -> Result<(), BackendError> {
        if mpn_id == self.partner.mpn_id {
            return Err(api(
                request,
                404,
                2072,
                format!(
                    "MPN ID {mpn_id} is the indirect provider's own and is not valid as partner of record; give the indirect reseller's MPN ID."
                ),
            ));
        }
        let Some(reseller) = self.resellers.values().find(|r| r.mpn_id == mpn_id) else {
            return Err(api(
                request,
                400,
                800016,
                format!(
                    "MPN ID {mpn_id} is not a valid indirect reseller of this indirect provider."
                ),
            ));
        };
        if !self
            .customers
            .get(customer_id)
            .is_some_and(|c| c.reseller_relationships.contains(&reseller.tenant_id))
        {
            // Assumed rule and code: the reseller of record must also be related to
            // the customer (cspctl's design); no source shows this error.
            return Err(api(
                request,
                400,
                800016,
                format!(
                    "Indirect reseller {} (MPN ID {mpn_id}) has no relationship with customer {customer_id}.",
                    reseller.name
                ),
            ));
        }
        Ok(())
    }

    /// Simulates a customer's global admin accepting a reseller relationship
    /// request. `customer` is a domain or tenant id; `reseller` a tenant id or MPN
    /// ID of a reseller in partnership with the provider. Accepting twice is a no-op.
    pub fn accept_relationship(&mut self, customer: &str, reseller: &str) -> Result<(), String> {
        let reseller_tenant_id = self
            .resellers
            .get(&reseller.to_ascii_lowercase())
            .or_else(|| self.resellers.values().find(|r| r.mpn_id == reseller))
            .map(|r| r.tenant_id.clone())
            .ok_or_else(|| format!("no indirect reseller with tenant id or MPN ID `{reseller}` has a partnership with the provider in the local state"))?;
        let key = customer.to_ascii_lowercase();
        let record = if self.customers.contains_key(&key) {
            self.customers.get_mut(&key)
        } else {
            self.customers
                .values_mut()
                .find(|c| c.domain.eq_ignore_ascii_case(customer))
        };
        let record = record.ok_or_else(|| {
            format!("no customer with domain or tenant id `{customer}` in the local state")
        })?;
        record.reseller_relationships.insert(reseller_tenant_id);
        Ok(())
    }

    /// What Partner Center shows the provider: the normalized live snapshot.
    pub fn live(&self) -> Live {
        Live {
            resellers: self.resellers.clone(),
            customers: self.live_customers(),
            subscriptions: self.subscriptions.clone(),
            usage_based: BTreeMap::new(),
            // The integration sandbox does not support relationship requests.
            relationship_request_url: None,
        }
    }

    /// The live view, moving the tenant's data instead of copying it (for reads of a
    /// large state that need nothing else, such as `plan`).
    pub fn into_live(mut self) -> Live {
        let customers = self.live_customers();
        Live {
            resellers: std::mem::take(&mut self.resellers),
            customers,
            subscriptions: std::mem::take(&mut self.subscriptions),
            usage_based: BTreeMap::new(),
            relationship_request_url: None,
        }
    }

    fn live_customers(&self) -> BTreeMap<String, LiveCustomer> {
        self.customers
            .iter()
            .map(|(id, c)| {
                let agreement = self
                    .agreements
                    .get(id)
                    .and_then(|records| records.iter().rev().find(|r| r.agreement_type == MCA))
                    .map(|r| LiveAgreement {
                        contact: Contact::from(&r.contact),
                        date_agreed: r.date_agreed.clone(),
                    });
                let customer = LiveCustomer {
                    id: c.id.clone(),
                    domain: c.domain.clone(),
                    company_name: c.company_name.clone(),
                    billing: Billing::from(&c.billing),
                    organization_registration_number: c.organization_registration_number.clone(),
                    associated_partner_id: c.associated_partner_id.clone(),
                    reseller_relationships: c.reseller_relationships.clone(),
                    agreement,
                };
                (id.clone(), customer)
            })
            .collect()
    }

    /// The next deterministic id, GUID-shaped; skips any id already in use (a
    /// hand-seeded state file may hold ids from anywhere).
    fn new_id(&mut self) -> String {
        loop {
            let id = guid(self.next_id);
            self.next_id = self.next_id.wrapping_add(1);
            let taken = self.customers.contains_key(&id)
                || self.subscriptions.contains_key(&id)
                || self.orders.contains_key(&id)
                || self.resellers.contains_key(&id)
                || self.partner.tenant_id.eq_ignore_ascii_case(&id);
            if !taken {
                return id;
            }
        }
    }
}

/// A version-4-shaped GUID from two splitmix64 outputs seeded by `seed`: ids look
/// real (and pass the same GUID checks) yet are fully reproducible.
fn guid(seed: u64) -> String {
    let mut state = seed;
    let high = next_splitmix64(&mut state);
    format_guid(high, next_splitmix64(&mut state), 4)
}

/// New-commerce offers are catalog item ids (`PRODUCT:SKU:AVAILABILITY`); legacy
/// offers are GUIDs. Written here again on purpose (see the module comment).
fn is_new_commerce(offer_id: &str) -> bool {
    offer_id.contains(':')
}

fn api(request: &str, status: u16, code: u32, description: impl Into<String>) -> BackendError {
    BackendError::Api {
        request: request.to_owned(),
        status,
        code,
        description: description.into(),
    }
}

/// The id the executor filled in, lowercased like every key of the tenant.
fn resolve(object: &ObjectRef) -> Result<String, BackendError> {
    object.id.as_ref().map(|id| id.to_ascii_lowercase()).ok_or_else(|| {
        BackendError::Unresolved(format!(
            "{} has no Partner Center id: it did not exist when the plan was made and no earlier action in this apply created it",
            object.address
        ))
    })
}

/// Assumed code: the docs list 404/60003 "tenant not found" among the not-found codes.
fn customer_not_found(request: &str, customer_id: &str) -> BackendError {
    api(
        request,
        404,
        60003,
        format!("A customer with the tenant id {customer_id} was not found."),
    )
}

fn agreements_request(customer_id: &str) -> String {
    format!("POST /v1/customers/{customer_id}/agreements")
}

fn support_contact_request(customer_id: &str, subscription_id: &str) -> String {
    format!("PUT /v1/customers/{customer_id}/subscriptions/{subscription_id}/supportcontact")
}

/// Deleted (and, assumed, expired or disabled) subscriptions cannot be updated.
fn check_not_gone(request: &str, subscription: &LiveSubscription) -> Result<(), BackendError> {
    if subscription.status.is_gone() {
        return Err(api(
            request,
            400,
            2011,
            format!(
                "Subscription in {} status cannot be updated.",
                subscription.status.as_str()
            ),
        ));
    }
    Ok(())
}

/// Partner Center's country rules for a customer's registration number and phone.
fn check_country_rules(
    request: &str,
    billing: &Billing,
    registration_number: Option<&str>,
) -> Result<(), BackendError> {
    let country = billing.address.country.to_ascii_uppercase();
    if !REGISTRATION_NUMBER_COUNTRIES.contains(&country.as_str()) {
        return Ok(());
    }
    if registration_number.is_none_or(|n| n.trim().is_empty()) {
        return Err(api(
            request,
            400,
            600049,
            format!("organizationRegistrationNumber is required for customers in {country}."),
        ));
    }
    if billing
        .address
        .phone_number
        .as_deref()
        .is_none_or(|p| p.trim().is_empty())
    {
        return Err(api(
            request,
            400,
            600051,
            format!("A phone number is required for customers in {country}."),
        ));
    }
    Ok(())
}

/// Two attestations are duplicates when they name the same person.
fn same_person(a: &ContactRecord, b: &ContactRecord) -> bool {
    a.first_name == b.first_name
        && a.last_name == b.last_name
        && a.email.eq_ignore_ascii_case(&b.email)
}

impl From<&Billing> for BillingRecord {
    fn from(billing: &Billing) -> Self {
        let a = &billing.address;
        BillingRecord {
            email: billing.email.clone(),
            culture: billing.culture.clone(),
            language: billing.language.clone(),
            address: AddressRecord {
                first_name: a.first_name.clone(),
                last_name: a.last_name.clone(),
                address_line1: a.address_line1.clone(),
                address_line2: a.address_line2.clone(),
                city: a.city.clone(),
                state: a.state.clone(),
                postal_code: a.postal_code.clone(),
                country: a.country.clone(),
                phone_number: a.phone_number.clone(),
            },
        }
    }
}

impl From<&BillingRecord> for Billing {
    fn from(billing: &BillingRecord) -> Self {
        let a = &billing.address;
        Billing {
            email: billing.email.clone(),
            culture: billing.culture.clone(),
            language: billing.language.clone(),
            address: Address {
                first_name: a.first_name.clone(),
                last_name: a.last_name.clone(),
                address_line1: a.address_line1.clone(),
                address_line2: a.address_line2.clone(),
                city: a.city.clone(),
                state: a.state.clone(),
                postal_code: a.postal_code.clone(),
                country: a.country.clone(),
                phone_number: a.phone_number.clone(),
            },
        }
    }
}

impl From<&Contact> for ContactRecord {
    fn from(contact: &Contact) -> Self {
        ContactRecord {
            first_name: contact.first_name.clone(),
            last_name: contact.last_name.clone(),
            email: contact.email.clone(),
            phone_number: contact.phone_number.clone(),
        }
    }
}

impl From<&ContactRecord> for Contact {
    fn from(contact: &ContactRecord) -> Self {
        Contact {
            first_name: contact.first_name.clone(),
            last_name: contact.last_name.clone(),
            email: contact.email.clone(),
            phone_number: contact.phone_number.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-01-31T12:00:00Z";
    const LATER: &str = "2026-02-10T12:00:00Z";
    const RESELLER_A: &str = "484e548c-f5f3-4528-93a9-c16c6373cb59";
    const MPN_A: &str = "4847383";
    const RESELLER_B: &str = "3b33e682-00c3-41ee-9dd2-a548adf56438";
    const MPN_B: &str = "4391507";
    const NCE_OFFER: &str = "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM";
    const LEGACY_OFFER: &str = "031c9e47-4802-4248-838e-778fb1d2cc05";

    fn billing(country: &str, phone: Option<&str>) -> Billing {
        Billing {
            email: "gena@wingtiptoys.com".into(),
            culture: "en-US".into(),
            language: "en".into(),
            address: Address {
                first_name: "Gena".into(),
                last_name: "Soto".into(),
                address_line1: "One Microsoft Way".into(),
                address_line2: None,
                city: "Redmond".into(),
                state: Some("WA".into()),
                postal_code: "98052".into(),
                country: country.into(),
                phone_number: phone.map(Into::into),
            },
        }
    }

    fn agreement(email: &str) -> Agreement {
        Agreement {
            contact: Contact {
                first_name: "Gena".into(),
                last_name: "Soto".into(),
                email: email.into(),
                phone_number: None,
            },
            date_agreed: "2026-01-30".into(),
        }
    }

    fn reseller(tenant_id: &str, mpn_id: &str) -> Operation {
        Operation::CreateReseller {
            reseller: ResellerSpec {
                tenant_id: Some(tenant_id.into()),
                mpn_id: mpn_id.into(),
                display_name: format!("Reseller {mpn_id}"),
                location: Some("US".into()),
                sandbox_tenant: None,
            },
        }
    }

    fn create_customer(domain: &str, partner: &str, agreement_email: Option<&str>) -> Operation {
        Operation::CreateCustomer {
            domain: domain.into(),
            company_name: "Wingtip Toys".into(),
            billing: billing("US", None),
            organization_registration_number: None,
            associated_partner_id: partner.into(),
            associated_reseller: None,
            agreement: agreement_email.map(agreement),
        }
    }

    fn at(id: &str) -> ObjectRef {
        ObjectRef {
            address: "Customer/wingtip".into(),
            id: Some(id.into()),
        }
    }

    fn buy(customer: &str, offer: &str, quantity: u32, partner: Option<&str>) -> Operation {
        Operation::CreateSubscription {
            customer: at(customer),
            offer_id: offer.into(),
            quantity,
            term_duration: TermDuration::P1Y,
            billing_cycle: BillingCycle::Monthly,
            auto_renew: true,
            friendly_name: "E3".into(),
            partner_id_on_record: partner.map(Into::into),
            suspend: false,
        }
    }

    fn patch(customer: &str, subscription: &str, patch: SubscriptionPatch) -> Operation {
        Operation::UpdateSubscription {
            customer: at(customer),
            subscription_id: subscription.into(),
            patch,
        }
    }

    fn support(customer: &str, subscription: &str, tenant_id: &str, mpn_id: &str) -> Operation {
        Operation::SetSupportContact {
            customer: at(customer),
            subscription: ObjectRef {
                address: "Subscription/e3".into(),
                id: Some(subscription.into()),
            },
            reseller_tenant_id: tenant_id.into(),
            reseller_created_by: None,
            reseller_mpn_id: mpn_id.into(),
            reseller_name: "Reseller".into(),
        }
    }

    fn run(tenant: &mut Tenant, operation: &Operation) -> Outcome {
        tenant
            .execute(operation, NOW)
            .unwrap_or_else(|e| panic!("{operation:?} failed: {e}"))
    }

    fn created(tenant: &mut Tenant, operation: &Operation) -> String {
        run(tenant, operation).created_id.expect("an id")
    }

    /// Two resellers (A related to the customer, B not) and a customer of A with an
    /// agreement.
    fn tenant_with_customer() -> (Tenant, String) {
        let mut tenant = Tenant::default();
        run(&mut tenant, &reseller(RESELLER_A, MPN_A));
        run(&mut tenant, &reseller(RESELLER_B, MPN_B));
        let customer = created(
            &mut tenant,
            &create_customer(
                "wingtip.onmicrosoft.com",
                RESELLER_A,
                Some("gena@wingtiptoys.com"),
            ),
        );
        (tenant, customer)
    }

    #[track_caller]
    fn assert_refused(
        tenant: &mut Tenant,
        operation: &Operation,
        now: &str,
        status: u16,
        code: u32,
    ) -> String {
        let before = tenant.clone();
        match tenant.execute(operation, now) {
            Err(BackendError::Api {
                request,
                status: s,
                code: c,
                description,
            }) => {
                assert_eq!((s, c), (status, code), "{request}: {description}");
                assert_eq!(*tenant, before, "a refused operation must change nothing");
                format!("{request}: {description}")
            }
            other => panic!("expected HTTP {status} / {code}, got {other:?}"),
        }
    }

    #[test]
    fn creates_resellers_and_refuses_conflicts() {
        let mut tenant = Tenant::default();
        assert_eq!(
            run(&mut tenant, &reseller(&RESELLER_A.to_uppercase(), MPN_A))
                .created_id
                .as_deref(),
            Some(RESELLER_A)
        );
        assert_eq!(tenant.live().resellers[RESELLER_A].mpn_id, MPN_A);
        let message = assert_refused(&mut tenant, &reseller(RESELLER_A, "1"), NOW, 409, 1003);
        assert!(
            message.starts_with("POST /v1/sandboxIndirectReseller"),
            "{message}"
        );
        assert_refused(&mut tenant, &reseller(RESELLER_B, MPN_A), NOW, 409, 1003);
        let provider_mpn = tenant.partner.mpn_id.clone();
        assert_refused(
            &mut tenant,
            &reseller(RESELLER_B, &provider_mpn),
            NOW,
            409,
            1003,
        );
    }

    #[test]
    fn creates_a_customer_with_its_relationship_and_agreement() {
        let (tenant, id) = tenant_with_customer();
        let live = tenant.live();
        let customer = &live.customers[&id];
        assert_eq!(customer.associated_partner_id.as_deref(), Some(RESELLER_A));
        assert_eq!(
            customer.reseller_relationships,
            BTreeSet::from([RESELLER_A.to_owned()])
        );
        assert_eq!(
            customer
                .agreement
                .as_ref()
                .map(|a| a.contact.email.as_str()),
            Some("gena@wingtiptoys.com")
        );
        assert_eq!(tenant.customers[&id].creation_date.as_deref(), Some(NOW));
    }

    #[test]
    fn refuses_customers_that_break_partner_center_rules() {
        let (mut tenant, _) = tenant_with_customer();
        let unknown_partner = "11111111-2222-4333-8444-555555555555";
        let message = assert_refused(
            &mut tenant,
            &create_customer("new.onmicrosoft.com", unknown_partner, None),
            NOW,
            400,
            800016,
        );
        assert!(message.starts_with("POST /v1/customers:"), "{message}");
        assert_refused(
            &mut tenant,
            &create_customer("WINGTIP.onmicrosoft.com", RESELLER_A, None),
            NOW,
            409,
            1003,
        );

        let mut indian = create_customer("india.onmicrosoft.com", RESELLER_A, None);
        if let Operation::CreateCustomer { billing: b, .. } = &mut indian {
            *b = billing("IN", None);
        }
        assert_refused(&mut tenant, &indian, NOW, 400, 600049);
        if let Operation::CreateCustomer {
            organization_registration_number,
            ..
        } = &mut indian
        {
            *organization_registration_number = Some("U72200KA2009PTC049889".into());
        }
        assert_refused(&mut tenant, &indian, NOW, 400, 600051);
        if let Operation::CreateCustomer { billing: b, .. } = &mut indian {
            *b = billing("IN", Some("+91 80 4000 0000"));
        }
        run(&mut tenant, &indian);
    }

    #[test]
    fn updates_customers_and_refuses_duplicate_agreements() {
        let (mut tenant, id) = tenant_with_customer();
        let missing = Operation::UpdateCustomer {
            customer: at("0a0b0c0d-0000-4000-8000-000000000000"),
            billing: None,
            company_name: Some("X".into()),
            agreement: None,
        };
        let message = assert_refused(&mut tenant, &missing, NOW, 404, 60003);
        assert!(
            message.starts_with(
                "PUT /v1/customers/0a0b0c0d-0000-4000-8000-000000000000/profiles/billing"
            ),
            "{message}"
        );

        // A refused request changes nothing, not even its valid parts (the name).
        let duplicate = Operation::UpdateCustomer {
            customer: at(&id),
            billing: None,
            company_name: Some("Changed before the refusal?".into()),
            agreement: Some(agreement("GENA@wingtiptoys.com")),
        };
        let message = assert_refused(&mut tenant, &duplicate, NOW, 409, 600061);
        assert!(
            message.starts_with(&format!("POST /v1/customers/{id}/agreements")),
            "{message}"
        );

        let mut new_billing = billing("US", Some("4255550101"));
        new_billing.email = "billing@wingtiptoys.com".into();
        let update = Operation::UpdateCustomer {
            customer: at(&id.to_uppercase()),
            billing: Some(new_billing.clone()),
            company_name: Some("Wingtip Toys Ltd".into()),
            agreement: Some(agreement("ceo@wingtiptoys.com")),
        };
        run(&mut tenant, &update);
        let live = tenant.live();
        assert_eq!(live.customers[&id].billing, new_billing);
        assert_eq!(live.customers[&id].company_name, "Wingtip Toys Ltd");
        assert_eq!(
            live.customers[&id]
                .agreement
                .as_ref()
                .map(|a| a.contact.email.as_str()),
            Some("ceo@wingtiptoys.com")
        );
        assert_eq!(tenant.agreements[&id].len(), 2);
    }

    #[test]
    fn buys_subscriptions() {
        let (mut tenant, customer) = tenant_with_customer();
        let nce = created(&mut tenant, &buy(&customer, NCE_OFFER, 5, Some(MPN_A)));
        let live = &tenant.subscriptions[&nce];
        assert_eq!(
            (live.status, live.quantity, live.partner_id.as_deref()),
            (LiveStatus::Active, 5, Some(MPN_A))
        );
        assert_eq!(live.creation_date.as_deref(), Some(NOW));
        assert_eq!(
            live.cancellation_allowed_until.as_deref(),
            Some("2026-02-07T12:00:00Z")
        );
        let order = &tenant.orders[live.order_id.as_deref().expect("an order")];
        assert_eq!(
            (
                order.customer_id.as_str(),
                order.status.as_str(),
                order.line_items[0].subscription_id.as_str()
            ),
            (customer.as_str(), "completed", nce.as_str())
        );

        let mut suspended = buy(&customer, LEGACY_OFFER, 1, None);
        if let Operation::CreateSubscription { suspend, .. } = &mut suspended {
            *suspend = true;
        }
        let legacy = created(&mut tenant, &suspended);
        assert_eq!(tenant.subscriptions[&legacy].status, LiveStatus::Suspended);
        assert_eq!(
            tenant.subscriptions[&legacy].cancellation_allowed_until,
            None
        );
    }

    #[test]
    fn refuses_purchases_that_break_partner_center_rules() {
        let mut tenant = Tenant::default();
        run(&mut tenant, &reseller(RESELLER_A, MPN_A));
        run(&mut tenant, &reseller(RESELLER_B, MPN_B));
        let customer = created(
            &mut tenant,
            &create_customer("plain.onmicrosoft.com", RESELLER_A, None),
        );
        let message = assert_refused(
            &mut tenant,
            &buy(
                "0a0b0c0d-0000-4000-8000-000000000000",
                LEGACY_OFFER,
                1,
                None,
            ),
            NOW,
            404,
            60003,
        );
        assert!(
            message.starts_with("POST /v1/customers/0a0b0c0d-0000-4000-8000-000000000000/orders"),
            "{message}"
        );
        assert_refused(
            &mut tenant,
            &buy(&customer, NCE_OFFER, 1, None),
            NOW,
            403,
            13605,
        );
        assert_refused(
            &mut tenant,
            &buy(&customer, LEGACY_OFFER, 0, None),
            NOW,
            400,
            2002,
        );
        let provider_mpn = tenant.partner.mpn_id.clone();
        assert_refused(
            &mut tenant,
            &buy(&customer, LEGACY_OFFER, 1, Some(&provider_mpn)),
            NOW,
            404,
            2072,
        );
        assert_refused(
            &mut tenant,
            &buy(&customer, LEGACY_OFFER, 1, Some("1234567")),
            NOW,
            400,
            800016,
        );
        // B is a partner of the provider but has no relationship with this customer.
        assert_refused(
            &mut tenant,
            &buy(&customer, LEGACY_OFFER, 1, Some(MPN_B)),
            NOW,
            400,
            800016,
        );
        tenant
            .accept_relationship("plain.onmicrosoft.com", MPN_B)
            .expect("accepted");
        run(&mut tenant, &buy(&customer, LEGACY_OFFER, 1, Some(MPN_B)));
    }

    #[test]
    fn unresolved_references_and_manual_actions_are_not_executed() {
        let (mut tenant, _) = tenant_with_customer();
        let mut operation = buy("x", LEGACY_OFFER, 1, None);
        if let Operation::CreateSubscription { customer, .. } = &mut operation {
            customer.id = None;
        }
        match tenant.execute(&operation, NOW) {
            Err(BackendError::Unresolved(message)) => {
                assert!(message.contains("Customer/wingtip"), "{message}")
            }
            other => panic!("expected Unresolved, got {other:?}"),
        }
        assert!(matches!(
            tenant.execute(&Operation::Manual, NOW),
            Err(BackendError::Unresolved(_))
        ));
        assert!(matches!(
            tenant.execute(&buy("x", LEGACY_OFFER, 1, None), "yesterday"),
            Err(BackendError::State(_))
        ));
    }

    #[test]
    fn patches_subscriptions_in_a_sensible_order() {
        let (mut tenant, customer) = tenant_with_customer();
        let legacy = created(&mut tenant, &buy(&customer, LEGACY_OFFER, 5, None));
        // Change the quantity, then suspend, in one PATCH.
        run(
            &mut tenant,
            &patch(
                &customer,
                &legacy,
                SubscriptionPatch {
                    quantity: Some(7),
                    status: Some(LiveStatus::Suspended),
                    ..Default::default()
                },
            ),
        );
        assert_eq!(
            (
                tenant.subscriptions[&legacy].quantity,
                tenant.subscriptions[&legacy].status
            ),
            (7, LiveStatus::Suspended)
        );
        // A suspended subscription's quantity cannot change...
        let message = assert_refused(
            &mut tenant,
            &patch(
                &customer,
                &legacy,
                SubscriptionPatch {
                    quantity: Some(8),
                    ..Default::default()
                },
            ),
            NOW,
            400,
            2001,
        );
        assert!(
            message.starts_with(&format!(
                "PATCH /v1/customers/{customer}/subscriptions/{legacy}"
            )),
            "{message}"
        );
        // ...unless the same PATCH reactivates it.
        run(
            &mut tenant,
            &patch(
                &customer,
                &legacy,
                SubscriptionPatch {
                    quantity: Some(8),
                    status: Some(LiveStatus::Active),
                    ..Default::default()
                },
            ),
        );
        assert_eq!(
            (
                tenant.subscriptions[&legacy].quantity,
                tenant.subscriptions[&legacy].status
            ),
            (8, LiveStatus::Active)
        );

        run(
            &mut tenant,
            &patch(
                &customer,
                &legacy,
                SubscriptionPatch {
                    auto_renew: Some(false),
                    billing_cycle: Some(BillingCycle::Annual),
                    partner_id: Some(Some(MPN_A.into())),
                    ..Default::default()
                },
            ),
        );
        let live = tenant.subscriptions[&legacy].clone();
        assert_eq!(
            (
                live.auto_renew,
                live.billing_cycle,
                live.partner_id.as_deref()
            ),
            (Some(false), Some(BillingCycle::Annual), Some(MPN_A))
        );
        assert_eq!(
            tenant.orders[live.order_id.as_deref().expect("an order")].billing_cycle,
            BillingCycle::Annual
        );
        run(
            &mut tenant,
            &patch(
                &customer,
                &legacy,
                SubscriptionPatch {
                    partner_id: Some(None),
                    ..Default::default()
                },
            ),
        );
        assert_eq!(tenant.subscriptions[&legacy].partner_id, None);
    }

    #[test]
    fn refuses_patches_that_break_partner_center_rules() {
        let (mut tenant, customer) = tenant_with_customer();
        let other = created(
            &mut tenant,
            &create_customer("other.onmicrosoft.com", RESELLER_A, None),
        );
        let nce = created(&mut tenant, &buy(&customer, NCE_OFFER, 5, None));
        let quantity = |q| SubscriptionPatch {
            quantity: Some(q),
            ..Default::default()
        };

        assert_refused(
            &mut tenant,
            &patch(
                &customer,
                "0a0b0c0d-0000-4000-8000-000000000000",
                quantity(1),
            ),
            NOW,
            404,
            20003,
        );
        assert_refused(
            &mut tenant,
            &patch(&other, &nce, quantity(1)),
            NOW,
            404,
            20003,
        );
        assert_refused(
            &mut tenant,
            &patch(&customer, &nce, quantity(0)),
            NOW,
            400,
            2002,
        );
        assert_refused(
            &mut tenant,
            &patch(
                &customer,
                &nce,
                SubscriptionPatch {
                    partner_id: Some(Some("1234567".into())),
                    ..Default::default()
                },
            ),
            NOW,
            400,
            800016,
        );
        assert_refused(
            &mut tenant,
            &patch(
                &customer,
                &nce,
                SubscriptionPatch {
                    partner_id: Some(Some(MPN_B.into())),
                    ..Default::default()
                },
            ),
            NOW,
            400,
            800016,
        );
        assert_refused(
            &mut tenant,
            &patch(
                &customer,
                &nce,
                SubscriptionPatch {
                    status: Some(LiveStatus::Expired),
                    ..Default::default()
                },
            ),
            NOW,
            400,
            3000,
        );

        // New commerce: seats can be removed inside the window only.
        assert_refused(
            &mut tenant,
            &patch(&customer, &nce, quantity(3)),
            LATER,
            400,
            800090,
        );
        tenant
            .execute(&patch(&customer, &nce, quantity(9)), LATER)
            .expect("increases are always allowed");
        tenant
            .execute(&patch(&customer, &nce, quantity(4)), NOW)
            .expect("decrease inside the window");
        assert_refused(
            &mut tenant,
            &patch(
                &customer,
                &nce,
                SubscriptionPatch {
                    status: Some(LiveStatus::Deleted),
                    ..Default::default()
                },
            ),
            LATER,
            400,
            800096,
        );
        tenant
            .execute(
                &patch(
                    &customer,
                    &nce,
                    SubscriptionPatch {
                        status: Some(LiveStatus::Deleted),
                        ..Default::default()
                    },
                ),
                NOW,
            )
            .expect("cancel inside the window");
        assert_refused(
            &mut tenant,
            &patch(
                &customer,
                &nce,
                SubscriptionPatch {
                    status: Some(LiveStatus::Active),
                    ..Default::default()
                },
            ),
            NOW,
            400,
            2011,
        );

        let expired = created(&mut tenant, &buy(&customer, LEGACY_OFFER, 1, None));
        if let Some(s) = tenant.subscriptions.get_mut(&expired) {
            s.status = LiveStatus::Expired;
        }
        assert_refused(
            &mut tenant,
            &patch(
                &customer,
                &expired,
                SubscriptionPatch {
                    status: Some(LiveStatus::Active),
                    ..Default::default()
                },
            ),
            NOW,
            400,
            800096,
        );
    }

    #[test]
    fn support_contacts_follow_partner_center_rules() {
        let (mut tenant, customer) = tenant_with_customer();
        let nce = created(&mut tenant, &buy(&customer, NCE_OFFER, 1, None));
        let legacy = created(&mut tenant, &buy(&customer, LEGACY_OFFER, 1, None));

        let message = assert_refused(
            &mut tenant,
            &support(&customer, &nce, RESELLER_A, MPN_A),
            NOW,
            400,
            800042,
        );
        assert!(
            message.contains("new commerce does not support designated support contacts"),
            "{message}"
        );
        assert!(
            message.starts_with(&format!(
                "PUT /v1/customers/{customer}/subscriptions/{nce}/supportcontact"
            )),
            "{message}"
        );
        assert_refused(
            &mut tenant,
            &support(
                &customer,
                "0a0b0c0d-0000-4000-8000-000000000000",
                RESELLER_A,
                MPN_A,
            ),
            NOW,
            404,
            20003,
        );
        assert_refused(
            &mut tenant,
            &support(&customer, &legacy, RESELLER_A, MPN_B),
            NOW,
            400,
            800016,
        );
        assert_refused(
            &mut tenant,
            &support(&customer, &legacy, RESELLER_B, MPN_B),
            NOW,
            400,
            800016,
        );

        run(
            &mut tenant,
            &support(&customer, &legacy, &RESELLER_A.to_uppercase(), MPN_A),
        );
        let contact = tenant.subscriptions[&legacy]
            .support_contact
            .clone()
            .expect("a contact");
        assert_eq!(
            (contact.tenant_id.as_str(), contact.mpn_id.as_str()),
            (RESELLER_A, MPN_A)
        );
        run(
            &mut tenant,
            &Operation::ResetSupportContact {
                customer: at(&customer),
                subscription_id: legacy.clone(),
            },
        );
        assert_eq!(tenant.subscriptions[&legacy].support_contact, None);

        run(
            &mut tenant,
            &patch(
                &customer,
                &legacy,
                SubscriptionPatch {
                    status: Some(LiveStatus::Deleted),
                    ..Default::default()
                },
            ),
        );
        assert_refused(
            &mut tenant,
            &support(&customer, &legacy, RESELLER_A, MPN_A),
            NOW,
            400,
            2011,
        );
    }

    #[test]
    fn accepting_a_relationship_adds_the_reseller() {
        let (mut tenant, customer) = tenant_with_customer();
        tenant
            .accept_relationship("Wingtip.onmicrosoft.com", MPN_B)
            .expect("by domain and MPN ID");
        tenant
            .accept_relationship(&customer.to_uppercase(), &RESELLER_B.to_uppercase())
            .expect("by ids, twice is a no-op");
        assert_eq!(
            tenant.customers[&customer].reseller_relationships,
            BTreeSet::from([RESELLER_A.to_owned(), RESELLER_B.to_owned()])
        );
        let error = tenant
            .accept_relationship("nobody.onmicrosoft.com", MPN_B)
            .expect_err("unknown customer");
        assert!(error.contains("nobody.onmicrosoft.com"), "{error}");
        let error = tenant
            .accept_relationship(&customer, "7654321")
            .expect_err("unknown reseller");
        assert!(error.contains("7654321"), "{error}");
    }

    #[test]
    fn ids_are_deterministic_guids() {
        let build = || {
            let (mut tenant, customer) = tenant_with_customer();
            run(&mut tenant, &buy(&customer, NCE_OFFER, 2, Some(MPN_A)));
            tenant
        };
        let (first, second) = (build(), build());
        let json = |t: &Tenant| serde_json::to_string_pretty(t).expect("serializes");
        assert_eq!(json(&first), json(&second));
        assert_eq!(
            first.next_id, 4,
            "customer, order and subscription each took one id"
        );
        for id in first
            .customers
            .keys()
            .chain(first.subscriptions.keys())
            .chain(first.orders.keys())
        {
            let groups: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
            assert!(
                id.bytes()
                    .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
        }
        assert_ne!(guid(1), guid(2));
    }

    #[test]
    fn generated_ids_skip_ids_in_use() {
        let mut tenant = Tenant::default();
        let taken = guid(tenant.next_id);
        tenant.orders.insert(
            taken.clone(),
            OrderRecord {
                id: taken.clone(),
                customer_id: "c".into(),
                billing_cycle: BillingCycle::Monthly,
                line_items: Vec::new(),
                creation_date: NOW.into(),
                status: "completed".into(),
            },
        );
        assert_ne!(tenant.new_id(), taken);
    }
}
