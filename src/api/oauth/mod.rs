//! The OAuth 2.0 authorization server (RFC 6749, PKCE RFC 7636):
//! `POST /oauth/token` (client credentials; authorization code + PKCE),
//! `GET/POST /oauth/authorize` (the staff sign-in page), and the metadata
//! and public keys under `/.well-known/`.
//!
//! Threats closed here (RFC 6749 §10, RFC 7636): codes are single-use (a
//! replay revokes what the first use got), live 60 s, are bound to the
//! client and the exact redirect URI, and need the S256 verifier; three
//! wrong secrets within 10 s lock a confidential client out, three failed
//! passwords lock the user out. Nothing else counts (issue 15 point 2): a
//! public client has no secret to guess and its codes are single use, so
//! failed redemptions never lock it (a lock anyone could set would lock
//! every staff member out), and unknown client ids leave no rows.

use std::collections::HashMap;

use actix_web::http::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

mod authorize;

pub(in crate::api) use authorize::{authorize_page, authorize_sign_in};

use super::AppState;
use crate::access::{
    decode_basic, pkce_matches, random_token, sha256_hex, valid_verifier, verify_secret, Scope,
    TokenClaims,
};
use crate::store::{now_ms, ClientRecord, CodeRecord};

/// Failures within this window count towards a lockout …
const FAILURE_WINDOW_MS: i64 = 10_000;
/// … and this many lock the client or user out.
const FAILURES_TO_LOCK: i64 = 3;

/// An RFC 6749 §5.2 error answer.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Locked out: seconds until it may try again.
    retry_after: Option<i64>,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    fn server(e: impl std::fmt::Display) -> OAuthError {
        tracing::error!(cause = %e, "token endpoint failed");
        OAuthError::new("server_error", "the authorization server failed; try again")
    }

    fn response(self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        r.insert_header(("Cache-Control", "no-store"))
            .insert_header(("Pragma", "no-cache"));
        // Every 401 names the scheme the token endpoint takes (RFC 6749
        // §5.2 asks it when the client used Basic; RFC 9110 §15.5.2 of
        // every 401).
        if self.status == StatusCode::UNAUTHORIZED {
            r.insert_header(("WWW-Authenticate", r#"Basic realm="priorauth""#));
        }
        let mut body = json!({"error": self.error, "error_description": self.description});
        if let Some(s) = self.retry_after {
            r.insert_header(("Retry-After", s.to_string()));
            if let Some(m) = body.as_object_mut() {
                m.insert("retry_after".into(), json!(s));
            }
        }
        r.json(body)
    }
}

fn locked(subject_kind: &str, until_ms: i64, now: i64) -> OAuthError {
    let secs = ((until_ms - now) + 999) / 1000;
    let at = chrono::DateTime::from_timestamp_millis(until_ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let mut e = OAuthError::new(
        "invalid_client",
        format!(
            "this {subject_kind} is locked out after {FAILURES_TO_LOCK} failed attempts within {} s; try again in {secs} s (at {at})",
            FAILURE_WINDOW_MS / 1000
        ),
    );
    // RFC 6749 §5.2: a refused client is 401 `invalid_client`; Retry-After
    // says when it may try again.
    e.retry_after = Some(secs.max(1));
    e
}

/// One answer for every failed client authentication: which part failed
/// is not said.
const AUTH_FAILED: &str =
    "client authentication failed: unknown client, disabled client or wrong secret";

/// Ids and usernames longer than this are refused before any lookup (and
/// never counted, so junk cannot grow the failure table).
const MAX_NAME: usize = 255;

/// An argon2 hash to verify against when the client or user does not
/// exist, so an unknown name takes as long as a wrong secret.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| crate::access::hash_secret("no such client or user").unwrap_or_default())
}

/// Verifies `secret` against `hash` (or the dummy) off the async threads.
async fn verify_off_thread(secret: String, hash: Option<String>) -> bool {
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
    web::block(move || verify_secret(&secret, &hash))
        .await
        .unwrap_or(false)
        && known
}

/// Form parameters, each at most once (RFC 6749 §3.1).
fn form(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        OAuthError::new(
            "invalid_request",
            "the form body is not application/x-www-form-urlencoded text",
        )
    })?;
    let mut out = HashMap::new();
    for (k, v) in pairs {
        if out.insert(k.clone(), v).is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                format!("parameter {k} is given more than once"),
            ));
        }
    }
    Ok(out)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';').next().is_some_and(|e| {
                e.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
}

/// client_secret_basic (RFC 6749 §2.3.1: id and secret form-encoded, then
/// Basic).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(h) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::new("invalid_client", "malformed HTTP Basic client credentials");
    let h = h.to_str().map_err(|_| bad())?;
    let Some((scheme, value)) = h.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::new(
            "invalid_request",
            "authenticate the client with HTTP Basic or client_secret in the body",
        ));
    }
    decode_basic(value).map(Some).ok_or_else(bad)
}

