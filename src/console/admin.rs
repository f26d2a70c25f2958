//! Admin: staff users (add, disable, reset a password), clients (add,
//! disable), signing-key rotation. Needs the admin role. Every change
//! goes through the function the admin API's handler calls
//! (`crate::api::…_now`), so both audit and check alike. The audit log
//! has its own page (`audit.rs`).

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::session::{check_csrf, staff, Staff, CONSOLE_CLIENT_ID};
use super::{csrf_field, field, html_ok, page, ConsoleError, Page};
use crate::access::{ClientSpec, Scope, UserSpec};
use crate::api::{ApiError, AppState};

/// The scopes and roles a form offers, in the order staff read them.
const SCOPES: [&str; 5] = [
    "claims:read",
    "claims:submit",
    "rules:write",
    "auths:write",
    "admin",
];

pub(super) fn need_admin(s: &Staff) -> Result<(), ConsoleError> {
    if s.actor.caller.has(Scope::Admin) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "the Admin page needs the admin role".into(),
        ))
    }
}

/// A refusal the admin functions answer (a bad spec, a taken name, the
/// console's own client), shown on the page; anything else is the page's
/// error.
fn refused(what: &str, e: ApiError) -> Result<Markup, ConsoleError> {
    match e {
        ApiError::Unprocessable(m, _) | ApiError::Conflict(m) | ApiError::NotFound(m) => {
            Ok(html! { p.error role="alert" { (what) ": " (m) } })
        }
        other => Err(other.into()),
    }
}

fn checkboxes(name: &str, legend: &str) -> Markup {
    html! {
        fieldset {
            legend { (legend) }
            @for r in SCOPES {
                @let id = format!("{name}-{}", r.replace(':', "-"));
                div.check {
                    input type="checkbox" id=(id) name=(name) value=(r);
                    label for=(id) { (r) }
                }
            }
        }
    }
}

