//! The purchase journal: how an apply against Partner Center never buys twice.
//!
//! A purchase is the one operation whose retry can cost money: Partner Center
//! deduplicates a request only by its `MS-RequestId`, so a purchase sent again
//! with a *new* id after a timeout, a crash or a kill is a second order. Before a
//! purchase's first request is sent, its request id and the whole operation are
//! appended here and flushed to disk (`sync_data`); the cart and order ids follow
//! as they become known; a final line settles it. The next apply, before it
//! plans anything, settles every purchase left open (see
//! [`PartnerCenterClient::settle`](super::PartnerCenterClient::settle)): it
//! replays the operation with the *same* request id, which Partner Center
//! answers with the original cart and order (or, if the first request never
//! arrived, carries out the purchase the interrupted apply was approved to make),
//! then waits for provisioning as usual.
//!
//! The request id itself comes from the intent, not from chance
//! ([`PurchaseKey::request_id`]): the provider tenant, the customer, the
//! subscription's friendly name (cspctl's identity of a declared subscription)
//! and a **purchase generation** kept here. Partner Center's headers page asks for
//! the same id on a retry after a timeout and a new one "upon receiving a response
//! (success or business failure)"
//! (<https://learn.microsoft.com/partner-center/developer/headers>), so the
//! generation advances exactly when a purchase is settled (an answer recorded:
//! bought, or refused) and at no other time. Hence a retried purchase, or the
//! same purchase sent by another runner with a journal of its own, carries the
//! same id and Partner Center answers it with the first order; a re-purchase
//! after the previous one was settled (say, after a cancel) carries a new one. The
//! request id is one defence, never the only one: how long Partner Center
//! remembers an id is not documented (UNCONFIRMED; the simulator keeps 24 hours),
//! so apply still reads the customer's subscriptions just before buying and the
//! journal still settles what was sent.
//!
//! File format: one JSON object per line (`<dir>/partner-center-<tenant>.journal`
//! by default; `<state>.purchases` for the local backend). A torn last line (a
//! crash mid-append) is dropped, reported, and cut off before the next append: the
//! request it announced was never sent, because sending waits for the append. Any
//! other damage is refused, the file untouched. Compaction (at the end of every
//! apply, and after settling) rewrites it atomically with one `generation` line
//! per purchase key ever settled and the open purchases; it is removed only when
//! it holds neither. The generations are kept rather than dropped with the
//! purchases that advanced them: dropping one would send an id Partner Center
//! may still remember (for a re-purchase, the first purchase's answer), and they
//! cost one short line per declared subscription bought. Releases before
//! generations read such a file as damaged (an unknown `generation` record) and
//! refuse it rather than guess.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use serde::{Deserialize, Serialize};

use crate::backend::BackendError;
use crate::backend::group_commit::{GroupCommit, Start, complete_lines, read_regular};
use crate::plan::Operation;

use super::ids::purchase_request_id;

/// What a purchase buys, as runs and runners agree on it: the provider tenant,
/// the customer and the subscription's friendly name (a declared subscription's
/// identity; never the offer: two subscriptions of one offer are two purchases).
/// Kept in ASCII lowercase, as Partner Center compares ids and cspctl compares
/// friendly names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseKey {
    pub tenant_id: String,
    pub customer_id: String,
    pub friendly_name: String,
}

impl PurchaseKey {
    pub fn new(tenant_id: &str, customer_id: &str, friendly_name: &str) -> PurchaseKey {
        PurchaseKey {
            tenant_id: tenant_id.to_ascii_lowercase(),
            customer_id: customer_id.to_ascii_lowercase(),
            friendly_name: friendly_name.to_ascii_lowercase(),
        }
    }

