//! Partner Center's JSON, leniently: serde types for what cspctl reads, the
//! bodies it sends, and the mapping of both to cspctl's own model.
//!
//! Partner Center documents property names as case-insensitive and its own docs
//! mix camelCase and PascalCase, so every response is first passed through
//! [`normalize_keys`] (first letter lowercased) and enum values are compared
//! without case or underscores. Numbers that the docs show both as numbers and
//! as strings (`code`, `quantity`, `expires_in`) accept both. A missing field is a
//! clear error naming the request, never a panic. Nothing here does I/O.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::live::{
    LiveAgreement, LiveNextTerm, LiveReseller, LiveStatus, LiveSubscription, LiveUsageSubscription,
};
use crate::manifest::model::{Address, Billing, BillingCycle, Contact, ResellerSpec, TermDuration};

/// Lowercases the first letter of every object key, recursively, so PascalCase
/// (`LineItems`) and camelCase (`lineItems`) read the same. Keys are otherwise
/// kept: all-caps acronyms are not part of Partner Center's JSON.
pub fn normalize_keys(mut value: Value) -> Value {
    normalize_in_place(&mut value);
    value
}

/// [`normalize_keys`] without rebuilding what is already camelCase (nearly every
/// answer): a map is rebuilt only when one of its keys changes.
fn normalize_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.keys().any(|key| changes_when_lowered(key)) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(key, mut inner)| {
                        normalize_in_place(&mut inner);
                        (lower_first(&key), inner)
                    })
                    .collect();
            } else {
                map.values_mut().for_each(normalize_in_place);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_in_place),
        _ => {}
    }
}

fn changes_when_lowered(key: &str) -> bool {
    key.chars().next().is_some_and(|first| {
        let mut lowered = first.to_lowercase();
        !(lowered.next() == Some(first) && lowered.next().is_none())
    })
}

fn lower_first(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An enum value without case or separators: `is_indirect_reseller_of`,
/// `IsIndirectResellerOf` → `isindirectresellerof`.
pub fn enum_key(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Deserializes a number given as a JSON number or a string.
pub fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("expected a non-negative number, got {n}"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("expected a number, got \"{s}\""))),
        Some(other) => Err(de::Error::custom(format!("expected a number, got {other}"))),
    }
}

/// A string field that may be absent or null; numbers are accepted as text
/// (MPN ids are sometimes numbers in hand-written payloads).
pub fn lenient_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(de::Error::custom(format!("expected a string, got {other}"))),
    }
}

/// A string field whose absence means something else than null: `Some(None)`
/// for null (or an empty string), `Some(Some(_))` for a value. Used with
/// `#[serde(default)]`, so an absent field stays `None`.
pub fn present_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(non_empty(lenient_string(deserializer)?)))
}

/// Any JSON value, `null` included (`Some(None)`), versus absent (`None`).
pub fn present_value<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<Value>>, D::Error> {
    Ok(Some(
        Option::<Value>::deserialize(deserializer)?.filter(|v| !v.is_null()),
    ))
}

/// A boolean that may come as `"true"`.
pub fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(de::Error::custom(format!(
            "expected a boolean, got {other}"
        ))),
    }
}

