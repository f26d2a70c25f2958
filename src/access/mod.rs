//! Access control (SPEC §5 "Access"): scopes, callers, secrets and signed
//! tokens.
//!
//! Provider billing systems get tokens with the client-credentials grant
//! and are bound to their billing NPIs; payer staff sign in through the
//! authorization-code grant with PKCE (S256). Tokens are Ed25519-signed
//! JWTs that live at most 15 minutes. The HTTP side lives in `api::oauth`
//! (token and authorization endpoints) and `api::guard` (resource checks);
//! this module knows nothing of HTTP.

mod revoked;
mod secrets;
mod tokens;

use std::fmt;

use serde::Serialize;

use crate::store::{ClientRecord, UserRecord};

pub use revoked::{Disabled, Revocations, REFRESH, STALE_AFTER};
pub use secrets::{
    decode_basic, hash_secret, pkce_matches, random_token, sha256_hex, valid_verifier,
    verify_secret,
};
pub use tokens::{
    header_kid, live_keys, ExternalIssuer, Keys, TokenClaims, TokenError, MAX_TOKEN_SECONDS,
};

/// What a token lets its bearer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Scope {
    /// Submit and check claims, send batches.
    #[serde(rename = "claims:submit")]
    ClaimsSubmit,
    /// Read claims, decisions, batches and authorizations.
    #[serde(rename = "claims:read")]
    ClaimsRead,
    /// Replace the rule set.
    #[serde(rename = "rules:write")]
    RulesWrite,
    /// Add, change and import authorizations.
    #[serde(rename = "auths:write")]
    AuthsWrite,
    /// Manage clients, users and keys; read the audit log.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope, in the order they are listed.
    pub const ALL: [Scope; 5] = [
        Scope::ClaimsSubmit,
        Scope::ClaimsRead,
        Scope::RulesWrite,
        Scope::AuthsWrite,
        Scope::Admin,
    ];

    /// The scope word (`claims:read`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ClaimsSubmit => "claims:submit",
            Scope::ClaimsRead => "claims:read",
            Scope::RulesWrite => "rules:write",
            Scope::AuthsWrite => "auths:write",
            Scope::Admin => "admin",
        }
    }

    /// The scope a word names.
    pub fn parse(word: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// Parses a list of scope words; the error names the unknown one.
    pub fn parse_all<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<Vec<Scope>, String> {
        let mut out: Vec<Scope> = Vec::new();
        for w in words {
            let s = Scope::parse(w).ok_or_else(|| {
                format!(
                    "unknown scope {w:?}; scopes are {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                )
            })?;
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Space-separated, as OAuth writes scopes.
    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling, read off a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Token subject: a client id, or `user:ID` for staff.
    pub subject: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// For a provider billing system, the billing NPIs it is bound to; it
    /// submits and reads only claims billed under them. `None` for payer
    /// staff and payer-side operators, who read everything their scopes
    /// allow.
    pub npis: Option<Vec<String>>,
    /// The authorization-code grant the token came from (a replayed code
    /// revokes it).
    pub grant: Option<String>,
}

impl Caller {
    /// True when the token carries `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// True when the caller may see claims billed under `npi`.
    pub fn may_see_npi(&self, npi: &str) -> bool {
        match &self.npis {
            None => true,
            Some(own) => own.iter().any(|n| n == npi),
        }
    }
}

/// An NPI as registration takes it: ten digits. (The check digit is not
/// enforced: test and synthetic claims routinely carry NPIs without one,
/// and the 837 intake does not enforce it either.)
pub fn valid_npi(npi: &str) -> bool {
    npi.len() == 10 && npi.bytes().all(|b| b.is_ascii_digit())
}

/// What registering a client takes (CLI `clients add` and the admin API).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// A name a person recognises.
    pub name: String,
    /// Billing NPIs (a billing system submits and reads only these).
    #[serde(default)]
    pub npis: Vec<String>,
    /// Scopes it may be given.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Exact redirect URIs, for the authorization-code grant.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// A public client (a console in a browser): no secret, PKCE only.
    #[serde(default)]
    pub public: bool,
    /// A payer-side intake (a clearinghouse gateway, a load test) that may
    /// submit claims of any billing NPI: `claims:submit` without `npis`.
    #[serde(default)]
    pub any_npi: bool,
}

impl ClientSpec {
    /// Checks the spec and makes the record, with the secret to show once
    /// (`None` for a public client).
    pub fn register(&self) -> Result<(ClientRecord, Option<String>), String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("name: give the client a name".into());
        }
        let scopes = Scope::parse_all(self.scopes.iter().map(String::as_str))
            .map_err(|e| format!("scope: {e}"))?;
        if scopes.is_empty() {
            return Err("scope: give at least one scope".into());
        }
        if let Some(bad) = self.npis.iter().find(|n| !valid_npi(n)) {
            return Err(format!("npi: {bad:?} is not an NPI (ten digits)"));
        }
        if scopes.contains(&Scope::ClaimsSubmit) && self.npis.is_empty() && !self.any_npi {
            return Err(
                "npi: a client with claims:submit is a billing system and must be bound to its billing NPIs (--npi); a payer-side intake that submits for any provider says --any-npi"
                    .into(),
            );
        }
        if self.any_npi && !self.npis.is_empty() {
            return Err("npi: give --npi or --any-npi, not both".into());
        }
        for uri in &self.redirect_uris {
            // Plain http only to this machine (a console in development).
            let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                .iter()
                .any(|h| {
                    uri.strip_prefix(h)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
                });
            let ok = (uri.starts_with("https://") || loopback)
                && !uri.contains('#')
                && !uri.chars().any(char::is_whitespace);
            if !ok {
                return Err(format!(
                    "redirect_uri: {uri:?} must be an absolute https URI (http only to 127.0.0.1 or localhost) without a fragment"
                ));
            }
        }
        if self.public && self.redirect_uris.is_empty() {
            return Err(
                "redirect_uri: a public client signs staff in and needs a redirect URI".into(),
            );
        }
        let secret = if self.public {
            None
        } else {
            Some(random_token(32)?)
        };
        let record = ClientRecord {
            id: format!("pa_{}", random_token(12)?),
            name: name.to_string(),
            secret_hash: secret.as_deref().map(hash_secret).transpose()?,
            scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
            npis: self.npis.clone(),
            redirect_uris: self.redirect_uris.clone(),
            disabled: false,
            created_at: String::new(),
        };
        Ok((record, secret))
    }
}

