//! Reading manifest files from disk: the imperative edge of manifest loading.
//!
//! Paths may be files or directory trees; directories contribute every `*.yaml` and
//! `*.yml` below them (hidden directories such as `.git` and `.cspctl` skipped), in
//! sorted order so runs are deterministic. Unreadable, oversized, binary and
//! non-UTF-8 files, symlink loops and FIFOs become diagnostics, never panics or hangs.

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::manifest::source::{Location, SourceMap, SourceText, line_starts};

/// Largest manifest file read (the benchmark's biggest file is far below this).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// The manifest files `paths` name: files as given, directories walked (sorted,
/// hidden entries skipped). Missing paths are diagnostics.
pub fn manifest_paths(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut files = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                collect_dir(path, &mut Vec::new(), &mut files, &mut diagnostics);
            }
            // Checked before opening: opening a FIFO waits for a writer forever.
            Ok(meta) if !meta.is_file() => diagnostics.push(not_a_file(
                path,
                "pass manifest files (*.yaml, *.yml) or directories",
            )),
            Ok(_) => files.push(path.clone()),
            Err(e) => diagnostics.push(
                Diagnostic::error("io", None, format!("cannot read {}: {e}", path.display()))
                    .with_hint("pass manifest files or directories that exist"),
            ),
        }
    }
    (files, diagnostics)
}

/// Reads every manifest file under `paths` into a source map.
pub fn read_manifest_files(paths: &[PathBuf]) -> (SourceMap, Vec<Diagnostic>) {
    let mut sources = SourceMap::new();
    let (files, mut diagnostics) = manifest_paths(paths);
    let files_found = !files.is_empty();
    // Reading thousands of small files is mostly waiting on the system: spread it
    // over a few threads, which also check and index each file's text (45 MB for a
    // tenant of 20,000 customers), then take the results in the original order.
    let cwd = std::env::current_dir().ok();
    let decoded = super::in_chunks(&files, |paths| {
        paths
            .iter()
            .map(|path| decode(display_path(path, cwd.as_deref()), fetch(path)))
            .collect::<Vec<_>>()
    });
    for decoded in decoded.into_iter().flatten() {
        record(decoded, &mut sources, &mut diagnostics);
    }
    if !files_found && diagnostics.is_empty() {
        diagnostics.push(
            Diagnostic::error(
                "no-manifests",
                None,
                "no manifest files (*.yaml, *.yml) found",
            )
            .with_hint(format!(
                "looked in: {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
    }
    (sources, diagnostics)
}

/// `ancestors` are the directories being walked above `dir`: canonical path, path.
fn collect_dir(
    dir: &Path,
    ancestors: &mut Vec<(PathBuf, PathBuf)>,
    files: &mut Vec<PathBuf>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    // A symlink back to a directory being walked (`sub/up -> ..`) would otherwise be
    // followed until the system's symlink limit, and two of them take exponential
    // time: the walk never ends. Such a loop is reported and not entered.
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if let Some((_, ancestor)) = ancestors.iter().find(|(c, _)| *c == canonical) {
        diagnostics.push(
            Diagnostic::error(
                "symlink-loop",
                None,
                format!(
                    "{}: symbolic link loop: it leads back to {}, which contains it",
                    dir.display(),
                    ancestor.display()
                ),
            )
            .with_hint("remove the link, or point it outside the manifest directory"),
        );
        return;
    }
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            diagnostics.push(Diagnostic::error(
                "io",
                None,
                format!("cannot read directory {}: {e}", dir.display()),
            ));
            return;
        }
    };
    entries.sort();
    ancestors.push((canonical, dir.to_path_buf()));
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        let meta = std::fs::metadata(&path);
        if meta.as_ref().is_ok_and(std::fs::Metadata::is_dir) {
            collect_dir(&path, ancestors, files, diagnostics);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            match meta {
                // Reading a FIFO blocks until someone writes to it, and a device may
                // never end: only regular files found by the walk are read. (Broken
                // links are kept, so reading them reports why.)
                Ok(meta) if !meta.is_file() => diagnostics.push(not_a_file(
                    &path,
                    "remove it from the manifest directory or rename it",
                )),
                _ => files.push(path),
            }
        }
    }
    ancestors.pop();
}

/// A manifest path that is neither a directory nor a regular file: reading it could
/// block forever (a FIFO) or never end (a device).
fn not_a_file(path: &Path, hint: &str) -> Diagnostic {
    Diagnostic::error(
        "not-a-file",
        None,
        format!(
            "{}: not a regular file (a FIFO, socket or device), so not read",
            path.display()
        ),
    )
    .with_hint(hint)
}

/// A file's bytes, or why there are none.
enum Fetched {
    Bytes(Vec<u8>),
    TooLarge(u64),
    Failed(std::io::Error),
}

