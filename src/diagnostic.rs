//! User-facing problems: one [`Diagnostic`] per problem, each pointing at a file,
//! line and column, collected (never only the first) and rendered once.
//!
//! The text format is the compiler-style `file:line:col: error: message` line that
//! editors, `grep` and CI log scanners understand, followed by a code frame and
//! `help:` hints. It is rendered here rather than with a graphical report handler
//! because the first line of every diagnostic is part of the CLI contract.
//! This module owns rendering only; it never reads files.

use std::fmt::Write as _;

use crate::manifest::source::{Location, SourceMap};
use crate::printable::{escape_controls, escape_hidden_keeping_lines, hidden};

/// How bad a problem is. Only errors make `validate` fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem found in the manifests (or with the live state they are planned against).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Where it is; `None` for problems that belong to no file (e.g. an empty input).
    pub location: Option<Location>,
    pub message: String,
    /// Short `help:` lines: what to do about it.
    pub hints: Vec<String>,
    /// A stable machine-readable code, e.g. `unknown-field`.
    pub code: &'static str,
    /// Another place that explains this one (e.g. where a duplicate was first defined).
    pub related: Option<(Location, String)>,
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        location: Option<Location>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            location,
            message: message.into(),
            hints: Vec::new(),
            code,
            related: None,
        }
    }

    pub fn warning(
        code: &'static str,
        location: Option<Location>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, location, message)
        }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Points at another place, e.g. `first defined here`.
    #[must_use]
    pub fn with_related(mut self, location: Location, label: impl Into<String>) -> Self {
        self.related = Some((location, label.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics by file, line and column (file-less ones first), then message,
/// and drops exact duplicates, so output is deterministic.
pub fn sort_diagnostics(diagnostics: &mut Vec<Diagnostic>, sources: &SourceMap) {
    diagnostics.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            d.location
                .map(|l| (Some(sources.display(l.file)), l.line, l.column))
                .unwrap_or((None, 0, 0))
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| a.severity.cmp(&b.severity))
            .then_with(|| a.message.cmp(&b.message))
    });
    diagnostics.dedup();
}

/// Problems sorted as [`sort_diagnostics`] sorts them, of which only the first
/// `limit` are kept and the rest counted: a file of a million broken documents must
/// not hold a million diagnostics to say so, and nobody reads past the first screen.
/// Feeding it in roughly sorted order (documents are read in order) keeps it cheap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems {
    /// The first problems in sort order, at most `limit` once [`Problems::finish`]ed.
    pub shown: Vec<Diagnostic>,
    /// Errors and warnings beyond the limit: counted, not kept.
    pub more_errors: usize,
    pub more_warnings: usize,
    limit: usize,
}

impl Problems {
    /// Keeps at most `limit` problems; `usize::MAX` keeps all.
    pub fn new(limit: usize) -> Problems {
        Problems {
            shown: Vec::new(),
            more_errors: 0,
            more_warnings: 0,
            limit,
        }
    }

    /// The first `limit` of `diagnostics` in sort order, the rest counted.
    pub fn capped(diagnostics: Vec<Diagnostic>, limit: usize, sources: &SourceMap) -> Problems {
        let mut problems = Problems::new(limit);
        problems.extend(diagnostics, sources);
        problems.finish(sources)
    }

    pub fn push(&mut self, diagnostic: Diagnostic, sources: &SourceMap) {
        self.shown.push(diagnostic);
        // Sorting only when twice the limit is reached keeps the cost amortized
        // (n log limit) and the memory at twice the limit.
        if self.shown.len() >= self.limit.saturating_mul(2).max(64) {
            self.trim(sources);
        }
    }

    pub fn extend(
        &mut self,
        diagnostics: impl IntoIterator<Item = Diagnostic>,
        sources: &SourceMap,
    ) {
        for diagnostic in diagnostics {
            self.push(diagnostic, sources);
        }
    }

    /// Adds another collection's problems and counts.
    pub fn merge(&mut self, other: Problems, sources: &SourceMap) {
        self.more_errors += other.more_errors;
        self.more_warnings += other.more_warnings;
        self.extend(other.shown, sources);
    }

    /// Sorted, at most `limit` kept.
    #[must_use]
    pub fn finish(mut self, sources: &SourceMap) -> Problems {
        self.trim(sources);
        self
    }

