//! Claims: search (keyset pages, CSV export of the result) and one claim
//! with its lines, codes and their meanings, rules, authorizations,
//! history and downloads. Reads are audit-logged as the API's are.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use super::session::{staff, Staff};
use super::{field, html_ok, page, ConsoleError, Page};
use crate::access::Scope;
use crate::api::AppState;
use crate::model::carc;
use crate::store::{SearchParams, StoredClaim, STATUSES};

/// Rows a CSV export holds at most (a page of the store's largest size,
/// repeated): beyond, narrow the search.
const CSV_MAX: usize = 10_000;

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn items<'a>(v: &'a Value, k: &str) -> impl Iterator<Item = &'a Value> {
    v.get(k).and_then(Value::as_array).into_iter().flatten()
}

fn need_read(s: &Staff) -> Result<(), ConsoleError> {
    if s.actor.caller.has(Scope::ClaimsRead) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "reading claims needs the claims:read role".into(),
        ))
    }
}

fn decision(c: &StoredClaim) -> Value {
    serde_json::from_str(c.decision.get()).unwrap_or(Value::Null)
}

/// The codes of a line as `CO-197 M62`.
fn codes(line: &Value) -> String {
    let mut out: Vec<String> = items(line, "adjustments")
        .map(|a| format!("{}-{}", text(a, "group"), text(a, "carc")))
        .collect();
    out.extend(items(line, "remarks").filter_map(|r| r.as_str().map(str::to_string)));
    out.join(" ")
}

fn search_form(p: &SearchParams) -> Markup {
    let v = |o: &Option<String>| o.clone();
    html! {
        form.search method="get" action="/console/claims" {
            (field("claim_id", "Claim id (CLM01)", v(&p.claim_id).as_deref(), "text"))
            (field("billing_npi", "Billing NPI", v(&p.billing_npi).as_deref(), "text"))
            (field("payer_claim_id", "Payer claim id", v(&p.payer_claim_id).as_deref(), "text"))
            div.field {
                label for="f-status" { "Status" }
                select id="f-status" name="status" {
                    option value="" { "any" }
                    @for s in STATUSES {
                        option value=(s) selected[p.status.as_deref() == Some(*s)] { (s) }
                    }
                }
            }
            (field("carc", "CARC (197 or CO-197)", v(&p.carc).as_deref(), "text"))
            (field("rule", "Rule id", v(&p.rule).as_deref(), "text"))
            (field("service_from", "Service from", v(&p.service_from).as_deref(), "date"))
            (field("service_to", "Service to", v(&p.service_to).as_deref(), "date"))
            (field("received_from", "Received from", v(&p.received_from).as_deref(), "date"))
            (field("received_to", "Received to", v(&p.received_to).as_deref(), "date"))
            div.actions { button type="submit" { "Search" } }
        }
    }
}

/// `GET /console/claims`.
async fn search(req: HttpRequest, state: web::Data<AppState>, q: web::Query<SearchParams>) -> Page {
    let s = staff(&req, &state).await?;
    need_read(&s)?;
    let p = q.into_inner();
    let (filter, limit, after) = p
        .filter()
        .map_err(|e| ConsoleError::BadRequest(e.to_string()))?;
    let found = state
        .store()
        .search_claims(&filter, after.as_ref(), limit)
        .await?;
    let ids: Vec<&str> = found
        .claims
        .iter()
        .map(|c| c.payer_claim_id.as_str())
        .collect();
    s.actor
        .audit_each(&state, "claim.read", "claim", &ids)
        .await?;
    let mut same = p.clone();
    same.after = None;
    let query = serde_urlencoded::to_string(&same).unwrap_or_default();
    let next = found.next.as_ref().map(|n| {
        let mut more = same.clone();
        more.after = Some(n.clone());
        format!(
            "/console/claims?{}",
            serde_urlencoded::to_string(&more).unwrap_or_default()
        )
    });
    let body = html! {
        (search_form(&p))
        p.summary {
            (found.claims.len()) " claim(s) on this page, newest first. "
            a href={ "/console/claims.csv?" (query) } { "Export the result as CSV" }
        }
        @if found.claims.is_empty() {
            p { "No stored claim matches." }
        } @else {
            table {
                caption { "Claims found" }
                thead { tr {
                    th scope="col" { "Claim id" } th scope="col" { "Status" }
                    th scope="col" { "Billing NPI" } th scope="col" { "Payer claim id" }
                    th scope="col" { "Received" } th scope="col" { "Codes" }
                } }
                tbody {
                    @for c in &found.claims {
                        @let d = decision(c);
                        tr {
                            td { a href={ "/console/claims/" (c.payer_claim_id) } { (c.claim_id) } }
                            td { span class={ "status " (c.status) } { (c.status) } }
                            td { (c.billing_npi) }
                            td.mono { (c.payer_claim_id) }
                            td { (c.received_at) }
                            td { (items(&d, "lines").map(codes).filter(|c| !c.is_empty()).collect::<Vec<_>>().join("; ")) }
                        }
                    }
                }
            }
        }
        @if let Some(n) = next { p { a rel="next" href=(n) { "Next page" } } }
    };
    Ok(html_ok(page(Some(&s), "Claims", body)))
}

