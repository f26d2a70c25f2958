//! `/v1/claims`: submit an 837 (or check it), look up stored claims.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::body::{expect_media, read_body, wants_x12, X12_MEDIA};
use super::guard::Actor;
use super::{ApiError, ApiResult, AppState};
use crate::model::{Claim, ClaimDecision};
use crate::store::{SubmitOptions, Submitted};
use crate::x12;
use crate::x12::{Intake, X12Answer};

/// An 837 read from a request body: claims of accepted sets, in order,
/// and what was rejected.
pub(super) struct Received {
    pub claims: Vec<Claim>,
    pub intake: Intake,
}

/// Parses an 837 body; a body with no readable interchange is a 400,
/// unless `ta1` (a 999 or TA1 was asked for) and a TA1 can say what is
/// wrong with its header.
pub(super) fn receive(body: Vec<u8>, ta1: bool) -> ApiResult<Received> {
    let mut claims = Vec::new();
    // One body, so rejections name no file.
    let mut reader = x12::SetReader::new(std::io::Cursor::new(body), None);
    while let Some(mut set) = reader.next_accepted() {
        claims.append(&mut set.claims);
    }
    let intake = reader.finish();
    if intake.summary.interchanges == 0 && !(ta1 && intake.interchange_at_fault()) {
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
    struct Answer<'a> {
        rule_set: &'a str,
        claims: &'a [ClaimDecision],
        rejected: &'a [x12::Rejected],
    }
    let answer = Answer {
        rule_set: version,
        claims: decisions,
        rejected: &intake.rejected,
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
    X12(X12Answer),
}

impl Format {
    /// The name hashed with an idempotent request's body (kept as the
    /// stored hashes have it).
    fn hash_name(self) -> &'static str {
        match self {
            Format::Json => "Json",
            Format::X12(X12Answer::Ack999) => "Ack999",
            Format::X12(X12Answer::Remit835) => "Remit835",
            Format::X12(X12Answer::Ack277ca) => "Ack277ca",
            Format::X12(X12Answer::Ta1) => "Ta1",
        }
    }
}

fn render(
    format: Format,
    version: &str,
    claims: &[Claim],
    decisions: &[ClaimDecision],
    intake: &Intake,
    control_number: u32,
    payer: &x12::Payer,
) -> String {
    let Format::X12(kind) = format else {
        return answer_json(version, decisions, intake);
    };
    let decided: Vec<(&Claim, &ClaimDecision)> = claims.iter().zip(decisions).collect();
    let stamp = x12::Stamp {
        created: crate::store::now(),
        control_number,
    };
    // An X12 answer with nothing in it (no claim denied in full for an
    // 835): an empty body, which `respond` turns into 204 No Content.
    x12::x12_answer(kind, &decided, intake, stamp, payer).unwrap_or_default()
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
        // The acknowledgment a billing system expects after a submission.
        None if wants_x12(&req) => Format::X12(X12Answer::Ack277ca),
        None | Some("json") => Format::Json,
        Some("999") => Format::X12(X12Answer::Ack999),
        Some("835") if !check => Format::X12(X12Answer::Remit835),
        Some("277ca") => Format::X12(X12Answer::Ack277ca),
        Some("ta1") => Format::X12(X12Answer::Ta1),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "format={other}: use json, 999, 835, 277ca or ta1; with mode=check, json, 999, 277ca or ta1 (no 835 for a check)"
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
        h.update(format.hash_name().as_bytes());
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
    let ta1 = matches!(
        format,
        Format::X12(X12Answer::Ack999) | Format::X12(X12Answer::Ta1)
    );
    let Received { claims, intake } = web::block(move || receive(body, ta1))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    foreign_npis(&actor, claims.iter().map(|c| (&c.claim_id, &c.billing_npi)))?;
    let rules = state.rules();
    let control_number = match format {
        Format::Json => 0,
        Format::X12(kind) => state.store.next_control_number(kind.counter()).await?,
    };
    // A body whose interchange header could not be read: only a TA1 says
    // anything of it, and nothing is adjudicated.
    if intake.summary.interchanges == 0 {
        let text = render(
            format,
            rules.version(),
            &claims,
            &[],
            &intake,
            control_number,
            &state.config.payer,
        );
        return Ok(respond(format, text, false));
    }
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
    // An X12 answer with nothing to say (an 835 without a claim denied in
    // full) is 204 No Content.
    let mut r = if format != Format::Json && body.is_empty() {
        HttpResponse::NoContent()
    } else {
        HttpResponse::Ok()
    };
    if replay {
        r.insert_header(("Idempotent-Replay", "true"));
    }
    if format != Format::Json && body.is_empty() {
        return r.finish();
    }
    r.content_type(if format == Format::Json {
        "application/json"
    } else {
        "application/edi-x12"
    });
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

/// `GET /v1/claims/{payer_claim_id}`: the stored claim and decision as
/// JSON, or (`format=277ca`, `format=835`) its X12 answers written again.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GetQuery {
    format: Option<String>,
}

pub(super) async fn get(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
    q: web::Query<GetQuery>,
) -> ApiResult {
    let kind = match q.format.as_deref() {
        None | Some("json") => None,
        Some("277ca") => Some(X12Answer::Ack277ca),
        Some("835") => Some(X12Answer::Remit835),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "format={other}: use json, 277ca or 835"
            )))
        }
    };
    let c = super::claim_answers::readable_claim(&state, &actor, &path.into_inner()).await?;
    match kind {
        None => Ok(HttpResponse::Ok().json(c)),
        Some(kind) => super::claim_answers::claim_x12(&state, &c, kind).await,
    }
}

/// `GET /v1/claims`: stored claims by CLM01, billing NPI, payer claim id,
/// status, CARC, rule, service and received dates, newest first, a page
/// at a time (`next`). A billing system finds only its own NPIs' claims.
pub(super) async fn search(
    state: web::Data<AppState>,
    actor: Actor,
    q: web::Query<crate::store::SearchParams>,
) -> ApiResult {
    let (mut filter, limit, after) = q
        .filter()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    filter.npis.clone_from(&actor.caller.npis);
    let page = state
        .store
        .search_claims(&filter, after.as_ref(), limit)
        .await?;
    // The patient control number stays out of the record; the payer
    // claim ids found say what was read.
    let ids: Vec<&str> = page
        .claims
        .iter()
        .map(|c| c.payer_claim_id.as_str())
        .collect();
    actor
        .audit_each(&state, "claim.read", "claim", &ids)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
