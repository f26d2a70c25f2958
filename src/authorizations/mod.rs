//! Authorization records (what utilization management approved): the CSV
//! import of SPEC §2.3 and the in-memory book adjudication consumes units from.

mod book;
mod x278;

pub use book::{AuthBook, AuthId, MemberAuths, MemberKey, Terms};
pub use x278::{is_x12, read_x278, x278_answer, NotImported, RejectedSet, X278Outcome};

use rustc_hash::FxHashMap as HashMap;

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::model::CodeSpec;

/// UM status of an authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthStatus {
    /// Approved: the service may be paid within its limits.
    Approved,
    /// Denied at the time it was requested.
    Denied,
    /// Still under review.
    Pending,
    /// Cancelled after approval.
    Cancelled,
}

impl FromStr for AuthStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        // The words as files write them, without an allocation (a 1M-row
        // import parses a million of them).
        match s {
            "approved" => return Ok(AuthStatus::Approved),
            "denied" => return Ok(AuthStatus::Denied),
            "pending" => return Ok(AuthStatus::Pending),
            "cancelled" => return Ok(AuthStatus::Cancelled),
            _ => {}
        }
        match s.trim().to_ascii_lowercase().as_str() {
            "approved" => Ok(AuthStatus::Approved),
            "denied" => Ok(AuthStatus::Denied),
            "pending" => Ok(AuthStatus::Pending),
            "cancelled" | "canceled" => Ok(AuthStatus::Cancelled),
            _ => Err(()),
        }
    }
}

impl AuthStatus {
    /// The word used in files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthStatus::Approved => "approved",
            AuthStatus::Denied => "denied",
            AuthStatus::Pending => "pending",
            AuthStatus::Cancelled => "cancelled",
        }
    }
}

/// What an authorization's units count (SPEC §2.3 `unit_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitType {
    /// Units of service as billed (the default).
    #[default]
    Units,
    /// Visits: each line is one visit whatever its units.
    Visits,
    /// Inpatient days (SPEC §3.2).
    Days,
}

impl FromStr for UnitType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "" | "units" => return Ok(UnitType::Units),
            "visits" => return Ok(UnitType::Visits),
            "days" => return Ok(UnitType::Days),
            _ => {}
        }
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "units" => Ok(UnitType::Units),
            "visits" => Ok(UnitType::Visits),
            "days" => Ok(UnitType::Days),
            _ => Err(()),
        }
    }
}

impl UnitType {
    /// The word used in files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitType::Units => "units",
            UnitType::Visits => "visits",
            UnitType::Days => "days",
        }
    }

    /// The word for one of them, and for several (reasons).
    pub fn nouns(self) -> (&'static str, &'static str) {
        match self {
            UnitType::Units => ("unit", "units"),
            UnitType::Visits => ("visit", "visits"),
            UnitType::Days => ("day", "days"),
        }
    }
}

/// Units still available of `units` approved with `used` consumed (None:
/// unlimited; never below zero).
pub fn units_remaining(units: Option<Decimal>, used: Decimal) -> Option<Decimal> {
    units.map(|u| (u - used).max(Decimal::ZERO))
}

/// One authorization record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The approval reference number providers put in REF*G1.
    pub number: String,
    /// Member the authorization was issued for.
    pub member_id: String,
    /// Provider it was issued to.
    pub provider_npi: String,
    /// Codes it covers (empty: any code).
    pub codes: Vec<CodeSpec>,
    /// Approved units (None: unlimited).
    pub units: Option<Decimal>,
    /// Units already consumed.
    pub units_used: Decimal,
    /// First day covered.
    pub start_date: NaiveDate,
    /// Last day covered.
    pub end_date: NaiveDate,
    /// UM status.
    pub status: AuthStatus,
    /// Birth date of the dependent it is for (None: the subscriber). PHI.
    pub patient_birth_date: Option<NaiveDate>,
    /// What `units` count.
    pub unit_type: UnitType,
}