/// `Some("")` → `None`: Partner Center sends empty strings for absent values.
pub fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// A collection: `{totalCount, items, links?}`. A null or missing `items` is an
/// empty collection (seen for a customer without resellers).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", bound = "T: Deserialize<'de>")]
pub struct Collection<T> {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<T>,
    #[serde(default)]
    pub links: Option<Links>,
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Links {
    pub next: Option<Link>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Link {
    pub uri: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub headers: Vec<KeyValue>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyValue {
    pub key: String,
    #[serde(deserialize_with = "lenient_string")]
    pub value: Option<String>,
}

/// A partner relationship (provider ↔ reseller, or customer ↔ reseller).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Relationship {
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub mpn_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub location: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub state: Option<String>,
}

impl Relationship {
    /// The reseller, or `None` for an item without a tenant id (nothing to key it
    /// by) or in a state other than active.
    pub fn to_live(&self) -> Option<LiveReseller> {
        let tenant_id = non_empty(self.id.clone())?.to_ascii_lowercase();
        if let Some(state) = non_empty(self.state.clone())
            && enum_key(&state) != "active"
        {
            return None;
        }
        Some(LiveReseller {
            tenant_id,
            mpn_id: self.mpn_id.clone().unwrap_or_default(),
            name: self.name.clone().unwrap_or_default(),
            location: non_empty(self.location.clone()),
        })
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CompanyProfile {
    #[serde(deserialize_with = "lenient_string")]
    pub tenant_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub domain: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub company_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub organization_registration_number: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WireAddress {
    #[serde(deserialize_with = "lenient_string")]
    pub first_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub last_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub address_line1: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub address_line2: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub city: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub state: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub postal_code: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub country: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub phone_number: Option<String>,
}

impl WireAddress {
    pub fn to_model(&self) -> Address {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Address {
            first_name: text(&self.first_name),
            last_name: text(&self.last_name),
            address_line1: text(&self.address_line1),
            address_line2: non_empty(self.address_line2.clone()),
            city: text(&self.city),
            state: non_empty(self.state.clone()),
            postal_code: text(&self.postal_code),
            country: text(&self.country),
            phone_number: non_empty(self.phone_number.clone()),
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BillingProfile {
    #[serde(deserialize_with = "lenient_string")]
    pub email: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub culture: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub language: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub company_name: Option<String>,
    pub default_address: Option<WireAddress>,
}

impl BillingProfile {
    pub fn to_model(&self) -> Billing {
        Billing {
            email: self.email.clone().unwrap_or_default(),
            culture: self.culture.clone().unwrap_or_default(),
            language: self.language.clone().unwrap_or_default(),
            address: self.default_address.clone().unwrap_or_default().to_model(),
        }
    }
}

/// A customer, as listed (`GET /v1/customers`) or read by id.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Customer {
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    pub company_profile: Option<CompanyProfile>,
    pub billing_profile: Option<BillingProfile>,
    #[serde(deserialize_with = "lenient_string")]
    pub relationship_to_partner: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub associated_partner_id: Option<String>,
}

impl Customer {
    /// The customer tenant id, lowercased (`id`, else `companyProfile.tenantId`).
    pub fn tenant_id(&self) -> Option<String> {
        non_empty(self.id.clone())
            .or_else(|| {
                self.company_profile
                    .as_ref()
                    .and_then(|p| non_empty(p.tenant_id.clone()))
            })
            .map(|id| id.to_ascii_lowercase())
    }

    /// A customer the partner no longer serves (`relationshipToPartner: none`).
    pub fn is_detached(&self) -> bool {
        self.relationship_to_partner
            .as_deref()
            .is_some_and(|r| enum_key(r) == "none")
    }
}

/// An MCA acceptance record.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgreementRecord {
    pub primary_contact: Option<WireContact>,
    #[serde(deserialize_with = "lenient_string")]
    pub date_agreed: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub template_id: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WireContact {
    #[serde(deserialize_with = "lenient_string")]
    pub first_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub last_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub email: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub phone_number: Option<String>,
}

/// The latest acceptance among `records` (by `dateAgreed`; RFC 3339 times in
/// UTC compare correctly as text), or `None`.
pub fn latest_agreement(records: &[AgreementRecord]) -> Option<LiveAgreement> {
    records
        .iter()
        .filter_map(|r| {
            let contact = r.primary_contact.as_ref()?;
            Some(LiveAgreement {
                contact: Contact {
                    first_name: contact.first_name.clone().unwrap_or_default(),
                    last_name: contact.last_name.clone().unwrap_or_default(),
                    email: contact.email.clone().unwrap_or_default(),
                    phone_number: non_empty(contact.phone_number.clone()),
                },
                date_agreed: r.date_agreed.clone().unwrap_or_default(),
            })
        })
        .max_by(|a, b| a.date_agreed.cmp(&b.date_agreed))
}

/// A subscription.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Subscription {
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub offer_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub friendly_name: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub quantity: Option<u64>,
    #[serde(deserialize_with = "lenient_string")]
    pub term_duration: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub billing_cycle: Option<String>,
    #[serde(deserialize_with = "lenient_bool")]
    pub auto_renew_enabled: Option<bool>,
    #[serde(deserialize_with = "lenient_string")]
    pub status: Option<String>,
    /// `None`: the answer has no `partnerId`; `Some(None)`: null or empty.
    #[serde(deserialize_with = "present_string")]
    pub partner_id: Option<Option<String>>,
    #[serde(deserialize_with = "lenient_string")]
    pub order_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub creation_date: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub cancellation_allowed_until_date: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub commitment_end_date: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub billing_type: Option<String>,
    /// New commerce's scheduled changes (create-scheduled-changes), read by
    /// [`next_term`]: `Some(None)` is `null` (none scheduled), `None` an answer
    /// without the key (the documented get-a-subscription example has none).
    #[serde(deserialize_with = "present_value")]
    pub scheduled_next_term_instructions: Option<Option<Value>>,
}

/// Reads `scheduledNextTermInstructions` (keys already camelCase): `product`
/// {`productId`, `skuId`, `availabilityId`, `billingCycle`, `termDuration`} and
/// `quantity`, as the documented example shows them. Anything incomplete reads
/// as nothing scheduled: cspctl then writes the instructions it wants again,
/// which is idempotent.
pub fn next_term(value: &Value) -> Option<LiveNextTerm> {
    let product = value.get("product")?;
    let text = |name: &str| {
        product
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    let quantity = match value.get("quantity")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    Some(LiveNextTerm {
        offer_id: format!(
            "{}:{}:{}",
            text("productId")?,
            text("skuId")?,
            text("availabilityId")?
        ),
        quantity: u32::try_from(quantity).ok()?,
        term_duration: parse_term(text("termDuration")?)?,
        billing_cycle: parse_billing_cycle(text("billingCycle")?)?,
    })
}

/// The documented JSON of scheduled next-term instructions (the inverse of
/// [`next_term`]).
pub fn next_term_json(next: &LiveNextTerm) -> Value {
    let mut parts = next.offer_id.splitn(3, ':');
    let (product, sku, availability) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    serde_json::json!({
        "product": {
            "productId": product, "skuId": sku, "availabilityId": availability,
            "billingCycle": billing_cycle_str(next.billing_cycle),
            "termDuration": match next.term_duration {
                TermDuration::P1M => "P1M",
                TermDuration::P1Y => "P1Y",
                TermDuration::P3Y => "P3Y",
            },
        },
        "quantity": next.quantity,
    })
}

pub fn parse_status(value: &str) -> Option<LiveStatus> {
    Some(match enum_key(value).as_str() {
        "active" => LiveStatus::Active,
        "suspended" => LiveStatus::Suspended,
        "pending" => LiveStatus::Pending,
        "deleted" => LiveStatus::Deleted,
        "expired" => LiveStatus::Expired,
        "disabled" => LiveStatus::Disabled,
        _ => return None,
    })
}

pub fn parse_term(value: &str) -> Option<TermDuration> {
    Some(match value.trim().to_ascii_uppercase().as_str() {
        "P1M" => TermDuration::P1M,
        "P1Y" => TermDuration::P1Y,
        "P3Y" => TermDuration::P3Y,
        _ => return None,
    })
}

pub fn parse_billing_cycle(value: &str) -> Option<BillingCycle> {
    Some(match enum_key(value).as_str() {
        "monthly" => BillingCycle::Monthly,
        "annual" => BillingCycle::Annual,
        "triennial" => BillingCycle::Triennial,
        _ => return None,
    })
}

pub fn billing_cycle_str(cycle: BillingCycle) -> &'static str {
    match cycle {
        BillingCycle::Monthly => "monthly",
        BillingCycle::Annual => "annual",
        BillingCycle::Triennial => "triennial",
    }
}

pub fn term_str(term: TermDuration) -> &'static str {
    match term {
        TermDuration::P1M => "P1M",
        TermDuration::P1Y => "P1Y",
        TermDuration::P3Y => "P3Y",
    }
}

/// What reading one subscription gives.
#[derive(Debug, PartialEq)]
pub enum SubscriptionRead {
    Live(Box<LiveSubscription>),
    /// A usage-based subscription (Azure plan): no seats, no term, nothing a
    /// manifest declares. Left out of the snapshot on purpose, by its billing
    /// type, and counted so the read can say so.
    UsageBased {
        id: String,
        subscription: LiveUsageSubscription,
    },
}

impl Subscription {
    /// `billingType: usage`: an Azure plan or a legacy Azure subscription, with no
    /// seats or term for a manifest to declare.
    pub fn is_usage_based(&self) -> bool {
        self.billing_type.as_deref().map(enum_key).as_deref() == Some("usage")
    }

    /// The live subscription of `customer_id`.
    ///
    /// A subscription is never dropped because cspctl cannot interpret all of it:
    /// Partner Center's documented answers carry neither `billingCycle` nor
    /// `termDuration` (get-a-subscription-by-id.md), so those stay unknown
    /// (`None`) and are not compared. Only a usage-based subscription is left out,
    /// explicitly, by its `billingType`. What cannot be keyed or matched at all
    /// (no `id`, `status` or `quantity`, which every documented answer
    /// carries) is an error naming the subscription: the read fails rather than
    /// leave out an object that a plan would then buy again. (`offerId` is not
    /// in every documented answer: it may be unknown too.)
    pub fn to_live(&self, customer_id: &str) -> Result<SubscriptionRead, String> {
        let id = non_empty(self.id.clone()).ok_or("a subscription without `id`")?;
        if self.is_usage_based() {
            return Ok(SubscriptionRead::UsageBased {
                id: id.to_ascii_lowercase(),
                subscription: LiveUsageSubscription {
                    customer_id: customer_id.to_owned(),
                    offer_id: self.offer_id.clone().unwrap_or_default(),
                    friendly_name: self.friendly_name.clone().unwrap_or_default(),
                },
            });
        }
        let field = |name: &str| {
            format!(
                "subscription {id}: missing or unknown `{name}` (cspctl cannot tell what this subscription is, so it stops rather than plan around it)"
            )
        };
        let status = self
            .status
            .as_deref()
            .and_then(parse_status)
            .ok_or_else(|| field("status"))?;
        let quantity = self
            .quantity
            .and_then(|q| u32::try_from(q).ok())
            .ok_or_else(|| field("quantity"))?;
        Ok(SubscriptionRead::Live(Box::new(LiveSubscription {
            id: id.to_ascii_lowercase(),
            customer_id: customer_id.to_owned(),
            // get-all-of-a-customer-s-subscriptions.md's example has no offerId:
            // unknown, matched by id or friendly name all the same.
            offer_id: non_empty(self.offer_id.clone()).unwrap_or_default(),
            friendly_name: self.friendly_name.clone().unwrap_or_default(),
            quantity,
            term_duration: self.term_duration.as_deref().and_then(parse_term),
            billing_cycle: self.billing_cycle.as_deref().and_then(parse_billing_cycle),
            auto_renew: self.auto_renew_enabled,
            status,
            partner_id: self.partner_id.clone().flatten(),
            partner_id_unreported: self.partner_id.is_none(),
            support_contact: None,
            order_id: non_empty(self.order_id.clone()),
            creation_date: non_empty(self.creation_date.clone()),
            cancellation_allowed_until: non_empty(self.cancellation_allowed_until_date.clone()),
            commitment_end_date: non_empty(self.commitment_end_date.clone()),
            next_term: self
                .scheduled_next_term_instructions
                .as_ref()
                .and_then(|v| v.as_ref())
                .and_then(next_term),
            next_term_unreported: self.scheduled_next_term_instructions.is_none()
                && self.offer_id.as_deref().is_some_and(|o| o.contains(':')),
        })))
    }
}

/// A designated support contact.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SupportContact {
    #[serde(deserialize_with = "lenient_string")]
    pub support_tenant_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub support_mpn_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub name: Option<String>,
}

/// One item of `GET …/subscriptions/{id}/transitionEligibilities`
/// (transition-a-new-commerce-subscription, "Response example"): every field
/// optional, as none is marked required.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TransitionEligibility {
    pub catalog_item_id: Option<String>,
    pub title: Option<String>,
    #[serde(deserialize_with = "null_as_empty")]
    pub eligibilities: Vec<TransitionEligibilityDetail>,
}

/// `eligibilities[]`: one transition type and whether it is eligible.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TransitionEligibilityDetail {
    pub is_eligible: Option<bool>,
    pub transition_type: Option<String>,
    #[serde(deserialize_with = "null_as_empty")]
    pub errors: Vec<EligibilityError>,
}

/// `errors[]` of an eligibility: the code is a number in the example; only the
/// description is kept (for the plan's message).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EligibilityError {
    pub description: Option<String>,
}

impl TransitionEligibility {
    /// As cspctl's model: eligible when any transition type is; `None` without
    /// a catalog item id (nothing to move to).
    pub fn to_live(&self) -> Option<crate::live::LiveTransition> {
        let catalog_item_id = non_empty(self.catalog_item_id.clone())?;
        let eligible = self
            .eligibilities
            .iter()
            .any(|e| e.is_eligible == Some(true));
        let mut reasons: Vec<String> = if eligible {
            Vec::new()
        } else {
            self.eligibilities
                .iter()
                .flat_map(|e| e.errors.iter())
                .filter_map(|e| non_empty(e.description.clone()))
                .collect()
        };
        reasons.dedup();
        Some(crate::live::LiveTransition {
            catalog_item_id,
            title: non_empty(self.title.clone()),
            eligible,
            reasons,
        })
    }
}

/// One item of `GET …/subscriptions/customTermEndDates` (custom-term-end-dates,
/// "Response examples").
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AllowedCustomTermEndDate {
    pub allowed_custom_term_end_date_type: Option<String>,
    /// `2023-07-31T00:00:00`: midnight, no offset (read as UTC).
    pub allowed_custom_term_end_date: Option<String>,
    #[serde(deserialize_with = "null_as_empty")]
    pub coterm_subscription_ids: Vec<String>,
}

impl AllowedCustomTermEndDate {
    /// As cspctl's model; `None` without a readable date.
    pub fn to_live(&self) -> Option<crate::live::LiveTermEnd> {
        let text = non_empty(self.allowed_custom_term_end_date.clone())?;
        let date = text.get(..10)?;
        let valid = date.len() == 10
            && date.char_indices().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if !valid {
            return None;
        }
        Some(crate::live::LiveTermEnd {
            date: date.to_owned(),
            kind: self
                .allowed_custom_term_end_date_type
                .clone()
                .unwrap_or_default(),
            coterm_subscription_ids: self
                .coterm_subscription_ids
                .iter()
                .map(|id| id.to_ascii_lowercase())
                .collect(),
        })
    }
}

/// An order (also inside a checkout result).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Order {
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub status: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub billing_cycle: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub creation_date: Option<String>,
    #[serde(deserialize_with = "null_as_empty")]
    pub line_items: Vec<OrderLineItem>,
}

