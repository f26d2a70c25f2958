//! Delimiters of one interchange, read from its ISA header.

/// The four separators an ISA header declares for the rest of its interchange.
///
/// X12 does not fix them: the element separator is the byte right after `ISA`,
/// the repetition separator is ISA11 (in 5010; in 4010 ISA11 is a code such as
/// `U` and there is none), the component separator is ISA16 and the segment
/// terminator is the byte that follows ISA16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    /// Separates elements (`*` in most files).
    pub element: u8,
    /// Separates the components of a composite element (`:` usually).
    pub component: u8,
    /// Separates repetitions of an element (`^` usually), if declared.
    pub repetition: Option<u8>,
    /// Ends a segment (`~` usually).
    pub segment: u8,
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters {
            element: b'*',
            component: b':',
            repetition: Some(b'^'),
            segment: b'~',
        }
    }
}

/// Why an ISA header could not give delimiters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsaProblem {
    /// The bytes do not start with `ISA`.
    NotIsa,
    /// The header ends before ISA16 and its terminator.
    Short,
    /// Element separators are not where the fixed-width ISA puts them.
    NotFixedWidth,
    /// Two delimiters are the same byte, or one is alphanumeric.
    Clash,
}

impl Delimiters {
    /// Reads the delimiters from the start of an ISA segment.
    ///
    /// Returns the delimiters and the length of the ISA segment including its
    /// terminator (always 106).
    ///
    /// ```
    /// use priorauth::x12::Delimiters;
    /// let isa = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*^*00501*000000001*0*P*:~";
    /// let (d, len) = Delimiters::from_isa(isa).unwrap();
    /// assert_eq!((d.element, d.component, d.segment), (b'*', b':', b'~'));
    /// assert_eq!(d.repetition, Some(b'^'));
    /// assert_eq!(len, 106);
    /// ```
    pub fn from_isa(bytes: &[u8]) -> Result<(Delimiters, usize), IsaProblem> {
        if bytes.get(..3) != Some(b"ISA") {
            return Err(IsaProblem::NotIsa);
        }
        let element = *bytes.get(3).ok_or(IsaProblem::Short)?;
        if element.is_ascii_alphanumeric() || element == b' ' {
            return Err(IsaProblem::Clash);
        }
        // The ISA is fixed width (106 bytes): every element has its exact
        // length, which is how a reader finds ISA16 and the terminator at
        // all. A header that is not fixed width is refused, as pyx12 and
        // translators refuse it; guessing could misread the delimiters.
        if bytes.len() < 106 {
            return Err(IsaProblem::Short);
        }
        let fixed = [
            6usize, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103,
        ]
        .iter()
        .all(|&i| bytes.get(i) == Some(&element));
        if !fixed {
            return Err(IsaProblem::NotFixedWidth);
        }
        let (isa11, isa16_at) = (bytes.get(82).copied(), 104usize);
        let component = *bytes.get(isa16_at).ok_or(IsaProblem::Short)?;
        let segment = *bytes.get(isa16_at + 1).ok_or(IsaProblem::Short)?;
        // A repetition separator equal to another delimiter is not one
        // (some samples put ^ in both ISA11 and ISA16); ignore it.
        let repetition = isa11.filter(|b| {
            !b.is_ascii_alphanumeric()
                && *b != b' '
                && *b != element
                && *b != component
                && *b != segment
        });
        let d = Delimiters {
            element,
            component,
            repetition,
            segment,
        };
        if component == element
            || segment == element
            || segment == component
            || component.is_ascii_alphanumeric()
            || segment.is_ascii_alphanumeric()
        {
            return Err(IsaProblem::Clash);
        }
        Ok((d, isa16_at + 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_delimiters_are_read() {
        let isa = b"ISA|00|          |00|          |ZZ|SENDER         |ZZ|RECEIVER       |260101|1200|}|00501|000000001|0|P|^\n";
        let (d, len) = Delimiters::from_isa(isa).unwrap();
        assert_eq!(d.element, b'|');
        assert_eq!(d.component, b'^');
        assert_eq!(d.repetition, Some(b'}'));
        assert_eq!(d.segment, b'\n');
        assert_eq!(len, 106);
    }

    #[test]
    fn short_and_clashing_headers_are_refused() {
        assert_eq!(Delimiters::from_isa(b"ISA*00*"), Err(IsaProblem::Short));
        let unpadded = b"ISA*00* *00* *ZZ*133052274 *ZZ*752280001 *160527*2139*^*00501*000004444*0*P*:~GS*HC*133052274*752280001*20160527*213905*4444*X*005010X222A1~";
        assert_eq!(
            Delimiters::from_isa(unpadded),
            Err(IsaProblem::NotFixedWidth)
        );
        assert_eq!(Delimiters::from_isa(b"GS*HC"), Err(IsaProblem::NotIsa));
        let isa = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*U*00401*000000001*0*P***";
        assert_eq!(Delimiters::from_isa(isa), Err(IsaProblem::Clash));
    }

    #[test]
    fn isa11_code_means_no_repetition_separator() {
        let isa = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*U*00401*000000001*0*P*:~";
        let (d, _) = Delimiters::from_isa(isa).unwrap();
        assert_eq!(d.repetition, None);
    }
}