async fn admin_page(s: &Staff, state: &AppState, outcome: Option<Markup>) -> Page {
    let users = state.store().users().await?;
    let clients = state.store().clients().await?;
    let keys = state.store().signing_keys().await?;
    let body = html! {
        @if let Some(o) = outcome { (o) }
        p { a href="/console/admin/audit" { "The audit log" } " (who read or changed what, with filters)" }
        h2 { "Staff users" }
        table {
            caption { "Users who sign in to the console" }
            thead { tr { th scope="col" { "Username" } th scope="col" { "Roles" } th scope="col" { "State" } th scope="col" { "Actions" } } }
            tbody {
                @for u in &users {
                    tr {
                        td { (u.username) } td { (u.roles.join(" ")) }
                        td { (if u.disabled { "disabled" } else { "active" }) }
                        td {
                            @if !u.disabled {
                                form.inline method="post" action={ "/console/admin/users/" (u.id) "/password" } {
                                    (csrf_field(s))
                                    button type="submit" aria-label={ "Reset the password of " (u.username) } { "Reset password" }
                                }
                                " "
                                form.inline method="post" action={ "/console/admin/users/" (u.id) "/disable" } {
                                    (csrf_field(s))
                                    button.danger type="submit" aria-label={ "Disable " (u.username) } { "Disable" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 { "Add a user" }
        form #add-user method="post" action="/console/admin/users" {
            (csrf_field(s))
            (field("username", "Username", None, "text"))
            (checkboxes("role", "Roles"))
            div.actions { button type="submit" { "Add user" } }
        }
        h2 { "Clients" }
        table {
            caption { "Registered OAuth clients" }
            thead { tr { th scope="col" { "Client id" } th scope="col" { "Name" } th scope="col" { "Scopes" } th scope="col" { "NPIs" } th scope="col" { "State" } th scope="col" { "Actions" } } }
            tbody {
                @for c in &clients {
                    tr {
                        td.mono { (c.id) } td { (c.name) } td { (c.scopes.join(" ")) } td { (c.npis.join(" ")) }
                        td { (if c.disabled { "disabled" } else { "active" }) }
                        td {
                            // The console's own client: disabling it would
                            // end every session (the API refuses it too).
                            @if !c.disabled && c.id != CONSOLE_CLIENT_ID {
                                form.inline method="post" action={ "/console/admin/clients/" (c.id) "/disable" } {
                                    (csrf_field(s))
                                    button.danger type="submit" aria-label={ "Disable client " (c.name) } { "Disable" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 { "Register a client" }
        form #add-client method="post" action="/console/admin/clients" {
            (csrf_field(s))
            (field("name", "Name (e.g. Riverside Imaging billing)", None, "text"))
            (field("npis", "Billing NPIs (space-separated; a billing system's)", None, "text"))
            (field("redirect_uris", "Redirect URIs (space-separated; a sign-in client's)", None, "text"))
            (checkboxes("scope", "Scopes"))
            div.check {
                input type="checkbox" id="f-public" name="public" value="true";
                label for="f-public" { "Public client (a browser app: PKCE, no secret)" }
            }
            div.check {
                input type="checkbox" id="f-any-npi" name="any_npi" value="true";
                label for="f-any-npi" { "Payer-side intake: submits for any billing NPI" }
            }
            div.actions { button type="submit" { "Register client" } }
        }
        h2 { "Signing keys" }
        table {
            caption { "Keys that sign and verify tokens (the last one signs)" }
            thead { tr { th scope="col" { "Key id" } th scope="col" { "Created" } } }
            tbody {
                @for k in &keys { tr { td.mono { (k.kid) } td { (k.created_at) } } }
            }
        }
        form #rotate method="post" action="/console/admin/keys/rotate" {
            (csrf_field(s))
            div.check {
                input type="checkbox" id="f-retire" name="retire_old" value="true";
                label for="f-retire" { "Retire the old keys at once (after a key leak: every token signed so far stops working, yours too)" }
            }
            div.actions { button type="submit" { "Rotate the signing key" } }
        }
    };
    Ok(html_ok(page(Some(s), "Admin", body)))
}

/// `GET /console/admin`.
async fn admin(req: HttpRequest, state: web::Data<AppState>) -> Page {
    let s = staff(&req, &state).await?;
    need_admin(&s)?;
    admin_page(&s, &state, None).await
}

/// A form with repeated fields (`role`, `scope`), read as pairs; the
/// CSRF token and the admin role checked first.
struct Pairs(Vec<(String, String)>);

impl Pairs {
    fn read(s: &Staff, body: &[u8]) -> Result<Pairs, ConsoleError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| ConsoleError::BadRequest(format!("the form: {e}")))?;
        let p = Pairs(pairs);
        check_csrf(s, p.get("csrf"))?;
        need_admin(s)?;
        Ok(p)
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn words(&self, k: &str) -> Vec<String> {
        self.get(k)
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    fn flag(&self, k: &str) -> bool {
        self.get(k) == Some("true")
    }
}

/// Shown once: a password or secret, with a reminder that it is.
fn shown_once(what: Markup, id: &str, value: &str) -> Markup {
    html! {
        div.ok role="status" {
            p { (what) }
            p { code id=(id) { (value) } }
            p { "It is shown this once: only its hash is stored." }
        }
    }
}

/// `POST /console/admin/users`: the generated password is shown once.
async fn add_user(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Page {
    let s = staff(&req, &state).await?;
    let form = Pairs::read(&s, &body)?;
    let spec = UserSpec {
        username: form.get("username").unwrap_or("").to_string(),
        roles: form.all("role"),
        password: None,
    };
    let outcome = match crate::api::add_user_now(&state, &s.actor, spec).await {
        Ok((record, password)) => shown_once(
            html! { "User " (record.username) " added. Their password:" },
            "new-password",
            &password.unwrap_or_default(),
        ),
        Err(e) => refused("User not added", e)?,
    };
    admin_page(&s, &state, Some(outcome)).await
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /console/admin/users/{id}/disable`.
async fn disable_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Page {
    let s = staff(&req, &state).await?;
    check_csrf(&s, form.csrf.as_deref())?;
    need_admin(&s)?;
    crate::api::disable_user_now(&state, &s.actor, &path.into_inner()).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/console/admin"))
        .finish())
}

/// `POST /console/admin/users/{id}/password`: a generated password,
/// shown once.
async fn reset_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Page {
    let s = staff(&req, &state).await?;
    check_csrf(&s, form.csrf.as_deref())?;
    need_admin(&s)?;
    let id = path.into_inner();
    let name = state
        .store()
        .user(&id)
        .await?
        .map(|u| u.username)
        .ok_or_else(|| ConsoleError::NotFound(format!("no user {id}")))?;
    let outcome = match crate::api::reset_password_now(&state, &s.actor, &id, None).await {
        Ok(password) => shown_once(
            html! { "The password of " (name) " was reset. The new one:" },
            "new-password",
            &password.unwrap_or_default(),
        ),
        Err(e) => refused("Password not reset", e)?,
    };
    admin_page(&s, &state, Some(outcome)).await
}

/// `POST /console/admin/clients`: the secret is shown once.
async fn add_client(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Page {
    let s = staff(&req, &state).await?;
    let form = Pairs::read(&s, &body)?;
    let spec = ClientSpec {
        name: form.get("name").unwrap_or("").to_string(),
        npis: form.words("npis"),
        scopes: form.all("scope"),
        redirect_uris: form.words("redirect_uris"),
        public: form.flag("public"),
        any_npi: form.flag("any_npi"),
    };
    let outcome = match crate::api::add_client_now(&state, &s.actor, spec).await {
        Ok((record, secret)) => match secret {
            Some(secret) => shown_once(
                html! { "Client " (record.name) " registered as " code #new-client { (record.id) } ". Its secret:" },
                "new-secret",
                &secret,
            ),
            None => html! {
                div.ok role="status" {
                    p { "Public client " (record.name) " registered as " code #new-client { (record.id) } " (no secret: it signs staff in with PKCE)." }
                }
            },
        },
        Err(e) => refused("Client not registered", e)?,
    };
    admin_page(&s, &state, Some(outcome)).await
}

/// `POST /console/admin/clients/{id}/disable`.
async fn disable_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Page {
    let s = staff(&req, &state).await?;
    check_csrf(&s, form.csrf.as_deref())?;
    need_admin(&s)?;
    match crate::api::disable_client_now(&state, &s.actor, &path.into_inner()).await {
        Ok(()) => Ok(HttpResponse::SeeOther()
            .insert_header(("Location", "/console/admin"))
            .finish()),
        Err(e) => {
            let outcome = refused("Client not disabled", e)?;
            admin_page(&s, &state, Some(outcome)).await
        }
    }
}

#[derive(Debug, Deserialize)]
struct RotateForm {
    csrf: Option<String>,
    retire_old: Option<String>,
}

/// `POST /console/admin/keys/rotate`.
async fn rotate_key(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RotateForm>,
) -> Page {
    let s = staff(&req, &state).await?;
    check_csrf(&s, form.csrf.as_deref())?;
    need_admin(&s)?;
    let retire_old = form.retire_old.as_deref() == Some("true");
    let outcome = match crate::api::rotate_key_now(&state, &s.actor, retire_old).await {
        Ok((kid, retired)) => html! {
            div.ok role="status" {
                p { "Key " code #new-kid { (kid) } " signs from now on"
                    @if retired > 0 { "; " (retired) " old keys retired (tokens they signed no longer work)" }
                    @else { "; the old keys still verify the tokens they signed" }
                    "." }
            }
        },
        Err(e) => refused("Key not rotated", e)?,
    };
    admin_page(&s, &state, Some(outcome)).await
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(admin))
        .route("/admin/users", web::post().to(add_user))
        .route("/admin/users/{id}/disable", web::post().to(disable_user))
        .route("/admin/users/{id}/password", web::post().to(reset_password))
        .route("/admin/clients", web::post().to(add_client))
        .route(
            "/admin/clients/{id}/disable",
            web::post().to(disable_client),
        )
        .route("/admin/keys/rotate", web::post().to(rotate_key));
}
