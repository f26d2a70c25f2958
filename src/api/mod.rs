//! The claims service (SPEC §5 HTTP API): actix-web over the store.
//!
//! Handlers translate HTTP to calls on the store and the pure core and
//! back; errors are typed ([`ApiError`]) and become a JSON body with the
//! right status in one place (`error.rs`). Nothing here logs claim
//! contents: request spans carry the route template, method, status and
//! latency only (`observe.rs`). Startup (opening the store, background
//! loops) is `crate::startup`'s.

mod admin;
mod authorizations;
mod batches;
mod body;
mod claim_answers;
mod claims;
mod error;
mod exemptions;
mod guard;
mod https;
mod metrics;
mod network;
mod oauth;
mod observe;
mod routes;
mod rules;
mod state;
mod transfers;
pub mod webhook;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

pub use admin::{
    add_client_now, add_user_now, audit_time, disable_client_now, disable_user_now,
    reset_password_now, rotate_key_now,
};
pub use batches::{accept as accept_batch, results_for as batch_results};
pub use claim_answers::{claim_x12, has_277ca, has_835, readable_claim, stored_decision};
pub use error::{ApiError, ApiResult};
pub use guard::{verify_token, Access, Actor};
pub use oauth::redeem_in_process;
pub use routes::{path_fits, routes, Route};
pub use state::{resume_batches, AppState};

/// The OpenAPI description the server serves (and a test keeps equal to
/// the routes and answers).
pub const OPENAPI: &str = include_str!("../../openapi/openapi.yaml");

/// The HTTP server over `state`, bound to the configured address, with
/// the addresses it listens on.
///
/// `extra` registers what else the server answers (the staff console),
/// so this room never imports it.
pub fn listen(
    state: web::Data<AppState>,
    extra: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
) -> anyhow::Result<(Server, Vec<std::net::SocketAddr>)> {
    let config = state.config().clone();
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .configure(error::json_error_handlers)
            .configure(|cfg| {
                routes::register(cfg);
            })
            .configure(extra.clone())
            .default_service(web::route().to(routes::no_route))
            .wrap(from_fn(body::timeout))
            .wrap(from_fn(guard::guard))
            .wrap(from_fn(observe::observe))
            .wrap(from_fn(https::hsts))
    })
    .workers(config.workers);
    let server = match &config.tls {
        Some(tls) => server.bind_rustls_0_23(&config.bind, (**tls).clone()),
        None => server.bind(&config.bind),
    }
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {:?} (--bind or PRIORAUTH_BIND): {e}",
            config.bind
        )
    })?;
    let addrs = server.addrs();
    Ok((server.run(), addrs))
}
