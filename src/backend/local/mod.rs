//! The local backend, cspctl's embedded default: the simulator's Partner Center
//! tenant ([`crate::sim`]) run in this process and kept in a JSON state file
//! (default [`DEFAULT_STATE_PATH`]), with integration-sandbox semantics (indirect
//! resellers can be created), driven by the Partner Center client itself.
//!
//! Nothing here knows a Partner Center rule: the rules are the simulator's, and the
//! requests are the client's, with its request ids, retries, idempotency and
//! purchase journal, so the default backend runs the production path with the
//! network replaced by a function call ([`server`]). This module is the shell
//! around them: open the state (taking the state lock to change it), replay the
//! journal a killed apply left ([`journal`]), migrate an older release's file
//! ([`migrate`]), and write the state file atomically once at the end ([`state`]).
//!
//! Opening with a lock timeout is for commands that change the state (apply, the
//! simulated relationship acceptance); opening without one is for reads (plan),
//! which is safe because every write is an atomic rename. A backend opened without
//! the lock refuses to change anything: two unlocked writers would lose each
//! other's changes.
//!
//! One thing is local: a reseller declared with a `tenantId` and no
//! `sandboxTenant` is added as an existing partner, as `cspctl sim serve`'s
//! `/_sim/resellers` does. Partner Center has no request for it (a partnership is
//! accepted by the reseller), and rehearsals need the declared ids.

pub mod journal;
pub mod migrate;
pub mod scan;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod unknown;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

pub use state::StateLock;

use self::journal::{Journal, journal_path};
use self::server::LocalTenant;
use super::partner_center::journal::{PurchaseJournal, read_open};
use super::partner_center::{
    Credentials, PartnerCenterBackend, PartnerCenterClient, RetryPolicy, Secret, ThrottleTuning,
    Tuning,
};
use super::{Backend, BackendError, Outcome};
use crate::apply::{Executor, OperationFuture};
use crate::live::{CustomerScope, Live};
use crate::plan::Operation;
use crate::sim::State;
use crate::time;

/// Where the state lives unless told otherwise, relative to the working directory.
pub const DEFAULT_STATE_PATH: &str = ".cspctl/state.json";

/// The purchase journal next to a state file.
pub fn purchase_journal_path(state: &Path) -> PathBuf {
    state::beside(state, ".purchases")
}

/// The local backend: a state file, its journals, and the tenant read from them.
pub struct LocalBackend {
    path: PathBuf,
    now: String,
    tenant: Arc<LocalTenant>,
    backend: PartnerCenterBackend,
    /// Held while the backend may change the state.
    _lock: Option<StateLock>,
    /// Fields of the state file this release does not know, written back with it.
    unknown: unknown::Unknown,
}

impl std::fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBackend")
            .field("path", &self.path)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// Timings for a server in this process: it never fails transiently and provisions
/// an order by the next request, so waits only need to yield.
fn in_process_tuning() -> Tuning {
    Tuning {
        retry: RetryPolicy {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(10),
            ..RetryPolicy::default()
        },
        poll_initial: Duration::from_millis(1),
        poll_cap: Duration::from_millis(10),
        per_customer_concurrency: 1,
        read_after_create_wait: Duration::from_secs(1),
        throttle: ThrottleTuning::default(),
    }
}

