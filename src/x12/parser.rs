//! Envelope checks (ISA/IEA, GS/GE, ST/SE) and the stream of transaction sets.

use std::collections::VecDeque;
use std::io::Read;

use super::claim837::{valid_segment_id, SetBuilder};
use super::delimiters::IsaProblem;
use super::error::{EnvelopeError, ErrorKind, SyntaxError};
use super::lexer::{LexProblem, Lexed, SegmentReader};
use super::segment::Segment;
use super::ta1::InterchangeAck;
use crate::model::{Claim, ClaimKind};

/// One transaction set: its claims if accepted, its errors if not.
#[derive(Debug, Clone)]
pub struct TransactionSet {
    /// ISA13 of the enclosing interchange.
    pub interchange: String,
    /// GS06 of the enclosing functional group.
    pub group: String,
    /// ST02.
    pub control_number: String,
    /// ST01 (`837`).
    pub set_id: String,
    /// ST03, else GS08.
    pub guide: String,
    /// 837P/I/D, when the guide is one priorauth reads.
    pub kind: Option<ClaimKind>,
    /// Claims, in input order. Empty when the set is rejected.
    pub claims: Vec<Claim>,
    /// When the set is rejected: the claims read before and at the error,
    /// as far as they were read (answers leave them to the 999).
    pub unprocessed: Vec<Claim>,
    /// Syntax errors. Any error rejects the set as a whole.
    pub errors: Vec<SyntaxError>,
}

impl TransactionSet {
    /// True when the set passed every check.
    pub fn accepted(&self) -> bool {
        self.errors.is_empty()
    }
}

/// What the 999 needs to know of one set.
#[derive(Debug, Clone)]
pub struct SetAck {
    /// ST01.
    pub set_id: String,
    /// ST02.
    pub control_number: String,
    /// ST03 when present.
    pub guide: String,
    /// Its errors (empty: accepted).
    pub errors: Vec<SyntaxError>,
}

/// What the 999 needs to know of one functional group.
#[derive(Debug, Clone)]
pub struct GroupAck {
    /// ISA13 of the interchange.
    pub interchange: String,
    /// ISA06 sender id (the 999 goes back to it).
    pub sender: (String, String),
    /// ISA08 receiver id.
    pub receiver: (String, String),
    /// ISA15 was `T`: the sender marked the interchange as test data, so
    /// every answer to it is marked test too.
    pub test: bool,
    /// GS01 functional identifier code (`HC`).
    pub functional_id: String,
    /// GS02 application sender.
    pub app_sender: String,
    /// GS03 application receiver.
    pub app_receiver: String,
    /// GS06 group control number.
    pub control_number: String,
    /// GS08 version / release / industry identifier.
    pub version: String,
    /// Sets in the group.
    pub sets: Vec<SetAck>,
    /// AK905 codes for group envelope problems.
    pub group_errors: Vec<&'static str>,
}

/// Counts for `priorauth parse --summary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// ISA headers read.
    pub interchanges: u64,
    /// ST headers read.
    pub transaction_sets: u64,
    /// Claims in accepted sets.
    pub claims: u64,
    /// Service lines in accepted sets.
    pub service_lines: u64,
    /// Sets rejected.
    pub rejected_sets: u64,
    /// Bytes read.
    pub bytes: u64,
}

#[derive(Debug)]
struct Interchange {
    control: String,
    test: bool,
    sender: (String, String),
    receiver: (String, String),
    groups: u32,
}

#[derive(Debug)]
struct Group {
    ack: GroupAck,
    sets: u32,
}

#[derive(Debug)]
struct OpenSet {
    builder: SetBuilder,
    set_id: String,
    guide: String,
}

/// Reads an X12 stream and yields its transaction sets one at a time, so
/// memory stays bounded by the largest set, not the file.
///
/// ```
/// use priorauth::x12::Parser;
/// let file = std::fs::read("fixtures/x12/837p-sample.x12").unwrap();
/// let mut parser = Parser::new(&file[..]);
/// let mut claims = 0;
/// while let Some(set) = parser.next_set() {
///     assert!(set.accepted(), "{:?}", set.errors);
///     claims += set.claims.len();
/// }
/// assert!(claims > 0);
/// ```
pub struct Parser<R> {
    reader: SegmentReader<R>,
    state: State,
}

