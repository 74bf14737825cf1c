//! The snapshot cache: the last full read of a Partner Center tenant, kept next to
//! the purchase journal (`.cspctl/`, or the remote state) and brought up to date
//! from the audit log, so a run re-reads only what changed (issue 16, "Plans that
//! cost what changed").
//!
//! The model, pure (the reads and the file are the CLI's, `cli::refresh`):
//! - A **full read** writes the snapshot: every customer, with the server time the
//!   read began (the earliest `Date` of its answers; no answer saw the tenant
//!   before it).
//! - A **refresh** asks the audit log for the records since the last refresh (less
//!   [`AUDIT_OVERLAP_SECONDS`], for records that show up late) and re-reads a
//!   customer when a record names it at or after the time it was last read, or
//!   when one of its subscriptions' terms ended since then (Microsoft renews or
//!   expires it, and the audit log records changes made through Partner Center,
//!   not those Microsoft makes itself). Everything else comes from the snapshot.
//! - A **full read happens again** when the snapshot is older than
//!   `--max-cache-age` (default [`DEFAULT_MAX_AGE_SECONDS`]), when the audit log no
//!   longer covers the time since the last refresh ([`AUDIT_RETENTION_SECONDS`]),
//!   when it is of another tenant or endpoint, or with `--refresh=full`. What the
//!   log shows neither (a suspension by Microsoft, say) is seen at that read.
//!
//! Times compared with audit records are the server's (its `Date` header), never
//! this machine's clock, so a skewed clock cannot hide a change; the age limit is
//! the only comparison with the local clock, and it is coarse (days).

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::live::Live;

/// The snapshot file's format; another is refused (and a full read replaces it).
pub const FORMAT: u32 = 1;
/// `--max-cache-age` by default: a full read at least once a week.
pub const DEFAULT_MAX_AGE_SECONDS: i64 = 7 * 86_400;
/// Each refresh asks the log again from this long before the previous refresh,
/// because a record may appear a little after its change (UNCONFIRMED: Microsoft
/// does not document the delay). The overlap costs audit pages, not re-reads: a
/// customer read after a record's time is not re-read for it.
pub const AUDIT_OVERLAP_SECONDS: i64 = 15 * 60;
/// The audit log keeps 90 days (documented); a refresh needs it to reach back to
/// the previous refresh (with the overlap, and a day for the date-only start).
pub const AUDIT_RETENTION_SECONDS: i64 = 90 * 86_400;
/// A renewal this long before its customer was last read still has the customer
/// re-read: the documentation gives Microsoft up to 24 hours to process one
/// (create-scheduled-changes), and a read made meanwhile saw the old term
/// (UNCONFIRMED: how late it may really be).
pub const RENEWAL_LAG_SECONDS: i64 = 3 * 86_400;

/// The cached tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub format: u32,
    /// The backend it is of (endpoint and tenant, as plans record it).
    pub backend: String,
    /// When the last full read began (server time, Unix seconds).
    pub full_read_at: i64,
    /// The audit log is accounted for up to here (server time).
    pub refreshed_at: i64,
    /// When each customer was last read (lowercase tenant id → server time).
    pub read_at: BTreeMap<String, i64>,
    /// Audit records at or after a customer's read that the read accounts for:
    /// the refresh saw them before it read the customer (the same second, as a
    /// run's own changes are, is not proof of order; this is). Record keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accounted: BTreeMap<String, BTreeSet<String>>,
    pub live: Live,
}

/// The audit records of each customer (tenant id → time and key of each), as
/// [`crate::backend::partner_center::audit::AuditChanges`] lists them.
pub type CustomerRecords = BTreeMap<String, Vec<(i64, String)>>;

/// Why a run reads the whole tenant instead of refreshing the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FullRead {
    Asked,
    Missing,
    Unreadable(String),
    OtherBackend(String),
    TooOld { age: i64, max_age: i64 },
    BeyondAuditLog { age: i64 },
}

impl FullRead {
    pub fn describe(&self) -> String {
        match self {
            FullRead::Asked => "--refresh=full".to_owned(),
            FullRead::Missing => "no snapshot yet".to_owned(),
            FullRead::Unreadable(why) => format!("the snapshot could not be used ({why})"),
            FullRead::OtherBackend(backend) => {
                format!("the snapshot is of another backend ({backend})")
            }
            FullRead::TooOld { age, max_age } => format!(
                "the snapshot is {} old, more than --max-cache-age {}",
                describe_age(*age),
                describe_age(*max_age)
            ),
            FullRead::BeyondAuditLog { age } => format!(
                "the snapshot was last refreshed {} ago, beyond the 90 days the audit log keeps",
                describe_age(*age)
            ),
        }
    }
}

