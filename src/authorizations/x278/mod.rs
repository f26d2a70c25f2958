//! X12 278 responses (005010X217) read as authorization records.
//!
//! The envelopes are checked as the 837 reader checks them (ISA/IEA,
//! GS/GE, ST/SE counts and control numbers, lexer errors): a broken
//! transaction set is rejected with errors naming its segment and element,
//! the other sets are read. Each HCR (service review decision) of a
//! response becomes one authorization record, or a [`NotImported`] entry
//! saying why it could not; docs/X278.md is the mapping table. A 278
//! *request* (BHT02 `13`) holds no decision: its sets are counted in
//! [`X278Outcome::requests`] and import nothing.
//!
//! Messages never hold element values of the member (ids, names, birth
//! dates): they name segment positions, element numbers and codes.

mod set;

use serde::Serialize;

use super::Authorization;
use crate::x12::{
    EnvelopeError, ErrorKind, IsaProblem, LexProblem, Lexed, Segment, SegmentReader, SyntaxError,
};

/// A decision (HCR) that is reported instead of imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotImported {
    /// ST02 of its transaction set.
    pub set: String,
    /// Position of its HCR segment in the set (ST is 1).
    pub segment: u32,
    /// HCR01 (the action code).
    pub action: String,
    /// The authorization number it carried, when it carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Why it was not imported.
    pub reason: String,
}

/// A transaction set rejected for its syntax or envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedSet {
    /// ST02.
    pub control_number: String,
    /// Every error found (the set is rejected as a whole).
    pub errors: Vec<SyntaxError>,
}

/// What a 278 file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct X278Outcome {
    /// One record per imported decision, in file order.
    pub authorizations: Vec<Authorization>,
    /// Decisions reported and not imported.
    pub not_imported: Vec<NotImported>,
    /// Sets rejected with errors.
    pub rejected: Vec<RejectedSet>,
    /// Envelope problems (ISA/IEA, GS/GE, unreadable data).
    pub envelope_errors: Vec<EnvelopeError>,
    /// Accepted response sets (BHT02 `11`).
    pub responses: u64,
    /// Request sets (BHT02 `13`), which hold no decision.
    pub requests: u64,
}

impl X278Outcome {
    /// Why nothing of the file can be imported, when nothing can: the
    /// file holds only requests, or no readable 278 response at all.
    pub fn refusal(&self) -> Option<String> {
        if self.responses > 0 {
            return None;
        }
        if self.requests > 0 {
            return Some(format!(
                "this X12 278 is a request for review (BHT02 13, {} transaction set{}): a request holds no decision, so there is no authorization to import; import the UMO's 278 response (BHT02 11)",
                self.requests,
                if self.requests == 1 { "" } else { "s" }
            ));
        }
        let first = self
            .rejected
            .iter()
            .flat_map(|r| r.errors.iter().map(|e| e.message.clone()))
            .chain(self.envelope_errors.iter().map(|e| e.message.clone()))
            .next();
        Some(match first {
            Some(m) => format!("no X12 278 response could be read: {m}"),
            None => "no X12 278 response could be read".to_string(),
        })
    }
}

/// The JSON answer of an import of `out` (CLI and API): counts, the
/// numbers imported, and what was not (decisions, rejected sets,
/// envelope errors). No member id or birth date.
pub fn x278_answer(out: &X278Outcome, added: u64, replaced: u64) -> serde_json::Value {
    let numbers: Vec<&str> = out
        .authorizations
        .iter()
        .map(|a| a.number.as_str())
        .collect();
    serde_json::json!({
        "format": "x12-278",
        "imported": out.authorizations.len(),
        "added": added,
        "replaced": replaced,
        "numbers": numbers,
        "responses": out.responses,
        "requests_refused": out.requests,
        "not_imported": out.not_imported,
        "rejected": out.rejected,
        "envelope_errors": out.envelope_errors,
    })
}

/// True when `data` is X12 (an ISA header at its start, after a UTF-8
/// byte order mark and white space), not CSV.
pub fn is_x12(data: &[u8]) -> bool {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    data.get(start..start + 3) == Some(b"ISA")
}

