//! One segment, borrowed from the reader's buffer.

use memchr::memchr_iter;

use super::delimiters::Delimiters;

/// Element separators whose offsets are recorded when a segment is made.
/// Every 837 segment priorauth reads has fewer (SV1, the longest, has 21
/// elements); elements past this are found by a scan from the last one.
const INDEXED: usize = 32;

/// A segment: its id and elements, without copying.
///
/// The element separators are located once, when the segment is made, so
/// `id()` and `element(n)` are O(1) slices of the raw bytes.
///
/// Element numbers follow X12 usage: `element(1)` is the first element after
/// the segment id (`CLM01`), `element(0)` is the id itself.
#[derive(Clone, Copy)]
pub struct Segment<'a> {
    raw: &'a [u8],
    delims: Delimiters,
    /// Byte offset of the segment in the input.
    pub byte: u64,
    /// 1-based number of the segment in the input.
    pub number: u64,
    index: Index,
}

impl std::fmt::Debug for Segment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("raw", &self.raw)
            .field("delims", &self.delims)
            .field("byte", &self.byte)
            .field("number", &self.number)
            .finish()
    }
}

/// 0x80 in each byte of `x` that is zero, 0 elsewhere (exact: no false
/// positives, unlike the cheaper has-zero test).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// Eight bytes as a little-endian word.
#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    if let Some(c) = chunk.get(..8) {
        w.copy_from_slice(c);
    }
    u64::from_le_bytes(w)
}

/// Where the element separators of one segment are: filled while the
/// segment is found (see [`scan`]), so that elements are O(1) slices.
#[derive(Clone, Copy)]
pub(crate) struct Index {
    /// Offsets of the first `seps` element separators.
    offsets: [u16; INDEXED],
    /// How many of `offsets` are filled.
    seps: u8,
    /// True when `offsets` holds every separator of the segment; false for a
    /// segment with more than [`INDEXED`] of them or one too long for `u16`
    /// offsets: the rest is then found by scanning.
    complete: bool,
}

impl Index {
    pub(crate) const EMPTY: Index = Index {
        offsets: [0; INDEXED],
        seps: 0,
        complete: false,
    };

    /// Records the separators flagged (0x80 per byte) in `mask`, a word
    /// starting at offset `base`. False once no more can be recorded.
    #[inline(always)]
    fn record(&mut self, mut mask: u64, base: usize) -> bool {
        while mask != 0 {
            let at = base + (mask.trailing_zeros() / 8) as usize;
            let n = usize::from(self.seps);
            match (self.offsets.get_mut(n), u16::try_from(at)) {
                (Some(slot), Ok(at)) => *slot = at,
                _ => return false,
            }
            self.seps += 1;
            mask &= mask.wrapping_sub(1);
        }
        true
    }

    /// The separators of a whole segment `raw`.
    fn of(raw: &[u8], sep: u8) -> Index {
        let mut ix = Index::EMPTY;
        let pattern = u64::from_le_bytes([sep; 8]);
        let mut chunks = raw.chunks_exact(8);
        let mut base = 0usize;
        for chunk in &mut chunks {
            if !ix.record(zero_bytes(word(chunk) ^ pattern), base) {
                return ix;
            }
            base += 8;
        }
        let rest = chunks.remainder().len();
        if rest > 0 {
            let mask = match raw.len().checked_sub(8).and_then(|i| raw.get(i..)) {
                // The last 8 bytes, less those already seen.
                Some(last) => zero_bytes(word(last) ^ pattern) >> ((8 - rest) * 8),
                None => {
                    let mut w = [!sep; 8];
                    for (d, s) in w.iter_mut().zip(raw) {
                        *d = *s;
                    }
                    zero_bytes(u64::from_le_bytes(w) ^ pattern)
                }
            };
            if !ix.record(mask, base) {
                return ix;
            }
        }
        ix.complete = true;
        ix
    }
}

