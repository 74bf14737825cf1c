//! The simulator's new-commerce transition paths and allowed custom term end
//! dates: `GET …/subscriptions/{id}/transitionEligibilities`
//! (learn.microsoft.com/partner-center/developer/transition-a-new-commerce-subscription)
//! and `GET …/subscriptions/customTermEndDates`
//! (learn.microsoft.com/partner-center/developer/custom-term-end-dates), and the
//! checks the same rules make of a scheduled change and of a cart line.
//!
//! The paths themselves are Microsoft's catalog, which no API page lists: the
//! simulator knows a few (Business Basic and Standard up to Standard and
//! Premium, the upgrades learn's "add licenses or services" page names for the
//! Microsoft 365 business plans). Any other product or SKU has no path
//! (docs/simulator.md, "Transitions and custom term end dates": a choice).

use serde_json::{Value, json};

use super::{ApiError, ApiResult, State, Status, Subscription, Term};
use crate::sim::clock::{add_months, format_rfc3339, parse_rfc3339};

/// `(from PRODUCT:SKU, to PRODUCT:SKU:AVAILABILITY, the target's title)`.
pub const TRANSITION_PATHS: [(&str, &str, &str); 3] = [
    (
        "CFQ7TTC0LH18:0001",
        "CFQ7TTC0LDPB:0001:CFQ7TTC0K5BF",
        "Microsoft 365 Business Standard",
    ),
    (
        "CFQ7TTC0LH18:0001",
        "CFQ7TTC0LCHC:0002:CFQ7TTC0K0XF",
        "Microsoft 365 Business Premium",
    ),
    (
        "CFQ7TTC0LDPB:0001",
        "CFQ7TTC0LCHC:0002:CFQ7TTC0K0XF",
        "Microsoft 365 Business Premium",
    ),
];

/// `PRODUCT:SKU` of a catalog item id, lowercase.
fn product_sku(offer: &str) -> String {
    offer
        .splitn(3, ':')
        .take(2)
        .collect::<Vec<_>>()
        .join(":")
        .to_ascii_lowercase()
}

/// The catalog items `offer` can move to, with their titles.
fn targets(offer: &str) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    TRANSITION_PATHS
        .iter()
        .filter(move |(from, _, _)| from.eq_ignore_ascii_case(&product_sku(offer)))
        .map(|(_, to, title)| (*to, *title))
}

/// Why `sub` cannot transition now, if it cannot: the page's "Eligibility
/// errors" (descriptions documented; the codes are the simulator's,
/// UNCONFIRMED).
fn source_problem(sub: &Subscription) -> Option<(u32, &'static str)> {
    match sub.status {
        Status::Active => None,
        Status::Pending => Some((
            2,
            "Subscription can't be Transitioned - source subscription isn't provisioned yet.",
        )),
        _ => Some((
            1,
            "Subscription can't be Transitioned - source subscription isn't active.",
        )),
    }
}

/// Whether a scheduled change of `sub` to `offer` is on a transition path
/// (the same product and SKU always is).
pub fn is_transition_path(sub: &Subscription, offer: &str) -> bool {
    product_sku(offer) == product_sku(&sub.offer_id)
        || targets(&sub.offer_id).any(|(to, _)| to.eq_ignore_ascii_case(offer))
}

/// `2027-02-28T00:00:00`, the date format of the documented allowed dates.
pub(super) fn date_only(at: i64) -> String {
    format!("{}T00:00:00", &format_rfc3339(at)[..10])
}

/// 00:00 UTC of `text`'s date (`YYYY-MM-DD`, optionally followed by a time,
/// which is ignored: a term ends on a day).
pub fn parse_day(text: &str) -> Option<i64> {
    let date = text.trim().get(..10)?;
    parse_rfc3339(&format!("{date}T00:00:00Z"))
}

/// The last day (00:00 UTC) of a `term` starting at `start`: the day before
/// the same calendar day `term` later, as [`Subscription::commitment_end`].
fn natural_end(start: i64, term: Term) -> i64 {
    let end = add_months(start, term.months());
    end - end.rem_euclid(86_400) - 86_400
}

impl State {
    /// `GET …/subscriptions/{id}/transitionEligibilities?eligibilityType=`: the
    /// targets of the subscription's transition paths, each with one
    /// `transition_only` eligibility, in the documented shape. Scheduled and
    /// immediate list the same targets; no existing destination subscription is
    /// offered (`subscriptionEligibilities` empty: "Empty lists will be returned
    /// ... if the eligibilityType is specified as Scheduled"). A legacy
    /// subscription has none.
    pub fn transition_eligibilities(
        &self,
        customer_id: &str,
        sub_id: &str,
        eligibility_type: Option<&str>,
    ) -> ApiResult<Vec<Value>> {
        let sub = &self.subscriptions[self.subscription_index(customer_id, sub_id)?];
        let kind = eligibility_type.map(|t| t.trim().to_ascii_lowercase());
        if !matches!(kind.as_deref(), None | Some("immediate" | "scheduled")) {
            // UNCONFIRMED: the page names the two values, not the refusal.
            return Err(ApiError::bad_request(
                3000,
                "eligibilityType must be immediate or scheduled",
            ));
        }
        if !sub.is_new_commerce() {
            return Ok(Vec::new());
        }
        let problem = source_problem(sub);
        Ok(targets(&sub.offer_id)
            .map(|(to, title)| {
                let errors: Vec<Value> = problem
                    .iter()
                    .map(|(code, description)| json!({"code": code, "description": description}))
                    .collect();
                json!({
                    "catalogItemId": to,
                    "title": title,
                    "description": title,
                    "quantity": sub.quantity,
                    "subscriptionEligibilities": [],
                    "eligibilities": [{
                        "isEligible": problem.is_none(),
                        "transitionType": "transition_only",
                        "errors": errors,
                    }],
                    "attributes": {"objectType": "TransitionEligibility"},
                })
            })
            .collect())
    }