/// A staff password's hash: of `given` (at least 12 characters), or of
/// a generated one, returned to be shown once. Adding a user and an
/// admin's password reset both take it.
pub fn new_password(given: Option<&str>) -> Result<(String, Option<String>), String> {
    if given.is_some_and(|p| p.chars().count() < 12) {
        return Err("password: at least 12 characters".into());
    }
    let generated = match given {
        Some(_) => None,
        None => Some(random_token(18)?),
    };
    let password = given.or(generated.as_deref()).unwrap_or_default();
    Ok((hash_secret(password)?, generated))
}

/// What adding a staff user takes.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Sign-in name.
    pub username: String,
    /// Roles: the scopes the user may be given.
    #[serde(default)]
    pub roles: Vec<String>,
    /// A password; one is generated when none is given.
    #[serde(default)]
    pub password: Option<String>,
}

impl UserSpec {
    /// Checks the spec and makes the record, with the password to show
    /// once when it was generated.
    pub fn register(&self) -> Result<(UserRecord, Option<String>), String> {
        let username = self.username.trim();
        if username.is_empty() || username.len() > 100 || username.contains(char::is_whitespace) {
            return Err("username: 1 to 100 characters, no spaces".into());
        }
        let roles = Scope::parse_all(self.roles.iter().map(String::as_str))
            .map_err(|e| format!("role: {e}"))?;
        if roles.is_empty() {
            return Err("role: give at least one role (a scope the user may be given)".into());
        }
        let (password_hash, generated) = new_password(self.password.as_deref())?;
        let record = UserRecord {
            id: uuid::Uuid::now_v7().to_string(),
            username: username.to_string(),
            password_hash,
            roles: roles.iter().map(|s| s.as_str().to_string()).collect(),
            disabled: false,
            created_at: String::new(),
        };
        Ok((record, generated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_join() {
        let s = Scope::parse_all(["claims:read", "admin", "claims:read"]).unwrap();
        assert_eq!(s, vec![Scope::ClaimsRead, Scope::Admin]);
        assert_eq!(Scope::join(&s), "claims:read admin");
        assert!(Scope::parse_all(["claims:write"])
            .unwrap_err()
            .contains("claims:write"));
    }

    #[test]
    fn npi_is_ten_digits() {
        assert!(valid_npi("1234567893"));
        assert!(!valid_npi("123456789"));
        assert!(!valid_npi("12345678a3"));
    }
}
