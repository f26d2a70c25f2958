//! The request span and metrics: every request timed, counted by route
//! template and status, and logged in one line with no PHI in it.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};

use super::{guard, AppState};

/// Times every request, counts it by route template and status, and logs
/// one line with no PHI in it.
pub(super) async fn observe(
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