impl Order {
    /// Whether the order is still being provisioned (`pending`).
    pub fn is_pending(&self) -> bool {
        self.status.as_deref().map(enum_key).as_deref() == Some("pending")
    }

    /// The subscriptions a pending order is provisioning, as the live snapshot
    /// shows a subscription (status `pending`), so a plan does not buy them again.
    /// A documented pending order's line items may not name their subscription
    /// yet: such a line gets the id `pending-order-{orderId}-{line}` (never sent
    /// to Partner Center: the planner changes nothing on a pending subscription)
    /// and still counts as bought. Empty for an order that is not pending.
    pub fn pending_subscriptions(&self, customer_id: &str) -> Vec<LiveSubscription> {
        if !self.is_pending() {
            return Vec::new();
        }
        let order_id = non_empty(self.id.clone());
        let billing_cycle = self.billing_cycle.as_deref().and_then(parse_billing_cycle);
        self.line_items
            .iter()
            .enumerate()
            .map(|(index, line)| {
                let number = line.line_item_number.unwrap_or(index as u64);
                let id = non_empty(line.subscription_id.clone())
                    .map(|id| id.to_ascii_lowercase())
                    .unwrap_or_else(|| {
                        format!(
                            "pending-order-{}-{number}",
                            order_id.as_deref().unwrap_or("unknown")
                        )
                    });
                LiveSubscription {
                    id,
                    customer_id: customer_id.to_owned(),
                    offer_id: non_empty(line.offer_id.clone()).unwrap_or_default(),
                    friendly_name: line.friendly_name.clone().unwrap_or_default(),
                    quantity: line
                        .quantity
                        .and_then(|q| u32::try_from(q).ok())
                        .unwrap_or_default(),
                    term_duration: line.term_duration.as_deref().and_then(parse_term),
                    billing_cycle,
                    auto_renew: None,
                    status: LiveStatus::Pending,
                    partner_id: non_empty(line.partner_id_on_record.clone()),
                    partner_id_unreported: false,
                    support_contact: None,
                    order_id: order_id.clone(),
                    creation_date: non_empty(self.creation_date.clone()),
                    cancellation_allowed_until: None,
                    commitment_end_date: None,
                    next_term: None,
                    next_term_unreported: false,
                }
            })
            .collect()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderLineItem {
    #[serde(deserialize_with = "lenient_u64")]
    pub line_item_number: Option<u64>,
    #[serde(deserialize_with = "lenient_string")]
    pub subscription_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub offer_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub friendly_name: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub quantity: Option<u64>,
    #[serde(deserialize_with = "lenient_string")]
    pub term_duration: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub partner_id_on_record: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Cart {
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "null_as_empty")]
    pub line_items: Vec<CartLineItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CartLineItem {
    pub error: Option<CartError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CartError {
    #[serde(deserialize_with = "lenient_u64")]
    pub error_code: Option<u64>,
    #[serde(deserialize_with = "lenient_string")]
    pub error_description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CheckoutResult {
    #[serde(deserialize_with = "null_as_empty")]
    pub orders: Vec<Order>,
    #[serde(deserialize_with = "null_as_empty")]
    pub order_errors: Vec<OrderError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderError {
    #[serde(deserialize_with = "lenient_u64")]
    pub code: Option<u64>,
    #[serde(deserialize_with = "lenient_string")]
    pub description: Option<String>,
}

/// Any of Partner Center's error shapes: `{code, description}`, the newer
/// `{code, message}`, and the 429 `{statusCode, message}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiFault {
    #[serde(deserialize_with = "lenient_u64")]
    pub code: Option<u64>,
    #[serde(deserialize_with = "lenient_u64")]
    pub status_code: Option<u64>,
    #[serde(deserialize_with = "lenient_string")]
    pub description: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub message: Option<String>,
}

/// Entra ID's token response (v1 endpoint).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenResponse {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub expires_in: Option<u64>,
}

/// Entra ID's error response.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenError {
    #[serde(deserialize_with = "lenient_string")]
    pub error: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub error_description: Option<String>,
}

/// `defaultAddress` as Partner Center takes it.
pub fn address_json(address: &Address) -> Value {
    let mut map = Map::new();
    map.insert("firstName".into(), json!(address.first_name));
    map.insert("lastName".into(), json!(address.last_name));
    map.insert("addressLine1".into(), json!(address.address_line1));
    if let Some(line2) = &address.address_line2 {
        map.insert("addressLine2".into(), json!(line2));
    }
    map.insert("city".into(), json!(address.city));
    if let Some(state) = &address.state {
        map.insert("state".into(), json!(state));
    }
    map.insert("postalCode".into(), json!(address.postal_code));
    map.insert("country".into(), json!(address.country));
    if let Some(phone) = &address.phone_number {
        map.insert("phoneNumber".into(), json!(phone));
    }
    Value::Object(map)
}

/// `POST /v1/customers`.
pub fn create_customer_body(
    domain: &str,
    company_name: &str,
    billing: &Billing,
    organization_registration_number: Option<&str>,
    associated_partner_id: &str,
) -> Value {
    let mut company = json!({ "domain": domain });
    if let Some(number) = organization_registration_number {
        company["organizationRegistrationNumber"] = json!(number);
    }
    json!({
        "companyProfile": company,
        "billingProfile": {
            "email": billing.email,
            "culture": billing.culture,
            "language": billing.language,
            "companyName": company_name,
            "defaultAddress": address_json(&billing.address),
        },
        "associatedPartnerId": associated_partner_id,
    })
}

/// `dateAgreed` as a full RFC 3339 time: a bare date means midnight UTC.
pub fn full_date_time(date: &str) -> String {
    if date.len() == 10 && !date.contains('T') {
        format!("{date}T00:00:00Z")
    } else {
        date.to_owned()
    }
}

/// `POST /v1/customers/{id}/agreements`.
pub fn agreement_body(contact: &Contact, date_agreed: &str, template_id: &str) -> Value {
    let mut primary = json!({
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "email": contact.email,
    });
    if let Some(phone) = &contact.phone_number {
        primary["phoneNumber"] = json!(phone);
    }
    json!({
        "primaryContact": primary,
        "templateId": template_id,
        "dateAgreed": full_date_time(date_agreed),
        "type": "MicrosoftCustomerAgreement",
    })
}

/// What is bought: the fields of a new subscription.
#[derive(Debug, Clone, Copy)]
pub struct Purchase<'a> {
    pub customer_id: &'a str,
    pub offer_id: &'a str,
    pub quantity: u32,
    pub term_duration: TermDuration,
    pub billing_cycle: BillingCycle,
    pub friendly_name: &'a str,
    pub partner_id_on_record: Option<&'a str>,
    /// `YYYY-MM-DD`: the first term's last day (new commerce, coterminosity).
    pub custom_term_end_date: Option<&'a str>,
}

/// `POST /v1/customers/{c}/carts` with one line item (new commerce).
pub fn cart_body(purchase: &Purchase<'_>) -> Value {
    let participants: Vec<Value> = purchase
        .partner_id_on_record
        .map(|mpn| json!({"key": "transaction_reseller", "value": mpn}))
        .into_iter()
        .collect();
    let mut item = json!({
        "id": 0,
        "catalogItemId": purchase.offer_id,
        "quantity": purchase.quantity,
        "billingCycle": billing_cycle_str(purchase.billing_cycle),
        "termDuration": term_str(purchase.term_duration),
        "friendlyName": purchase.friendly_name,
    });
    let named_reseller = !participants.is_empty();
    if named_reseller {
        item["participants"] = Value::Array(participants);
    }
    if let Some(date) = purchase.custom_term_end_date {
        // Cart line `customTermEndDate` ("DateTime": "The end date of the first
        // billing term of the new subscription", cart-resources), one of the
        // dates GET …/subscriptions/customTermEndDates allows, which it shows as
        // midnight without an offset (custom-term-end-dates); sent the same way.
        item["customTermEndDate"] = json!(format!("{date}T00:00:00"));
    }
    let mut cart = json!({ "lineItems": [item] });
    if named_reseller {
        // create-a-cart.md (Sept 2021 on; the learn page keeps the sample): the
        // cart attests the partner of record ("PartnerOnRecordAttestationAccepted
        // | Boolean | Yes | Confirms Attestation completion"), as the sample that
        // names a `transaction_reseller` does. Declaring the reseller of record in
        // a manifest is that attestation. UNCONFIRMED: whether a cart without a
        // reseller needs it too (the new-commerce sample without one has none).
        cart["partnerOnRecordAttestationAccepted"] = json!(true);
    }
    cart
}

/// `POST /v1/customers/{c}/orders` with one line item (legacy offers).
pub fn order_body(purchase: &Purchase<'_>) -> Value {
    let mut item = json!({
        "lineItemNumber": 0,
        "offerId": purchase.offer_id,
        "termDuration": term_str(purchase.term_duration),
        "quantity": purchase.quantity,
        "friendlyName": purchase.friendly_name,
    });
    if let Some(mpn) = purchase.partner_id_on_record {
        item["partnerIdOnRecord"] = json!(mpn);
    }
    let mut order = json!({
        "referenceCustomerId": purchase.customer_id,
        "billingCycle": billing_cycle_str(purchase.billing_cycle),
        "lineItems": [item],
    });
    if purchase.partner_id_on_record.is_some() {
        // create-an-order.md (Sept 2021 on), as for carts.
        order["partnerOnRecordAttestationAccepted"] = json!(true);
    }
    order
}

/// The line of an order whose billing cycle changes.
#[derive(Clone, Copy, Debug)]
pub struct BillingCycleLine<'a> {
    pub line_item_number: u64,
    pub offer_id: &'a str,
    pub subscription_id: &'a str,
    pub quantity: u64,
    pub friendly_name: Option<&'a str>,
    pub partner_id_on_record: Option<&'a str>,
}

