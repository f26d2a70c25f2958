//! `/v1/admin/…`: clients, staff users, signing keys and the audit log,
//! for callers with the `admin` scope.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::guard::Actor;
use super::{ApiError, ApiResult, AppState};
use crate::access::{ClientSpec, Keys, UserSpec};
use crate::store::{AuditFilter, ClientRecord, UserRecord};

/// Runs a registration off the async threads (argon2 takes tens of
/// milliseconds); a refusal (`field: what is wrong`) is a 422 with the
/// API's problem list, `[{"field", "message"}]`.
async fn register<T: Send + 'static>(
    refused: &str,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> ApiResult<T> {
    web::block(f)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| {
            let (field, message) = e.split_once(": ").unwrap_or(("", &e));
            let problems = json!([{"field": field, "message": message}]);
            ApiError::Unprocessable(format!("{refused}: {e}"), problems)
        })
}

/// `GET /v1/admin/clients` (no secrets: only their hashes are stored).
pub(super) async fn clients(state: web::Data<AppState>) -> ApiResult {
    Ok(HttpResponse::Ok().json(json!({"clients": state.store.clients().await?})))
}

/// `POST /v1/admin/clients`: the secret is in this answer and nowhere else.
pub(super) async fn add_client(
    state: web::Data<AppState>,
    actor: Actor,
    body: web::Json<ClientSpec>,
) -> ApiResult {
    let (record, secret) = add_client_now(&state, &actor, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(json!({
        "client_id": record.id,
        "client_secret": secret,
        "name": record.name,
        "scopes": record.scopes,
        "npis": record.npis,
        "redirect_uris": record.redirect_uris,
    })))
}

/// Registers a client, audited (the admin API and the console): the
/// record and its secret, to be shown once (none for a public client).
pub async fn add_client_now(
    state: &AppState,
    actor: &Actor,
    spec: ClientSpec,
) -> ApiResult<(ClientRecord, Option<String>)> {
    let (record, secret) = register("client not registered", move || spec.register()).await?;
    // Changes are recorded before they are made: none goes unrecorded.
    actor
        .audit(state, "client.create", "client", &record.id)
        .await?;
    state.store.add_client(&record).await?;
    Ok((record, secret))
}

