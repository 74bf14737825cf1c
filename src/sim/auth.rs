//! Entra ID's v1 token endpoint (`POST /{tenant}/oauth2/token`) and the bearer check
//! of the API.
//!
//! Tokens are opaque strings from the state's seeded generator, recorded in the state
//! with their kind (app-only or App+User) and expiry on the simulated clock, so a
//! restarted simulator with the same state file still honours them.

use serde_json::{Value, json};

use super::state::{AccessToken, ApiError, State};

/// Access-token lifetime, as in Entra's responses.
pub const TOKEN_LIFETIME_SECONDS: i64 = 3600;
/// The audience Partner Center tokens are issued for.
pub const RESOURCE: &str = "https://api.partnercenter.microsoft.com";

/// The credentials the simulator accepts.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
}

/// An Entra error: status and `{error, error_description}`.
pub fn entra_error(status: u16, error: &str, description: &str) -> (u16, Value) {
    (
        status,
        json!({"error": error, "error_description": description, "error_codes": [], "timestamp": ""}),
    )
}

/// Handles a token request (form fields already parsed). Returns status and body.
pub fn token(
    state: &mut State,
    credentials: &Credentials,
    tenant: &str,
    form: &[(String, String)],
    now: i64,
) -> (u16, Value) {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let known_tenant = tenant.eq_ignore_ascii_case(&credentials.tenant_id)
        || tenant.eq_ignore_ascii_case("common")
        || tenant.eq_ignore_ascii_case("organizations");
    if !known_tenant {
        return entra_error(
            400,
            "invalid_request",
            &format!(
                "AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    if field("client_id") != Some(credentials.client_id.as_str()) {
        return entra_error(
            400,
            "unauthorized_client",
            &format!(
                "AADSTS700016: Application with identifier '{}' was not found in the directory.",
                field("client_id").unwrap_or("")
            ),
        );
    }
    if field("client_secret") != Some(credentials.client_secret.as_str()) {
        return entra_error(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    let app_user = match field("grant_type") {
        Some("client_credentials") => false,
        Some("refresh_token") => {
            let given = field("refresh_token").unwrap_or("");
            let valid = !given.is_empty()
                && (given == credentials.refresh_token
                    || state.refresh_tokens.iter().any(|t| t == given));
            if !valid {
                return entra_error(
                    400,
                    "invalid_grant",
                    "AADSTS70000: Provided grant is invalid or malformed.",
                );
            }
            true
        }
        other => {
            return entra_error(
                400,
                "unsupported_grant_type",
                &format!(
                    "AADSTS70003: The app requested an unsupported grant type '{}'.",
                    other.unwrap_or("")
                ),
            );
        }
    };
    let access = state.new_opaque("simat.");
    let expires_at = now + TOKEN_LIFETIME_SECONDS;
    state.access_tokens.push(AccessToken {
        token: access.clone(),
        app_user,
        expires_at,
    });
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": (TOKEN_LIFETIME_SECONDS - 1).to_string(),
        "ext_expires_in": (TOKEN_LIFETIME_SECONDS - 1).to_string(),
        "expires_on": expires_at.to_string(),
        "not_before": now.to_string(),
        "resource": field("resource").unwrap_or(RESOURCE),
        "access_token": access,
    });
    if app_user {
        let refresh = state.new_opaque("simrt.");
        state.refresh_tokens.push(refresh.clone());
        if let Value::Object(map) = &mut body {
            map.insert("refresh_token".to_owned(), json!(refresh));
            map.insert("scope".to_owned(), json!("user_impersonation"));
        }
    }
    (200, body)
}

/// The kind of caller a valid bearer token identifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    AppOnly,
    AppUser,
}

/// Checks `Authorization: Bearer …`: missing, unknown or expired → 401/800001.
pub fn check_bearer(state: &State, header: Option<&str>, now: i64) -> Result<Caller, ApiError> {
    let unauthorized = |why: &str| ApiError::new(401, 800001, why.to_owned());
    let header = header.ok_or_else(|| unauthorized("Partner token is missing"))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthorized("The Authorization header is not a bearer token"))?;
    let found = state
        .access_tokens
        .iter()
        .find(|t| t.token == token)
        .ok_or_else(|| unauthorized("The access token is invalid"))?;
    if found.expires_at <= now {
        return Err(unauthorized("The access token has expired"));
    }
    Ok(if found.app_user {
        Caller::AppUser
    } else {
        Caller::AppOnly
    })
}
