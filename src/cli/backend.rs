//! Backend selection shared by the commands that read or change live state: the
//! flags (`--backend`, `--state`, `--endpoint`, ...), their validation, and opening
//! the chosen backend for reading (plan) or for changing (apply).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use crate::apply::{ApplyControl, ApplyObserver, ApplyReport, Executor, execute_plan};
use crate::backend::local::journal::journal_path as local_journal_path;
use crate::backend::local::{DEFAULT_STATE_PATH, LocalBackend, StateLock, purchase_journal_path};
use crate::backend::partner_center::deadline::parse_duration;
use crate::backend::partner_center::journal::{PurchaseJournal, default_journal_path, read_open};
use crate::backend::partner_center::{
    Credentials, DEFAULT_AUTHORITY, DEFAULT_ENDPOINT, DEFAULT_MAX_RESPONSE_BYTES,
    PartnerCenterBackend, PartnerCenterConfig,
};
use crate::backend::remote::{
    DEFAULT_LEASE, RemoteJournal, RemoteLock, RemoteSettings, RemoteStore, WorkingCopy,
};
use crate::backend::{Backend, BackendError};
use crate::live::{CustomerScope, Live, LiveSubscription, Lookups};
use crate::plan::{ApiCost, Plan, PlanOptions};

use super::Settings;
use super::refresh::{CachePolicy, Cached, RefreshWhen, SnapshotPlace};

/// Which backend holds the live state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// A local state file (the default; no credentials needed).
    Local,
    /// Partner Center's REST API (or the simulator, `cspctl sim serve`).
    PartnerCenter,
}

/// Where the live state comes from.
#[derive(Debug, clap::Args)]
pub struct BackendArgs {
    /// Where the live state is.
    #[arg(long, value_enum, default_value = "local", env = "CSPCTL_BACKEND")]
    backend: BackendKind,
    /// The local state file [default: .cspctl/state.json] (local backend).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Partner Center's API base URL [env: CSPCTL_PC_ENDPOINT] [default:
    /// https://api.partnercenter.microsoft.com] (partner-center backend).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Entra ID authority for tokens [env: CSPCTL_PC_AUTHORITY] [default:
    /// https://login.microsoftonline.com] (partner-center backend).
    #[arg(long, value_name = "URL")]
    authority: Option<String>,
    /// Integration sandbox: indirect resellers are created through the API instead of
    /// being manual steps (partner-center backend).
    #[arg(long)]
    sandbox: bool,
    /// A JSON credentials file only its owner can read [env: CSPCTL_PC_CREDENTIALS]
    /// (partner-center backend; without it the CSPCTL_PC_* variables are used).
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Seconds to wait for a purchase to be provisioned (partner-center backend).
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    provisioning_timeout: u64,
    /// The purchase journal, which keeps an interrupted apply from buying twice
    /// [env: CSPCTL_PC_JOURNAL] [default: .cspctl/partner-center-<tenant>.journal]
    /// (partner-center backend). Keep it between CI runs, like a state file.
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// How long the run may take, e.g. 90s, 10m, 1h, or `none`; then it stops with
    /// an error naming the request it was waiting for [default: 10m; apply: 1h]
    /// (partner-center backend).
    #[arg(long, value_name = "DURATION", value_parser = parse_run_timeout)]
    timeout: Option<RunTimeout>,
    /// The largest response body read from Partner Center or Entra ID, in bytes
    /// [default: 33554432, 32 MiB] (partner-center backend).
    #[arg(long, value_name = "BYTES", env = "CSPCTL_PC_MAX_RESPONSE_BYTES")]
    max_response_bytes: Option<usize>,
    /// Keep the state, its journals and the apply lock in an object store that
    /// every CI runner reaches: az://CONTAINER/PREFIX (Azure Blob Storage),
    /// s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or file:///FOLDER. Credentials come
    /// from the cloud's default chain (managed identity, OIDC, the Azure CLI's
    /// login, AWS_*, GOOGLE_APPLICATION_CREDENTIALS), never from the URL.
    #[arg(long, value_name = "URL", env = "CSPCTL_STATE_URL")]
    state_url: Option<String>,
    /// How long the remote state's lock lasts unless its holder renews it (apply
    /// renews it every third of that): a runner that died frees it after this
    /// [default: 2m] (with --state-url).
    #[arg(long, value_name = "DURATION", env = "CSPCTL_LOCK_TTL", value_parser = parse_duration)]
    lock_ttl: Option<Duration>,
    /// The oldest snapshot of the tenant a run brings up to date from Partner
    /// Center's audit log instead of reading every customer again, e.g. 12h, 7d
    /// [default: 7d] (partner-center backend; README, "Plans that cost what changed").
    #[arg(long, value_name = "DURATION", env = "CSPCTL_MAX_CACHE_AGE", value_parser = parse_duration)]
    max_cache_age: Option<Duration>,
    /// `auto`: refresh the snapshot from the audit log, or read the whole tenant when
    /// the snapshot is missing or older than --max-cache-age; `full`: read the whole
    /// tenant and write a new snapshot (partner-center backend).
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        env = "CSPCTL_REFRESH",
        default_value = "auto"
    )]
    refresh: RefreshWhen,
}

