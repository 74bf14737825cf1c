//! The local tenant's write-ahead journal: `<state>.journal`, one JSON line per
//! request that changed the simulated tenant since the state file was last written.
//!
//! Why: saving the whole state after every request costs as much as the state (about
//! 150 MB for a tenant of 100,000 subscriptions), so a large apply would rewrite it
//! hundreds of thousands of times. Instead each request that changed the tenant is
//! appended here, and the state file is rewritten once, atomically, at the end of
//! the apply (compaction), after which the journal is removed. A killed apply leaves
//! the journal behind; whoever opens the state next replays its requests against
//! the state file's tenant, which is deterministic (injected clock, seeded ids), so
//! no completed change is ever lost and none is applied twice.
//!
//! A request's answer is handed back only once its line is on disk, in groups
//! ([`GroupCommit`]): concurrent requests share one `sync_data`. Lines are appended
//! in commit order (the caller appends under the tenant's lock), which is the order
//! a replay follows.
//!
//! The first line names the state revision the journal applies to and the clock of
//! the run that wrote it. Compaction writes the state with the next revision
//! *before* removing the journal, so a crash between the two leaves a journal for an
//! older revision: it is ignored (and reported), never applied twice. A torn last
//! line (a crash mid-flush) is dropped and reported: the request it held was never
//! answered. Anything else unexpected (a damaged line, a journal for a *newer*
//! revision than the state file's) is refused, and the file left as it is: the
//! changes it holds were answered, so only a person may drop them. This module owns
//! the file format and its durability only.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::BackendError;
use crate::backend::group_commit::{GroupCommit, Start, complete_lines, read_regular};

/// The journal next to a state file.
pub fn journal_path(state: &Path) -> PathBuf {
    super::state::beside(state, ".journal")
}

/// The first line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// The state revision the entries apply to.
    pub base_revision: u64,
    /// The clock of the run that wrote the entries (RFC 3339): a replay runs them
    /// at the same time, so they mean the same.
    #[serde(default)]
    pub now: Option<String>,
}

/// One request that changed the tenant, and the status it was answered with (a
/// replay must be answered the same, or the files were edited by hand).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub method: String,
    /// Path from the root with its query, e.g. `/v1/customers`.
    pub path: String,
    /// The headers the tenant reads (`MS-RequestId`, `If-Match`); never a secret:
    /// in-process requests carry no token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    pub status: u16,
}

fn failed(path: &Path, error: &dyn std::fmt::Display) -> BackendError {
    BackendError::State(format!("local state journal {}: {error}", path.display()))
}

/// The header and entries of the journal at `path` when it applies to `revision`;
/// `None` when there is none, or one left over from a finished compaction (said on
/// stderr). A torn last line is dropped ([`complete_lines`]); anything else that is
/// not what this module writes is refused with its line, and the file is left as it
/// is: dropping it would drop answered changes.
pub fn read(path: &Path, revision: u64) -> Result<Option<(Header, Vec<Entry>)>, BackendError> {
    let Some(bytes) = read_regular(path, "local state journal")? else {
        return Ok(None);
    };
    let lines = complete_lines(path, &bytes);
    let Some((first, lines)) = lines.split_first() else {
        return Ok(None);
    };
    let header: Header = serde_json::from_slice(first).map_err(|error| {
        failed(
            path,
            &format!(
                "line 1 is not the journal's header ({error}), so the journal was damaged or changed by hand; {KEEP_OR_MOVE}"
            ),
        )
    })?;
    if header.base_revision < revision {
        crate::diagnostic::warn(format_args!(
            "warning: {}: left by an apply that wrote the state file (now at revision {revision}, the journal is for {}) but was stopped before it removed the journal: the state file holds everything in it, so it is not replayed; the next apply removes it",
            path.display(),
            header.base_revision
        ));
        return Ok(None);
    }
    if header.base_revision > revision {
        return Err(failed(
            path,
            &format!(
                "line 1: the journal holds changes to state revision {}, but the state file is at revision {revision}: the state file is older than its journal (restored from a backup, or replaced?), and replaying would apply the changes to the wrong tenant; put back the state file this journal belongs to, or {MOVE_AWAY}",
                header.base_revision
            ),
        ));
    }
    let mut entries = Vec::with_capacity(lines.len());
    for (number, line) in (2..).zip(lines) {
        match serde_json::from_slice::<Entry>(line) {
            Ok(entry) => entries.push(entry),
            Err(_) if is_older_format(line) => return Err(failed(path, &OLDER_FORMAT)),
            Err(error) => {
                return Err(failed(
                    path,
                    &format!(
                        "line {number} is not a journal entry ({error}) and is not a torn last line, so the journal was damaged or changed by hand; {KEEP_OR_MOVE}"
                    ),
                ));
            }
        }
    }
    Ok(Some((header, entries)))
}

/// How to go on from a damaged journal, which is left as it is.
const KEEP_OR_MOVE: &str = "it is left as it is: restore it from a backup, or move it away to drop the changes it holds (changes already made, which the state file then no longer records)";
const MOVE_AWAY: &str = "move the journal away to drop the changes it holds (the state file then no longer records them)";

