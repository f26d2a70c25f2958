//! Reason sentences (SPEC §3): written straight into one string per line,
//! without intermediate strings (reasons are built for every line, and
//! growing them piecemeal showed up in profiles).

use rust_decimal::{Decimal, RoundingStrategy};

use crate::authorizations::{Authorization, Terms};
use crate::model::{DateRange, ServiceLine, Ymd};

use super::checks::Failure;

/// `format!` into a string sized for a typical reason at once: reasons are
/// written for every line, and growing them piecemeal showed up in profiles.
macro_rules! reason {
    ($($arg:tt)*) => {{
        let mut s = String::with_capacity(320);
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!($($arg)*));
        s
    }};
}

pub(super) fn round_cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

pub(super) fn plural(units: Decimal) -> &'static str {
    if units == Decimal::ONE {
        "unit"
    } else {
        "units"
    }
}

/// Units as a person writes them ("2", "1.5"), straight into the reason.
pub(super) fn u(d: Decimal) -> Decimal {
    d.normalize()
}

/// "Line 2 (70551, 2026-03-04)", written straight into the reason (no
/// intermediate string: reasons are built for every line).
pub(super) struct Label<'a>(&'a ServiceLine, Option<&'a DateRange>);

impl Label<'_> {
    /// Writes the label. Generic over the writer so that written into a
    /// `String` it is plain pushes, without the formatting machinery: the
    /// sentence of a line that needs no PA (most lines) is this label and
    /// a constant, and `format_args!` was a quarter of the core's time.
    pub(super) fn write_to<W: std::fmt::Write>(&self, f: &mut W) -> std::fmt::Result {
        let Label(line, dates) = self;
        f.write_str("Line ")?;
        f.write_str(itoa::Buffer::new().format(line.number))?;
        f.write_str(" (")?;
        match (&line.procedure, &line.revenue_code) {
            (Some(p), _) => f.write_str(&p.code)?,
            (None, Some(r)) => {
                f.write_str("revenue code ")?;
                f.write_str(r)?;
            }
            (None, None) => f.write_str("no code")?,
        }
        let Some(d) = dates else {
            return f.write_str(", no service date)");
        };
        f.write_str(", ")?;
        Ymd(d.start).write_to(f)?;
        if d.start != d.end {
            f.write_str("..")?;
            Ymd(d.end).write_to(f)?;
        }
        f.write_str(")")
    }
}

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_to(f)
    }
}

pub(super) fn line_label<'a>(line: &'a ServiceLine, dates: Option<&'a DateRange>) -> Label<'a> {
    Label(line, dates)
}

/// Why a number failed, in words, written straight into the reason (no
/// intermediate strings: most PA lines of a bad file are denied).
pub(super) struct Why<'a> {
    pub(super) failure: Failure,
    pub(super) num: &'a str,
    pub(super) terms: Option<&'a Terms>,
    pub(super) record: Option<&'a Authorization>,
    pub(super) line: &'a ServiceLine,
    pub(super) dates: Option<DateRange>,
}

/// "2026-01-10..2026-04-10": the days an authorization covers.
pub(super) struct Span<'a>(Option<&'a Terms>);

impl std::fmt::Display for Span<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{}..{}", Ymd(a.start_date), Ymd(a.end_date)),
            None => Ok(()),
        }
    }
}

impl std::fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Why {
            failure,
            num,
            terms: a,
            record,
            line,
            dates,
        } = self;
        let span = Span(*a);
        let days = |d: Option<&DateRange>| {
            if d.is_some_and(|d| d.start != d.end) {
                "s"
            } else {
                ""
            }
        };
        let date = |d: Option<chrono::NaiveDate>| OrEmpty(d.map(Ymd));
        match failure {
            Failure::NoNumber => f.write_str("the claim carries no authorization number (REF*G1) for it"),
            Failure::NotOnFile => write!(f, "authorization {num} is not on file"),
            Failure::Member => write!(f, "authorization {num} was issued for a different member than this claim's subscriber"),
            Failure::Provider => write!(
                f,
                "authorization {num} was issued to provider NPI {}, which is neither the billing nor a rendering provider on this claim",
                record.map(|a| a.provider_npi.as_str()).unwrap_or_default()
            ),
            Failure::StatusDenied => write!(f, "authorization {num} was denied when it was requested"),
            Failure::Pending => write!(f, "authorization {num} is pending"),
            Failure::Cancelled => write!(f, "authorization {num} was cancelled"),
            Failure::AfterEnd => write!(
                f,
                "authorization {num} covers {span}, which does not include the service date{} (it ended {})",
                days(dates.as_ref()),
                date(a.map(|a| a.end_date))
            ),
            Failure::BeforeStart => match dates {
                Some(d) => write!(
                    f,
                    "authorization {num} covers {span}, which does not include the service date{} (it starts {})",
                    days(Some(d)),
                    date(a.map(|a| a.start_date))
                ),
                None => write!(f, "the line has no service date, so authorization {num} cannot be matched to it"),
            },
            Failure::Codes => write!(
                f,
                "authorization {num} covers {}, not {}",
                record.map(|a| a.codes_text()).unwrap_or_default(),
                line.procedure
                    .as_ref()
                    .map(|p| p.code.as_str())
                    .or(line.revenue_code.as_deref())
                    .unwrap_or_default()
            ),
            Failure::NoUnits => write!(
                f,
                "authorization {num} has no {} left ({} of {} used)",
                a.map_or("units", |a| a.unit_type.nouns().1),
                u(a.map(|a| a.units_used).unwrap_or_default()),
                u(a.and_then(|a| a.units).unwrap_or_default())
            ),
            Failure::TooFewUnits(_) => Ok(()),
        }
    }
}

/// A value, or nothing when there is none.
pub(super) struct OrEmpty<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrEmpty<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => Ok(()),
        }
    }
}
