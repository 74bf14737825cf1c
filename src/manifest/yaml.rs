//! YAML text → a tree of [`Node`]s that remember where they came from.
//!
//! Built on `saphyr-parser`'s event stream (a YAML 1.2 parser with spans) rather than
//! a ready-made document type because the loader must enforce rules that generic
//! loaders don't: duplicate keys are errors, alias expansion is bounded (an "alias
//! bomb" cannot exhaust memory), nesting depth is bounded, and plain scalars are
//! resolved with the YAML 1.2 core schema (`yes`, `on`, `0777` stay strings).
//! Pure: text in, nodes or diagnostics out.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan};

use crate::diagnostic::Diagnostic;
use crate::manifest::source::{FileId, Location, end_position, line_starts};

/// Deepest nesting accepted; manifests need about six levels.
pub const MAX_DEPTH: usize = 64;
/// Most nodes that alias expansion may add to one file.
pub const MAX_ALIAS_NODES: usize = 10_000;

/// Start position of a node (1-based line and column, in characters) and its width on
/// that line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
    pub width: u32,
}

impl Pos {
    pub fn location(self, file: FileId) -> Location {
        Location {
            file,
            line: self.line,
            column: self.column,
            width: self.width,
        }
    }
}

/// A YAML value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order; keys are unique (duplicates are rejected).
    Map(Vec<(Node, Node)>),
}

/// A YAML value and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

