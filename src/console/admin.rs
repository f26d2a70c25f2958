//! Admin: clients and staff users (add a user, disable one), and the audit
//! log with filters. Needs the admin role.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::session::{check_csrf, staff, Staff};
use super::{csrf_field, field, html_ok, page, ConsoleError, Page};
use crate::access::{Scope, UserSpec};
use crate::api::AppState;

fn need_admin(s: &Staff) -> Result<(), ConsoleError> {
    if s.actor.caller.has(Scope::Admin) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "the Admin page needs the admin role".into(),
        ))
    }
}

#[derive(Debug, Default, Deserialize)]
struct AuditForm {
    action: Option<String>,
}

async fn admin_page(
    s: &Staff,
    state: &AppState,
    action: Option<&str>,
    outcome: Option<Markup>,
) -> Page {
    let users = state.store().users().await?;
    let clients = state.store().clients().await?;
    let audit = state.store().audit_log(100, None, action).await?;
    let body = html! {
        @if let Some(o) = outcome { (o) }
        h2 { "Staff users" }
        table {
            caption { "Users who sign in to the console" }
            thead { tr { th scope="col" { "Username" } th scope="col" { "Roles" } th scope="col" { "State" } th scope="col" { "Action" } } }
            tbody {
                @for u in &users {
                    tr {
                        td { (u.username) } td { (u.roles.join(" ")) }
                        td { (if u.disabled { "disabled" } else { "active" }) }
                        td {
                            @if !u.disabled {
                                form method="post" action={ "/console/admin/users/" (u.id) "/disable" } {
                                    (csrf_field(s))
                                    button type="submit" aria-label={ "Disable " (u.username) } { "Disable" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 { "Add a user" }
        form method="post" action="/console/admin/users" {
            (csrf_field(s))
            (field("username", "Username", None, "text"))
            fieldset {
                legend { "Roles" }
                @for r in ["claims:read", "claims:submit", "rules:write", "auths:write", "admin"] {
                    @let id = format!("role-{}", r.replace(':', "-"));
                    div.check {
                        input type="checkbox" id=(id) name="role" value=(r);
                        label for=(id) { (r) }
                    }
                }
            }
            div.actions { button type="submit" { "Add user" } }
        }
        h2 { "Clients" }
        table {
            caption { "Registered OAuth clients" }
            thead { tr { th scope="col" { "Client id" } th scope="col" { "Name" } th scope="col" { "Scopes" } th scope="col" { "NPIs" } th scope="col" { "State" } } }
            tbody {
                @for c in &clients {
                    tr { td.mono { (c.id) } td { (c.name) } td { (c.scopes.join(" ")) } td { (c.npis.join(" ")) } td { (if c.disabled { "disabled" } else { "active" }) } }
                }
            }
        }
        h2 { "Audit log" }
        form.search method="get" action="/console/admin" {
            (field("action", "Action (e.g. claim.read)", action, "text"))
            div.actions { button type="submit" { "Filter" } }
        }
        table {
            caption { "The latest 100 records, newest first" }
            thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Client" } th scope="col" { "Action" } th scope="col" { "Record" } th scope="col" { "From" } } }
            tbody {
                @for e in &audit {
                    tr { td { (e.at) } td { (e.actor) } td.mono { (e.client_id) } td { (e.action) } td { (e.object_type) " " (e.object_id) } td { (e.remote_addr) } }
                }
            }
        }
    };
    Ok(html_ok(page(Some(s), "Admin", body)))
}

/// `GET /console/admin`.
async fn admin(req: HttpRequest, state: web::Data<AppState>, q: web::Query<AuditForm>) -> Page {
    let s = staff(&req, &state).await?;
    need_admin(&s)?;
    let action = q.action.as_deref().map(str::trim).filter(|a| !a.is_empty());
    admin_page(&s, &state, action, None).await
}

/// `POST /console/admin/users`: the generated password is shown once.
async fn add_user(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Page {
    let s = staff(&req, &state).await?;
    // Repeated `role` fields: read as pairs.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ConsoleError::BadRequest(format!("the form: {e}")))?;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    check_csrf(&s, get("csrf"))?;
    need_admin(&s)?;
    let spec = UserSpec {
        username: get("username").unwrap_or("").to_string(),
        roles: pairs
            .iter()
            .filter(|(n, _)| n == "role")
            .map(|(_, v)| v.clone())
            .collect(),
        password: None,
    };
    let outcome = match web::block(move || spec.register()).await {
        Ok(Ok((record, password))) => {
            s.actor
                .audit(&state, "user.create", "user", &record.id)
                .await?;
            state.store().add_user(&record).await?;
            html! {
                div.ok role="status" {
                    p { "User " (record.username) " added. Their password, shown this once:" }
                    p { code #new-password { (password.unwrap_or_default()) } }
                }
            }
        }
        Ok(Err(e)) => html! { p.error role="alert" { "User not added: " (e) } },
        Err(e) => return Err(ConsoleError::BadRequest(e.to_string())),
    };
    admin_page(&s, &state, None, Some(outcome)).await
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

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(admin))
        .route("/admin/users", web::post().to(add_user))
        .route("/admin/users/{id}/disable", web::post().to(disable_user));
}
