//! The local backend's state file on disk: reading it (tolerantly, with a version
//! check, migrating an older release's file), writing it atomically, and the lock
//! that keeps two applies apart.
//!
//! The file is the simulator's persisted tenant ([`crate::sim::State`]), in the
//! format `cspctl sim serve --state` reads and writes. This module owns the file's
//! envelope and durability, not its meaning: no Partner Center rule lives here. The
//! file is written only by cspctl, but people read it, diff it and keep it in git,
//! so it is laid out one object a line (see `ObjectPerLine`), deterministic
//! JSON; it holds no secrets (in-process requests carry no token).
//!
//! Why a separate lock file: a write replaces the state file by renaming a new one
//! over it, so a lock held on the state file itself would guard a file that is
//! about to be unlinked. Readers (plan) take no lock: a rename is atomic, so they see
//! either the old state or the new one, never a torn write.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::unknown::{self, Unknown};
use super::{migrate, scan};
use crate::backend::BackendError;
use crate::backend::group_commit::{read_regular, sync_dir};
use crate::sim::state::{Partner, State};

/// Version of the state file format this release writes and the newest it reads:
/// 2 is the simulator's tenant; 1 was either the simulator's tenant (read as is) or
/// an older release's local tenant (migrated, see [`migrate`]).
pub const FORMAT_VERSION: u32 = 2;

/// How often a waiting apply retries the lock.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// The seed of a new local tenant's ids: fixed, so the same applies give the same
/// ids on every machine.
const LOCAL_ID_SEED: u64 = 0x10CA_1000_C5C7;

/// The provider a new local tenant belongs to: made up, fixed values, so a new
/// state file depends on nothing outside it.
pub fn local_partner() -> Partner {
    Partner {
        tenant_id: "5e1d0c4b-7a3f-4c2e-9b8d-1f0a2c3d4e5f".to_owned(),
        mpn_id: "9900001".to_owned(),
        name: "Local Indirect Provider".to_owned(),
    }
}

/// An empty local tenant.
pub fn empty() -> State {
    local_settings(State::new(local_partner(), true, LOCAL_ID_SEED))
}

/// What a local tenant is, whatever the file said: the integration sandbox, without
/// its quotas, so realistic manifests can be rehearsed.
fn local_settings(mut state: State) -> State {
    state.sandbox = true;
    state.sandbox_reseller_limit = None;
    state.format_version = FORMAT_VERSION;
    state
}

/// Reads the state file: the tenant, whether it was migrated from an older
/// release's format (the caller writes it back in this one when it may), and the
/// fields this release does not know (a newer cspctl's additions within the same
/// format version), which [`write`] puts back. A missing file is an empty tenant (a
/// first run); a newer format version is refused.
pub fn read(path: &Path) -> Result<(State, bool, Unknown), BackendError> {
    let Some(bytes) = read_checked(path)? else {
        return Ok((empty(), false, Unknown::default()));
    };
    // The typed parse first: one pass over a state that may be 150 MB. Only when it
    // fails, or succeeds with another version, is the file looked at as a whole, so a
    // newer format is reported as such rather than as whatever field it changed.
    if looks_like_ours(&bytes)
        && let Ok((state, unknown)) = unknown::read::<State>(&bytes)
        && state.format_version == FORMAT_VERSION
    {
        return Ok((local_settings(state), false, unknown));
    }
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|error| malformed(path, &error))?;
    if migrate::is_local_v1(&value) {
        let mut state = migrate::from_local_v1(&bytes).map_err(|why| {
            BackendError::State(format!(
                "{}: this state file was written by an older cspctl and cannot be migrated: {why}. Fix it by hand, or run the older release to change it, then try again",
                path.display()
            ))
        })?;
        // Kept, so that a journal the older release left for this very revision is
        // found (and refused with what to do: its lines are operations, which this
        // release cannot replay), while an older leftover one is still ignored.
        state.revision = value
            .get("revision")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        return Ok((local_settings(state), true, Unknown::default()));
    }
    match value
        .get("formatVersion")
        .and_then(serde_json::Value::as_u64)
    {
        Some(version) if version > u64::from(FORMAT_VERSION) => Err(BackendError::State(format!(
            "the local state file {} has format version {version}, but this cspctl reads format version {FORMAT_VERSION} at most: it was written by a newer cspctl; upgrade cspctl",
            path.display()
        ))),
        Some(version) if version >= 1 => unknown::read::<State>(&bytes)
            .map(|(state, unknown)| (local_settings(state), false, unknown))
            .map_err(|error| malformed(path, &error)),
        _ => Err(BackendError::State(format!(
            "the local state file {} has no valid `formatVersion`, so it is not a cspctl state file (or it was damaged); restore it from a backup or version control, or move it away to start from an empty local tenant",
            path.display()
        ))),
    }
}