/// Reads a 278 file: every decision of its accepted response sets.
///
/// ```
/// let x12 = b"ISA*00*          *00*          *ZZ*UMO            *ZZ*PROVIDER       *260101*1200*^*00501*000000001*0*P*:~GS*HI*UMO*PROV*20260101*1200*1*X*005010X217~ST*278*0001*005010X217~BHT*0007*11*REF1*20260101*1200*18~HL*1**20*1~NM1*X3*2*UMO*****PI*12345~HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*1234567893~HL*3*2*22*1~NM1*IL*1*DOE*JANE****MI*M001~HL*4*3*EV*1~UM*HS*I~HL*5*4*SS*0~HCR*A1*AUTH1~DTP*472*RD8*20260101-20260331~SV1*HC:70551**UN*1~SE*15*0001~GE*1*1~IEA*1*000000001~";
/// let out = priorauth::authorizations::read_x278(x12);
/// assert_eq!(out.authorizations.len(), 1);
/// assert_eq!(out.authorizations[0].number, "AUTH1");
/// ```
pub fn read_x278(data: &[u8]) -> X278Outcome {
    let mut r = Reader::default();
    let mut lexer = SegmentReader::new(data);
    loop {
        match lexer.next_segment() {
            None => {
                r.end(lexer.bytes_read());
                break;
            }
            Some(Lexed::Error(e)) => r.lex_error(&e.problem, e.byte, r.interchanges == 0),
            Some(Lexed::Segment(s)) => r.segment(&s),
        }
    }
    r.out
}

#[derive(Default)]
struct Reader {
    out: X278Outcome,
    interchanges: u64,
    /// ISA13 and groups counted, while an interchange is open.
    isa: Option<(String, u32)>,
    /// GS06, GS08 and sets counted, while a group is open.
    gs: Option<(String, String, u32)>,
    set: Option<set::SetReader>,
}

impl Reader {
    fn envelope(&mut self, id: &str, byte: u64, message: String, lost: bool) {
        if self.out.envelope_errors.len() < 1000 {
            self.out.envelope_errors.push(EnvelopeError {
                interchange: self.isa.as_ref().map(|i| i.0.clone()).unwrap_or_default(),
                group: self.gs.as_ref().map(|g| g.0.clone()),
                id: id.into(),
                byte,
                ak9_code: None,
                lost_data: lost,
                message,
            });
        }
    }

    fn lex_error(&mut self, p: &LexProblem, byte: u64, first: bool) {
        let msg = match p {
            LexProblem::ExpectedIsa if first && byte <= 3 => {
                "this is not an X12 file: it does not start with an ISA interchange header".into()
            }
            LexProblem::ExpectedIsa => "data where an ISA interchange header was expected; skipped to the next ISA".to_string(),
            LexProblem::BadIsa(IsaProblem::NotFixedWidth) => "ISA is not the fixed-width 106-character header (each ISA element must have its exact length): the interchange is skipped".to_string(),
            LexProblem::BadIsa(IsaProblem::Short) => "ISA header is cut short before ISA16 and its terminator: the interchange is skipped".to_string(),
            LexProblem::BadIsa(_) => "ISA header declares clashing or alphanumeric delimiters: the interchange is skipped".to_string(),
            LexProblem::Unterminated => "the file ends inside a segment (no segment terminator): it was cut off".to_string(),
            LexProblem::Utf16 => "the file is UTF-16 encoded: X12 must be ASCII or UTF-8".to_string(),
            LexProblem::TooLong => "a segment runs over 64 KiB without a terminator".to_string(),
            LexProblem::Io(m) => format!("read error: {m}"),
        };
        if let Some(mut open) = self.set.take() {
            open.error_at_end(
                ErrorKind::Unreadable,
                byte,
                format!("{msg}, before the SE trailer of this transaction set"),
            );
            self.close(open);
        } else {
            self.envelope("ISA", byte, msg, true);
        }
        self.gs = None;
        self.isa = None;
    }

