//! `/v1/claims`: submit an 837 (or check it), look up stored claims.

use actix_web::http::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::guard::Actor;
use super::{ApiError, ApiResult, AppState};
use crate::adjudication::ClaimDecision;
use crate::cli::{read_files, Input, Intake};
use crate::model::Claim;
use crate::store::{SubmitOptions, Submitted};
use crate::x12;

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

/// An 837 read from a request body: claims of accepted sets, in order,
/// and what was rejected.
pub(super) struct Received {
    pub claims: Vec<Claim>,
    pub intake: Intake,
}

/// Parses an 837 body; a body with no readable interchange is a 400.
pub(super) fn receive(body: Vec<u8>) -> ApiResult<Received> {
    let mut claims = Vec::new();
    let input = Input {
        name: "request".into(),
        reader: Box::new(std::io::Cursor::new(body)),
    };
    let intake = read_files(vec![input], |set| {
        claims.append(&mut set.claims);
        Ok(())
    })
    .map_err(|e| ApiError::BadRequest(format!("837 body: {e}")))?;
    if intake.summary.interchanges == 0 {
        let why = intake
            .rejected
            .first()
            .and_then(|r| r.errors.first())
            .map_or_else(|| "the body is empty".to_string(), |e| e.message.clone());
        return Err(ApiError::BadRequest(format!(
            "the body is not an X12 interchange: {why}"
        )));
    }
    Ok(Received { claims, intake })
}

/// The SPEC §4 answer.
pub(super) fn answer_json(version: &str, decisions: &[ClaimDecision], intake: &Intake) -> String {
    #[derive(Serialize)]
    struct RejectedSet<'a> {
        control_number: &'a Option<String>,
        errors: &'a [x12::SyntaxError],
    }
    #[derive(Serialize)]
    struct Answer<'a> {
        rule_set: &'a str,
        claims: &'a [ClaimDecision],
        rejected: Vec<RejectedSet<'a>>,
    }
    let answer = Answer {
        rule_set: version,
        claims: decisions,
        rejected: intake
            .rejected
            .iter()
            .map(|r| RejectedSet {
                control_number: &r.control_number,
                errors: &r.errors,
            })
            .collect(),
    };
    serde_json::to_string(&answer).unwrap_or_default()
}

#[derive(Debug, Deserialize)]
pub(super) struct SubmitQuery {
    /// `check`: adjudicate without consuming or storing.
    mode: Option<String>,
    /// json (default), 999, 835 or 277ca.
    format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Ack999,
    Remit835,
    Ack277ca,
}

/// True when the client asks for X12 (`Accept: application/edi-x12`).
pub(super) fn wants_x12(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/edi-x12"))
}

fn render(
    format: Format,
    version: &str,
    claims: &[Claim],
    decisions: &[ClaimDecision],
    intake: &Intake,
    control_number: u32,
    payer: &super::config::Payer,
) -> String {
    match format {
        Format::Json => answer_json(version, decisions, intake),
        Format::Ack999 => x12::write_999(
            &intake.acks,
            &x12::AckEnvelope {
                created: crate::store::now(),
                control_number,
                test: intake.acks.iter().any(|g| g.test),
            },
        ),
        // Nothing final to remit (all pended or voided), nothing accepted to
        // acknowledge: the JSON answer says why better than an empty file.
        Format::Remit835 if !decisions.iter().any(x12::remittable) => {
            answer_json(version, decisions, intake)
        }
        Format::Ack277ca if decisions.is_empty() && intake.unprocessed.is_empty() => {
            answer_json(version, decisions, intake)
        }
        Format::Ack277ca => {
            let (submitter, app) = intake
                .acks
                .first()
                .map(|g| (g.sender.1.clone(), g.app_sender.clone()))
                .unwrap_or_default();
            let acked: Vec<x12::AckedClaim<'_>> = claims
                .iter()
                .zip(decisions)
                .map(|(c, d)| (c, d.payer_claim_id.as_str()))
                .collect();
            let rejected: Vec<x12::RejectedClaim<'_>> =
                intake.unprocessed.iter().map(|(c, e)| (c, e)).collect();
            x12::write_277ca(
                &acked,
                &rejected,
                &x12::AckClaimsConfig {
                    created: crate::store::now(),
                    control_number,
                    payer: (payer.name.clone(), payer.id.clone()),
                    submitter: (submitter, app),
                    test: intake.acks.iter().any(|g| g.test),
                },
            )
        }
        Format::Remit835 => {
            let items: Vec<(&Claim, &ClaimDecision)> = claims.iter().zip(decisions).collect();
            x12::write_835(
                &items,
                &payer.remit(
                    crate::store::now(),
                    control_number,
                    intake.acks.iter().any(|g| g.test),
                ),
            )
        }
    }
}