/// Customers a refresh re-reads, by why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stale {
    /// Named by an audit record at or after their last read (or unknown yet).
    pub changed: BTreeSet<String>,
    /// Not changed, but a subscription's term ended since their last read.
    pub renewing: BTreeSet<String>,
}

impl Stale {
    pub fn all(&self) -> BTreeSet<String> {
        self.changed.union(&self.renewing).cloned().collect()
    }
}

impl Snapshot {
    /// The snapshot of a full read that began at `at` (server time), after the
    /// audit records `seen`.
    pub fn full(backend: &str, live: Live, at: i64, seen: &CustomerRecords) -> Snapshot {
        let mut snapshot = Snapshot {
            format: FORMAT,
            backend: backend.to_owned(),
            full_read_at: at,
            refreshed_at: at,
            read_at: BTreeMap::new(),
            accounted: BTreeMap::new(),
            live: Live {
                // Read once per full read; a refresh keeps it.
                relationship_request_url: live.relationship_request_url.clone(),
                ..Live::default()
            },
        };
        let ids = live.customers.keys().cloned().collect();
        snapshot.merge(live, &ids, &BTreeSet::new(), at, seen);
        snapshot
    }

    /// Whether this snapshot can be refreshed for `backend` at `now` (this
    /// machine's clock), or why a full read is needed.
    pub fn judge(&self, backend: &str, now: i64, max_age: i64) -> Result<(), FullRead> {
        if self.format != FORMAT {
            return Err(FullRead::Unreadable(format!(
                "format {}, this cspctl writes {FORMAT}",
                self.format
            )));
        }
        if self.backend != backend {
            return Err(FullRead::OtherBackend(self.backend.clone()));
        }
        let age = now.saturating_sub(self.full_read_at);
        if age > max_age {
            return Err(FullRead::TooOld { age, max_age });
        }
        let since = now.saturating_sub(self.refreshed_at);
        if since + AUDIT_OVERLAP_SECONDS + 86_400 > AUDIT_RETENTION_SECONDS {
            return Err(FullRead::BeyondAuditLog { age: since });
        }
        Ok(())
    }

    /// Where the next audit query starts (server time).
    pub fn audit_since(&self) -> i64 {
        self.refreshed_at.saturating_sub(AUDIT_OVERLAP_SECONDS)
    }

    /// The customers to re-read, given the audit records per customer since
    /// [`Snapshot::audit_since`] and the server's time now.
    pub fn stale(&self, changed: &CustomerRecords, now: i64) -> Stale {
        let mut stale = Stale::default();
        let none = BTreeSet::new();
        for (id, records) in changed {
            // Unknown: a customer created since (by the portal, another tool).
            let read = self.read_at.get(id).copied().unwrap_or(i64::MIN);
            let accounted = self.accounted.get(id).unwrap_or(&none);
            // A record in the same second as the read may be after it, unless
            // the read was made knowing it.
            if records
                .iter()
                .any(|(at, key)| *at >= read && !accounted.contains(key))
            {
                stale.changed.insert(id.clone());
            }
        }
        for subscription in self.live.subscriptions.values() {
            if subscription.status.is_gone() || stale.changed.contains(&subscription.customer_id) {
                continue;
            }
            // The renewal (or expiry) runs at 00:00 UTC the day after the term's
            // last day (create-scheduled-changes); `renewal_at` is that instant.
            let Some(end) = crate::plan::planner::renewal_at(subscription) else {
                continue;
            };
            let read = self
                .read_at
                .get(&subscription.customer_id)
                .copied()
                .unwrap_or(i64::MIN);
            if end <= now && end.saturating_add(RENEWAL_LAG_SECONDS) >= read {
                stale.renewing.insert(subscription.customer_id.clone());
            }
        }
        stale
    }

