//! The manifest model: the four document kinds, as serde + schemars types.
//!
//! These types *are* the contract: `schemas/manifest.schema.json` is generated from
//! them and the README's manifest reference describes them. Field names are camelCase
//! and follow Partner Center's own naming where it is clearer. Validation that a JSON
//! Schema can express (types, patterns, ranges, unknown fields) lives here as schemars
//! attributes; rules across fields and objects live in `validate::rules`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only API version this release reads.
pub const API_VERSION: &str = "cspctl/v1";

pub const GUID_PATTERN: &str =
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// DNS-label style, as Kubernetes object names.
pub const NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
pub const MPN_PATTERN: &str = r"^[0-9]{1,10}$";
pub const COUNTRY_PATTERN: &str = r"^[A-Z]{2}$";
/// A DNS name of two or more labels. Production customers are created with
/// `<prefix>.onmicrosoft.com`; the integration sandbox's are `<prefix>.ccsctp.net`
/// (create-a-customer.md, get-a-customer-by-id.md), and an adopted customer's
/// default domain can be any domain it verified.
pub const DOMAIN_PATTERN: &str = r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$";
/// A domain prefix: one DNS label.
pub const DOMAIN_PREFIX_PATTERN: &str = r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,25}[a-zA-Z0-9])?$";
pub const EMAIL_PATTERN: &str = r"^[^@\s]+@[^@\s]+\.[^@\s]+$";
pub const CULTURE_PATTERN: &str = r"^[a-z]{2}-[A-Z]{2}$";
pub const LANGUAGE_PATTERN: &str = r"^[a-z]{2}$";
/// `YYYY-MM-DD` or a date-time; a date-time without an offset (as Partner Center
/// writes `dateAgreed`, e.g. `2019-08-26T00:00:00`) is UTC.
pub const DATE_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$";
/// A new-commerce catalog item (`PRODUCT:SKU[:AVAILABILITY]`) or a legacy GUID offer.
pub const OFFER_PATTERN: &str = r"^([A-Za-z0-9]{12}:[A-Za-z0-9]{4}(:[A-Za-z0-9]{12})?|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$";

/// The four kinds of document.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Kind {
    Reseller,
    Customer,
    Subscription,
    SupportContact,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Reseller,
        Kind::Customer,
        Kind::Subscription,
        Kind::SupportContact,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Reseller => "Reseller",
            Kind::Customer => "Customer",
            Kind::Subscription => "Subscription",
            Kind::SupportContact => "SupportContact",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `metadata` of every document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Unique among objects of the same kind; other documents refer to it. Lowercase
    /// letters, digits and `-` (a DNS label).
    #[schemars(pattern(NAME_PATTERN))]
    pub name: String,
}

macro_rules! document {
    ($(#[$meta:meta])* $document:ident, $kind_enum:ident, $kind:literal, $spec:ty) => {
        #[doc = concat!("The `", $kind, "` kind marker.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        pub enum $kind_enum {
            #[serde(rename = $kind)]
            Value,
        }

        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $document {
            /// Always `cspctl/v1`.
            pub api_version: ApiVersion,
            pub kind: $kind_enum,
            pub metadata: Metadata,
            pub spec: $spec,
        }

        impl $document {
            /// A `cspctl/v1` document named `name`.
            pub fn new(name: &str, spec: $spec) -> Self {
                $document {
                    api_version: ApiVersion::V1,
                    kind: $kind_enum::Value,
                    metadata: Metadata {
                        name: name.to_owned(),
                    },
                    spec,
                }
            }
        }
    };
}

/// `apiVersion` of every document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "cspctl/v1")]
    V1,
}

document!(
    /// An indirect reseller the provider partners with.
    ResellerDocument, ResellerKind, "Reseller", ResellerSpec);
document!(
    /// A customer tenant served through one or more indirect resellers.
    CustomerDocument, CustomerKind, "Customer", CustomerSpec);
document!(
    /// A license-based subscription of a customer.
    SubscriptionDocument, SubscriptionKind, "Subscription", SubscriptionSpec);
document!(
    /// Designates a reseller as the support contact of a (legacy) subscription.
    SupportContactDocument, SupportContactKind, "SupportContact", SupportContactSpec);

/// An indirect reseller: a partner tenant with an MPN (Partner) ID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResellerSpec {
    /// The reseller's Entra tenant id (Partner Center's relationship `id`).
    /// Required for a reseller that exists; left out for one cspctl creates in the
    /// integration sandbox (`sandboxTenant`), where Partner Center creates the
    /// tenant and gives it its id (then found by `mpnId`; pin it here once known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(GUID_PATTERN))]
    pub tenant_id: Option<String>,
    /// The reseller's MPN ID (Partner ID), digits only; quote it in YAML.
    #[schemars(pattern(MPN_PATTERN))]
    pub mpn_id: String,
    /// The reseller's name as Partner Center shows it.
    #[schemars(length(min = 1, max = 256))]
    pub display_name: String,
    /// ISO 3166 two-letter country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(COUNTRY_PATTERN))]
    pub location: Option<String>,
    /// Integration sandbox only: the tenant Partner Center creates for this
    /// reseller (`POST /v1/sandboxIndirectReseller`, every field the
    /// create-indirect-reseller-in-sandbox page marks required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_tenant: Option<SandboxTenant>,
}

