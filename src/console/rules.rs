//! Rules (the set in force, earlier versions, a new set uploaded with its
//! problems by rule and field, or with what it would change on the stored
//! claims before it is put in force), "Does it need PA?" and the CARC/RARC
//! catalogue.

use std::sync::Arc;

use actix_web::{web, HttpRequest};
use base64::Engine as _;
use chrono::NaiveDate;
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use super::session::staff;
use super::{csrf_field, field, html_ok, page, small_form, ConsoleError, Page};
use crate::access::Scope;
use crate::adjudication::impact::ImpactReport;
use crate::api::AppState;
use crate::model::carc::CATALOGUE;
use crate::rules::query::{check_answer, CheckQuery};
use crate::rules::{RuleProblem, RuleSet, RulesIndex};
use crate::store::ReplayWindow;

/// The largest rule file the console takes (as `PUT /v1/rules`).
const RULES_LIMIT: usize = 4 << 20;

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

async fn rules_page(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    outcome: Option<maud::Markup>,
) -> Page {
    let s = staff(req, state).await?;
    let index = state.rules();
    let set = index.rule_set();
    let history = state.store().rule_set_history().await?;
    let body = html! {
        @if let Some(o) = outcome { (o) }
        p { "In force: version " strong { (index.version()) } ", " (set.rules.len()) " rules." }
        table {
            caption { "Rules in force, in file order" }
            thead { tr { th scope="col" { "Rule" } th scope="col" { "Section" } th scope="col" { "Title" } th scope="col" { "Codes" } th scope="col" { "Effective" } } }
            tbody {
                @for r in &set.rules {
                    tr {
                        td.mono { (r.id) } td { (r.section) } td { (r.title) }
                        td { (r.codes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")) }
                        td { (r.effective) }
                    }
                }
            }
        }
        h2 { "Versions" }
        table {
            caption { "Every rule set stored, newest first" }
            thead { tr { th scope="col" { "Version" } th scope="col" { "Loaded" } th scope="col" { "In force" } } }
            tbody {
                @for (version, loaded, active) in &history {
                    tr { td { (version) } td { (loaded) } td { (if *active { "yes" } else { "" }) } }
                }
            }
        }
        @if s.actor.caller.has(Scope::RulesWrite) {
            h2 { "Upload a new rule set" }
            p {
                "The set is checked, then decided on the stored claims received in the dates given "
                "(all of them when none are) beside the set in force: you see what it would change "
                "before you put it in force."
            }
            form method="post" action="/console/rules" enctype="multipart/form-data" {
                (csrf_field(&s))
                div.field {
                    label for="f-rules" { "Rule set (TOML)" }
                    input id="f-rules" name="rules" type="file" accept=".toml,text/plain" required;
                }
                (field("since", "Claims received from", None, "date"))
                (field("until", "Claims received until", None, "date"))
                div.actions { button type="submit" { "Check and show its impact" } }
            }
        }
    };
    Ok(html_ok(page(Some(&s), "Rules", body)))
}

async fn rules(req: HttpRequest, state: web::Data<AppState>) -> Page {
    rules_page(&req, &state, None).await
}

fn problems_table(problems: &[RuleProblem]) -> maud::Markup {
    html! {
        div.problems role="alert" {
            p { "The rule set was not put in force; the set in force stays. " (problems.len()) " problem(s):" }
            table {
                caption { "Problems by rule and field" }
                thead { tr { th scope="col" { "Rule" } th scope="col" { "Field" } th scope="col" { "Problem" } } }
                tbody {
                    @for p in problems {
                        tr { td { (p.rule.as_deref().unwrap_or("(top level)")) } td.mono { (p.field) } td { (p.message) } }
                    }
                }
            }
        }
    }
}

/// A date field of a form: blank is none.
fn date_field(
    fields: &std::collections::HashMap<String, Vec<u8>>,
    name: &str,
    label: &str,
) -> Result<Option<NaiveDate>, ConsoleError> {
    let v = fields
        .get(name)
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .unwrap_or_default();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| ConsoleError::BadRequest(format!("{label} {v}: not a date (YYYY-MM-DD)")))
}

fn need_rules_write(s: &super::session::Staff) -> Result<(), ConsoleError> {
    if s.actor.caller.has(Scope::RulesWrite) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "putting a rule set in force needs the rules:write role".into(),
        ))
    }
}

