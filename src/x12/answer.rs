//! The X12 answer to a submission (SPEC §4), built in one place for the API
//! and the CLI: the 999 for the syntax, the 277CA acknowledging claims, the
//! 835 of decisions. Each says when it has nothing to tell ([`Nothing`]):
//! the CLI reports that, the API answers otherwise.

use chrono::NaiveDateTime;

use super::ack277ca::{write_277ca, AckClaimsConfig, AckedClaim, RejectedClaim};
use super::ack999::{write_999, AckEnvelope};
use super::intake::Intake;
use super::remit835::{remittable, write_835, RemitConfig};
use crate::model::{Claim, ClaimDecision};

/// Which X12 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum X12Answer {
    /// 999 implementation acknowledgment (005010X231A1).
    Ack999,
    /// 835 remittance advice (005010X221A1).
    Remit835,
    /// 277CA claim acknowledgment (005010X214).
    Ack277ca,
}

impl X12Answer {
    /// The control-number counter of this kind (`999`, `835`, `277ca`).
    pub fn counter(self) -> &'static str {
        match self {
            X12Answer::Ack999 => "999",
            X12Answer::Remit835 => "835",
            X12Answer::Ack277ca => "277ca",
        }
    }
}

/// Why there is no X12 answer of the kind asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Nothing {
    /// No functional group was read.
    #[error("no functional group could be read, so there is nothing a 999 can acknowledge")]
    NoGroup,
    /// Every claim is pended or voided (or there is none).
    #[error("no final claim to remit: pended and voided claims are not reported in an 835")]
    NothingFinal,
    /// No claim was read at all.
    #[error("no claim could be read, so a 277CA has nothing to acknowledge (see the 999)")]
    NoClaim,
}

/// The payer as the 835 (N1*PR, TRN03, PER) and the 277CA (NM1*PR) name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payer {
    /// Its name.
    pub name: String,
    /// Its payer id in the 277CA.
    pub id: String,
    /// Its tax id, 9 digits (TRN03 is `1` + this).
    pub tin: String,
    /// Its address: street, city, state, zip.
    pub address: (String, String, String, String),
    /// The EDI contact's phone (PER*BL).
    pub phone: String,
}

impl Default for Payer {
    /// The plan of the bundled rule set.
    fn default() -> Self {
        let d = RemitConfig::default();
        Payer {
            name: d.payer_name,
            id: "HAP01".into(),
            tin: d.payer_tin,
            address: d.payer_address,
            phone: d.payer_phone,
        }
    }
}

impl Payer {
    /// The 835's settings for this payer.
    pub fn remit(&self, created: NaiveDateTime, control_number: u32, test: bool) -> RemitConfig {
        RemitConfig {
            payer_name: self.name.clone(),
            payer_tin: self.tin.clone(),
            payer_address: self.address.clone(),
            payer_phone: self.phone.clone(),
            created,
            control_number,
            test,
        }
    }
}

/// When the answer is made and its control number.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    /// Date and time written into the envelope.
    pub created: NaiveDateTime,
    /// ISA13 / GS06 and the base of trace numbers.
    pub control_number: u32,
}

/// Why the answer of `kind` would have nothing to say, if it would not
/// (checked before a control number is taken for it).
pub fn nothing_to_say(
    kind: X12Answer,
    decided: &[(&Claim, &ClaimDecision)],
    intake: &Intake,
) -> Option<Nothing> {
    match kind {
        X12Answer::Ack999 if intake.acks.is_empty() => Some(Nothing::NoGroup),
        X12Answer::Remit835 if !decided.iter().any(|(_, d)| remittable(d)) => {
            Some(Nothing::NothingFinal)
        }
        X12Answer::Ack277ca if decided.is_empty() && intake.unprocessed.is_empty() => {
            Some(Nothing::NoClaim)
        }
        _ => None,
    }
}

/// The answer of `kind` to the claims read (`decided`: the claims of the
/// accepted sets with their decisions, in order) and the rest of `intake`.
pub fn x12_answer(
    kind: X12Answer,
    decided: &[(&Claim, &ClaimDecision)],
    intake: &Intake,
    stamp: Stamp,
    payer: &Payer,
) -> Result<String, Nothing> {
    if let Some(nothing) = nothing_to_say(kind, decided, intake) {
        return Err(nothing);
    }
    let test = intake.test();
    match kind {
        X12Answer::Ack999 => {
            let env = AckEnvelope {
                created: stamp.created,
                control_number: stamp.control_number,
                test,
            };
            Ok(write_999(&intake.acks, &env))
        }
        X12Answer::Remit835 => {
            let cfg = payer.remit(stamp.created, stamp.control_number, test);
            Ok(write_835(decided, &cfg))
        }
        X12Answer::Ack277ca => {
            let (submitter, app) = intake
                .acks
                .first()
                .map(|g| (g.sender.1.clone(), g.app_sender.clone()))
                .unwrap_or_default();
            let acked: Vec<AckedClaim<'_>> = decided
                .iter()
                .map(|(c, d)| (*c, d.payer_claim_id.as_str()))
                .collect();
            let rejected: Vec<RejectedClaim<'_>> =
                intake.unprocessed.iter().map(|(c, e)| (c, e)).collect();
            let cfg = AckClaimsConfig {
                created: stamp.created,
                control_number: stamp.control_number,
                payer: (payer.name.clone(), payer.id.clone()),
                submitter: (submitter, app),
                test,
            };
            Ok(write_277ca(&acked, &rejected, &cfg))
        }
    }
}
