//! The simulated Partner Center: its data and its business rules.
//!
//! Pure and synchronous: no I/O, no clock (every operation takes `now` in unix
//! seconds), no randomness (ids come from a seeded splitmix64 counter stored in the
//! state). The HTTP layer parses requests, calls one operation, and serializes what
//! it returns. The rules are written from `shared/design/partner-center-api.md`,
//! independently of cspctl's planner, validation and local backend, which this module
//! must never call: two independent readings of the documentation catch each other's
//! mistakes. Where the documentation is silent the choice is listed under "Choices"
//! in `docs/simulator.md` and marked "choice" here.
//!
//! The state is also the data model of cspctl's local backend, so a tenant of tens of
//! thousands of customers must stay fast: the serialized vectors are the truth, and
//! an [`Index`] beside them (never serialized, rebuilt on first use after loading or
//! after a removal) answers every lookup by id, every per-customer list and every
//! "what is due" question of [`State::settle`] without scanning the tenant.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clock::{add_months, format_rfc3339, parse_rfc3339};
use super::input::fold_enum;
use crate::ids::{format_guid, splitmix64};

/// New commerce allows cancellation and seat decreases for 7 days after purchase.
pub const CANCELLATION_WINDOW_SECONDS: i64 = 7 * 86_400;
/// Carts expire 7 days after creation.
const CART_LIFETIME_SECONDS: i64 = 7 * 86_400;
/// Sandbox providers may have at most 5 indirect resellers.
pub const SANDBOX_RESELLER_LIMIT: usize = 5;
/// The Microsoft Customer Agreement template the simulator offers.
pub const MCA_TEMPLATE_ID: &str = "117a77b0-9360-443b-8795-c6dedc750cf9";
const MCA: &str = "MicrosoftCustomerAgreement";
const MCA_LINK: &str = "https://aka.ms/microsoftcustomeragreement";
/// Countries that require `organizationRegistrationNumber` and a phone number.
const REGISTRATION_COUNTRIES: [&str; 24] = [
    "AM", "AZ", "BY", "HU", "KZ", "KG", "MD", "RU", "TJ", "UZ", "UA", "IN", "BR", "ZA", "PL", "AE",
    "SA", "TR", "TH", "VN", "MM", "IQ", "SS", "VE",
];
/// Largest seat count the simulator accepts on a line (choice; Partner Center's
/// limits vary per offer).
const MAX_QUANTITY: i64 = 10_000;
/// Idempotency entries live 24 hours of simulated time. UNCONFIRMED: the headers
/// page (learn.microsoft.com/partner-center/developer/headers) asks for the same
/// `MS-RequestId` on a retry after a timeout and a new one after any answer, and
/// names no window; 24 hours is the simulator's choice (docs/simulator.md,
/// "Repeated request ids").
pub const IDEMPOTENCY_SECONDS: i64 = 86_400;
/// The error code of a change refused because subscriptions are still active
/// (choice; the documentation names the precondition, not its error).
pub const ACTIVE_SUBSCRIPTIONS_CODE: u32 = 800100;

/// A Partner Center error: HTTP status, numeric code and description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: u32,
    pub description: String,
}

impl ApiError {
    pub fn new(status: u16, code: u32, description: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            description: description.into(),
        }
    }

    /// 409/1003: the tenant, domain or MPN id is already taken.
    pub fn already_exists(description: impl Into<String>) -> ApiError {
        ApiError::new(409, 1003, description)
    }

    pub fn forbidden(code: u32, description: impl Into<String>) -> ApiError {
        ApiError::new(403, code, description)
    }

    pub fn not_found(code: u32, description: impl Into<String>) -> ApiError {
        ApiError::new(404, code, description)
    }

    pub fn bad_request(code: u32, description: impl Into<String>) -> ApiError {
        ApiError::new(400, code, description)
    }

    /// The documented error body.
    pub fn body(&self) -> Value {
        json!({"code": self.code, "description": self.description, "data": [], "source": "PartnerFD"})
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The indirect provider the simulator plays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Partner {
    pub tenant_id: String,
    pub mpn_id: String,
    pub name: String,
}

/// An indirect reseller related to the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reseller {
    pub tenant_id: String,
    pub mpn_id: String,
    pub name: String,
    #[serde(default)]
    pub location: String,
    /// The tenant's `{domainPrefix}.onmicrosoft.com` domain (sandbox-created
    /// resellers; it is then taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The answer `POST /v1/sandboxIndirectReseller` gave when it created this
    /// reseller; the same request again (same `domainPrefix` and `mpnId`) gets it
    /// back ("this API is idempotent").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_answer: Option<Value>,
}

impl Reseller {
    /// A reseller known by tenant id, MPN id, name and location only.
    pub fn new(tenant_id: &str, mpn_id: &str, name: &str, location: &str) -> Reseller {
        Reseller {
            tenant_id: tenant_id.to_owned(),
            mpn_id: mpn_id.to_owned(),
            name: name.to_owned(),
            location: location.to_owned(),
            domain: None,
            sandbox_answer: None,
        }
    }
}

/// An Entra tenant that exists but is not (yet) a customer of the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub domain: String,
    pub company_name: String,
}

/// A postal address with its contact (the billing profile's `defaultAddress`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// The customer's billing profile (input and stored form).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BillingProfile {
    pub email: Option<String>,
    pub culture: Option<String>,
    pub language: Option<String>,
    pub company_name: Option<String>,
    pub default_address: Option<Address>,
}

/// A recorded MCA attestation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    pub primary_contact: Contact,
    pub template_id: String,
    pub date_agreed: String,
    pub user_id: String,
}

/// A person (agreement primary contact).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Contact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// A customer of the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: String,
    pub domain: String,
    pub company_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_registration_number: Option<String>,
    pub billing_profile_id: String,
    pub billing: BillingProfile,
    /// Bumped on every billing-profile change; the etag is derived from it.
    pub billing_version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_partner_id: Option<String>,
    /// Tenant ids of the resellers related to this customer (sorted).
    #[serde(default)]
    pub reseller_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agreements: Vec<Agreement>,
    pub created_at: i64,
    /// The provider removed its reseller relationship (`relationshipToPartner:
    /// "none"`): still listed and readable, no longer changeable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub relationship_removed: bool,
}

/// Seat billing cadence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cycle {
    Monthly,
    Annual,
    Triennial,
}

impl Cycle {
    /// Parses snake_case or PascalCase; `one_time`/`none` are not license billing.
    pub fn parse(text: &str) -> Option<Cycle> {
        match fold_enum(text).as_str() {
            "monthly" => Some(Cycle::Monthly),
            "annual" => Some(Cycle::Annual),
            "triennial" => Some(Cycle::Triennial),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cycle::Monthly => "monthly",
            Cycle::Annual => "annual",
            Cycle::Triennial => "triennial",
        }
    }
}

/// Commitment term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Term {
    P1M,
    P1Y,
    P3Y,
}

impl Term {
    pub fn parse(text: &str) -> Option<Term> {
        match text.to_ascii_uppercase().as_str() {
            "P1M" => Some(Term::P1M),
            "P1Y" => Some(Term::P1Y),
            "P3Y" => Some(Term::P3Y),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Term::P1M => "P1M",
            Term::P1Y => "P1Y",
            Term::P3Y => "P3Y",
        }
    }

    fn months(self) -> i64 {
        match self {
            Term::P1M => 1,
            Term::P1Y => 12,
            Term::P3Y => 36,
        }
    }

    /// Billing cycles that fit the term (choice): a cycle may not be longer than the
    /// term, so P1M bills monthly; P1Y monthly or annual; P3Y any of the three.
    pub fn allows(self, cycle: Cycle) -> bool {
        matches!(
            (self, cycle),
            (_, Cycle::Monthly)
                | (Term::P1Y | Term::P3Y, Cycle::Annual)
                | (Term::P3Y, Cycle::Triennial)
        )
    }
}

/// Subscription lifecycle status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Active,
    Suspended,
    Deleted,
    /// The term ended without auto-renew (subscription-resources.md lists
    /// `expired` among the statuses).
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Deleted => "deleted",
            Status::Expired => "expired",
        }
    }
}

/// A subscription (one per purchased line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub customer_id: String,
    pub order_id: String,
    pub offer_id: String,
    pub friendly_name: String,
    pub quantity: i64,
    pub term: Term,
    pub billing_cycle: Cycle,
    pub status: Status,
    pub auto_renew_enabled: bool,
    /// MPN id of the reseller of record; empty when none.
    pub partner_id: String,
    pub created_at: i64,
    pub version: u64,
    /// `(tenant id, MPN id, name)` of the designated support contact; `None` = the
    /// provider (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_contact: Option<(String, String, String)>,
    /// A change accepted with 202 (the `accepted-patch` variant), applied once the
    /// simulated clock reaches its `applyAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_change: Option<SubscriptionChange>,
    /// When the current term began: `None` is the purchase (`created_at`); a
    /// renewal sets it to the renewal's instant. Absent from state files written
    /// before terms were kept, which then read as "never renewed".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_start: Option<i64>,
    /// `scheduledNextTermInstructions`: what the next renewal applies
    /// (learn.microsoft.com/partner-center/developer/create-scheduled-changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_term: Option<NextTerm>,
    /// The first term's last day (00:00 UTC) when the purchase set a custom
    /// term end date (the cart line's `customTermEndDate`, coterminosity);
    /// later terms run in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_term_end: Option<i64>,
}

/// A new-commerce subscription's scheduled next-term instructions: the product
/// (`productId:skuId:availabilityId`), its billing cycle and term, and the seats.
/// Applied by the renewal, then cleared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextTerm {
    pub offer_id: String,
    pub term: Term,
    pub billing_cycle: Cycle,
    pub quantity: i64,
}

impl NextTerm {
    /// The documented JSON shape (create-scheduled-changes; the software-subscription
    /// billing-frequency page's example): `product` {`productId`, `skuId`,
    /// `availabilityId`, `billingCycle`, `termDuration`} and `quantity`.
    pub fn to_json(&self) -> Value {
        let mut parts = self.offer_id.splitn(3, ':');
        let (product, sku, availability) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        json!({
            "product": {
                "productId": product, "skuId": sku, "availabilityId": availability,
                "billingCycle": self.billing_cycle.as_str(), "termDuration": self.term.as_str(),
            },
            "quantity": self.quantity,
        })
    }
}

/// The values a subscription PATCH sets (applied at once, or at `apply_at` when the
/// PATCH was answered 202).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionChange {
    pub apply_at: i64,
    pub status: Status,
    pub quantity: i64,
    pub friendly_name: String,
    pub auto_renew_enabled: bool,
    pub partner_id: String,
    pub billing_cycle: Cycle,
    /// The scheduled next-term instructions once the change is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_term: Option<NextTerm>,
}

/// How a checkout answers (the `split-checkout` and `pending-checkout` variants).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckoutShape {
    /// One order per cart line, the `orders` array in reverse line order.
    pub split: bool,
    /// Orders answered `pending`, their lines without `subscriptionId`.
    pub pending: bool,
}

impl Subscription {
    /// When the current term began (the purchase, or the last renewal).
    pub fn term_start(&self) -> i64 {
        self.term_start.unwrap_or(self.created_at)
    }

    /// When the subscription renews (or, without auto-renew, expires): 00:00 UTC
    /// on the day after the term's last day. create-scheduled-changes: "Renewals
    /// start at 12:00 AM UTC on the day following the last day of the term"; the
    /// documented example's term from 2021-09-14T16:44 for P3Y ends
    /// (`commitmentEndDate`) 2024-09-13T00:00:00Z, so the last day is the one
    /// before the start's calendar day, `term` later.
    pub fn renewal_at(&self) -> i64 {
        if let (None, Some(last_day)) = (self.term_start, self.first_term_end) {
            // A first term cut to a custom end date: it renews the day after.
            return last_day + 86_400;
        }
        let end = add_months(self.term_start(), self.term.months());
        end - end.rem_euclid(86_400)
    }

    /// The term's last day (`commitmentEndDate`), at 00:00 UTC as documented.
    pub fn commitment_end(&self) -> i64 {
        self.renewal_at() - 86_400
    }

    /// The end of the new-commerce cancellation window: 168 hours after the
    /// purchase or the last renewal (cancel-an-azure-marketplace-subscription:
    /// "can be canceled within 7 days ... of purchase or renewal").
    pub fn window_end(&self) -> i64 {
        self.term_start() + CANCELLATION_WINDOW_SECONDS
    }

    /// New commerce offers are catalog ids `product:sku:availability`.
    pub fn is_new_commerce(&self) -> bool {
        self.offer_id.contains(':')
    }

    fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// One purchased line of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub line_item_number: i64,
    pub offer_id: String,
    pub subscription_id: String,
    pub term: Term,
    pub quantity: i64,
    pub friendly_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id_on_record: Option<String>,
}

/// An order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: String,
    pub customer_id: String,
    pub billing_cycle: Cycle,
    pub created_at: i64,
    /// When provisioning completes (creation + provisioning delay).
    pub ready_at: i64,
    pub completed: bool,
    pub line_items: Vec<OrderLine>,
}

/// A cart line as stored (and echoed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    pub id: i64,
    pub catalog_item_id: String,
    pub quantity: i64,
    pub billing_cycle: String,
    pub term_duration: String,
    pub friendly_name: String,
    pub participants: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<(u32, String)>,
    /// `customTermEndDate`: the first term's last day (00:00 UTC), checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_term_end: Option<i64>,
}

/// A cart; `checkout` records the first checkout so a second checkout returns the
/// same answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    pub id: String,
    pub customer_id: String,
    pub created_at: i64,
    pub modified_at: i64,
    pub line_items: Vec<CartLine>,
    #[serde(default)]
    pub checkout: Option<CheckoutRecord>,
}

/// What a cart keeps of its first checkout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CheckoutRecord {
    /// The orders it created: the answer is rebuilt from them and the cart's lines
    /// (an answer kept whole would carry every order twice in memory and in the
    /// state file).
    Orders(CheckoutOrders),
    /// The whole answer, as files written before [`CheckoutOrders`] hold it (and as
    /// a cart keeps it once one of its orders changed, see [`State::patch_order`]).
    Answer(Value),
}

/// The orders a checkout created, enough to answer it again byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckoutOrders {
    /// In the answer's order (reversed line order in the `split-checkout` shape).
    pub order_ids: Vec<String>,
    /// Answered in the `pending-checkout` shape.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// An issued access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessToken {
    pub token: String,
    pub app_user: bool,
    pub expires_at: i64,
}

/// An answer body kept as its JSON text: a cache of hundreds of thousands of
/// answers costs their text, not a tree of values each (several times more memory).
/// Written into the state file as the JSON it is.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CachedBody(Box<serde_json::value::RawValue>);

impl CachedBody {
    pub fn of(value: &Value) -> CachedBody {
        // A `Value` always serializes, and its text is valid JSON.
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
        CachedBody(
            serde_json::value::RawValue::from_string(text)
                .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned()),
        )
    }

    /// The body as a value again.
    pub fn value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }
}

impl PartialEq for CachedBody {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// The cached answer to a mutating request with a client-sent `MS-RequestId`, kept in
/// the state file so a restarted simulator still replays it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    pub request_id: String,
    pub method: String,
    /// Lowercased request path.
    pub path: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<CachedBody>,
    /// Headers the answer carried besides the standard ones (`Location` of a 202).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// The answer was given with a byte-order mark (the `bom` variant).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bom: bool,
    /// The answer was given with PascalCase keys (the `pascal-case` variant).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pascal_case: bool,
    /// When it was answered (simulated unix seconds).
    pub at: i64,
}

/// Partner Center's sandbox quota of indirect resellers per provider.
fn default_reseller_limit() -> Option<usize> {
    Some(SANDBOX_RESELLER_LIMIT)
}

