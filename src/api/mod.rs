//! The claims service (SPEC §5 HTTP API): actix-web over the store.
//!
//! Handlers translate HTTP to calls on the store and the pure core and
//! back; errors are typed ([`ApiError`]) and become a JSON body with the
//! right status in one place. Nothing here logs claim contents: request
//! spans carry the route template, method, status and latency only.

mod admin;
mod batches;
mod claims;
pub mod config;
mod guard;
mod identity;
mod metrics;
mod oauth;

use std::sync::{Arc, RwLock};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpMessage, HttpResponse, HttpServer, ResponseError};
use serde::Serialize;
use serde_json::json;

use crate::access::{ExternalIssuer, Keys, Scope};
use crate::rules::{RuleSet, RulesIndex};
use crate::store::{Store, StoreError};
pub use config::Config;
pub use guard::Access;
use metrics::Metrics;

/// The OpenAPI description the server serves (and a test keeps equal to
/// the routes and answers).
pub const OPENAPI: &str = include_str!("../../openapi/openapi.yaml");

/// What every handler shares.
pub struct AppState {
    store: Arc<Store>,
    rules: RwLock<(i64, Arc<RulesIndex>)>,
    metrics: Metrics,
    config: Config,
    batches: batches::Queue,
    keys: Keys,
    /// The configured signing key, when one is given instead of stored keys.
    pinned_key: Option<crate::store::SigningKeyRecord>,
    external: Option<Arc<ExternalIssuer>>,
}

impl AppState {
    /// The rule index in force.
    fn rules(&self) -> Arc<RulesIndex> {
        match self.rules.read() {
            Ok(g) => g.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    fn swap_rules(&self, id: i64, index: RulesIndex) {
        let mut g = match self.rules.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = (id, Arc::new(index));
    }

    fn rules_id(&self) -> i64 {
        match self.rules.read() {
            Ok(g) => g.0,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }
}

/// Everything a request can fail with, mapped once to a status and a JSON
/// body `{"error": code, "message": …, "problems": […]}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3): no token, or one
    /// that is malformed, expired, wrongly signed or revoked.
    #[error("{message}")]
    Unauthorized {
        /// RFC 6750 error code (`invalid_token`, `invalid_request`); none
        /// when no token was sent.
        error: Option<&'static str>,
        /// What is wrong, for a person.
        message: String,
    },
    /// 403: the token lacks every scope the route accepts.
    #[error("this route needs a token with scope {}", .0.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" or "))]
    InsufficientScope(&'static [Scope]),
    /// 403: the caller may not do this with these records.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 413.
    #[error("request body is larger than the limit of {0} bytes for this route")]
    TooLarge(u64),
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422 with a list of problems.
    #[error("{0}")]
    Unprocessable(String, serde_json::Value),
    /// 503.
    #[error("{0}")]
    Unavailable(String),
    /// 500: logged with its cause, answered without it.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized { error, .. } => error.unwrap_or("unauthorized"),
            ApiError::InsufficientScope(_) => "insufficient_scope",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unprocessable(..) => "unprocessable",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Exists(what) => ApiError::Conflict(format!("{what} already exists")),
            StoreError::IdempotencyMismatch(_) => ApiError::Unprocessable(e.to_string(), json!([])),
            StoreError::Invalid(problems) => {
                ApiError::Unprocessable("the authorization is not valid".into(), json!(problems))
            }
            StoreError::Database(sqlx::Error::PoolTimedOut) => {
                ApiError::Unavailable("the database is busy; try again".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            // RFC 6750 §3.1: a malformed request is 400, a bad token 401.
            ApiError::Unauthorized {
                error: Some("invalid_request"),
                ..
            } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope(_) | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(cause = %cause, "request failed");
        }
        let mut body = json!({"error": self.code(), "message": self.to_string()});
        if let ApiError::Unprocessable(_, problems) = self {
            if let Some(m) = body.as_object_mut() {
                m.insert("problems".into(), problems.clone());
            }
        }
        let mut r = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized { error, message } => {
                let challenge = match error {
                    None => r#"Bearer realm="priorauth""#.to_string(),
                    Some(code) => format!(
                        r#"Bearer realm="priorauth", error="{code}", error_description="{}""#,
                        message.replace(['"', '\\'], "'")
                    ),
                };
                r.insert_header(("WWW-Authenticate", challenge));
            }
            ApiError::InsufficientScope(scopes) => {
                r.insert_header((
                    "WWW-Authenticate",
                    format!(
                        r#"Bearer realm="priorauth", error="insufficient_scope", scope="{}""#,
                        Scope::join(scopes)
                    ),
                ));
            }
            _ => {}
        }
        r.json(body)
    }
}

type ApiResult<T = HttpResponse> = Result<T, ApiError>;

/// One route of the API: method and path template, as openapi.yaml lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path template (`/v1/claims/{payer_claim_id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// Registers routes and records them, so the list that is served is the
/// list the OpenAPI test compares with openapi.yaml.
struct Routes<'a> {
    cfg: &'a mut web::ServiceConfig,
    table: Vec<Route>,
}

impl Routes<'_> {
    fn add(
        &mut self,
        method: Method,
        path: &'static str,
        access: Access,
        route: actix_web::Route,
    ) -> &mut Self {
        self.table.push(Route {
            method: leak_method(&method),
            path,
            access,
        });
        self.cfg.route(path, route.method(method));
        self
    }
}