impl Authorization {
    /// Units still available (None: unlimited).
    pub fn remaining(&self) -> Option<Decimal> {
        units_remaining(self.units, self.units_used)
    }

    /// The codes as written in files (`70551|70553`).
    pub fn codes_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for (i, c) in self.codes.iter().enumerate() {
            if i > 0 {
                s.push('|');
            }
            let _ = write!(s, "{c}");
        }
        s
    }
}

/// A date as files and the store write it (`YYYY-MM-DD`, what `Display`
/// writes), without the formatting machinery for years 0 to 9999 (an
/// import writes two or three a row).
pub fn date_text(d: NaiveDate) -> String {
    use chrono::Datelike;
    match u32::try_from(d.year()) {
        Ok(y) if y <= 9999 => {
            let mut s = String::with_capacity(10);
            for (n, width) in [(y, 4), (d.month(), 2), (d.day(), 2)] {
                if width == 2 {
                    s.push('-');
                }
                for p in (0..width).rev() {
                    let digit = (n / 10u32.pow(p)) % 10;
                    s.push(char::from(b'0' + digit as u8));
                }
            }
            s
        }
        _ => d.to_string(),
    }
}

/// An authorization as text, field by field: a CSV row, a JSON body of the
/// API, a stored row. [`AuthorizationRecord::validate`] is the one place
/// that says what a valid authorization is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationRecord {
    /// Approval reference number.
    pub number: String,
    /// Member id.
    pub member_id: String,
    /// Provider NPI (10 digits).
    pub provider_npi: String,
    /// `|`-separated codes or ranges; empty: any code.
    #[serde(default)]
    pub codes: String,
    /// Approved units; absent: unlimited.
    #[serde(default)]
    pub units: Option<String>,
    /// Units already consumed; absent: 0.
    #[serde(default)]
    pub units_used: Option<String>,
    /// First day (YYYY-MM-DD).
    pub start_date: String,
    /// Last day (YYYY-MM-DD).
    pub end_date: String,
    /// approved, denied, pending or cancelled.
    pub status: String,
    /// Birth date (YYYY-MM-DD) of the dependent the authorization is for;
    /// absent or empty: the subscriber themself.
    #[serde(default)]
    pub patient_birth_date: Option<String>,
    /// units (default), visits or days.
    #[serde(default)]
    pub unit_type: Option<String>,
}

/// One field of an authorization that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// The field.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl AuthorizationRecord {
    /// The record as an authorization, or every field that is wrong.
    pub fn validate(&self) -> Result<Authorization, Vec<FieldProblem>> {
        Fields {
            number: &self.number,
            member_id: &self.member_id,
            provider_npi: &self.provider_npi,
            codes: &self.codes,
            units: self.units.as_deref(),
            units_used: self.units_used.as_deref(),
            start_date: &self.start_date,
            end_date: &self.end_date,
            status: &self.status,
            patient_birth_date: self.patient_birth_date.as_deref(),
            unit_type: self.unit_type.as_deref(),
        }
        .validate()
    }
}

/// An [`AuthorizationRecord`] borrowed: a CSV row is checked from its
/// cells without copying them first.
struct Fields<'a> {
    number: &'a str,
    member_id: &'a str,
    provider_npi: &'a str,
    codes: &'a str,
    units: Option<&'a str>,
    units_used: Option<&'a str>,
    start_date: &'a str,
    end_date: &'a str,
    status: &'a str,
    patient_birth_date: Option<&'a str>,
    unit_type: Option<&'a str>,
}

