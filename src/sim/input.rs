//! Lenient reading of request bodies: Partner Center treats JSON property names
//! case-insensitively (the docs send PascalCase, responses are camelCase) and accepts
//! enum values in snake_case or PascalCase. Bodies are rewritten to camelCase keys
//! before typed deserialization, so the typed input structs stay ordinary serde.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::state::ApiError;

/// Every property name the simulator reads, in its canonical camelCase spelling; a key
/// matching one of these case-insensitively is rewritten to it.
const KNOWN: &[&str] = &[
    "companyProfile",
    "billingProfile",
    "associatedPartnerId",
    "domain",
    "organizationRegistrationNumber",
    "companyName",
    "email",
    "culture",
    "language",
    "defaultAddress",
    "firstName",
    "lastName",
    "addressLine1",
    "addressLine2",
    "addressLine3",
    "city",
    "state",
    "postalCode",
    "country",
    "phoneNumber",
    "primaryContact",
    "templateId",
    "dateAgreed",
    "type",
    "agreementType",
    "lineItems",
    "id",
    "catalogItemId",
    "quantity",
    "billingCycle",
    "termDuration",
    "friendlyName",
    "participants",
    "key",
    "value",
    "referenceCustomerId",
    "lineItemNumber",
    "offerId",
    "partnerIdOnRecord",
    "subscriptionId",
    "autoRenewEnabled",
    "status",
    "partnerId",
    "attributes",
    "etag",
    "objectType",
    "supportTenantId",
    "supportMpnId",
    "name",
    "mpnId",
    "tenant",
    "domainPrefix",
    "displayName",
    "legalBusinessProfile",
    "address",
    "adminUserName",
    "adminFirstName",
    "adminLastName",
    "adminAlternateEmail",
    "adminAlernateEmail",
    "organizationProfileLanguage",
    "tenantId",
    "location",
    "resellerTenantId",
    "seconds",
    "field",
    "operator",
];

/// The canonical spelling of a property name.
fn canonical(key: &str) -> String {
    if let Some(known) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(key)) {
        return (*known).to_owned();
    }
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Rewrites every object key in `value` to its canonical camelCase spelling.
pub fn normalize_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, inner) in map {
                out.insert(canonical(&key), normalize_keys(inner));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_keys).collect()),
        other => other,
    }
}

/// Parses a request body into `T` after key normalization; 400/3000 on bad JSON.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(3000, format!("The request body is not valid JSON: {e}"))
        })?
    };
    parse_value(value)
}

/// Deserializes an already parsed value after key normalization.
pub fn parse_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(normalize_keys(value))
        .map_err(|e| ApiError::bad_request(3000, format!("The request body is invalid: {e}")))
}

/// An enum value folded for comparison: `IsIndirectCloudSolutionProviderOf` and
/// `is_indirect_cloud_solution_provider_of` both become
/// `isindirectcloudsolutionproviderof`.
pub fn fold_enum(value: &str) -> String {
    value
        .chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_and_camel_keys_meet() {
        let v = normalize_keys(
            serde_json::json!({"LineItems": [{"CatalogItemId": "x", "Foo": 1}], "BILLINGCYCLE": "m"}),
        );
        assert_eq!(
            v,
            serde_json::json!({"lineItems": [{"catalogItemId": "x", "foo": 1}], "billingCycle": "m"})
        );
    }

    #[test]
    fn enums_fold() {
        assert_eq!(
            fold_enum("TransactionReseller"),
            fold_enum("transaction_reseller")
        );
    }

    #[test]
    fn bad_json_is_a_400() {
        let err = parse_body::<serde_json::Value>(b"{not json").expect_err("invalid");
        assert_eq!((err.status, err.code), (400, 3000));
    }
}
