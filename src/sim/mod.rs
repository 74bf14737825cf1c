//! The Partner Center simulator (`cspctl sim serve`): an HTTP server speaking the part
//! of Partner Center's REST API cspctl uses, with Entra ID's token endpoint beside it.
//! The wire contract and every choice made where the documentation is silent are in
//! `docs/simulator.md`.
//!
//! Layout: [`state`] holds the data and the business rules (pure, clock injected);
//! [`auth`] the token endpoint and bearer check; [`faults`] injected failures and
//! the documented answer-shape variants;
//! [`audit`] the audit log behind `GET /v1/auditrecords`; [`clock`] the simulated clock; [`input`] lenient JSON input; [`http`] the server.
//! This module wires them: configuration, [`serve`] and the threaded [`spawn`].
//!
//! It must never call the planner, validation or the local backend: it is an
//! independent reading of the documentation so that each side catches the other's
//! mistakes.

pub mod audit;
pub mod auth;
pub mod clock;
mod cut;
pub mod faults;
pub mod http;
pub mod input;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;

pub use faults::Faults;
pub use state::{Seed, State};

/// How long shutdown waits for open connections before it stops regardless.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Everything the simulator is configured with.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The provider's Entra tenant id (also the token endpoint's tenant).
    pub partner_tenant_id: String,
    /// The provider's MPN id.
    pub partner_mpn_id: String,
    /// The provider's name (the default support contact's name).
    pub partner_name: String,
    pub client_id: String,
    pub client_secret: String,
    /// The refresh token accepted from the start (each use returns a new one too).
    pub refresh_token: String,
    /// Time from order creation to `completed` (simulated clock).
    pub provisioning_delay: Duration,
    /// Time before a new order shows in the order list (simulated clock).
    pub order_list_lag: Duration,
    pub faults: Faults,
    /// Simulated start time, RFC 3339 UTC.
    pub start_time: String,
    /// Do not add real elapsed time to the simulated clock.
    pub frozen_clock: bool,
    /// Integration-sandbox behaviour instead of production.
    pub sandbox: bool,
    /// The sandbox's quota of indirect resellers (Partner Center's 5 by default;
    /// `None`: no quota, to rehearse realistic manifests).
    pub sandbox_reseller_limit: Option<usize>,
    /// State file (idempotency cache included): loaded at start if present, written
    /// after each committed change or cached answer.
    pub state_path: Option<PathBuf>,
    /// Preloaded world, used when no state file exists yet.
    pub seed: Option<Seed>,
    /// Seed of the id generator.
    pub id_seed: u64,
}

/// The provider the simulator plays unless told otherwise, and the credentials its
/// token endpoint accepts (documented in the README and docs/simulator.md).
pub const DEFAULT_PARTNER_TENANT_ID: &str = "d2c6a5f0-6b1e-4c1a-9f3e-5b7d2a9c0e11";
pub const DEFAULT_PARTNER_MPN_ID: &str = "1000001";
pub const DEFAULT_PARTNER_NAME: &str = "Simulated Indirect Provider";
pub const DEFAULT_CLIENT_ID: &str = "cspctl-sim";
pub const DEFAULT_CLIENT_SECRET: &str = "sim-secret";
pub const DEFAULT_REFRESH_TOKEN: &str = "sim-refresh-token";
/// Seconds from order creation to completion, and before an order is listed.
pub const DEFAULT_PROVISIONING_DELAY_SECONDS: u64 = 2;
pub const DEFAULT_ORDER_LIST_LAG_SECONDS: u64 = 5;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            partner_tenant_id: DEFAULT_PARTNER_TENANT_ID.to_owned(),
            partner_mpn_id: DEFAULT_PARTNER_MPN_ID.to_owned(),
            partner_name: DEFAULT_PARTNER_NAME.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            refresh_token: DEFAULT_REFRESH_TOKEN.to_owned(),
            provisioning_delay: Duration::from_secs(DEFAULT_PROVISIONING_DELAY_SECONDS),
            order_list_lag: Duration::from_secs(DEFAULT_ORDER_LIST_LAG_SECONDS),
            faults: Faults::default(),
            start_time: "2026-01-01T00:00:00Z".to_owned(),
            frozen_clock: false,
            sandbox: false,
            sandbox_reseller_limit: Some(state::SANDBOX_RESELLER_LIMIT),
            state_path: None,
            seed: None,
            id_seed: 0x00C5_9C71,
        }
    }
}