/// What Partner Center's integration sandbox needs to create a reseller's tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxTenant {
    /// The tenant's domain prefix (`<prefix>.onmicrosoft.com`), unique.
    #[schemars(pattern(DOMAIN_PREFIX_PATTERN))]
    pub domain_prefix: String,
    /// The tenant's first administrator.
    pub admin: SandboxAdmin,
    /// e.g. `en-US`.
    #[schemars(pattern(CULTURE_PATTERN))]
    pub culture: String,
    /// The organization's language, e.g. `en`.
    #[schemars(pattern(LANGUAGE_PATTERN))]
    pub language: String,
    /// The legal business profile's address.
    pub address: LegalAddress,
    /// The legal business profile's primary contact.
    pub primary_contact: Contact,
}

/// The administrator of a sandbox reseller's new tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxAdmin {
    /// The sign-in name's local part, e.g. `admin` (→ `admin@<prefix>.onmicrosoft.com`).
    #[schemars(length(min = 1, max = 64))]
    pub user_name: String,
    #[schemars(length(min = 1, max = 50))]
    pub first_name: String,
    #[schemars(length(min = 1, max = 50))]
    pub last_name: String,
    /// An email outside the new tenant.
    #[schemars(pattern(EMAIL_PATTERN))]
    pub alternate_email: String,
}

/// A company's address (no person's name, unlike a billing address).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegalAddress {
    #[schemars(length(min = 1, max = 200))]
    pub address_line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub address_line2: Option<String>,
    #[schemars(length(min = 1, max = 100))]
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub state: Option<String>,
    #[schemars(length(min = 1, max = 20))]
    pub postal_code: String,
    /// ISO 3166 two-letter country code.
    #[schemars(pattern(COUNTRY_PATTERN))]
    pub country: String,
}

/// A customer tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerSpec {
    /// The customer's default domain, its natural key: `<prefix>.onmicrosoft.com`
    /// for a customer cspctl creates in production (`<prefix>.ccsctp.net` in the
    /// integration sandbox), or whatever Partner Center shows for an adopted one.
    #[schemars(pattern(DOMAIN_PATTERN))]
    pub domain: String,
    #[schemars(length(min = 1, max = 256))]
    pub company_name: String,
    /// Reseller names. The first becomes the associated partner when the customer is
    /// created; each other one is a reseller relationship the customer must accept.
    #[schemars(length(min = 1))]
    #[schemars(extend("uniqueItems" = true))]
    pub resellers: Vec<String>,
    pub billing: Billing,
    /// Company registration number; Partner Center requires it for customers in some
    /// countries (e.g. IN, BR, ZA, PL, TR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 50))]
    pub organization_registration_number: Option<String>,
    /// The customer's acceptance of the Microsoft Customer Agreement; needed before
    /// any new-commerce purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<Agreement>,
    /// Adopt an existing customer with this tenant id instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(GUID_PATTERN))]
    pub tenant_id: Option<String>,
}

/// Partner Center's billing profile of a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Billing {
    #[schemars(pattern(EMAIL_PATTERN))]
    pub email: String,
    /// e.g. `en-US`.
    #[schemars(pattern(CULTURE_PATTERN))]
    pub culture: String,
    /// Two-letter language code, e.g. `en`.
    #[schemars(pattern(LANGUAGE_PATTERN))]
    pub language: String,
    pub address: Address,
}

/// A postal address (Partner Center's `defaultAddress`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    #[schemars(length(min = 1, max = 50))]
    pub first_name: String,
    #[schemars(length(min = 1, max = 50))]
    pub last_name: String,
    #[schemars(length(min = 1, max = 200))]
    pub address_line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub address_line2: Option<String>,
    #[schemars(length(min = 1, max = 100))]
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub state: Option<String>,
    #[schemars(length(min = 1, max = 20))]
    pub postal_code: String,
    /// ISO 3166 two-letter country code.
    #[schemars(pattern(COUNTRY_PATTERN))]
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 30))]
    pub phone_number: Option<String>,
}

/// Microsoft Customer Agreement acceptance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Agreement {
    /// The person at the customer who accepted the agreement.
    pub contact: Contact,
    /// When they accepted it: `YYYY-MM-DD` or an RFC 3339 date-time.
    #[schemars(pattern(DATE_PATTERN))]
    pub date_agreed: String,
}

