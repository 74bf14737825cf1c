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
//! File format: one JSON object per line (`<dir>/partner-center-<tenant>.journal`
//! by default). A torn last line (a crash mid-append) is dropped, reported, and cut
//! off before the next append: the request it announced was never sent, because
//! sending waits for the append. Any other damage is refused, the file untouched. Once every
//! purchase is settled the file is removed; otherwise it is rewritten (atomically)
//! with the open purchases only.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::backend::BackendError;
use crate::backend::group_commit::{GroupCommit, Start, complete_lines, read_regular};
use crate::plan::Operation;

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
}

/// A purchase that was announced but not settled.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenPurchase {
    pub request_id: String,
    pub at: String,
    pub operation: Operation,
    /// `(order id, subscription id when known)` once Partner Center answered.
    pub order: Option<(String, Option<String>)>,
}

/// The journal file of one provider tenant, opened by the apply that holds its lock.
/// Records that must be on disk before the apply goes on are group-committed
/// ([`GroupCommit`]): concurrent purchases share a flush.
#[derive(Debug)]
pub struct PurchaseJournal {
    path: PathBuf,
    file: GroupCommit,
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

/// Reads the purchases left open in the journal at `path` (none if it is absent). A
/// torn last line is dropped and reported ([`complete_lines`]); any other line that
/// is not a record is refused, the file left as it is.
pub fn read_open(path: &Path) -> Result<Vec<OpenPurchase>, BackendError> {
    let Some(bytes) = read_regular(path, "purchase journal")? else {
        return Ok(Vec::new());
    };
    let mut open: BTreeMap<String, (usize, OpenPurchase)> = BTreeMap::new();
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
        match record {
            Record::Intent {
                request_id,
                at,
                operation,
            } => {
                let position = open.len();
                open.entry(request_id.clone()).or_insert((
                    position,
                    OpenPurchase {
                        request_id,
                        at,
                        operation: *operation,
                        order: None,
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
        }
    }
    let mut open: Vec<(usize, OpenPurchase)> = open.into_values().collect();
    open.sort_by_key(|(position, _)| *position);
    Ok(open.into_iter().map(|(_, purchase)| purchase).collect())
}

impl PurchaseJournal {
    /// Opens (creating its directory) the journal at `path` for appending, once it
    /// reads: a damaged journal is refused before anything is added to it, and a
    /// torn last line is cut off, or the next record would be glued onto it and
    /// damage the journal for every later apply.
    pub fn open(path: PathBuf) -> Result<PurchaseJournal, BackendError> {
        read_open(&path)?;
        cut_torn_line(&path).map_err(|e| failed(&path, &e))?;
        Ok(PurchaseJournal {
            file: GroupCommit::new(path.clone(), Start::Append),
            path,
            mirror: OnceLock::new(),
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

    fn append_line(&self, record: &Record) -> Result<u64, BackendError> {
        let line = serde_json::to_vec(record).map_err(|e| failed(&self.path, &e))?;
        self.file.append(&line).map_err(|e| failed(&self.path, &e))
    }

    /// Drops settled purchases: removes the file when none is open, otherwise
    /// rewrites it (temporary file, then rename) with the open ones only.
    pub fn compact(&self) -> Result<(), BackendError> {
        self.file.flush_blocking()?;
        self.file.close();
        let open = read_open(&self.path)?;
        if open.is_empty() {
            return match fs::remove_file(&self.path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => {
                    Err(failed(&self.path, &error))
                }
                _ => Ok(()),
            };
        }
        let mut text = String::new();
        for purchase in open {
            let mut records = vec![Record::Intent {
                request_id: purchase.request_id.clone(),
                at: purchase.at,
                operation: Box::new(purchase.operation),
            }];
            if let Some((order_id, subscription_id)) = purchase.order {
                records.push(Record::Ordered {
                    request_id: purchase.request_id,
                    order_id,
                    subscription_id,
                });
            }
            for record in records {
                text.push_str(&serde_json::to_string(&record).map_err(|e| failed(&self.path, &e))?);
                text.push('\n');
            }
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
        }
    }

    fn intent(id: &str, name: &str) -> Record {
        Record::Intent {
            request_id: id.into(),
            at: "2026-03-01T10:00:00Z".into(),
            operation: Box::new(purchase(name)),
        }
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