fn fetch(path: &Path) -> Fetched {
    use std::io::Read as _;
    let size = match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_FILE_BYTES => return Fetched::TooLarge(meta.len()),
        Ok(meta) => usize::try_from(meta.len()).unwrap_or(0),
        Err(_) => 0,
    };
    // At most one byte past the limit is read: a file's size may change while it is
    // read (only regular files get here; see `manifest_paths`).
    let mut bytes = Vec::with_capacity(size);
    match std::fs::File::open(path)
        .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
    {
        Ok(read) if read as u64 > MAX_FILE_BYTES => Fetched::TooLarge(read as u64),
        Ok(_) => Fetched::Bytes(bytes),
        Err(error) => Fetched::Failed(error),
    }
}

/// A file as read and checked, ready for the source map.
enum Decoded {
    /// UTF-8 text without NUL bytes or a byte-order mark, indexed by line.
    Text(String, SourceText),
    TooLarge(String, u64),
    Failed(String, std::io::Error),
    /// Not YAML at all (UTF-16, binary): refused at the file's start, with the
    /// diagnostic's code, message and hint.
    Refused {
        display: String,
        code: &'static str,
        message: &'static str,
        hint: &'static str,
    },
    /// Not UTF-8 from `line`:`column` on; the text decoded lossily, for code frames.
    NotUtf8 {
        display: String,
        lossy: String,
        line: usize,
        column: usize,
    },
}

/// Checks a fetched file's bytes (on a reading thread: nothing here needs the map).
fn decode(display: String, fetched: Fetched) -> Decoded {
    let bytes = match fetched {
        Fetched::Bytes(bytes) => bytes,
        Fetched::TooLarge(size) => return Decoded::TooLarge(display, size),
        Fetched::Failed(error) => return Decoded::Failed(display, error),
    };
    // Windows tools (PowerShell 5's `Out-File`, Notepad's "Unicode") write UTF-16 with
    // a byte-order mark; "not valid UTF-8" at 1:1 would not say why.
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Decoded::Refused {
            display,
            code: "not-utf8",
            message: "file is UTF-16 text (it starts with a UTF-16 byte-order mark); manifests must be UTF-8",
            hint: "save the manifest as UTF-8 text",
        };
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
            let valid = std::str::from_utf8(valid).unwrap_or_default();
            // Lines as the parser and the code frame count them (`\r` alone ends one).
            let starts = line_starts(valid);
            let line = starts.len();
            let column = valid[starts[starts.len() - 1]..].chars().count() + 1;
            let lossy = String::from_utf8_lossy(error.as_bytes()).into_owned();
            return Decoded::NotUtf8 {
                display,
                lossy,
                line,
                column,
            };
        }
    };
    if text.contains('\0') {
        return Decoded::Refused {
            display,
            code: "binary-file",
            message: "file contains NUL bytes; it looks binary, not YAML",
            hint: "remove it from the manifest directory or rename it",
        };
    }
    let text = text
        .strip_prefix('\u{feff}')
        .map(str::to_owned)
        .unwrap_or(text);
    Decoded::Text(display, SourceText::new(text))
}

/// Puts a decoded file into the source map, and what is wrong with it into the
/// diagnostics.
fn record(decoded: Decoded, sources: &mut SourceMap, diagnostics: &mut Vec<Diagnostic>) {
    match decoded {
        Decoded::Text(display, text) => {
            sources.add_text(display, text);
        }
        Decoded::TooLarge(display, size) => diagnostics.push(
            Diagnostic::error(
                "file-too-large",
                None,
                format!(
                    "{display}: file is {size} bytes, more than the {MAX_FILE_BYTES}-byte limit"
                ),
            )
            .with_hint("split the manifests into several files"),
        ),
        Decoded::Failed(display, error) => diagnostics.push(Diagnostic::error(
            "io",
            None,
            format!("cannot read {display}: {error}"),
        )),
        Decoded::Refused {
            display,
            code,
            message,
            hint,
        } => {
            let file = sources.add_unparsed(display, String::new());
            diagnostics.push(
                Diagnostic::error(code, Some(sources.file_start(file)), message).with_hint(hint),
            );
        }
        Decoded::NotUtf8 {
            display,
            lossy,
            line,
            column,
        } => {
            let file = sources.add_unparsed(display, lossy);
            diagnostics.push(
                Diagnostic::error(
                    "not-utf8",
                    Some(Location {
                        file,
                        line: u32::try_from(line).unwrap_or(u32::MAX),
                        column: u32::try_from(column).unwrap_or(u32::MAX),
                        width: 1,
                    }),
                    "file is not valid UTF-8",
                )
                .with_hint("save the manifest as UTF-8 text"),
            );
        }
    }
}

/// Paths are printed relative to the working directory when they are below it, with
/// forward slashes, so diagnostics and plans read the same on every machine.
pub fn display_path(path: &Path, cwd: Option<&Path>) -> String {
    let relative = cwd
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let text = relative.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").map(str::to_owned).unwrap_or(text)
}
