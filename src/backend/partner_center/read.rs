//! The live snapshot, read with as few calls as the API allows: the reseller
//! list, the (seek-paged) customer list, four reads per customer and a support
//! contact read per legacy subscription that can have one. Requests run
//! concurrently, at most `read_concurrency` at a time overall and at most
//! `per_customer_concurrency` support-contact reads per customer. The result is
//! built in `BTreeMap`s, so it does not depend on the order answers arrive in.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use reqwest::Method;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::PartnerCenterClient;
use super::http::{Request, Response};
use super::wire::{
    AgreementRecord, AllowedCustomTermEndDate, Collection, Customer, KeyValue, Links, Order,
    Relationship, Subscription, SubscriptionRead, SupportContact, TransitionEligibility,
    latest_agreement, non_empty,
};
use crate::backend::BackendError;
use crate::ids::random_guid;
use crate::live::{
    CustomerScope, Live, LiveCustomer, LiveReseller, LiveSubscription, LiveSupportContact,
    LiveUsageSubscription, Lookups,
};
use crate::manifest::model::is_new_commerce_offer;

/// Page size for the customer list (docs samples use 40; 500 is what
/// third-party clients use and what the simulator honours).
const CUSTOMER_PAGE_SIZE: usize = 500;
/// 400/800042: "not supported in the integration sandbox".
const CODE_NOT_SUPPORTED_IN_SANDBOX: u32 = 800_042;
/// A guard against a server that never stops paging.
const MAX_PAGES: usize = 10_000;

/// What one customer's reads give.
struct CustomerRead {
    customer: LiveCustomer,
    subscriptions: Vec<LiveSubscription>,
    usage_based: Vec<(String, LiveUsageSubscription)>,
}

/// Reads under the global concurrency bound.
/// One answered lookup of [`PartnerCenterClient::read_lookups`].
enum Lookup {
    Transitions(String, Vec<crate::live::LiveTransition>),
    TermEnds(String, Vec<crate::live::LiveTermEnd>),
}

#[derive(Clone)]
struct Reader {
    client: PartnerCenterClient,
    limit: Arc<Semaphore>,
}

impl Reader {
    async fn get(
        &self,
        path: &str,
        headers: Vec<(String, String)>,
    ) -> Result<Response, BackendError> {
        // The semaphore is never closed; a closed one would only mean no limit.
        let _permit = self.limit.acquire().await.ok();
        let request_id = random_guid();
        let mut request = Request::new(Method::GET, path, &request_id);
        request.headers = headers;
        self.client.http.send(request).await
    }

    async fn get_as<T: for<'de> serde::Deserialize<'de>>(
        &self,
        path: &str,
    ) -> Result<T, BackendError> {
        self.get(path, Vec::new())
            .await?
            .parse(&format!("response to GET /v1{path}"))
    }

    async fn resellers(&self) -> Result<BTreeMap<String, LiveReseller>, BackendError> {
        let list: Collection<Relationship> = self
            .get_as("/relationships?relationship_type=IsIndirectCloudSolutionProviderOf")
            .await?;
        Ok(list
            .items
            .iter()
            .filter_map(Relationship::to_live)
            .map(|r| (r.tenant_id.clone(), r))
            .collect())
    }

    /// Every customer, following `links.next` with each header it lists until
    /// there is none.
    async fn customers(&self) -> Result<Vec<Customer>, BackendError> {
        let mut customers = Vec::new();
        let mut pager = Pager::new(
            format!("/customers?size={CUSTOMER_PAGE_SIZE}"),
            "customer list",
        );
        loop {
            let page: Collection<Customer> = self
                .get(&pager.path, pager.headers.clone())
                .await?
                .parse(&format!("response to GET /v1{}", pager.path))?;
            customers.extend(page.items);
            if !pager.advance(page.links)? {
                return Ok(customers);
            }
        }
    }

