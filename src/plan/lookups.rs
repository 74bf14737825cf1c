//! What a plan asks Partner Center beyond the snapshot, and how the answers
//! decide two new-commerce changes (issue 17). Pure: no I/O. The planning pass
//! names the [`Lookups`] it lacks (`plan_and_lookups`); the shell reads them,
//! puts the answers in [`Live::transitions`] and [`Live::term_end_dates`], and
//! plans again.
//!
//! - **Another SKU at renewal.** A new-commerce subscription moves to another
//!   product or SKU only on the paths Partner Center offers it: "First GET
//!   eligible transitions to get the SKUs available for upgrade"
//!   (learn.microsoft.com/partner-center/developer/transition-a-new-commerce-subscription,
//!   `GET …/subscriptions/{id}/transitionEligibilities?eligibilityType=scheduled`),
//!   and a scheduled one is written as the next term's product
//!   (create-scheduled-changes). Asked only for the subscriptions whose SKU a
//!   manifest changes: one request each.
//! - **Coterminosity.** A purchase may end its first term on a date Partner
//!   Center allows, one that "co-terms with existing customer subscriptions"
//!   (learn.microsoft.com/partner-center/developer/custom-term-end-dates,
//!   `GET …/subscriptions/customTermEndDates?term_duration=&target_coterm_subscription_id=`),
//!   sent as the cart line's `customTermEndDate`. Asked only for the purchases
//!   a manifest aligns (`termEndAlignedWith`): one request each.
//!
//! It must not decide anything the answers do not say: a target not listed, or
//! listed as not eligible, is a plan error naming what is eligible.

use crate::live::{Live, LiveSubscription, LiveTermEnd, LiveTransition, Lookups, TermEndQuery};
use crate::manifest::model::{DesiredStatus, TermDuration, is_new_commerce_offer, same_offer};

/// Whether the manifest's `offer` moves the live new-commerce subscription to
/// another product or SKU (the availability alone is not a move).
pub fn wants_transition(live: &LiveSubscription, offer: &str) -> bool {
    !live.offer_id.is_empty()
        && is_new_commerce_offer(&live.offer_id)
        && is_new_commerce_offer(offer)
        && !same_offer(&live.offer_id, offer)
}

/// The lookups a plan of `desired` against `live` needs, given which live
/// subscription each manifest matched (`matched[s]`, by manifest index).
pub fn needed(
    desired: &crate::validate::Desired,
    matched: &[Option<&LiveSubscription>],
) -> Lookups {
    let mut out = Lookups::default();
    let subscriptions = &desired.manifests.subscriptions;
    for (s, subscription) in subscriptions.iter().enumerate() {
        let spec = &subscription.spec;
        if spec.status == DesiredStatus::Cancelled {
            continue;
        }
        match matched.get(s).copied().flatten() {
            Some(live) => {
                if !live.status.is_gone() && wants_transition(live, &spec.offer_id) {
                    out.transitions
                        .insert((live.customer_id.clone(), live.id.clone()));
                }
            }
            None => {
                // Only a purchase takes a custom term end date.
                let (Some(target), Some(term)) = (&spec.term_end_aligned_with, spec.term_duration)
                else {
                    continue;
                };
                let Some(&t) = desired.subscription_index.get(target) else {
                    continue;
                };
                if let Some(target) = matched.get(t).copied().flatten()
                    && !target.status.is_gone()
                {
                    out.term_ends.insert(TermEndQuery {
                        customer_id: target.customer_id.clone(),
                        term_duration: term,
                        coterm_subscription_id: target.id.clone(),
                    });
                }
            }
        }
    }
    out
}

/// The eligible scheduled transition of `live` to the manifest's `offer`: its
/// full catalog item id (`PRODUCT:SKU:AVAILABILITY`, what the next term's
/// product needs), or why not, naming the eligible targets.
pub fn pick_transition(
    live: &Live,
    subscription: &LiveSubscription,
    offer: &str,
) -> Result<String, String> {
    let Some(targets) = live.transitions.get(&subscription.id) else {
        return Err(format!(
            "moving it from {} to {offer} needs Partner Center's transition eligibilities, which this plan did not read",
            subscription.offer_id
        ));
    };
    let full = offer.split(':').count() >= 3;
    let matches = |t: &&LiveTransition| {
        if full {
            t.catalog_item_id.eq_ignore_ascii_case(offer)
        } else {
            same_offer(&t.catalog_item_id, offer)
        }
    };
    if let Some(target) = targets.iter().filter(|t| t.eligible).find(matches) {
        return Ok(target.catalog_item_id.clone());
    }
    let why = targets
        .iter()
        .find(matches)
        .map(|t| {
            if t.reasons.is_empty() {
                format!(" ({offer} is listed as not eligible)")
            } else {
                format!(" ({offer} is not eligible: {})", t.reasons.join("; "))
            }
        })
        .unwrap_or_default();
    Err(format!(
        "{offer} is not an eligible transition at renewal for {}{why}; eligible: {}",
        subscription.offer_id,
        describe_eligible(targets)
    ))
}

