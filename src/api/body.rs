//! Request bodies: their declared length, their media type, reading them
//! within a limit, and what the caller accepts back.

use actix_web::http::header::{HeaderMap, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use super::{ApiError, ApiResult};

/// Rule files and authorization CSVs are small; 8 MiB is generous.
pub(super) const ADMIN_BODY_LIMIT: u64 = 8 * 1024 * 1024;

/// The 837 bodies the claim and batch routes take.
pub(super) const X12_MEDIA: &[&str] = &[
    "application/edi-x12",
    "application/x12",
    "text/plain",
    "application/octet-stream",
];

/// The body length the request declares; 413 when it is over `limit`
/// (before a byte is read).
pub(super) fn declared_length(headers: &HeaderMap, limit: u64) -> ApiResult<Option<u64>> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge(limit));
    }
    Ok(declared)
}

/// Reads a request body up to `limit` bytes: 413 with a JSON error beyond.
pub(super) async fn read_body(
    headers: &HeaderMap,
    mut payload: web::Payload,
    limit: u64,
) -> ApiResult<Vec<u8>> {
    let declared = declared_length(headers, limit)?;
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            tracing::debug!(error = %e, "request body not read");
            ApiError::BadRequest("the request body could not be read to its end".into())
        })?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(ApiError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Refuses a body whose Content-Type is not one of `accepted`.
pub(super) fn expect_media(headers: &HeaderMap, accepted: &[&str]) -> ApiResult<()> {
    let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return Ok(()); // no type given: take the body for what the route expects
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if accepted.contains(&essence.as_str()) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {ct} is not accepted here; send {}",
            accepted.join(" or ")
        )))
    }
}

/// True when the client asks for X12 (`Accept: application/edi-x12`).
pub(super) fn wants_x12(req: &HttpRequest) -> bool {
    req.headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/edi-x12"))
}

/// A body gets its time again for every further MiB it brings, so a large
/// upload that keeps coming is never cut off, and a trickle always is.
const TIMEOUT_STEP: usize = 1024 * 1024;

/// A request body that must arrive in time: after `timeout` (from the
/// start, or from the last full MiB) with the body still incomplete, the
/// next read fails and `timed_out` is set.
struct TimedBody {
    inner: actix_web::dev::Payload,
    sleep: std::pin::Pin<Box<actix_web::rt::time::Sleep>>,
    timeout: std::time::Duration,
    since_step: usize,
    timed_out: std::rc::Rc<std::cell::Cell<bool>>,
}

impl futures_util::Stream for TimedBody {
    type Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::future::Future;
        use std::task::Poll;
        let this = self.get_mut();
        if this.timed_out.get() {
            return Poll::Ready(None);
        }
        match std::pin::Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.since_step += chunk.len();
                if this.since_step >= TIMEOUT_STEP {
                    this.since_step = 0;
                    let next = actix_web::rt::time::Instant::now() + this.timeout;
                    this.sleep.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.timed_out.set(true);
                    Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "request body timed out"),
                    ))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// True when the request says a body follows.
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(actix_web::http::header::TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// The body read timeout (issue 15 point 3, `PRIORAUTH_BODY_TIMEOUT`):
/// a body that has not arrived in time (a partial body, a trickle) fails
/// its handler's read, and the answer is a 408 with a JSON error, whatever
/// the handler made of the failed read; the connection is closed.
pub(super) async fn timeout(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    use actix_web::{HttpMessage, ResponseError};
    let limit = req
        .app_data::<web::Data<super::AppState>>()
        .map(|s| s.config.body_timeout);
    let timed_out = std::rc::Rc::new(std::cell::Cell::new(false));
    let (Some(limit), true) = (limit, has_body(req.headers())) else {
        return next.call(req).await.map(|r| r.map_into_left_body());
    };
    let inner = req.take_payload();
    let body: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = <TimedBody as futures_util::Stream>::Item>>,
    > = Box::pin(TimedBody {
        inner,
        sleep: Box::pin(actix_web::rt::time::sleep(limit)),
        timeout: limit,
        since_step: 0,
        timed_out: timed_out.clone(),
    });
    req.set_payload(actix_web::dev::Payload::from(body));
    let res = next.call(req).await;
    if !timed_out.get() {
        return res.map(|r| r.map_into_left_body());
    }
    tracing::info!(seconds = limit.as_secs(), "request body timed out");
    let error = ApiError::BodyTimeout(limit.as_secs());
    // (A request cannot be kept aside while it is routed; the handler's
    // answer brings it back.)
    let (http, _) = res?.into_parts();
    let mut answer = error.error_response();
    answer
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    Ok(actix_web::dev::ServiceResponse::new(http, answer).map_into_right_body())
}
