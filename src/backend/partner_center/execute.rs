//! Plan operations as Partner Center requests.
//!
//! Every mutating request carries a request id derived from the operation's
//! `request_id` (the first one the id itself, later steps [`derive_request_id`]),
//! so a retry of a whole operation replays the same requests and Partner
//! Center's idempotency by `MS-RequestId` turns them into no-ops: a purchase is
//! never made twice. A purchase's own id is not the one apply gives: it is
//! derived from what it buys and the journal's purchase generation
//! ([`PurchaseKey::request_id`], see [`journal`](super::journal)), so the same
//! purchase sent by another run gets the same id. Reads use fresh ids. Nothing
//! here decides *what* to change; each operation is carried out as the plan
//! gives it.

use reqwest::Method;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::PartnerCenterClient;
use super::deadline::Deadline;
use super::http::{Request, Response};
use super::ids::derive_request_id;
use super::journal::{OpenPurchase, PurchaseKey, Record, read_open};
use super::wire::{
    self, AgreementRecord, BillingCycleLine, Cart, CheckoutResult, Collection, Customer, Order,
    OrderLineItem, Purchase, Subscription, address_json, agreement_body, billing_cycle_body,
    billing_cycle_str, cart_body, create_customer_body, non_empty, order_body, parse_status,
    sandbox_reseller_body, support_contact_body,
};
use crate::backend::{BackendError, Outcome};
use crate::ids::random_guid;
use crate::live::LiveStatus;
use crate::manifest::model::{Agreement, Billing, ResellerSpec, is_new_commerce_offer, same_offer};
use crate::plan::{ObjectRef, Operation, SubscriptionPatch};
use crate::time;

/// 400/600061: this contact's acceptance is already recorded.
const CODE_AGREEMENT_EXISTS: u32 = 600_061;

impl PartnerCenterClient {
    /// Executes one operation. `request_id` identifies it; a retry of the same
    /// operation must pass the same id. A purchase ignores it: its id comes from
    /// its intent ([`PurchaseKey::request_id`]), the same in every run.
    pub async fn execute(
        &self,
        operation: &Operation,
        request_id: &str,
    ) -> Result<Outcome, BackendError> {
        match operation {
            Operation::CreateReseller { reseller } => {
                self.create_reseller(reseller, request_id).await
            }
            Operation::CreateCustomer {
                domain,
                company_name,
                billing,
                organization_registration_number,
                associated_partner_id,
                // Filled into `associated_partner_id` by apply (`apply::resolve`).
                associated_reseller: _,
                agreement,
            } => {
                if associated_partner_id.is_empty() {
                    return Err(BackendError::Unresolved(format!(
                        "customer {domain}: its reseller's tenant id is unknown (the reseller was not created by this run)"
                    )));
                }
                let body = create_customer_body(
                    domain,
                    company_name,
                    billing,
                    organization_registration_number.as_deref(),
                    associated_partner_id,
                );
                let response = self
                    .mutate(Method::POST, "/customers", Some(&body), request_id)
                    .await?;
                let customer: Customer = response.parse("response to POST /v1/customers")?;
                let id = customer.tenant_id().ok_or_else(|| {
                    BackendError::State(format!(
                        "POST /v1/customers (request id {request_id}) created customer {domain} but the answer has no id; read the live state before retrying"
                    ))
                })?;
                if let Some(agreement) = agreement {
                    self.record_agreement(&id, agreement, &derive_request_id(request_id, "agreement"))
                        .await?;
                }
                Ok(created(id))
            }
            Operation::UpdateCustomer {
                customer,
                billing,
                company_name,
                agreement,
            } => {
                let id = resolve(customer)?;
                if billing.is_some() || company_name.is_some() {
                    self.update_billing_profile(
                        &id,
                        billing.as_ref(),
                        company_name.as_deref(),
                        &derive_request_id(request_id, "billing-profile"),
                    )
                    .await?;
                }
                if let Some(agreement) = agreement {
                    self.record_agreement(&id, agreement, &derive_request_id(request_id, "agreement"))
                        .await?;
                }
                Ok(Outcome::default())
            }
            Operation::CreateSubscription { customer, .. } => {
                let customer_id = resolve(customer)?;
                self.purchase(operation, &customer_id, PurchaseId::New)
                    .await
            }
            Operation::UpdateSubscription {
                customer,
                subscription_id,
                patch,
            } => {
                let customer_id = resolve(customer)?;
                let subscription_id = segment(subscription_id, "subscription id")?;
                self.update_subscription(&customer_id, &subscription_id, patch, request_id)
                    .await?;
                Ok(Outcome::default())
            }
            Operation::SetSupportContact {
                customer,
                subscription,
                reseller_tenant_id,
                // Filled into `reseller_tenant_id` by apply (`apply::resolve`).
                reseller_created_by: _,
                reseller_mpn_id,
                reseller_name,
            } => {
                let customer_id = resolve(customer)?;
                let subscription_id = resolve(subscription)?;
                self.put_support_contact(
                    &customer_id,
                    &subscription_id,
                    reseller_tenant_id,
                    reseller_mpn_id,
                    reseller_name,
                    request_id,
                )
                .await?;
                Ok(Outcome::default())
            }
            Operation::ResetSupportContact {
                customer,
                subscription_id,
            } => {
                let customer_id = resolve(customer)?;
                let subscription_id = segment(subscription_id, "subscription id")?;
                let (mpn_id, name) = self.provider_profile().await?;
                let tenant_id = self.http.credentials().tenant_id.clone();
                self.put_support_contact(
                    &customer_id,
                    &subscription_id,
                    &tenant_id,
                    &mpn_id,
                    &name,
                    request_id,
                )
                .await?;
                Ok(Outcome::default())
            }
            Operation::Manual => Err(BackendError::Unresolved(
                "a manual action cannot be executed: a person must act as the plan's instructions say, then plan again".to_owned(),
            )),
        }
    }

    async fn get(&self, path: &str) -> Result<Response, BackendError> {
        let request_id = random_guid();
        self.http
            .send(Request::new(Method::GET, path, &request_id))
            .await
    }

    async fn mutate(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        request_id: &str,
    ) -> Result<Response, BackendError> {
        let mut request = Request::new(method, path, request_id);
        request.body = body;
        self.http.send(request).await
    }