/// `--timeout` unless given, for the commands that only read: long enough to read
/// a large tenant at Partner Center's documented 500 requests a minute, short
/// enough that a CI job stuck on a server that does not answer ends on its own.
const READ_TIMEOUT: Duration = Duration::from_secs(600);
/// `--timeout` unless given, for apply: a large apply under throttling can take
/// far longer than a read, and stopping one midway leaves work for the next.
const APPLY_TIMEOUT: Duration = Duration::from_secs(3600);

/// A `--timeout` value: a duration, or `none` for no deadline.
#[derive(Clone, Copy, Debug)]
struct RunTimeout(Option<Duration>);

fn parse_run_timeout(text: &str) -> Result<RunTimeout, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(RunTimeout(None));
    }
    parse_duration(text).map(|timeout| RunTimeout(Some(timeout)))
}

/// The resolved choice: which backend, and where its files are kept between runs.
#[derive(Clone, Debug)]
pub struct BackendChoice {
    target: Target,
    /// `--state-url`: the files are objects in a store, copied in for the run.
    remote: Option<RemoteSettings>,
    /// `--max-cache-age` and `--refresh` (partner-center backend).
    cache: CachePolicy,
}

#[derive(Clone, Debug)]
enum Target {
    /// The local state file.
    Local(PathBuf),
    /// The API, and the purchase journal's path.
    PartnerCenter(PartnerCenterConfig, PathBuf),
}

/// The local backend's objects in remote state: the state, its journal and its
/// purchase journal, named as the files beside a local state are.
const REMOTE_STATE: &str = "state.json";

