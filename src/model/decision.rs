//! What adjudication answers (SPEC §4): per claim, per line.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};

use super::carc::{Carc, Group, Rarc};

/// Money with at least two decimals ("2400.00"), as a JSON string.
pub fn money(d: Decimal) -> Decimal {
    if d.scale() < 2 {
        let mut m = d;
        m.rescale(2);
        m
    } else {
        d
    }
}

fn ser_money<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&money(*d).to_string())
}

fn ser_units<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.normalize().to_string())
}

code_list! {
    /// A line's decision.
    Decision {
        /// PA required and a valid authorization covers the line.
        Approved = "approved",
        /// No rule requires PA.
        NotRequired = "not_required",
        /// PA required and not satisfied.
        Denied = "denied",
        /// Some units approved, the excess denied.
        Partial = "partial",
        /// The authorization is pending: not final.
        Pended = "pended",
    }
}

code_list! {
    /// A claim's status.
    ClaimStatus {
        /// Every line approved or not requiring PA.
        Approved = "approved",
        /// Every line denied.
        Denied = "denied",
        /// Some lines denied or partial.
        Partial = "partial",
        /// Some line pended.
        Pended = "pended",
        /// A void (frequency 8).
        Voided = "voided",
    }
}

/// One adjustment (a CAS triplet with its group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    /// Group code (CO, OA).
    pub group: Group,
    /// Reason code.
    pub carc: Carc,
    /// Amount adjusted.
    #[serde(serialize_with = "ser_money")]
    pub amount: Decimal,
    /// Units adjusted.
    #[serde(serialize_with = "ser_units")]
    pub units: Decimal,
}

/// `CO-198 1200.00`, as tables and explanations show an adjustment.
impl std::fmt::Display for Adjustment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-{} {}",
            self.group.as_str(),
            self.carc.as_str(),
            money(self.amount)
        )
    }
}

/// Units an approved or partial line took from an authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumption {
    /// Authorization number.
    pub authorization: String,
    /// LX line number.
    pub line: u32,
    /// Units taken.
    pub units: Decimal,
}

/// The decision on one service line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineDecision {
    /// LX line number.
    pub line: u32,
    /// Procedure code.
    pub procedure: Option<String>,
    /// Revenue code (837I).
    pub revenue_code: Option<String>,
    /// Procedure modifiers.
    pub modifiers: Vec<String>,
    /// Service date (first day).
    pub service_date: Option<chrono::NaiveDate>,
    /// Billed units.
    #[serde(serialize_with = "ser_units")]
    pub units: Decimal,
    /// Line charge.
    #[serde(serialize_with = "ser_money")]
    pub charge: Decimal,
    /// The decision.
    pub decision: Decision,
    /// Id of the rule that requires PA (null when none does).
    pub rule: Option<String>,
    /// The authorization number that decided (null when none was attached).
    pub authorization: Option<String>,
    /// An authorization on file that would have passed, when denied.
    pub suggestion: Option<String>,
    /// The exemption (SPEC §3.5) that relieved the line of prior
    /// authorization (null when none did).
    #[serde(default)]
    pub exemption: Option<String>,
    /// Units approved.
    #[serde(serialize_with = "ser_units")]
    pub units_approved: Decimal,
    /// Units denied.
    #[serde(serialize_with = "ser_units")]
    pub units_denied: Decimal,
    /// Adjustments (CAS).
    pub adjustments: Vec<Adjustment>,
    /// Remark codes (LQ*HE).
    pub remarks: Vec<Rarc>,
    /// A sentence a person can act on.
    pub reason: String,
}

impl LineDecision {
    /// Sum of adjustment amounts.
    pub fn adjusted(&self) -> Decimal {
        self.adjustments.iter().map(|a| a.amount).sum()
    }
}

/// The decision on one claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimDecision {
    /// CLM01 patient control number.
    pub claim_id: String,
    /// The payer's id for this claim.
    pub payer_claim_id: String,
    /// Claim status.
    pub status: ClaimStatus,
    /// Line decisions in LX order.
    pub lines: Vec<LineDecision>,
    /// Units this claim consumed (the store's ledger); not part of the JSON.
    #[serde(skip)]
    pub consumption: Vec<Consumption>,
    /// Units given back to authorizations by a replacement or void.
    #[serde(skip)]
    pub reversed: Vec<Consumption>,
    /// The earlier decision a replacement or void takes back, when the
    /// history knows it (the store does): the 835 reports its reversal.
    #[serde(skip)]
    pub takes_back: Option<Box<ClaimDecision>>,
}