    /// A purchase, journaled: the intent is on disk before the first request is
    /// sent, the order when Partner Center answers, and the end when it is
    /// provisioned or refused (see [`journal`](super::journal)). A failure that
    /// leaves the outcome unknown (timeout, lost connection, crash) leaves the
    /// purchase open for the next apply to settle with the same request id.
    ///
    /// A new purchase's request id is [`PurchaseKey::request_id`] at the
    /// generation the journal gives the key, raised to the number of the
    /// customer's subscriptions already listed under the friendly name (all of
    /// them cancelled or gone, or nothing would be bought): a runner whose journal
    /// never saw the earlier purchases of this subscription (another runner made
    /// them) then still sends a re-purchase with an id of its own, rather than
    /// the id the first purchase was answered under.
    async fn purchase(
        &self,
        operation: &Operation,
        customer_id: &str,
        id: PurchaseId<'_>,
    ) -> Result<Outcome, BackendError> {
        let Operation::CreateSubscription {
            customer,
            offer_id,
            quantity,
            term_duration,
            billing_cycle,
            friendly_name,
            partner_id_on_record,
            custom_term_end_date,
            ..
        } = operation
        else {
            return Err(BackendError::Unresolved(
                "internal: purchase called with another operation".to_owned(),
            ));
        };
        // A customer this apply created (no id at plan time) has nothing another
        // run could have bought.
        let mut listed = 0;
        if customer.id.is_some() && !self.http.is_in_process() {
            let seen = self
                .bought_since_planned(customer_id, friendly_name)
                .await?;
            if let Some(done) = seen.done {
                if let PurchaseId::Replay(request_id) = id {
                    // Settling a purchase an interrupted apply left open, and the
                    // subscription is there: nothing more to do for it.
                    self.settle_record(request_id, true)?;
                }
                return Ok(done);
            }
            listed = seen.named;
        }
        let request_id = match id {
            // Already journaled, with the id it was first sent with.
            PurchaseId::Replay(request_id) => request_id.to_owned(),
            PurchaseId::New => {
                let key = PurchaseKey::new(
                    &self.http.credentials().tenant_id,
                    customer_id,
                    friendly_name,
                );
                let journaled = self
                    .journal
                    .as_ref()
                    .map_or(0, |handle| handle.journal.next_generation(&key));
                let generation = journaled.max(listed);
                let request_id = key.request_id(generation);
                self.journal_durably(|at| Record::Intent {
                    request_id: request_id.clone(),
                    at,
                    operation: Box::new(operation.clone()),
                    key: Some(key),
                    generation: Some(generation),
                })
                .await?;
                request_id
            }
        };
        let request_id = request_id.as_str();
        let purchase = Purchase {
            customer_id,
            offer_id,
            quantity: *quantity,
            term_duration: *term_duration,
            billing_cycle: *billing_cycle,
            friendly_name,
            partner_id_on_record: partner_id_on_record.as_deref(),
            custom_term_end_date: custom_term_end_date.as_deref(),
        };
        let bought = if is_new_commerce_offer(offer_id) {
            self.buy_with_cart(&purchase, request_id).await
        } else {
            self.buy_with_order(&purchase, request_id).await
        };
        let placed = match bought {
            Ok(placed) => placed,
            Err(error) => {
                if is_refusal(&error) {
                    self.settle_record(request_id, false)?;
                }
                return Err(error);
            }
        };
        let order_id = placed.order_id.clone();
        self.journal_durably(|_| Record::Ordered {
            request_id: request_id.to_owned(),
            order_id: order_id.clone(),
            subscription_id: placed.subscription_id.clone(),
        })
        .await?;
        let finish = async {
            self.finish_purchase(operation, customer_id, request_id, placed)
                .await?
                .ok_or_else(|| {
                    BackendError::State(format!(
                        "order {order_id} of customer {customer_id} was cancelled by Partner Center; nothing was provisioned"
                    ))
                })
        };
        match finish.await {
            Ok(subscription_id) => {
                self.settle_record(request_id, true)?;
                Ok(created(subscription_id))
            }
            // Bought, but a follow-up was refused: the next plan shows what differs.
            Err(error) if is_refusal(&error) => {
                self.settle_record(request_id, true)?;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// The same manifest object bought by someone else since the plan was made
    /// (another runner applying the same manifests, with its own journal): the
    /// customer's subscriptions and orders are read again just before buying (two
    /// calls a purchase), and a subscription or an order line still provisioning
    /// with the same friendly name, which is how cspctl names a declared
    /// subscription (customer plus friendly name; never the offer: two declared
    /// subscriptions of one offer are two purchases), means it was bought. Partner
    /// Center may list a new order only minutes later, so this narrows the window
    /// two runners have rather than closing it; a shared state and lock close it.
    /// Not asked of the local tenant: its lock already keeps applies apart.
    async fn bought_since_planned(
        &self,
        customer_id: &str,
        friendly_name: &str,
    ) -> Result<Seen, BackendError> {
        let same = |name: &str| name.eq_ignore_ascii_case(friendly_name);
        let path = format!("/customers/{customer_id}/subscriptions");
        let listed: Collection<Subscription> = self
            .get(&path)
            .await?
            .parse(&format!("response to GET /v1{path}"))?;
        let mut named = 0;
        for subscription in &listed.items {
            let Ok(wire::SubscriptionRead::Live(live)) = subscription.to_live(customer_id) else {
                continue;
            };
            if !same(&live.friendly_name) {
                continue;
            }
            named += 1;
            if !live.status.is_gone() {
                return Ok(Seen::done(Outcome {
                    created_id: Some(live.id.clone()),
                    done_elsewhere: Some(format!(
                        "not bought: subscription {} named `{friendly_name}` was bought since the plan was made (by another run); this apply uses it",
                        live.id
                    )),
                }));
            }
        }
        let path = format!("/customers/{customer_id}/orders");
        let orders: Collection<Order> = self
            .get(&path)
            .await?
            .parse(&format!("response to GET /v1{path}"))?;
        let pending = orders
            .items
            .iter()
            .flat_map(|order| order.pending_subscriptions(customer_id))
            .find(|line| same(&line.friendly_name));
        Ok(match pending {
            Some(line) => Seen::done(Outcome {
                created_id: None,
                done_elsewhere: Some(format!(
                    "not bought: an order for `{friendly_name}` placed since the plan was made (by another run) is still being provisioned{}; plan again once it is",
                    line.order_id
                        .map(|order| format!(" (order {order})"))
                        .unwrap_or_default()
                )),
            }),
            None => Seen { done: None, named },
        })
    }

    /// After Partner Center accepted an order: waits for its subscription (a
    /// pending order names it only once provisioning has made it), journals it,
    /// waits until it is provisioned, then makes the follow-up changes the
    /// operation asks for (auto-renew off, suspended). Returns the subscription id,
    /// or `None` when Partner Center cancelled the order (the purchase is then
    /// settled as not bought).
    async fn finish_purchase(
        &self,
        operation: &Operation,
        customer_id: &str,
        request_id: &str,
        placed: PlacedOrder,
    ) -> Result<Option<String>, BackendError> {
        let Operation::CreateSubscription {
            auto_renew,
            suspend,
            ..
        } = operation
        else {
            return Err(BackendError::Unresolved(
                "internal: finish_purchase called with another operation".to_owned(),
            ));
        };
        let order_id = placed.order_id.clone();
        let subscription_id = match placed.subscription_id {
            Some(id) => Some(id),
            None => {
                let found = self
                    .await_subscription_id(customer_id, &order_id, &placed.line)
                    .await?;
                if let Some(id) = &found {
                    self.journal_durably(|_| Record::Ordered {
                        request_id: request_id.to_owned(),
                        order_id: order_id.clone(),
                        subscription_id: Some(id.clone()),
                    })
                    .await?;
                }
                found
            }
        };
        let provisioned = match &subscription_id {
            Some(id) => self.wait_provisioned(customer_id, &order_id, id).await?,
            None => false,
        };
        let Some(subscription_id) = subscription_id.filter(|_| provisioned) else {
            self.settle_record(request_id, false)?;
            return Ok(None);
        };
        if !auto_renew {
            self.patch_subscription(
                customer_id,
                &subscription_id,
                &derive_request_id(request_id, "auto-renew"),
                fields([("autoRenewEnabled", json!(false))]),
            )
            .await?;
        }
        if *suspend {
            self.patch_subscription(
                customer_id,
                &subscription_id,
                &derive_request_id(request_id, "suspend"),
                fields([("status", json!("suspended"))]),
            )
            .await?;
        }
        Ok(Some(subscription_id))
    }

    /// Polls a pending order (`GET …/orders/{id}`, backing off, for at most
    /// `provisioning_timeout`) until the line cspctl bought names its subscription.
    /// `Ok(None)` when Partner Center cancelled the order. A timeout names the
    /// order and leaves the purchase open in the journal, so the next apply settles
    /// it from there instead of buying again.
    async fn await_subscription_id(
        &self,
        customer_id: &str,
        order_id: &str,
        line: &BoughtLine,
    ) -> Result<Option<String>, BackendError> {
        let mut backoff = self.backoff();
        let path = format!("/customers/{customer_id}/orders/{order_id}");
        loop {
            let order: Order = self
                .get(&path)
                .await?
                .parse(&format!("response to GET /v1{path}"))?;
            if order.status.as_deref().map(wire::enum_key).as_deref() == Some("cancelled") {
                return Ok(None);
            }
            if let Some(found) = line.find(std::slice::from_ref(&order))
                && let Some(id) = found.subscription_id
            {
                return Ok(Some(id));
            }
            if self.line_unfulfilled(&path, &order, line).await {
                return Ok(None);
            }
            if !backoff.wait(&format!("order {order_id} of customer {customer_id} (the purchase stays open in the journal: do not buy again, the next apply settles it)")).await? {
                return Err(BackendError::State(format!(
                    "order {order_id} of customer {customer_id} was placed and is still being provisioned after {} s (its line for {} names no subscription yet); do not buy again: the purchase stays open in the journal and the next apply settles it",
                    self.provisioning_timeout.as_secs(),
                    line.offer_id
                )));
            }
        }
    }

    /// Whether the order's documented provisioning status
    /// (`GET …/orders/{id}/provisioningstatus`, get-order-provisioning-status.md)
    /// says the bought line was not fulfilled ("Unfulfilled: Not fulfilled due to
    /// cancellation"). Anything else, an error included, is "not known yet": the
    /// order itself stays the authority.
    async fn line_unfulfilled(&self, order_path: &str, order: &Order, line: &BoughtLine) -> bool {
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct LineStatus {
            #[serde(deserialize_with = "wire::lenient_u64")]
            line_item_number: Option<u64>,
            #[serde(deserialize_with = "wire::lenient_string")]
            status: Option<String>,
        }
        let Some(number) = order
            .line_items
            .iter()
            .find(|l| {
                l.offer_id
                    .as_deref()
                    .is_some_and(|o| same_offer(o, &line.offer_id))
            })
            .and_then(|l| l.line_item_number)
        else {
            return false;
        };
        let path = format!("{order_path}/provisioningstatus");
        let Ok(response) = self.get(&path).await else {
            return false;
        };
        let Ok(statuses) = response.parse::<Collection<LineStatus>>(&path) else {
            return false;
        };
        statuses.items.iter().any(|s| {
            s.line_item_number == Some(number)
                && s.status.as_deref().map(wire::enum_key).as_deref() == Some("unfulfilled")
        })
    }

    /// Settles every purchase an interrupted apply left open in the journal, so
    /// that planning sees what it bought. Within Partner Center's idempotency
    /// window the operation is replayed with its request id (the original cart
    /// and order come back, or the purchase the interrupted apply was approved to
    /// make is made once); past it, a replay would be a new purchase, so the
    /// customer's orders are looked up instead. Returns one line per purchase.
    pub async fn settle(&self) -> Result<Vec<String>, BackendError> {
        let Some(handle) = &self.journal else {
            return Ok(Vec::new());
        };
        let open = read_open(handle.journal.path())?;
        let mut tasks = tokio::task::JoinSet::new();
        for purchase in open {
            let client = self.clone();
            let now = handle.now.clone();
            tasks.spawn(async move {
                let result = client.settle_one(&purchase, &now).await;
                (purchase, result)
            });
        }
        let mut settled = Vec::new();
        let mut unsettled = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (purchase, result) = joined.map_err(|e| {
                BackendError::State(format!("settling the purchase journal failed: {e}"))
            })?;
            let what = describe_purchase(&purchase.operation, &purchase.request_id);
            match result {
                Ok(line) => settled.push(format!("{what}: {line}")),
                Err(error) if is_refusal(&error) => settled.push(format!(
                    "{what}: refused by Partner Center, nothing bought ({error})"
                )),
                Err(error) => unsettled.push(format!("{what}: {error}")),
            }
        }
        handle.journal.compact()?;
        settled.sort();
        if unsettled.is_empty() {
            return Ok(settled);
        }
        unsettled.sort();
        Err(BackendError::State(format!(
            "{} purchase(s) left open by an interrupted apply could not be settled, so nothing new was planned or applied (a new purchase could buy the same thing twice):\n  {}\nRun apply again later. If it keeps failing, check those orders in Partner Center and then remove their lines from {}",
            unsettled.len(),
            unsettled.join("\n  "),
            handle.journal.path().display()
        )))
    }

    async fn settle_one(&self, purchase: &OpenPurchase, now: &str) -> Result<String, BackendError> {
        // Partner Center answered with an order before the interruption: follow
        // that order (GET by id is reliable where the order list lags by up to 15
        // minutes), whatever the idempotency window.
        if let (
            Some((order_id, subscription_id)),
            Operation::CreateSubscription {
                customer,
                offer_id,
                quantity,
                friendly_name,
                ..
            },
        ) = (&purchase.order, &purchase.operation)
        {
            let customer_id = resolve(customer)?;
            let placed = PlacedOrder {
                order_id: segment(order_id, "order id")?,
                subscription_id: subscription_id
                    .as_deref()
                    .map(|id| segment(id, "subscription id"))
                    .transpose()?,
                line: BoughtLine {
                    offer_id: offer_id.clone(),
                    quantity: *quantity,
                    friendly_name: friendly_name.clone(),
                },
            };
            let finished = self
                .finish_purchase(
                    &purchase.operation,
                    &customer_id,
                    &purchase.request_id,
                    placed,
                )
                .await;
            return match finished {
                Ok(Some(subscription_id)) => {
                    self.settle_record(&purchase.request_id, true)?;
                    Ok(format!(
                        "order {order_id} provisioned subscription {subscription_id}"
                    ))
                }
                Ok(None) => Ok(format!(
                    "order {order_id} was cancelled by Partner Center: nothing was bought"
                )),
                Err(error) if is_refusal(&error) => {
                    // Bought; only a follow-up change was refused.
                    self.settle_record(&purchase.request_id, true)?;
                    Ok(format!(
                        "order {order_id} was provisioned, but a follow-up change was refused ({error}); the next plan shows what differs"
                    ))
                }
                Err(error) => Err(error),
            };
        }
        let within_window = match (time::parse(&purchase.at), time::parse(now)) {
            (Some(at), Some(now)) => now - at < IDEMPOTENCY_WINDOW_SECONDS,
            _ => false,
        };
        if within_window {
            let Operation::CreateSubscription { customer, .. } = &purchase.operation else {
                return Err(BackendError::State(
                    "the journal holds an operation that is not a purchase".to_owned(),
                ));
            };
            let customer_id = resolve(customer)?;
            self.purchase(
                &purchase.operation,
                &customer_id,
                PurchaseId::Replay(&purchase.request_id),
            )
            .await?;
            return Ok("settled by replaying its request id".to_owned());
        }
        let Operation::CreateSubscription {
            customer,
            offer_id,
            friendly_name,
            ..
        } = &purchase.operation
        else {
            return Err(BackendError::State(
                "the journal holds an operation that is not a purchase".to_owned(),
            ));
        };
        let customer_id = resolve(customer)?;
        let path = format!("/customers/{customer_id}/orders");
        let orders: Collection<Order> = self
            .get(&path)
            .await?
            .parse(&format!("response to GET /v1{path}"))?;
        let found = orders.items.iter().any(|order| {
            order.line_items.iter().any(|line| {
                line.offer_id.as_deref() == Some(offer_id.as_str())
                    && line.friendly_name.as_deref() == Some(friendly_name.as_str())
            })
        });
        self.settle_record(&purchase.request_id, found)?;
        Ok(if found {
            "found among the customer's orders".to_owned()
        } else {
            "not among the customer's orders: it was never made".to_owned()
        })
    }

    /// Appends a record to the purchase journal, if this client keeps one, and
    /// returns once it is on disk: an intent before its purchase is sent, an order
    /// before anything relies on it (the next apply looks the order up instead of
    /// sending the purchase again, which could be past the request id's window).
    async fn journal_durably(
        &self,
        record: impl FnOnce(String) -> Record,
    ) -> Result<(), BackendError> {
        match &self.journal {
            Some(journal) => {
                journal
                    .journal
                    .append_durably(&record(journal.now.clone()))
                    .await
            }
            None => Ok(()),
        }
    }

    /// Records that a purchase needs nothing more. Not waited for: lost in a crash,
    /// it only makes the next apply settle the purchase again, by looking up its order.
    fn settle_record(&self, request_id: &str, bought: bool) -> Result<(), BackendError> {
        match &self.journal {
            Some(journal) => journal.journal.append(&Record::Settled {
                request_id: request_id.to_owned(),
                bought,
            }),
            None => Ok(()),
        }
    }

    /// `POST /v1/sandboxIndirectReseller` with the documented body. Partner Center
    /// creates the tenant: the answer's `tenant.id` is the new reseller's tenant id
    /// (its `partnerRelationship.id` is the provider's own tenant, so it is never
    /// taken for the reseller's). The answer also carries the new admin's password,
    /// which is never read into anything cspctl prints or stores.
    async fn create_reseller(
        &self,
        reseller: &ResellerSpec,
        request_id: &str,
    ) -> Result<Outcome, BackendError> {
        if !self.sandbox {
            return Err(BackendError::State(format!(
                "cannot create the partnership with reseller {} (MPN ID {}) through the API: in production the reseller accepts the provider's invitation in Partner Center; only the integration sandbox (--sandbox) creates resellers",
                reseller.display_name, reseller.mpn_id
            )));
        }
        let body = sandbox_reseller_body(reseller).map_err(BackendError::Unresolved)?;
        let response = self
            .mutate(
                Method::POST,
                "/sandboxIndirectReseller",
                Some(&body),
                request_id,
            )
            .await?;
        let answered = response
            .body
            .pointer("/tenant/id")
            .and_then(Value::as_str)
            .and_then(|id| non_empty(Some(id.to_owned())))
            .ok_or_else(|| {
                BackendError::State(format!(
                    "POST /v1/sandboxIndirectReseller (request id {request_id}) created reseller {} (MPN ID {}) but the answer names no tenant.id; plan again: the reseller is found by its MPN ID",
                    reseller.display_name, reseller.mpn_id
                ))
            })?;
        Ok(created(
            segment(&answered, "reseller tenant id")?.to_ascii_lowercase(),
        ))
    }

    /// Records the MCA acceptance. Already recorded for this contact (600061) is
    /// success: that is the state the operation asks for.
    async fn record_agreement(
        &self,
        customer_id: &str,
        agreement: &Agreement,
        request_id: &str,
    ) -> Result<(), BackendError> {
        let template = self.mca_template().await?;
        let body = agreement_body(&agreement.contact, &agreement.date_agreed, &template);
        let path = format!("/customers/{customer_id}/agreements");
        match self
            .mutate(Method::POST, &path, Some(&body), request_id)
            .await
        {
            Ok(_) => Ok(()),
            Err(BackendError::Api { code, .. }) if code == CODE_AGREEMENT_EXISTS => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn mca_template(&self) -> Result<String, BackendError> {
        self.mca_template
            .get_or_try_init(|| async {
                let path = "/agreements?agreementType=MicrosoftCustomerAgreement";
                let list: Collection<AgreementRecord> = self
                    .get(path)
                    .await?
                    .parse(&format!("response to GET /v1{path}"))?;
                list.items
                    .into_iter()
                    .find_map(|a| non_empty(a.template_id))
                    .ok_or_else(|| {
                        BackendError::State(format!(
                            "GET /v1{path} returned no Microsoft Customer Agreement template"
                        ))
                    })
            })
            .await
            .cloned()
    }

    /// The provider's own MPN id and name (`GET /v1/profiles/mpn`).
    async fn provider_profile(&self) -> Result<(String, String), BackendError> {
        self.provider_profile
            .get_or_try_init(|| async {
                let response = self.get("/profiles/mpn").await?;
                let text = |field: &str| {
                    response
                        .body
                        .get(field)
                        .and_then(|v| match v {
                            Value::String(s) => Some(s.clone()),
                            Value::Number(n) => Some(n.to_string()),
                            _ => None,
                        })
                        .and_then(|s| non_empty(Some(s)))
                };
                let mpn = text("mpnId").ok_or_else(|| {
                    BackendError::State(
                        "GET /v1/profiles/mpn returned no mpnId for the provider".to_owned(),
                    )
                })?;
                Ok((mpn, text("partnerName").unwrap_or_default()))
            })
            .await
            .cloned()
    }

    /// GET the billing profile, change it, PUT it back with `If-Match`.
    async fn update_billing_profile(
        &self,
        customer_id: &str,
        billing: Option<&Billing>,
        company_name: Option<&str>,
        request_id: &str,
    ) -> Result<(), BackendError> {
        let path = format!("/customers/{customer_id}/profiles/billing");
        let response = self.get(&path).await?;
        let etag = response
            .body
            .pointer("/attributes/etag")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                response
                    .headers
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            });
        let Value::Object(mut profile) = response.body else {
            return Err(BackendError::State(format!(
                "GET /v1{path} did not return a billing profile object"
            )));
        };
        if let Some(billing) = billing {
            profile.insert("email".into(), json!(billing.email));
            profile.insert("culture".into(), json!(billing.culture));
            profile.insert("language".into(), json!(billing.language));
            profile.insert("defaultAddress".into(), address_json(&billing.address));
        }
        if let Some(name) = company_name {
            profile.insert("companyName".into(), json!(name));
        }
        let body = Value::Object(profile);
        let mut request = Request::new(Method::PUT, &path, request_id).body(&body);
        if let Some(etag) = &etag {
            request = request.header("If-Match", etag);
        }
        self.http.send(request).await?;
        Ok(())
    }

    /// New commerce: a cart with one line item, then checkout. Returns the order
    /// that holds the bought line, and its subscription when already named.
    async fn buy_with_cart(
        &self,
        purchase: &Purchase<'_>,
        request_id: &str,
    ) -> Result<PlacedOrder, BackendError> {
        let customer_id = purchase.customer_id;
        let path = format!("/customers/{customer_id}/carts");
        let body = cart_body(purchase);
        let cart: Cart = self
            .mutate(Method::POST, &path, Some(&body), request_id)
            .await?
            .parse(&format!("response to POST /v1{path}"))?;
        let described = format!("POST /v1{path} (request id {request_id})");
        if let Some(error) = cart.line_items.iter().find_map(|l| l.error.as_ref()) {
            return Err(BackendError::Api {
                request: described,
                status: 400,
                code: error
                    .error_code
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(0),
                description: format!(
                    "the cart line item for {} was refused: {}",
                    purchase.offer_id,
                    error
                        .error_description
                        .as_deref()
                        .unwrap_or("no description")
                ),
            });
        }
        let cart_id = non_empty(cart.id).ok_or_else(|| {
            BackendError::State(format!("{described}: the cart in the answer has no id"))
        })?;
        let cart_id = segment(&cart_id, "cart id")?;
        let checkout_path = format!("/customers/{customer_id}/carts/{cart_id}/checkout");
        let checkout_id = derive_request_id(request_id, "checkout");
        // checkout-a-cart.md: the request has no body.
        let result: CheckoutResult = self
            .mutate(Method::POST, &checkout_path, None, &checkout_id)
            .await?
            .parse(&format!("response to POST /v1{checkout_path}"))?;
        let described = format!("POST /v1{checkout_path} (request id {checkout_id})");
        if let Some(error) = result.order_errors.first() {
            return Err(BackendError::Api {
                request: described,
                status: 400,
                code: error.code.and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
                description: format!(
                    "checkout of cart {cart_id} failed: {}",
                    error.description.as_deref().unwrap_or("no description")
                ),
            });
        }
        BoughtLine::of(purchase).placed(&result.orders, &described)
    }

    /// Legacy offers: `POST /v1/customers/{c}/orders`.
    async fn buy_with_order(
        &self,
        purchase: &Purchase<'_>,
        request_id: &str,
    ) -> Result<PlacedOrder, BackendError> {
        let path = format!("/customers/{}/orders", purchase.customer_id);
        let body = order_body(purchase);
        let order: Order = self
            .mutate(Method::POST, &path, Some(&body), request_id)
            .await?
            .parse(&format!("response to POST /v1{path}"))?;
        BoughtLine::of(purchase).placed(
            std::slice::from_ref(&order),
            &format!("POST /v1{path} (request id {request_id})"),
        )
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            deadline: self.http.policy().deadline,
            started: Instant::now(),
            next: self.tuning.poll_initial,
            cap: self.tuning.poll_cap,
            limit: self.provisioning_timeout,
        }
    }

    /// Polls the order until `completed`, then the subscription until it is
    /// active, backing off, for at most `provisioning_timeout`: `Ok(false)` when
    /// Partner Center cancelled the order. A timeout names the order so nobody
    /// buys again blindly.
    async fn wait_provisioned(
        &self,
        customer_id: &str,
        order_id: &str,
        subscription_id: &str,
    ) -> Result<bool, BackendError> {
        let mut backoff = self.backoff();
        let mut order_completed = false;
        loop {
            if !order_completed {
                let path = format!("/customers/{customer_id}/orders/{order_id}");
                let order: Order = self
                    .get(&path)
                    .await?
                    .parse(&format!("response to GET /v1{path}"))?;
                match order.status.as_deref().map(wire::enum_key).as_deref() {
                    Some("completed") => order_completed = true,
                    Some("cancelled") => return Ok(false),
                    _ => {}
                }
            }
            if order_completed {
                let path = format!("/customers/{customer_id}/subscriptions/{subscription_id}");
                match self.get(&path).await {
                    Ok(response) => {
                        let subscription: Subscription =
                            response.parse(&format!("response to GET /v1{path}"))?;
                        let status = subscription.status.as_deref().and_then(parse_status);
                        if matches!(status, Some(LiveStatus::Active | LiveStatus::Suspended)) {
                            return Ok(true);
                        }
                    }
                    // Not visible yet right after the order completes.
                    Err(BackendError::Api { status: 404, .. }) => {}
                    Err(error) => return Err(error),
                }
            }
            if !backoff.wait(&format!("order {order_id} of customer {customer_id} (the purchase stays open in the journal: do not buy again, the next apply settles it)")).await? {
                return Err(BackendError::State(format!(
                    "order {order_id} of customer {customer_id} was placed but subscription {subscription_id} was not provisioned within {} s; do not buy again: check order {order_id} in Partner Center, then plan again",
                    self.provisioning_timeout.as_secs()
                )));
            }
        }
    }

    /// GET the subscription, set `fields` on it, PATCH the full resource back.
    ///
    /// change-the-quantity-of-a-subscription.md: "When the patch operation takes
    /// longer than the expected time, the Partner Center sends an HTTP status 202
    /// status code and a location header that points to where to retrieve the
    /// subscription. You can query the subscription periodically to monitor the
    /// status and quantity changes." So a 202 is followed: the subscription is read
    /// (backing off, at most `provisioning_timeout`) until it shows every field set,
    /// rather than reported done and patched again by the next run.
    async fn patch_subscription(
        &self,
        customer_id: &str,
        subscription_id: &str,
        request_id: &str,
        fields: Map<String, Value>,
    ) -> Result<(), BackendError> {
        let path = format!("/customers/{customer_id}/subscriptions/{subscription_id}");
        let subscription = self.read_subscription(&path).await?;
        self.patch_read(&path, subscription, fields, request_id)
            .await
    }

    /// `GET` a subscription as the JSON object a PATCH sends back whole.
    async fn read_subscription(&self, path: &str) -> Result<Map<String, Value>, BackendError> {
        match self.get(path).await?.body {
            Value::Object(subscription) => Ok(subscription),
            _ => Err(BackendError::State(format!(
                "GET /v1{path} did not return a subscription object"
            ))),
        }
    }

    /// PATCHes the subscription at `path`, read just before as `subscription`,
    /// with `fields` set (see [`Self::patch_subscription`]).
    async fn patch_read(
        &self,
        path: &str,
        mut subscription: Map<String, Value>,
        fields: Map<String, Value>,
        request_id: &str,
    ) -> Result<(), BackendError> {
        for (name, value) in &fields {
            subscription.insert(name.clone(), value.clone());
        }
        let body = Value::Object(subscription);
        let response = self
            .mutate(Method::PATCH, path, Some(&body), request_id)
            .await?;
        if response.status != 202 {
            return Ok(());
        }
        let watched = accepted_location(&response.headers, path);
        let mut backoff = self.backoff();
        loop {
            let current = self.get(&watched).await?.body;
            if fields
                .iter()
                .all(|(name, wanted)| field_matches(current.get(name), wanted))
            {
                return Ok(());
            }
            if !backoff
                .wait(&format!(
                    "GET /v1{watched} after PATCH /v1{path} (request id {request_id}), accepted"
                ))
                .await?
            {
                return Err(BackendError::State(format!(
                    "PATCH /v1{path} (request id {request_id}) was accepted (202) but the subscription did not show the change within {} s; Partner Center is still processing it: do not change it again now, plan again later",
                    self.provisioning_timeout.as_secs()
                )));
            }
        }
    }

    /// Applies a patch in a safe order, one PATCH per step with its own id:
    /// reactivate first (a suspended subscription refuses other changes), then
    /// the billing cycle (through its order), then quantity/auto-renew/reseller
    /// of record, then the scheduled next-term instructions (after every
    /// immediate change, which would delete them: create-scheduled-changes,
    /// "If you make a mid-term (immediate) change before your renewal date, all
    /// scheduled changes ... are deleted"), and suspend or cancel (`deleted`,
    /// cancel-an-azure-marketplace-subscription) last. Each step sets absolute
    /// values, so a step repeated by a retry or the next apply changes nothing.
    async fn update_subscription(
        &self,
        customer_id: &str,
        subscription_id: &str,
        patch: &SubscriptionPatch,
        request_id: &str,
    ) -> Result<(), BackendError> {
        if patch.status == Some(LiveStatus::Active) {
            self.patch_subscription(
                customer_id,
                subscription_id,
                &derive_request_id(request_id, "reactivate"),
                fields([("status", json!("active"))]),
            )
            .await?;
        }
        if let Some(cycle) = patch.billing_cycle {
            self.change_billing_cycle(
                customer_id,
                subscription_id,
                billing_cycle_str(cycle),
                &derive_request_id(request_id, "billing-cycle"),
            )
            .await?;
        }
        if patch.quantity.is_some() || patch.auto_renew.is_some() || patch.partner_id.is_some() {
            self.patch_subscription(
                customer_id,
                subscription_id,
                &derive_request_id(request_id, "fields"),
                {
                    let mut set = Map::new();
                    if let Some(quantity) = patch.quantity {
                        set.insert("quantity".into(), json!(quantity));
                    }
                    if let Some(auto_renew) = patch.auto_renew {
                        set.insert("autoRenewEnabled".into(), json!(auto_renew));
                    }
                    if let Some(partner) = &patch.partner_id {
                        // "" clears the reseller of record.
                        set.insert("partnerId".into(), json!(partner.as_deref().unwrap_or("")));
                    }
                    set
                },
            )
            .await?;
        }
        if let Some(next) = &patch.next_term {
            // create-scheduled-changes: the full resource with
            // `scheduledNextTermInstructions` set (`null` removes them).
            self.patch_subscription(
                customer_id,
                subscription_id,
                &derive_request_id(request_id, "next-term"),
                fields([(
                    "scheduledNextTermInstructions",
                    next.as_ref().map_or(Value::Null, wire::next_term_json),
                )]),
            )
            .await?;
        }
        if let Some(status) = patch.status.filter(|s| *s != LiveStatus::Active) {
            self.patch_subscription(
                customer_id,
                subscription_id,
                &derive_request_id(request_id, &format!("status-{}", status.as_str())),
                fields([("status", json!(status.as_str()))]),
            )
            .await?;
        }
        Ok(())
    }

    /// A billing-cycle change. New commerce: a field of the subscription ("Update a
    /// subscription by ID"; the current change-the-billing-cycle page says the order
    /// PATCH is for legacy subscriptions only). Legacy: `PATCH
    /// /v1/customers/{c}/orders/{orderId}`, the billing cycle belonging to the
    /// order (a subscription PATCH refuses it with 2054). One read decides which.
    async fn change_billing_cycle(
        &self,
        customer_id: &str,
        subscription_id: &str,
        cycle: &str,
        request_id: &str,
    ) -> Result<(), BackendError> {
        let path = format!("/customers/{customer_id}/subscriptions/{subscription_id}");
        let read = self.read_subscription(&path).await?;
        let subscription: Subscription =
            wire::from_value(Value::Object(read.clone()), &path).map_err(BackendError::State)?;
        if subscription
            .offer_id
            .as_deref()
            .is_some_and(is_new_commerce_offer)
        {
            return self
                .patch_read(
                    &path,
                    read,
                    fields([("billingCycle", json!(cycle))]),
                    request_id,
                )
                .await;
        }
        let order_id = non_empty(subscription.order_id).ok_or_else(|| {
            BackendError::State(format!(
                "subscription {subscription_id} has no orderId, so its billing cycle cannot be changed"
            ))
        })?;
        let order_id = segment(&order_id, "order id")?;
        let order_path = format!("/customers/{customer_id}/orders/{order_id}");
        // The line item number of this subscription in its order (0 for the
        // one-line orders cspctl places).
        let order: Order = self
            .get(&order_path)
            .await?
            .parse(&format!("response to GET /v1{order_path}"))?;
        let line_item_number = order
            .line_items
            .iter()
            .find(|l| {
                l.subscription_id
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(subscription_id))
            })
            .and_then(|l| l.line_item_number)
            .unwrap_or(0);
        let offer_id = non_empty(subscription.offer_id.clone()).ok_or_else(|| {
            BackendError::State(format!(
                "GET /v1{path} answered without an offerId, which the billing-cycle change must name"
            ))
        })?;
        let quantity = subscription.quantity.ok_or_else(|| {
            BackendError::State(format!(
                "GET /v1{path} answered without a quantity, which the billing-cycle change must name"
            ))
        })?;
        let body = billing_cycle_body(
            customer_id,
            cycle,
            &BillingCycleLine {
                line_item_number,
                offer_id: &offer_id,
                subscription_id,
                quantity,
                friendly_name: subscription.friendly_name.as_deref(),
                partner_id_on_record: subscription.partner_id.clone().flatten().as_deref(),
            },
        );
        self.mutate(Method::PATCH, &order_path, Some(&body), request_id)
            .await?;
        Ok(())
    }