/// Finds the segment terminator `term` in `p`, recording the element
/// separators `sep` before it in `ix`, eight bytes at a time. Returns the
/// terminator's offset, or `None` when `p` has none (`ix` is then unusable).
#[inline]
pub(crate) fn scan(p: &[u8], sep: u8, term: u8, ix: &mut Index) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let sep_pattern = u64::from_le_bytes([sep; 8]);
    let term_pattern = u64::from_le_bytes([term; 8]);
    // Separators seen; past INDEXED they are counted, not recorded.
    let mut n = 0usize;
    let mut base = 0usize;
    let mut chunks = p.chunks_exact(8);
    let end = 'found: {
        for chunk in &mut chunks {
            let w = word(chunk);
            let mut seps = zero_bytes(w ^ sep_pattern);
            // The cheap zero-byte test: its lowest flag is exact, which is
            // all that is needed of the terminator.
            let t = w ^ term_pattern;
            let terms = t.wrapping_sub(ONES) & !t & HIGH;
            let stop = terms != 0;
            if stop {
                seps &= (1u64 << terms.trailing_zeros()) - 1;
            }
            while seps != 0 {
                if let Some(slot) = ix.offsets.get_mut(n) {
                    *slot = (base + (seps.trailing_zeros() / 8) as usize) as u16;
                }
                n += 1;
                seps &= seps - 1;
            }
            if stop {
                break 'found base + (terms.trailing_zeros() / 8) as usize;
            }
            base += 8;
        }
        for (i, &b) in chunks.remainder().iter().enumerate() {
            if b == term {
                break 'found base + i;
            }
            if b == sep {
                if let Some(slot) = ix.offsets.get_mut(n) {
                    *slot = (base + i) as u16;
                }
                n += 1;
            }
        }
        return None;
    };
    if end > usize::from(u16::MAX) {
        // Offsets would not fit: leave it all to scanning.
        *ix = Index::EMPTY;
    } else {
        ix.seps = n.min(INDEXED) as u8;
        ix.complete = n <= INDEXED;
    }
    Some(end)
}

impl<'a> Segment<'a> {
    /// A segment over `raw` (without its terminator).
    pub fn new(raw: &'a [u8], delims: Delimiters, byte: u64, number: u64) -> Self {
        Segment {
            raw,
            delims,
            byte,
            number,
            index: Index::of(raw, delims.element),
        }
    }

    /// A segment whose separators [`scan`] has already found.
    #[inline]
    pub(crate) fn indexed(
        raw: &'a [u8],
        delims: Delimiters,
        byte: u64,
        number: u64,
        index: Index,
    ) -> Self {
        Segment {
            raw,
            delims,
            byte,
            number,
            index,
        }
    }

    /// The raw bytes, without terminator.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The delimiters in force for this segment.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// The segment id (`CLM`, `SV1`, ...).
    #[inline]
    pub fn id(&self) -> &'a [u8] {
        self.element(0)
    }

    /// Offset where element `n` starts, for `n <= self.index.seps`.
    #[inline]
    fn start(&self, n: usize) -> usize {
        match n.checked_sub(1) {
            None => 0,
            Some(i) => self.index.offsets.get(i).map_or(0, |&o| usize::from(o) + 1),
        }
    }

    /// Element `n` (1-based), or an empty slice when absent.
    #[inline]
    pub fn element(&self, n: usize) -> &'a [u8] {
        let k = usize::from(self.index.seps);
        if n < k {
            let to = self.index.offsets.get(n).map_or(0, |&o| usize::from(o));
            return self.raw.get(self.start(n)..to).unwrap_or_default();
        }
        if self.index.complete {
            return if n == k {
                self.raw.get(self.start(n)..).unwrap_or_default()
            } else {
                &[]
            };
        }
        self.element_slow(n)
    }

    /// Element `n` past the recorded offsets: scans on from the last one.
    #[cold]
    fn element_slow(&self, n: usize) -> &'a [u8] {
        let k = usize::from(self.index.seps);
        let mut from = self.start(k);
        let mut field = k;
        let rest = self.raw.get(from..).unwrap_or_default();
        let base = from;
        for i in memchr_iter(self.delims.element, rest) {
            if field == n {
                return self.raw.get(from..base + i).unwrap_or_default();
            }
            field += 1;
            from = base + i + 1;
        }
        if field == n {
            self.raw.get(from..).unwrap_or_default()
        } else {
            &[]
        }
    }

    /// Element `n` as UTF-8 text (lossless for ASCII; invalid bytes give "").
    pub fn text(&self, n: usize) -> &'a str {
        std::str::from_utf8(self.element(n)).unwrap_or("")
    }

    /// Number of elements after the id (trailing empty ones included).
    pub fn len(&self) -> usize {
        let k = usize::from(self.index.seps);
        if self.index.complete {
            k
        } else {
            let rest = self.raw.get(self.start(k)..).unwrap_or_default();
            k + memchr_iter(self.delims.element, rest).count()
        }
    }

    /// True for a segment with no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Component `c` (1-based) of element `n`.
    #[inline]
    pub fn component(&self, n: usize, c: usize) -> &'a [u8] {
        component(self.element(n), self.delims.component, c)
    }

    /// The components of element `n`.
    pub fn components(&self, n: usize) -> impl Iterator<Item = &'a [u8]> {
        let sep = self.delims.component;
        self.element(n).split(move |&b| b == sep)
    }
}

