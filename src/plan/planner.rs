//! The planner: desired model + live snapshot → [`Plan`]. Pure and deterministic: no
//! I/O, no clock read (the time, for new commerce's cancellation window and
//! renewals, arrives in [`PlanOptions::now`]), no randomness; the same inputs give
//! the same plan byte for byte.
//!
//! New commerce (learn.microsoft.com): seats added at any time; seats removed and a
//! cancellation only within 168 hours of purchase or renewal
//! (cancel-an-azure-marketplace-subscription); another term, or billing to or from
//! triennial, only at renewal (billing-frequency-changes); what only a renewal can
//! do is written as scheduled next-term instructions (create-scheduled-changes),
//! which any mid-term change deletes.
//!
//! It walks the dependency graph in topological order, decides at most one action per
//! node, and makes each action depend on the nearest actions among its prerequisites
//! (looking through nodes that need no change). Objects are matched to live ones by
//! their natural keys: reseller tenant id; customer tenant id or domain; subscription
//! id or (customer, friendly name). A rename is never guessed: a different friendly
//! name is a different subscription, because a wrong guess could buy twice.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::diagnostic::Diagnostic;
use crate::graph::{DependencyGraph, GraphNode};
use crate::hash::{HashMap, HashSet, map_with_capacity};
use crate::live::{
    Live, LiveCustomer, LiveNextTerm, LiveReseller, LiveStatus, LiveSubscription, fingerprint,
};
use crate::manifest::model::{
    BillingCycle, DesiredStatus, Effective, Kind, TermDuration, is_new_commerce_offer, same_offer,
};
use crate::manifest::source::SourceMap;
use crate::manifest::{Object, Origin};
use crate::plan::leaves::Leaves;
use crate::plan::{
    Action, ActionStatus, ActionType, FieldChange, LiveKey, ObjectRef, Operation, PartlyKnown,
    Plan, PlannedReseller, Precondition, Renewal, RenewalDate, Risk, SourceRef, SubscriptionPatch,
    Unmanaged, next_term_changes, shown_status,
};
use crate::rules::Rule;
use crate::validate::Desired;
use crate::validate::rules::friendly_name;

/// Roles for partnering with resellers and adding their customers and subscriptions.
pub const COMMERCE_ROLES: [&str; 4] = ["Global admin", "User admin", "Admin agent", "Sales agent"];
/// Roles for assigning a designated support contact.
pub const SUPPORT_ROLES: [&str; 3] = ["Admin agent", "Global admin", "Helpdesk agent"];

/// How the backend behaves, as far as planning is concerned.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Written into the plan (`Plan::backend`).
    pub backend: String,
    /// Integration sandbox: resellers can be created through the API. In production a
    /// missing partnership is a manual step (an invitation the reseller accepts).
    pub sandbox: bool,
    /// A hint appended to relationship instructions on how to simulate the customer's
    /// acceptance (the local backend has a command for it); `{customer}` and
    /// `{reseller}` are replaced by the customer's domain and the reseller's tenant id.
    pub simulate_hint: Option<String>,
    /// How many indirect resellers the sandbox allows per provider, where the backend
    /// enforces it (Partner Center's integration sandbox: 5, partner-center-api.md
    /// §6). Creations beyond it get a warning: the apply would be refused (800018).
    pub sandbox_reseller_limit: Option<usize>,
    /// The backend creates a sandbox reseller with the tenant id its manifest
    /// declares (the local backend, a rehearsal convenience). Partner Center
    /// creates the tenant itself and needs `spec.sandboxTenant`.
    pub declared_reseller_tenants: bool,
    /// The plan's clock (unix seconds; `CSPCTL_NOW` or the system clock): what
    /// the new-commerce cancellation window and the renewal dates are measured
    /// from. `None`: the window counts as closed (changes are scheduled, never
    /// sent to be refused) and no dates are counted.
    pub now: Option<i64>,
    /// The renewal calendar's period in seconds (`--renewals 30d`): subscriptions
    /// renewing or ending within it are listed in `Plan::renewals`.
    pub renewal_horizon: Option<i64>,
}

/// Which fields of a subscription can change only at its renewal.
#[derive(Clone, Debug, Default)]
struct NextTermWanted {
    quantity: bool,
    term: bool,
    cycle: bool,
    /// Another product or SKU: the eligible transition's full catalog item id.
    offer: Option<String>,
}

impl NextTermWanted {
    fn any(&self) -> bool {
        self.quantity || self.term || self.cycle || self.offer.is_some()
    }
}

/// When the subscription renews: 00:00 UTC the day after its term's last day
/// (`commitmentEndDate`; create-scheduled-changes: "Renewals start at 12:00 AM
/// UTC on the day following the last day of the term").
pub fn renewal_at(live: &LiveSubscription) -> Option<i64> {
    let end = crate::time::parse(live.commitment_end_date.as_deref()?)?;
    Some(end - end.rem_euclid(86_400) + 86_400)
}

/// The renewal calendar: live subscriptions (active or suspended, with a known
/// term end) renewing or ending within `horizon` seconds of `now`, soonest
/// first, each with the manifest address that declares it, if any.
pub fn renewal_calendar(
    live: &Live,
    addresses: &HashMap<String, String>,
    now: i64,
    horizon: i64,
) -> Vec<Renewal> {
    let mut out: Vec<Renewal> = live
        .subscriptions
        .values()
        .filter(|s| matches!(s.status, LiveStatus::Active | LiveStatus::Suspended))
        .filter_map(|s| {
            let at = renewal_at(s)?;
            (at >= now && at - now <= horizon).then(|| Renewal {
                address: addresses.get(&s.id).cloned(),
                subscription_id: s.id.clone(),
                customer: live
                    .customers
                    .get(&s.customer_id)
                    .map_or_else(|| s.customer_id.clone(), |c| c.domain.clone()),
                friendly_name: s.friendly_name.clone(),
                renews: RenewalDate::new(at, now),
                auto_renew: s.auto_renew,
                quantity: s.quantity,
                term_duration: s.term_duration,
                next_term: s.next_term.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (
            &a.renews.date,
            &a.customer,
            &a.friendly_name,
            &a.subscription_id,
        )
            .cmp(&(
                &b.renews.date,
                &b.customer,
                &b.friendly_name,
                &b.subscription_id,
            ))
    });
    out
}

/// What happened to a node while planning.
#[derive(Clone, Debug)]
enum NodeState {
    /// Exists with the given id and needs nothing.
    Unchanged,
    /// Has an action at this index of `actions`; `gating` actions hold back dependents.
    Action { index: usize, gating: bool },
}

struct Planner<'a> {
    desired: &'a Desired,
    sources: &'a SourceMap,
    live: &'a Live,
    options: &'a PlanOptions,
    /// Customer index → live customer id (when it exists).
    customer_ids: Vec<Option<String>>,
    /// Subscription index → live subscription id (when it exists).
    subscription_ids: Vec<Option<String>>,
    /// Reseller index → its tenant id: declared, or, for a sandbox reseller cspctl
    /// created, the live reseller with its MPN id. `None`: not created yet, so its
    /// tenant id is not known before Partner Center creates it.
    reseller_tenant_ids: Vec<Option<String>>,
    /// The live objects matched above, by the same indices (looked up once).
    customer_live: Vec<Option<&'a LiveCustomer>>,
    subscription_live: Vec<Option<&'a LiveSubscription>>,
    /// For a manifest without a live subscription, an ended one (expired,
    /// cancelled) of its customer and name: never bought again for it.
    subscription_ended: Vec<Option<&'a LiveSubscription>>,
    actions: Vec<Action>,
    /// `action_needs[i]`: indices of the actions action `i` depends on.
    action_needs: Vec<Vec<usize>>,
    /// Resellers this plan creates so far (for the sandbox limit).
    resellers_created: usize,
    /// Matched live objects that could not be compared in full.
    partly_known: Vec<PartlyKnown>,
    problems: Vec<Diagnostic>,
    /// The warnings of the actions so far that predict a refusal (those with
    /// `rules`), as diagnostics: when there are `problems` no plan is shown, and
    /// these are reported with them so that no predicted refusal goes unsaid.
    predicted: Vec<Diagnostic>,
    /// The field changes of the purchases the matching foresees, made on both
    /// cores before the sequential pass ([`Planner::foresee_purchases`]), taken
    /// by it.
    foreseen_purchases: Vec<Option<Vec<FieldChange>>>,
}

impl<'a> Planner<'a> {
    /// A planner with the manifests matched to the live objects.
    fn matched(
        desired: &'a Desired,
        sources: &'a SourceMap,
        live: &'a Live,
        options: &'a PlanOptions,
        capacity: usize,
    ) -> Planner<'a> {
        let m = &desired.manifests;
        let mut planner = Planner {
            desired,
            sources,
            live,
            options,
            customer_ids: vec![None; m.customers.len()],
            subscription_ids: vec![None; m.subscriptions.len()],
            reseller_tenant_ids: vec![None; m.resellers.len()],
            customer_live: Vec::new(),
            subscription_live: Vec::new(),
            subscription_ended: Vec::new(),
            actions: Vec::with_capacity(capacity),
            action_needs: Vec::with_capacity(capacity),
            resellers_created: 0,
            partly_known: Vec::new(),
            problems: Vec::new(),
            predicted: Vec::new(),
            foreseen_purchases: Vec::new(),
        };
        planner.match_resellers();
        planner.match_customers();
        planner.match_subscriptions();
        planner.customer_live = planner
            .customer_ids
            .iter()
            .map(|id| id.as_ref().and_then(|id| live.customers.get(id)))
            .collect();
        planner
    }
}