    async fn put_support_contact(
        &self,
        customer_id: &str,
        subscription_id: &str,
        tenant_id: &str,
        mpn_id: &str,
        name: &str,
        request_id: &str,
    ) -> Result<(), BackendError> {
        let path =
            format!("/customers/{customer_id}/subscriptions/{subscription_id}/supportcontact");
        let body = support_contact_body(tenant_id, mpn_id, name);
        self.mutate(Method::PUT, &path, Some(&body), request_id)
            .await?;
        Ok(())
    }
}

/// Fields to set on a subscription.
fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// Where a 202 says the subscription can be watched: its `Location` (documented
/// relative to `/v1`, e.g. `/customers/{c}/subscriptions/{s}`), else the
/// subscription itself. Only a path under `/v1` is followed: an absolute URL
/// would carry the bearer token to whatever host the header names.
fn accepted_location(headers: &reqwest::header::HeaderMap, subscription_path: &str) -> String {
    headers
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.trim().is_empty())
        .and_then(|value| super::read::relative_to_v1(value).ok())
        .unwrap_or_else(|| subscription_path.to_owned())
}

/// Whether a field read back shows the value that was set: enum strings without
/// case or separators (`Suspended` = `suspended`), numbers by value, and an empty
/// reseller of record the same as none.
fn field_matches(current: Option<&Value>, wanted: &Value) -> bool {
    match (current, wanted) {
        (None | Some(Value::Null), Value::String(w)) => w.is_empty(),
        (Some(Value::String(c)), Value::String(w)) => wire::enum_key(c) == wire::enum_key(w),
        (Some(Value::Number(c)), Value::Number(w)) => c.as_f64() == w.as_f64(),
        (Some(Value::String(c)), Value::Number(w)) => c.trim().parse::<f64>().ok() == w.as_f64(),
        (Some(Value::String(c)), Value::Bool(w)) => c.eq_ignore_ascii_case(&w.to_string()),
        // Removed scheduled instructions may be left out of the answer.
        (None, Value::Null) => true,
        // Scheduled instructions: the same product, term, cycle and seats,
        // whatever the case of the values.
        (Some(c @ Value::Object(_)), w @ Value::Object(_)) if wire::next_term(c).is_some() => {
            wire::next_term(&wire::normalize_keys(c.clone())) == wire::next_term(w)
        }
        (Some(c), w) => c == w,
        (None, _) => false,
    }
}

