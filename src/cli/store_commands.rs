//! Commands that work on the service's store without the service:
//! `import auths|rules` and `explain`.

use anyhow::{bail, Context, Result};

use super::{DatabaseArg, ImportWhat, EXIT_OK};
use crate::adjudication::ClaimDecision;
use crate::authorizations::import_csv;
use crate::rules::RuleSet;
use crate::store::Store;

fn url(db: DatabaseArg) -> Result<String> {
    let c = crate::api::Config::from_env(None, db.database)?;
    Ok(c.database_url)
}

fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// `import auths FILE` / `import rules FILE`.
pub(super) fn import(what: ImportWhat) -> Result<i32> {
    match what {
        ImportWhat::Auths { file, db } => {
            let data =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let auths = import_csv(&data)
                .with_context(|| format!("authorization file {}", file.display()))?;
            let url = url(db)?;
            block_on(async move {
                let store = Store::open(&url, 2).await?;
                let (added, replaced) = store.import_authorizations(&auths).await?;
                println!(
                    "{}",
                    serde_json::json!({"imported": auths.len(), "added": added, "replaced": replaced})
                );
                store.close().await;
                Ok(EXIT_OK)
            })
        }
        ImportWhat::Rules { file, db } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let set = RuleSet::from_toml(&text)
                .with_context(|| format!("rule file {}", file.display()))?;
            let url = url(db)?;
            block_on(async move {
                let store = Store::open(&url, 2).await?;
                store.activate_rules(&set.version, &text).await?;
                println!(
                    "{}",
                    serde_json::json!({"version": set.version, "rules": set.rules.len()})
                );
                store.close().await;
                Ok(EXIT_OK)
            })
        }
    }
}

/// `explain PAYER_CLAIM_ID`: the stored claim, one line per service line.
pub(super) fn explain(payer_claim_id: &str, db: DatabaseArg) -> Result<i32> {
    let url = url(db)?;
    // Explaining never creates a store: a missing SQLite file is an error.
    if let Some(path) = url.strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or(path);
        if !std::path::Path::new(file).exists() {
            bail!("no store at {file} (give --database or DATABASE_URL)");
        }
    }
    let claim = block_on(async move {
        let store = Store::open(&url, 2).await?;
        let c = store.claim(payer_claim_id).await?;
        store.close().await;
        Ok(c)
    })?;
    let Some(c) = claim else {
        bail!("no stored claim {payer_claim_id}");
    };
    println!(
        "claim {} from billing NPI {} (payer claim {}): {}{}, rule set {}, received {}",
        c.claim_id,
        c.billing_npi,
        c.payer_claim_id,
        c.status,
        if c.current {
            ""
        } else {
            " (no longer current)"
        },
        c.rule_set,
        c.received_at
    );
    let decision: ClaimDecision = serde_json::from_str(c.decision.get())?;
    for l in &decision.lines {
        println!("  {}", l.reason);
        let codes: Vec<String> = l.adjustments.iter().map(|a| a.to_string()).collect();
        println!(
            "    decision {}; adjustments {}",
            l.decision.as_str(),
            if codes.is_empty() {
                "none".to_string()
            } else {
                codes.join(", ")
            }
        );
    }
    Ok(EXIT_OK)
}
