//! The local backend, cspctl's embedded default: a simulated Partner Center tenant
//! kept in a JSON state file (default [`DEFAULT_STATE_PATH`]), with
//! integration-sandbox semantics (indirect resellers can be created).
//!
//! It is the imperative shell around [`tenant::Tenant`], which holds the rules: open
//! (optionally taking the state lock), hand each operation to the tenant, journal
//! every successful one durably before reporting success ([`journal`]), and write
//! the state file atomically once at the end. A killed apply therefore never loses a
//! completed change nor corrupts the file: the next open replays the journal. It must
//! not decide anything itself: no Partner Center rule lives here, and no file-format
//! detail (that is [`state`] and [`journal`]).
//!
//! Opening with a lock timeout is for commands that change the state (apply, the
//! simulated relationship acceptance); opening without one is for reads (plan),
//! which is safe because every write is an atomic rename. A backend opened without
//! the lock refuses to write: two unlocked writers would lose each other's changes.

pub mod journal;
pub mod wal;
pub mod state;
pub mod tenant;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use state::StateLock;
pub use tenant::Tenant;

use self::journal::{Entry, Journal, journal_path};
use super::{Backend, BackendError, Outcome};
use crate::apply::{Executor, OperationFuture};
use crate::live::Live;
use crate::plan::Operation;
use crate::time;

/// Where the state lives unless told otherwise, relative to the working directory.
pub const DEFAULT_STATE_PATH: &str = ".cspctl/state.json";

/// The local backend: a state file, its journal, and the tenant read from them.
#[derive(Debug)]
pub struct LocalBackend {
    path: PathBuf,
    now: String,
    tenant: Tenant,
    lock: Option<StateLock>,
    /// Open while operations applied in this run are not yet in the state file.
    journal: Option<Journal>,
}

impl LocalBackend {
    /// Opens the state file at `path` (missing = an empty tenant) and replays the
    /// journal a killed apply may have left. `now` is the tenant's clock for this run
    /// (RFC 3339). With `Some(timeout)` the state lock is taken first, waiting up to
    /// `timeout` for another apply to finish, and a replayed journal is compacted into
    /// the state file at once.
    pub fn open(path: PathBuf, now: String, lock: Option<Duration>) -> Result<Self, BackendError> {
        if time::parse(&now).is_none() {
            return Err(BackendError::State(format!(
                "invalid current time `{now}` for the local backend: expected an RFC 3339 time such as 2026-01-31T12:00:00Z"
            )));
        }
        let lock = lock
            .map(|timeout| StateLock::acquire(&path, timeout))
            .transpose()?;
        // Read only once the lock is held, so the previous apply's last write is seen.
        let (tenant, replayed) = read_with_journal(&path)?;
        let mut backend = LocalBackend {
            path,
            now,
            tenant,
            lock,
            journal: None,
        };
        if replayed && backend.lock.is_some() {
            backend.compact()?;
        }
        Ok(backend)
    }

    /// The state file's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tenant as last read or written.
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// The live view, consuming the backend (no copy of a large state).
    pub fn into_live(mut self) -> Live {
        std::mem::take(&mut self.tenant).into_live()
    }

    /// Only the live view of the state at `path`, read without the lock and without the
    /// parts no plan needs; a journal left by a killed apply is replayed as usual.
    pub fn read_live(path: &Path, now: &str) -> Result<Live, BackendError> {
        if journal_path(path).exists() {
            return Ok(LocalBackend::open(path.to_path_buf(), now.to_owned(), None)?.into_live());
        }
        Ok(state::read_as::<tenant::LiveParts>(path)?.into_live())
    }

    /// How a backend on `path` describes itself (see [`Backend::describe`]).
    pub fn describe_path(path: &Path) -> String {
        format!("local:{}", path.display())
    }

    /// Simulates a customer's admin accepting a reseller relationship request
    /// (`customer`: domain or tenant id; `reseller`: tenant id or MPN ID), and saves.
    pub fn accept_relationship(
        &mut self,
        customer: &str,
        reseller: &str,
    ) -> Result<(), BackendError> {
        self.ensure_locked()?;
        self.tenant
            .accept_relationship(customer, reseller)
            .map_err(BackendError::Unresolved)?;
        self.compact()
    }

    /// Writes everything applied so far into the state file (atomically, with the
    /// next revision) and removes the journal. Apply calls it at the end; it also
    /// runs, best effort, when the backend is dropped.
    pub fn finish(&mut self) -> Result<(), BackendError> {
        if self.journal.is_some() {
            self.compact()
        } else {
            Ok(())
        }
    }

    fn compact(&mut self) -> Result<(), BackendError> {
        let previous = self.tenant.revision;
        self.tenant.revision = previous + 1;
        if let Err(error) = state::write(&self.path, &self.tenant) {
            // The journal (if any) still applies to the revision on disk.
            self.tenant.revision = previous;
            return Err(error);
        }
        match self.journal.take() {
            Some(journal) => journal.remove(),
            None => journal::remove(&journal_path(&self.path)),
        }
    }

