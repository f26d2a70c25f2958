//! One segment, borrowed from the reader's buffer.

use memchr::memchr_iter;

use super::delimiters::Delimiters;

/// A segment: its id and elements, split on demand without copying.
///
/// Element numbers follow X12 usage: `element(1)` is the first element after
/// the segment id (`CLM01`), `element(0)` is the id itself.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    raw: &'a [u8],
    delims: Delimiters,
    /// Byte offset of the segment in the input.
    pub byte: u64,
    /// 1-based number of the segment in the input.
    pub number: u64,
}

impl<'a> Segment<'a> {
    /// A segment over `raw` (without its terminator).
    pub fn new(raw: &'a [u8], delims: Delimiters, byte: u64, number: u64) -> Self {
        Segment {
            raw,
            delims,
            byte,
            number,
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
    pub fn id(&self) -> &'a [u8] {
        match memchr::memchr(self.delims.element, self.raw) {
            Some(i) => self.raw.get(..i).unwrap_or_default(),
            None => self.raw,
        }
    }

    /// Element `n` (1-based), or an empty slice when absent.
    pub fn element(&self, n: usize) -> &'a [u8] {
        let mut from = 0usize;
        let mut field = 0usize;
        for i in memchr_iter(self.delims.element, self.raw) {
            if field == n {
                return self.raw.get(from..i).unwrap_or_default();
            }
            field += 1;
            from = i + 1;
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
        memchr_iter(self.delims.element, self.raw).count()
    }

    /// True for a segment with no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Component `c` (1-based) of element `n`.
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
}
