//! Element conversions the builder uses: decimals, text, code lists.

use std::str::FromStr;

use rust_decimal::Decimal;

pub(super) fn decimal(bytes: &[u8]) -> Option<Decimal> {
    if let Some(d) = plain_decimal(bytes) {
        return Some(d);
    }
    let s = std::str::from_utf8(bytes).ok()?;
    // X12 "R" values: digits, optional sign and point; no exponents, no spaces.
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return None;
    }
    Decimal::from_str(s).ok()
}

/// The common shape of an amount, `123` or `123.45` (1-18 digits, no sign),
/// built without the general parser: the same value and scale as
/// `Decimal::from_str` gives. Anything else is `None` (and left to it).
pub(super) fn plain_decimal(bytes: &[u8]) -> Option<Decimal> {
    if bytes.len() > 18 || !bytes.first()?.is_ascii_digit() {
        return None;
    }
    let mut mantissa: i64 = 0;
    let mut point: Option<usize> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => mantissa = mantissa * 10 + i64::from(b - b'0'),
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    let scale = match point {
        None => 0,
        // "5." is left to the general parser.
        Some(i) if i + 1 == bytes.len() => return None,
        Some(i) => bytes.len() - i - 1,
    };
    Decimal::try_new(mantissa, scale as u32).ok()
}

pub(super) fn text(bytes: &[u8]) -> String {
    // Nearly always ASCII: a plain validation and copy; lossy only on error.
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

pub(super) fn opt_text(bytes: &[u8]) -> Option<String> {
    (!bytes.is_empty()).then(|| text(bytes))
}

/// Qualifiers and unit codes that nearly every line repeats, without an
/// allocation each; anything else is copied.
pub(super) fn common_code(b: &[u8]) -> std::borrow::Cow<'static, str> {
    use std::borrow::Cow;
    match b {
        b"HC" => Cow::Borrowed("HC"),
        b"AD" => Cow::Borrowed("AD"),
        b"UN" => Cow::Borrowed("UN"),
        b"MJ" => Cow::Borrowed("MJ"),
        b"DA" => Cow::Borrowed("DA"),
        other => Cow::Owned(text(other)),
    }
}

/// A segment id: 2 or 3 upper-case letters or digits, starting with a letter.
pub fn valid_segment_id(id: &[u8]) -> bool {
    (2..=3).contains(&id.len())
        && id.first().is_some_and(u8::is_ascii_uppercase)
        && id
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimals_match_the_general_parser() {
        for s in [
            "0",
            "7",
            "007",
            "100",
            "100.5",
            "100.50",
            "0.01",
            "12345678901234567",
            "123456789012345678",
            "1234567890123456789",
            "5.",
            ".5",
            "-5",
            "-0",
            "1.2.3",
            "1e3",
            "",
            "+1",
            "99.999999999",
        ] {
            // The general path alone (what `decimal` did before the fast one).
            let want = if s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            {
                None
            } else {
                Decimal::from_str(s).ok()
            };
            let got = decimal(s.as_bytes());
            assert_eq!(got, want, "{s:?}");
            assert_eq!(
                got.map(|d| d.to_string()),
                want.map(|d| d.to_string()),
                "{s:?}"
            );
        }
    }
}
