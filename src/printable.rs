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

/// [`write_json`] pretty, for a value that sits `level` deep in a larger pretty
/// document (an element of a top-level field's array is at level 2): its inner
/// lines are indented as serde_json's pretty printer would indent them there, so
/// the pieces of a document serialized apart (in parallel) join into the same bytes.
pub fn write_pretty_nested<T: Serialize + ?Sized, W: io::Write>(
    value: &T,
    level: usize,
    writer: W,
) -> io::Result<()> {
    value
        .serialize(&mut Serializer::with_formatter(
            writer,
            Escaping(Nested {
                level,
                has_value: false,
            }),
        ))
        .map_err(io::Error::from)
}

/// serde_json's `PrettyFormatter` (two spaces a level) starting at a given level;
/// its own starts at 0 and cannot be told otherwise. Pinned to it byte for byte by
/// a test below.
struct Nested {
    level: usize,
    has_value: bool,
}

impl Nested {
    fn indent<W: ?Sized + io::Write>(&self, writer: &mut W) -> io::Result<()> {
        for _ in 0..self.level {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }

    fn begin<W: ?Sized + io::Write>(&mut self, writer: &mut W, open: &[u8]) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        writer.write_all(open)
    }

    fn end<W: ?Sized + io::Write>(&mut self, writer: &mut W, close: &[u8]) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            writer.write_all(b"\n")?;
            self.indent(writer)?;
        }
        writer.write_all(close)
    }

    fn item<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        writer.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(writer)
    }
}

impl Formatter for Nested {
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
        self.has_value = true;
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
        writer.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
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
    fn a_nested_value_is_indented_as_in_the_whole_document() {
        let element = json!({"a": [1, {"b": []}, {}], "c": {"d": "x\u{202e}"}, "e": []});
        let document = json!({"top": [element.clone(), element.clone()]});
        let whole = to_json(&document, true);
        let mut pieces = String::from("{\n  \"top\": [");
        for (i, item) in [&element, &element].into_iter().enumerate() {
            pieces.push_str(if i == 0 { "\n    " } else { ",\n    " });
            let mut bytes = Vec::new();
            write_pretty_nested(item, 2, &mut bytes).unwrap();
            pieces.push_str(std::str::from_utf8(&bytes).unwrap());
        }
        pieces.push_str("\n  ]\n}");
        assert_eq!(pieces, whole);
        assert!(whole.contains("\\u202e"), "{whole}");
    }
}
