//! `adjudicate --format table`: one block per claim (its status and payer
//! claim id once, then its lines), wrapped to the terminal, and totals.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};

use rust_decimal::Decimal;

use crate::model::{money, ClaimDecision, Decision};
use crate::x12::Rejected;

/// Width when stdout is not a terminal and `COLUMNS` says nothing: wide
/// enough for a line's columns, narrow enough for a mail or a ticket.
pub const DEFAULT_WIDTH: usize = 100;

/// Narrower than this, wrapping makes a column of words: not worth it.
const MIN_WIDTH: usize = 40;

/// The width to wrap to: the terminal's when stdout is one, else
/// `COLUMNS` (as shells export it), else [`DEFAULT_WIDTH`].
pub fn output_width() -> usize {
    let stdout = io::stdout();
    let width = if stdout.is_terminal() {
        terminal_size::terminal_size_of(&stdout).map(|(w, _)| usize::from(w.0))
    } else {
        None
    };
    width
        .or_else(|| {
            std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.trim().parse().ok())
        })
        .unwrap_or(DEFAULT_WIDTH)
        .max(MIN_WIDTH)
}

/// Writes claims as they come and counts them for the totals.
#[derive(Debug)]
pub struct ClaimTable {
    width: usize,
    claims: BTreeMap<&'static str, u64>,
    lines: BTreeMap<&'static str, u64>,
    denied_amount: Decimal,
}

const LINE_HEADS: [&str; 6] = ["LN", "CODE", "DATE", "DECISION", "RULE", "AUTH"];

/// How far a line's adjustments and reason are indented under it.
const DETAIL_INDENT: &str = "       ";

impl ClaimTable {
    /// A table wrapped to `width` columns.
    pub fn new(width: usize) -> Self {
        ClaimTable {
            width: width.max(MIN_WIDTH),
            claims: BTreeMap::new(),
            lines: BTreeMap::new(),
            denied_amount: Decimal::ZERO,
        }
    }

    /// Text wrapped to the width, every row starting with `indent`.
    fn wrapped(&self, out: &mut impl Write, indent: &str, text: &str) -> io::Result<()> {
        let opts = textwrap::Options::new(self.width)
            .initial_indent(indent)
            .subsequent_indent(indent)
            // Rule ids, CARCs and UUIDs have hyphens: never break at them.
            .word_splitter(textwrap::WordSplitter::NoHyphenation)
            .break_words(false);
        for row in textwrap::wrap(text, opts) {
            writeln!(out, "{}", row.trim_end())?;
        }
        Ok(())
    }

    /// One claim: a heading with its status and payer claim id, a row per
    /// line, each line's adjustments and reason wrapped under it.
    pub fn claim(&mut self, out: &mut impl Write, c: &ClaimDecision) -> io::Result<()> {
        *self.claims.entry(c.status.as_str()).or_default() += 1;
        self.wrapped(
            out,
            "",
            &format!(
                "CLAIM {}  status {}  payer claim id {}",
                c.claim_id,
                c.status.as_str(),
                c.payer_claim_id
            ),
        )?;
        let rows: Vec<[String; 6]> = c
            .lines
            .iter()
            .map(|l| {
                [
                    l.line.to_string(),
                    l.procedure
                        .clone()
                        .or_else(|| l.revenue_code.clone())
                        .unwrap_or_else(|| "-".into()),
                    l.service_date.map_or_else(|| "-".into(), |d| d.to_string()),
                    l.decision.as_str().to_string(),
                    l.rule.clone().unwrap_or_else(|| "-".into()),
                    l.authorization.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        // Columns as wide as this claim needs: rule ids run from 8 to 30+
        // characters, and most claims have short ones.
        let mut widths = LINE_HEADS.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        // Too wide for the terminal (long rule ids, narrow windows): the
        // rule and authorization go under the line with its reason.
        let full = 2 + widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
        let shown = if full > self.width { 4 } else { 6 };
        let cols = |cells: &[&str]| -> String {
            let mut s = String::from("  ");
            for (i, (cell, w)) in cells.iter().zip(widths).take(shown).enumerate() {
                if i == 0 {
                    s.push_str(&format!("{cell:>w$}"));
                } else {
                    s.push_str(&format!("  {cell:<w$}"));
                }
            }
            s.trim_end().to_string()
        };
        writeln!(out, "{}", cols(&LINE_HEADS))?;
        for (l, row) in c.lines.iter().zip(&rows) {
            *self.lines.entry(l.decision.as_str()).or_default() += 1;
            if matches!(l.decision, Decision::Denied | Decision::Partial) {
                self.denied_amount += l.adjusted();
            }
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            writeln!(out, "{}", cols(&cells))?;
            if shown < 6 {
                self.wrapped(
                    out,
                    DETAIL_INDENT,
                    &format!("rule {}  auth {}", row[4], row[5]),
                )?;
            }
            let adj: Vec<String> = l
                .adjustments
                .iter()
                .map(|a| a.to_string())
                .chain(l.remarks.iter().map(|r| format!("RARC {}", r.as_str())))
                .collect();
            if !adj.is_empty() {
                self.wrapped(out, DETAIL_INDENT, &adj.join(" "))?;
            }
            self.wrapped(out, DETAIL_INDENT, &l.reason)?;
        }
        writeln!(out)
    }

    /// The sets rejected before adjudication, each error on its own.
    pub fn rejected(&self, out: &mut impl Write, rejected: &[Rejected]) -> io::Result<()> {
        for r in rejected {
            for e in &r.errors {
                self.wrapped(
                    out,
                    "",
                    &format!(
                        "REJECTED set {} in {}: segment {} ({}): {}",
                        r.control_number.as_deref().unwrap_or("-"),
                        r.file.as_deref().unwrap_or("-"),
                        e.segment,
                        e.id,
                        e.message
                    ),
                )?;
            }
        }
        Ok(())
    }

    /// Claims by status, lines by decision, and the amount denied (the
    /// adjustments of denied and partial lines).
    pub fn totals(&self, out: &mut impl Write) -> io::Result<()> {
        let counts = |m: &BTreeMap<&str, u64>| -> (u64, String) {
            let total = m.values().sum();
            let parts: Vec<String> = m.iter().map(|(k, n)| format!("{k} {n}")).collect();
            (total, parts.join(", "))
        };
        let (claims, by_status) = counts(&self.claims);
        let (lines, by_decision) = counts(&self.lines);
        writeln!(out, "TOTALS")?;
        self.wrapped(
            out,
            "  ",
            &format!("claims {claims}: {}", none_if_empty(&by_status)),
        )?;
        self.wrapped(
            out,
            "  ",
            &format!("lines {lines}: {}", none_if_empty(&by_decision)),
        )?;
        writeln!(out, "  denied amount {}", money(self.denied_amount))
    }
}

fn none_if_empty(s: &str) -> &str {
    if s.is_empty() {
        "none"
    } else {
        s
    }
}