/// `PATCH /v1/customers/{c}/orders/{orderId}` (change-the-billing-cycle.md): the
/// page marks `ReferenceCustomerId`, `BillingCycle`, `LineItems` and, per line,
/// `LineItemNumber`, `OfferId`, `SubscriptionId` and `Quantity` required; the
/// optional ones are sent when known, as the page's example does.
pub fn billing_cycle_body(customer_id: &str, cycle: &str, line: &BillingCycleLine<'_>) -> Value {
    let mut item = json!({
        "lineItemNumber": line.line_item_number,
        "offerId": line.offer_id,
        "subscriptionId": line.subscription_id,
        "quantity": line.quantity,
    });
    if let Some(name) = line.friendly_name {
        item["friendlyName"] = json!(name);
    }
    if let Some(mpn) = line.partner_id_on_record {
        item["partnerIdOnRecord"] = json!(mpn);
    }
    json!({
        "referenceCustomerId": customer_id,
        "billingCycle": cycle,
        "lineItems": [item],
    })
}

/// `POST /v1/sandboxIndirectReseller` (create-indirect-reseller-in-sandbox.md):
/// `mpnId`, `tenant` (domain prefix, names, admin, country, culture),
/// `legalBusinessProfile` (company name, address, primary contact, culture) and
/// `organizationProfileLanguage`, every one the page marks required. No tenant id:
/// Partner Center creates the tenant. A reseller without `sandboxTenant` cannot be
/// created: the planner refuses it first; this is the guard behind it.
pub fn sandbox_reseller_body(reseller: &ResellerSpec) -> Result<Value, String> {
    let Some(tenant) = &reseller.sandbox_tenant else {
        return Err(format!(
            "reseller {} (MPN ID {}) declares no `sandboxTenant`, which Partner Center's integration sandbox needs to create it",
            reseller.display_name, reseller.mpn_id
        ));
    };
    let address = &tenant.address;
    let mut legal_address = json!({
        "country": address.country,
        "city": address.city,
        "addressLine1": address.address_line1,
        "postalCode": address.postal_code,
    });
    if let Some(state) = &address.state {
        legal_address["state"] = json!(state);
    }
    if let Some(line2) = &address.address_line2 {
        legal_address["addressLine2"] = json!(line2);
    }
    let contact = &tenant.primary_contact;
    let mut primary_contact = json!({
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "email": contact.email,
    });
    if let Some(phone) = &contact.phone_number {
        primary_contact["phoneNumber"] = json!(phone);
    }
    Ok(json!({
        "mpnId": reseller.mpn_id,
        "tenant": {
            "domainPrefix": tenant.domain_prefix,
            "name": reseller.display_name,
            "displayName": reseller.display_name,
            "adminUserName": tenant.admin.user_name,
            "adminFirstName": tenant.admin.first_name,
            "adminLastName": tenant.admin.last_name,
            "adminAlternateEmail": tenant.admin.alternate_email,
            "country": reseller.location.as_deref().unwrap_or(&address.country),
            "culture": tenant.culture,
        },
        "legalBusinessProfile": {
            "companyName": reseller.display_name,
            "address": legal_address,
            "primaryContact": primary_contact,
            "culture": tenant.culture,
        },
        "organizationProfileLanguage": tenant.language,
    }))
}

