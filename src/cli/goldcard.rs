//! `goldcard compute|list|revoke` and `import exemptions` (SPEC §3.5), on
//! the service's store.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{Subcommand, ValueEnum};
use rust_decimal::Decimal;

use super::store_commands::{cli_audit, StoreSession};
use super::{DatabaseArgs, EXIT_OK};
use crate::exemptions::goldcard::{GoldCard, Params};
use crate::exemptions::import_csv;
use crate::rules::RuleSet;
use crate::store::{ExemptionsAdded, Store, StoredExemption, SOURCE_IMPORT};

/// How `goldcard` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum GoldcardFormat {
    /// JSON.
    Json,
    /// A table for people.
    Table,
}

#[derive(Debug, Subcommand)]
pub(super) enum GoldcardAction {
    /// Per (provider, rule): requests, approved, denied, rate and the
    /// exemption earned; --apply stores the exemptions earned.
    Compute {
        /// Evaluation date (YYYY-MM-DD); today (UTC) by default.
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Months of authorization history before the evaluation date.
        #[arg(long, default_value_t = 12)]
        lookback_months: u32,
        /// Fewest requests (authorization records) that earn an exemption.
        #[arg(long, default_value_t = 5)]
        min_requests: u32,
        /// Lowest approved ÷ (approved + denied) that earns one.
        #[arg(long, default_value = "0.90")]
        threshold: Decimal,
        /// Months an earned exemption lasts from the evaluation date.
        #[arg(long, default_value_t = 6)]
        period_months: u32,
        /// Store the exemptions earned (audited).
        #[arg(long)]
        apply: bool,
        /// Rule set (TOML); the store's rule set in force by default.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GoldcardFormat::Json)]
        format: GoldcardFormat,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Stored exemptions in force (with --all, revoked ones too).
    List {
        /// Only this provider's.
        #[arg(long)]
        provider_npi: Option<String>,
        /// Only this rule's.
        #[arg(long)]
        rule_id: Option<String>,
        /// Revoked exemptions too.
        #[arg(long)]
        all: bool,
        /// Output format (JSON: one object per line).
        #[arg(long, value_enum, default_value_t = GoldcardFormat::Json)]
        format: GoldcardFormat,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Revoke an exemption: lines are no longer decided by it.
    Revoke {
        /// The exemption id (EX-…).
        id: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// The rule set in force in the store (the bundled one when none is
/// stored), or the file given.
async fn rules_in_force(store: &Store, file: Option<&Path>) -> Result<RuleSet> {
    if let Some(p) = file {
        return super::adjudicate::load_rules(Some(p));
    }
    match store.active_rules().await? {
        Some(s) => {
            RuleSet::from_toml(&s.source).with_context(|| format!("stored rule set {}", s.version))
        }
        None => Ok(RuleSet::bundled()?),
    }
}

/// Today (UTC): the CLI is the edge that reads the clock.
#[allow(clippy::disallowed_methods)]
fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// `import exemptions FILE`: all or nothing, rule ids checked against
/// the store's rule set in force.
pub(super) fn import(file: &Path, db: DatabaseArgs) -> Result<i32> {
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let s = StoreSession::open(&db.url())?;
    let set = s.run(rules_in_force(&s.store, None))?;
    let list = import_csv(&data, Some(&set))
        .with_context(|| format!("exemption file {}", file.display()))?;
    let added = store_imported(&s, &list)?;
    println!(
        "{}",
        serde_json::json!({"imported": list.len(), "added": added.added.len(), "known": added.known.len()})
    );
    Ok(EXIT_OK)
}

/// Stores imported exemptions, audited (ids only).
pub(super) fn store_imported(
    s: &StoreSession,
    list: &[crate::exemptions::Exemption],
) -> Result<ExemptionsAdded> {
    let who = cli_audit("exemption.import", "exemption", "");
    let rows: Vec<_> = list.iter().map(|e| (e.clone(), None)).collect();
    s.run(s.store.add_exemptions(&rows, SOURCE_IMPORT, Some(&who)))
}

/// `goldcard compute|list|revoke`.
pub(super) fn run(action: GoldcardAction) -> Result<i32> {
    match action {
        GoldcardAction::Compute {
            as_of,
            lookback_months,
            min_requests,
            threshold,
            period_months,
            apply,
            rules,
            format,
            db,
        } => {
            let params = Params {
                as_of: as_of.unwrap_or_else(today),
                lookback_months,
                min_requests,
                threshold,
                period_months,
            };
            let s = StoreSession::open(&db.url())?;
            let set = s.run(rules_in_force(&s.store, rules.as_deref()))?;
            let who = cli_audit("exemption.apply", "exemption", "");
            let apply = apply.then_some(Some(&who));
            let (card, added) = s.run(s.store.goldcard(&set, params, apply))??;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match format {
                GoldcardFormat::Json => {
                    let mut v = serde_json::to_value(&card)?;
                    if let Some(m) = v.as_object_mut() {
                        m.insert("rule_set".into(), set.version.clone().into());
                        m.insert("applied".into(), serde_json::to_value(&added)?);
                    }
                    writeln!(out, "{v}")?;
                }
                GoldcardFormat::Table => table(&mut out, &card, added.as_ref())?,
            }
            Ok(EXIT_OK)
        }
        GoldcardAction::List {
            provider_npi,
            rule_id,
            all,
            format,
            db,
        } => {
            let s = StoreSession::open(&db.url())?;
            let list = s.run(s.store.exemptions(
                provider_npi.as_deref(),
                rule_id.as_deref(),
                all,
            ))?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match format {
                GoldcardFormat::Json => {
                    for e in &list {
                        writeln!(out, "{}", serde_json::to_string(e)?)?;
                    }
                }
                GoldcardFormat::Table => list_table(&mut out, &list)?,
            }
            Ok(EXIT_OK)
        }
        GoldcardAction::Revoke { id, db } => {
            let s = StoreSession::open(&db.url())?;
            if s.run(s.store.exemption(&id))?.is_none() {
                bail!("no exemption {id}");
            }
            let who = cli_audit("exemption.revoke", "exemption", &id);
            let e = s.run(s.store.revoke_exemption(&id, Some(&who)))?;
            println!("{}", serde_json::to_string(&e)?);
            Ok(EXIT_OK)
        }
    }
}

fn table(out: &mut impl Write, card: &GoldCard, added: Option<&ExemptionsAdded>) -> Result<()> {
    writeln!(
        out,
        "gold card as of {}: requests whose start_date is in {}..{}; exempt at >= {} approved over >= {} requests; exemptions run {}..{}",
        card.params.as_of,
        card.window_start,
        card.window_end,
        card.params.threshold,
        card.params.min_requests,
        card.period_start,
        card.period_end
    )?;
    writeln!(
        out,
        "{:<10}  {:<34} {:>8} {:>8} {:>6} {:>6}  EXEMPTION",
        "PROVIDER", "RULE", "REQUESTS", "APPROVED", "DENIED", "RATE"
    )?;
    for r in &card.rows {
        let ex = match &r.exemption {
            Some(e) => format!("{} {}", e.id, e.period()),
            None => "-".into(),
        };
        writeln!(
            out,
            "{:<10}  {:<34} {:>8} {:>8} {:>6} {:>6}  {ex}",
            r.provider_npi,
            r.rule_id,
            r.requests,
            r.approved,
            r.denied,
            r.rate.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
        )?;
    }
    let earned = card.exemptions().count();
    match added {
        Some(a) => writeln!(
            out,
            "{earned} exemption(s) earned; {} stored, {} already on file",
            a.added.len(),
            a.known.len()
        )?,
        None => writeln!(
            out,
            "{earned} exemption(s) earned; nothing stored (dry run: --apply stores them)"
        )?,
    }
    Ok(())
}

fn list_table(out: &mut impl Write, list: &[StoredExemption]) -> Result<()> {
    writeln!(
        out,
        "{:<19}  {:<10}  {:<34} {:<23} {:<8} REVOKED",
        "ID", "PROVIDER", "RULE", "PERIOD", "SOURCE"
    )?;
    for s in list {
        let e = &s.exemption;
        writeln!(
            out,
            "{:<19}  {:<10}  {:<34} {:<23} {:<8} {}",
            e.id,
            e.provider_npi,
            e.rule_id,
            e.period(),
            s.source,
            s.revoked_at.as_deref().unwrap_or("-")
        )?;
    }
    Ok(())
}
