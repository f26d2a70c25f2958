//! The exemption CSV (SPEC §3.5): `provider_npi,rule_id,start_date,end_date`,
//! all or nothing, every bad row named by its line number.

use std::collections::HashMap;

use serde::Serialize;

use super::{Exemption, ExemptionRecord};
use crate::authorizations::{open_csv, CsvProblem};
use crate::rules::RuleSet;

/// An exemption file that was not imported (nothing of it was).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("exemptions not imported ({} problem{}): {}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, .problems.iter().take(20).map(|p| format!("line {}{}: {}", p.line, p.field.as_ref().map(|f| format!(" ({f})")).unwrap_or_default(), p.message)).collect::<Vec<_>>().join("; "))]
pub struct ExemptionImportError {
    /// Every problem found (the first 1000).
    pub problems: Vec<CsvProblem>,
}

const COLUMNS: [&str; 4] = ["provider_npi", "rule_id", "start_date", "end_date"];

fn problem(line: u64, field: Option<&str>, message: String) -> CsvProblem {
    CsvProblem {
        line,
        field: field.map(str::to_string),
        message,
    }
}

/// Parses an exemption CSV. All or nothing: any bad row fails the whole
/// import, with every bad row reported by line number (the header is line
/// 1). End before start is a bad row; with `rules`, so is a rule id the
/// set does not have; a row repeating an earlier one (same provider, rule
/// and period, so the same id) is a bad row too.
pub fn import_csv(
    data: &[u8],
    rules: Option<&RuleSet>,
) -> Result<Vec<Exemption>, ExemptionImportError> {
    let (mut rdr, col) =
        open_csv(data, &COLUMNS, &[]).map_err(|problems| ExemptionImportError { problems })?;
    let mut problems = Vec::new();
    let mut out = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(problem(line, None, format!("row cannot be read: {e}")));
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let get = |name: &str| {
            col.get(name)
                .and_then(|&i| rec.get(i))
                .unwrap_or("")
                .to_string()
        };
        let record = ExemptionRecord {
            provider_npi: get("provider_npi"),
            rule_id: get("rule_id"),
            start_date: get("start_date"),
            end_date: get("end_date"),
        };
        match record.validate(rules) {
            Ok(e) => {
                if let Some(first) = seen.insert(e.id.clone(), line) {
                    problems.push(problem(
                        line,
                        None,
                        format!("the same exemption ({}) is already on line {first}", e.id),
                    ));
                } else {
                    out.push(e);
                }
            }
            Err(bad) => {
                for p in bad {
                    if problems.len() < 1000 {
                        problems.push(problem(line, Some(p.field), p.message));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ExemptionImportError { problems })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn bad_rows_are_named_by_line_and_nothing_is_imported() {
        let set = RuleSet::bundled().unwrap();
        let rule = &set.rules[0].id;
        let csv = format!(
            "provider_npi,rule_id,start_date,end_date\n\
             1234567893,{rule},2026-07-01,2026-12-31\n\
             1234567893,{rule},2026-07-01,2026-06-01\n\
             1234567893,nope,2026-07-01,2026-12-31\n\
             12345,{rule},2026-07-01,2026-12-31\n"
        );
        let e = import_csv(csv.as_bytes(), Some(&set)).unwrap_err();
        let lines: Vec<u64> = e.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert_eq!(
            import_csv(csv.as_bytes(), None).unwrap_err().problems.len(),
            2
        );
    }

    #[test]
    fn a_good_file_imports() {
        let csv = "provider_npi,rule_id,start_date,end_date\n1234567893,5.1.2-MRI,2026-07-01,2026-12-31\n";
        let v = import_csv(csv.as_bytes(), None).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].rule_id, "5.1.2-MRI");
    }

    #[test]
    fn header_must_name_the_columns() {
        let e = import_csv(b"npi,rule\n1,2\n", None).unwrap_err();
        assert!(e.problems.iter().all(|p| p.line == 1));
    }
}
