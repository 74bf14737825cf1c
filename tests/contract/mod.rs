//! Microsoft's documented request and response examples for the Partner Center
//! REST API, as fixtures: `tests/contract/docs/*.http`, each copied from a page of
//! the MicrosoftDocs `partner-center-sdk` repository (`develop/*.md`, the last full
//! English copy) or learn.microsoft.com, and naming its source (see the README in
//! that folder). This module reads them; `tests/contract.rs` holds the tests.
//!
//! A fixture:
//!
//! ```text
//! # source: develop/<page>.md (...), "<section>"
//! # endpoint: GET /v1/customers/{customer-id}/subscriptions
//! # note: ...
//! ### request
//! GET https://api.partnercenter.microsoft.com/v1/... HTTP/1.1
//! Header: value
//!
//! body
//! ### response
//! HTTP/1.1 200 OK
//! Header: value
//!
//! body, byte for byte (a byte-order mark included)
//! ```

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One documented exchange.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// File name without `.http`.
    pub name: String,
    pub source: String,
    /// `METHOD /v1/path` with `{placeholders}`, from the `# endpoint:` line.
    pub endpoint: String,
    pub notes: Vec<String>,
    pub request: Option<Message>,
    pub response: Option<Message>,
}

/// A request or response as the page shows it.
#[derive(Clone, Debug, Default)]
pub struct Message {
    /// `GET https://…/v1/customers HTTP/1.1` or `HTTP/1.1 200 OK`; empty when the
    /// page shows only a body.
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    /// The method of a request line (`GET`), upper-case.
    pub fn method(&self) -> Option<String> {
        let first = self.start.split_whitespace().next()?;
        first
            .chars()
            .all(|c| c.is_ascii_alphabetic())
            .then(|| first.to_ascii_uppercase())
            .filter(|m| m != "HTTP")
    }

    /// The path of a request line, from `/v1` on, without the query.
    pub fn path(&self) -> Option<String> {
        let target = self.start.split_whitespace().nth(1)?;
        let at = target.find("/v1/").or_else(|| target.find("/v1?"))?;
        let path = &target[at..];
        Some(path.split('?').next().unwrap_or(path).to_owned())
    }

    /// The query string of a request line.
    pub fn query(&self) -> Option<String> {
        let target = self.start.split_whitespace().nth(1)?;
        target.split_once('?').map(|(_, q)| q.to_owned())
    }

    /// The status of a response line.
    pub fn status(&self) -> Option<u16> {
        let mut words = self.start.split_whitespace();
        let first = words.next()?;
        if !first.to_ascii_uppercase().starts_with("HTTP") {
            return None;
        }
        words.next()?.parse().ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the body is empty (blank), after the pages' placeholders for none.
    pub fn has_body(&self) -> bool {
        !self.wire_body().iter().all(u8::is_ascii_whitespace)
    }

    /// A "response" section whose start line is a request (the PATCH pages show
    /// the request again where the response should be: RESPONSE-IS-REQUEST).
    pub fn is_request(&self) -> bool {
        self.method().is_some()
    }

    /// The body's bytes as Partner Center would send them: the pages' elisions
    /// (`{...}`, a line of `...`) dropped, with the comma before them, and a
    /// leading `?` that stands for a byte-order mark the page's encoding lost
    /// (checkout-a-cart.md shows `?{`) turned back into the mark. Everything else,
    /// a real byte-order mark included, is kept.
    pub fn wire_body(&self) -> Vec<u8> {
        let (bom, rest) = match self.body.strip_prefix(b"\xEF\xBB\xBF") {
            Some(rest) => (true, rest),
            None => (false, self.body.as_slice()),
        };
        let text = String::from_utf8_lossy(rest);
        let trimmed = text.trim_start();
        let (lost_bom, text) = match trimmed.strip_prefix('?') {
            Some(after) if after.trim_start().starts_with(['{', '[']) => (true, after.to_owned()),
            _ => (false, text.into_owned()),
        };
        // Markdown and typography the pages added: no-break spaces, escaped `*`
        // and `_`, curly quotes, and comments inside JSON.
        let text = text
            .replace('\u{a0}', " ")
            .replace("\\*", "*")
            .replace("\\_", "_")
            .replace(['\u{201c}', '\u{201d}'], "\"");
        let text = strip_comments(&text);
        if text.trim() == "No-Content-Body" {
            // checkout-a-cart.md prints this where the request has no body.
            return Vec::new();
        }
        let text = text.replace("{...}", "{}").replace("[...]", "[]");
        let kept: Vec<&str> = text
            .lines()
            .filter(|line| !matches!(line.trim(), "..." | "...," | "…" | "…,"))
            .collect();
        let mut out = drop_trailing_commas(&kept.join("\n")).into_bytes();
        if bom || lost_bom {
            let mut marked = b"\xEF\xBB\xBF".to_vec();
            marked.append(&mut out);
            out = marked;
        }
        out
    }

    /// The body as JSON, through cspctl's own body reader (which skips a BOM and
    /// normalizes key case); `None` when the body is empty.
    pub fn json(&self) -> Result<Option<Value>, String> {
        if !self.has_body() {
            return Ok(None);
        }
        cspctl::backend::partner_center::http::parse_body(&self.wire_body())
            .map(|v| (!v.is_null()).then_some(v))
            .map_err(|e| e.to_string())
    }
}

/// `// line` and `/* block */` comments outside strings, removed.
fn strip_comments(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut in_string, mut escaped) = (0, false, false);
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match (c, chars.get(i + 1)) {
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            _ => {
                if c == '"' {
                    in_string = true;
                }
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// `,` followed (after whitespace) by `}` or `]` is dropped.
fn drop_trailing_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}' | ']') | None) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The folder of the fixtures.
pub fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contract/docs")
}

