//! Builds claims from the segments of one 837 transaction set.
//!
//! An explicit state machine over the HL tree (billing provider 20 →
//! subscriber 22 → patient 23) and the claim loops (2300 CLM → 2400 LX).
//! It copies out only what the claim model needs; everything else in the
//! 837 is skipped without a look, which is what keeps it fast.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::error::{ErrorKind, SyntaxError};
use super::segment::Segment;
use crate::model::{
    Claim, ClaimKind, DateRange, Frequency, Patient, Procedure, ServiceLine, Subscriber,
};

/// Most errors recorded for one set; past this the set is rejected anyway.
const MAX_ERRORS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    BillingProvider,
    Subscriber,
    Patient,
}

/// Where in the 837 the builder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Before the first HL (BHT, submitter, receiver).
    Header,
    /// 2000A/2010AA/2010AB.
    BillingProvider,
    /// 2000B/2010BA/2010BB.
    Subscriber,
    /// 2000C/2010CA.
    Patient,
    /// 2300 before any 2310 provider loop.
    Claim,
    /// 2310 provider loops: references there are provider ids.
    ClaimProvider,
    /// 2320/2330 other payer loops: their REF*G1 is another payer's.
    OtherPayer,
    /// 2400 before 2410-2440.
    Line,
    /// 2410-2440 under a line.
    LineDetail,
}

/// Which NM1 the following DMG/REF belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Party {
    Other,
    Subscriber,
    Patient,
}

/// Builds the claims of one transaction set.
#[derive(Debug)]
pub(crate) struct SetBuilder {
    pub control_number: String,
    pub kind: Option<ClaimKind>,
    pub errors: Vec<SyntaxError>,
    pub claims: Vec<Claim>,
    /// Segments counted so far, ST included.
    pub count: u32,
    levels: Vec<Level>,
    last_billing_hl: Option<u32>,
    last_subscriber_hl: Option<u32>,
    place: Place,
    party: Party,
    billing_npi: Option<String>,
    billing_name: String,
    /// The subscriber in force. The first claim under it takes it (a move,
    /// not a copy); later claims under the same HL copy it from the claim
    /// before them (`subscriber_moved`).
    subscriber: Option<Subscriber>,
    subscriber_moved: bool,
    /// The patient in force, shared the same way (`patient_moved`).
    patient: Option<Patient>,
    patient_moved: bool,
    /// A claim is open: it is the last element of `claims`.
    claim_open: bool,
    /// Service lines of the open claim; moved into an exactly sized vector
    /// when the claim closes.
    lines: Vec<ServiceLine>,
    claim_segment: u32,
    claim_byte: u64,
    /// True while the last of `lines` is open (LX seen, not yet closed).
    line_open: bool,
    line_has_service: bool,
    line_segment: u32,
    line_byte: u64,
}

fn decimal(bytes: &[u8]) -> Option<Decimal> {
    if let Some(d) = plain_decimal(bytes) {
        return Some(d);
    }
    let s = std::str::from_utf8(bytes).ok()?;
    // X12 "R" values: digits, optional sign and point; no exponents, no spaces.
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return None;
    }
    Decimal::from_str(s).ok()
}

/// The common shape of an amount, `123` or `123.45` (1-18 digits, no sign),
/// built without the general parser: the same value and scale as
/// `Decimal::from_str` gives. Anything else is `None` (and left to it).
fn plain_decimal(bytes: &[u8]) -> Option<Decimal> {
    if bytes.len() > 18 || !bytes.first()?.is_ascii_digit() {
        return None;
    }
    let mut mantissa: i64 = 0;
    let mut point: Option<usize> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => mantissa = mantissa * 10 + i64::from(b - b'0'),
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    let scale = match point {
        None => 0,
        // "5." is left to the general parser.
        Some(i) if i + 1 == bytes.len() => return None,
        Some(i) => bytes.len() - i - 1,
    };
    Decimal::try_new(mantissa, scale as u32).ok()
}