/// Builds the shared server state from the configuration (loads the state file or
/// applies the seed).
fn build(config: &SimConfig) -> anyhow::Result<Arc<http::Shared>> {
    let start = clock::parse_rfc3339(&config.start_time).with_context(|| {
        format!(
            "start time `{}` is not RFC 3339 UTC (e.g. 2026-01-31T12:00:00Z)",
            config.start_time
        )
    })?;
    config
        .faults
        .check()
        .map_err(anyhow::Error::msg)
        .context("invalid fault options")?;
    let partner = state::Partner {
        tenant_id: config.partner_tenant_id.clone(),
        mpn_id: config.partner_mpn_id.clone(),
        name: config.partner_name.clone(),
    };
    let existing = match &config.state_path {
        Some(path) if path.exists() => {
            let text =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let loaded: State = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not a simulator state file", path.display()))?;
            Some(loaded)
        }
        _ => None,
    };
    let world = match existing {
        Some(mut loaded) => {
            // The command line wins over the file for who the provider is and the mode.
            loaded.partner = partner;
            loaded.sandbox = config.sandbox;
            loaded.sandbox_reseller_limit = config.sandbox_reseller_limit;
            loaded
        }
        None => {
            let mut fresh = State::new(partner, config.sandbox, config.id_seed);
            fresh.sandbox_reseller_limit = config.sandbox_reseller_limit;
            if let Some(seed) = config.seed.clone() {
                fresh
                    .apply_seed(seed, start)
                    .map_err(anyhow::Error::msg)
                    .context("invalid seed")?;
            }
            fresh
        }
    };
    let sim_clock = clock::SimClock::new(start, world.clock_offset_seconds, config.frozen_clock);
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4);
    let shared = Arc::new(http::Shared {
        settings: http::Settings {
            credentials: auth::Credentials {
                tenant_id: config.partner_tenant_id.clone(),
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone(),
                refresh_token: config.refresh_token.clone(),
            },
            provisioning_delay_seconds: secs(config.provisioning_delay),
            order_list_lag_seconds: secs(config.order_list_lag),
            state_path: config.state_path.clone(),
        },
        inner: Mutex::new({
            let mut inner = http::Inner::new(world, sim_clock, config.faults.clone());
            inner.replay_limit = Some(SERVED_REPLAY_LIMIT);
            inner
        }),
    });
    {
        let mut inner = shared.lock();
        shared.persist(&mut inner);
    }
    Ok(shared)
}

/// Cached answers a served simulator keeps, besides its 24-hour expiry (see
/// [`State::remember`]): a client retrying with the same request id is answered
/// the same for its last 65,536 changes, and memory stays bounded however many
/// requests a long-running `sim serve` takes within a day.
pub const SERVED_REPLAY_LIMIT: usize = 65_536;

/// Cached answers an in-process simulator keeps (see [`State::remember`]).
pub const IN_PROCESS_REPLAY_LIMIT: usize = 16_384;

/// Audit records an in-process simulator keeps (the local backend's state file):
/// enough for the recent changes a rehearsal looks at, bounded so a large apply
/// does not grow the state file by a copy of every object it changed.
pub const IN_PROCESS_AUDIT_LIMIT: usize = 4_096;

/// A simulator to call in process ([`http::Shared::call_direct`]): `state` on a
/// clock frozen at `now` (unix seconds), orders provisioned on the next request (a
/// frozen clock would never reach a delay), no faults, no state file (the caller
/// keeps the state durable).
pub fn in_process(state: State, now: i64) -> http::Shared {
    let tenant_id = state.partner.tenant_id.clone();
    let mut inner = http::Inner::new(state, clock::SimClock::new(now, 0, true), Faults::default());
    // Enough for every request of the actions in flight to be answered again after
    // a crash (a few per action, 64 actions at once by default), bounded whatever
    // the size of the apply.
    inner.replay_limit = Some(IN_PROCESS_REPLAY_LIMIT);
    inner.audit_limit = IN_PROCESS_AUDIT_LIMIT;
    http::Shared {
        settings: http::Settings {
            // Never asked for: in-process callers present no token.
            credentials: auth::Credentials {
                tenant_id,
                client_id: String::new(),
                client_secret: String::new(),
                refresh_token: String::new(),
            },
            provisioning_delay_seconds: 0,
            order_list_lag_seconds: 0,
            state_path: None,
        },
        inner: Mutex::new(inner),
    }
}

/// Serves until `shutdown` completes, then writes the state file.
pub async fn serve(
    config: SimConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_shared(build(&config)?, listener, shutdown).await
}

/// Serves an already built simulator.
async fn serve_shared(
    shared: Arc<http::Shared>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = axum::Router::new()
        .fallback(http::handle)
        .with_state(Arc::clone(&shared));
    // Graceful shutdown waits for open connections, and a client's keep-alive pool
    // may hold one forever; give in-flight requests a grace period, then stop anyway.
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = stopping_tx.send(());
    };
    // Connections can be cut by the handler (the dropped-answer fault).
    let server = std::future::IntoFuture::into_future(
        axum::serve(
            cut::CutListener(listener),
            app.into_make_service_with_connect_info::<cut::Cut>(),
        )
        .with_graceful_shutdown(signal),
    );
    let grace = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result.context("the simulator's server failed")?,
        () = grace => {}
    }
    let mut inner = shared.lock();
    shared.persist(&mut inner);
    Ok(())
}

/// A simulator running on its own thread; stopping (or dropping) it shuts it down.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, the base of every URL (API under `/v1`, tokens under
    /// `/{tenant}/oauth2/token`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Binds `listen`, starts the simulator on its own thread and runtime, and returns
/// once it is listening.
pub fn spawn(config: SimConfig, listen: SocketAddr) -> anyhow::Result<SimHandle> {
    let std_listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    std_listener
        .set_nonblocking(true)
        .context("making the listener non-blocking")?;
    let addr = std_listener
        .local_addr()
        .context("reading the bound address")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the simulator's runtime")?;
    // Build (load state, apply seed) before returning so configuration errors surface
    // here rather than on the server thread.
    let shared = build(&config)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
    let thread = std::thread::Builder::new()
        .name("cspctl-sim".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let shutdown = async move {
                    let _ = stop_rx.await;
                };
                if let Err(e) = serve_shared(shared, listener, shutdown).await {
                    crate::diagnostic::warn(format_args!("simulator stopped: {e:#}"));
                }
            });
        })
        .context("starting the simulator's thread")?;
    ready_rx
        .recv()
        .context("the simulator's thread ended before listening")??;
    Ok(SimHandle {
        addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}
