//! The leaves of a serializable value by dotted path (`billing.address.city`): what a
//! plan's field changes name. Objects are walked; anything else (arrays included) is
//! one leaf; a `null` is a leaf too.
//!
//! They are collected straight from `Serialize`, without building a
//! `serde_json::Value` of the whole object first. A create plan of a large tenant
//! lists every leaf of every new object (hundreds of thousands of objects): going
//! through a `Value` tree (an `IndexMap` per object, hashed) and a `BTreeMap` of paths
//! was half of its planning time.

use serde::Serialize;
use serde::ser;
use serde_json::Value as Json;

/// The leaves of one value, in the order they were serialized until
/// [`Leaves::into_sorted`].
#[derive(Debug, Default)]
pub struct Leaves(Vec<(String, Json)>);

impl Leaves {
    /// The leaves of `value`, their paths under `prefix` (`""`: none).
    pub fn of<T: Serialize + ?Sized>(prefix: &str, value: &T) -> Leaves {
        let mut leaves = Leaves(Vec::with_capacity(16));
        // Serializing into values cannot fail for the plan's own types; a type that
        // could (a map with keys that are not strings) shows as one `null` leaf
        // rather than losing the object.
        if value
            .serialize(Collector {
                out: &mut leaves.0,
                path: prefix.to_owned(),
            })
            .is_err()
        {
            leaves.0.push((prefix.to_owned(), Json::Null));
        }
        leaves
    }

    /// Drops the field `key` and everything under it.
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(path, _)| !is_under(path, key));
    }

    /// Sets the leaf `path` (replacing what was there).
    pub fn insert(&mut self, path: &str, value: Json) {
        self.remove(path);
        self.0.push((path.to_owned(), value));
    }

    /// The leaves sorted by path; of a path given twice, the last.
    pub fn into_sorted(self) -> Vec<(String, Json)> {
        let mut leaves = self.0;
        // Stable: of equal paths, the one serialized last stays last.
        leaves.sort_by(|a, b| a.0.cmp(&b.0));
        let mut sorted: Vec<(String, Json)> = Vec::with_capacity(leaves.len());
        for leaf in leaves {
            match sorted.last_mut() {
                Some(last) if last.0 == leaf.0 => *last = leaf,
                _ => sorted.push(leaf),
            }
        }
        sorted
    }
}

/// `path` is `key` or lies under it.
fn is_under(path: &str, key: &str) -> bool {
    path.strip_prefix(key)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        let mut path = String::with_capacity(prefix.len() + 1 + key.len());
        path.push_str(prefix);
        path.push('.');
        path.push_str(key);
        path
    }
}

/// Serializes one value found at `path` into `out`.
struct Collector<'a> {
    out: &'a mut Vec<(String, Json)>,
    path: String,
}

impl Collector<'_> {
    fn leaf(self, value: Json) -> Result<(), serde_json::Error> {
        self.out.push((self.path, value));
        Ok(())
    }
}

/// The name serde_json gives a `RawValue` when it serializes one as a struct.
const RAW_VALUE: &str = "$serde_json::private::RawValue";