    async fn relationship_request_url(&self) -> Result<Option<String>, BackendError> {
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct RelationshipRequest {
            url: Option<String>,
        }
        match self
            .get_as::<RelationshipRequest>("/customers/relationshiprequests")
            .await
        {
            Ok(request) => Ok(non_empty(request.url)),
            // The tenant is an integration sandbox after all (cspctl was not told
            // `--sandbox`): there is no link, which is no reason to fail the read.
            Err(BackendError::Api {
                code: CODE_NOT_SUPPORTED_IN_SANDBOX,
                ..
            }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// One customer with its relationships, agreement, subscriptions and support
    /// contacts. `listed` is the list item, used where the full read lacks a field.
    async fn customer(self, listed: Customer, id: String) -> Result<CustomerRead, BackendError> {
        let base = format!("/customers/{id}");
        let detail = self.listed_customer_detail(&base);
        let (detail, (relationships, agreements, subscriptions)) =
            tokio::try_join!(detail, self.customer_parts(&id))?;
        self.assemble(
            &id,
            &listed,
            &detail,
            relationships,
            agreements,
            subscriptions,
        )
        .await
    }

    /// One customer known by id only (a snapshot's refresh: no list item). `None`
    /// when Partner Center no longer has it (404).
    async fn customer_by_id(self, id: String) -> Result<Option<CustomerRead>, BackendError> {
        let base = format!("/customers/{id}");
        let (detail, parts) =
            tokio::join!(self.get_as::<Customer>(&base), self.customer_parts(&id));
        let detail = match detail {
            Err(BackendError::Api { status: 404, .. }) => return Ok(None),
            other => other?,
        };
        let (relationships, agreements, subscriptions) = parts?;
        let read = self
            .assemble(
                &id,
                &detail,
                &detail,
                relationships,
                agreements,
                subscriptions,
            )
            .await?;
        Ok(Some(read))
    }

    /// A customer's relationships, agreements and subscriptions.
    async fn customer_parts(
        &self,
        id: &str,
    ) -> Result<
        (
            Collection<Relationship>,
            Collection<AgreementRecord>,
            Collection<Subscription>,
        ),
        BackendError,
    > {
        let base = format!("/customers/{id}");
        let relationships_path = format!("{base}/relationships");
        let agreements_path = format!("{base}/agreements?agreementType=MicrosoftCustomerAgreement");
        let subscriptions_path = format!("{base}/subscriptions");
        tokio::try_join!(
            self.get_as::<Collection<Relationship>>(&relationships_path),
            self.get_as::<Collection<AgreementRecord>>(&agreements_path),
            self.get_as::<Collection<Subscription>>(&subscriptions_path),
        )
    }

    /// The live customer from its reads, with its subscriptions' support contacts.
    async fn assemble(
        &self,
        id: &str,
        listed: &Customer,
        detail: &Customer,
        relationships: Collection<Relationship>,
        agreements: Collection<AgreementRecord>,
        subscriptions: Collection<Subscription>,
    ) -> Result<CustomerRead, BackendError> {
        let customer = live_customer(id, listed, detail, &relationships.items, &agreements.items);
        let mut live = Vec::with_capacity(subscriptions.items.len());
        let mut usage_based = Vec::new();
        for subscription in &subscriptions.items {
            match subscription
                .to_live(id)
                .map_err(|e| BackendError::State(format!("customer {id}: {e}")))?
            {
                SubscriptionRead::Live(subscription) => live.push(*subscription),
                SubscriptionRead::UsageBased { id, subscription } => {
                    usage_based.push((id, subscription));
                }
            }
        }
        self.support_contacts(id, &mut live).await?;
        Ok(CustomerRead {
            customer,
            subscriptions: live,
            usage_based,
        })
    }

    /// `GET /customers/{id}` of a customer the list returned. Partner Center can
    /// answer 404 for a while after a customer is created (read-after-create lag, up
    /// to ~90 s, partner-center-api.md §10): the list is the proof it exists, so a 404
    /// is waited out (backoff, bounded by `Tuning::read_after_create_wait`) instead of
    /// failing a plan made right after an apply.
    async fn listed_customer_detail(&self, path: &str) -> Result<Customer, BackendError> {
        let tuning = &self.client.tuning;
        let started = tokio::time::Instant::now();
        let mut wait = tuning.poll_initial;
        loop {
            match self.get_as::<Customer>(path).await {
                Err(BackendError::Api { status: 404, .. })
                    if started.elapsed() + wait <= tuning.read_after_create_wait =>
                {
                    let what = format!("GET /v1{path} (a listed customer not found yet)");
                    self.client
                        .http
                        .policy()
                        .deadline
                        .sleep(wait, &what)
                        .await?;
                    wait = (wait * 2).min(tuning.poll_cap);
                }
                Err(BackendError::Api {
                    request,
                    status: 404,
                    code,
                    description,
                }) => {
                    return Err(BackendError::Api {
                        request,
                        status: 404,
                        code,
                        description: format!(
                            "{description} (the customer is listed but was still not readable after {} s; a new customer can take a few minutes to become readable: run again shortly)",
                            started.elapsed().as_secs()
                        ),
                    });
                }
                other => return other,
            }
        }
    }

    /// Fills in support contacts where Partner Center has them: legacy
    /// subscriptions only (new commerce does not support them), and not gone ones.
    async fn support_contacts(
        &self,
        customer_id: &str,
        subscriptions: &mut [LiveSubscription],
    ) -> Result<(), BackendError> {
        let local = Arc::new(Semaphore::new(
            self.client.tuning.per_customer_concurrency.max(1),
        ));
        let mut tasks = JoinSet::new();
        for (index, subscription) in subscriptions.iter().enumerate() {
            if is_new_commerce_offer(&subscription.offer_id) || subscription.status.is_gone() {
                continue;
            }
            let reader = self.clone();
            let local = local.clone();
            let path = format!(
                "/customers/{customer_id}/subscriptions/{}/supportcontact",
                subscription.id
            );
            // An unreported offer may be new commerce, which refuses the read: then
            // the subscription has no designated support contact to read.
            let offer_unknown = subscription.offer_id.is_empty();
            tasks.spawn(async move {
                let _permit = local.acquire().await.ok();
                match reader.get_as::<SupportContact>(&path).await {
                    Ok(contact) => Ok::<_, BackendError>((index, Some(contact))),
                    Err(BackendError::Api { status, .. })
                        if offer_unknown && (400..500).contains(&status) && status != 429 =>
                    {
                        Ok((index, None))
                    }
                    Err(error) => Err(error),
                }
            });
        }
        let provider = self.client.http.credentials().tenant_id.clone();
        while let Some(joined) = tasks.join_next().await {
            let (index, contact) = joined.map_err(join_error)??;
            if let (Some(slot), Some(contact)) = (subscriptions.get_mut(index), contact) {
                slot.support_contact = live_support_contact(&contact, &provider);
            }
        }
        Ok(())
    }
}

impl PartnerCenterClient {
    /// Reads the whole live snapshot.
    /// Subscriptions that orders still provisioning will create, for the given
    /// customers (those a plan would buy for): one order-list read each, made only
    /// when a plan has purchases, so a plan without any costs nothing more. A
    /// purchase made by another run and not yet listed as a subscription is thus
    /// not bought again. (The order list itself may lag a new order by up to 15
    /// minutes; for this run's own purchases the purchase journal covers that.)
    pub async fn pending_purchases(
        &self,
        customer_ids: &[String],
    ) -> Result<Vec<LiveSubscription>, BackendError> {
        let reader = Reader {
            client: self.clone(),
            limit: Arc::new(Semaphore::new(self.read_concurrency)),
        };
        let mut tasks = JoinSet::new();
        for customer_id in customer_ids {
            let reader = reader.clone();
            let customer_id = customer_id.clone();
            tasks.spawn(async move {
                let path = format!("/customers/{customer_id}/orders");
                let orders: Collection<Order> = reader.get_as(&path).await?;
                Ok::<_, BackendError>(
                    orders
                        .items
                        .iter()
                        .flat_map(|order| order.pending_subscriptions(&customer_id))
                        .collect::<Vec<_>>(),
                )
            });
        }
        let mut pending = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let found = joined.map_err(|e| {
                BackendError::State(format!("reading pending orders failed: {e}"))
            })??;
            pending.extend(found);
        }
        pending.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(pending)
    }

    /// Answers a plan's [`Lookups`] into `live` ([`crate::plan::lookups`]): one
    /// request per subscription whose SKU the manifest changes
    /// (`GET …/subscriptions/{id}/transitionEligibilities?eligibilityType=scheduled`,
    /// transition-a-new-commerce-subscription) and one per purchase aligned
    /// with another subscription (`GET …/subscriptions/customTermEndDates?term_duration=…&target_coterm_subscription_id=…`,
    /// custom-term-end-dates). Only the first page of allowed dates is read (up to
    /// 300, the page's limit; one purchase aligned with one subscription needs
    /// one date).
    pub async fn read_lookups(
        &self,
        lookups: &Lookups,
        live: &mut Live,
    ) -> Result<(), BackendError> {
        let reader = Reader {
            client: self.clone(),
            limit: Arc::new(Semaphore::new(self.read_concurrency)),
        };
        let mut tasks = JoinSet::new();
        for (customer_id, subscription_id) in &lookups.transitions {
            let reader = reader.clone();
            let path = format!(
                "/customers/{customer_id}/subscriptions/{subscription_id}/transitionEligibilities?eligibilityType=scheduled"
            );
            let key = subscription_id.clone();
            tasks.spawn(async move {
                let list: Collection<TransitionEligibility> = reader.get_as(&path).await?;
                let targets = list
                    .items
                    .iter()
                    .filter_map(TransitionEligibility::to_live)
                    .collect();
                Ok::<_, BackendError>(Lookup::Transitions(key, targets))
            });
        }
        for query in &lookups.term_ends {
            let reader = reader.clone();
            let path = format!(
                "/customers/{}/subscriptions/customTermEndDates?term_duration={}&target_coterm_subscription_id={}",
                query.customer_id,
                query.term_duration.as_iso(),
                query.coterm_subscription_id
            );
            let key = query.key();
            tasks.spawn(async move {
                let list: Collection<AllowedCustomTermEndDate> = reader.get_as(&path).await?;
                let dates = list
                    .items
                    .iter()
                    .filter_map(AllowedCustomTermEndDate::to_live)
                    .collect();
                Ok::<_, BackendError>(Lookup::TermEnds(key, dates))
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let found = joined
                .map_err(|e| BackendError::State(format!("a plan's lookup failed: {e}")))??;
            match found {
                Lookup::Transitions(key, targets) => {
                    live.transitions.insert(key, targets);
                }
                Lookup::TermEnds(key, dates) => {
                    live.term_end_dates.insert(key, dates);
                }
            }
        }
        Ok(())
    }

    pub async fn read_live(&self) -> Result<Live, BackendError> {
        self.read_live_scoped(None).await
    }

    /// Reads the snapshot, only the customers in `scope` when there is one: the
    /// customer list is still read whole (it is how a domain is found), but the
    /// four reads per customer are made for the customers in scope only.
    pub async fn read_live_scoped(
        &self,
        scope: Option<&CustomerScope>,
    ) -> Result<Live, BackendError> {
        let reader = Reader {
            client: self.clone(),
            limit: Arc::new(Semaphore::new(self.read_concurrency)),
        };
        let request_url = async {
            // Not supported in the sandbox (400/800042): there is no link to show.
            if self.sandbox {
                Ok(None)
            } else {
                reader.relationship_request_url().await
            }
        };
        let (resellers, customers, relationship_request_url) =
            tokio::try_join!(reader.resellers(), reader.customers(), request_url)?;

        let mut live = Live {
            resellers,
            customers: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            usage_based: BTreeMap::new(),
            relationship_request_url,
            ..Live::default()
        };
        // At most this many customer reads exist at once: each holds its listing and
        // its answers, so spawning all of a 20,000-customer tenant's reads up front
        // would cost memory in proportion to the tenant, not to the concurrency.
        let in_flight = self.read_concurrency.saturating_mul(2).max(2);
        let mut tasks = JoinSet::new();
        for listed in customers {
            if listed.is_detached() {
                continue;
            }
            let Some(id) = listed.tenant_id() else {
                return Err(BackendError::State(
                    "Partner Center listed a customer without an id".to_owned(),
                ));
            };
            if let Some(scope) = scope {
                let domain = listed
                    .company_profile
                    .as_ref()
                    .and_then(|p| p.domain.as_deref())
                    .unwrap_or_default();
                if !scope.includes(&id, domain) {
                    continue;
                }
            }
            while tasks.len() >= in_flight {
                if let Some(joined) = tasks.join_next().await {
                    collect(&mut live, joined.map_err(join_error)??);
                }
            }
            tasks.spawn(reader.clone().customer(listed, id));
        }
        // Dropping the JoinSet on an early return aborts the other reads.
        while let Some(joined) = tasks.join_next().await {
            collect(&mut live, joined.map_err(join_error)??);
        }
        Ok(live)
    }
}

impl PartnerCenterClient {
    /// The resellers and the customers `ids` (tenant ids), read by id without the
    /// customer list: what refreshing a snapshot costs, four reads per customer
    /// plus its legacy subscriptions' support contacts. The second set holds the
    /// ids Partner Center no longer has.
    pub async fn read_customers(
        &self,
        ids: &BTreeSet<String>,
    ) -> Result<(Live, BTreeSet<String>), BackendError> {
        let reader = Reader {
            client: self.clone(),
            limit: Arc::new(Semaphore::new(self.read_concurrency)),
        };
        let mut live = Live {
            resellers: reader.resellers().await?,
            ..Live::default()
        };
        let mut gone = BTreeSet::new();
        let mut add = |live: &mut Live, (id, read): (String, Option<CustomerRead>)| match read {
            Some(read) => collect(live, read),
            None => {
                gone.insert(id);
            }
        };
        // As in a full read: at most this many customers' answers held at once.
        let in_flight = self.read_concurrency.saturating_mul(2).max(2);
        let mut tasks = JoinSet::new();
        for id in ids {
            while tasks.len() >= in_flight {
                if let Some(joined) = tasks.join_next().await {
                    add(&mut live, joined.map_err(join_error)??);
                }
            }
            let (reader, id) = (reader.clone(), id.clone());
            tasks.spawn(async move {
                let read = reader.customer_by_id(id.clone()).await?;
                Ok::<_, BackendError>((id, read))
            });
        }
        while let Some(joined) = tasks.join_next().await {
            add(&mut live, joined.map_err(join_error)??);
        }
        Ok((live, gone))
    }
}

/// Where a seek-paged read is: the next request's path (under `/v1`) and the
/// headers `links.next` asked for (`MS-ContinuationToken`).
pub(crate) struct Pager {
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// What is paged, for errors ("customer list").
    what: &'static str,
    pages: usize,
}

impl Pager {
    pub fn new(path: String, what: &'static str) -> Pager {
        Pager {
            path,
            headers: Vec::new(),
            what,
            pages: 0,
        }
    }

    /// Moves to the page `links.next` names; `false` when there is none. A link
    /// back to the same page, or more than [`MAX_PAGES`] pages, is an error: a
    /// server that never stops paging must not keep a run going.
    pub fn advance(&mut self, links: Option<Links>) -> Result<bool, BackendError> {
        let Some(next) = links.and_then(|l| l.next) else {
            return Ok(false);
        };
        if next.uri.trim().is_empty() {
            return Ok(false);
        }
        let path = relative_to_v1(&next.uri)?;
        let headers = continuation_headers(&next.headers);
        if path == self.path && headers == self.headers {
            return Err(BackendError::State(format!(
                "Partner Center's {} points back to the same page ({path}); stopping",
                self.what
            )));
        }
        self.pages += 1;
        if self.pages >= MAX_PAGES {
            return Err(BackendError::State(format!(
                "the {} did not end after {MAX_PAGES} pages",
                self.what
            )));
        }
        self.path = path;
        self.headers = headers;
        Ok(true)
    }
}

/// Adds one customer's read to the snapshot.
fn collect(live: &mut Live, read: CustomerRead) {
    for subscription in read.subscriptions {
        live.subscriptions
            .insert(subscription.id.clone(), subscription);
    }
    live.usage_based.extend(read.usage_based);
    live.customers
        .insert(read.customer.id.clone(), read.customer);
}

fn join_error(error: tokio::task::JoinError) -> BackendError {
    BackendError::State(format!("a read task failed: {error}"))
}

/// A `links.next.uri` as a path under `/v1` (it is documented relative to `/v1`,
/// sometimes with the prefix). An absolute URL is refused: following it would
/// send the bearer token to whatever host a response names.
pub(crate) fn relative_to_v1(uri: &str) -> Result<String, BackendError> {
    let uri = uri.trim();
    if uri.contains("://") || uri.starts_with("//") {
        return Err(BackendError::State(format!(
            "Partner Center returned an absolute next-page link `{uri}`; only links relative to /v1 are followed"
        )));
    }
    let path = match uri.strip_prefix("/v1/") {
        Some(rest) => format!("/{rest}"),
        None if uri.starts_with('/') => uri.to_owned(),
        None => format!("/{uri}"),
    };
    Ok(path)
}

fn continuation_headers(headers: &[KeyValue]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|h| !h.key.trim().is_empty())
        .map(|h| (h.key.clone(), h.value.clone().unwrap_or_default()))
        .collect()
}

/// The live customer from its list item and full read.
pub(crate) fn live_customer(
    id: &str,
    listed: &Customer,
    detail: &Customer,
    relationships: &[Relationship],
    agreements: &[AgreementRecord],
) -> LiveCustomer {
    let company = detail
        .company_profile
        .clone()
        .or_else(|| listed.company_profile.clone())
        .unwrap_or_default();
    let billing = detail.billing_profile.clone().unwrap_or_default();
    LiveCustomer {
        id: id.to_owned(),
        domain: non_empty(company.domain.clone())
            .or_else(|| {
                listed
                    .company_profile
                    .as_ref()
                    .and_then(|p| non_empty(p.domain.clone()))
            })
            .unwrap_or_default(),
        // The billing profile's name is the one cspctl writes (PUT profiles/billing).
        company_name: non_empty(billing.company_name.clone())
            .or_else(|| non_empty(company.company_name.clone()))
            .unwrap_or_default(),
        billing: billing.to_model(),
        organization_registration_number: non_empty(company.organization_registration_number),
        associated_partner_id: non_empty(detail.associated_partner_id.clone())
            .or_else(|| non_empty(listed.associated_partner_id.clone()))
            .map(|p| p.to_ascii_lowercase()),
        reseller_relationships: relationships
            .iter()
            .filter_map(|r| non_empty(r.id.clone()))
            .map(|id| id.to_ascii_lowercase())
            .collect::<BTreeSet<_>>(),
        agreement: latest_agreement(agreements),
    }
}

/// A support contact, or `None` when it is the default (the provider itself).
pub(crate) fn live_support_contact(
    contact: &SupportContact,
    provider_tenant_id: &str,
) -> Option<LiveSupportContact> {
    let tenant_id = non_empty(contact.support_tenant_id.clone())?;
    if tenant_id.eq_ignore_ascii_case(provider_tenant_id) {
        return None;
    }
    Some(LiveSupportContact {
        tenant_id: tenant_id.to_ascii_lowercase(),
        mpn_id: contact.support_mpn_id.clone().unwrap_or_default(),
        name: contact.name.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::partner_center::wire::{from_value, normalize_keys};
    use serde_json::json;

    #[test]
    fn next_links_are_paths_under_v1() {
        assert_eq!(
            relative_to_v1("/customers?size=500&seekOperation=Next").unwrap(),
            "/customers?size=500&seekOperation=Next"
        );
        assert_eq!(
            relative_to_v1("/v1/customers?size=5").unwrap(),
            "/customers?size=5"
        );
        assert_eq!(relative_to_v1("customers?x=1").unwrap(), "/customers?x=1");
        assert!(relative_to_v1("https://evil.example/v1/customers").is_err());
        assert!(relative_to_v1("//evil.example/customers").is_err());
    }

    #[test]
    fn customer_maps_profiles_relationships_and_agreement() {
        let listed: Customer = from_value(
            normalize_keys(json!({
                "id": "626099FE-0000-0000-0000-000000000001",
                "companyProfile": {"tenantId": "626099fe-0000-0000-0000-000000000001",
                    "domain": "wingtiptoys123.onmicrosoft.com", "companyName": "Wingtip Toys"},
                "relationshipToPartner": "reseller"
            })),
            "customer",
        )
        .unwrap();
        let detail: Customer = from_value(
            normalize_keys(json!({
                "Id": "626099fe-0000-0000-0000-000000000001",
                "CompanyProfile": {"Domain": "wingtiptoys123.onmicrosoft.com",
                    "CompanyName": "Wingtip Toys", "OrganizationRegistrationNumber": ""},
                "BillingProfile": {"Email": "gena@wingtiptoys.com", "Culture": "en-US",
                    "Language": "en", "CompanyName": "Wingtip Toys Ltd",
                    "DefaultAddress": {"FirstName": "Gena", "LastName": "Soto",
                        "AddressLine1": "One Microsoft Way", "City": "Redmond", "State": "",
                        "PostalCode": "98052", "Country": "US"},
                    "Attributes": {"Etag": "-879", "ObjectType": "CustomerBillingProfile"}},
                "RelationshipToPartner": "Reseller",
                "AssociatedPartnerId": "484E548C-F5F3-4528-93A9-C16C6373CB59"
            })),
            "customer",
        )
        .unwrap();
        let relationships: Collection<Relationship> = from_value(
            json!({"items": [{"id": "484E548C-F5F3-4528-93A9-C16C6373CB59", "name": "First Up",
                "relationshipType": "is_indirect_reseller_of", "mpnId": "4847383"}]}),
            "relationships",
        )
        .unwrap();
        let id = listed.tenant_id().unwrap();
        assert_eq!(id, "626099fe-0000-0000-0000-000000000001");
        let customer = live_customer(&id, &listed, &detail, &relationships.items, &[]);
        assert_eq!(customer.domain, "wingtiptoys123.onmicrosoft.com");
        assert_eq!(customer.company_name, "Wingtip Toys Ltd");
        assert_eq!(customer.organization_registration_number, None);
        assert_eq!(customer.billing.address.state, None);
        assert_eq!(
            customer.associated_partner_id.as_deref(),
            Some("484e548c-f5f3-4528-93a9-c16c6373cb59")
        );
        assert!(
            customer
                .reseller_relationships
                .contains("484e548c-f5f3-4528-93a9-c16c6373cb59")
        );
        assert_eq!(customer.agreement, None);
        assert!(!detail.is_detached());
        let none: Customer = from_value(json!({"relationshipToPartner": "none"}), "c").unwrap();
        assert!(none.is_detached());
    }

    #[test]
    fn provider_as_support_contact_means_default() {
        let contact: SupportContact = from_value(
            normalize_keys(json!({"SupportTenantId": "AAAA-1", "SupportMpnId": "1", "Name": "Me"})),
            "support contact",
        )
        .unwrap();
        assert_eq!(live_support_contact(&contact, "aaaa-1"), None);
        let reseller = live_support_contact(&contact, "bbbb-2").unwrap();
        assert_eq!(reseller.tenant_id, "aaaa-1");
        assert_eq!(reseller.mpn_id, "1");
    }
}