/// `GET /console/claims.csv`: the search's result (every page, up to
/// `CSV_MAX` claims), one row per line.
async fn export(req: HttpRequest, state: web::Data<AppState>, q: web::Query<SearchParams>) -> Page {
    let s = staff(&req, &state).await?;
    need_read(&s)?;
    let (filter, _, mut after) = q
        .filter()
        .map_err(|e| ConsoleError::BadRequest(e.to_string()))?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let bad = |e: csv::Error| ConsoleError::BadRequest(e.to_string());
    w.write_record([
        "payer_claim_id",
        "claim_id",
        "billing_npi",
        "status",
        "received_at",
        "line",
        "procedure",
        "decision",
        "rule",
        "codes",
        "authorization",
        "reason",
    ])
    .map_err(bad)?;
    let mut n = 0;
    loop {
        let found = state
            .store()
            .search_claims(&filter, after.as_ref(), 500)
            .await?;
        let ids: Vec<&str> = found
            .claims
            .iter()
            .map(|c| c.payer_claim_id.as_str())
            .collect();
        s.actor
            .audit_each(&state, "claim.read", "claim", &ids)
            .await?;
        for c in &found.claims {
            let d = decision(c);
            for l in items(&d, "lines") {
                let t = |k: &str| l[k].as_str().unwrap_or("").to_string();
                w.write_record([
                    c.payer_claim_id.clone(),
                    c.claim_id.clone(),
                    c.billing_npi.clone(),
                    c.status.clone(),
                    c.received_at.clone(),
                    l.get("line").cloned().unwrap_or_default().to_string(),
                    t("procedure"),
                    t("decision"),
                    t("rule"),
                    codes(l),
                    t("authorization"),
                    t("reason"),
                ])
                .map_err(bad)?;
            }
        }
        n += found.claims.len();
        match found.next {
            Some(next) if n < CSV_MAX => after = crate::store::decode_cursor(&next).ok(),
            _ => break,
        }
    }
    let body = w
        .into_inner()
        .map_err(|e| ConsoleError::BadRequest(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"claims.csv\""))
        .body(body))
}

fn meaning(list: &str, code: &str) -> String {
    carc::lookup(list, code).map_or_else(String::new, |c| c.description.to_string())
}