fn remote_local_objects() -> [String; 3] {
    let state = Path::new(REMOTE_STATE);
    [
        REMOTE_STATE.to_owned(),
        file_name(&local_journal_path(state)),
        file_name(&purchase_journal_path(state)),
    ]
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl BackendArgs {
    /// Checks the flags fit the backend and reads the credentials, for a command
    /// that only reads.
    pub fn resolve(&self) -> anyhow::Result<BackendChoice> {
        self.resolve_with_timeout(READ_TIMEOUT)
    }

    /// [`BackendArgs::resolve`] for apply, whose default `--timeout` is longer.
    pub fn resolve_for_apply(&self) -> anyhow::Result<BackendChoice> {
        self.resolve_with_timeout(APPLY_TIMEOUT)
    }

    fn resolve_with_timeout(&self, default_timeout: Duration) -> anyhow::Result<BackendChoice> {
        let remote = match (&self.state_url, self.lock_ttl) {
            (None, Some(_)) => {
                bail!(
                    "--lock-ttl is the remote state's lock lease; add --state-url (or CSPCTL_STATE_URL)"
                )
            }
            (None, None) => None,
            (Some(url), lease) => {
                // Refused here, before anything is read: a bad URL or a secret in it.
                RemoteStore::open(url)?;
                Some(RemoteSettings {
                    url: url.clone(),
                    lease: lease.unwrap_or(DEFAULT_LEASE),
                })
            }
        };
        let target = self.resolve_target(default_timeout, remote.is_some())?;
        let cache = CachePolicy {
            max_age: self.max_cache_age.unwrap_or(CachePolicy::default().max_age),
            refresh: self.refresh,
        };
        Ok(BackendChoice {
            target,
            remote,
            cache,
        })
    }

    fn resolve_target(&self, default_timeout: Duration, remote: bool) -> anyhow::Result<Target> {
        match self.backend {
            BackendKind::Local => {
                let stray = [
                    (self.endpoint.is_some(), "--endpoint"),
                    (self.authority.is_some(), "--authority"),
                    (self.sandbox, "--sandbox"),
                    (self.credentials.is_some(), "--credentials"),
                    (self.journal.is_some(), "--journal"),
                    (self.max_cache_age.is_some(), "--max-cache-age"),
                ];
                if let Some((_, flag)) = stray.iter().find(|(set, _)| *set) {
                    bail!(
                        "{flag} is for the partner-center backend; add --backend partner-center (the local backend reads --state)"
                    );
                }
                if remote && self.state.is_some() {
                    bail!(
                        "--state and --state-url (or CSPCTL_STATE_URL) both say where the state is; give one"
                    );
                }
                Ok(Target::Local(
                    self.state
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_PATH)),
                ))
            }
            BackendKind::PartnerCenter => {
                if self.state.is_some() {
                    bail!(
                        "--state is for the local backend, but the backend is partner-center (from --backend or CSPCTL_BACKEND), which reads Partner Center"
                    );
                }
                // The environment is read only here, for this backend: variables
                // exported for a rehearsal must not trip up a local plan.
                let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
                let credentials = match self
                    .credentials
                    .clone()
                    .or_else(|| env("CSPCTL_PC_CREDENTIALS").map(PathBuf::from))
                {
                    Some(path) => Credentials::from_file(&path)?,
                    None => Credentials::from_env()?,
                };
                let journal = self
                    .journal
                    .clone()
                    .or_else(|| env("CSPCTL_PC_JOURNAL").map(PathBuf::from));
                if remote && journal.is_some() {
                    bail!(
                        "--journal (or CSPCTL_PC_JOURNAL) and --state-url (or CSPCTL_STATE_URL) both say where the purchase journal is; with remote state it is kept there, so drop --journal"
                    );
                }
                let journal =
                    journal.unwrap_or_else(|| default_journal_path(&credentials.tenant_id));
                let config = PartnerCenterConfig {
                    endpoint: self
                        .endpoint
                        .clone()
                        .or_else(|| env("CSPCTL_PC_ENDPOINT"))
                        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned()),
                    authority: self
                        .authority
                        .clone()
                        .or_else(|| env("CSPCTL_PC_AUTHORITY"))
                        .unwrap_or_else(|| DEFAULT_AUTHORITY.to_owned()),
                    sandbox: self.sandbox,
                    credentials,
                    read_concurrency: 8,
                    provisioning_timeout: Duration::from_secs(self.provisioning_timeout),
                    timeout: self.timeout.map_or(Some(default_timeout), |t| t.0),
                    max_response_bytes: self
                        .max_response_bytes
                        .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
                };
                Ok(Target::PartnerCenter(config, journal))
            }
        }
    }
}

impl BackendChoice {
    /// The settings that chose this backend, as a saved plan records them for
    /// `apply PLANFILE` (see `cli::config`); no credential is among them.
    pub fn settings(&self) -> crate::plan::BackendSettings {
        let state_url = self.remote.as_ref().map(|remote| remote.url.clone());
        match &self.target {
            Target::Local(path) => crate::plan::BackendSettings {
                kind: "local".to_owned(),
                state: state_url.is_none().then(|| path.display().to_string()),
                state_url,
                endpoint: None,
                authority: None,
                sandbox: false,
            },
            Target::PartnerCenter(config, _) => crate::plan::BackendSettings {
                kind: "partner-center".to_owned(),
                state: None,
                state_url,
                endpoint: Some(config.endpoint.clone()),
                authority: Some(config.authority.clone()),
                sandbox: config.sandbox,
            },
        }
    }

    /// The local backend on `state`, or on the remote state at `state_url`.
    pub fn local(state: PathBuf, state_url: Option<String>) -> anyhow::Result<BackendChoice> {
        let remote = match state_url {
            Some(url) => {
                RemoteStore::open(&url)?;
                Some(RemoteSettings {
                    url,
                    lease: DEFAULT_LEASE,
                })
            }
            None => None,
        };
        Ok(BackendChoice {
            target: Target::Local(state),
            remote,
            cache: CachePolicy::default(),
        })
    }

    /// The objects this backend keeps in remote state, the state first and the
    /// journals in the order they are pushed.
    fn remote_objects(&self) -> Vec<String> {
        match &self.target {
            Target::Local(_) => remote_local_objects().to_vec(),
            Target::PartnerCenter(_, journal) => vec![file_name(journal)],
        }
    }