/// The whole simulated world; serialized as the state file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub format_version: u32,
    /// How many times cspctl's local backend has written this state file; its
    /// journal applies to one revision only (`backend/local/journal.rs`). Zero in a
    /// file the simulator wrote.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u64,
    pub partner: Partner,
    pub sandbox: bool,
    pub id_seed: u64,
    pub id_counter: u64,
    #[serde(default)]
    pub clock_offset_seconds: i64,
    /// How many indirect resellers the sandbox allows (Partner Center's: 5, the
    /// default); `None` turns the quota off, so that realistic manifests can be
    /// rehearsed. A setting of the run, not of the tenant: the command line wins.
    #[serde(default = "default_reseller_limit")]
    pub sandbox_reseller_limit: Option<usize>,
    #[serde(default)]
    pub resellers: Vec<Reseller>,
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    #[serde(default)]
    pub customers: Vec<Customer>,
    #[serde(default)]
    pub carts: Vec<Cart>,
    #[serde(default)]
    pub orders: Vec<Order>,
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    #[serde(default)]
    pub access_tokens: Vec<AccessToken>,
    #[serde(default)]
    pub refresh_tokens: Vec<String>,
    /// Cached answers by `(MS-RequestId, method, path)`, oldest first; absent in
    /// files written before it was persisted.
    #[serde(default)]
    pub idempotency: Vec<Replay>,
    /// Every change, for `GET /v1/auditrecords` (recorded by the HTTP layer, see
    /// [`super::audit`]); absent in files written before it existed.
    #[serde(default, skip_serializing_if = "super::audit::AuditLog::is_empty")]
    pub audit: super::audit::AuditLog,
    /// Derived from the vectors above; code outside this module that changes them
    /// directly must call [`State::reindex`].
    #[serde(skip)]
    index: LazyIndex,
}

// ---- index ---------------------------------------------------------------------------

/// A hasher for keys that are already hashes ([`key_hash`]).
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; anything else still hashes deterministically.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// The hash of some strings, ASCII case folded: ids compare case-insensitively.
fn key_hash(parts: &[&str]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    let mut buffer = [0_u8; 64];
    for part in parts {
        for chunk in part.as_bytes().chunks(buffer.len()) {
            let folded = &mut buffer[..chunk.len()];
            folded.copy_from_slice(chunk);
            folded.make_ascii_lowercase();
            hasher.write(folded);
        }
        // A separator no UTF-8 text contains, so ("ab", "c") and ("a", "bc") differ.
        hasher.write_u8(0xff);
    }
    hasher.finish()
}

/// The first position of each key in a vector, by the key's hash: a hash holds a
/// single position, so a lookup checks the item it finds and, in the rare case it is
/// another key with the same hash (or a duplicate id the lookup's extra condition
/// rejects), falls back to a scan. Keys are never missed: an item whose key hashes
/// to no position does not exist.
#[derive(Clone, Default)]
struct FirstByKey(HashMap<u64, usize, BuildHasherDefault<Prehashed>>);

impl FirstByKey {
    /// Records `position` (positions are added in increasing order).
    fn add(&mut self, key: &[&str], position: usize) {
        self.0.entry(key_hash(key)).or_insert(position);
    }

    /// The first item with `key` that `matches` (which must imply the key is equal,
    /// case-insensitively).
    fn find<T>(&self, items: &[T], key: &[&str], matches: impl Fn(&T) -> bool) -> Option<usize> {
        let position = *self.0.get(&key_hash(key))?;
        match items.get(position) {
            Some(item) if matches(item) => Some(position),
            _ => items.iter().position(matches),
        }
    }
}

/// Lookups over the state's vectors. Positions are indexes into them; anything that
/// removes from a vector (rare: sandbox deletions, a tenant becoming a customer)
/// drops the whole index, which is rebuilt on next use.
#[derive(Clone, Default)]
struct Index {
    customers: FirstByKey,
    customer_domains: FirstByKey,
    tenants: FirstByKey,
    tenant_domains: FirstByKey,
    resellers: FirstByKey,
    reseller_mpns: FirstByKey,
    reseller_domains: FirstByKey,
    carts: FirstByKey,
    orders: FirstByKey,
    subscriptions: FirstByKey,
    /// Per customer position: its orders' positions, in creation order.
    orders_of_customer: Vec<Vec<usize>>,
    /// Per customer position: its subscriptions' positions, in creation order.
    subscriptions_of_customer: Vec<Vec<usize>>,
    /// Per order position: its subscriptions' positions.
    subscriptions_of_order: Vec<Vec<usize>>,
    /// The cart whose [`CheckoutOrders`] names an order, by order id.
    checkout_of_order: FirstByKey,
    /// Orders not completed yet, by `(ready_at, position)`.
    unsettled: BTreeSet<(i64, usize)>,
    /// Subscriptions with an accepted change, by `(apply_at, position)`.
    pending_changes: BTreeSet<(i64, usize)>,
    /// Subscriptions by `(renewal_at, position)`: when each current term ends.
    renewals: BTreeSet<(i64, usize)>,
    /// Cached answers by `(request id, method, path)`.
    replays: FirstByKey,
    /// The `at` of the oldest cached answer.
    oldest_replay: Option<i64>,
    /// How many access tokens [`Index::earliest_token_expiry`] was computed over
    /// (tokens are added outside this module, by the token endpoint).
    tokens_seen: usize,
    earliest_token_expiry: Option<i64>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Derived data: what it holds is the state itself, printed beside it.
        f.write_str("Index { .. }")
    }
}

impl Index {
    fn build(state: &State) -> Index {
        let mut index = Index::default();
        for (position, reseller) in state.resellers.iter().enumerate() {
            index.add_reseller(reseller, position);
        }
        for (position, tenant) in state.tenants.iter().enumerate() {
            index.add_tenant(tenant, position);
        }
        for (position, customer) in state.customers.iter().enumerate() {
            index.add_customer(customer, position);
        }
        for (position, cart) in state.carts.iter().enumerate() {
            index.add_cart(cart, position);
        }
        for (position, order) in state.orders.iter().enumerate() {
            let owner = index.owner(&state.customers, &order.customer_id);
            index.add_order(order, position, owner);
        }
        for (position, sub) in state.subscriptions.iter().enumerate() {
            let owner = index.owner(&state.customers, &sub.customer_id);
            let order = index
                .orders
                .find(&state.orders, &[&sub.order_id], |o| o.id == sub.order_id);
            index.add_subscription(sub, position, owner, order);
        }
        index.rebuild_replays(&state.idempotency);
        index
    }

    /// The position of the customer whose id is exactly `customer_id` (what
    /// orders and subscriptions store).
    fn owner(&self, customers: &[Customer], customer_id: &str) -> Option<usize> {
        self.customers
            .find(customers, &[customer_id], |c| c.id == customer_id)
    }

    fn add_reseller(&mut self, reseller: &Reseller, position: usize) {
        self.resellers.add(&[&reseller.tenant_id], position);
        self.reseller_mpns.add(&[&reseller.mpn_id], position);
        if let Some(domain) = &reseller.domain {
            self.reseller_domains.add(&[domain], position);
        }
    }

    fn add_tenant(&mut self, tenant: &Tenant, position: usize) {
        self.tenants.add(&[&tenant.id], position);
        self.tenant_domains.add(&[&tenant.domain], position);
    }

    fn add_customer(&mut self, customer: &Customer, position: usize) {
        self.customers.add(&[&customer.id], position);
        self.customer_domains.add(&[&customer.domain], position);
        self.orders_of_customer.push(Vec::new());
        self.subscriptions_of_customer.push(Vec::new());
    }

    fn add_cart(&mut self, cart: &Cart, position: usize) {
        self.carts.add(&[&cart.id], position);
        if let Some(CheckoutRecord::Orders(record)) = &cart.checkout {
            for order_id in &record.order_ids {
                self.checkout_of_order.add(&[order_id], position);
            }
        }
    }

    fn add_order(&mut self, order: &Order, position: usize, owner: Option<usize>) {
        self.orders.add(&[&order.id], position);
        if let Some(list) = owner.and_then(|c| self.orders_of_customer.get_mut(c)) {
            list.push(position);
        }
        self.subscriptions_of_order.push(Vec::new());
        if !order.completed {
            self.unsettled.insert((order.ready_at, position));
        }
    }

    fn add_subscription(
        &mut self,
        sub: &Subscription,
        position: usize,
        owner: Option<usize>,
        order: Option<usize>,
    ) {
        self.subscriptions.add(&[&sub.id], position);
        if let Some(list) = owner.and_then(|c| self.subscriptions_of_customer.get_mut(c)) {
            list.push(position);
        }
        if let Some(list) = order.and_then(|o| self.subscriptions_of_order.get_mut(o)) {
            list.push(position);
        }
        if let Some(change) = &sub.pending_change {
            self.pending_changes.insert((change.apply_at, position));
        }
        if !matches!(sub.status, Status::Deleted | Status::Expired) {
            self.renewals.insert((sub.renewal_at(), position));
        }
    }

    fn add_replay(&mut self, replay: &Replay, position: usize) {
        self.replays.add(
            &[&replay.request_id, &replay.method, &replay.path],
            position,
        );
        self.oldest_replay = Some(self.oldest_replay.map_or(replay.at, |t| t.min(replay.at)));
    }

    fn rebuild_replays(&mut self, replays: &[Replay]) {
        self.replays = FirstByKey::default();
        self.oldest_replay = None;
        for (position, replay) in replays.iter().enumerate() {
            self.add_replay(replay, position);
        }
    }
}

/// The index, built on first use: a state fresh from serde has none, and every
/// path to a state (a file, a seed, a clone) then works without a step to remember.
#[derive(Clone, Debug, Default)]
struct LazyIndex(OnceLock<Index>);

impl PartialEq for LazyIndex {
    /// Derived data: two states with the same vectors are equal.
    fn eq(&self, _: &LazyIndex) -> bool {
        true
    }
}

/// A billing address in a country that needs a phone number (the countries of the
/// registration number) must carry one: 400/600051, error-codes.md "Customer phone
/// number is missing", on creation and on a billing profile update alike.
fn check_phone(address: &Address) -> ApiResult<()> {
    let country = address
        .country
        .as_deref()
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase();
    if REGISTRATION_COUNTRIES.contains(&country.as_str())
        && !nonempty(address.phone_number.as_ref())
    {
        return Err(ApiError::bad_request(
            600051,
            format!(
                "Customer phone number is missing: billingProfile.defaultAddress.phoneNumber is required for country {country}"
            ),
        ));
    }
    Ok(())
}

/// A legacy order (`POST …/orders`) or its billing-cycle change (`PATCH
/// …/orders/{id}`) asking for a billing cycle its term does not offer: 400/6001,
/// error-codes.md "The billing cycle could not be changed because one of the
/// order's Offer IDs does not support the billing term". The change answers that
/// documented description; the purchase answers the same code with the same
/// sentence about a purchase (choice, UNCONFIRMED: the table names the code for a
/// change only, and no page shows what a purchase gets; 3000, "invalid property",
/// was the alternative, but it says nothing of the term). New commerce answers
/// 10010 on the cart line (`cart_lines`) and the subscription PATCH.
pub const CYCLE_NOT_OFFERED_CODE: u32 = 6001;

fn cycle_not_offered(offer: &str, cycle: Cycle, term: Term, change: bool) -> ApiError {
    let what = if change {
        "The billing cycle could not be changed"
    } else {
        "The order could not be placed"
    };
    ApiError::bad_request(
        CYCLE_NOT_OFFERED_CODE,
        format!(
            "{what} because one of the order's Offer IDs does not support the billing term: offer {offer} with term {} is not billed {}",
            term.as_str(),
            cycle.as_str()
        ),
    )
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn eq_id(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn nonempty(value: Option<&String>) -> bool {
    value.is_some_and(|v| !v.trim().is_empty())
}

/// The required properties a request left out or left blank, named as Partner
/// Center names them, in the order it lists them; any at all is 400/3000.
#[derive(Default)]
struct Missing(Vec<String>);

impl Missing {
    fn need(&mut self, name: &str, present: bool) {
        if !present {
            self.0.push(name.to_owned());
        }
    }

    /// Each of `fields` (`prefix.name`) must be a non-blank text.
    fn texts(&mut self, prefix: &str, fields: &[(&str, &Option<String>)]) {
        for (name, value) in fields {
            self.need(&format!("{prefix}.{name}"), nonempty(value.as_ref()));
        }
    }

    fn check(self) -> ApiResult<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let names = self.0.join(", ");
        Err(ApiError::bad_request(
            3000,
            format!("Required properties are missing: {names}"),
        ))
    }
}

/// Input of `POST /v1/customers`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomerInput {
    pub company_profile: CompanyProfileInput,
    pub billing_profile: BillingProfile,
    pub associated_partner_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CompanyProfileInput {
    pub domain: Option<String>,
    pub organization_registration_number: Option<String>,
    pub company_name: Option<String>,
}

/// Input of `POST /v1/customers/{id}/agreements`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgreementInput {
    pub primary_contact: Contact,
    pub template_id: Option<String>,
    pub date_agreed: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Input of a cart (create and PUT).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CartInput {
    pub line_items: Vec<CartLineInput>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CartLineInput {
    pub id: Option<i64>,
    pub catalog_item_id: Option<String>,
    pub quantity: Option<i64>,
    pub billing_cycle: Option<String>,
    pub term_duration: Option<String>,
    pub friendly_name: Option<String>,
    pub participants: Vec<KeyValue>,
    /// cart-resources: "The end date of the first billing term of the new
    /// subscription" (DateTime).
    pub custom_term_end_date: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// Input of `POST /v1/customers/{id}/orders` and `PATCH …/orders/{id}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderInput {
    pub reference_customer_id: Option<String>,
    pub billing_cycle: Option<String>,
    pub line_items: Vec<OrderLineInput>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderLineInput {
    pub line_item_number: Option<i64>,
    pub offer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub term_duration: Option<String>,
    pub quantity: Option<i64>,
    pub friendly_name: Option<String>,
    pub partner_id_on_record: Option<String>,
    /// A cart line's checked `customTermEndDate` (never read from an order
    /// request: only carts take one here).
    #[serde(skip)]
    pub custom_term_end: Option<i64>,
}

/// Input of `PATCH /v1/customers/{id}` (other properties are ignored).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomerPatch {
    pub relationship_to_partner: Option<String>,
}

/// Input of `PATCH …/subscriptions/{id}` (the full resource; only these fields are
/// read, absent ones are unchanged).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionInput {
    pub quantity: Option<i64>,
    pub friendly_name: Option<String>,
    pub auto_renew_enabled: Option<bool>,
    pub status: Option<String>,
    pub partner_id: Option<String>,
    pub billing_cycle: Option<String>,
    /// `None`: absent (unchanged); `Some(None)`: `null` (remove the scheduled
    /// changes); `Some(Some(_))`: the instructions to schedule.
    #[serde(deserialize_with = "present")]
    pub scheduled_next_term_instructions: Option<Option<Value>>,
    pub attributes: Option<AttributesInput>,
}

/// A field that is present, `null` included (`Some(None)`), versus absent (`None`,
/// by the struct's default).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Value>>, D::Error> {
    Option::<Value>::deserialize(d).map(Some)
}

/// A key of a JSON object in camelCase or PascalCase (Partner Center's examples
/// use both).
fn key<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        let mut pascal = name[..1].to_ascii_uppercase();
        pascal.push_str(&name[1..]);
        object.get(&pascal)
    })
}

/// Reads `scheduledNextTermInstructions` (the documented shape: `product`
/// {`productId`, `skuId`, `availabilityId`, `billingCycle`, `termDuration`},
/// `quantity`); 400/3000 for anything else.
fn parse_next_term(value: &Value) -> ApiResult<NextTerm> {
    let bad =
        |what: &str| ApiError::bad_request(3000, format!("scheduledNextTermInstructions: {what}"));
    let product = key(value, "product").ok_or_else(|| bad("`product` is required"))?;
    let text = |name: &str| {
        key(product, name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad(&format!("`product.{name}` is required")))
    };
    let offer_id = format!(
        "{}:{}:{}",
        text("productId")?,
        text("skuId")?,
        text("availabilityId")?
    );
    let term = Term::parse(text("termDuration")?)
        .ok_or_else(|| bad("`product.termDuration` is not P1M, P1Y or P3Y"))?;
    let billing_cycle = Cycle::parse(text("billingCycle")?)
        .ok_or_else(|| bad("`product.billingCycle` is not a billing cycle"))?;
    let quantity = key(value, "quantity")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("`quantity` is required"))?;
    Ok(NextTerm {
        offer_id,
        term,
        billing_cycle,
        quantity,
    })
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AttributesInput {
    pub etag: Option<String>,
}

/// Input of `PUT …/supportcontact`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SupportContactInput {
    pub support_tenant_id: Option<String>,
    pub support_mpn_id: Option<String>,
    pub name: Option<String>,
}