/// A `YYYY-MM-DD` date. Ten digits and dashes are read directly (what
/// files hold; chrono's format parser costs more than the rest of a CSV
/// row); anything else is left to chrono.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let number = |at: std::ops::Range<usize>| -> Option<u32> {
        b.get(at)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() == 10 && b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-') {
        if let (Some(y), Some(m), Some(d)) = (number(0..4), number(5..7), number(8..10)) {
            return i32::try_from(y)
                .ok()
                .and_then(|y| NaiveDate::from_ymd_opt(y, m, d));
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

impl Fields<'_> {
    /// The one place that says what a valid authorization is.
    fn validate(&self) -> Result<Authorization, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let mut bad = |field: &'static str, message: String| {
            problems.push(FieldProblem { field, message });
        };
        if self.number.trim().is_empty() {
            bad("number", "is required".into());
        }
        if self.member_id.trim().is_empty() {
            bad("member_id", "is required".into());
        }
        let npi = self.provider_npi;
        if npi.len() != 10 || !npi.bytes().all(|b| b.is_ascii_digit()) {
            bad("provider_npi", "must be a 10-digit NPI".into());
        }
        let mut codes = Vec::new();
        for c in self.codes.split('|').filter(|c| !c.trim().is_empty()) {
            match CodeSpec::parse(c.trim()) {
                Ok(c) => codes.push(c),
                Err(e) => bad("codes", e.to_string()),
            }
        }
        let units = match self.units.map(str::trim) {
            None | Some("") => None,
            Some(u) => match Decimal::from_str(u) {
                Ok(d) if d >= Decimal::ZERO => Some(d),
                _ => {
                    bad(
                        "units",
                        format!("\"{u}\" is not a non-negative decimal (empty means unlimited)"),
                    );
                    None
                }
            },
        };
        let units_used = match self.units_used.map(str::trim) {
            None | Some("") => Decimal::ZERO,
            Some(u) => match Decimal::from_str(u) {
                Ok(d) if d >= Decimal::ZERO => d,
                _ => {
                    bad(
                        "units_used",
                        format!("\"{u}\" is not a non-negative decimal"),
                    );
                    Decimal::ZERO
                }
            },
        };
        let mut date = |field: &'static str, text: &str| match parse_date(text.trim()) {
            Some(d) => Some(d),
            None => {
                bad(field, format!("\"{text}\" is not a date (YYYY-MM-DD)"));
                None
            }
        };
        let start_date = date("start_date", self.start_date);
        let end_date = date("end_date", self.end_date);
        // PHI: a bad birth date is not echoed back.
        let patient_birth_date = match self.patient_birth_date.map(str::trim) {
            None | Some("") => None,
            Some(b) => match parse_date(b) {
                Some(d) => Some(d),
                None => {
                    bad(
                        "patient_birth_date",
                        "is not a date (YYYY-MM-DD)".to_string(),
                    );
                    None
                }
            },
        };
        let unit_type = match self.unit_type.map(str::trim) {
            None => UnitType::Units,
            Some(t) => t.parse::<UnitType>().unwrap_or_else(|()| {
                bad(
                    "unit_type",
                    format!("\"{t}\" is not one of units, visits, days"),
                );
                UnitType::Units
            }),
        };
        let status = match self.status.trim().parse::<AuthStatus>() {
            Ok(s) => Some(s),
            Err(()) => {
                bad(
                    "status",
                    format!(
                        "\"{}\" is not one of approved, denied, pending, cancelled",
                        self.status
                    ),
                );
                None
            }
        };
        if let (Some(s), Some(e)) = (start_date, end_date) {
            if e < s {
                bad("end_date", format!("{e} is before start_date {s}"));
            }
        }
        match (start_date, end_date, status) {
            (Some(start_date), Some(end_date), Some(status)) if problems.is_empty() => {
                Ok(Authorization {
                    number: self.number.trim().to_string(),
                    member_id: self.member_id.trim().to_string(),
                    provider_npi: npi.to_string(),
                    codes,
                    units,
                    units_used,
                    start_date,
                    end_date,
                    status,
                    patient_birth_date,
                    unit_type,
                })
            }
            _ => Err(problems),
        }
    }
}