impl Node {
    /// Looks up a mapping entry by key; returns the key node and the value node.
    pub fn get(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A short description of the value's type for messages ("a string", "a list").
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Converts to JSON for schema validation and typed deserialization. Keys that are
    /// not strings are written as their YAML text (the schema then rejects them by name).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The text of a node used as a mapping key.
    pub fn key_text(&self) -> String {
        match &self.value {
            Value::Str(s) => s.clone(),
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Seq(_) => "[...]".to_owned(),
            Value::Map(_) => "{...}".to_owned(),
        }
    }

    /// Follows a JSON-pointer-like path of keys and indices; returns the deepest node
    /// reached and, if the last step was a key, that key's node.
    pub fn find(&self, path: &[PathSegment]) -> (&Node, Option<&Node>) {
        let mut node = self;
        let mut key = None;
        for segment in path {
            let next = match (segment, &node.value) {
                (PathSegment::Key(name), Value::Map(_)) => {
                    node.get(name).map(|(k, v)| (Some(k), v))
                }
                (PathSegment::Index(i), Value::Seq(items)) => items.get(*i).map(|v| (None, v)),
                _ => None,
            };
            match next {
                Some((k, v)) => {
                    key = k;
                    node = v;
                }
                None => break,
            }
        }
        (node, key)
    }
}

/// One step of a path into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// A parsed YAML document.
#[derive(Debug)]
pub struct YamlDocument {
    pub root: Node,
}

/// Parses every document of a file. On a syntax error returns that one error (the
/// parser cannot continue past it); structural problems (duplicate keys, depth,
/// aliases, tags) are all reported.
pub fn parse_documents(text: &str, file: FileId) -> Result<Vec<YamlDocument>, Vec<Diagnostic>> {
    let mut documents = Vec::new();
    for_each_document(text, file, |document| documents.push(document))?;
    Ok(documents)
}

/// Parses a file as [`parse_documents`] does, handing each document to `take` as
/// soon as it is complete and holding none: a file of millions of small documents
/// would otherwise keep millions of trees alive at once. After the first structural
/// problem no document is handed over; on `Err` the caller discards what it took.
pub fn for_each_document(
    text: &str,
    file: FileId,
    mut take: impl FnMut(YamlDocument),
) -> Result<(), Vec<Diagnostic>> {
    let mut builder = Builder::new(file, end_position(text));
    for event in Parser::new_from_str(text) {
        match event {
            Ok((event, span)) => {
                builder.on_event(event, span);
                if let Some(document) = builder.document.take()
                    && builder.diagnostics.is_empty()
                {
                    take(document);
                }
            }
            Err(error) => {
                let marker = error.marker();
                let (line, column) = inside(text, marker.line(), marker.col() + 1);
                let location = Location {
                    file,
                    line: u32::try_from(line).unwrap_or(u32::MAX),
                    column: u32::try_from(column).unwrap_or(u32::MAX),
                    width: 1,
                };
                // The generic hint misleads for the parser's errors that are not about
                // layout: say what to do about those.
                let hint = match error.info() {
                    info if info.contains("recursion limit") => {
                        "the nesting is far too deep for a manifest; is this the right file?"
                    }
                    info if info.contains("unknown anchor") => {
                        "define the anchor (`&name`) earlier in the same document than the alias (`*name`)"
                    }
                    info if info.contains("tabs") || info.contains("a tab") => {
                        "indent with spaces: YAML does not allow tabs in indentation"
                    }
                    _ => "check the indentation and quoting around this point",
                };
                builder.diagnostics.push(
                    Diagnostic::error(
                        "yaml-syntax",
                        Some(location),
                        format!("YAML syntax error: {}", error.info()),
                    )
                    .with_hint(hint),
                );
                return Err(builder.diagnostics);
            }
        }
        if builder.fatal {
            return Err(builder.diagnostics);
        }
    }
    if builder.diagnostics.is_empty() {
        Ok(())
    } else {
        Err(builder.diagnostics)
    }
}

/// A parser error position (1-based line and column) moved inside `text`: at the end
/// of the input the parser may report the line after the last one (`a: 1` and `&a `
/// without a final newline give line 3 of a two-line file), which no editor or code
/// frame can show. Such a position becomes the end of the last line.
fn inside(text: &str, line: usize, column: usize) -> (usize, usize) {
    let starts = line_starts(text);
    let (line, column) = if line > starts.len() {
        (starts.len(), usize::MAX)
    } else {
        (line.max(1), column)
    };
    let start = starts[line - 1];
    let end = starts.get(line).copied().unwrap_or(text.len());
    let width = text[start..end]
        .trim_end_matches(['\n', '\r'])
        .chars()
        .count();
    (line, column.clamp(1, width + 1))
}

enum Frame {
    Seq {
        items: Vec<Node>,
        pos: Pos,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        /// The keys seen so far, once the mapping is large (see [`KEY_INDEX_FROM`]).
        index: Option<HashMap<ScalarKey, Pos>>,
        pos: Pos,
        anchor: usize,
    },
}

/// Mappings with this many entries get a hash index of their keys for the duplicate
/// check. Comparing each key with every earlier one is quadratic: a hostile mapping
/// of 50,000 keys (a 600 KB file) took minutes. Smaller mappings, i.e. every real
/// manifest's, are scanned without allocating an index.
const KEY_INDEX_FROM: usize = 16;

/// A scalar key, hashable, equal exactly when the [`Value`]s are (`-0.0` = `0.0`).
#[derive(Hash, PartialEq, Eq)]
enum ScalarKey {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(String),
}

impl ScalarKey {
    fn of(value: &Value) -> Option<ScalarKey> {
        Some(match value {
            Value::Null => ScalarKey::Null,
            Value::Bool(b) => ScalarKey::Bool(*b),
            Value::Int(i) => ScalarKey::Int(*i),
            // NaN equals nothing, itself included: never a duplicate, so not indexed.
            Value::Float(f) if f.is_nan() => return None,
            Value::Float(f) => ScalarKey::Float(if *f == 0.0 { 0 } else { f.to_bits() }),
            Value::Str(s) => ScalarKey::Str(s.clone()),
            Value::Seq(_) | Value::Map(_) => return None,
        })
    }
}

struct Builder {
    file: FileId,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    alias_nodes: usize,
    /// The document just completed, until the caller takes it.
    document: Option<YamlDocument>,
    diagnostics: Vec<Diagnostic>,
    /// Set when continuing would only produce noise (or unbounded work).
    fatal: bool,
    /// Line and column just past the end of the text.
    end: (usize, usize),
}

fn pos_of(span: YamlSpan) -> Pos {
    let width = if span.end.line() == span.start.line() {
        span.end.col().saturating_sub(span.start.col()).max(1)
    } else {
        1
    };
    Pos {
        line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
        column: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
        width: u32::try_from(width).unwrap_or(u32::MAX),
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| count_nodes(k) + count_nodes(v))
            .sum(),
        _ => 0,
    }
}

