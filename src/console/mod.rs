//! The staff console at `/console/`: server-rendered HTML pages (maud),
//! one file per page group, over the same store, access checks and audit
//! log the API handlers use. It works without JavaScript; the one script
//! (`batch.js`) only makes the batch progress bar move by itself.
//!
//! Sign-in is priorauth's own authorization-code + PKCE flow
//! (`session.rs`); the browser holds a random session id in an
//! `HttpOnly; SameSite=Strict` cookie, the server the token. Every page
//! answers with a strict Content-Security-Policy (no inline script or
//! style), `frame-ancestors 'none'` and `Referrer-Policy: no-referrer`;
//! every form carries the session's CSRF token. See docs/CONSOLE.md.

mod admin;
mod audit;
mod auths;
mod batches;
mod claims;
mod exemptions;
mod rules;
mod session;

use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpResponse, ResponseError};
use maud::{html, Markup, DOCTYPE};

use crate::access::Scope;
use crate::api::ApiError;

pub use session::{register_client, Console, CONSOLE_CLIENT_ID};

/// The Content-Security-Policy of every console answer: our own styles
/// and script only, no inline code, no framing, forms post back here only.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("static/console.css");
const BATCH_JS: &str = include_str!("static/batch.js");

/// What a console page can fail with; shown as a page, never a 500
/// without words.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No session (or it ended): sign in, then come back to `0`.
    #[error("sign in to continue")]
    SignIn(String),
    /// Signed in, but the roles do not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// A form or filter the page cannot use.
    #[error("{0}")]
    BadRequest(String),
    /// A form without the session's CSRF token.
    #[error("this form is not from your console session (its CSRF token is missing or wrong); reload the page and try again")]
    Csrf,
    /// No such record.
    #[error("{0}")]
    NotFound(String),
    /// What the API layer would answer.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn(_) => StatusCode::SEE_OTHER,
            ConsoleError::Forbidden(_) | ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Api(e) => e.status_code(),
            ConsoleError::Store(crate::store::StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            ConsoleError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsoleError::SignIn(next) = self {
            let to = format!(
                "/console/signin?{}",
                serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default()
            );
            return HttpResponse::SeeOther()
                .insert_header(("Location", to))
                .finish();
        }
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "console page failed");
        }
        let body = page(
            None,
            status.canonical_reason().unwrap_or("Error"),
            html! {
                p.error role="alert" { (self.to_string()) }
                p { a href="/console/" { "Back to the console" } }
            },
        );
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body.into_string())
    }
}

/// What a console handler answers.
pub type Page = Result<HttpResponse, ConsoleError>;

/// An HTML page answer.
fn html_ok(m: Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(m.into_string())
}

/// The navigation: each staff job the roles allow.
fn nav(staff: &session::Staff) -> Markup {
    let has = |s: Scope| staff.actor.caller.has(s);
    let read = has(Scope::ClaimsRead);
    html! {
        nav aria-label="Console" {
            ul {
                @if read { li { a href="/console/claims" { "Claims" } } }
                li { a href="/console/check" { "Does it need PA?" } }
                @if read || has(Scope::AuthsWrite) { li { a href="/console/auths" { "Authorizations" } } }
                li { a href="/console/rules" { "Rules" } }
                @if read || has(Scope::RulesWrite) { li { a href="/console/exemptions" { "Exemptions" } } }
                @if read { li { a href="/console/batches" { "Batches" } } }
                li { a href="/console/codes" { "Codes" } }
                @if has(Scope::Admin) { li { a href="/console/admin" { "Admin" } } }
            }
            form method="post" action="/console/signout" {
                (csrf_field(staff))
                span.who { "Signed in as " (staff.username) }
                " "
                button type="submit" { "Sign out" }
            }
        }
    }
}

/// The whole page around `body`.
fn page(staff: Option<&session::Staff>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · priorauth console" }
                link rel="stylesheet" href="/console/static/console.css";
            }
            body {
                header {
                    a.brand href="/console/" { "priorauth" }
                    @if let Some(s) = staff { (nav(s)) }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF input every form starts with.
fn csrf_field(staff: &session::Staff) -> Markup {
    html! { input type="hidden" name="csrf" value=(staff.csrf); }
}

/// A labelled text input.
fn field(name: &str, label: &str, value: Option<&str>, kind: &str) -> Markup {
    let id = format!("f-{name}");
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=(value.unwrap_or(""));
        }
    }
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "max-age=300"))
        .body(CSS)
}

async fn batch_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "max-age=300"))
        .body(BATCH_JS)
}

async fn home() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", "/console/claims"))
        .finish()
}

/// Registers the console under `/console` (the API's bearer guard leaves
/// these paths to the console's own session check).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .wrap(
                DefaultHeaders::new()
                    .add(("Content-Security-Policy", CSP))
                    .add(("Referrer-Policy", "no-referrer"))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("X-Frame-Options", "DENY"))
                    .add(("Cache-Control", "no-store")),
            )
            .route("", web::get().to(home))
            .route("/", web::get().to(home))
            .route("/static/console.css", web::get().to(css))
            .route("/static/batch.js", web::get().to(batch_js))
            .configure(session::routes)
            .configure(claims::routes)
            .configure(auths::routes)
            .configure(rules::routes)
            .configure(exemptions::routes)
            .configure(batches::routes)
            .configure(admin::routes)
            .configure(audit::routes),
    );
}

/// The fields of a small multipart form (a rule set, an authorization
/// CSV), at most `limit` bytes in all; the CSRF token is checked before
/// anything else is used.
async fn small_form(
    staff: &session::Staff,
    mut form: actix_multipart::Multipart,
    limit: usize,
) -> Result<std::collections::HashMap<String, Vec<u8>>, ConsoleError> {
    use futures_util::StreamExt as _;
    let mut out = std::collections::HashMap::new();
    let mut total = 0usize;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| ConsoleError::BadRequest(format!("the form: {e}")))?;
        let name = field.name().unwrap_or("").to_string();
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| ConsoleError::BadRequest(format!("the form: {e}")))?;
            total += chunk.len();
            if total > limit {
                return Err(ConsoleError::BadRequest(format!(
                    "the upload is larger than {limit} bytes"
                )));
            }
            data.extend_from_slice(&chunk);
        }
        out.insert(name, data);
    }
    let csrf = out.get("csrf").and_then(|v| std::str::from_utf8(v).ok());
    session::check_csrf(staff, csrf)?;
    Ok(out)
}
