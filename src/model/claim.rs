//! Claims and service lines as adjudication sees them (SPEC §2.1).

use std::borrow::Cow;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::DateRange;

/// Which 837 a claim came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClaimKind {
    /// 837P, 005010X222A1.
    #[serde(rename = "professional")]
    Professional,
    /// 837I, 005010X223A2.
    #[serde(rename = "institutional")]
    Institutional,
    /// 837D, 005010X224A2.
    #[serde(rename = "dental")]
    Dental,
}

/// CLM05-3 claim frequency type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// `1`: an original claim.
    Original,
    /// `7`: replaces an earlier claim.
    Replacement,
    /// `8`: voids an earlier claim.
    Void,
    /// Any other code (e.g. `2`-`6` interim bills on 837I); treated as original.
    Other,
}

impl Frequency {
    /// From the CLM05-3 code.
    pub fn from_code(code: &str) -> Frequency {
        match code {
            "1" => Frequency::Original,
            "7" => Frequency::Replacement,
            "8" => Frequency::Void,
            _ => Frequency::Other,
        }
    }
}

/// Line of business, from the claim filing indicator SBR09 (SPEC §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineOfBusiness {
    /// Everything that is not Medicare or Medicaid.
    Commercial,
    /// SBR09 `MA`, `MB` or `16`.
    Medicare,
    /// SBR09 `MC`.
    Medicaid,
}

impl LineOfBusiness {
    /// From SBR09.
    pub fn from_filing_indicator(code: &str) -> LineOfBusiness {
        match code {
            "MA" | "MB" | "16" => LineOfBusiness::Medicare,
            "MC" => LineOfBusiness::Medicaid,
            _ => LineOfBusiness::Commercial,
        }
    }

    /// From its name in rule files and queries (`commercial`, `medicare`,
    /// `medicaid`).
    pub fn from_word(word: &str) -> Option<LineOfBusiness> {
        [
            LineOfBusiness::Commercial,
            LineOfBusiness::Medicare,
            LineOfBusiness::Medicaid,
        ]
        .into_iter()
        .find(|l| l.as_str() == word)
    }

    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            LineOfBusiness::Commercial => "commercial",
            LineOfBusiness::Medicare => "medicare",
            LineOfBusiness::Medicaid => "medicaid",
        }
    }
}

/// The subscriber (2000B / 2010BA).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Subscriber {
    /// Member id, NM109 of NM1*IL.
    pub member_id: String,
    /// Claim filing indicator, SBR09.
    pub filing_indicator: String,
    /// Payer responsibility sequence, SBR01 (`P` primary, `S`, `T`, ...).
    #[serde(default)]
    pub payer_responsibility: String,
    /// Birth date, 2010BA DMG02. PHI: used for matching only, never logged.
    #[serde(default, deserialize_with = "super::dates::ymd::option")]
    pub birth_date: Option<NaiveDate>,
    /// Last name (NM103). PHI: never logged.
    pub last_name: String,
    /// First name (NM104). PHI: never logged.
    pub first_name: String,
}

/// The patient, when not the subscriber (2000C / 2010CA).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Patient {
    /// Relationship to the subscriber, PAT01.
    pub relationship: String,
    /// Birth date, 2010CA DMG02. PHI: used for matching only, never logged.
    #[serde(default, deserialize_with = "super::dates::ymd::option")]
    pub birth_date: Option<NaiveDate>,
    /// Last name (NM103). PHI: never logged.
    pub last_name: String,
    /// First name (NM104). PHI: never logged.
    pub first_name: String,
}

/// A procedure composite: qualifier, code and up to four modifiers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Procedure {
    /// Code list qualifier (`HC` for CPT/HCPCS, `AD` for CDT, ...). The
    /// common ones are static strings: one allocation less per line.
    pub qualifier: Cow<'static, str>,
    /// The code.
    pub code: String,
    /// Modifiers, in order.
    pub modifiers: Vec<String>,
}