impl<'a> ser::Serializer for Collector<'a> {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Fields<'a>;
    type SerializeStruct = Struct<'a>;
    type SerializeStructVariant = Fields<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Self::Error> {
        self.leaf(Json::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<(), Self::Error> {
        self.leaf(Json::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<(), Self::Error> {
        self.leaf(Json::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<(), Self::Error> {
        self.leaf(Json::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<(), Self::Error> {
        self.leaf(Json::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<(), Self::Error> {
        let value = serde_json::to_value(v)?;
        self.leaf(value)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Self::Error> {
        self.leaf(Json::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), Self::Error> {
        self.leaf(Json::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<(), Self::Error> {
        self.leaf(Json::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), Self::Error> {
        self.leaf(Json::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<(), Self::Error> {
        let value = serde_json::to_value(v)?;
        self.leaf(value)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Self::Error> {
        // As serde_json: a float that JSON cannot write is `null`.
        self.leaf(Json::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Self::Error> {
        self.leaf(Json::from(v))
    }
    fn serialize_char(self, v: char) -> Result<(), Self::Error> {
        self.leaf(Json::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<(), Self::Error> {
        self.leaf(Json::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Self::Error> {
        let value = serde_json::to_value(v)?;
        self.leaf(value)
    }
    fn serialize_none(self) -> Result<(), Self::Error> {
        self.leaf(Json::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Self::Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Self::Error> {
        self.leaf(Json::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Self::Error> {
        self.leaf(Json::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Self::Error> {
        self.leaf(Json::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        // `{ "variant": value }`: an object, walked.
        let path = join(&self.path, variant);
        value.serialize(Collector {
            out: self.out,
            path,
        })
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
        Ok(Array {
            at: self,
            items: Vec::with_capacity(len.unwrap_or(0)),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, Self::Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, Self::Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        // `{ "variant": [...] }`: the array is the leaf.
        let path = join(&self.path, variant);
        Collector {
            out: self.out,
            path,
        }
        .serialize_seq(Some(len))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
        Ok(Fields {
            out: self.out,
            prefix: self.path,
            key: None,
        })
    }
    fn serialize_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Self::Error> {
        if name == RAW_VALUE {
            // Raw JSON text: parsed, as a `Value` would hold it.
            return Ok(Struct::Raw {
                at: self,
                value: Json::Null,
            });
        }
        Ok(Struct::Walked(Fields {
            out: self.out,
            prefix: self.path,
            key: None,
        }))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        Ok(Fields {
            out: self.out,
            prefix: join(&self.path, variant),
            key: None,
        })
    }
}

/// An array: one leaf, its elements as serde_json makes values of them.
struct Array<'a> {
    at: Collector<'a>,
    items: Vec<Json>,
}

impl Array<'_> {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), serde_json::Error> {
        self.items.push(serde_json::to_value(value)?);
        Ok(())
    }

    fn finish(self) -> Result<(), serde_json::Error> {
        self.at.leaf(Json::Array(self.items))
    }
}

/// The four ways serde hands out an array's elements, all to [`Array`].
macro_rules! array_serializer {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Array<'_> {
            type Ok = ();
            type Error = serde_json::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
                self.push(value)
            }
            fn end(self) -> Result<(), Self::Error> {
                self.finish()
            }
        }
    )*};
}

array_serializer!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// The fields of an object (a struct, a map, a struct variant), each walked at
/// `prefix.key`.
struct Fields<'a> {
    out: &'a mut Vec<(String, Json)>,
    prefix: String,
    key: Option<String>,
}

impl Fields<'_> {
    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        value.serialize(Collector {
            out: self.out,
            path: join(&self.prefix, key),
        })
    }
}

impl ser::SerializeMap for Fields<'_> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Self::Error> {
        // As serde_json writes map keys: strings, and numbers and booleans as text.
        self.key = Some(match key.serialize(serde_json::value::Serializer)? {
            Json::String(text) => text,
            Json::Number(number) => number.to_string(),
            Json::Bool(flag) => flag.to_string(),
            _ => return Err(ser::Error::custom("a map key must be a string")),
        });
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
        let key = self.key.take().ok_or_else(|| {
            <serde_json::Error as ser::Error>::custom("a map value without its key")
        })?;
        self.field(&key, value)
    }
    fn end(self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Fields<'_> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A struct: walked field by field, unless it is serde_json's raw JSON.
enum Struct<'a> {
    Walked(Fields<'a>),
    Raw { at: Collector<'a>, value: Json },
}

impl ser::SerializeStruct for Struct<'_> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        match self {
            Struct::Walked(fields) => fields.field(key, value),
            Struct::Raw { value: parsed, .. } => {
                // Its one field is the JSON text.
                if let Json::String(text) = serde_json::to_value(value)? {
                    *parsed = serde_json::from_str(&text)?;
                }
                Ok(())
            }
        }
    }
    fn end(self) -> Result<(), Self::Error> {
        match self {
            Struct::Walked(_) => Ok(()),
            // Walked as the `Value` it parses to (an object has leaves).
            Struct::Raw { at, value } => value.serialize(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    /// The reference: a `Value` tree, flattened into a `BTreeMap` (what the planner did).
    fn flattened(prefix: &str, value: Json, out: &mut BTreeMap<String, Json>) {
        match value {
            Json::Object(map) => {
                for (key, child) in map {
                    flattened(&join(prefix, &key), child, out);
                }
            }
            other => {
                out.insert(prefix.to_owned(), other);
            }
        }
    }

    fn reference<T: Serialize>(prefix: &str, value: &T) -> Vec<(String, Json)> {
        let mut out = BTreeMap::new();
        flattened(prefix, serde_json::to_value(value).unwrap(), &mut out);
        out.into_iter().collect()
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Address {
        city: String,
        postal_code: Option<String>,
        lines: Vec<String>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Shape {
        Plain,
        Wrapped(u32),
        Pair(u8, u8),
        Named { side: f64, label: &'static str },
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Spec {
        company_name: String,
        billing: Address,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        empty: BTreeMap<String, u8>,
        by_number: BTreeMap<u32, bool>,
        shapes: Vec<Shape>,
        plain: Shape,
        wrapped: Shape,
        pair: Shape,
        named: Shape,
        not_a_number: f64,
        raw: Box<serde_json::value::RawValue>,
        unit: (),
    }

    fn spec() -> Spec {
        Spec {
            company_name: "Contoso \"Ltd\"".into(),
            billing: Address {
                city: "Zürich".into(),
                postal_code: None,
                lines: vec!["1 Main St".into()],
            },
            skipped: None,
            empty: BTreeMap::new(),
            by_number: BTreeMap::from([(7, true), (12, false)]),
            shapes: vec![Shape::Plain, Shape::Wrapped(3)],
            plain: Shape::Plain,
            wrapped: Shape::Wrapped(9),
            pair: Shape::Pair(1, 2),
            named: Shape::Named {
                side: 1.5,
                label: "x",
            },
            not_a_number: f64::NAN,
            raw: serde_json::value::RawValue::from_string(r#"{"a": [1, 2]}"#.into()).unwrap(),
            unit: (),
        }
    }

    #[test]
    fn leaves_are_those_of_the_flattened_json_value() {
        let value = spec();
        assert_eq!(Leaves::of("", &value).into_sorted(), reference("", &value));
        assert_eq!(
            Leaves::of("agreement", &value).into_sorted(),
            reference("agreement", &value)
        );
        let json = serde_json::to_value(&value).unwrap();
        assert_eq!(Leaves::of("", &json).into_sorted(), reference("", &json));
    }

    #[test]
    fn a_scalar_or_an_array_is_one_leaf_at_the_prefix() {
        assert_eq!(
            Leaves::of("quantity", &3).into_sorted(),
            vec![("quantity".to_owned(), json!(3))]
        );
        assert_eq!(
            Leaves::of("", &vec!["a"]).into_sorted(),
            vec![(String::new(), json!(["a"]))]
        );
    }

    #[test]
    fn remove_drops_a_field_and_what_is_under_it_only() {
        let mut leaves = Leaves::of(
            "",
            &json!({"billing": {"city": "x", "zip": "1"}, "billingCycle": "monthly", "b": 1}),
        );
        leaves.remove("billing");
        assert_eq!(
            leaves.into_sorted(),
            vec![
                ("b".to_owned(), json!(1)),
                ("billingCycle".to_owned(), json!("monthly")),
            ]
        );
    }

    #[test]
    fn insert_replaces_and_a_repeated_path_keeps_the_last() {
        let mut leaves = Leaves::of("", &json!({"name": "old", "z": 1}));
        leaves.insert("name", json!("new"));
        leaves.insert("a", json!(null));
        assert_eq!(
            leaves.into_sorted(),
            vec![
                ("a".to_owned(), json!(null)),
                ("name".to_owned(), json!("new")),
                ("z".to_owned(), json!(1)),
            ]
        );
        let mut twice = Leaves::default();
        twice.0.push(("k".into(), json!(1)));
        twice.0.push(("k".into(), json!(2)));
        assert_eq!(twice.into_sorted(), vec![("k".to_owned(), json!(2))]);
    }
}
