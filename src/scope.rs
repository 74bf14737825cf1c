//! What a scoped run looks at (issue 16, "Plans that cost what changed"): the
//! customers a change touches, what they depend on (their resellers'
//! partnerships) and what depends on them, so `plan`, `apply` and `drift` read
//! only those from Partner Center and say what they did not refresh.
//!
//! A scope is named by customers (`--customer NAME`), by objects
//! (`--target Kind/name`: a reseller touches every customer that names it), or by
//! the manifest files changed since a git revision (`--changed-since REF`, in
//! [`crate::cli`]: it turns files into targets). Pure: manifests in, names out.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::live::CustomerScope;
use crate::plan::{Action, Plan, Summary};
use crate::validate::Desired;

/// The customers a scoped run looks at, and what they need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Manifest names of the customers in scope.
    pub customers: BTreeSet<String>,
    /// Manifest names of the resellers those customers, their subscriptions and
    /// their support contacts refer to: their partnerships are in scope too.
    pub resellers: BTreeSet<String>,
    /// Live customers no manifest declares any more but a changed file did (a
    /// deleted document, `--changed-since`): read, so what they hold shows as
    /// unmanaged instead of going unseen.
    pub removed: CustomerScope,
}

impl Scope {
    /// The scope of `customers` (manifest names); `Err` lists the names that no
    /// Customer manifest has.
    pub fn of(desired: &Desired, customers: &[String]) -> Result<Scope, Vec<String>> {
        let m = &desired.manifests;
        let unknown: Vec<String> = customers
            .iter()
            .filter(|name| !desired.customer_index.contains_key(name.as_str()))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
        let customers: BTreeSet<String> = customers.iter().cloned().collect();
        let mut resellers: BTreeSet<String> = BTreeSet::new();
        let mut subscriptions: BTreeSet<&str> = BTreeSet::new();
        for customer in m.customers.iter().filter(|c| customers.contains(&c.name)) {
            resellers.extend(customer.spec.resellers.iter().cloned());
        }
        for subscription in m
            .subscriptions
            .iter()
            .filter(|s| customers.contains(&s.spec.customer))
        {
            subscriptions.insert(subscription.name.as_str());
            resellers.extend(subscription.spec.reseller.iter().cloned());
        }
        for contact in m
            .support_contacts
            .iter()
            .filter(|c| subscriptions.contains(c.spec.subscription.as_str()))
        {
            resellers.insert(contact.spec.reseller.clone());
        }
        Ok(Scope {
            customers,
            resellers,
            removed: CustomerScope::default(),
        })
    }

    /// The live customers in scope, by the domains and adopted tenant ids their
    /// manifests declare (what a scoped read of Partner Center asks for).
    pub fn live_scope(&self, desired: &Desired) -> CustomerScope {
        let mut live = CustomerScope::default();
        for customer in desired
            .manifests
            .customers
            .iter()
            .filter(|c| self.customers.contains(&c.name))
        {
            live.domains
                .insert(customer.spec.domain.to_ascii_lowercase());
            if let Some(id) = &customer.spec.tenant_id {
                live.tenant_ids.insert(id.to_ascii_lowercase());
            }
        }
        live.domains.extend(self.removed.domains.iter().cloned());
        live.tenant_ids
            .extend(self.removed.tenant_ids.iter().cloned());
        live
    }

    /// Whether `action` concerns an object in scope.
    pub fn includes(&self, action: &Action) -> bool {
        match &action.customer {
            Some(customer) => self.customers.contains(customer),
            None => action
                .address
                .strip_prefix("Reseller/")
                .is_some_and(|name| self.resellers.contains(name)),
        }
    }
}

/// The object kinds a `--target` names.
const TARGET_KINDS: [&str; 4] = ["Reseller", "Customer", "Subscription", "SupportContact"];

