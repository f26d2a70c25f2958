//! Code lists as rules and authorizations write them: exact codes and
//! inclusive ranges (`"70540-70553"`).

use std::fmt;

/// One entry of a code list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CodeSpec {
    /// Exactly this code.
    Exact(String),
    /// Codes of the same length as both ends, from `.0` to `.1` inclusive,
    /// compared as strings.
    Range(String, String),
}

/// Why a code or range is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeSpecError {
    /// Empty entry.
    #[error("empty code")]
    Empty,
    /// Range ends differ in length.
    #[error("range \"{0}\" has ends of different length")]
    UnequalRange(String),
    /// Range runs backwards.
    #[error("range \"{0}\" starts after it ends")]
    Backwards(String),
    /// Characters other than letters and digits.
    #[error("code \"{0}\" may hold only letters and digits")]
    BadCharacter(String),
}

impl CodeSpec {
    /// Parses `"70551"` or `"70540-70553"`.
    ///
    /// ```
    /// use priorauth::model::CodeSpec;
    /// assert!(CodeSpec::parse("70540-70553").unwrap().matches("70551"));
    /// assert!(!CodeSpec::parse("70540-70553").unwrap().matches("7055"));
    /// assert!(CodeSpec::parse("70540-7055").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<CodeSpec, CodeSpecError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(CodeSpecError::Empty);
        }
        let check = |c: &str| {
            if c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Err(CodeSpecError::BadCharacter(c.to_string()))
            } else {
                Ok(())
            }
        };
        match s.split_once('-') {
            None => {
                check(s)?;
                Ok(CodeSpec::Exact(s.to_string()))
            }
            Some((a, b)) => {
                let (a, b) = (a.trim(), b.trim());
                check(a)?;
                check(b)?;
                if a.len() != b.len() {
                    return Err(CodeSpecError::UnequalRange(s.to_string()));
                }
                if a > b {
                    return Err(CodeSpecError::Backwards(s.to_string()));
                }
                Ok(CodeSpec::Range(a.to_string(), b.to_string()))
            }
        }
    }

    /// True when `code` is this code or inside this range.
    pub fn matches(&self, code: &str) -> bool {
        match self {
            CodeSpec::Exact(c) => c == code,
            CodeSpec::Range(a, b) => {
                code.len() == a.len() && a.as_str() <= code && code <= b.as_str()
            }
        }
    }
}

impl fmt::Display for CodeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeSpec::Exact(c) => f.write_str(c),
            CodeSpec::Range(a, b) => write!(f, "{a}-{b}"),
        }
    }
}

/// A code of up to 8 bytes packed big-endian into a u64: equal codes give
/// equal keys, and codes of one length compare like the strings (what
/// [`CodeSpec::matches`] does), so indexes compare integers instead of
/// following pointers to strings. None for longer codes or a NUL byte.
pub fn code_key(code: &str) -> Option<u64> {
    let b = code.as_bytes();
    if b.is_empty() || b.len() > 8 || b.contains(&0) {
        return None;
    }
    let mut k = [0u8; 8];
    k.get_mut(..b.len())?.copy_from_slice(b);
    Some(u64::from_be_bytes(k))
}

/// True when any entry matches (an empty list matches nothing).
pub fn any_matches(list: &[CodeSpec], code: &str) -> bool {
    list.iter().any(|c| c.matches(code))
}
