//! Zero-copy segment reader.
//!
//! Reads any `io::Read` in large chunks and hands out [`Segment`]s that borrow
//! from its buffer, so a file of any size is lexed with a fixed amount of
//! memory and without an allocation per segment. Delimiters are taken from
//! each ISA header; whitespace after a segment terminator (CR/LF, the
//! indentation some samples carry) and a leading UTF-8 BOM are skipped.

use std::io::Read;

use memchr::memchr;

use super::delimiters::{Delimiters, IsaProblem};
use super::segment::{scan, Index, Segment};

/// How much is read from the source at a time.
const CHUNK: usize = 256 * 1024;
/// Longest segment accepted; a longer one is an error, so a file without
/// terminators cannot make the buffer grow without bound.
pub const MAX_SEGMENT: usize = 64 * 1024;

/// A problem the lexer finds between segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexProblem {
    /// Bytes where an ISA header was expected.
    ExpectedIsa,
    /// The ISA header could not give delimiters.
    BadIsa(IsaProblem),
    /// The data ends inside a segment (no terminator).
    Unterminated,
    /// The input is UTF-16 text; X12 is ASCII (or UTF-8).
    Utf16,
    /// A segment longer than [`MAX_SEGMENT`].
    TooLong,
    /// Reading the source failed.
    Io(String),
}

/// A lexer problem and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// What went wrong.
    pub problem: LexProblem,
    /// Byte offset in the input where it went wrong.
    pub byte: u64,
}

/// What [`SegmentReader::next_segment`] produced.
#[derive(Debug)]
pub enum Lexed<'a> {
    /// A segment.
    Segment(Segment<'a>),
    /// Bytes that could not be read as segments. The reader has skipped past
    /// them (to the next ISA, or to the end) and can go on.
    Error(LexError),
}

/// Splits an X12 byte stream into segments.
pub struct SegmentReader<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Offset of `buf[0]` in the stream.
    base: u64,
    delims: Option<Delimiters>,
    at_file_start: bool,
    segments: u64,
    /// The first bytes of the last ISA that could not be read (for a TA1).
    bad_isa: Vec<u8>,
}

impl<R: Read> SegmentReader<R> {
    /// A reader over `src`; nothing is read until the first segment is asked for.
    pub fn new(src: R) -> Self {
        SegmentReader {
            src,
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            base: 0,
            delims: None,
            at_file_start: true,
            segments: 0,
            bad_isa: Vec::new(),
        }
    }