impl Scope {
    /// The scope of `targets` (`Kind/name`): a customer, the customer of a
    /// subscription or support contact, or every customer a reseller is declared
    /// for (and the reseller itself, also with no customer). `Err` says which
    /// targets name nothing.
    pub fn of_targets(desired: &Desired, targets: &[String]) -> Result<Scope, String> {
        let m = &desired.manifests;
        let mut customers: BTreeSet<String> = BTreeSet::new();
        let mut resellers: BTreeSet<String> = BTreeSet::new();
        let mut unknown = Vec::new();
        for target in targets {
            let (kind, name) = target.split_once('/').unwrap_or(("", target));
            let Some(kind) = TARGET_KINDS.iter().find(|k| k.eq_ignore_ascii_case(kind)) else {
                unknown.push(format!(
                    "`{target}` (a target is Kind/name, Kind one of {})",
                    TARGET_KINDS.join(", ")
                ));
                continue;
            };
            match *kind {
                "Customer" => {
                    if desired.customer_index.contains_key(name) {
                        customers.insert(name.to_owned());
                    }
                }
                "Subscription" => {
                    if let Some(&i) = desired.subscription_index.get(name) {
                        customers.insert(m.subscriptions[i].spec.customer.clone());
                    }
                }
                "SupportContact" => {
                    for contact in m.support_contacts.iter().filter(|c| c.name == name) {
                        if let Some(&i) = desired.subscription_index.get(&contact.spec.subscription)
                        {
                            customers.insert(m.subscriptions[i].spec.customer.clone());
                        }
                    }
                }
                _ => {
                    if desired.reseller_index.contains_key(name) {
                        resellers.insert(name.to_owned());
                        customers.extend(
                            m.customers
                                .iter()
                                .filter(|c| c.spec.resellers.iter().any(|r| r == name))
                                .map(|c| c.name.clone()),
                        );
                        customers.extend(
                            m.subscriptions
                                .iter()
                                .filter(|s| s.spec.reseller.as_deref() == Some(name))
                                .map(|s| s.spec.customer.clone()),
                        );
                        let named: BTreeSet<&str> = m
                            .support_contacts
                            .iter()
                            .filter(|c| c.spec.reseller == name)
                            .map(|c| c.spec.subscription.as_str())
                            .collect();
                        customers.extend(
                            m.subscriptions
                                .iter()
                                .filter(|s| named.contains(s.name.as_str()))
                                .map(|s| s.spec.customer.clone()),
                        );
                    }
                }
            }
            if !known(desired, kind, name) {
                unknown.push(format!("`{target}` (no {kind} manifest is named {name})"));
            }
        }
        if !unknown.is_empty() {
            return Err(format!(
                "--target names nothing declared: {}",
                unknown.join(", ")
            ));
        }
        let customers: Vec<String> = customers.into_iter().collect();
        let mut scope = Scope::of(desired, &customers)
            .map_err(|unknown| format!("customers not declared: {}", unknown.join(", ")))?;
        scope.resellers.extend(resellers);
        Ok(scope)
    }

    /// This scope joined with `other`.
    pub fn join(mut self, other: Scope) -> Scope {
        self.customers.extend(other.customers);
        self.resellers.extend(other.resellers);
        self.removed.domains.extend(other.removed.domains);
        self.removed.tenant_ids.extend(other.removed.tenant_ids);
        self
    }

    /// `plan` cut down to this scope: the actions on objects in scope, and every
    /// action they depend on (so nothing in scope waits on what was cut), the
    /// unmanaged objects of the customers read (never a reseller: a scoped run is
    /// about its customers), with the summary counted again and the scope
    /// recorded, so `apply PLANFILE` reads the same and the reader sees what was
    /// not refreshed.
    pub fn restrict(
        &self,
        mut plan: Plan,
        live: &CustomerScope,
        declared_customers: usize,
    ) -> Plan {
        let mut kept: BTreeSet<String> = plan
            .actions
            .iter()
            .filter(|action| self.includes(action))
            .map(|action| action.address.clone())
            .collect();
        // Dependencies in plan order come first, so one pass backwards closes it.
        for action in plan.actions.iter().rev() {
            if kept.contains(&action.address) {
                kept.extend(action.depends_on.iter().cloned());
            }
        }
        plan.actions.retain(|action| kept.contains(&action.address));
        plan.unmanaged.retain(|u| u.kind != "Reseller");
        plan.summary = Summary::of(&plan.actions, plan.unmanaged.len());
        plan.scope = Some(PlanScope {
            customers: self.customers.iter().cloned().collect(),
            resellers: self.resellers.iter().cloned().collect(),
            domains: live.domains.iter().cloned().collect(),
            tenant_ids: live.tenant_ids.iter().cloned().collect(),
            not_refreshed: declared_customers.saturating_sub(self.customers.len()),
        });
        plan
    }
}

