//! Backends: where the live snapshot comes from and where plan operations go.
//!
//! A backend is deliberately small: read the snapshot, execute one operation. It
//! decides nothing about *what* to change (that is the planner's job) but it does
//! enforce the rules of the system it stands for: the local tenant answers a
//! request that breaks a Partner Center rule with Partner Center's error code.

pub mod local;
pub mod partner_center;

use thiserror::Error;

use crate::live::Live;
use crate::plan::Operation;

/// What an executed operation produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The id of the object the operation created (customer or subscription), so
    /// later operations that refer to it by address can be resolved.
    pub created_id: Option<String>,
}

/// A failed backend call.
#[derive(Debug, Error)]
pub enum BackendError {
    /// Partner Center (or the local tenant standing in for it) refused the request.
    #[error("{request}: HTTP {status}, Partner Center error {code}: {description}")]
    Api {
        /// Method and path, e.g. `POST /v1/customers`.
        request: String,
        status: u16,
        code: u32,
        description: String,
    },
    /// The state could not be read or written.
    #[error("{0}")]
    State(String),
    /// Another cspctl holds the state lock.
    #[error("{0}")]
    Locked(String),
    /// The operation refers to an object that no earlier action produced.
    #[error("{0}")]
    Unresolved(String),
}

/// The two things every backend does.
pub trait Backend {
    /// A short description used in plans, e.g. `local:.cspctl/state.json`.
    fn describe(&self) -> String;

    /// Reads the whole live snapshot.
    fn read_live(&mut self) -> Result<Live, BackendError>;

    /// Executes one operation. `request_id` identifies the logical operation
    /// (Partner Center's `MS-RequestId`); a retry of the same operation reuses it.
    fn execute(&mut self, operation: &Operation, request_id: &str)
    -> Result<Outcome, BackendError>;
}
