//! YAML text for exported manifests. cspctl only parses YAML, so this is a small
//! emitter of JSON values: plain scalars only when every YAML 1.1 and 1.2 reader
//! takes them as the same string, otherwise double-quoted with JSON-style escapes.
//! What it writes, cspctl's own loader reads back as the same values.

use std::borrow::Cow;

use serde_json::Value as Json;

/// A YAML file (or stream) of `documents`, separated by `---`, each with an editor
/// schema line first when `schema` is given: yaml-language-server reads the
/// modeline among each document's own comments, so one at the top of the file
/// leaves the second document and later ones unchecked.
pub(super) fn yaml_file(schema: Option<&str>, documents: &[Json]) -> String {
    let mut out = String::new();
    for (i, document) in documents.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        if let Some(schema) = schema {
            out.push_str("# yaml-language-server: $schema=");
            out.push_str(schema);
            out.push('\n');
        }
        emit_document(document, &mut out);
    }
    out
}

/// One document as block YAML. A mapping's entries keep their order (the model's
/// field order); lists of scalars are written in flow style (`[a, b]`).
fn emit_document(value: &Json, out: &mut String) {
    match value {
        Json::Object(map) if !map.is_empty() => emit_mapping(map, 0, out),
        other => {
            out.push_str(&scalar_json(other));
            out.push('\n');
        }
    }
}

fn emit_mapping(map: &serde_json::Map<String, Json>, indent: usize, out: &mut String) {
    for (key, value) in map {
        push_indent(indent, out);
        out.push_str(&scalar(key));
        out.push(':');
        emit_value(value, indent, out);
    }
}

/// A value after `key:` or `-` at `indent`, through its line end.
fn emit_value(value: &Json, indent: usize, out: &mut String) {
    match value {
        Json::Object(map) if !map.is_empty() => {
            out.push('\n');
            emit_mapping(map, indent + 2, out);
        }
        Json::Array(items) if !items.is_empty() && items.iter().all(is_scalar) => {
            out.push_str(" [");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&scalar_json(item));
            }
            out.push_str("]\n");
        }
        Json::Array(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                push_indent(indent + 2, out);
                out.push('-');
                emit_value(item, indent + 2, out);
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar_json(other));
            out.push('\n');
        }
    }
}

fn push_indent(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn is_scalar(value: &Json) -> bool {
    !matches!(value, Json::Object(_) | Json::Array(_))
}

fn scalar_json(value: &Json) -> Cow<'_, str> {
    match value {
        Json::Null => Cow::Borrowed("null"),
        Json::Bool(true) => Cow::Borrowed("true"),
        Json::Bool(false) => Cow::Borrowed("false"),
        Json::Number(n) => Cow::Owned(n.to_string()),
        Json::String(s) => scalar(s),
        Json::Object(_) => Cow::Borrowed("{}"),
        Json::Array(_) => Cow::Borrowed("[]"),
    }
}

/// A string as a YAML scalar: plain when every reader takes it as this very string
/// (see [`is_plain_safe`]), otherwise double-quoted.
fn scalar(text: &str) -> Cow<'_, str> {
    if is_plain_safe(text) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(double_quoted(text))
    }
}

/// Words YAML 1.1 or 1.2 readers may take as something other than a string.
const RESERVED: [&str; 13] = [
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf", "none", "nil",
];

/// Whether `text` can be written as a plain scalar, in block and flow context, and
/// read back as the same string by YAML 1.2 (cspctl) and YAML 1.1 readers alike.
/// Deliberately conservative. A GUID (`8-4-4-4-12` hex digits) is always plain;
/// any other text only when:
/// - it starts with a letter or digit (no indicator such as `-`, `?`, `:`, `&`, `*`,
///   `!`, `|`, `>`, `'`, `"`, `%`, `@`, `` ` ``, `#`, `.`, and no leading space);
/// - it holds only letters, digits, spaces (not at the end) and `-_./@()+&'!?%=;*$~^`,
///   plus `:` when followed by neither a space nor the end (offer ids): no `#`, no
///   flow indicators `,[]{}`, no `"` or backslash, no control or other invisible
///   characters (tabs, NEL, line or paragraph separators, BOM, NBSP);
/// - it is no reserved word (`yes`, `no`, `on`, `off`, `null`, `true`, ... in any case);
/// - when it starts with a digit, it holds a space and a letter that no number or
///   timestamp contains (`1 Microsoft Way` is plain; `98052`, `0x10`, `1e3`,
///   `2026-01-15`, `1_000`, `12:30` are quoted).
fn is_plain_safe(text: &str) -> bool {
    if crate::ids::is_guid(text) {
        // No YAML reader takes `8hex-4hex-4hex-4hex-12hex` for a number or a date.
        return true;
    }
    let Some(first) = text.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || (!first.is_ascii() && first.is_alphabetic())) {
        return false;
    }
    if text.ends_with(' ') {
        return false;
    }
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let ok = c.is_ascii_alphanumeric()
            || (!c.is_ascii() && c.is_alphanumeric())
            || " -_./@()+&'!?%=;*$~^".contains(c)
            || (c == ':' && chars.peek().is_some_and(|next| *next != ' '));
        if !ok {
            return false;
        }
    }
    if RESERVED.iter().any(|w| text.eq_ignore_ascii_case(w)) {
        return false;
    }
    if first.is_ascii_digit() {
        let has_space = text.contains(' ');
        let has_word_letter = text
            .chars()
            .any(|c| c.is_alphabetic() && !"eEtTzZxXoObB".contains(c));
        if !(has_space && has_word_letter) {
            return false;
        }
    }
    true
}

