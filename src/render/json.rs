//! The JSON plan: the whole [`Plan`], `format_version` first, and the JSON Schema
//! that documents it (`schemas/plan.schema.json`, committed and checked for
//! staleness by a test below).
//!
//! The layout: the plan's own fields pretty (two spaces a level), and in its
//! `actions` array one action a line, on one line each. A whole tenant's plan is
//! 142,000 actions; written pretty they were 348 MB, a third of it indentation,
//! which every run paid for in serializing, hashing and the kernel's copy into the
//! page cache. On one line each they are 215 MB, and still one line per action for
//! `grep`, `diff` and a reader (`jq` pretty-prints them).
//!
//! Unlike the text renderer this one does not destructure the plan: serde's derive
//! already serializes every field, so a new field reaches the JSON (and the schema)
//! by construction. Whether that is a compatible change is decided by
//! [`crate::plan::PLAN_FORMAT_VERSION`] and pinned by `tests/plan_json.rs`.

use std::io::{self, Write};

use serde_json::{Map, Value};

use crate::plan::{Action, Plan};

/// The plan schema's `$id`: a URN, as it is read from the repository or `cspctl schema --plan`.
pub const PLAN_SCHEMA_ID: &str = "urn:cspctl:schema:plan:v1";

/// The plan as JSON with a trailing newline (files and pipes end in one). Its
/// digest ([`crate::plan::integrity`]) is the last field, of the text before it.
pub fn render_json(plan: &Plan) -> String {
    let mut bytes = Vec::new();
    // Writing to a `Vec` cannot fail.
    write_json(plan, &mut bytes).expect("a plan always serializes to JSON");
    String::from_utf8(bytes).expect("serde_json writes UTF-8")
}

/// [`render_json`] written to `out` as it is serialized, byte for byte the same: a
/// whole tenant's plan is hundreds of megabytes of JSON, which is never held in
/// memory. The digest is computed on the way.
///
/// The actions, nearly all of it, are serialized in pieces by two threads, written
/// by this one and hashed by another ([`super::pieces`]).
pub fn write_json(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    write_json_in_pieces(plan, out, super::pieces::PIECE_ITEMS).map(drop)
}

/// The digest of `plan` (its own `digest` aside): of the JSON [`write_json`] writes
/// before the `digest` field. This is what a saved plan's digest is checked against.
pub fn digest(plan: &Plan) -> String {
    write_json_in_pieces(plan, &mut io::sink(), super::pieces::PIECE_ITEMS)
        // Writing to a sink cannot fail, nor can serializing a plan.
        .expect("a plan always serializes to JSON")
}

/// How the pretty JSON of an empty top-level `actions` field reads; the actions go
/// between its brackets.
const EMPTY_ACTIONS: &str = "\n  \"actions\": []";

/// How the pretty JSON of a struct ends: the digest is written before it.
const CLOSING: &str = "\n}";

/// Writes the plan and returns its digest.
fn write_json_in_pieces(plan: &Plan, out: &mut dyn Write, per_piece: usize) -> io::Result<String> {
    let shell = crate::printable::to_json(&without_actions(plan), true);
    let (head, tail) = shell
        .find(EMPTY_ACTIONS)
        .map(|at| shell.split_at(at + EMPTY_ACTIONS.len() - 1))
        .filter(|(_, tail)| tail.ends_with(CLOSING))
        .ok_or_else(|| io::Error::other("the plan's JSON has no top-level actions field"))?;
    let mut sink = Sink {
        out,
        hash: ring::digest::Context::new(&ring::digest::SHA256),
    };
    sink.put(head.as_bytes())?;
    if !plan.actions.is_empty() {
        // Hashed on a thread of its own while written on this one.
        let Sink { out, hash } = &mut sink;
        super::pieces::write_observed_in_pieces(
            &plan.actions,
            per_piece,
            &serialize_actions,
            Some(&mut |piece: &[u8]| hash.update(piece)),
            &mut |piece| out.write_all(piece),
        )?;
        sink.put(b"\n  ")?;
    }
    let content_end = tail.len() - CLOSING.len();
    sink.out.write_all(&tail.as_bytes()[..content_end])?;
    sink.hash.update(tail.as_bytes());
    let digest = crate::plan::integrity::digest_hex(sink.hash.finish().as_ref());
    write!(sink.out, ",\n  \"digest\": \"{digest}\"\n}}\n")?;
    Ok(digest)
}

/// The plan without its actions (and without a digest: what is digested never
/// holds one), for the JSON around them.
fn without_actions(plan: &Plan) -> Plan {
    // Destructured, so that a new field of `Plan` cannot be forgotten here.
    let Plan {
        format_version,
        backend,
        backend_settings,
        summary,
        actions: _,
        unmanaged,
        partly_known,
        resellers,
        cost,
        scope,
        digest: _,
        renewals,
    } = plan;
    Plan {
        format_version: *format_version,
        backend: backend.clone(),
        backend_settings: backend_settings.clone(),
        summary: summary.clone(),
        actions: Vec::new(),
        unmanaged: unmanaged.clone(),
        partly_known: partly_known.clone(),
        resellers: resellers.clone(),
        cost: cost.clone(),
        scope: scope.clone(),
        digest: None,
        renewals: renewals.clone(),
    }
}

