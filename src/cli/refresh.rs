//! Reading Partner Center through the snapshot cache ([`crate::cache`]): where the
//! snapshot is kept (next to the purchase journal, or in the remote state), when a
//! run refreshes it from the audit log and when it reads the whole tenant, and
//! writing it back. `--max-cache-age` and `--refresh` choose.
//!
//! Every customer a plan changes is read by the run that plans it
//! ([`Cached::verify`]), so an action is never planned from the snapshot alone;
//! the snapshot saves the reads of everything else.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::backend::partner_center::PartnerCenterBackend;
use crate::backend::remote::{RemoteStore, Version};
use crate::backend::{Backend as _, BackendError};
use crate::cache::{
    AUDIT_OVERLAP_SECONDS, DEFAULT_MAX_AGE_SECONDS, FullRead, Refresh, RefreshMode, Snapshot,
};
use crate::live::{CustomerScope, Live};

/// `--refresh`: how much of the tenant to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RefreshWhen {
    /// Refresh the snapshot from the audit log; read everything when it is too
    /// old or missing.
    #[default]
    Auto,
    /// Read the whole tenant and write a new snapshot.
    Full,
}

/// The cache settings of a run.
#[derive(Clone, Copy, Debug)]
pub struct CachePolicy {
    pub max_age: Duration,
    pub refresh: RefreshWhen,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            max_age: Duration::from_secs(DEFAULT_MAX_AGE_SECONDS.unsigned_abs()),
            refresh: RefreshWhen::Auto,
        }
    }
}

/// Where a snapshot is kept.
#[derive(Clone, Debug)]
pub enum SnapshotPlace {
    /// A file beside the purchase journal.
    File(PathBuf),
    /// An object of the remote state.
    Remote { store: RemoteStore, name: String },
}

impl SnapshotPlace {
    fn describe(&self) -> String {
        match self {
            SnapshotPlace::File(path) => path.display().to_string(),
            SnapshotPlace::Remote { store, name } => store.describe(name),
        }
    }

    /// The snapshot there, with the remote object's version; `Err` says why it
    /// cannot be used (a full read then replaces it).
    fn load(&self) -> (Result<Snapshot, FullRead>, Option<Version>) {
        let (bytes, version) = match self {
            SnapshotPlace::File(path) => match read_capped(path) {
                Ok(bytes) => (bytes, None),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return (Err(FullRead::Missing), None);
                }
                Err(e) => {
                    let why = format!("{}: {e}", path.display());
                    return (Err(FullRead::Unreadable(why)), None);
                }
            },
            SnapshotPlace::Remote { store, name } => {
                let (store_, name_) = (store.clone(), name.clone());
                match store.block(async move { store_.get(&name_).await }) {
                    Ok(Some((bytes, version))) => (bytes, Some(version)),
                    Ok(None) => return (Err(FullRead::Missing), None),
                    Err(e) => return (Err(FullRead::Unreadable(e.to_string())), None),
                }
            }
        };
        let snapshot = serde_json::from_slice::<Snapshot>(&bytes)
            .map_err(|e| FullRead::Unreadable(format!("{}: {e}", self.describe())));
        (snapshot, version)
    }

    /// Writes `snapshot`, replacing the version read (remote) so two runs cannot
    /// interleave their halves; a snapshot another run wrote meanwhile is kept.
    /// Returns the version written (remote).
    fn save(
        &self,
        snapshot: &Snapshot,
        version: Option<&Version>,
    ) -> Result<Option<Version>, BackendError> {
        let bytes = serde_json::to_vec(snapshot)
            .map_err(|e| BackendError::State(format!("cannot serialize the snapshot: {e}")))?;
        match self {
            SnapshotPlace::File(path) => {
                if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(folder).map_err(|e| {
                        BackendError::State(format!("cannot create {}: {e}", folder.display()))
                    })?;
                }
                super::write_atomically(path, &bytes, false).map_err(|e| {
                    BackendError::State(format!(
                        "cannot write the snapshot {}: {e}",
                        path.display()
                    ))
                })?;
                Ok(None)
            }
            SnapshotPlace::Remote { store, name } => {
                let (store_, name_, expected) = (store.clone(), name.clone(), version.cloned());
                let written = store
                    .block(async move { store_.put(&name_, bytes, expected.as_ref()).await })?;
                match written {
                    Ok(version) => Ok(Some(version)),
                    Err(_) => {
                        note!(
                            "note: another run wrote the snapshot {} meanwhile; kept theirs",
                            store.describe(name)
                        );
                        Ok(None)
                    }
                }
            }
        }
    }
}

/// The largest snapshot file read: 20,000 customers and 100,000 subscriptions
/// take about 100 MB; a larger file is damage or not ours, and reading it would
/// cost memory in proportion to whatever it holds.
const MAX_SNAPSHOT_BYTES: u64 = 2 << 30;

