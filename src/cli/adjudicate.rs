//! `priorauth adjudicate`: parse, adjudicate in file order, write the answer.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use uuid::Uuid;

use super::{read_files, AdjudicateFormat};
use crate::adjudication::{Adjudicator, ClaimDecision, MemoryHistory};
use crate::authorizations::{import_csv, AuthBook};
use crate::exemptions::ExemptionBook;
use crate::rules::{RuleSet, RulesIndex};
use crate::store::{Store, SubmitOptions, Submitted};
use crate::x12::{self, X12Answer};

/// Namespace of the offline payer claim ids (UUID v5): the same file gives
/// the same ids on every run, so outputs can be compared.
const PAYER_CLAIM_NS: Uuid = Uuid::from_u128(0x7a1c_52e4_9b0f_4c57_a3d2_5f0e_8c61_d9b4);

/// Loads the rule set: the file given, or the bundled one.
pub fn load_rules(path: Option<&Path>) -> Result<RuleSet> {
    match path {
        None => Ok(RuleSet::bundled()?),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read rule file {}", p.display()))?;
            RuleSet::from_toml(&text).with_context(|| format!("rule file {}", p.display()))
        }
    }
}

/// SPEC §3.4 the rule set in force for a command with a store: `--rules`
/// when given (for this run only), else the store's active set, else (no
/// set ever stored) the bundled one.
pub fn rules_in_force(
    path: Option<&Path>,
    store: Option<&Store>,
    rt: &tokio::runtime::Runtime,
) -> Result<RuleSet> {
    if path.is_some() {
        return load_rules(path);
    }
    let Some(store) = store else {
        return load_rules(None);
    };
    match rt.block_on(store.active_rules())? {
        Some(stored) => RuleSet::from_toml(&stored.source).with_context(|| {
            format!(
                "the store's active rule set {} does not load",
                stored.version
            )
        }),
        None => load_rules(None),
    }
}

/// Loads the authorization CSV (empty book when none is given).
pub fn load_auths(path: Option<&Path>) -> Result<AuthBook> {
    match path {
        None => Ok(AuthBook::default()),
        Some(p) => {
            let data = std::fs::read(p)
                .with_context(|| format!("cannot read authorizations {}", p.display()))?;
            Ok(AuthBook::new(import_csv(&data).with_context(|| {
                format!("authorization file {}", p.display())
            })?))
        }
    }
}

/// Loads the exemption CSV (an empty book when none is given); rule ids
/// must be the rule set's.
pub fn load_exemptions(path: Option<&Path>, set: &RuleSet) -> Result<ExemptionBook> {
    match path {
        None => Ok(ExemptionBook::default()),
        Some(p) => {
            let data = std::fs::read(p)
                .with_context(|| format!("cannot read exemptions {}", p.display()))?;
            Ok(ExemptionBook::new(
                crate::exemptions::import_csv(&data, Some(set))
                    .with_context(|| format!("exemption file {}", p.display()))?,
            ))
        }
    }
}

/// Loads the network directory CSV (SPEC §2.4; none given: no directory,
/// every provider in network).
pub fn load_network(path: Option<&Path>) -> Result<Vec<crate::network::NetworkRow>> {
    match path {
        None => Ok(Vec::new()),
        Some(p) => {
            let data = std::fs::read(p)
                .with_context(|| format!("cannot read network directory {}", p.display()))?;
            crate::network::import_csv(&data)
                .with_context(|| format!("network directory {}", p.display()))
        }
    }
}

/// Where decisions come from: the in-memory book and history of this run,
/// or the service's store.
enum Engine<'r> {
    Offline {
        adjudicator: Adjudicator<'r>,
        book: AuthBook,
        history: MemoryHistory,
    },
    Store {
        rt: tokio::runtime::Runtime,
        store: Arc<Store>,
        rules: Arc<RulesIndex>,
        commit: bool,
        /// The set being committed on the runtime's worker while the next
        /// one is parsed (`--commit`): its claims and its decisions.
        pending: Option<Pending>,
    },
}

type Pending = tokio::task::JoinHandle<Result<(Vec<crate::model::Claim>, Vec<ClaimDecision>)>>;

