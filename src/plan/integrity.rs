//! Is a saved plan what its reviewer read? Before `apply PLANFILE` executes
//! anything, every action's operation (what apply sends) is checked against its
//! changes (what every rendering of the plan shows), and the plan's digest against
//! its content.
//!
//! Why: a reviewer approves the rendered plan, which shows `changes`; apply sends
//! `operation`. Without this check an edited `operation.patch` was applied while an
//! edited `changes` was silently ignored. Here the changes are derived again from
//! each operation (and, for an update, from the live object it was planned against,
//! unchanged since: the stale-plan check runs first), the way the planner derives
//! them, and any difference refuses the plan, naming the action. Reseller names in
//! changes are tied to the ids operations send through the plan's `resellers`
//! table, whose ids are checked against the live tenant (or the plan's own
//! reseller creation).
//!
//! The digest (SHA-256 of the plan's canonical JSON) catches a damaged or
//! hand-edited file. It is no signature: whoever can write the plan file can write
//! a consistent plan and its digest. The integrity of a reviewed plan between the
//! pull request and apply rests on where CI keeps it (the artifact store).

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::planner::{creation, diff};
use super::{Action, FieldChange, LiveKey, Operation, Plan, PlannedReseller};
use crate::live::Live;
use crate::manifest::model::DesiredStatus;

/// Checks a saved plan's digest: the plan read from a file must serialize, laid
/// out as `cspctl plan` writes it ([`crate::render::json::digest`]), to the
/// content its digest was made of (formatting aside: it is serialized again).
pub fn verify_digest(plan: &Plan) -> Result<(), String> {
    let Some(saved) = &plan.digest else {
        return Err("the plan file has no digest (written by hand, or by an older cspctl); make the plan again with `cspctl plan --out`".into());
    };
    if crate::render::json::digest(plan) == *saved || digest_of_pretty_layout(plan) == *saved {
        Ok(())
    } else {
        Err("the plan file does not match its digest: it was damaged or edited after `cspctl plan` wrote it; make the plan again and review it".into())
    }
}

/// The digest as cspctl wrote it before a plan's actions were laid out one a
/// line: of the whole plan pretty, without its `digest` field. The fields are the
/// same (`format_version` 1), so a plan saved by that cspctl, still on its way
/// from `plan` to `apply` while CI upgrades cspctl, is not damaged and is not
/// refused as such.
fn digest_of_pretty_layout(plan: &Plan) -> String {
    let mut bare = plan.clone();
    bare.digest = None;
    let content = crate::printable::to_json(&bare, true);
    digest_hex(ring::digest::digest(&ring::digest::SHA256, content.as_bytes()).as_ref())
}

