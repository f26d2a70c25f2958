//! Whether a request came over https (issue 15 point 8): TLS terminated
//! here, or a trusted TLS-terminating proxy saying so in
//! `X-Forwarded-Proto`; and `Strict-Transport-Security` on every answer
//! to such a request.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, STRICT_TRANSPORT_SECURITY};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest};

use super::AppState;

/// One year, as RFC 6797 §11.2 suggests; no `includeSubDomains`: the
/// service cannot know the other hosts of its domain.
const HSTS: &str = "max-age=31536000";

/// True when `req` reached the client's side over https. `X-Forwarded-Proto`
/// counts only behind a TLS-terminating proxy, and only from a configured
/// proxy address: anyone else could send it.
pub(super) fn request_is_https(state: &AppState, req: &HttpRequest) -> bool {
    let config = &state.config;
    if config.tls.is_some() {
        return true;
    }
    if !config.behind_tls_proxy {
        return false;
    }
    let from_proxy = req
        .peer_addr()
        .is_some_and(|a| config.trusted_proxies.contains(&a.ip()));
    from_proxy
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The middleware: HSTS on every answer to a request that came over https
/// (errors too, which become answers only outside this middleware).
pub(super) async fn hsts(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let https = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| request_is_https(s, req.request()));
    if !https {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    }
    match next.call(req).await {
        Ok(mut res) => {
            res.headers_mut()
                .insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
            Ok(res.map_into_boxed_body())
        }
        // An error becomes its answer only outside this middleware: make
        // that answer here, with the header, and hand it on as the error's.
        Err(e) => {
            let mut answer = e.error_response();
            answer
                .headers_mut()
                .insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
            Err(actix_web::error::InternalError::from_response(e, answer).into())
        }
    }
}
