//! Reading 837 input as every caller needs it: accepted transaction sets
//! one at a time, and beside them what was rejected, what was only a
//! warning, the group acknowledgments for the 999 and the totals. The one
//! loop over [`Parser`] that the CLI, the claim routes and batches share.

use std::io::Read;

use serde::Serialize;

use super::error::{EnvelopeError, ErrorKind, SyntaxError};
use super::parser::{GroupAck, Parser, Summary, TransactionSet};
use super::ta1::InterchangeAck;
use crate::model::Claim;

/// A named source of X12 bytes: a file, standard input, a request body.
pub struct Input {
    /// Its name in messages (the path as given, `-` for standard input).
    pub name: String,
    /// Where its bytes come from.
    pub reader: Box<dyn Read>,
}

/// A rejected transaction set, or a stretch of input lost to a broken
/// envelope (then `control_number` is null), as every answer shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// ST02 (null when the problem is outside any set).
    pub control_number: Option<String>,
    /// The file it came from (the CLI names files; the API has one body).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Its errors.
    pub errors: Vec<SyntaxError>,
}

/// What reading the input produced besides the claims of accepted sets.
#[derive(Debug, Default)]
pub struct Intake {
    /// Rejected sets and unreadable stretches.
    pub rejected: Vec<Rejected>,
    /// Envelope problems that did not reject a set.
    pub warnings: Vec<EnvelopeError>,
    /// Group acknowledgments for the 999.
    pub acks: Vec<GroupAck>,
    /// Each interchange's TA1 values and envelope fault.
    pub interchanges: Vec<InterchangeAck>,
    /// Totals.
    pub summary: Summary,
}

impl Intake {
    /// True when every transaction set was accepted and nothing was lost.
    pub fn all_accepted(&self) -> bool {
        self.rejected.is_empty()
    }

    /// True when any group was sent as test data (ISA15 `T`): answers to
    /// it are marked test too.
    pub fn test(&self) -> bool {
        self.acks.iter().any(|g| g.test) || self.interchanges.iter().any(|i| i.test)
    }

    /// True when an interchange's own header or trailer is at fault (a
    /// TA1 says what).
    pub fn interchange_at_fault(&self) -> bool {
        self.interchanges.iter().any(InterchangeAck::at_fault)
    }

    /// Adds what one input produced.
    fn add(&mut self, other: Intake) {
        self.rejected.extend(other.rejected);
        self.warnings.extend(other.warnings);
        self.acks.extend(other.acks);
        self.interchanges.extend(other.interchanges);
        let (t, s) = (&mut self.summary, other.summary);
        t.interchanges += s.interchanges;
        t.transaction_sets += s.transaction_sets;
        t.claims += s.claims;
        t.service_lines += s.service_lines;
        t.rejected_sets += s.rejected_sets;
        t.bytes += s.bytes;
    }
}

/// One input read set by set: [`SetReader::next_accepted`] hands out the
/// accepted sets and keeps the rest for [`SetReader::finish`].
pub struct SetReader<R> {
    parser: Parser<R>,
    file: Option<String>,
    intake: Intake,
}

impl<R: Read> SetReader<R> {
    /// A reader over `src`; `file` names it in rejections.
    pub fn new(src: R, file: Option<String>) -> Self {
        SetReader {
            parser: Parser::new(src),
            file,
            intake: Intake::default(),
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.parser.summary().bytes
    }

    /// Counts so far.
    pub fn summary(&self) -> Summary {
        self.parser.summary()
    }

    /// The next accepted set; rejected ones are noted on the way.
    pub fn next_accepted(&mut self) -> Option<TransactionSet> {
        loop {
            let set = self.parser.next_set()?;
            if set.accepted() {
                return Some(set);
            }
            self.intake.rejected.push(Rejected {
                control_number: Some(set.control_number),
                file: self.file.clone(),
                errors: set.errors,
            });
        }
    }

    /// Hands back the claims of a set the caller is done with, so the next
    /// set reuses their memory.
    pub fn recycle(&mut self, claims: Vec<Claim>) {
        self.parser.recycle(claims);
    }

    /// What the input produced besides accepted sets (call at the end).
    pub fn finish(mut self) -> Intake {
        for e in self.parser.envelope_errors() {
            if e.lost_data {
                self.intake.rejected.push(Rejected {
                    control_number: None,
                    file: self.file.clone(),
                    errors: vec![unreadable(e)],
                });
            } else {
                self.intake.warnings.push(e.clone());
            }
        }
        self.intake.summary = self.parser.summary();
        self.intake.acks = self.parser.acks().to_vec();
        self.intake.interchanges = self.parser.interchange_acks().to_vec();
        self.intake
    }
}

/// Reads every input in order, calling `on_set` for each accepted set (it
/// may take the set's claims; those left are reused for the next set), and
/// `progress` with the bytes read so far across inputs.
pub fn read_inputs<E>(
    inputs: Vec<Input>,
    mut progress: impl FnMut(u64),
    mut on_set: impl FnMut(&mut TransactionSet) -> Result<(), E>,
) -> Result<Intake, E> {
    let mut intake = Intake::default();
    let mut done_before = 0u64;
    for Input { name, reader } in inputs {
        let mut r = SetReader::new(reader, Some(name));
        while let Some(mut set) = r.next_accepted() {
            progress(done_before + r.bytes_read());
            on_set(&mut set)?;
            r.recycle(set.claims);
        }
        let one = r.finish();
        done_before += one.summary.bytes;
        intake.add(one);
    }
    Ok(intake)
}

/// A stretch of input lost to a broken envelope, reported like a syntax
/// error (segment 0: outside any set).
pub fn unreadable(e: &EnvelopeError) -> SyntaxError {
    SyntaxError {
        segment: 0,
        id: e.id.clone(),
        loop_id: None,
        element: None,
        component: None,
        byte: e.byte,
        claim: None,
        kind: ErrorKind::Unreadable,
        message: e.message.clone(),
    }
}