/// The field changes of buying `subscription`: its spec as sent, named by its
/// friendly name, with the first term's end when an alignment resolved to one.
fn purchase_changes(
    subscription: &Object<crate::manifest::model::SubscriptionSpec>,
    custom_term_end_date: Option<&str>,
) -> Vec<FieldChange> {
    let mut shown = Leaves::of("", &subscription.spec);
    shown.remove("customer");
    shown.insert("friendlyName", json!(friendly_name(subscription)));
    // Shown as what is sent: the date the alignment resolved to.
    shown.remove("termEndAlignedWith");
    if let Some(date) = custom_term_end_date {
        shown.insert("customTermEndDate", json!(date));
    }
    created(shown)
}

// The texts below are made only for the messages that show them: most
// subscriptions of a large tenant have none.

/// How a plan message names a subscription's next renewal.
fn renewal_text(renewal: Option<&RenewalDate>) -> String {
    renewal.map_or_else(
        || {
            "at the renewal (its date unknown: Partner Center did not report commitmentEndDate)"
                .to_owned()
        },
        |r| format!("at renewal on {}", r.describe()),
    )
}

/// How a plan message names a subscription's cancellation window that has ended.
fn window_text(window_until: Option<i64>) -> String {
    window_until.map_or_else(
        || "its window is not known (Partner Center did not report it)".to_owned(),
        |until| format!("its window ended {}", crate::time::format(until)),
    )
}

impl Planner<'_> {
    /// Makes, on both cores, the field changes of the subscriptions the matching
    /// found nothing live for, which the sequential pass will buy (unless it finds
    /// a reason not to, and then drops them): in a plan that creates a whole
    /// tenant they were a third of planning, with the other core idle. Purchases
    /// aligned with another subscription's term are left to the pass, which
    /// resolves the date first.
    fn foresee_purchases(&mut self) {
        let subscriptions = &self.desired.manifests.subscriptions;
        let foreseen: Vec<usize> = (0..subscriptions.len())
            .filter(|&s| {
                let spec = &subscriptions[s].spec;
                self.subscription_ids[s].is_none()
                    && self.subscription_ended[s].is_none()
                    && spec.status != DesiredStatus::Cancelled
                    && spec.term_end_aligned_with.is_none()
            })
            .collect();
        let made = crate::manifest::in_chunks(&foreseen, |chunk| {
            chunk
                .iter()
                .map(|&s| purchase_changes(&subscriptions[s], None))
                .collect::<Vec<_>>()
        });
        self.foreseen_purchases = vec![None; subscriptions.len()];
        for (s, changes) in foreseen.into_iter().zip(made.into_iter().flatten()) {
            self.foreseen_purchases[s] = Some(changes);
        }
    }
}

/// Plans the changes that make `live` match `desired`.
pub fn plan(
    desired: &Desired,
    sources: &SourceMap,
    live: &Live,
    options: &PlanOptions,
) -> Result<Plan, Vec<Diagnostic>> {
    plan_noting_lookups(
        desired,
        sources,
        live,
        options,
        &mut crate::live::Lookups::default(),
    )
}

/// [`plan`], and what it would have to ask Partner Center beyond `live` to plan
/// right ([`super::lookups::needed`], found by the same matching). When that is not
/// empty, the shell reads the answers and plans again with them; most plans need
/// none, and are planned (and matched) once.
pub fn plan_and_lookups(
    desired: &Desired,
    sources: &SourceMap,
    live: &Live,
    options: &PlanOptions,
) -> (Result<Plan, Vec<Diagnostic>>, crate::live::Lookups) {
    let mut lookups = crate::live::Lookups::default();
    let result = plan_noting_lookups(desired, sources, live, options, &mut lookups);
    (result, lookups)
}

fn plan_noting_lookups(
    desired: &Desired,
    sources: &SourceMap,
    live: &Live,
    options: &PlanOptions,
    lookups: &mut crate::live::Lookups,
) -> Result<Plan, Vec<Diagnostic>> {
    // `validate` leaves the graph in `desired`; build it here only for a model that
    // did not come through `validate`.
    let built;
    let (graph, order) = match &desired.graph {
        Some((graph, order)) => (graph, order.as_slice()),
        None => {
            let graph = DependencyGraph::build(desired)?;
            let order = graph.topological_order(desired)?;
            built = (graph, order);
            (&built.0, built.1.as_slice())
        }
    };
    // At most one action per object: reserved, so that a whole tenant's plan is
    // not moved to a larger buffer again and again as it grows (each move copies
    // and faults in the whole list).
    let mut planner = Planner::matched(desired, sources, live, options, graph.graph.node_count());
    planner.foresee_purchases();
    *lookups = super::lookups::needed(desired, &planner.subscription_live);

    let mut states: Vec<NodeState> = vec![NodeState::Unchanged; graph.graph.node_count()];
    // For each node, the gating actions it (transitively, through unchanged nodes) needs.
    let mut inherited: Vec<Vec<usize>> = vec![Vec::new(); graph.graph.node_count()];
    for &node in order {
        let mut needs: Vec<usize> = Vec::new();
        for prerequisite in graph.prerequisites(node) {
            match &states[prerequisite.index()] {
                NodeState::Action {
                    index,
                    gating: true,
                } => needs.push(*index),
                _ => needs.extend(inherited[prerequisite.index()].iter().copied()),
            }
        }
        needs.sort_unstable();
        needs.dedup();
        let graph_node = graph.graph[node];
        match planner.plan_node(graph_node) {
            Some((action, gating)) => {
                let index = planner.push(action, &needs);
                states[node.index()] = NodeState::Action { index, gating };
                if !gating {
                    inherited[node.index()] = needs;
                }
            }
            None => inherited[node.index()] = needs,
        }
    }
    if !planner.problems.is_empty() {
        planner.problems.append(&mut planner.predicted);
        return Err(planner.problems);
    }
    let unmanaged = planner.unmanaged();
    let resellers = (0..desired.manifests.resellers.len())
        .map(|r| {
            let reseller = &desired.manifests.resellers[r];
            let planned = PlannedReseller {
                tenant_id: planner.reseller_tenant(r),
                mpn_id: reseller.spec.mpn_id.clone(),
                display_name: reseller.spec.display_name.clone(),
            };
            (reseller.name.clone(), planned)
        })
        .collect();
    let mut plan = Plan::new(options.backend.clone(), planner.actions, unmanaged);
    plan.resellers = resellers;
    if let (Some(now), Some(horizon)) = (options.now, options.renewal_horizon) {
        let addresses: HashMap<String, String> = planner
            .subscription_ids
            .iter()
            .enumerate()
            .filter_map(|(s, id)| {
                let name = &desired.manifests.subscriptions[s].name;
                id.clone().map(|id| (id, format!("Subscription/{name}")))
            })
            .collect();
        plan.renewals = renewal_calendar(live, &addresses, now, horizon);
    }
    planner.partly_known.sort();
    plan.summary.partly_known = planner.partly_known.len();
    plan.partly_known = planner.partly_known;
    Ok(plan)
}

/// Purchases of `plan` that an order still provisioning may already be making: a
/// pending line of the same customer and offer with no friendly name to match.
pub fn purchases_under_way(plan: &Plan, pending: &[LiveSubscription]) -> Vec<String> {
    let mut out = Vec::new();
    for action in &plan.actions {
        let Operation::CreateSubscription {
            customer, offer_id, ..
        } = &action.operation
        else {
            continue;
        };
        for line in pending.iter().filter(|s| s.friendly_name.trim().is_empty()) {
            let same_customer = customer
                .id
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(&line.customer_id));
            let maybe_same_offer = line.offer_id.is_empty() || same_offer(&line.offer_id, offer_id);
            if same_customer && maybe_same_offer {
                out.push(format!(
                    "{} ({offer_id}): order {} of customer {}",
                    action.address,
                    line.order_id.as_deref().unwrap_or("(no id)"),
                    line.customer_id
                ));
            }
        }
    }
    out
}

/// Re-reads the fingerprint of the live object a precondition names (`None` when it
/// does not exist). `apply PLANFILE` compares it with the one in the plan.
pub fn observe(live: &Live, key: &LiveKey) -> Option<String> {
    match key {
        LiveKey::Reseller { tenant_id } => live
            .resellers
            .get(&tenant_id.to_ascii_lowercase())
            .map(fingerprint),
        LiveKey::ResellerMpn { mpn_id } => live
            .resellers
            .values()
            .find(|r| r.mpn_id == *mpn_id)
            .map(fingerprint),
        LiveKey::CustomerId { id } => live
            .customers
            .get(&id.to_ascii_lowercase())
            .map(fingerprint),
        LiveKey::CustomerDomain { domain } => live.customer_by_domain(domain).map(fingerprint),
        LiveKey::SubscriptionId { id } => live
            .subscriptions
            .get(&id.to_ascii_lowercase())
            .map(fingerprint),
        LiveKey::SubscriptionName {
            customer_domain,
            friendly_name,
        } => {
            let customer = live.customer_by_domain(customer_domain)?;
            live.subscriptions
                .values()
                .find(|s| {
                    s.customer_id == customer.id
                        && !s.status.is_gone()
                        && s.friendly_name.eq_ignore_ascii_case(friendly_name)
                })
                .map(fingerprint)
        }
    }
}

