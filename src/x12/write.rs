//! A small X12 writer shared by every transaction priorauth writes.

use super::Delimiters;

/// An amount as X12 writes money: at least two decimals.
pub(crate) fn amount(d: rust_decimal::Decimal) -> String {
    crate::model::money(d).to_string()
}

/// A quantity without trailing zeros.
pub(crate) fn quantity(d: rust_decimal::Decimal) -> String {
    d.normalize().to_string()
}

/// The interchange (ISA) and functional group (GS) around what a writer
/// emits; `X12Writer::begin` and `end` write them.
pub(crate) struct Envelope<'a> {
    /// ISA05/ISA06 qualifier and id of the sender.
    pub sender: (&'a str, &'a str),
    /// ISA07/ISA08 qualifier and id of the receiver.
    pub receiver: (&'a str, &'a str),
    /// GS02 application sender (`PRIORAUTH` when empty).
    pub app_sender: &'a str,
    /// GS03 application receiver (`SUBMITTER` when empty).
    pub app_receiver: &'a str,
    /// GS01 (`FA`, `HP`, `HN`).
    pub functional_id: &'a str,
    /// GS08 implementation guide.
    pub version: &'a str,
    /// ISA09/ISA10 and GS04/GS05.
    pub created: chrono::NaiveDateTime,
    /// ISA13 and GS06.
    pub control: u32,
    /// ISA15 `T`.
    pub test: bool,
}

/// Groups claims (with whatever travels with them) by billing NPI, groups
/// and claims in input order: the 835 has a transaction set per payee and
/// the 277CA a loop per billing provider.
pub(crate) fn by_billing_provider<'a, T>(
    items: impl IntoIterator<Item = (&'a crate::model::Claim, T)>,
) -> Vec<(&'a str, Vec<(&'a crate::model::Claim, T)>)> {
    let mut groups: Vec<(&'a str, Vec<(&'a crate::model::Claim, T)>)> = Vec::new();
    for (claim, extra) in items {
        let npi = claim.billing_npi.as_str();
        match groups.iter_mut().find(|(n, _)| *n == npi) {
            Some((_, list)) => list.push((claim, extra)),
            None => groups.push((npi, vec![(claim, extra)])),
        }
    }
    groups
}

/// Builds X12 text segment by segment and counts segments per transaction set.
#[derive(Debug)]
pub struct X12Writer {
    out: String,
    delims: Delimiters,
    /// Segments written since the last ST.
    set_segments: u32,
    newlines: bool,
}

impl X12Writer {
    /// A writer with the usual delimiters (`*`, `:`, `^`, `~`); `newlines`
    /// puts a line break after each terminator for readability.
    pub fn new(newlines: bool) -> Self {
        X12Writer {
            out: String::new(),
            delims: Delimiters::default(),
            set_segments: 0,
            newlines,
        }
    }

    /// Writes one segment: the id then its elements; trailing empty elements
    /// are dropped, as X12 requires. Delimiter characters inside values are
    /// replaced by spaces so they cannot break the structure.
    pub fn segment(&mut self, id: &str, elements: &[&str]) {
        let last = elements
            .iter()
            .rposition(|e| !e.is_empty())
            .map_or(0, |i| i + 1);
        self.out.push_str(id);
        for e in elements.iter().take(last) {
            self.out.push(char::from(self.delims.element));
            self.push_value(e);
        }
        self.out.push(char::from(self.delims.segment));
        if self.newlines {
            self.out.push('\n');
        }
        if id == "ST" {
            self.set_segments = 0;
        }
        self.set_segments += 1;
    }

    /// Writes a composite from its components (trailing empties dropped).
    pub fn composite(&self, parts: &[&str]) -> String {
        let last = parts
            .iter()
            .rposition(|e| !e.is_empty())
            .map_or(0, |i| i + 1);
        let mut s = String::new();
        for (i, p) in parts.iter().take(last).enumerate() {
            if i > 0 {
                s.push(char::from(self.delims.component));
            }
            s.push_str(&self.clean(p));
        }
        s
    }

    fn clean(&self, v: &str) -> String {
        let d = self.delims;
        v.chars()
            .map(|c| {
                let b = u32::from(c);
                let bad = [Some(d.element), Some(d.segment), d.repetition]
                    .into_iter()
                    .flatten()
                    .any(|x| u32::from(x) == b);
                if bad || c.is_control() {
                    ' '
                } else {
                    c
                }
            })
            .collect()
    }

    fn push_value(&mut self, v: &str) {
        // Components are joined by `composite`, which already cleaned them.
        let cleaned = self.clean(v);
        self.out.push_str(&cleaned);
    }

    /// Writes SE with the segment count of the set.
    pub fn end_set(&mut self, control: &str) {
        let n = (self.set_segments + 1).to_string();
        self.segment("SE", &[&n, control]);
    }

    /// Writes the fixed-width ISA header.
    #[allow(clippy::too_many_arguments)]
    pub fn isa(
        &mut self,
        sender: (&str, &str),
        receiver: (&str, &str),
        date: &str,
        time: &str,
        control: u32,
        test: bool,
    ) {
        let pad = |s: &str, n: usize| format!("{:<n$}", s.chars().take(n).collect::<String>());
        let qual = |q: &str| {
            if q.len() == 2 {
                q.to_string()
            } else {
                "ZZ".to_string()
            }
        };
        let ctl = format!("{control:09}");
        let sq = qual(sender.0);
        let rq = qual(receiver.0);
        let sid = pad(
            if sender.1.is_empty() {
                "PRIORAUTH"
            } else {
                sender.1
            },
            15,
        );
        let rid = pad(
            if receiver.1.is_empty() {
                "SUBMITTER"
            } else {
                receiver.1
            },
            15,
        );
        let fields: [&str; 16] = [
            "00",
            "          ",
            "00",
            "          ",
            &sq,
            &sid,
            &rq,
            &rid,
            date,
            time,
            "^",
            "00501",
            &ctl,
            "0",
            if test { "T" } else { "P" },
            ":",
        ];
        self.out.push_str("ISA");
        for f in fields {
            self.out.push('*');
            self.out.push_str(f);
        }
        self.out.push('~');
        if self.newlines {
            self.out.push('\n');
        }
    }

    /// Opens the interchange and its one functional group.
    pub(crate) fn begin(&mut self, e: &Envelope<'_>) {
        let date8 = e.created.format("%Y%m%d").to_string();
        let time = e.created.format("%H%M").to_string();
        let date6 = e.created.format("%y%m%d").to_string();
        self.isa(e.sender, e.receiver, &date6, &time, e.control, e.test);
        fn or<'s>(s: &'s str, default: &'s str) -> &'s str {
            if s.is_empty() {
                default
            } else {
                s
            }
        }
        let ctl = e.control.to_string();
        self.segment(
            "GS",
            &[
                e.functional_id,
                or(e.app_sender, "PRIORAUTH"),
                or(e.app_receiver, "SUBMITTER"),
                &date8,
                &time,
                &ctl,
                "X",
                e.version,
            ],
        );
    }

    /// Closes the group (with its count of transaction sets) and the interchange.
    pub(crate) fn end(&mut self, sets: usize, control: u32) {
        self.segment("GE", &[&sets.to_string(), &control.to_string()]);
        self.segment("IEA", &["1", &format!("{control:09}")]);
    }

    /// Takes the text written so far out of the writer (segment counts
    /// carry on), so a long answer can be streamed.
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }
}