/// `DELETE /v1/admin/clients/{client_id}`: no more tokens for it, and the
/// tokens it has (staff tokens through a console included) are refused
/// from the next request on, on every instance. The client the caller's
/// own token came from cannot be disabled this way (409).
pub(super) async fn disable_client(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> ApiResult {
    disable_client_now(&state, &actor, &path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Disables a client, audited, at once on this instance (the API's
/// `DELETE /v1/admin/clients/{id}` and the console's Admin page); never
/// the client the actor's own token came from.
pub async fn disable_client_now(state: &AppState, actor: &Actor, id: &str) -> ApiResult<()> {
    if id == actor.caller.client_id {
        return Err(ApiError::Conflict(
            "this is the client your own token came from; disable it with a token of another client"
                .into(),
        ));
    }
    actor.audit(state, "client.disable", "client", id).await?;
    state.store.disable_client(id).await?;
    state.revoked.disable_client(id, std::time::Instant::now());
    state.keys.forget(Some(id), None);
    Ok(())
}

/// `DELETE /v1/admin/users/{user_id}`: the user can no longer sign in, and
/// the tokens issued to them are refused from the next request on.
pub(super) async fn disable_user(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> ApiResult {
    disable_user_now(&state, &actor, &path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Disables a staff user, audited, at once on this instance (the API's
/// `DELETE /v1/admin/users/{id}` and the console's Admin page).
pub async fn disable_user_now(state: &AppState, actor: &Actor, id: &str) -> ApiResult<()> {
    actor.audit(state, "user.disable", "user", id).await?;
    state.store.disable_user(id).await?;
    state.revoked.disable_user(id, std::time::Instant::now());
    state.keys.forget(None, Some(&format!("user:{id}")));
    Ok(())
}

/// `GET /v1/admin/users`.
pub(super) async fn users(state: web::Data<AppState>) -> ApiResult {
    Ok(HttpResponse::Ok().json(json!({"users": state.store.users().await?})))
}

/// `POST /v1/admin/users`: a generated password is shown in this answer
/// only.
pub(super) async fn add_user(
    state: web::Data<AppState>,
    actor: Actor,
    body: web::Json<UserSpec>,
) -> ApiResult {
    let (record, password) = add_user_now(&state, &actor, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(json!({
        "user_id": record.id,
        "username": record.username,
        "roles": record.roles,
        "password": password,
    })))
}

/// Adds a staff user, audited (the admin API and the console): the
/// record and the generated password to show once.
pub async fn add_user_now(
    state: &AppState,
    actor: &Actor,
    spec: UserSpec,
) -> ApiResult<(UserRecord, Option<String>)> {
    let (record, password) = register("user not added", move || spec.register()).await?;
    actor
        .audit(state, "user.create", "user", &record.id)
        .await?;
    state.store.add_user(&record).await?;
    Ok((record, password))
}

/// `POST /v1/admin/users/{user_id}/password`: a new password, given
/// (`{"password": …}`) or generated and shown in this answer only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordBody {
    password: Option<String>,
}

pub(super) async fn reset_password(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult {
    // No body (or `{}`): generate one.
    let given: PasswordBody = if body.iter().all(u8::is_ascii_whitespace) {
        PasswordBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("the body: {e}")))?
    };
    let id = path.into_inner();
    let password = reset_password_now(&state, &actor, &id, given.password).await?;
    Ok(HttpResponse::Ok().json(json!({"user_id": id, "password": password})))
}

/// Sets a staff user's password, audited (the admin API and the
/// console): the given one, or a generated one returned to show once.
/// Tokens already issued live out their time (at most 15 minutes);
/// disable the user to end them at once.
pub async fn reset_password_now(
    state: &AppState,
    actor: &Actor,
    id: &str,
    given: Option<String>,
) -> ApiResult<Option<String>> {
    if state.store.user(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no user {id}")));
    }
    let (hash, generated) = register("password not reset", move || {
        crate::access::new_password(given.as_deref())
    })
    .await?;
    actor.audit(state, "user.password", "user", id).await?;
    state.store.set_user_password(id, &hash).await?;
    Ok(generated)
}

/// `POST /v1/admin/keys/rotate`: a new signing key signs from now on;
/// the old ones still verify the tokens they signed.
#[derive(Debug, Deserialize)]
pub(super) struct RotateQuery {
    /// `true`: the old keys stop verifying at once (after a key leak).
    retire_old: Option<String>,
}

pub(super) async fn rotate_key(
    state: web::Data<AppState>,
    actor: Actor,
    q: web::Query<RotateQuery>,
) -> ApiResult {
    let retire_old = match q.retire_old.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "retire_old must be true or false, not {other:?}"
            )))
        }
    };
    let (kid, retired) = rotate_key_now(&state, &actor, retire_old).await?;
    Ok(HttpResponse::Created().json(json!({"kid": kid, "retired": retired})))
}

/// Makes a new signing key the one that signs, audited (the admin API
/// and the console); with `retire_old` the others stop verifying at once.
/// Answers the new key's id and how many were retired.
pub async fn rotate_key_now(
    state: &AppState,
    actor: &Actor,
    retire_old: bool,
) -> ApiResult<(String, u64)> {
    if state.pinned_key.is_some() {
        return Err(ApiError::Conflict(
            "the signing key is set by PRIORAUTH_SIGNING_KEY_FILE; rotate it there".into(),
        ));
    }
    let key = Keys::generate().map_err(|e| ApiError::Internal(e.to_string()))?;
    actor
        .audit(state, "key.rotate", "signing_key", &key.kid)
        .await?;
    state.store.add_signing_key(&key).await?;
    let retired = if retire_old {
        state.store.retire_signing_keys_except(&key.kid).await?
    } else {
        0
    };
    state.reload_keys().await;
    Ok((key.kid, retired))
}

#[derive(Debug, Deserialize)]
pub(super) struct AuditQuery {
    /// At most this many (default 100, at most 1000).
    limit: Option<i64>,
    /// Entries older than this id (paging).
    before: Option<i64>,
    /// Only this action (`claim.read`, …).
    action: Option<String>,
    /// Only this actor (a client id, `user:ID`, `cli`).
    actor: Option<String>,
    /// Only entries at or after this time (UTC).
    since: Option<String>,
    /// Only entries before this time (UTC).
    until: Option<String>,
}

/// An audit-log time bound as a query gives it (UTC): `2026-03-04`,
/// `2026-03-04T10:30`, `2026-03-04T10:30:00` or with seconds' fractions,
/// `Z` allowed. A date alone is its midnight for `since`, the next
/// midnight for `until` (so `until=2026-03-04` takes in that day).
pub fn audit_time(
    field: &str,
    value: &str,
    until: bool,
) -> Result<Option<chrono::NaiveDateTime>, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let v = v.strip_suffix('Z').unwrap_or(v);
    let bad = || {
        ApiError::BadRequest(format!(
            "{field}: {value:?} is not a UTC time (2026-03-04, 2026-03-04T10:30 or 2026-03-04T10:30:00Z)"
        ))
    };
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let day = if until {
            d.succ_opt().ok_or_else(bad)?
        } else {
            d
        };
        return Ok(Some(day.and_time(chrono::NaiveTime::MIN)));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(v, f).ok())
        .map(Some)
        .ok_or_else(bad)
}

/// `GET /v1/admin/audit`: newest first.
pub(super) async fn audit(state: web::Data<AppState>, q: web::Query<AuditQuery>) -> ApiResult {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit: 1 to 1000".into()));
    }
    let filter = AuditFilter {
        before: q.before,
        action: q.action.as_deref().filter(|a| !a.is_empty()),
        actor: q.actor.as_deref().filter(|a| !a.is_empty()),
        since: audit_time("since", q.since.as_deref().unwrap_or(""), false)?,
        until: audit_time("until", q.until.as_deref().unwrap_or(""), true)?,
    };
    let entries = state.store.audit_log(limit, &filter).await?;
    Ok(HttpResponse::Ok().json(json!({ "entries": entries })))
}