    /// With remote state, copies its objects into a private folder and points the
    /// backend at the copies; without, the target as it is.
    fn working_target(
        &self,
        store: Option<&RemoteStore>,
    ) -> Result<(Target, Option<WorkingCopy>), BackendError> {
        let Some(store) = store else {
            return Ok((self.target.clone(), None));
        };
        let names = self.remote_objects();
        let copy =
            WorkingCopy::download(store, &names.iter().map(String::as_str).collect::<Vec<_>>())?;
        let target = match &self.target {
            Target::Local(_) => Target::Local(copy.path(REMOTE_STATE)),
            Target::PartnerCenter(config, _) => {
                Target::PartnerCenter(config.clone(), copy.path(&names[0]))
            }
        };
        Ok((target, Some(copy)))
    }

    /// Where the Partner Center snapshot is kept: beside the purchase journal, as a
    /// file or as an object of the remote state (`None` on the local backend).
    fn snapshot_place(&self, store: Option<&RemoteStore>) -> Option<SnapshotPlace> {
        let Target::PartnerCenter(_, journal) = &self.target else {
            return None;
        };
        let path = journal.with_extension("snapshot.json");
        Some(match store {
            Some(store) => SnapshotPlace::Remote {
                store: store.clone(),
                name: file_name(&path),
            },
            None => SnapshotPlace::File(path),
        })
    }

    fn open_store(&self) -> Result<Option<RemoteStore>, BackendError> {
        self.remote
            .as_ref()
            .map(|remote| RemoteStore::open(&remote.url))
            .transpose()
    }

    /// What plans against this backend record as theirs (`local:<state>`, or the
    /// Partner Center endpoint and tenant).
    fn local_description(&self, path: &Path) -> String {
        match &self.remote {
            Some(remote) => format!("local:{}", remote.url),
            None => LocalBackend::describe_path(path),
        }
    }

    /// Planning options for the local backend (integration-sandbox semantics).
    fn local_plan_options(&self, path: &Path) -> PlanOptions {
        let state = match &self.remote {
            Some(remote) => format!("--state-url {}", remote.url),
            None => format!("--state {}", path.display()),
        };
        PlanOptions {
            backend: self.local_description(path),
            sandbox: true,
            simulate_hint: Some(format!(
                "To simulate the acceptance locally: cspctl local accept-relationship {state} --customer {{customer}} --reseller {{reseller}}"
            )),
            // The local tenant does not enforce sandbox quotas, so realistic manifests
            // can be rehearsed (README, "The local state").
            sandbox_reseller_limit: None,
            // The local tenant takes a declared tenant id, so rehearsals need no
            // `sandboxTenant`.
            declared_reseller_tenants: true,
            // Set by `plan_desired` from the settings' clock and `--renewals`.
            now: None,
            renewal_horizon: None,
        }
    }

    /// Reads the live snapshot without taking any lock (every local write is an
    /// atomic rename, so a reader sees a whole state file), with the planning
    /// options that fit the backend.
    pub fn read_live(
        &self,
        settings: &Settings,
    ) -> anyhow::Result<(Live, PlanOptions, PendingReader)> {
        self.read_live_scoped(settings, None)
    }

