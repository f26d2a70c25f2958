//! Authorizations: search by number, member and provider; one with units
//! approved, used and remaining and the ledger of the claims that used
//! them; a CSV import showing every bad row by line; a status change.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::session::{check_csrf, staff, Staff};
use super::{csrf_field, field, html_ok, page, small_form, ConsoleError, Page};
use crate::access::Scope;
use crate::api::AppState;
use crate::authorizations::{import_csv, AuthStatus, Authorization};
use crate::store::AuthFilter;

/// The largest CSV the console imports (as the API).
const CSV_LIMIT: usize = 16 << 20;
/// Most authorizations one search shows.
const SHOWN: u32 = 200;

fn need_read(s: &Staff) -> Result<(), ConsoleError> {
    if s.actor.caller.has(Scope::ClaimsRead) || s.actor.caller.has(Scope::AuthsWrite) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "authorizations need the claims:read or auths:write role".into(),
        ))
    }
}

fn need_write(s: &Staff) -> Result<(), ConsoleError> {
    if s.actor.caller.has(Scope::AuthsWrite) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "changing authorizations needs the auths:write role".into(),
        ))
    }
}

fn dec(d: Option<rust_decimal::Decimal>) -> String {
    d.map_or_else(|| "unlimited".into(), |d| d.normalize().to_string())
}

