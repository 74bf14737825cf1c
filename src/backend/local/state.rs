//! The local backend's state file on disk: reading it (tolerantly, with a version
//! check), writing it atomically, and the lock that keeps two applies apart.
//!
//! It owns the file's envelope and durability, not its meaning: it must not apply
//! or check any Partner Center rule (that is `tenant.rs`). The file is written only
//! by cspctl, but people read it, diff it and keep it in git, so it is pretty,
//! deterministic JSON; it holds no secrets.
//!
//! Why a separate lock file: a write replaces the state file by renaming a new one
//! over it, so a lock held on the state file itself would guard a file that is
//! about to be unlinked. Readers (plan) take no lock: a rename is atomic, so they see
//! either the old state or the new one, never a torn write.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::tenant::{FORMAT_VERSION, LiveParts, Tenant};
use crate::backend::BackendError;

/// How often a waiting apply retries the lock.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// Reads the state file. A missing file is an empty tenant (a first run); unknown
/// fields are ignored, so a newer cspctl's additions within the same format version
/// do not break an older one; a newer format version is refused.
pub fn read(path: &Path) -> Result<Tenant, BackendError> {
    read_as(path)
}

/// What [`read_as`] can read: the whole tenant, or a part of it.
pub trait Versioned: DeserializeOwned + Default {
    fn format_version(&self) -> u32;
}

impl Versioned for Tenant {
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

impl Versioned for LiveParts {
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

/// [`read`] into any [`Versioned`] view of the state: a view leaves out what it does not
/// need (serde skips unknown fields without building them).
pub fn read_as<T: Versioned>(path: &Path) -> Result<T, BackendError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(T::default()),
        Err(error) => {
            return Err(BackendError::State(format!(
                "cannot read the local state file {}: {error}",
                path.display()
            )));
        }
    };
    // The typed parse first: one pass over a state that may be 150 MB. Only when it
    // fails, or succeeds with a newer version, is the version looked at on its own,
    // so a newer format is reported as such rather than as whatever field it changed.
    // cspctl writes `formatVersion` as the first key of a top-level object; the fast
    // path is taken only for a file that looks like that, everything else gets the
    // exact check below.
    let head = &bytes[..bytes.len().min(4096)];
    let looks_like_ours = head.trim_ascii_start().starts_with(b"{")
        && head.windows(15).any(|w| w == b"\"formatVersion\"");
    if looks_like_ours
        && let Ok(tenant) = serde_json::from_slice::<T>(&bytes)
        && tenant.format_version() == FORMAT_VERSION
    {
        return Ok(tenant);
    }
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|error| malformed(path, &error))?;
    match value
        .get("formatVersion")
        .and_then(serde_json::Value::as_u64)
    {
        Some(version) if version > u64::from(FORMAT_VERSION) => Err(BackendError::State(format!(
            "the local state file {} has format version {version}, but this cspctl reads format version {FORMAT_VERSION} at most: it was written by a newer cspctl; upgrade cspctl",
            path.display()
        ))),
        Some(version) if version >= 1 => {
            serde_json::from_slice(&bytes).map_err(|error| malformed(path, &error))
        }
        _ => Err(BackendError::State(format!(
            "the local state file {} has no valid `formatVersion`, so it is not a cspctl state file (or it was damaged); restore it from a backup or version control, or move it away to start from an empty local tenant",
            path.display()
        ))),
    }
}

/// `path:line:column: message` plus what to do, for a file serde could not read.
fn malformed(path: &Path, error: &serde_json::Error) -> BackendError {
    let text = error.to_string();
    // serde_json appends the position to its message; it is shown up front instead.
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    let what = if error.is_data() {
        "does not match the state file format"
    } else {
        "is not valid JSON"
    };
    BackendError::State(format!(
        "{}:{}:{}: the local state file {what}: {message}. cspctl writes this file itself: restore it from a backup or version control, fix it by hand, or move it away to start from an empty local tenant",
        path.display(),
        error.line(),
        error.column()
    ))
}