/// Lowercase without allocating when the text has no uppercase letters.
fn lowercase(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_uppercase) {
        Cow::Owned(text.to_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

/// Domain warnings for a subscription PATCH: what Partner Center will refuse or do
/// that the field changes alone do not say; each with its rule (`crate::rules`)
/// when it predicts a refusal.
fn subscription_warnings(
    live: &LiveSubscription,
    patch: &SubscriptionPatch,
    new_commerce: bool,
) -> Vec<(String, Option<Rule>)> {
    let mut warnings = Vec::new();
    let stays_suspended = live.status == LiveStatus::Suspended
        && patch.status.is_none_or(|s| s == LiveStatus::Suspended);
    if patch.quantity.is_some() && stays_suspended {
        warnings.push((
            "Partner Center refuses quantity changes on a suspended subscription (error 2001); set `status: active` in the same change, or leave the quantity".to_owned(),
            Some(Rule::SuspendedQuantity),
        ));
    }
    if patch.status == Some(LiveStatus::Suspended) {
        warnings.push((if new_commerce {
            "the customer loses access but billing continues while a new-commerce subscription is suspended".to_owned()
        } else {
            "the customer loses access; a legacy subscription's data is deleted if it is not reactivated within about 90 days".to_owned()
        }, None));
    }
    if new_commerce && patch.auto_renew == Some(false) {
        warnings.push((
            "without auto-renew the subscription expires at the end of its term".to_owned(),
            None,
        ));
    }
    if patch.billing_cycle.is_some() {
        warnings.push((if new_commerce {
            "a mid-term billing-frequency change of a new-commerce subscription takes effect at once and is billed pro rata".to_owned()
        } else {
            "a billing-cycle change is made on the subscription's order, and applies to every subscription of that order".to_owned()
        }, None));
    }
    warnings
}

/// Field changes between two serializable values (absent fields are `null`).
pub(super) fn diff<T: Serialize + ?Sized, U: Serialize + ?Sized>(
    prefix: &str,
    before: &T,
    after: &U,
) -> Vec<FieldChange> {
    let before = Leaves::of(prefix, before).into_sorted();
    let after = Leaves::of(prefix, after).into_sorted();
    // Both sorted by path: merged in one pass.
    let mut changes = Vec::new();
    let (mut before, mut after) = (before.into_iter().peekable(), after.into_iter().peekable());
    loop {
        let (path, old, new) = match (before.peek(), after.peek()) {
            (None, None) => break,
            (Some((b, _)), Some((a, _))) if b == a => {
                let (path, old) = before.next().expect("peeked");
                let (_, new) = after.next().expect("peeked");
                (path, old, new)
            }
            (Some((b, _)), Some((a, _))) if b > a => {
                let (path, new) = after.next().expect("peeked");
                (path, Json::Null, new)
            }
            (Some(_), _) => {
                let (path, old) = before.next().expect("peeked");
                (path, old, Json::Null)
            }
            (None, Some(_)) => {
                let (path, new) = after.next().expect("peeked");
                (path, Json::Null, new)
            }
        };
        if old != new {
            changes.push(FieldChange {
                path,
                before: old,
                after: new,
            });
        }
    }
    changes
}

/// Every leaf of a new object as a change from nothing.
pub(super) fn creation<T: Serialize + ?Sized>(value: &T) -> Vec<FieldChange> {
    created(Leaves::of("", value))
}

/// Every (non-null) leaf of `leaves` as a change from nothing, sorted by path.
pub(super) fn created(leaves: Leaves) -> Vec<FieldChange> {
    let leaves = leaves.into_sorted();
    // Sized once: grown from a filter it was copied 3 or 4 times per object.
    let mut changes = Vec::with_capacity(leaves.len());
    changes.extend(
        leaves
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(path, after)| FieldChange {
                path,
                before: Json::Null,
                after,
            }),
    );
    changes
}

fn roles(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| (*r).to_owned()).collect()
}