#[derive(Debug, Default, Deserialize)]
struct SearchForm {
    number: Option<String>,
    member: Option<String>,
    provider: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn list_page(
    s: &Staff,
    f: &SearchForm,
    found: &[Authorization],
    outcome: Option<Markup>,
) -> Markup {
    let body = html! {
        @if let Some(o) = outcome { (o) }
        form.search method="get" action="/console/auths" {
            (field("number", "Authorization number", f.number.as_deref(), "text"))
            (field("member", "Member id", f.member.as_deref(), "text"))
            (field("provider", "Provider NPI", f.provider.as_deref(), "text"))
            div.actions { button type="submit" { "Search" } }
        }
        @if found.is_empty() {
            p { "No authorization matches." }
        } @else {
            table {
                caption { "Authorizations found (by number)" }
                thead { tr {
                    th scope="col" { "Number" } th scope="col" { "Member" } th scope="col" { "Provider" }
                    th scope="col" { "Codes" } th scope="col" { "Dates" } th scope="col" { "Status" }
                    th scope="col" { "Approved" } th scope="col" { "Used" } th scope="col" { "Remaining" }
                } }
                tbody {
                    @for a in found {
                        tr {
                            td { a href={ "/console/auths/" (a.number) } { (a.number) } }
                            td { (a.member_id) } td { (a.provider_npi) } td { (a.codes_text()) }
                            td { (a.start_date) " to " (a.end_date) } td { (a.status.as_str()) }
                            td { (dec(a.units)) } td { (a.units_used.normalize()) } td { (dec(a.remaining())) }
                        }
                    }
                }
            }
        }
        @if s.actor.caller.has(Scope::AuthsWrite) {
            h2 { "Import a CSV" }
            p { "All or nothing: a file with any bad row changes nothing, and every bad row is named by its line." }
            form method="post" action="/console/auths/import" enctype="multipart/form-data" {
                (csrf_field(s))
                div.field {
                    label for="f-csv" { "Authorizations (CSV)" }
                    input id="f-csv" name="csv" type="file" accept=".csv,text/csv" required;
                }
                div.actions { button type="submit" { "Import" } }
            }
        }
    };
    page(Some(s), "Authorizations", body)
}

async fn audit_found(
    s: &Staff,
    state: &AppState,
    found: &[Authorization],
) -> Result<(), ConsoleError> {
    if !found.is_empty() {
        let numbers: Vec<&str> = found.iter().map(|a| a.number.as_str()).collect();
        s.actor
            .audit(
                state,
                "authorization.list",
                "authorization",
                &numbers.join(" "),
            )
            .await?;
    }
    Ok(())
}

/// `GET /console/auths`.
async fn search(req: HttpRequest, state: web::Data<AppState>, q: web::Query<SearchForm>) -> Page {
    let s = staff(&req, &state).await?;
    need_read(&s)?;
    let f = q.into_inner();
    let filter = AuthFilter {
        number: given(&f.number),
        member_id: given(&f.member),
        provider_npi: given(&f.provider),
        status: None,
    };
    let found = state.store().list_authorizations(&filter, SHOWN).await?;
    audit_found(&s, &state, &found).await?;
    Ok(html_ok(list_page(&s, &f, &found, None)))
}

/// `POST /console/auths/import`.
async fn import(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: actix_multipart::Multipart,
) -> Page {
    let s = staff(&req, &state).await?;
    let fields = small_form(&s, form, CSV_LIMIT).await?;
    need_write(&s)?;
    let csv = fields.get("csv").cloned().unwrap_or_default();
    let outcome = match import_csv(&csv) {
        Err(e) => html! {
            div.problems role="alert" {
                p { "Nothing was imported: " (e.problems.len()) " problem(s)." }
                table {
                    caption { "Bad rows by line" }
                    thead { tr { th scope="col" { "Line" } th scope="col" { "Column" } th scope="col" { "Problem" } } }
                    tbody {
                        @for p in &e.problems {
                            tr { td { "line " (p.line) } td { (p.field.as_deref().unwrap_or("")) } td { (p.message) } }
                        }
                    }
                }
            }
        },
        Ok(auths) => {
            let numbers: Vec<&str> = auths.iter().map(|a| a.number.as_str()).collect();
            s.actor
                .audit(
                    &state,
                    "authorization.import",
                    "authorization",
                    &numbers.join(" "),
                )
                .await?;
            let (added, replaced) = state.store().import_authorizations(&auths).await?;
            html! { p.ok role="status" { "Imported: " (added) " added, " (replaced) " replaced." } }
        }
    };
    let found = state
        .store()
        .list_authorizations(&AuthFilter::default(), SHOWN)
        .await?;
    audit_found(&s, &state, &found).await?;
    Ok(html_ok(list_page(
        &s,
        &SearchForm::default(),
        &found,
        Some(outcome),
    )))
}

/// `GET /console/auths/{number}`.
async fn detail(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> Page {
    let s = staff(&req, &state).await?;
    need_read(&s)?;
    let number = path.into_inner();
    let a = state
        .store()
        .authorization(&number)
        .await?
        .filter(|a| s.actor.caller.may_see_npi(&a.provider_npi))
        .ok_or_else(|| ConsoleError::NotFound(format!("authorization {number} not found")))?;
    s.actor
        .audit(&state, "authorization.read", "authorization", &number)
        .await?;
    let ledger = state.store().ledger(&number).await?;
    let body = html! {
        dl.facts {
            dt { "Member" } dd { (a.member_id) }
            dt { "Provider NPI" } dd { (a.provider_npi) }
            dt { "Codes" } dd { (a.codes_text()) }
            dt { "Dates" } dd { (a.start_date) " to " (a.end_date) }
            dt { "Status" } dd { (a.status.as_str()) }
            dt { "Units approved" } dd { (dec(a.units)) " " (a.unit_type.as_str()) }
            dt { "Units used" } dd { (a.units_used.normalize()) }
            dt { "Units remaining" } dd { (dec(a.remaining())) }
        }
        @if s.actor.caller.has(Scope::AuthsWrite) {
            form method="post" action={ "/console/auths/" (a.number) "/status" } {
                (csrf_field(&s))
                div.field {
                    label for="f-status" { "Status" }
                    select id="f-status" name="status" {
                        @for st in ["approved", "denied", "pending", "cancelled"] {
                            option value=(st) selected[a.status.as_str() == st] { (st) }
                        }
                    }
                }
                div.actions { button type="submit" { "Change status" } }
            }
        }
        h2 { "Ledger" }
        @if ledger.is_empty() {
            p { "No claim has used this authorization." }
        } @else {
            table {
                caption { "Claims that consumed units, in order" }
                thead { tr { th scope="col" { "Claim" } th scope="col" { "Line" } th scope="col" { "Units" } th scope="col" { "Received" } th scope="col" { "Given back by" } } }
                tbody {
                    @for e in &ledger {
                        tr {
                            td { a href={ "/console/claims/" (e.payer_claim_id) } { (e.claim_id.as_deref().unwrap_or(&e.payer_claim_id)) } }
                            td { (e.line) } td { (e.units) } td { (e.received_at.as_deref().unwrap_or("")) }
                            td { @if let Some(r) = &e.reversed_by { a href={ "/console/claims/" (r) } { (r) } } }
                        }
                    }
                }
            }
        }
    };
    Ok(html_ok(page(
        Some(&s),
        &format!("Authorization {}", a.number),
        body,
    )))
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    csrf: Option<String>,
    status: String,
}

/// `POST /console/auths/{number}/status`.
async fn set_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<StatusForm>,
) -> Page {
    let s = staff(&req, &state).await?;
    check_csrf(&s, form.csrf.as_deref())?;
    need_write(&s)?;
    let number = path.into_inner();
    let status: AuthStatus = form.status.parse().map_err(|()| {
        ConsoleError::BadRequest(format!(
            "status {}: not one of approved, denied, pending, cancelled",
            form.status
        ))
    })?;
    s.actor
        .audit(&state, "authorization.update", "authorization", &number)
        .await?;
    state
        .store()
        .update_authorization(&number, |rec| rec.status = status.as_str().to_string())
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", format!("/console/auths/{number}")))
        .finish())
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auths", web::get().to(search))
        .route("/auths/import", web::post().to(import))
        .route("/auths/{number}", web::get().to(detail))
        .route("/auths/{number}/status", web::post().to(set_status));
}