    fn segment(&mut self, s: &Segment<'_>) {
        match s.id() {
            b"ISA" => {
                self.cut_short(s, "ISA");
                if self.isa.is_some() {
                    self.envelope(
                        "IEA",
                        s.byte,
                        "interchange ends without IEA before the next ISA".into(),
                        false,
                    );
                }
                self.interchanges += 1;
                self.isa = Some((text(s.element(13)), 0));
            }
            b"IEA" => {
                self.cut_short(s, "IEA");
                match self.isa.take() {
                    None => self.envelope("IEA", s.byte, "IEA without an ISA".into(), false),
                    Some((control, groups)) => {
                        if s.text(1).parse::<u32>().ok() != Some(groups) {
                            let m = format!(
                                "IEA01 says {} functional groups, the interchange has {groups}",
                                s.text(1)
                            );
                            self.envelope("IEA", s.byte, m, false);
                        }
                        if s.element(2) != control.as_bytes() {
                            let m = "IEA02 interchange control number differs from ISA13";
                            self.envelope("IEA", s.byte, m.into(), false);
                        }
                    }
                }
            }
            b"GS" => {
                self.cut_short(s, "GS");
                match self.isa.as_mut() {
                    Some(i) => i.1 += 1,
                    None => self.envelope("GS", s.byte, "GS outside an interchange".into(), false),
                }
                self.gs = Some((text(s.element(6)), text(s.element(8)), 0));
            }
            b"GE" => {
                self.cut_short(s, "GE");
                match self.gs.clone() {
                    None => self.envelope("GE", s.byte, "GE without a GS".into(), false),
                    Some((control, _, sets)) => {
                        if s.text(1).parse::<u32>().ok() != Some(sets) {
                            let m = format!(
                                "GE01 says {} transaction sets, the group has {sets}",
                                s.text(1)
                            );
                            self.envelope("GE", s.byte, m, false);
                        }
                        if s.element(2) != control.as_bytes() {
                            let m = "GE02 group control number differs from GS06";
                            self.envelope("GE", s.byte, m.into(), false);
                        }
                    }
                }
                self.gs = None;
            }
            b"ST" => {
                self.cut_short(s, "ST");
                let version = match self.gs.as_mut() {
                    Some(g) => {
                        g.2 += 1;
                        Some(g.1.clone())
                    }
                    None => None,
                };
                self.set = Some(set::SetReader::start(s, version));
            }
            b"SE" => match self.set.take() {
                Some(mut open) => {
                    open.trailer(s);
                    self.close(open);
                }
                None => self.envelope("SE", s.byte, "SE without an ST".into(), false),
            },
            _ => {
                if let Some(open) = self.set.as_mut() {
                    open.segment(s);
                } else {
                    let m = format!(
                        "segment {} is outside any ST/SE transaction set; it was not read",
                        s.number
                    );
                    self.envelope(&text(s.id()), s.byte, m, true);
                }
            }
        }
    }

    /// Closes a set that `id` cuts short (no SE).
    fn cut_short(&mut self, s: &Segment<'_>, id: &str) {
        if let Some(mut open) = self.set.take() {
            open.error_at_end(
                ErrorKind::TrailerMissing,
                s.byte,
                format!("transaction set has no SE trailer: {id} found before it"),
            );
            self.close(open);
        }
    }

    fn close(&mut self, open: set::SetReader) {
        let control = open.control().to_string();
        match open.finish() {
            set::Finished::Rejected(r) => self.out.rejected.push(r),
            set::Finished::Request => self.out.requests += 1,
            set::Finished::Response {
                authorizations,
                not_imported,
            } => {
                self.out.responses += 1;
                self.out.not_imported.extend(not_imported);
                for (a, segment, action) in authorizations {
                    // One number, one record: a later decision under a number
                    // already read (an event and its service both citing it)
                    // is reported, the first kept.
                    if self.out.authorizations.iter().any(|b| b.number == a.number) {
                        self.out.not_imported.push(NotImported {
                            set: control.clone(),
                            segment,
                            action,
                            number: Some(a.number.clone()),
                            reason: "an earlier decision of this file has the same number; the first is imported".into(),
                        });
                    } else {
                        self.out.authorizations.push(a);
                    }
                }
            }
        }
    }

    fn end(&mut self, byte: u64) {
        if let Some(mut open) = self.set.take() {
            open.error_at_end(
                ErrorKind::TrailerMissing,
                byte,
                "the file ends before the SE trailer of this transaction set".into(),
            );
            self.close(open);
        }
        if self.gs.is_some() {
            self.envelope(
                "GE",
                byte,
                "functional group has no GE trailer".into(),
                false,
            );
            self.gs = None;
        }
        if self.isa.is_some() {
            let m = "the file ends before the IEA trailer: it may have been cut off";
            self.envelope("IEA", byte, m.into(), true);
            self.isa = None;
        }
        if self.interchanges == 0 && self.out.envelope_errors.is_empty() {
            let m = "no ISA interchange header found: this is not an X12 file";
            self.envelope("ISA", 0, m.into(), true);
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
