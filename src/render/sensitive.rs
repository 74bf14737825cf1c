//! Personal data in plans and drift reports: which fields hold it and how it is
//! masked in output that ends up in pull requests, issues and CI logs.
//!
//! Personal data here means the people in a manifest: contact names, emails and
//! phone numbers (`billing.email`, `billing.address.firstName`,
//! `agreement.contact.phoneNumber`…). Plans and drift reports carry them as field
//! changes, a dotted path with a before and an after value, so the decision is made
//! on the path's last segment. Company names, domains and addresses are business
//! data a reviewer needs and are shown.
//!
//! Masking replaces a value with [`MASK`], the same whatever the value, so its
//! length leaks nothing; `null` stays `null`, so a reviewer still sees that a
//! contact is added or removed. A masked before and after side by side still show
//! *that* a field changes, never *what* it was or becomes. The text and JSON formats
//! stay unmasked: they go to the operator's terminal and to saved plan files, which
//! `apply` needs whole.

use serde_json::Value;

/// What a personal value is shown as: fixed, so its length reveals nothing.
pub const MASK: &str = "•••";

/// Last path segments that hold personal data, in the manifests' spelling.
pub const PERSONAL_FIELDS: [&str; 4] = ["firstName", "lastName", "email", "phoneNumber"];

/// Whether the field at dotted `path` holds personal data, judged by its last
/// segment. Case, `_` and `-` are ignored and an array index (`emails[0]`) is
/// dropped, so `contact.first_name` or a differently cased drift path is masked
/// too: masking too much costs a reviewer a click, too little leaks a person.
pub fn is_personal(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    let last = last.split('[').next().unwrap_or(last);
    is_personal_key(last)
}

fn is_personal_key(key: &str) -> bool {
    // Compared byte by byte, without `_` and `-`, ASCII case ignored: asked for every
    // field of every change of a plan, so it allocates nothing.
    let normalized = || {
        key.bytes()
            .filter(|b| !matches!(b, b'_' | b'-'))
            .map(|b| b.to_ascii_lowercase())
    };
    PERSONAL_FIELDS.iter().any(|field| {
        field
            .bytes()
            .map(|b| b.to_ascii_lowercase())
            .eq(normalized())
    })
}

/// The value of the field at `path` as output that others read may show it:
/// unchanged with `show_sensitive`; otherwise [`MASK`] for a personal field (`null`
/// stays `null`), and for an object or array (a whole `billing` or `contact` at
/// once) a copy with every personal member masked.
pub fn shown(path: &str, value: &Value, show_sensitive: bool) -> Value {
    if show_sensitive {
        return value.clone();
    }
    if is_personal(path) {
        return mask(value);
    }
    redact(value)
}

/// `before` and `after` of one field (a plan's change, or a drift report's live and
/// declared values) as [`shown`] shows them.
pub fn shown_pair(
    path: &str,
    before: &Value,
    after: &Value,
    show_sensitive: bool,
) -> (Value, Value) {
    (
        shown(path, before, show_sensitive),
        shown(path, after, show_sensitive),
    )
}

/// [`MASK`] for any value but `null`.
pub fn mask(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        _ => Value::String(MASK.to_owned()),
    }
}

/// A copy of `value` with every personal member of every object masked.
fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, child)| {
                    let child = if is_personal_key(key) {
                        mask(child)
                    } else {
                        redact(child)
                    };
                    (key.clone(), child)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn personal_paths_are_recognized_by_their_last_segment() {
        for path in [
            "billing.email",
            "billing.address.firstName",
            "billing.address.lastName",
            "billing.address.phoneNumber",
            "agreement.contact.firstName",
            "agreement.contact.email",
            "agreement.contact.phoneNumber",
            "email",
            "contact.first_name",
            "contact.PhoneNumber",
            "contacts[0].email",
            "contact.email[1]",
        ] {
            assert!(is_personal(path), "{path}");
        }
        for path in [
            "billing.culture",
            "billing.address.city",
            "billing.address.addressLine1",
            "companyName",
            "domain",
            "quantity",
            "emailDomain",
            "email.verified",
            "",
        ] {
            assert!(!is_personal(path), "{path}");
        }
    }

    #[test]
    fn masking_hides_the_value_and_its_length_but_keeps_null() {
        let short = shown("billing.email", &json!("a@b.c"), false);
        let long = shown(
            "billing.email",
            &json!("someone.with.a.long.name@contoso.example"),
            false,
        );
        assert_eq!(short, json!(MASK));
        assert_eq!(long, json!(MASK));
        assert_eq!(shown("billing.email", &Value::Null, false), Value::Null);
        assert_eq!(
            shown("billing.address.phoneNumber", &json!(4255550100_u64), false),
            json!(MASK)
        );
    }

    #[test]
    fn show_sensitive_and_other_fields_pass_through() {
        assert_eq!(
            shown("billing.email", &json!("a@b.c"), true),
            json!("a@b.c")
        );
        assert_eq!(
            shown("billing.address.city", &json!("Redmond"), false),
            json!("Redmond")
        );
        assert_eq!(shown("quantity", &json!(5), false), json!(5));
    }

    #[test]
    fn whole_objects_have_their_personal_members_masked() {
        let contact = json!({
            "contact": {"firstName": "Ana", "lastName": "Bowman", "email": "ana@contoso.example", "phoneNumber": null},
            "dateAgreed": "2026-01-15",
            "others": [{"email": "x@y.z", "city": "Oslo"}]
        });
        assert_eq!(
            shown("agreement", &contact, false),
            json!({
                "contact": {"firstName": MASK, "lastName": MASK, "email": MASK, "phoneNumber": null},
                "dateAgreed": "2026-01-15",
                "others": [{"email": MASK, "city": "Oslo"}]
            })
        );
        assert_eq!(shown("agreement", &contact, true), contact);
        // A personal path masks the object whole.
        assert_eq!(
            shown("agreement.contact.email", &json!({"a": 1}), false),
            json!(MASK)
        );
    }

    #[test]
    fn pairs_are_masked_alike() {
        assert_eq!(
            shown_pair("billing.email", &Value::Null, &json!("a@b.c"), false),
            (Value::Null, json!(MASK))
        );
        assert_eq!(
            shown_pair("billing.email", &json!("old@b.c"), &json!("new@b.c"), false),
            (json!(MASK), json!(MASK))
        );
        assert_eq!(
            shown_pair("billing.email", &json!("old@b.c"), &json!("new@b.c"), true),
            (json!("old@b.c"), json!("new@b.c"))
        );
    }
}