    /// The `MS-RequestId` of this purchase at `generation` ([`purchase_request_id`]).
    pub fn request_id(&self, generation: u64) -> String {
        purchase_request_id(
            &self.tenant_id,
            &self.customer_id,
            &self.friendly_name,
            generation,
        )
    }
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum Record {
    /// Written (and flushed) before the purchase's first request is sent.
    #[serde(rename_all = "camelCase")]
    Intent {
        request_id: String,
        /// When the purchase was first sent (RFC 3339), for the idempotency window.
        at: String,
        /// The operation as sent: its customer id is resolved.
        operation: Box<Operation>,
        /// What `request_id` was derived from, with `generation`; settling this
        /// purchase advances the key's generation past it. Absent in journals
        /// written when request ids were random: such a purchase advances nothing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<PurchaseKey>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        generation: Option<u64>,
    },
    /// The order Partner Center answered with. A pending order (documented
    /// checkout result) does not name its subscription yet: the order id alone is
    /// journaled at once, and again with the subscription id once it appears.
    #[serde(rename_all = "camelCase")]
    Ordered {
        request_id: String,
        order_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscription_id: Option<String>,
    },
    /// Nothing more to do for this purchase: it was provisioned (`bought`), or
    /// Partner Center refused it so nothing was bought.
    #[serde(rename_all = "camelCase")]
    Settled { request_id: String, bought: bool },
    /// The generation the next purchase of `key` is sent with: what compaction
    /// keeps of the settled purchases of `key`, so a later purchase of the same
    /// subscription gets a request id no earlier answer was given to.
    #[serde(rename_all = "camelCase")]
    Generation { key: PurchaseKey, next: u64 },
}

/// A purchase that was announced but not settled.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenPurchase {
    pub request_id: String,
    pub at: String,
    pub operation: Operation,
    /// `(order id, subscription id when known)` once Partner Center answered.
    pub order: Option<(String, Option<String>)>,
    /// What the request id was derived from, and at which generation (absent for
    /// a purchase journaled with a random id by an earlier release).
    pub generation: Option<(PurchaseKey, u64)>,
}

/// What a journal holds: the purchases left open, and the generation each
/// purchase key's next purchase is sent with (keys never settled are absent:
/// their next generation is 0).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Contents {
    pub open: Vec<OpenPurchase>,
    pub generations: BTreeMap<PurchaseKey, u64>,
}

/// The journal file of one provider tenant, opened by the apply that holds its lock.
/// Records that must be on disk before the apply goes on are group-committed
/// ([`GroupCommit`]): concurrent purchases share a flush.
#[derive(Debug)]
pub struct PurchaseJournal {
    path: PathBuf,
    file: GroupCommit,
    /// The generations, as read and as advanced by this run's records.
    generations: Mutex<Generations>,
    /// Where the journal is copied before the apply relies on a record (remote
    /// state), besides the disk.
    mirror: OnceLock<Arc<dyn JournalMirror>>,
}

/// What [`JournalMirror::push`] returns.
pub type MirrorFuture = Pin<Box<dyn Future<Output = Result<(), BackendError>> + Send>>;

/// A copy of the journal kept elsewhere (remote state: see
/// [`crate::backend::remote`]), brought up to date after every record the apply
/// waits for, so a purchase is announced where every runner sees it before it is
/// sent.
pub trait JournalMirror: Send + Sync + std::fmt::Debug {
    /// Copies the journal as it is on disk now; resolves once the copy is stored.
    fn push(&self) -> MirrorFuture;
}

/// The generation bookkeeping of an open journal.
#[derive(Debug, Default)]
struct Generations {
    next: BTreeMap<PurchaseKey, u64>,
    /// The key and generation of every purchase announced and not settled, by
    /// request id: what its `Settled` record advances.
    open: HashMap<String, (PurchaseKey, u64)>,
}

impl Generations {
    /// Follows `record` as [`read`] does.
    fn note(&mut self, record: &Record) {
        match record {
            Record::Intent {
                request_id,
                key: Some(key),
                generation: Some(generation),
                ..
            } => {
                self.open
                    .entry(request_id.clone())
                    .or_insert_with(|| (key.clone(), *generation));
            }
            Record::Intent { .. } | Record::Ordered { .. } => {}
            Record::Settled { request_id, .. } => {
                if let Some((key, generation)) = self.open.remove(request_id) {
                    self.advance(key, generation.saturating_add(1));
                }
            }
            Record::Generation { key, next } => self.advance(key.clone(), *next),
        }
    }