impl From<&Authorization> for AuthorizationRecord {
    fn from(a: &Authorization) -> Self {
        AuthorizationRecord {
            number: a.number.clone(),
            member_id: a.member_id.clone(),
            provider_npi: a.provider_npi.clone(),
            codes: a.codes_text(),
            units: a.units.map(|u| u.normalize().to_string()),
            units_used: Some(a.units_used.normalize().to_string()),
            start_date: a.start_date.to_string(),
            end_date: a.end_date.to_string(),
            status: a.status.as_str().to_string(),
            patient_birth_date: a.patient_birth_date.map(|d| d.to_string()),
            unit_type: Some(a.unit_type.as_str().to_string()),
        }
    }
}

/// A bad CSV row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsvProblem {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// Column at fault, when one is.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// A CSV file that was not imported (nothing of it was).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("authorizations not imported ({} problem{}): {}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, .problems.iter().take(20).map(|p| format!("line {}{}: {}", p.line, p.field.as_ref().map(|f| format!(" ({f})")).unwrap_or_default(), p.message)).collect::<Vec<_>>().join("; "))]
pub struct CsvImportError {
    /// Every problem found (the first 1000).
    pub problems: Vec<CsvProblem>,
}

/// The nine columns every file has (SPEC §2.3): the first of [`FIELDS`].
const COLUMNS: &[&str] = FIELDS.split_at(9).0;

/// Columns a file may add after the nine (SPEC §2.3); the header says.
const OPTIONAL_COLUMNS: &[&str] = FIELDS.split_at(9).1;

/// Where each column of an import CSV is, by name.
pub type CsvColumns = HashMap<&'static str, usize>;