impl Engine<'_> {
    /// Decisions for the claims of one accepted set, in order.
    fn decide(&mut self, set: &x12::TransactionSet) -> Result<Vec<ClaimDecision>> {
        match self {
            Engine::Offline {
                adjudicator,
                book,
                history,
            } => Ok(set
                .claims
                .iter()
                .enumerate()
                .map(|(i, claim)| {
                    let name = format!(
                        "{}/{}/{}/{}/{}/{}",
                        set.interchange,
                        set.group,
                        set.control_number,
                        claim.billing_npi,
                        claim.claim_id,
                        i
                    );
                    let payer_claim_id = Uuid::new_v5(&PAYER_CLAIM_NS, name.as_bytes()).to_string();
                    adjudicator.adjudicate(claim, &payer_claim_id, book, history)
                })
                .collect()),
            Engine::Store {
                rt, store, rules, ..
            } => Ok(rt.block_on(store.check(rules, &set.claims))?),
        }
    }

    /// True when sets are committed behind the parser (`--db … --commit`).
    fn pipelined(&self) -> bool {
        matches!(self, Engine::Store { commit: true, .. })
    }

    /// Commits `claims` (one set) on the runtime's worker after the set
    /// before it, and returns that set's claims and decisions once it is
    /// committed: the next set is parsed while this one is stored (the
    /// two cores), and sets still commit one after the other, in order.
    fn commit_behind(
        &mut self,
        claims: Vec<crate::model::Claim>,
    ) -> Result<Option<(Vec<crate::model::Claim>, Vec<ClaimDecision>)>> {
        let done = self.finish()?;
        if let Engine::Store {
            rt,
            store,
            rules,
            pending,
            ..
        } = self
        {
            let (store, rules) = (store.clone(), rules.clone());
            *pending = Some(rt.spawn(async move {
                let who = super::store_commands::cli_audit("claims.submit", "claim", "");
                let opts = SubmitOptions {
                    audit: Some(&who),
                    ..SubmitOptions::default()
                };
                let decisions = match store
                    .submit(&rules, &claims, opts, &|_| String::new())
                    .await?
                {
                    Submitted::Fresh(d, _) => {
                        store.checkpoint().await?;
                        d
                    }
                    Submitted::Replay(_) => Vec::new(),
                };
                Ok((claims, decisions))
            }));
        }
        Ok(done)
    }

    /// Waits for the set being committed, if any: its claims and decisions.
    fn finish(&mut self) -> Result<Option<(Vec<crate::model::Claim>, Vec<ClaimDecision>)>> {
        match self {
            Engine::Store { rt, pending, .. } => match pending.take() {
                Some(task) => Ok(Some(rt.block_on(task)??)),
                None => Ok(None),
            },
            Engine::Offline { .. } => Ok(None),
        }
    }
}

/// Where `adjudicate` reads authorizations and history from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// `--rules`.
    pub rules: Option<&'a Path>,
    /// `--auths`.
    pub auths: Option<&'a Path>,
    /// `--exemptions`.
    pub exemptions: Option<&'a Path>,
    /// `--network`.
    pub network: Option<&'a Path>,
    /// `--db`.
    pub db: Option<&'a str>,
    /// `--commit`.
    pub commit: bool,
}