/// The parts of a state file a snapshot reads: all but the carts, the orders and the
/// cached answers (over half of a large tenant's file, and of its memory), for an
/// open that changes nothing and replays no journal (plan, drift, export). The
/// fields are the tenant's, defaulted as [`read`] defaults them.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnapshotParts {
    format_version: u32,
    #[serde(default)]
    revision: u64,
    partner: Partner,
    id_seed: u64,
    id_counter: u64,
    #[serde(default)]
    resellers: Vec<crate::sim::state::Reseller>,
    #[serde(default)]
    tenants: Vec<crate::sim::state::Tenant>,
    #[serde(default)]
    customers: Vec<crate::sim::state::Customer>,
    #[serde(default)]
    subscriptions: Vec<crate::sim::state::Subscription>,
}

/// [`read`], leaving out what no snapshot reads (see [`SnapshotParts`]); a file in
/// any other format than the current one is read whole.
pub fn read_for_snapshot(path: &Path) -> Result<(State, bool), BackendError> {
    let Some(bytes) = read_checked(path)? else {
        return Ok((empty(), false));
    };
    if looks_like_ours(&bytes)
        && let Ok(parts) = serde_json::from_slice::<SnapshotParts>(&bytes)
        && parts.format_version == FORMAT_VERSION
    {
        let mut state = State::new(parts.partner, true, parts.id_seed);
        state.revision = parts.revision;
        state.id_counter = parts.id_counter;
        state.resellers = parts.resellers;
        state.tenants = parts.tenants;
        state.customers = parts.customers;
        state.subscriptions = parts.subscriptions;
        return Ok((local_settings(state), false));
    }
    drop(bytes);
    read(path).map(|(state, migrated, _)| (state, migrated))
}

/// The state file's bytes (`None`: there is none), once [`scan::check`] found no
/// repeated key or id, which the typed read would let through.
fn read_checked(path: &Path) -> Result<Option<Vec<u8>>, BackendError> {
    let bytes = read_regular(path, "local state file")?;
    if let Some(bytes) = &bytes {
        scan::check(bytes).map_err(|error| malformed(path, &error))?;
    }
    Ok(bytes)
}

/// Whether `bytes` begin as cspctl writes a state file (a top-level object with
/// `formatVersion` among its first keys), so the one-pass typed read is worth a
/// try; everything else gets the exact checks.
fn looks_like_ours(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    head.trim_ascii_start().starts_with(b"{") && head.windows(15).any(|w| w == b"\"formatVersion\"")
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
/// A symbolic link is written through: the file it leads to is replaced. The fields
/// [`read`] did not know are written back into their objects.
pub fn write(path: &Path, state: &State, unknown: &Unknown) -> Result<(), BackendError> {
    let failed = |error: &dyn std::fmt::Display| {
        BackendError::State(format!(
            "cannot write the local state file {}: {error}",
            path.display()
        ))
    };
    let mut text = Vec::with_capacity(1 << 20);
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut text, ObjectPerLine::default());
    if unknown.is_empty() {
        serde::Serialize::serialize(state, &mut serializer).map_err(|e| failed(&e))?;
    } else {
        let value = serde_json::to_value(state).map_err(|e| failed(&e))?;
        serde::Serialize::serialize(&unknown.restore(value), &mut serializer)
            .map_err(|e| failed(&e))?;
    }
    text.push(b'\n');
    let target = link_target(path).map_err(|e| failed(&e))?;
    let dir = parent_dir(&target);
    fs::create_dir_all(dir).map_err(|e| failed(&e))?;
    let Some(file_name) = target.file_name() else {
        return Err(failed(&"the path does not name a file"));
    };
    // The pid keeps two writers from sharing a temporary file even if one of them
    // ignored the lock; the leading dot keeps it out of casual listings.
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = write_and_rename(&temp, &target, &text, dir);
    if result.is_err() {
        // Best effort: after a failed rename the temporary file is just litter.
        let _ = fs::remove_file(&temp);
    }
    result.map_err(|e| failed(&e))
}

/// JSON laid out for reading and diffing at the size of a real tenant: the state's
/// fields one a line, and in its lists one object a line (a customer, an order, a
/// subscription), each compact. A change to one object is a one-line diff, and the
/// file is about half the size of fully indented JSON.
#[derive(Default)]
struct ObjectPerLine {
    /// Per open array or object: whether it holds a value yet.
    open: Vec<bool>,
}

impl ObjectPerLine {
    /// Containers nested this deep or less are laid out on lines.
    const LINED_DEPTH: usize = 2;

    fn lined(&self) -> bool {
        self.open.len() <= Self::LINED_DEPTH
    }

    fn newline<W: ?Sized + io::Write>(writer: &mut W, depth: usize) -> io::Result<()> {
        writer.write_all(b"\n")?;
        for _ in 0..depth {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }

    fn begin<W: ?Sized + io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.open.push(false);
        writer.write_all(bracket)
    }