/// Component `c` (1-based) of a composite element.
pub fn component(element: &[u8], sep: u8, c: usize) -> &[u8] {
    element
        .split(|&b| b == sep)
        .nth(c.saturating_sub(1))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_and_components() {
        let s = Segment::new(
            b"SV1*HC:99213:25**100*UN*1***1",
            Delimiters::default(),
            0,
            1,
        );
        assert_eq!(s.id(), b"SV1");
        assert_eq!(s.element(1), b"HC:99213:25");
        assert_eq!(s.component(1, 2), b"99213");
        assert_eq!(s.component(1, 3), b"25");
        assert_eq!(s.component(1, 4), b"");
        assert_eq!(s.element(2), b"");
        assert_eq!(s.element(3), b"100");
        assert_eq!(s.element(8), b"1");
        assert_eq!(s.element(9), b"");
        assert_eq!(s.len(), 8);
    }

    /// The old split-on-demand element, as a reference.
    fn naive(raw: &[u8], sep: u8, n: usize) -> &[u8] {
        raw.split(|&b| b == sep).nth(n).unwrap_or_default()
    }

    #[test]
    fn indexed_elements_match_a_plain_split() {
        let d = Delimiters::default();
        let mut raws: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"*".to_vec(),
            b"**".to_vec(),
            b"ST".to_vec(),
            b"ST*".to_vec(),
            b"ST*837*0001*005010X222A1".to_vec(),
            b"ABCDEFG*".to_vec(),
            b"ABCDEFGH*I".to_vec(),
            b"ABCDEFG**I".to_vec(),
        ];
        for n in [30usize, 31, 32, 33, 34, 40, 100] {
            let mut r = b"CLM".to_vec();
            for i in 0..n {
                r.push(b'*');
                r.extend(std::iter::repeat(b'A' + (i % 26) as u8).take(i % 11));
            }
            raws.push(r);
        }
        // Longer than u16 offsets can address: falls back to scanning.
        let mut long = b"NTE*".to_vec();
        long.extend(std::iter::repeat(b'x').take(70_000));
        long.extend_from_slice(b"*END**");
        raws.push(long);
        for raw in &raws {
            let s = Segment::new(raw, d, 0, 1);
            let want = raw.iter().filter(|&&b| b == b'*').count();
            assert_eq!(s.len(), want, "{:?}", String::from_utf8_lossy(raw));
            for n in 0..want + 3 {
                assert_eq!(s.element(n), naive(raw, b'*', n), "element {n}");
            }
            assert_eq!(s.id(), naive(raw, b'*', 0));
            // The lexer's path: separators found with the terminator.
            for pad in 0..9 {
                let mut p = raw.clone();
                p.push(b'~');
                p.extend(std::iter::repeat(b'*').take(pad));
                let mut ix = Index::EMPTY;
                assert_eq!(scan(&p, b'*', b'~', &mut ix), Some(raw.len()));
                let s = Segment::indexed(raw, d, 0, 1, ix);
                assert_eq!(s.len(), want);
                for n in 0..want + 3 {
                    assert_eq!(s.element(n), naive(raw, b'*', n), "scanned element {n}");
                }
                let mut ix = Index::EMPTY;
                assert_eq!(scan(&p[..raw.len()], b'*', b'~', &mut ix), None);
            }
        }
    }
}
