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
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("request body: {e}")))?;
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
