//! The remote state's lock: one object, `lock`, beside the state, held by the apply
//! that may change it. Taking it is a conditional create (or, when the object
//! says the lock was released or its holder's lease expired, a conditional
//! replacement of the version read), so of two runners exactly one wins.
//!
//! The object says who holds it (owner, host, process, the CI run's URL when the
//! pipeline sets one), since when, and until when: a lease. The holder renews it
//! every third of its length while the apply runs; a holder that dies stops
//! renewing and the lease runs out, after which the next apply takes it over. A
//! person who knows the holder is dead need not wait: `cspctl force-unlock ID`
//! releases it, as `terraform force-unlock` does. Releasing, renewing and
//! forcing are all replacements of the version last seen, so a lock can never
//! be released by someone who no longer holds it.
//!
//! Lease times are the machines' own clocks (a lease is between processes, not
//! part of a plan), so runners whose clocks disagree by more than a lease's
//! length could take over a live lock early; keep CI runners' clocks synced
//! (they are, by NTP, on every hosted runner).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::store::{Changed, RemoteStore, Version};
use crate::backend::BackendError;
use crate::time;

/// The lock object's name beside the state.
pub const LOCK_OBJECT: &str = "lock";

/// How long a lease lasts unless told otherwise (`--lock-ttl`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// What the lock object holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockInfo {
    /// This holding's id: what `force-unlock` names.
    pub id: String,
    pub owner: String,
    pub host: String,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    pub operation: String,
    /// When it was taken (RFC 3339, the holder's clock).
    pub created: String,
    /// When the lease runs out unless renewed (RFC 3339, the holder's clock).
    pub expires: String,
    /// Released by its holder or forced: free to take.
    #[serde(default)]
    pub released: bool,
}

impl LockInfo {
    /// One line naming the holder, for messages.
    pub fn describe(&self) -> String {
        let run = self
            .run_url
            .as_deref()
            .map(|url| format!(", run {url}"))
            .unwrap_or_default();
        crate::printable::escape_controls(&format!(
            "lock {} held by {}@{} (pid {}{run}) for {} since {}, lease until {}",
            self.id, self.owner, self.host, self.pid, self.operation, self.created, self.expires
        ))
        .into_owned()
    }

