//! Backend selection shared by the commands that read or change live state: the
//! flags (`--backend`, `--state`, `--endpoint`, ...), their validation, and opening
//! the chosen backend for reading (plan) or for changing (apply).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;

use crate::backend::local::{DEFAULT_STATE_PATH, LocalBackend};
use crate::backend::partner_center::{
    Credentials, DEFAULT_AUTHORITY, DEFAULT_ENDPOINT, PartnerCenterBackend, PartnerCenterConfig,
};
use crate::backend::{Backend, BackendError};
use crate::live::Live;
use crate::plan::PlanOptions;

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
}

/// The resolved choice.
#[derive(Clone, Debug)]
pub enum BackendChoice {
    Local(PathBuf),
    PartnerCenter(PartnerCenterConfig),
}

impl BackendArgs {
    /// Checks the flags fit the backend and reads the credentials.
    pub fn resolve(&self) -> anyhow::Result<BackendChoice> {
        match self.backend {
            BackendKind::Local => {
                let stray = [
                    (self.endpoint.is_some(), "--endpoint"),
                    (self.authority.is_some(), "--authority"),
                    (self.sandbox, "--sandbox"),
                    (self.credentials.is_some(), "--credentials"),
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
                Ok(BackendChoice::PartnerCenter(PartnerCenterConfig {
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
                }))
            }
        }
    }
}

impl BackendChoice {
    /// Reads the live snapshot without taking any lock (every local write is an
    /// atomic rename, so a reader sees a whole state file), with the planning
    /// options that fit the backend.
    pub fn read_live(&self, settings: &Settings) -> anyhow::Result<(Live, PlanOptions)> {
        match self {
            BackendChoice::Local(path) => Ok((
                LocalBackend::read_live(path, &settings.now)?,
                local_plan_options(path),
            )),
            BackendChoice::PartnerCenter(config) => {
                let mut backend = PartnerCenterBackend::new(config.clone())?;
                let live = backend.read_live()?;
                Ok((live, partner_center_plan_options(&backend, config)))
            }
        }
    }

    /// Opens the backend to change it (the local one takes the state lock).
    pub fn open(&self, settings: &Settings, lock_timeout: Duration) -> anyhow::Result<Opened> {
        Ok(match self {
            BackendChoice::Local(path) => Opened::Local(
                LocalBackend::open(path.clone(), settings.now.clone(), Some(lock_timeout))?,
                local_plan_options(path),
            ),
            BackendChoice::PartnerCenter(config) => {
                let backend = PartnerCenterBackend::new(config.clone())?;
                let options = partner_center_plan_options(&backend, config);
                Opened::PartnerCenter(backend, options)
            }
        })
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
    }
}

/// A backend opened for apply, with the planning options that fit it.
pub enum Opened {
    Local(LocalBackend, PlanOptions),
    PartnerCenter(PartnerCenterBackend, PlanOptions),
}

impl Opened {
    pub fn backend(&mut self) -> &mut dyn Backend {
        match self {
            Opened::Local(backend, _) => backend,
            Opened::PartnerCenter(backend, _) => backend,
        }
    }

    pub fn plan_options(&self) -> &PlanOptions {
        match self {
            Opened::Local(_, options) | Opened::PartnerCenter(_, options) => options,
        }
    }

    /// Makes everything applied durable where the backend defers it (the local
    /// state file is compacted from its journal); Partner Center has nothing to do.
    pub fn finish(&mut self) -> Result<(), BackendError> {
        match self {
            Opened::Local(backend, _) => backend.finish(),
            Opened::PartnerCenter(..) => Ok(()),
        }
    }
}
