//! The TA1 interchange acknowledgment: what was wrong with an
//! interchange's own header and trailer (ISA/IEA), below any functional
//! group, or that it was in order when the sender asked (ISA14 `1`).
//!
//! TA104 is `A` (in order), `E` (read, with an error in the envelope: the
//! sets inside were still checked and the 999 answers them) or `R` (the
//! header could not be read: nothing in the interchange was read). TA105
//! is the X12 interchange note code: `000` no error, `001` ISA13 and IEA02
//! differ, `021` IEA01 is not the number of groups, `022` the ISA is not a
//! valid fixed-width header, `023` the interchange ends without IEA,
//! `026` the ISA's delimiters clash or are letters or digits.

use super::ack999::AckEnvelope;
use super::write::X12Writer;

/// What the TA1 says of one interchange read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterchangeAck {
    /// ISA13 (`000000000` when the header could not be read).
    pub control_number: String,
    /// ISA09 interchange date (YYMMDD).
    pub date: String,
    /// ISA10 interchange time (HHMM).
    pub time: String,
    /// ISA05/ISA06 sender (the TA1 goes back to it).
    pub sender: (String, String),
    /// ISA07/ISA08 receiver.
    pub receiver: (String, String),
    /// ISA15 `T`.
    pub test: bool,
    /// ISA14 `1`: the sender asked for a TA1.
    pub requested: bool,
    /// TA105 of the first problem found; `None`: in order.
    pub note: Option<&'static str>,
    /// True when the header itself could not be read (TA104 `R`).
    pub unreadable: bool,
}

impl InterchangeAck {
    /// A readable ISA's values (delimiters already known good).
    pub(crate) fn of_isa(elements: &[String]) -> Self {
        let el = |i: usize| {
            elements
                .get(i)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        InterchangeAck {
            control_number: el(13),
            date: el(9),
            time: el(10),
            sender: (el(5), el(6)),
            receiver: (el(7), el(8)),
            test: el(15) == "T",
            requested: el(14) == "1",
            note: None,
            unreadable: false,
        }
    }

    /// An ISA that could not be read: what can be made out of its first
    /// bytes, with `note`.
    pub(crate) fn unreadable(head: &[u8], note: &'static str) -> Self {
        let sep = head.get(3).copied().unwrap_or(b'*');
        let elements: Vec<String> = head
            .split(|b| *b == sep)
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect();
        let mut ack = InterchangeAck::of_isa(&elements);
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(&ack.control_number, 9) {
            ack.control_number = "000000000".into();
        }
        if !digits(&ack.date, 6) {
            ack.date = "000101".into();
        }
        if !digits(&ack.time, 4) {
            ack.time = "0000".into();
        }
        ack.note = Some(note);
        ack.unreadable = true;
        ack
    }

    /// Records a problem (the first one found is the one reported).
    pub(crate) fn fault(&mut self, note: &'static str) {
        if self.note.is_none() {
            self.note = Some(note);
        }
    }

    /// True when the interchange envelope itself is at fault.
    pub fn at_fault(&self) -> bool {
        self.note.is_some()
    }

    /// True when a TA1 is owed: the envelope is at fault or the sender asked.
    pub fn owed(&self) -> bool {
        self.at_fault() || self.requested
    }

    /// TA104: `A`, `E` or `R`.
    pub fn code(&self) -> &'static str {
        match (self.note, self.unreadable) {
            (None, _) => "A",
            (Some(_), false) => "E",
            (Some(_), true) => "R",
        }
    }
}

/// Writes the TA1 segments owed for `acks` (inside an interchange the
/// caller opened).
pub(crate) fn ta1_segments(w: &mut X12Writer, acks: &[InterchangeAck]) {
    for a in acks.iter().filter(|a| a.owed()) {
        let ctl = format!("{:0>9}", a.control_number);
        let ctl = ctl
            .get(ctl.len().saturating_sub(9)..)
            .unwrap_or("000000000");
        w.segment(
            "TA1",
            &[ctl, &a.date, &a.time, a.code(), a.note.unwrap_or("000")],
        );
    }
}

/// One interchange holding the TA1 of each interchange that owes one
/// (IEA01 `0`: it has no functional group).
pub fn write_ta1(acks: &[InterchangeAck], env: &AckEnvelope) -> String {
    let mut w = X12Writer::new(true);
    let first = acks.iter().find(|a| a.owed());
    // The TA1 goes back to whoever sent the interchange: sender and receiver swap.
    let (sender, receiver) = match first {
        Some(a) => (a.receiver.clone(), a.sender.clone()),
        None => Default::default(),
    };
    let date6 = env.created.format("%y%m%d").to_string();
    let time = env.created.format("%H%M").to_string();
    w.isa(
        (&sender.0, &sender.1),
        (&receiver.0, &receiver.1),
        &date6,
        &time,
        env.control_number,
        env.test,
    );
    ta1_segments(&mut w, acks);
    w.segment("IEA", &["0", &format!("{:09}", env.control_number)]);
    w.finish()
}