fn text(bytes: &[u8]) -> String {
    // Nearly always ASCII: a plain validation and copy; lossy only on error.
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn opt_text(bytes: &[u8]) -> Option<String> {
    (!bytes.is_empty()).then(|| text(bytes))
}

impl SetBuilder {
    /// A builder for set `control_number` that pushes its claims onto
    /// `claims` (empty; the parser hands in a reused, pre-sized vector).
    pub fn new(control_number: String, kind: Option<ClaimKind>, claims: Vec<Claim>) -> Self {
        SetBuilder {
            control_number,
            kind,
            errors: Vec::new(),
            claims,
            count: 1,
            levels: Vec::new(),
            last_billing_hl: None,
            last_subscriber_hl: None,
            place: Place::Header,
            party: Party::Other,
            billing_npi: None,
            billing_name: String::new(),
            subscriber: None,
            subscriber_moved: false,
            patient: None,
            patient_moved: false,
            claim_open: false,
            lines: Vec::new(),
            claim_segment: 0,
            claim_byte: 0,
            line_open: false,
            line_has_service: false,
            line_segment: 0,
            line_byte: 0,
        }
    }

    fn loop_id(&self) -> Option<&'static str> {
        Some(match self.place {
            // The 999's loop identifier holds at most 4 characters, so the
            // HL loops are all "2000" (2000A/B/C by the HL level).
            Place::Header => "1000",
            Place::BillingProvider | Place::Subscriber | Place::Patient => "2000",
            Place::Claim | Place::ClaimProvider | Place::OtherPayer => "2300",
            Place::Line | Place::LineDetail => "2400",
        })
    }

    /// Records an error at a segment.
    #[allow(clippy::too_many_arguments)]
    pub fn error(
        &mut self,
        seg_pos: u32,
        id: &[u8],
        byte: u64,
        element: Option<u8>,
        component: Option<u8>,
        kind: ErrorKind,
        message: String,
    ) {
        let envelope = matches!(
            kind,
            ErrorKind::SegmentCount
                | ErrorKind::ControlNumberMismatch
                | ErrorKind::TrailerMissing
                | ErrorKind::Unreadable
        );
        // Past the cap only trailer errors are kept: they say most about the set.
        if self.errors.len() >= MAX_ERRORS && !envelope {
            return;
        }
        let loop_id = match kind {
            ErrorKind::SegmentCount
            | ErrorKind::ControlNumberMismatch
            | ErrorKind::TrailerMissing
            | ErrorKind::UnsupportedGuide
            | ErrorKind::Unreadable => None,
            _ => self.loop_id(),
        };
        self.errors.push(SyntaxError {
            segment: seg_pos,
            id: String::from_utf8_lossy(id).into_owned(),
            loop_id,
            element,
            component,
            byte,
            kind,
            message,
        });
    }

    fn element_error(
        &mut self,
        s: &Segment<'_>,
        el: u8,
        comp: Option<u8>,
        kind: ErrorKind,
        what: &str,
    ) {
        let id = s.id();
        let name = match comp {
            Some(c) => format!("{}{:02}-{}", String::from_utf8_lossy(id), el, c),
            None => format!("{}{:02}", String::from_utf8_lossy(id), el),
        };
        let msg = match kind {
            ErrorKind::ElementMissing => format!("{name} ({what}) is required but missing"),
            ErrorKind::InvalidDate => format!("{name} ({what}) is not a valid date"),
            ErrorKind::InvalidNumber => format!("{name} ({what}) is not a valid decimal number"),
            _ => format!("{name} ({what}) is invalid"),
        };
        self.error(self.count, id, s.byte, Some(el), comp, kind, msg);
    }

    /// An error about the current segment as a whole (no element).
    fn segment_error(&mut self, s: &Segment<'_>, id: &[u8], kind: ErrorKind, msg: String) {
        self.error(self.count, id, s.byte, None, None, kind, msg);
    }

    /// A required decimal element: missing and malformed are both errors
    /// (ElementMissing / InvalidNumber), and zero stands in for the value.
    fn required_decimal(&mut self, s: &Segment<'_>, el: usize, what: &str) -> Decimal {
        let raw = s.element(el);
        if let Some(d) = decimal(raw) {
            return d;
        }
        let kind = if raw.is_empty() {
            ErrorKind::ElementMissing
        } else {
            ErrorKind::InvalidNumber
        };
        self.element_error(s, u8::try_from(el).unwrap_or(u8::MAX), None, kind, what);
        Decimal::ZERO
    }

    /// Feeds one segment (neither ST nor SE) of the set.
    pub fn segment(&mut self, s: &Segment<'_>) {
        self.count += 1;
        match s.id() {
            b"HL" => self.hl(s),
            b"NM1" => self.nm1(s),
            b"SBR" => self.sbr(s),
            b"PAT" => self.pat(s),
            b"CLM" => self.clm(s),
            b"REF" => self.reference(s),
            b"DTP" => self.dtp(s),
            b"HI" => self.hi(s),
            b"CL1" => {
                if self.place == Place::Claim {
                    if let Some(c) = self.open_claim() {
                        c.admission_type = opt_text(s.element(1));
                    }
                }
            }
            b"LX" => self.lx(s),
            b"SV1" | b"SV2" | b"SV3" => self.service(s),
            b"LIN" | b"SVD" | b"LQ" | b"CTP" => {
                if matches!(self.place, Place::Line | Place::LineDetail) {
                    self.place = Place::LineDetail;
                }
            }
            id => {
                if !valid_segment_id(id) {
                    let shown = if id.len() <= 3 && id.iter().all(u8::is_ascii_graphic) {
                        format!("'{}'", String::from_utf8_lossy(id))
                    } else {
                        format!("of {} bytes", id.len())
                    };
                    let msg = format!(
                        "segment {} has an invalid segment identifier {shown}: \
                         expected 2-3 upper-case letters or digits",
                        self.count
                    );
                    self.segment_error(s, id, ErrorKind::BadSegmentId, msg);
                }
            }
        }
    }

    fn hl(&mut self, s: &Segment<'_>) {
        self.finish_claim(s);
        self.party = Party::Other;
        // Errors in this HL belong to the loop it opens.
        self.place = match s.element(3) {
            b"20" => Place::BillingProvider,
            b"22" => Place::Subscriber,
            _ => Place::Patient,
        };
        // TR3: HL01 starts at 1 in each transaction set and goes up by one.
        let expected = self.levels.len() as u32 + 1;
        if s.text(1).parse::<u32>().ok() != Some(expected) {
            self.element_error(s, 1, None, ErrorKind::InvalidCode, "hierarchical id number");
            if let Some(e) = self.errors.last_mut() {
                e.message = format!("HL01 must be {expected}: HL ids start at 1 in each transaction set and go up by one");
            }
        }
        let this_id = expected;
        let parent: Option<u32> = s.text(2).parse().ok();
        let level = match s.element(3) {
            b"20" => Level::BillingProvider,
            b"22" => Level::Subscriber,
            b"23" => Level::Patient,
            _ => {
                self.element_error(
                    s,
                    3,
                    None,
                    ErrorKind::InvalidCode,
                    "hierarchical level code",
                );
                if let Some(e) = self.errors.last_mut() {
                    e.message =
                        "HL03 must be 20 (billing provider), 22 (subscriber) or 23 (patient)"
                            .into();
                }
                self.levels.push(Level::Patient);
                // The subscriber and patient stay in force and may still be
                // changed (PAT, NM1*QC): take back copies of moved ones.
                self.unshare();
                return;
            }
        };
        let (want_parent, what) = match level {
            Level::BillingProvider => (None, "no parent"),
            Level::Subscriber => (
                self.last_billing_hl,
                "the billing provider HL (level 20) it follows",
            ),
            Level::Patient => (
                self.last_subscriber_hl,
                "the subscriber HL (level 22) it follows",
            ),
        };
        let parent_ok = match (level, parent) {
            // HL02 is not used at level 20; tolerate only an empty one.
            (Level::BillingProvider, p) => p.is_none() && s.element(2).is_empty(),
            (_, Some(p)) => Some(p) == want_parent,
            (_, None) => false,
        };
        if !parent_ok {
            let kind = if s.element(2).is_empty() {
                ErrorKind::ElementMissing
            } else {
                ErrorKind::InvalidCode
            };
            self.element_error(s, 2, None, kind, "hierarchical parent id");
            if let Some(e) = self.errors.last_mut() {
                e.message = format!(
                    "HL02 of HL {this_id} (level {}) must point to {what}",
                    String::from_utf8_lossy(s.element(3))
                );
            }
        }
        self.levels.push(level);
        match level {
            Level::BillingProvider => {
                self.last_billing_hl = Some(this_id);
                self.last_subscriber_hl = None;
                self.billing_npi = None;
                self.subscriber = None;
                self.subscriber_moved = false;
                self.patient = None;
                self.patient_moved = false;
                self.place = Place::BillingProvider;
            }
            Level::Subscriber => {
                self.last_subscriber_hl = Some(this_id);
                self.subscriber = Some(Subscriber::default());
                self.subscriber_moved = false;
                self.patient = None;
                self.patient_moved = false;
                self.place = Place::Subscriber;
            }
            Level::Patient => {
                self.patient = Some(Patient::default());
                self.patient_moved = false;
                self.place = Place::Patient;
            }
        }
    }

    /// Puts back copies of a subscriber and patient that were moved into
    /// the last claim, for an HL that leaves them in force.
    #[cold]
    fn unshare(&mut self) {
        let last = self.claims.last();
        if self.subscriber_moved && self.subscriber.is_none() {
            self.subscriber = last.map(|c| c.subscriber.clone());
        }
        if self.patient_moved && self.patient.is_none() {
            self.patient = last.and_then(|c| c.patient.clone());
        }
        self.subscriber_moved = false;
        self.patient_moved = false;
    }

    /// The subscriber for a new claim: moved out of the builder for the
    /// first claim under it, copied from the claim before for later ones.
    fn claim_subscriber(&mut self) -> Subscriber {
        match self.subscriber.take() {
            Some(sub) => {
                self.subscriber_moved = true;
                sub
            }
            None if self.subscriber_moved => self
                .claims
                .last()
                .map(|c| c.subscriber.clone())
                .unwrap_or_default(),
            None => Subscriber::default(),
        }
    }

    /// The patient for a new claim, shared like the subscriber.
    fn claim_patient(&mut self) -> Option<Patient> {
        match self.patient.take() {
            Some(p) => {
                self.patient_moved = true;
                Some(p)
            }
            None if self.patient_moved => self.claims.last().and_then(|c| c.patient.clone()),
            None => None,
        }
    }

    fn nm1(&mut self, s: &Segment<'_>) {
        let entity = s.element(1);
        self.party = Party::Other;
        match (self.place, entity) {
            (Place::BillingProvider, b"85") => {
                self.billing_npi = opt_text(s.element(9));
                self.billing_name = text(s.element(3));
            }
            (Place::Subscriber, b"IL") => {
                if let Some(sub) = self.subscriber.as_mut() {
                    sub.member_id = text(s.element(9));
                    sub.last_name = text(s.element(3));
                    sub.first_name = text(s.element(4));
                }
                self.party = Party::Subscriber;
            }
            (Place::Patient, b"QC") => {
                if let Some(p) = self.patient.as_mut() {
                    p.last_name = text(s.element(3));
                    p.first_name = text(s.element(4));
                }
                self.party = Party::Patient;
            }
            (Place::Claim | Place::ClaimProvider, _) => {
                if entity == b"82" {
                    if let Some(c) = self.open_claim() {
                        c.rendering_npi = opt_text(s.element(9));
                    }
                }
                self.place = Place::ClaimProvider;
            }
            (Place::Line | Place::LineDetail, _) => {
                if entity == b"82" {
                    if let Some(l) = self.open_line() {
                        l.rendering_npi = opt_text(s.element(9));
                    }
                }
                self.place = Place::LineDetail;
            }
            _ => {}
        }
    }

    fn sbr(&mut self, s: &Segment<'_>) {
        match self.place {
            Place::Subscriber => {
                if let Some(sub) = self.subscriber.as_mut() {
                    sub.filing_indicator = text(s.element(9));
                }
            }
            Place::Claim | Place::ClaimProvider | Place::OtherPayer => {
                self.place = Place::OtherPayer;
            }
            _ => {}
        }
    }

    fn pat(&mut self, s: &Segment<'_>) {
        if let (Place::Patient, Some(p)) = (self.place, self.patient.as_mut()) {
            p.relationship = text(s.element(1));
        }
    }

    fn clm(&mut self, s: &Segment<'_>) {
        self.finish_claim(s);
        if !matches!(self.place, Place::Subscriber | Place::Patient) {
            let msg = "CLM must follow a subscriber (HL level 22) or patient (HL level 23) loop"
                .to_string();
            self.segment_error(s, b"CLM", ErrorKind::UnexpectedSegment, msg);
        }
        let claim_id = text(s.element(1));
        if claim_id.is_empty() {
            self.element_error(
                s,
                1,
                None,
                ErrorKind::ElementMissing,
                "patient control number",
            );
        }
        let total_charge = self.required_decimal(s, 2, "total claim charge amount");
        let facility_code = text(s.component(5, 1));
        if facility_code.is_empty() {
            self.element_error(
                s,
                5,
                Some(1),
                ErrorKind::ElementMissing,
                "place of service or facility type code",
            );
        }
        let frequency_code = text(s.component(5, 3));
        if frequency_code.is_empty() {
            self.element_error(
                s,
                5,
                Some(3),
                ErrorKind::ElementMissing,
                "claim frequency type code",
            );
        }
        let billing_npi = match &self.billing_npi {
            Some(n) => n.clone(),
            None => {
                let msg = "billing provider NM1*85 with an identifier (NM109) is missing before this claim".to_string();
                self.segment_error(s, b"NM1", ErrorKind::RequiredSegmentMissing, msg);
                String::new()
            }
        };
        let subscriber = self.claim_subscriber();
        if subscriber.member_id.is_empty()
            && matches!(self.place, Place::Subscriber | Place::Patient)
        {
            let msg = "subscriber NM1*IL with a member id (NM109) is missing before this claim"
                .to_string();
            self.segment_error(s, b"NM1", ErrorKind::RequiredSegmentMissing, msg);
        }
        let patient = self.claim_patient();
        self.claim_open = true;
        self.claims.push(Claim {
            kind: self.kind.unwrap_or(ClaimKind::Professional),
            claim_id,
            total_charge,
            frequency: Frequency::from_code(&frequency_code),
            frequency_code,
            facility_code,
            billing_npi,
            billing_name: self.billing_name.clone(),
            rendering_npi: None,
            subscriber,
            patient,
            prior_auths: Vec::new(),
            referrals: Vec::new(),
            payer_claim_number: None,
            diagnoses: Vec::new(),
            service_date: None,
            statement_period: None,
            admission_type: None,
            lines: Vec::new(),
            transaction_set: self.control_number.clone(),
        });
        self.claim_segment = self.count;
        self.claim_byte = s.byte;
        self.place = Place::Claim;
    }

    fn reference(&mut self, s: &Segment<'_>) {
        let value = s.element(2);
        match self.place {
            Place::Claim => {
                if let Some(c) = self.open_claim() {
                    match s.element(1) {
                        b"G1" => c.prior_auths.push(text(value)),
                        b"9F" => c.referrals.push(text(value)),
                        b"F8" => c.payer_claim_number = Some(text(value)),
                        _ => {}
                    }
                }
            }
            Place::Line => {
                if let Some(l) = self.open_line() {
                    match s.element(1) {
                        b"G1" => l.prior_auths.push(text(value)),
                        b"9F" => l.referrals.push(text(value)),
                        b"6R" => l.control_number = Some(text(value)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn dtp(&mut self, s: &Segment<'_>) {
        let qualifier = s.element(1);
        let target = match (self.place, qualifier) {
            (Place::Claim, b"472") => 1,
            (Place::Claim, b"434") => 2,
            (Place::Line, b"472") => 3,
            _ => return,
        };
        let Some(range) = DateRange::parse(s.element(2), s.element(3)) else {
            let what = if matches!(s.element(2), b"D8" | b"RD8") {
                "date (D8 CCYYMMDD or RD8 CCYYMMDD-CCYYMMDD)"
            } else {
                "date, with DTP02 format qualifier D8 or RD8"
            };
            let el = if matches!(s.element(2), b"D8" | b"RD8") {
                3
            } else {
                2
            };
            self.element_error(s, el, None, ErrorKind::InvalidDate, what);
            return;
        };
        match target {
            1 => {
                if let Some(c) = self.open_claim() {
                    c.service_date = Some(range);
                }
            }
            2 => {
                if let Some(c) = self.open_claim() {
                    c.statement_period = Some(range);
                }
            }
            _ => {
                if let Some(l) = self.open_line() {
                    l.service_date = Some(range);
                }
            }
        }
    }

    fn hi(&mut self, s: &Segment<'_>) {
        if self.place != Place::Claim {
            return;
        }
        let Some(c) = self.open_claim() else {
            return;
        };
        let comp = s.delimiters().component;
        for n in 1..=12 {
            let el = s.element(n);
            if el.is_empty() {
                break;
            }
            let qualifier = super::segment::component(el, comp, 1);
            if matches!(
                qualifier,
                b"ABK" | b"ABF" | b"ABJ" | b"APR" | b"ABN" | b"BK" | b"BF" | b"BJ" | b"PR" | b"BN"
            ) {
                c.diagnoses
                    .push(text(super::segment::component(el, comp, 2)));
            }
        }
    }

    fn lx(&mut self, s: &Segment<'_>) {
        self.finish_line();
        if !self.claim_open {
            let msg = "LX (service line) must follow a CLM".to_string();
            self.segment_error(s, b"LX", ErrorKind::UnexpectedSegment, msg);
            return;
        }
        let number = match s.text(1).parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                self.element_error(s, 1, None, ErrorKind::InvalidNumber, "assigned line number");
                0
            }
        };
        self.line_open = true;
        self.lines.push(ServiceLine {
            number,
            procedure: None,
            revenue_code: None,
            charge: Decimal::ZERO,
            unit_basis: None,
            units: Decimal::ONE,
            place_of_service: None,
            emergency: false,
            service_date: None,
            prior_auths: Vec::new(),
            referrals: Vec::new(),
            control_number: None,
            rendering_npi: None,
        });
        self.line_has_service = false;
        self.line_segment = self.count;
        self.line_byte = s.byte;
        self.place = Place::Line;
    }

    fn service(&mut self, s: &Segment<'_>) {
        let id = s.id();
        let wanted: &[u8] = match self.kind {
            Some(ClaimKind::Institutional) => b"SV2",
            Some(ClaimKind::Dental) => b"SV3",
            _ => b"SV1",
        };
        if self.place != Place::Line || self.line_has_service || id != wanted {
            let msg = format!(
                "{} is not expected here: each LX service line carries exactly one {} in this transaction set",
                String::from_utf8_lossy(id),
                String::from_utf8_lossy(wanted)
            );
            self.segment_error(s, id, ErrorKind::UnexpectedSegment, msg);
            return;
        }
        // (procedure element, charge element, units element)
        let (proc_el, charge_el, units_el): (usize, usize, usize) = match id {
            b"SV2" => (2, 3, 5),
            b"SV3" => (1, 2, 6),
            _ => (1, 2, 4),
        };
        let procedure = {
            let mut parts = s.components(proc_el);
            let qualifier = parts.next().unwrap_or_default();
            let code = parts.next().unwrap_or_default();
            (!code.is_empty()).then(|| Procedure {
                qualifier: common_code(qualifier),
                code: text(code),
                modifiers: parts.take(4).filter(|m| !m.is_empty()).map(text).collect(),
            })
        };
        if procedure.is_none() && id != b"SV2" {
            self.element_error(
                s,
                proc_el as u8,
                Some(2),
                ErrorKind::ElementMissing,
                "procedure code",
            );
        }
        let charge = self.required_decimal(s, charge_el, "line item charge amount");
        let units_raw = s.element(units_el);
        let units = if units_raw.is_empty() {
            Decimal::ONE
        } else {
            match decimal(units_raw) {
                Some(d) => d,
                None => {
                    self.element_error(
                        s,
                        units_el as u8,
                        None,
                        ErrorKind::InvalidNumber,
                        "service unit count",
                    );
                    Decimal::ONE
                }
            }
        };
        let revenue_code = if id == b"SV2" {
            let r = opt_text(s.element(1));
            if r.is_none() {
                self.element_error(
                    s,
                    1,
                    None,
                    ErrorKind::ElementMissing,
                    "service line revenue code",
                );
            }
            r
        } else {
            None
        };
        let (basis_el, pos_el) = match id {
            b"SV1" => (Some(3), Some(5)),
            b"SV2" => (Some(4), None),
            _ => (None, Some(3)),
        };
        let emergency = id == b"SV1" && s.element(9) == b"Y";
        let unit_basis = basis_el
            .map(|e| s.element(e))
            .filter(|b| !b.is_empty())
            .map(common_code);
        let place_of_service = pos_el.and_then(|e| opt_text(s.element(e)));
        if let Some(l) = self.open_line() {
            l.procedure = procedure;
            l.revenue_code = revenue_code;
            l.charge = charge;
            l.units = units;
            l.unit_basis = unit_basis;
            l.place_of_service = place_of_service;
            l.emergency = emergency;
        }
        self.line_has_service = true;
    }

    /// The service line being read, if any.
    fn open_line(&mut self) -> Option<&mut ServiceLine> {
        if self.line_open {
            self.lines.last_mut()
        } else {
            None
        }
    }

    fn finish_line(&mut self) {
        if !self.line_open {
            return;
        }
        self.line_open = false;
        let Some((number, line_has_date)) = self
            .lines
            .last()
            .map(|l| (l.number, l.service_date.is_some()))
        else {
            return;
        };
        if !self.line_has_service {
            let wanted = match self.kind {
                Some(ClaimKind::Institutional) => "SV2",
                Some(ClaimKind::Dental) => "SV3",
                _ => "SV1",
            };
            let msg = format!("service line LX*{} has no {wanted} segment", number);
            self.error(
                self.line_segment,
                wanted.as_bytes(),
                self.line_byte,
                None,
                None,
                ErrorKind::RequiredSegmentMissing,
                msg,
            );
        }
        let has_date = line_has_date
            || (self.claim_open
                && self
                    .claims
                    .last()
                    .is_some_and(|c| c.service_date.is_some() || c.statement_period.is_some()));
        if !has_date && self.line_has_service {
            let (msg, id) = match self.kind {
                Some(ClaimKind::Institutional) => (
                    format!("service line LX*{} has no service date: DTP*472 on the line or DTP*434 statement dates on the claim are required", number),
                    "DTP",
                ),
                _ => (
                    format!("service line LX*{} has no service date: DTP*472 is required on the line (or on the claim)", number),
                    "DTP",
                ),
            };
            self.error(
                self.line_segment,
                id.as_bytes(),
                self.line_byte,
                None,
                None,
                ErrorKind::RequiredSegmentMissing,
                msg,
            );
        }
    }

    /// Closes the open claim at segment `s` (the one that ends it).
    fn finish_claim(&mut self, s: &Segment<'_>) {
        self.finish_claim_at(self.count, s.id(), s.byte);
    }

    fn finish_claim_at(&mut self, pos: u32, id: &[u8], byte: u64) {
        self.finish_line();
        if !self.claim_open {
            return;
        }
        // The claim was built in place at the end of `claims` (moving a
        // finished claim into the vector was a measurable copy).
        self.claim_open = false;
        let mut lines = Vec::with_capacity(self.lines.len());
        lines.append(&mut self.lines);
        let no_lines = lines.is_empty();
        if let Some(claim) = self.claims.last_mut() {
            claim.lines = lines;
        }
        if no_lines {
            let msg = format!(
                "claim at segment {} (CLM) has no service line: LX is required before {}",
                self.claim_segment,
                String::from_utf8_lossy(id)
            );
            self.place = Place::Claim;
            self.error(
                pos,
                b"LX",
                byte,
                None,
                None,
                ErrorKind::RequiredSegmentMissing,
                msg,
            );
        }
    }

    /// The claim being built, if one is open.
    fn open_claim(&mut self) -> Option<&mut Claim> {
        if self.claim_open {
            self.claims.last_mut()
        } else {
            None
        }
    }

    /// Ends the set at its SE (or wherever it was cut off).
    pub fn finish(&mut self, pos: u32, id: &[u8], byte: u64) {
        self.finish_claim_at(pos, id, byte);
    }
}

/// Qualifiers and unit codes that nearly every line repeats, without an
/// allocation each; anything else is copied.
fn common_code(b: &[u8]) -> std::borrow::Cow<'static, str> {
    use std::borrow::Cow;
    match b {
        b"HC" => Cow::Borrowed("HC"),
        b"AD" => Cow::Borrowed("AD"),
        b"UN" => Cow::Borrowed("UN"),
        b"MJ" => Cow::Borrowed("MJ"),
        b"DA" => Cow::Borrowed("DA"),
        other => Cow::Owned(text(other)),
    }
}

/// A segment id: 2 or 3 upper-case letters or digits, starting with a letter.
pub fn valid_segment_id(id: &[u8]) -> bool {
    (2..=3).contains(&id.len())
        && id.first().is_some_and(u8::is_ascii_uppercase)
        && id
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimals_match_the_general_parser() {
        for s in [
            "0",
            "7",
            "007",
            "100",
            "100.5",
            "100.50",
            "0.01",
            "12345678901234567",
            "123456789012345678",
            "1234567890123456789",
            "5.",
            ".5",
            "-5",
            "-0",
            "1.2.3",
            "1e3",
            "",
            "+1",
            "99.999999999",
        ] {
            // The general path alone (what `decimal` did before the fast one).
            let want = if s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            {
                None
            } else {
                Decimal::from_str(s).ok()
            };
            let got = decimal(s.as_bytes());
            assert_eq!(got, want, "{s:?}");
            assert_eq!(
                got.map(|d| d.to_string()),
                want.map(|d| d.to_string()),
                "{s:?}"
            );
        }
    }
}
