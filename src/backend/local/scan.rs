//! What the typed read of a state file lets through, found in one pass over its
//! JSON before it: a key twice in one object (serde_json keeps the last, and
//! ignores a repeated unknown one, so a hand edit could go unseen) and two objects
//! of one list with the same id (the tenant would answer with either). Both are
//! refused at their line rather than guessed at. Ids compare as the simulated
//! tenant compares them: ASCII case folded.
//!
//! Pure: bytes in, the first problem out, positioned by serde_json (the line of the
//! offending object). It allocates for the ids of the listed objects and for a
//! list of keys per level of nesting, reused from object to object.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

use crate::hash::HashSet;

/// The state's lists whose objects must have distinct ids, and the id's field.
const LISTS: &[(&str, &str)] = &[
    ("resellers", "tenantId"),
    ("tenants", "id"),
    ("customers", "id"),
    ("carts", "id"),
    ("orders", "id"),
    ("subscriptions", "id"),
];

/// The field that names an object of the state's list `list`: a reseller's
/// `tenantId`, everything else's `id`.
pub fn id_field(list: &str) -> &'static str {
    LISTS
        .iter()
        .find(|(name, _)| *name == list)
        .map_or("id", |(_, field)| field)
}

/// Checks the state file's `bytes`; the error carries the line and column.
pub fn check(bytes: &[u8]) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let mut spare_keys = Vec::new();
    Json {
        list: None,
        spare_keys: &mut spare_keys,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()
}

/// Any JSON value. At the top level (`list: None` and an object), the values of the
/// [`LISTS`] keys are checked for ids; in a list, `list` names the id field and
/// holds the ids seen.
struct Json<'a, 'de> {
    list: Option<(
        &'static (&'static str, &'static str),
        &'a mut HashSet<String>,
    )>,
    /// Emptied lists of keys, one per level of nesting, reused from object to
    /// object: a large state file holds 600,000 objects.
    spare_keys: &'a mut Vec<Vec<Cow<'de, str>>>,
}

/// An object key, borrowed from the file unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> DeserializeSeed<'de> for Json<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Json<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let top = self.list.is_none();
        let id_field = self.list.as_ref().map(|((_, field), _)| *field);
        let spare_keys = self.spare_keys;
        let mut keys = spare_keys.pop().unwrap_or_default();
        let mut id = None;
        while let Some(Key(key)) = map.next_key()? {
            // Objects hold a few keys: a scan is cheaper than hashing them.
            if keys.contains(&key) {
                return Err(A::Error::custom(format!(
                    "the key `{key}` appears twice in one object, and cspctl will not guess which one holds; remove the wrong one"
                )));
            }
            match LISTS.iter().find(|(list, _)| top && *list == key) {
                Some(list) => {
                    let mut ids = HashSet::default();
                    map.next_value_seed(Json {
                        list: Some((list, &mut ids)),
                        spare_keys: &mut *spare_keys,
                    })?;
                }
                None if id_field == Some(&*key) => {
                    id = Some(map.next_value::<Cow<'de, str>>()?.to_ascii_lowercase());
                }
                None => map.next_value_seed(Json {
                    list: None,
                    spare_keys: &mut *spare_keys,
                })?,
            }
            keys.push(key);
        }
        keys.clear();
        spare_keys.push(keys);
        if let (Some(((list, field), ids)), Some(id)) = (self.list, id) {
            if ids.contains(&id) {
                return Err(A::Error::custom(format!(
                    "a second object in `{list}` has the {field} `{id}`; ids are unique, and cspctl will not guess which object the tenant holds: remove or correct one of them"
                )));
            }
            ids.insert(id);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let element = Json {
                list: self.list.as_mut().map(|(list, ids)| (*list, &mut **ids)),
                spare_keys: &mut *self.spare_keys,
            };
            if seq.next_element_seed(element)?.is_none() {
                return Ok(());
            }
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> String {
        let error = check(text.as_bytes()).expect_err("refused");
        format!("{}:{}: {error}", error.line(), error.column())
    }

    #[test]
    fn a_state_without_repeats_passes() {
        check(br#"{"formatVersion":2,"customers":[{"id":"a","x":{"id":"a"}},{"id":"b"}],"orders":[{"id":"a"}]}"#)
            .expect("distinct per list");
    }

    /// The lists of keys are reused from object to object: a key of one object is
    /// no repeat in its sibling, parent or child, and a repeat deep inside is
    /// still found.
    #[test]
    fn keys_are_counted_per_object_whatever_the_nesting() {
        check(
            br#"{"a":{"x":1,"y":{"x":{"x":[{"x":1},{"x":2}]}}},"b":{"x":2},"x":[{"a":1},{"a":2}]}"#,
        )
        .expect("every object has each key once");
        let text = problem("{\"a\":{\"x\":1},\n\"b\":{\"y\":{\"z\":1,\"x\":1,\"z\":2}}}");
        assert!(
            text.starts_with("2:") && text.contains("the key `z` appears twice"),
            "{text}"
        );
    }

    #[test]
    fn a_repeated_key_is_refused_at_its_line_at_any_depth() {
        let text = problem(
            "{\"formatVersion\":2,\n\"customers\":[\n{\"id\":\"a\",\"billing\":{\"email\":\"x\",\"email\":\"y\"}}]}",
        );
        assert!(
            text.starts_with("3:") && text.contains("the key `email` appears twice"),
            "{text}"
        );
        let text = problem("{\"sandbox\":true,\n\"sandbox\":false}");
        assert!(
            text.starts_with("2:") && text.contains("`sandbox`"),
            "{text}"
        );
    }

    #[test]
    fn a_repeated_id_in_a_list_is_refused_at_its_line_ascii_case_folded() {
        let text = problem(
            "{\"subscriptions\":[\n{\"id\":\"S-1\"},\n{\"id\":\"s-2\"},\n{\"id\":\"s-1\"}\n]}",
        );
        assert!(
            text.starts_with("4:") && text.contains("the id `s-1`"),
            "{text}"
        );
        let text = problem("{\"resellers\":[\n{\"tenantId\":\"t\"},\n{\"tenantId\":\"t\"}]}");
        assert!(
            text.starts_with("3:") && text.contains("tenantId `t`"),
            "{text}"
        );
    }
}