/// The eligible targets, `CATALOG-ID (title)`, in Partner Center's order.
fn describe_eligible(targets: &[LiveTransition]) -> String {
    let eligible: Vec<String> = targets
        .iter()
        .filter(|t| t.eligible)
        .map(|t| match &t.title {
            Some(title) => format!("{} ({title})", t.catalog_item_id),
            None => t.catalog_item_id.clone(),
        })
        .collect();
    if eligible.is_empty() {
        "none".to_owned()
    } else {
        eligible.join(", ")
    }
}

/// The custom term end date (`YYYY-MM-DD`) of a `term` purchase aligned with
/// `target`: the target's term's last day, if Partner Center allows it for
/// that purchase; else why not, naming the allowed dates.
pub fn pick_term_end(
    live: &Live,
    target: &LiveSubscription,
    term: TermDuration,
) -> Result<String, String> {
    let Some(end) = target
        .commitment_end_date
        .as_deref()
        .and_then(crate::time::parse)
    else {
        return Err(
            "Partner Center did not report when its term ends (commitmentEndDate)".to_owned(),
        );
    };
    let date = crate::time::format_date(end);
    let query = TermEndQuery {
        customer_id: target.customer_id.clone(),
        term_duration: term,
        coterm_subscription_id: target.id.clone(),
    };
    let Some(allowed) = live.term_end_dates.get(&query.key()) else {
        return Err("the allowed custom term end dates were not read for this purchase".to_owned());
    };
    if allowed.iter().any(|a| allows(a, &date, &target.id)) {
        return Ok(date);
    }
    let listed: Vec<String> = allowed
        .iter()
        .map(|a| format!("{} ({})", a.date, a.kind))
        .collect();
    Err(format!(
        "its term ends on {date}, which Partner Center does not allow as the end of a new {term:?} term; allowed: {}",
        if listed.is_empty() {
            "none".to_owned()
        } else {
            listed.join(", ")
        }
    ))
}

