//! A stored claim's X12 answers, written again (`GET
//! /v1/claims/{id}?format=277ca|835`, and the console's claim downloads):
//! its 835 when it was denied in full (SPEC §4: only such claims have a
//! place in an 835), and its 277CA when its 837 is at hand.
//!
//! The store keeps a claim's decision and its facts (the claim as its
//! 837 sent it), not the 837 text. Both answers are written from them;
//! the 277CA names the patient and member id (2100D NM1*QC) from the
//! facts, so a claim stored before facts were kept has none. Control
//! numbers are the store's, as for every answer.

use actix_web::HttpResponse;

use super::guard::Actor;
use super::{ApiError, ApiResult, AppState};
use crate::model::{Claim, ClaimDecision};
use crate::store::StoredClaim;
use crate::x12::{self, X12Answer};

/// The stored claim a caller may read, its read audited; `None`: no such
/// claim for this caller (404, whoever bills it).
pub async fn readable_claim(state: &AppState, actor: &Actor, id: &str) -> ApiResult<StoredClaim> {
    let what = format!("claim {id}");
    let c = state
        .store
        .claim(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{what} not found")))?;
    actor.may_see_npi(&c.billing_npi, &what)?;
    // Every read of a claim and its decision is audited (ids only, no PHI).
    actor.audit(state, "claim.read", "claim", id).await?;
    Ok(c)
}

/// The decision a stored claim keeps.
pub fn stored_decision(c: &StoredClaim) -> ApiResult<ClaimDecision> {
    serde_json::from_str(c.decision.get())
        .map_err(|e| ApiError::Internal(format!("stored decision of {}: {e}", c.payer_claim_id)))
}

/// True when the claim has an 835: denied in full.
pub fn has_835(d: &ClaimDecision) -> bool {
    x12::remittable(d)
}

/// The claim as its 837 sent it: the facts the store keeps with its
/// decision (issue 17's claim records). A claim stored before records
/// were kept has none.
pub async fn claim_837(state: &AppState, c: &StoredClaim) -> ApiResult<Option<Claim>> {
    Ok(state.store.claim_facts(&c.payer_claim_id).await?)
}

/// Whether a claim's 277CA can be written (its facts are kept).
pub async fn has_277ca(state: &AppState, c: &StoredClaim) -> ApiResult<bool> {
    Ok(claim_837(state, c).await?.is_some())
}

/// A stored claim's 277CA or 835 as an `application/edi-x12` answer; a
/// claim not denied in full has no 835 (404 saying so).
pub async fn claim_x12(state: &AppState, c: &StoredClaim, kind: X12Answer) -> ApiResult {
    let d = stored_decision(c)?;
    let text = match kind {
        X12Answer::Remit835 => {
            if !has_835(&d) {
                return Err(ApiError::NotFound(format!(
                    "claim {} is {}, not denied in full: it has no 835",
                    c.payer_claim_id, c.status
                )));
            }
            let control_number = state.store.next_control_number(kind.counter()).await?;
            let cfg = state
                .config
                .payer
                .remit(crate::store::now(), control_number, false);
            // The 837 when at hand names the patient, as the batch's did.
            let claim = claim_837(state, c).await?;
            let mut w = x12::Remit835::new(&cfg);
            w.push(&x12::RemitClaim {
                decision: &d,
                billing_npi: &c.billing_npi,
                frequency_code: &c.frequency,
                claim: claim.as_ref(),
            });
            w.finish()
        }
        X12Answer::Ack277ca => {
            let Some(claim) = claim_837(state, c).await? else {
                return Err(ApiError::NotFound(format!(
                    "claim {} was stored without its facts (before they were kept): its 277CA cannot name the patient",
                    c.payer_claim_id
                )));
            };
            let control_number = state.store.next_control_number(kind.counter()).await?;
            let payer = &state.config.payer;
            let cfg = x12::AckClaimsConfig {
                created: crate::store::now(),
                control_number,
                payer: (payer.name.clone(), payer.id.clone()),
                submitter: (String::new(), String::new()),
                test: false,
            };
            x12::write_277ca(&[(&claim, c.payer_claim_id.as_str())], &cfg)
        }
        X12Answer::Ack999 | X12Answer::Ta1 => {
            return Err(ApiError::BadRequest(
                "a stored claim has a 277CA and, denied in full, an 835".into(),
            ))
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("application/edi-x12")
        .body(text))
}
