//! What changed in the tenant since a time, from Partner Center's audit log
//! (`GET /v1/auditrecords`): the customers whose objects someone changed, through
//! the API (cspctl, other tools, other runs) or the Partner Center portal. A
//! snapshot's refresh ([`crate::cache`]) re-reads those customers only.
//!
//! Written from "Get a record of Partner Center activity"
//! (<https://learn.microsoft.com/partner-center/developer/get-a-record-of-partner-center-activity-by-user>,
//! `develop/get-a-record-of-partner-center-activity-by-user.md`) and "Auditing
//! resources" (`develop/auditing-resources.md`): `startDate` as `yyyy-mm-dd`,
//! `endDate` optional ("uses today as the end date" when absent), records kept 90
//! days, a window of at most 30 days (the audit service's Swagger), seek paging by
//! `links.next` and its `MS-ContinuationToken` header, each record's `customerId`
//! and `operationDate`.
//!
//! Only what a refresh needs is kept of each record (its customer and time), so
//! memory grows with the tenant's customers, not with the log.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::Deserialize;

use super::PartnerCenterClient;
use super::http::Request;
use super::read::Pager;
use super::wire::{Collection, lenient_string};
use crate::backend::BackendError;
use crate::ids::random_guid;

/// The log keeps 90 days of activity (documented).
pub const RETENTION_SECONDS: i64 = 90 * 86_400;
/// One request covers at most 30 days (the audit service's Swagger); a longer
/// span is asked for in windows of this many days, each a whole number of days.
const WINDOW_DAYS: i64 = 29;
/// The page size asked for (the response example's `self` link carries 500).
const PAGE_SIZE: usize = 500;

/// What the log says changed since a time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditChanges {
    /// Each customer's records (lowercase tenant id → time and identity of each):
    /// a record seen before a customer is re-read is accounted for by that read,
    /// even when both fall in the same second.
    pub customers: BTreeMap<String, Vec<(i64, String)>>,
    /// Records at or after the time asked for.
    pub records: usize,
    /// Of those, records that name no customer (the partner's own objects, such
    /// as reseller relationships, which every refresh reads whole anyway).
    pub partner_level: usize,
    /// Requests made (pages, over every window).
    pub pages: usize,
}

/// The fields of an AuditRecord a refresh reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Record {
    #[serde(deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    customer_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    operation_date: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    operation_type: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    resource_type: Option<String>,
}

impl Record {
    /// What tells this record from another: its `id` (the audit service's
    /// Swagger), or, as the documented example has none, its time to the
    /// fraction of a second with what it did.
    fn key(&self) -> String {
        match self
            .id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
        {
            Some(id) => id.to_ascii_lowercase(),
            None => format!(
                "{}|{}|{}",
                self.operation_date.as_deref().unwrap_or_default(),
                self.operation_type.as_deref().unwrap_or_default(),
                self.resource_type.as_deref().unwrap_or_default()
            ),
        }
    }
}

impl PartnerCenterClient {
    /// Every change recorded at or after `since` (Unix seconds) up to `now`.
    /// `since` must be within the retention window (the caller checks: older
    /// than that, only a full read will do).
    pub async fn audit_changes(&self, since: i64, now: i64) -> Result<AuditChanges, BackendError> {
        let mut changes = AuditChanges::default();
        let mut day = since.div_euclid(86_400);
        let last_day = now.div_euclid(86_400);
        loop {
            let end_day = day + WINDOW_DAYS - 1;
            // The last window asks for no end date: "today" by the server's clock,
            // whatever ours says.
            let end = (end_day < last_day).then_some(end_day);
            self.audit_window(day, end, since, now, &mut changes)
                .await?;
            match end {
                Some(end) => day = end + 1,
                None => return Ok(changes),
            }
        }
    }

    async fn audit_window(
        &self,
        start_day: i64,
        end_day: Option<i64>,
        since: i64,
        now: i64,
        changes: &mut AuditChanges,
    ) -> Result<(), BackendError> {
        let date = |day: i64| crate::time::format_date(day * 86_400);
        let mut path = format!(
            "/auditrecords?startDate={}&size={PAGE_SIZE}",
            date(start_day)
        );
        if let Some(end) = end_day {
            path.push_str(&format!("&endDate={}", date(end)));
        }
        let mut pager = Pager::new(path, "audit log");
        loop {
            let request_id = random_guid();
            let mut request = Request::new(Method::GET, &pager.path, &request_id);
            request.headers = pager.headers.clone();
            let page: Collection<Record> = self
                .http
                .send(request)
                .await?
                .parse(&format!("response to GET /v1{}", pager.path))?;
            changes.pages += 1;
            for record in page.items {
                // A record whose time cannot be read counts as a change now: it
                // costs a re-read at worst, where skipping it could hide a change.
                let at = record
                    .operation_date
                    .as_deref()
                    .and_then(crate::time::parse)
                    .unwrap_or(now);
                if at < since {
                    continue;
                }
                changes.records += 1;
                let key = record.key();
                match record.customer_id.filter(|id| !id.trim().is_empty()) {
                    Some(id) => changes
                        .customers
                        .entry(id.trim().to_ascii_lowercase())
                        .or_default()
                        .push((at, key)),
                    None => changes.partner_level += 1,
                }
            }
            if !pager.advance(page.links)? {
                return Ok(());
            }
        }
    }
}