fn leak_method(m: &Method) -> &'static str {
    match *m {
        Method::GET => "get",
        Method::POST => "post",
        Method::PUT => "put",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "other",
    }
}

fn register(cfg: &mut web::ServiceConfig) -> Vec<Route> {
    use Access::{AnyOf, Public, Token};
    const SUBMIT: Access = AnyOf(&[Scope::ClaimsSubmit]);
    const READ: Access = AnyOf(&[Scope::ClaimsRead]);
    const ADMIN: Access = AnyOf(&[Scope::Admin]);
    let mut r = Routes {
        cfg,
        table: Vec::new(),
    };
    r.add(Method::GET, "/healthz", Public, web::route().to(healthz))
        .add(Method::GET, "/readyz", Public, web::route().to(readyz))
        .add(
            Method::GET,
            "/metrics",
            Public,
            web::route().to(metrics_text),
        )
        .add(
            Method::GET,
            "/openapi.yaml",
            Token,
            web::route().to(openapi),
        )
        .add(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            Public,
            web::route().to(oauth::metadata),
        )
        .add(
            Method::GET,
            "/.well-known/jwks.json",
            Public,
            web::route().to(oauth::jwks),
        )
        .add(
            Method::POST,
            "/oauth/token",
            Public,
            web::route().to(oauth::token),
        )
        .add(
            Method::GET,
            "/oauth/authorize",
            Public,
            web::route().to(oauth::authorize_page),
        )
        .add(
            Method::POST,
            "/oauth/authorize",
            Public,
            web::route().to(oauth::authorize_sign_in),
        )
        .add(
            Method::POST,
            "/v1/claims",
            SUBMIT,
            web::route().to(claims::submit),
        )
        .add(
            Method::GET,
            "/v1/claims",
            READ,
            web::route().to(claims::search),
        )
        .add(
            Method::GET,
            "/v1/claims/{payer_claim_id}",
            READ,
            web::route().to(claims::get),
        )
        .add(
            Method::GET,
            "/v1/codes/{list}/{code}",
            Token,
            web::route().to(admin::code),
        )
        .add(
            Method::GET,
            "/v1/rules",
            Token,
            web::route().to(admin::rules),
        )
        .add(
            Method::PUT,
            "/v1/rules",
            AnyOf(&[Scope::RulesWrite]),
            web::route().to(admin::put_rules),
        )
        .add(
            Method::GET,
            "/v1/rules/check",
            Token,
            web::route().to(admin::check),
        )
        .add(
            Method::POST,
            "/v1/authorizations",
            AnyOf(&[Scope::AuthsWrite]),
            web::route().to(admin::add_authorization),
        )
        .add(
            Method::POST,
            "/v1/authorizations/import",
            AnyOf(&[Scope::AuthsWrite]),
            web::route().to(admin::import_authorizations),
        )
        .add(
            Method::GET,
            "/v1/authorizations/{number}",
            AnyOf(&[Scope::ClaimsRead, Scope::AuthsWrite]),
            web::route().to(admin::get_authorization),
        )
        .add(
            Method::PATCH,
            "/v1/authorizations/{number}",
            AnyOf(&[Scope::AuthsWrite]),
            web::route().to(admin::patch_authorization),
        )
        .add(
            Method::POST,
            "/v1/batches",
            SUBMIT,
            web::route().to(batches::create),
        )
        .add(
            Method::GET,
            "/v1/batches/{id}",
            READ,
            web::route().to(batches::get),
        )
        .add(
            Method::GET,
            "/v1/batches/{id}/results",
            READ,
            web::route().to(batches::results),
        )
        .add(
            Method::GET,
            "/v1/admin/clients",
            ADMIN,
            web::route().to(identity::clients),
        )
        .add(
            Method::POST,
            "/v1/admin/clients",
            ADMIN,
            web::route().to(identity::add_client),
        )
        .add(
            Method::DELETE,
            "/v1/admin/clients/{client_id}",
            ADMIN,
            web::route().to(identity::disable_client),
        )
        .add(
            Method::GET,
            "/v1/admin/users",
            ADMIN,
            web::route().to(identity::users),
        )
        .add(
            Method::POST,
            "/v1/admin/users",
            ADMIN,
            web::route().to(identity::add_user),
        )
        .add(
            Method::DELETE,
            "/v1/admin/users/{user_id}",
            ADMIN,
            web::route().to(identity::disable_user),
        )
        .add(
            Method::POST,
            "/v1/admin/keys/rotate",
            ADMIN,
            web::route().to(identity::rotate_key),
        )
        .add(
            Method::GET,
            "/v1/admin/audit",
            ADMIN,
            web::route().to(identity::audit),
        );
    r.table
}

