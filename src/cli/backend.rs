//! Backend selection shared by the commands that read or change live state: the
//! flags (`--backend`, `--state`, `--endpoint`, ...), their validation, and opening
//! the chosen backend for reading (plan) or for changing (apply).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use crate::apply::{ApplyControl, ApplyObserver, ApplyReport, Executor, execute_plan};
use crate::backend::local::{DEFAULT_STATE_PATH, LocalBackend, StateLock};
use crate::backend::partner_center::deadline::parse_duration;
use crate::backend::partner_center::journal::{PurchaseJournal, default_journal_path, read_open};
use crate::backend::partner_center::{
    Credentials, DEFAULT_AUTHORITY, DEFAULT_ENDPOINT, DEFAULT_MAX_RESPONSE_BYTES,
    PartnerCenterBackend, PartnerCenterConfig,
};
use crate::backend::{Backend, BackendError};
use crate::live::{CustomerScope, Live, LiveSubscription};
use crate::plan::{Plan, PlanOptions};

use super::Settings;

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

/// The resolved choice.
#[derive(Clone, Debug)]
pub enum BackendChoice {
    Local(PathBuf),
    /// The API, and the purchase journal's path.
    PartnerCenter(PartnerCenterConfig, PathBuf),
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
        match self.backend {
            BackendKind::Local => {
                let stray = [
                    (self.endpoint.is_some(), "--endpoint"),
                    (self.authority.is_some(), "--authority"),
                    (self.sandbox, "--sandbox"),
                    (self.credentials.is_some(), "--credentials"),
                    (self.journal.is_some(), "--journal"),
                ];
                if let Some((_, flag)) = stray.iter().find(|(set, _)| *set) {
                    bail!(
                        "{flag} is for the partner-center backend; add --backend partner-center (the local backend reads --state)"
                    );
                }
                Ok(BackendChoice::Local(
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
                    .or_else(|| env("CSPCTL_PC_JOURNAL").map(PathBuf::from))
                    .unwrap_or_else(|| default_journal_path(&credentials.tenant_id));
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
                Ok(BackendChoice::PartnerCenter(config, journal))
            }
        }
    }
}

impl BackendChoice {
    /// Reads the live snapshot without taking any lock (every local write is an
    /// atomic rename, so a reader sees a whole state file), with the planning
    /// options that fit the backend.
    pub fn read_live(
        &self,
        settings: &Settings,
    ) -> anyhow::Result<(Live, PlanOptions, PendingReader)> {
        self.read_live_scoped(settings, None)
    }

    /// As [`BackendChoice::read_live`], only the customers in `scope` (and every
    /// reseller) when there is one.
    pub fn read_live_scoped(
        &self,
        settings: &Settings,
        scope: Option<&CustomerScope>,
    ) -> anyhow::Result<(Live, PlanOptions, PendingReader)> {
        match self {
            BackendChoice::Local(path) => {
                let backend = LocalBackend::open(path.clone(), settings.now.clone(), None)?;
                let live = backend.read_live_scoped(scope);
                Ok((
                    live,
                    local_plan_options(path),
                    PendingReader::Local(Box::new(backend)),
                ))
            }
            BackendChoice::PartnerCenter(config, journal) => {
                let open = read_open(journal)?;
                if !open.is_empty() {
                    note!(
                        "warning: {} purchase(s) left open by an interrupted apply are in {}; the next apply settles them before it plans anything new, so this plan may still list them",
                        open.len(),
                        journal.display()
                    );
                }
                let backend = PartnerCenterBackend::new(config.clone())?;
                let live = backend.block_on(backend.client().read_live_scoped(scope))?;
                let options = partner_center_plan_options(&backend, config);
                Ok((
                    live,
                    options,
                    PendingReader::PartnerCenter(Box::new(backend)),
                ))
            }
        }
    }

    /// Opens the backend to change it: takes the lock of the local state, or of
    /// the purchase journal, so a second apply against the same state waits (up to
    /// `lock_timeout`) and then fails clearly.
    pub fn open(&self, settings: &Settings, lock_timeout: Duration) -> anyhow::Result<Opened> {
        Ok(match self {
            BackendChoice::Local(path) => Opened::Local(
                Box::new(LocalBackend::open(
                    path.clone(),
                    settings.now.clone(),
                    Some(lock_timeout),
                )?),
                local_plan_options(path),
            ),
            BackendChoice::PartnerCenter(config, journal) => {
                let lock = StateLock::acquire(journal, lock_timeout)?;
                let backend = PartnerCenterBackend::new(config.clone())?.with_journal(
                    PurchaseJournal::open(journal.clone())?,
                    settings.now.clone(),
                );
                let options = partner_center_plan_options(&backend, config);
                Opened::PartnerCenter {
                    backend: Box::new(backend),
                    options,
                    _lock: lock,
                }
            }
        })
    }
}

/// What `plan` keeps of the backend after reading: the means to read orders still
/// provisioning, when the plan buys something.
pub enum PendingReader {
    Local(Box<LocalBackend>),
    PartnerCenter(Box<PartnerCenterBackend>),
}

impl PendingReader {
    pub fn pending_purchases(
        &self,
        customers: &[String],
    ) -> Result<Vec<LiveSubscription>, BackendError> {
        let backend = match self {
            PendingReader::Local(backend) => backend.remote(),
            PendingReader::PartnerCenter(backend) => backend,
        };
        backend.block_on(backend.client().pending_purchases(customers))
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
    }
}

/// Planning options for the local backend (integration-sandbox semantics).
fn local_plan_options(state: &Path) -> PlanOptions {
    PlanOptions {
        backend: LocalBackend::describe_path(state),
        sandbox: true,
        simulate_hint: Some(format!(
            "To simulate the acceptance locally: cspctl local accept-relationship --state {} --customer {{customer}} --reseller {{reseller}}",
            state.display()
        )),
        // The local tenant does not enforce sandbox quotas, so realistic manifests can
        // be rehearsed (README, "The local state").
        sandbox_reseller_limit: None,
        // The local tenant takes a declared tenant id, so rehearsals need no
        // `sandboxTenant`.
        declared_reseller_tenants: true,
    }
}

/// A backend opened for apply, with the planning options that fit it.
pub enum Opened {
    Local(Box<LocalBackend>, PlanOptions),
    PartnerCenter {
        backend: Box<PartnerCenterBackend>,
        options: PlanOptions,
        /// The purchase journal's lock, held until the apply ends.
        _lock: StateLock,
    },
}

impl Opened {
    pub fn plan_options(&self) -> &PlanOptions {
        match self {
            Opened::Local(_, options) | Opened::PartnerCenter { options, .. } => options,
        }
    }

    pub fn describe(&self) -> String {
        self.plan_options().backend.clone()
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Opened::Local(..))
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
        match self {
            Opened::Local(backend, _) => backend.remote(),
            Opened::PartnerCenter { backend, .. } => backend,
        }
    }

    pub fn read_live(&mut self) -> Result<Live, BackendError> {
        match self {
            Opened::Local(backend, _) => backend.read_live(),
            Opened::PartnerCenter { backend, .. } => backend.read_live(),
        }
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
        match self {
            Opened::Local(backend, _) => Ok(backend.block_on(run_interruptibly(
                plan,
                backend.executor(),
                None,
                parallelism,
                new_request_id,
                observer,
            ))),
            Opened::PartnerCenter { backend, .. } => {
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
    /// is settled.
    pub fn finish(&mut self) -> Result<(), BackendError> {
        match self {
            Opened::Local(backend, _) => backend.finish(),
            Opened::PartnerCenter { backend, .. } => backend.client().compact_journal(),
        }
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