/// Everything the parser knows besides its input.
#[derive(Debug, Default)]
struct State {
    spare_claims: Option<Vec<Claim>>,
    interchange: Option<Interchange>,
    group: Option<Group>,
    set: Option<OpenSet>,
    ready: VecDeque<TransactionSet>,
    acks: Vec<GroupAck>,
    /// What a TA1 says of each interchange.
    interchanges: Vec<InterchangeAck>,
    envelope_errors: Vec<EnvelopeError>,
    summary: Summary,
    done: bool,
    /// Claims in the last set closed: room for as many is made in the next.
    last_set_claims: usize,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The claim kind an implementation guide reference names.
pub fn kind_of_guide(guide: &str) -> Option<ClaimKind> {
    if !guide.starts_with("005010") {
        return None;
    }
    let rest = guide.get(6..).unwrap_or_default();
    if rest.starts_with("X222") {
        Some(ClaimKind::Professional)
    } else if rest.starts_with("X223") {
        Some(ClaimKind::Institutional)
    } else if rest.starts_with("X224") {
        Some(ClaimKind::Dental)
    } else {
        None
    }
}

impl<R: Read> Parser<R> {
    /// A parser over `src`.
    pub fn new(src: R) -> Self {
        Parser {
            reader: SegmentReader::new(src),
            state: State::default(),
        }
    }

    /// Counts so far (complete once `next_set` has returned `None`).
    pub fn summary(&self) -> Summary {
        let mut s = self.state.summary;
        s.bytes = self.reader.bytes_read();
        s
    }

    /// Hands back the claims of a set the caller is done with, so the next
    /// set reuses their memory (optional; saves page faults on big files).
    pub fn recycle(&mut self, mut claims: Vec<Claim>) {
        claims.clear();
        self.state.spare_claims = Some(claims);
    }

    /// Group acknowledgments so far, for the 999.
    pub fn acks(&self) -> &[GroupAck] {
        &self.state.acks
    }

    /// Each interchange's TA1 values and envelope fault, so far.
    pub fn interchange_acks(&self) -> &[InterchangeAck] {
        &self.state.interchanges
    }

    /// Envelope problems (ISA/IEA, GS/GE, unreadable stretches).
    pub fn envelope_errors(&self) -> &[EnvelopeError] {
        &self.state.envelope_errors
    }

    /// The next transaction set, accepted or rejected; `None` at the end.
    pub fn next_set(&mut self) -> Option<TransactionSet> {
        loop {
            if let Some(set) = self.state.ready.pop_front() {
                return Some(set);
            }
            if self.state.done {
                return None;
            }
            self.step();
        }
    }

    /// Reads one segment (or lexer error) and acts on it.
    fn step(&mut self) {
        match self.reader.next_segment() {
            None => {
                let byte = self.reader.bytes_read();
                self.state.end_of_input(byte);
            }
            Some(Lexed::Error(e)) => {
                if let LexProblem::BadIsa(p) = &e.problem {
                    let note = if *p == IsaProblem::Clash {
                        "026"
                    } else {
                        "022"
                    };
                    let head = self.reader.take_bad_isa();
                    self.state
                        .interchanges
                        .push(InterchangeAck::unreadable(&head, note));
                }
                self.state.lex_error(e)
            }
            Some(Lexed::Segment(s)) => self.state.segment(&s),
        }
    }
}

impl State {
    /// Records a TA1 note on the interchange being read.
    fn interchange_fault(&mut self, note: &'static str) {
        if let Some(ack) = self.interchanges.last_mut() {
            ack.fault(note);
        }
    }

    /// Marks the last envelope error as one that lost data.
    fn lost(&mut self) {
        if let Some(e) = self.envelope_errors.last_mut() {
            e.lost_data = true;
        }
    }

    fn envelope_error(
        &mut self,
        id: &str,
        byte: u64,
        ak9: Option<&'static str>,
        in_group: bool,
        message: String,
    ) {
        let interchange = self
            .interchange
            .as_ref()
            .map(|i| i.control.clone())
            .unwrap_or_default();
        let group = if in_group {
            self.group.as_ref().map(|g| g.ack.control_number.clone())
        } else {
            None
        };
        if let (Some(code), Some(g)) = (ak9, self.group.as_mut()) {
            if !g.ack.group_errors.contains(&code) {
                g.ack.group_errors.push(code);
            }
        }
        if self.envelope_errors.len() < 1000 {
            self.envelope_errors.push(EnvelopeError {
                interchange,
                group,
                id: id.into(),
                byte,
                ak9_code: ak9,
                lost_data: id == "ISA",
                message,
            });
        }
    }