    /// Generations only move forward: a record that names an older one (two
    /// runs' records merged, say) cannot bring back an id already answered.
    fn advance(&mut self, key: PurchaseKey, next: u64) {
        let slot = self.next.entry(key).or_insert(0);
        *slot = (*slot).max(next);
    }
}

fn failed(path: &Path, error: &dyn std::fmt::Display) -> BackendError {
    BackendError::State(format!("purchase journal {}: {error}", path.display()))
}

/// The journal's default place: next to the local state, one file per provider tenant.
pub fn default_journal_path(tenant_id: &str) -> PathBuf {
    let safe: String = tenant_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from(".cspctl").join(format!("partner-center-{safe}.journal"))
}

/// Reads the purchases left open in the journal at `path` (none if it is absent).
/// See [`read`].
pub fn read_open(path: &Path) -> Result<Vec<OpenPurchase>, BackendError> {
    read(path).map(|contents| contents.open)
}

/// Reads the journal at `path` (empty if it is absent): the purchases left open,
/// in the order they were announced, and the purchase generations. A torn last
/// line is dropped and reported ([`complete_lines`]); any other line that is not a
/// record is refused, the file left as it is.
pub fn read(path: &Path) -> Result<Contents, BackendError> {
    let Some(bytes) = read_regular(path, "purchase journal")? else {
        return Ok(Contents::default());
    };
    let mut open: BTreeMap<String, (usize, OpenPurchase)> = BTreeMap::new();
    let mut generations = Generations::default();
    for (number, line) in (1..).zip(complete_lines(path, &bytes)) {
        if line.trim_ascii().is_empty() {
            continue;
        }
        // Damage a person must look at, because it could hide a purchase.
        let record: Record = serde_json::from_slice(line).map_err(|error| {
            failed(
                path,
                &format!(
                    "line {number} is not a journal record ({error}); the journal guards against buying twice, so it is never skipped and is left as it is: check the purchases it names in Partner Center, then fix or remove the line"
                ),
            )
        })?;
        generations.note(&record);
        match record {
            Record::Intent {
                request_id,
                at,
                operation,
                key,
                generation,
            } => {
                let position = open.len();
                open.entry(request_id.clone()).or_insert((
                    position,
                    OpenPurchase {
                        request_id,
                        at,
                        operation: *operation,
                        order: None,
                        generation: key.zip(generation),
                    },
                ));
            }
            Record::Ordered {
                request_id,
                order_id,
                subscription_id,
            } => {
                if let Some((_, purchase)) = open.get_mut(&request_id) {
                    // A later record of the same order only adds what it knows.
                    let known = purchase
                        .order
                        .take()
                        .filter(|(known, _)| *known == order_id)
                        .and_then(|(_, subscription)| subscription);
                    purchase.order = Some((order_id, subscription_id.or(known)));
                }
            }
            Record::Settled { request_id, .. } => {
                open.remove(&request_id);
            }
            Record::Generation { .. } => {}
        }
    }
    let mut open: Vec<(usize, OpenPurchase)> = open.into_values().collect();
    open.sort_by_key(|(position, _)| *position);
    Ok(Contents {
        open: open.into_iter().map(|(_, purchase)| purchase).collect(),
        generations: generations.next,
    })
}

impl PurchaseJournal {
    /// Opens (creating its directory) the journal at `path` for appending, once it
    /// reads: a damaged journal is refused before anything is added to it, and a
    /// torn last line is cut off, or the next record would be glued onto it and
    /// damage the journal for every later apply.
    pub fn open(path: PathBuf) -> Result<PurchaseJournal, BackendError> {
        let contents = read(&path)?;
        cut_torn_line(&path).map_err(|e| failed(&path, &e))?;
        let generations = Generations {
            next: contents.generations,
            open: contents
                .open
                .into_iter()
                .filter_map(|purchase| Some((purchase.request_id, purchase.generation?)))
                .collect(),
        };
        Ok(PurchaseJournal {
            file: GroupCommit::new(path.clone(), Start::Append),
            path,
            mirror: OnceLock::new(),
            generations: Mutex::new(generations),
        })
    }

