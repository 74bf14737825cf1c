//! The local backend, cspctl's embedded default: a simulated Partner Center tenant
//! kept in a JSON state file (default [`DEFAULT_STATE_PATH`]), with
//! integration-sandbox semantics (indirect resellers can be created).
//!
//! It is the imperative shell around [`tenant::Tenant`], which holds the rules: open
//! (optionally taking the state lock), hand each operation to the tenant, and persist
//! the state atomically after every successful one, so a killed apply never loses a
//! completed change nor corrupts the file. It must not decide anything itself: no
//! Partner Center rule lives here, and no file-format detail (that is [`state`]).
//!
//! Opening with a lock timeout is for commands that change the state (apply, the
//! simulated relationship acceptance); opening without one is for reads (plan),
//! which is safe because every write is an atomic rename. A backend opened without
//! the lock refuses to write: two unlocked writers would lose each other's changes.

pub mod state;
pub mod tenant;
mod time;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use state::StateLock;
pub use tenant::Tenant;

use super::{Backend, BackendError, Outcome};
use crate::live::Live;
use crate::plan::Operation;

/// Where the state lives unless told otherwise, relative to the working directory.
pub const DEFAULT_STATE_PATH: &str = ".cspctl/state.json";

/// The local backend: a state file and the tenant read from it.
#[derive(Debug)]
pub struct LocalBackend {
    path: PathBuf,
    now: String,
    tenant: Tenant,
    lock: Option<StateLock>,
}

impl LocalBackend {
    /// Opens the state file at `path` (missing = an empty tenant). `now` is the
    /// tenant's clock for this run (RFC 3339). With `Some(timeout)` the state lock is
    /// taken first, waiting up to `timeout` for another apply to finish.
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
        let tenant = state::read(&path)?;
        Ok(LocalBackend {
            path,
            now,
            tenant,
            lock,
        })
    }

    /// The state file's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tenant as last read or written.
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// Simulates a customer's admin accepting a reseller relationship request
    /// (`customer`: domain or tenant id; `reseller`: tenant id or MPN ID), and saves.
    pub fn accept_relationship(
        &mut self,
        customer: &str,
        reseller: &str,
    ) -> Result<(), BackendError> {
        self.ensure_locked()?;
        let mut next = self.tenant.clone();
        next.accept_relationship(customer, reseller)
            .map_err(BackendError::Unresolved)?;
        self.commit(next)
    }

    /// Saves `next` and makes it current; on a failed write the old state stays
    /// current, matching the file.
    fn commit(&mut self, next: Tenant) -> Result<(), BackendError> {
        state::write(&self.path, &next)?;
        self.tenant = next;
        Ok(())
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

impl Backend for LocalBackend {
    fn describe(&self) -> String {
        format!("local:{}", self.path.display())
    }

    fn read_live(&mut self) -> Result<Live, BackendError> {
        Ok(self.tenant.live())
    }

    /// Runs the operation against the tenant and saves the state. The local tenant
    /// answers synchronously and either fully applies an operation or refuses it, so
    /// there is nothing to replay and `request_id` is not needed.
    fn execute(
        &mut self,
        operation: &Operation,
        _request_id: &str,
    ) -> Result<Outcome, BackendError> {
        self.ensure_locked()?;
        let mut next = self.tenant.clone();
        let outcome = next.execute(operation, &self.now)?;
        self.commit(next)?;
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
                tenant_id: tenant_id.into(),
                mpn_id: mpn_id.into(),
                display_name: "First Up".into(),
                location: None,
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

    #[test]
    fn persists_every_successful_operation_and_nothing_else() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(".cspctl/state.json");
        let mut backend = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        backend
            .execute(
                &create_reseller("484e548c-f5f3-4528-93a9-c16c6373cb59", "4847383"),
                "r1",
            )
            .expect("created");
        let saved = fs_text(&path);
        assert!(matches!(
            backend.execute(
                &create_reseller("484e548c-f5f3-4528-93a9-c16c6373cb59", "1"),
                "r2"
            ),
            Err(BackendError::Api { code: 1003, .. })
        ));
        assert_eq!(fs_text(&path), saved, "a refused operation writes nothing");
        drop(backend);

        let mut reader =
            LocalBackend::open(path, NOW.into(), None).expect("reads without the lock");
        assert_eq!(reader.read_live().expect("live").resellers.len(), 1);
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
        backend
            .execute(
                &create_reseller("484e548c-f5f3-4528-93a9-c16c6373cb59", "4847383"),
                "r1",
            )
            .expect("created");
        backend
            .execute(
                &create_reseller("3b33e682-00c3-41ee-9dd2-a548adf56438", "4391507"),
                "r2",
            )
            .expect("created");
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

    fn fs_text(path: &Path) -> String {
        std::fs::read_to_string(path).expect("state file")
    }
}