/// A SHA-256 hash as a plan's digest says it: `sha256:` and lowercase hex.
pub fn digest_hex(hash: &[u8]) -> String {
    let mut text = String::with_capacity(7 + 2 * hash.len());
    text.push_str("sha256:");
    for byte in hash {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// Checks every executable action of `plan` against `live` (already found not
/// stale). Returns `(address, what disagrees)` for each action that is not what its
/// changes say.
pub fn disagreements(plan: &Plan, live: &Live) -> Vec<(String, String)> {
    let check = Check { plan, live };
    plan.actions
        .iter()
        .filter_map(|action| {
            check
                .action(action)
                .err()
                .map(|problem| (action.address.clone(), problem))
        })
        .collect()
}

struct Check<'a> {
    plan: &'a Plan,
    live: &'a Live,
}

type Checked = Result<(), String>;

impl Check<'_> {
    fn action(&self, action: &Action) -> Checked {
        match &action.operation {
            Operation::Manual => Ok(()),
            Operation::CreateReseller { reseller } => {
                let name = action.address.trim_start_matches("Reseller/");
                let planned = self.reseller(name)?;
                if planned.mpn_id != reseller.mpn_id
                    || planned.display_name != reseller.display_name
                    || planned.tenant_id != reseller.tenant_id
                {
                    return Err(format!(
                        "its operation creates a reseller the plan's `resellers.{name}` does not describe"
                    ));
                }
                same_changes(&action.changes, creation(reseller), &[])
            }
            Operation::CreateCustomer {
                domain,
                company_name,
                billing,
                organization_registration_number,
                associated_partner_id,
                associated_reseller,
                agreement,
            } => {
                self.precondition(
                    action,
                    &LiveKey::CustomerDomain {
                        domain: domain.to_ascii_lowercase(),
                    },
                )?;
                let shown = json!({
                    "domain": domain,
                    "companyName": company_name,
                    "billing": billing,
                    "organizationRegistrationNumber": organization_registration_number,
                    "agreement": agreement,
                });
                same_changes(&action.changes, creation(&shown), &["associatedReseller"])?;
                let name = shown_reseller(&action.changes, "associatedReseller")?;
                self.same_tenant(name, associated_partner_id, associated_reseller.as_deref())
            }
            Operation::UpdateCustomer {
                customer,
                billing,
                company_name,
                agreement,
            } => {
                let id = customer.id.as_deref().unwrap_or_default();
                self.precondition(action, &LiveKey::CustomerId { id: id.to_owned() })?;
                let live = self
                    .live
                    .customers
                    .get(&id.to_ascii_lowercase())
                    .ok_or("its customer is not in the live tenant")?;
                let mut derived = diff(
                    "",
                    &json!({"companyName": live.company_name, "billing": live.billing}),
                    &json!({
                        "companyName": company_name.as_ref().unwrap_or(&live.company_name),
                        "billing": billing.as_ref().unwrap_or(&live.billing),
                    }),
                );
                if let Some(agreement) = agreement {
                    derived.extend(diff("agreement", &Json::Null, agreement));
                }
                same_changes(&action.changes, derived, &[])
            }
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
                custom_term_end_date,
            } => {
                let Some(LiveKey::SubscriptionName {
                    customer_domain, ..
                }) = action.precondition.as_ref().map(|p| &p.key)
                else {
                    return Err("its precondition does not name the subscription".into());
                };
                self.precondition(
                    action,
                    &LiveKey::SubscriptionName {
                        customer_domain: customer_domain.clone(),
                        friendly_name: friendly_name.clone(),
                    },
                )?;
                self.customer_has_domain(customer, customer_domain)?;
                let mut shown = json!({
                    "offerId": offer_id,
                    "quantity": quantity,
                    "termDuration": term_duration,
                    "billingCycle": billing_cycle,
                    "autoRenew": auto_renew,
                    "friendlyName": friendly_name,
                    "status": if *suspend { DesiredStatus::Suspended } else { DesiredStatus::Active },
                });
                if let Some(date) = custom_term_end_date {
                    shown["customTermEndDate"] = json!(date);
                }
                same_changes(&action.changes, creation(&shown), &["reseller"])?;
                let name = shown_reseller(&action.changes, "reseller")?;
                self.same_mpn(name, partner_id_on_record.as_deref())
            }
            Operation::UpdateSubscription {
                customer,
                subscription_id,
                patch,
            } => {
                let live = self.subscription(action, customer, subscription_id)?;
                let mut derived = Vec::new();
                let mut change = |path: &str, before: Json, after: Json| {
                    derived.push(FieldChange {
                        path: path.to_owned(),
                        before,
                        after,
                    });
                };
                if let Some(quantity) = patch.quantity {
                    change("quantity", json!(live.quantity), json!(quantity));
                }
                if let Some(auto_renew) = patch.auto_renew {
                    change("autoRenew", json!(live.auto_renew), json!(auto_renew));
                }
                if let Some(cycle) = patch.billing_cycle {
                    change("billingCycle", json!(live.billing_cycle), json!(cycle));
                }
                if let Some(status) = patch.status {
                    change("status", json!(live.status), super::shown_status(status));
                }
                derived.extend(super::next_term_changes(live, patch));
                same_changes(&action.changes, derived, &["reseller"])?;
                let shown = action.changes.iter().find(|c| c.path == "reseller");
                match (&patch.partner_id, shown) {
                    (None, None) => Ok(()),
                    (None, Some(_)) => Err("its changes show another reseller of record, which its operation does not send".into()),
                    (Some(_), None) => Err("its operation sends another reseller of record, which its changes do not show".into()),
                    (Some(partner_id), Some(shown)) => {
                        self.same_label(&shown.before, live.partner_id.as_deref())?;
                        let name = shown_reseller(&action.changes, "reseller")?;
                        self.same_mpn(name, partner_id.as_deref())
                    }
                }
            }
            Operation::SetSupportContact {
                customer,
                subscription,
                reseller_tenant_id,
                reseller_created_by,
                reseller_mpn_id,
                reseller_name,
            } => {
                let current = match &subscription.id {
                    Some(id) => self
                        .subscription(action, customer, id)?
                        .support_contact
                        .as_ref()
                        .map(|contact| contact.mpn_id.as_str()),
                    None => {
                        self.created_by_plan(&subscription.address)?;
                        None
                    }
                };
                same_changes(&action.changes, Vec::new(), &["reseller"])?;
                let name = shown_reseller(&action.changes, "reseller")?
                    .ok_or("its changes name no reseller")?;
                let before = action
                    .changes
                    .iter()
                    .find(|c| c.path == "reseller")
                    .map_or(&Json::Null, |c| &c.before);
                self.same_label(before, current)?;
                self.same_tenant(
                    Some(name),
                    reseller_tenant_id,
                    reseller_created_by.as_deref(),
                )?;
                let planned = self.reseller(name)?;
                if planned.mpn_id != *reseller_mpn_id || planned.display_name != *reseller_name {
                    return Err(format!(
                        "its operation names another reseller than `{name}`, which its changes show"
                    ));
                }
                Ok(())
            }
            Operation::ResetSupportContact {
                customer,
                subscription_id,
            } => {
                let live = self.subscription(action, customer, subscription_id)?;
                let current = live.support_contact.as_ref().map(|c| c.mpn_id.as_str());
                let derived = vec![FieldChange {
                    path: "supportContact".into(),
                    before: self.label(current),
                    after: json!("indirect provider (default)"),
                }];
                same_changes(&action.changes, derived, &[])
            }
        }
    }

    /// The action's precondition is on `key`: its operation acts on the object it
    /// was planned (and checked not stale) against.
    fn precondition(&self, action: &Action, key: &LiveKey) -> Checked {
        match &action.precondition {
            Some(precondition) if precondition.key == *key => Ok(()),
            _ => Err("its operation acts on another object than its precondition names".into()),
        }
    }

    /// The live subscription an update acts on, checked to be the one its
    /// precondition names and to belong to its customer.
    fn subscription(
        &self,
        action: &Action,
        customer: &super::ObjectRef,
        id: &str,
    ) -> Result<&crate::live::LiveSubscription, String> {
        self.precondition(action, &LiveKey::SubscriptionId { id: id.to_owned() })?;
        let live = self
            .live
            .subscriptions
            .get(&id.to_ascii_lowercase())
            .ok_or("its subscription is not in the live tenant")?;
        if !customer
            .id
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(&live.customer_id))
        {
            return Err("its operation names another customer than the subscription's".into());
        }
        Ok(live)
    }

    /// A purchase is made for the customer whose domain its precondition names.
    fn customer_has_domain(&self, customer: &super::ObjectRef, domain: &str) -> Checked {
        let same = match &customer.id {
            Some(id) => self
                .live
                .customers
                .get(&id.to_ascii_lowercase())
                .is_some_and(|c| c.domain.eq_ignore_ascii_case(domain)),
            None => self.plan.actions.iter().any(|a| {
                a.address == customer.address
                    && matches!(&a.operation, Operation::CreateCustomer { domain: d, .. } if d.eq_ignore_ascii_case(domain))
            }),
        };
        if same {
            Ok(())
        } else {
            Err(format!(
                "its operation buys for another customer than `{domain}`, which its precondition names"
            ))
        }
    }

    fn created_by_plan(&self, address: &str) -> Checked {
        if self.plan.actions.iter().any(|a| a.address == address) {
            Ok(())
        } else {
            Err(format!(
                "it depends on {address}, which the plan neither finds live nor creates"
            ))
        }
    }

    fn reseller(&self, name: &str) -> Result<&PlannedReseller, String> {
        let planned = self.plan.resellers.get(name).ok_or_else(|| {
            format!("it names reseller `{name}`, which the plan's `resellers` does not hold")
        })?;
        // The ids must be a real pair: a live partnership, or this plan's creation.
        let live = match &planned.tenant_id {
            Some(tenant) => self.live.resellers.get(&tenant.to_ascii_lowercase()),
            None => self
                .live
                .resellers
                .values()
                .find(|r| r.mpn_id == planned.mpn_id),
        };
        let paired = live.is_some_and(|r| r.mpn_id == planned.mpn_id)
            || self.plan.actions.iter().any(|a| {
                matches!(&a.operation, Operation::CreateReseller { reseller }
                    if reseller.mpn_id == planned.mpn_id && reseller.tenant_id == planned.tenant_id)
            });
        if paired {
            Ok(planned)
        } else {
            Err(format!(
                "the plan's `resellers.{name}` holds ids that no live reseller and no creation in the plan have"
            ))
        }
    }

    /// `name` (from changes) is the reseller whose tenant the operation sends.
    fn same_tenant(&self, name: Option<&str>, tenant: &str, created_by: Option<&str>) -> Checked {
        let name = name.ok_or("its changes name no reseller")?;
        let planned = self.reseller(name)?;
        let same = match &planned.tenant_id {
            Some(id) => id.eq_ignore_ascii_case(tenant) && created_by.is_none(),
            None => tenant.is_empty() && created_by == Some(&format!("Reseller/{name}")),
        };
        if same {
            Ok(())
        } else {
            Err(format!(
                "its operation sends another reseller's tenant than `{name}`'s, which its changes show"
            ))
        }
    }

    /// `name` (from changes) is the reseller of record whose MPN id the operation sends.
    fn same_mpn(&self, name: Option<&str>, mpn: Option<&str>) -> Checked {
        let same = match (name, mpn) {
            (None, None) => true,
            (Some(name), Some(mpn)) => match name.strip_prefix("MPN ") {
                Some(shown) => {
                    shown == mpn && !self.plan.resellers.values().any(|r| r.mpn_id == mpn)
                }
                None => self.reseller(name)?.mpn_id == mpn,
            },
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err("its operation sends another reseller of record than its changes show".into())
        }
    }

    /// How the planner shows a reseller by MPN id: its name when declared.
    fn label(&self, mpn: Option<&str>) -> Json {
        match mpn {
            None => Json::Null,
            Some(mpn) => self
                .plan
                .resellers
                .iter()
                .find(|(_, r)| r.mpn_id == mpn)
                .map_or_else(|| json!(format!("MPN {mpn}")), |(name, _)| json!(name)),
        }
    }

    /// The `before` a change shows is the live reseller (any name with its MPN id).
    fn same_label(&self, shown: &Json, mpn: Option<&str>) -> Checked {
        let same = match (shown.as_str(), mpn) {
            (None, None) => shown.is_null(),
            (Some(name), Some(mpn)) => {
                self.plan
                    .resellers
                    .get(name)
                    .is_some_and(|r| r.mpn_id == mpn)
                    || *shown == self.label(Some(mpn))
            }
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err("its changes show another current reseller than the live one".into())
        }
    }
}

