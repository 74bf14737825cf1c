//! Remote state (`--state-url`): the files an apply keeps between runs (the local
//! tenant's state and journal, the purchase journal) and its lock, kept in an
//! object store that every CI runner reaches, instead of one runner's `.cspctl/`.
//!
//! The backends keep working on files: a run copies the remote objects into a
//! private working folder ([`WorkingCopy`]) and the backend opens them there. The
//! remote side is made authoritative by when things are copied back:
//!
//! - **Before a purchase is sent** (each durable purchase-journal record), the
//!   journals are copied to the store ([`RemoteJournal`], a
//!   [`JournalMirror`]): a runner that dies mid-purchase leaves its intent where
//!   the next runner, on any machine, settles it with the same request id.
//! - **At the end**, the local tenant's journal and purchases first, then the new
//!   state, then an empty journal: a run killed between two of these leaves a
//!   journal the next run either replays onto the old state or recognizes as
//!   already in the new one ([`crate::backend::local::journal`]).
//!
//! Every write names the version it read ([`store`]): if anyone else wrote in
//! between, the write fails and the apply stops instead of overwriting. Only
//! apply writes, and only while it holds the lock ([`lock`]); plan and drift read
//! without locking, as with local state.

pub mod lock;
pub mod store;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use self::lock::{DEFAULT_LEASE, LockInfo, LockWatch, RemoteLock, force_unlock};
pub use self::store::{Changed, RemoteStore, SCHEMES, Version};
use crate::backend::BackendError;
use crate::backend::partner_center::journal::{JournalMirror, MirrorFuture};

/// `--state-url` and how long its lock's lease lasts.
#[derive(Clone, Debug)]
pub struct RemoteSettings {
    pub url: String,
    pub lease: Duration,
}

/// A private folder holding this run's copies of the remote objects, removed when
/// dropped (the remote objects are the state; the copies are scratch).
#[derive(Debug)]
pub struct WorkingCopy {
    folder: PathBuf,
    /// The version of each object as copied in (`None`: it did not exist).
    versions: BTreeMap<String, Option<Version>>,
}

impl WorkingCopy {
    /// Copies the objects `names` of `store` into a new private folder. Objects
    /// that do not exist (or are empty: a journal with nothing in it) have no file.
    pub fn download(store: &RemoteStore, names: &[&str]) -> Result<WorkingCopy, BackendError> {
        let folder = std::env::temp_dir().join(format!(
            "cspctl-remote-{}-{:016x}",
            std::process::id(),
            crate::ids::random_u64()
        ));
        fs::create_dir_all(&folder).map_err(|e| {
            BackendError::State(format!(
                "cannot create the working folder {}: {e}",
                folder.display()
            ))
        })?;
        let mut copy = WorkingCopy {
            folder,
            versions: BTreeMap::new(),
        };
        for name in names {
            let (store_, name_) = (store.clone(), (*name).to_owned());
            let object = store.block(async move { store_.get(&name_).await })?;
            let version = match object {
                None => None,
                Some((bytes, version)) => {
                    if !bytes.is_empty() {
                        let path = copy.path(name);
                        fs::write(&path, &bytes).map_err(|e| {
                            BackendError::State(format!("cannot write {}: {e}", path.display()))
                        })?;
                    }
                    Some(version)
                }
            };
            copy.versions.insert((*name).to_owned(), version);
        }
        Ok(copy)
    }

    /// This run's copy of the object `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.folder.join(name)
    }

    /// `error` with this copy's folder named as the store it was copied from, so a
    /// damaged journal or state is reported where it really is.
    pub fn name_remote(&self, error: BackendError, store: &RemoteStore) -> BackendError {
        let folder = self.folder.display().to_string();
        let url = store.url().trim_end_matches('/');
        let rename = |text: String| text.replace(&folder, url);
        match error {
            BackendError::State(text) => BackendError::State(rename(text)),
            BackendError::Locked(text) => BackendError::Locked(rename(text)),
            other => other,
        }
    }

    /// Ends the copy's tracking of versions: the journal mirror takes them over.
    fn take_versions(&mut self) -> BTreeMap<String, Option<Version>> {
        std::mem::take(&mut self.versions)
    }
}

impl Drop for WorkingCopy {
    fn drop(&mut self) {
        // Scratch only: everything that matters was written to the store.
        let _ = fs::remove_dir_all(&self.folder);
    }
}

