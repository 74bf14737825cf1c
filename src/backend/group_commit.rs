//! An append-only file whose lines become durable in groups: the write-ahead
//! journals of the local tenant and of purchases.
//!
//! A caller that must not go on before its line is on disk (a purchase about to be
//! sent, a change about to be answered) waits for [`GroupCommit::durable`]; lines
//! appended while a flush is under way wait for the next flush together, so
//! concurrent callers share one `sync_data` instead of paying one each (about 2 ms
//! on the disks CI runs on). Lines reach the file in the order they were appended,
//! so a reader sees a prefix of that order, with at most the last line torn.
//!
//! Reading back ([`complete_lines`]) follows from that: a final line without its
//! newline is a write a crash cut short, nobody waited for it, so it is dropped and
//! reported; every other line is whole, and its damage is for the caller to refuse.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::backend::BackendError;

/// How the file is started on the first line.
#[derive(Debug)]
pub enum Start {
    /// Replace any file there with this header line (flushed with its directory).
    Truncate { header: String },
    /// Append to the file there, if any.
    Append,
}

/// What is appended but not yet durable, and who is flushing.
#[derive(Debug, Default)]
struct Pending {
    file: Option<Arc<File>>,
    buffer: Vec<u8>,
    /// Lines appended so far (the sequence number of the last one).
    appended: u64,
    /// Lines on disk.
    durable: u64,
    flushing: bool,
    /// Once a write fails nothing more is accepted: whatever the caller keeps in
    /// memory is ahead of the disk, and the next reader must start from the disk.
    failed: Option<String>,
}

/// The file, created on the first line.
#[derive(Debug)]
pub struct GroupCommit {
    path: PathBuf,
    start: Start,
    pending: Mutex<Pending>,
    flushed: Notify,
}

impl GroupCommit {
    /// Nothing is written until the first line.
    pub fn new(path: PathBuf, start: Start) -> GroupCommit {
        GroupCommit {
            path,
            start,
            pending: Mutex::new(Pending::default()),
            flushed: Notify::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn failed(&self, error: &dyn std::fmt::Display) -> BackendError {
        BackendError::State(format!("{}: {error}", self.path.display()))
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding this lock leaves plain counters and bytes behind.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether any line was appended.
    pub fn is_empty(&self) -> bool {
        self.pending().appended == 0
    }

    /// Why the file stopped accepting lines, if it did.
    pub fn failure(&self) -> Option<BackendError> {
        self.pending().failed.as_ref().map(|why| self.failed(why))
    }

    /// Adds `line` (without its newline) in memory and returns its sequence number
    /// for [`GroupCommit::durable`].
    pub fn append(&self, line: &[u8]) -> Result<u64, BackendError> {
        let mut pending = self.pending();
        if let Some(why) = &pending.failed {
            return Err(self.failed(why));
        }
        if pending.file.is_none() {
            match self.create() {
                Ok(file) => pending.file = Some(Arc::new(file)),
                Err(error) => {
                    pending.failed = Some(error.to_string());
                    return Err(self.failed(&error));
                }
            }
        }
        pending.buffer.extend_from_slice(line);
        pending.buffer.push(b'\n');
        pending.appended += 1;
        Ok(pending.appended)
    }

    fn create(&self) -> io::Result<File> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir)?;
        match &self.start {
            Start::Truncate { header } => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&self.path)?;
                writeln!(file, "{header}")?;
                file.sync_all()?;
                sync_dir(dir)?;
                Ok(file)
            }
            Start::Append => OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path),
        }
    }

    /// Returns once line `sequence` is on disk, flushing it (and every line
    /// appended before the flush starts) if no other caller is already doing so.
    pub async fn durable(&self, sequence: u64) -> Result<(), BackendError> {
        let mut yielded = false;
        loop {
            let notified = self.flushed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a flush that ends in between wakes us.
            notified.as_mut().enable();
            let batch = {
                let mut pending = self.pending();
                if let Some(why) = &pending.failed {
                    return Err(self.failed(why));
                }
                if pending.durable >= sequence {
                    return Ok(());
                }
                if pending.flushing {
                    None
                } else if !yielded {
                    Some(None)
                } else {
                    pending.flushing = true;
                    let bytes = std::mem::take(&mut pending.buffer);
                    Some(Some((bytes, pending.appended, pending.file.clone())))
                }
            };
            let (bytes, upto, file) = match batch {
                None => {
                    notified.await;
                    continue;
                }
                // Every task that is ready runs (and appends) before this one flushes,
                // so they share the flush. On a single-threaded runtime the order of
                // tasks, hence of lines and of the tenant's ids, is the same on every
                // run: no timing decides it.
                Some(None) => {
                    yielded = true;
                    tokio::task::yield_now().await;
                    continue;
                }
                Some(Some(batch)) => batch,
            };
            let write = move || -> io::Result<()> {
                let file = file.ok_or_else(|| io::Error::other("the file was never created"))?;
                (&*file).write_all(&bytes)?;
                file.sync_data()
            };
            // Written here rather than on a blocking thread: waiting is all the caller
            // does, and another thread would make the order of wake-ups depend on time.
            let written = match tokio::runtime::Handle::current().runtime_flavor() {
                tokio::runtime::RuntimeFlavor::CurrentThread => write(),
                _ => tokio::task::block_in_place(write),
            }
            .map_err(|e| e.to_string());
            {
                let mut pending = self.pending();
                pending.flushing = false;
                match written {
                    Ok(()) => pending.durable = upto,
                    Err(why) => pending.failed = Some(why),
                }
            }
            self.flushed.notify_waiters();
        }
    }

    /// Writes (and flushes) whatever is buffered, outside any runtime: for the end
    /// of a run, where lines that needed no wait (settled purchases) are kept.
    pub fn flush_blocking(&self) -> Result<(), BackendError> {
        let mut pending = self.pending();
        if let Some(why) = &pending.failed {
            return Err(self.failed(why));
        }
        if pending.buffer.is_empty() {
            return Ok(());
        }
        let Some(file) = pending.file.clone() else {
            return Ok(());
        };
        let bytes = std::mem::take(&mut pending.buffer);
        match (&*file).write_all(&bytes).and_then(|()| file.sync_data()) {
            Ok(()) => {
                pending.durable = pending.appended;
                Ok(())
            }
            Err(error) => {
                pending.failed = Some(error.to_string());
                Err(self.failed(&error))
            }
        }
    }

    /// Closes the file (a later line opens it again).
    pub fn close(&self) {
        self.pending().file = None;
    }
}

