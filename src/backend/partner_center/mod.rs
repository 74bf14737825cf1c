//! The `partner-center` backend: Partner Center's REST API over reqwest (rustls).
//! (Interface placeholder; being written.)

use std::path::Path;
use std::time::Duration;

use super::{Backend, BackendError, Outcome};
use crate::live::Live;
use crate::plan::Operation;

/// Partner Center's public endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://api.partnercenter.microsoft.com";
/// Entra ID's authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// A secret string: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The application's credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Present: App+User (Secure Application Model); absent: app-only.
    pub refresh_token: Option<Secret>,
}

impl Credentials {
    /// From `CSPCTL_PC_TENANT_ID`, `CSPCTL_PC_CLIENT_ID`, `CSPCTL_PC_CLIENT_SECRET`,
    /// `CSPCTL_PC_REFRESH_TOKEN`.
    pub fn from_env() -> Result<Credentials, BackendError> {
        unimplemented!()
    }
    /// From a JSON file only its owner can read.
    pub fn from_file(_path: &Path) -> Result<Credentials, BackendError> {
        unimplemented!()
    }
}

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
}

/// The backend.
pub struct PartnerCenterBackend {}

impl PartnerCenterBackend {
    pub fn new(_config: PartnerCenterConfig) -> Result<PartnerCenterBackend, BackendError> {
        unimplemented!()
    }
}

impl Backend for PartnerCenterBackend {
    fn describe(&self) -> String {
        unimplemented!()
    }
    fn read_live(&mut self) -> Result<Live, BackendError> {
        unimplemented!()
    }
    fn execute(&mut self, _operation: &Operation, _request_id: &str) -> Result<Outcome, BackendError> {
        unimplemented!()
    }
}