    fn ensure_locked(&self) -> Result<(), BackendError> {
        if self.lock.is_none() {
            return Err(BackendError::State(format!(
                "the local state {} was opened read-only (without the state lock), so it cannot be changed; this is a bug in cspctl",
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// The state file plus its journal's entries; true when entries were replayed.
fn read_with_journal(path: &Path) -> Result<(Tenant, bool), BackendError> {
    let mut tenant = state::read(path)?;
    let journal = journal_path(path);
    let entries = journal::read(&journal, tenant.revision)?;
    for (index, entry) in entries.iter().enumerate() {
        // Each entry succeeded on exactly this state before, and the tenant is
        // deterministic, so replaying cannot fail unless the files were edited.
        tenant.execute(&entry.operation, &entry.now).map_err(|error| {
            BackendError::State(format!(
                "{}: entry {} no longer applies to {} ({error}); the files were changed by hand. Move the journal away to drop the changes it holds",
                journal.display(),
                index + 1,
                path.display()
            ))
        })?;
    }
    Ok((tenant, !entries.is_empty()))
}

impl Drop for LocalBackend {
    fn drop(&mut self) {
        // Best effort: if this fails the journal stays and the next open replays it.
        let _ = self.finish();
    }
}

/// The executor drives the local tenant through a mutex: its operations take
/// microseconds and change one in-memory tenant, so running them one at a time
/// costs nothing and keeps the tenant's rules simple.
impl Executor for Mutex<LocalBackend> {
    fn start(self: Arc<Self>, operation: Operation, request_id: String) -> OperationFuture {
        Box::pin(async move {
            let mut backend = self.lock().map_err(|_| {
                BackendError::State(
                    "an earlier operation on the local state panicked; nothing more is applied in this run (the journal keeps what was applied)".to_owned(),
                )
            })?;
            backend.execute(&operation, &request_id)
        })
    }
}

impl Backend for LocalBackend {
    fn describe(&self) -> String {
        LocalBackend::describe_path(&self.path)
    }

    fn read_live(&mut self) -> Result<Live, BackendError> {
        Ok(self.tenant.live())
    }

    /// Runs the operation against the tenant and journals it durably before
    /// returning success. The tenant checks every rule before it changes anything, so
    /// a refused operation leaves it untouched. `request_id` is not needed: the local
    /// tenant answers synchronously, so there is never an unanswered request to replay.
    fn execute(
        &mut self,
        operation: &Operation,
        _request_id: &str,
    ) -> Result<Outcome, BackendError> {
        self.ensure_locked()?;
        let outcome = self.tenant.execute(operation, &self.now)?;
        let entry = Entry {
            now: self.now.clone(),
            operation: operation.clone(),
        };
        let appended = match &mut self.journal {
            Some(journal) => journal.append(&entry),
            None => Journal::create(&journal_path(&self.path), self.tenant.revision)
                .and_then(|mut journal| journal.append(&entry).map(|()| journal))
                .map(|journal| self.journal = Some(journal)),
        };
        if let Err(error) = appended {
            // Not durable, so not done: go back to what the disk holds.
            self.journal = None;
            self.tenant = read_with_journal(&self.path)?.0;
            return Err(error);
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::model::ResellerSpec;

    const NOW: &str = "2026-01-31T12:00:00Z";
    const TIMEOUT: Option<Duration> = Some(Duration::from_millis(100));

    fn create_reseller(tenant_id: &str, mpn_id: &str) -> Operation {
        Operation::CreateReseller {
            reseller: ResellerSpec {
                tenant_id: Some(tenant_id.into()),
                mpn_id: mpn_id.into(),
                display_name: "First Up".into(),
                location: None,
                sandbox_tenant: None,
            },
        }
    }

    #[test]
    fn describes_itself_by_the_path_as_given() {
        let backend = LocalBackend::open(PathBuf::from("does/not/exist.json"), NOW.into(), None)
            .expect("missing is empty");
        assert_eq!(backend.describe(), "local:does/not/exist.json");
        assert_eq!(backend.tenant(), &Tenant::default());
    }

    /// Creates a reseller through the backend; the operation must succeed.
    fn created(backend: &mut LocalBackend, tenant_id: &str, mpn_id: &str) {
        backend
            .execute(&create_reseller(tenant_id, mpn_id), "request")
            .expect("created");
    }

    #[test]
    fn completed_operations_survive_a_killed_apply_through_the_journal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(".cspctl/state.json");
        let journal = journal_path(&path);
        let mut backend = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        created(
            &mut backend,
            "484e548c-f5f3-4528-93a9-c16c6373cb59",
            "4847383",
        );
        assert!(matches!(
            backend.execute(
                &create_reseller("484e548c-f5f3-4528-93a9-c16c6373cb59", "1"),
                "r2"
            ),
            Err(BackendError::Api { code: 1003, .. })
        ));
        assert!(
            !path.exists() && journal.exists(),
            "applied operations go to the journal first"
        );

        // Simulate a kill: the process ends without folding the journal into the state.
        drop(backend.journal.take());
        drop(backend);
        assert!(journal.exists());

        let mut reader =
            LocalBackend::open(path.clone(), NOW.into(), None).expect("reads without the lock");
        assert_eq!(
            reader.read_live().expect("live").resellers.len(),
            1,
            "the journal is replayed"
        );
        assert!(
            matches!(
                reader.execute(
                    &create_reseller("3b33e682-00c3-41ee-9dd2-a548adf56438", "2"),
                    "r3"
                ),
                Err(BackendError::State(_))
            ),
            "read-only"
        );
        drop(reader);

        // The next apply folds the journal into the state file (revision 1) and removes it.
        let mut next = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        assert!(!journal.exists());
        assert_eq!(next.tenant().revision, 1);
        assert_eq!(next.read_live().expect("live").resellers.len(), 1);
        assert_eq!(state::read(&path).expect("state").resellers.len(), 1);
    }

    #[test]
    fn the_read_only_live_view_matches_the_full_read_with_or_without_a_journal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let mut backend = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        created(
            &mut backend,
            "484e548c-f5f3-4528-93a9-c16c6373cb59",
            "4847383",
        );
        backend.finish().expect("compacted");
        created(&mut backend, "3b33e682-00c3-41ee-9dd2-a548adf56438", "2");
        // Killed before compaction: the second reseller is only in the journal.
        drop(backend.journal.take());
        drop(backend);
        let view = LocalBackend::read_live(&path, NOW).expect("view");
        assert_eq!(view.resellers.len(), 2);
        let full = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT)
            .expect("opens")
            .into_live();
        assert_eq!(view, full);
        assert_eq!(
            LocalBackend::read_live(&path, NOW).expect("view after compaction"),
            full
        );
    }

    #[test]
    fn a_journal_left_behind_after_compaction_is_never_applied_twice() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let mut backend = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        created(
            &mut backend,
            "484e548c-f5f3-4528-93a9-c16c6373cb59",
            "4847383",
        );
        let journal_text = std::fs::read_to_string(journal_path(&path)).expect("journal");
        backend.finish().expect("compacted");
        drop(backend);
        // A crash between writing the state and removing the journal leaves this:
        std::fs::write(journal_path(&path), journal_text).expect("restore the old journal");
        let backend = LocalBackend::open(path.clone(), NOW.into(), None).expect("opens");
        assert_eq!(backend.tenant().resellers.len(), 1);
        assert_eq!(
            backend.tenant().next_id,
            state::read(&path).expect("state").next_id
        );
    }

    #[test]
    fn a_second_apply_waits_for_the_lock_then_fails_clearly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let first = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        assert!(matches!(
            LocalBackend::open(path.clone(), NOW.into(), TIMEOUT),
            Err(BackendError::Locked(_))
        ));
        LocalBackend::open(path.clone(), NOW.into(), None).expect("a plan still reads");
        drop(first);
        LocalBackend::open(path, NOW.into(), TIMEOUT).expect("free after the first is dropped");
    }

    #[test]
    fn accepting_a_relationship_is_saved() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let mut backend = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        created(
            &mut backend,
            "484e548c-f5f3-4528-93a9-c16c6373cb59",
            "4847383",
        );
        created(
            &mut backend,
            "3b33e682-00c3-41ee-9dd2-a548adf56438",
            "4391507",
        );
        let billing = crate::manifest::model::Billing {
            email: "a@contoso.com".into(),
            culture: "en-US".into(),
            language: "en".into(),
            address: crate::manifest::model::Address {
                first_name: "A".into(),
                last_name: "B".into(),
                address_line1: "1 Main St".into(),
                address_line2: None,
                city: "Redmond".into(),
                state: None,
                postal_code: "98052".into(),
                country: "US".into(),
                phone_number: None,
            },
        };
        let customer = Operation::CreateCustomer {
            domain: "contoso.onmicrosoft.com".into(),
            company_name: "Contoso".into(),
            billing,
            organization_registration_number: None,
            associated_partner_id: "484e548c-f5f3-4528-93a9-c16c6373cb59".into(),
            associated_reseller: None,
            agreement: None,
        };
        let id = backend
            .execute(&customer, "r3")
            .expect("created")
            .created_id
            .expect("an id");
        match backend.accept_relationship("contoso.onmicrosoft.com", "9999999") {
            Err(BackendError::Unresolved(message)) => {
                assert!(message.contains("9999999"), "{message}")
            }
            other => panic!("expected Unresolved, got {other:?}"),
        }
        backend
            .accept_relationship("contoso.onmicrosoft.com", "4391507")
            .expect("accepted");
        drop(backend);
        let live = LocalBackend::open(path, NOW.into(), None)
            .expect("opens")
            .read_live()
            .expect("live");
        assert!(
            live.customers[&id]
                .reseller_relationships
                .contains("3b33e682-00c3-41ee-9dd2-a548adf56438")
        );
    }

    #[test]
    fn refuses_an_invalid_clock() {
        assert!(matches!(
            LocalBackend::open(PathBuf::from("x.json"), "now".into(), None),
            Err(BackendError::State(_))
        ));
    }
}
