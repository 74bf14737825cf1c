//! Backends: where the live snapshot comes from and where plan operations go.
//!
//! A backend is deliberately small: read the snapshot, execute one operation. It
//! decides nothing about *what* to change (that is the planner's job). Both
//! backends send the Partner Center client's requests ([`partner_center`]): over
//! HTTP, or in process to the simulator's tenant ([`local`]), which answers a
//! request that breaks a Partner Center rule with Partner Center's error code.
//! [`group_commit`] makes their journals durable in shared flushes.

pub mod group_commit;
pub mod local;
pub mod partner_center;
pub mod remote;

use std::future::Future;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::mpsc::UnboundedSender;

use crate::live::Live;
use crate::plan::Operation;

/// What an executed operation produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The id of the object the operation created (customer or subscription), so
    /// later operations that refer to it by address can be resolved.
    pub created_id: Option<String>,
    /// Set when nothing was sent because the change was already made by someone
    /// else since the plan (another run bought the subscription): why, with the
    /// object's id where Partner Center gave one.
    pub done_elsewhere: Option<String>,
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

/// A request of an operation that is being retried, as the executor's events
/// report it (`apply --format json`: `{"event":"retried",...}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryNotice {
    /// Method and path, e.g. `POST /v1/customers/{id}/carts`.
    pub request: String,
    /// Why: `HTTP 503`, `HTTP 429 (throttled)`, `connection closed`...
    pub reason: String,
    /// The retry's number for this request (1 = first retry).
    pub attempt: u32,
    /// How long the client waits before it.
    pub wait: Duration,
}

/// Where the running action's retry notices go: the action's index in the plan and
/// the executor's channel.
#[derive(Clone)]
struct RetrySink {
    action: usize,
    sender: UnboundedSender<(usize, RetryNotice)>,
}

tokio::task_local! {
    // A task-local rather than a parameter: retries happen deep in the HTTP layer,
    // which should not know about plans or actions, and every operation of a
    // backend would otherwise carry a parameter only the executor cares about.
    static RETRY_SINK: RetrySink;
}

/// Runs `future` (one action's operation) so that [`report_retry`] calls made
/// inside it reach `sender`, tagged with `action`.
pub fn with_retry_reporting<F: Future>(
    action: usize,
    sender: UnboundedSender<(usize, RetryNotice)>,
    future: F,
) -> impl Future<Output = F::Output> {
    RETRY_SINK.scope(RetrySink { action, sender }, future)
}

/// Tells the executor, if one is listening, that a request is being retried.
pub fn report_retry(notice: RetryNotice) {
    // Outside an executor task (plan, tests) nobody listens; that is fine.
    let _ = RETRY_SINK.try_with(|sink| {
        // A closed channel means the apply is over; nothing to tell.
        let _ = sink.sender.send((sink.action, notice));
    });
}