    fn free_at(&self, now: i64) -> bool {
        self.released || time::parse(&self.expires).is_none_or(|expires| expires <= now)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The CI run this process belongs to, when the pipeline says (GitHub Actions,
/// GitLab CI, Azure Pipelines).
fn run_url() -> Option<String> {
    if let (Some(server), Some(repository), Some(run)) = (
        env("GITHUB_SERVER_URL"),
        env("GITHUB_REPOSITORY"),
        env("GITHUB_RUN_ID"),
    ) {
        return Some(format!("{server}/{repository}/actions/runs/{run}"));
    }
    if let Some(job) = env("CI_JOB_URL") {
        return Some(job);
    }
    match (
        env("SYSTEM_COLLECTIONURI"),
        env("SYSTEM_TEAMPROJECT"),
        env("BUILD_BUILDID"),
    ) {
        (Some(collection), Some(project), Some(build)) => Some(format!(
            "{collection}{project}/_build/results?buildId={build}"
        )),
        _ => None,
    }
}

fn host_name() -> String {
    env("HOSTNAME")
        .or_else(|| env("COMPUTERNAME"))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| "unknown-host".to_owned())
}

fn parse(store: &RemoteStore, bytes: &[u8]) -> Result<LockInfo, BackendError> {
    serde_json::from_slice(bytes).map_err(|e| {
        BackendError::State(format!(
            "{} is not a cspctl lock ({e}); if no apply is running, remove it by hand",
            crate::printable::escape_controls(&store.describe(LOCK_OBJECT))
        ))
    })
}

fn encode(info: &LockInfo) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(info).expect("a lock is plain JSON");
    bytes.push(b'\n');
    bytes
}

/// A held lock. Renewed in the background until dropped, which releases it.
#[derive(Debug)]
pub struct RemoteLock {
    store: RemoteStore,
    info: LockInfo,
    state: Arc<tokio::sync::Mutex<Held>>,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Held {
    version: Version,
    released: bool,
}

impl RemoteLock {
    /// Takes the lock for `operation`, waiting up to `timeout` while another
    /// holder's lease runs; then fails naming the holder.
    pub fn acquire(
        store: &RemoteStore,
        operation: &str,
        lease: Duration,
        timeout: Duration,
    ) -> Result<RemoteLock, BackendError> {
        let lease_seconds = i64::try_from(lease.as_secs().max(1)).unwrap_or(i64::MAX / 2);
        let waited_until = std::time::Instant::now().checked_add(timeout);
        let mut info = LockInfo {
            id: crate::ids::random_guid(),
            owner: env("USER")
                .or_else(|| env("USERNAME"))
                .unwrap_or_else(|| "unknown".to_owned()),
            host: host_name(),
            pid: std::process::id(),
            run_url: run_url(),
            operation: operation.to_owned(),
            created: String::new(),
            expires: String::new(),
            released: false,
        };
        let mut announced = false;
        loop {
            let now = unix_now();
            info.created = time::format(now);
            info.expires = time::format(now.saturating_add(lease_seconds));
            let attempt = {
                let (store, info) = (store.clone(), info.clone());
                store.clone().block(async move {
                    let current = store.get(LOCK_OBJECT).await?;
                    let expected = match &current {
                        None => None,
                        Some((bytes, version)) => {
                            let holder = parse(&store, bytes)?;
                            if !holder.free_at(unix_now()) {
                                return Ok(Err(holder));
                            }
                            Some(version.clone())
                        }
                    };
                    match store
                        .put(LOCK_OBJECT, encode(&info), expected.as_ref())
                        .await?
                    {
                        Ok(version) => Ok(Ok(version)),
                        // Someone else took it between the read and the write:
                        // read again and say who.
                        Err(Changed) => match store.get(LOCK_OBJECT).await? {
                            Some((bytes, _)) => Ok(Err(parse(&store, &bytes)?)),
                            None => Ok(Err(LockInfo {
                                released: true,
                                ..info
                            })),
                        },
                    }
                })
            };
            let holder = match attempt? {
                Ok(version) => return Ok(RemoteLock::held(store, info, version, lease)),
                Err(holder) => holder,
            };
            let remaining = waited_until
                .map(|until| until.saturating_duration_since(std::time::Instant::now()));
            if holder.released {
                continue;
            }
            if remaining == Some(Duration::ZERO) {
                return Err(BackendError::Locked(format!(
                    "the remote state {} is locked: {}. Another apply is running; wait for it (--lock-timeout), or, if its runner died, wait for the lease to run out or run `cspctl force-unlock {} --state-url {}`",
                    crate::printable::escape_controls(store.url()),
                    holder.describe(),
                    crate::printable::escape_controls(&holder.id),
                    crate::printable::escape_controls(store.url()),
                )));
            }
            if !announced {
                announced = true;
                crate::diagnostic::warn(format_args!(
                    "Waiting for the lock on {}: {}",
                    crate::printable::escape_controls(store.url()),
                    holder.describe()
                ));
            }
            // Poll: a released or expired lock is seen within a second.
            std::thread::sleep(remaining.map_or(POLL, |r| r.min(POLL)));
        }
    }

    fn held(store: &RemoteStore, info: LockInfo, version: Version, lease: Duration) -> RemoteLock {
        let state = Arc::new(tokio::sync::Mutex::new(Held {
            version,
            released: false,
        }));
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (store, info, state, lost) =
                (store.clone(), info.clone(), state.clone(), lost.clone());
            let every = (lease / 3).max(Duration::from_millis(300));
            store.clone().spawn(async move {
                renew(store, info, state, lost, lease, every).await;
            })
        };
        RemoteLock {
            store: store.clone(),
            info,
            state,
            lost,
            renewer,
        }
    }

    /// The holding's description.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// Whether the lock is still held, for the tasks that must stop writing once it
    /// was lost (forced, or a lease that could not be renewed in time): the
    /// journal's mirror checks it before every write.
    pub fn watch(&self) -> LockWatch {
        LockWatch {
            lost: self.lost.clone(),
            url: self.store.url().to_owned(),
        }
    }
}

/// Whether a lock is still held, for code that outlives a borrow of it.
#[derive(Clone, Debug)]
pub struct LockWatch {
    lost: Arc<AtomicBool>,
    url: String,
}

impl LockWatch {
    pub fn check(&self) -> Result<(), BackendError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(BackendError::Locked(format!(
                "this apply no longer holds the lock on {} (it was forced or its lease ran out while renewals failed), so it does not write or buy anything more. Run apply again",
                crate::printable::escape_controls(&self.url)
            )));
        }
        Ok(())
    }
}

const POLL: Duration = Duration::from_secs(1);

