//! Signing staff in and out, and the session every page runs under.
//!
//! Sign-in is the authorization-code grant with PKCE against priorauth's
//! own authorization endpoint, the console being a confidential client
//! registered on first start (its secret is made and thrown away: only
//! this server, in process, can redeem its codes). When an external OIDC
//! issuer is configured with the console as its client
//! (`PRIORAUTH_OIDC_AUTHORIZE_URL`, …), staff may sign in there instead:
//! the same flow against the issuer, the code redeemed at its token
//! endpoint, and its access token checked as the API checks it. The
//! session row holds the access token and ends when the token does; the
//! next page then sends the browser to sign in again and back to where it
//! was.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{ConsoleError, Page};
use crate::access::{hash_secret, random_token, sha256_hex, Caller};
use crate::api::{Actor, AppState};
use crate::config::ConsoleAtIssuer;
use crate::store::{now_ms, ClientRecord, ConsoleSession, Store};

/// The console's client id.
pub const CONSOLE_CLIENT_ID: &str = "priorauth-console";
/// Scopes the console may ask for; a user gets those of their roles.
const SCOPES: &[&str] = &[
    "claims:read",
    "claims:submit",
    "rules:write",
    "auths:write",
    "admin",
];
const SESSION_COOKIE: &str = "pa_console";
const LOGIN_COOKIE: &str = "pa_login";
/// How long a sign-in may take, from the console to the callback.
const LOGIN_MS: i64 = 10 * 60 * 1000;
/// The `state` of a sign-in at the external issuer starts with this (a
/// character random tokens never hold), so the callback knows where to
/// redeem the code.
const AT_ISSUER: &str = "issuer.";

/// What the console knows of itself, set once the server's address is
/// known (before anyone is told it).
#[derive(Debug, Default)]
pub struct Console {
    place: std::sync::OnceLock<(String, bool)>,
}

impl Console {
    /// Records where the console is (from [`register_client`]).
    pub fn set(&self, redirect_uri: String, secure: bool) {
        let _ = self.place.set((redirect_uri, secure));
    }

    /// `<public URL>/console/callback`.
    fn redirect_uri(&self) -> &str {
        self.place.get().map_or("", |p| p.0.as_str())
    }

    /// Cookies are `Secure` (the public URL is https).
    fn secure(&self) -> bool {
        self.place.get().is_some_and(|p| p.1)
    }
}

/// Registers the console client (first start) or brings its redirect URI
/// and scopes up to date; returns (redirect URI, cookies secure).
pub async fn register_client(store: &Store, public_url: &str) -> anyhow::Result<(String, bool)> {
    let base = public_url.trim_end_matches('/');
    let redirect_uri = format!("{base}/console/callback");
    let scopes: Vec<String> = SCOPES.iter().map(|s| s.to_string()).collect();
    match store.client(CONSOLE_CLIENT_ID).await? {
        Some(c) if c.redirect_uris == [redirect_uri.clone()] && c.scopes == scopes => {}
        Some(_) => {
            store
                .set_client_redirects(
                    CONSOLE_CLIENT_ID,
                    std::slice::from_ref(&redirect_uri),
                    &scopes,
                )
                .await?;
        }
        None => {
            // A secret nobody keeps: the client is confidential, and only
            // this server (in process) redeems its codes.
            let secret = random_token(32).map_err(anyhow::Error::msg)?;
            let secret_hash = Some(hash_secret(&secret).map_err(anyhow::Error::msg)?);
            let added = store
                .add_client(&ClientRecord {
                    id: CONSOLE_CLIENT_ID.into(),
                    name: "priorauth staff console".into(),
                    secret_hash,
                    scopes,
                    npis: Vec::new(),
                    redirect_uris: vec![redirect_uri.clone()],
                    disabled: false,
                    created_at: String::new(),
                })
                .await;
            // Another instance may have registered it at the same moment.
            if let Err(e) = added {
                if store.client(CONSOLE_CLIENT_ID).await?.is_none() {
                    return Err(e.into());
                }
            }
        }
    }
    Ok((redirect_uri, base.starts_with("https://")))
}

/// A signed-in staff member on a console page.
#[derive(Debug, Clone)]
pub struct Staff {
    /// Who, as the API's handlers see callers (for audit and scopes).
    pub actor: Actor,
    /// The session's CSRF token.
    pub csrf: String,
    /// The sign-in name.
    pub username: String,
    id_hash: String,
}

