//! `validate --format json|sarif`: the problems found as data. JSON for scripts;
//! SARIF 2.1.0 for GitHub code scanning (upload it with
//! `github/codeql-action/upload-sarif`), which shows each problem on its manifest
//! line in the pull request and keeps the history per rule.
//!
//! Pure: problems and sources in, a string out. Where each file is shown (relative
//! to the repository, for SARIF) is the caller's `uri` function.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::diagnostic::{Diagnostic, Problems, Severity};
use crate::manifest::source::{Location, SourceMap};

/// Version of `validate --format json`; bumped on any incompatible change.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// The SARIF version GitHub code scanning reads.
pub const SARIF_VERSION: &str = "2.1.0";
const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn severity(d: &Diagnostic) -> &'static str {
    match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn place(location: &Location, sources: &SourceMap, uri: &dyn Fn(&str) -> String) -> Value {
    json!({
        "file": uri(sources.display(location.file)),
        "line": location.line,
        "column": location.column,
    })
}

/// `{format_version, valid, errors, warnings, notShown, diagnostics: [...]}` with every kept
/// problem; those beyond `--max-problems` are counted in `notShown`.
pub fn render_json(
    problems: &Problems,
    sources: &SourceMap,
    valid: bool,
    uri: &dyn Fn(&str) -> String,
) -> String {
    let diagnostics: Vec<Value> = problems
        .shown
        .iter()
        .map(|d| {
            let mut entry = json!({
                "severity": severity(d),
                "code": d.code,
                "message": d.message,
                "hints": d.hints,
            });
            if let Some(location) = &d.location
                && let (Value::Object(entry), Value::Object(at)) =
                    (&mut entry, place(location, sources, uri))
            {
                entry.extend(at);
            }
            if let Some((location, label)) = &d.related {
                entry["related"] = place(location, sources, uri);
                entry["related"]["message"] = json!(label);
            }
            entry
        })
        .collect();
    let warnings = problems.shown.iter().filter(|d| !d.is_error()).count() + problems.more_warnings;
    let value = json!({
        "format_version": JSON_FORMAT_VERSION,
        "valid": valid,
        "errors": problems.errors(),
        "warnings": warnings,
        "notShown": problems.more(),
        "diagnostics": diagnostics,
    });
    crate::printable::to_json(&value, true) + "\n"
}

/// A SARIF 2.1.0 log of one run: a rule per diagnostic code found, a result per
/// problem kept, each at its file (`uri`, relative to the repository root),
/// line and column.
pub fn render_sarif(
    problems: &Problems,
    sources: &SourceMap,
    uri: &dyn Fn(&str) -> String,
) -> String {
    let codes: BTreeMap<&str, &Diagnostic> =
        problems.shown.iter().map(|d| (d.code, d)).rev().collect();
    let index: BTreeMap<&str, usize> = codes.keys().enumerate().map(|(i, c)| (*c, i)).collect();
    let rules: Vec<Value> = codes
        .iter()
        .map(|(code, first)| {
            json!({
                "id": code,
                "name": code,
                "shortDescription": {"text": format!("cspctl: {code}")},
                "defaultConfiguration": {"level": severity(first)},
                "helpUri": "https://github.com/cspctl/cspctl/blob/main/tests/cmd/diagnostics.md",
            })
        })
        .collect();
    let physical = |location: &Location| {
        json!({
            "physicalLocation": {
                "artifactLocation": {
                    "uri": uri(sources.display(location.file)),
                    "uriBaseId": "%SRCROOT%",
                },
                "region": {
                    "startLine": location.line,
                    "startColumn": location.column,
                    "endColumn": location.column + location.width.max(1),
                },
            }
        })
    };
    let results: Vec<Value> = problems
        .shown
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            for hint in &d.hints {
                text.push_str("\nhelp: ");
                text.push_str(hint);
            }
            let mut result = json!({
                "ruleId": d.code,
                "ruleIndex": index[d.code],
                "level": severity(d),
                "message": {"text": text},
                "locations": d.location.iter().map(physical).collect::<Vec<_>>(),
            });
            if let Some((location, label)) = &d.related {
                let mut related = physical(location);
                related["id"] = json!(0);
                related["message"] = json!({"text": label});
                result["relatedLocations"] = json!([related]);
            }
            result
        })
        .collect();
    let mut run = json!({
        "tool": {"driver": {
            "name": "cspctl",
            "version": env!("CARGO_PKG_VERSION"),
            "informationUri": "https://github.com/cspctl/cspctl",
            "rules": rules,
        }},
        "columnKind": "unicodeCodePoints",
        "results": results,
    });
    if problems.more() > 0 {
        run["properties"] = json!({"notShown": problems.more()});
    }
    let value = json!({
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [run],
    });
    crate::printable::to_json(&value, true) + "\n"
}
