//! `/v1/authorizations`: what the UM department approved, one at a time
//! or as a CSV import (SPEC §2.3).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::body::{expect_media, read_body, ADMIN_BODY_LIMIT};
use super::guard::Actor;
use super::{ApiError, ApiResult, AppState};
use crate::authorizations::{
    import_csv, is_x12, read_x278, x278_answer, Authorization, AuthorizationRecord,
};
use crate::store::AuthFilter;

/// 403 unless a client bound to NPIs writes only authorizations of its
/// own NPIs (payer-side callers write any).
fn own_npis<'a>(actor: &Actor, npis: impl IntoIterator<Item = &'a str>) -> ApiResult<()> {
    let Some(own) = &actor.caller.npis else {
        return Ok(());
    };
    let mut foreign: Vec<&str> = npis
        .into_iter()
        .filter(|n| !own.iter().any(|o| o == n))
        .collect();
    foreign.sort_unstable();
    foreign.dedup();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "nothing was changed: this client manages authorizations of NPIs {} only, not {}",
        own.join(", "),
        foreign.join(", ")
    )))
}

/// An authorization as the API answers it.
fn authorization_json(a: &Authorization) -> serde_json::Value {
    let mut v = json!(AuthorizationRecord::from(a));
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "units_remaining".into(),
            json!(a.remaining().map(|r| r.normalize().to_string())),
        );
    }
    v
}

/// `POST /v1/authorizations`: one authorization as JSON.
pub(super) async fn add_authorization(
    state: web::Data<AppState>,
    actor: Actor,
    body: web::Json<AuthorizationRecord>,
) -> ApiResult {
    let a = body
        .validate()
        .map_err(|p| ApiError::Unprocessable("the authorization is not valid".into(), json!(p)))?;
    own_npis(&actor, [a.provider_npi.as_str()])?;
    actor
        .audit(&state, "authorization.create", "authorization", &a.number)
        .await?;
    state.store.add_authorization(&a).await?;
    Ok(HttpResponse::Created().json(authorization_json(&a)))
}

/// `GET /v1/authorizations/{number}`.
pub(super) async fn get_authorization(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> ApiResult {
    let a = readable_authorization(&state, &actor, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(authorization_json(&a)))
}

/// The authorization a caller may read, its read audited: a billing
/// system sees only authorizations for its own NPIs, and a read names a
/// member, so it is audit-logged like claim reads (ids only).
async fn readable_authorization(
    state: &AppState,
    actor: &Actor,
    number: &str,
) -> ApiResult<crate::authorizations::Authorization> {
    let what = format!("authorization {number}");
    let a = state
        .store
        .authorization(number)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{what} not found")))?;
    actor.may_see_npi(&a.provider_npi, &what)?;
    actor
        .audit(state, "authorization.read", "authorization", number)
        .await?;
    Ok(a)
}

/// Filters of `GET /v1/authorizations` (each given must match).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    number: Option<String>,
    member: Option<String>,
    provider: Option<String>,
    status: Option<String>,
}

/// Most authorizations one list answers.
const LIST_LIMIT: u32 = 1000;

/// `GET /v1/authorizations`: authorizations by number, member, provider
/// and status; a billing system bound to NPIs sees its own only. Audited
/// (numbers only: a member filter is PHI).
pub(super) async fn list_authorizations(
    state: web::Data<AppState>,
    actor: Actor,
    q: web::Query<ListQuery>,
) -> ApiResult {
    let q = q.into_inner();
    let status = match q.status {
        None => None,
        Some(s) => match s.parse::<crate::authorizations::AuthStatus>() {
            Ok(st) => Some(st.as_str().to_string()),
            Err(()) => {
                return Err(ApiError::BadRequest(format!(
                    "status {s}: not one of approved, denied, pending, cancelled"
                )))
            }
        },
    };
    let filter = AuthFilter {
        number: q.number,
        member_id: q.member,
        provider_npi: q.provider,
        status,
    };
    let mut list = state.store.list_authorizations(&filter, LIST_LIMIT).await?;
    if let Some(own) = &actor.caller.npis {
        list.retain(|a| own.contains(&a.provider_npi));
    }
    let numbers: Vec<&str> = list.iter().map(|a| a.number.as_str()).collect();
    actor
        .audit(
            &state,
            "authorization.list",
            "authorization",
            &numbers.join(" "),
        )
        .await?;
    let items: Vec<serde_json::Value> = list.iter().map(authorization_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "authorizations": items })))
}

/// `null` and absent are different in a patch: absent leaves the field,
/// `null` clears it (units: unlimited).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The fields a `PATCH` may change; absent fields stay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthorizationPatch {
    member_id: Option<String>,
    provider_npi: Option<String>,
    codes: Option<String>,
    #[serde(default, deserialize_with = "present")]
    units: Option<Option<String>>,
    units_used: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    patient_birth_date: Option<Option<String>>,
    unit_type: Option<String>,
}