/// Writes the state file atomically: a temporary file in the same directory,
/// written and flushed to disk, renamed over the state file, then the directory
/// flushed so the rename itself survives a crash. Creates the directory if needed.
pub fn write(path: &Path, tenant: &Tenant) -> Result<(), BackendError> {
    let failed = |error: &dyn std::fmt::Display| {
        BackendError::State(format!(
            "cannot write the local state file {}: {error}",
            path.display()
        ))
    };
    let mut text = serde_json::to_string_pretty(tenant).map_err(|e| failed(&e))?;
    text.push('\n');
    let dir = parent_dir(path);
    fs::create_dir_all(dir).map_err(|e| failed(&e))?;
    let Some(file_name) = path.file_name() else {
        return Err(failed(&"the path does not name a file"));
    };
    // The pid keeps two writers from sharing a temporary file even if one of them
    // ignored the lock; the leading dot keeps it out of casual listings.
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = write_and_rename(&temp, path, text.as_bytes(), dir);
    if result.is_err() {
        // Best effort: after a failed rename the temporary file is just litter.
        let _ = fs::remove_file(&temp);
    }
    result.map_err(|e| failed(&e))
}

fn write_and_rename(temp: &Path, path: &Path, bytes: &[u8], dir: &Path) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, path)?;
    sync_dir(dir)
}

#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Other systems cannot open a directory to flush it; the rename is what they offer.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// `<state file>.lock`, next to the state file.
pub fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// An exclusive lock on the state, held while an apply runs; released on drop (and
/// by the operating system if the process dies, so a crash never leaves it stuck).
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
}

