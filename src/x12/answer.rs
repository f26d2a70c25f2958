//! The X12 answer to a submission (SPEC §4), built in one place for the API
//! and the CLI: the 999 for the syntax, the 277CA acknowledging claims, the
//! 835 of decisions. Each says when it has nothing to tell ([`Nothing`]):
//! the CLI reports that, the API answers otherwise.

use chrono::NaiveDateTime;

use super::ack277ca::{write_277ca, AckClaimsConfig, AckedClaim};
use super::ack999::{write_999_ta1, AckEnvelope};
use super::intake::Intake;
use super::remit835::{remittable, write_835, RemitConfig};
use super::ta1::write_ta1;
use crate::model::{Claim, ClaimDecision};

/// Which X12 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum X12Answer {
    /// 999 implementation acknowledgment (005010X231A1).
    Ack999,
    /// 835 (005010X221A1): notification-only advice of the claims denied in full.
    Remit835,
    /// 277CA claim acknowledgment (005010X214).
    Ack277ca,
    /// TA1 interchange acknowledgment.
    Ta1,
}

impl X12Answer {
    /// The control-number counter of this kind (`999`, `835`, `277ca`).
    pub fn counter(self) -> &'static str {
        match self {
            X12Answer::Ack999 => "999",
            X12Answer::Remit835 => "835",
            X12Answer::Ack277ca => "277ca",
            X12Answer::Ta1 => "ta1",
        }
    }
}

/// Why there is no X12 answer of the kind asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Nothing {
    /// No functional group was read.
    #[error("no functional group could be read, so there is nothing a 999 can acknowledge")]
    NoGroup,
    /// Every interchange envelope was in order and none asked for a TA1.
    #[error("every interchange header and trailer is in order and none asked for a TA1 (ISA14 0), so there is no TA1")]
    NoTa1,
    /// No claim was denied in full: priorauth's 835 lists only those.
    #[error("no claim was denied in full, so there is no 835: approved, partial, pended and voided claims go on to the payer's claims system, which sends the paying 835")]
    NoDenial,
    /// No claim of an accepted set: the 999 answers rejected sets alone.
    #[error("no transaction set was accepted with a claim in it, so a 277CA has nothing to acknowledge (the 999 answers rejected sets)")]
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
        X12Answer::Ack999 if intake.acks.is_empty() && !intake.interchange_at_fault() => {
            Some(Nothing::NoGroup)
        }
        X12Answer::Ta1 if !intake.interchanges.iter().any(|i| i.owed()) => Some(Nothing::NoTa1),
        X12Answer::Remit835 if !decided.iter().any(|(_, d)| remittable(d)) => {
            Some(Nothing::NoDenial)
        }
        X12Answer::Ack277ca if decided.is_empty() => Some(Nothing::NoClaim),
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
    let env = AckEnvelope {
        created: stamp.created,
        control_number: stamp.control_number,
        test,
    };
    match kind {
        // A TA1 goes ahead of the 999's group when an interchange's own
        // envelope is at fault or its sender asked for one.
        X12Answer::Ack999 => Ok(write_999_ta1(&intake.acks, &intake.interchanges, &env)),
        X12Answer::Ta1 => Ok(write_ta1(&intake.interchanges, &env)),
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
            let cfg = AckClaimsConfig {
                created: stamp.created,
                control_number: stamp.control_number,
                payer: (payer.name.clone(), payer.id.clone()),
                submitter: (submitter, app),
                test,
            };
            Ok(write_277ca(&acked, &cfg))
        }
    }
}