/// Runs the command; returns the exit code.
pub fn run(
    src: Sources<'_>,
    format: AdjudicateFormat,
    payer: &x12::Payer,
    files: &[PathBuf],
) -> Result<i32> {
    let inputs = super::open_inputs(files)?;
    // With --db the store is opened first: its active rule set decides
    // unless --rules overrides it (SPEC §3.4).
    let opened = match src.db {
        None => None,
        Some(url) => {
            // One worker: with --commit a set is stored there while the
            // main thread parses the next.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let store = rt.block_on(Store::open(url, 4))?;
            Some((rt, store))
        }
    };
    let set = match &opened {
        None => load_rules(src.rules)?,
        Some((rt, store)) => rules_in_force(src.rules, Some(store), rt)?,
    };
    // SPEC §3.5: offline, the exemption file's; with --db it is imported
    // and the store's exemptions apply.
    let exemptions = load_exemptions(src.exemptions, &set)?;
    // SPEC §2.4: offline, the directory file's; with --db it replaces the
    // store's directory, which then applies.
    let network_rows = load_network(src.network)?;
    let network = crate::network::directory(&network_rows);
    let index = Arc::new(RulesIndex::new(set));
    let mut engine = match opened {
        None => Engine::Offline {
            adjudicator: Adjudicator::new(&index)
                .with_exemptions(&exemptions)
                .with_network(&network),
            book: load_auths(src.auths)?,
            history: MemoryHistory::default(),
        },
        Some((rt, store)) => {
            // The store's authorizations and claim history; with --auths the
            // CSV is imported into the store first (all or nothing).
            if let Some(path) = src.auths {
                let auths = load_auths(Some(path))?;
                let list: Vec<_> = auths.iter().cloned().collect();
                let numbers: Vec<&str> = list.iter().map(|a| a.number.as_str()).collect();
                rt.block_on(store.audit(&super::store_commands::cli_audit(
                    "authorization.import",
                    "authorization",
                    &numbers.join(" "),
                )))?;
                rt.block_on(store.import_authorizations(&list))?;
            }
            if src.exemptions.is_some() {
                let who = super::store_commands::cli_audit("exemption.import", "exemption", "");
                let rows: Vec<_> = exemptions.iter().map(|e| (e.clone(), None)).collect();
                rt.block_on(store.add_exemptions(&rows, crate::store::SOURCE_IMPORT, Some(&who)))?;
            }
            if src.network.is_some() {
                let who = super::store_commands::cli_audit("network.import", "network", "");
                rt.block_on(store.replace_network(&network_rows, Some(&who)))?;
            }
            Engine::Store {
                rt,
                store: Arc::new(store),
                rules: index.clone(),
                commit: src.commit,
                pending: None,
            }
        }
    };

    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let progress = (io::stderr().is_terminal() && total > 8 * 1024 * 1024).then(|| {
        let pb = indicatif::ProgressBar::new(total);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    });

    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    if format == AdjudicateFormat::Json {
        write!(
            out,
            "{{\"rule_set\":{},\"claims\":[",
            serde_json::to_string(index.version())?
        )?;
    }
    let mut table = super::table::ClaimTable::new(super::table::output_width());
    let mut first = true;
    // The 835 groups claims by payee, so it needs them before writing.
    let mut remit: Vec<(crate::model::Claim, ClaimDecision)> = Vec::new();
    let mut emit = |claims: &[crate::model::Claim], decisions: Vec<ClaimDecision>| -> Result<()> {
        for (claim, decision) in claims.iter().zip(decisions) {
            match format {
                AdjudicateFormat::Json => {
                    if !first {
                        out.write_all(b",")?;
                    }
                    serde_json::to_writer(&mut out, &decision)?;
                }
                AdjudicateFormat::Ndjson => {
                    serde_json::to_writer(&mut out, &decision)?;
                    out.write_all(b"\n")?;
                }
                AdjudicateFormat::Table => table.claim(&mut out, &decision)?,
                // Only claims denied in full have a place in the 835.
                AdjudicateFormat::Remit835 if x12::remittable(&decision) => {
                    remit.push((claim.clone(), decision))
                }
                AdjudicateFormat::Ack277ca => remit.push((claim.clone(), decision)),
                _ => {}
            }
            first = false;
        }
        Ok(())
    };
    let intake = read_files(inputs, progress.as_ref(), |set| {
        if engine.pipelined() {
            if let Some((claims, decisions)) =
                engine.commit_behind(std::mem::take(&mut set.claims))?
            {
                emit(&claims, decisions)?;
            }
        } else {
            let decisions = engine.decide(set)?;
            emit(&set.claims, decisions)?;
        }
        Ok(())
    })?;
    if let Some((claims, decisions)) = engine.finish()? {
        emit(&claims, decisions)?;
    }
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    // Control numbers: the store's counter with --db, else from the clock.
    let stamp = |kind: X12Answer| -> Result<x12::Stamp> {
        let mut stamp = super::stamp_now();
        if let Engine::Store { rt, store, .. } = &engine {
            stamp.control_number = rt.block_on(store.next_control_number(kind.counter()))?;
        }
        Ok(stamp)
    };
    let x12_kind = match format {
        AdjudicateFormat::Ack999 => Some(X12Answer::Ack999),
        AdjudicateFormat::Remit835 => Some(X12Answer::Remit835),
        AdjudicateFormat::Ack277ca => Some(X12Answer::Ack277ca),
        AdjudicateFormat::Ta1 => Some(X12Answer::Ta1),
        _ => None,
    };
    match format {
        AdjudicateFormat::Json => {
            out.write_all(b"],\"rejected\":")?;
            serde_json::to_writer(&mut out, &intake.rejected)?;
            out.write_all(b",\"warnings\":")?;
            serde_json::to_writer(&mut out, &intake.warnings)?;
            out.write_all(b"}\n")?;
        }
        AdjudicateFormat::Ndjson => {
            for r in &intake.rejected {
                serde_json::to_writer(&mut out, &serde_json::json!({ "rejected": r }))?;
                out.write_all(b"\n")?;
            }
        }
        AdjudicateFormat::Table => {
            table.rejected(&mut out, &intake.rejected)?;
            table.totals(&mut out)?;
        }
        AdjudicateFormat::Ack999
        | AdjudicateFormat::Remit835
        | AdjudicateFormat::Ack277ca
        | AdjudicateFormat::Ta1 => {
            let kind = x12_kind.unwrap_or(X12Answer::Ack999);
            // Nothing to say (no claim denied in full for an 835): nothing
            // on stdout, why on stderr, the exit code the input earns;
            // said before a control number is used.
            let pairs: Vec<_> = remit.iter().map(|(c, d)| (c, d)).collect();
            match x12::nothing_to_say(kind, &pairs, &intake) {
                Some(nothing) => eprintln!("priorauth: {nothing}"),
                None => {
                    let text = x12::x12_answer(kind, &pairs, &intake, stamp(kind)?, payer)?;
                    out.write_all(text.as_bytes())?;
                }
            }
        }
    }
    out.flush()?;
    if let Engine::Store { rt, store, .. } = &engine {
        rt.block_on(store.close());
    }
    super::report_rejections(&intake);
    Ok(super::exit_code(&intake))
}
