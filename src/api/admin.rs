//! `/v1/admin/…`: clients, staff users, signing keys and the audit log,
//! for callers with the `admin` scope.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::guard::Actor;
use super::{ApiError, ApiResult, AppState};
use crate::access::{ClientSpec, Keys, UserSpec};

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
    let spec = body.into_inner();
    let (record, secret) = register("client not registered", move || spec.register()).await?;
    // Changes are recorded before they are made: none goes unrecorded.
    actor
        .audit(&state, "client.create", "client", &record.id)
        .await?;
    state.store.add_client(&record).await?;
    Ok(HttpResponse::Created().json(json!({
        "client_id": record.id,
        "client_secret": secret,
        "name": record.name,
        "scopes": record.scopes,
        "npis": record.npis,
        "redirect_uris": record.redirect_uris,
    })))
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
    let id = path.into_inner();
    if id == actor.caller.client_id {
        return Err(ApiError::Conflict(
            "this is the client your own token came from; disable it with a token of another client"
                .into(),
        ));
    }
    actor.audit(&state, "client.disable", "client", &id).await?;
    state.store.disable_client(&id).await?;
    state.revoked.disable_client(&id, std::time::Instant::now());
    state.keys.forget(Some(&id), None);
    Ok(HttpResponse::NoContent().finish())
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
    let spec = body.into_inner();
    let (record, password) = register("user not added", move || spec.register()).await?;
    actor
        .audit(&state, "user.create", "user", &record.id)
        .await?;
    state.store.add_user(&record).await?;
    Ok(HttpResponse::Created().json(json!({
        "user_id": record.id,
        "username": record.username,
        "roles": record.roles,
        "password": password,
    })))
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
    if state.pinned_key.is_some() {
        return Err(ApiError::Conflict(
            "the signing key is set by PRIORAUTH_SIGNING_KEY_FILE; rotate it there".into(),
        ));
    }
    let key = Keys::generate().map_err(|e| ApiError::Internal(e.to_string()))?;
    actor
        .audit(&state, "key.rotate", "signing_key", &key.kid)
        .await?;
    state.store.add_signing_key(&key).await?;
    let retired = if retire_old {
        state.store.retire_signing_keys_except(&key.kid).await?
    } else {
        0
    };
    state.reload_keys().await;
    Ok(HttpResponse::Created().json(json!({"kid": key.kid, "retired": retired})))
}

#[derive(Debug, Deserialize)]
pub(super) struct AuditQuery {
    /// At most this many (default 100, at most 1000).
    limit: Option<i64>,
    /// Entries older than this id (paging).
    before: Option<i64>,
    /// Only this action (`claim.read`, …).
    action: Option<String>,
}

/// `GET /v1/admin/audit`: newest first.
pub(super) async fn audit(state: web::Data<AppState>, q: web::Query<AuditQuery>) -> ApiResult {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit: 1 to 1000".into()));
    }
    let entries = state
        .store
        .audit_log(limit, q.before, q.action.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "entries": entries })))
}