/// Copies a run's files to the store under the lock, each write guarded by the
/// version last read or written: the purchase journal's [`JournalMirror`], and the
/// end of an apply.
#[derive(Debug, Clone)]
pub struct RemoteJournal {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: RemoteStore,
    lock: LockWatch,
    /// Pushed before each purchase, in this order: `(object name, local file)`.
    journals: Vec<(String, PathBuf)>,
    /// What each object was last seen or written as.
    versions: tokio::sync::Mutex<BTreeMap<String, Written>>,
}

/// An object's version as last seen, and the digest of what this run wrote there.
#[derive(Clone, Debug, Default)]
struct Written {
    version: Option<Version>,
    digest: Option<Vec<u8>>,
}

fn digest(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

impl RemoteJournal {
    /// Mirrors `journals` (object name, file in `copy`) to `store`, starting from
    /// the versions `copy` read, while `lock` is held.
    pub fn new(
        store: &RemoteStore,
        lock: &RemoteLock,
        copy: &mut WorkingCopy,
        journals: &[&str],
    ) -> RemoteJournal {
        let versions = copy
            .take_versions()
            .into_iter()
            .map(|(name, version)| {
                (
                    name,
                    Written {
                        version,
                        digest: None,
                    },
                )
            })
            .collect();
        RemoteJournal {
            inner: Arc::new(Inner {
                store: store.clone(),
                lock: lock.watch(),
                journals: journals
                    .iter()
                    .map(|name| ((*name).to_owned(), copy.path(name)))
                    .collect(),
                versions: tokio::sync::Mutex::new(versions),
            }),
        }
    }

    /// Copies the journals to the store now.
    pub async fn push(&self) -> Result<(), BackendError> {
        let inner = self.inner.clone();
        let store = inner.store.clone();
        store
            .run(async move {
                let mut versions = inner.versions.lock().await;
                for (name, path) in &inner.journals {
                    let bytes = whole_lines(path)?;
                    write_guarded(&inner, &mut versions, name, bytes).await?;
                }
                Ok(())
            })
            .await
    }

    /// Writes `path`'s content as the object `name` (the new local state at the
    /// end of an apply), guarded like every other write.
    pub fn upload(&self, name: &str, path: &Path) -> Result<(), BackendError> {
        let bytes = fs::read(path)
            .map_err(|e| BackendError::State(format!("cannot read {}: {e}", path.display())))?;
        let (inner, name) = (self.inner.clone(), name.to_owned());
        self.inner.store.block(async move {
            let mut versions = inner.versions.lock().await;
            write_guarded(&inner, &mut versions, &name, bytes).await
        })
    }

    /// [`RemoteJournal::push`] from synchronous code.
    pub fn push_blocking(&self) -> Result<(), BackendError> {
        let this = self.clone();
        self.inner.store.block(async move { this.push().await })
    }
}

/// The complete lines of the file at `path` (empty when it does not exist): a
/// line being appended while it is read is left for the next push.
fn whole_lines(path: &Path) -> Result<Vec<u8>, BackendError> {
    let mut bytes = match fs::read(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        read => {
            read.map_err(|e| BackendError::State(format!("cannot read {}: {e}", path.display())))?
        }
    };
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(whole);
    Ok(bytes)
}

async fn write_guarded(
    inner: &Inner,
    versions: &mut BTreeMap<String, Written>,
    name: &str,
    bytes: Vec<u8>,
) -> Result<(), BackendError> {
    inner.lock.check()?;
    let written = versions.get(name).cloned().unwrap_or_default();
    let new_digest = digest(&bytes);
    if written.digest.as_ref() == Some(&new_digest) {
        return Ok(());
    }
    // An object that is absent and would be empty stays absent.
    if written.version.is_none() && bytes.is_empty() {
        return Ok(());
    }
    match inner
        .store
        .put(name, bytes, written.version.as_ref())
        .await?
    {
        Ok(version) => {
            versions.insert(
                name.to_owned(),
                Written {
                    version: Some(version),
                    digest: Some(new_digest),
                },
            );
            Ok(())
        }
        Err(Changed) => Err(BackendError::State(format!(
            "remote state {} was changed by someone else while this apply held the lock (a forced unlock, or a write by hand), so this apply stops without overwriting it; check what changed, then run apply again",
            crate::printable::escape_controls(&inner.store.describe(name))
        ))),
    }
}

impl JournalMirror for RemoteJournal {
    fn push(&self) -> MirrorFuture {
        let this = self.clone();
        Box::pin(async move { RemoteJournal::push(&this).await })
    }
}