/// The reseller a change at `path` shows (`None` when it shows none).
fn shown_reseller<'a>(changes: &'a [FieldChange], path: &str) -> Result<Option<&'a str>, String> {
    match changes.iter().find(|c| c.path == path).map(|c| &c.after) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(name)) => Ok(Some(name)),
        Some(other) => Err(format!(
            "its change of `{path}` shows {other}, not a reseller"
        )),
    }
}

/// `shown` equals `derived`, leaving out the paths in `references` (checked
/// against the operation's ids instead), whatever the order.
fn same_changes(shown: &[FieldChange], derived: Vec<FieldChange>, references: &[&str]) -> Checked {
    let as_map = |changes: &mut dyn Iterator<Item = &FieldChange>| {
        changes
            .filter(|c| !references.contains(&c.path.as_str()))
            .map(|c| (c.path.clone(), (c.before.clone(), c.after.clone())))
            .collect::<BTreeMap<_, _>>()
    };
    let shown = as_map(&mut shown.iter());
    let derived = as_map(&mut derived.iter());
    if shown == derived {
        return Ok(());
    }
    let differing: Vec<&String> = shown
        .keys()
        .chain(derived.keys())
        .filter(|path| shown.get(*path) != derived.get(*path))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let shown_paths: Vec<String> = differing.iter().map(|p| format!("`{p}`")).collect();
    Err(format!(
        "its changes and its operation disagree on {}",
        shown_paths.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_plan_carries_its_digest_and_any_change_breaks_it() {
        let plan = Plan::new("local:state.json".into(), Vec::new(), Vec::new());
        let text = crate::render::render_json(&plan);
        let read = Plan::from_json(&text).expect("reads back");
        let digest = read.digest.clone().expect("a digest");
        assert!(
            digest.starts_with("sha256:") && digest.len() == 7 + 64,
            "{digest}"
        );
        // Formatting is not content: compact JSON of the same plan is accepted.
        let compact = serde_json::to_string(&read).expect("serializes");
        assert!(Plan::from_json(&compact).is_ok());
        // Rendering a read plan again gives the same bytes.
        assert_eq!(crate::render::render_json(&read), text);
        let edited = text.replace("local:state.json", "local:other.json");
        let error = Plan::from_json(&edited).unwrap_err();
        assert!(
            error.message.contains("does not match its digest"),
            "{error}"
        );
        let bare = text.replace(&format!(",\n  \"digest\": \"{digest}\""), "");
        let error = Plan::from_json(&bare).unwrap_err();
        assert!(error.message.contains("has no digest"), "{error}");
    }

    /// A plan saved by the cspctl before actions were laid out one a line (the whole
    /// plan pretty, digested so) reads as what it is, an undamaged plan; edited, it
    /// is refused as any other.
    #[test]
    fn a_plan_saved_in_the_earlier_pretty_layout_is_accepted_and_its_edits_are_not() {
        let actions = crate::plan::manual_actions(3, |i| {
            FieldChange::new("quantity", json!(i), json!(i + 1))
        });
        let plan = Plan::new("local:state.json".into(), actions, Vec::new());
        let pretty = crate::printable::to_json(&plan, true);
        let saved = format!(
            "{},\n  \"digest\": \"{}\"\n}}\n",
            pretty.strip_suffix("\n}").expect("a pretty object"),
            digest_of_pretty_layout(&plan)
        );
        assert_ne!(
            saved,
            crate::render::render_json(&plan),
            "the layouts differ"
        );
        let read = Plan::from_json(&saved).expect("an earlier plan reads");
        assert_eq!(read.actions.len(), 3);
        let edited = saved.replacen("\"after\": 3", "\"after\": 30", 1);
        assert_ne!(edited, saved);
        let error = Plan::from_json(&edited).unwrap_err();
        assert!(
            error.message.contains("does not match its digest"),
            "{error}"
        );
    }
}