impl LocalBackend {
    /// Opens the state file at `path` (missing = an empty tenant; an older release's
    /// file is migrated) and replays the journal a killed apply may have left. `now`
    /// is the tenant's clock for this run (RFC 3339). With `Some(timeout)` the state
    /// lock is taken first, waiting up to `timeout` for another apply to finish; a
    /// replayed journal or a migration is then written to the state file at once.
    pub fn open(path: PathBuf, now: String, lock: Option<Duration>) -> Result<Self, BackendError> {
        let Some(unix_now) = time::parse(&now) else {
            return Err(BackendError::State(format!(
                "invalid current time `{now}` for the local backend: expected an RFC 3339 time such as 2026-01-31T12:00:00Z"
            )));
        };
        let lock = lock
            .map(|timeout| StateLock::acquire(&path, timeout))
            .transpose()?;
        // Read only once the lock is held, so the previous apply's last write is seen.
        let journal_file = journal_path(&path);
        // A reader with no journal to replay only ever takes a snapshot (and asks
        // for orders still provisioning, of which a local tenant has none: it
        // provisions at once), so it leaves out the carts, orders and cached answers.
        let (state, migrated, unknown) = if lock.is_none() && !journal_file.exists() {
            let (state, migrated) = state::read_for_snapshot(&path)?;
            (state, migrated, unknown::Unknown::default())
        } else {
            state::read(&path)?
        };
        let left = journal::read(&journal_file, state.revision)?;
        let tenant = Arc::new(LocalTenant::new(state, unix_now, None));
        let mut replayed = false;
        if let Some((header, entries)) = left {
            let then = header
                .now
                .as_deref()
                .and_then(time::parse)
                .unwrap_or(unix_now);
            tenant.replay(&entries, then, unix_now).map_err(|why| {
                BackendError::State(format!(
                    "{}: {why}; it no longer applies to {}, so the files were changed by hand. Move the journal away to drop the changes it holds",
                    journal_file.display(),
                    path.display()
                ))
            })?;
            replayed = !entries.is_empty();
        }
        if lock.is_some() {
            // The file is brought up to date before anything new is done.
            if replayed || migrated {
                write_state(&path, &tenant, &unknown)?;
            }
            journal::remove(&journal_file)?;
            let revision = tenant.with_state(|s| s.revision);
            tenant.replace_journal(Some(Arc::new(Journal::new(journal_file, revision, &now)?)));
        }
        let partner = tenant.with_state(|s| s.partner.tenant_id.clone());
        let credentials = Credentials {
            tenant_id: partner,
            client_id: "cspctl-local".to_owned(),
            client_secret: Secret::new(String::new()),
            // App+User: the provider's own user, as the local tenant serves it.
            refresh_token: Some(Secret::new(String::new())),
        };
        let server: Arc<dyn super::partner_center::transport::InProcessServer> = tenant.clone();
        let mut client = PartnerCenterClient::in_process(
            server,
            &LocalBackend::describe_path(&path),
            credentials,
            true,
            in_process_tuning(),
        );
        if lock.is_some() {
            client = client.with_journal(
                PurchaseJournal::open(purchase_journal_path(&path))?,
                now.clone(),
            );
        }
        Ok(LocalBackend {
            path,
            now,
            tenant,
            // One thread: the tenant answers in microseconds under one lock, and
            // tasks taking turns in a fixed order give the same ids on every run.
            backend: PartnerCenterBackend::from_client(client, 0)?,
            _lock: lock,
            unknown,
        })
    }

    /// The state file's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The simulated tenant.
    pub fn tenant(&self) -> &Arc<LocalTenant> {
        &self.tenant
    }

    /// The client, to drive it concurrently on [`LocalBackend::block_on`].
    pub fn client(&self) -> &PartnerCenterClient {
        self.backend.client()
    }

    /// The client with the runtime it runs on, as against Partner Center.
    pub fn remote(&self) -> &PartnerCenterBackend {
        &self.backend
    }