    /// The first bytes (up to 106) of the last ISA header that could not
    /// be read, taken out of the reader; empty when there was none.
    pub fn take_bad_isa(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bad_isa)
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.base + self.start as u64
    }

    /// The delimiters of the interchange being read, if inside one.
    pub fn delimiters(&self) -> Option<Delimiters> {
        self.delims
    }

    /// Reads more input, moving unread bytes to the front of the buffer.
    /// Returns false at end of input.
    fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < self.end + CHUNK {
            self.buf.resize(self.end + CHUNK, 0);
        }
        loop {
            let dst = self.buf.get_mut(self.end..).unwrap_or_default();
            match self.src.read(dst) {
                Ok(0) => {
                    self.eof = true;
                    return false;
                }
                Ok(n) => {
                    self.end += n;
                    return true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // Treated as end of input; the caller sees an
                    // unterminated segment or a missing trailer.
                    self.eof = true;
                    return false;
                }
            }
        }
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Skips whitespace (and a BOM at the very start). False at end of input.
    #[inline]
    fn skip_filler(&mut self) -> bool {
        // Fast path: the next byte starts a segment (filler is all <= b' ').
        if !self.at_file_start
            && self
                .buf
                .get(self.start..self.end)
                .is_some_and(|p| p.first().is_some_and(|&b| b > b' '))
        {
            return true;
        }
        self.skip_filler_slow()
    }

    fn skip_filler_slow(&mut self) -> bool {
        loop {
            if self.start == self.end && !self.fill() {
                return false;
            }
            if self.at_file_start {
                if self.end - self.start < 3 && !self.eof {
                    self.fill();
                    continue;
                }
                if self.pending().starts_with(b"\xEF\xBB\xBF") {
                    self.start += 3;
                }
                self.at_file_start = false;
            }
            let seg_term = self.delims.map(|d| d.segment);
            let elem = self.delims.map(|d| d.element);
            let skip = self
                .pending()
                .iter()
                .take_while(|&&b| {
                    matches!(b, b'\r' | b'\n' | b' ' | b'\t')
                        && Some(b) != seg_term
                        && Some(b) != elem
                })
                .count();
            self.start += skip;
            if self.start < self.end {
                return true;
            }
        }
    }

    /// Skips to the next `ISA` after an unreadable stretch.
    fn resync(&mut self) {
        loop {
            let found = memchr::memmem::find(self.pending().get(1..).unwrap_or_default(), b"ISA");
            if let Some(i) = found {
                self.start += i + 1;
                return;
            }
            // Keep the last two bytes: they may start "ISA".
            self.start = self.end.saturating_sub(2).max(self.start);
            if !self.fill() {
                self.start = self.end;
                return;
            }
        }
    }

    /// The next segment, an error, or `None` at end of input.
    #[inline]
    pub fn next_segment(&mut self) -> Option<Lexed<'_>> {
        if !self.skip_filler() {
            return None;
        }
        match self.delims {
            None => self.read_isa(),
            Some(d) => self.read_segment(d),
        }
    }

    fn read_isa(&mut self) -> Option<Lexed<'_>> {
        // An ISA is 106 bytes; read a little more in case it is padded.
        while self.end - self.start < 256 && !self.eof {
            self.fill();
        }
        let byte = self.bytes_read();
        let p = self.pending();
        if p.starts_with(b"\xFF\xFE") || p.starts_with(b"\xFE\xFF") || p.starts_with(b"I\0S\0A\0") {
            self.start = self.end;
            while self.fill() {
                self.start = self.end;
            }
            return Some(Lexed::Error(LexError {
                problem: LexProblem::Utf16,
                byte,
            }));
        }
        match Delimiters::from_isa(self.pending()) {
            Ok((d, len)) => {
                self.delims = Some(d);
                let s = self.start;
                self.start += len;
                self.segments += 1;
                let raw = self.buf.get(s..s + len - 1).unwrap_or_default();
                Some(Lexed::Segment(Segment::new(raw, d, byte, self.segments)))
            }
            Err(p) => {
                let problem = match p {
                    IsaProblem::NotIsa => LexProblem::ExpectedIsa,
                    other => LexProblem::BadIsa(other),
                };
                if matches!(problem, LexProblem::BadIsa(_)) {
                    let p = self.pending();
                    self.bad_isa = p.get(..106).unwrap_or(p).to_vec();
                }
                self.resync();
                Some(Lexed::Error(LexError { problem, byte }))
            }
        }
    }

    fn read_segment(&mut self, d: Delimiters) -> Option<Lexed<'_>> {
        // Fast path: the whole segment is in the buffer; its element
        // separators are found in the same pass as its terminator.
        let mut index = Index::EMPTY;
        if let Some(len) = scan(self.pending(), d.element, d.segment, &mut index) {
            return Some(self.take_segment(d, len, Some(index)));
        }
        let mut searched = self.pending().len();
        let len = loop {
            let pending = self.pending();
            if let Some(i) = pending.get(searched..).and_then(|p| memchr(d.segment, p)) {
                break searched + i;
            }
            searched = pending.len();
            if searched > MAX_SEGMENT {
                let byte = self.bytes_read();
                self.delims = None;
                self.resync();
                return Some(Lexed::Error(LexError {
                    problem: LexProblem::TooLong,
                    byte,
                }));
            }
            if !self.fill() {
                let byte = self.bytes_read();
                let rest = self.pending();
                let trimmed = rest.len()
                    - rest
                        .iter()
                        .rev()
                        .take_while(|b| b.is_ascii_whitespace())
                        .count();
                if rest.starts_with(b"IEA") && trimmed <= 64 {
                    // A last IEA without its terminator loses nothing: take it.
                    let s = self.start;
                    self.start = self.end;
                    self.segments += 1;
                    self.delims = None;
                    let raw = self.buf.get(s..s + trimmed).unwrap_or_default();
                    return Some(Lexed::Segment(Segment::new(raw, d, byte, self.segments)));
                }
                self.start = self.end;
                self.delims = None;
                return Some(Lexed::Error(LexError {
                    problem: LexProblem::Unterminated,
                    byte,
                }));
            }
        };
        Some(self.take_segment(d, len, None))
    }

    /// Hands out the `len` bytes at the read position as a segment (its
    /// terminator is consumed too). `index` holds the element offsets when
    /// the scan already found them.
    fn take_segment(&mut self, d: Delimiters, len: usize, index: Option<Index>) -> Lexed<'_> {
        let byte = self.bytes_read();
        let s = self.start;
        self.start += len + 1;
        self.segments += 1;
        let raw = self.buf.get(s..s + len).unwrap_or_default();
        if raw.starts_with(b"IEA") && raw.get(3).map_or(true, |&b| b == d.element) {
            // The next interchange declares its own delimiters.
            self.delims = None;
        }
        Lexed::Segment(match index {
            Some(index) => Segment::indexed(raw, d, byte, self.segments, index),
            None => Segment::new(raw, d, byte, self.segments),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISA: &str = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*^*00501*000000001*0*P*:~";

    fn ids(input: &[u8]) -> Vec<String> {
        let mut r = SegmentReader::new(input);
        let mut out = Vec::new();
        while let Some(x) = r.next_segment() {
            match x {
                Lexed::Segment(s) => out.push(String::from_utf8_lossy(s.id()).into_owned()),
                Lexed::Error(e) => out.push(format!("ERR {:?}@{}", e.problem, e.byte)),
            }
        }
        out
    }

    #[test]
    fn crlf_bom_and_indentation_are_tolerated() {
        let input = format!(
            "\u{feff}{ISA}\r\n  GS*HC~\r\n\tST*837*0001~\nSE*2*0001~GE*1*1~IEA*1*000000001~\r\n"
        );
        assert_eq!(
            ids(input.as_bytes()),
            ["ISA", "GS", "ST", "SE", "GE", "IEA"]
        );
    }

    #[test]
    fn truncated_input_is_an_error_not_silence() {
        let input = format!("{ISA}GS*HC~ST*837*00");
        let got = ids(input.as_bytes());
        assert_eq!(
            got.last().unwrap(),
            &format!("ERR Unterminated@{}", ISA.len() + 6)
        );
    }

    #[test]
    fn garbage_before_second_interchange_is_skipped() {
        let input = format!("{ISA}IEA*1*000000001~junk junk{ISA}IEA*1*000000001~");
        assert_eq!(
            ids(input.as_bytes()),
            ["ISA", "IEA", "ERR ExpectedIsa@122", "ISA", "IEA"]
        );
    }

    #[test]
    fn segments_cross_chunk_boundaries() {
        // A reader that returns one byte at a time exercises every refill path.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                match (self.0.split_first(), buf.first_mut()) {
                    (Some((b, rest)), Some(slot)) => {
                        *slot = *b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let input = format!("{ISA}GS*HC~ST*837*0001~SE*2*0001~GE*1*1~IEA*1*000000001~");
        let mut r = SegmentReader::new(Trickle(input.as_bytes()));
        let mut n = 0;
        while let Some(Lexed::Segment(_)) = r.next_segment() {
            n += 1;
        }
        assert_eq!(n, 6);
    }
}
