//! Everything a request can fail with, mapped once to an HTTP status and
//! a JSON body; actix's own extractor errors are mapped to it too.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use serde_json::json;

use crate::access::Scope;
use crate::store::StoreError;

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
    /// 408: the request body did not arrive within this many seconds.
    #[error("the request body did not arrive within {0} s; send the request again")]
    BodyTimeout(u64),
    /// 413.
    #[error("request body is larger than the limit of {0} bytes for this route")]
    TooLarge(u64),
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422 with a list of problems.
    #[error("{0}")]
    Unprocessable(String, serde_json::Value),
    /// 429 with `Retry-After`: the client has as many transfers under way
    /// as it may.
    #[error("{message}")]
    TooManyRequests {
        /// What is under way, for a person.
        message: String,
        /// Seconds to wait before trying again.
        retry_after: u64,
    },
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
            ApiError::BodyTimeout(_) => "request_timeout",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unprocessable(..) => "unprocessable",
            ApiError::TooManyRequests { .. } => "too_many_requests",
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
            e if e.unavailable() => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::Unavailable("the database cannot be reached now; try again".into())
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
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
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
            ApiError::TooManyRequests { retry_after, .. } => {
                r.insert_header(("Retry-After", retry_after.to_string()));
            }
            _ => {}
        }
        r.json(body)
    }
}

/// A handler's result.
pub type ApiResult<T = HttpResponse> = Result<T, ApiError>;

/// A serde message in plain words: no positions (`at line 1 column 1`)
/// and no Rust type names (issue 15 point 4).
fn plain(message: &str) -> String {
    let m = message.split(" at line ").next().unwrap_or(message);
    if m.contains("invalid digit") || m.contains("number too") || m.contains("can not parse") {
        "a number was expected".into()
    } else if m.contains("`true` or `false`") {
        "true or false was expected".into()
    } else {
        // "expected i64" and the like: Rust's names for numbers.
        let mut out = m.to_string();
        for t in [
            "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "usize", "isize",
        ] {
            out = out.replace(&format!("expected {t}"), "expected a whole number");
        }
        for t in ["f32", "f64"] {
            out = out.replace(&format!("expected {t}"), "expected a number");
        }
        out
    }
}

/// Maps actix's JSON, query and path extractor errors to [`ApiError`],
/// in plain words.
pub(super) fn json_error_handlers(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().error_handler(|e, _| {
        use actix_web::error::JsonPayloadError as E;
        match e {
            E::ContentType => {
                ApiError::UnsupportedMediaType("send the body as application/json".into())
            }
            E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => {
                ApiError::TooLarge(limit as u64)
            }
            E::Deserialize(e) if e.is_eof() => {
                ApiError::BadRequest("the JSON body ends too early (or is empty)".into())
            }
            E::Deserialize(e) if e.is_syntax() => {
                ApiError::BadRequest("the body is not valid JSON".into())
            }
            E::Deserialize(e) => ApiError::BadRequest(format!(
                "the JSON body does not fit this route: {}",
                plain(&e.to_string())
            )),
            E::Payload(_) => ApiError::BadRequest("the request body could not be read".into()),
            other => ApiError::BadRequest(format!("JSON body: {}", plain(&other.to_string()))),
        }
        .into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|e, _| {
        let m = match &e {
            actix_web::error::QueryPayloadError::Deserialize(d) => plain(&d.to_string()),
            _ => "it cannot be read".into(),
        };
        ApiError::BadRequest(format!("query string: {m}")).into()
    }))
    .app_data(web::PathConfig::default().error_handler(|e, _| {
        let m = match &e {
            actix_web::error::PathError::Deserialize(d) => plain(&d.to_string()),
            _ => "it cannot be read".into(),
        };
        ApiError::BadRequest(format!("path: {m}")).into()
    }));
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn serde_messages_lose_their_internals() {
        assert_eq!(plain("expected value at line 1 column 1"), "expected value");
        assert_eq!(
            plain("invalid digit found in string"),
            "a number was expected"
        );
        assert_eq!(
            plain("provided string was not `true` or `false`"),
            "true or false was expected"
        );
        assert_eq!(plain("missing field `name`"), "missing field `name`");
        assert_eq!(
            plain("invalid type: string \"x\", expected u32 at line 1 column 12"),
            "invalid type: string \"x\", expected a whole number"
        );
    }
}