    fn trim(&mut self, sources: &SourceMap) {
        sort_diagnostics(&mut self.shown, sources);
        if self.shown.len() > self.limit {
            for beyond in self.shown.drain(self.limit..) {
                match beyond.severity {
                    Severity::Error => self.more_errors += 1,
                    Severity::Warning => self.more_warnings += 1,
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.shown.is_empty() && self.more() == 0
    }

    /// How many problems were counted but not kept.
    pub fn more(&self) -> usize {
        self.more_errors + self.more_warnings
    }

    /// Errors, kept or not.
    pub fn errors(&self) -> usize {
        self.shown.iter().filter(|d| d.is_error()).count() + self.more_errors
    }

    /// Renders the problems kept and, when there are more, one line saying how many.
    pub fn render(&self, sources: &SourceMap, format: DiagnosticFormat, color: bool) -> String {
        let mut out = render_diagnostics(&self.shown, sources, format, color);
        let more = self.more();
        if more > 0 {
            let line = format!("... and {more} more problem(s) (--max-problems 0 shows all)");
            match format {
                DiagnosticFormat::Human => out.push_str(&format!("{line}\n\n")),
                DiagnosticFormat::Github => out.push_str(&format!("::notice::{line}\n")),
            }
        }
        out
    }
}

/// Output styles for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiagnosticFormat {
    /// `file:line:col: error: message`, a code frame and hints.
    Human,
    /// GitHub Actions workflow commands: `::error file=F,line=L,col=C::message`.
    Github,
}

/// Renders every diagnostic, each followed by a blank line in the human format.
pub fn render_diagnostics(
    diagnostics: &[Diagnostic],
    sources: &SourceMap,
    format: DiagnosticFormat,
    color: bool,
) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        match format {
            DiagnosticFormat::Human => render_human(&mut out, diagnostic, sources, color),
            DiagnosticFormat::Github => render_github(&mut out, diagnostic, sources),
        }
    }
    out
}

/// `file:line:column`, the path escaped.
fn place(sources: &SourceMap, location: Location) -> String {
    let file = escape_controls(sources.display(location.file));
    format!("{file}:{}:{}", location.line, location.column)
}

fn render_human(out: &mut String, d: &Diagnostic, sources: &SourceMap, color: bool) {
    let (bold, red, yellow, blue, reset) = if color {
        (
            "\x1b[1m",
            "\x1b[1;31m",
            "\x1b[1;33m",
            "\x1b[1;34m",
            "\x1b[0m",
        )
    } else {
        ("", "", "", "", "")
    };
    let severity_style = match d.severity {
        Severity::Error => red,
        Severity::Warning => yellow,
    };
    if let Some(location) = d.location {
        let _ = write!(out, "{bold}{}:{reset} ", place(sources, location));
    }
    let _ = writeln!(
        out,
        "{severity_style}{}{reset}{bold}: {}{reset}",
        d.severity.as_str(),
        escape_hidden_keeping_lines(&d.message)
    );
    if let Some(location) = d.location
        && let Some(line_text) = sources.line_text(location.file, location.line)
    {
        let number = location.line.to_string();
        let gutter = " ".repeat(number.len());
        let start = location.column.saturating_sub(1) as usize;
        let (line_text, start, width) = frame_window(line_text, start, location.width as usize);
        let _ = writeln!(out, "{blue}{gutter} |{reset}");
        let _ = writeln!(out, "{blue}{number} |{reset} {line_text}");
        let _ = writeln!(
            out,
            "{blue}{gutter} |{reset} {}{severity_style}{}{reset}",
            " ".repeat(start),
            "^".repeat(width)
        );
    }
    if let Some((location, label)) = &d.related {
        let _ = writeln!(
            out,
            "  {bold}= note:{reset} {label}: {}",
            place(sources, *location)
        );
    }
    for hint in &d.hints {
        let _ = writeln!(
            out,
            "  {bold}= help:{reset} {}",
            escape_hidden_keeping_lines(hint)
        );
    }
    out.push('\n');
}

/// Widest code-frame line shown, in characters.
const FRAME_WIDTH: usize = 120;

/// The part of a source line a code frame shows, with the caret's column (0-based)
/// and width in it. A minified or generated file can have a line of megabytes: it
/// used to be printed whole, followed by as many spaces before the caret, burying
/// the message. Longer lines are cut to a window around the caret, marked with `…`.
/// Control and bidirectional characters (a hostile file may hold terminal escape
/// sequences or a right-to-left override) become
/// `�` and tabs a space, one column each, so the caret stays under its character.
fn frame_window(line: &str, start: usize, width: usize) -> (String, usize, usize) {
    let chars: Vec<char> = line
        .chars()
        .map(|c| match c {
            '\t' => ' ',
            c if hidden(c) => '\u{fffd}',
            c => c,
        })
        .collect();
    let from = if chars.len() <= FRAME_WIDTH {
        0
    } else {
        start
            .saturating_sub(FRAME_WIDTH / 3)
            .min(chars.len() - FRAME_WIDTH)
    };
    let to = (from + FRAME_WIDTH).min(chars.len());
    let width = width.min(to.saturating_sub(start)).max(1);
    let mut text = String::new();
    let mut caret = start - from;
    if from > 0 {
        text.push('…');
        caret += 1;
    }
    text.extend(&chars[from..to]);
    if to < chars.len() {
        text.push('…');
    }
    (text, caret, width)
}