    fn lex_error(&mut self, e: super::lexer::LexError) {
        let msg = match &e.problem {
            LexProblem::ExpectedIsa if e.byte <= 3 && self.summary.interchanges == 0 => {
                "this is not an X12 file: it does not start with an ISA interchange header".to_string()
            }
            LexProblem::ExpectedIsa => "data where an ISA interchange header was expected; skipped to the next ISA".to_string(),
            LexProblem::BadIsa(IsaProblem::NotFixedWidth) => "ISA is not the fixed-width 106-character header (each ISA element must have its exact length): the interchange is skipped".to_string(),
            LexProblem::BadIsa(IsaProblem::Short) => "ISA header is cut short before ISA16 and its terminator: the interchange is skipped".to_string(),
            LexProblem::BadIsa(_) => "ISA header declares clashing or alphanumeric delimiters: the interchange is skipped".to_string(),
            LexProblem::Unterminated => "the file ends inside a segment (no segment terminator): it was cut off".to_string(),
            LexProblem::Utf16 => "the file is UTF-16 encoded: X12 must be ASCII or UTF-8; re-save it and resend".to_string(),
            LexProblem::TooLong => "a segment runs over 64 KiB without a terminator".to_string(),
            LexProblem::Io(m) => format!("read error: {m}"),
        };
        if let Some(open) = self.set.as_mut() {
            // Reported once, on the set it cut short (its claims are lost).
            let pos = open.builder.count + 1;
            open.builder.error(
                pos,
                b"SE",
                e.byte,
                None,
                None,
                ErrorKind::Unreadable,
                format!("{msg}, before the SE trailer of this transaction set"),
            );
            self.close_set();
        } else {
            let id = match e.problem {
                LexProblem::Unterminated => "IEA",
                _ => "ISA",
            };
            self.envelope_error(id, e.byte, None, false, msg);
            self.lost();
        }
        // Whatever was open cannot be completed now.
        self.close_group_unterminated(e.byte);
        if self.interchange.take().is_some() {
            self.interchange_fault("023");
        }
    }

    fn segment(&mut self, s: &Segment<'_>) {
        match s.id() {
            b"ISA" => self.isa(s),
            b"IEA" => self.iea(s),
            b"GS" => self.gs(s),
            b"GE" => self.ge(s),
            b"ST" => self.st(s),
            b"SE" => self.se(s),
            _ => {
                if let Some(open) = self.set.as_mut() {
                    open.builder.segment(s);
                } else if !s.raw().is_empty() {
                    let what = if valid_segment_id(s.id()) {
                        String::new()
                    } else {
                        " and has an invalid segment identifier".to_string()
                    };
                    self.envelope_error(
                        &text(s.id()),
                        s.byte,
                        None,
                        self.group.is_some(),
                        format!("segment {} is outside any ST/SE transaction set{what}; it was not read", s.number),
                    );
                    self.lost();
                }
            }
        }
    }

    fn isa(&mut self, s: &Segment<'_>) {
        if self.interchange.is_some() {
            self.close_set_unterminated(s, "ISA");
            self.close_group_unterminated(s.byte);
            self.envelope_error(
                "IEA",
                s.byte,
                None,
                false,
                "interchange ends without IEA before the next ISA".into(),
            );
            self.interchange_fault("023");
        }
        self.summary.interchanges += 1;
        let elements: Vec<String> = (0..=16).map(|i| text(s.element(i))).collect();
        self.interchanges.push(InterchangeAck::of_isa(&elements));
        let trim = |b: &[u8]| text(b).trim_end().to_string();
        self.interchange = Some(Interchange {
            control: text(s.element(13)),
            test: s.element(15) == b"T",
            sender: (text(s.element(5)), trim(s.element(6))),
            receiver: (text(s.element(7)), trim(s.element(8))),
            groups: 0,
        });
    }

    fn iea(&mut self, s: &Segment<'_>) {
        self.close_set_unterminated(s, "IEA");
        self.close_group_unterminated(s.byte);
        let Some((groups, control)) = self
            .interchange
            .as_ref()
            .map(|i| (i.groups, i.control.clone()))
        else {
            self.envelope_error("IEA", s.byte, None, false, "IEA without an ISA".into());
            return;
        };
        if s.text(1).parse::<u32>().ok() != Some(groups) {
            let msg = format!(
                "IEA01 says {} functional groups, the interchange has {groups}",
                s.text(1)
            );
            self.envelope_error("IEA", s.byte, None, false, msg);
            self.interchange_fault("021");
        }
        if s.element(2) != control.as_bytes() {
            let msg = "IEA02 interchange control number differs from ISA13".to_string();
            self.envelope_error("IEA", s.byte, None, false, msg);
            self.interchange_fault("001");
        }
        self.interchange = None;
    }