/// `GET /console/claims/{id}`.
async fn claim(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> Page {
    let s = staff(&req, &state).await?;
    need_read(&s)?;
    let id = path.into_inner();
    let c = state
        .store()
        .claim(&id)
        .await?
        .filter(|c| s.actor.caller.may_see_npi(&c.billing_npi))
        .ok_or_else(|| ConsoleError::NotFound(format!("claim {id} not found")))?;
    s.actor.audit(&state, "claim.read", "claim", &id).await?;
    let history = state
        .store()
        .claims_by_key(&c.billing_npi, &c.claim_id)
        .await?;
    let d = decision(&c);
    // Authorization numbers a line names that are on file (a number sent
    // but not on file gets no link: there is no page to open).
    let mut on_file = std::collections::HashSet::new();
    for l in items(&d, "lines") {
        for k in ["authorization", "suggestion"] {
            if let Some(n) = l.get(k).and_then(Value::as_str) {
                if !on_file.contains(n) && state.store().authorization(n).await?.is_some() {
                    on_file.insert(n.to_string());
                }
            }
        }
    }
    let has_277ca = crate::api::has_277ca(&state, &c).await?;
    let has_835 = crate::api::stored_decision(&c)
        .map(|d| crate::api::has_835(&d))
        .unwrap_or(false);
    let rules = state.rules();
    let rule = |rid: &str| {
        rules
            .rule_set()
            .rules
            .iter()
            .find(|r| r.id == rid)
            .map(|r| (r.section.clone(), r.title.clone()))
    };
    let body = html! {
        dl.facts {
            dt { "Claim id (CLM01)" } dd { (c.claim_id) }
            dt { "Payer claim id" } dd.mono { (c.payer_claim_id) }
            dt { "Status" } dd { span class={ "status " (c.status) } { (c.status) } }
            dt { "Billing NPI" } dd { (c.billing_npi) }
            dt { "Received" } dd { (c.received_at) }
            dt { "Rule set" } dd { (c.rule_set) }
            dt { "Current" } dd { (if c.current { "yes: it answers for its claim id" } else { "no: replaced, voided or a duplicate" }) }
            @if let Some(b) = &c.batch_id { dt { "Batch" } dd { a href={ "/console/batches/" (b) } { (b) } } }
        }
        h2 { "Lines" }
        @for l in items(&d, "lines") {
            @let t = |k: &str| l[k].as_str().unwrap_or("").to_string();
            section.line {
                h3 { "Line " (l.get("line").cloned().unwrap_or_default()) ": " (t("procedure")) " " span class={ "decision " (t("decision")) } { (t("decision")) } }
                dl {
                    @if let Some(rid) = l.get("rule").and_then(Value::as_str) {
                        dt { "Rule" }
                        dd {
                            (rid)
                            @if let Some((section, title)) = rule(rid) { " · Section " (section) " · " (title) }
                        }
                    }
                    @for a in items(l, "adjustments") {
                        @let code = text(a, "carc");
                        dt { "CARC " (text(a, "group")) "-" (code) }
                        dd { (meaning("carc", code)) " (" (text(a, "amount")) ")" }
                    }
                    @for r in items(l, "remarks") {
                        @let code = r.as_str().unwrap_or("");
                        dt { "RARC " (code) } dd { (meaning("rarc", code)) }
                    }
                    @if let Some(a) = l.get("authorization").and_then(Value::as_str) {
                        dt { "Authorization" }
                        dd {
                            @if on_file.contains(a) { a href={ "/console/auths/" (a) } { (a) } }
                            @else { (a) " (not on file)" }
                        }
                    }
                    @if let Some(a) = l.get("suggestion").and_then(Value::as_str) {
                        @if on_file.contains(a) {
                            dt { "Suggestion" } dd { "Authorization " a href={ "/console/auths/" (a) } { (a) } " on file would have passed" }
                        }
                    }
                    dt { "Reason" } dd.reason { (t("reason")) }
                }
            }
        }
        h2 { "History" }
        table {
            caption { "Every claim under this billing NPI and claim id, oldest first" }
            thead { tr { th scope="col" { "Payer claim id" } th scope="col" { "Frequency" } th scope="col" { "Status" } th scope="col" { "Current" } th scope="col" { "Received" } } }
            tbody {
                @for h in &history {
                    tr {
                        td.mono { a href={ "/console/claims/" (h.payer_claim_id) } { (h.payer_claim_id) } }
                        td { (h.frequency) } td { (h.status) } td { (if h.current { "yes" } else { "no" }) } td { (h.received_at) }
                    }
                }
            }
        }
        h2 { "Downloads" }
        ul #downloads {
            li { a href={ "/console/claims/" (c.payer_claim_id) "/decision.json" } download { "Decision (JSON)" } }
            @if has_277ca {
                li { a href={ "/console/claims/" (c.payer_claim_id) "/277ca.x12" } download { "277CA acknowledgment (X12)" } }
            } @else {
                li { "No 277CA to download: the claim was stored before its facts were kept." }
            }
            @if has_835 {
                li { a href={ "/console/claims/" (c.payer_claim_id) "/835.x12" } download { "835 remittance (X12)" } }
            } @else {
                li { "No 835: only a claim denied in full has one." }
            }
        }
    };
    Ok(html_ok(page(
        Some(&s),
        &format!("Claim {}", c.claim_id),
        body,
    )))
}

/// `GET /console/claims/{id}/decision.json`: as `GET /v1/claims/{id}`.
async fn claim_json(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> Page {
    let s = staff(&req, &state).await?;
    need_read(&s)?;
    let id = path.into_inner();
    let c = state
        .store()
        .claim(&id)
        .await?
        .filter(|c| s.actor.caller.may_see_npi(&c.billing_npi))
        .ok_or_else(|| ConsoleError::NotFound(format!("claim {id} not found")))?;
    s.actor.audit(&state, "claim.read", "claim", &id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"claim-{id}.json\""),
        ))
        .json(c))
}

/// `GET /console/claims/{id}/277ca.x12` and `…/835.x12`: as
/// `GET /v1/claims/{id}?format=277ca|835` answers them.
async fn claim_x12(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Page {
    let s = staff(&req, &state).await?;
    need_read(&s)?;
    let (id, file) = path.into_inner();
    let kind = match file.as_str() {
        "277ca.x12" => crate::x12::X12Answer::Ack277ca,
        "835.x12" => crate::x12::X12Answer::Remit835,
        _ => return Err(ConsoleError::NotFound(format!("no download {file}"))),
    };
    let c = crate::api::readable_claim(&state, &s.actor, &id).await?;
    let mut r = crate::api::claim_x12(&state, &c, kind).await?;
    let name = format!("claim-{id}-{file}");
    r.headers_mut().insert(
        actix_web::http::header::CONTENT_DISPOSITION,
        actix_web::http::header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
            .map_err(|e| ConsoleError::BadRequest(e.to_string()))?,
    );
    Ok(r)
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/claims", web::get().to(search))
        .route("/claims.csv", web::get().to(export))
        .route("/claims/{id}", web::get().to(claim))
        .route("/claims/{id}/decision.json", web::get().to(claim_json))
        .route("/claims/{id}/{file}", web::get().to(claim_x12));
}
