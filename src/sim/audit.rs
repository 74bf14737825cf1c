//! The audit log behind `GET /v1/auditrecords`: a record of every change to the
//! simulated tenant, made through the API (cspctl or any other caller) or through the
//! `/_sim` admin endpoints (someone outside cspctl, in the Partner Center portal).
//!
//! Written from Microsoft's documentation:
//! - "Get a record of Partner Center activity",
//!   <https://learn.microsoft.com/partner-center/developer/get-a-record-of-partner-center-activity-by-user>
//!   (MicrosoftDocs/partner-center-sdk `develop/get-a-record-of-partner-center-activity-by-user.md`):
//!   the request, `startDate`/`endDate`/`filter`, the filter's `Field`/`Value`/`Operator`
//!   (CompanyName + substring, CustomerId + equals, ResourceType + equals, the value's
//!   case ignored), "the previous 30 days" by default, data kept 90 days, a start
//!   more than 90 days back answered 400, and the response example.
//! - "Auditing resources" (`develop/auditing-resources.md`): the AuditRecord fields and
//!   the `resourceType`, `operationType` and `operationStatus` values.
//! - The audit service's Swagger (`rest-swagger-specs/AuditService.json`): `id`,
//!   `size`, `continuationToken`, `links.next`, "a maximum window of 30 days", and a
//!   continuation passed back as `?seek=<token>`.
//!
//! What the documentation leaves open is marked UNCONFIRMED here and listed in
//! `docs/simulator.md`, "Audit records".
//!
//! The log lives in the state (and so in the state file), bounded: records older
//! than [`RETENTION_SECONDS`] of the simulated clock are dropped, and at most
//! [`MAX_RECORDS`] are kept (the oldest go first).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clock::{format_rfc3339, parse_rfc3339};
use super::input::{fold_enum, normalize_keys};
use super::state::{ApiError, ApiResult};

/// Activity is available for the previous 90 days (documented).
pub const RETENTION_SECONDS: i64 = 90 * 86_400;
/// The default range: "the previous 30 days" (documented); also the largest range
/// (Swagger: "a maximum window of 30 days").
pub const WINDOW_SECONDS: i64 = 30 * 86_400;
/// At most this many records are kept (choice, to bound memory and the state file).
pub const MAX_RECORDS: usize = 100_000;
/// Largest and default page (UNCONFIRMED: the response example's `self` link carries
/// `size=500`; no maximum is documented).
pub const MAX_PAGE_SIZE: usize = 500;
/// The `applicationId` of changes made through `/_sim` (someone in the Partner Center
/// portal). UNCONFIRMED: the documentation shows only "Partner Center Native App".
pub const PORTAL_APPLICATION_ID: &str = "Partner Center";
/// The `userPrincipalName` of changes made through `/_sim` (choice).
pub const PORTAL_USER: &str = "portal-admin@partner.onmicrosoft.com";
/// The `userPrincipalName` of changes made with App+User credentials (choice: the
/// simulator's tokens name no user).
pub const API_USER: &str = "api-user@partner.onmicrosoft.com";

/// One recorded change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Position in the log, increasing: the order of commits.
    pub seq: u64,
    pub id: String,
    /// Unix seconds, simulated clock.
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    pub application_id: String,
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_value: Option<String>,
    pub operation_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub customized_data: Vec<(String, Option<String>)>,
}

/// What a caller hands to [`AuditLog::record`] (the log assigns `seq`, `id`, `at`).
#[derive(Clone, Debug, Default)]
pub struct Change {
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub application_id: String,
    pub resource_type: &'static str,
    pub operation_type: &'static str,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub customized_data: Vec<(String, Option<String>)>,
}

/// The log, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditLog {
    #[serde(default)]
    pub next_seq: u64,
    #[serde(default)]
    pub records: VecDeque<AuditRecord>,
}