/// One service line (loop 2400).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLine {
    /// LX01 line number.
    pub number: u32,
    /// SV101 / SV202 / SV301 procedure composite.
    pub procedure: Option<Procedure>,
    /// SV201 revenue code (837I).
    pub revenue_code: Option<String>,
    /// Line charge. Amounts are text in every format, read as text: the
    /// stored facts' binary form (postcard) cannot read "any" type.
    #[serde(with = "rust_decimal::serde::str")]
    pub charge: Decimal,
    /// Unit basis (`UN`, `MJ`, `DA`), static for the usual codes.
    pub unit_basis: Option<Cow<'static, str>>,
    /// Units billed (1 when the claim gives none).
    #[serde(with = "rust_decimal::serde::str")]
    pub units: Decimal,
    /// SV105 place of service, when given on the line.
    pub place_of_service: Option<String>,
    /// SV109 = `Y`.
    pub emergency: bool,
    /// DTP*472 on the line.
    pub service_date: Option<DateRange>,
    /// 2400 REF*G1, in order (up to five).
    pub prior_auths: Vec<String>,
    /// 2400 REF*9F.
    pub referrals: Vec<String>,
    /// REF*6R line item control number.
    pub control_number: Option<String>,
    /// 2420A NM1*82 rendering provider NPI.
    pub rendering_npi: Option<String>,
}

/// One claim (loop 2300) with its provider and subscriber context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// 837P, 837I or 837D.
    pub kind: ClaimKind,
    /// CLM01 patient control number.
    pub claim_id: String,
    /// CLM02 total charge.
    #[serde(with = "rust_decimal::serde::str")]
    pub total_charge: Decimal,
    /// CLM05-1: place of service (837P) or facility type code (837I).
    pub facility_code: String,
    /// CLM05-3 as a frequency.
    pub frequency: Frequency,
    /// CLM05-3 as sent.
    pub frequency_code: String,
    /// 2010AA NM1*85 NM109.
    pub billing_npi: String,
    /// 2010AA NM1*85 NM103, the billing provider's name (the 835 payee).
    pub billing_name: String,
    /// Claim-level rendering provider (837P 2310B / 837I 2310D NM1*82).
    pub rendering_npi: Option<String>,
    /// 837I attending provider (2310A NM1*71).
    #[serde(default)]
    pub attending_npi: Option<String>,
    /// The subscriber.
    pub subscriber: Subscriber,
    /// The patient, when a 2000C loop is present.
    pub patient: Option<Patient>,
    /// 2300 REF*G1 prior authorization numbers.
    pub prior_auths: Vec<String>,
    /// 2300 REF*9F referral numbers.
    pub referrals: Vec<String>,
    /// 2300 REF*F8 payer claim control number (replacements, voids).
    pub payer_claim_number: Option<String>,
    /// 2300 REF*D9 clearinghouse trace number (echoed in the 277CA).
    pub trace_number: Option<String>,
    /// HI diagnosis codes, in order.
    pub diagnoses: Vec<String>,
    /// 2300 DTP*472 (837P) service date.
    pub service_date: Option<DateRange>,
    /// 2300 DTP*434 (837I) statement period.
    pub statement_period: Option<DateRange>,
    /// CL101 admission type (837I).
    pub admission_type: Option<String>,
    /// Service lines in LX order.
    pub lines: Vec<ServiceLine>,
    /// ST02 of the transaction set the claim came in.
    pub transaction_set: String,
}

impl Claim {
    /// Line of business from SBR09.
    pub fn line_of_business(&self) -> LineOfBusiness {
        LineOfBusiness::from_filing_indicator(&self.subscriber.filing_indicator)
    }

    /// The date range a line is adjudicated for: its own DTP*472, else the
    /// claim-level fallback (837P 2300 DTP*472, 837I DTP*434).
    pub fn line_dates(&self, line: &ServiceLine) -> Option<DateRange> {
        line.service_date
            .or(self.service_date)
            .or(self.statement_period)
    }