    /// Replaces the customers `read` (their re-read, begun at `at`, after the
    /// audit records `seen`) and the resellers; `gone` are customers Partner
    /// Center no longer has.
    pub fn merge(
        &mut self,
        read: Live,
        ids: &BTreeSet<String>,
        gone: &BTreeSet<String>,
        at: i64,
        seen: &CustomerRecords,
    ) {
        let replaced = |customer: &String| ids.contains(customer) || gone.contains(customer);
        self.live.customers.retain(|id, _| !replaced(id));
        self.live
            .subscriptions
            .retain(|_, s| !replaced(&s.customer_id));
        self.live
            .usage_based
            .retain(|_, s| !replaced(&s.customer_id));
        for id in gone.iter().chain(ids) {
            self.read_at.remove(id);
            self.accounted.remove(id);
        }
        for id in read.customers.keys() {
            self.read_at.insert(id.clone(), at);
            let accounted: BTreeSet<String> = seen
                .get(id)
                .into_iter()
                .flatten()
                .filter(|(record_at, _)| *record_at >= at)
                .map(|(_, key)| key.clone())
                .collect();
            if !accounted.is_empty() {
                self.accounted.insert(id.clone(), accounted);
            }
        }
        let Live {
            resellers,
            customers,
            subscriptions,
            usage_based,
            relationship_request_url: _,
            // Plan-time lookups are never kept in a snapshot: they are asked
            // again by each plan that needs them.
            transitions: _,
            term_end_dates: _,
        } = read;
        self.live.resellers = resellers;
        self.live.customers.extend(customers);
        self.live.subscriptions.extend(subscriptions);
        self.live.usage_based.extend(usage_based);
    }
}

/// How a run read the tenant, for the plan, the drift report and their readers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Refresh {
    /// `full`: every customer was read; `incremental`: the snapshot, refreshed.
    pub mode: RefreshMode,
    /// Why the whole tenant was read (a full read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the snapshot's full read began (RFC 3339, server time).
    pub snapshot_taken: String,
    /// Its age when this run began, in seconds.
    pub snapshot_age_seconds: i64,
    /// Audit records read since the previous refresh.
    pub audit_records: usize,
    /// Customers re-read because the audit log named them.
    pub changed: usize,
    /// Customers re-read because a subscription's term ended.
    pub renewing: usize,
    /// Customers re-read because the plan changes them (its actions are always
    /// planned against a read of this run).
    pub planned: usize,
    /// Customers taken from the snapshot as they were.
    pub from_snapshot: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefreshMode {
    Full,
    Incremental,
}

impl Refresh {
    /// One sentence for the reader.
    pub fn line(&self) -> String {
        match self.mode {
            RefreshMode::Full => format!(
                "Read the whole tenant ({}); snapshot taken {}.",
                self.reason.as_deref().unwrap_or("full read"),
                self.snapshot_taken
            ),
            RefreshMode::Incremental => format!(
                "Refreshed from the audit log ({} record(s)): re-read {} changed customer(s), {} with a term ending, {} the plan changes; {} customer(s) from the snapshot of {} ({} old).",
                self.audit_records,
                self.changed,
                self.renewing,
                self.planned,
                self.from_snapshot,
                self.snapshot_taken,
                describe_age(self.snapshot_age_seconds)
            ),
        }
    }
}

