//! The application's credentials: where they come from (environment or an
//! owner-only JSON file) and how they are kept out of every message.
//!
//! Secrets live in [`Secret`], whose `Debug` never shows the value. Errors here
//! name the variable or file that is wrong, never a value read from it.

use std::path::Path;

use serde::Deserialize;

use crate::backend::BackendError;

/// A secret string: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The application's credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Present: App+User (Secure Application Model); absent: app-only.
    pub refresh_token: Option<Secret>,
}

pub const ENV_TENANT_ID: &str = "CSPCTL_PC_TENANT_ID";
pub const ENV_CLIENT_ID: &str = "CSPCTL_PC_CLIENT_ID";
pub const ENV_CLIENT_SECRET: &str = "CSPCTL_PC_CLIENT_SECRET";
pub const ENV_REFRESH_TOKEN: &str = "CSPCTL_PC_REFRESH_TOKEN";

/// Said wherever app-only credentials are the likely cause of a refusal.
pub const APP_USER_HINT: &str = "reading indirect resellers, customer relationships, support contacts, agreements and creating customers for a reseller need App+User credentials: set CSPCTL_PC_REFRESH_TOKEN (or `refreshToken` in the credentials file)";

impl Credentials {
    /// From `CSPCTL_PC_TENANT_ID`, `CSPCTL_PC_CLIENT_ID`, `CSPCTL_PC_CLIENT_SECRET`,
    /// `CSPCTL_PC_REFRESH_TOKEN`.
    pub fn from_env() -> Result<Credentials, BackendError> {
        Credentials::from_lookup(|name| std::env::var(name).ok())
    }

    /// The environment rules over any lookup, so tests need not touch the process
    /// environment (which is shared between test threads).
    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, BackendError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &str| {
            get(name).ok_or_else(|| {
                BackendError::State(format!(
                    "the partner-center backend needs {name}: set {ENV_TENANT_ID}, {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} (and {ENV_REFRESH_TOKEN} for App+User operations), or pass a credentials file"
                ))
            })
        };
        let credentials = Credentials {
            tenant_id: required(ENV_TENANT_ID)?.trim().to_owned(),
            client_id: required(ENV_CLIENT_ID)?.trim().to_owned(),
            client_secret: Secret::new(required(ENV_CLIENT_SECRET)?),
            refresh_token: get(ENV_REFRESH_TOKEN).map(Secret::new),
        };
        credentials.check(ENV_TENANT_ID)?;
        Ok(credentials)
    }

    /// From a JSON file only its owner can read:
    /// `{"tenantId","clientId","clientSecret","refreshToken"?}`.
    pub fn from_file(path: &Path) -> Result<Credentials, BackendError> {
        check_owner_only(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            BackendError::State(format!(
                "cannot read the credentials file {}: {e}",
                path.display()
            ))
        })?;
        Credentials::from_json(&text, path)
    }

    pub(crate) fn from_json(text: &str, path: &Path) -> Result<Credentials, BackendError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct File {
            tenant_id: Option<String>,
            client_id: Option<String>,
            client_secret: Option<String>,
            refresh_token: Option<String>,
        }
        // serde_json's message may quote the offending input, which could be a
        // secret: report only where it is.
        let file: File = serde_json::from_str(text).map_err(|e| {
            BackendError::State(format!(
                "the credentials file {} is not valid JSON of the form {{\"tenantId\", \"clientId\", \"clientSecret\", \"refreshToken\"?}} (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        let required = |value: Option<String>, field: &str| {
            value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                BackendError::State(format!(
                    "the credentials file {} has no `{field}`",
                    path.display()
                ))
            })
        };
        let credentials = Credentials {
            tenant_id: required(file.tenant_id, "tenantId")?.trim().to_owned(),
            client_id: required(file.client_id, "clientId")?.trim().to_owned(),
            client_secret: Secret::new(required(file.client_secret, "clientSecret")?),
            refresh_token: file
                .refresh_token
                .filter(|v| !v.trim().is_empty())
                .map(Secret::new),
        };
        credentials.check(&format!("`tenantId` in {}", path.display()))?;
        Ok(credentials)
    }

    /// The tenant id goes into the token URL: refuse anything that could change
    /// the path.
    fn check(&self, source: &str) -> Result<(), BackendError> {
        let ok = self
            .tenant_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if ok {
            Ok(())
        } else {
            Err(BackendError::State(format!(
                "{source} must be a tenant id (a GUID) or a domain, got `{}`",
                self.tenant_id
            )))
        }
    }

    /// Whether App+User operations are possible.
    pub fn is_app_user(&self) -> bool {
        self.refresh_token.is_some()
    }
}

#[cfg(unix)]
fn check_owner_only(path: &Path) -> Result<(), BackendError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|e| {
        BackendError::State(format!(
            "cannot read the credentials file {}: {e}",
            path.display()
        ))
    })?;
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(BackendError::State(format!(
            "the credentials file {} can be read by others (mode {:o}); it holds a client secret: run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_path: &Path) -> Result<(), BackendError> {
    // No portable owner-only check; the file's ACL is the operator's job there.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn env_names_the_missing_variable() {
        let error =
            Credentials::from_lookup(env(&[(ENV_TENANT_ID, "t"), (ENV_CLIENT_SECRET, "s3cret")]))
                .unwrap_err()
                .to_string();
        assert!(error.contains("needs CSPCTL_PC_CLIENT_ID"), "{error}");
        assert!(!error.contains("s3cret"));
    }

    #[test]
    fn env_without_refresh_token_is_app_only() {
        let credentials = Credentials::from_lookup(env(&[
            (ENV_TENANT_ID, "11111111-1111-1111-1111-111111111111"),
            (ENV_CLIENT_ID, "c"),
            (ENV_CLIENT_SECRET, "s3cret"),
        ]))
        .unwrap();
        assert!(!credentials.is_app_user());
        let debug = format!("{credentials:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn tenant_id_cannot_change_the_token_path() {
        let error = Credentials::from_lookup(env(&[
            (ENV_TENANT_ID, "../evil"),
            (ENV_CLIENT_ID, "c"),
            (ENV_CLIENT_SECRET, "s"),
        ]))
        .unwrap_err();
        assert!(error.to_string().contains("CSPCTL_PC_TENANT_ID"));
    }

    #[test]
    fn file_errors_name_the_field_and_hide_values() {
        let path = Path::new("creds.json");
        let error = Credentials::from_json(r#"{"tenantId":"t","clientSecret":"s3cret"}"#, path)
            .unwrap_err()
            .to_string();
        assert!(error.contains("`clientId`"), "{error}");
        let error = Credentials::from_json(r#"{"clientSecret": s3cret}"#, path)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("s3cret"), "{error}");
        let ok = Credentials::from_json(
            r#"{"tenantId":"t","clientId":"c","clientSecret":"s","refreshToken":"r"}"#,
            path,
        )
        .unwrap();
        assert!(ok.is_app_user());
    }

    #[cfg(unix)]
    #[test]
    fn file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pc.json");
        std::fs::write(
            &path,
            r#"{"tenantId":"t","clientId":"c","clientSecret":"s3cret"}"#,
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = Credentials::from_file(&path).unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
        assert!(error.contains("pc.json"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let credentials = Credentials::from_file(&path).unwrap();
        assert_eq!(credentials.client_id, "c");
    }
}
