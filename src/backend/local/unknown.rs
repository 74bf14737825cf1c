//! Fields of the local state this release does not know, kept across a rewrite.
//!
//! Why: a newer cspctl may add fields within the same format version (older
//! releases read such a file, ignoring what they do not know). If an older release
//! then applied and rewrote the file, those fields were silently lost. Here the
//! typed read reports every field it ignored ([`serde_ignored`]); their values are
//! taken from the file and put back into the state when it is written, each under
//! the object it belonged to. Objects in lists are found again by their id (a list
//! may have grown, shrunk or been reordered since), so a field of a deleted object
//! goes with it, as the newer release would have done.
//!
//! The common case, a file written by this release, costs only the check: nothing
//! is kept and the state is written straight from its types.

use serde::de::DeserializeOwned;

use super::scan;
use serde_json::Value;

/// One step from the state's root to a field.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    /// An element of a list, by the field that names it ([`scan::id_field`]).
    Id {
        field: &'static str,
        id: String,
    },
    /// An element of a list without an id, by position.
    Index(usize),
}

/// The unknown fields of a state file, with their values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unknown {
    fields: Vec<(Vec<Step>, Value)>,
}

impl Unknown {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The dotted paths of the fields (what tests assert).
    #[cfg(test)]
    pub fn paths(&self) -> Vec<String> {
        self.fields
            .iter()
            .map(|(steps, _)| {
                steps
                    .iter()
                    .map(|step| match step {
                        Step::Key(key) => key.clone(),
                        Step::Id { id, .. } => format!("[{id}]"),
                        Step::Index(index) => format!("[{index}]"),
                    })
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect()
    }

    /// `state`, serialized, with the unknown fields put back where they were.
    pub fn restore(&self, state: Value) -> Value {
        let mut state = state;
        for (steps, value) in &self.fields {
            let Some((last, parents)) = steps.split_last() else {
                continue;
            };
            let Step::Key(key) = last else { continue };
            if let Some(Value::Object(object)) = walk(&mut state, parents) {
                // Never over a field this release wrote: it knows that one.
                object.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
        state
    }
}

/// The value of type `T` in `bytes`, and the fields of `bytes` it ignored.
pub fn read<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<(T, Unknown)> {
    let mut ignored: Vec<Vec<Raw>> = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_ignored::deserialize(&mut deserializer, |path| {
        let mut steps = Vec::new();
        raw_steps(&path, &mut steps);
        ignored.push(steps);
    })?;
    deserializer.end()?;
    if ignored.is_empty() {
        return Ok((value, Unknown::default()));
    }
    // Rare (a file from a newer release): the values are read from the file whole.
    let whole: Value = serde_json::from_slice(bytes)?;
    let fields = ignored
        .into_iter()
        .filter_map(|raw| located(&whole, &raw))
        .collect();
    Ok((value, Unknown { fields }))
}

/// A step as serde_ignored reports it: keys and list positions.
enum Raw {
    Key(String),
    Index(usize),
}

fn raw_steps(path: &serde_ignored::Path<'_>, out: &mut Vec<Raw>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            raw_steps(parent, out);
            out.push(Raw::Index(*index));
        }
        Path::Map { parent, key } => {
            raw_steps(parent, out);
            out.push(Raw::Key(key.clone()));
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => raw_steps(parent, out),
    }
}

/// The field at `raw` in `whole`, with list positions turned into ids.
fn located(whole: &Value, raw: &[Raw]) -> Option<(Vec<Step>, Value)> {
    let mut here = whole;
    let mut steps: Vec<Step> = Vec::with_capacity(raw.len());
    for step in raw {
        match step {
            Raw::Key(key) => {
                here = here.get(key)?;
                steps.push(Step::Key(key.clone()));
            }
            Raw::Index(index) => {
                here = here.get(index)?;
                let field = match steps.last() {
                    Some(Step::Key(list)) => scan::id_field(list),
                    _ => "id",
                };
                steps.push(match here.get(field).and_then(Value::as_str) {
                    Some(id) => Step::Id {
                        field,
                        id: id.to_owned(),
                    },
                    None => Step::Index(*index),
                });
            }
        }
    }
    Some((steps, here.clone()))
}

/// The object at `steps` in `value`, if it is still there.
fn walk<'a>(value: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    let mut here = value;
    for step in steps {
        here = match step {
            Step::Key(key) => here.as_object_mut()?.get_mut(key)?,
            Step::Index(index) => here.as_array_mut()?.get_mut(*index)?,
            Step::Id { field, id } => here.as_array_mut()?.iter_mut().find(|element| {
                element
                    .get(*field)
                    .and_then(Value::as_str)
                    .is_some_and(|own| own.eq_ignore_ascii_case(id))
            })?,
        };
    }
    Some(here)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Map, json};

    use super::*;

    fn object(pairs: &[(&str, Value)]) -> Value {
        Value::Object(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<Map<String, Value>>(),
        )
    }

    #[derive(Debug, Deserialize, serde::Serialize)]
    struct Known {
        name: String,
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize, serde::Serialize)]
    struct Item {
        id: String,
        n: u32,
    }

    #[test]
    fn unknown_fields_are_found_and_put_back_by_id() {
        let file = json!({
            "name": "t", "future": {"a": 1},
            "items": [{"id": "x", "n": 1, "note": "kept"}, {"id": "y", "n": 2, "gone": true}]
        });
        let (mut known, unknown) = read::<Known>(file.to_string().as_bytes()).expect("reads");
        assert_eq!(
            unknown.paths(),
            ["future", "items.[x].note", "items.[y].gone"]
        );
        // The list changes: y is removed, z added, x moves.
        known.items.retain(|item| item.id != "y");
        known.items.insert(
            0,
            Item {
                id: "z".into(),
                n: 3,
            },
        );
        let written = unknown.restore(serde_json::to_value(&known).expect("serializes"));
        assert_eq!(
            written,
            object(&[
                ("name", json!("t")),
                (
                    "items",
                    json!([{"id": "z", "n": 3}, {"id": "x", "n": 1, "note": "kept"}])
                ),
                ("future", json!({"a": 1})),
            ])
        );
    }

    #[test]
    fn a_file_of_this_release_keeps_nothing() {
        let file = json!({"name": "t", "items": [{"id": "x", "n": 1}]});
        let (_, unknown) = read::<Known>(file.to_string().as_bytes()).expect("reads");
        assert!(unknown.is_empty());
    }
}