/// Records a failed attempt of `subject`: `Some(until)` when it locked it.
async fn count_failure(
    state: &AppState,
    subject: &str,
    now: i64,
) -> Result<Option<i64>, crate::store::StoreError> {
    let lock_ms = state.config.access.lockout_seconds * 1000;
    state
        .store
        .record_failure(subject, now, FAILURE_WINDOW_MS, FAILURES_TO_LOCK, lock_ms)
        .await
}

/// Counts a failure against `subject`; the error says when it locked.
async fn fail(
    state: &AppState,
    subject: &str,
    kind: &str,
    mut e: OAuthError,
) -> Result<OAuthError, OAuthError> {
    let now = now_ms();
    let locked_until = count_failure(state, subject, now)
        .await
        .map_err(OAuthError::server)?;
    if let Some(until) = locked_until {
        e.description = format!(
            "{}; this {kind} is now locked out for {} s",
            e.description,
            (until - now + 999) / 1000
        );
    }
    Ok(e)
}

/// The locked answer when the client `subject` is locked out now.
async fn refuse_if_locked(state: &AppState, subject: &str) -> Result<(), OAuthError> {
    let now = now_ms();
    match state
        .store
        .locked_until(subject, now)
        .await
        .map_err(OAuthError::server)?
    {
        Some(until) => Err(locked("client", until, now)),
        None => Ok(()),
    }
}

fn client_subject(id: &str) -> String {
    format!("client:{id}")
}

/// Token requests and sign-in forms are a few hundred bytes.
const FORM_LIMIT: u64 = 64 * 1024;

/// Reads a form body up to [`FORM_LIMIT`]: beyond it, a 413 in the
/// endpoint's own error shape.
async fn form_body(req: &HttpRequest, payload: web::Payload) -> Result<Vec<u8>, OAuthError> {
    super::body::read_body(req.headers(), payload, FORM_LIMIT)
        .await
        .map_err(|e| {
            let mut o = OAuthError::new("invalid_request", e.to_string());
            if matches!(e, super::ApiError::TooLarge(_)) {
                o.status = StatusCode::PAYLOAD_TOO_LARGE;
            }
            o
        })
}

