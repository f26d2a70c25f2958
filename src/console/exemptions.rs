//! Gold-card exemptions (SPEC §3.5, issue 19 point 2): a provider's
//! exemptions, in force and (when asked) revoked, each with the evidence
//! behind it: for a computed one the rule set, the window, the counts,
//! the rate against the threshold and the authorizations counted.

use actix_web::{web, HttpRequest};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::session::{staff, Staff};
use super::{field, html_ok, page, ConsoleError, Page};
use crate::access::Scope;
use crate::api::AppState;
use crate::store::{StoredExemption, SOURCE_GOLDCARD};

/// Most exemptions one page shows.
const SHOWN: usize = 200;

fn need_read(s: &Staff) -> Result<(), ConsoleError> {
    if s.actor.caller.has(Scope::ClaimsRead) || s.actor.caller.has(Scope::RulesWrite) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "exemptions need the claims:read or rules:write role".into(),
        ))
    }
}

#[derive(Debug, Default, Deserialize)]
struct ExemptionsForm {
    provider: Option<String>,
    rule: Option<String>,
    revoked: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// A field of the evidence as text ("" when absent).
fn ev(e: &Value, k: &str) -> String {
    match e.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn evidence(x: &StoredExemption) -> Markup {
    let Some(e) = x.evidence.as_ref().filter(|_| x.source == SOURCE_GOLDCARD) else {
        return html! {
            p { "Imported (" (x.source) "): staff granted it; no computed evidence is kept." }
        };
    };
    let auths: Vec<&str> = e
        .get("authorizations")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let rate = ev(e, "rate");
    html! {
        dl.facts {
            dt { "Earned by" } dd { "the gold-card computation as of " (ev(e, "as_of")) " under rule set " (ev(e, "rule_set")) }
            dt { "Requests counted" } dd { "authorizations starting " (ev(e, "window_start")) " to " (ev(e, "window_end")) }
            dt { "Requests" } dd { (ev(e, "requests")) " (at least " (ev(e, "min_requests")) " needed)" }
            dt { "Approved" } dd { (ev(e, "approved")) }
            dt { "Denied" } dd { (ev(e, "denied")) }
            dt { "Approval rate" } dd { (if rate.is_empty() { "-".to_string() } else { rate }) " (at least " (ev(e, "threshold")) " needed)" }
            dt { "Authorizations" }
            dd {
                @for (i, n) in auths.iter().enumerate() {
                    @if i > 0 { ", " }
                    a.mono href={ "/console/auths/" (n) } { (n) }
                }
            }
        }
    }
}

/// `GET /console/exemptions?provider=&rule=&revoked=on`.
async fn list(req: HttpRequest, state: web::Data<AppState>, q: web::Query<ExemptionsForm>) -> Page {
    let s = staff(&req, &state).await?;
    need_read(&s)?;
    let f = q.into_inner();
    let provider = given(&f.provider);
    let rule = given(&f.rule);
    let revoked = f.revoked.is_some();
    let mut found = state
        .store()
        .exemptions(provider.as_deref(), rule.as_deref(), revoked)
        .await?;
    let more = found.len() > SHOWN;
    found.truncate(SHOWN);
    let body = html! {
        form.search method="get" action="/console/exemptions" {
            (field("provider", "Provider NPI", provider.as_deref(), "text"))
            (field("rule", "Rule id", rule.as_deref(), "text"))
            div.check {
                input id="f-revoked" name="revoked" type="checkbox" checked[revoked];
                label for="f-revoked" { "Revoked ones too" }
            }
            div.actions { button type="submit" { "Show" } }
        }
        @if found.is_empty() {
            p { "No exemption matches." }
        } @else {
            p { (found.len()) " exemption(s)" @if more { ", the first " (SHOWN) " shown" } "." }
        }
        @for x in &found {
            @let e = &x.exemption;
            section.line aria-labelledby={ "ex-" (e.id) } {
                h2 id={ "ex-" (e.id) } { (e.id) }
                dl.facts {
                    dt { "Provider" } dd.mono { (e.provider_npi) }
                    dt { "Rule" } dd.mono { (e.rule_id) }
                    dt { "Period" } dd { (e.start_date) " to " (e.end_date) }
                    dt { "Stored" } dd { (x.created_at) }
                    dt { "Status" }
                    dd { @match &x.revoked_at { Some(at) => { "revoked " (at) }, None => { "in force" } } }
                }
                h3 { "Evidence" }
                (evidence(x))
            }
        }
    };
    let title = match &provider {
        Some(p) => format!("Exemptions of provider {p}"),
        None => "Exemptions".to_string(),
    };
    Ok(html_ok(page(Some(&s), &title, body)))
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/exemptions", web::get().to(list));
}