/// `POST /console/rules`: the upload, refused with every problem, or
/// decided on the stored claims beside the set in force and shown with
/// a form that puts it in force.
async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: actix_multipart::Multipart,
) -> Page {
    let s = staff(&req, &state).await?;
    let fields = small_form(&s, form, RULES_LIMIT).await?;
    need_rules_write(&s)?;
    let text = fields
        .get("rules")
        .and_then(|b| String::from_utf8(b.clone()).ok())
        .ok_or_else(|| ConsoleError::BadRequest("choose a UTF-8 TOML rule file".into()))?;
    let window = ReplayWindow {
        since: date_field(&fields, "since", "Claims received from")?,
        until: date_field(&fields, "until", "Claims received until")?,
    };
    if let (Some(a), Some(b)) = (window.since, window.until) {
        if a > b {
            return Err(ConsoleError::BadRequest(format!(
                "claims received from {a} until {b}: the first date is after the last"
            )));
        }
    }
    let set = match RuleSet::from_toml(&text) {
        Err(e) => return rules_page(&req, &state, Some(problems_table(&e.problems))).await,
        Ok(set) => set,
    };
    let version = set.version.clone();
    let n = set.rules.len();
    let candidate = RulesIndex::new(set);
    let in_force = state.rules();
    let report = state
        .store()
        .replay(in_force, Arc::new(candidate), window)
        .await?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let body = html! {
        p role="status" {
            "Rule set " strong { (version) } " (" (n) " rules) loads. It is " strong { "not in force yet" } "."
        }
        (impact_report(&report, window))
        form method="post" action="/console/rules/activate" enctype="multipart/form-data" {
            (csrf_field(&s))
            input type="hidden" name="rules" value=(encoded);
            div.actions {
                button type="submit" { "Put " (version) " in force" }
                " "
                a id="cancel" href="/console/rules" { "Cancel" }
            }
        }
    };
    Ok(html_ok(page(
        Some(&s),
        &format!("What rule set {version} would change"),
        body,
    )))
}