    /// Place of service of a line: SV105, else CLM05-1 on 837P/837D.
    /// 837I lines have none.
    pub fn line_place_of_service<'a>(&'a self, line: &'a ServiceLine) -> Option<&'a str> {
        match self.kind {
            ClaimKind::Institutional => None,
            _ => line
                .place_of_service
                .as_deref()
                .or(Some(self.facility_code.as_str()))
                .filter(|s| !s.is_empty()),
        }
    }

    /// SPEC §2.2 emergency line: POS 23, SV109 `Y`, 837I revenue code
    /// 0450-0459, or 837I admission type 1.
    pub fn line_is_emergency(&self, line: &ServiceLine) -> bool {
        if line.emergency || self.line_place_of_service(line) == Some("23") {
            return true;
        }
        if self.kind == ClaimKind::Institutional {
            let er_revenue = line
                .revenue_code
                .as_deref()
                .is_some_and(|r| r.len() == 4 && r.starts_with("045"));
            return er_revenue || self.admission_type.as_deref() == Some("1");
        }
        false
    }

    /// The authorization numbers (REF*G1) that apply to a line: its own,
    /// else the claim's.
    pub fn line_prior_auths<'a>(&'a self, line: &'a ServiceLine) -> &'a [String] {
        if line.prior_auths.is_empty() {
            &self.prior_auths
        } else {
            &line.prior_auths
        }
    }

    /// SPEC §3.1 provider NPIs of a line: the billing NPI; the line's
    /// rendering NPI (837P 2420A) when it has one, otherwise the claim's
    /// (837P 2310B, 837I 2310D); on an 837I also the attending NPI (2310A).
    pub fn provider_npis<'a>(&'a self, line: &'a ServiceLine) -> impl Iterator<Item = &'a str> {
        // SPEC §3.1 names the 837P 2420A only: an 837I line's NM1*82 is not
        // one of its provider NPIs.
        let (line_rendering, attending) = match self.kind {
            ClaimKind::Institutional => (None, self.attending_npi.as_deref()),
            _ => (line.rendering_npi.as_deref(), None),
        };
        std::iter::once(self.billing_npi.as_str())
            .chain(line_rendering.or(self.rendering_npi.as_deref()))
            .chain(attending)
    }

    /// SPEC §3.1 the claim's member: its subscriber id and, with a 2000C
    /// patient loop, that patient's birth date.
    pub fn member(&self) -> Member<'_> {
        Member {
            member_id: &self.subscriber.member_id,
            birth: match &self.patient {
                Some(p) => MemberBirth::Dependent(p.birth_date),
                None => MemberBirth::Subscriber(self.subscriber.birth_date),
            },
        }
    }
}

/// Whose birth date identifies a claim's member (SPEC §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberBirth {
    /// No patient loop: the subscriber (DMG02 of 2010BA, when sent).
    Subscriber(Option<NaiveDate>),
    /// A 2000C patient loop: the dependent (DMG02 of 2010CA, when sent).
    Dependent(Option<NaiveDate>),
}

impl MemberBirth {
    /// SPEC §3.1: true when an authorization with this `patient_birth_date`
    /// is for this member. With a patient loop it must equal the patient's
    /// birth date (one without is the subscriber's own); without one it is
    /// empty or equals the subscriber's birth date.
    pub fn accepts(self, patient_birth_date: Option<NaiveDate>) -> bool {
        match (self, patient_birth_date) {
            (MemberBirth::Dependent(Some(b)), Some(a)) => a == b,
            (MemberBirth::Dependent(_), _) => false,
            (MemberBirth::Subscriber(_), None) => true,
            (MemberBirth::Subscriber(b), Some(a)) => b == Some(a),
        }
    }
}

/// A claim's member (SPEC §3.1): the subscriber id and whose birth date.
/// Its Debug output leaves the birth date out (PHI).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Member<'a> {
    /// The subscriber member id (2010BA NM109).
    pub member_id: &'a str,
    /// The birth date that must match.
    pub birth: MemberBirth,
}

impl std::fmt::Debug for Member<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("member_id", &self.member_id)
            .finish_non_exhaustive()
    }
}