impl StateLock {
    /// Takes the lock of the state file `state`, retrying until `timeout` has passed.
    pub fn acquire(state: &Path, timeout: Duration) -> Result<StateLock, BackendError> {
        let path = lock_path(state);
        let failed = |error: &dyn std::fmt::Display| {
            BackendError::State(format!("cannot take the lock {}: {error}", path.display()))
        };
        fs::create_dir_all(parent_dir(&path)).map_err(|e| failed(&e))?;
        // Not truncated on open: until we hold the lock, the content is the holder's pid.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| failed(&e))?;
        // No deadline if the timeout is too large to add to the clock.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let now = Instant::now();
                    let remaining = deadline.map(|d| d.saturating_duration_since(now));
                    if remaining == Some(Duration::ZERO) {
                        return Err(BackendError::Locked(locked_message(state, &path, timeout)));
                    }
                    std::thread::sleep(remaining.map_or(LOCK_POLL, |r| r.min(LOCK_POLL)));
                }
                Err(TryLockError::Error(error)) => return Err(failed(&error)),
            }
        }
        let mut lock = StateLock { file, path };
        // The pid only helps a waiting apply say who holds the lock; failing to
        // record it must not fail this one.
        let _ = lock.record_holder();
        Ok(lock)
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn record_holder(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        writeln!(self.file, "{}", std::process::id())?;
        self.file.sync_data()
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Clear the pid first so no one reads a stale holder, then release. Both
        // are best effort: closing the file releases the lock anyway.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn locked_message(state: &Path, lock: &Path, waited: Duration) -> String {
    // The holder wrote its pid into the lock file; a reader may see it empty for a
    // moment (or not at all where locks are mandatory), hence "unknown".
    let holder = fs::read_to_string(lock)
        .ok()
        .map(|text| text.trim().to_owned())
        .filter(|pid| !pid.is_empty())
        .map_or_else(|| "pid unknown".to_owned(), |pid| format!("pid {pid}"));
    format!(
        "{} is locked by another cspctl apply ({holder}), which holds {}; gave up after {:.1}s. Wait for that apply to finish and run again, or raise the lock timeout. If no cspctl is running, just run again: the lock is released when its process exits, and a leftover lock file is harmless",
        state.display(),
        lock.display(),
        waited.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(error: BackendError) -> String {
        match error {
            BackendError::State(message) => message,
            other => panic!("expected a state error, got {other:?}"),
        }
    }

    fn seeded() -> Tenant {
        let mut tenant = Tenant {
            next_id: 42,
            ..Tenant::default()
        };
        tenant.resellers.insert(
            "484e548c-f5f3-4528-93a9-c16c6373cb59".into(),
            crate::live::LiveReseller {
                tenant_id: "484e548c-f5f3-4528-93a9-c16c6373cb59".into(),
                mpn_id: "4847383".into(),
                name: "First Up".into(),
                location: None,
            },
        );
        tenant
    }

    #[test]
    fn a_missing_file_is_an_empty_tenant() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            read(&dir.path().join("state.json")).expect("reads"),
            Tenant::default()
        );
    }

    #[test]
    fn writes_pretty_deterministic_json_and_reads_it_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(".cspctl").join("state.json");
        write(&path, &seeded()).expect("writes, creating the directory");
        let text = fs::read_to_string(&path).expect("written");
        assert!(text.starts_with("{\n  \"formatVersion\": 1,\n"), "{text}");
        assert!(text.ends_with("}\n"));
        assert_eq!(read(&path).expect("reads"), seeded());
        write(&path, &read(&path).expect("reads")).expect("rewrites");
        assert_eq!(
            fs::read_to_string(&path).expect("written"),
            text,
            "a round trip changes nothing"
        );
        let names: Vec<_> = fs::read_dir(path.parent().expect("a parent"))
            .expect("lists")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["state.json"], "no temporary file is left behind");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let text = r#"{
          "formatVersion": 1, "addedLater": {"x": 1}, "nextId": 3,
          "customers": {"c1": {"id": "c1", "domain": "a.onmicrosoft.com", "companyName": "A", "futureField": true,
            "billing": {"email": "a@a.com", "culture": "en-US", "language": "en", "newBillingField": 1,
              "address": {"firstName": "A", "lastName": "B", "addressLine1": "1", "city": "C", "postalCode": "1", "country": "US", "addressLine3": "x"}}}}
        }"#;
        fs::write(&path, text).expect("seeded");
        let tenant = read(&path).expect("reads tolerantly");
        assert_eq!(tenant.next_id, 3);
        assert_eq!(tenant.customers["c1"].billing.address.country, "US");
        assert_eq!(tenant.partner, super::super::tenant::Partner::default());
    }

    #[test]
    fn a_newer_format_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        fs::write(&path, r#"{"formatVersion": 2, "somethingNew": []}"#).expect("seeded");
        let message = message(read(&path).expect_err("newer"));
        assert!(
            message.contains(&path.display().to_string())
                && message.contains("format version 2")
                && message.contains("upgrade cspctl"),
            "{message}"
        );
    }

    #[test]
    fn malformed_files_are_reported_with_a_position() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        fs::write(&path, "{\n  \"formatVersion\": 1,\n  \"nextId\": ,\n}\n").expect("seeded");
        let text = message(read(&path).expect_err("malformed"));
        assert!(
            text.starts_with(&format!(
                "{}:3:13: the local state file is not valid JSON",
                path.display()
            )),
            "{text}"
        );
        assert!(text.contains("move it away"), "{text}");

        fs::write(&path, "{\"formatVersion\": 1,\n\"nextId\": \"three\"}").expect("seeded");
        let text = message(read(&path).expect_err("wrong type"));
        assert!(
            text.starts_with(&format!("{}:2:", path.display()))
                && text.contains("does not match the state file format"),
            "{text}"
        );

        for content in ["", "[]", "{\"nextId\": 1}", "{\"formatVersion\": 0}"] {
            fs::write(&path, content).expect("seeded");
            assert!(read(&path).is_err(), "{content:?} must not read as a state");
        }
    }

    #[test]
    fn the_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join(".cspctl").join("state.json");
        let first = StateLock::acquire(&state, Duration::ZERO).expect("free");
        assert_eq!(first.path(), lock_path(&state));
        // Where locks are mandatory (Windows) the holder's pid cannot be read.
        let holder = if cfg!(unix) {
            let pid = std::process::id().to_string();
            let recorded = fs::read_to_string(first.path()).expect("lock file");
            assert_eq!(recorded.trim(), pid);
            format!("pid {pid}")
        } else {
            "pid".to_owned()
        };
        match StateLock::acquire(&state, Duration::from_millis(120)) {
            Err(BackendError::Locked(message)) => {
                let lock_file = lock_path(&state).display().to_string();
                assert!(message.contains(&lock_file), "{message}");
                assert!(message.contains("another cspctl apply"), "{message}");
                assert!(message.contains(&holder), "{message}");
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        StateLock::acquire(&state, Duration::ZERO).expect("free again after drop");
    }

    #[test]
    fn a_waiting_lock_gets_it_when_released() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("state.json");
        let first = StateLock::acquire(&state, Duration::ZERO).expect("free");
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
        });
        StateLock::acquire(&state, Duration::from_secs(10)).expect("acquired after the release");
        releaser.join().expect("joined");
    }
}
