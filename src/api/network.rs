//! `/v1/network`: the plan's network directory (SPEC §2.4), replaced as a
//! whole from a CSV and read one provider at a time. A change is
//! audit-logged (the NPIs imported).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::body::{expect_media, read_body, ADMIN_BODY_LIMIT};
use super::guard::Actor;
use super::{ApiError, ApiResult, AppState};
use crate::network::import_csv;

/// `PUT /v1/network`: the CSV `npi,network_start,network_end` replaces
/// the stored directory, all or nothing (422 naming every bad row by
/// line; nothing changed). Answers the count imported.
pub(super) async fn put_network(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult {
    expect_media(
        req.headers(),
        &["text/csv", "text/plain", "application/octet-stream"],
    )?;
    let body = read_body(req.headers(), payload, ADMIN_BODY_LIMIT).await?;
    let rows = import_csv(&body).map_err(|e| {
        ApiError::Unprocessable(
            "network directory not imported; nothing was changed".into(),
            json!(e.problems),
        )
    })?;
    // The entry names the NPIs, written in the import's transaction.
    let who = actor.entry("network.import", "network", "");
    let done = state.store.replace_network(&rows, Some(&who)).await?;
    tracing::info!(
        rows = done.imported,
        providers = done.providers,
        "network directory replaced"
    );
    Ok(HttpResponse::Ok().json(done))
}

/// `GET /v1/network/{npi}`: the provider's directory rows (404 when it
/// has none).
pub(super) async fn get_network(state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let npi = path.into_inner();
    let rows = state.store.network_rows(&npi).await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound(format!(
            "NPI {npi} has no row in the network directory"
        )));
    }
    Ok(HttpResponse::Ok().json(json!({ "npi": npi, "rows": rows })))
}