/// The waits between reads of something Partner Center is still doing (an order,
/// a subscription, an accepted PATCH): `poll_initial`, doubling up to `poll_cap`,
/// for at most `provisioning_timeout` in all.
struct Backoff {
    deadline: Deadline,
    started: Instant,
    next: std::time::Duration,
    cap: std::time::Duration,
    limit: std::time::Duration,
}

impl Backoff {
    /// Waits before the next read of `what`; `false` (without waiting) once the
    /// next wait would end past the limit, an error once it would pass the run's
    /// deadline.
    async fn wait(&mut self, what: &str) -> Result<bool, BackendError> {
        if self.started.elapsed().saturating_add(self.next) > self.limit {
            return Ok(false);
        }
        self.deadline
            .sleep(self.next, &format!("waiting to read {what} again"))
            .await?;
        self.next = self.next.saturating_mul(2).min(self.cap);
        Ok(true)
    }
}

fn created(id: String) -> Outcome {
    Outcome {
        created_id: Some(id),
        done_elsewhere: None,
    }
}

/// Which request id a purchase is sent with.
#[derive(Clone, Copy, Debug)]
enum PurchaseId<'a> {
    /// A new purchase: derived from its key and generation, and journaled.
    New,
    /// A purchase an interrupted apply left open: the id it was journaled with.
    Replay(&'a str),
}

