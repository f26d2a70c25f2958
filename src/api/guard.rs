//! Resource checks (issue 5 point 5): every route but the public ones
//! needs a valid bearer token, and the route table says which scope.
//! The middleware verifies the token once and leaves the [`Caller`] in the
//! request for handlers, which add the ownership checks (a billing system
//! sees only its own claims and batches). It also writes the audit log.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use serde::Serialize;

use super::{ApiError, ApiResult, AppState};
use crate::access::{Caller, Disabled, Scope, TokenError};
use crate::store::AuditEntry;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Anyone (health, readiness, metrics, and the OAuth endpoints, which
    /// authenticate clients themselves).
    Public,
    /// Any valid token.
    Token,
    /// A valid token with one of these scopes.
    AnyOf(&'static [Scope]),
}

/// The caller of a request and where it came from, for handlers.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Who, from the verified token.
    pub caller: Caller,
    /// Peer address.
    pub remote: String,
}

impl Actor {
    /// Records an audit entry (ids only), failing the request when it
    /// cannot be written: a read that is not recorded is not answered.
    pub async fn audit(
        &self,
        state: &AppState,
        action: &str,
        object_type: &str,
        object_id: &str,
    ) -> ApiResult<()> {
        state
            .store
            .audit(&self.entry(action, object_type, object_id))
            .await?;
        // The log line carries the same ids, never claim contents.
        tracing::info!(
            target: "audit",
            actor = %self.caller.subject,
            client = %self.caller.client_id,
            action,
            object_type,
            object_id,
            "audit"
        );
        Ok(())
    }

    /// Records one audit entry per id, written together (a search's
    /// claims: one transaction, not one per claim); failing as
    /// [`Actor::audit`] does.
    pub async fn audit_each(
        &self,
        state: &AppState,
        action: &str,
        object_type: &str,
        ids: &[&str],
    ) -> ApiResult<()> {
        let entries: Vec<AuditEntry> = ids
            .iter()
            .map(|id| self.entry(action, object_type, id))
            .collect();
        state.store.audit_many(&entries).await?;
        for object_id in ids {
            tracing::info!(
                target: "audit",
                actor = %self.caller.subject,
                client = %self.caller.client_id,
                action,
                object_type,
                object_id,
                "audit"
            );
        }
        Ok(())
    }

    /// The audit record of something this caller does.
    pub fn entry(&self, action: &str, object_type: &str, object_id: &str) -> AuditEntry {
        AuditEntry {
            id: 0,
            at: String::new(),
            actor: self.caller.subject.clone(),
            client_id: self.caller.client_id.clone(),
            action: action.into(),
            object_type: object_type.into(),
            object_id: object_id.into(),
            remote_addr: self.remote.clone(),
        }
    }

    /// 404 unless the caller may see claims of this billing NPI (another
    /// billing system's records are "not found", not "forbidden": their
    /// existence is not the caller's business).
    pub fn may_see_npi(&self, npi: &str, what: &str) -> ApiResult<()> {
        if self.caller.may_see_npi(npi) {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("{what} not found")))
        }
    }
}

impl FromRequest for Actor {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Actor, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(req.extensions().get::<Actor>().cloned().ok_or_else(|| {
            ApiError::Unauthorized {
                error: None,
                message: "this route needs a bearer token".into(),
            }
        }))
    }
}

/// The bearer token of a request: `Ok(None)` when there is no
/// Authorization header.
fn bearer(req: &ServiceRequest) -> ApiResult<Option<String>> {
    let Some(h) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let h = h.to_str().map_err(|_| ApiError::Unauthorized {
        error: Some("invalid_request"),
        message: "the Authorization header is not visible ASCII".into(),
    })?;
    match h.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_string()))
        }
        // Another scheme (Basic, …) is no bearer token at all.
        Some((scheme, _)) if !scheme.eq_ignore_ascii_case("bearer") => Ok(None),
        _ => Err(ApiError::Unauthorized {
            error: Some("invalid_request"),
            message: "send the access token as Authorization: Bearer <token>".into(),
        }),
    }
}

/// The bearer check (`verify`) for the staff console, which holds its session's token on
/// the server and checks it on every page.
pub async fn verify_token(state: &web::Data<AppState>, token: &str) -> ApiResult<Caller> {
    verify(state, token).await
}

/// Verifies a token, ours or the external issuer's, and checks that its
/// grant was not revoked (a replayed authorization code revokes it).
pub(super) async fn verify(state: &web::Data<AppState>, token: &str) -> ApiResult<Caller> {
    let invalid = |e: TokenError| ApiError::Unauthorized {
        error: Some("invalid_token"),
        message: e.to_string(),
    };
    let kid = crate::access::header_kid(token).map_err(invalid)?;
    let mut ours = kid.as_deref().is_some_and(|k| state.keys.knows(k));
    if !ours && reload_allowed() {
        // Perhaps a key another instance made since the last reload (at most
        // one reload a second, so junk key ids cannot hammer the store).
        state.reload_keys().await;
        ours = kid.as_deref().is_some_and(|k| state.keys.knows(k));
    }
    let caller = if ours || state.external.is_none() {
        #[allow(clippy::disallowed_methods)] // token expiry is against the clock
        let now = chrono::Utc::now().timestamp();
        state.keys.verify_at(token, now).map_err(invalid)?.caller()
    } else {
        let Some(external) = state.external.clone() else {
            return Err(invalid(TokenError::UnknownKey(kid.unwrap_or_default())));
        };
        if external.needs_fetch(kid.as_deref()) {
            let e = external.clone();
            let fetched = web::block(move || e.fetch())
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            if let Err(e) = fetched {
                tracing::warn!(error = %e, "external issuer keys");
            }
        }
        external.verify(token).map_err(invalid)?
    };
    refuse_disabled(state, &caller).await?;
    if let Some(grant) = &caller.grant {
        if state.store.grant_revoked(grant).await? {
            return Err(ApiError::Unauthorized {
                error: Some("invalid_token"),
                message: "the access token was revoked (its authorization code was used twice)"
                    .into(),
            });
        }
    }
    Ok(caller)
}

