//! `auths list`: the store's authorizations, filtered, as JSON, a table or
//! the CSV of SPEC §2.3 (both optional columns included, so an export
//! re-imports).

use std::io::{self, Write};

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use super::store_commands::{cli_audit, StoreSession};
use super::EXIT_OK;
use crate::authorizations::{Authorization, AuthorizationRecord};
use crate::config::DatabaseArgs;
use crate::store::AuthFilter;

/// Most authorizations one `auths list` prints.
const LIST_LIMIT: u32 = 1_000_000;

/// Output of `auths list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ListFormat {
    /// A JSON array of authorizations (with `units_remaining`).
    Json,
    /// One line per authorization, for reading.
    Table,
    /// The import CSV of SPEC §2.3.
    Csv,
}

/// `auths list` arguments.
#[derive(Debug, Args)]
pub(super) struct ListArgs {
    /// Only this authorization number.
    #[arg(long)]
    number: Option<String>,
    /// Only this member id.
    #[arg(long)]
    member: Option<String>,
    /// Only authorizations issued to this provider NPI.
    #[arg(long)]
    provider: Option<String>,
    /// Only this status: approved, denied, pending or cancelled.
    #[arg(long)]
    status: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Json)]
    format: ListFormat,
    #[command(flatten)]
    db: DatabaseArgs,
}

/// `auths list`.
pub(super) fn list(args: ListArgs) -> Result<i32> {
    if let Some(s) = &args.status {
        if s.parse::<crate::authorizations::AuthStatus>().is_err() {
            bail!("--status {s}: not one of approved, denied, pending, cancelled");
        }
    }
    let filter = AuthFilter {
        number: args.number,
        member_id: args.member,
        provider_npi: args.provider,
        status: args.status.map(|s| s.trim().to_ascii_lowercase()),
    };
    let url = args.db.url();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or(path);
        if !std::path::Path::new(file).exists() {
            bail!("no store at {file} (give --database or DATABASE_URL)");
        }
    }
    let s = StoreSession::open(&url)?;
    let auths = s.run(s.store.list_authorizations(&filter, LIST_LIMIT))?;
    // The list names members: audited like a read, by numbers only.
    let numbers: Vec<&str> = auths.iter().map(|a| a.number.as_str()).collect();
    s.run(s.store.audit(&cli_audit(
        "authorization.list",
        "authorization",
        &numbers.join(" "),
    )))?;
    drop(s);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    write(&mut out, &auths, args.format)?;
    out.flush()?;
    Ok(EXIT_OK)
}

/// Writes `auths` in `format`.
pub(super) fn write(
    out: &mut impl Write,
    auths: &[Authorization],
    format: ListFormat,
) -> Result<()> {
    match format {
        ListFormat::Json => {
            let list: Vec<serde_json::Value> = auths.iter().map(json).collect();
            serde_json::to_writer_pretty(&mut *out, &list)?;
            writeln!(out)?;
        }
        ListFormat::Table => {
            writeln!(
                out,
                "{:<16} {:<14} {:<10} {:<9} {:<23} {:>9} {:>9} {:<7} codes",
                "number", "member", "provider", "status", "dates", "units", "used", "type"
            )?;
            for a in auths {
                writeln!(
                    out,
                    "{:<16} {:<14} {:<10} {:<9} {:<23} {:>9} {:>9} {:<7} {}",
                    a.number,
                    a.member_id,
                    a.provider_npi,
                    a.status.as_str(),
                    format!("{}..{}", a.start_date, a.end_date),
                    a.units.map_or("-".into(), |u| u.normalize().to_string()),
                    a.units_used.normalize().to_string(),
                    a.unit_type.as_str(),
                    if a.codes.is_empty() {
                        "any".into()
                    } else {
                        a.codes_text()
                    }
                )?;
            }
        }
        ListFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record(crate::authorizations::FIELDS)?;
            for a in auths {
                let r = AuthorizationRecord::from(a);
                w.write_record([
                    r.number,
                    r.member_id,
                    r.provider_npi,
                    r.codes,
                    r.units.unwrap_or_default(),
                    r.units_used.unwrap_or_default(),
                    r.start_date,
                    r.end_date,
                    r.status,
                    r.patient_birth_date.unwrap_or_default(),
                    r.unit_type.unwrap_or_default(),
                ])?;
            }
            w.flush()?;
        }
    }
    Ok(())
}

fn json(a: &Authorization) -> serde_json::Value {
    let mut v = serde_json::json!(AuthorizationRecord::from(a));
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "units_remaining".into(),
            serde_json::json!(a.remaining().map(|r| r.normalize().to_string())),
        );
    }
    v
}