/// What the customer's subscriptions and orders showed just before a purchase.
struct Seen {
    /// Bought since the plan was made: nothing is sent.
    done: Option<Outcome>,
    /// Subscriptions listed under the purchase's friendly name (when `done` is
    /// `None`, all of them cancelled or gone): earlier purchases of the same
    /// manifest object, whoever made them.
    named: u64,
}

impl Seen {
    fn done(outcome: Outcome) -> Seen {
        Seen {
            done: Some(outcome),
            named: 0,
        }
    }
}

/// An order Partner Center accepted for a purchase.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PlacedOrder {
    order_id: String,
    /// `None` while a pending order's line does not name it yet.
    subscription_id: Option<String>,
    /// The line bought, to find it again in the order.
    line: BoughtLine,
}

/// What identifies the line cspctl bought among an answer's orders and lines:
/// a checkout can answer with several orders (one per billing cycle group), and
/// nothing documented promises that the bought line comes first, so the line is
/// matched, never taken as `orders[0]`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BoughtLine {
    offer_id: String,
    quantity: u32,
    friendly_name: String,
}

/// The line of an order that matched.
struct FoundLine {
    order_id: Option<String>,
    subscription_id: Option<String>,
}

impl BoughtLine {
    fn of(purchase: &Purchase<'_>) -> BoughtLine {
        BoughtLine {
            offer_id: purchase.offer_id.to_owned(),
            quantity: purchase.quantity,
            friendly_name: purchase.friendly_name.to_owned(),
        }
    }

