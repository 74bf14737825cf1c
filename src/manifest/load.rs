//! Manifest text → typed objects, with every problem reported at its position.
//!
//! Pure: takes the [`SourceMap`] the shell filled and returns [`Manifests`] plus
//! diagnostics. Each document is checked for `apiVersion` and `kind` first (with
//! hand-written messages), then against its kind's JSON Schema (jsonschema crate),
//! whose errors are mapped back to YAML positions through the instance path; only a
//! document without schema errors is deserialized into the typed model.

use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::diagnostic::{Diagnostic, Problems, did_you_mean};
use crate::manifest::model::{
    API_VERSION, COUNTRY_PATTERN, CULTURE_PATTERN, CustomerDocument, DATE_PATTERN, DOMAIN_PATTERN,
    EMAIL_PATTERN, GUID_PATTERN, Kind, LANGUAGE_PATTERN, MPN_PATTERN, NAME_PATTERN, OFFER_PATTERN,
    ResellerDocument, SubscriptionDocument, SupportContactDocument,
};
use crate::manifest::schema::kind_schema;
use crate::manifest::source::{FileId, SourceMap, line_starts};
use crate::manifest::yaml::{Node, PathSegment, Value, for_each_document};
use std::sync::Arc;

use crate::manifest::{FileDocuments, Manifests, Object, Origin};

/// Compiled per-kind validators; build once per run.
pub struct SchemaValidators {
    kinds: Vec<(Kind, Json, jsonschema::Validator)>,
}

impl Default for SchemaValidators {
    fn default() -> Self {
        Self::new()
    }
}

impl SchemaValidators {
    pub fn new() -> Self {
        let kinds = Kind::ALL
            .into_iter()
            .map(|kind| {
                let schema = kind_schema(kind);
                let validator = jsonschema::options()
                    .with_keyword("format", whole_number_format)
                    .build(&schema)
                    .expect("the generated schema is a valid JSON Schema");
                (kind, schema, validator)
            })
            .collect();
        SchemaValidators { kinds }
    }

    fn get(&self, kind: Kind) -> (&Json, &jsonschema::Validator) {
        let (_, schema, validator) = self
            .kinds
            .iter()
            .find(|(k, _, _)| *k == kind)
            .expect("a validator per kind");
        (schema, validator)
    }
}

/// Replaces the `format` keyword (an annotation the validator otherwise ignores) to
/// check the integer formats schemars writes for integer fields (`uint32`): JSON
/// Schema counts `1e3` and `1.0` as integers, serde's integer types refuse them, and
/// that refusal, after the schema had passed, has no position to report. Flagged here
/// instead, the error carries the value's path like every other schema error.
fn whole_number_format<'a>(
    _: &'a serde_json::Map<String, Json>,
    format: &'a Json,
    _: jsonschema::paths::Location,
) -> Result<Box<dyn for<'i> jsonschema::Keyword<'i>>, jsonschema::ValidationError<'a>> {
    let integer = format
        .as_str()
        .is_some_and(|f| f.starts_with("int") || f.starts_with("uint"));
    Ok(Box::new(WholeNumberFormat { integer }))
}

struct WholeNumberFormat {
    integer: bool,
}

