//! What payer staff manage: the rule set, authorizations, the code list.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::claims::{expect_media, read_body};
use super::guard::Actor;
use super::{ApiError, ApiResult, AppState};
use crate::access::Keys;
use crate::adjudication::codes;
use crate::authorizations::{import_csv, Authorization, AuthorizationRecord};
use crate::cli::lookup::{check_answer, rule_json, CheckQuery};
use crate::rules::{RuleSet, RulesIndex};

/// Rule files and authorization CSVs are small; 8 MiB is generous.
const ADMIN_BODY_LIMIT: u64 = 8 * 1024 * 1024;

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

/// `PUT /v1/rules`: a TOML rule set, validated, stored and swapped in (the
/// answer is the new set, as `GET` lists it); a bad one is refused with
/// every load problem and the old set stays.
pub(super) async fn put_rules(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult {
    expect_media(
        req.headers(),
        &["application/toml", "text/plain", "application/octet-stream"],
    )?;
    let body = read_body(req.headers(), payload, ADMIN_BODY_LIMIT).await?;
    let text = String::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("the rule set is not UTF-8 text".into()))?;
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

/// Checkpoints the SQLite WAL four times a second, beside the writers
/// (see `Store::checkpoint`): small, frequent checkpoints keep each pause
/// short (measured: every 1 s and every 5 s gave longer latency tails).
pub(super) fn checkpoints(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(Duration::from_millis(250)).await;
            if let Err(e) = state.store.checkpoint().await {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
    });
}

/// Keeps this instance on the rule set another instance stored.
pub(super) fn poll_rules(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(Duration::from_secs(2)).await;
            let Ok(Some(id)) = state.store.active_rules_id().await else {
                continue;
            };
            reload_keys(&state).await;
            if id == state.rules_id() {
                continue;
            }
            if let Ok(Some(stored)) = state.store.active_rules().await {
                match RuleSet::from_toml(&stored.source) {
                    Ok(set) => {
                        state.swap_rules(stored.id, RulesIndex::new(set));
                        tracing::info!(version = %stored.version, "rule set picked up from the store");
                    }
                    Err(e) => tracing::error!(error = %e, "stored rule set cannot be loaded"),
                }
            }
        }
    });
}

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

/// Loads the signing keys at start; makes and stores the first key when
/// there is none (and no configured key).
pub(super) async fn first_keys(state: &web::Data<AppState>) -> anyhow::Result<()> {
    let mut stored = state.store.signing_keys().await?;
    if stored.is_empty() && state.pinned_key.is_none() {
        let key = Keys::generate()?;
        state.store.add_signing_key(&key).await?;
        tracing::info!(kid = %key.kid, "token signing key generated");
        stored = state.store.signing_keys().await?;
    }
    let live = crate::access::live_keys(&stored, crate::store::now());
    state.keys.install(&live, state.pinned_key.as_ref())?;
    Ok(())
}

/// Picks up keys another instance made (a rotation), keeping the current
/// set when the store cannot be read.
pub(super) async fn reload_keys(state: &AppState) {
    match state.store.signing_keys().await {
        Ok(stored) => {
            let live = crate::access::live_keys(&stored, crate::store::now());
            if let Err(e) = state.keys.install(&live, state.pinned_key.as_ref()) {
                tracing::error!(error = %e, "stored signing keys cannot be used");
            }
        }
        Err(e) => tracing::warn!(error = %e, "signing keys not reloaded"),
    }
}

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
    let number = path.into_inner();
    let what = format!("authorization {number}");
    let a = state
        .store
        .authorization(&number)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{what} not found")))?;
    // A billing system sees only authorizations for its own NPIs.
    actor.may_see_npi(&a.provider_npi, &what)?;
    // It names a member: audit-logged like claim reads (ids only).
    actor
        .audit(&state, "authorization.read", "authorization", &number)
        .await?;
    Ok(HttpResponse::Ok().json(authorization_json(&a)))
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
    let a = state
        .store
        .update_authorization(&number, |r| {
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
        })
        .await?;
    Ok(HttpResponse::Ok().json(authorization_json(&a)))
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
        &["text/csv", "text/plain", "application/octet-stream"],
    )?;
    let body = read_body(req.headers(), payload, ADMIN_BODY_LIMIT).await?;
    let auths = import_csv(&body).map_err(|e| {
        ApiError::Unprocessable(
            "authorization file not imported; nothing was changed".into(),
            json!(e.problems),
        )
    })?;
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
    let (added, replaced) = state.store.import_authorizations(&auths).await?;
    Ok(HttpResponse::Ok().json(json!({
        "imported": auths.len(), "added": added, "replaced": replaced
    })))
}