impl Scope {
    /// The desired model of the scope only: its customers, their subscriptions and
    /// support contacts, and the resellers they name, with the dependency graph
    /// built again for them. Planning that costs what the scope holds; planning
    /// every declared customer against a read of a few would plan the rest as
    /// creates, only for [`Scope::restrict`] to drop them. The whole model was
    /// validated first, so an error here means the scope split something the
    /// graph needs: the caller plans the whole model instead.
    pub fn narrow(&self, desired: &Desired) -> Option<Desired> {
        let m = &desired.manifests;
        let customers: Vec<_> = m
            .customers
            .iter()
            .filter(|c| self.customers.contains(&c.name))
            .cloned()
            .collect();
        let subscriptions: Vec<_> = m
            .subscriptions
            .iter()
            .filter(|s| self.customers.contains(&s.spec.customer))
            .cloned()
            .collect();
        let names: BTreeSet<&str> = subscriptions.iter().map(|s| s.name.as_str()).collect();
        let support_contacts: Vec<_> = m
            .support_contacts
            .iter()
            .filter(|c| names.contains(c.spec.subscription.as_str()))
            .cloned()
            .collect();
        let resellers: Vec<_> = m
            .resellers
            .iter()
            .filter(|r| self.resellers.contains(&r.name))
            .cloned()
            .collect();
        let mut narrow = Desired::new(crate::manifest::Manifests {
            resellers,
            customers,
            subscriptions,
            support_contacts,
        });
        let graph = crate::graph::DependencyGraph::build(&narrow).ok()?;
        let order = graph.topological_order(&narrow).ok()?;
        narrow.graph = Some((graph, order));
        Some(narrow)
    }
}

fn known(desired: &Desired, kind: &str, name: &str) -> bool {
    let m = &desired.manifests;
    match kind {
        "Customer" => desired.customer_index.contains_key(name),
        "Subscription" => desired.subscription_index.contains_key(name),
        "SupportContact" => m.support_contacts.iter().any(|c| c.name == name),
        _ => desired.reseller_index.contains_key(name),
    }
}

/// What a scoped plan covered, recorded in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanScope {
    /// Manifest names of the customers read and planned.
    pub customers: Vec<String>,
    /// Manifest names of the resellers whose partnerships were planned.
    pub resellers: Vec<String>,
    /// The live customers read, by domain and tenant id (also those a changed
    /// file no longer declares): what `apply PLANFILE` reads again.
    pub domains: Vec<String>,
    pub tenant_ids: Vec<String>,
    /// Declared customers outside the scope: not read, not refreshed.
    pub not_refreshed: usize,
}

impl PlanScope {
    /// The live customers to read, as the plan read them.
    pub fn live(&self) -> CustomerScope {
        CustomerScope {
            tenant_ids: self.tenant_ids.iter().cloned().collect(),
            domains: self.domains.iter().cloned().collect(),
        }
    }

    /// One line for the reader.
    pub fn line(&self) -> String {
        let shown = if self.customers.len() > 10 {
            format!(
                "{}, ... ({} customers)",
                self.customers[..10].join(", "),
                self.customers.len()
            )
        } else if self.customers.is_empty() {
            "no customer".to_owned()
        } else {
            self.customers.join(", ")
        };
        format!(
            "Scope: {shown}; {} declared customer(s) outside it were not read or refreshed.",
            self.not_refreshed
        )
    }
}