impl<'i> jsonschema::Keyword<'i> for WholeNumberFormat {
    fn validate(&self, instance: &'i Json) -> Result<(), jsonschema::ValidationError<'i>> {
        if self.is_valid(instance) {
            Ok(())
        } else {
            Err(jsonschema::ValidationError::custom(WRITTEN_AS_FLOAT))
        }
    }

    fn is_valid(&self, instance: &'i Json) -> bool {
        // A fractional value is the `type` keyword's to report.
        !(self.integer && instance.is_f64() && instance.as_f64().is_some_and(|f| f.fract() == 0.0))
    }
}

const WRITTEN_AS_FLOAT: &str = "an integer written as a float";

/// Parses and schema-checks every document of every file in `sources`, every
/// problem kept (see [`load_manifests_keeping`]).
pub fn load_manifests(
    sources: &SourceMap,
    validators: &SchemaValidators,
) -> (Manifests, Vec<Diagnostic>) {
    let (manifests, problems) = load_manifests_keeping(sources, validators, usize::MAX);
    (manifests, problems.shown)
}

/// Parses and schema-checks every document of every file in `sources`, keeping the
/// first `limit` problems in sort order and counting the rest. Files are spread over
/// the machine's cores; the result is merged in file order, so it is the same as a
/// sequential run. Files that hold no object at all are an error when no file holds
/// one.
pub fn load_manifests_keeping(
    sources: &SourceMap,
    validators: &SchemaValidators,
    limit: usize,
) -> (Manifests, Problems) {
    let files: Vec<FileId> = (0..sources.len())
        .map(|index| FileId(u32::try_from(index).expect("file count fits u32")))
        .filter(|&file| sources.parse(file))
        .collect();
    let parts = super::in_chunks(&files, |files| {
        load_files(sources, files, validators, limit)
    });
    let mut manifests = Manifests::default();
    let mut problems = Problems::new(limit);
    for (part, part_problems) in parts {
        manifests.append(part);
        problems.merge(part_problems, sources);
    }
    // Files were read but hold no object at all (empty, only comments, only `---`):
    // most likely the wrong path. Planning nothing and reporting "valid" would hide
    // that, so it is an error, as `kubectl apply` does ("no objects passed to
    // apply"). An empty file beside real manifests stays harmless.
    if manifests.is_empty() && problems.is_empty() {
        for &file in &files {
            problems.push(
                Diagnostic::error(
                    "no-objects",
                    Some(sources.file_start(file)),
                    "no manifest objects: the file is empty or holds only comments",
                )
                .with_hint(
                    "each object is a YAML document with `apiVersion`, `kind`, `metadata` and `spec`; check the path",
                ),
                sources,
            );
        }
    }
    (manifests, problems.finish(sources))
}

/// Documents are loaded as the parser completes them, so a file's objects and
/// problems are its own until the parse ends: a file with a YAML error reports that
/// error only, as its documents could not all be read.
fn load_files(
    sources: &SourceMap,
    files: &[FileId],
    validators: &SchemaValidators,
    limit: usize,
) -> (Manifests, Problems) {
    let mut manifests = Manifests::default();
    let mut problems = Problems::new(limit);
    for &file in files {
        let shared = FileDocuments::new(file, sources.shared_text(file));
        let mut file_manifests = Manifests::default();
        let mut file_problems = Problems::new(limit);
        let mut index = 0;
        let parsed = for_each_document(sources.text(file), file, |document| {
            load_document(
                document.root,
                &shared,
                index,
                validators,
                &mut file_manifests,
                &mut |diagnostic| file_problems.push(diagnostic, sources),
            );
            index += 1;
        });
        match parsed {
            Ok(()) => {
                manifests.append(file_manifests);
                problems.merge(file_problems, sources);
            }
            Err(errors) => problems.extend(errors, sources),
        }
    }
    (manifests, problems)
}

fn load_document(
    root: Node,
    source: &Arc<FileDocuments>,
    index: usize,
    validators: &SchemaValidators,
    manifests: &mut Manifests,
    report: &mut dyn FnMut(Diagnostic),
) {
    let file = source.file();
    let at = |node: &Node| Some(node.pos.location(file));
    match &root.value {
        // An empty document (a trailing `---`, or only comments) is not an object.
        Value::Null => return,
        Value::Map(_) => {}
        _ => {
            report(
                Diagnostic::error(
                    "not-a-mapping",
                    at(&root),
                    format!(
                        "a manifest document must be a mapping, found {}",
                        root.type_name()
                    ),
                )
                .with_hint("each document has `apiVersion`, `kind`, `metadata` and `spec`"),
            );
            return;
        }
    }
    let mut header_ok = true;
    match root.get("apiVersion") {
        None => {
            report(
                Diagnostic::error(
                    "missing-field",
                    at(&root),
                    "missing required field `apiVersion`",
                )
                .with_hint(format!("add `apiVersion: {API_VERSION}`")),
            );
            header_ok = false;
        }
        Some((_, value)) if value.as_str() != Some(API_VERSION) => {
            report(
                Diagnostic::error(
                    "api-version",
                    at(value),
                    format!("unsupported apiVersion `{}`", value.key_text()),
                )
                .with_hint(format!("this release reads `{API_VERSION}`")),
            );
            header_ok = false;
        }
        Some(_) => {}
    }
    let kind = match root.get("kind") {
        None => {
            report(
                Diagnostic::error("missing-field", at(&root), "missing required field `kind`")
                    .with_hint("one of Reseller, Customer, Subscription, SupportContact"),
            );
            return;
        }
        Some((_, value)) => match value.as_str().and_then(Kind::parse) {
            Some(kind) => kind,
            None => {
                let text = value.key_text();
                let mut diagnostic =
                    Diagnostic::error("unknown-kind", at(value), format!("unknown kind `{text}`"));
                diagnostic = match did_you_mean(&text, Kind::ALL.map(Kind::as_str)) {
                    Some(suggestion) => {
                        diagnostic.with_hint(format!("did you mean `{suggestion}`?"))
                    }
                    None => diagnostic
                        .with_hint("one of Reseller, Customer, Subscription, SupportContact"),
                };
                report(diagnostic);
                return;
            }
        },
    };
    let json = root.to_json();
    let (schema, validator) = validators.get(kind);
    let mut schema_errors = false;
    // Most documents are valid: the cheap yes/no check first, the error walk only
    // when there is something to report.
    let errors = if validator.is_valid(&json) {
        None
    } else {
        Some(validator.iter_errors(&json))
    };
    for error in errors.into_iter().flatten() {
        // apiVersion problems were reported above with a better message; that includes
        // a missing one, which the schema reports again on the document.
        let missing_api_version = matches!(
            error.kind(),
            jsonschema::error::ValidationErrorKind::Required { property }
                if property.as_str() == Some("apiVersion")
        );
        if error.instance_path().as_str() == "/apiVersion" || missing_api_version {
            continue;
        }
        for diagnostic in schema_error(&error, &root, schema, &source.text, file) {
            schema_errors = true;
            report(diagnostic);
        }
    }
    if schema_errors || !header_ok {
        return;
    }
    let document_at = Some(root.pos.location(file));
    let name = root
        .get("metadata")
        .and_then(|(_, metadata)| metadata.get("name"))
        .map_or(root.pos, |(_, name)| name.pos)
        .location(file);
    drop(root);
    let origin = Origin::new(source, index, name);
    let result = match kind {
        Kind::Reseller => typed::<ResellerDocument>(json).map(|d| {
            manifests
                .resellers
                .push(Object::new(d.metadata.name, d.spec, origin))
        }),
        Kind::Customer => typed::<CustomerDocument>(json).map(|d| {
            manifests
                .customers
                .push(Object::new(d.metadata.name, d.spec, origin))
        }),
        Kind::Subscription => typed::<SubscriptionDocument>(json).map(|d| {
            manifests
                .subscriptions
                .push(Object::new(d.metadata.name, d.spec, origin))
        }),
        Kind::SupportContact => typed::<SupportContactDocument>(json).map(|d| {
            manifests
                .support_contacts
                .push(Object::new(d.metadata.name, d.spec, origin))
        }),
    };
    if let Err(message) = result {
        // The schema and the types come from the same definitions, so this means a bug;
        // still a diagnostic, never a panic.
        report(Diagnostic::error("invalid-document", document_at, message));
    }
}

fn typed<T: DeserializeOwned>(json: Json) -> Result<T, String> {
    serde_json::from_value(json).map_err(|e| format!("invalid document: {e}"))
}

/// Splits a JSON pointer into path segments (numbers are list indices).
pub fn pointer_segments(pointer: &str) -> Vec<PathSegment> {
    pointer
        .split('/')
        .skip(1)
        .map(|raw| {
            let segment = raw.replace("~1", "/").replace("~0", "~");
            match segment.parse::<usize>() {
                Ok(index) => PathSegment::Index(index),
                Err(_) => PathSegment::Key(segment),
            }
        })
        .collect()
}

fn human_path(pointer: &str) -> String {
    pointer_segments(pointer)
        .iter()
        .map(|s| match s {
            PathSegment::Key(k) => k.clone(),
            PathSegment::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// What a pattern means, for messages (the regex itself helps nobody).
fn pattern_meaning(pattern: &str) -> &'static str {
    match pattern {
        p if p == GUID_PATTERN => "a GUID such as 484e548c-f5f3-4528-93a9-c16c6373cb59",
        p if p == NAME_PATTERN => "a name of lowercase letters, digits and `-` (at most 63)",
        p if p == MPN_PATTERN => "an MPN ID of digits only",
        p if p == COUNTRY_PATTERN => "a two-letter ISO country code such as US",
        p if p == DOMAIN_PATTERN => "a domain name such as contoso.onmicrosoft.com",
        p if p == EMAIL_PATTERN => "an email address",
        p if p == CULTURE_PATTERN => "a culture such as en-US",
        p if p == LANGUAGE_PATTERN => "a two-letter language code such as en",
        p if p == DATE_PATTERN => "a date (YYYY-MM-DD) or RFC 3339 date-time",
        p if p == OFFER_PATTERN => {
            "a new-commerce catalog id PRODUCT:SKU[:AVAILABILITY] or a legacy offer GUID"
        }
        _ => "the expected format",
    }
}

fn schema_error(
    error: &jsonschema::ValidationError<'_>,
    root: &Node,
    schema: &Json,
    text: &str,
    file: FileId,
) -> Vec<Diagnostic> {
    use jsonschema::error::ValidationErrorKind as K;
    let instance_pointer = error.instance_path().as_str().to_owned();
    let path = pointer_segments(&instance_pointer);
    let (node, key) = root.find(&path);
    let field = human_path(&instance_pointer);
    let value_at = Some(node.pos.location(file));
    // For errors about a whole mapping (a missing field) point at its key, which is
    // where the reader looks ("spec:"), or at the document for the root.
    let container_at = Some(key.unwrap_or(node).pos.location(file));
    let schema_pointer = error.schema_path().as_str().to_owned();
    let keyword_value = schema.pointer(&schema_pointer);
    match error.kind() {
        K::AdditionalProperties { unexpected } => {
            let parent = schema_pointer.rsplit_once('/').map_or("", |(p, _)| p);
            let allowed: Vec<String> = schema
                .pointer(parent)
                .and_then(|s| s.get("properties"))
                .and_then(Json::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            // Keys by name, built once: searching the entries for every unknown name
            // is quadratic, and a hostile mapping has tens of thousands of them.
            let keys: std::collections::HashMap<String, &Node> = match &node.value {
                Value::Map(entries) => entries
                    .iter()
                    .rev()
                    .map(|(k, _)| (k.key_text(), k))
                    .collect(),
                _ => std::collections::HashMap::new(),
            };
            unexpected
                .iter()
                .map(|name| {
                    let key_node = keys.get(name).copied();
                    let location = Some(key_node.unwrap_or(node).pos.location(file));
                    let mut diagnostic = Diagnostic::error(
                        "unknown-field",
                        location,
                        format!("unknown field `{name}`"),
                    );
                    if let Some(suggestion) = did_you_mean(name, allowed.iter().map(String::as_str))
                    {
                        diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
                    } else if !allowed.is_empty() {
                        diagnostic = diagnostic
                            .with_hint(format!("expected one of: {}", allowed.join(", ")));
                    }
                    diagnostic
                })
                .collect()
        }
        K::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let message = if field.is_empty() {
                format!("missing required field `{name}`")
            } else {
                format!("missing required field `{name}` in `{field}`")
            };
            vec![Diagnostic::error("missing-field", container_at, message)]
        }
        K::Type { .. } => {
            let expected = match keyword_value {
                Some(Json::String(t)) => type_phrase(t).to_owned(),
                Some(Json::Array(types)) => types
                    .iter()
                    .filter_map(Json::as_str)
                    .filter(|t| *t != "null")
                    .map(type_phrase)
                    .collect::<Vec<_>>()
                    .join(" or "),
                _ => "another type".to_owned(),
            };
            let mut diagnostic = Diagnostic::error(
                "wrong-type",
                value_at,
                format!("`{field}` must be {expected}, found {}", node.type_name()),
            );
            if expected == "a string"
                && matches!(node.value, Value::Int(_) | Value::Float(_) | Value::Bool(_))
            {
                // Quote what was written, not the parsed value: `mpnId: 0x10` or a
                // 23-digit number (read as a float) would otherwise be "corrected" to
                // "16" or "100000000000000000000000", a different ID.
                let written =
                    written_text(text, node).map_or_else(|| node.key_text(), str::to_owned);
                diagnostic = diagnostic.with_hint(format!("quote the value: \"{written}\""));
            }
            vec![diagnostic]
        }
        K::Custom { message, .. } if message == WRITTEN_AS_FLOAT => {
            let written = written_text(text, node).map_or_else(|| node.key_text(), str::to_owned);
            // Beyond 2^53 the float's digits are not what was written.
            let whole = match node.value {
                Value::Float(f) if f.abs() < 1e15 => format!("{f:.0}"),
                _ => "the digits".to_owned(),
            };
            vec![
                Diagnostic::error(
                    "wrong-type",
                    value_at,
                    format!("`{field}` must be a whole number, found `{written}`"),
                )
                .with_hint(format!(
                    "write {whole}, without a decimal point or exponent"
                )),
            ]
        }
        K::Pattern { pattern } => vec![Diagnostic::error(
            "invalid-value",
            value_at,
            format!(
                "`{field}` must be {}, found `{}`",
                pattern_meaning(pattern),
                node.key_text()
            ),
        )],
        K::Enum { options } => {
            let choices: Vec<&str> = options
                .as_array()
                .map(|a| a.iter().filter_map(Json::as_str).collect())
                .unwrap_or_default();
            let text = node.key_text();
            let mut diagnostic = Diagnostic::error(
                "invalid-value",
                value_at,
                format!(
                    "`{field}` must be one of {}, found `{text}`",
                    choices.join(", ")
                ),
            );
            if let Some(suggestion) = did_you_mean(&text, choices.iter().copied()) {
                diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
            }
            vec![diagnostic]
        }
        K::Minimum { limit } => vec![Diagnostic::error(
            "invalid-value",
            value_at,
            format!(
                "`{field}` must be at least {limit}, found {}",
                node.key_text()
            ),
        )],
        K::Maximum { limit } => vec![Diagnostic::error(
            "invalid-value",
            value_at,
            format!(
                "`{field}` must be at most {limit}, found {}",
                node.key_text()
            ),
        )],
        K::MinLength { limit } => vec![Diagnostic::error(
            "invalid-value",
            value_at,
            format!("`{field}` must have at least {limit} characters"),
        )],
        K::MaxLength { limit } => vec![Diagnostic::error(
            "invalid-value",
            value_at,
            format!("`{field}` must have at most {limit} characters"),
        )],
        K::MinItems { limit } => vec![Diagnostic::error(
            "invalid-value",
            value_at,
            format!("`{field}` must have at least {limit} item(s)"),
        )],
        K::UniqueItems => vec![Diagnostic::error(
            "duplicate-item",
            value_at,
            format!("`{field}` lists the same item twice"),
        )],
        _ => vec![Diagnostic::error(
            "invalid-value",
            value_at,
            format!("`{field}`: {error}"),
        )],
    }
}

/// The text of a one-line scalar as written in the file.
fn written_text<'t>(text: &'t str, node: &Node) -> Option<&'t str> {
    let starts = line_starts(text);
    let index = usize::try_from(node.pos.line).ok()?.checked_sub(1)?;
    let end = starts.get(index + 1).copied().unwrap_or(text.len());
    let line = text[*starts.get(index)?..end].trim_end_matches(['\n', '\r']);
    let start = usize::try_from(node.pos.column).ok()?.checked_sub(1)?;
    let width = usize::try_from(node.pos.width).ok()?;
    let from = line.char_indices().nth(start)?.0;
    let to = line[from..]
        .char_indices()
        .nth(width)
        .map_or(line.len(), |(i, _)| from + i);
    Some(line[from..to].trim_end())
}

fn type_phrase(json_type: &str) -> &'static str {
    match json_type {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean (true or false)",
        "array" => "a list",
        "object" => "a mapping",
        "null" => "null",
        _ => "a value",
    }
}