fn render_github(out: &mut String, d: &Diagnostic, sources: &SourceMap) {
    let command = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut message = d.message.clone();
    if let Some((location, label)) = &d.related {
        message.push_str(&format!("\nnote: {label}: {}", place(sources, *location)));
    }
    for hint in &d.hints {
        message.push_str("\nhelp: ");
        message.push_str(hint);
    }
    match d.location {
        Some(l) => {
            let _ = writeln!(
                out,
                "::{command} file={},line={},col={}::{}",
                github_property(&escape_controls(sources.display(l.file))),
                l.line,
                l.column,
                github_data(&escape_hidden_keeping_lines(&message))
            );
        }
        None => {
            let _ = writeln!(
                out,
                "::{command}::{}",
                github_data(&escape_hidden_keeping_lines(&message))
            );
        }
    }
}

/// Escapes a workflow-command message (GitHub's `escapeData`).
pub fn github_data(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_github_data(&mut out, s);
    out
}

/// Escapes a workflow-command property value (GitHub's `escapeProperty`).
pub fn github_property(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_github_property(&mut out, s);
    out
}

/// [`github_data`] appended to `out`, in one pass (an annotation per action of a
/// large plan).
pub fn push_github_data(out: &mut String, s: &str) {
    push_escaped(out, s, false);
}

/// [`github_property`] appended to `out`, in one pass.
pub fn push_github_property(out: &mut String, s: &str) {
    push_escaped(out, s, true);
}

fn push_escaped(out: &mut String, s: &str, property: bool) {
    let special =
        |b: u8| matches!(b, b'%' | b'\r' | b'\n') || (property && matches!(b, b':' | b','));
    let mut rest = s;
    while let Some(at) = rest.bytes().position(special) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'%' => "%25",
            b'\r' => "%0D",
            b'\n' => "%0A",
            b':' => "%3A",
            _ => "%2C",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// The closest candidate to a misspelled word, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (levenshtein(&word_lower, &c.to_ascii_lowercase()), c))
        .filter(|(distance, c)| *distance <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(distance, c)| (*distance, *c))
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Writes a warning line to stderr: best effort (a closed stderr, `2>&1 | head`,
/// must not end the run, as `eprintln!` would by panicking), and escaped like every
/// message, since it may name a file. For the library's few warnings outside a
/// rendered report; the CLI's messages go through the same function.
pub fn warn(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let text = args.to_string();
    let mut stderr = std::io::stderr().lock();
    let _ =
        writeln!(stderr, "{}", escape_hidden_keeping_lines(&text)).and_then(|()| stderr.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let fields = ["quantity", "offerId", "termDuration"];
        assert_eq!(did_you_mean("quantiy", fields), Some("quantity"));
        assert_eq!(did_you_mean("offerID", fields), Some("offerId"));
        assert_eq!(did_you_mean("colour", fields), None);
    }

    #[test]
    fn code_frames_cut_long_lines_around_the_caret() {
        // Short lines are shown whole; tabs and control characters take one column.
        assert_eq!(
            frame_window("a:\tb\x1b", 3, 1),
            ("a: b\u{fffd}".to_owned(), 3, 1)
        );
        let line = format!("{}X{}", "a".repeat(1000), "b".repeat(1000));
        let (text, caret, width) = frame_window(&line, 1000, 5);
        assert_eq!(text.chars().nth(caret), Some('X'));
        assert_eq!((text.chars().count(), width), (FRAME_WIDTH + 2, 5));
        // At the very end (a caret past the last character) and at the start.
        let (text, caret, _) = frame_window(&line, 2001, 1);
        assert_eq!(
            (text.chars().count(), caret),
            (FRAME_WIDTH + 1, FRAME_WIDTH + 1)
        );
        let (text, caret, _) = frame_window(&line, 0, 1);
        assert_eq!((text.chars().next(), caret), (Some('a'), 0));
        assert!(text.ends_with('…'));
    }

    #[test]
    fn github_escaping_keeps_annotations_on_one_line() {
        assert_eq!(github_data("a\nb%"), "a%0Ab%25");
        assert_eq!(github_property("x:y,z"), "x%3Ay%2Cz");
        // One pass gives what GitHub's chain of replacements gives.
        for text in ["", "plain", "%%\r\n:,", "é:%0A,\u{202e}\n", "a,b:c%d\re\nf"] {
            let data = text
                .replace('%', "%25")
                .replace('\r', "%0D")
                .replace('\n', "%0A");
            assert_eq!(github_data(text), data);
            assert_eq!(
                github_property(text),
                data.replace(':', "%3A").replace(',', "%2C")
            );
        }
    }
}