/// `3 d 4 h`, `2 h 5 min`, `40 s`.
pub fn describe_age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (days, hours, minutes) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {minutes} min")
    } else if minutes > 0 {
        format!("{minutes} min")
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{LiveStatus, LiveSubscription};

    const DAY: i64 = 86_400;

    fn live(customers: &[&str]) -> Live {
        let mut live = Live::default();
        for id in customers {
            let customer = serde_json::json!({
                "id": id, "domain": format!("{id}.onmicrosoft.com"), "companyName": id,
                "billing": {"email": "billing@example.com", "culture": "en-US", "language": "en",
                    "address": {"firstName": "A", "lastName": "B", "addressLine1": "1 Road",
                        "city": "Redmond", "postalCode": "98052", "country": "US"}},
            });
            live.customers.insert(
                (*id).to_owned(),
                serde_json::from_value(customer).expect("a valid live customer"),
            );
        }
        live
    }

    fn subscription(id: &str, customer: &str, end: i64) -> LiveSubscription {
        LiveSubscription {
            commitment_end_date: Some(crate::time::format(end)),
            ..LiveSubscription::known_only_by(id, customer, "CFQ7TTC0LH18:0001:P1Y", id)
        }
    }

    #[test]
    fn a_record_after_the_last_read_makes_a_customer_stale_and_one_before_does_not() {
        let t0 = 100 * DAY;
        let mut snapshot = Snapshot::full("pc", live(&["a", "b"]), t0, &BTreeMap::new());
        // `b` was re-read later (after apply changed it).
        snapshot.read_at.insert("b".to_owned(), t0 + 600);
        let record = |at: i64, key: &str| vec![(at, key.to_owned())];
        let changed = BTreeMap::from([
            ("a".to_owned(), record(t0 + 60, "r1")), // after a's read: stale
            ("b".to_owned(), record(t0 + 300, "r2")), // before b's re-read: seen by it
            ("c".to_owned(), record(t0 + 10, "r3")), // unknown: created since
        ]);
        let stale = snapshot.stale(&changed, t0 + 900);
        assert_eq!(
            stale.changed,
            BTreeSet::from(["a".to_owned(), "c".to_owned()])
        );
        assert!(stale.renewing.is_empty());
        // The same second as the read may be after it...
        let same_second = BTreeMap::from([("a".to_owned(), record(t0, "r4"))]);
        assert!(snapshot.stale(&same_second, t0 + 900).changed.contains("a"));
        // ...unless the read was made after the record was seen.
        snapshot.merge(
            live(&["a"]),
            &BTreeSet::from(["a".to_owned()]),
            &BTreeSet::new(),
            t0,
            &same_second,
        );
        assert!(snapshot.stale(&same_second, t0 + 900).changed.is_empty());
        let later = BTreeMap::from([("a".to_owned(), record(t0, "r5"))]);
        assert!(snapshot.stale(&later, t0 + 900).changed.contains("a"));
    }

    #[test]
    fn a_term_that_ended_since_the_last_read_makes_its_customer_stale() {
        let t0 = 100 * DAY;
        let mut snapshot = Snapshot::full("pc", live(&["a", "b", "c"]), t0, &BTreeMap::new());
        let ended = subscription("s1", "a", t0 + DAY);
        let future = subscription("s2", "b", t0 + 30 * DAY);
        let long_ago = subscription("s3", "c", t0 - 10 * DAY);
        for s in [ended, future, long_ago] {
            snapshot.live.subscriptions.insert(s.id.clone(), s);
        }
        let stale = snapshot.stale(&BTreeMap::new(), t0 + 2 * DAY);
        assert_eq!(stale.renewing, BTreeSet::from(["a".to_owned()]));
        // An expired one is not read again and again.
        snapshot
            .live
            .subscriptions
            .get_mut("s1")
            .expect("s1")
            .status = LiveStatus::Expired;
        assert!(
            snapshot
                .stale(&BTreeMap::new(), t0 + 2 * DAY)
                .renewing
                .is_empty()
        );
    }

    #[test]
    fn a_full_snapshot_is_the_live_view_it_was_made_from() {
        let mut read = live(&["a", "b"]);
        read.relationship_request_url = Some("https://example.test/accept".to_owned());
        read.subscriptions
            .insert("s1".to_owned(), subscription("s1", "a", 200 * DAY));
        let snapshot = Snapshot::full("pc", read.clone(), 100 * DAY, &BTreeMap::new());
        assert_eq!(snapshot.live, read);
    }

    #[test]
    fn merging_replaces_the_customers_read_and_drops_the_gone() {
        let t0 = 100 * DAY;
        let mut snapshot = Snapshot::full("pc", live(&["a", "b"]), t0, &BTreeMap::new());
        snapshot
            .live
            .subscriptions
            .insert("s1".to_owned(), subscription("s1", "a", t0 + DAY));
        let mut read = live(&["a"]);
        read.customers.get_mut("a").expect("a").company_name = "A renamed".to_owned();
        let ids = BTreeSet::from(["a".to_owned()]);
        let gone = BTreeSet::from(["b".to_owned()]);
        snapshot.merge(read, &ids, &gone, t0 + 50, &BTreeMap::new());
        assert_eq!(snapshot.live.customers.len(), 1);
        assert_eq!(snapshot.live.customers["a"].company_name, "A renamed");
        assert!(
            snapshot.live.subscriptions.is_empty(),
            "a's re-read has none"
        );
        assert_eq!(
            snapshot.read_at,
            BTreeMap::from([("a".to_owned(), t0 + 50)])
        );
    }

    #[test]
    fn a_snapshot_too_old_of_another_backend_or_beyond_the_log_needs_a_full_read() {
        let t0 = 100 * DAY;
        let snapshot = Snapshot::full("pc", Live::default(), t0, &BTreeMap::new());
        assert_eq!(snapshot.judge("pc", t0 + DAY, 7 * DAY), Ok(()));
        assert_eq!(
            snapshot.judge("pc", t0 + 8 * DAY, 7 * DAY),
            Err(FullRead::TooOld {
                age: 8 * DAY,
                max_age: 7 * DAY
            })
        );
        assert!(matches!(
            snapshot.judge("other", t0, 7 * DAY),
            Err(FullRead::OtherBackend(_))
        ));
        assert!(matches!(
            snapshot.judge("pc", t0 + 89 * DAY + 1, 365 * DAY),
            Err(FullRead::BeyondAuditLog { .. })
        ));
        let message = FullRead::TooOld {
            age: 8 * DAY + 3600,
            max_age: 7 * DAY,
        }
        .describe();
        assert_eq!(
            message,
            "the snapshot is 8 d 1 h old, more than --max-cache-age 7 d 0 h"
        );
    }
}