/// `PATCH /v1/authorizations/{number}`.
pub(super) async fn patch_authorization(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
    body: web::Json<AuthorizationPatch>,
) -> ApiResult {
    let number = path.into_inner();
    let p = body.into_inner();
    if actor.caller.npis.is_some() {
        // A client bound to NPIs changes only its own authorizations.
        let what = format!("authorization {number}");
        let current = state
            .store
            .authorization(&number)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("{what} not found")))?;
        actor.may_see_npi(&current.provider_npi, &what)?;
        if let Some(npi) = &p.provider_npi {
            own_npis(&actor, [npi.as_str()])?;
        }
    }
    actor
        .audit(&state, "authorization.update", "authorization", &number)
        .await?;
    let (a, readjudicated) = state
        .store
        .update_authorization_counted(&number, |r| {
            if let Some(v) = p.member_id {
                r.member_id = v;
            }
            if let Some(v) = p.provider_npi {
                r.provider_npi = v;
            }
            if let Some(v) = p.codes {
                r.codes = v;
            }
            if let Some(v) = p.units {
                r.units = v;
            }
            if let Some(v) = p.units_used {
                r.units_used = Some(v);
            }
            if let Some(v) = p.start_date {
                r.start_date = v;
            }
            if let Some(v) = p.end_date {
                r.end_date = v;
            }
            if let Some(v) = p.status {
                r.status = v;
            }
            if let Some(v) = p.patient_birth_date {
                r.patient_birth_date = v;
            }
            if let Some(v) = p.unit_type {
                r.unit_type = Some(v);
            }
        })
        .await?;
    let mut answer = authorization_json(&a);
    if let Some(m) = answer.as_object_mut() {
        // Pended claims it released, decided again (issue 18).
        m.insert("readjudicated".into(), json!(readjudicated));
    }
    Ok(HttpResponse::Ok().json(answer))
}

/// `POST /v1/authorizations/import`: a CSV (SPEC §2.3), all or nothing.
pub(super) async fn import_authorizations(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult {
    expect_media(
        req.headers(),
        &[
            "text/csv",
            "text/plain",
            "application/octet-stream",
            "application/edi-x12",
        ],
    )?;
    let body = read_body(req.headers(), payload, ADMIN_BODY_LIMIT).await?;
    // X12 278 responses or the CSV of SPEC §2.3, told apart by content.
    let x278 = if is_x12(&body) {
        let out = read_x278(&body);
        if let Some(why) = out.refusal() {
            return Err(ApiError::Unprocessable(
                format!("authorization file not imported; nothing was changed: {why}"),
                json!({"rejected": out.rejected, "envelope_errors": out.envelope_errors}),
            ));
        }
        Some(out)
    } else {
        None
    };
    let auths = match &x278 {
        Some(out) => out.authorizations.clone(),
        None => import_csv(&body).map_err(|e| {
            ApiError::Unprocessable(
                "authorization file not imported; nothing was changed".into(),
                json!(e.problems),
            )
        })?,
    };
    own_npis(&actor, auths.iter().map(|a| a.provider_npi.as_str()))?;
    if actor.caller.npis.is_some() {
        // An import replaces numbers already on file: those must be the
        // client's own too, or it could take another provider's over.
        for a in &auths {
            if let Some(current) = state.store.authorization(&a.number).await? {
                own_npis(&actor, [current.provider_npi.as_str()]).map_err(|_| {
                    ApiError::Forbidden(format!(
                        "nothing was changed: authorization {} on file belongs to another provider",
                        a.number
                    ))
                })?;
            }
        }
    }
    // One record per file, naming every authorization number it holds.
    let numbers: Vec<&str> = auths.iter().map(|a| a.number.as_str()).collect();
    actor
        .audit(
            &state,
            "authorization.import",
            "authorization",
            &numbers.join(" "),
        )
        .await?;
    let done = state.store.import_authorizations_counted(&auths).await?;
    if let Some(out) = &x278 {
        let mut answer = x278_answer(out, done.added, done.replaced);
        if let Some(m) = answer.as_object_mut() {
            m.insert("readjudicated".into(), json!(done.readjudicated));
        }
        return Ok(HttpResponse::Ok().json(answer));
    }
    Ok(HttpResponse::Ok().json(json!({
        "imported": auths.len(), "added": done.added, "replaced": done.replaced,
        "readjudicated": done.readjudicated,
    })))
}

/// `GET /v1/authorizations/{number}/ledger`: which claims consumed how
/// many units of it, in the order they did, and what was given back.
pub(super) async fn ledger(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> ApiResult {
    let number = path.into_inner();
    let a = readable_authorization(&state, &actor, &number).await?;
    let entries = state.store.ledger(&number).await?;
    Ok(HttpResponse::Ok().json(json!({
        "number": number,
        "units": a.units.map(|u| u.normalize().to_string()),
        "units_used": a.units_used.normalize().to_string(),
        "units_remaining": a.remaining().map(|r| r.normalize().to_string()),
        "entries": entries,
    })))
}
