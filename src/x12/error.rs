//! Syntax errors with the position a 999 needs.

use serde::Serialize;

/// What is wrong, in the terms of the 999's code lists.
///
/// Each kind knows its IK3 segment code, IK4 element code and IK5
/// transaction-set code, so the 999 writer needs no second table.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// SE01 differs from the number of segments counted.
    SegmentCount,
    /// SE02 differs from ST02.
    ControlNumberMismatch,
    /// The set ended without SE (new ST/GS/IEA or end of file).
    TrailerMissing,
    /// ST01 is not 837: priorauth reads claims only (IK502 `1`).
    UnsupportedSet,
    /// An 837 whose ST03/GS08 names a guide priorauth does not read (IK502 `I6`).
    UnsupportedGuide,
    /// A segment id that is not 2-3 upper-case letters or digits.
    BadSegmentId,
    /// A segment where the 837 does not allow it (e.g. SV1 before LX).
    UnexpectedSegment,
    /// A required segment or loop is absent (e.g. a claim without LX).
    RequiredSegmentMissing,
    /// A required element is empty.
    ElementMissing,
    /// An element holds a code that is not allowed (e.g. HL02 parent).
    InvalidCode,
    /// A date element is not a valid date.
    InvalidDate,
    /// A numeric element is not a valid decimal.
    InvalidNumber,
    /// A segment could not be read at all (no terminator, too long).
    Unreadable,
}

impl ErrorKind {
    /// IK304 segment syntax error code, when the error names a segment.
    pub fn ik3_code(self) -> Option<&'static str> {
        match self {
            ErrorKind::BadSegmentId => Some("1"),
            ErrorKind::UnexpectedSegment => Some("2"),
            ErrorKind::RequiredSegmentMissing => Some("3"),
            ErrorKind::ElementMissing
            | ErrorKind::InvalidCode
            | ErrorKind::InvalidDate
            | ErrorKind::InvalidNumber => Some("8"),
            _ => None,
        }
    }

    /// IK403 element syntax error code, when the error names an element.
    pub fn ik4_code(self) -> Option<&'static str> {
        match self {
            ErrorKind::ElementMissing => Some("1"),
            ErrorKind::InvalidNumber => Some("6"),
            ErrorKind::InvalidCode => Some("7"),
            ErrorKind::InvalidDate => Some("8"),
            _ => None,
        }
    }

    /// IK502 transaction set syntax error code.
    pub fn ik5_code(self) -> &'static str {
        match self {
            ErrorKind::UnsupportedSet => "1",
            ErrorKind::UnsupportedGuide => "I6",
            ErrorKind::TrailerMissing | ErrorKind::Unreadable => "2",
            ErrorKind::ControlNumberMismatch => "3",
            ErrorKind::SegmentCount => "4",
            _ => "5",
        }
    }
}

/// One syntax error in a transaction set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyntaxError {
    /// Position of the segment in its transaction set (ST is 1).
    pub segment: u32,
    /// The segment id (`SE`, `CLM`, ...).
    pub id: String,
    /// The loop the segment belongs to, when known (`2300`, `2400`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loop_id: Option<&'static str>,
    /// Element position (1-based), when the error is in an element.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<u8>,
    /// Component position (1-based) inside a composite element.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<u8>,
    /// Byte offset of the segment in the file.
    pub byte: u64,
    /// CLM01 of the claim the error is in, when it is inside one (the
    /// 999's `CTX*CLM01:<patient control number>`).
    #[serde(skip)]
    pub claim: Option<String>,
    /// The kind of error.
    pub kind: ErrorKind,
    /// A sentence naming segment, element and what is wrong. Never holds
    /// element values, which may be PHI.
    pub message: String,
}

/// A problem with an interchange or functional group envelope (ISA/IEA,
/// GS/GE). These do not reject the transaction sets inside, which were
/// checked on their own, but they are reported and counted in the 999.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvelopeError {
    /// ISA13 of the interchange (empty when no ISA could be read).
    pub interchange: String,
    /// GS06 of the group, when the problem is in a group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The segment id (`IEA`, `GE`, `ISA`).
    pub id: String,
    /// Byte offset in the file.
    pub byte: u64,
    /// AK905 code for group problems (3 trailer missing, 4 control number
    /// mismatch, 5 set count), when it is one.
    #[serde(skip)]
    pub ak9_code: Option<&'static str>,
    /// True when data could not be read at all (no ISA, a cut-off file):
    /// claims may have been lost, so the file does not count as accepted.
    pub lost_data: bool,
    /// What is wrong.
    pub message: String,
}