    fn gs(&mut self, s: &Segment<'_>) {
        self.close_set_unterminated(s, "GS");
        self.close_group_unterminated(s.byte);
        let test = self.interchange.as_ref().is_some_and(|ic| ic.test);
        let (interchange, sender, receiver) = match self.interchange.as_mut() {
            Some(ic) => {
                ic.groups += 1;
                (ic.control.clone(), ic.sender.clone(), ic.receiver.clone())
            }
            None => {
                self.envelope_error(
                    "GS",
                    s.byte,
                    None,
                    false,
                    "GS outside an interchange (no ISA)".into(),
                );
                Default::default()
            }
        };
        self.group = Some(Group {
            ack: GroupAck {
                interchange,
                sender,
                receiver,
                test,
                functional_id: text(s.element(1)),
                app_sender: text(s.element(2)),
                app_receiver: text(s.element(3)),
                control_number: text(s.element(6)),
                version: text(s.element(8)),
                sets: Vec::new(),
                group_errors: Vec::new(),
            },
            sets: 0,
        });
    }

    fn ge(&mut self, s: &Segment<'_>) {
        self.close_set_unterminated(s, "GE");
        let Some(g) = self.group.as_ref() else {
            self.envelope_error("GE", s.byte, None, false, "GE without a GS".into());
            return;
        };
        let (sets, control) = (g.sets, g.ack.control_number.clone());
        if s.text(1).parse::<u32>().ok() != Some(sets) {
            self.envelope_error(
                "GE",
                s.byte,
                Some("5"),
                true,
                format!(
                    "GE01 says {} transaction sets, the group has {sets}",
                    s.text(1)
                ),
            );
        }
        if s.element(2) != control.as_bytes() {
            self.envelope_error(
                "GE",
                s.byte,
                Some("4"),
                true,
                "GE02 group control number differs from GS06".into(),
            );
        }
        if let Some(g) = self.group.take() {
            self.acks.push(g.ack);
        }
    }

    fn st(&mut self, s: &Segment<'_>) {
        self.close_set_unterminated(s, "ST");
        self.summary.transaction_sets += 1;
        let group_version = match self.group.as_mut() {
            Some(g) => {
                g.sets += 1;
                g.ack.version.clone()
            }
            None => String::new(),
        };
        let set_id = text(s.element(1));
        let control = text(s.element(2));
        let st03 = text(s.element(3));
        let guide = if st03.is_empty() { group_version } else { st03 };
        let kind = if set_id == "837" {
            kind_of_guide(&guide)
        } else {
            None
        };
        // Reuse the claim vector the caller gave back: its pages are already
        // mapped, where a fresh one page-faults on every claim it grows into.
        let mut claims = self.spare_claims.take().unwrap_or_default();
        claims.reserve(self.last_set_claims);
        let mut builder = SetBuilder::new(control.clone(), kind, claims);
        if self.group.is_none() {
            builder.error(
                1,
                b"ST",
                s.byte,
                None,
                None,
                ErrorKind::UnexpectedSegment,
                "ST outside a functional group (no GS)".into(),
            );
        }
        if control.is_empty() {
            builder.error(
                1,
                b"ST",
                s.byte,
                Some(2),
                None,
                ErrorKind::ElementMissing,
                "ST02 (transaction set control number) is required but missing".into(),
            );
        }
        if kind.is_none() {
            let (el, what, msg) = if set_id != "837" {
                (1, ErrorKind::UnsupportedSet, format!("transaction set {set_id} is not an 837 claim: priorauth reads 837P, 837I and 837D"))
            } else {
                (3, ErrorKind::UnsupportedGuide, format!("implementation guide '{guide}' is not supported: priorauth reads 005010X222 (837P), 005010X223 (837I) and 005010X224 (837D)"))
            };
            builder.error(1, b"ST", s.byte, Some(el), None, what, msg);
        }
        self.set = Some(OpenSet {
            builder,
            set_id,
            guide,
        });
    }