impl AuditLog {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.next_seq == 0
    }

    /// Appends `change` at `now`; `seed` makes the record ids (a stream of their own,
    /// so recording never shifts the ids of customers, orders or subscriptions).
    /// At most `limit` records are kept ([`MAX_RECORDS`] when served; less in
    /// process, see [`crate::sim::IN_PROCESS_AUDIT_LIMIT`]).
    pub fn record(&mut self, change: Change, now: i64, seed: u64, limit: usize) {
        self.next_seq += 1;
        let seq = self.next_seq;
        let high = crate::ids::splitmix64(seed ^ 0xa0d1_7000_0000_0000 ^ seq);
        let low = crate::ids::splitmix64(high ^ seq);
        let text = |v: Option<Value>| v.map(|v| v.to_string());
        self.records.push_back(AuditRecord {
            seq,
            id: crate::ids::format_guid(high, low, 4),
            at: now,
            customer_id: change.customer_id,
            customer_name: change.customer_name,
            user_principal_name: change.user_principal_name,
            application_id: change.application_id,
            resource_type: change.resource_type.to_owned(),
            old_value: text(change.old_value),
            new_value: text(change.new_value),
            operation_type: change.operation_type.to_owned(),
            customized_data: change.customized_data,
        });
        self.trim(now, limit);
    }

    /// Drops records older than the retention window and beyond `limit`.
    pub fn trim(&mut self, now: i64, limit: usize) {
        let oldest = now.saturating_sub(RETENTION_SECONDS);
        while self
            .records
            .front()
            .is_some_and(|r| r.at < oldest || self.records.len() > limit)
        {
            self.records.pop_front();
        }
    }

    /// One page of `GET /v1/auditrecords` (`query` already parsed).
    pub fn page(&self, query: &AuditQuery, partner_id: &str, now: i64) -> Value {
        let oldest = now.saturating_sub(RETENTION_SECONDS);
        // Newest first (UNCONFIRMED: the response example lists the later record first).
        let mut matching = self
            .records
            .iter()
            .rev()
            .filter(|r| r.at >= oldest)
            .filter(|r| query.before_seq.is_none_or(|b| r.seq < b))
            .filter(|r| r.at >= query.start && r.at <= query.end)
            .filter(|r| query.filter.as_ref().is_none_or(|f| f.matches(r)));
        let items: Vec<&AuditRecord> = matching.by_ref().take(query.size).collect();
        let more = matching.next().is_some();
        let values: Vec<Value> = items.iter().map(|r| record_json(r, partner_id)).collect();
        let mut body = json!({
            "totalCount": values.len(),
            "items": values,
            "links": {"self": {"uri": query.self_uri(), "method": "GET", "headers": []}},
            "attributes": {"objectType": "Collection"},
        });
        if more && let Some(last) = items.last() {
            let token = query.continuation(last.seq);
            body["continuationToken"] = json!(token);
            body["links"]["next"] = json!({
                "uri": format!("/auditrecords?size={}&seekOperation=Next", query.size),
                "method": "GET",
                "headers": [{"key": "MS-ContinuationToken", "value": token}],
            });
        }
        body
    }
}

/// An AuditRecord as served (auditing-resources.md; `id` and `partnerId` from the
/// Swagger and the response example).
fn record_json(r: &AuditRecord, partner_id: &str) -> Value {
    let mut v = json!({
        "id": r.id,
        "partnerId": partner_id,
        "applicationId": r.application_id,
        "resourceType": r.resource_type,
        "operationType": r.operation_type,
        "operationDate": format_rfc3339(r.at),
        "operationStatus": "succeeded",
        "customizedData": r.customized_data.iter()
            .map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
        "attributes": {"objectType": "AuditRecord"},
    });
    let mut put = |key: &str, value: &Option<String>| {
        if let Some(value) = value {
            v[key] = json!(value);
        }
    };
    put("customerId", &r.customer_id);
    put("customerName", &r.customer_name);
    put("userPrincipalName", &r.user_principal_name);
    put("resourceOldValue", &r.old_value);
    put("resourceNewValue", &r.new_value);
    v
}

/// The documented filters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AuditFilter {
    /// `{"Field":"CompanyName","Value":"…","Operator":"substring"}`.
    CompanyName(String),
    /// `{"Field":"CustomerId","Value":"…","Operator":"equals"}`.
    CustomerId(String),
    /// `{"Field":"ResourceType","Value":"…","Operator":"equals"}`.
    ResourceType(String),
}

/// The documented `resourceType` values (auditing-resources.md).
const RESOURCE_TYPES: [&str; 14] = [
    "customer",
    "customer_user",
    "order",
    "subscription",
    "license",
    "third_party_add_on",
    "mpn_association",
    "transfer",
    "application",
    "application_credential",
    "partner_user",
    "partner_relationship",
    "partner_customer_dap",
    "customer_directory_role",
];