    /// Runs a future on this backend's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.backend.block_on(future)
    }

    /// What apply runs operations on.
    pub fn executor(&self) -> Arc<LocalExecutor> {
        Arc::new(LocalExecutor {
            tenant: Arc::clone(&self.tenant),
            client: self.backend.client().clone(),
        })
    }

    /// Only the live view of the state at `path`, read without the lock; a journal
    /// left by a killed apply is replayed in memory.
    pub fn read_live(path: &Path, now: &str) -> Result<Live, BackendError> {
        LocalBackend::open(path.to_path_buf(), now.to_owned(), None)?.read_live()
    }

    /// The live snapshot, of the customers in `scope` when there is one, handed
    /// across as typed values ([`snapshot`]): what the client's requests would read,
    /// without building and reading an answer per object.
    pub fn read_live_scoped(&self, scope: Option<&CustomerScope>) -> Live {
        let mut live = self.tenant.with_settled_state(snapshot::live);
        if let Some(scope) = scope {
            scope.restrict(&mut live);
        }
        live
    }

    /// The live snapshot read through the client's requests, as from Partner
    /// Center: what [`LocalBackend::read_live_scoped`] must equal.
    pub fn read_live_through_client(&self) -> Result<Live, BackendError> {
        self.backend.block_on(self.backend.client().read_live())
    }

    /// How a backend on `path` describes itself (see [`Backend::describe`]).
    pub fn describe_path(path: &Path) -> String {
        format!("local:{}", path.display())
    }

    /// Simulates a customer's admin accepting a reseller relationship request
    /// (`customer`: domain or tenant id; `reseller`: tenant id or MPN ID); saved by
    /// [`LocalBackend::finish`].
    pub fn accept_relationship(
        &mut self,
        customer: &str,
        reseller: &str,
    ) -> Result<(), BackendError> {
        let reseller_tenant = self.tenant.with_state(|s| {
            s.reseller_by_tenant(reseller)
                .or_else(|| s.reseller_by_mpn(reseller))
                .map(|r| r.tenant_id.clone())
        });
        let Some(reseller_tenant) = reseller_tenant else {
            return Err(BackendError::Unresolved(format!(
                "no indirect reseller with tenant id or MPN ID `{reseller}` is in the local state"
            )));
        };
        let path = format!(
            "/_sim/customers/{}/accept-relationship",
            percent_encode(customer)
        );
        let accepted = self.backend.block_on(self.tenant.post_sim(
            &path,
            &[],
            json!({ "resellerTenantId": reseller_tenant }),
        ));
        match accepted {
            Err(BackendError::Api { description, .. }) => Err(BackendError::Unresolved(format!(
                "customer {customer}: {description}"
            ))),
            other => other,
        }
    }

    /// Writes everything applied so far into the state file (atomically, with the
    /// next revision), removes the journal and drops settled purchases. Apply calls
    /// it at the end; it also runs, best effort, when the backend is dropped.
    pub fn finish(&mut self) -> Result<(), BackendError> {
        let Some(journal) = self.tenant.journal() else {
            return Ok(());
        };
        if let Some(error) = journal.failure() {
            return Err(BackendError::State(format!(
                "{error}; the state file was not rewritten, and the next run replays what the journal holds"
            )));
        }
        self.backend.client().compact_journal()?;
        if !journal.is_empty() {
            if read_open(&purchase_journal_path(&self.path))?.is_empty() {
                // Every purchase is settled, so no request will be sent again: the
                // answers cached for a retry have no use left, and the request ids
                // in them are random (all but the purchases'), so keeping them would
                // make the same applies write different files. A later purchase of
                // the same subscription is sent with a new id anyway: its generation
                // advanced when this one was settled. While a purchase is open they stay: its
                // settlement replays its request ids.
                self.tenant.with_state_mut(State::forget_replays);
            }
            write_state(&self.path, &self.tenant, &self.unknown)?;
            journal.remove()?;
            let revision = self.tenant.with_state(|s| s.revision);
            self.tenant.replace_journal(Some(Arc::new(Journal::new(
                journal_path(&self.path),
                revision,
                &self.now,
            )?)));
        }
        Ok(())
    }
}

/// Writes the tenant's state with the next revision; on failure the revision stays,
/// so the journal still applies to the file on disk.
fn write_state(
    path: &Path,
    tenant: &LocalTenant,
    unknown: &unknown::Unknown,
) -> Result<(), BackendError> {
    tenant.with_state_mut(|state| {
        state.revision += 1;
        let written = state::write(path, state, unknown);
        if written.is_err() {
            state.revision -= 1;
        }
        written
    })
}

/// A path segment with the characters that would change the path escaped.
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Drop for LocalBackend {
    fn drop(&mut self) {
        // Best effort: if this fails the journal stays and the next open replays it.
        let _ = self.finish();
    }
}

/// Runs plan operations: the client's, except a declared reseller (see the module
/// documentation).
#[derive(Debug)]
pub struct LocalExecutor {
    tenant: Arc<LocalTenant>,
    client: PartnerCenterClient,
}

impl LocalExecutor {
    async fn execute(
        &self,
        operation: &Operation,
        request_id: &str,
    ) -> Result<Outcome, BackendError> {
        if let Operation::CreateReseller { reseller } = operation
            && reseller.sandbox_tenant.is_none()
            && let Some(tenant_id) = &reseller.tenant_id
        {
            let headers = [("MS-RequestId".to_owned(), request_id.to_owned())];
            self.tenant
                .post_sim(
                    "/_sim/resellers",
                    &headers,
                    json!({
                        "tenantId": tenant_id,
                        "mpnId": reseller.mpn_id,
                        "name": reseller.display_name,
                        "location": reseller.location.clone().unwrap_or_default(),
                    }),
                )
                .await?;
            return Ok(Outcome::default());
        }
        self.client.execute(operation, request_id).await
    }
}

impl Executor for LocalExecutor {
    fn start(self: Arc<Self>, operation: Operation, request_id: String) -> OperationFuture {
        Box::pin(async move { self.execute(&operation, &request_id).await })
    }
}

impl Backend for LocalBackend {
    fn describe(&self) -> String {
        LocalBackend::describe_path(&self.path)
    }

    fn read_live(&mut self) -> Result<Live, BackendError> {
        Ok(self.read_live_scoped(None))
    }