/// The impact report: counts, then transitions, rules and providers.
fn impact_report(r: &ImpactReport, w: ReplayWindow) -> maud::Markup {
    let window = match (w.since, w.until) {
        (None, None) => "at any time".to_string(),
        (Some(a), None) => format!("from {a}"),
        (None, Some(b)) => format!("until {b}"),
        (Some(a), Some(b)) => format!("from {a} to {b}"),
    };
    html! {
        section.impact aria-labelledby="impact-h" {
            h2 id="impact-h" { "Impact on the stored claims" }
            dl.facts {
                dt { "Compared with" } dd { "rule set " (r.rule_set_in_force) ", in force" }
                dt { "Claims compared" } dd { (r.claims) " live claims received " (window) }
                @if r.claims_without_facts > 0 {
                    dt { "Not compared" } dd { (r.claims_without_facts) " claims stored without their facts" }
                }
                dt { "Lines compared" } dd { (r.lines) }
                dt { "Lines that change" } dd { (r.lines_changed) " on " (r.claims_changed) " claims" }
                dt { "Denied amount" } dd { (r.denied_amount.in_force) " now, " (r.denied_amount.candidate) " under the candidate (change " (r.denied_amount.change) ")" }
            }
            @if r.lines_changed == 0 {
                p { "No line's decision would change." }
            } @else {
                table {
                    caption { "Lines per change of decision" }
                    thead { tr { th scope="col" { "Now" } th scope="col" { "Under the candidate" } th scope="col" { "Lines" } } }
                    tbody {
                        @for t in &r.transitions {
                            tr { td { (t.from.as_str()) } td { (t.to.as_str()) } td.num { (t.lines) } }
                        }
                    }
                }
                table {
                    caption { "Changed lines per rule" }
                    thead { tr { th scope="col" { "Rule" } th scope="col" { "Claims" } th scope="col" { "Lines" } th scope="col" { "Denied amount change" } } }
                    tbody {
                        @for x in &r.rules {
                            tr { td.mono { (x.rule_id.as_deref().unwrap_or("(no rule)")) } td.num { (x.claims_changed) } td.num { (x.lines_changed) } td.num { (x.denied_amount_change) } }
                        }
                    }
                }
                table {
                    caption { "Billing providers most affected" }
                    thead { tr { th scope="col" { "Billing NPI" } th scope="col" { "Claims" } th scope="col" { "Lines" } th scope="col" { "Denied amount change" } } }
                    tbody {
                        @for p in &r.providers {
                            tr { td.mono { (p.billing_npi) } td.num { (p.claims_changed) } td.num { (p.lines_changed) } td.num { (p.denied_amount_change) } }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /console/rules/activate`: the set previewed, checked again and
/// put in force as `PUT /v1/rules` does.
async fn activate(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: actix_multipart::Multipart,
) -> Page {
    let s = staff(&req, &state).await?;
    // Base64 makes the text a third longer.
    let fields = small_form(&s, form, RULES_LIMIT * 2).await?;
    need_rules_write(&s)?;
    let text = fields
        .get("rules")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ConsoleError::BadRequest("the form carries no rule set".into()))?;
    let outcome = match RuleSet::from_toml(&text) {
        Err(e) => problems_table(&e.problems),
        Ok(set) => {
            s.actor
                .audit(&state, "rules.replace", "rule_set", &set.version)
                .await?;
            let id = state.store().activate_rules(&set.version, &text).await?;
            let version = set.version.clone();
            let n = set.rules.len();
            tracing::info!(version = %version, rules = n, "rule set swapped in (console)");
            state.swap_rules(id, RulesIndex::new(set));
            html! { p.ok role="status" { "Rule set " (version) " is in force (" (n) " rules)." } }
        }
    };
    rules_page(&req, &state, Some(outcome)).await
}

/// The "does it need PA?" form as a browser sends it: blank is not given.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
struct CheckForm {
    code: Option<String>,
    lob: Option<String>,
    date: Option<String>,
    pos: Option<String>,
    units: Option<String>,
    charge: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// `GET /console/check`.
async fn check(req: HttpRequest, state: web::Data<AppState>, q: web::Query<CheckForm>) -> Page {
    let s = staff(&req, &state).await?;
    let f = q.into_inner();
    let asked = given(&f.code).is_some();
    let answer = if asked {
        let bad = |what: &str, v: &str| ConsoleError::BadRequest(format!("{what} {v}: not valid"));
        let query = CheckQuery {
            code: given(&f.code),
            lob: given(&f.lob),
            pos: given(&f.pos),
            date: given(&f.date)
                .map(|d| d.parse().map_err(|_| bad("date", &d)))
                .transpose()?,
            units: given(&f.units)
                .map(|d| d.parse().map_err(|_| bad("units", &d)))
                .transpose()?,
            charge: given(&f.charge)
                .map(|d| d.parse().map_err(|_| bad("charge", &d)))
                .transpose()?,
            ..CheckQuery::default()
        };
        Some(check_answer(&state.rules(), &query).map_err(ConsoleError::BadRequest)?)
    } else {
        None
    };
    let lob = given(&f.lob).unwrap_or_else(|| "commercial".into());
    let body = html! {
        form.search method="get" action="/console/check" {
            (field("code", "Procedure code (CPT/HCPCS)", f.code.as_deref(), "text"))
            div.field {
                label for="f-lob" { "Line of business" }
                select id="f-lob" name="lob" {
                    @for l in ["commercial", "medicare", "medicaid"] {
                        option value=(l) selected[lob == l] { (l) }
                    }
                }
            }
            (field("date", "Service date", f.date.as_deref(), "date"))
            (field("pos", "Place of service", f.pos.as_deref(), "text"))
            (field("units", "Units", f.units.as_deref(), "text"))
            (field("charge", "Charge", f.charge.as_deref(), "text"))
            div.actions { button type="submit" { "Check" } }
        }
        @if let Some(a) = answer {
            div.answer role="status" {
                @if a.get("requires_authorization") == Some(&Value::Bool(true)) {
                    p.needs { "Prior authorization is required." }
                    dl {
                        dt { "Rule" } dd.mono { (text(&a, "rule")) }
                        dt { "Section" } dd { (text(&a, "section")) }
                        dt { "Title" } dd { (text(&a, "title")) }
                        dt { "Rule set" } dd { (text(&a, "rule_set")) }
                    }
                } @else {
                    p.no { "No prior authorization is required under rule set " (text(&a, "rule_set")) "." }
                }
            }
        }
    };
    Ok(html_ok(page(Some(&s), "Does it need PA?", body)))
}

#[derive(Debug, Deserialize)]
struct CodesQuery {
    q: Option<String>,
}

/// `GET /console/codes`: the catalogue, filtered by code or words.
async fn codes(req: HttpRequest, state: web::Data<AppState>, q: web::Query<CodesQuery>) -> Page {
    let s = staff(&req, &state).await?;
    let words = given(&q.q).unwrap_or_default().to_lowercase();
    let body = html! {
        form.search method="get" action="/console/codes" {
            (field("q", "Code or words", Some(&words), "search"))
            div.actions { button type="submit" { "Search" } }
        }
        table {
            caption { "CARC and RARC codes priorauth uses or explains" }
            thead { tr { th scope="col" { "List" } th scope="col" { "Code" } th scope="col" { "Meaning" } th scope="col" { "How priorauth uses it" } th scope="col" { "Active" } } }
            tbody {
                @for c in CATALOGUE.iter().filter(|c| words.is_empty() || c.code.to_lowercase() == words || c.description.to_lowercase().contains(&words) || c.used_for.to_lowercase().contains(&words)) {
                    tr { td { (c.list.to_uppercase()) } td.mono { (c.code) } td { (c.description) } td { (c.used_for) } td { (if c.active { "yes" } else { "no (deactivated)" }) } }
                }
            }
        }
    };
    Ok(html_ok(page(Some(&s), "Codes", body)))
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/rules", web::get().to(rules))
        .route("/rules", web::post().to(upload))
        .route("/rules/activate", web::post().to(activate))
        .route("/check", web::get().to(check))
        .route("/codes", web::get().to(codes));
}
