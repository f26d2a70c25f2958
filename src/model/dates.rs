//! Service dates: a single day (D8) or an inclusive range (RD8).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// An inclusive range of days. A single date is a range of one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DateRange {
    /// First day.
    #[serde(deserialize_with = "ymd::date")]
    pub start: NaiveDate,
    /// Last day (equal to `start` for a D8 date).
    #[serde(deserialize_with = "ymd::date")]
    pub end: NaiveDate,
}

impl DateRange {
    /// A one-day range.
    pub fn day(d: NaiveDate) -> Self {
        DateRange { start: d, end: d }
    }

    /// Parses an X12 date by its DTP02 format qualifier: `D8` (CCYYMMDD) or
    /// `RD8` (CCYYMMDD-CCYYMMDD, start not after end).
    pub fn parse(format: &[u8], value: &[u8]) -> Option<DateRange> {
        match format {
            b"D8" => parse_ccyymmdd(value).map(DateRange::day),
            b"RD8" => {
                let (a, b) = (value.get(..8)?, value.get(9..)?);
                if value.get(8) != Some(&b'-') {
                    return None;
                }
                let (start, end) = (parse_ccyymmdd(a)?, parse_ccyymmdd(b)?);
                (start <= end).then_some(DateRange { start, end })
            }
            _ => None,
        }
    }
}

/// Parses `CCYYMMDD`. Hand-written because it runs for every service line and
/// a format-string parser is several times slower.
pub fn parse_ccyymmdd(s: &[u8]) -> Option<NaiveDate> {
    if s.len() != 8 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| {
        s.get(r).map(|d| {
            d.iter()
                .fold(0u32, |acc, &b| acc * 10 + u32::from(b - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(i32::try_from(n(0..4)?).ok()?, n(4..6)?, n(6..8)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d8_and_rd8() {
        let d = DateRange::parse(b"D8", b"20260304").unwrap();
        assert_eq!(d.start, NaiveDate::from_ymd_opt(2026, 3, 4).unwrap());
        assert_eq!(d.start, d.end);
        let r = DateRange::parse(b"RD8", b"20260301-20260310").unwrap();
        assert_eq!(r.end, NaiveDate::from_ymd_opt(2026, 3, 10).unwrap());
        assert!(DateRange::parse(b"RD8", b"20260310-20260301").is_none());
        assert!(DateRange::parse(b"D8", b"20260230").is_none());
        assert!(DateRange::parse(b"D8", b"2026030").is_none());
        assert!(DateRange::parse(b"DT", b"20260304").is_none());
    }
}

/// Dates read back as `YYYY-MM-DD` text (how serde writes chrono's
/// dates): each stored claim a replay reads has several, and chrono's
/// general parser was 4% of a replay (docs/PERFORMANCE.md). Any other
/// text goes to chrono, so what reads is what chrono reads.
pub mod ymd {
    use chrono::NaiveDate;
    use serde::{de, Deserializer};

    /// `YYYY-MM-DD`, the digits read directly.
    fn quick(s: &str) -> Option<NaiveDate> {
        let b = s.as_bytes();
        if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
            return None;
        }
        let n = |r: std::ops::Range<usize>| {
            let d = b.get(r)?;
            d.iter().all(u8::is_ascii_digit).then(|| {
                d.iter()
                    .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
            })
        };
        NaiveDate::from_ymd_opt(i32::try_from(n(0..4)?).ok()?, n(5..7)?, n(8..10)?)
    }

    /// A date from text.
    pub fn parse(s: &str) -> Result<NaiveDate, chrono::ParseError> {
        match quick(s) {
            Some(d) => Ok(d),
            None => s.parse(),
        }
    }

    struct Visitor;

    impl de::Visitor<'_> for Visitor {
        type Value = NaiveDate;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a date as YYYY-MM-DD")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<NaiveDate, E> {
            parse(s).map_err(E::custom)
        }
    }

    /// `#[serde(deserialize_with)]` for a date.
    pub fn date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        d.deserialize_str(Visitor)
    }

    struct Maybe;

    impl<'de> de::Visitor<'de> for Maybe {
        type Value = Option<NaiveDate>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a date as YYYY-MM-DD, or none")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            date(d).map(Some)
        }
    }

    /// `#[serde(deserialize_with)]` for an optional date.
    pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        d.deserialize_option(Maybe)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reads_what_chrono_reads() {
            for s in [
                "2026-03-04",
                "0001-01-01",
                "9999-12-31",
                "2024-02-29",
                "2025-02-29",
                "2026-13-01",
                "2026-3-04",
                "+12026-03-04",
                "2026-03-04x",
                "20260304",
                "2026-03-0a",
                "",
                "-0005-06-07",
            ] {
                assert_eq!(parse(s).ok(), s.parse::<NaiveDate>().ok(), "{s}");
            }
        }
    }
}

/// A date as `YYYY-MM-DD`, written in one piece: reasons cite dates on
/// every line, and chrono's general formatter showed in profiles.
/// Years outside 0..=9999 fall back to chrono's own format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ymd(pub NaiveDate);

impl Ymd {
    /// The ten bytes of `YYYY-MM-DD`; None for years outside 0..=9999.
    pub fn bytes(self) -> Option<[u8; 10]> {
        use chrono::Datelike;
        let d = self.0;
        let year = u32::try_from(d.year()).ok().filter(|&y| y <= 9999)?;
        let digit = |n: u32| b'0' + (n % 10) as u8;
        let (m, day) = (d.month(), d.day());
        Some([
            digit(year / 1000),
            digit(year / 100),
            digit(year / 10),
            digit(year),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(day / 10),
            digit(day),
        ])
    }
}

impl Ymd {
    /// Writes the date; into a `String` without the formatting machinery.
    pub fn write_to<W: std::fmt::Write>(self, f: &mut W) -> std::fmt::Result {
        match self.bytes() {
            Some(text) => f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::fmt::Display for Ymd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_to(f)
    }
}

#[cfg(test)]
mod ymd_tests {
    use super::*;

    #[test]
    fn ymd_writes_what_chrono_writes() {
        for (y, m, d) in [
            (2026, 3, 4),
            (1, 1, 1),
            (999, 12, 31),
            (9999, 12, 31),
            (10000, 1, 1),
            (-5, 6, 7),
        ] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(Ymd(date).to_string(), date.to_string());
        }
    }
}