    fn se(&mut self, s: &Segment<'_>) {
        let Some(open) = self.set.as_mut() else {
            self.envelope_error(
                "SE",
                s.byte,
                None,
                self.group.is_some(),
                "SE without an ST".into(),
            );
            return;
        };
        let b = &mut open.builder;
        b.count += 1;
        let pos = b.count;
        b.finish(pos, b"SE", s.byte);
        if s.text(1).parse::<u32>().ok() != Some(pos) {
            let msg = format!(
                "SE01 says {} segments, the transaction set has {pos} (ST to SE inclusive)",
                s.text(1)
            );
            b.error(
                pos,
                b"SE",
                s.byte,
                Some(1),
                None,
                ErrorKind::SegmentCount,
                msg,
            );
        }
        if s.element(2) != b.control_number.as_bytes() {
            let msg = "SE02 transaction set control number differs from ST02".to_string();
            b.error(
                pos,
                b"SE",
                s.byte,
                Some(2),
                None,
                ErrorKind::ControlNumberMismatch,
                msg,
            );
        }
        self.close_set();
    }

    /// Closes a set that a segment other than SE has cut short.
    fn close_set_unterminated(&mut self, s: &Segment<'_>, id: &str) {
        if let Some(open) = self.set.as_mut() {
            let b = &mut open.builder;
            let pos = b.count + 1;
            b.finish(pos, id.as_bytes(), s.byte);
            let msg = format!("transaction set has no SE trailer: {id} found at segment {pos}");
            b.error(
                pos,
                b"SE",
                s.byte,
                None,
                None,
                ErrorKind::TrailerMissing,
                msg,
            );
            self.close_set();
        }
    }

    fn close_group_unterminated(&mut self, byte: u64) {
        if self.group.is_some() {
            self.envelope_error(
                "GE",
                byte,
                Some("3"),
                true,
                "functional group has no GE trailer".into(),
            );
            if let Some(g) = self.group.take() {
                self.acks.push(g.ack);
            }
        }
    }

    fn close_set(&mut self) {
        let Some(open) = self.set.take() else {
            return;
        };
        let OpenSet {
            builder,
            set_id,
            guide,
        } = open;
        let accepted = builder.errors.is_empty();
        self.last_set_claims = builder.claims.len().min(1 << 20);
        let (interchange, group) = (
            self.interchange
                .as_ref()
                .map(|i| i.control.clone())
                .unwrap_or_default(),
            self.group
                .as_ref()
                .map(|g| g.ack.control_number.clone())
                .unwrap_or_default(),
        );
        if let Some(g) = self.group.as_mut() {
            g.ack.sets.push(SetAck {
                set_id: set_id.clone(),
                control_number: builder.control_number.clone(),
                guide: guide.clone(),
                errors: builder.errors.clone(),
            });
        }
        let (claims, unprocessed) = if accepted {
            self.summary.claims += builder.claims.len() as u64;
            self.summary.service_lines += builder
                .claims
                .iter()
                .map(|c| c.lines.len() as u64)
                .sum::<u64>();
            (builder.claims, Vec::new())
        } else {
            self.summary.rejected_sets += 1;
            (Vec::new(), builder.claims)
        };
        self.ready.push_back(TransactionSet {
            interchange,
            group,
            control_number: builder.control_number,
            set_id,
            guide,
            kind: builder.kind,
            claims,
            unprocessed,
            errors: builder.errors,
        });
    }

    fn end_of_input(&mut self, byte: u64) {
        self.done = true;
        if let Some(open) = self.set.as_mut() {
            let b = &mut open.builder;
            let pos = b.count + 1;
            b.finish(pos, b"SE", byte);
            b.error(
                pos,
                b"SE",
                byte,
                None,
                None,
                ErrorKind::TrailerMissing,
                "the file ends before the SE trailer of this transaction set".into(),
            );
            self.close_set();
        }
        self.close_group_unterminated(byte);
        if self.interchange.take().is_some() {
            self.envelope_error(
                "IEA",
                byte,
                None,
                false,
                "the file ends before the IEA trailer: it may have been cut off".into(),
            );
            self.lost();
            self.interchange_fault("023");
        }
        // Said once: a file whose first bytes were already refused has its error.
        if self.summary.interchanges == 0 && self.envelope_errors.is_empty() {
            self.envelope_error(
                "ISA",
                0,
                None,
                false,
                "no ISA interchange header found: this is not an X12 file".into(),
            );
        }
    }
}