/// Input of `POST /v1/sandboxIndirectReseller` (create-indirect-reseller-in-sandbox.md);
/// every property is required except inside `address` and `primaryContact`, where
/// the simulator asks for what the documented example fills in (see
/// [`State::create_sandbox_reseller`]).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SandboxResellerInput {
    pub mpn_id: Option<String>,
    pub tenant: Option<SandboxTenantInput>,
    pub legal_business_profile: Option<SandboxLegalInput>,
    /// A string in the example (`"en"`), a dictionary in the table: any non-empty
    /// value is accepted.
    pub organization_profile_language: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SandboxTenantInput {
    pub domain_prefix: Option<String>,
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub admin_user_name: Option<String>,
    pub admin_first_name: Option<String>,
    pub admin_last_name: Option<String>,
    /// The page's table spells it `adminAlernateEmail`, its example
    /// `adminAlternateEmail`; both are read.
    #[serde(alias = "adminAlernateEmail")]
    pub admin_alternate_email: Option<String>,
    pub country: Option<String>,
    pub culture: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SandboxLegalInput {
    pub company_name: Option<String>,
    pub address: Option<Address>,
    pub primary_contact: Option<Contact>,
    pub culture: Option<String>,
}

/// The agreement a sandbox reseller signs (the id in the documented example).
pub const RESELLER_AGREEMENT_ID: &str = "1e18c5b2-e42a-4b84-82c8-d0155aa94c6e";

/// A customer-list filter (`Field`, `Value`, `Operator`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomerFilter {
    CompanyName(String),
    Domain(String),
    IndirectReseller(String),
}

