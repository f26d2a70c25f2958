//! The plan's network directory (SPEC §2.4): the CSV
//! `npi,network_start,network_end` (end empty = open), imported all or
//! nothing with every bad row named by its line number, and the rows as
//! the in-memory [`NetworkDirectory`] the adjudicator judges
//! `network = "out"` rules with. Pure: the store keeps the rows, the CLI
//! and the API read the files.
//!
//! A billing provider is in network on a date within one of its rows.
//! With no directory loaded (no row at all: an import of a file with no
//! rows clears it), every provider is in network.

use chrono::NaiveDate;
use serde::Serialize;

use crate::authorizations::{open_csv, CsvProblem};
pub use crate::model::NetworkDirectory;

/// One row of the directory: `npi` is in network from `network_start` to
/// `network_end` (inclusive; None: open).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkRow {
    /// The provider's NPI (10 digits).
    pub npi: String,
    /// First day in network.
    pub network_start: NaiveDate,
    /// Last day in network; null while open.
    pub network_end: Option<NaiveDate>,
}

/// A directory file that was not imported (nothing of it was).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("network directory not imported ({} problem{}): {}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, .problems.iter().take(20).map(|p| format!("line {}{}: {}", p.line, p.field.as_ref().map(|f| format!(" ({f})")).unwrap_or_default(), p.message)).collect::<Vec<_>>().join("; "))]
pub struct NetworkImportError {
    /// Every problem found (the first 1000).
    pub problems: Vec<CsvProblem>,
}

/// The columns of the file, in the order SPEC §2.4 gives them (a file may
/// order them otherwise: the header says).
pub const COLUMNS: [&str; 3] = ["npi", "network_start", "network_end"];

fn problem(line: u64, field: Option<&str>, message: String) -> CsvProblem {
    CsvProblem {
        line,
        field: field.map(str::to_string),
        message,
    }
}

/// A date as the file must write it: `YYYY-MM-DD`, exactly.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// True for an NPI as the directory takes it: ten digits (the check digit
/// is not enforced, as elsewhere in priorauth).
pub fn valid_npi(npi: &str) -> bool {
    npi.len() == 10 && npi.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a directory CSV. All or nothing: any bad row fails the whole
/// import, every bad row reported by its line number (the header is line
/// 1). A bad row: an NPI that is not 10 digits, a start that is not a
/// date, an end that is neither empty nor a date, an end before the start.
pub fn import_csv(data: &[u8]) -> Result<Vec<NetworkRow>, NetworkImportError> {
    let (mut rdr, col) =
        open_csv(data, &COLUMNS, &[]).map_err(|problems| NetworkImportError { problems })?;
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                if problems.len() < 1000 {
                    problems.push(problem(line, None, format!("row cannot be read: {e}")));
                }
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let get = |name: &str| col.get(name).and_then(|&i| rec.get(i)).unwrap_or("");
        let mut bad = |field: &str, message: String| {
            if problems.len() < 1000 {
                problems.push(problem(line, Some(field), message));
            }
        };
        let npi = get("npi");
        if !valid_npi(npi) {
            bad("npi", format!("\"{npi}\" is not a 10-digit NPI"));
        }
        let start_text = get("network_start");
        let start = parse_date(start_text);
        if start.is_none() {
            bad(
                "network_start",
                format!("\"{start_text}\" is not a date (YYYY-MM-DD)"),
            );
        }
        let end_text = get("network_end");
        let end = if end_text.is_empty() {
            None
        } else {
            let end = parse_date(end_text);
            if end.is_none() {
                bad(
                    "network_end",
                    format!("\"{end_text}\" is not a date (YYYY-MM-DD; empty = open)"),
                );
            }
            end
        };
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                bad("network_end", format!("{e} is before network_start {s}"));
            }
        }
        if let Some(network_start) = start {
            if valid_npi(npi) && (end_text.is_empty() || end.is_some_and(|e| e >= network_start)) {
                out.push(NetworkRow {
                    npi: npi.to_string(),
                    network_start,
                    network_end: end,
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(NetworkImportError { problems })
    }
}

/// The rows as a directory. No row: no directory (everyone in network).
pub fn directory(rows: &[NetworkRow]) -> NetworkDirectory {
    let mut dir = NetworkDirectory::new();
    for r in rows {
        dir.add(&r.npi, r.network_start, r.network_end);
    }
    dir
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn bad_rows_are_named_by_line_and_nothing_is_imported() {
        let csv = "npi,network_start,network_end\n\
                   1234567893,2026-01-01,\n\
                   12345,2026-01-01,2026-12-31\n\
                   1234567893,2026-07-01,2026-06-30\n\
                   1234567893,2026-1-1,\n\
                   1234567893,2026-01-01,soon\n\
                   1245319599,2026-01-01,2026-12-31\n";
        let e = import_csv(csv.as_bytes()).unwrap_err();
        let lines: Vec<(u64, Option<&str>)> = e
            .problems
            .iter()
            .map(|p| (p.line, p.field.as_deref()))
            .collect();
        assert_eq!(
            lines,
            vec![
                (3, Some("npi")),
                (4, Some("network_end")),
                (5, Some("network_start")),
                (6, Some("network_end")),
            ]
        );
        assert!(e.to_string().contains("line 4 (network_end)"), "{e}");
    }

    #[test]
    fn a_good_file_imports_with_open_ends() {
        let csv = "npi,network_start,network_end\n\
                   1234567893,2026-01-01,2026-06-30\n\
                   1234567893,2026-09-01,\n";
        let rows = import_csv(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].network_end, None);
        let dir = directory(&rows);
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day);
        assert!(dir.in_network("1234567893", d(6, 30)));
        assert!(!dir.in_network("1234567893", d(7, 1)));
        assert!(dir.in_network("1234567893", d(12, 31)));
        assert!(!dir.in_network("1245319599", d(3, 1)));
    }

    #[test]
    fn columns_in_another_order_and_a_short_row() {
        let csv = "network_end,npi,network_start\n,1234567893,2026-01-01\n1234567893\n";
        let e = import_csv(csv.as_bytes()).unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert_eq!(e.problems[0].line, 3);
        let ok = import_csv(b"network_end,npi,network_start\n,1234567893,2026-01-01\n").unwrap();
        assert_eq!(ok[0].npi, "1234567893");
    }

    #[test]
    fn header_must_name_the_columns() {
        let e = import_csv(b"npi,start,end\n1234567893,2026-01-01,\n").unwrap_err();
        assert!(e.problems.iter().all(|p| p.line == 1));
        assert!(e.problems.len() >= 2);
    }

    #[test]
    fn no_rows_is_no_directory() {
        let rows = import_csv(b"npi,network_start,network_end\n").unwrap();
        assert!(rows.is_empty());
        assert!(directory(&rows).is_empty());
    }
}