    fn end<W: ?Sized + io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        let lined = self.lined();
        let had_values = self.open.pop().unwrap_or(false);
        if lined && had_values {
            Self::newline(writer, self.open.len())?;
        }
        writer.write_all(bracket)
    }

    fn item<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        if self.lined() {
            Self::newline(writer, self.open.len())?;
        }
        Ok(())
    }

    fn item_done(&mut self) {
        if let Some(has_value) = self.open.last_mut() {
            *has_value = true;
        }
    }
}

impl serde_json::ser::Formatter for ObjectPerLine {
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.begin(writer, b"[")
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.end(writer, b"]")
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.item_done();
        Ok(())
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.begin(writer, b"{")
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.end(writer, b"}")
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(if self.lined() { b": " } else { b":" })
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.item_done();
        Ok(())
    }
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

/// The file a write replaces: `path`, or where its symbolic links lead, so that a
/// linked state file (kept in another directory, say) is written through its link
/// instead of being replaced by a file; the rename happens in the target's directory.
fn link_target(path: &Path) -> io::Result<PathBuf> {
    let mut target = path.to_path_buf();
    // The system's own limit on links followed in a path (Linux's is 40).
    for _ in 0..40 {
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.file_type().is_symlink() => {
                // A relative link is relative to the link's directory; `join` keeps
                // an absolute one as it is.
                target = parent_dir(&target).join(fs::read_link(&target)?);
            }
            _ => return Ok(target),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The file beside the state file named like it plus `suffix` (`.lock`,
/// `.journal`, `.purchases`).
pub fn beside(state: &Path, suffix: &str) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `<state file>.lock`, next to the state file.
pub fn lock_path(state: &Path) -> PathBuf {
    beside(state, ".lock")
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

    fn seeded() -> State {
        let mut state = empty();
        state
            .add_reseller(crate::sim::state::Reseller::new(
                "484e548c-f5f3-4528-93a9-c16c6373cb59",
                "4847383",
                "First Up",
                "",
            ))
            .expect("added");
        state
    }

    #[test]
    fn a_missing_file_is_an_empty_tenant() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            read(&dir.path().join("state.json")).expect("reads"),
            (empty(), false, Unknown::default())
        );
    }

    #[test]
    fn writes_pretty_deterministic_json_and_reads_it_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(".cspctl").join("state.json");
        write(&path, &seeded(), &Unknown::default()).expect("writes, creating the directory");
        let text = fs::read_to_string(&path).expect("written");
        assert!(text.starts_with("{\n  \"formatVersion\": 2,\n"), "{text}");
        assert!(text.ends_with("}\n"));
        assert_eq!(
            read(&path).expect("reads"),
            (seeded(), false, Unknown::default())
        );
        let (state, _, unknown) = read(&path).expect("reads");
        write(&path, &state, &unknown).expect("rewrites");
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
    fn unknown_fields_are_read_past_and_written_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let mut value = serde_json::to_value(seeded()).expect("json");
        value["addedLater"] = serde_json::json!({"x": 1});
        value["resellers"][0]["futureField"] = serde_json::json!(true);
        fs::write(&path, serde_json::to_vec(&value).expect("bytes")).expect("seeded");
        let (state, _, unknown) = read(&path).expect("reads tolerantly");
        assert_eq!(state, seeded());
        let tenant = value["resellers"][0]["tenantId"]
            .as_str()
            .expect("a tenant id");
        assert_eq!(
            unknown.paths(),
            [
                format!("resellers.[{tenant}].futureField"),
                "addedLater".to_owned()
            ]
        );
        write(&path, &state, &unknown).expect("rewrites");
        let written: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).expect("written")).expect("json");
        assert_eq!(written["addedLater"], serde_json::json!({"x": 1}));
        assert_eq!(written["resellers"][0]["futureField"], true);
        let (again, _, kept) = read(&path).expect("reads again");
        assert_eq!((again, kept), (state, unknown));
    }

    #[test]
    fn a_newer_format_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        fs::write(&path, r#"{"formatVersion": 3, "somethingNew": []}"#).expect("seeded");
        let message = message(read(&path).expect_err("newer"));
        assert!(
            message.contains(&path.display().to_string())
                && message.contains("format version 3")
                && message.contains("upgrade cspctl"),
            "{message}"
        );
    }

    #[test]
    fn malformed_files_are_reported_with_a_position() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        fs::write(&path, "{\n  \"formatVersion\": 2,\n  \"idSeed\": ,\n}\n").expect("seeded");
        let text = message(read(&path).expect_err("malformed"));
        assert!(
            text.starts_with(&format!(
                "{}:3:13: the local state file is not valid JSON",
                path.display()
            )),
            "{text}"
        );
        assert!(text.contains("move it away"), "{text}");

        fs::write(&path, "{\"formatVersion\": 2,\n\"idSeed\": \"three\"}").expect("seeded");
        let text = message(read(&path).expect_err("wrong type"));
        assert!(
            text.starts_with(&format!("{}:2:", path.display()))
                && text.contains("does not match the state file format"),
            "{text}"
        );

        for content in ["", "[]", "{\"idSeed\": 1}", "{\"formatVersion\": 0}"] {
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