/// Actions as elements of the top-level `actions` array, each on a line of its
/// own after its separator.
fn serialize_actions(actions: &[Action], first: bool) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(actions.len() * 1536);
    for (i, action) in actions.iter().enumerate() {
        bytes.extend_from_slice(if first && i == 0 {
            b"\n    "
        } else {
            b",\n    "
        });
        crate::printable::write_json(action, false, &mut bytes)?;
    }
    Ok(bytes)
}

/// Where the plan's content goes: hashed for its digest, and written.
struct Sink<'a> {
    out: &'a mut dyn Write,
    hash: ring::digest::Context,
}

impl Sink<'_> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes)
    }
}

/// The JSON Schema of [`Plan`] (draft 2020-12, generated by schemars), with `$id`
/// right after `$schema` so the committed file reads top-down.
pub fn plan_schema() -> Value {
    with_id(schemars::schema_for!(Plan).to_value(), PLAN_SCHEMA_ID)
}

/// `generated` with `"$id": id` right after `$schema`.
pub fn with_id(generated: Value, id: &str) -> Value {
    let Value::Object(generated) = generated else {
        return generated;
    };
    let mut schema = Map::new();
    if let Some(dialect) = generated.get("$schema") {
        schema.insert("$schema".to_owned(), dialect.clone());
    }
    schema.insert("$id".to_owned(), Value::String(id.to_owned()));
    for (key, value) in generated {
        if key != "$schema" && key != "$id" {
            schema.insert(key, value);
        }
    }
    Value::Object(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed plan schema is what the `Plan` types generate; regenerate it with
    /// `CSPCTL_BLESS=1 cargo test --lib schema`.
    #[test]
    fn committed_plan_schema_is_up_to_date() {
        crate::manifest::schema::assert_committed_schema(
            "schemas/plan.schema.json",
            &plan_schema(),
        );
    }

    #[test]
    fn schema_has_id_after_dialect_and_describes_the_plan() {
        let schema = plan_schema();
        let keys: Vec<&str> = schema
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .take(2)
            .collect();
        assert_eq!(keys, ["$schema", "$id"]);
        assert_eq!(schema["title"], "Plan");
        assert!(schema["properties"]["format_version"].is_object());
    }

    #[test]
    fn json_starts_with_format_version_and_ends_with_newline() {
        let plan = Plan::new("local:state.json".to_owned(), Vec::new(), Vec::new());
        let text = render_json(&plan);
        assert!(text.starts_with("{\n  \"format_version\": 1,\n"), "{text}");
        // The digest is the last field (tests/plan_json.rs checks the round trip).
        assert!(text.ends_with("\"\n}\n"), "{text}");
        assert!(text.contains("\n  \"digest\": \"sha256:"), "{text}");
    }

    /// The actions serialized apart, in pieces, join into the plan laid out as the
    /// module says (its fields pretty, one action a line), whatever the pieces'
    /// size, and the digest is of that.
    #[test]
    fn actions_serialized_in_pieces_are_the_whole_plan_byte_for_byte() {
        let mut actions = crate::plan::manual_actions(7, |i| {
            crate::plan::FieldChange::new(
                "billing.address.city",
                serde_json::Value::Null,
                serde_json::json!({"nested": [i, "\u{202e}"]}),
            )
        });
        for (i, action) in actions.iter_mut().enumerate() {
            action.depends_on = (0..i).map(|d| format!("Reseller/r{d}")).collect();
        }
        let lines: Vec<String> = actions
            .iter()
            .map(|action| crate::printable::to_json(action, false))
            .collect();
        let plan = Plan::new("local:state.json".to_owned(), actions, Vec::new());
        let content = crate::printable::to_json(&without_actions(&plan), true).replace(
            "\"actions\": []",
            &format!("\"actions\": [\n    {}\n  ]", lines.join(",\n    ")),
        );
        let hash = ring::digest::digest(&ring::digest::SHA256, content.as_bytes());
        let digest = crate::plan::integrity::digest_hex(hash.as_ref());
        let expected = format!(
            "{},\n  \"digest\": \"{digest}\"\n}}\n",
            content.strip_suffix("\n}").unwrap()
        );
        assert_eq!(
            expected
                .lines()
                .filter(|l| l.starts_with("    {\"address\":\"Customer/c"))
                .count(),
            7,
            "{expected}"
        );
        assert!(expected.contains("\\u202e"), "{expected}");
        assert_eq!(digest, super::digest(&plan));
        for per_piece in [1, 2, 3, 7, super::super::pieces::PIECE_ITEMS] {
            let mut bytes = Vec::new();
            write_json_in_pieces(&plan, &mut bytes, per_piece).unwrap();
            assert_eq!(String::from_utf8(bytes).unwrap(), expected, "{per_piece}");
        }
        // A plan read back from its file keeps its digest out of what is digested.
        let read: Plan = serde_json::from_str(&expected).unwrap();
        assert_eq!(render_json(&read), expected);
        let empty = Plan::new("local:state.json".to_owned(), Vec::new(), Vec::new());
        assert!(render_json(&empty).contains("\"actions\": [],"));
    }
}