    /// Runs `check` (reading and checking the manifests; `Ok(None)`: problems
    /// reported) and reads the live snapshot of the scope it finds (`scope_of`),
    /// at the same time whenever the read does not depend on the scope: a whole
    /// local state, or all of Partner Center for an unscoped run (`scoped` false).
    /// Both are large for a large tenant, and neither needs the other until
    /// planning. A scoped Partner Center read, made in proportion to the scope,
    /// waits for it.
    pub fn read_live_beside<T>(
        &self,
        settings: &Settings,
        scoped: bool,
        check: impl FnOnce() -> anyhow::Result<Option<T>>,
        scope_of: impl FnOnce(&T) -> Option<&CustomerScope>,
    ) -> anyhow::Result<Option<(T, Live, PlanOptions, PendingReader)>> {
        // A local read costs the same with a scope or without: the whole state
        // file is read either way, and the scope applied to the snapshot after.
        let early = !scoped || matches!(self.target, Target::Local(_));
        let (checked, read) = std::thread::scope(|threads| {
            let reader = early.then(|| threads.spawn(|| self.read_live_scoped(settings, None)));
            let checked = check();
            let read = reader.map(|reader| {
                reader
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            (checked, read)
        });
        let read = read.transpose()?;
        let Some(checked) = checked? else {
            return Ok(None);
        };
        let scope = scope_of(&checked);
        let (live, options, reader) = match read {
            Some((mut live, options, reader)) => {
                if let Some(scope) = scope {
                    scope.restrict(&mut live);
                }
                (live, options, reader)
            }
            None => self.read_live_scoped(settings, scope)?,
        };
        Ok(Some((checked, live, options, reader)))
    }

    /// As [`BackendChoice::read_live`], only the customers in `scope` (and every
    /// reseller) when there is one.
    pub fn read_live_scoped(
        &self,
        settings: &Settings,
        scope: Option<&CustomerScope>,
    ) -> anyhow::Result<(Live, PlanOptions, PendingReader)> {
        let store = self.open_store()?;
        let (target, copy) = self.working_target(store.as_ref())?;
        let named = |error: BackendError| named_remote(error, copy.as_ref(), store.as_ref());
        match target {
            Target::Local(path) => {
                let backend =
                    LocalBackend::open(path.clone(), settings.now.clone(), None).map_err(named)?;
                let live = backend.read_live_scoped(scope);
                Ok((
                    live,
                    self.local_plan_options(&path),
                    PendingReader {
                        backend: Reader::Local(Box::new(backend)),
                        _copy: copy,
                    },
                ))
            }
            Target::PartnerCenter(config, journal) => {
                let open = read_open(&journal).map_err(named)?;
                if !open.is_empty() {
                    let place = match (&store, &copy) {
                        (Some(store), Some(_)) => store.describe(&file_name(&journal)),
                        _ => journal.display().to_string(),
                    };
                    note!(
                        "warning: {} purchase(s) left open by an interrupted apply are in {place}; the next apply settles them before it plans anything new, so this plan may still list them",
                        open.len(),
                    );
                }
                let backend = PartnerCenterBackend::new(config.clone())?;
                let place = self
                    .snapshot_place(store.as_ref())
                    .expect("the partner-center backend keeps a snapshot");
                let (live, cached) =
                    super::refresh::read(&backend, place, scope, self.cache, settings.now_unix())?;
                let options = partner_center_plan_options(&backend, &config);
                Ok((
                    live,
                    options,
                    PendingReader {
                        backend: Reader::PartnerCenter(Box::new(backend), Box::new(cached)),
                        _copy: copy,
                    },
                ))
            }
        }
    }

    /// Opens the backend to change it: takes the lock of the state (the remote
    /// state's lock, the local state's, or the purchase journal's), so a second
    /// apply against the same state waits (up to `lock_timeout`) and then fails
    /// clearly.
    pub fn open(&self, settings: &Settings, lock_timeout: Duration) -> anyhow::Result<Opened> {
        let store = self.open_store()?;
        let lock = match (&store, &self.remote) {
            (Some(store), Some(remote)) => {
                let lock = RemoteLock::acquire(store, "apply", remote.lease, lock_timeout)?;
                note!(
                    "Locked {} (lock {}, lease {} s, renewed while this run lives).",
                    store.url(),
                    lock.info().id,
                    remote.lease.as_secs()
                );
                Some(lock)
            }
            _ => None,
        };
        let (target, copy) = self.working_target(store.as_ref())?;
        let named = |error: BackendError| named_remote(error, copy.as_ref(), store.as_ref());
        let (backend, options) = match target {
            Target::Local(path) => {
                let options = self.local_plan_options(&path);
                let backend = LocalBackend::open(path, settings.now.clone(), Some(lock_timeout))
                    .map_err(named)?;
                (OpenedBackend::Local(Box::new(backend)), options)
            }
            Target::PartnerCenter(config, journal) => {
                let lock = StateLock::acquire(&journal, lock_timeout)?;
                let backend = PartnerCenterBackend::new(config.clone())?.with_journal(
                    PurchaseJournal::open(journal.clone()).map_err(named)?,
                    settings.now.clone(),
                );
                let options = partner_center_plan_options(&backend, &config);
                (
                    OpenedBackend::PartnerCenter {
                        backend: Box::new(backend),
                        _lock: lock,
                    },
                    options,
                )
            }
        };
        let mut opened = Opened {
            backend,
            options,
            remote: None,
            snapshot: self
                .snapshot_place(store.as_ref())
                .map(|place| (place, self.cache, settings.now_unix())),
            cached: None,
        };
        if let (Some(store), Some(lock), Some(mut copy)) = (store, lock, copy) {
            let names = self.remote_objects();
            let journals: Vec<&str> = match &self.target {
                Target::Local(_) => names[1..].iter().map(String::as_str).collect(),
                Target::PartnerCenter(..) => names.iter().map(String::as_str).collect(),
            };
            let mirror = RemoteJournal::new(&store, &lock, &mut copy, &journals);
            if let Some(journal) = opened.remote().client().purchase_journal() {
                journal.set_mirror(Arc::new(mirror.clone()));
            }
            opened.remote = Some(RemoteSession {
                state: matches!(self.target, Target::Local(_))
                    .then(|| (REMOTE_STATE, copy.path(REMOTE_STATE))),
                mirror,
                _copy: copy,
                _lock: lock,
            });
        }
        Ok(opened)
    }
}

/// `error` naming the remote objects instead of their working copies, with remote
/// state.
fn named_remote(
    error: BackendError,
    copy: Option<&WorkingCopy>,
    store: Option<&RemoteStore>,
) -> BackendError {
    match (copy, store) {
        (Some(copy), Some(store)) => copy.name_remote(error, store),
        _ => error,
    }
}

/// What `plan` keeps of the backend after reading: the means to read orders still
/// provisioning, when the plan buys something.
pub struct PendingReader {
    backend: Reader,
    /// The remote state's copies the backend reads, kept until it is done.
    _copy: Option<WorkingCopy>,
}

enum Reader {
    Local(Box<LocalBackend>),
    PartnerCenter(Box<PartnerCenterBackend>, Box<Cached>),
}

impl PendingReader {
    /// What this run has cost so far in Partner Center requests, and how it read
    /// the tenant; `None` on the local backend, which spends none of the
    /// partner's budget.
    pub fn cost(&self) -> Option<ApiCost> {
        match &self.backend {
            Reader::Local(_) => None,
            Reader::PartnerCenter(backend, cached) => Some(cost_so_far(backend, Some(cached))),
        }
    }

    /// Reads the customers `plan` changes that this run took from the snapshot
    /// ([`Cached::verify`]); `Some(view)`: one differed, plan again from `view`.
    pub fn verify(&mut self, plan: &Plan) -> Result<Option<Live>, BackendError> {
        match &mut self.backend {
            Reader::Local(_) => Ok(None),
            Reader::PartnerCenter(backend, cached) => {
                cached.verify(backend, &plan.customers_changed())
            }
        }
    }

    /// Writes the refreshed snapshot back (partner-center backend).
    pub fn save_snapshot(&mut self) -> Result<(), BackendError> {
        match &mut self.backend {
            Reader::Local(_) => Ok(()),
            Reader::PartnerCenter(_, cached) => cached.save(),
        }
    }

    pub fn pending_purchases(
        &self,
        customers: &[String],
    ) -> Result<Vec<LiveSubscription>, BackendError> {
        let backend = self.remote();
        backend.block_on(backend.client().pending_purchases(customers))
    }

    /// The Partner Center client and its runtime (in process on the local state).
    fn remote(&self) -> &PartnerCenterBackend {
        match &self.backend {
            Reader::Local(backend) => backend.remote(),
            Reader::PartnerCenter(backend, _) => backend,
        }
    }
}

impl super::plan::PlanReads for PendingReader {
    fn pending_purchases(
        &self,
        customers: &[String],
    ) -> Result<Vec<LiveSubscription>, BackendError> {
        PendingReader::pending_purchases(self, customers)
    }

    fn lookups(&self, lookups: &Lookups, live: &mut Live) -> Result<(), BackendError> {
        let backend = self.remote();
        backend.block_on(backend.client().read_lookups(lookups, live))
    }
}

impl super::plan::PlanReads for Opened {
    fn pending_purchases(
        &self,
        customers: &[String],
    ) -> Result<Vec<LiveSubscription>, BackendError> {
        Opened::pending_purchases(self, customers)
    }

    fn lookups(&self, lookups: &Lookups, live: &mut Live) -> Result<(), BackendError> {
        let backend = self.remote();
        backend.block_on(backend.client().read_lookups(lookups, live))
    }
}

/// The requests `backend`'s client has sent so far, against the partner's budget,
/// and how the tenant was read.
fn cost_so_far(backend: &PartnerCenterBackend, cached: Option<&Cached>) -> ApiCost {
    let stats = backend.client().request_stats();
    ApiCost {
        read: cached.and_then(|cached| cached.report.clone()),
        ..ApiCost::new(stats.requests, stats.throttled)
    }
}

/// Indirect resellers an integration-sandbox provider may have (partner-center-api.md §6).
const SANDBOX_RESELLER_LIMIT: usize = 5;

/// Planning options for Partner Center: in production a reseller partnership is a
/// manual step; in the integration sandbox it is created through the API.
fn partner_center_plan_options(
    backend: &PartnerCenterBackend,
    config: &PartnerCenterConfig,
) -> PlanOptions {
    PlanOptions {
        backend: backend.describe(),
        sandbox: config.sandbox,
        simulate_hint: None,
        sandbox_reseller_limit: config.sandbox.then_some(SANDBOX_RESELLER_LIMIT),
        // Partner Center creates a sandbox reseller's tenant and its id.
        declared_reseller_tenants: false,
        now: None,
        renewal_horizon: None,
    }
}

/// A backend opened for apply, with the planning options that fit it.
pub struct Opened {
    backend: OpenedBackend,
    options: PlanOptions,
    remote: Option<RemoteSession>,
    /// Where the Partner Center snapshot is, the cache settings and the run's
    /// time, until the tenant is read; then the read's snapshot.
    snapshot: Option<(SnapshotPlace, CachePolicy, i64)>,
    cached: Option<Cached>,
}

enum OpenedBackend {
    Local(Box<LocalBackend>),
    PartnerCenter {
        backend: Box<PartnerCenterBackend>,
        /// The purchase journal's lock, held until the apply ends.
        _lock: StateLock,
    },
}

/// An apply's hold on remote state: the lock, the working copies, and what copies
/// them back.
struct RemoteSession {
    /// The local state's object and its working copy (local backend only).
    state: Option<(&'static str, PathBuf)>,
    mirror: RemoteJournal,
    // Dropped in this order: the copies, then the lock.
    _copy: WorkingCopy,
    _lock: RemoteLock,
}

impl Opened {
    pub fn plan_options(&self) -> &PlanOptions {
        &self.options
    }

    pub fn describe(&self) -> String {
        self.options.backend.clone()
    }

    pub fn is_local(&self) -> bool {
        matches!(self.backend, OpenedBackend::Local(..))
    }

    /// What this run has cost so far in Partner Center requests; `None` on the
    /// local backend.
    pub fn cost(&self) -> Option<ApiCost> {
        match &self.backend {
            OpenedBackend::Local(_) => None,
            OpenedBackend::PartnerCenter { backend, .. } => {
                Some(cost_so_far(backend, self.cached.as_ref()))
            }
        }
    }

    /// The local backend, for `cspctl local` (none against Partner Center).
    pub fn local_mut(&mut self) -> Option<&mut LocalBackend> {
        match &mut self.backend {
            OpenedBackend::Local(backend) => Some(backend),
            OpenedBackend::PartnerCenter { .. } => None,
        }
    }

    /// Subscriptions that orders still provisioning will create (see
    /// [`PendingReader`]).
    pub fn pending_purchases(
        &self,
        customers: &[String],
    ) -> Result<Vec<LiveSubscription>, BackendError> {
        let backend = self.remote();
        backend.block_on(backend.client().pending_purchases(customers))
    }

    /// The Partner Center client and its runtime (in process on the local state).
    fn remote(&self) -> &PartnerCenterBackend {
        match &self.backend {
            OpenedBackend::Local(backend) => backend.remote(),
            OpenedBackend::PartnerCenter { backend, .. } => backend,
        }
    }

    pub fn read_live(&mut self) -> Result<Live, BackendError> {
        self.read(None)
    }

    /// Only the customers in `scope` (and every reseller).
    pub fn read_live_scoped(&mut self, scope: &CustomerScope) -> Result<Live, BackendError> {
        self.read(Some(scope))
    }

    /// Partner Center through its snapshot ([`super::refresh`]); the local state
    /// as it is.
    fn read(&mut self, scope: Option<&CustomerScope>) -> Result<Live, BackendError> {
        match &mut self.backend {
            OpenedBackend::Local(backend) => Ok(backend.read_live_scoped(scope)),
            OpenedBackend::PartnerCenter { backend, .. } => {
                let Some((place, policy, now)) = self.snapshot.clone() else {
                    return backend.block_on(backend.client().read_live_scoped(scope));
                };
                let (live, cached) = super::refresh::read(backend, place, scope, policy, now)?;
                self.cached = Some(cached);
                Ok(live)
            }
        }
    }

    /// Reads the customers `plan` changes that the run took from the snapshot;
    /// `Some(view)`: one differed, plan again from `view` ([`Cached::verify`]).
    pub fn verify(&mut self, plan: &Plan) -> Result<Option<Live>, BackendError> {
        match (&self.backend, self.cached.as_mut()) {
            (OpenedBackend::PartnerCenter { backend, .. }, Some(cached)) => {
                cached.verify(backend, &plan.customers_changed())
            }
            _ => Ok(None),
        }
    }

    /// Writes the snapshot the run read (after a plan with nothing to apply).
    pub fn save_snapshot(&mut self) -> Result<(), BackendError> {
        self.cached.as_mut().map_or(Ok(()), Cached::save)
    }

    /// Settles the purchases an interrupted apply left open. One line each.
    pub fn settle(&mut self) -> Result<Vec<String>, BackendError> {
        let backend = self.remote();
        backend.block_on(backend.client().settle())
    }

    /// Executes `plan` concurrently; SIGINT and SIGTERM interrupt it (the first
    /// stops new actions, the second abandons the ones in flight).
    pub fn apply(
        &mut self,
        plan: &Plan,
        parallelism: usize,
        new_request_id: &mut dyn FnMut() -> String,
        observer: &mut dyn ApplyObserver,
    ) -> Result<ApplyReport, BackendError> {
        match &mut self.backend {
            OpenedBackend::Local(backend) => Ok(backend.block_on(run_interruptibly(
                plan,
                backend.executor(),
                None,
                parallelism,
                new_request_id,
                observer,
            ))),
            OpenedBackend::PartnerCenter { backend, .. } => {
                let client = Arc::new(backend.client().clone());
                let deadline = client.deadline();
                Ok(backend.block_on(run_interruptibly(
                    plan,
                    client,
                    deadline,
                    parallelism,
                    new_request_id,
                    observer,
                )))
            }
        }
    }

    /// Makes everything applied durable where the backend defers it: the local
    /// state file is compacted from its journal; the purchase journal drops what
    /// is settled. With remote state, the results are copied back in an order a
    /// killed run cannot make inconsistent (see [`crate::backend::remote`]).
    pub fn finish(&mut self) -> Result<(), BackendError> {
        if let Some(remote) = &self.remote {
            // Everything this run did, as journals, before the state changes.
            remote.mirror.push_blocking()?;
        }
        match &mut self.backend {
            OpenedBackend::Local(backend) => backend.finish()?,
            OpenedBackend::PartnerCenter { backend, .. } => backend.client().compact_journal()?,
        }
        if let Some(remote) = &self.remote {
            if let Some((name, path)) = &remote.state
                && path.exists()
            {
                remote.mirror.upload(name, path)?;
            }
            remote.mirror.push_blocking()?;
        }
        // The snapshot last: it is a cache, and nothing above may wait on it. A
        // failed re-read leaves the apply's changes for the next refresh to find.
        if let (OpenedBackend::PartnerCenter { backend, .. }, Some(cached), Some((_, _, now))) =
            (&self.backend, self.cached.as_mut(), &self.snapshot)
            && let Err(error) = cached.after_apply(backend, *now)
        {
            note!(
                "warning: the snapshot was not brought up to date after the apply ({error}); the next run finds the changes in the audit log"
            );
        }
        Ok(())
    }
}

/// Executes `plan` with SIGINT and SIGTERM forwarded as interruptions, starting
/// nothing after `deadline`.
async fn run_interruptibly<E: Executor>(
    plan: &Plan,
    executor: Arc<E>,
    deadline: Option<tokio::time::Instant>,
    parallelism: usize,
    new_request_id: &mut dyn FnMut() -> String,
    observer: &mut dyn ApplyObserver,
) -> ApplyReport {
    let (_subscription, interrupts) = super::signals::subscribe();
    let control = ApplyControl {
        parallelism,
        new_request_id,
        observer,
        interrupts,
        deadline,
    };
    execute_plan(plan, executor, control).await
}