/// The seed file: preloaded resellers, tenants, customers and subscriptions.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Seed {
    pub resellers: Vec<Reseller>,
    pub tenants: Vec<Tenant>,
    pub customers: Vec<SeedCustomer>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SeedCustomer {
    pub id: Option<String>,
    pub domain: String,
    pub company_name: String,
    pub country: Option<String>,
    /// Tenant ids of related resellers; the first is the associated partner.
    pub resellers: Vec<String>,
    pub mca_accepted: bool,
    pub subscriptions: Vec<SeedSubscription>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SeedSubscription {
    pub id: Option<String>,
    pub offer_id: String,
    pub quantity: i64,
    pub term_duration: String,
    pub billing_cycle: String,
    pub friendly_name: Option<String>,
    pub partner_id: Option<String>,
    pub status: Option<String>,
    /// Days before the start time the subscription was bought (default 30, i.e.
    /// outside the new-commerce cancellation window).
    pub age_days: Option<i64>,
}

impl State {
    /// An empty world for `partner`.
    pub fn new(partner: Partner, sandbox: bool, id_seed: u64) -> State {
        State {
            format_version: 1,
            revision: 0,
            partner,
            sandbox,
            id_seed,
            id_counter: 0,
            clock_offset_seconds: 0,
            sandbox_reseller_limit: default_reseller_limit(),
            resellers: Vec::new(),
            tenants: Vec::new(),
            customers: Vec::new(),
            carts: Vec::new(),
            orders: Vec::new(),
            subscriptions: Vec::new(),
            access_tokens: Vec::new(),
            refresh_tokens: Vec::new(),
            idempotency: Vec::new(),
            audit: super::audit::AuditLog::default(),
            index: LazyIndex::default(),
        }
    }

    /// A state read from a state file's bytes, its index built at once (a state
    /// deserialized otherwise builds it on first use).
    pub fn from_json_slice(bytes: &[u8]) -> serde_json::Result<State> {
        let state: State = serde_json::from_slice(bytes)?;
        state.index();
        Ok(state)
    }

    /// Drops the index, to be rebuilt from the vectors on next use: after a removal
    /// (positions shift), or after code outside this module changed the vectors.
    pub fn reindex(&mut self) {
        self.index = LazyIndex::default();
    }

    fn index(&self) -> &Index {
        self.index.0.get_or_init(|| Index::build(self))
    }

    /// The index, to update beside a change to the vectors.
    fn index_mut(&mut self) -> &mut Index {
        if self.index.0.get().is_none() {
            self.index = LazyIndex(OnceLock::from(Index::build(self)));
        }
        match self.index.0.get_mut() {
            Some(index) => index,
            None => unreachable!("the index was set just above"),
        }
    }

    /// The next value of the seeded id generator.
    pub fn next_u64(&mut self) -> u64 {
        self.id_counter += 1;
        splitmix64(self.id_seed ^ splitmix64(self.id_counter))
    }

    /// A fresh GUID-shaped id.
    pub fn new_guid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format_guid(a, b, 4)
    }

    /// A fresh opaque token string.
    pub fn new_opaque(&mut self, prefix: &str) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!("{prefix}{a:016x}{b:016x}")
    }

    /// Completes orders whose provisioning delay has passed; their pending
    /// subscriptions become active. Applies accepted changes that are due, and drops
    /// expired access tokens. Called before every request, so it only looks at what
    /// is due (the index keeps orders and changes by time).
    pub fn settle(&mut self, now: i64) {
        self.index_mut();
        let Some(index) = self.index.0.get_mut() else {
            return;
        };
        while let Some(&(ready_at, position)) = index.unsettled.first()
            && ready_at <= now
        {
            index.unsettled.pop_first();
            let Some(order) = self.orders.get_mut(position) else {
                continue;
            };
            order.completed = true;
            for &si in index
                .subscriptions_of_order
                .get(position)
                .into_iter()
                .flatten()
            {
                if let Some(sub) = self.subscriptions.get_mut(si)
                    && sub.order_id == order.id
                    && sub.status == Status::Pending
                {
                    sub.status = Status::Active;
                    sub.version += 1;
                }
            }
        }
        while let Some(&(apply_at, position)) = index.pending_changes.first()
            && apply_at <= now
        {
            index.pending_changes.pop_first();
            if let Some(sub) = self.subscriptions.get_mut(position)
                && let Some(change) = sub.pending_change.take()
            {
                Self::apply_change(sub, &change);
            }
        }
        while let Some(&(renewal_at, position)) = index.renewals.first()
            && renewal_at <= now
        {
            index.renewals.pop_first();
            let Some(sub) = self.subscriptions.get_mut(position) else {
                continue;
            };
            if let Some(next) = Self::renew(sub, renewal_at) {
                index.renewals.insert((next, position));
            }
        }
        // Tokens are added by the token endpoint, outside this module: a new count
        // means the earliest expiry must be looked at again.
        if index.tokens_seen != self.access_tokens.len() {
            index.earliest_token_expiry = self.access_tokens.iter().map(|t| t.expires_at).min();
            index.tokens_seen = self.access_tokens.len();
        }
        if index.earliest_token_expiry.is_some_and(|t| t <= now) {
            self.access_tokens.retain(|t| t.expires_at > now);
            index.earliest_token_expiry = self.access_tokens.iter().map(|t| t.expires_at).min();
            index.tokens_seen = self.access_tokens.len();
        }
    }

    // ---- resellers and tenants -------------------------------------------------

    pub fn reseller_by_tenant(&self, tenant_id: &str) -> Option<&Reseller> {
        let position = self
            .index()
            .resellers
            .find(&self.resellers, &[tenant_id], |r| {
                eq_id(&r.tenant_id, tenant_id)
            })?;
        self.resellers.get(position)
    }

    pub fn reseller_by_mpn(&self, mpn_id: &str) -> Option<&Reseller> {
        let mpn_id = mpn_id.trim();
        let position = self
            .index()
            .reseller_mpns
            .find(&self.resellers, &[mpn_id], |r| r.mpn_id == mpn_id)?;
        self.resellers.get(position)
    }

    /// The sandbox-created reseller whose tenant has `domain`.
    fn reseller_by_domain(&self, domain: &str) -> Option<&Reseller> {
        let position = self
            .index()
            .reseller_domains
            .find(&self.resellers, &[domain], |r| {
                r.domain
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(domain))
            })?;
        self.resellers.get(position)
    }

    /// The position of the first customer with this id (any case).
    fn customer_by_id(&self, id: &str) -> Option<usize> {
        self.index()
            .customers
            .find(&self.customers, &[id], |c| eq_id(&c.id, id))
    }

    /// The position of the first customer with this domain (any case).
    fn customer_by_domain(&self, domain: &str) -> Option<usize> {
        self.index()
            .customer_domains
            .find(&self.customers, &[domain], |c| {
                c.domain.eq_ignore_ascii_case(domain)
            })
    }

    /// The position of the first non-customer tenant with this id (any case).
    fn tenant_by_id(&self, id: &str) -> Option<usize> {
        self.index()
            .tenants
            .find(&self.tenants, &[id], |t| eq_id(&t.id, id))
    }

    /// The position of the first non-customer tenant with this domain (any case).
    fn tenant_by_domain(&self, domain: &str) -> Option<usize> {
        self.index()
            .tenant_domains
            .find(&self.tenants, &[domain], |t| {
                t.domain.eq_ignore_ascii_case(domain)
            })
    }

    fn tenant_id_taken(&self, id: &str) -> bool {
        eq_id(id, &self.partner.tenant_id)
            || self.reseller_by_tenant(id).is_some()
            || self.tenant_by_id(id).is_some()
            || self.customer_by_id(id).is_some()
    }

    /// Whether a domain is taken by a customer, a known tenant or a sandbox-created
    /// reseller.
    pub fn domain_taken(&self, domain: &str) -> bool {
        self.customer_by_domain(domain).is_some()
            || self.tenant_by_domain(domain).is_some()
            || self.reseller_by_domain(domain).is_some()
    }

    /// Appends a reseller, keeping the index.
    fn push_reseller(&mut self, reseller: Reseller) {
        let position = self.resellers.len();
        self.index_mut().add_reseller(&reseller, position);
        self.resellers.push(reseller);
    }

    /// Appends a non-customer tenant, keeping the index.
    fn push_tenant(&mut self, tenant: Tenant) {
        let position = self.tenants.len();
        self.index_mut().add_tenant(&tenant, position);
        self.tenants.push(tenant);
    }

    /// Appends a customer, keeping the index; returns its position.
    fn push_customer(&mut self, customer: Customer) -> usize {
        let position = self.customers.len();
        self.index_mut().add_customer(&customer, position);
        self.customers.push(customer);
        position
    }

    /// Appends a cart, keeping the index.
    fn push_cart(&mut self, cart: Cart) {
        let position = self.carts.len();
        self.index_mut().add_cart(&cart, position);
        self.carts.push(cart);
    }

    /// Appends an order of the customer at `owner`, keeping the index; returns its
    /// position.
    fn push_order(&mut self, order: Order, owner: usize) -> usize {
        let position = self.orders.len();
        self.index_mut().add_order(&order, position, Some(owner));
        self.orders.push(order);
        position
    }

    /// Appends a subscription of the customer at `owner`, bought by the order at
    /// `order`, keeping the index.
    fn push_subscription(&mut self, sub: Subscription, owner: usize, order: usize) {
        let position = self.subscriptions.len();
        self.index_mut()
            .add_subscription(&sub, position, Some(owner), Some(order));
        self.subscriptions.push(sub);
    }

    /// Records a reseller relationship (admin endpoint, seed); tenant id and MPN id
    /// must both be new.
    pub fn add_reseller(&mut self, reseller: Reseller) -> ApiResult<Reseller> {
        self.add_reseller_checked(reseller, false)
    }

    /// Records a reseller relationship; `shared_mpn` lets the MPN id be one another
    /// reseller already has (the sandbox API allows that, see
    /// [`State::create_sandbox_reseller`]).
    fn add_reseller_checked(
        &mut self,
        reseller: Reseller,
        shared_mpn: bool,
    ) -> ApiResult<Reseller> {
        if reseller.tenant_id.trim().is_empty() || reseller.mpn_id.trim().is_empty() {
            return Err(ApiError::bad_request(
                3000,
                "tenantId and mpnId are required",
            ));
        }
        if self.tenant_id_taken(&reseller.tenant_id) {
            return Err(ApiError::already_exists(format!(
                "Tenant '{}' already exists",
                reseller.tenant_id
            )));
        }
        if reseller.mpn_id == self.partner.mpn_id
            || (!shared_mpn && self.reseller_by_mpn(&reseller.mpn_id).is_some())
        {
            return Err(ApiError::already_exists(format!(
                "MPN id '{}' is already in use",
                reseller.mpn_id
            )));
        }
        self.push_reseller(reseller.clone());
        Ok(reseller)
    }

    /// Records an Entra tenant that is not a customer.
    pub fn add_tenant(
        &mut self,
        id: Option<String>,
        domain: &str,
        company_name: &str,
    ) -> ApiResult<Tenant> {
        if domain.trim().is_empty() || company_name.trim().is_empty() {
            return Err(ApiError::bad_request(
                3000,
                "domain and companyName are required",
            ));
        }
        if self.domain_taken(domain) {
            return Err(ApiError::already_exists(format!(
                "Domain '{domain}' is already in use"
            )));
        }
        let id = match id {
            Some(id) if self.tenant_id_taken(&id) => {
                return Err(ApiError::already_exists(format!(
                    "Tenant '{id}' already exists"
                )));
            }
            Some(id) => id,
            None => self.new_guid(),
        };
        let tenant = Tenant {
            id,
            domain: domain.to_owned(),
            company_name: company_name.to_owned(),
        };
        self.push_tenant(tenant.clone());
        Ok(tenant)
    }

    /// The `PartnerRelationship` JSON of a reseller.
    pub fn relationship_json(reseller: &Reseller) -> Value {
        json!({
            "id": reseller.tenant_id, "name": reseller.name,
            "relationshipType": "is_indirect_cloud_solution_provider_of", "state": "Active",
            "mpnId": reseller.mpn_id, "location": reseller.location,
            "attributes": {"objectType": "PartnerRelationship"},
        })
    }

    /// `GET /v1/profiles/mpn[?mpnId=]`.
    pub fn mpn_profile(&self, mpn_id: Option<&str>) -> ApiResult<Value> {
        let (mpn, name) = match mpn_id {
            None => (self.partner.mpn_id.as_str(), self.partner.name.as_str()),
            Some(id) if id.trim() == self.partner.mpn_id => {
                (self.partner.mpn_id.as_str(), self.partner.name.as_str())
            }
            Some(id) => match self.reseller_by_mpn(id) {
                Some(r) => (r.mpn_id.as_str(), r.name.as_str()),
                None => {
                    return Err(ApiError::not_found(
                        3000,
                        format!("Partner Organization with partner_id {id} could not be found"),
                    ));
                }
            },
        };
        Ok(
            json!({"mpnId": mpn, "partnerName": name, "profileType": "MpnProfile", "attributes": {"objectType": "MpnProfile"}}),
        )
    }

    // ---- customers ---------------------------------------------------------------

    /// Index of a customer; a known non-customer tenant is 403/20002.
    pub fn customer_index(&self, id: &str) -> ApiResult<usize> {
        if let Some(i) = self.customer_by_id(id) {
            return Ok(i);
        }
        if self.tenant_by_id(id).is_some() {
            return Err(ApiError::forbidden(
                20002,
                format!("The partner does not have a relationship with the customer '{id}'"),
            ));
        }
        Err(ApiError::not_found(
            1000,
            format!("A customer with the tenant Id '{id}' was not found"),
        ))
    }

    /// `POST /v1/customers`.
    pub fn create_customer(&mut self, input: CustomerInput, now: i64) -> ApiResult<Value> {
        let domain = input.company_profile.domain.clone().unwrap_or_default();
        let domain = domain.trim().to_owned();
        if domain.is_empty() {
            return Err(ApiError::bad_request(
                3000,
                "companyProfile.domain is required",
            ));
        }
        let billing = &input.billing_profile;
        let address = billing.default_address.clone().unwrap_or_default();
        let mut missing = Missing::default();
        missing.texts(
            "billingProfile",
            &[
                ("email", &billing.email),
                ("culture", &billing.culture),
                ("language", &billing.language),
                ("companyName", &billing.company_name),
            ],
        );
        missing.texts(
            "defaultAddress",
            &[
                ("firstName", &address.first_name),
                ("lastName", &address.last_name),
                ("addressLine1", &address.address_line1),
                ("city", &address.city),
                ("postalCode", &address.postal_code),
                ("country", &address.country),
            ],
        );
        missing.check()?;
        let country = address
            .country
            .clone()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if country.len() != 2 {
            return Err(ApiError::bad_request(
                3000,
                "defaultAddress.country must be a 2-letter ISO code",
            ));
        }
        if REGISTRATION_COUNTRIES.contains(&country.as_str()) {
            if !nonempty(
                input
                    .company_profile
                    .organization_registration_number
                    .as_ref(),
            ) {
                return Err(ApiError::bad_request(
                    600049,
                    format!("organizationRegistrationNumber is required for country {country}"),
                ));
            }
            check_phone(&address)?;
        }
        let associated = match input.associated_partner_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(id) => match self.reseller_by_tenant(id) {
                Some(r) => Some(r.tenant_id.clone()),
                None => {
                    return Err(ApiError::bad_request(
                        800016,
                        format!(
                            "'{id}' is not an indirect reseller in partnership with the provider"
                        ),
                    ));
                }
            },
        };
        if self.domain_taken(&domain) {
            return Err(ApiError::already_exists(format!(
                "The domain '{domain}' is already in use"
            )));
        }
        let id = self.new_guid();
        let billing_profile_id = self.new_guid();
        let password = format!("Sim!{}", &self.new_opaque("")[..12]);
        let company_name = billing.company_name.clone().unwrap_or_default();
        let customer = Customer {
            id: id.clone(),
            domain: domain.clone(),
            company_name,
            organization_registration_number: input
                .company_profile
                .organization_registration_number
                .clone(),
            billing_profile_id,
            billing: BillingProfile {
                default_address: Some(address),
                ..input.billing_profile
            },
            billing_version: 1,
            associated_partner_id: associated.clone(),
            reseller_ids: associated.into_iter().collect(),
            agreements: Vec::new(),
            created_at: now,
            relationship_removed: false,
        };
        let mut body = self.customer_json(&customer);
        self.push_customer(customer);
        if let Value::Object(map) = &mut body {
            map.insert(
                "userCredentials".to_owned(),
                json!({"userName": format!("admin@{domain}"), "password": password}),
            );
        }
        Ok(body)
    }

    fn billing_etag(customer: &Customer) -> String {
        format!(
            "{}",
            splitmix64(customer.billing_version ^ splitmix64(customer.created_at as u64)) >> 1
        )
    }

    fn billing_json(customer: &Customer) -> Value {
        let b = &customer.billing;
        json!({
            "id": customer.billing_profile_id, "email": b.email, "culture": b.culture,
            "language": b.language, "companyName": b.company_name, "defaultAddress": b.default_address,
            "attributes": {"etag": Self::billing_etag(customer), "objectType": "CustomerBillingProfile"},
        })
    }

    /// The full Customer resource.
    pub fn customer_json(&self, c: &Customer) -> Value {
        let mut company = json!({
            "tenantId": c.id, "domain": c.domain, "companyName": c.company_name,
            "attributes": {"objectType": "CustomerCompanyProfile"},
        });
        if let (Some(number), Value::Object(map)) =
            (&c.organization_registration_number, &mut company)
        {
            map.insert("organizationRegistrationNumber".to_owned(), json!(number));
        }
        let mut body = json!({
            "id": c.id, "commerceId": c.id, "companyProfile": company,
            "billingProfile": Self::billing_json(c), "relationshipToPartner": Self::relationship_to_partner(c),
            "allowDelegatedAccess": true, "attributes": {"objectType": "Customer"},
        });
        if let (Some(partner), Value::Object(map)) = (&c.associated_partner_id, &mut body) {
            map.insert("associatedPartnerId".to_owned(), json!(partner));
        }
        body
    }

    /// `relationshipToPartner` of a customer.
    fn relationship_to_partner(c: &Customer) -> &'static str {
        if c.relationship_removed {
            "none"
        } else {
            "reseller"
        }
    }

    /// A customer as a list item.
    pub fn customer_list_item(c: &Customer) -> Value {
        json!({
            "id": c.id, "companyProfile": {"tenantId": c.id, "domain": c.domain, "companyName": c.company_name},
            "relationshipToPartner": Self::relationship_to_partner(c),
            "links": {"self": {"uri": format!("/customers/{}", c.id), "method": "GET", "headers": []}},
            "attributes": {"objectType": "Customer"},
        })
    }

    /// `GET /v1/customers/{id}`; `lag` hides customers younger than it (fault).
    pub fn get_customer(&self, id: &str, now: i64, lag: i64) -> ApiResult<Value> {
        let c = &self.customers[self.customer_index(id)?];
        if now < c.created_at.saturating_add(lag) {
            return Err(ApiError::not_found(
                1000,
                format!("A customer with the tenant Id '{id}' was not found"),
            ));
        }
        Ok(self.customer_json(c))
    }

    /// Parses the `filter` query parameter.
    pub fn parse_filter(text: &str) -> ApiResult<CustomerFilter> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(3000, format!("filter is not valid JSON: {e}")))?;
        let value = super::input::normalize_keys(value);
        let get = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(field), Some(filter_value)) = (get("field"), get("value")) else {
            return Err(ApiError::bad_request(3000, "filter needs Field and Value"));
        };
        if let Some(op) = get("operator")
            && fold_enum(&op) != "startswith"
        {
            return Err(ApiError::bad_request(
                3000,
                "only the starts_with operator is supported for customers",
            ));
        }
        match fold_enum(&field).as_str() {
            "companyname" => Ok(CustomerFilter::CompanyName(filter_value)),
            "domain" => Ok(CustomerFilter::Domain(filter_value)),
            "indirectreseller" => Ok(CustomerFilter::IndirectReseller(filter_value)),
            _ => Err(ApiError::bad_request(
                3000,
                format!("unsupported filter field '{field}'"),
            )),
        }
    }

    /// Customers matching a filter, in creation order.
    pub fn filtered_customers(&self, filter: Option<&CustomerFilter>) -> Vec<&Customer> {
        let starts =
            |hay: &str, needle: &str| hay.to_lowercase().starts_with(&needle.to_lowercase());
        self.customers
            .iter()
            .filter(|c| match filter {
                None => true,
                Some(CustomerFilter::CompanyName(v)) => starts(&c.company_name, v),
                Some(CustomerFilter::Domain(v)) => starts(&c.domain, v),
                Some(CustomerFilter::IndirectReseller(v)) => {
                    c.reseller_ids.iter().any(|r| starts(r, v))
                }
            })
            .collect()
    }

    /// `GET …/profiles/billing`.
    pub fn get_billing(&self, customer_id: &str) -> ApiResult<Value> {
        Ok(Self::billing_json(
            &self.customers[self.customer_index(customer_id)?],
        ))
    }

    /// `PUT …/profiles/billing` with `If-Match`.
    pub fn put_billing(
        &mut self,
        customer_id: &str,
        if_match: Option<&str>,
        input: BillingProfile,
    ) -> ApiResult<Value> {
        let i = self.customer_index(customer_id)?;
        let current = Self::billing_etag(&self.customers[i]);
        let given = if_match.map(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_owned()
        });
        if given.as_deref() != Some(current.as_str()) {
            return Err(ApiError::bad_request(2055, "Etag is no longer valid"));
        }
        let current = &self.customers[i].billing;
        let merged = BillingProfile {
            email: input.email.or_else(|| current.email.clone()),
            culture: input.culture.or_else(|| current.culture.clone()),
            language: input.language.or_else(|| current.language.clone()),
            company_name: input.company_name.or_else(|| current.company_name.clone()),
            default_address: input
                .default_address
                .or_else(|| current.default_address.clone()),
        };
        // The phone rule of creation holds for the profile as it will be: the
        // error's condition is the customer's country and
        // `billingProfile.defaultAddress.phoneNumber` (error-codes.md, 600051),
        // which this PUT replaces. That Partner Center answers it here too, and not
        // only on `POST /v1/customers`, is UNCONFIRMED (no page shows it).
        if let Some(address) = &merged.default_address {
            check_phone(address)?;
        }
        let c = &mut self.customers[i];
        c.billing = merged;
        c.billing_version += 1;
        Ok(Self::billing_json(c))
    }

    /// `GET …/customers/{id}/relationships` (sorted by reseller tenant id).
    pub fn customer_relationships(&self, customer_id: &str) -> ApiResult<Vec<Value>> {
        let c = &self.customers[self.customer_index(customer_id)?];
        let mut items: Vec<&Reseller> = c
            .reseller_ids
            .iter()
            .filter_map(|id| self.reseller_by_tenant(id))
            .collect();
        items.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        Ok(items
            .into_iter()
            .map(|r| json!({"id": r.tenant_id, "name": r.name, "relationshipType": "is_indirect_reseller_of", "mpnId": r.mpn_id, "attributes": {"objectType": "PartnerRelationship"}}))
            .collect())
    }

    /// The admin acceptance of a reseller relationship request: an existing customer
    /// gains a related reseller, or a plain tenant becomes a customer.
    pub fn accept_relationship(
        &mut self,
        id_or_domain: &str,
        reseller: Option<&str>,
        now: i64,
    ) -> ApiResult<Value> {
        let reseller_id = match reseller {
            None => None,
            Some(r) => Some(
                self.reseller_by_tenant(r)
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            800016,
                            format!("'{r}' is not an indirect reseller of the provider"),
                        )
                    })?
                    .tenant_id
                    .clone(),
            ),
        };
        // The first customer (then tenant) matching by id or by domain.
        let first = |a: Option<usize>, b: Option<usize>| a.into_iter().chain(b).min();
        let customer = first(
            self.customer_by_id(id_or_domain),
            self.customer_by_domain(id_or_domain),
        );
        let index = match customer {
            Some(i) => i,
            None => {
                let Some(t) = first(
                    self.tenant_by_id(id_or_domain),
                    self.tenant_by_domain(id_or_domain),
                ) else {
                    return Err(ApiError::not_found(
                        60003,
                        format!("Tenant '{id_or_domain}' not found"),
                    ));
                };
                let tenant = self.tenants.remove(t);
                // Tenant positions shifted.
                self.reindex();
                let billing_profile_id = self.new_guid();
                self.push_customer(Customer {
                    id: tenant.id,
                    domain: tenant.domain,
                    company_name: tenant.company_name.clone(),
                    organization_registration_number: None,
                    billing_profile_id,
                    billing: BillingProfile {
                        company_name: Some(tenant.company_name),
                        ..BillingProfile::default()
                    },
                    billing_version: 1,
                    associated_partner_id: None,
                    reseller_ids: Vec::new(),
                    agreements: Vec::new(),
                    created_at: now,
                    relationship_removed: false,
                })
            }
        };
        let c = &mut self.customers[index];
        // Accepting a request again restores a removed relationship.
        c.relationship_removed = false;
        if let Some(r) = reseller_id
            && !c.reseller_ids.iter().any(|x| eq_id(x, &r))
        {
            c.reseller_ids.push(r.clone());
            c.reseller_ids.sort();
            if c.associated_partner_id.is_none() {
                c.associated_partner_id = Some(r);
            }
        }
        Ok(self.customer_json(&self.customers[index]))
    }

    /// The subscriptions of the customer at `customer` (a position), in creation
    /// order.
    fn subscriptions_of(&self, customer: usize) -> impl Iterator<Item = &Subscription> {
        self.index()
            .subscriptions_of_customer
            .get(customer)
            .into_iter()
            .flatten()
            .filter_map(|&si| self.subscriptions.get(si))
    }

    /// Whether the customer at `customer` (a position) has subscriptions that are
    /// active or still provisioning.
    fn has_active_subscriptions(&self, customer: usize) -> bool {
        self.subscriptions_of(customer)
            .any(|s| matches!(s.status, Status::Active | Status::Pending))
    }

    fn active_subscriptions_error(what: &str) -> ApiError {
        ApiError::new(
            409,
            ACTIVE_SUBSCRIPTIONS_CODE,
            format!("{what} still has active subscriptions; suspend or cancel them first"),
        )
    }

    /// Changes under a customer whose reseller relationship was removed are refused
    /// with 403/20002 (choice; reads keep working). Unknown customers pass: the
    /// operation itself answers for them.
    pub fn require_relationship(&self, customer_id: &str) -> ApiResult<()> {
        let Some(c) = self
            .customer_by_id(customer_id)
            .and_then(|i| self.customers.get(i))
        else {
            return Ok(());
        };
        if c.relationship_removed {
            return Err(ApiError::forbidden(
                20002,
                format!(
                    "The partner does not have a relationship with the customer '{}'",
                    c.id
                ),
            ));
        }
        Ok(())
    }

    /// `PATCH /v1/customers/{id}` with `relationshipToPartner: none`: removes the
    /// provider's reseller relationship; refused while subscriptions are active
    /// (pending counts as active). Removing it again answers the unchanged customer.
    pub fn patch_customer(&mut self, customer_id: &str, input: CustomerPatch) -> ApiResult<Value> {
        let i = self.customer_index(customer_id)?;
        match input.relationship_to_partner.as_deref().map(fold_enum) {
            Some(r) if r == "none" => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    3000,
                    "relationshipToPartner can only be set to none",
                ));
            }
            None => {
                return Err(ApiError::bad_request(
                    3000,
                    "relationshipToPartner is required",
                ));
            }
        }
        if !self.customers[i].relationship_removed {
            if self.has_active_subscriptions(i) {
                return Err(Self::active_subscriptions_error("The customer"));
            }
            self.customers[i].relationship_removed = true;
        }
        Ok(self.customer_json(&self.customers[i]))
    }

    /// `DELETE /v1/customers/{id}` (integration sandbox only): purges the customer
    /// with its carts, orders and subscriptions; its domain becomes free.
    pub fn delete_customer(&mut self, customer_id: &str) -> ApiResult<()> {
        if !self.sandbox {
            return Err(ApiError::forbidden(
                800042,
                "Deleting a customer is only supported in the integration sandbox",
            ));
        }
        let i = self.customer_index(customer_id)?;
        let removed = self.customers.remove(i);
        self.carts.retain(|c| c.customer_id != removed.id);
        self.orders.retain(|o| o.customer_id != removed.id);
        self.subscriptions.retain(|s| s.customer_id != removed.id);
        // Positions shifted.
        self.reindex();
        Ok(())
    }

    /// `DELETE /v1/sandboxIndirectReseller/{tenantId}` (integration sandbox only):
    /// ends the partnership, which frees a place under the 5-reseller limit. Refused
    /// while a customer related to the reseller, or a subscription with the reseller
    /// as partner of record, is active. Customers lose the link to it; subscriptions
    /// keep their `partnerId` as a record.
    pub fn delete_sandbox_reseller(&mut self, tenant_id: &str) -> ApiResult<()> {
        if !self.sandbox {
            return Err(ApiError::forbidden(
                6003,
                "Deleting indirect resellers is only allowed in the integration sandbox",
            ));
        }
        let wanted = tenant_id.trim();
        let Some(i) = self
            .index()
            .resellers
            .find(&self.resellers, &[wanted], |r| eq_id(&r.tenant_id, wanted))
        else {
            return Err(ApiError::not_found(
                60003,
                format!("Indirect reseller tenant '{tenant_id}' not found"),
            ));
        };
        let reseller = self.resellers[i].clone();
        let busy = self
            .customers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.reseller_ids.iter().any(|r| eq_id(r, &reseller.tenant_id)))
            .any(|(position, _)| self.has_active_subscriptions(position))
            || self.subscriptions.iter().any(|s| {
                s.partner_id == reseller.mpn_id
                    && matches!(s.status, Status::Active | Status::Pending)
            });
        if busy {
            return Err(Self::active_subscriptions_error(
                "A customer of the indirect reseller",
            ));
        }
        self.resellers.remove(i);
        // Reseller positions shifted.
        self.reindex();
        for c in &mut self.customers {
            c.reseller_ids.retain(|r| !eq_id(r, &reseller.tenant_id));
            if c.associated_partner_id
                .as_deref()
                .is_some_and(|a| eq_id(a, &reseller.tenant_id))
            {
                c.associated_partner_id = c.reseller_ids.first().cloned();
            }
        }
        Ok(())
    }

    /// `POST /v1/sandboxIndirectReseller` (integration sandbox only): creates the
    /// reseller's tenant (its id comes from the id generator; a `tenant.id` in the
    /// body is not documented and is ignored) and the partnership, and answers as the
    /// documented example: `partnerRelationship.id` is the **provider's** tenant.
    /// Several resellers may share an MPN id (documented); the `domainPrefix` is
    /// unique. The same `domainPrefix` with the same `mpnId` again answers the first
    /// answer ("this API is idempotent").
    pub fn create_sandbox_reseller(
        &mut self,
        input: SandboxResellerInput,
        now: i64,
    ) -> ApiResult<Value> {
        if !self.sandbox {
            return Err(ApiError::forbidden(
                6004,
                "Creating indirect resellers is only allowed in the integration sandbox",
            ));
        }
        let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_owned();
        let tenant = input.tenant.clone().unwrap_or_default();
        let legal = input.legal_business_profile.clone().unwrap_or_default();
        let address = legal.address.clone().unwrap_or_default();
        let contact = legal.primary_contact.clone().unwrap_or_default();
        let language = match &input.organization_profile_language {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Object(m)) => !m.is_empty(),
            Some(_) => true,
        };
        let mut missing = Missing::default();
        missing.need("mpnId", nonempty(input.mpn_id.as_ref()));
        missing.need("tenant", input.tenant.is_some());
        if input.tenant.is_some() {
            missing.texts(
                "tenant",
                &[
                    ("domainPrefix", &tenant.domain_prefix),
                    ("name", &tenant.name),
                    ("displayName", &tenant.display_name),
                    ("adminUserName", &tenant.admin_user_name),
                    ("adminFirstName", &tenant.admin_first_name),
                    ("adminLastName", &tenant.admin_last_name),
                    ("adminAlternateEmail", &tenant.admin_alternate_email),
                    ("country", &tenant.country),
                    ("culture", &tenant.culture),
                ],
            );
        }
        let legal_name = "legalBusinessProfile";
        missing.need(legal_name, input.legal_business_profile.is_some());
        if input.legal_business_profile.is_some() {
            missing.texts(legal_name, &[("companyName", &legal.company_name)]);
            missing.need("legalBusinessProfile.address", legal.address.is_some());
            if legal.address.is_some() {
                missing.texts(
                    "legalBusinessProfile.address",
                    &[
                        ("addressLine1", &address.address_line1),
                        ("city", &address.city),
                        ("postalCode", &address.postal_code),
                        ("country", &address.country),
                    ],
                );
            }
            let contact_name = "legalBusinessProfile.primaryContact";
            missing.need(contact_name, legal.primary_contact.is_some());
            if legal.primary_contact.is_some() {
                missing.texts(
                    contact_name,
                    &[
                        ("firstName", &contact.first_name),
                        ("lastName", &contact.last_name),
                        ("email", &contact.email),
                    ],
                );
            }
            missing.texts(legal_name, &[("culture", &legal.culture)]);
        }
        missing.need("organizationProfileLanguage", language);
        missing.check()?;
        let prefix = text(&tenant.domain_prefix);
        if prefix.len() > 63
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ApiError::bad_request(
                3000,
                format!(
                    "tenant.domainPrefix '{prefix}' must be letters, digits or hyphens (at most 63)"
                ),
            ));
        }
        let mpn_id = text(&input.mpn_id);
        let domain = format!("{}.onmicrosoft.com", prefix.to_ascii_lowercase());
        if let Some(existing) = self.reseller_by_domain(&domain) {
            return match &existing.sandbox_answer {
                Some(answer) if existing.mpn_id == mpn_id => Ok(answer.clone()),
                _ => Err(ApiError::already_exists(format!(
                    "The domain prefix '{prefix}' is already in use"
                ))),
            };
        }
        if let Some(limit) = self.sandbox_reseller_limit
            && self.resellers.len() >= limit
        {
            return Err(ApiError::bad_request(
                800018,
                format!("The sandbox limit of {limit} indirect resellers has been reached"),
            ));
        }
        if self.domain_taken(&domain) {
            return Err(ApiError::already_exists(format!(
                "The domain prefix '{prefix}' is already in use"
            )));
        }
        let tenant_id = self.new_guid();
        let password = format!("Sim!{}", &self.new_opaque("")[..12]);
        let signature_id = self.new_guid();
        let signer_object_id = self.new_guid();
        let signer = format!("admin@{}", self.partner.tenant_id);
        let answer = json!({
            "accountId": tenant_id,
            "mpnId": mpn_id,
            "tenant": {
                "id": tenant_id,
                "adminUserAccount": format!("{}@{domain}", text(&tenant.admin_user_name)),
                "password": password,
            },
            "agreementSignature": {
                "id": signature_id,
                "accountId": tenant_id,
                "agreementId": RESELLER_AGREEMENT_ID,
                "agreementType": "ValueAddedReseller",
                "dateSigned": format_rfc3339(now),
                "signedByFirstName": signer,
                "signedByUserPrincipalName": signer,
                "signedByUserObjectId": signer_object_id,
                "signedByUserTenantId": self.partner.tenant_id,
                "attributes": {"objectType": "AgreementSignatureResponse"},
            },
            "partnerRelationship": {
                "id": self.partner.tenant_id,
                "name": self.partner.name,
                "relationshipType": "is_indirect_reseller_of",
                "state": "Active",
                "mpnId": mpn_id,
                "attributes": {"objectType": "PartnerRelationshipResponse"},
            },
        });
        self.add_reseller_checked(
            Reseller {
                tenant_id,
                mpn_id,
                name: text(&legal.company_name),
                location: text(&address.country).to_ascii_uppercase(),
                domain: Some(domain),
                sandbox_answer: Some(answer.clone()),
            },
            true,
        )?;
        Ok(answer)
    }

    // ---- idempotency -------------------------------------------------------------

    /// Drops cached answers older than 24 simulated hours (nothing to do, and
    /// nothing scanned, until the oldest one is that old).
    pub fn expire_replays(&mut self, now: i64) {
        let expired = |at: i64| now.saturating_sub(at) >= IDEMPOTENCY_SECONDS;
        if !self.index().oldest_replay.is_some_and(expired) {
            return;
        }
        self.idempotency.retain(|e| !expired(e.at));
        self.index_mut();
        if let Some(index) = self.index.0.get_mut() {
            index.rebuild_replays(&self.idempotency);
        }
    }

    /// Drops every cached answer: for a caller that knows no request will be sent
    /// again (cspctl's local backend once every purchase is settled).
    pub fn forget_replays(&mut self) {
        self.idempotency.clear();
        if let Some(index) = self.index.0.get_mut() {
            index.rebuild_replays(&self.idempotency);
        }
    }

    /// The cached answer to `(request id, method, lowercased path)`, if still valid.
    pub fn replay(
        &mut self,
        request_id: &str,
        method: &str,
        path: &str,
        now: i64,
    ) -> Option<&Replay> {
        self.expire_replays(now);
        let position =
            self.index()
                .replays
                .find(&self.idempotency, &[request_id, method, path], |e| {
                    e.request_id == request_id && e.method == method && e.path == path
                })?;
        self.idempotency.get(position)
    }

    /// Records an answer for later replays (the caller checked there is none).
    /// With a `limit`, at most that many answers are kept, the oldest dropped first
    /// (a quarter of the limit at a time, so the index is rebuilt rarely); without
    /// one they are kept for their 24 hours.
    pub fn remember(&mut self, replay: Replay, limit: Option<usize>) {
        let position = self.idempotency.len();
        self.index_mut().add_replay(&replay, position);
        self.idempotency.push(replay);
        if let Some(limit) = limit
            && self.idempotency.len() > limit.saturating_add(limit / 4)
        {
            let excess = self.idempotency.len() - limit;
            self.idempotency.drain(..excess);
            if let Some(index) = self.index.0.get_mut() {
                index.rebuild_replays(&self.idempotency);
            }
        }
    }

    // ---- agreements --------------------------------------------------------------

    /// The MCA template list.
    pub fn agreement_templates() -> Vec<Value> {
        vec![
            json!({"templateId": MCA_TEMPLATE_ID, "agreementType": MCA, "agreementLink": MCA_LINK, "version": "1.0", "attributes": {"objectType": "AgreementMetaData"}}),
        ]
    }

    fn agreement_json(a: &Agreement) -> Value {
        json!({"primaryContact": a.primary_contact, "templateId": a.template_id, "dateAgreed": a.date_agreed, "type": MCA, "agreementLink": MCA_LINK, "userId": a.user_id, "attributes": {"objectType": "Agreement"}})
    }

    /// `GET …/customers/{id}/agreements`.
    pub fn customer_agreements(&self, customer_id: &str) -> ApiResult<Vec<Value>> {
        let c = &self.customers[self.customer_index(customer_id)?];
        Ok(c.agreements.iter().map(Self::agreement_json).collect())
    }

    /// `POST …/customers/{id}/agreements`.
    pub fn add_agreement(
        &mut self,
        customer_id: &str,
        input: AgreementInput,
        now: i64,
    ) -> ApiResult<Value> {
        let i = self.customer_index(customer_id)?;
        let contact = input.primary_contact;
        if !nonempty(contact.first_name.as_ref())
            || !nonempty(contact.last_name.as_ref())
            || !nonempty(contact.email.as_ref())
        {
            return Err(ApiError::bad_request(
                3000,
                "primaryContact needs firstName, lastName and email",
            ));
        }
        if input.template_id.as_deref().map(str::trim) != Some(MCA_TEMPLATE_ID) {
            return Err(ApiError::bad_request(
                3000,
                "templateId is not a current Microsoft Customer Agreement template",
            ));
        }
        if input.kind.as_deref().map(fold_enum).as_deref() != Some("microsoftcustomeragreement") {
            return Err(ApiError::bad_request(
                3000,
                "type must be MicrosoftCustomerAgreement",
            ));
        }
        let date_agreed = match input.date_agreed {
            Some(d) if parse_rfc3339(&d).is_some() => d,
            Some(d) => {
                return Err(ApiError::bad_request(
                    3000,
                    format!("dateAgreed '{d}' is not an RFC 3339 UTC time"),
                ));
            }
            None => format_rfc3339(now),
        };
        let same = |a: &Agreement| {
            let eq = |x: &Option<String>, y: &Option<String>| {
                x.as_deref()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case(y.as_deref().unwrap_or("").trim())
            };
            eq(&a.primary_contact.first_name, &contact.first_name)
                && eq(&a.primary_contact.last_name, &contact.last_name)
                && eq(&a.primary_contact.email, &contact.email)
        };
        if self.customers[i].agreements.iter().any(same) {
            return Err(ApiError::bad_request(
                600061,
                "An agreement with the same primary contact has already been confirmed",
            ));
        }
        let user_id = self.new_guid();
        let agreement = Agreement {
            primary_contact: contact,
            template_id: MCA_TEMPLATE_ID.to_owned(),
            date_agreed,
            user_id,
        };
        let body = Self::agreement_json(&agreement);
        self.customers[i].agreements.push(agreement);
        Ok(body)
    }

    // ---- partner of record -------------------------------------------------------

    /// Checks an MPN id given as reseller of record of a purchase or a subscription
    /// of the customer at position `owner` (none for a seed, which states a world
    /// as it is): the provider's own is 404/2072 ("MPN ID of Indirect Provider is
    /// not valid as Partner On Record"), one that is no indirect reseller of the
    /// provider 400/800016 ("MPN ID is not a valid Indirect Reseller"), both
    /// error-codes.md. A reseller of the provider that has no relationship with the
    /// customer is refused too, with 800016 (see [`Self::related_reseller`]).
    fn check_partner_of_record(&self, owner: Option<usize>, mpn: &str) -> ApiResult<()> {
        let mpn = mpn.trim();
        if mpn == self.partner.mpn_id {
            return Err(ApiError::not_found(
                2072,
                "The MPN ID of the indirect provider is not valid as partner of record",
            ));
        }
        if self.reseller_by_mpn(mpn).is_none() {
            return Err(ApiError::bad_request(
                800016,
                format!("MPN ID '{mpn}' is not a valid indirect reseller of the provider"),
            ));
        }
        match owner {
            Some(c) if !self.related_reseller(c, |r| r.mpn_id == mpn) => Err(
                Self::unrelated_reseller(&format!("MPN ID '{mpn}'"), &self.customers[c].id),
            ),
            _ => Ok(()),
        }
    }

    /// Whether one of the resellers related to the customer at position `c` (its
    /// `GET …/customers/{id}/relationships`) is `wanted`.
    ///
    /// A reseller of record and a designated support contact must be such a
    /// reseller: create-an-order-for-a-customer-of-an-indirect-reseller.md places
    /// orders "for a customer of an indirect reseller", and partner-center-api.md
    /// §11.13 asks for "an MPN of a related IR". No page says what Partner Center answers
    /// otherwise: 800016 "MPN ID is not a valid Indirect Reseller" is the choice
    /// (UNCONFIRMED), the documented code for a reseller of record Partner Center
    /// does not accept. 20002 ("The partner ID {0} has no commerce relationship
    /// with the customer ID {1}") reads closer, but it is what every request about
    /// a customer answers once the provider itself lost the relationship, and a
    /// client must be able to tell the two apart. For support contacts the
    /// documentation only asks for "a reseller with a relationship to the
    /// partner"; requiring the customer's relationship too is UNCONFIRMED.
    fn related_reseller(&self, c: usize, wanted: impl Fn(&Reseller) -> bool) -> bool {
        self.customers[c]
            .reseller_ids
            .iter()
            .filter_map(|id| self.reseller_by_tenant(id))
            .any(wanted)
    }

    fn unrelated_reseller(reseller: &str, customer: &str) -> ApiError {
        ApiError::bad_request(
            800016,
            format!(
                "{reseller} is not a valid indirect reseller for customer '{customer}': the reseller has no relationship with the customer"
            ),
        )
    }

    // ---- carts -------------------------------------------------------------------

    /// The lines of a cart of the customer at position `owner`.
    fn cart_lines(
        &self,
        owner: usize,
        lines: Vec<CartLineInput>,
        now: i64,
    ) -> ApiResult<Vec<CartLine>> {
        if lines.is_empty() {
            return Err(ApiError::bad_request(
                3000,
                "a cart needs at least one line item",
            ));
        }
        let mut out = Vec::with_capacity(lines.len());
        for (index, line) in lines.into_iter().enumerate() {
            let id = line.id.unwrap_or(index as i64);
            let catalog = line.catalog_item_id.unwrap_or_default();
            let quantity = line.quantity.unwrap_or(0);
            let cycle = line.billing_cycle.unwrap_or_default();
            let term = line.term_duration.unwrap_or_default();
            let participants: Vec<(String, String)> = line
                .participants
                .into_iter()
                .map(|p| (p.key, p.value))
                .collect();
            let mut custom_term_end = None;
            let error = if catalog.trim().is_empty() {
                Some((10001, "catalogItemId is required".to_owned()))
            } else if !(1..=MAX_QUANTITY).contains(&quantity) {
                Some((
                    10010,
                    format!("quantity must be between 1 and {MAX_QUANTITY}"),
                ))
            } else {
                match (Term::parse(&term), Cycle::parse(&cycle)) {
                    (Some(t), Some(c)) if t.allows(c) => {
                        participants
                            .iter()
                            .find_map(|(k, v)| match fold_enum(k).as_str() {
                                "transactionreseller" => {
                                    self.check_partner_of_record(Some(owner), v).err().map(|e| {
                                        (
                                            10004,
                                            format!(
                                                "transaction_reseller '{v}' is not accepted: {}",
                                                e.description
                                            ),
                                        )
                                    })
                                }
                                "additionaltransactionreseller" | "consumptionreseller" => None,
                                _ => Some((10010, format!("unknown participant '{k}'"))),
                            })
                    }
                    _ => Some((
                        10010,
                        format!("billing cycle '{cycle}' does not fit term '{term}'"),
                    )),
                }
            };
            let error = match (error, &line.custom_term_end_date, Term::parse(&term)) {
                (None, Some(text), Some(t)) if !text.trim().is_empty() => {
                    match self.check_custom_term_end(owner, &catalog, t, text, now) {
                        Ok(day) => {
                            custom_term_end = Some(day);
                            None
                        }
                        Err(problem) => Some(problem),
                    }
                }
                (error, _, _) => error,
            };
            out.push(CartLine {
                id,
                catalog_item_id: catalog,
                quantity,
                billing_cycle: Cycle::parse(&cycle).map_or(cycle, |c| c.as_str().to_owned()),
                term_duration: Term::parse(&term).map_or(term, |t| t.as_str().to_owned()),
                friendly_name: line.friendly_name.unwrap_or_default(),
                participants,
                error,
                custom_term_end,
            });
        }
        Ok(out)
    }

    fn cart_json(cart: &Cart) -> Value {
        let status = if cart.checkout.is_some() {
            "Ordered"
        } else {
            "Active"
        };
        let lines: Vec<Value> = cart
            .line_items
            .iter()
            .map(|l| {
                let mut v = json!({
                    "id": l.id, "catalogItemId": l.catalog_item_id, "quantity": l.quantity,
                    "billingCycle": l.billing_cycle, "termDuration": l.term_duration,
                    "friendlyName": l.friendly_name, "currencyCode": "USD",
                    "participants": l.participants.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
                });
                if let (Some((code, description)), Value::Object(map)) = (&l.error, &mut v) {
                    map.insert("error".to_owned(), json!({"errorCode": code, "errorDescription": description}));
                }
                if let (Some(day), Value::Object(map)) = (l.custom_term_end, &mut v) {
                    map.insert("customTermEndDate".to_owned(), json!(transitions::date_only(day)));
                }
                v
            })
            .collect();
        json!({
            "id": cart.id, "creationTimestamp": format_rfc3339(cart.created_at),
            "lastModifiedTimestamp": format_rfc3339(cart.modified_at),
            "expirationTimestamp": format_rfc3339(cart.created_at + CART_LIFETIME_SECONDS),
            "status": status, "lineItems": lines, "attributes": {"objectType": "Cart"},
        })
    }

    fn cart_index(&self, customer_id: &str, cart_id: &str) -> ApiResult<usize> {
        let customer = &self.customers[self.customer_index(customer_id)?].id;
        self.index()
            .carts
            .find(&self.carts, &[cart_id], |c| {
                eq_id(&c.id, cart_id) && &c.customer_id == customer
            })
            .ok_or_else(|| ApiError::not_found(800008, format!("Cart '{cart_id}' was not found")))
    }

    /// `POST …/carts`.
    pub fn create_cart(
        &mut self,
        customer_id: &str,
        input: CartInput,
        now: i64,
    ) -> ApiResult<Value> {
        let owner = self.customer_index(customer_id)?;
        let customer = self.customers[owner].id.clone();
        let line_items = self.cart_lines(owner, input.line_items, now)?;
        let cart = Cart {
            id: self.new_guid(),
            customer_id: customer,
            created_at: now,
            modified_at: now,
            line_items,
            checkout: None,
        };
        let body = Self::cart_json(&cart);
        self.push_cart(cart);
        Ok(body)
    }

    /// `GET …/carts/{id}`.
    pub fn get_cart(&self, customer_id: &str, cart_id: &str) -> ApiResult<Value> {
        Ok(Self::cart_json(
            &self.carts[self.cart_index(customer_id, cart_id)?],
        ))
    }

    /// `PUT …/carts/{id}`: replaces the lines of a cart not yet checked out.
    pub fn put_cart(
        &mut self,
        customer_id: &str,
        cart_id: &str,
        input: CartInput,
        now: i64,
    ) -> ApiResult<Value> {
        let i = self.cart_index(customer_id, cart_id)?;
        if self.carts[i].checkout.is_some() {
            return Err(ApiError::bad_request(
                800065,
                "The cart has already been submitted",
            ));
        }
        if now > self.carts[i].created_at + CART_LIFETIME_SECONDS {
            return Err(ApiError::not_found(
                800008,
                format!("Cart '{cart_id}' has expired"),
            ));
        }
        let owner = self.customer_index(customer_id)?;
        let lines = self.cart_lines(owner, input.line_items, now)?;
        let cart = &mut self.carts[i];
        cart.line_items = lines;
        cart.modified_at = now;
        Ok(Self::cart_json(cart))
    }

    /// `POST …/carts/{id}/checkout`: one order per billing cycle (the order group),
    /// or per line when `shape.split`; lines carrying an error are not bought and
    /// appear in `orderErrors`. A second checkout returns the first result, in the
    /// shape it was first answered in.
    pub fn checkout(
        &mut self,
        customer_id: &str,
        cart_id: &str,
        now: i64,
        delay: i64,
        shape: CheckoutShape,
    ) -> ApiResult<Value> {
        let i = self.cart_index(customer_id, cart_id)?;
        if let Some(record) = &self.carts[i].checkout {
            return self.checkout_answer(&self.carts[i], record);
        }
        if now > self.carts[i].created_at + CART_LIFETIME_SECONDS {
            return Err(ApiError::not_found(
                800008,
                format!("Cart '{cart_id}' has expired"),
            ));
        }
        let cart = self.carts[i].clone();
        self.require_mca(
            &cart.customer_id,
            cart.line_items.iter().map(|l| l.catalog_item_id.as_str()),
        )?;
        let mut groups: Vec<(Cycle, Vec<OrderLineInput>)> = Vec::new();
        for line in &cart.line_items {
            if let (None, Some(cycle)) = (&line.error, Cycle::parse(&line.billing_cycle)) {
                let reseller = line
                    .participants
                    .iter()
                    .find(|(k, _)| fold_enum(k) == "transactionreseller")
                    .map(|(_, v)| v.clone());
                let input = OrderLineInput {
                    line_item_number: None,
                    offer_id: Some(line.catalog_item_id.clone()),
                    subscription_id: None,
                    term_duration: Some(line.term_duration.clone()),
                    quantity: Some(line.quantity),
                    friendly_name: Some(line.friendly_name.clone()),
                    partner_id_on_record: reseller,
                    custom_term_end: line.custom_term_end,
                };
                match groups.iter_mut().find(|(c, _)| *c == cycle) {
                    Some((_, lines)) if !shape.split => lines.push(input),
                    _ => groups.push((cycle, vec![input])),
                }
            }
        }
        let mut order_ids = Vec::new();
        for (cycle, mut lines) in groups {
            for (n, line) in lines.iter_mut().enumerate() {
                line.line_item_number = Some(n as i64);
            }
            let order = self.place_order(&cart.customer_id, cycle, &lines, now, delay)?;
            order_ids.push(self.orders[order].id.clone());
        }
        if shape.split {
            order_ids.reverse();
        }
        let index = self.index_mut();
        for order_id in &order_ids {
            index.checkout_of_order.add(&[order_id], i);
        }
        let record = CheckoutRecord::Orders(CheckoutOrders {
            order_ids,
            pending: shape.pending,
        });
        let cart = &mut self.carts[i];
        cart.checkout = Some(record);
        cart.modified_at = now;
        match &self.carts[i].checkout {
            Some(record) => self.checkout_answer(&self.carts[i], record),
            None => Err(ApiError::new(500, 0, "checkout vanished")),
        }
    }

    /// The answer to a cart's checkout, the same whenever it is asked: an order is
    /// shown as it was answered then (`completed` only when it provisioned at once,
    /// i.e. `ready_at` was its creation time), the cart's lines that were not bought
    /// (their error, or an unknown billing cycle) in `orderErrors`.
    fn checkout_answer(&self, cart: &Cart, record: &CheckoutRecord) -> ApiResult<Value> {
        let record = match record {
            CheckoutRecord::Answer(answer) => return Ok(answer.clone()),
            CheckoutRecord::Orders(record) => record,
        };
        let mut orders = Vec::with_capacity(record.order_ids.len());
        for order_id in &record.order_ids {
            let order = self
                .order_by_id(order_id)
                .ok_or_else(|| ApiError::new(500, 0, format!("order {order_id} vanished")))?;
            let mut json = Self::order_json_as(order, order.ready_at <= order.created_at);
            if record.pending {
                Self::hide_pending_subscriptions(&mut json, true);
            }
            orders.push(json);
        }
        let errors: Vec<Value> = cart
            .line_items
            .iter()
            .filter_map(|line| match (&line.error, Cycle::parse(&line.billing_cycle)) {
                (None, Some(_)) => None,
                (Some((code, description)), _) => Some(json!({"orderGroupId": line.id.to_string(), "code": code, "description": description})),
                (None, None) => Some(json!({"orderGroupId": line.id.to_string(), "code": 10010, "description": "invalid billing cycle"})),
            })
            .collect();
        Ok(
            json!({"orders": orders, "orderErrors": errors, "attributes": {"objectType": "CartCheckoutResult"}}),
        )
    }

    // ---- orders ------------------------------------------------------------------

    /// New-commerce purchases need an MCA attestation first (403/13605).
    fn require_mca<'a>(
        &self,
        customer_id: &str,
        offers: impl Iterator<Item = &'a str>,
    ) -> ApiResult<()> {
        let c = &self.customers[self.customer_index(customer_id)?];
        let mut offers = offers;
        if c.agreements.is_empty() && offers.any(|o| o.contains(':')) {
            return Err(ApiError::forbidden(
                13605,
                "The customer must accept the Microsoft Customer Agreement before this purchase",
            ));
        }
        Ok(())
    }

    /// Validates order lines and creates the order with its subscriptions; returns
    /// the order's position.
    fn place_order(
        &mut self,
        customer_id: &str,
        cycle: Cycle,
        lines: &[OrderLineInput],
        now: i64,
        delay: i64,
    ) -> ApiResult<usize> {
        if lines.is_empty() {
            return Err(ApiError::bad_request(
                3000,
                "an order needs at least one line item",
            ));
        }
        let mut numbers: Vec<i64> = lines
            .iter()
            .map(|l| l.line_item_number.unwrap_or(-1))
            .collect();
        numbers.sort_unstable();
        if numbers.iter().enumerate().any(|(i, n)| *n != i as i64) {
            return Err(ApiError::bad_request(
                800071,
                "lineItemNumber values must run from 0 to the number of line items minus 1",
            ));
        }
        let owner = self.customer_index(customer_id)?;
        let mut checked = Vec::with_capacity(lines.len());
        for line in lines {
            let offer = line.offer_id.clone().unwrap_or_default();
            if offer.trim().is_empty() {
                return Err(ApiError::bad_request(
                    3000,
                    "offerId is required on every line item",
                ));
            }
            let term_text = line.term_duration.clone().unwrap_or_default();
            let term = Term::parse(&term_text).ok_or_else(|| {
                ApiError::bad_request(
                    3000,
                    format!("termDuration '{term_text}' is not one of P1M, P1Y, P3Y"),
                )
            })?;
            if !term.allows(cycle) {
                return Err(cycle_not_offered(&offer, cycle, term, false));
            }
            let quantity = line.quantity.unwrap_or(0);
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                return Err(ApiError::bad_request(
                    2002,
                    format!("quantity must be between 1 and {MAX_QUANTITY}"),
                ));
            }
            let partner = match line.partner_id_on_record.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(mpn) => {
                    self.check_partner_of_record(Some(owner), mpn)?;
                    Some(mpn.to_owned())
                }
            };
            checked.push((
                line.line_item_number.unwrap_or(0),
                offer,
                term,
                quantity,
                line.friendly_name.clone().unwrap_or_default(),
                partner,
                line.custom_term_end,
            ));
        }
        let customer = self.customers[owner].id.clone();
        let order_id = self.new_guid();
        let mut order_lines = Vec::new();
        let mut subscriptions = Vec::with_capacity(checked.len());
        for (number, offer, term, quantity, friendly_name, partner, first_term_end) in checked {
            let sub_id = self.new_guid();
            subscriptions.push(Subscription {
                id: sub_id.clone(),
                customer_id: customer.clone(),
                order_id: order_id.clone(),
                offer_id: offer.clone(),
                friendly_name: friendly_name.clone(),
                quantity,
                term,
                billing_cycle: cycle,
                status: Status::Pending,
                auto_renew_enabled: true,
                partner_id: partner.clone().unwrap_or_default(),
                created_at: now,
                version: 1,
                support_contact: None,
                pending_change: None,
                term_start: None,
                next_term: None,
                first_term_end,
            });
            order_lines.push(OrderLine {
                line_item_number: number,
                offer_id: offer,
                subscription_id: sub_id,
                term,
                quantity,
                friendly_name,
                partner_id_on_record: partner,
            });
        }
        order_lines.sort_by_key(|l| l.line_item_number);
        let order = self.push_order(
            Order {
                id: order_id,
                customer_id: customer,
                billing_cycle: cycle,
                created_at: now,
                ready_at: now.saturating_add(delay.max(0)),
                completed: false,
                line_items: order_lines,
            },
            owner,
        );
        for sub in subscriptions {
            self.push_subscription(sub, owner, order);
        }
        self.settle(now);
        Ok(order)
    }

    /// `POST …/customers/{id}/orders`.
    pub fn create_order(
        &mut self,
        customer_id: &str,
        input: OrderInput,
        now: i64,
        delay: i64,
    ) -> ApiResult<Value> {
        let i = self.customer_index(customer_id)?;
        if let Some(reference) = input.reference_customer_id.as_deref()
            && !reference.trim().is_empty()
            && !eq_id(reference.trim(), &self.customers[i].id)
        {
            return Err(ApiError::bad_request(
                3000,
                "referenceCustomerId does not match the customer in the path",
            ));
        }
        let cycle_text = input.billing_cycle.clone().unwrap_or_default();
        let cycle = Cycle::parse(&cycle_text).ok_or_else(|| {
            ApiError::bad_request(
                3000,
                format!("billingCycle '{cycle_text}' is not monthly, annual or triennial"),
            )
        })?;
        let customer = self.customers[i].id.clone();
        self.require_mca(
            &customer,
            input
                .line_items
                .iter()
                .filter_map(|l| l.offer_id.as_deref()),
        )?;
        let order = self.place_order(&customer, cycle, &input.line_items, now, delay)?;
        Ok(Self::order_json(&self.orders[order]))
    }

    fn order_json(o: &Order) -> Value {
        Self::order_json_as(o, o.completed)
    }

    /// An Order, `completed` or `pending` as told.
    fn order_json_as(o: &Order, completed: bool) -> Value {
        let lines: Vec<Value> = o
            .line_items
            .iter()
            .map(|l| {
                let mut v = json!({
                    "lineItemNumber": l.line_item_number, "offerId": l.offer_id, "subscriptionId": l.subscription_id,
                    "termDuration": l.term.as_str(), "quantity": l.quantity, "friendlyName": l.friendly_name,
                });
                if let (Some(p), Value::Object(map)) = (&l.partner_id_on_record, &mut v) {
                    map.insert("partnerIdOnRecord".to_owned(), json!(p));
                }
                v
            })
            .collect();
        json!({
            "id": o.id, "referenceCustomerId": o.customer_id, "billingCycle": o.billing_cycle.as_str(),
            "status": if completed { "completed" } else { "pending" },
            "creationDate": format_rfc3339(o.created_at), "currencyCode": "USD", "lineItems": lines,
            "attributes": {"objectType": "Order"},
        })
    }

    /// The `pending-checkout` view of an Order: while it is `pending` (or always, with
    /// `force`, which also marks it `pending`: the answer to a purchase describes the
    /// order as submitted) its lines carry no `subscriptionId`, as the documented
    /// checkout-a-cart.md and create-an-order.md examples show. `offerId` and
    /// `lineItemNumber` stay, so a line can be matched to what was bought.
    pub fn hide_pending_subscriptions(order: &mut Value, force: bool) {
        let Value::Object(map) = order else {
            return;
        };
        if force {
            map.insert("status".to_owned(), json!("pending"));
        } else if map.get("status").and_then(Value::as_str) != Some("pending") {
            return;
        }
        if let Some(Value::Array(lines)) = map.get_mut("lineItems") {
            for line in lines {
                if let Value::Object(line) = line {
                    line.shift_remove("subscriptionId");
                }
            }
        }
    }

    /// The `pending-checkout` view of an order's provisioning status: a line still
    /// provisioning has no `resourceUri` (no subscription to point at yet).
    pub fn hide_pending_resources(items: &mut [Value]) {
        for item in items {
            if let Value::Object(map) = item
                && map.get("status").and_then(Value::as_str) != Some("Fulfilled")
            {
                map.shift_remove("resourceUri");
            }
        }
    }

    fn order_index(&self, customer_id: &str, order_id: &str) -> ApiResult<usize> {
        let customer = &self.customers[self.customer_index(customer_id)?].id;
        self.index()
            .orders
            .find(&self.orders, &[order_id], |o| {
                eq_id(&o.id, order_id) && &o.customer_id == customer
            })
            .ok_or_else(|| ApiError::not_found(20000, format!("Order '{order_id}' was not found")))
    }

    /// The first order whose id is exactly `order_id`.
    fn order_by_id(&self, order_id: &str) -> Option<&Order> {
        let position = self
            .index()
            .orders
            .find(&self.orders, &[order_id], |o| o.id == order_id)?;
        self.orders.get(position)
    }

    /// The position of the first subscription whose id is exactly `sub_id`.
    fn subscription_by_id(&self, sub_id: &str) -> Option<usize> {
        self.index()
            .subscriptions
            .find(&self.subscriptions, &[sub_id], |s| s.id == sub_id)
    }

    /// `GET …/orders/{id}` (reliable at once).
    pub fn get_order(&self, customer_id: &str, order_id: &str) -> ApiResult<Value> {
        Ok(Self::order_json(
            &self.orders[self.order_index(customer_id, order_id)?],
        ))
    }

    /// `GET …/orders`: orders younger than `lag` seconds are not listed yet.
    pub fn list_orders(&self, customer_id: &str, now: i64, lag: i64) -> ApiResult<Vec<Value>> {
        let customer = self.customer_index(customer_id)?;
        Ok(self
            .index()
            .orders_of_customer
            .get(customer)
            .into_iter()
            .flatten()
            .filter_map(|&o| self.orders.get(o))
            .filter(|o| o.created_at.saturating_add(lag) <= now)
            .map(Self::order_json)
            .collect())
    }

    /// `GET …/orders/{id}/provisioningstatus`.
    pub fn provisioning_status(&self, customer_id: &str, order_id: &str) -> ApiResult<Vec<Value>> {
        let o = &self.orders[self.order_index(customer_id, order_id)?];
        Ok(o.line_items
            .iter()
            .map(|l| json!({
                "lineItemNumber": l.line_item_number,
                "status": if o.completed { "Fulfilled" } else { "PrefulfillmentPending" },
                "quantity": l.quantity,
                "resourceUri": format!("/customers/{}/subscriptions/{}", o.customer_id, l.subscription_id),
                "attributes": {"objectType": "OrderLineItemProvisioningStatus"},
            }))
            .collect())
    }

    /// `PATCH …/orders/{id}` (change-the-billing-cycle.md): changes the billing cycle
    /// of the listed subscriptions. The page marks `ReferenceCustomerId`,
    /// `BillingCycle`, `LineItems` and, per line, `LineItemNumber`, `OfferId`,
    /// `SubscriptionId` and `Quantity` required: missing ones are named in a
    /// 400/3000. `ReferenceCustomerId` must be the customer; each line's
    /// `SubscriptionId` must be a subscription of this order, with its `OfferId` and
    /// `Quantity` (lines are matched by subscription, not by `LineItemNumber`: the
    /// documented example sends number 0 for the order's line 1). New-commerce
    /// subscriptions are refused with 400/800042: this API changes legacy
    /// subscriptions only (learn.microsoft.com/partner-center/developer/change-the-billing-cycle).
    pub fn patch_order(
        &mut self,
        customer_id: &str,
        order_id: &str,
        input: OrderInput,
    ) -> ApiResult<Value> {
        let oi = self.order_index(customer_id, order_id)?;
        let mut missing = Vec::new();
        if !nonempty(input.reference_customer_id.as_ref()) {
            missing.push("ReferenceCustomerId".to_owned());
        }
        if !nonempty(input.billing_cycle.as_ref()) {
            missing.push("BillingCycle".to_owned());
        }
        if input.line_items.is_empty() {
            missing.push("LineItems".to_owned());
        }
        for (i, line) in input.line_items.iter().enumerate() {
            for (name, present) in [
                ("LineItemNumber", line.line_item_number.is_some()),
                ("OfferId", nonempty(line.offer_id.as_ref())),
                ("SubscriptionId", nonempty(line.subscription_id.as_ref())),
                ("Quantity", line.quantity.is_some()),
            ] {
                if !present {
                    missing.push(format!("LineItems[{i}].{name}"));
                }
            }
        }
        if !missing.is_empty() {
            return Err(ApiError::bad_request(
                3000,
                format!("Required properties are missing: {}", missing.join(", ")),
            ));
        }
        let customer = self.orders[oi].customer_id.clone();
        let reference = input.reference_customer_id.as_deref().unwrap_or("").trim();
        if !eq_id(reference, &customer) {
            return Err(ApiError::bad_request(
                3000,
                format!(
                    "ReferenceCustomerId '{reference}' is not the customer '{customer}' in the path"
                ),
            ));
        }
        let cycle_text = input.billing_cycle.clone().unwrap_or_default();
        let cycle = Cycle::parse(&cycle_text).ok_or_else(|| {
            ApiError::bad_request(
                3000,
                format!("billingCycle '{cycle_text}' is not monthly, annual or triennial"),
            )
        })?;
        let mut targets = Vec::new();
        for (i, line) in input.line_items.iter().enumerate() {
            let wanted = line.subscription_id.as_deref().unwrap_or("").trim();
            let order = &self.orders[oi];
            let Some(order_line) = order
                .line_items
                .iter()
                .find(|l| eq_id(wanted, &l.subscription_id))
            else {
                return Err(ApiError::not_found(
                    20003,
                    format!(
                        "LineItems[{i}].SubscriptionId '{wanted}' is not a subscription of this order"
                    ),
                ));
            };
            let si = self
                .subscription_by_id(&order_line.subscription_id)
                .ok_or_else(|| ApiError::not_found(20003, "Subscription not found"))?;
            let sub = &self.subscriptions[si];
            Self::not_in_progress(sub)?;
            let offer = line.offer_id.as_deref().unwrap_or("").trim();
            if !offer.eq_ignore_ascii_case(&sub.offer_id) {
                return Err(ApiError::bad_request(
                    3000,
                    format!(
                        "LineItems[{i}].OfferId '{offer}' is not the offer '{}' of subscription {}",
                        sub.offer_id, sub.id
                    ),
                ));
            }
            if line.quantity != Some(sub.quantity) {
                return Err(ApiError::bad_request(
                    3000,
                    format!(
                        "LineItems[{i}].Quantity must be the subscription's quantity {} (this API changes the billing cycle only)",
                        sub.quantity
                    ),
                ));
            }
            if sub.is_new_commerce() {
                return Err(ApiError::bad_request(
                    800042,
                    format!(
                        "Subscription {} is a new commerce subscription: changing the billing cycle through the order is supported for legacy subscriptions only; update the subscription instead",
                        sub.id
                    ),
                ));
            }
            match sub.status {
                Status::Pending => {
                    return Err(ApiError::bad_request(
                        800082,
                        "The subscription is not ready to be updated; try again after some time",
                    ));
                }
                Status::Deleted | Status::Expired => {
                    return Err(ApiError::bad_request(
                        2011,
                        format!(
                            "A subscription in {} status cannot be updated",
                            sub.status.as_str()
                        ),
                    ));
                }
                Status::Active | Status::Suspended => {}
            }
            if !sub.term.allows(cycle) {
                return Err(cycle_not_offered(&sub.offer_id, cycle, sub.term, true));
            }
            targets.push(si);
        }
        for si in targets {
            let sub = &mut self.subscriptions[si];
            if sub.billing_cycle != cycle {
                sub.billing_cycle = cycle;
                sub.version += 1;
            }
        }
        if self.orders[oi].billing_cycle != cycle {
            self.freeze_checkout_of(oi)?;
            self.orders[oi].billing_cycle = cycle;
        }
        Ok(Self::order_json(&self.orders[oi]))
    }

    /// Before an order changes, the checkout that created it keeps its answer whole:
    /// rebuilt from the changed order it would no longer be what was answered.
    fn freeze_checkout_of(&mut self, order: usize) -> ApiResult<()> {
        let order_id = &self.orders[order].id;
        let Some(cart) =
            self.index()
                .checkout_of_order
                .find(&self.carts, &[order_id], |c| match &c.checkout {
                    Some(CheckoutRecord::Orders(record)) => record.order_ids.contains(order_id),
                    _ => false,
                })
        else {
            return Ok(());
        };
        if let Some(record) = &self.carts[cart].checkout {
            let answer = self.checkout_answer(&self.carts[cart], record)?;
            self.carts[cart].checkout = Some(CheckoutRecord::Answer(answer));
        }
        Ok(())
    }

    // ---- subscriptions -----------------------------------------------------------

    fn subscription_index(&self, customer_id: &str, sub_id: &str) -> ApiResult<usize> {
        let customer = &self.customers[self.customer_index(customer_id)?].id;
        self.index()
            .subscriptions
            .find(&self.subscriptions, &[sub_id], |s| {
                eq_id(&s.id, sub_id) && &s.customer_id == customer
            })
            .ok_or_else(|| {
                ApiError::not_found(20003, format!("Subscription '{sub_id}' was not found"))
            })
    }

    /// The Subscription resource.
    pub fn subscription_json(&self, s: &Subscription, now: i64) -> Value {
        let end = s.commitment_end();
        let mut v = json!({
            "id": s.id, "entitlementId": s.id, "offerId": s.offer_id,
            "offerName": s.offer_id.split(':').next().unwrap_or(&s.offer_id),
            "friendlyName": s.friendly_name, "quantity": s.quantity, "unitType": "Licenses",
            "creationDate": format_rfc3339(s.created_at), "effectiveStartDate": format_rfc3339(s.term_start()),
            "commitmentEndDate": format_rfc3339(end), "status": s.status.as_str(),
            "autoRenewEnabled": s.auto_renew_enabled, "billingType": "license",
            "billingCycle": s.billing_cycle.as_str(), "termDuration": s.term.as_str(), "isTrial": false,
            "partnerId": s.partner_id, "contractType": "subscription", "orderId": s.order_id,
            "attributes": {"etag": s.etag(), "objectType": "Subscription"},
        });
        if s.is_new_commerce()
            && let Value::Object(map) = &mut v
        {
            let until = s.window_end();
            map.insert(
                "cancellationAllowedUntilDate".to_owned(),
                json!(format_rfc3339(until)),
            );
            let refundable = if now <= until { s.quantity } else { 0 };
            let details = if refundable > 0 {
                vec![json!({"quantity": refundable, "allowedUntilDateTime": format_rfc3339(until)})]
            } else {
                Vec::new()
            };
            map.insert(
                "refundableQuantity".to_owned(),
                json!({"totalQuantity": refundable, "details": details}),
            );
            // "original value = null" when nothing is scheduled (the documented
            // example's comment).
            map.insert(
                "scheduledNextTermInstructions".to_owned(),
                s.next_term.as_ref().map_or(Value::Null, NextTerm::to_json),
            );
        }
        v
    }

    /// The keys of the documented Subscription (get-a-subscription-by-id.md, "Response
    /// example for a standard subscription"), in its order.
    const DOCUMENTED_SUBSCRIPTION_KEYS: [&'static str; 17] = [
        "id",
        "entitlementId",
        "offerId",
        "offerName",
        "friendlyName",
        "quantity",
        "unitType",
        "creationDate",
        "effectiveStartDate",
        "commitmentEndDate",
        "status",
        "autoRenewEnabled",
        "billingType",
        "contractType",
        "links",
        "orderId",
        "attributes",
    ];

    /// The `documented-subscription` view of a Subscription: exactly the keys of the
    /// documented example (so no `billingCycle`, `termDuration`, `partnerId`,
    /// `isTrial`, `cancellationAllowedUntilDate` or `refundableQuantity`), with its
    /// `links` (`offer`, `self`). `billingType` stays (`license`: every simulated
    /// subscription is seat-based). Anything that is not a subscription the simulator
    /// knows passes unchanged.
    pub fn documented_subscription(&self, value: Value) -> Value {
        let Value::Object(map) = &value else {
            return value;
        };
        let Some(sub) = map
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| self.subscription_by_id(id))
            .and_then(|si| self.subscriptions.get(si))
        else {
            return value;
        };
        let country = self
            .index()
            .owner(&self.customers, &sub.customer_id)
            .and_then(|i| self.customers.get(i))
            .and_then(|c| c.billing.default_address.as_ref())
            .and_then(|a| a.country.clone())
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| "US".to_owned());
        let links = json!({
            "offer": {"uri": format!("/offers/{}?country={country}", sub.offer_id), "method": "GET", "headers": []},
            "self": {"uri": format!("/customers/{}/subscriptions/{}", sub.customer_id, sub.id), "method": "GET", "headers": []},
        });
        let mut out = serde_json::Map::new();
        for key in Self::DOCUMENTED_SUBSCRIPTION_KEYS {
            let v = if key == "links" {
                Some(links.clone())
            } else {
                map.get(key).cloned()
            };
            if let Some(v) = v {
                out.insert(key.to_owned(), v);
            }
        }
        Value::Object(out)
    }

    /// `GET …/subscriptions[?order_id=|?mpn_id=]`, in creation order.
    pub fn list_subscriptions(
        &self,
        customer_id: &str,
        order_id: Option<&str>,
        mpn_id: Option<&str>,
        now: i64,
    ) -> ApiResult<Vec<Value>> {
        let customer = self.customer_index(customer_id)?;
        Ok(self
            .subscriptions_of(customer)
            .filter(|s| order_id.is_none_or(|o| eq_id(o, &s.order_id)))
            .filter(|s| mpn_id.is_none_or(|m| m.trim() == s.partner_id))
            .map(|s| self.subscription_json(s, now))
            .collect())
    }

    /// `GET …/subscriptions/{id}`.
    pub fn get_subscription(&self, customer_id: &str, sub_id: &str, now: i64) -> ApiResult<Value> {
        Ok(self.subscription_json(
            &self.subscriptions[self.subscription_index(customer_id, sub_id)?],
            now,
        ))
    }

    /// `GET …/subscriptions/{id}/provisioningstatus`: `pending` while the order
    /// provisions, `success` afterwards (also when suspended or deleted); `failed` is
    /// never produced. `skuId` is `productId:skuId` of a new-commerce offer id and the
    /// offer id itself for legacy offers (choice).
    pub fn subscription_provisioning_status(
        &self,
        customer_id: &str,
        sub_id: &str,
    ) -> ApiResult<Value> {
        let s = &self.subscriptions[self.subscription_index(customer_id, sub_id)?];
        let sku = if s.is_new_commerce() {
            s.offer_id
                .splitn(3, ':')
                .take(2)
                .collect::<Vec<_>>()
                .join(":")
        } else {
            s.offer_id.clone()
        };
        let status = if s.status == Status::Pending {
            "pending"
        } else {
            "success"
        };
        Ok(json!({
            "skuId": sku, "status": status, "quantity": s.quantity,
            "endDate": format_rfc3339(s.commitment_end()),
            "attributes": {"objectType": "SubscriptionProvisioningStatus"},
        }))
    }

    /// A subscription with a change accepted (202) and not yet applied refuses other
    /// changes with 409/800060, Partner Center's "in progress" answer.
    fn not_in_progress(s: &Subscription) -> ApiResult<()> {
        if s.pending_change.is_some() {
            return Err(ApiError::new(
                409,
                800060,
                format!(
                    "A change to subscription {} is still in progress; try again after it completes",
                    s.id
                ),
            ));
        }
        Ok(())
    }

    /// The end of a term at `renewal_at` (00:00 UTC after its last day): with
    /// auto-renew, a new term starts then, with the scheduled next-term
    /// instructions applied and cleared (create-scheduled-changes: "Creating
    /// scheduled changes allows you to modify your subscription, automatically,
    /// when the next renewal occurs"); without it the subscription expires
    /// (subscription-resources.md, status `expired`). Returns the next renewal.
    ///
    /// Choices (docs/simulator.md, "Terms and renewals"): the renewal happens at
    /// the instant, not within the documented "up to 24 hours" queue; a suspended
    /// subscription renews like an active one (UNCONFIRMED); a pending one is left
    /// (its purchase completes long before a term ends).
    fn renew(sub: &mut Subscription, renewal_at: i64) -> Option<i64> {
        if !matches!(sub.status, Status::Active | Status::Suspended)
            || sub.renewal_at() != renewal_at
        {
            return None;
        }
        sub.version += 1;
        if !sub.auto_renew_enabled {
            sub.status = Status::Expired;
            sub.next_term = None;
            return None;
        }
        if let Some(next) = sub.next_term.take() {
            sub.offer_id = next.offer_id;
            sub.term = next.term;
            sub.billing_cycle = next.billing_cycle;
            sub.quantity = next.quantity;
        }
        sub.term_start = Some(renewal_at);
        Some(sub.renewal_at())
    }

    /// Applies a validated change.
    fn apply_change(s: &mut Subscription, change: &SubscriptionChange) {
        s.status = change.status;
        if change.status != Status::Deleted {
            s.quantity = change.quantity;
        }
        s.friendly_name = change.friendly_name.clone();
        s.auto_renew_enabled = change.auto_renew_enabled;
        s.partner_id = change.partner_id.clone();
        s.billing_cycle = change.billing_cycle;
        s.next_term = change.next_term.clone();
        s.version += 1;
    }

    /// `PATCH …/subscriptions/{id}` with the full resource.
    pub fn patch_subscription(
        &mut self,
        customer_id: &str,
        sub_id: &str,
        input: SubscriptionInput,
        now: i64,
    ) -> ApiResult<Value> {
        let (si, change) = self.check_subscription_patch(customer_id, sub_id, input, now)?;
        if let Some(change) = change {
            Self::apply_change(&mut self.subscriptions[si], &change);
        }
        let s = self.subscriptions[si].clone();
        Ok(self.subscription_json(&s, now))
    }

    /// `PATCH …/subscriptions/{id}` answered `202 Accepted` (the `accepted-patch`
    /// variant, change-the-quantity-of-a-subscription.md "Response example 2"):
    /// validated as [`State::patch_subscription`], applied when the simulated clock
    /// reaches `now + delay` (until then reads show the old values, and other changes
    /// to the subscription answer 409/800060). Returns the `Location` header.
    pub fn patch_subscription_accepted(
        &mut self,
        customer_id: &str,
        sub_id: &str,
        input: SubscriptionInput,
        now: i64,
        delay: i64,
    ) -> ApiResult<String> {
        let (si, change) = self.check_subscription_patch(customer_id, sub_id, input, now)?;
        if let Some(mut change) = change {
            change.apply_at = now.saturating_add(delay.max(0));
            self.index_mut()
                .pending_changes
                .insert((change.apply_at, si));
            self.subscriptions[si].pending_change = Some(change);
        }
        let s = &self.subscriptions[si];
        Ok(format!(
            "/customers/{}/subscriptions/{}",
            s.customer_id, s.id
        ))
    }

    /// Validates a subscription PATCH: the subscription's index and the change to
    /// make (`None`: nothing differs).
    fn check_subscription_patch(
        &self,
        customer_id: &str,
        sub_id: &str,
        input: SubscriptionInput,
        now: i64,
    ) -> ApiResult<(usize, Option<SubscriptionChange>)> {
        let si = self.subscription_index(customer_id, sub_id)?;
        let sub = &self.subscriptions[si];
        Self::not_in_progress(sub)?;
        let new_status = match input.status.as_deref() {
            None => sub.status,
            Some(text) => match fold_enum(text).as_str() {
                "active" => Status::Active,
                "suspended" => Status::Suspended,
                "deleted" => Status::Deleted,
                "pending" if sub.status == Status::Pending => Status::Pending,
                _ => {
                    return Err(ApiError::bad_request(
                        3000,
                        format!("status '{text}' cannot be set"),
                    ));
                }
            },
        };
        let quantity = input.quantity.unwrap_or(sub.quantity);
        let friendly_name = input
            .friendly_name
            .clone()
            .unwrap_or_else(|| sub.friendly_name.clone());
        let auto_renew = input.auto_renew_enabled.unwrap_or(sub.auto_renew_enabled);
        let partner_id = input
            .partner_id
            .as_deref()
            .map_or(sub.partner_id.clone(), |p| p.trim().to_owned());
        // Legacy: the billing cycle belongs to the order (change-the-billing-cycle.md,
        // error 2054 here). New commerce: the current docs ("Update a subscription by
        // ID"; customers/billing-frequency-changes, "Immediate changes") allow a
        // mid-term change through this PATCH, except to or from triennial billing
        // ("Midterm billing frequency changes for triennial offers will be blocked
        // starting April 1, 2025"), and only to a cycle the term offers.
        let billing_cycle = match input.billing_cycle.as_deref() {
            None => sub.billing_cycle,
            Some(text) => match Cycle::parse(text) {
                Some(cycle) if cycle == sub.billing_cycle => cycle,
                Some(_) if !sub.is_new_commerce() => {
                    return Err(ApiError::bad_request(
                        2054,
                        "The billing cycle cannot be changed on a subscription; update the order instead",
                    ));
                }
                Some(cycle)
                    if cycle == Cycle::Triennial || sub.billing_cycle == Cycle::Triennial =>
                {
                    return Err(ApiError::bad_request(
                        800042,
                        "Mid-term billing frequency changes are not supported for triennial billing; schedule the change for the renewal",
                    ));
                }
                Some(cycle) if !sub.term.allows(cycle) => {
                    return Err(ApiError::bad_request(
                        10010,
                        format!(
                            "billing cycle '{}' is not offered with term {}",
                            cycle.as_str(),
                            sub.term.as_str()
                        ),
                    ));
                }
                Some(cycle) => cycle,
                None => {
                    return Err(ApiError::bad_request(
                        3000,
                        format!("'{text}' is not a billing cycle"),
                    ));
                }
            },
        };
        // Scheduled next-term instructions (create-scheduled-changes). Given and
        // different from what is scheduled: set (or, `null`, removed). Otherwise
        // kept, unless this PATCH makes an immediate change: "If you make a
        // mid-term (immediate) change before your renewal date, all scheduled
        // changes that were previously scheduled to occur at renewal are
        // deleted." Which changes count is UNCONFIRMED; the simulator takes a
        // quantity or billing-cycle change, and turning auto-renew off (scheduled
        // changes need auto-renew, the page's prerequisite).
        let requested = match &input.scheduled_next_term_instructions {
            None => None,
            Some(None) | Some(Some(Value::Null)) => Some(None),
            Some(Some(value)) => Some(Some(parse_next_term(value)?)),
        };
        let immediate = quantity != sub.quantity
            || billing_cycle != sub.billing_cycle
            || (!auto_renew && sub.auto_renew_enabled);
        let next_term = match requested {
            Some(next) if next != sub.next_term => next,
            _ if immediate => None,
            _ => sub.next_term.clone(),
        };
        let scheduling = next_term.is_some() && next_term != sub.next_term;
        let changed = new_status != sub.status
            || billing_cycle != sub.billing_cycle
            || quantity != sub.quantity
            || friendly_name != sub.friendly_name
            || auto_renew != sub.auto_renew_enabled
            || partner_id != sub.partner_id
            || next_term != sub.next_term;
        if sub.status == Status::Pending {
            return Err(ApiError::bad_request(
                800082,
                "The subscription is not ready to be updated; try again after some time",
            ));
        }
        if let Some(etag) = input.attributes.as_ref().and_then(|a| a.etag.as_deref())
            && etag != sub.etag()
        {
            return Err(ApiError::bad_request(2055, "Etag is no longer valid"));
        }
        if !changed {
            return Ok((si, None));
        }
        if matches!(sub.status, Status::Deleted | Status::Expired) {
            return Err(ApiError::bad_request(
                2011,
                format!(
                    "A subscription in {} status cannot be updated",
                    sub.status.as_str()
                ),
            ));
        }
        if quantity != sub.quantity {
            if sub.status == Status::Suspended {
                return Err(ApiError::bad_request(
                    2001,
                    "The quantity cannot be changed while the subscription is suspended",
                ));
            }
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                return Err(ApiError::bad_request(
                    2002,
                    format!("quantity must be between 1 and {MAX_QUANTITY}"),
                ));
            }
        }
        let in_window = now <= sub.window_end();
        if sub.is_new_commerce() {
            if quantity < sub.quantity && !in_window && new_status != Status::Deleted {
                return Err(ApiError::bad_request(
                    800090,
                    "The subscription quantity cannot be decreased after the cancellation window",
                ));
            }
            if new_status == Status::Deleted && !in_window {
                return Err(ApiError::bad_request(
                    800096,
                    "The subscription cannot be cancelled after the cancellation window",
                ));
            }
        }
        if scheduling && let Some(next) = &next_term {
            Self::check_next_term(sub, next, auto_renew, new_status)?;
        }
        if partner_id != sub.partner_id && !partner_id.is_empty() {
            let owner = self.customer_index(&sub.customer_id)?;
            self.check_partner_of_record(Some(owner), &partner_id)?;
        }
        Ok((
            si,
            Some(SubscriptionChange {
                apply_at: now,
                status: new_status,
                quantity,
                friendly_name,
                auto_renew_enabled: auto_renew,
                partner_id,
                billing_cycle,
                next_term,
            }),
        ))
    }

    /// The rules of scheduled next-term instructions. The page names the
    /// prerequisite (auto-renew on) and the kinds of change (seats, term, billing
    /// frequency, an SKU upgrade on the transition paths Partner Center offers);
    /// the error codes are the simulator's (UNCONFIRMED, docs/simulator.md).
    fn check_next_term(
        sub: &Subscription,
        next: &NextTerm,
        auto_renew: bool,
        status: Status,
    ) -> ApiResult<()> {
        if !sub.is_new_commerce() {
            return Err(ApiError::bad_request(
                800110,
                "Scheduled changes are available for new-commerce subscriptions only",
            ));
        }
        if !auto_renew {
            return Err(ApiError::bad_request(
                800111,
                "Scheduled changes need auto-renew to be enabled on the subscription",
            ));
        }
        if status != Status::Active {
            return Err(ApiError::bad_request(
                800112,
                format!(
                    "Changes cannot be scheduled on a {} subscription",
                    status.as_str()
                ),
            ));
        }
        // Another product or SKU only on a transition path the subscription's
        // transition eligibilities list (transitions.rs).
        if !transitions::is_transition_path(sub, &next.offer_id) {
            return Err(ApiError::bad_request(
                800113,
                format!(
                    "{} is not an eligible transition for this subscription",
                    next.offer_id
                ),
            ));
        }
        if !next.term.allows(next.billing_cycle) {
            return Err(ApiError::bad_request(
                10010,
                format!(
                    "billing cycle '{}' is not offered with term {}",
                    next.billing_cycle.as_str(),
                    next.term.as_str()
                ),
            ));
        }
        if !(1..=MAX_QUANTITY).contains(&next.quantity) {
            return Err(ApiError::bad_request(
                2002,
                format!("quantity must be between 1 and {MAX_QUANTITY}"),
            ));
        }
        Ok(())
    }

    // ---- support contact ---------------------------------------------------------

    fn support_json(&self, customer: &str, s: &Subscription) -> Value {
        let (tenant, mpn, name) = s.support_contact.clone().unwrap_or_else(|| {
            (
                self.partner.tenant_id.clone(),
                self.partner.mpn_id.clone(),
                self.partner.name.clone(),
            )
        });
        json!({
            "supportTenantId": tenant, "supportMpnId": mpn, "name": name,
            "links": {"self": {"uri": format!("/customers/{customer}/subscriptions/{}/supportcontact", s.id), "method": "GET", "headers": []}},
            "attributes": {"objectType": "SupportContact"},
        })
    }

    fn not_for_new_commerce(s: &Subscription) -> ApiResult<()> {
        if s.is_new_commerce() {
            return Err(ApiError::bad_request(
                800042,
                "Designated support contacts are not supported for new commerce subscriptions",
            ));
        }
        Ok(())
    }

    /// `GET …/supportcontact`: the provider itself when none is designated.
    pub fn get_support_contact(&self, customer_id: &str, sub_id: &str) -> ApiResult<Value> {
        let s = &self.subscriptions[self.subscription_index(customer_id, sub_id)?];
        Self::not_for_new_commerce(s)?;
        Ok(self.support_json(&s.customer_id, s))
    }

    /// `PUT …/supportcontact`: a reseller of the provider, or the provider (reset).
    pub fn put_support_contact(
        &mut self,
        customer_id: &str,
        sub_id: &str,
        input: SupportContactInput,
    ) -> ApiResult<Value> {
        let si = self.subscription_index(customer_id, sub_id)?;
        let s = &self.subscriptions[si];
        Self::not_for_new_commerce(s)?;
        if s.status == Status::Deleted {
            return Err(ApiError::bad_request(
                2011,
                "A subscription in deleted status cannot be updated",
            ));
        }
        let tenant = input.support_tenant_id.unwrap_or_default();
        let mpn = input.support_mpn_id.unwrap_or_default();
        let contact = if eq_id(tenant.trim(), &self.partner.tenant_id)
            && mpn.trim() == self.partner.mpn_id
        {
            None
        } else {
            match self.reseller_by_tenant(tenant.trim()) {
                Some(r) if r.mpn_id == mpn.trim() => {
                    let owner = self.customer_index(&s.customer_id)?;
                    if !self
                        .related_reseller(owner, |related| eq_id(&related.tenant_id, &r.tenant_id))
                    {
                        return Err(Self::unrelated_reseller(
                            &format!("Tenant '{}' with MPN ID '{}'", r.tenant_id, r.mpn_id),
                            &s.customer_id,
                        ));
                    }
                    Some((r.tenant_id.clone(), r.mpn_id.clone(), r.name.clone()))
                }
                _ => {
                    return Err(ApiError::bad_request(
                        800016,
                        format!(
                            "Tenant '{tenant}' with MPN ID '{mpn}' is not an indirect reseller of the provider"
                        ),
                    ));
                }
            }
        };
        let s = &mut self.subscriptions[si];
        if s.support_contact != contact {
            s.support_contact = contact;
            s.version += 1;
        }
        let s = self.subscriptions[si].clone();
        Ok(self.support_json(&s.customer_id, &s))
    }

    // ---- seed --------------------------------------------------------------------

    /// Loads a seed into an empty world; `now` is the simulator's start time.
    pub fn apply_seed(&mut self, seed: Seed, now: i64) -> Result<(), String> {
        for r in seed.resellers {
            self.add_reseller(r)
                .map_err(|e| format!("seed reseller: {}", e.description))?;
        }
        for t in seed.tenants {
            self.add_tenant(Some(t.id), &t.domain, &t.company_name)
                .map_err(|e| format!("seed tenant: {}", e.description))?;
        }
        for sc in seed.customers {
            let id = match sc.id {
                Some(id) if self.tenant_id_taken(&id) => {
                    return Err(format!("seed customer: tenant '{id}' already exists"));
                }
                Some(id) => id,
                None => self.new_guid(),
            };
            if self.domain_taken(&sc.domain) {
                return Err(format!(
                    "seed customer: domain '{}' already in use",
                    sc.domain
                ));
            }
            for r in &sc.resellers {
                if self.reseller_by_tenant(r).is_none() {
                    return Err(format!(
                        "seed customer {}: reseller '{r}' is not in the seed's resellers",
                        sc.domain
                    ));
                }
            }
            let billing_profile_id = self.new_guid();
            let mut reseller_ids = sc.resellers.clone();
            reseller_ids.sort();
            reseller_ids.dedup();
            let mut customer = Customer {
                id: id.clone(),
                domain: sc.domain.clone(),
                company_name: sc.company_name.clone(),
                organization_registration_number: None,
                billing_profile_id,
                billing: BillingProfile {
                    company_name: Some(sc.company_name.clone()),
                    default_address: Some(Address {
                        country: sc.country.clone(),
                        ..Address::default()
                    }),
                    ..BillingProfile::default()
                },
                billing_version: 1,
                associated_partner_id: sc.resellers.first().cloned(),
                reseller_ids,
                agreements: Vec::new(),
                created_at: now - 30 * 86_400,
                relationship_removed: false,
            };
            if sc.mca_accepted {
                let user_id = self.new_guid();
                customer.agreements.push(Agreement {
                    primary_contact: Contact {
                        first_name: Some("Seed".to_owned()),
                        last_name: Some("Admin".to_owned()),
                        email: Some(format!("admin@{}", sc.domain)),
                        phone_number: None,
                    },
                    template_id: MCA_TEMPLATE_ID.to_owned(),
                    date_agreed: format_rfc3339(now - 30 * 86_400),
                    user_id,
                });
            }
            let owner = self.push_customer(customer);
            for ss in sc.subscriptions {
                let term = Term::parse(&ss.term_duration).ok_or_else(|| {
                    format!("seed subscription: bad termDuration '{}'", ss.term_duration)
                })?;
                let cycle = Cycle::parse(&ss.billing_cycle).ok_or_else(|| {
                    format!("seed subscription: bad billingCycle '{}'", ss.billing_cycle)
                })?;
                if !term.allows(cycle) || ss.quantity < 1 || ss.offer_id.trim().is_empty() {
                    return Err(format!(
                        "seed subscription {}: invalid term, cycle, quantity or offer",
                        ss.offer_id
                    ));
                }
                let status = match ss.status.as_deref().map(fold_enum).as_deref() {
                    None | Some("active") => Status::Active,
                    Some("suspended") => Status::Suspended,
                    Some("deleted") => Status::Deleted,
                    Some(other) => return Err(format!("seed subscription: bad status '{other}'")),
                };
                if let Some(p) = ss.partner_id.as_deref()
                    && !p.is_empty()
                {
                    self.check_partner_of_record(None, p)
                        .map_err(|e| format!("seed subscription: {}", e.description))?;
                }
                let created = now - ss.age_days.unwrap_or(30).max(0) * 86_400;
                let order_id = self.new_guid();
                let sub_id = match ss.id {
                    Some(s) => s,
                    None => self.new_guid(),
                };
                let friendly = ss.friendly_name.unwrap_or_default();
                let order = Order {
                    id: order_id.clone(),
                    customer_id: id.clone(),
                    billing_cycle: cycle,
                    created_at: created,
                    ready_at: created,
                    completed: true,
                    line_items: vec![OrderLine {
                        line_item_number: 0,
                        offer_id: ss.offer_id.clone(),
                        subscription_id: sub_id.clone(),
                        term,
                        quantity: ss.quantity,
                        friendly_name: friendly.clone(),
                        partner_id_on_record: ss.partner_id.clone().filter(|p| !p.is_empty()),
                    }],
                };
                let order = self.push_order(order, owner);
                let sub = Subscription {
                    id: sub_id,
                    customer_id: id.clone(),
                    order_id,
                    offer_id: ss.offer_id,
                    friendly_name: friendly,
                    quantity: ss.quantity,
                    term,
                    billing_cycle: cycle,
                    status,
                    auto_renew_enabled: true,
                    partner_id: ss.partner_id.unwrap_or_default(),
                    created_at: created,
                    version: 1,
                    support_contact: None,
                    pending_change: None,
                    term_start: None,
                    next_term: None,
                    first_term_end: None,
                };
                self.push_subscription(sub, owner, order);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
mod transitions;
pub use transitions::TRANSITION_PATHS;
