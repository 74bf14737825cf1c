//! The `partner-center` backend: Partner Center's REST API over reqwest (rustls).
//!
//! Layers, each in its own module:
//! - [`credentials`]: where the application's secrets come from;
//! - [`ids`]: `MS-RequestId` values derived from a purchase's intent, or per step
//!   of an operation;
//! - [`wire`]: Partner Center's JSON (lenient reading, request bodies), no I/O;
//! - [`http`]: tokens, headers, retries and error mapping;
//! - [`deadline`]: the run's deadline (`--timeout`), which bounds them all;
//! - [`throttle`]: client-side pacing per partner and per customer, adapted to 429s;
//! - [`transport`]: HTTP, or a server in this process (the local backend);
//! - `read`: the live snapshot; `execute`: plan operations.
//!
//! [`PartnerCenterClient`] is the async core: cheap to clone and shareable
//! between tasks, so a concurrent executor can drive it. [`PartnerCenterBackend`]
//! is the synchronous [`Backend`] the CLI uses: it owns a tokio runtime and
//! blocks on the core. The wire contract is `docs/simulator.md`.

pub mod audit;
pub mod credentials;
pub mod deadline;
mod execute;
pub mod http;
pub mod ids;
pub mod journal;
mod read;
pub mod throttle;
pub mod transport;
pub mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

pub use self::credentials::{Credentials, Secret};
use self::deadline::Deadline;
pub use self::http::DEFAULT_MAX_RESPONSE_BYTES;
use self::http::{HttpClient, check_url};
pub use self::http::{RequestStats, RetryPolicy};
use self::journal::PurchaseJournal;
pub use self::throttle::ThrottleTuning;
use self::transport::InProcessServer;
use super::{Backend, BackendError, Outcome};
use crate::apply::{Executor, OperationFuture};
use crate::live::Live;
use crate::plan::Operation;

/// Partner Center's public endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://api.partnercenter.microsoft.com";
/// Entra ID's authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// Where and how to talk to Partner Center.
#[derive(Clone, Debug)]
pub struct PartnerCenterConfig {
    pub endpoint: String,
    pub authority: String,
    pub sandbox: bool,
    pub credentials: Credentials,
    /// Concurrent requests while reading the snapshot.
    pub read_concurrency: usize,
    /// How long to wait for a purchase to be provisioned.
    pub provisioning_timeout: Duration,
    /// How long the whole run may take (`--timeout`), from the client's creation;
    /// `None` is no limit.
    pub timeout: Option<Duration>,
    /// The largest response body read (`--max-response-bytes`).
    pub max_response_bytes: usize,
}

/// Timing knobs that are not configuration a user sets (tests shorten them).
#[derive(Clone, Debug)]
pub struct Tuning {
    pub retry: RetryPolicy,
    /// First wait between provisioning polls; doubled up to `poll_cap`.
    pub poll_initial: Duration,
    pub poll_cap: Duration,
    /// Concurrent support-contact reads per customer, within `read_concurrency`.
    pub per_customer_concurrency: usize,
    /// How long a listed customer that answers 404 (read-after-create lag) is waited
    /// for before the read fails.
    pub read_after_create_wait: Duration,
    /// How requests are paced under Partner Center's rate limits.
    pub throttle: ThrottleTuning,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            retry: RetryPolicy::default(),
            poll_initial: Duration::from_secs(2),
            poll_cap: Duration::from_secs(30),
            per_customer_concurrency: 4,
            read_after_create_wait: Duration::from_secs(120),
            throttle: ThrottleTuning::default(),
        }
    }
}

/// The async core: reads snapshots and executes operations. Clones share the
/// HTTP client, the token and the cached lookups.
#[derive(Clone, Debug)]
pub struct PartnerCenterClient {
    http: HttpClient,
    sandbox: bool,
    read_concurrency: usize,
    provisioning_timeout: Duration,
    tuning: Tuning,
    /// The Microsoft Customer Agreement template id (asked once per run).
    mca_template: Arc<OnceCell<String>>,
    /// The provider's own `(mpnId, name)` (asked once per run).
    provider_profile: Arc<OnceCell<(String, String)>>,
    /// Where purchases are journaled (apply only; a plan buys nothing).
    journal: Option<Arc<JournalHandle>>,
}

/// The purchase journal and the time its records are stamped with.
#[derive(Debug)]
struct JournalHandle {
    journal: PurchaseJournal,
    /// This run's clock (RFC 3339), injected like the local backend's.
    now: String,
}

impl PartnerCenterClient {
    /// A client with default timings.
    pub fn new(config: PartnerCenterConfig) -> Result<Self, BackendError> {
        PartnerCenterClient::with_tuning(config, Tuning::default())
    }

    /// A client with explicit timings. Checks both URLs: credentials never go over
    /// plain http except to a loopback host.
    pub fn with_tuning(
        config: PartnerCenterConfig,
        mut tuning: Tuning,
    ) -> Result<Self, BackendError> {
        // Checked here too (HttpClient checks again) so the error names the URL
        // before any other setup.
        check_url("Partner Center endpoint", &config.endpoint)?;
        check_url("Entra ID authority", &config.authority)?;
        tuning.retry.deadline = Deadline::after(config.timeout);
        tuning.retry.max_response_bytes = config.max_response_bytes;
        let http = HttpClient::new(
            &config.endpoint,
            &config.authority,
            config.credentials,
            tuning.retry.clone(),
            tuning.throttle,
        )?;
        Ok(PartnerCenterClient {
            http,
            sandbox: config.sandbox,
            read_concurrency: config.read_concurrency.max(1),
            provisioning_timeout: config.provisioning_timeout,
            tuning,
            mca_template: Arc::new(OnceCell::new()),
            provider_profile: Arc::new(OnceCell::new()),
            journal: None,
        })
    }

