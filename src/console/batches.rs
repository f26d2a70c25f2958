//! Batches: upload a file (streamed to the spool as it arrives, as
//! `POST /v1/batches`), its progress (a bar that `batch.js` keeps moving;
//! without script the page refreshes on a link), counts by status and
//! decision when done, result downloads.

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt as _;
use maud::html;
use serde_json::json;

use super::session::{check_csrf, staff, Staff};
use super::{csrf_field, html_ok, page, ConsoleError, Page};
use crate::access::Scope;
use crate::api::AppState;
use crate::store::{Batch, BatchState};

fn need(s: &Staff, scope: Scope, what: &str) -> Result<(), ConsoleError> {
    if s.actor.caller.has(scope) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(format!(
            "{what} needs the {} role",
            scope.as_str()
        )))
    }
}

fn percent(b: &Batch) -> i64 {
    if b.state == BatchState::Done {
        return 100;
    }
    (b.claims_done * 100)
        .checked_div(b.claims_total)
        .unwrap_or(0)
}

/// `GET /console/batches`.
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Page {
    let s = staff(&req, &state).await?;
    need(&s, Scope::ClaimsRead, "reading batches")?;
    let batches = state.store().recent_batches(50).await?;
    let body = html! {
        @if s.actor.caller.has(Scope::ClaimsSubmit) {
            h2 { "Upload a batch" }
            form method="post" action="/console/batches" enctype="multipart/form-data" {
                (csrf_field(&s))
                div.field {
                    label for="f-batch" { "837 file (X12)" }
                    input id="f-batch" name="file" type="file" required;
                }
                div.actions { button type="submit" { "Upload and adjudicate" } }
            }
        }
        h2 { "Recent batches" }
        table {
            caption { "The 50 latest batches, newest first" }
            thead { tr { th scope="col" { "Batch" } th scope="col" { "State" } th scope="col" { "Claims" } th scope="col" { "Received" } } }
            tbody {
                @for b in &batches {
                    tr {
                        td.mono { a href={ "/console/batches/" (b.id) } { (b.id) } }
                        td { (b.state.as_str()) } td { (b.claims_done) " of " (b.claims_total) } td { (b.created_at) }
                    }
                }
            }
        }
    };
    Ok(html_ok(page(Some(&s), "Batches", body)))
}

/// `POST /console/batches`: the CSRF field first, then the file, which
/// streams to the spool without being held in memory.
async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut form: actix_multipart::Multipart,
) -> Page {
    let s = staff(&req, &state).await?;
    let bad =
        |e: actix_multipart::MultipartError| ConsoleError::BadRequest(format!("the form: {e}"));
    let mut csrf_ok = false;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(bad)?;
        match field.name().unwrap_or("") {
            "csrf" => {
                let mut v = Vec::new();
                while let Some(c) = field.next().await {
                    v.extend_from_slice(&c.map_err(bad)?);
                    if v.len() > 256 {
                        break;
                    }
                }
                check_csrf(&s, std::str::from_utf8(&v).ok())?;
                csrf_ok = true;
            }
            "file" if csrf_ok => {
                need(&s, Scope::ClaimsSubmit, "sending a batch")?;
                let (id, _, _) = crate::api::accept_batch(&state, &s.actor, field).await?;
                return Ok(HttpResponse::SeeOther()
                    .insert_header(("Location", format!("/console/batches/{id}")))
                    .finish());
            }
            _ => break,
        }
    }
    Err(ConsoleError::Csrf)
}

/// `GET /console/batches/{id}`.
async fn detail(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> Page {
    let s = staff(&req, &state).await?;
    need(&s, Scope::ClaimsRead, "reading batches")?;
    let id = path.into_inner();
    let b = state
        .store()
        .batch(&id)
        .await?
        .ok_or_else(|| ConsoleError::NotFound(format!("batch {id} not found")))?;
    let done = matches!(b.state, BatchState::Done | BatchState::Failed);
    let (statuses, decisions) = if done {
        state.store().batch_counts(&id).await?
    } else {
        (Vec::new(), Vec::new())
    };
    let pct = percent(&b);
    let body = html! {
        div #progress data-batch=(b.id) data-done=(if done { "1" } else { "0" }) {
            label for="bar" { "Progress" }
            progress #bar max="100" value=(pct) { (pct) "%" }
            p #progress-text role="status" aria-live="polite" {
                (b.state.as_str()) ": " (b.claims_done) " of " (b.claims_total) " claims"
            }
        }
        @if !done { p.noscript { a href={ "/console/batches/" (b.id) } { "Refresh" } } }
        @if let Some(e) = &b.error { p.error role="alert" { (e) } }
        @if done {
            h2 { "Counts" }
            table #counts {
                caption { "Claims by status and lines by decision" }
                thead { tr { th scope="col" { "Of" } th scope="col" { "What" } th scope="col" { "How many" } } }
                tbody {
                    @for (k, n) in &statuses { tr { td { "claims" } td { (k) } td { (n) } } }
                    @for (k, n) in &decisions { tr { td { "lines" } td { (k) } td { (n) } } }
                }
            }
            h2 { "Downloads" }
            ul {
                li { a href={ "/console/batches/" (b.id) "/results?format=ndjson" } download { "Decisions (NDJSON)" } }
                li { a href={ "/console/batches/" (b.id) "/results?format=835" } download { "835 (claims denied in full)" } }
                li { a href={ "/console/claims?received_from=" (&b.created_at.get(..10).unwrap_or("")) } { "Claims received that day" } }
            }
        }
        script src="/console/static/batch.js" {}
    };
    Ok(html_ok(page(Some(&s), "Batch", body)))
}

/// `GET /console/batches/{id}/progress`: what the bar shows, as JSON.
async fn progress(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> Page {
    let s = staff(&req, &state).await?;
    need(&s, Scope::ClaimsRead, "reading batches")?;
    let id = path.into_inner();
    let b = state
        .store()
        .batch(&id)
        .await?
        .ok_or_else(|| ConsoleError::NotFound(format!("batch {id} not found")))?;
    Ok(HttpResponse::Ok().json(json!({
        "state": b.state.as_str(),
        "claims_done": b.claims_done,
        "claims_total": b.claims_total,
        "percent": percent(&b),
        "done": matches!(b.state, BatchState::Done | BatchState::Failed),
    })))
}

#[derive(Debug, serde::Deserialize)]
struct ResultsQuery {
    format: Option<String>,
}

/// `GET /console/batches/{id}/results`: as the API's results.
async fn results(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<ResultsQuery>,
) -> Page {
    let s = staff(&req, &state).await?;
    need(&s, Scope::ClaimsRead, "reading batches")?;
    let id = path.into_inner();
    let name = match q.format.as_deref() {
        Some("835") => format!("batch-{id}.835.x12"),
        _ => format!("batch-{id}.ndjson"),
    };
    let mut r = crate::api::batch_results(state, &s.actor, &req, id, q.into_inner().format).await?;
    if let Ok(v) =
        actix_web::http::header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
    {
        r.headers_mut()
            .insert(actix_web::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/batches", web::get().to(list))
        .route("/batches", web::post().to(upload))
        .route("/batches/{id}", web::get().to(detail))
        .route("/batches/{id}/progress", web::get().to(progress))
        .route("/batches/{id}/results", web::get().to(results));
}
