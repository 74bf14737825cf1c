//! The object store behind `--state-url`: where it is, and the three operations
//! remote state needs — read an object with its version, create it only if it is
//! absent, replace it only if it is still the version read. Nothing here ever
//! writes without a precondition, so two runners can never lose each other's
//! writes: the loser gets [`Changed`] and stops.
//!
//! Azure Blob Storage (`az://container/prefix`), S3 (`s3://bucket/prefix`) and GCS
//! (`gs://bucket/prefix`) go through `object_store` with each cloud's default
//! credential chain read from the environment (managed identity, workload
//! identity federation, the Azure CLI's login, `AWS_*`, `GOOGLE_APPLICATION_CREDENTIALS`);
//! a URL never carries a secret. `file:///path` is a folder (a shared disk):
//! `object_store`'s local store creates exclusively but cannot replace
//! conditionally (`PutMode::Update`, apache/arrow-rs-object-store#423), so a
//! replacement takes an OS file lock on `<folder>/.cspctl-guard`, compares the
//! object's version, and only then writes (a temporary file renamed over it).
//!
//! The store runs on its own small runtime, so the CLI (synchronous) and the apply
//! executor (on the Partner Center client's runtime) can both use it.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::backend::BackendError;

/// The version of an object as read or written: what a later replacement must
/// still find there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version(UpdateVersion);

/// A write's precondition failed: the object was created, replaced or removed by
/// someone else since it was read.
#[derive(Debug, PartialEq, Eq)]
pub struct Changed;

/// Where remote state lives, opened.
#[derive(Clone)]
pub struct RemoteStore {
    /// The URL as given, for messages (it holds no secret: credentials come from
    /// the environment).
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// `file://` only: the folder whose guard file serializes replacements.
    folder: Option<PathBuf>,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The schemes `--state-url` takes, for messages.
pub const SCHEMES: &str = "az://CONTAINER/PREFIX (Azure Blob Storage), s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or file:///FOLDER";

impl RemoteStore {
    /// Opens the store a `--state-url` names. Nothing is read yet: a wrong
    /// container or missing credentials show at the first request.
    pub fn open(url: &str) -> Result<RemoteStore, BackendError> {
        let invalid = |why: &str| {
            BackendError::State(format!(
                "--state-url `{}`: {why}; expected {SCHEMES}",
                crate::printable::escape_controls(url)
            ))
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
        if rest.contains('@') || rest.contains('?') || rest.contains('#') {
            return Err(invalid(
                "a state URL takes no user, query or fragment (credentials come from the environment, never from the URL)",
            ));
        }
        // reqwest is built without a TLS provider; cspctl's is ring's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cspctl-remote-state")
            .enable_all()
            .build()
            .map_err(|e| {
                BackendError::State(format!("cannot start the remote state runtime: {e}"))
            })?;
        let store_error = |e: object_store::Error| {
            BackendError::State(format!(
                "--state-url `{}`: {e}",
                crate::printable::escape_controls(url)
            ))
        };
        let (store, prefix, folder): (Arc<dyn ObjectStore>, &str, Option<PathBuf>) = match scheme {
            "file" => {
                let folder = PathBuf::from(rest);
                if !folder.is_absolute() {
                    return Err(invalid(
                        "a file URL needs an absolute path (file:///srv/state)",
                    ));
                }
                fs::create_dir_all(&folder).map_err(|e| {
                    BackendError::State(format!("cannot create {}: {e}", folder.display()))
                })?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&folder)
                    .map_err(store_error)?;
                (Arc::new(store), "", Some(folder))
            }
            "az" | "s3" | "gs" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(invalid("the container or bucket is missing"));
                }
                let bucket_url = format!("{scheme}://{bucket}");
                let store: Arc<dyn ObjectStore> = match scheme {
                    "az" => Arc::new(
                        object_store::azure::MicrosoftAzureBuilder::from_env()
                            .with_url(bucket_url)
                            .build()
                            .map_err(store_error)?,
                    ),
                    "s3" => Arc::new(
                        object_store::aws::AmazonS3Builder::from_env()
                            .with_url(bucket_url)
                            .build()
                            .map_err(store_error)?,
                    ),
                    _ => Arc::new(
                        object_store::gcp::GoogleCloudStorageBuilder::from_env()
                            .with_url(bucket_url)
                            .build()
                            .map_err(store_error)?,
                    ),
                };
                (store, prefix, None)
            }
            _ => return Err(invalid(&format!("unknown scheme `{scheme}`"))),
        };
        let prefix = ObjectPath::parse(prefix.trim_matches('/'))
            .map_err(|e| invalid(&format!("the prefix is not a valid object path ({e})")))?;
        Ok(RemoteStore {
            url: url.to_owned(),
            store,
            prefix,
            folder,
            runtime: Arc::new(runtime),
        })
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where `name` is, for messages.
    pub fn describe(&self, name: &str) -> String {
        format!("{}/{name}", self.url.trim_end_matches('/'))
    }