/// What to do with a journal of cspctl 0.x's local tenant.
const OLDER_FORMAT: &str = "this journal was left by an interrupted apply of an older cspctl (its lines are operations, not requests), which this release cannot replay; run `cspctl plan` or `apply` once with the older release to fold it into the state file, or move it away to drop the changes it holds";

/// An older release's journal line: `{"now": …, "operation": …}`.
fn is_older_format(line: &[u8]) -> bool {
    serde_json::from_slice::<Value>(line)
        .is_ok_and(|value| value.get("operation").is_some() && value.get("method").is_none())
}

/// Removes a journal file if there is one.
pub fn remove(path: &Path) -> Result<(), BackendError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(failed(path, &error)),
    }
}

/// The journal of one run, created on disk with its first entry.
#[derive(Debug)]
pub struct Journal {
    file: GroupCommit,
}

impl Journal {
    /// A journal for changes to `revision` made at `now`; nothing is written until
    /// the first entry.
    pub fn new(path: PathBuf, revision: u64, now: &str) -> Result<Journal, BackendError> {
        let header = serde_json::to_string(&Header {
            base_revision: revision,
            now: Some(now.to_owned()),
        })
        .map_err(|e| failed(&path, &e))?;
        Ok(Journal {
            file: GroupCommit::new(path, Start::Truncate { header }),
        })
    }

    /// Whether anything was appended in this run.
    pub fn is_empty(&self) -> bool {
        self.file.is_empty()
    }

    /// Why the journal stopped accepting entries, if it did.
    pub fn failure(&self) -> Option<BackendError> {
        self.file.failure()
    }

    /// Adds `entry` in memory and returns its sequence number for [`Journal::durable`].
    /// Callers append in commit order.
    pub fn append(&self, entry: &Entry) -> Result<u64, BackendError> {
        let line = serde_json::to_vec(entry).map_err(|e| failed(self.file.path(), &e))?;
        self.file.append(&line)
    }

    /// Returns once entry `sequence` is on disk (see [`GroupCommit::durable`]).
    pub async fn durable(&self, sequence: u64) -> Result<(), BackendError> {
        self.file.durable(sequence).await
    }

    /// Removes the journal once the state file holds everything in it.
    pub fn remove(&self) -> Result<(), BackendError> {
        self.file.close();
        remove(self.file.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u16) -> Entry {
        Entry {
            method: "POST".into(),
            path: "/v1/customers".into(),
            headers: vec![("MS-RequestId".into(), format!("r{n}"))],
            body: Some(serde_json::json!({"n": n})),
            status: 201,
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn entries_are_read_back_for_their_revision_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = journal_path(&dir.path().join("state.json"));
        let journal = Journal::new(path.clone(), 3, "2026-01-31T12:00:00Z").expect("journal");
        assert!(!path.exists(), "nothing is written before the first entry");
        let runtime = runtime();
        for n in 0..3 {
            let sequence = journal.append(&entry(n)).expect("appended");
            runtime
                .block_on(journal.durable(sequence))
                .expect("durable");
        }
        let (header, entries) = read(&path, 3).expect("reads").expect("applies");
        assert_eq!(header.now.as_deref(), Some("2026-01-31T12:00:00Z"));
        assert_eq!(entries, vec![entry(0), entry(1), entry(2)]);
        assert!(read(&path, 4).expect("reads").is_none());
        journal.remove().expect("removed");
        assert!(read(&path, 3).expect("reads").is_none());
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_damage_elsewhere_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json.journal");
        let line = serde_json::to_string(&entry(1)).expect("json");
        fs::write(
            &path,
            format!("{{\"baseRevision\":0}}\n{line}\n{{\"method\":\"PO"),
        )
        .expect("write");
        let (_, entries) = read(&path, 0).expect("reads").expect("applies");
        assert_eq!(entries, vec![entry(1)]);
        fs::write(&path, format!("{{\"baseRevision\":0}}\nnot json\n{line}\n")).expect("write");
        let error = read(&path, 0).expect_err("damaged");
        assert!(error.to_string().contains("line 2"), "{error}");
        // A whole last line (it has its newline) was written completely: damage.
        fs::write(&path, format!("{{\"baseRevision\":0}}\n{line}\nnot json\n")).expect("write");
        let error = read(&path, 0).expect_err("damaged last line");
        assert!(error.to_string().contains("line 3"), "{error}");
    }

    #[test]
    fn a_journal_for_an_older_revision_is_ignored_but_a_newer_one_or_a_bad_header_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json.journal");
        let line = serde_json::to_string(&entry(1)).expect("json");
        fs::write(&path, format!("{{\"baseRevision\":4}}\n{line}\n")).expect("write");
        assert!(read(&path, 5).expect("folded in already").is_none());
        let error = read(&path, 3).expect_err("ahead of the state").to_string();
        assert!(
            error.contains("revision 4") && error.contains("at revision 3"),
            "{error}"
        );
        fs::write(&path, format!("{{\"baseRev\n{line}\n")).expect("write");
        let error = read(&path, 4).expect_err("bad header").to_string();
        assert!(
            error.contains("line 1 is not the journal's header"),
            "{error}"
        );
    }
}