    /// Copies the journal to `mirror` after each record the apply waits for (set
    /// once, before the first record).
    pub fn set_mirror(&self, mirror: Arc<dyn JournalMirror>) {
        let _ = self.mirror.set(mirror);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn generations(&self) -> MutexGuard<'_, Generations> {
        // A panic while holding this lock leaves whole map entries behind.
        self.generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation the next purchase of `key` is sent with: 0 until a purchase
    /// of it is settled, then one more than the last one settled.
    pub fn next_generation(&self, key: &PurchaseKey) -> u64 {
        self.generations().next.get(key).copied().unwrap_or(0)
    }

    /// Appends a record and returns once it is on disk, and in the mirror when
    /// there is one.
    pub async fn append_durably(&self, record: &Record) -> Result<(), BackendError> {
        let sequence = self.append_line(record)?;
        self.file.durable(sequence).await?;
        match self.mirror.get() {
            Some(mirror) => mirror.push().await,
            None => Ok(()),
        }
    }

    /// Appends a record that nothing waits for: it reaches the disk with the next
    /// durable record, or when the journal is compacted.
    pub fn append(&self, record: &Record) -> Result<(), BackendError> {
        self.append_line(record).map(|_| ())
    }

    /// Writes the records nothing waited for (the end of a run does it on compaction).
    pub fn flush(&self) -> Result<(), BackendError> {
        self.file.flush_blocking()
    }

    /// Appends `record` and follows it in the generations: a `Settled` advances
    /// its key's generation in memory at once, before the record reaches the disk
    /// (it is not waited for). Lost in a crash, the record only leaves the purchase
    /// open: the next apply settles it with the id it was sent with, and the
    /// generation advances then.
    fn append_line(&self, record: &Record) -> Result<u64, BackendError> {
        let line = serde_json::to_vec(record).map_err(|e| failed(&self.path, &e))?;
        let sequence = self
            .file
            .append(&line)
            .map_err(|e| failed(&self.path, &e))?;
        self.generations().note(record);
        Ok(sequence)
    }

    /// Drops settled purchases: rewrites the file (temporary file, then rename)
    /// with the generations (one line per key, in key order, so the same history
    /// gives the same file) and the open purchases; removes it when it would hold
    /// neither.
    pub fn compact(&self) -> Result<(), BackendError> {
        self.file.flush_blocking()?;
        self.file.close();
        let Contents { open, generations } = read(&self.path)?;
        if open.is_empty() && generations.is_empty() {
            return match fs::remove_file(&self.path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => {
                    Err(failed(&self.path, &error))
                }
                _ => Ok(()),
            };
        }
        let mut records: Vec<Record> = generations
            .into_iter()
            .map(|(key, next)| Record::Generation { key, next })
            .collect();
        for purchase in open {
            let (key, generation) = purchase.generation.unzip();
            records.push(Record::Intent {
                request_id: purchase.request_id.clone(),
                at: purchase.at,
                operation: Box::new(purchase.operation),
                key,
                generation,
            });
            if let Some((order_id, subscription_id)) = purchase.order {
                records.push(Record::Ordered {
                    request_id: purchase.request_id,
                    order_id,
                    subscription_id,
                });
            }
        }
        let mut text = String::new();
        for record in records {
            text.push_str(&serde_json::to_string(&record).map_err(|e| failed(&self.path, &e))?);
            text.push('\n');
        }
        let temp = self.path.with_extension("journal.tmp");
        let write = || -> io::Result<()> {
            let mut file = File::create(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_data()?;
            fs::rename(&temp, &self.path)
        };
        write().map_err(|e| failed(&self.path, &e))
    }
}

/// Truncates the file at `path` after its last newline, if anything follows it.
fn cut_torn_line(path: &Path) -> io::Result<()> {
    let bytes = match fs::read(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        read => read?,
    };
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(whole as u64)?;
        file.sync_data()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::model::{BillingCycle, TermDuration};
    use crate::plan::ObjectRef;

    fn purchase(name: &str) -> Operation {
        Operation::CreateSubscription {
            customer: ObjectRef {
                address: "Customer/c".into(),
                id: Some("c-id".into()),
            },
            offer_id: "CFQ7TTC0LH18:0001:P1Y".into(),
            quantity: 3,
            term_duration: TermDuration::P1Y,
            billing_cycle: BillingCycle::Monthly,
            auto_renew: true,
            friendly_name: name.into(),
            partner_id_on_record: None,
            suspend: false,
            custom_term_end_date: None,
        }
    }

    fn intent(id: &str, name: &str) -> Record {
        Record::Intent {
            request_id: id.into(),
            at: "2026-03-01T10:00:00Z".into(),
            operation: Box::new(purchase(name)),
            // As an earlier release wrote them: a random id, no generation.
            key: None,
            generation: None,
        }
    }

    /// A purchase of `key` at `generation`, as apply journals it.
    fn keyed_intent(key: &PurchaseKey, generation: u64) -> Record {
        Record::Intent {
            request_id: key.request_id(generation),
            at: "2026-03-01T10:00:00Z".into(),
            operation: Box::new(purchase(&key.friendly_name)),
            key: Some(key.clone()),
            generation: Some(generation),
        }
    }

    fn settled(key: &PurchaseKey, generation: u64, bought: bool) -> Record {
        Record::Settled {
            request_id: key.request_id(generation),
            bought,
        }
    }

    #[test]
    fn a_generation_advances_only_when_its_purchase_is_settled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pc.journal");
        let journal = PurchaseJournal::open(path.clone()).expect("open");
        let office = PurchaseKey::new("T-1", "C-ID", "Office");
        assert_eq!(office, PurchaseKey::new("t-1", "c-id", "OFFICE"));
        assert_eq!(journal.next_generation(&office), 0);
        journal.append(&keyed_intent(&office, 0)).expect("append");
        // Open: a retry, or the next apply's settlement, is sent with the same id.
        assert_eq!(journal.next_generation(&office), 0);
        journal.append(&settled(&office, 0, true)).expect("append");
        // Answered: the next purchase of the same subscription gets a new id.
        assert_eq!(journal.next_generation(&office), 1);
        // A refusal is an answer too (headers page: "success or business failure").
        journal.append(&keyed_intent(&office, 1)).expect("append");
        journal.append(&settled(&office, 1, false)).expect("append");
        assert_eq!(journal.next_generation(&office), 2);
        // Another subscription of the same customer has a generation of its own.
        let second = PurchaseKey::new("t-1", "c-id", "Office 2");
        assert_eq!(journal.next_generation(&second), 0);
        // A settled record of a purchase without a generation advances nothing.
        journal.append(&intent("legacy", "x")).expect("append");
        journal
            .append(&Record::Settled {
                request_id: "legacy".into(),
                bought: true,
            })
            .expect("append");
        journal.flush().expect("flushed");
        let contents = read(&path).expect("read");
        assert!(contents.open.is_empty());
        assert_eq!(contents.generations, BTreeMap::from([(office, 2)]));
    }

    #[test]
    fn generations_survive_compaction_and_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pc.journal");
        let office = PurchaseKey::new("t-1", "c-id", "Office");
        let visio = PurchaseKey::new("t-1", "c-id", "Visio");
        {
            let journal = PurchaseJournal::open(path.clone()).expect("open");
            journal.append(&keyed_intent(&office, 0)).expect("append");
            journal.append(&settled(&office, 0, true)).expect("append");
            journal.append(&keyed_intent(&visio, 0)).expect("append");
            journal.compact().expect("compact");
        }
        // Nothing bought is open but Visio, yet the file stays: it holds Office's
        // generation, one line per key, then the open purchase.
        let text = fs::read_to_string(&path).expect("kept");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(
            lines[0],
            r#"{"event":"generation","key":{"tenantId":"t-1","customerId":"c-id","friendlyName":"office"},"next":1}"#
        );
        assert!(lines[1].contains(r#""generation":0"#), "{text}");
        // A restart reads both: Office's next id is new, Visio's open purchase
        // is settled with the id it was sent with, and that advances Visio.
        let journal = PurchaseJournal::open(path.clone()).expect("reopen");
        assert_eq!(journal.next_generation(&office), 1);
        assert_eq!(journal.next_generation(&visio), 0);
        let open = read_open(&path).expect("read");
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].request_id, visio.request_id(0));
        assert_eq!(open[0].generation, Some((visio.clone(), 0)));
        journal.append(&settled(&visio, 0, true)).expect("append");
        assert_eq!(journal.next_generation(&visio), 1);
        // A record naming an older generation never brings an answered id back.
        journal
            .append(&Record::Generation {
                key: office.clone(),
                next: 0,
            })
            .expect("append");
        assert_eq!(journal.next_generation(&office), 1);
        journal.compact().expect("compact");
        let contents = read(&path).expect("read");
        assert!(contents.open.is_empty());
        assert_eq!(
            contents.generations,
            BTreeMap::from([(office.clone(), 1), (visio, 1)])
        );
        // Compacting again changes nothing: the same history, the same bytes.
        let before = fs::read(&path).expect("file");
        PurchaseJournal::open(path.clone())
            .expect("reopen")
            .compact()
            .expect("compact");
        assert_eq!(fs::read(&path).expect("file"), before);
    }