    fn execute(
        &mut self,
        operation: &Operation,
        request_id: &str,
    ) -> Result<Outcome, BackendError> {
        let executor = self.executor();
        self.backend
            .block_on(async move { executor.execute(operation, request_id).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::model::{Address, Billing, ResellerSpec};

    const NOW: &str = "2026-01-31T12:00:00Z";
    const TIMEOUT: Option<Duration> = Some(Duration::from_millis(100));
    const FIRST: &str = "484e548c-f5f3-4528-93a9-c16c6373cb59";
    const SECOND: &str = "3b33e682-00c3-41ee-9dd2-a548adf56438";

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

    fn create_customer(domain: &str, reseller: &str) -> Operation {
        Operation::CreateCustomer {
            domain: domain.into(),
            company_name: "Contoso".into(),
            billing: Billing {
                email: "a@contoso.com".into(),
                culture: "en-US".into(),
                language: "en".into(),
                address: Address {
                    first_name: "A".into(),
                    last_name: "B".into(),
                    address_line1: "1 Main St".into(),
                    address_line2: None,
                    city: "Redmond".into(),
                    state: Some("WA".into()),
                    postal_code: "98052".into(),
                    country: "US".into(),
                    phone_number: None,
                },
            },
            organization_registration_number: None,
            associated_partner_id: reseller.into(),
            associated_reseller: None,
            agreement: None,
        }
    }

    /// Runs an operation through the backend; it must succeed.
    fn done(backend: &mut LocalBackend, operation: &Operation, request_id: &str) -> Outcome {
        backend
            .execute(operation, request_id)
            .unwrap_or_else(|e| panic!("{operation:?}: {e}"))
    }

    /// What a kill leaves: the journal, not the state file (dropping a backend
    /// without a journal writes nothing).
    fn kill(backend: LocalBackend) {
        backend.tenant().replace_journal(None);
        drop(backend);
    }

    #[test]
    fn describes_itself_by_the_path_as_given() {
        let backend = LocalBackend::open(PathBuf::from("does/not/exist.json"), NOW.into(), None)
            .expect("missing is empty");
        assert_eq!(backend.describe(), "local:does/not/exist.json");
        assert_eq!(backend.tenant().with_state(Clone::clone), state::empty());
    }

    #[test]
    fn completed_changes_survive_a_killed_apply_through_the_journal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(".cspctl/state.json");
        let journal = journal_path(&path);
        let mut backend = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        done(&mut backend, &create_reseller(FIRST, "4847383"), "r1");
        let id = done(
            &mut backend,
            &create_customer("contoso.onmicrosoft.com", FIRST),
            "r2",
        )
        .created_id
        .expect("a customer id");
        assert!(
            matches!(
                backend.execute(&create_reseller(FIRST, "1"), "r3"),
                Err(BackendError::Api { .. })
            ),
            "the simulator's rules apply"
        );
        assert!(
            !path.exists() && journal.exists(),
            "changes go to the journal first"
        );
        kill(backend);

        let mut reader =
            LocalBackend::open(path.clone(), NOW.into(), None).expect("reads without the lock");
        let live = reader.read_live().expect("live");
        assert_eq!(live.resellers.len(), 1, "the journal is replayed");
        assert!(live.customers.contains_key(&id), "with the same ids");
        assert!(
            matches!(
                reader.execute(&create_reseller(SECOND, "2"), "r4"),
                Err(BackendError::State(_))
            ),
            "read-only"
        );
        drop(reader);
        assert!(journal.exists(), "a reader leaves the journal alone");

        // The next apply folds the journal into the state file (revision 1).
        let mut next = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        assert!(!journal.exists());
        assert_eq!(next.tenant().with_state(|s| s.revision), 1);
        assert_eq!(next.read_live().expect("live"), live);
        assert_eq!(state::read(&path).expect("state").0.customers.len(), 1);
    }

    #[test]
    fn a_journal_left_behind_after_compaction_is_never_applied_twice() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let mut backend = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        done(&mut backend, &create_reseller(FIRST, "4847383"), "r1");
        let journal_text = std::fs::read_to_string(journal_path(&path)).expect("journal");
        backend.finish().expect("compacted");
        drop(backend);
        // A crash between writing the state and removing the journal leaves this:
        std::fs::write(journal_path(&path), journal_text).expect("restore the old journal");
        let backend = LocalBackend::open(path.clone(), NOW.into(), None).expect("opens");
        assert_eq!(
            backend.tenant().with_state(Clone::clone),
            state::read(&path).expect("state").0
        );
    }

    #[test]
    fn a_journal_edited_by_hand_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let mut backend = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        done(&mut backend, &create_reseller(FIRST, "4847383"), "r1");
        kill(backend);
        let journal = journal_path(&path);
        let text = std::fs::read_to_string(&journal).expect("journal");
        std::fs::write(&journal, text.replace("\"status\":201", "\"status\":400")).expect("edited");
        let error = LocalBackend::open(path, NOW.into(), None).expect_err("refused");
        let message = error.to_string();
        assert!(
            message.contains(&journal.display().to_string())
                && message.contains("Move the journal away"),
            "{message}"
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
        done(&mut backend, &create_reseller(FIRST, "4847383"), "r1");
        done(&mut backend, &create_reseller(SECOND, "4391507"), "r2");
        let id = done(
            &mut backend,
            &create_customer("contoso.onmicrosoft.com", FIRST),
            "r3",
        )
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
        backend.finish().expect("saved");
        drop(backend);
        let live = LocalBackend::read_live(&path, NOW).expect("live");
        assert!(live.customers[&id].reseller_relationships.contains(SECOND));
    }

    /// A legacy purchase (no agreement needed) of `name` for customer `id`.
    fn buy(id: &str, name: &str) -> Operation {
        Operation::CreateSubscription {
            customer: crate::plan::ObjectRef {
                address: "Customer/contoso".into(),
                id: Some(id.into()),
            },
            offer_id: "91FD106F-4B2C-4938-95AC-F54F74E9A239".into(),
            quantity: 1,
            term_duration: crate::manifest::model::TermDuration::P1M,
            billing_cycle: crate::manifest::model::BillingCycle::Monthly,
            auto_renew: true,
            friendly_name: name.into(),
            partner_id_on_record: None,
            suspend: false,
            custom_term_end_date: None,
        }
    }

    /// The request ids the tenant answered purchases (`POST …/orders`) under.
    fn purchase_ids(backend: &LocalBackend) -> Vec<String> {
        backend.tenant().with_state(|s| {
            s.idempotency
                .iter()
                .filter(|r| r.method == "POST" && r.path.ends_with("/orders"))
                .map(|r| r.request_id.clone())
                .collect()
        })
    }

    /// Issue 15, item 3: a purchase's request id comes from its intent, not from
    /// apply's id; buying the same subscription again after it was cancelled (the
    /// first purchase settled) is sent with a new one, also after a restart,
    /// because the generation is kept in `<state>.purchases`.
    #[test]
    fn a_re_purchase_after_a_cancel_gets_a_new_request_id_also_after_a_restart() {
        use crate::backend::partner_center::journal::{self, PurchaseKey};
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let mut backend = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        done(&mut backend, &create_reseller(FIRST, "4847383"), "r1");
        let customer = done(
            &mut backend,
            &create_customer("contoso.onmicrosoft.com", FIRST),
            "r2",
        )
        .created_id
        .expect("a customer id");
        let provider = backend.tenant().with_state(|s| s.partner.tenant_id.clone());
        let key = PurchaseKey::new(&provider, &customer, "Office");
        let first = done(&mut backend, &buy(&customer, "Office"), "r3")
            .created_id
            .expect("bought");
        assert_eq!(purchase_ids(&backend), [key.request_id(0)]);
        backend.finish().expect("saved");
        drop(backend);
        // Nothing is open, yet the purchase journal stays: it holds the generation.
        let kept = journal::read(&purchase_journal_path(&path)).expect("kept");
        assert!(kept.open.is_empty());
        assert_eq!(kept.generations.get(&key), Some(&1));

        let mut backend = LocalBackend::open(path.clone(), NOW.into(), TIMEOUT).expect("opens");
        let cancel = Operation::UpdateSubscription {
            customer: crate::plan::ObjectRef {
                address: "Customer/contoso".into(),
                id: Some(customer.clone()),
            },
            subscription_id: first.clone(),
            patch: crate::plan::SubscriptionPatch {
                status: Some(crate::live::LiveStatus::Deleted),
                ..Default::default()
            },
        };
        done(&mut backend, &cancel, "r4");
        let again = done(&mut backend, &buy(&customer, "Office"), "r5")
            .created_id
            .expect("bought again");
        assert_ne!(again, first);
        assert_eq!(purchase_ids(&backend), [key.request_id(1)]);
        backend.finish().expect("saved");
        let kept = journal::read(&purchase_journal_path(&path)).expect("kept");
        assert_eq!(kept.generations.get(&key), Some(&2));
    }

    #[test]
    fn refuses_an_invalid_clock() {
        assert!(matches!(
            LocalBackend::open(PathBuf::from("x.json"), "now".into(), None),
            Err(BackendError::State(_))
        ));
    }
}