    /// The line bought among `orders`: same offer (a new-commerce order line may
    /// name the catalog item with or without its availability), then, among
    /// several such lines, the one with the same quantity and friendly name.
    fn find(&self, orders: &[Order]) -> Option<FoundLine> {
        let mut candidates: Vec<(&Order, &OrderLineItem)> = orders
            .iter()
            .flat_map(|order| order.line_items.iter().map(move |line| (order, line)))
            .filter(|(_, line)| {
                line.offer_id
                    .as_deref()
                    .is_some_and(|offer| same_offer(offer, &self.offer_id))
            })
            .collect();
        if candidates.len() > 1 {
            candidates.retain(|(_, line)| {
                line.quantity == Some(u64::from(self.quantity))
                    && line
                        .friendly_name
                        .as_deref()
                        .is_none_or(|name| name == self.friendly_name)
            });
        }
        // Two lines alike in every field: either would be the one bought, but a
        // guess could attach the wrong subscription; refuse instead.
        let [(order, line)] = candidates.as_slice() else {
            return None;
        };
        Some(FoundLine {
            order_id: non_empty(order.id.clone()),
            subscription_id: non_empty(line.subscription_id.clone())
                .map(|id| id.to_ascii_lowercase()),
        })
    }

    /// The placed order from a purchase's answer (checkout result or order).
    fn placed(self, orders: &[Order], described: &str) -> Result<PlacedOrder, BackendError> {
        let found = self.find(orders).ok_or_else(|| {
            BackendError::State(format!(
                "{described}: the answer has {} order(s) but no single line for {} × {} (\"{}\"); check the customer's orders in Partner Center before retrying",
                orders.len(),
                self.quantity,
                self.offer_id,
                self.friendly_name
            ))
        })?;
        let order_id = found
            .order_id
            .ok_or_else(|| BackendError::State(format!("{described}: the order has no id")))?;
        let subscription_id = found
            .subscription_id
            .map(|id| segment(&id, "subscription id"))
            .transpose()?;
        Ok(PlacedOrder {
            order_id: segment(&order_id, "order id")?,
            subscription_id,
            line: self,
        })
    }
}