/// The page to come back to: a console path, nothing else (no open
/// redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console/")
                && !n.contains("//")
                && !n.contains('\\')
                && !n.starts_with("/console/signin")
                && !n.starts_with("/console/callback") =>
        {
            n.to_string()
        }
        _ => "/console/claims".into(),
    }
}

/// Where this request is (path and query), to come back to.
fn here(req: &HttpRequest) -> String {
    let uri = req.uri();
    safe_next(Some(
        uri.path_and_query().map_or(uri.path(), |p| p.as_str()),
    ))
}

/// The session of a request, or a redirect to sign in (and back).
pub async fn staff(req: &HttpRequest, state: &web::Data<AppState>) -> Result<Staff, ConsoleError> {
    let back = || ConsoleError::SignIn(here(req));
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Err(back());
    };
    let id_hash = sha256_hex(cookie.value());
    let Some(s) = state.store().console_session(&id_hash).await? else {
        return Err(back());
    };
    if s.expires_ms <= now_ms() {
        state.store().end_console_session(&id_hash).await?;
        return Err(back());
    }
    // The token is checked as the API checks it: a disabled user or
    // console, a revoked grant, an expired or rotated-out key end it.
    let Ok(caller) = crate::api::verify_token(state, &s.access_token).await else {
        state.store().end_console_session(&id_hash).await?;
        return Err(back());
    };
    // Only staff through this console: never a billing system's token.
    if !through_the_console(state, &caller) {
        state.store().end_console_session(&id_hash).await?;
        return Err(ConsoleError::Forbidden(
            "the console is for payer staff signed in through it".into(),
        ));
    }
    let username = match caller.subject.strip_prefix("user:") {
        Some(id) => state
            .store()
            .user(id)
            .await?
            .map_or_else(|| id.to_string(), |u| u.username),
        // The external issuer's subjects are `<issuer>|<sub>`.
        None => caller
            .subject
            .split_once('|')
            .map_or_else(|| caller.subject.clone(), |(_, sub)| sub.to_string()),
    };
    let remote = req
        .peer_addr()
        .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string());
    Ok(Staff {
        actor: Actor { caller, remote },
        csrf: s.csrf,
        username,
        id_hash,
    })
}

/// A token issued to the console, here or at the external issuer, for a
/// person: never a billing system's (those carry NPIs).
fn through_the_console(state: &AppState, caller: &Caller) -> bool {
    if caller.npis.is_some() {
        return false;
    }
    let access = &state.config().access;
    caller.client_id == CONSOLE_CLIENT_ID
        || access
            .console_at_issuer
            .as_ref()
            .zip(access.oidc.as_ref())
            .is_some_and(|(c, (issuer, _, _))| {
                caller.client_id == format!("{issuer}|{}", c.client_id)
            })
}

/// Equal in constant time (CSRF tokens).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Refuses a form without the session's CSRF token.
pub fn check_csrf(staff: &Staff, given: Option<&str>) -> Result<(), ConsoleError> {
    match given {
        Some(g) if same(g, &staff.csrf) => Ok(()),
        _ => Err(ConsoleError::Csrf),
    }
}

fn cookie<'c>(console: &Console, name: &'c str, value: String) -> Cookie<'c> {
    Cookie::build(name, value)
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(console.secure())
        .finish()
}

#[derive(Debug, Deserialize)]
struct SignInQuery {
    next: Option<String>,
    /// `issuer`: at the external issuer; `here`: with a priorauth
    /// password. Unset: asked when an issuer is configured.
    via: Option<String>,
}