impl Planner<'_> {
    fn source<S>(&self, object: &Object<S>) -> Option<SourceRef> {
        let location = object.origin.value_at("metadata.name");
        Some(SourceRef {
            file: self.sources.display(location.file).to_owned(),
            line: location.line,
            column: location.column,
        })
    }

    fn error(&mut self, origin: &Origin, path: &str, message: String, hint: &str) {
        self.problems.push(
            Diagnostic::error("live-conflict", Some(origin.value_at(path)), message)
                .with_hint(hint),
        );
    }

    /// Keeps a warning of the action at `address` that predicts a refusal under
    /// `rule` as a diagnostic at the object's name (see `predicted`).
    fn predict(&mut self, origin: &Origin, address: &str, rule: Rule, message: &str) {
        self.predicted.push(Diagnostic::warning(
            rule.id(),
            Some(origin.value_at("metadata.name")),
            format!("{address}: {message}"),
        ));
    }

    /// Adds an action with its dependencies and status; returns its index.
    fn push(&mut self, mut action: Action, needs: &[usize]) -> usize {
        // Keep only the direct prerequisites: a dependency already implied by another
        // one (the reseller of a customer the subscription waits for) is noise.
        let needs: Vec<usize> = needs
            .iter()
            .copied()
            .filter(|&i| !needs.iter().any(|&j| j != i && self.reaches(j, i)))
            .collect();
        let needs = needs.as_slice();
        action.depends_on = needs
            .iter()
            .map(|&i| self.actions[i].address.clone())
            .collect();
        let mut manual_roots: Vec<usize> = Vec::new();
        for &i in needs {
            match self.actions[i].status {
                ActionStatus::Manual => manual_roots.push(i),
                ActionStatus::Blocked => manual_roots.extend(self.manual_roots(i)),
                ActionStatus::Ready => {}
            }
        }
        manual_roots.sort_unstable();
        manual_roots.dedup();
        if action.status == ActionStatus::Ready && !manual_roots.is_empty() {
            action.status = ActionStatus::Blocked;
            let waiting: Vec<&str> = manual_roots
                .iter()
                .map(|&i| self.actions[i].address.as_str())
                .collect();
            action.instructions = Some(format!(
                "Blocked until the manual step {} is done; run plan again then.",
                waiting.join(", ")
            ));
        }
        self.actions.push(action);
        self.action_needs.push(needs.to_vec());
        self.actions.len() - 1
    }

    /// The manual actions a blocked action waits for, through other blocked ones.
    fn manual_roots(&self, blocked: usize) -> Vec<usize> {
        let mut roots = Vec::new();
        for &i in &self.action_needs[blocked] {
            match self.actions[i].status {
                ActionStatus::Manual => roots.push(i),
                ActionStatus::Blocked => roots.extend(self.manual_roots(i)),
                ActionStatus::Ready => {}
            }
        }
        roots
    }

    /// Whether action `from` depends on action `to`, directly or transitively. The
    /// graph has at most five layers, so the walk is short.
    fn reaches(&self, from: usize, to: usize) -> bool {
        self.action_needs[from]
            .iter()
            .any(|&next| next == to || self.reaches(next, to))
    }

    /// A reseller is its declared tenant; one declared without a tenant id (a
    /// sandbox reseller cspctl creates) is the live reseller with its MPN id, so
    /// the plan after its creation neither creates it again nor shows a change.
    fn match_resellers(&mut self) {
        for (i, reseller) in self.desired.manifests.resellers.iter().enumerate() {
            self.reseller_tenant_ids[i] = match &reseller.spec.tenant_id {
                Some(tenant_id) => Some(tenant_id.to_ascii_lowercase()),
                None => {
                    let found: Vec<&LiveReseller> = self
                        .live
                        .resellers
                        .values()
                        .filter(|r| r.mpn_id == reseller.spec.mpn_id)
                        .collect();
                    if found.len() > 1 {
                        let ids: Vec<&str> = found.iter().map(|r| r.tenant_id.as_str()).collect();
                        self.error(
                            &reseller.origin,
                            "spec.mpnId",
                            format!(
                                "{} live resellers have MPN ID {} ({})",
                                found.len(),
                                reseller.spec.mpn_id,
                                ids.join(", ")
                            ),
                            "set `spec.tenantId` to the one this manifest manages",
                        );
                    }
                    found.first().map(|r| r.tenant_id.clone())
                }
            };
        }
    }

    /// The tenant id of reseller `r` (see `reseller_tenant_ids`).
    fn reseller_tenant(&self, r: usize) -> Option<String> {
        self.reseller_tenant_ids[r].clone()
    }

    /// The address whose creation gives reseller `r` its tenant id, when that id
    /// is not known at plan time (a sandbox reseller this plan creates): apply
    /// takes the id Partner Center answers with.
    fn reseller_created_by(&self, r: usize) -> Option<String> {
        self.reseller_tenant_ids[r]
            .is_none()
            .then(|| format!("Reseller/{}", self.desired.manifests.resellers[r].name))
    }

    fn match_customers(&mut self) {
        let domains = self.live.customer_domain_index();
        for (i, customer) in self.desired.manifests.customers.iter().enumerate() {
            let by_domain = domains.get(&customer.spec.domain.to_ascii_lowercase());
            let id = match &customer.spec.tenant_id {
                Some(tenant_id) => {
                    let tenant_id = tenant_id.to_ascii_lowercase();
                    match self.live.customers.get(&tenant_id) {
                        Some(live) if !live.domain.eq_ignore_ascii_case(&customer.spec.domain) => {
                            let message = format!(
                                "customer tenant {tenant_id} has domain `{}` in Partner Center, not `{}`",
                                live.domain, customer.spec.domain
                            );
                            self.error(
                                &customer.origin,
                                "spec.domain",
                                message,
                                "a customer's initial domain never changes; fix the manifest",
                            );
                            None
                        }
                        Some(_) => Some(tenant_id),
                        None => None,
                    }
                }
                None => by_domain.cloned(),
            };
            self.customer_ids[i] = id;
        }
    }

    fn match_subscriptions(&mut self) {
        let live = self.live;
        let mut by_name: HashMap<(&str, Cow<'_, str>), Vec<&LiveSubscription>> =
            map_with_capacity(live.subscriptions.len());
        // Ended subscriptions by the same key, the earliest id of a name first (an
        // index: looked up for every manifest without a live subscription).
        let mut ended_by_name: HashMap<(&str, Cow<'_, str>), &LiveSubscription> =
            HashMap::default();
        for subscription in live.subscriptions.values() {
            let key = (
                subscription.customer_id.as_str(),
                lowercase(&subscription.friendly_name),
            );
            if subscription.status.is_gone() {
                ended_by_name
                    .entry(key)
                    .and_modify(|kept| {
                        if subscription.id < kept.id {
                            *kept = subscription;
                        }
                    })
                    .or_insert(subscription);
            } else {
                by_name.entry(key).or_default().push(subscription);
            }
        }
        self.subscription_ended = vec![None; self.desired.manifests.subscriptions.len()];
        // The live subscription of each manifest, found by the same matching (a
        // lookup by id in a map of the whole tenant's subscriptions, per manifest,
        // took a tenth of a large plan's planning).
        self.subscription_live = vec![None; self.desired.manifests.subscriptions.len()];
        for (i, subscription) in self.desired.manifests.subscriptions.iter().enumerate() {
            let Some(&c) = self.desired.customer_index.get(&subscription.spec.customer) else {
                continue;
            };
            let customer_id = self.customer_ids[c].clone();
            if let Some(id) = &subscription.spec.id {
                let id = id.to_ascii_lowercase();
                match self.live.subscriptions.get(&id) {
                    Some(live) if Some(&live.customer_id) != customer_id.as_ref() => {
                        let message = format!(
                            "subscription {id} belongs to another customer in Partner Center"
                        );
                        self.error(
                            &subscription.origin,
                            "spec.id",
                            message,
                            "check `spec.id` and `spec.customer`",
                        );
                    }
                    Some(live)
                        if live.status.is_gone()
                            && subscription.spec.status == DesiredStatus::Cancelled =>
                    {
                        self.subscription_ids[i] = Some(id);
                        self.subscription_live[i] = Some(live);
                    }
                    Some(live) if live.status.is_gone() => {
                        let message = format!(
                            "subscription {id} is {} in Partner Center and cannot be managed",
                            live.status.as_str()
                        );
                        self.error(
                            &subscription.origin,
                            "spec.id",
                            message,
                            "remove `spec.id` to buy a new subscription, or remove the manifest",
                        );
                    }
                    Some(live) => {
                        self.subscription_ids[i] = Some(id);
                        self.subscription_live[i] = Some(live);
                    }
                    None if customer_id.is_some() => {
                        let message = format!(
                            "no subscription {id} exists for customer `{}`",
                            subscription.spec.customer
                        );
                        self.error(
                            &subscription.origin,
                            "spec.id",
                            message,
                            "an adopted id must exist; remove `spec.id` to buy a new subscription",
                        );
                    }
                    None => {}
                }
                continue;
            }
            let Some(customer_id) = customer_id else {
                continue;
            };
            let key = (customer_id.as_str(), lowercase(friendly_name(subscription)));
            let Some(named) = by_name.get(&key) else {
                if subscription.spec.status == DesiredStatus::Cancelled {
                    // A cancelled subscription that has ended is matched to its ended
                    // self, so that it is neither bought again nor listed as unmanaged.
                    if let Some(&ended) = ended_by_name.get(&key) {
                        self.subscription_ids[i] = Some(ended.id.clone());
                        self.subscription_live[i] = Some(ended);
                    }
                } else {
                    self.subscription_ended[i] = ended_by_name.get(&key).copied();
                }
                continue;
            };
            match named.as_slice() {
                [one] => {
                    self.subscription_ids[i] = Some(one.id.clone());
                    self.subscription_live[i] = Some(one);
                }
                many if many.len() > 1 => {
                    let ids: Vec<&str> = many.iter().map(|s| s.id.as_str()).collect();
                    let message = format!(
                        "{} live subscriptions of customer `{}` are named `{}` ({})",
                        many.len(),
                        subscription.spec.customer,
                        friendly_name(subscription),
                        ids.join(", ")
                    );
                    self.error(
                        &subscription.origin,
                        "metadata.name",
                        message,
                        "set `spec.id` to the one this manifest manages",
                    );
                }
                _ => {}
            }
        }
    }

    fn plan_node(&mut self, node: GraphNode) -> Option<(Action, bool)> {
        match node {
            GraphNode::Object(Kind::Reseller, i) => self.plan_reseller(i),
            GraphNode::Object(Kind::Customer, i) => self.plan_customer(i),
            GraphNode::Relationship(c, r) => self.plan_relationship(c, r),
            GraphNode::Object(Kind::Subscription, i) => self.plan_subscription(i),
            GraphNode::Object(Kind::SupportContact, i) => self.plan_support_contact(i),
        }
    }

    fn plan_reseller(&mut self, i: usize) -> Option<(Action, bool)> {
        let reseller = &self.desired.manifests.resellers[i];
        let tenant_id = self.reseller_tenant(i);
        let address = format!("Reseller/{}", reseller.name);
        let key = match &reseller.spec.tenant_id {
            Some(declared) => LiveKey::Reseller {
                tenant_id: declared.to_ascii_lowercase(),
            },
            None => LiveKey::ResellerMpn {
                mpn_id: reseller.spec.mpn_id.clone(),
            },
        };
        match tenant_id
            .as_deref()
            .and_then(|id| self.live.resellers.get(id))
        {
            None if reseller.spec.tenant_id.is_none() && reseller.spec.sandbox_tenant.is_none() => {
                self.error(
                    &reseller.origin,
                    "spec",
                    format!(
                        "no reseller with MPN ID {} exists, and the manifest declares neither `tenantId` (an existing reseller) nor `sandboxTenant` (one cspctl creates in the integration sandbox)",
                        reseller.spec.mpn_id
                    ),
                    "declare the reseller's `tenantId`, or `sandboxTenant` for a sandbox reseller",
                );
                None
            }
            None => {
                // Partner Center creates a sandbox reseller's tenant with an id of
                // its own: a declared tenant id that does not exist cannot be
                // created there (the local state takes it, a rehearsal convenience).
                let creatable = self.options.sandbox
                    && (self.options.declared_reseller_tenants
                        || (reseller.spec.tenant_id.is_none()
                            && reseller.spec.sandbox_tenant.is_some()));
                let mut action = if creatable {
                    let mut action = Action::new(
                        address,
                        None,
                        ActionType::Create,
                        Operation::CreateReseller {
                            reseller: reseller.spec.clone(),
                        },
                    );
                    self.resellers_created += 1;
                    let total = self.live.resellers.len() + self.resellers_created;
                    if let Some(limit) = self.options.sandbox_reseller_limit
                        && total > limit
                    {
                        action.warnings.push(format!(
                            "the integration sandbox allows {limit} indirect resellers per provider and this would be number {total}: Partner Center will refuse it (800018); delete a sandbox reseller first or declare fewer"
                        ));
                        action.rules.push(Rule::SandboxResellerLimit);
                        if let Some(message) = action.warnings.last() {
                            self.predict(
                                &reseller.origin,
                                &action.address,
                                Rule::SandboxResellerLimit,
                                message,
                            );
                        }
                    }
                    action
                } else {
                    let mut action =
                        Action::new(address, None, ActionType::Manual, Operation::Manual);
                    action.instructions = Some(if self.options.sandbox {
                        format!(
                            "Reseller `{}` (tenant {}, MPN ID {}) does not exist in the integration sandbox. Partner Center creates a sandbox reseller's tenant and gives it an id of its own, so cspctl creates it only from `spec.sandboxTenant` with `tenantId` left out; or add the reseller in Partner Center, then run plan again.",
                            reseller.spec.display_name,
                            reseller.spec.tenant_id.as_deref().unwrap_or("not declared"),
                            reseller.spec.mpn_id
                        )
                    } else {
                        format!(
                            "Invite reseller `{}` (MPN ID {}) in Partner Center (Indirect resellers → Add reseller); the partnership exists once the reseller accepts the invitation. Partnerships cannot be created through the API.",
                            reseller.spec.display_name, reseller.spec.mpn_id
                        )
                    });
                    action
                };
                action.changes = creation(&reseller.spec);
                action.roles = roles(&COMMERCE_ROLES);
                action.source = self.source(reseller);
                action.precondition = Some(Precondition {
                    key,
                    fingerprint: None,
                });
                Some((action, true))
            }
            Some(live) => {
                let mut changes = Vec::new();
                if live.mpn_id != reseller.spec.mpn_id {
                    changes.push(FieldChange {
                        path: "mpnId".into(),
                        before: json!(live.mpn_id),
                        after: json!(reseller.spec.mpn_id),
                    });
                }
                if live.name != reseller.spec.display_name {
                    changes.push(FieldChange {
                        path: "displayName".into(),
                        before: json!(live.name),
                        after: json!(reseller.spec.display_name),
                    });
                }
                if reseller.spec.location.is_some() && live.location != reseller.spec.location {
                    changes.push(FieldChange {
                        path: "location".into(),
                        before: json!(live.location),
                        after: json!(reseller.spec.location),
                    });
                }
                if changes.is_empty() {
                    return None;
                }
                let mut action = Action::new(address, None, ActionType::Manual, Operation::Manual);
                action.instructions = Some(
                    "The reseller owns its Partner Center profile; cspctl cannot change it. Update the manifest to match Partner Center (or ask the reseller to update its profile).".to_owned(),
                );
                action.changes = changes;
                action.source = self.source(reseller);
                action.precondition = Some(Precondition {
                    key,
                    fingerprint: Some(fingerprint(live)),
                });
                // A profile difference holds nothing back.
                Some((action, false))
            }
        }
    }

    fn customer_ref(&self, c: usize) -> ObjectRef {
        ObjectRef {
            address: format!("Customer/{}", self.desired.manifests.customers[c].name),
            id: self.customer_ids[c].clone(),
        }
    }

    fn plan_customer(&mut self, c: usize) -> Option<(Action, bool)> {
        let customer = &self.desired.manifests.customers[c];
        let spec = &customer.spec;
        let address = format!("Customer/{}", customer.name);
        let name = Some(customer.name.clone());
        let Some(id) = self.customer_ids[c].clone() else {
            if let Some(tenant_id) = &spec.tenant_id {
                let mut action = Action::new(address, name, ActionType::Manual, Operation::Manual);
                action.instructions = Some(format!(
                    "Customer tenant {tenant_id} ({}) is not a customer yet: its global admin must accept the indirect provider's reseller relationship request (open the link), then run plan again.",
                    spec.domain
                ));
                action.url = self.live.relationship_request_url.clone();
                action.roles = roles(&COMMERCE_ROLES);
                action.source = self.source(customer);
                action.precondition = Some(Precondition {
                    key: LiveKey::CustomerId {
                        id: tenant_id.to_ascii_lowercase(),
                    },
                    fingerprint: None,
                });
                return Some((action, true));
            }
            let first_index = self.desired.reseller_index[&spec.resellers[0]];
            let first = &self.desired.manifests.resellers[first_index];
            let first_tenant = self.reseller_tenant(first_index);
            let operation = Operation::CreateCustomer {
                domain: spec.domain.clone(),
                company_name: spec.company_name.clone(),
                billing: spec.billing.clone(),
                organization_registration_number: spec.organization_registration_number.clone(),
                associated_partner_id: first_tenant.unwrap_or_default(),
                associated_reseller: self.reseller_created_by(first_index),
                agreement: spec.agreement.clone(),
            };
            let mut action = Action::new(address, name, ActionType::Create, operation);
            let mut shown = Leaves::of("", spec);
            shown.remove("resellers");
            shown.insert("associatedReseller", json!(first.name));
            action.changes = created(shown);
            action.risks = vec![Risk::CustomerVisible, Risk::Irreversible];
            action.roles = roles(&COMMERCE_ROLES);
            action.source = self.source(customer);
            action.precondition = Some(Precondition {
                key: LiveKey::CustomerDomain {
                    domain: spec.domain.to_ascii_lowercase(),
                },
                fingerprint: None,
            });
            return Some((action, true));
        };
        let live = self.customer_live[c].expect("matched customers are live");
        // Most customers are unchanged: compare the typed values before building diffs.
        let agreement_missing = spec.agreement.is_some() && live.agreement.is_none();
        if live.company_name == spec.company_name
            && live.billing == spec.billing
            && !agreement_missing
        {
            return None;
        }
        let mut changes = diff(
            "",
            &json!({"companyName": live.company_name, "billing": live.billing}),
            &json!({"companyName": spec.company_name, "billing": spec.billing}),
        );
        let billing_changed = !changes.is_empty();
        let agreement = match (&spec.agreement, &live.agreement) {
            (Some(desired), None) => {
                changes.extend(diff("agreement", &Json::Null, desired));
                Some(desired.clone())
            }
            _ => None,
        };
        if changes.is_empty() {
            return None;
        }
        let operation = Operation::UpdateCustomer {
            customer: self.customer_ref(c),
            billing: billing_changed.then(|| spec.billing.clone()),
            company_name: (live.company_name != spec.company_name)
                .then(|| spec.company_name.clone()),
            agreement,
        };
        let mut action = Action::new(address, name, ActionType::Update, operation);
        action.changes = changes;
        action.roles = roles(&COMMERCE_ROLES);
        action.source = self.source(customer);
        action.precondition = Some(Precondition {
            key: LiveKey::CustomerId { id: id.clone() },
            fingerprint: Some(fingerprint(live)),
        });
        Some((action, true))
    }

    fn plan_relationship(&mut self, c: usize, r: usize) -> Option<(Action, bool)> {
        let customer = &self.desired.manifests.customers[c];
        let reseller = &self.desired.manifests.resellers[r];
        let reseller_tenant = self.reseller_tenant(r);
        let tenant_id = reseller_tenant.clone().unwrap_or_default();
        let is_first = customer.spec.resellers.first() == Some(&reseller.name);
        let live_customer: Option<&LiveCustomer> = self.customer_live[c];
        match live_customer {
            Some(live) if live.reseller_relationships.contains(&tenant_id) => return None,
            // A customer created by this plan gets its first reseller's relationship
            // from the creation itself (`associatedPartnerId`).
            None if is_first && customer.spec.tenant_id.is_none() => return None,
            _ => {}
        }
        let address = format!("Relationship/{}/{}", customer.name, reseller.name);
        let mut action = Action::new(
            address,
            Some(customer.name.clone()),
            ActionType::Manual,
            Operation::Manual,
        );
        let mut instructions = format!(
            "Reseller `{}` (MPN ID {}) has no relationship with customer `{}` ({}): the reseller sends a reseller relationship request and the customer's global admin accepts it. Then run plan again.",
            reseller.spec.display_name, reseller.spec.mpn_id, customer.name, customer.spec.domain
        );
        if let Some(hint) = &self.options.simulate_hint {
            instructions.push(' ');
            instructions.push_str(
                &hint
                    .replace("{customer}", &customer.spec.domain)
                    .replace("{reseller}", &tenant_id),
            );
        }
        action.instructions = Some(instructions);
        if reseller_tenant.is_none() {
            action.instructions = Some(format!(
                "Reseller `{}` is created by this plan; its relationship with customer `{}` can be requested once it exists. Apply, then run plan again.",
                reseller.name, customer.name
            ));
        }
        action.url = self.live.relationship_request_url.clone();
        action.roles = roles(&COMMERCE_ROLES);
        action.source = self.source(customer);
        action.precondition = Some(Precondition {
            key: match &self.customer_ids[c] {
                Some(id) => LiveKey::CustomerId { id: id.clone() },
                None => LiveKey::CustomerDomain {
                    domain: customer.spec.domain.to_ascii_lowercase(),
                },
            },
            fingerprint: live_customer.map(fingerprint),
        });
        Some((action, true))
    }

    fn reseller_mpn(&self, name: &str) -> Option<String> {
        self.desired
            .reseller_index
            .get(name)
            .map(|&r| self.desired.manifests.resellers[r].spec.mpn_id.clone())
    }

    /// A reseller of record shown by name when the MPN ID is one of ours.
    fn reseller_label(&self, mpn: Option<&str>) -> Json {
        match mpn {
            None => Json::Null,
            Some(mpn) => self
                .desired
                .manifests
                .resellers
                .iter()
                .find(|r| r.spec.mpn_id == mpn)
                .map_or_else(|| json!(format!("MPN {mpn}")), |r| json!(r.name)),
        }
    }

    fn plan_subscription(&mut self, s: usize) -> Option<(Action, bool)> {
        let subscription = &self.desired.manifests.subscriptions[s];
        let spec = &subscription.spec;
        let c = self.desired.customer_index[&spec.customer];
        let customer = &self.desired.manifests.customers[c];
        let address = format!("Subscription/{}", subscription.name);
        let name = Some(customer.name.clone());
        let partner_id = spec.reseller.as_deref().and_then(|r| self.reseller_mpn(r));
        let Some(id) = self.subscription_ids[s].clone() else {
            if spec.status == DesiredStatus::Cancelled {
                // Declared ended and not live (cancelled, expired, or never
                // bought): never bought for it.
                return None;
            }
            if let Some(ended) = self.subscription_ended[s] {
                // Its term ended (auto-renew off) or someone cancelled it: buying it
                // again is a new purchase nobody declared as one. A person decides.
                let mut action = Action::new(address, name, ActionType::Manual, Operation::Manual);
                action.instructions = Some(format!(
                    "Subscription `{}` ({}) is {} in Partner Center{}. cspctl does not buy a subscription again once it has ended: declare `status: cancelled` to keep it as ended (or delete the manifest), or give the manifest another name to buy a new one.",
                    friendly_name(subscription),
                    ended.id,
                    ended.status.as_str(),
                    ended
                        .commitment_end_date
                        .as_deref()
                        .map(|date| format!(" (its term ended on {date})"))
                        .unwrap_or_default()
                ));
                action.source = self.source(subscription);
                return Some((action, true));
            }
            let (Some(term_duration), Some(billing_cycle)) =
                (spec.term_duration, spec.billing_cycle)
            else {
                // Validation requires both on a subscription without `id`; one
                // with an `id` that matched nothing is an adoption error reported
                // by the matching, so this is only a guard against buying blind.
                self.error(
                    &subscription.origin,
                    "spec",
                    format!(
                        "subscription `{}` does not exist and declares no termDuration and billingCycle, which a purchase needs",
                        subscription.name
                    ),
                    "declare `termDuration` and `billingCycle` to buy it",
                );
                return None;
            };
            let custom_term_end_date = match &spec.term_end_aligned_with {
                None => None,
                Some(target) => Some(self.aligned_term_end(s, target, term_duration)?),
            };
            let operation = Operation::CreateSubscription {
                customer: self.customer_ref(c),
                offer_id: spec.offer_id.clone(),
                quantity: spec.quantity,
                term_duration,
                billing_cycle,
                auto_renew: spec.auto_renew,
                friendly_name: friendly_name(subscription).to_owned(),
                partner_id_on_record: partner_id,
                suspend: spec.status == DesiredStatus::Suspended,
                custom_term_end_date: custom_term_end_date.clone(),
            };
            let mut action = Action::new(address, name, ActionType::Create, operation);
            action.changes = match self.foreseen_purchases.get_mut(s).and_then(Option::take) {
                Some(changes) if custom_term_end_date.is_none() => changes,
                _ => purchase_changes(subscription, custom_term_end_date.as_deref()),
            };
            if let (Some(date), Some(target)) = (&custom_term_end_date, &spec.term_end_aligned_with)
            {
                action.warnings.push(format!(
                    "the first term ends on {date}, with Subscription/{target}'s (coterminosity: customTermEndDate), and is charged for that shorter term; later terms run in full"
                ));
            }
            action.risks = vec![Risk::Purchase, Risk::CostIncrease, Risk::CustomerVisible];
            action.roles = roles(&COMMERCE_ROLES);
            action.source = self.source(subscription);
            action.precondition = Some(Precondition {
                key: LiveKey::SubscriptionName {
                    customer_domain: customer.spec.domain.to_ascii_lowercase(),
                    friendly_name: friendly_name(subscription).to_owned(),
                },
                fingerprint: None,
            });
            return Some((action, true));
        };
        let live = self.subscription_live[s].expect("matched subscriptions are live");
        if live.status.is_gone() {
            // Only a `status: cancelled` manifest is matched to a subscription that
            // has ended (match_subscriptions): nothing is left to do.
            return None;
        }
        let mut transition = None;
        if super::lookups::wants_transition(live, &spec.offer_id)
            && spec.status != DesiredStatus::Cancelled
            && live.status != LiveStatus::Pending
        {
            // Another product or SKU: only on a transition Partner Center lists
            // as eligible, and only at renewal (cspctl schedules it; it does not
            // make immediate transitions).
            match super::lookups::pick_transition(self.live, live, &spec.offer_id) {
                Ok(target) if spec.effective == Some(Effective::Now) => {
                    let message = format!(
                        "subscription `{}`: cspctl moves a subscription to another SKU ({target}) only at its renewal, as a scheduled transition, not now (`effective: now`)",
                        subscription.name
                    );
                    self.error(
                        &subscription.origin,
                        "spec.effective",
                        message,
                        "remove `effective: now` to schedule the move for the renewal",
                    );
                    return None;
                }
                Ok(target) => transition = Some(target),
                Err(why) => {
                    let message = format!("subscription `{}`: {why}", subscription.name);
                    self.error(
                        &subscription.origin,
                        "spec.offerId",
                        message,
                        "declare one of the eligible offers, or a new Subscription (with another friendly name) for this offer",
                    );
                    return None;
                }
            }
        } else if !live.offer_id.is_empty() && !live.offer_id.eq_ignore_ascii_case(&spec.offer_id) {
            let message = format!(
                "subscription `{}` has offer {} in Partner Center; an offer cannot change in place",
                subscription.name, live.offer_id
            );
            self.error(&subscription.origin, "spec.offerId", message, "declare a new Subscription (with another friendly name) for the new offer, and suspend this one");
            return None;
        }
        if live.status == LiveStatus::Pending {
            // A purchase still being provisioned: Partner Center refuses changes to
            // it (800081/800082), and its order line may not even name the
            // subscription yet. Nothing to do until it is provisioned.
            self.partly_known.push(PartlyKnown::of(
                address,
                live,
                Some(match &live.order_id {
                    Some(order) => format!("purchase in progress: order {order} is still being provisioned; compared once it is"),
                    None => "purchase in progress: still being provisioned; compared once it is".to_owned(),
                }),
            ));
            return None;
        }
        if !live.unknown_fields().is_empty() {
            self.partly_known
                .push(PartlyKnown::of(address.clone(), live, None));
        }
        let new_commerce = is_new_commerce_offer(&spec.offer_id);
        let now = self.options.now;
        // The refund window (cancellationAllowedUntilDate) and the renewal (00:00
        // UTC after the term's last day, commitmentEndDate; create-scheduled-changes:
        // "Renewals start at 12:00 AM UTC on the day following the last day of the
        // term"). Without a clock or a window, the window counts as closed: a change
        // is then scheduled rather than sent and refused.
        // Unreported (the documented get-a-subscription answer has no
        // cancellationAllowedUntilDate): the purchase's own window, 168 hours after
        // `creationDate` (cancel-an-azure-marketplace-subscription), which is
        // certain while it lasts; a later renewal's window is then not known and
        // counts as closed.
        let window_until = live
            .cancellation_allowed_until
            .as_deref()
            .and_then(crate::time::parse)
            .or_else(|| {
                let created = crate::time::parse(live.creation_date.as_deref()?)?;
                Some(created + 7 * 86_400)
            });
        let in_window = matches!((now, window_until), (Some(now), Some(until)) if now <= until);
        let renewal = renewal_at(live)
            .zip(now)
            .map(|(at, now)| RenewalDate::new(at, now));
        let effective = spec.effective;
        // An unreported window (the documented get-a-subscription answer has no
        // cancellationAllowedUntilDate) counts as closed, unless the manifest
        // says `effective: now`: then the change is sent, and Partner Center
        // decides.
        let allowed_now = !new_commerce
            || (in_window && effective != Some(Effective::Renewal))
            || (window_until.is_none() && effective == Some(Effective::Now));
        if spec.status == DesiredStatus::Cancelled && new_commerce {
            return self.plan_cancellation(s, live, allowed_now, renewal, window_until);
        }
        let mut next = NextTermWanted {
            offer: transition,
            ..NextTermWanted::default()
        };
        if let (Some(live_term), Some(term)) = (live.term_duration, spec.term_duration)
            && live_term != term
        {
            if !new_commerce {
                let message = format!(
                    "subscription `{}` has term {live_term:?} in Partner Center; a legacy subscription's term cannot change",
                    subscription.name
                );
                self.error(
                    &subscription.origin,
                    "spec.termDuration",
                    message,
                    "keep the current term, or declare a new Subscription for the other term",
                );
                return None;
            }
            if effective == Some(Effective::Now) {
                let message = format!(
                    "subscription `{}` has term {live_term:?}: new commerce changes the term only at renewal, not now (`effective: now`); the next renewal is {}",
                    subscription.name,
                    renewal.as_ref().map_or_else(
                        || "on a date Partner Center did not report".to_owned(),
                        |r| format!("on {}", r.describe())
                    )
                );
                self.error(
                    &subscription.origin,
                    "spec.effective",
                    message,
                    "remove `effective: now` to schedule the term change for the renewal",
                );
                return None;
            }
            next.term = true;
        }
        let desired_status = match spec.status {
            DesiredStatus::Active => LiveStatus::Active,
            // Legacy subscriptions are cancelled by suspending them (suspend-a-subscription.md;
            // Partner Center deletes them later); new commerce is handled above.
            DesiredStatus::Suspended | DesiredStatus::Cancelled => LiveStatus::Suspended,
        };
        let live_status = live.status;
        let mut patch = SubscriptionPatch::default();
        let mut changes = Vec::new();
        let mut risks = Vec::new();
        let mut warnings = Vec::new();
        if live.quantity != spec.quantity {
            let decrease = spec.quantity < live.quantity;
            // `effective: renewal` schedules more seats too: the manifest speaks of
            // the next term (what `export` writes for a scheduled change).
            if new_commerce && ((decrease && !allowed_now) || effective == Some(Effective::Renewal))
            {
                // New commerce removes seats only within 7 days (168 hours) of
                // purchase or renewal (learn: "new commerce license-based
                // subscription changes"); later only at renewal.
                if effective == Some(Effective::Now) {
                    let message = format!(
                        "subscription `{}`: seats can be removed now only within 7 days of purchase or renewal, and {}; the next window opens {}",
                        subscription.name,
                        window_text(window_until),
                        renewal.as_ref().map_or_else(
                            || "at the renewal".to_owned(),
                            |r| format!("at the renewal on {}", r.describe())
                        )
                    );
                    self.problems.push(
                        Diagnostic::error(
                            Rule::SeatDecreaseWindow.id(),
                            Some(subscription.origin.value_at("spec.effective")),
                            message,
                        )
                        .with_hint(
                            "remove `effective: now` to schedule the decrease for the renewal",
                        ),
                    );
                    return None;
                }
                next.quantity = true;
            } else {
                patch.quantity = Some(spec.quantity);
                changes.push(FieldChange {
                    path: "quantity".into(),
                    before: json!(live.quantity),
                    after: json!(spec.quantity),
                });
                if spec.quantity > live.quantity {
                    risks.push(Risk::CostIncrease);
                } else {
                    risks.push(Risk::CustomerVisible);
                    if new_commerce {
                        risks.push(Risk::Irreversible);
                        if let Some(until) = window_until {
                            warnings.push(format!(
                                "new commerce: seats can be removed (with a prorated refund) until {}, the end of the 7-day window after purchase or renewal",
                                crate::time::format(until)
                            ));
                        }
                    }
                }
            }
        }
        if let Some(live_auto_renew) = live.auto_renew
            && live_auto_renew != spec.auto_renew
        {
            patch.auto_renew = Some(spec.auto_renew);
            changes.push(FieldChange {
                path: "autoRenew".into(),
                before: json!(live_auto_renew),
                after: json!(spec.auto_renew),
            });
            if !spec.auto_renew {
                risks.push(Risk::CustomerVisible);
            }
        }
        if let (Some(live_cycle), Some(cycle)) = (live.billing_cycle, spec.billing_cycle)
            && live_cycle != cycle
        {
            // New commerce changes the billing frequency mid-term, but not to or
            // from triennial billing: "Midterm billing frequency changes for
            // triennial offers will be blocked starting April 1, 2025"
            // (learn.microsoft.com/partner-center/customers/billing-frequency-changes);
            // that one is scheduled for the renewal, as is any change the manifest
            // asks for at renewal.
            if new_commerce
                && (live_cycle == BillingCycle::Triennial
                    || cycle == BillingCycle::Triennial
                    || effective == Some(Effective::Renewal)
                    || next.term)
            {
                if effective == Some(Effective::Now) {
                    let message = format!(
                        "subscription `{}` is billed {} in Partner Center; a new-commerce subscription's billing frequency cannot change to or from triennial mid-term, only at renewal",
                        subscription.name,
                        json!(live_cycle).as_str().unwrap_or_default()
                    );
                    self.problems.push(
                        Diagnostic::error(
                            Rule::TriennialBillingChange.id(),
                            Some(subscription.origin.value_at("spec.billingCycle")),
                            message,
                        )
                        .with_hint(
                            "remove `effective: now` to schedule the change for the renewal",
                        ),
                    );
                    return None;
                }
                next.cycle = true;
            } else {
                patch.billing_cycle = Some(cycle);
                changes.push(FieldChange {
                    path: "billingCycle".into(),
                    before: json!(live_cycle),
                    after: json!(cycle),
                });
            }
        }
        if !live.partner_id_unreported && live.partner_id != partner_id {
            changes.push(FieldChange {
                path: "reseller".into(),
                before: self.reseller_label(live.partner_id.as_deref()),
                after: self.reseller_label(partner_id.as_deref()),
            });
            patch.partner_id = Some(partner_id);
        }
        let status_change = live_status != desired_status;
        if status_change {
            patch.status = Some(desired_status);
            changes.push(FieldChange {
                path: "status".into(),
                before: json!(live.status),
                after: json!(desired_status),
            });
            risks.push(Risk::CustomerVisible);
            if spec.status == DesiredStatus::Cancelled {
                warnings.push("a legacy subscription is cancelled by suspending it (suspend-a-subscription.md); Partner Center deletes it later".to_owned());
            }
        }
        if new_commerce
            && live.next_term_unreported
            && (patch.quantity.is_some() || patch.billing_cycle.is_some())
        {
            warnings.push("Partner Center did not say whether changes are scheduled for this subscription's renewal; this immediate change deletes any that are".to_owned());
        }
        if new_commerce {
            match self.next_term(s, live, &patch, next) {
                Ok(Some(wanted)) => {
                    if live.next_term_unreported {
                        // Compared with "nothing scheduled": writing the same
                        // instructions again changes nothing, so this converges
                        // on Partner Center, but the plan shows it every time.
                        warnings.push("Partner Center did not report this subscription's scheduled changes (no scheduledNextTermInstructions in its answer), so they are written whether or not they are already there".to_owned());
                    }
                    let rewrites = wanted.is_some() && wanted == live.next_term;
                    if rewrites {
                        warnings.push(format!(
                            "this immediate change deletes the change scheduled for the renewal (Partner Center deletes scheduled changes on any mid-term change); cspctl schedules it again right after ({})",
                            renewal_text(renewal.as_ref())
                        ));
                    } else {
                        let scheduled = next_term_changes(
                            live,
                            &SubscriptionPatch {
                                next_term: Some(wanted.clone()),
                                ..patch.clone()
                            },
                        );
                        for change in &scheduled {
                            if change.path == "renewal.quantity"
                                && change.after.as_u64() > change.before.as_u64()
                            {
                                risks.push(Risk::CostIncrease);
                            } else {
                                risks.push(Risk::CustomerVisible);
                            }
                        }
                        changes.extend(scheduled);
                        warnings.push(match &wanted {
                            Some(_) => format!(
                                "written now as the subscription's next-term instructions, which Partner Center applies {}; a mid-term change before then deletes them",
                                renewal_text(renewal.as_ref())
                            ),
                            None => format!("removes the change scheduled for the renewal ({})", renewal_text(renewal.as_ref())),
                        });
                    }
                    patch.next_term = Some(wanted);
                }
                Ok(None) => {}
                Err(()) => return None,
            }
        }
        if changes.is_empty() && patch.next_term.is_none() {
            return None;
        }
        let action_type = if status_change {
            if desired_status == LiveStatus::Suspended {
                ActionType::Suspend
            } else {
                ActionType::Reactivate
            }
        } else if patch.is_immediate() {
            ActionType::Update
        } else {
            ActionType::AtRenewal
        };
        risks.sort_unstable();
        risks.dedup();
        let mut rules = Vec::new();
        for (message, rule) in subscription_warnings(live, &patch, new_commerce) {
            if let Some(rule) = rule {
                self.predict(&subscription.origin, &address, rule, &message);
                rules.push(rule);
            }
            warnings.push(message);
        }
        let operation = Operation::UpdateSubscription {
            customer: self.customer_ref(c),
            subscription_id: id.clone(),
            patch: patch.clone(),
        };
        let mut action = Action::new(address, name, action_type, operation);
        action.changes = changes;
        action.risks = risks;
        action.warnings = warnings;
        action.rules = rules;
        action.roles = roles(&COMMERCE_ROLES);
        action.source = self.source(subscription);
        if patch.next_term.is_some() {
            action.renewal = renewal;
        }
        action.precondition = Some(Precondition {
            key: LiveKey::SubscriptionId { id },
            fingerprint: Some(fingerprint(live)),
        });
        Some((action, true))
    }

    /// The custom term end date of purchase `s` aligned with the subscription
    /// named `target`: that subscription's term's last day, where Partner Center
    /// allows it ([`super::lookups::pick_term_end`]); `None` when a problem was
    /// reported.
    fn aligned_term_end(&mut self, s: usize, target: &str, term: TermDuration) -> Option<String> {
        let subscription = &self.desired.manifests.subscriptions[s];
        let target_live = self
            .desired
            .subscription_index
            .get(target)
            .and_then(|&t| self.subscription_live[t])
            .filter(|t| !t.status.is_gone());
        let Some(target_live) = target_live else {
            let message = format!(
                "subscription `{}` aligns its term end with `{target}`, which is not in Partner Center (yet): a purchase aligns only with an existing subscription",
                subscription.name
            );
            self.error(
                &subscription.origin,
                "spec.termEndAlignedWith",
                message,
                &format!(
                    "apply `{target}` first, then plan this one; or remove `termEndAlignedWith`"
                ),
            );
            return None;
        };
        match super::lookups::pick_term_end(self.live, target_live, term) {
            Ok(date) => Some(date),
            Err(why) => {
                let message = format!(
                    "subscription `{}` cannot align its term end with `{target}`: {why}",
                    subscription.name
                );
                self.error(
                    &subscription.origin,
                    "spec.termEndAlignedWith",
                    message,
                    "align with another subscription, or remove `termEndAlignedWith` to buy a full term",
                );
                None
            }
        }
    }

    /// What the next term's instructions should be (`Ok(Some(wanted))` when
    /// they must be written: `wanted` `None` removes them; `Ok(None)`: leave them;
    /// `Err`: a problem was reported). The manifest's values for a term that
    /// renews: its seats, term and billing cycle where the current term cannot
    /// take them now (`next`), else the current term's after this action's
    /// immediate changes.
    fn next_term(
        &mut self,
        s: usize,
        live: &LiveSubscription,
        patch: &SubscriptionPatch,
        next: NextTermWanted,
    ) -> Result<Option<Option<LiveNextTerm>>, ()> {
        let subscription = &self.desired.manifests.subscriptions[s];
        let spec = &subscription.spec;
        let immediate_clears = patch.quantity.is_some()
            || patch.billing_cycle.is_some()
            || patch.auto_renew == Some(false);
        let wanted = if next.any() {
            let term = spec.term_duration.or(live.term_duration);
            let cycle = spec.billing_cycle.or(live.billing_cycle);
            let offer = if let Some(target) = &next.offer {
                Some(target.clone())
            } else if live.offer_id.split(':').count() == 3
                && same_offer(&live.offer_id, &spec.offer_id)
            {
                Some(live.offer_id.clone())
            } else if spec.offer_id.split(':').count() == 3 {
                Some(spec.offer_id.clone())
            } else {
                None
            };
            let (Some(term), Some(cycle), Some(offer)) = (term, cycle, offer) else {
                let message = format!(
                    "subscription `{}`: a change at renewal needs the term, the billing cycle and the offer's availability (`PRODUCT:SKU:AVAILABILITY`), and neither the manifest nor Partner Center gives them all",
                    subscription.name
                );
                self.error(
                    &subscription.origin,
                    "spec",
                    message,
                    "declare `termDuration`, `billingCycle` and the full `offerId`",
                );
                return Err(());
            };
            if !spec.auto_renew {
                let message = format!(
                    "subscription `{}`: a change at renewal needs auto-renew (Partner Center's scheduled changes apply when it renews), but the manifest says `autoRenew: false`",
                    subscription.name
                );
                self.error(
                    &subscription.origin,
                    "spec.autoRenew",
                    message,
                    "set `autoRenew: true`, or leave the seats, term and billing cycle as they are",
                );
                return Err(());
            }
            if spec.status != DesiredStatus::Active {
                let message = format!(
                    "subscription `{}`: changes at renewal can be scheduled only on an active subscription",
                    subscription.name
                );
                self.error(
                    &subscription.origin,
                    "spec.status",
                    message,
                    "set `status: active`, or leave the seats, term and billing cycle as they are",
                );
                return Err(());
            }
            Some(LiveNextTerm {
                offer_id: offer,
                quantity: spec.quantity,
                term_duration: term,
                billing_cycle: cycle,
            })
        } else {
            None
        };
        if wanted != live.next_term {
            // Auto-renew off deletes what was scheduled (the simulator's reading;
            // scheduled changes need auto-renew): nothing to remove then.
            if wanted.is_none() && patch.auto_renew == Some(false) {
                return Ok(None);
            }
            return Ok(Some(wanted));
        }
        if wanted.is_some() && immediate_clears {
            return Ok(Some(wanted));
        }
        Ok(None)
    }

    /// `status: cancelled` on a new-commerce subscription: inside the window the
    /// documented cancel (PATCH `status: deleted`,
    /// cancel-an-azure-marketplace-subscription: "New commerce subscriptions can
    /// be canceled within 7 days ... of purchase or renewal. After this window has
    /// passed, subscriptions can no longer be canceled and the API will throw an
    /// error"); outside it auto-renew off, so the subscription ends with its term,
    /// or, with `effective: now`, a plan error naming the dates.
    fn plan_cancellation(
        &mut self,
        s: usize,
        live: &LiveSubscription,
        allowed_now: bool,
        renewal: Option<RenewalDate>,
        window_until: Option<i64>,
    ) -> Option<(Action, bool)> {
        let window_text = window_text(window_until);
        let subscription = &self.desired.manifests.subscriptions[s];
        let spec = &subscription.spec;
        let c = self.desired.customer_index[&spec.customer];
        let address = format!("Subscription/{}", subscription.name);
        let name = Some(self.desired.manifests.customers[c].name.clone());
        let ends = live.commitment_end_date.as_deref().map_or_else(
            || "at the end of its term".to_owned(),
            |end| format!("at the end of its term ({})", &end[..end.len().min(10)]),
        );
        let mut patch = SubscriptionPatch::default();
        let mut action = if allowed_now {
            patch.status = Some(LiveStatus::Deleted);
            let mut action = Action::new(address, name, ActionType::Cancel, Operation::Manual);
            action.changes = vec![FieldChange::new(
                "status",
                json!(live.status),
                shown_status(LiveStatus::Deleted),
            )];
            action.risks = vec![Risk::CustomerVisible, Risk::Irreversible];
            action.warnings.push(match window_until {
                Some(until) => format!(
                    "cancels the subscription, with a prorated refund, inside the 7-day window after purchase or renewal (until {})",
                    crate::time::format(until)
                ),
                None => "cancels the subscription, with a prorated refund".to_owned(),
            });
            action
        } else {
            if spec.effective == Some(Effective::Now) {
                let message = format!(
                    "subscription `{}` cannot be cancelled now: new commerce cancels only within 7 days of purchase or renewal, and {window_text}; without `effective: now` cspctl turns auto-renew off and it ends {ends}{}",
                    subscription.name,
                    renewal.as_ref().map_or_else(String::new, |r| format!(
                        ", the day before {}",
                        r.describe()
                    ))
                );
                self.problems.push(
                    Diagnostic::error(
                        Rule::SeatDecreaseWindow.id(),
                        Some(subscription.origin.value_at("spec.effective")),
                        message,
                    )
                    .with_hint("remove `effective: now` to let the subscription end with its term (auto-renew off)"),
                );
                return None;
            }
            if live.auto_renew == Some(false) {
                // Already ending with its term: nothing more can be done.
                return None;
            }
            patch.auto_renew = Some(false);
            let mut action = Action::new(address, name, ActionType::Update, Operation::Manual);
            action.changes = vec![FieldChange::new(
                "autoRenew",
                json!(live.auto_renew),
                json!(false),
            )];
            action.risks = vec![Risk::CustomerVisible];
            action.warnings.push(format!(
                "`status: cancelled`, but {window_text}: new commerce cancels only within 7 days of purchase or renewal, so auto-renew is turned off and the subscription ends {ends}{}",
                renewal.as_ref().map_or_else(String::new, |r| format!("; it would have renewed on {}", r.describe()))
            ));
            if live.next_term.is_some() {
                action.warnings.push(
                    "the change scheduled for the renewal goes with it: a subscription that does not renew applies none".to_owned(),
                );
            }
            action.renewal = renewal;
            action
        };
        action.operation = Operation::UpdateSubscription {
            customer: self.customer_ref(c),
            subscription_id: live.id.clone(),
            patch,
        };
        action.roles = roles(&COMMERCE_ROLES);
        action.source = self.source(subscription);
        action.precondition = Some(Precondition {
            key: LiveKey::SubscriptionId {
                id: live.id.clone(),
            },
            fingerprint: Some(fingerprint(live)),
        });
        Some((action, true))
    }

    fn plan_support_contact(&mut self, i: usize) -> Option<(Action, bool)> {
        let contact = &self.desired.manifests.support_contacts[i];
        let s = self.desired.subscription_index[&contact.spec.subscription];
        let subscription = &self.desired.manifests.subscriptions[s];
        let c = self.desired.customer_index[&subscription.spec.customer];
        let r = self.desired.reseller_index[&contact.spec.reseller];
        let reseller = &self.desired.manifests.resellers[r];
        let tenant_id = self.reseller_tenant(r).unwrap_or_default();
        let live = self.subscription_live[s];
        let current = live.and_then(|l| l.support_contact.as_ref());
        if current.is_some_and(|sc| {
            sc.tenant_id.eq_ignore_ascii_case(&tenant_id) && sc.mpn_id == reseller.spec.mpn_id
        }) {
            return None;
        }
        let operation = Operation::SetSupportContact {
            customer: self.customer_ref(c),
            subscription: ObjectRef {
                address: format!("Subscription/{}", subscription.name),
                id: self.subscription_ids[s].clone(),
            },
            reseller_tenant_id: tenant_id,
            reseller_created_by: self.reseller_created_by(r),
            reseller_mpn_id: reseller.spec.mpn_id.clone(),
            reseller_name: reseller.spec.display_name.clone(),
        };
        let mut action = Action::new(
            format!("SupportContact/{}", contact.name),
            Some(subscription.spec.customer.clone()),
            ActionType::SetSupportContact,
            operation,
        );

        action.changes = vec![FieldChange {
            path: "reseller".into(),
            before: current.map_or(Json::Null, |sc| self.reseller_label(Some(&sc.mpn_id))),
            after: json!(reseller.name),
        }];
        action.risks = vec![Risk::CustomerVisible];
        action.roles = roles(&SUPPORT_ROLES);
        action.source = self.source(contact);
        action.precondition = Some(match live {
            Some(l) => Precondition {
                key: LiveKey::SubscriptionId { id: l.id.clone() },
                fingerprint: Some(fingerprint(l)),
            },
            None => Precondition {
                key: LiveKey::SubscriptionName {
                    customer_domain: self.desired.manifests.customers[c]
                        .spec
                        .domain
                        .to_ascii_lowercase(),
                    friendly_name: friendly_name(subscription).to_owned(),
                },
                fingerprint: None,
            },
        });
        Some((action, true))
    }

    /// Support contacts on managed subscriptions that no SupportContact declares go
    /// back to the default, and live objects no manifest declares are listed.
    fn unmanaged(&mut self) -> Vec<Unmanaged> {
        let m = &self.desired.manifests;
        let with_contact: HashSet<&str> = m
            .support_contacts
            .iter()
            .map(|sc| sc.spec.subscription.as_str())
            .collect();
        let resets: Vec<(usize, String)> = m
            .subscriptions
            .iter()
            .enumerate()
            .filter(|(_, s)| !with_contact.contains(s.name.as_str()))
            .filter_map(|(s, _)| {
                let live = self.subscription_live[s]?;
                live.support_contact.as_ref().map(|_| (s, live.id.clone()))
            })
            .collect();
        for (s, id) in resets {
            let subscription = &m.subscriptions[s];
            let c = self.desired.customer_index[&subscription.spec.customer];
            let live = self.subscription_live[s].expect("matched subscriptions are live");
            let before =
                self.reseller_label(live.support_contact.as_ref().map(|sc| sc.mpn_id.as_str()));
            let operation = Operation::ResetSupportContact {
                customer: self.customer_ref(c),
                subscription_id: id.clone(),
            };
            let mut action = Action::new(
                format!("Subscription/{}/supportContact", subscription.name),
                Some(subscription.spec.customer.clone()),
                ActionType::ResetSupportContact,
                operation,
            );
            action.changes = vec![FieldChange {
                path: "supportContact".into(),
                before,
                after: json!("indirect provider (default)"),
            }];
            action.risks = vec![Risk::CustomerVisible];
            action.roles = roles(&SUPPORT_ROLES);
            action.source = self.source(subscription);
            action.precondition = Some(Precondition {
                key: LiveKey::SubscriptionId { id: id.clone() },
                fingerprint: Some(fingerprint(live)),
            });
            let depends: Vec<usize> = self
                .actions
                .iter()
                .position(|a| a.address == format!("Subscription/{}", subscription.name))
                .into_iter()
                .collect();
            self.push(action, &depends);
        }

        let managed_resellers: HashSet<String> =
            self.reseller_tenant_ids.iter().flatten().cloned().collect();
        let managed_customers: HashSet<&String> = self.customer_ids.iter().flatten().collect();
        let managed_subscriptions: HashSet<&String> =
            self.subscription_ids.iter().flatten().collect();
        let mut out: Vec<Unmanaged> = Vec::new();
        out.extend(
            self.live
                .resellers
                .values()
                .filter(|r| !managed_resellers.contains(&r.tenant_id))
                .map(|r| Unmanaged {
                    kind: "Reseller".into(),
                    id: r.tenant_id.clone(),
                    name: r.name.clone(),
                }),
        );
        out.extend(
            self.live
                .customers
                .values()
                .filter(|c| !managed_customers.contains(&c.id))
                .map(|c| Unmanaged {
                    kind: "Customer".into(),
                    id: c.id.clone(),
                    name: c.domain.clone(),
                }),
        );
        out.extend(
            self.live
                .subscriptions
                .values()
                .filter(|s| !s.status.is_gone() && !managed_subscriptions.contains(&s.id))
                .map(|s| Unmanaged {
                    kind: "Subscription".into(),
                    id: s.id.clone(),
                    name: s.friendly_name.clone(),
                }),
        );
        // Usage-based subscriptions (Azure plans) cannot be declared; they are
        // listed so that leaving them out is visible, never silent.
        out.extend(self.live.usage_based.iter().map(|(id, s)| Unmanaged {
            kind: crate::plan::USAGE_SUBSCRIPTION_KIND.into(),
            id: id.clone(),
            name: s.friendly_name.clone(),
        }));
        out
    }
}