/// How long Partner Center answers a replayed `MS-RequestId` with the original
/// answer. UNCONFIRMED: the headers page promises "id-potency" but names no window;
/// 24 hours is the simulator's choice (docs/simulator.md, "Repeated request ids").
const IDEMPOTENCY_WINDOW_SECONDS: i64 = 24 * 3600;

/// `subscription "name" (offer) of customer c, request id r`.
fn describe_purchase(operation: &Operation, request_id: &str) -> String {
    match operation {
        Operation::CreateSubscription {
            customer,
            offer_id,
            friendly_name,
            ..
        } => format!(
            "purchase of \"{friendly_name}\" ({offer_id}) for {} (request id {request_id})",
            customer.address
        ),
        other => format!("{other:?} (request id {request_id})"),
    }
}

/// Whether Partner Center definitely refused a request (a business error), as
/// opposed to an outcome that is unknown (5xx, timeout, lost connection) or only
/// postponed (408, 409 in progress, 429).
fn is_refusal(error: &BackendError) -> bool {
    matches!(error, BackendError::Api { status, .. }
        if (400..500).contains(status) && !matches!(status, 408 | 409 | 429))
}

/// The id of an `ObjectRef`, or `Unresolved` when no earlier action produced it.
fn resolve(object: &ObjectRef) -> Result<String, BackendError> {
    let id = object.id.as_ref().ok_or_else(|| {
        BackendError::Unresolved(format!(
            "{} has no Partner Center id: it did not exist when the plan was made and no earlier action in this apply created it",
            object.address
        ))
    })?;
    Ok(segment(id, &object.address)?.to_ascii_lowercase())
}