/// 401 `invalid_token` when the token's client or staff user is disabled
/// (issue 15: at once, on every instance). The in-memory set is read; when
/// it is stale (the store could not be read lately) the client and user
/// are looked up instead, and a store that cannot answer is a 503, never a
/// pass.
async fn refuse_disabled(state: &web::Data<AppState>, caller: &Caller) -> ApiResult<()> {
    let mut disabled = state.revoked.check(&caller.client_id, &caller.subject);
    if disabled.is_none() && !state.revoked.fresh(std::time::Instant::now()) {
        let unsure = |e: crate::store::StoreError| {
            tracing::warn!(error = %e, "disabled clients cannot be checked");
            ApiError::Unavailable(
                "whether the token's client is still enabled cannot be checked now; try again"
                    .into(),
            )
        };
        let client = state
            .store
            .client(&caller.client_id)
            .await
            .map_err(unsure)?;
        if client.is_some_and(|c| c.disabled) {
            disabled = Some(Disabled::Client);
        } else if let Some(user) = caller.subject.strip_prefix("user:") {
            let user = state.store.user(user).await.map_err(unsure)?;
            if user.is_some_and(|u| u.disabled) {
                disabled = Some(Disabled::User);
            }
        }
    }
    let message = match disabled {
        None => return Ok(()),
        Some(Disabled::Client) => "the access token was revoked: its client is disabled",
        Some(Disabled::User) => "the access token was revoked: its user is disabled",
    };
    Err(ApiError::Unauthorized {
        error: Some("invalid_token"),
        message: message.into(),
    })
}

/// True at most once a second: when an unknown key id may reload the keys.
fn reload_allowed() -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    #[allow(clippy::disallowed_methods)] // a rate limit reads the clock
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    now > last
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// The route template a request matched (found by `observe`, which wraps
/// the guard), `None` for no route.
pub(super) struct Pattern(pub Option<String>);

/// The middleware: looks the route up in the table, and for a guarded
/// route verifies the token and its scope before the handler runs.
pub(super) async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // The route is looked up by the path as the router sees it (percent-
    // decoded: `/v1/admin/%61udit` is `/v1/admin/audit`), and anything not
    // explicitly public needs a token: an unknown path gets its 404 only
    // after that (fail closed). A known path with a method it does not
    // take is a 405 before authentication (issue 15 point 4): it reaches
    // no handler, and says only which methods the path takes. HEAD is
    // answered wherever GET is, as the GET (the connection sends no body
    // for a HEAD request).
    let mut req = req;
    let pattern = req.extensions().get::<Pattern>().and_then(|p| p.0.clone());
    let here: Vec<&super::Route> = pattern.map_or_else(Vec::new, |pattern| {
        super::routes()
            .iter()
            .filter(|r| r.path == pattern)
            .collect()
    });
    if req.method() == actix_web::http::Method::HEAD {
        let path = req.match_info().as_str();
        if super::routes()
            .iter()
            .any(|r| r.method == "get" && super::path_fits(r.path, path))
        {
            req.head_mut().method = actix_web::http::Method::GET;
        }
    }
    let method = req.method().as_str().to_ascii_lowercase();
    // The route the router will take: the matched template's, else any
    // other template with this method that fits (`PATCH
    // /v1/authorizations/import` is `/v1/authorizations/{number}`).
    let routed = here
        .iter()
        .find(|r| r.method == method)
        .copied()
        .or_else(|| {
            let path = req.match_info().as_str();
            super::routes()
                .iter()
                .find(|r| r.method == method && super::path_fits(r.path, path))
        });
    let access = match routed {
        Some(r) => r.access,
        // No handler takes this method here: the 405 needs no token, and
        // is answered here, so no handler can run without one.
        None if !here.is_empty() => {
            let answer = super::routes::no_route_answer(req.method(), req.match_info().as_str());
            return Ok(req.into_response(answer).map_into_right_body());
        }
        None => Access::Token,
    };
    // The staff console checks its own sessions (cookie, server-side
    // token, CSRF): a browser sends no bearer token.
    let console = {
        let p = req.match_info().as_str();
        p == "/console" || p.starts_with("/console/")
    };
    if access != Access::Public && !console {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("no app state".into()))?;
        let Some(token) = bearer(&req)? else {
            return Err(ApiError::Unauthorized {
                error: None,
                message: "this route needs a bearer token: get one from POST /oauth/token".into(),
            }
            .into());
        };
        let caller = verify(&state, &token).await?;
        if let Access::AnyOf(scopes) = access {
            if !scopes.iter().any(|s| caller.has(*s)) {
                return Err(ApiError::InsufficientScope(scopes).into());
            }
        }
        let remote = req
            .peer_addr()
            .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string());
        req.extensions_mut().insert(Actor { caller, remote });
    }
    next.call(req).await.map(|r| r.map_into_left_body())
}