/// `GET /console/signin`: off to the authorization endpoint (ours, or the
/// external issuer's) with a fresh state and PKCE challenge. With an
/// issuer configured and no `via`, a page asks which.
async fn sign_in(
    state: web::Data<AppState>,
    console: web::Data<Console>,
    q: web::Query<SignInQuery>,
) -> Page {
    let next = safe_next(q.next.as_deref());
    let at_issuer = state.config().access.console_at_issuer.as_ref();
    let issuer = match (q.via.as_deref(), at_issuer) {
        (None, Some(_)) => return Ok(sign_in_choice(&state, &next)),
        (Some("issuer"), Some(c)) => Some(c),
        (Some("issuer"), None) => {
            return Err(ConsoleError::BadRequest(
                "no external identity provider is configured here; sign in with your priorauth password".into(),
            ))
        }
        (None | Some("here"), _) => None,
        (Some(_), _) => {
            return Err(ConsoleError::BadRequest(
                "via is `here` (a priorauth password) or `issuer` (the identity provider)".into(),
            ))
        }
    };
    let fail = |e: String| ConsoleError::Api(crate::api::ApiError::Internal(e));
    let mut st = random_token(32).map_err(fail)?;
    if issuer.is_some() {
        st.insert_str(0, AT_ISSUER);
    }
    let verifier = random_token(32).map_err(fail)?;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    state
        .store()
        .add_console_login(&sha256_hex(&st), &verifier, &next, now_ms() + LOGIN_MS)
        .await?;
    let scope = match issuer {
        Some(_) => format!("openid {}", SCOPES.join(" ")),
        None => SCOPES.join(" "),
    };
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        (
            "client_id",
            issuer.map_or(CONSOLE_CLIENT_ID, |c| &c.client_id),
        ),
        ("redirect_uri", console.redirect_uri()),
        ("scope", &scope),
        ("state", st.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ])
    .unwrap_or_default();
    let location = match issuer {
        Some(c) if c.authorize_url.contains('?') => format!("{}&{query}", c.authorize_url),
        Some(c) => format!("{}?{query}", c.authorize_url),
        None => format!("/oauth/authorize?{query}"),
    };
    Ok(HttpResponse::SeeOther()
        .cookie(cookie(&console, LOGIN_COOKIE, st))
        .insert_header(("Location", location))
        .finish())
}

/// The page that asks where to sign in, both links coming back to `next`.
fn sign_in_choice(state: &AppState, next: &str) -> HttpResponse {
    let issuer = state
        .config()
        .access
        .oidc
        .as_ref()
        .map_or("", |o| o.0.as_str());
    let link = |via: &str| {
        format!(
            "/console/signin?{}",
            serde_urlencoded::to_string([("via", via), ("next", next)]).unwrap_or_default()
        )
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(
            super::page(
                None,
                "Sign in",
                html! {
                    p { "Sign in to the priorauth console:" }
                    ul {
                        li { a href=(link("issuer")) { "With your organization's identity provider" } " (" (issuer) ")" }
                        li { a href=(link("here")) { "With a priorauth user name and password" } }
                    }
                },
            )
            .into_string(),
        )
}

/// Redeems a code at the external issuer's token endpoint (RFC 6749
/// §4.1.3 with the PKCE verifier, the secret in HTTP Basic when the
/// console has one there): the access token and, when the issuer says,
/// its lifetime in seconds. Blocking (ureq): run it off the event loop.
fn redeem_at_issuer(
    c: &ConsoleAtIssuer,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<(String, Option<i64>), String> {
    let agent = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(10))
        .redirects(0)
        .build();
    let mut req = agent.post(&c.token_url).set("Accept", "application/json");
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    match &c.client_secret {
        Some(secret) => {
            // RFC 6749 §2.3.1: id and secret form-encoded, then Basic.
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(&c.client_id),
                enc(secret)
            ));
            req = req.set("Authorization", &format!("Basic {basic}"));
        }
        None => form.push(("client_id", &c.client_id)),
    }
    let answer: serde_json::Value = match req.send_form(&form) {
        Ok(r) => r
            .into_json()
            .map_err(|_| "the identity provider's token answer is not JSON".to_string())?,
        Err(ureq::Error::Status(status, r)) => {
            // Only an RFC 6749 error code is repeated, never free text.
            let code = r
                .into_json::<serde_json::Value>()
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .filter(|e| {
                    !e.is_empty()
                        && e.len() <= 64
                        && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                });
            return Err(match code {
                Some(e) => format!("the identity provider refused the code ({e})"),
                None => format!("the identity provider's token endpoint answered {status}"),
            });
        }
        Err(_) => return Err("the identity provider's token endpoint could not be reached".into()),
    };
    let token = answer
        .get("access_token")
        .and_then(|v| v.as_str())
        .ok_or("the identity provider's answer has no access_token")?;
    let lifetime = answer.get("expires_in").and_then(|v| v.as_i64());
    Ok((token.to_string(), lifetime))
}