    /// The allowed custom term end dates of a `term` purchase starting at
    /// `start` for the customer at position `owner`, optionally only those
    /// aligned with `target` (a subscription id): the last day of a calendar
    /// month, the latest not after the term's natural last day
    /// (`calendarMonthAligned`), and each day an active new-commerce
    /// subscription of the customer ends within that term
    /// (`subscriptionAligned`, with those subscriptions). The rules are the
    /// simulator's reading of "end dates that align with the end of the
    /// calendar month or that co-term with existing customer subscriptions"
    /// (UNCONFIRMED in their details).
    pub(super) fn allowed_term_ends(
        &self,
        owner: usize,
        term: Term,
        start: i64,
        target: Option<&str>,
    ) -> Vec<(i64, &'static str, Vec<String>)> {
        let today = start - start.rem_euclid(86_400);
        let last = natural_end(start, term);
        let mut out: Vec<(i64, &'static str, Vec<String>)> = Vec::new();
        if target.is_none() {
            // The last day of the month before the natural end's, unless the
            // natural end is a month's last day itself.
            let next_day = last + 86_400;
            let month_end = if format_rfc3339(next_day)[8..10] == *"01" {
                last
            } else {
                let first_of_month = parse_day(&format!("{}-01", &format_rfc3339(last)[..7]));
                first_of_month.map_or(last, |first| first - 86_400)
            };
            if month_end > today {
                out.push((month_end, "calendarMonthAligned", Vec::new()));
            }
        }
        for sub in self.subscriptions_of(owner) {
            if sub.status != Status::Active || !sub.is_new_commerce() {
                continue;
            }
            if target.is_some_and(|t| !t.eq_ignore_ascii_case(&sub.id)) {
                continue;
            }
            let end = sub.commitment_end();
            if end <= today || end > last {
                continue;
            }
            match out
                .iter_mut()
                .find(|(at, kind, _)| *at == end && *kind == "subscriptionAligned")
            {
                Some((_, _, ids)) => ids.push(sub.id.clone()),
                None => out.push((end, "subscriptionAligned", vec![sub.id.clone()])),
            }
        }
        out.sort_by_key(|(at, kind, _)| (*at, *kind));
        out
    }

    /// `GET …/subscriptions/customTermEndDates?term_duration=&term_start_date=&target_coterm_subscription_id=`.
    pub fn custom_term_end_dates(
        &self,
        customer_id: &str,
        term_duration: Option<&str>,
        term_start_date: Option<&str>,
        target: Option<&str>,
        now: i64,
    ) -> ApiResult<Value> {
        let owner = self.customer_index(customer_id)?;
        // The refusals' codes are UNCONFIRMED (the page lists none).
        let term = term_duration.and_then(Term::parse).ok_or_else(|| {
            ApiError::bad_request(3000, "term_duration is required: P1M, P1Y or P3Y")
        })?;
        let today = now - now.rem_euclid(86_400);
        let start = match term_start_date {
            None => now,
            Some(text) => {
                let day = parse_day(text).ok_or_else(|| {
                    ApiError::bad_request(3000, format!("term_start_date '{text}' is not a date"))
                })?;
                if day < today {
                    return Err(ApiError::bad_request(
                        3000,
                        "term_start_date can't be in the past",
                    ));
                }
                day.max(now)
            }
        };
        if let Some(target) = target {
            // An unknown subscription is not found, as anywhere else.
            self.subscription_index(customer_id, target)?;
        }
        let customer = &self.customers[owner].id;
        let mut query = format!("term_duration={}", term.as_str());
        if let Some(target) = target {
            query.push_str(&format!("&target_coterm_subscription_id={target}"));
        }
        let items: Vec<Value> = self
            .allowed_term_ends(owner, term, start, target)
            .into_iter()
            .map(|(at, kind, ids)| {
                let mut item = json!({
                    "allowedCustomTermEndDateType": kind,
                    "allowedCustomTermEndDate": date_only(at),
                });
                if !ids.is_empty() {
                    item["cotermSubscriptionIds"] = json!(ids);
                }
                item
            })
            .collect();
        Ok(json!({
            "totalCount": items.len(),
            "items": items,
            "links": {"self": {
                "uri": format!("/customers/{customer}/subscriptions/customTermEndDates?{query}"),
                "method": "GET", "headers": [],
            }},
            "attributes": {"objectType": "Collection"},
        }))
    }

    /// A cart line's `customTermEndDate`, checked: the day (00:00 UTC) the
    /// first term ends, if it is one of the allowed dates of a `term` purchase
    /// now for the customer at `owner`; else the line's error (code
    /// UNCONFIRMED: 10010, the simulator's code for an invalid line).
    pub(super) fn check_custom_term_end(
        &self,
        owner: usize,
        catalog_item_id: &str,
        term: Term,
        text: &str,
        now: i64,
    ) -> Result<i64, (u32, String)> {
        let refuse = |why: &str| (10010, format!("customTermEndDate '{text}' {why}"));
        if !catalog_item_id.contains(':') {
            return Err(refuse("applies to new-commerce offers only"));
        }
        let day = parse_day(text).ok_or_else(|| refuse("is not a date"))?;
        if self
            .allowed_term_ends(owner, term, now, None)
            .iter()
            .any(|(at, _, _)| *at == day)
        {
            Ok(day)
        } else {
            Err(refuse(
                "is not an allowed custom term end date (GET …/subscriptions/customTermEndDates)",
            ))
        }
    }
}