/// Every fixture, sorted by name.
pub fn all() -> Vec<Fixture> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder())
        .expect("tests/contract/docs exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "http"))
        .collect();
    paths.sort();
    paths.iter().map(|path| parse(path)).collect()
}

/// The fixture named `name`.
pub fn named(name: &str) -> Fixture {
    parse(&folder().join(format!("{name}.http")))
}

fn parse(path: &Path) -> Fixture {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path
        .file_stem()
        .expect("a file name")
        .to_string_lossy()
        .into_owned();
    let mut source = String::new();
    let mut endpoint = String::new();
    let mut notes = Vec::new();
    let mut section: Option<&str> = None;
    let mut request: Vec<&[u8]> = Vec::new();
    let mut response: Vec<&[u8]> = Vec::new();
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let trimmed = text.trim_end();
        if section.is_none() {
            if let Some(rest) = trimmed.strip_prefix("# source:") {
                source = rest.trim().to_owned();
            } else if let Some(rest) = trimmed.strip_prefix("# endpoint:") {
                endpoint = rest.trim().to_owned();
            } else if let Some(rest) = trimmed.strip_prefix("# note:") {
                notes.push(rest.trim().to_owned());
            }
        }
        match trimmed {
            "### request" => section = Some("request"),
            "### response" => section = Some("response"),
            _ => match section {
                Some("request") => request.push(line),
                Some("response") => response.push(line),
                _ => {}
            },
        }
    }
    assert!(
        !source.is_empty(),
        "{}: a fixture names its source page (`# source:`)",
        path.display()
    );
    let mut request = message(&request);
    let mut response = message(&response);
    for (file, section, wrong, right) in PAGE_TYPOS {
        let message = match *section {
            "request" => request.as_mut(),
            _ => response.as_mut(),
        };
        if *file == name
            && let Some(message) = message
        {
            let text = String::from_utf8_lossy(&message.body).into_owned();
            assert!(
                text.contains(wrong),
                "{name}: the typo `{wrong}` listed in PAGE_TYPOS is not in the fixture"
            );
            message.body = text.replacen(wrong, right, 1).into_bytes();
        }
    }
    Fixture {
        name,
        source,
        endpoint,
        notes,
        request,
        response,
    }
}

