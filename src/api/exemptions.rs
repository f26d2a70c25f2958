//! `/v1/exemptions`: gold-card exemptions (SPEC §3.5), listed, added,
//! revoked and computed. Every change is audit-logged (ids only).

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;

use super::body::{expect_media, read_body, ADMIN_BODY_LIMIT};
use super::guard::Actor;
use super::{ApiError, ApiResult, AppState};
use crate::access::Scope;
use crate::exemptions::goldcard::Params;
use crate::exemptions::{import_csv, ExemptionRecord};
use crate::store::{StoredExemption, SOURCE_IMPORT};

/// Filters of `GET /v1/exemptions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    provider_npi: Option<String>,
    rule_id: Option<String>,
    /// Revoked exemptions too.
    #[serde(default)]
    revoked: bool,
}

/// `GET /v1/exemptions`: the exemptions in force (with `revoked=true`,
/// revoked ones too); a billing system bound to NPIs sees its own only.
pub(super) async fn list(
    state: web::Data<AppState>,
    actor: Actor,
    q: web::Query<ListQuery>,
) -> ApiResult {
    let mut list = state
        .store
        .exemptions(q.provider_npi.as_deref(), q.rule_id.as_deref(), q.revoked)
        .await?;
    if let Some(own) = &actor.caller.npis {
        list.retain(|e| own.contains(&e.exemption.provider_npi));
    }
    Ok(HttpResponse::Ok().json(json!({ "exemptions": list })))
}

/// `POST /v1/exemptions`: one exemption as JSON
/// (`provider_npi, rule_id, start_date, end_date`), or a CSV of them
/// (`text/csv`, SPEC §3.5, all or nothing); rule ids must be the rule
/// set's in force.
pub(super) async fn add(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult {
    expect_media(req.headers(), &["application/json", "text/csv"])?;
    let csv = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/csv"));
    let body = read_body(req.headers(), payload, ADMIN_BODY_LIMIT).await?;
    let rules = state.rules();
    if csv {
        let list = import_csv(&body, Some(rules.rule_set())).map_err(|e| {
            ApiError::Unprocessable(
                "exemption file not imported; nothing was changed".into(),
                json!(e.problems),
            )
        })?;
        let ids: Vec<&str> = list.iter().map(|e| e.id.as_str()).collect();
        actor
            .audit(&state, "exemption.import", "exemption", &ids.join(" "))
            .await?;
        let rows: Vec<_> = list.iter().map(|e| (e.clone(), None)).collect();
        let added = state
            .store
            .add_exemptions(&rows, SOURCE_IMPORT, None)
            .await?;
        return Ok(HttpResponse::Created().json(json!({
            "imported": list.len(), "added": added.added, "known": added.known
        })));
    }
    let record: ExemptionRecord = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not an exemption: {e}")))?;
    let e = record
        .validate(Some(rules.rule_set()))
        .map_err(|p| ApiError::Unprocessable("the exemption is not valid".into(), json!(p)))?;
    if state.store.exemption(&e.id).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "exemption {} already exists (the same provider, rule and period)",
            e.id
        )));
    }
    actor
        .audit(&state, "exemption.create", "exemption", &e.id)
        .await?;
    state
        .store
        .add_exemptions(&[(e.clone(), None)], SOURCE_IMPORT, None)
        .await?;
    let stored = state
        .store
        .exemption(&e.id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("exemption {} not stored", e.id)))?;
    Ok(HttpResponse::Created().json(stored))
}

/// `DELETE /v1/exemptions/{id}`: revokes it (the row stays, with
/// `revoked_at`); lines are no longer decided by it.
pub(super) async fn revoke(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> ApiResult {
    let id = path.into_inner();
    if state.store.exemption(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("exemption {id} not found")));
    }
    actor
        .audit(&state, "exemption.revoke", "exemption", &id)
        .await?;
    let e: StoredExemption = state.store.revoke_exemption(&id, None).await?;
    Ok(HttpResponse::Ok().json(e))
}

/// Parameters of `POST /v1/exemptions/compute`, from the query string or
/// a JSON body (the body wins).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ComputeQuery {
    as_of: Option<NaiveDate>,
    lookback_months: Option<u32>,
    min_requests: Option<u32>,
    threshold: Option<Decimal>,
    period_months: Option<u32>,
    apply: Option<bool>,
}

/// Today (UTC): the API is an edge that reads the clock.
#[allow(clippy::disallowed_methods)]
fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// `POST /v1/exemptions/compute`: the gold card over the stored
/// authorizations and the rule set in force; a dry run (`claims:read` or
/// `rules:write`) unless `apply=true` (`rules:write`), which stores the
/// exemptions earned.
pub(super) async fn compute(
    state: web::Data<AppState>,
    actor: Actor,
    q: web::Query<ComputeQuery>,
    body: web::Bytes,
) -> ApiResult {
    let q = q.into_inner();
    let b: ComputeQuery = if body.iter().all(u8::is_ascii_whitespace) {
        ComputeQuery::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!(
                "the body is not a JSON object of compute parameters: {e}"
            ))
        })?
    };
    let d = Params::defaults(b.as_of.or(q.as_of).unwrap_or_else(today));
    let params = Params {
        as_of: d.as_of,
        lookback_months: b
            .lookback_months
            .or(q.lookback_months)
            .unwrap_or(d.lookback_months),
        min_requests: b.min_requests.or(q.min_requests).unwrap_or(d.min_requests),
        threshold: b.threshold.or(q.threshold).unwrap_or(d.threshold),
        period_months: b
            .period_months
            .or(q.period_months)
            .unwrap_or(d.period_months),
    };
    // Windows of more than 100 years end up before year 1 (found by
    // schemathesis: lookback_months=68261 answered a window_start of
    // "-3662-07-01", which is no date).
    if params.lookback_months > 1200 || params.period_months > 1200 {
        return Err(ApiError::BadRequest(
            "lookback_months and period_months are at most 1200 (100 years)".into(),
        ));
    }
    let apply = b.apply.or(q.apply).unwrap_or(false);
    // Reading is enough for a dry run; storing exemptions is a change.
    if apply && !actor.caller.has(Scope::RulesWrite) {
        return Err(ApiError::InsufficientScope(&[Scope::RulesWrite]));
    }
    let rules = state.rules();
    let set = rules.rule_set();
    // The ids stored are known only as they are written: the audit entry
    // goes in the same transaction.
    let who = actor.entry("exemption.apply", "exemption", "");
    let (card, added) = state
        .store
        .goldcard(set, params, apply.then_some(Some(&who)))
        .await?
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut card = card;
    if let Some(own) = &actor.caller.npis {
        // A billing system sees its own providers' rows only.
        card.rows.retain(|r| own.contains(&r.provider_npi));
    }
    let mut v = json!(card);
    if let Some(m) = v.as_object_mut() {
        m.insert("rule_set".into(), json!(set.version));
        m.insert("applied".into(), json!(added));
    }
    Ok(HttpResponse::Ok().json(v))
}
