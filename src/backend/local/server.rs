//! The local backend's Partner Center: the simulator's tenant ([`crate::sim`]),
//! answering the Partner Center client in this process, with every request that
//! changes it made durable in the journal before it is answered.
//!
//! It adds no rule of its own: the rules are the simulator's, so the default
//! backend behaves as `cspctl sim serve` does, and the client in front of it is the
//! one that talks to Partner Center. What it adds is durability (the journal, in
//! commit order, group-committed) and the refusal to change a tenant that was
//! opened only to be read.

use std::sync::{Arc, RwLock};

use reqwest::Method;
use serde_json::Value;

use super::journal::{Entry, Journal};
use crate::backend::BackendError;
use crate::backend::partner_center::transport::{
    InProcessFuture, InProcessRequest, InProcessResponse, InProcessServer,
};
use crate::sim::State;
use crate::sim::clock::SimClock;
use crate::sim::http::{DirectReply, DirectRequest, Shared, is_mutating};

/// Headers a replay needs; the others (correlation id, contract version) change
/// nothing in the tenant and are left out of the journal.
const JOURNALED_HEADERS: [&str; 2] = ["ms-requestid", "if-match"];

/// The simulated tenant of one run.
pub struct LocalTenant {
    sim: Shared,
    /// Where changes go; `None` when the state was opened only to be read.
    /// Replaced when the state file is rewritten (the next changes apply to the
    /// next revision).
    journal: RwLock<Option<Arc<Journal>>>,
}

impl std::fmt::Debug for LocalTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTenant")
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

impl LocalTenant {
    /// `state` on a clock frozen at `now` (unix seconds); changes go to `journal`.
    pub fn new(state: State, now: i64, journal: Option<Arc<Journal>>) -> LocalTenant {
        LocalTenant {
            sim: crate::sim::in_process(state, now),
            journal: RwLock::new(journal),
        }
    }

    /// Runs the entries of a journal an interrupted run left, at that run's clock
    /// `then`, before this run's requests (which run at `now`). Each must be
    /// answered as it was the first time: the tenant is deterministic, so a
    /// different answer means the files were edited by hand.
    pub fn replay(&self, entries: &[Entry], then: i64, now: i64) -> Result<(), String> {
        self.set_clock(then);
        for (index, entry) in entries.iter().enumerate() {
            let method = Method::from_bytes(entry.method.as_bytes())
                .map_err(|_| format!("entry {}: unknown method `{}`", index + 1, entry.method))?;
            let reply = self.sim.call_direct(DirectRequest {
                method,
                path: &entry.path,
                headers: &entry.headers,
                body: entry.body.clone(),
            });
            if reply.status != entry.status {
                return Err(format!(
                    "entry {} ({} {}) was answered {} but replays as {}",
                    index + 1,
                    entry.method,
                    entry.path,
                    entry.status,
                    reply.status
                ));
            }
        }
        self.set_clock(now);
        Ok(())
    }

    fn set_clock(&self, now: i64) {
        self.sim.lock().clock = SimClock::new(now, 0, true);
    }

    /// Runs `read` on the tenant's state (to write it, or look at it).
    pub fn with_state<T>(&self, read: impl FnOnce(&State) -> T) -> T {
        read(&self.sim.lock().state)
    }

    /// Runs `read` on the tenant's state once what is due on its clock has
    /// happened (provisioning, accepted changes, renewals and expiries): what
    /// every request sees first, so a snapshot read without requests shows the
    /// same. Deterministic from the state and the clock, so it needs no journal
    /// entry: the next request, or a replay, would do the same.
    pub fn with_settled_state<T>(&self, read: impl FnOnce(&State) -> T) -> T {
        let mut guard = self.sim.lock();
        let inner = &mut *guard;
        inner.state.settle(inner.clock.now());
        read(&inner.state)
    }

    /// Runs `change` on the tenant's state, outside the journal: for compaction
    /// (the revision) only.
    pub fn with_state_mut<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        change(&mut self.sim.lock().state)
    }

    /// The journal changes go to now, when the tenant may change.
    pub fn journal(&self) -> Option<Arc<Journal>> {
        self.journal
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sends later changes to `journal` (once the state file holds the earlier
    /// ones); `None` makes the tenant read-only.
    pub fn replace_journal(&self, journal: Option<Arc<Journal>>) {
        *self
            .journal
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = journal;
    }

    /// Answers one request; a request that changed the tenant is answered only once
    /// its journal entry is on disk.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(String, String)],
        body: Option<Value>,
    ) -> Result<DirectReply, BackendError> {
        let mutating = is_mutating(&method);
        let journal = self.journal();
        let journal = match (&journal, mutating) {
            (Some(journal), true) => Some(journal),
            (None, true) => {
                return Err(BackendError::State(format!(
                    "{method} {path}: the local state was opened to be read (without its lock), so it cannot be changed; this is a bug in cspctl"
                )));
            }
            (_, false) => None,
        };
        if let Some(why) = journal.and_then(|j| j.failure()) {
            return Err(why);
        }
        // The entry is built before the call (the body moves into the tenant) but
        // appended only if the request changed something.
        let pending_entry = journal.map(|_| Entry {
            method: method.to_string(),
            path: path.to_owned(),
            headers: headers
                .iter()
                .filter(|(name, _)| JOURNALED_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
                .cloned()
                .collect(),
            body: body.clone(),
            status: 0,
        });
        let mut appended = None;
        let reply = self.sim.call_direct_then(
            DirectRequest {
                method,
                path,
                headers,
                body,
            },
            |reply| {
                if let (Some(journal), Some(mut entry)) = (journal, pending_entry)
                    && reply.changed_state
                {
                    entry.status = reply.status;
                    appended = Some(journal.append(&entry));
                }
            },
        );
        if let (Some(journal), Some(appended)) = (journal, appended) {
            journal.durable(appended?).await?;
        }
        Ok(reply)
    }
}

impl LocalTenant {
    /// `POST path` to the simulator's own `/_sim` resources (a declared reseller, a
    /// relationship accepted): what a person or a rehearsal does outside Partner
    /// Center's API. A refusal is the error, as the client reports Partner
    /// Center's.
    pub async fn post_sim(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: Value,
    ) -> Result<(), BackendError> {
        let reply = self.call(Method::POST, path, headers, Some(body)).await?;
        if reply.status < 300 {
            return Ok(());
        }
        let body = reply.body.unwrap_or_default();
        Err(BackendError::Api {
            request: format!("POST {path}"),
            status: reply.status,
            code: body
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(0),
            description: body
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("refused")
                .to_owned(),
        })
    }
}

impl InProcessServer for LocalTenant {
    fn call<'a>(&'a self, request: InProcessRequest<'a>) -> InProcessFuture<'a> {
        Box::pin(async move {
            let reply = LocalTenant::call(
                self,
                request.method,
                request.path,
                &request.headers,
                request.body,
            )
            .await?;
            Ok(InProcessResponse {
                status: reply.status,
                headers: reply.headers,
                body: reply.body,
            })
        })
    }
}