fn read_capped(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_SNAPSHOT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} GiB",
            MAX_SNAPSHOT_BYTES >> 30
        )));
    }
    Ok(bytes)
}

/// A run's snapshot: read or refreshed at the start, checked against the plan,
/// written back at the end.
pub struct Cached {
    place: SnapshotPlace,
    version: Option<Version>,
    /// `None` when the run read only a scope and there was no usable snapshot.
    snapshot: Option<Snapshot>,
    /// Customers this run read from Partner Center.
    fresh: BTreeSet<String>,
    /// How this run read the tenant (`None`: a scoped read without a snapshot).
    pub report: Option<Refresh>,
    /// The audit records this run's refresh saw, by customer.
    seen: crate::cache::CustomerRecords,
    /// This machine's time at the start of the run (RFC 3339 `--now` aside).
    now: i64,
}

/// The server's time now: the earliest `Date` since the mark, or this machine's
/// clock less the overlap when no answer carried one.
fn server_time(backend: &PartnerCenterBackend, now: i64) -> i64 {
    backend
        .client()
        .server_time()
        .unwrap_or_else(|| now.saturating_sub(AUDIT_OVERLAP_SECONDS))
}

/// Reads the tenant for a run: the customers in `scope` (all when `None`),
/// through the snapshot at `place` as `policy` says. Returns the live view (only
/// the scope's customers when there is a scope) and the snapshot to finish with.
pub fn read(
    backend: &PartnerCenterBackend,
    place: SnapshotPlace,
    scope: Option<&CustomerScope>,
    policy: CachePolicy,
    now: i64,
) -> Result<(Live, Cached), BackendError> {
    let describe = backend.describe();
    let (loaded, version) = place.load();
    let max_age = i64::try_from(policy.max_age.as_secs()).unwrap_or(i64::MAX);
    let usable = match (policy.refresh, loaded) {
        (RefreshWhen::Full, _) => Err(FullRead::Asked),
        (RefreshWhen::Auto, Ok(snapshot)) => {
            snapshot.judge(&describe, now, max_age).map(|()| snapshot)
        }
        (RefreshWhen::Auto, Err(why)) => Err(why),
    };
    let mut cached = Cached {
        place,
        version,
        snapshot: None,
        fresh: BTreeSet::new(),
        report: None,
        seen: Default::default(),
        now,
    };
    let why = match usable {
        Ok(snapshot) => match cached.refresh(backend, snapshot, scope, now) {
            Ok(live) => return Ok((live, cached)),
            // The log cannot be read (a role without access to it, a start
            // Partner Center refuses): the whole tenant is read instead.
            Err(BackendError::Api {
                request,
                status,
                code,
                description,
            }) if request.contains("/auditrecords") => FullRead::Unreadable(format!(
                "{request}: HTTP {status}, error {code}: {description}"
            )),
            Err(error) => return Err(error),
        },
        Err(why) => why,
    };
    if let FullRead::Unreadable(detail) = &why {
        note!("warning: the snapshot cannot be refreshed ({detail}); reading the tenant");
    }
    let client = backend.client();
    client.mark_server_time();
    if let Some(scope) = scope {
        // A scope is read whole anyway; the rest of the tenant is left unread
        // rather than read in full for a snapshot this run does not need.
        let live = backend.block_on(client.read_live_scoped(Some(scope)))?;
        cached.fresh = live.customers.keys().cloned().collect();
        return Ok((live, cached));
    }
    // The recent audit records first: those the read then sees are accounted
    // for, so the next refresh does not re-read their customers for them. Best
    // effort: without access to the log, the next refresh re-reads a little more.
    let seen = match backend
        .block_on(client.audit_changes(now.saturating_sub(AUDIT_OVERLAP_SECONDS), now))
    {
        Ok(changes) => changes.customers,
        Err(BackendError::Api { .. }) => Default::default(),
        Err(error) => return Err(error),
    };
    let live = backend.block_on(client.read_live_scoped(None))?;
    let at = server_time(backend, now);
    cached.fresh = live.customers.keys().cloned().collect();
    let snapshot = Snapshot::full(&describe, live.clone(), at, &seen);
    cached.seen = seen;
    cached.report = Some(Refresh {
        mode: RefreshMode::Full,
        reason: Some(why.describe()),
        snapshot_taken: crate::time::format(at),
        snapshot_age_seconds: 0,
        audit_records: 0,
        changed: 0,
        renewing: 0,
        planned: 0,
        from_snapshot: 0,
    });
    cached.snapshot = Some(snapshot);
    Ok((live, cached))
}

