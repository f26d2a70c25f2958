//! `/v1/rules` and `/v1/codes`: the rule set in force, what it says of one
//! service, a new set put in force, and the CARC/RARC catalogue.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::body::{expect_media, read_body, ADMIN_BODY_LIMIT};
use super::guard::Actor;
use super::{ApiError, ApiResult, AppState};
use crate::model::carc as codes;
use crate::rules::query::{check_answer, rule_json, CheckQuery};
use crate::rules::{RuleSet, RulesIndex};
use crate::store::ReplayWindow;

/// `GET /v1/codes/{list}/{code}`.
pub(super) async fn code(path: web::Path<(String, String)>) -> ApiResult {
    let (list, code) = path.into_inner();
    let list = list.to_ascii_lowercase();
    if list != "carc" && list != "rarc" {
        return Err(ApiError::NotFound(format!(
            "no code list {list}: use carc or rarc"
        )));
    }
    match codes::lookup(&list, &code) {
        Some(info) => Ok(HttpResponse::Ok().json(info)),
        None => Err(ApiError::NotFound(format!(
            "{list} {code} is not in priorauth's catalogue"
        ))),
    }
}

/// `GET /v1/rules`.
pub(super) async fn rules(state: web::Data<AppState>) -> HttpResponse {
    let index = state.rules();
    let list: Vec<_> = index.rule_set().rules.iter().map(rule_json).collect();
    HttpResponse::Ok().json(json!({"version": index.version(), "rules": list}))
}

/// `GET /v1/rules/check?code=&date=&lob=&pos=…`.
pub(super) async fn check(state: web::Data<AppState>, q: web::Query<CheckQuery>) -> ApiResult {
    check_answer(&state.rules(), &q)
        .map(|a| HttpResponse::Ok().json(a))
        .map_err(ApiError::BadRequest)
}

/// The window of `POST /v1/rules/impact`: receipt dates, both included.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImpactQuery {
    since: Option<chrono::NaiveDate>,
    until: Option<chrono::NaiveDate>,
}

/// `POST /v1/rules/impact?since=&until=`: a candidate TOML rule set, and
/// what it would decide on the stored claims received in the window
/// against the set in force (issue 19). Nothing is consumed or stored; a
/// bad set is refused with every load problem.
pub(super) async fn impact(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult {
    let q = web::Query::<ImpactQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("bad query: {e}")))?
        .into_inner();
    if let (Some(s), Some(u)) = (q.since, q.until) {
        if s > u {
            return Err(ApiError::BadRequest(format!(
                "since {s} is after until {u}"
            )));
        }
    }
    let text = rule_set_text(&req, payload).await?;
    let set = RuleSet::from_toml(&text).map_err(|e| {
        ApiError::Unprocessable("candidate rule set not loaded".into(), json!(e.problems))
    })?;
    let candidate = RulesIndex::new(set);
    let in_force = state.rules();
    let window = ReplayWindow {
        since: q.since,
        until: q.until,
    };
    let report = state
        .store
        .replay(in_force, Arc::new(candidate), window)
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The TOML body of a rule-set upload (`PUT /v1/rules`, an impact
/// replay): its media type checked, read within the admin body limit.
async fn rule_set_text(req: &HttpRequest, payload: web::Payload) -> ApiResult<String> {
    expect_media(
        req.headers(),
        &["application/toml", "text/plain", "application/octet-stream"],
    )?;
    let body = read_body(req.headers(), payload, ADMIN_BODY_LIMIT).await?;
    String::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("the rule set is not UTF-8 text".into()))
}

/// `PUT /v1/rules`: a TOML rule set, validated, stored and swapped in (the
/// answer is the new set, as `GET` lists it); a bad one is refused with
/// every load problem and the old set stays.
pub(super) async fn put_rules(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult {
    let text = rule_set_text(&req, payload).await?;
    let set = RuleSet::from_toml(&text).map_err(|e| {
        ApiError::Unprocessable(
            format!(
                "rule set not loaded; the rule set in force stays ({})",
                state.rules().version()
            ),
            json!(e.problems),
        )
    })?;
    // Changes are recorded before they are made: no change goes unrecorded.
    actor
        .audit(&state, "rules.replace", "rule_set", &set.version)
        .await?;
    let id = state.store.activate_rules(&set.version, &text).await?;
    tracing::info!(version = %set.version, rules = set.rules.len(), "rule set swapped in");
    state.swap_rules(id, RulesIndex::new(set));
    Ok(rules(state).await)
}
