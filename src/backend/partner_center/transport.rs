//! Where the client's requests go: over HTTP (Partner Center, `cspctl sim serve`) or
//! to a server in the same process (the local backend's simulated tenant).
//!
//! Everything above this seam — tokens aside — is the same code for both: request
//! ids, retries, the throttle, error mapping, the purchase journal, the operations.
//! The in-process side receives the body as a JSON value and answers with one, so a
//! call costs neither sockets nor JSON text; the client still reads the answer the
//! way it reads Partner Center's (keys normalized, fields optional).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use reqwest::Method;
use serde_json::Value;

use crate::backend::BackendError;

/// A request handed to an [`InProcessServer`].
#[derive(Debug)]
pub struct InProcessRequest<'a> {
    pub method: Method,
    /// Path from the root with its query, e.g. `/v1/customers?size=500`.
    pub path: &'a str,
    /// `MS-RequestId`, `MS-CorrelationId`, `If-Match`, …
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

/// An [`InProcessServer`]'s answer.
#[derive(Debug)]
pub struct InProcessResponse {
    pub status: u16,
    /// Headers beyond the standard ones (`Location`, `Retry-After`, …).
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

/// The answer of an in-process call, once it is durable where the server keeps
/// its state.
pub type InProcessFuture<'a> =
    Pin<Box<dyn Future<Output = Result<InProcessResponse, BackendError>> + Send + 'a>>;

/// A Partner Center served in this process. An `Err` is final (the server can no
/// longer keep what it is asked to do, e.g. its journal cannot be written): the
/// client does not retry it, unlike a transport failure over HTTP.
pub trait InProcessServer: Send + Sync + 'static {
    fn call<'a>(&'a self, request: InProcessRequest<'a>) -> InProcessFuture<'a>;
}

/// How the client reaches Partner Center.
#[derive(Clone)]
pub enum Transport {
    Http(reqwest::Client),
    InProcess(Arc<dyn InProcessServer>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Http(_) => f.write_str("Http"),
            Transport::InProcess(_) => f.write_str("InProcess"),
        }
    }
}