/// Opens an import CSV (authorizations, exemptions, the network
/// directory): a reader past the header, and where each column is. Every
/// problem with the header (line 1) is named: a required column missing,
/// a column repeated or unknown. A byte-order mark is ignored.
pub fn open_csv<R: std::io::Read>(
    data: R,
    required: &[&'static str],
    optional: &[&'static str],
) -> Result<(csv::Reader<R>, CsvColumns), Vec<CsvProblem>> {
    let problem = |field: Option<&str>, message: String| CsvProblem {
        line: 1,
        field: field.map(str::to_string),
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(data);
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h
            .iter()
            .map(|s| s.trim_start_matches('\u{feff}').to_string())
            .collect(),
        Err(e) => return Err(vec![problem(None, format!("header cannot be read: {e}"))]),
    };
    let mut problems = Vec::new();
    let mut col = CsvColumns::default();
    for &name in required {
        match header.iter().position(|h| h == name) {
            Some(i) => {
                col.insert(name, i);
            }
            None => problems.push(problem(
                Some(name),
                format!(
                    "header lacks column `{name}` (expected: {})",
                    required.join(",")
                ),
            )),
        }
    }
    for &name in optional {
        if let Some(i) = header.iter().position(|h| h == name) {
            col.insert(name, i);
        }
    }
    for (i, h) in header.iter().enumerate() {
        if header.iter().position(|o| o == h) != Some(i) {
            problems.push(problem(Some(h), "column appears more than once".into()));
        }
        if !required.contains(&h.as_str()) && !optional.contains(&h.as_str()) {
            problems.push(problem(Some(h), "unknown column".into()));
        }
    }
    if problems.is_empty() {
        Ok((rdr, col))
    } else {
        Err(problems)
    }
}

/// Parses the authorization CSV of SPEC §2.3. All or nothing: any bad row
/// fails the whole import, with every bad row reported by line number.
pub fn import_csv(data: &[u8]) -> Result<Vec<Authorization>, CsvImportError> {
    let mut rows = AuthCsv::open(data)?;
    let mut out = Vec::new();
    loop {
        let batch = rows.next_batch(10_000);
        if batch.is_empty() {
            break;
        }
        out.extend(batch);
    }
    rows.finish()?;
    Ok(out)
}

/// The authorization CSV of SPEC §2.3 read a batch of rows at a time, so
/// that a file of millions of rows is imported in bounded memory. Bad rows
/// are collected as they come (`finish` reports them all); once one is
/// found, the batches that follow still come so the whole file is
/// checked, and the caller must not keep what it imported (all or
/// nothing: `finish` says whether it may).
pub struct AuthCsv<R: std::io::Read> {
    rdr: csv::Reader<R>,
    /// Where each field is: [`FIELDS`] order.
    at: [Option<usize>; 11],
    record: csv::StringRecord,
    /// Numbers seen, with their line (a number twice is a bad row).
    seen: Seen,
    problems: Vec<CsvProblem>,
}

/// The columns of an authorization row in the order the CSV reader keeps: the
/// header `auths list --format csv` writes, so its file imports again.
pub const FIELDS: [&str; 11] = [
    "number",
    "member_id",
    "provider_npi",
    "codes",
    "units",
    "units_used",
    "start_date",
    "end_date",
    "status",
    "patient_birth_date",
    "unit_type",
];

/// The numbers of a file and the line of each, compactly: their text one
/// after another in one string, and a table of their indexes (a map of
/// a million `String` keys was half an import's memory).
#[derive(Default)]
struct Seen {
    text: String,
    /// Where each number starts in `text` (it ends where the next does),
    /// and its line.
    at: Vec<(usize, u64)>,
    table: hashbrown::HashTable<u32>,
    hasher: rustc_hash::FxBuildHasher,
}

impl Seen {
    fn number(&self, i: u32) -> &str {
        let i = i as usize;
        let start = self.at.get(i).map_or(0, |a| a.0);
        let end = self.at.get(i + 1).map_or(self.text.len(), |a| a.0);
        self.text.get(start..end).unwrap_or("")
    }

    /// Records `number` at `line`; the line it was first on if seen
    /// before.
    fn insert(&mut self, number: &str, line: u64) -> Option<u64> {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(number);
        if let Some(&i) = self.table.find(hash, |&i| self.number(i) == number) {
            return self.at.get(i as usize).map(|a| a.1);
        }
        let Ok(i) = u32::try_from(self.at.len()) else {
            // Four billion numbers: past what a file can hold in memory.
            return None;
        };
        self.at.push((self.text.len(), line));
        self.text.push_str(number);
        let (text, at, hasher) = (&self.text, &self.at, &self.hasher);
        self.table.insert_unique(hash, i, |&j| {
            let j = j as usize;
            let start = at.get(j).map_or(0, |a| a.0);
            let end = at.get(j + 1).map_or(text.len(), |a| a.0);
            hasher.hash_one(text.get(start..end).unwrap_or(""))
        });
        None
    }
}

impl<R: std::io::Read> AuthCsv<R> {
    /// Reads the header; its problems fail the import at once.
    pub fn open(data: R) -> Result<AuthCsv<R>, CsvImportError> {
        let (rdr, col) = open_csv(data, COLUMNS, OPTIONAL_COLUMNS)
            .map_err(|problems| CsvImportError { problems })?;
        Ok(AuthCsv {
            rdr,
            at: FIELDS.map(|f| col.get(f).copied()),
            record: csv::StringRecord::new(),
            seen: Seen::default(),
            problems: Vec::new(),
        })
    }

    /// True while no bad row was found.
    pub fn clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// The next valid rows, at most `n`; empty at the end of the file.
    pub fn next_batch(&mut self, n: usize) -> Vec<Authorization> {
        let mut out = Vec::with_capacity(n.min(16_384));
        while out.len() < n {
            match self.rdr.read_record(&mut self.record) {
                Ok(false) => break,
                Ok(true) => {
                    if let Some(a) = self.row() {
                        out.push(a);
                    }
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    self.problems.push(CsvProblem {
                        line,
                        field: None,
                        message: format!("row cannot be read: {e}"),
                    });
                    // An I/O error does not move the reader on.
                    if !matches!(
                        e.kind(),
                        csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                    ) {
                        break;
                    }
                }
            }
        }
        out
    }

    fn row(&mut self) -> Option<Authorization> {
        let rec = &self.record;
        let line = rec.position().map_or(0, |p| p.line());
        let [number, member_id, provider_npi, codes, units, units_used, start_date, end_date, status, patient_birth_date, unit_type] =
            self.at.map(|i| i.and_then(|i| rec.get(i)).unwrap_or(""));
        let fields = Fields {
            number,
            member_id,
            provider_npi,
            codes,
            units: Some(units).filter(|u| !u.is_empty()),
            units_used: Some(units_used).filter(|u| !u.is_empty()),
            start_date,
            end_date,
            status,
            patient_birth_date: Some(patient_birth_date).filter(|b| !b.is_empty()),
            unit_type: Some(unit_type).filter(|t| !t.is_empty()),
        };
        if !number.is_empty() {
            if let Some(first) = self.seen.insert(number, line) {
                self.problems.push(CsvProblem {
                    line,
                    field: Some("number".into()),
                    message: format!("{number} is already on line {first}"),
                });
            }
        }
        match fields.validate() {
            Ok(a) => Some(a),
            Err(bad) => {
                for p in bad {
                    if self.problems.len() < 1000 {
                        self.problems.push(CsvProblem {
                            line,
                            field: Some(p.field.to_string()),
                            message: p.message,
                        });
                    }
                }
                None
            }
        }
    }

    /// Every problem found, or Ok when the whole file was good.
    pub fn finish(self) -> Result<(), CsvImportError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(CsvImportError {
                problems: self.problems,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_row_imports() {
        let csv =
            b"number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n\
                    A100001,M00012345,1234567893,70551|70553,1,0,2026-01-10,2026-04-10,approved\n\
                    A100002,M00012345,1234567893,,,,2026-01-10,2026-04-10,pending\n";
        let a = import_csv(csv).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].codes_text(), "70551|70553");
        assert_eq!(a[0].remaining(), Some(Decimal::ONE));
        assert_eq!(a[1].remaining(), None);
        // Empty codes cover any code, as the book that adjudication reads
        // sees them.
        let book = AuthBook::new(a);
        let (id, terms) = book.find("A100002").unwrap();
        assert!(book.covers_code(id, terms, Some("99999"), None));
        let (id, terms) = book.find("A100001").unwrap();
        assert!(book.covers_code(id, terms, Some("70553"), None));
        assert!(!book.covers_code(id, terms, Some("70552"), None));
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_nothing_is_imported() {
        let csv =
            b"number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n\
                    A1,M1,1234567893,70551,1,0,2026-01-10,2026-04-10,approved\n\
                    A2,M1,123,70540-7055,x,0,2026-13-10,2026-04-10,maybe\n\
                    A1,M1,1234567893,,1,0,2026-01-10,2026-04-10,approved\n";
        let e = import_csv(csv).unwrap_err();
        let lines: Vec<(u64, Option<&str>)> = e
            .problems
            .iter()
            .map(|p| (p.line, p.field.as_deref()))
            .collect();
        assert!(lines.contains(&(3, Some("provider_npi"))), "{lines:?}");
        assert!(lines.contains(&(3, Some("codes"))));
        assert!(lines.contains(&(3, Some("units"))));
        assert!(lines.contains(&(3, Some("start_date"))));
        assert!(lines.contains(&(3, Some("status"))));
        assert!(lines.contains(&(4, Some("number"))), "duplicate number");
        assert!(e.to_string().contains("line 3 (provider_npi)"));
    }

    #[test]
    fn optional_columns_follow_the_header_and_old_files_import_unchanged() {
        let old =
            b"number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n\
                    A1,M1,1234567893,70551,1,0,2026-01-10,2026-04-10,approved\n";
        let a = import_csv(old).unwrap();
        assert_eq!(a[0].patient_birth_date, None);
        assert_eq!(a[0].unit_type, UnitType::Units);
        // Either column, both, in any order; empty cells are the defaults.
        let both = b"unit_type,number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status,patient_birth_date\n\
                     visits,A1,M1,1234567893,G0299,4,0,2026-01-10,2026-04-10,approved,2015-02-02\n\
                     ,A2,M1,1234567893,,5,0,2026-01-10,2026-04-10,approved,\n\
                     days,A3,M1,1234567893,,5,0,2026-01-10,2026-04-10,approved,\n";
        let a = import_csv(both).unwrap();
        assert_eq!(a[0].unit_type, UnitType::Visits);
        assert_eq!(a[0].patient_birth_date, NaiveDate::from_ymd_opt(2015, 2, 2));
        assert_eq!(
            (a[1].unit_type, a[1].patient_birth_date),
            (UnitType::Units, None)
        );
        assert_eq!(a[2].unit_type, UnitType::Days);
        let one = b"number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status,unit_type\n\
                    A1,M1,1234567893,,1,0,2026-01-10,2026-04-10,approved,days\n";
        assert_eq!(import_csv(one).unwrap()[0].unit_type, UnitType::Days);
    }

    #[test]
    fn end_before_start_bad_unit_type_and_bad_birth_date_are_bad_rows() {
        let csv = b"number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status,patient_birth_date,unit_type\n\
                    A1,M1,1234567893,,1,0,2026-01-10,2026-04-10,approved,,\n\
                    A2,M1,1234567893,,1,0,2026-04-10,2026-01-10,approved,,\n\
                    A3,M1,1234567893,,1,0,2026-01-10,2026-04-10,approved,2015-02-31,hours\n";
        let e = import_csv(csv).unwrap_err();
        let at: Vec<(u64, Option<&str>)> = e
            .problems
            .iter()
            .map(|p| (p.line, p.field.as_deref()))
            .collect();
        assert_eq!(
            at,
            [
                (3, Some("end_date")),
                (4, Some("patient_birth_date")),
                (4, Some("unit_type"))
            ]
        );
        // A birth date is PHI: never echoed in the error.
        assert!(!e.to_string().contains("2015-02-31"), "{e}");
    }

    #[test]
    fn dates_read_and_write_as_chrono_does() {
        for text in [
            "2026-01-10",
            "0001-12-31",
            "9999-12-31",
            "2024-02-29",
            "2023-02-29",
            "2026-13-01",
            "2026-1-5",
            "+2026-01-10",
            "2026-01-1x",
            "20260110",
            "",
        ] {
            let chrono = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
            assert_eq!(parse_date(text), chrono, "{text}");
            if let Some(d) = chrono {
                assert_eq!(date_text(d), d.to_string(), "{text}");
            }
        }
        for d in [NaiveDate::MIN, NaiveDate::MAX] {
            assert_eq!(date_text(d), d.to_string());
        }
    }

    #[test]
    fn a_number_twice_names_its_first_line_among_many() {
        let mut csv = String::from(
            "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n",
        );
        for i in 0..30_000 {
            csv.push_str(&format!(
                "N{i},M{i},1234567893,,1,0,2026-01-10,2026-04-10,approved\n"
            ));
        }
        csv.push_str("N12345,M1,1234567893,,1,0,2026-01-10,2026-04-10,approved\n");
        let e = import_csv(csv.as_bytes()).unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e}");
        assert_eq!(e.problems[0].line, 30_002);
        assert_eq!(e.problems[0].message, "N12345 is already on line 12347");
    }

    #[test]
    fn missing_column_is_a_header_problem() {
        let e = import_csv(b"number,member_id\nA1,M1\n").unwrap_err();
        assert!(e.problems.iter().all(|p| p.line == 1));
        assert!(e.to_string().contains("provider_npi"));
    }
}