/// An id that goes into a URL path: refuse anything that could change the path.
fn segment(id: &str, what: &str) -> Result<String, BackendError> {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && id != "."
        && id != "..";
    if ok {
        Ok(id.to_owned())
    } else {
        Err(BackendError::Unresolved(format!(
            "`{id}` is not a valid Partner Center id ({what})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A concurrent executor spawns `execute` on a multi-thread runtime.
    #[test]
    fn execute_future_is_send() {
        fn is_send<T: Send>(_: &T) {}
        let client =
            PartnerCenterClient::new(crate::backend::partner_center::PartnerCenterConfig {
                endpoint: "http://127.0.0.1:9".into(),
                authority: "http://127.0.0.1:9".into(),
                sandbox: true,
                credentials: crate::backend::partner_center::Credentials {
                    tenant_id: "t".into(),
                    client_id: "c".into(),
                    client_secret: crate::backend::partner_center::Secret::new("s"),
                    refresh_token: None,
                },
                read_concurrency: 1,
                provisioning_timeout: std::time::Duration::from_secs(1),
                timeout: None,
                max_response_bytes: crate::backend::partner_center::DEFAULT_MAX_RESPONSE_BYTES,
            })
            .unwrap();
        let future = client.execute(&Operation::Manual, "x");
        is_send(&future);
        let read = client.read_live();
        is_send(&read);
    }

    #[test]
    fn unresolved_and_unsafe_ids_are_refused() {
        let unresolved = ObjectRef {
            address: "Customer/contoso".into(),
            id: None,
        };
        assert!(matches!(
            resolve(&unresolved),
            Err(BackendError::Unresolved(_))
        ));
        let evil = ObjectRef {
            address: "Customer/x".into(),
            id: Some("../profiles".into()),
        };
        assert!(resolve(&evil).is_err());
        let ok = ObjectRef {
            address: "Customer/x".into(),
            id: Some("ABC-1".into()),
        };
        assert_eq!(resolve(&ok).unwrap(), "abc-1");
    }
}