/// `POST /oauth/token`.
pub(super) async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let body = match form_body(&req, payload).await {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    match issue(&state, &req, &body).await {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

async fn issue(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, OAuthError> {
    if !is_form(req.headers()) {
        return Err(OAuthError::new(
            "invalid_request",
            "send the token request as application/x-www-form-urlencoded",
        ));
    }
    let p = form(body)?;
    let basic = basic_credentials(req.headers())?;
    let (client_id, secret) = match (&basic, p.get("client_id"), p.get("client_secret")) {
        (Some(_), _, Some(_)) => {
            return Err(OAuthError::new(
                "invalid_request",
                "use one client authentication method: HTTP Basic or client_secret in the body, not both",
            ))
        }
        (Some((id, _)), Some(body_id), None) if body_id != id => {
            return Err(OAuthError::new(
                "invalid_request",
                "client_id in the body differs from the HTTP Basic client",
            ))
        }
        (Some((id, s)), _, None) => (id.clone(), Some(s.clone())),
        (None, Some(id), s) => (id.clone(), s.cloned()),
        (None, None, _) => {
            return Err(OAuthError::new(
                "invalid_client",
                "no client authentication: send client_id (and client_secret) in the body or HTTP Basic",
            ))
        }
    };
    if client_id.is_empty() || client_id.len() > MAX_NAME {
        return Err(OAuthError::new("invalid_client", AUTH_FAILED));
    }
    let subject = client_subject(&client_id);
    let stored = state
        .store
        .client(&client_id)
        .await
        .map_err(OAuthError::server)?;
    // Only a confidential client (one with a secret) can be guessed at,
    // so only it is ever locked; a locked one is refused before its
    // secret is looked at: a correct secret does not lift the lock.
    let confidential = stored.as_ref().is_some_and(|c| c.secret_hash.is_some());
    if confidential {
        refuse_if_locked(state, &subject).await?;
    }
    // (authenticated, a secret was presented and was wrong)
    let (authenticated, wrong_secret) = match (&stored, &secret) {
        (Some(c), Some(s)) => match c.secret_hash.clone() {
            Some(hash) => {
                let ok = verify_off_thread(s.clone(), Some(hash)).await;
                (ok, !ok)
            }
            // A public client has no secret to send: refused, not counted.
            None => (false, false),
        },
        (Some(c), None) => (c.secret_hash.is_none(), false),
        // An unknown client: as slow as a wrong secret, and not counted
        // (no rows for ids that do not exist).
        (None, Some(s)) => (verify_off_thread(s.clone(), None).await, false),
        (None, None) => (false, false),
    };
    let Some(client) = stored.filter(|c| authenticated && !c.disabled) else {
        let e = OAuthError::new("invalid_client", AUTH_FAILED);
        return Err(if wrong_secret {
            fail(state, &subject, "client", e).await?
        } else {
            e
        });
    };
    if confidential {
        // Parallel guesses may have locked the client while this one was
        // verified: a lock set meanwhile wins over this success.
        refuse_if_locked(state, &subject).await?;
    }
    match p.get("grant_type").map(String::as_str) {
        None => Err(OAuthError::new("invalid_request", "grant_type is missing")),
        Some("client_credentials") => client_credentials(state, &client, &p),
        Some("authorization_code") => authorization_code(state, &client, &p).await,
        Some(other) => Err(OAuthError::new(
            "unsupported_grant_type",
            format!("grant_type {other:?} is not supported: use client_credentials or authorization_code"),
        )),
    }
}

fn client_credentials(
    state: &AppState,
    client: &ClientRecord,
    p: &HashMap<String, String>,
) -> Result<HttpResponse, OAuthError> {
    if client.secret_hash.is_none() || !client.redirect_uris.is_empty() {
        return Err(OAuthError::new(
            "unauthorized_client",
            "a console client (one with redirect URIs) signs staff in with authorization_code; it gets no token of its own",
        ));
    }
    let allowed =
        Scope::parse_all(client.scopes.iter().map(String::as_str)).map_err(OAuthError::server)?;
    let scopes = match p.get("scope") {
        None => allowed,
        Some(s) => {
            let asked = Scope::parse_all(s.split_whitespace())
                .map_err(|e| OAuthError::new("invalid_scope", e))?;
            if let Some(extra) = asked.iter().find(|s| !allowed.contains(s)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!(
                        "this client may not have scope {extra}; it is registered for {}",
                        Scope::join(&allowed)
                    ),
                ));
            }
            asked
        }
    };
    bearer(state, &client.id, &client.id, &scopes, &client.npis, None)
}

async fn authorization_code(
    state: &AppState,
    client: &ClientRecord,
    p: &HashMap<String, String>,
) -> Result<HttpResponse, OAuthError> {
    if client.redirect_uris.is_empty() {
        return Err(OAuthError::new(
            "unauthorized_client",
            "this client has no redirect URI registered, so it cannot use authorization_code",
        ));
    }
    let Some(code) = p.get("code") else {
        return Err(OAuthError::new("invalid_request", "code is missing"));
    };
    if !p.contains_key("redirect_uri") {
        return Err(OAuthError::new(
            "invalid_request",
            "redirect_uri is missing: send the one of the authorization request",
        ));
    }
    let now = now_ms();
    let grant_error = |d: &str| OAuthError::new("invalid_grant", d);
    // Marked used before anything else is checked: a code gets one try
    // (so a failed redemption fails that code, and is not counted against
    // the client: issue 15 point 2).
    let Some((rec, first)) = state
        .store
        .redeem_code(&sha256_hex(code), now)
        .await
        .map_err(OAuthError::server)?
    else {
        return Err(grant_error("the authorization code is not known"));
    };
    let problem = if !first {
        // RFC 6749 §4.1.2: a replayed code revokes what it was used for.
        state
            .store
            .revoke_grant(&rec.grant_id)
            .await
            .map_err(OAuthError::server)?;
        tracing::warn!(client = %client.id, "authorization code used twice; its tokens are revoked");
        Some("the authorization code was already used; the tokens issued from it are revoked")
    } else if rec.client_id != client.id {
        Some("the authorization code was issued to another client")
    } else if rec.expires_ms <= now {
        Some("the authorization code has expired (codes live at most 60 s); sign in again")
    } else if p.get("redirect_uri") != Some(&rec.redirect_uri) {
        Some("redirect_uri does not match the one of the authorization request")
    } else {
        match p.get("code_verifier") {
            None => Some("code_verifier is missing: this code was issued with a PKCE challenge"),
            Some(v) if !valid_verifier(v) => {
                Some("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
            }
            Some(v) if !pkce_matches(v, &rec.challenge) => {
                Some("code_verifier does not match the code_challenge (S256)")
            }
            Some(_) => None,
        }
    };
    if let Some(d) = problem {
        return Err(grant_error(d));
    }
    let user = state
        .store
        .user(&rec.user_id)
        .await
        .map_err(OAuthError::server)?
        .filter(|u| !u.disabled)
        .ok_or_else(|| grant_error("the user who signed in is no longer active"))?;
    let scopes =
        Scope::parse_all(rec.scopes.iter().map(String::as_str)).map_err(OAuthError::server)?;
    bearer(
        state,
        &format!("user:{}", user.id),
        &client.id,
        &scopes,
        &[],
        Some(rec.grant_id),
    )
}

/// The token answer (RFC 6749 §5.1).
fn bearer(
    state: &AppState,
    subject: &str,
    client_id: &str,
    scopes: &[Scope],
    npis: &[String],
    grant: Option<String>,
) -> Result<HttpResponse, OAuthError> {
    let iat = now_ms() / 1000;
    let ttl = state.config.access.token_seconds;
    let claims = TokenClaims {
        iss: state.keys.issuer().to_string(),
        aud: state.keys.audience().to_string(),
        sub: subject.to_string(),
        client_id: client_id.to_string(),
        scope: Scope::join(scopes),
        npi: npis.to_vec(),
        iat,
        exp: iat + ttl,
        jti: uuid::Uuid::new_v4().to_string(),
        gid: grant,
    };
    let token = state.keys.issue(&claims).map_err(OAuthError::server)?;
    tracing::info!(client = %client_id, scope = %claims.scope, "access token issued");
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": claims.scope,
        })))
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub(super) async fn metadata(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    // The issuer, when it is a URL (as it should be in production); else
    // the address this request came to.
    let issuer = state.keys.issuer();
    let base = if issuer.starts_with("https://") || issuer.starts_with("http://") {
        issuer.trim_end_matches('/').to_string()
    } else {
        // The scheme as this service knows it (actix's connection info
        // would believe any client's X-Forwarded-Proto).
        let scheme = if state.request_is_https(&req) {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", req.connection_info().host())
    };
    HttpResponse::Ok().json(json!({
        "issuer": state.keys.issuer(),
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials", "authorization_code"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        // RFC 9207: the sign-in redirect carries `iss`.
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": Scope::ALL.map(Scope::as_str),
    }))
}

/// `GET /.well-known/jwks.json`: the public keys tokens are signed with.
pub(super) async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.keys.jwks())
}

/// The staff console's code redemption, in process: the console is this
/// server, so it is the console client by being here (its secret was
/// never kept, so no one can redeem a console code over the network).
/// Every other check of the token endpoint applies (single use, expiry,
/// client binding, redirect URI, PKCE, the user still active). The access
/// token, or why not.
pub async fn redeem_in_process(
    state: &AppState,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<String, String> {
    let client = state
        .store
        .client(client_id)
        .await
        .map_err(|e| e.to_string())?
        .filter(|c| !c.disabled)
        .ok_or_else(|| "the console client is not registered, or is disabled".to_string())?;
    let p: HashMap<String, String> = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let answer = authorization_code(state, &client, &p)
        .await
        .map_err(|e| e.description)?;
    let body = actix_web::body::to_bytes(answer.into_body())
        .await
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    v.get("access_token")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| "the token answer had no access token".to_string())
}