/// Renews the lease every `every` until released; marks the lock lost when
/// someone replaced it or when the lease ran out without a renewal.
async fn renew(
    store: RemoteStore,
    mut info: LockInfo,
    state: Arc<tokio::sync::Mutex<Held>>,
    lost: Arc<AtomicBool>,
    lease: Duration,
    every: Duration,
) {
    let lease_seconds = i64::try_from(lease.as_secs().max(1)).unwrap_or(i64::MAX / 2);
    let mut valid_until = unix_now().saturating_add(lease_seconds);
    loop {
        tokio::time::sleep(every).await;
        let mut held = state.lock().await;
        if held.released {
            return;
        }
        let now = unix_now();
        info.expires = time::format(now.saturating_add(lease_seconds));
        match store
            .put(LOCK_OBJECT, encode(&info), Some(&held.version))
            .await
        {
            Ok(Ok(version)) => {
                held.version = version;
                valid_until = now.saturating_add(lease_seconds);
            }
            Ok(Err(Changed)) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // A failed request (network): try again at the next tick, unless the
            // lease has run out meanwhile.
            Err(_) if unix_now() < valid_until => {}
            Err(_) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
}

impl Drop for RemoteLock {
    fn drop(&mut self) {
        self.renewer.abort();
        let (store, state, mut info) = (self.store.clone(), self.state.clone(), self.info.clone());
        // Best effort: a lock not released here runs out with its lease.
        let _ = self.store.block(async move {
            let mut held = state.lock().await;
            if held.released {
                return Ok(());
            }
            held.released = true;
            info.released = true;
            store
                .put(LOCK_OBJECT, encode(&info), Some(&held.version))
                .await
                .map(|_| ())
        });
    }
}

/// Releases the lock whose id is `id`, whoever holds it: for a holder known to be
/// dead. Returns the holding released.
pub fn force_unlock(store: &RemoteStore, id: &str) -> Result<LockInfo, BackendError> {
    let (store_, id_) = (store.clone(), id.to_owned());
    store.block(async move {
        let Some((bytes, version)) = store_.get(LOCK_OBJECT).await? else {
            return Err(BackendError::State(format!(
                "{} is not locked: there is no lock to release",
                crate::printable::escape_controls(store_.url())
            )));
        };
        let mut holder = parse(&store_, &bytes)?;
        if holder.released {
            return Err(BackendError::State(format!(
                "{} is not locked: the last lock ({}) was already released",
                crate::printable::escape_controls(store_.url()),
                holder.id
            )));
        }
        if holder.id != id_ {
            return Err(BackendError::State(format!(
                "the lock on {} has id {}, not {}: it is not the lock you meant ({}); nothing was released",
                crate::printable::escape_controls(store_.url()),
                holder.id,
                crate::printable::escape_controls(&id_),
                holder.describe()
            )));
        }
        holder.released = true;
        match store_.put(LOCK_OBJECT, encode(&holder), Some(&version)).await? {
            Ok(_) => Ok(holder),
            Err(Changed) => Err(BackendError::State(format!(
                "the lock on {} changed while it was being released (renewed or taken by someone else); read it again with the next apply's message and retry",
                crate::printable::escape_controls(store_.url())
            ))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, RemoteStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}", dir.path().display());
        let store = RemoteStore::open(&url).expect("opens");
        (dir, store)
    }

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let (_dir, store) = store();
        let first =
            RemoteLock::acquire(&store, "apply", DEFAULT_LEASE, Duration::ZERO).expect("free");
        let error = RemoteLock::acquire(&store, "apply", DEFAULT_LEASE, Duration::ZERO)
            .expect_err("held")
            .to_string();
        assert!(error.contains(&first.info().id), "{error}");
        assert!(error.contains("force-unlock"), "{error}");
        drop(first);
        RemoteLock::acquire(&store, "apply", DEFAULT_LEASE, Duration::ZERO).expect("free again");
    }

    #[test]
    fn force_unlock_releases_only_the_named_holding_and_the_holder_notices() {
        let (_dir, store) = store();
        let held = RemoteLock::acquire(&store, "apply", Duration::from_secs(1), Duration::ZERO)
            .expect("free");
        let error = force_unlock(&store, "another-id")
            .expect_err("wrong id")
            .to_string();
        assert!(error.contains("not the lock you meant"), "{error}");
        let released = force_unlock(&store, &held.info().id).expect("forced");
        assert_eq!(released.id, held.info().id);
        let next = RemoteLock::acquire(&store, "apply", DEFAULT_LEASE, Duration::ZERO)
            .expect("free after force-unlock");
        // The old holder's next renewal finds the lock replaced (hang guard only).
        let until = std::time::Instant::now() + Duration::from_secs(120);
        while held.watch().check().is_ok() {
            assert!(
                std::time::Instant::now() < until,
                "the holder never noticed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(held);
        // Dropping the old holding must not release the new one.
        let error = RemoteLock::acquire(&store, "apply", DEFAULT_LEASE, Duration::ZERO)
            .expect_err("still held")
            .to_string();
        assert!(error.contains(&next.info().id), "{error}");
    }
}