/// Typing mistakes in the pages' JSON that no service would send, corrected
/// before a body is read: `(fixture, section, as printed, corrected)`. Each one is
/// listed in tests/contract/docs/README.md ("Bodies that stay non-JSON").
const PAGE_TYPOS: &[(&str, &str, &str, &str)] = &[
    // Commas missing after "email" (twice) and a misplaced quote.
    (
        "get-confirmation-of-customer-agreement",
        "response",
        "\"email\":\"SomeEmail@example.com\"\n                \"phoneNumber\":\"1234567890\"",
        "\"email\":\"SomeEmail@example.com\",\n                \"phoneNumber\":\"1234567890\"",
    ),
    (
        "get-confirmation-of-customer-agreement",
        "response",
        "\"email\":\"SomeEmail@example.com\"\n                \"phoneNumber:\"1234567890\"",
        "\"email\":\"SomeEmail@example.com\",\n                \"phoneNumber\":\"1234567890\"",
    ),
    // The first order's line item is never closed.
    (
        "get-all-of-a-customer-s-orders",
        "response",
        "                    }\n            ],\n            \"creationDate\": \"2018-03-06T17:37:05.253-08:00\"",
        "                    }\n                }\n            ],\n            \"creationDate\": \"2018-03-06T17:37:05.253-08:00\"",
    ),
    // The opening quote of a key.
    (
        "update-the-nickname-for-a-subscription",
        "request",
        "    OrderId\": ",
        "    \"OrderId\": ",
    ),
];

/// A message from its lines: a start line and headers when the first line looks
/// like one, a blank line, then the body.
fn message(lines: &[&[u8]]) -> Option<Message> {
    let lines: Vec<&[u8]> = {
        let mut lines = lines.to_vec();
        while lines
            .first()
            .is_some_and(|l| l.iter().all(u8::is_ascii_whitespace))
        {
            lines.remove(0);
        }
        lines
    };
    if lines.is_empty() {
        return None;
    }
    let first = String::from_utf8_lossy(lines[0]).trim().to_owned();
    let looks_like_start = first.starts_with("HTTP/")
        || first
            .split_whitespace()
            .next()
            .is_some_and(|m| ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&m));
    let mut message = Message::default();
    let mut rest = &lines[..];
    if looks_like_start {
        message.start = first;
        rest = &lines[1..];
        let mut consumed = 0;
        for line in rest {
            let text = String::from_utf8_lossy(line);
            let text = text.trim();
            if text.is_empty() {
                consumed += 1;
                break;
            }
            match text.split_once(':') {
                // A header line; a body that starts without a blank line (as some
                // pages print it) ends the headers.
                Some((name, value))
                    if !name.contains(['{', '"', ' ']) && !text.starts_with(['{', '[']) =>
                {
                    message
                        .headers
                        .push((name.trim().to_owned(), value.trim().to_owned()));
                    consumed += 1;
                }
                _ => break,
            }
        }
        rest = &rest[consumed..];
    }
    let mut body: Vec<u8> = rest.concat();
    while body.last().is_some_and(u8::is_ascii_whitespace) {
        body.pop();
    }
    message.body = body;
    Some(message)
}

/// A request path as a route: ids and placeholders become `*`, the rest is
/// lower-cased (`/v1/customers/*/subscriptions`).
pub fn route(method: &str, path: &str) -> String {
    const WORDS: [&str; 19] = [
        "v1",
        "customers",
        "relationships",
        "relationshiprequests",
        "agreements",
        "profiles",
        "billing",
        "mpn",
        "subscriptions",
        "provisioningstatus",
        "supportcontact",
        "carts",
        "checkout",
        "orders",
        "sandboxindirectreseller",
        "domains",
        "agreementtemplates",
        "transitioneligibilities",
        "customtermenddates",
    ];
    let segments: Vec<String> = path
        .split('?')
        .next()
        .unwrap_or(path)
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let lower = s.to_ascii_lowercase();
            if WORDS.contains(&lower.as_str()) {
                lower
            } else {
                "*".to_owned()
            }
        })
        .collect();
    format!("{} /{}", method.to_ascii_uppercase(), segments.join("/"))
}

/// Every key path of a JSON value (`lineItems[].offerId`), lower-cased, as a
/// set: for comparing the shape of what cspctl sends with the documented one.
pub fn key_paths(value: &Value) -> std::collections::BTreeSet<String> {
    fn walk(prefix: &str, value: &Value, out: &mut std::collections::BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.to_ascii_lowercase()
                    } else {
                        format!("{prefix}.{}", key.to_ascii_lowercase())
                    };
                    out.insert(path.clone());
                    walk(&path, child, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(&format!("{prefix}[]"), item, out);
                }
            }
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk("", value, &mut out);
    out
}