/// `POST /v1/claims`.
pub(super) async fn submit(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    query: web::Query<SubmitQuery>,
    payload: web::Payload,
) -> ApiResult {
    expect_media(req.headers(), X12_MEDIA)?;
    let check = match query.mode.as_deref() {
        None | Some("submit") => false,
        Some("check") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "mode={other}: use check (or leave it out to submit)"
            )))
        }
    };
    let format = match query.format.as_deref() {
        None if wants_x12(&req) && check => Format::Ack999,
        None if wants_x12(&req) => Format::Remit835,
        None | Some("json") => Format::Json,
        Some("999") => Format::Ack999,
        Some("835") if !check => Format::Remit835,
        Some("277ca") => Format::Ack277ca,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "format={other}: use json, 999, 835 or 277ca; with mode=check, json, 999 or 277ca (nothing is paid in a check)"
            )))
        }
    };
    let key = req
        .headers()
        .get("Idempotency-Key")
        .map(|v| {
            v.to_str()
                .map(str::to_string)
                .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()))
        })
        .transpose()?;
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 255) {
        return Err(ApiError::BadRequest(
            "Idempotency-Key must be 1 to 255 characters".into(),
        ));
    }
    // Keys are per caller: one billing system's (or staff member's) key
    // never answers another's.
    let key = key.map(|k| format!("{}|{}:{k}", actor.caller.subject, actor.caller.client_id));
    let body = read_body(req.headers(), payload, state.config.body_limit).await?;
    let hash = {
        let mut h = Sha256::new();
        h.update(format!("{format:?}").as_bytes());
        h.update([0]);
        h.update(&body);
        format!("{:x}", h.finalize())
    };
    // A repeat is answered before parsing anything.
    if let Some(k) = &key {
        if !check {
            if let Some((stored_hash, response)) = state.store.idempotent_response(k).await? {
                if stored_hash != hash {
                    return Err(crate::store::StoreError::IdempotencyMismatch(k.clone()).into());
                }
                return Ok(respond(format, response, true));
            }
        }
    }
    let Received { claims, intake } = web::block(move || receive(body))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    foreign_npis(&actor, claims.iter().map(|c| (&c.claim_id, &c.billing_npi)))?;
    let rules = state.rules();
    let control_number = match format {
        Format::Json => 0,
        Format::Ack999 => state.store.next_control_number("999").await?,
        Format::Remit835 => state.store.next_control_number("835").await?,
        Format::Ack277ca => state.store.next_control_number("277ca").await?,
    };
    if check {
        let decisions = state.store.check(&rules, &claims).await?;
        let text = render(
            format,
            rules.version(),
            &claims,
            &decisions,
            &intake,
            control_number,
            &state.config.payer,
        );
        return Ok(respond(format, text, false));
    }
    let version = rules.version().to_string();
    let claims_ref = &claims;
    let intake_ref = &intake;
    let payer_ref = &state.config.payer;
    let renderer = move |d: &[ClaimDecision]| {
        render(
            format,
            &version,
            claims_ref,
            d,
            intake_ref,
            control_number,
            payer_ref,
        )
    };
    let outcome = state
        .store
        .submit(
            &rules,
            &claims,
            SubmitOptions {
                idempotency: key.as_deref().map(|k| (k, hash.as_str())),
                batch: None,
                // Consuming units changes authorizations: who did it, from
                // where, is stored on the claim rows of the change.
                audit: Some(&actor.entry("claims.submit", "claim", "")),
            },
            &renderer,
        )
        .await?;
    Ok(match outcome {
        Submitted::Fresh(decisions, text) => {
            state.metrics.decisions(&decisions);
            respond(format, text, false)
        }
        Submitted::Replay(text) => respond(format, text, true),
    })
}

fn respond(format: Format, body: String, replay: bool) -> HttpResponse {
    let mut r = HttpResponse::Ok();
    // An X12 format with nothing to put in it falls back to the JSON answer.
    r.content_type(if format == Format::Json || !body.starts_with("ISA") {
        "application/json"
    } else {
        "application/edi-x12"
    });
    if replay {
        r.insert_header(("Idempotent-Replay", "true"));
    }
    r.body(body)
}

/// A billing system submits only claims billed under its own NPIs: any
/// other claim refuses the whole submission (403, nothing adjudicated or
/// consumed), naming each such claim by CLM01 and billing NPI.
pub(super) fn foreign_npis<'a>(
    actor: &Actor,
    claims: impl Iterator<Item = (&'a String, &'a String)>,
) -> ApiResult<()> {
    let Some(own) = &actor.caller.npis else {
        return Ok(());
    };
    let foreign: Vec<String> = claims
        .filter(|(_, npi)| !own.contains(npi))
        .map(|(id, npi)| format!("claim {id} is billed under NPI {npi}"))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "nothing was adjudicated: this client submits only for billing NPIs {}, and {}",
        own.join(", "),
        foreign.join("; ")
    )))
}

/// `GET /v1/claims/{payer_claim_id}`.
pub(super) async fn get(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> ApiResult {
    let id = path.into_inner();
    let what = format!("claim {id}");
    let c = state
        .store
        .claim(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{what} not found")))?;
    actor.may_see_npi(&c.billing_npi, &what)?;
    // Every read of a claim and its decision is audited (ids only, no PHI).
    actor.audit(&state, "claim.read", "claim", &id).await?;
    Ok(HttpResponse::Ok().json(c))
}

#[derive(Debug, Deserialize)]
pub(super) struct SearchQuery {
    billing_npi: Option<String>,
    claim_id: Option<String>,
}

/// `GET /v1/claims?billing_npi=&claim_id=`: every claim under that key.
pub(super) async fn search(
    state: web::Data<AppState>,
    actor: Actor,
    q: web::Query<SearchQuery>,
) -> ApiResult {
    let (Some(npi), Some(id)) = (q.billing_npi.as_deref(), q.claim_id.as_deref()) else {
        return Err(ApiError::BadRequest(
            "give billing_npi and claim_id (the patient control number, CLM01)".into(),
        ));
    };
    // Another billing system's NPI finds nothing.
    let claims = if actor.caller.may_see_npi(npi) {
        state.store.claims_by_key(npi, id).await?
    } else {
        Vec::new()
    };
    // The patient control number stays out of the record; the payer
    // claim ids found say what was read.
    for c in &claims {
        actor
            .audit(&state, "claim.read", "claim", &c.payer_claim_id)
            .await?;
    }
    #[derive(Serialize)]
    struct Found {
        claims: Vec<crate::store::StoredClaim>,
    }
    Ok(HttpResponse::Ok().json(Found { claims }))
}