impl AuditFilter {
    /// Parses the `filter` parameter; a field or operator the documentation does not
    /// pair answers 400 (UNCONFIRMED: Partner Center's answer to those is not shown).
    pub fn parse(text: &str) -> ApiResult<AuditFilter> {
        let bad = |m: String| ApiError::bad_request(3000, m);
        let value: Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("filter is not valid JSON: {e}")))?;
        let value = normalize_keys(value);
        let get = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(field), Some(filter_value), Some(operator)) =
            (get("field"), get("value"), get("operator"))
        else {
            return Err(bad("filter needs Field, Value and Operator".to_owned()));
        };
        let operator = fold_enum(&operator);
        let (filter, expected) = match fold_enum(&field).as_str() {
            "companyname" => (AuditFilter::CompanyName(filter_value), "substring"),
            "customerid" => (AuditFilter::CustomerId(filter_value), "equals"),
            "resourcetype" => {
                let folded = fold_enum(&filter_value);
                let Some(known) = RESOURCE_TYPES.iter().find(|t| fold_enum(t) == folded) else {
                    return Err(bad(format!("unknown resource type '{filter_value}'")));
                };
                (AuditFilter::ResourceType((*known).to_owned()), "equals")
            }
            _ => {
                return Err(bad(format!(
                    "unsupported filter field '{field}' (CompanyName, CustomerId or ResourceType)"
                )));
            }
        };
        if operator != expected {
            return Err(bad(format!(
                "the {field} filter takes the {expected} operator"
            )));
        }
        Ok(filter)
    }

    fn matches(&self, r: &AuditRecord) -> bool {
        match self {
            AuditFilter::CompanyName(part) => r
                .customer_name
                .as_ref()
                .is_some_and(|n| n.to_lowercase().contains(&part.to_lowercase())),
            AuditFilter::CustomerId(id) => r
                .customer_id
                .as_ref()
                .is_some_and(|c| c.eq_ignore_ascii_case(id)),
            AuditFilter::ResourceType(t) => r.resource_type == *t,
        }
    }
}

/// A parsed request: the range (inclusive, unix seconds), the filter, the page size
/// and, on a continuation, where the previous page stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub start: i64,
    pub end: i64,
    pub filter: Option<AuditFilter>,
    pub size: usize,
    pub before_seq: Option<u64>,
}

