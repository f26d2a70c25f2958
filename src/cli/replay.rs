//! `replay --rules CANDIDATE.toml`: what a candidate rule set would
//! decide on the stored claims, against the set in force, consuming and
//! storing nothing (SPEC §5).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};

use super::adjudicate::{load_rules, rules_in_force};
use super::store_commands::StoreSession;
use super::{DatabaseArgs, EXIT_OK};
use crate::adjudication::impact::ImpactReport;
use crate::rules::RulesIndex;
use crate::store::ReplayWindow;

/// How `replay` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ReplayFormat {
    /// The report as JSON (the shape `POST /v1/rules/impact` answers).
    Json,
    /// A table for people.
    Table,
}

#[derive(Debug, Args)]
pub(super) struct ReplayArgs {
    /// The candidate rule set (TOML).
    #[arg(long)]
    rules: PathBuf,
    /// First receipt date of the claims replayed (YYYY-MM-DD, UTC).
    #[arg(long)]
    since: Option<NaiveDate>,
    /// Last receipt date of the claims replayed (YYYY-MM-DD, UTC, included).
    #[arg(long)]
    until: Option<NaiveDate>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Json)]
    format: ReplayFormat,
    #[command(flatten)]
    db: DatabaseArgs,
}

/// `replay`: the candidate is loaded first (a bad one: every problem,
/// exit 2), then the store's claims are decided again under both sets.
pub(super) fn run(args: ReplayArgs) -> Result<i32> {
    let candidate = RulesIndex::new(load_rules(Some(&args.rules))?);
    if let (Some(s), Some(u)) = (args.since, args.until) {
        anyhow::ensure!(s <= u, "--since {s} is after --until {u}");
    }
    let s = StoreSession::open(&args.db.url())?;
    let in_force = RulesIndex::new(rules_in_force(None, Some(&s.store), s.runtime())?);
    let window = ReplayWindow {
        since: args.since,
        until: args.until,
    };
    let started = Instant::now();
    let report = s.run(
        s.store
            .replay(Arc::new(in_force), Arc::new(candidate), window),
    )?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    match args.format {
        ReplayFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        ReplayFormat::Table => table(&mut out, &report)?,
    }
    out.flush()?;
    let rate = if elapsed > 0.0 {
        format!(" ({:.0} claims/s)", report.claims as f64 / elapsed)
    } else {
        String::new()
    };
    eprintln!("replayed {} claims in {elapsed:.2} s{rate}", report.claims);
    Ok(EXIT_OK)
}

/// The report for people: the counts, then transitions, rules and
/// providers.
fn table(out: &mut impl Write, r: &ImpactReport) -> Result<()> {
    writeln!(
        out,
        "rule set in force {} -> candidate {}",
        r.rule_set_in_force, r.candidate_rule_set
    )?;
    writeln!(
        out,
        "claims compared {} ({} changed, {} without stored facts skipped); lines compared {}, changed {}",
        r.claims, r.claims_changed, r.claims_without_facts, r.lines, r.lines_changed
    )?;
    writeln!(
        out,
        "denied amount {} -> {} (change {})",
        r.denied_amount.in_force, r.denied_amount.candidate, r.denied_amount.change
    )?;
    if r.lines_changed == 0 {
        writeln!(out, "no line's decision changes")?;
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{:<28} {:>8}", "TRANSITION", "LINES")?;
    for t in &r.transitions {
        writeln!(out, "{:<28} {:>8}", t.transition, t.lines)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<34} {:>8} {:>8} {:>16}",
        "RULE", "CLAIMS", "LINES", "DENIED CHANGE"
    )?;
    for x in &r.rules {
        writeln!(
            out,
            "{:<34} {:>8} {:>8} {:>16}",
            x.rule_id.as_deref().unwrap_or("-"),
            x.claims_changed,
            x.lines_changed,
            x.denied_amount_change
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>16}",
        "PROVIDER", "CLAIMS", "LINES", "DENIED CHANGE"
    )?;
    for p in &r.providers {
        writeln!(
            out,
            "{:<12} {:>8} {:>8} {:>16}",
            p.billing_npi, p.claims_changed, p.lines_changed, p.denied_amount_change
        )?;
    }
    Ok(())
}