/// The bytes of the file at `what` `path` (a journal, the state), `None` when there is
/// none. Anything but a regular file is refused before it is opened: opening a FIFO
/// waits for a writer forever, and a device may never end.
pub fn read_regular(path: &Path, what: &str) -> Result<Option<Vec<u8>>, BackendError> {
    let failed = |error: &dyn std::fmt::Display| {
        BackendError::State(format!(
            "cannot read the {what} {}: {error}",
            path.display()
        ))
    };
    match fs::metadata(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(failed(&error)),
        Ok(meta) if !meta.is_file() => {
            return Err(failed(&format!(
                "it is not a regular file (a directory, FIFO, socket or device); cspctl keeps its {what} in a file of its own: give a path that is a file, or none yet"
            )));
        }
        Ok(_) => {}
    }
    fs::read(path).map(Some).map_err(|e| failed(&e))
}

/// The whole lines of a journal's `bytes` (read from `path`), without their newlines.
/// A final line without a newline was cut short by a crash while it was written:
/// nothing waited for it, so it is dropped, and said so on stderr.
pub fn complete_lines<'a>(path: &Path, bytes: &'a [u8]) -> Vec<&'a [u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // After the last newline: empty when the file ends with one, else the torn line.
    let torn = lines.pop().unwrap_or_default();
    if !torn.is_empty() {
        crate::diagnostic::warn(format_args!(
            "warning: {}: line {} was cut short by an interrupted write ({} bytes, no newline); nothing waited for it, so it is dropped",
            path.display(),
            lines.len() + 1,
            torn.len()
        ));
    }
    lines
}

/// Flushes a directory, so a file created or renamed in it survives a crash.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Other systems cannot open a directory to flush it; the rename is what they offer.
#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_appended_concurrently_are_all_durable_once_awaited() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/journal");
        let file = Arc::new(GroupCommit::new(
            path.clone(),
            Start::Truncate {
                header: "header".into(),
            },
        ));
        assert!(!path.exists(), "nothing is written before the first line");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut tasks = Vec::new();
            for n in 0..200 {
                let file = Arc::clone(&file);
                tasks.push(tokio::spawn(async move {
                    let sequence = file.append(format!("{n}").as_bytes()).expect("appended");
                    file.durable(sequence).await.map(|()| sequence)
                }));
            }
            for task in tasks {
                task.await.expect("joined").expect("durable");
            }
        });
        let text = fs::read_to_string(&path).expect("read");
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.remove(0), "header");
        let mut numbers: Vec<u32> = lines
            .iter()
            .map(|line| line.parse().expect("a whole line"))
            .collect();
        numbers.sort_unstable();
        assert_eq!(
            numbers,
            (0..200).collect::<Vec<_>>(),
            "each line once, whole"
        );
    }

    #[test]
    fn lines_that_need_no_wait_are_written_at_the_end() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal");
        fs::write(&path, "earlier\n").expect("write");
        let file = GroupCommit::new(path.clone(), Start::Append);
        file.append(b"later").expect("appended");
        file.flush_blocking().expect("flushed");
        assert_eq!(fs::read_to_string(&path).expect("read"), "earlier\nlater\n");
    }
}