/// `PUT …/subscriptions/{s}/supportcontact` (update-a-subscription-s-support-contact.md).
pub fn support_contact_body(tenant_id: &str, mpn_id: &str, name: &str) -> Value {
    json!({"supportTenantId": tenant_id, "supportMpnId": mpn_id, "name": name})
}

/// Reads a (normalized) JSON value as `T`; the error says what was expected.
pub fn from_value<T: for<'de> Deserialize<'de>>(value: Value, what: &str) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| format!("unexpected {what} from Partner Center: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_and_string_numbers_read_like_camel_case() {
        let value = normalize_keys(json!({
            "Id": "A4C1340D-0000-0000-0000-000000000001",
            "OfferId": "CFQ7TTC0LH0Z:0001:CFQ7TTC0K18P",
            "FriendlyName": "Contoso E3",
            "Quantity": "5",
            "TermDuration": "p1y",
            "BillingCycle": "Monthly",
            "AutoRenewEnabled": true,
            "Status": "Active",
            "PartnerId": "",
            "OrderId": "5cf72f146967",
            "CreationDate": "2024-05-01T10:00:00Z",
            "CancellationAllowedUntilDate": "2024-05-08T10:00:00Z",
            "Attributes": {"Etag": "x", "ObjectType": "Subscription"}
        }));
        let subscription: Subscription = from_value(value, "subscription").unwrap();
        let SubscriptionRead::Live(live) = subscription.to_live("c1").unwrap() else {
            panic!("a license-based subscription is live");
        };
        assert_eq!(live.id, "a4c1340d-0000-0000-0000-000000000001");
        assert_eq!(live.quantity, 5);
        assert_eq!(live.term_duration, Some(TermDuration::P1Y));
        assert_eq!(live.billing_cycle, Some(BillingCycle::Monthly));
        assert_eq!(live.status, LiveStatus::Active);
        assert_eq!(live.partner_id, None);
        assert_eq!(
            live.cancellation_allowed_until.as_deref(),
            Some("2024-05-08T10:00:00Z")
        );
    }

    #[test]
    fn a_subscription_missing_a_field_is_an_error_not_a_panic() {
        let subscription: Subscription =
            from_value(json!({"id": "s1", "offerId": "x"}), "subscription").unwrap();
        let error = subscription.to_live("c").unwrap_err();
        assert!(error.contains("status"), "{error}");
        let azure_plan: Subscription = from_value(
            json!({"id": "s2", "offerId": "DZH318Z0BPS6:0001:DZH3X0GZ0T5S", "status": "active",
                   "billingCycle": "monthly", "quantity": 1, "billingType": "usage"}),
            "subscription",
        )
        .unwrap();
        assert!(matches!(
            azure_plan.to_live("c").unwrap(),
            SubscriptionRead::UsageBased { .. }
        ));
        assert!(
            from_value::<Subscription>(json!({"quantity": [1]}), "subscription")
                .unwrap_err()
                .contains("subscription")
        );
    }

    #[test]
    fn faults_accept_every_shape_and_string_codes() {
        let fault: ApiFault =
            from_value(json!({"code": "2055", "description": "Etag"}), "error").unwrap();
        assert_eq!(fault.code, Some(2055));
        let fault: ApiFault = from_value(
            json!({"statusCode": 429, "message": "Rate limit is exceeded."}),
            "error",
        )
        .unwrap();
        assert_eq!(fault.status_code, Some(429));
        let token: TokenResponse =
            from_value(json!({"access_token": "a", "expires_in": "3599"}), "token").unwrap();
        assert_eq!(token.expires_in, Some(3599));
    }

    #[test]
    fn billing_profile_maps_empty_strings_to_none() {
        let profile: BillingProfile = from_value(
            normalize_keys(json!({
                "Email": "gena@wingtiptoys.com", "Culture": "en-US", "Language": "en",
                "CompanyName": "Wingtip Toys",
                "DefaultAddress": {"FirstName": "Gena", "LastName": "Soto",
                    "AddressLine1": "One Microsoft Way", "AddressLine2": "", "City": "Redmond",
                    "State": "WA", "PostalCode": "98052", "Country": "US", "PhoneNumber": ""}
            })),
            "billing profile",
        )
        .unwrap();
        let billing = profile.to_model();
        assert_eq!(billing.address.address_line2, None);
        assert_eq!(billing.address.phone_number, None);
        assert_eq!(billing.address.state.as_deref(), Some("WA"));
    }

    #[test]
    fn relationships_skip_inactive_and_lowercase_ids() {
        let items: Collection<Relationship> = from_value(
            json!({"items": [
                {"id": "484E548C-F5F3-4528-93A9-C16C6373CB59", "name": "First Up",
                 "state": "Active", "mpnId": 4847383, "location": "US"},
                {"id": "x", "state": "Terminated"},
                {"name": "no id"}
            ]}),
            "relationships",
        )
        .unwrap();
        let live: Vec<_> = items
            .items
            .iter()
            .filter_map(Relationship::to_live)
            .collect();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].tenant_id, "484e548c-f5f3-4528-93a9-c16c6373cb59");
        assert_eq!(live[0].mpn_id, "4847383");
        let empty: Collection<Relationship> = from_value(json!({"items": null}), "x").unwrap();
        assert!(empty.items.is_empty());
    }

    #[test]
    fn latest_agreement_wins() {
        let records: Collection<AgreementRecord> = from_value(
            json!({"items": [
                {"primaryContact": {"firstName": "A", "lastName": "B", "email": "a@x.com"},
                 "dateAgreed": "2024-01-01T00:00:00Z"},
                {"primaryContact": {"firstName": "C", "lastName": "D", "email": "c@x.com", "phoneNumber": ""},
                 "dateAgreed": "2025-01-01T00:00:00Z"}
            ]}),
            "agreements",
        )
        .unwrap();
        let latest = latest_agreement(&records.items).unwrap();
        assert_eq!(latest.contact.email, "c@x.com");
        assert_eq!(latest.contact.phone_number, None);
    }

    #[test]
    fn bodies_are_camel_case_with_optional_fields_left_out() {
        let purchase = Purchase {
            customer_id: "c1",
            offer_id: "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM",
            quantity: 3,
            term_duration: TermDuration::P1Y,
            billing_cycle: BillingCycle::Annual,
            friendly_name: "E3",
            partner_id_on_record: Some("4847383"),
            custom_term_end_date: None,
        };
        let cart = cart_body(&purchase);
        assert_eq!(
            cart["lineItems"][0]["catalogItemId"],
            "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM"
        );
        assert_eq!(cart["lineItems"][0]["billingCycle"], "annual");
        assert_eq!(
            cart["lineItems"][0]["participants"],
            json!([{"key": "transaction_reseller", "value": "4847383"}])
        );
        let order = order_body(&Purchase {
            partner_id_on_record: None,
            custom_term_end_date: None,
            ..purchase
        });
        assert_eq!(order["referenceCustomerId"], "c1");
        assert!(order["lineItems"][0].get("partnerIdOnRecord").is_none());
        assert_eq!(order["lineItems"][0]["termDuration"], "P1Y");

        let contact = Contact {
            first_name: "Gena".into(),
            last_name: "Soto".into(),
            email: "g@x.com".into(),
            phone_number: None,
        };
        let body = agreement_body(&contact, "2024-06-14", "tpl");
        assert_eq!(body["dateAgreed"], "2024-06-14T00:00:00Z");
        assert!(body["primaryContact"].get("phoneNumber").is_none());
        assert_eq!(
            full_date_time("2024-06-14T10:00:00+02:00"),
            "2024-06-14T10:00:00+02:00"
        );
    }

    #[test]
    fn customer_body_carries_profiles_and_partner() {
        let billing = Billing {
            email: "g@x.com".into(),
            culture: "en-US".into(),
            language: "en".into(),
            address: Address {
                first_name: "G".into(),
                last_name: "S".into(),
                address_line1: "1 Way".into(),
                address_line2: None,
                city: "Redmond".into(),
                state: Some("WA".into()),
                postal_code: "98052".into(),
                country: "US".into(),
                phone_number: None,
            },
        };
        let body =
            create_customer_body("w.onmicrosoft.com", "Wingtip", &billing, Some("123"), "p1");
        assert_eq!(
            body["companyProfile"]["organizationRegistrationNumber"],
            "123"
        );
        assert_eq!(body["billingProfile"]["companyName"], "Wingtip");
        assert_eq!(body["billingProfile"]["defaultAddress"]["state"], "WA");
        assert!(
            body["billingProfile"]["defaultAddress"]
                .get("addressLine2")
                .is_none()
        );
        assert_eq!(body["associatedPartnerId"], "p1");
    }
    #[test]
    fn sandbox_reseller_body_is_the_documented_one() {
        use crate::manifest::model::{Contact, LegalAddress, SandboxAdmin, SandboxTenant};
        // create-indirect-reseller-in-sandbox.md, "Request Example", as cspctl
        // would declare it.
        let spec = ResellerSpec {
            tenant_id: None,
            mpn_id: "6363276".into(),
            display_name: "TipIRIntTest705".into(),
            location: Some("US".into()),
            sandbox_tenant: Some(SandboxTenant {
                domain_prefix: "TipIRIntTest705".into(),
                admin: SandboxAdmin {
                    user_name: "admin".into(),
                    first_name: "TipIRIntTest705".into(),
                    last_name: "TipIRIntTest705".into(),
                    alternate_email: "TipIRIntTest705@test.com".into(),
                },
                culture: "en-US".into(),
                language: "en".into(),
                address: LegalAddress {
                    address_line1: "39-41 quai du Président Roosevelt".into(),
                    address_line2: None,
                    city: "Issy-les-Moulineaux".into(),
                    state: None,
                    postal_code: "92130".into(),
                    country: "FR".into(),
                },
                primary_contact: Contact {
                    first_name: "Sandbox".into(),
                    last_name: "Scenario".into(),
                    email: "Sandbox.Scenario@test.com".into(),
                    phone_number: Some("1234567890".into()),
                },
            }),
        };
        let body = sandbox_reseller_body(&spec).unwrap();
        // The page's example, but for its empty `state` and `addressLine2` (left
        // out when not declared) and its culture `en-us` (cspctl sends en-US).
        assert_eq!(
            body,
            json!({
                "mpnId": "6363276",
                "tenant": {
                    "domainPrefix": "TipIRIntTest705",
                    "name": "TipIRIntTest705",
                    "displayName": "TipIRIntTest705",
                    "adminUserName": "admin",
                    "adminFirstName": "TipIRIntTest705",
                    "adminLastName": "TipIRIntTest705",
                    "adminAlternateEmail": "TipIRIntTest705@test.com",
                    "country": "US",
                    "culture": "en-US"
                },
                "legalBusinessProfile": {
                    "companyName": "TipIRIntTest705",
                    "address": {
                        "country": "FR",
                        "city": "Issy-les-Moulineaux",
                        "addressLine1": "39-41 quai du Président Roosevelt",
                        "postalCode": "92130"
                    },
                    "primaryContact": {
                        "firstName": "Sandbox",
                        "lastName": "Scenario",
                        "email": "Sandbox.Scenario@test.com",
                        "phoneNumber": "1234567890"
                    },
                    "culture": "en-US"
                },
                "organizationProfileLanguage": "en"
            })
        );
        assert!(
            body.pointer("/tenant/id").is_none(),
            "Partner Center creates the tenant"
        );
        let without = ResellerSpec {
            sandbox_tenant: None,
            ..spec
        };
        assert!(sandbox_reseller_body(&without).is_err());
    }
}