/// A person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Contact {
    #[schemars(length(min = 1, max = 50))]
    pub first_name: String,
    #[schemars(length(min = 1, max = 50))]
    pub last_name: String,
    #[schemars(pattern(EMAIL_PATTERN))]
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 30))]
    pub phone_number: Option<String>,
}

/// Commitment term.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum TermDuration {
    P1M,
    P1Y,
    P3Y,
}

impl TermDuration {
    /// The ISO 8601 duration Partner Center writes (`P1Y`), for a query string.
    pub fn as_iso(self) -> &'static str {
        match self {
            TermDuration::P1M => "P1M",
            TermDuration::P1Y => "P1Y",
            TermDuration::P3Y => "P3Y",
        }
    }
}

/// How often the customer is billed.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BillingCycle {
    Monthly,
    Annual,
    Triennial,
}

/// Desired lifecycle state of a subscription.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DesiredStatus {
    #[default]
    Active,
    Suspended,
    /// Ended: new commerce cancels inside the 7-day window after purchase or
    /// renewal and otherwise turns auto-renew off, so the subscription ends with
    /// its term; legacy subscriptions are suspended (their documented cancel).
    Cancelled,
}

/// When a change new commerce restricts takes effect.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Effective {
    /// Immediately, or not at all: outside the cancellation window a seat decrease
    /// or cancellation is a plan error naming the date it becomes possible.
    Now,
    /// At the next renewal, even inside the window.
    Renewal,
}

fn default_true() -> bool {
    true
}

/// A subscription, bought through an order the first time it is applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// Name of the Customer.
    pub customer: String,
    /// New-commerce catalog item `PRODUCT:SKU[:AVAILABILITY]` (e.g.
    /// `CFQ7TTC0LH18:0001:CFQ7TTC0K5DM`) or a legacy offer GUID.
    #[schemars(pattern(OFFER_PATTERN))]
    pub offer_id: String,
    /// Number of licenses, at least 1.
    #[schemars(range(min = 1, max = 1_000_000))]
    pub quantity: u32,
    /// Commitment term. Required to buy; a subscription adopted with `id` may
    /// leave it out, and then cspctl does not manage it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_duration: Option<TermDuration>,
    /// Billing cycle. Required to buy; a subscription adopted with `id` may leave
    /// it out, and then cspctl does not manage it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_cycle: Option<BillingCycle>,
    #[serde(default = "default_true")]
    pub auto_renew: bool,
    #[serde(default)]
    pub status: DesiredStatus,
    /// New commerce: when fewer seats, another term or billing cycle, or a
    /// cancellation take effect. Default: at once where Partner Center allows it
    /// (inside the 7-day window after purchase or renewal), else scheduled for the
    /// renewal (a cancellation: auto-renew off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<Effective>,
    /// New commerce, at purchase: end the first term on the day the current term
    /// of another Subscription (its name; same customer, new commerce, already
    /// bought) ends, so both renew together (coterminosity: Partner Center's
    /// `customTermEndDate`, checked against its allowed custom term end dates).
    /// Only the purchase uses it: later terms run their full length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_end_aligned_with: Option<String>,
    /// Name of the Reseller of record (its MPN ID is sent as `partnerIdOnRecord`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reseller: Option<String>,
    /// The subscription's name in Partner Center; with the customer, its identity.
    /// Defaults to `metadata.name`. Renaming it means a different subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub friendly_name: Option<String>,
    /// Adopt the existing subscription with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(GUID_PATTERN))]
    pub id: Option<String>,
}

impl SubscriptionSpec {
    /// New-commerce offers are catalog item ids; legacy offers are GUIDs.
    pub fn is_new_commerce(&self) -> bool {
        is_new_commerce_offer(&self.offer_id)
    }
}

/// True for a new-commerce catalog item id (`PRODUCT:SKU[:AVAILABILITY]`).
pub fn is_new_commerce_offer(offer_id: &str) -> bool {
    offer_id.contains(':')
}

/// Whether two offer ids name the same offer: equal ignoring case, or for new
/// commerce the same `PRODUCT:SKU` (Partner Center's order lines may name the
/// catalog item with or without its availability).
pub fn same_offer(a: &str, b: &str) -> bool {
    let product_sku = |offer: &str| -> Option<String> {
        let mut parts = offer.split(':');
        let (product, sku) = (parts.next()?, parts.next()?);
        Some(format!("{product}:{sku}").to_ascii_lowercase())
    };
    a.eq_ignore_ascii_case(b)
        || (is_new_commerce_offer(a)
            && is_new_commerce_offer(b)
            && product_sku(a) == product_sku(b))
}

/// Makes a reseller the designated support contact of a subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SupportContactSpec {
    /// Name of the Subscription (a legacy one: new commerce does not support this).
    pub subscription: String,
    /// Name of the Reseller.
    pub reseller: String,
}
