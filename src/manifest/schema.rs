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

/// The schema's `$id`: a URN, because the schema is used from the repository or from
/// `cspctl schema`, not fetched from a server.
pub const MANIFEST_SCHEMA_ID: &str = "urn:cspctl:schema:manifest:v1";

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

/// Test support: fails when the committed schema at `relative` (from the crate root)
/// differs from `generated`; with `CSPCTL_BLESS=1` rewrites it instead (then review the
/// diff and commit it). Shared by the manifest and plan schema tests.
#[cfg(test)]
pub(crate) fn assert_committed_schema(relative: &str, generated: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let generated = to_pretty(generated);
    if std::env::var_os("CSPCTL_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("schemas/")).expect("create schemas/");
        std::fs::write(&path, &generated).expect("write the schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{relative} is stale (or missing); regenerate it with `CSPCTL_BLESS=1 cargo test --lib schema` and commit the result"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Editors and users read the committed file, so it must match the model.
    #[test]
    fn committed_manifest_schema_is_up_to_date() {
        assert_committed_schema("schemas/manifest.schema.json", &manifest_schema());
    }

    #[test]
    fn the_editor_schema_accepts_a_valid_document_and_rejects_a_wrong_one() {
        let validator = jsonschema::options()
            .build(&manifest_schema())
            .expect("valid schema");
        let reseller = serde_json::json!({
            "apiVersion": "cspctl/v1", "kind": "Reseller", "metadata": {"name": "nw"},
            "spec": {"tenantId": "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "mpnId": "4847383", "displayName": "NW"}
        });
        assert!(validator.is_valid(&reseller));
        let mut wrong = reseller.clone();
        wrong["kind"] = "Customer".into();
        assert!(!validator.is_valid(&wrong));
    }
}