    #[test]
    fn open_purchases_survive_until_settled_and_compaction_keeps_only_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/pc.journal");
        let journal = PurchaseJournal::open(path.clone()).expect("open");
        journal.append(&intent("r1", "a")).expect("append");
        journal.append(&intent("r2", "b")).expect("append");
        journal
            .append(&Record::Ordered {
                request_id: "r2".into(),
                order_id: "o2".into(),
                subscription_id: None,
            })
            .expect("append");
        journal
            .append(&Record::Ordered {
                request_id: "r2".into(),
                order_id: "o2".into(),
                subscription_id: Some("s2".into()),
            })
            .expect("append");
        journal
            .append(&Record::Settled {
                request_id: "r1".into(),
                bought: true,
            })
            .expect("append");
        assert!(
            read_open(&path).expect("read").is_empty(),
            "records nothing waited for are not written at once"
        );
        journal.flush().expect("flushed");
        let open = read_open(&path).expect("read");
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].request_id, "r2");
        assert_eq!(open[0].order, Some(("o2".into(), Some("s2".into()))));
        journal.compact().expect("compact");
        assert_eq!(read_open(&path).expect("read"), open);
        assert_eq!(fs::read_to_string(&path).expect("file").lines().count(), 2);
        journal
            .append(&Record::Settled {
                request_id: "r2".into(),
                bought: true,
            })
            .expect("append");
        journal.compact().expect("compact");
        assert!(!path.exists(), "a journal with nothing open is removed");
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_damage_elsewhere_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pc.journal");
        let good = serde_json::to_string(&intent("r1", "a")).expect("json");
        fs::write(&path, format!("{good}\n{{\"event\":\"intent\",\"requ")).expect("write");
        assert_eq!(read_open(&path).expect("read").len(), 1);
        // The next apply appends after the whole lines, not onto the torn one.
        let journal = PurchaseJournal::open(path.clone()).expect("opens");
        journal.append(&intent("r2", "b")).expect("append");
        journal.flush().expect("flushed");
        let ids: Vec<String> = read_open(&path)
            .expect("read")
            .into_iter()
            .map(|p| p.request_id)
            .collect();
        assert_eq!(ids, ["r1", "r2"]);
        // A whole last line that is not a record is damage, and refused as such.
        fs::write(&path, format!("{good}\nnot a record\n")).expect("write");
        let error = PurchaseJournal::open(path.clone())
            .expect_err("damage")
            .to_string();
        assert!(error.contains("line 2 is not a journal record"), "{error}");
        fs::write(&path, format!("garbage\n{good}\n")).expect("write");
        let error = read_open(&path).expect_err("damage").to_string();
        assert!(error.contains("line 1 is not a journal record"), "{error}");
        assert!(error.contains("pc.journal"), "{error}");
    }

    #[test]
    fn default_path_is_per_tenant_and_safe() {
        assert_eq!(
            default_journal_path("11111111-2222-3333-4444-555555555555"),
            PathBuf::from(".cspctl/partner-center-11111111-2222-3333-4444-555555555555.journal")
        );
        assert_eq!(
            default_journal_path("../x"),
            PathBuf::from(".cspctl/partner-center-___x.journal")
        );
    }
}
