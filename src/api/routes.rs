//! The route table: every route with its method, path template and who may
//! call it, registered and recorded in one place (the OpenAPI drift test
//! compares the record with openapi.yaml); health, readiness, metrics and
//! the description itself; 404/405 for everything else.

use actix_web::http::Method;
use actix_web::{web, App, HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::json;

use super::guard::Access;
use super::{
    admin, authorizations, batches, claims, exemptions, network, oauth, rules, ApiError, ApiResult,
    AppState, OPENAPI,
};
use crate::access::Scope;

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

/// Registers every route on `cfg` and returns the table.
pub(super) fn register(cfg: &mut web::ServiceConfig) -> Vec<Route> {
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
            web::route().to(rules::code),
        )
        .add(
            Method::GET,
            "/v1/rules",
            Token,
            web::route().to(rules::rules),
        )
        .add(
            Method::PUT,
            "/v1/rules",
            AnyOf(&[Scope::RulesWrite]),
            web::route().to(rules::put_rules),
        )
        .add(
            Method::POST,
            "/v1/rules/impact",
            AnyOf(&[Scope::RulesWrite]),
            web::route().to(rules::impact),
        )
        .add(
            Method::GET,
            "/v1/rules/check",
            Token,
            web::route().to(rules::check),
        )
        .add(
            Method::GET,
            "/v1/authorizations",
            AnyOf(&[Scope::ClaimsRead, Scope::AuthsWrite]),
            web::route().to(authorizations::list_authorizations),
        )
        .add(
            Method::POST,
            "/v1/authorizations",
            AnyOf(&[Scope::AuthsWrite]),
            web::route().to(authorizations::add_authorization),
        )
        .add(
            Method::POST,
            "/v1/authorizations/import",
            AnyOf(&[Scope::AuthsWrite]),
            web::route().to(authorizations::import_authorizations),
        )
        .add(
            Method::GET,
            "/v1/authorizations/{number}",
            AnyOf(&[Scope::ClaimsRead, Scope::AuthsWrite]),
            web::route().to(authorizations::get_authorization),
        )
        .add(
            Method::GET,
            "/v1/authorizations/{number}/ledger",
            AnyOf(&[Scope::ClaimsRead, Scope::AuthsWrite]),
            web::route().to(authorizations::ledger),
        )
        .add(
            Method::PATCH,
            "/v1/authorizations/{number}",
            AnyOf(&[Scope::AuthsWrite]),
            web::route().to(authorizations::patch_authorization),
        )
        .add(
            Method::GET,
            "/v1/exemptions",
            AnyOf(&[Scope::ClaimsRead, Scope::RulesWrite]),
            web::route().to(exemptions::list),
        )
        .add(
            Method::POST,
            "/v1/exemptions",
            AnyOf(&[Scope::RulesWrite]),
            web::route().to(exemptions::add),
        )
        .add(
            Method::POST,
            "/v1/exemptions/compute",
            // A dry run reads; `apply=true` needs rules:write (the handler).
            AnyOf(&[Scope::ClaimsRead, Scope::RulesWrite]),
            web::route().to(exemptions::compute),
        )
        .add(
            Method::DELETE,
            "/v1/exemptions/{id}",
            AnyOf(&[Scope::RulesWrite]),
            web::route().to(exemptions::revoke),
        )
        .add(
            Method::PUT,
            "/v1/network",
            AnyOf(&[Scope::RulesWrite]),
            web::route().to(network::put_network),
        )
        .add(
            Method::GET,
            "/v1/network/{npi}",
            AnyOf(&[Scope::ClaimsRead, Scope::RulesWrite]),
            web::route().to(network::get_network),
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
            web::route().to(admin::clients),
        )
        .add(
            Method::POST,
            "/v1/admin/clients",
            ADMIN,
            web::route().to(admin::add_client),
        )
        .add(
            Method::DELETE,
            "/v1/admin/clients/{client_id}",
            ADMIN,
            web::route().to(admin::disable_client),
        )
        .add(
            Method::GET,
            "/v1/admin/users",
            ADMIN,
            web::route().to(admin::users),
        )
        .add(
            Method::POST,
            "/v1/admin/users",
            ADMIN,
            web::route().to(admin::add_user),
        )
        .add(
            Method::DELETE,
            "/v1/admin/users/{user_id}",
            ADMIN,
            web::route().to(admin::disable_user),
        )
        .add(
            Method::POST,
            "/v1/admin/users/{user_id}/password",
            ADMIN,
            web::route().to(admin::reset_password),
        )
        .add(
            Method::POST,
            "/v1/admin/keys/rotate",
            ADMIN,
            web::route().to(admin::rotate_key),
        )
        .add(
            Method::GET,
            "/v1/admin/audit",
            ADMIN,
            web::route().to(admin::audit),
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

/// 405 with `Allow` when the path exists (before authentication: see
/// `guard`), else 404.
pub(super) async fn no_route(req: actix_web::HttpRequest) -> HttpResponse {
    no_route_answer(req.method(), req.match_info().as_str())
}

/// The 405 (with `Allow`) or 404 of `method` on `path` (as the router
/// sees it, percent-decoded).
pub(super) fn no_route_answer(method: &Method, path: &str) -> HttpResponse {
    let mut allowed: Vec<String> = Vec::new();
    for r in routes().iter().filter(|r| path_fits(r.path, path)) {
        let m = r.method.to_ascii_uppercase();
        if !allowed.contains(&m) {
            allowed.push(m);
        }
    }
    // HEAD is answered wherever GET is (see `guard`).
    if allowed.iter().any(|m| m == "GET") {
        allowed.push("HEAD".into());
    }
    if !allowed.is_empty() {
        return HttpResponse::MethodNotAllowed()
            .insert_header(("Allow", allowed.join(", ")))
            .json(json!({
                "error": "method_not_allowed",
                "message": format!("{method} is not allowed on {path}"),
            }));
    }
    ApiError::NotFound(format!("no route {method} {path}")).error_response()
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