#[derive(Debug, Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /console/callback`: the code back from the authorization
/// endpoint, redeemed in process; a session begins.
async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    q: web::Query<Callback>,
) -> Page {
    if let Some(e) = &q.error {
        return Err(ConsoleError::Forbidden(format!(
            "sign-in refused ({e}): {}",
            q.error_description.as_deref().unwrap_or("")
        )));
    }
    let (Some(code), Some(st)) = (&q.code, &q.state) else {
        return Err(ConsoleError::BadRequest(
            "the sign-in came back without code and state".into(),
        ));
    };
    // The state must be the one this browser set off with (login CSRF).
    let ours = req
        .cookie(LOGIN_COOKIE)
        .is_some_and(|c| same(c.value(), st));
    let login = state.store().take_console_login(&sha256_hex(st)).await?;
    let Some((verifier, next, expires_ms)) = login.filter(|l| ours && l.2 > now_ms()) else {
        return Err(ConsoleError::BadRequest(
            "this sign-in is not one this browser started here, or it took too long; sign in again"
                .into(),
        ));
    };
    let _ = expires_ms;
    let ttl_s = state.config().access.token_seconds;
    let (token, lifetime_s) = if st.starts_with(AT_ISSUER) {
        let Some(c) = state.config().access.console_at_issuer.clone() else {
            return Err(ConsoleError::BadRequest(
                "this sign-in began at an identity provider that is no longer configured; sign in again".into(),
            ));
        };
        let (code, redirect_uri) = (code.clone(), console.redirect_uri().to_string());
        web::block(move || redeem_at_issuer(&c, &code, &redirect_uri, &verifier))
            .await
            .map_err(|e| ConsoleError::Api(crate::api::ApiError::Internal(e.to_string())))?
            .map_err(|e| ConsoleError::Forbidden(format!("sign-in failed: {e}")))?
    } else {
        let token = crate::api::redeem_in_process(
            &state,
            CONSOLE_CLIENT_ID,
            code,
            console.redirect_uri(),
            &verifier,
        )
        .await
        .map_err(|e| ConsoleError::Forbidden(format!("sign-in failed: {e}")))?;
        (token, None)
    };
    let caller = crate::api::verify_token(&state, &token)
        .await
        .map_err(|e| ConsoleError::Forbidden(format!("sign-in failed: {e}")))?;
    if !through_the_console(&state, &caller) {
        return Err(ConsoleError::Forbidden(
            "sign-in failed: that token was not issued to this console for a staff member".into(),
        ));
    }
    let fail = |e: String| ConsoleError::Api(crate::api::ApiError::Internal(e));
    let id = random_token(32).map_err(fail)?;
    let csrf = random_token(32).map_err(fail)?;
    // The token was minted just now: it ends its lifetime from here (the
    // issuer's word for its own tokens, within 1 s to 12 h; every page
    // checks the token again anyway).
    let lifetime_s = lifetime_s.map_or(ttl_s, |l| l.clamp(1, 12 * 3600));
    let expires_ms = now_ms() + lifetime_s * 1000;
    state
        .store()
        .add_console_session(
            &sha256_hex(&id),
            &ConsoleSession {
                csrf,
                access_token: token,
                subject: caller.subject.clone(),
                expires_ms,
            },
        )
        .await?;
    let mut gone = cookie(&console, LOGIN_COOKIE, String::new());
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .cookie(cookie(&console, SESSION_COOKIE, id))
        .cookie(gone)
        .insert_header(("Location", next))
        .finish())
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /console/signout`.
async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    form: web::Form<CsrfForm>,
) -> Page {
    let s = staff(&req, &state).await?;
    check_csrf(&s, form.csrf.as_deref())?;
    state.store().end_console_session(&s.id_hash).await?;
    let mut gone = cookie(&console, SESSION_COOKIE, String::new());
    gone.make_removal();
    Ok(HttpResponse::Ok()
        .cookie(gone)
        .content_type("text/html; charset=utf-8")
        .body(
            super::page(
                None,
                "Signed out",
                html! { p { "You are signed out. " a href="/console/signin" { "Sign in again" } } },
            )
            .into_string(),
        ))
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/signin", web::get().to(sign_in))
        .route("/callback", web::get().to(callback))
        .route("/signout", web::post().to(sign_out));
}
