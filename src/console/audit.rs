//! Admin: the audit log, filtered as `GET /v1/admin/audit` filters it
//! (action, actor, time range), newest first, paged by id.

use actix_web::{web, HttpRequest};
use maud::html;
use serde::Deserialize;

use super::admin::need_admin;
use super::session::staff;
use super::{field, html_ok, page, ConsoleError, Page};
use crate::api::AppState;
use crate::store::AuditFilter;

/// Records a page shows.
const PAGE: i64 = 100;

#[derive(Debug, Default, Deserialize)]
struct AuditForm {
    action: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<i64>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// `GET /console/admin/audit`.
async fn audit(req: HttpRequest, state: web::Data<AppState>, q: web::Query<AuditForm>) -> Page {
    let s = staff(&req, &state).await?;
    need_admin(&s)?;
    let users = state.store().users().await?;
    // Staff are named by username here; the log keeps `user:ID`.
    let actor = given(&q.actor).map(|a| {
        users
            .iter()
            .find(|u| u.username == a)
            .map_or_else(|| a.to_string(), |u| format!("user:{}", u.id))
    });
    let bound = |field: &str, v: &Option<String>, until: bool| {
        crate::api::audit_time(field, given(v).unwrap_or(""), until)
            .map_err(|e| ConsoleError::BadRequest(e.to_string()))
    };
    let filter = AuditFilter {
        before: q.before,
        action: given(&q.action),
        actor: actor.as_deref(),
        since: bound("since", &q.since, false)?,
        until: bound("until", &q.until, true)?,
    };
    let entries = state.store().audit_log(PAGE, &filter).await?;
    let who = |actor: &str| -> String {
        actor
            .strip_prefix("user:")
            .and_then(|id| users.iter().find(|u| u.id == id))
            .map_or_else(|| actor.to_string(), |u| u.username.clone())
    };
    let older = entries
        .last()
        .filter(|_| entries.len() as i64 == PAGE)
        .map(|last| {
            let mut next: Vec<(&str, String)> = [
                ("action", &q.action),
                ("actor", &q.actor),
                ("since", &q.since),
                ("until", &q.until),
            ]
            .into_iter()
            .filter_map(|(k, v)| given(v).map(|v| (k, v.to_string())))
            .collect();
            next.push(("before", last.id.to_string()));
            format!(
                "/console/admin/audit?{}",
                serde_urlencoded::to_string(next).unwrap_or_default()
            )
        });
    let body = html! {
        p { a href="/console/admin" { "Back to Admin" } }
        form.search method="get" action="/console/admin/audit" {
            (field("action", "Action (e.g. claim.read)", given(&q.action), "text"))
            (field("actor", "Who (username, client id or cli)", given(&q.actor), "text"))
            (field("since", "From (UTC)", given(&q.since), "datetime-local"))
            (field("until", "Before (UTC)", given(&q.until), "datetime-local"))
            div.actions { button type="submit" { "Filter" } }
        }
        table #audit {
            caption { "Audit records, newest first (" (entries.len()) " shown)" }
            thead { tr { th scope="col" { "When (UTC)" } th scope="col" { "Who" } th scope="col" { "Client" } th scope="col" { "Action" } th scope="col" { "Record" } th scope="col" { "From" } } }
            tbody {
                @for e in &entries {
                    tr { td { (e.at) } td { (who(&e.actor)) } td.mono { (e.client_id) } td { (e.action) } td { (e.object_type) " " (e.object_id) } td { (e.remote_addr) } }
                }
                @if entries.is_empty() {
                    tr { td colspan="6" { "No audit record matches." } }
                }
            }
        }
        @if let Some(href) = older { p { a href=(href) { "Older records" } } }
    };
    Ok(html_ok(page(Some(&s), "Audit log", body)))
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/audit", web::get().to(audit));
}
