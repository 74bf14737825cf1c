//! JSON Schemas generated from the manifest model.
//!
//! One schema per kind (subschemas inlined, so a validation error's schema path is
//! a plain JSON pointer into it and the allowed fields next to an unknown one can be
//! looked up for a "did you mean" hint), and the combined editor schema committed as
//! `schemas/manifest.schema.json`, which dispatches on `kind` with `if`/`then` so
//! editors show the errors of the right kind instead of a `oneOf` failure.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::manifest::model::{
    CustomerDocument, Kind, ResellerDocument, SubscriptionDocument, SupportContactDocument,
};

/// Where the committed schema is published (for `$id` and editor modelines).
pub const MANIFEST_SCHEMA_ID: &str =
    "https://raw.githubusercontent.com/cspctl/cspctl/main/schemas/manifest.schema.json";

/// The schema of one kind's documents, subschemas inlined.
pub fn kind_schema(kind: Kind) -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let schema = match kind {
        Kind::Reseller => generator.into_root_schema_for::<ResellerDocument>(),
        Kind::Customer => generator.into_root_schema_for::<CustomerDocument>(),
        Kind::Subscription => generator.into_root_schema_for::<SubscriptionDocument>(),
        Kind::SupportContact => generator.into_root_schema_for::<SupportContactDocument>(),
    };
    let mut value = schema.to_value();
    if let Some(object) = value.as_object_mut() {
        object.remove("$schema");
    }
    value
}

/// The combined schema for editors and `cspctl schema`.
pub fn manifest_schema() -> Value {
    let branches: Vec<Value> = Kind::ALL
        .into_iter()
        .map(|kind| {
            let mut schema = kind_schema(kind);
            if let Some(object) = schema.as_object_mut() {
                object.remove("title");
            }
            json!({
                "if": { "properties": { "kind": { "const": kind.as_str() } }, "required": ["kind"] },
                "then": schema,
            })
        })
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": MANIFEST_SCHEMA_ID,
        "title": "cspctl manifest (cspctl/v1)",
        "description": "One document of a cspctl manifest: a Reseller, Customer, Subscription or SupportContact.",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": { "const": crate::manifest::model::API_VERSION },
            "kind": { "enum": Kind::ALL.map(Kind::as_str) },
        },
        "allOf": branches,
    })
}

/// The committed text of a schema: pretty JSON with a trailing newline.
pub fn to_pretty(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a JSON value always serializes");
    text.push('\n');
    text
}