    fn location(&self, name: &str) -> ObjectPath {
        self.prefix.clone().join(name)
    }

    fn failed(&self, name: &str, doing: &str, error: &dyn fmt::Display) -> BackendError {
        BackendError::State(format!(
            "remote state {}: cannot {doing}: {error}",
            crate::printable::escape_controls(&self.describe(name))
        ))
    }

    /// Runs `future` on the store's runtime and waits for it, from synchronous code.
    pub fn block<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> T {
        let (sender, receiver) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let _ = sender.send(future.await);
        });
        receiver
            .recv()
            .expect("the remote state runtime runs every task it is given to the end")
    }

    /// Starts `future` on the store's runtime, in the background.
    pub fn spawn(
        &self,
        future: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        self.runtime.spawn(future)
    }

    /// Runs `future` on the store's runtime, from another runtime's task.
    pub async fn run<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> T {
        self.runtime
            .spawn(future)
            .await
            .expect("remote state tasks do not panic")
    }

    /// Reads `name`: its bytes and version, or `None` when it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<(Vec<u8>, Version)>, BackendError> {
        let result = match self.store.get(&self.location(name)).await {
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            result => result.map_err(|e| self.failed(name, "read it", &e))?,
        };
        let version = Version(UpdateVersion {
            e_tag: result.meta.e_tag.clone(),
            version: result.meta.version.clone(),
        });
        let bytes = result
            .bytes()
            .await
            .map_err(|e| self.failed(name, "read it", &e))?;
        Ok(Some((bytes.to_vec(), version)))
    }

    /// Writes `bytes` as `name` if it is still at `expected` (`None`: only if it
    /// does not exist), returning the new version, or [`Changed`].
    pub async fn put(
        &self,
        name: &str,
        bytes: Vec<u8>,
        expected: Option<&Version>,
    ) -> Result<Result<Version, Changed>, BackendError> {
        let location = self.location(name);
        let (mode, _guard) = match (expected, &self.folder) {
            (None, _) => (PutMode::Create, None),
            (Some(expected), None) => (PutMode::Update(expected.0.clone()), None),
            (Some(expected), Some(folder)) => {
                // The local store cannot replace conditionally: compare under the
                // folder's lock, then overwrite.
                let guard = lock_guard(folder)
                    .await
                    .map_err(|e| self.failed(name, "lock the folder", &e))?;
                let current = match self.store.head(&location).await {
                    Ok(meta) => Some(Version(UpdateVersion {
                        e_tag: meta.e_tag,
                        version: meta.version,
                    })),
                    Err(object_store::Error::NotFound { .. }) => None,
                    Err(e) => return Err(self.failed(name, "read its version", &e)),
                };
                if current.as_ref() != Some(expected) {
                    return Ok(Err(Changed));
                }
                (PutMode::Overwrite, Some(guard))
            }
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&location, PutPayload::from(bytes), options)
            .await
        {
            Ok(result) => Ok(Ok(Version(UpdateVersion::from(result)))),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(Err(Changed)),
            Err(e) => Err(self.failed(name, "write it", &e)),
        }
    }
}

/// Takes the `file://` folder's guard lock, off the runtime's worker (it may wait).
async fn lock_guard(folder: &Path) -> std::io::Result<File> {
    let path = folder.join(".cspctl-guard");
    tokio::task::spawn_blocking(move || {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_store_and_never_carry_credentials() {
        for bad in [
            "state",
            "ftp://host/x",
            "az:///prefix",
            "file://relative/path",
            "az://user:secret@container/x",
            "s3://bucket/x?sig=abc",
        ] {
            let error = RemoteStore::open(bad).expect_err(bad).to_string();
            assert!(error.contains("expected az://"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_file_store_creates_once_and_replaces_only_the_version_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}", dir.path().join("state").display());
        let store = RemoteStore::open(&url).expect("opens");
        let (a, b) = (store.clone(), store.clone());
        store.block(async move {
            assert_eq!(a.get("x").await.expect("reads"), None);
            let first = a
                .put("x", b"1".to_vec(), None)
                .await
                .expect("put")
                .expect("created");
            assert_eq!(
                a.put("x", b"2".to_vec(), None).await.expect("put"),
                Err(Changed)
            );
            let second = a
                .put("x", b"2".to_vec(), Some(&first))
                .await
                .expect("put")
                .expect("replaced");
            assert_eq!(
                b.put("x", b"3".to_vec(), Some(&first)).await.expect("put"),
                Err(Changed),
                "a stale version never overwrites"
            );
            let (bytes, version) = b.get("x").await.expect("reads").expect("exists");
            assert_eq!((bytes, version), (b"2".to_vec(), second));
        });
    }
}