impl Builder {
    fn new(file: FileId, end: (usize, usize)) -> Self {
        Builder {
            file,
            stack: Vec::new(),
            anchors: HashMap::new(),
            alias_nodes: 0,
            document: None,
            diagnostics: Vec::new(),
            fatal: false,
            end,
        }
    }

    fn error(&mut self, code: &'static str, pos: Pos, message: String) -> &mut Diagnostic {
        self.diagnostics.push(Diagnostic::error(
            code,
            Some(pos.location(self.file)),
            message,
        ));
        self.diagnostics.last_mut().expect("just pushed")
    }

    fn on_event(&mut self, event: Event<'_>, span: YamlSpan) {
        let mut pos = pos_of(span);
        // The empty value the parser makes up at the end of the input (`? key`
        // without a final newline) sits on the line after the last one: move it to
        // the end of the text, where a reader and a code frame can find it.
        if pos.line as usize > self.end.0 {
            pos = Pos {
                line: u32::try_from(self.end.0).unwrap_or(u32::MAX),
                column: u32::try_from(self.end.1).unwrap_or(u32::MAX),
                width: 1,
            };
        }
        match event {
            Event::DocumentStart(_) => self.anchors.clear(),
            Event::Scalar(text, style, anchor, tag) => {
                let value = match tag {
                    Some(tag) => match resolve_tagged(&text, &tag.handle, &tag.suffix) {
                        Ok(value) => value,
                        Err(message) => {
                            self.error("yaml-tag", pos, message).hints.push(
                                "cspctl manifests use plain YAML values; remove the tag".to_owned(),
                            );
                            Value::Null
                        }
                    },
                    None if style == ScalarStyle::Plain => resolve_plain(&text),
                    None => Value::Str(text.into_owned()),
                };
                self.push(Node { value, pos }, anchor);
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "seq", pos);
                self.open(
                    Frame::Seq {
                        items: Vec::new(),
                        pos,
                        anchor,
                    },
                    pos,
                );
            }
            Event::MappingStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "map", pos);
                self.open(
                    Frame::Map {
                        entries: Vec::new(),
                        pending_key: None,
                        index: None,
                        pos,
                        anchor,
                    },
                    pos,
                );
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq { items, pos, anchor }) => self.push(
                    Node {
                        value: Value::Seq(items),
                        pos,
                    },
                    anchor,
                ),
                _ => self.fatal = true,
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map {
                    entries,
                    pos,
                    anchor,
                    ..
                }) => {
                    self.push(
                        Node {
                            value: Value::Map(entries),
                            pos,
                        },
                        anchor,
                    );
                }
                _ => self.fatal = true,
            },
            Event::Alias(id) => {
                let Some((node, size)) = self.anchors.get(&id).cloned() else {
                    self.error(
                        "yaml-alias",
                        pos,
                        "alias refers to an unknown anchor".to_owned(),
                    );
                    return;
                };
                self.alias_nodes += size;
                if self.alias_nodes > MAX_ALIAS_NODES {
                    self.error(
                        "yaml-alias-limit",
                        pos,
                        format!("alias expansion exceeds {MAX_ALIAS_NODES} nodes in this file"),
                    )
                    .hints
                    .push("write the values out instead of nesting aliases (this looks like an alias bomb)".to_owned());
                    self.fatal = true;
                    return;
                }
                self.push(node, 0);
            }
            Event::DocumentEnd | Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }

    fn check_collection_tag(&mut self, tag: Option<&saphyr_parser::Tag>, expected: &str, pos: Pos) {
        if let Some(tag) = tag
            && !(tag.handle == "tag:yaml.org,2002:" && tag.suffix == expected)
        {
            self.error(
                "yaml-tag",
                pos,
                format!(
                    "unsupported YAML tag `{}`",
                    tag_text(&tag.handle, &tag.suffix)
                ),
            )
            .hints
            .push("remove the tag".to_owned());
        }
    }

    fn open(&mut self, frame: Frame, pos: Pos) {
        if self.stack.len() >= MAX_DEPTH {
            self.error(
                "yaml-depth",
                pos,
                format!("nesting is deeper than {MAX_DEPTH} levels"),
            )
            .hints
            .push("manifests need only a few levels; is this the right file?".to_owned());
            self.fatal = true;
            return;
        }
        self.stack.push(frame);
    }

    fn push(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            let size = count_nodes(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let key_problem = match self.stack.last_mut() {
            None => {
                self.document = Some(YamlDocument { root: node });
                None
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                None
            }
            Some(Frame::Map {
                entries,
                pending_key,
                index,
                ..
            }) => match pending_key.take() {
                // `? [a]` or `? {k: v}`: a key that is a list or mapping. Manifest keys
                // are field names; without this the schema reports an unknown field
                // named `[...]`, which tells the reader nothing.
                None if matches!(node.value, Value::Seq(_) | Value::Map(_)) => {
                    *pending_key = Some(node.clone());
                    Some((node, None))
                }
                None => {
                    if index.is_none() && entries.len() >= KEY_INDEX_FROM {
                        let mut built = HashMap::with_capacity(entries.len() * 2);
                        for (k, _) in entries.iter() {
                            if let Some(key) = ScalarKey::of(&k.value) {
                                built.entry(key).or_insert(k.pos);
                            }
                        }
                        *index = Some(built);
                    }
                    let previous = match index {
                        Some(index) => {
                            ScalarKey::of(&node.value).and_then(|key| match index.entry(key) {
                                Entry::Occupied(first) => Some(*first.get()),
                                Entry::Vacant(slot) => {
                                    slot.insert(node.pos);
                                    None
                                }
                            })
                        }
                        None => entries
                            .iter()
                            .find(|(k, _)| k.value == node.value)
                            .map(|(k, _)| k.pos),
                    };
                    *pending_key = Some(node.clone());
                    previous.map(|first| (node, Some(first)))
                }
                Some(key) => {
                    entries.push((key, node));
                    None
                }
            },
        };
        match key_problem {
            Some((key, Some(first))) => {
                let message = format!(
                    "duplicate key `{}` (first defined at line {})",
                    key.key_text(),
                    first.line
                );
                self.error("duplicate-key", key.pos, message)
                    .hints
                    .push("YAML keys must be unique in a mapping; remove one of them".to_owned());
            }
            Some((key, None)) => {
                let message = format!(
                    "a mapping key must be a plain value such as a field name, found {}",
                    key.type_name()
                );
                self.error("complex-key", key.pos, message)
                    .hints
                    .push("remove the `?` complex key; manifest keys are field names".to_owned());
            }
            None => {}
        }
    }
}