/// Whether `allowed` offers `date` for aligning with `target`: a
/// subscription-aligned date that names it, or that names no subscription
/// (the documented shape always lists them; leniency costs nothing, since
/// Partner Center checks the date again on purchase).
fn allows(allowed: &LiveTermEnd, date: &str, target: &str) -> bool {
    allowed.date == date
        && (allowed.coterm_subscription_ids.is_empty()
            || allowed
                .coterm_subscription_ids
                .iter()
                .any(|id| id.eq_ignore_ascii_case(target)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(offer: &str) -> LiveSubscription {
        LiveSubscription {
            quantity: 5,
            term_duration: Some(TermDuration::P1Y),
            commitment_end_date: Some("2027-02-28T00:00:00Z".into()),
            ..LiveSubscription::known_only_by("s1", "c1", offer, "basic")
        }
    }

    fn target(id: &str, eligible: bool, reasons: &[&str]) -> LiveTransition {
        LiveTransition {
            catalog_item_id: id.into(),
            title: Some(format!("title of {id}")),
            eligible,
            reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    /// `s1` may move to Standard; Premium is listed but not eligible.
    fn standard_eligible_premium_not() -> Live {
        let mut live = Live::default();
        live.transitions.insert(
            "s1".into(),
            vec![
                target(STANDARD, true, &[]),
                target(PREMIUM, false, &["conflicting services"]),
            ],
        );
        live
    }

    const BASIC: &str = "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM";
    const STANDARD: &str = "CFQ7TTC0LDPB:0001:CFQ7TTC0K5BF";
    const PREMIUM: &str = "CFQ7TTC0LCHC:0002:CFQ7TTC0K0XF";

    #[test]
    fn another_product_or_sku_is_a_transition_and_another_availability_is_not() {
        let live = subscription(BASIC);
        assert!(wants_transition(&live, STANDARD));
        assert!(wants_transition(&live, "CFQ7TTC0LH18:0002"));
        assert!(!wants_transition(&live, "CFQ7TTC0LH18:0001:OTHER"));
        assert!(!wants_transition(&live, "cfq7ttc0lh18:0001"));
        assert!(!wants_transition(&subscription(""), STANDARD));
        assert!(!wants_transition(
            &subscription(BASIC),
            "031c9e47-4802-4248-838e-778fb1d2cc05"
        ));
    }

    #[test]
    fn an_eligible_target_gives_its_full_catalog_id() {
        let sub = subscription(BASIC);
        let live = standard_eligible_premium_not();
        assert_eq!(
            pick_transition(&live, &sub, STANDARD),
            Ok(STANDARD.to_owned())
        );
        // Without its availability, the listed one is taken.
        assert_eq!(
            pick_transition(&live, &sub, "cfq7ttc0ldpb:0001"),
            Ok(STANDARD.to_owned())
        );
    }

    #[test]
    fn an_ineligible_target_names_why_and_the_eligible_ones() {
        let sub = subscription(BASIC);
        let mut live = standard_eligible_premium_not();
        let error = pick_transition(&live, &sub, PREMIUM).expect_err("not eligible");
        assert_eq!(
            error,
            format!(
                "{PREMIUM} is not an eligible transition at renewal for {BASIC} ({PREMIUM} is not eligible: conflicting services); eligible: {STANDARD} (title of {STANDARD})"
            )
        );
        let error = pick_transition(&live, &sub, "AAAA:0001:BBBB").expect_err("unlisted");
        assert!(
            error.ends_with(&format!("eligible: {STANDARD} (title of {STANDARD})")),
            "{error}"
        );
        live.transitions.insert("s1".into(), Vec::new());
        let error = pick_transition(&live, &sub, STANDARD).expect_err("none");
        assert!(error.ends_with("eligible: none"), "{error}");
        let error = pick_transition(&Live::default(), &sub, STANDARD).expect_err("not read");
        assert!(error.contains("did not read"), "{error}");
    }

    fn allowed(date: &str, kind: &str, ids: &[&str]) -> LiveTermEnd {
        LiveTermEnd {
            date: date.into(),
            kind: kind.into(),
            coterm_subscription_ids: ids.iter().map(|i| (*i).to_owned()).collect(),
        }
    }

    fn with_dates(dates: Vec<LiveTermEnd>) -> Live {
        let mut live = Live::default();
        let key = TermEndQuery {
            customer_id: "c1".into(),
            term_duration: TermDuration::P1Y,
            coterm_subscription_id: "s1".into(),
        }
        .key();
        live.term_end_dates.insert(key, dates);
        live
    }

    #[test]
    fn a_purchase_aligns_with_the_target_term_end_when_it_is_allowed() {
        let target = subscription(BASIC);
        let live = with_dates(vec![
            allowed("2026-03-31", "calendarMonthAligned", &[]),
            allowed("2027-02-28", "subscriptionAligned", &["S1"]),
        ]);
        assert_eq!(
            pick_term_end(&live, &target, TermDuration::P1Y),
            Ok("2027-02-28".to_owned())
        );
    }

    #[test]
    fn a_date_not_allowed_is_refused_with_the_allowed_ones() {
        let target = subscription(BASIC);
        let live = with_dates(vec![
            allowed("2026-03-31", "calendarMonthAligned", &[]),
            allowed("2027-02-28", "subscriptionAligned", &["other"]),
        ]);
        let error = pick_term_end(&live, &target, TermDuration::P1Y).expect_err("not allowed");
        assert_eq!(
            error,
            "its term ends on 2027-02-28, which Partner Center does not allow as the end of a new P1Y term; allowed: 2026-03-31 (calendarMonthAligned), 2027-02-28 (subscriptionAligned)"
        );
        let error =
            pick_term_end(&Live::default(), &target, TermDuration::P1Y).expect_err("not read");
        assert!(error.contains("were not read"), "{error}");
        let mut unknown = target.clone();
        unknown.commitment_end_date = None;
        assert!(pick_term_end(&live, &unknown, TermDuration::P1Y).is_err());
    }
}