/// A YAML double-quoted scalar with JSON-compatible escapes: `\"`, `\\`, `\n`, `\t`,
/// `\r`, and `\uXXXX` for every other character YAML does not allow raw or may fold
/// (C0 and C1 controls, DEL, NEL, line and paragraph separators, BOM, U+FFFE/U+FFFF).
fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || (0x7f..=0x9f).contains(&(c as u32))
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::source::FileId;
    use crate::manifest::yaml::parse_documents;

    #[test]
    fn plain_scalars_only_when_unambiguous() {
        for plain in [
            "Northwind Traders",
            "1 Microsoft Way",
            "10 Downing Lane",
            "SW1A 2AA",
            "Hauptstraße 5",
            "CFQ7TTC0LH18:0001:CFQ7TTC0K5DM",
            "031c9e47-4802-4248-838e-778fb1d2cc05",
            "en-US",
            "billing@contoso.example",
            "cspctl/v1",
            "P1Y",
        ] {
            assert!(is_plain_safe(plain), "{plain} should be plain");
        }
        for quoted in [
            "",
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "true",
            "False",
            "null",
            "~",
            "0x10",
            "1e3",
            "010",
            ".5",
            "0o17",
            "1_000",
            "12:30",
            "2026-01-15",
            "98052",
            "- a",
            "a: b",
            "a:",
            "#x",
            "a #b",
            "\"quotes\"",
            "'single'",
            "x\ny",
            " lead",
            "trail ",
            "tab\there",
            "[list]",
            "a, b",
            "{map}",
            "&anchor",
            "*alias",
            "!tag",
            "%dir",
            "@at",
            "`tick`",
            "|",
            ">",
            "?",
            "é🚀",
            "back\\slash",
            "nbsp\u{a0}x",
            "line\u{2028}sep",
            "\u{feff}bom",
            "del\u{7f}",
            "2026-01-15 10:00:00 Z",
            "inf",
        ] {
            assert!(!is_plain_safe(quoted), "{quoted:?} should be quoted");
        }
    }

    /// What the emitter writes, the crate's own parser (the loader's) reads back as
    /// the same values.
    #[test]
    fn hostile_strings_survive_the_round_trip() {
        let hostile = [
            "yes",
            "no",
            "on",
            "off",
            "null",
            "~",
            "true",
            "0x10",
            "1e3",
            "010",
            ".5",
            "- a",
            "a: b",
            "#x",
            "\"quotes\"",
            "'single'",
            "é",
            "🚀 emoji",
            "a\nnewline",
            "\r\n",
            "tab\t",
            " lead",
            "trail ",
            "back\\slash",
            "\u{0}\u{1}\u{1b}\u{7f}\u{85}\u{9f}",
            "\u{2028}\u{2029}\u{feff}\u{fffe}",
            "[a, b]",
            "{a: b}",
            "a, b",
            "*x",
            "&x",
            "!x",
            "%x",
            "@x",
            "`x`",
            "|",
            ">",
            "? x",
            ": x",
            "---",
            "...",
            "a # b",
            "2026-01-15",
            "1 Microsoft Way",
            "98052",
            "12:30:00",
            "-1",
            "+1",
            "1.",
            "0b101",
            "=",
            "<<",
        ];
        let mut map = serde_json::Map::new();
        map.insert("list".into(), Json::from(hostile.to_vec()));
        for (i, text) in hostile.iter().enumerate() {
            map.insert(format!("k{i}"), Json::from(*text));
        }
        map.insert("number".into(), Json::from(25));
        map.insert("flag".into(), Json::from(false));
        map.insert(
            "nested".into(),
            serde_json::json!({"a": {"b": "yes"}, "empty": [], "objects": [{"x": "1"}, {"y": "no"}]}),
        );
        let document = Json::Object(map);
        let text = yaml_file(
            Some("schemas/manifest.schema.json"),
            &[document.clone(), document.clone()],
        );
        let parsed: Vec<Json> = parse_documents(&text, FileId(0))
            .unwrap_or_else(|problems| panic!("{problems:?}\n{text}"))
            .into_iter()
            .map(|d| d.root.to_json())
            .collect();
        assert_eq!(parsed, vec![document.clone(), document]);
    }
}