    /// A client of a Partner Center served in this process (the local backend): the
    /// same operations, retries, request ids and purchase journal as over HTTP, with
    /// no token and no sockets. `describe_as` is what [`PartnerCenterClient::describe`]
    /// says; `credentials` name the provider and hold no secret.
    pub fn in_process(
        server: Arc<dyn InProcessServer>,
        describe_as: &str,
        credentials: Credentials,
        sandbox: bool,
        tuning: Tuning,
    ) -> Self {
        let http = HttpClient::in_process(
            server,
            describe_as,
            credentials,
            tuning.retry.clone(),
            tuning.throttle,
        );
        PartnerCenterClient {
            http,
            sandbox,
            read_concurrency: 1,
            // A frozen clock provisions an order on the next request, so a purchase
            // that is still not provisioned after this long never will be.
            provisioning_timeout: Duration::from_secs(60),
            tuning,
            mca_template: Arc::new(OnceCell::new()),
            provider_profile: Arc::new(OnceCell::new()),
            journal: None,
        }
    }

    /// When the run must stop (`--timeout`), if ever: an apply starts nothing new
    /// after it.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.http.policy().deadline.at()
    }

    /// Journals every purchase in `journal` before sending it, stamped `now`.
    pub fn with_journal(mut self, journal: PurchaseJournal, now: String) -> Self {
        self.journal = Some(Arc::new(JournalHandle { journal, now }));
        self
    }

    /// `partner-center:<endpoint>#<tenantId>`, plus ` (sandbox)`; in process, what
    /// the server was described as.
    pub fn describe(&self) -> String {
        if self.http.is_in_process() {
            return self.http.endpoint().to_owned();
        }
        format!(
            "partner-center:{}#{}{}",
            self.http.endpoint(),
            self.http.credentials().tenant_id,
            if self.sandbox { " (sandbox)" } else { "" }
        )
    }

    /// The purchase journal, when this client keeps one (apply).
    pub fn purchase_journal(&self) -> Option<&PurchaseJournal> {
        self.journal.as_ref().map(|handle| &handle.journal)
    }

    /// Drops settled purchases from the journal (removing it when none is open).
    pub fn compact_journal(&self) -> Result<(), BackendError> {
        match &self.journal {
            Some(handle) => handle.journal.compact(),
            None => Ok(()),
        }
    }

    /// Starts reading the server's clock afresh (see [`PartnerCenterClient::server_time`]).
    pub fn mark_server_time(&self) {
        self.http.mark_server_time();
    }

    /// The earliest server time (`Date`) answered since the last
    /// [`PartnerCenterClient::mark_server_time`]: nothing read since saw the
    /// tenant before it.
    pub fn server_time(&self) -> Option<i64> {
        self.http.server_time_since_mark()
    }

    /// API requests sent so far (each attempt, token requests excluded) and how many
    /// were answered 429, over this client and its clones.
    pub fn request_stats(&self) -> RequestStats {
        self.http.stats()
    }
}

/// The backend.
pub struct PartnerCenterBackend {
    client: PartnerCenterClient,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for PartnerCenterBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerCenterBackend")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl PartnerCenterBackend {
    pub fn new(config: PartnerCenterConfig) -> Result<PartnerCenterBackend, BackendError> {
        PartnerCenterBackend::with_tuning(config, Tuning::default())
    }

    /// A backend driving `client` on a runtime of its own with `threads` workers;
    /// `0` runs everything on the calling thread, so that tasks take turns in the
    /// same order on every run (the local backend: its ids are given in that order).
    pub fn from_client(
        client: PartnerCenterClient,
        threads: usize,
    ) -> Result<PartnerCenterBackend, BackendError> {
        let mut builder = if threads == 0 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads).thread_name("cspctl-pc");
            builder
        };
        let runtime = builder
            .enable_all()
            .build()
            .map_err(|e| BackendError::State(format!("cannot start the async runtime: {e}")))?;
        Ok(PartnerCenterBackend { client, runtime })
    }

    /// As [`PartnerCenterBackend::new`], with explicit timings.
    pub fn with_tuning(
        config: PartnerCenterConfig,
        tuning: Tuning,
    ) -> Result<PartnerCenterBackend, BackendError> {
        let threads = config.read_concurrency.clamp(1, 4);
        PartnerCenterBackend::from_client(
            PartnerCenterClient::with_tuning(config, tuning)?,
            threads,
        )
    }
}

impl PartnerCenterBackend {
    /// The async core, to drive it concurrently on [`PartnerCenterBackend::block_on`].
    pub fn client(&self) -> &PartnerCenterClient {
        &self.client
    }

    /// Runs a future on this backend's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Journals every purchase (see [`PartnerCenterClient::with_journal`]).
    pub fn with_journal(self, journal: PurchaseJournal, now: String) -> Self {
        PartnerCenterBackend {
            client: self.client.with_journal(journal, now),
            runtime: self.runtime,
        }
    }
}

impl Executor for PartnerCenterClient {
    fn start(self: Arc<Self>, operation: Operation, request_id: String) -> OperationFuture {
        Box::pin(async move { self.execute(&operation, &request_id).await })
    }
}

impl Backend for PartnerCenterBackend {
    fn describe(&self) -> String {
        self.client.describe()
    }
    fn read_live(&mut self) -> Result<Live, BackendError> {
        self.runtime.block_on(self.client.read_live())
    }
    fn execute(
        &mut self,
        operation: &Operation,
        request_id: &str,
    ) -> Result<Outcome, BackendError> {
        self.runtime
            .block_on(self.client.execute(operation, request_id))
    }
}
