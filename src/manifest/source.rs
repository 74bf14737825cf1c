//! The text of every manifest file read, and positions inside it.
//!
//! Positions are 1-based lines and 1-based columns counted in characters, as
//! editors show them. The map keeps each file's text so diagnostics can show a
//! code frame long after parsing; it does no I/O itself.

use std::sync::Arc;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u32);

/// A point (plus the width of what it points at) in a manifest file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: FileId,
    pub line: u32,
    pub column: u32,
    /// How many characters on `line` the problem covers (at least 1 when shown).
    pub width: u32,
}

#[derive(Debug)]
struct SourceFile {
    display: String,
    /// Shared with the objects loaded from the file (see `manifest::Origin`).
    text: Arc<str>,
    line_starts: Vec<usize>,
    /// False for files kept only to show code frames (not UTF-8, binary).
    parse: bool,
}

/// A file's text with the start of each of its lines, made apart from the map (on
/// the thread that read the file) and added to it with [`SourceMap::add_text`].
#[derive(Debug)]
pub struct SourceText {
    text: Arc<str>,
    line_starts: Vec<usize>,
}

impl SourceText {
    pub fn new(text: String) -> Self {
        Self {
            line_starts: line_starts(&text),
            text: Arc::from(text),
        }
    }
}

/// All files of one run, in the order they were read.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file's text. `display` is how the path is printed in diagnostics.
    pub fn add(&mut self, display: String, text: String) -> FileId {
        self.push(display, text, true)
    }

    /// Adds a file that cannot be parsed (e.g. not UTF-8): its text (lossily decoded)
    /// serves only for code frames.
    pub fn add_unparsed(&mut self, display: String, text: String) -> FileId {
        self.push(display, text, false)
    }

    /// Whether the file should be parsed as YAML.
    pub fn parse(&self, file: FileId) -> bool {
        self.files[file.0 as usize].parse
    }

    /// Adds a file's text made ready beforehand; as [`SourceMap::add`].
    pub fn add_text(&mut self, display: String, text: SourceText) -> FileId {
        self.push_text(display, text, true)
    }

    fn push(&mut self, display: String, text: String, parse: bool) -> FileId {
        self.push_text(display, SourceText::new(text), parse)
    }

    fn push_text(&mut self, display: String, text: SourceText, parse: bool) -> FileId {
        let SourceText { text, line_starts } = text;
        let id = FileId(u32::try_from(self.files.len()).expect("fewer than 4 billion files"));
        self.files.push(SourceFile {
            display,
            text,
            line_starts,
            parse,
        });
        id
    }

    /// How the path is printed.
    pub fn display(&self, file: FileId) -> &str {
        &self.files[file.0 as usize].display
    }

    pub fn text(&self, file: FileId) -> &str {
        &self.files[file.0 as usize].text
    }

    /// The file's text, shared.
    pub fn shared_text(&self, file: FileId) -> Arc<str> {
        Arc::clone(&self.files[file.0 as usize].text)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The text of a 1-based line, without its line ending.
    pub fn line_text(&self, file: FileId, line: u32) -> Option<&str> {
        let source = self.files.get(file.0 as usize)?;
        if source.text.is_empty() {
            return None;
        }
        let index = (line as usize).checked_sub(1)?;
        let start = *source.line_starts.get(index)?;
        let end = source
            .line_starts
            .get(index + 1)
            .copied()
            .unwrap_or(source.text.len());
        Some(source.text[start..end].trim_end_matches(['\n', '\r']))
    }

    /// A location at the start of a file, for problems with the file as a whole.
    pub fn file_start(&self, file: FileId) -> Location {
        Location {
            file,
            line: 1,
            column: 1,
            width: 1,
        }
    }
}

/// Byte offsets at which the lines of `text` start. A line ends at `\n`, `\r\n` or a
/// lone `\r`: YAML (and so the parser's line numbers) and editors count a lone `\r`
/// as a line break too. Counting only `\n` put such a file's diagnostics on lines the
/// code frame could not find.
pub fn line_starts(text: &str) -> Vec<usize> {
    if !text.contains('\r') {
        // The common case, on the fast (memchr) search.
        return std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
    }
    let bytes = text.as_bytes();
    std::iter::once(0)
        .chain(
            text.match_indices(['\n', '\r'])
                .filter(|&(i, c)| c == "\n" || bytes.get(i + 1) != Some(&b'\n'))
                .map(|(i, _)| i + 1),
        )
        .collect()
}

/// The 1-based line and column just past the last character of `text`.
pub fn end_position(text: &str) -> (usize, usize) {
    let lines = if text.contains('\r') {
        line_starts(text).len()
    } else {
        text.matches('\n').count() + 1
    };
    let last = text.rfind(['\n', '\r']).map_or(0, |i| i + 1);
    (lines, text[last..].chars().count() + 1)
}