/// A `startDate`/`endDate`: `yyyy-mm-dd` (the parameter table), a date-time
/// (Swagger), or `M/D/YYYY[ h:mm:ss AM|PM]` (the request example). Returns the
/// instant and whether it was a date only.
fn parse_date(text: &str) -> Option<(i64, bool)> {
    let text = text.trim();
    if let Some(t) = parse_rfc3339(text) {
        return Some((t, false));
    }
    if text.len() == 10
        && let Some(t) = parse_rfc3339(&format!("{text}T00:00:00Z"))
    {
        return Some((t, true));
    }
    let (date, time) = text.split_once(' ').unwrap_or((text, ""));
    let mut parts = date.split('/').map(|p| p.parse::<u32>().ok());
    let (Some(Some(m)), Some(Some(d)), Some(Some(y)), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let day = parse_rfc3339(&format!("{y:04}-{m:02}-{d:02}T00:00:00Z"))?;
    let time = time.trim();
    if time.is_empty() {
        return Some((day, true));
    }
    let (clock, half) = time.split_once(' ').unwrap_or((time, ""));
    let mut hms = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (Some(Some(mut h)), Some(Some(min)), s) = (hms.next(), hms.next(), hms.next()) else {
        return None;
    };
    let s = match s {
        None => 0,
        Some(Some(s)) if (0..60).contains(&s) => s,
        Some(_) => return None,
    };
    if !(0..60).contains(&min) {
        return None;
    }
    match half.trim().to_ascii_uppercase().as_str() {
        "" if (0..24).contains(&h) => {}
        "AM" | "PM" if (1..=12).contains(&h) => {
            h %= 12;
            if half.trim().eq_ignore_ascii_case("PM") {
                h += 12;
            }
        }
        _ => return None,
    }
    let only_date = h == 0 && min == 0 && s == 0;
    Some((day + h * 3600 + min * 60 + s, only_date))
}

impl AuditQuery {
    /// A first request's parameters (`startDate`, `endDate`, `filter`, `size`).
    pub fn parse(
        start: Option<&str>,
        end: Option<&str>,
        filter: Option<&str>,
        size: Option<&str>,
        now: i64,
    ) -> ApiResult<AuditQuery> {
        let bad = |m: String| ApiError::bad_request(3000, m);
        let date = |name: &str, text: Option<&str>| -> ApiResult<Option<(i64, bool)>> {
            match text.map(str::trim) {
                None | Some("") => Ok(None),
                Some(t) => parse_date(t)
                    .map(Some)
                    .ok_or_else(|| bad(format!("{name} '{t}' is not a date (yyyy-mm-dd)"))),
            }
        };
        let today = now - now.rem_euclid(86_400);
        let start = date("startDate", start)?.map(|(t, _)| t);
        let end = date("endDate", end)?;
        // "If none is provided, the result set will default to 30 days prior to the
        // request date."
        let start = start.unwrap_or(now - WINDOW_SECONDS);
        if start < today - RETENTION_SECONDS {
            return Err(bad(
                "startDate must be within the previous 90 days: activity is kept 90 days"
                    .to_owned(),
            ));
        }
        let end = match end {
            // "the request returns the max window or uses today as the end date,
            // whichever is less".
            None => (start + WINDOW_SECONDS).min(now),
            Some((t, date_only)) => {
                if t < start {
                    return Err(bad("endDate is before startDate".to_owned()));
                }
                if t - start > WINDOW_SECONDS {
                    // UNCONFIRMED: the Swagger names a 30-day maximum window; whether
                    // Partner Center refuses or shortens a longer range is not shown.
                    return Err(bad(
                        "the range from startDate to endDate is longer than 30 days".to_owned(),
                    ));
                }
                // A date only is the whole day (UNCONFIRMED).
                if date_only { t + 86_399 } else { t }
            }
        };
        let filter = match filter.map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(AuditFilter::parse(text)?),
        };
        let size = match size.map(str::trim) {
            None | Some("") | Some("0") => MAX_PAGE_SIZE,
            Some(text) => text
                .parse::<usize>()
                .map_err(|_| bad(format!("size '{text}' is not a non-negative integer")))?
                .min(MAX_PAGE_SIZE),
        };
        Ok(AuditQuery {
            start,
            end,
            filter,
            size,
            before_seq: None,
        })
    }

    /// The token for the page after the record `seq` (the query itself, so a token
    /// survives a restart and a page never repeats or skips a record).
    fn continuation(&self, seq: u64) -> String {
        let next = AuditQuery {
            before_seq: Some(seq),
            ..self.clone()
        };
        let text = serde_json::to_string(&next).unwrap_or_default();
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// The query a continuation token stands for.
    pub fn from_token(token: &str) -> ApiResult<AuditQuery> {
        let invalid = || ApiError::bad_request(3000, "The continuation token is invalid");
        let token = token.trim();
        if !token.len().is_multiple_of(2) || !token.is_ascii() {
            return Err(invalid());
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| invalid())?;
        let query: AuditQuery = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if query.size == 0 || query.size > MAX_PAGE_SIZE {
            return Err(invalid());
        }
        Ok(query)
    }

    fn self_uri(&self) -> String {
        format!(
            "/auditrecords?startDate={}&endDate={}&size={}",
            format_rfc3339(self.start),
            format_rfc3339(self.end),
            self.size
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn change(customer: &str, name: &str) -> Change {
        Change {
            customer_id: Some(customer.to_owned()),
            customer_name: Some(name.to_owned()),
            application_id: "app".to_owned(),
            resource_type: "customer",
            operation_type: "add_customer",
            new_value: Some(json!({"id": customer})),
            ..Change::default()
        }
    }

    #[test]
    fn dates_in_the_documented_forms() {
        let day = parse_rfc3339("2017-06-01T00:00:00Z").expect("valid");
        assert_eq!(parse_date("2017-06-01"), Some((day, true)));
        assert_eq!(parse_date("6/1/2017 12:00:00 AM"), Some((day, true)));
        assert_eq!(
            parse_date("6/1/2017 1:30:00 PM"),
            Some((day + 48_600, false))
        );
        assert_eq!(
            parse_date("2017-06-01T10:00:00Z"),
            Some((day + 36_000, false))
        );
        assert_eq!(parse_date("June 1"), None);
        assert_eq!(parse_date("13/1/2017"), None);
    }

    #[test]
    fn range_rules() {
        let q = AuditQuery::parse(None, None, None, None, NOW).expect("defaults");
        assert_eq!((q.start, q.end, q.size), (NOW - WINDOW_SECONDS, NOW, 500));
        assert!(AuditQuery::parse(Some("2025-09-01"), None, None, None, NOW).is_err());
        assert!(
            AuditQuery::parse(Some("2025-12-01"), Some("2025-11-01"), None, None, NOW).is_err()
        );
        assert!(
            AuditQuery::parse(Some("2025-11-01"), Some("2025-12-15"), None, None, NOW).is_err()
        );
        let q = AuditQuery::parse(Some("2025-12-01"), Some("2025-12-01"), None, Some("7"), NOW)
            .expect("one day");
        assert_eq!(q.end - q.start, 86_399);
        assert_eq!(q.size, 7);
        assert!(AuditQuery::parse(None, None, None, Some("x"), NOW).is_err());
    }

    #[test]
    fn filters_as_documented() {
        let f = |t: &str| AuditFilter::parse(t);
        assert_eq!(
            f(r#"{"Field":"CompanyName","Value":"bri","Operator":"substring"}"#).ok(),
            Some(AuditFilter::CompanyName("bri".to_owned()))
        );
        assert_eq!(
            f(r#"{"Field":"ResourceType","Value":"Subscription","Operator":"equals"}"#).ok(),
            Some(AuditFilter::ResourceType("subscription".to_owned()))
        );
        assert!(f(r#"{"Field":"CustomerId","Value":"x","Operator":"substring"}"#).is_err());
        assert!(f(r#"{"Field":"ResourceType","Value":"cart","Operator":"equals"}"#).is_err());
        assert!(f(r#"{"Field":"Domain","Value":"x","Operator":"equals"}"#).is_err());
        assert!(f("not json").is_err());
        let mut log = AuditLog::default();
        log.record(change("c1", "Fabrikam, Inc."), NOW, 1, MAX_RECORDS);
        log.record(change("c2", "Contoso"), NOW, 1, MAX_RECORDS);
        let q = AuditQuery {
            filter: Some(AuditFilter::CompanyName("BRI".to_owned())),
            ..AuditQuery::parse(None, None, None, None, NOW).expect("defaults")
        };
        let page = log.page(&q, "p", NOW);
        assert_eq!(page["totalCount"], 1);
        assert_eq!(page["items"][0]["customerId"], "c1");
    }

    #[test]
    fn retention_and_cap_bound_the_log() {
        let mut log = AuditLog::default();
        log.record(
            change("old", "Old"),
            NOW - RETENTION_SECONDS - 1,
            1,
            MAX_RECORDS,
        );
        log.record(change("new", "New"), NOW, 1, MAX_RECORDS);
        assert_eq!(log.records.len(), 1);
        assert_eq!(log.records[0].customer_id.as_deref(), Some("new"));
        for _ in 0..MAX_RECORDS + 5 {
            log.records.push_back(log.records[0].clone());
        }
        log.trim(NOW, MAX_RECORDS);
        assert_eq!(log.records.len(), MAX_RECORDS);
    }

    #[test]
    fn pages_cover_every_record_once_newest_first() {
        let mut log = AuditLog::default();
        for i in 0..7 {
            log.record(change(&format!("c{i}"), "X"), NOW - 100 + i, 9, MAX_RECORDS);
        }
        let mut query = AuditQuery::parse(None, None, None, Some("3"), NOW).expect("query");
        let mut seen = Vec::new();
        loop {
            let page = log.page(&query, "p", NOW);
            for item in page["items"].as_array().expect("items") {
                seen.push(item["customerId"].as_str().expect("id").to_owned());
            }
            let Some(token) = page["continuationToken"].as_str() else {
                break;
            };
            query = AuditQuery::from_token(token).expect("token");
        }
        let expected: Vec<String> = (0..7).rev().map(|i| format!("c{i}")).collect();
        assert_eq!(seen, expected);
        assert!(AuditQuery::from_token("zz").is_err());
    }
}