/// Every route the server answers, in registration order (read off a
/// throwaway app once).
pub fn routes() -> &'static [Route] {
    static TABLE: std::sync::OnceLock<Vec<Route>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = Vec::new();
        let _ = App::new().configure(|cfg| table = register(cfg));
        table
    })
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(state: web::Data<AppState>) -> ApiResult {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database not reachable: {e}")))?;
    Ok(HttpResponse::Ok().json(json!({
        "status": "ready",
        "database": state.store.backend(),
        "rule_set": state.rules().version(),
    })))
}

async fn metrics_text(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(OPENAPI)
}

async fn no_route(req: actix_web::HttpRequest) -> HttpResponse {
    let allowed: Vec<String> = routes()
        .iter()
        .filter(|r| path_fits(r.path, req.path()))
        .map(|r| r.method.to_ascii_uppercase())
        .collect();
    if !allowed.is_empty() {
        return HttpResponse::MethodNotAllowed()
            .insert_header(("Allow", allowed.join(", ")))
            .json(json!({
                "error": "method_not_allowed",
                "message": format!("{} is not allowed on {}", req.method(), req.path()),
            }));
    }
    ApiError::NotFound(format!("no route {} {}", req.method(), req.path())).error_response()
}

/// True when a concrete path fits a route template (`{x}` matches one
/// segment).
pub fn path_fits(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

/// Times every request, counts it by route template and status, and logs
/// one line with no PHI in it.
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    // Looked up once, by the path as the router sees it (percent-decoded),
    // for this span and metrics and for the guard's access check.
    let pattern = req.resource_map().match_pattern(req.match_info().as_str());
    req.extensions_mut().insert(guard::Pattern(pattern.clone()));
    let route = pattern.unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    // Named after the route template (`otel.name`, as OpenTelemetry
    // exporters read it), never the concrete path: paths carry ids.
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} {route}"),
        route = %route,
        method = %method
    );
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = {
        let _enter = span.enter();
        next.call(req).await
    };
    let elapsed = start.elapsed();
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    if let Some(state) = state {
        state.metrics.request(&method, &route, status, elapsed);
    }
    tracing::info!(
        parent: &span,
        status,
        latency_us = elapsed.as_micros() as u64,
        "{method} {route}"
    );
    res
}

