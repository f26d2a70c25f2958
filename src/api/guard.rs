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
use crate::access::{Caller, Scope, TokenError};
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

/// Verifies a token, ours or the external issuer's, and checks that its
/// grant was not revoked (a replayed authorization code revokes it).
pub(super) async fn verify(state: &web::Data<AppState>, token: &str) -> ApiResult<Caller> {
    let invalid = |e: TokenError| ApiError::Unauthorized {
        error: Some("invalid_token"),
        message: e.to_string(),
    };
    let kid = jsonwebtoken::decode_header(token)
        .map_err(|e| invalid(TokenError::Malformed(e.to_string())))?
        .kid;
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
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // The route is looked up by the path as the router sees it (percent-
    // decoded: `/v1/admin/%61udit` is `/v1/admin/audit`), and anything not
    // explicitly public needs a token: an unknown path or method gets its
    // 404 or 405 only after that (fail closed).
    let pattern = req.extensions().get::<Pattern>().and_then(|p| p.0.clone());
    let access = pattern
        .and_then(|pattern| {
            super::routes()
                .iter()
                .find(|r| r.path == pattern && r.method.eq_ignore_ascii_case(req.method().as_str()))
                .map(|r| r.access)
        })
        .unwrap_or(Access::Token);
    if access != Access::Public {
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
    next.call(req).await
}
