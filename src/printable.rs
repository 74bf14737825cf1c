//! Text and JSON that are safe to print: control characters, C1 controls and
//! bidirectional-formatting characters shown escaped, so that no manifest value,
//! file name or server answer can drive a terminal, retitle it, hide text or
//! reorder what a reader sees. Shared by every renderer, the diagnostics, the CLI's
//! messages and the saved plan's digest (whose content is this JSON); it knows
//! nothing of plans or manifests.

use std::borrow::Cow;
use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter, Serializer};

/// Control and bidirectional-formatting characters shown escaped (`\n`,
/// `\u{202e}`): they could break lines, drive a terminal (an escape sequence in a
/// manifest value or a file name can retitle it or hide text) or reorder what a
/// reviewer reads. Every renderer shows untrusted text through this.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    escape_hidden(s, |_| false)
}

/// [`escape_controls`] for text of several lines (messages): line breaks and tabs
/// are kept.
pub fn escape_hidden_keeping_lines(s: &str) -> Cow<'_, str> {
    escape_hidden(s, |c| c == '\n' || c == '\t')
}

fn escape_hidden(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| hidden(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if keep(c) || !hidden(c) {
            out.push(c);
        } else if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.extend(c.escape_unicode());
        }
    }
    Cow::Owned(out)
}

/// Characters that are not shown as themselves: C0 and C1 controls, DEL, the
/// bidirectional marks, embeddings, overrides and isolates, and the Unicode line
/// and paragraph separators.
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// A value as JSON (pretty or on one line) that is safe to print: besides what JSON
/// itself escapes (C0 controls, quotes), DEL, C1 controls and the bidirectional
/// characters of [`hidden`] are written as `\uXXXX`, so a plan shown in a
/// terminal or a CI log cannot drive it or reorder what a reader sees. Parsers read
/// the same strings back.
pub fn to_json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> String {
    let mut bytes = Vec::new();
    // Cannot fail: writing to a `Vec` does not, every map key cspctl serializes is a
    // string or a unit enum variant, and a `serde_json::Value` holds no non-finite
    // float.
    write_json(value, pretty, &mut bytes).expect("cspctl's values always serialize to JSON");
    String::from_utf8(bytes).expect("serde_json writes UTF-8")
}

/// [`to_json`] written to `writer` as it is made, for output too large to hold
/// twice (a plan of a whole tenant). The only errors are the writer's.
pub fn write_json<T: Serialize + ?Sized, W: io::Write>(
    value: &T,
    pretty: bool,
    writer: W,
) -> io::Result<()> {
    let written = if pretty {
        value.serialize(&mut Serializer::with_formatter(
            writer,
            Escaping(PrettyFormatter::new()),
        ))
    } else {
        value.serialize(&mut Serializer::with_formatter(
            writer,
            Escaping(CompactFormatter),
        ))
    };
    written.map_err(io::Error::from)
}

/// A formatter that escapes [`hidden`] characters and otherwise formats as
/// the one it wraps.
struct Escaping<F>(F);

macro_rules! forward {
    ($($name:ident),*) => {$(
        fn $name<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
            self.0.$name(writer)
        }
    )*};
    ($($name:ident(first)),*) => {$(
        fn $name<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
            self.0.$name(writer, first)
        }
    )*};
}

impl<F: Formatter> Formatter for Escaping<F> {
    forward!(
        begin_array,
        end_array,
        end_array_value,
        begin_object,
        end_object,
        begin_object_value,
        end_object_value
    );
    forward!(begin_array_value(first), begin_object_key(first));

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Printable ASCII (most of a plan) holds nothing hidden: one check per byte.
        if fragment.bytes().all(|b| (b' '..b'\x7f').contains(&b)) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut rest = fragment;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| hidden(c)) {
            writer.write_all(&rest.as_bytes()[..at])?;
            write!(writer, "\\u{:04x}", u32::from(c))?;
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hidden_characters_are_escaped_in_both_layouts_and_read_back() {
        let value = json!({"name": "evil\u{202e}txt\u{1b}[2J", "plain": "a b"});
        for pretty in [false, true] {
            let text = to_json(&value, pretty);
            assert!(
                text.contains("\\u202e") && text.contains("\\u001b"),
                "{text}"
            );
            assert!(!text.chars().any(|c| c != '\n' && hidden(c)), "{text:?}");
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&text).unwrap(),
                value
            );
        }
    }
}