impl Cached {
    /// Brings `snapshot` up to date from the audit log, re-reading what changed
    /// and the customers in `scope`; the view is the scope's customers, or all.
    fn refresh(
        &mut self,
        backend: &PartnerCenterBackend,
        mut snapshot: Snapshot,
        scope: Option<&CustomerScope>,
        now: i64,
    ) -> Result<Live, BackendError> {
        let client = backend.client();
        client.mark_server_time();
        let changes = backend.block_on(client.audit_changes(snapshot.audit_since(), now))?;
        let at = server_time(backend, now);
        let stale = snapshot.stale(&changes.customers, at);
        let mut ids = stale.all();
        if let Some(scope) = scope {
            ids.extend(
                snapshot
                    .live
                    .customers
                    .values()
                    .filter(|c| scope.includes(&c.id, &c.domain))
                    .map(|c| c.id.clone()),
            );
            // An adopted customer named by tenant id that the snapshot lacks.
            ids.extend(scope.tenant_ids.iter().cloned());
        }
        let (read, gone) = backend.block_on(client.read_customers(&ids))?;
        self.fresh = read.customers.keys().cloned().collect();
        snapshot.merge(read, &ids, &gone, at, &changes.customers);
        snapshot.refreshed_at = at;
        self.seen = changes.customers;
        let from_snapshot = snapshot
            .live
            .customers
            .len()
            .saturating_sub(self.fresh.len());
        self.report = Some(Refresh {
            mode: RefreshMode::Incremental,
            reason: None,
            snapshot_taken: crate::time::format(snapshot.full_read_at),
            snapshot_age_seconds: now.saturating_sub(snapshot.full_read_at).max(0),
            audit_records: changes.records,
            changed: stale.changed.len(),
            renewing: stale.renewing.len(),
            planned: 0,
            from_snapshot,
        });
        let mut live = snapshot.live.clone();
        if let Some(scope) = scope {
            scope.restrict(&mut live);
        }
        self.snapshot = Some(snapshot);
        Ok(live)
    }

    /// Reads the customers `changing` (tenant ids: those a plan changes) that this
    /// run has not read yet. `Some(view)` when one of them differs from the
    /// snapshot: plan again from that view. `None`: the plan stands.
    pub fn verify(
        &mut self,
        backend: &PartnerCenterBackend,
        changing: &BTreeSet<String>,
    ) -> Result<Option<Live>, BackendError> {
        let Some(snapshot) = self.snapshot.as_mut() else {
            return Ok(None);
        };
        let need: BTreeSet<String> = changing.difference(&self.fresh).cloned().collect();
        if need.is_empty() {
            return Ok(None);
        }
        let client = backend.client();
        client.mark_server_time();
        let (read, gone) = backend.block_on(client.read_customers(&need))?;
        let at = server_time(backend, self.now);
        let differs = !gone.is_empty()
            || need.iter().any(|id| {
                let subscriptions = |live: &Live| {
                    live.subscriptions
                        .values()
                        .filter(|s| &s.customer_id == id)
                        .cloned()
                        .collect::<Vec<_>>()
                };
                read.customers.get(id) != snapshot.live.customers.get(id)
                    || subscriptions(&read) != subscriptions(&snapshot.live)
            })
            || read.resellers != snapshot.live.resellers;
        self.fresh.extend(read.customers.keys().cloned());
        snapshot.merge(read, &need, &gone, at, &self.seen);
        if let Some(report) = self.report.as_mut() {
            report.planned += need.len();
            report.from_snapshot = report.from_snapshot.saturating_sub(need.len());
        }
        Ok(differs.then(|| snapshot.live.clone()))
    }

    /// After an apply: re-reads what the audit log says changed since the run's
    /// refresh (the apply's own changes, and anyone else's), so the snapshot the
    /// next run starts from holds them.
    /// The snapshot as this run read it is written first: if the re-read fails,
    /// the next run's refresh finds the apply's changes in the audit log instead.
    pub fn after_apply(
        &mut self,
        backend: &PartnerCenterBackend,
        now: i64,
    ) -> Result<(), BackendError> {
        self.save()?;
        let Some(snapshot) = self.snapshot.take() else {
            return Ok(());
        };
        // The report stays the one of the read the plan was made from.
        let report = self.report.clone();
        let refreshed = self.refresh(backend, snapshot, None, now);
        self.report = report;
        refreshed?;
        self.save()
    }

    /// Writes the snapshot back, if this run has one. A remote write that found
    /// another run's snapshot keeps theirs, and this run writes no more.
    pub fn save(&mut self) -> Result<(), BackendError> {
        let Some(snapshot) = &self.snapshot else {
            return Ok(());
        };
        match self.place.save(snapshot, self.version.as_ref())? {
            Some(version) => self.version = Some(version),
            None if matches!(self.place, SnapshotPlace::Remote { .. }) => self.snapshot = None,
            None => {}
        }
        Ok(())
    }
}
