//! Builds claims from the segments of one 837 transaction set.
//!
//! An explicit state machine over the HL tree (billing provider 20 →
//! subscriber 22 → patient 23) and the claim loops (2300 CLM → 2400 LX).
//! It copies out only what the claim model needs; everything else in the
//! 837 is skipped without a look, which is what keeps it fast.
//!
//! This file holds the builder's state, its errors and the dispatch by
//! segment id; [`parties`] the HL tree and the NM1/SBR/PAT of billing
//! provider, subscriber and patient; [`claim`] the 2300 claim loop;
//! [`line`] the 2400 service lines; [`elements`] element conversions.

use rust_decimal::Decimal;

mod claim;
mod elements;
mod line;
mod parties;

pub use elements::valid_segment_id;
use elements::{decimal, opt_text, text};

use super::error::{ErrorKind, SyntaxError};
use super::segment::Segment;
use crate::model::{
    parse_ccyymmdd, Claim, ClaimKind, DateRange, Frequency, Patient, Procedure, ServiceLine,
    Subscriber,
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
            | ErrorKind::UnsupportedSet
            | ErrorKind::UnsupportedGuide
            | ErrorKind::Unreadable => None,
            _ => self.loop_id(),
        };
        // The claim an error is in, for the 999's CTX (errors in CLM
        // itself are given it by `clm`, before the claim exists).
        let claim = match self.claims.last() {
            Some(c) if self.claim_open && !envelope && !c.claim_id.is_empty() => {
                Some(c.claim_id.clone())
            }
            _ => None,
        };
        self.errors.push(SyntaxError {
            segment: seg_pos,
            id: String::from_utf8_lossy(id).into_owned(),
            loop_id,
            element,
            component,
            byte,
            claim,
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
            b"DMG" => self.dmg(s),
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
}