fn json_error_handlers(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().error_handler(|e, _| {
        use actix_web::error::JsonPayloadError as E;
        match e {
            E::ContentType => {
                ApiError::UnsupportedMediaType("send the body as application/json".into())
            }
            E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => {
                ApiError::TooLarge(limit as u64)
            }
            other => ApiError::BadRequest(format!("JSON body: {other}")),
        }
        .into()
    }))
    .app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::BadRequest(format!("query string: {e}")).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::BadRequest(format!("path: {e}")).into()),
    );
}

/// Loads the rule set in force: the stored one, or the bundled set (stored
/// on first start, so every instance sees the same version).
async fn initial_rules(store: &Store) -> anyhow::Result<(i64, RulesIndex)> {
    if let Some(stored) = store.active_rules().await? {
        let set = RuleSet::from_toml(&stored.source)
            .map_err(|e| anyhow::anyhow!("stored rule set {}: {e}", stored.version))?;
        return Ok((stored.id, RulesIndex::new(set)));
    }
    let set = RuleSet::bundled()?;
    let id = store
        .activate_rules(&set.version, crate::rules::BUNDLED)
        .await?;
    Ok((id, RulesIndex::new(set)))
}

/// Starts the service and runs until stopped. Prints the bound address on
/// standard output first (`listening on http://ADDR`), so scripts and
/// tests that bind port 0 learn the port.
pub fn serve(config: Config) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let store = Arc::new(
            Store::open(&config.database_url, config.db_connections)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot open the database {} (--database or DATABASE_URL): {e}",
                        crate::store::redact(&config.database_url)
                    )
                })?,
        );
        let (rules_id, index) = initial_rules(&store).await?;
        let queue = batches::Queue::start();
        let access = &config.access;
        let pinned_key = match &access.signing_key_file {
            None => None,
            Some(path) => {
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("PRIORAUTH_SIGNING_KEY_FILE {}: {e}", path.display())
                })?;
                Some(Keys::from_pem(&pem).map_err(|e| {
                    anyhow::anyhow!("PRIORAUTH_SIGNING_KEY_FILE {}: {e}", path.display())
                })?)
            }
        };
        let state = web::Data::new(AppState {
            store: store.clone(),
            rules: RwLock::new((rules_id, Arc::new(index))),
            metrics: Metrics::default(),
            config: config.clone(),
            batches: queue,
            keys: Keys::new(&access.issuer, &access.audience),
            pinned_key,
            external: access
                .oidc
                .as_ref()
                .map(|(iss, aud, jwks)| Arc::new(ExternalIssuer::new(iss, aud, jwks))),
        });
        admin::first_keys(&state).await?;
        std::fs::create_dir_all(&config.data_dir)?;
        batches::resume(&state).await?;
        admin::poll_rules(state.clone());
        admin::checkpoints(state.clone());
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .configure(json_error_handlers)
                .configure(|cfg| {
                    register(cfg);
                })
                .default_service(web::route().to(no_route))
                .wrap(from_fn(guard::guard))
                .wrap(from_fn(observe))
        })
        .workers(config.workers)
        .bind(&config.bind)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {:?} (--bind or PRIORAUTH_BIND): {e}",
                config.bind
            )
        })?;
        for addr in server.addrs() {
            println!("listening on http://{addr}");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tracing::info!(database = ?store.backend(), "priorauth serving");
        server.run().await?;
        state.batches.stop();
        store.close().await;
        Ok(())
    })
}