/// YAML 1.2 core schema resolution of a plain (unquoted) scalar.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(int) = parse_int(text) {
        return Value::Int(int);
    }
    if is_float(text)
        && let Ok(float) = text.parse::<f64>()
    {
        return Value::Float(float);
    }
    Value::Str(text.to_owned())
}

fn parse_int(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if let Some(octal) = text.strip_prefix("0o") {
        return i64::from_str_radix(octal, 8).ok();
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    let digits = match bytes.first() {
        Some(b'+' | b'-') => &bytes[1..],
        _ => bytes,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // An out-of-range integer is not an `Int`; it matches the float pattern and is read
    // as a float (load.rs quotes it as written when a string was expected).
    text.parse::<i64>().ok()
}

fn is_float(text: &str) -> bool {
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let s = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (!int.is_empty() || !frac.is_empty())
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

/// A tag as the user wrote it: `!!python/object`, not the expanded
/// `tag:yaml.org,2002:python/object` the parser reports.
fn tag_text(handle: &str, suffix: &str) -> String {
    match handle {
        "tag:yaml.org,2002:" => format!("!!{suffix}"),
        _ => format!("{handle}{suffix}"),
    }
}

fn resolve_tagged(text: &str, handle: &str, suffix: &str) -> Result<Value, String> {
    if handle != "tag:yaml.org,2002:" {
        return Err(format!(
            "unsupported YAML tag `{}`",
            tag_text(handle, suffix)
        ));
    }
    match suffix {
        "str" => Ok(Value::Str(text.to_owned())),
        "null" | "bool" | "int" | "float" => {
            let value = resolve_plain(text);
            let matches = matches!(
                (suffix, &value),
                ("null", Value::Null)
                    | ("bool", Value::Bool(_))
                    | ("int", Value::Int(_))
                    | ("float", Value::Float(_) | Value::Int(_))
            );
            if matches {
                Ok(match value {
                    Value::Int(i) if suffix == "float" => Value::Float(i as f64),
                    other => other,
                })
            } else {
                Err(format!("`{text}` is not a valid !!{suffix}"))
            }
        }
        other => Err(format!("unsupported YAML tag `!!{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<YamlDocument>, Vec<Diagnostic>> {
        parse_documents(text, FileId(0))
    }

    fn messages(text: &str) -> Vec<String> {
        parse(text)
            .expect_err("expected an error")
            .into_iter()
            .map(|d| {
                format!(
                    "{}:{}: {}",
                    d.location.unwrap().line,
                    d.location.unwrap().column,
                    d.message
                )
            })
            .collect()
    }

    #[test]
    fn yaml_1_2_core_schema() {
        let docs =
            parse("a: yes\nb: on\nc: 0777\nd: 0o17\ne: 1.5\nf: ~\ng: true\nh: '12'\ni: 1e3\n")
                .unwrap();
        let json = docs[0].root.to_json();
        assert_eq!(json["a"], "yes");
        assert_eq!(json["b"], "on");
        assert_eq!(json["c"], 777);
        assert_eq!(json["d"], 15);
        assert_eq!(json["e"], 1.5);
        assert_eq!(json["f"], serde_json::Value::Null);
        assert_eq!(json["g"], true);
        assert_eq!(json["h"], "12");
        assert_eq!(json["i"], 1000.0);
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let docs = parse("---\nkind: Customer\nspec:\n  domain: x.onmicrosoft.com\n").unwrap();
        let (key, value) = docs[0].root.get("spec").unwrap().1.get("domain").unwrap();
        assert_eq!((key.pos.line, key.pos.column, key.pos.width), (4, 3, 6));
        assert_eq!((value.pos.line, value.pos.column), (4, 11));
    }

    #[test]
    fn several_documents_per_file() {
        let docs = parse("a: 1\n---\nb: 2\n---\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[2].root.value, Value::Null);
    }

    #[test]
    fn duplicate_keys_are_errors_pointing_at_the_second() {
        assert_eq!(
            messages("a: 1\nb: 2\na: 3\n"),
            vec!["3:1: duplicate key `a` (first defined at line 1)"]
        );
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let errors = messages(&text);
        assert!(errors[0].contains("alias expansion exceeds"), "{errors:?}");
    }

    #[test]
    fn small_aliases_expand() {
        let docs = parse("a: &x {k: v}\nb: *x\n").unwrap();
        assert_eq!(docs[0].root.to_json()["b"]["k"], "v");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        let errors = messages(&text);
        assert!(
            errors[0].contains("nesting is deeper") || errors[0].contains("recursion"),
            "{errors:?}"
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let errors = messages("a: [1, 2\nb: 3\n");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("YAML syntax error"), "{errors:?}");
    }

    #[test]
    fn unknown_tags_are_errors() {
        assert!(messages("a: !!binary aGVsbG8=\n")[0].contains("unsupported YAML tag"));
        assert!(messages("a: !custom x\n")[0].contains("unsupported YAML tag"));
    }
}
