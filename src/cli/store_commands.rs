//! Commands that work on the service's store without the service:
//! `import auths|exemptions|network|rules`, `explain`, `clients`, `users` and `keys`.

use anyhow::{bail, Context, Result};

use super::{
    ClientsAction, DatabaseArgs, ImportWhat, KeysAction, UsersAction, EXIT_OK, EXIT_REJECTED,
};
use crate::access::{ClientSpec, Keys, UserSpec};
use crate::authorizations::{is_x12, read_x278, x278_answer};
use crate::model::ClaimDecision;
use crate::rules::RuleSet;
use crate::store::{AuditEntry, Store};

fn url(db: DatabaseArgs) -> Result<String> {
    Ok(db.url())
}

/// The store, opened for one command on a runtime of its own (and closed
/// when the command is done with it).
pub(super) struct StoreSession {
    rt: tokio::runtime::Runtime,
    /// The store.
    pub store: Store,
}

impl StoreSession {
    /// Opens (creating an SQLite file when needed) and migrates the store.
    pub fn open(url: &str) -> Result<StoreSession> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let store = rt.block_on(Store::open(url, 2))?;
        Ok(StoreSession { rt, store })
    }

    /// The session's runtime.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// Runs one store call to its end.
    pub fn run<T, E: Into<anyhow::Error>>(
        &self,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T> {
        self.rt.block_on(f).map_err(Into::into)
    }

    /// Records that this command imports `auths` (their numbers).
    pub fn audit_import(&self, auths: &[crate::authorizations::Authorization]) -> Result<()> {
        let numbers: Vec<&str> = auths.iter().map(|a| a.number.as_str()).collect();
        let entry = cli_audit("authorization.import", "authorization", &numbers.join(" "));
        self.run(self.store.audit(&entry))
    }
}

impl Drop for StoreSession {
    fn drop(&mut self) {
        self.rt.block_on(self.store.close());
    }
}

/// `import auths FILE` / `import rules FILE`.
pub(super) fn import(what: ImportWhat) -> Result<i32> {
    match what {
        ImportWhat::Auths { file, db } => {
            let mut head = Vec::with_capacity(4096);
            {
                use std::io::Read as _;
                std::fs::File::open(&file)
                    .and_then(|f| f.take(4096).read_to_end(&mut head))
                    .with_context(|| format!("cannot read {}", file.display()))?;
            }
            if is_x12(&head) {
                let data = std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                return import_x278(&file, &data, db);
            }
            import_csv_streamed(&file, db)
        }
        ImportWhat::Exemptions { file, db } => super::goldcard::import(&file, db),
        ImportWhat::Network { file, db } => {
            // Read and checked before the store is opened: a bad file
            // changes nothing (SPEC §2.4, all or nothing).
            let rows = super::adjudicate::load_network(Some(&file))?;
            let s = StoreSession::open(&url(db)?)?;
            let who = cli_audit("network.import", "network", "");
            let done = s.run(s.store.replace_network(&rows, Some(&who)))?;
            println!("{}", serde_json::to_string(&done)?);
            Ok(EXIT_OK)
        }
        ImportWhat::Rules { file, db } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let set = RuleSet::from_toml(&text)
                .with_context(|| format!("rule file {}", file.display()))?;
            let s = StoreSession::open(&url(db)?)?;
            s.run(
                s.store
                    .audit(&cli_audit("rules.replace", "rule_set", &set.version)),
            )?;
            s.run(s.store.activate_rules(&set.version, &text))?;
            println!(
                "{}",
                serde_json::json!({"version": set.version, "rules": set.rules.len()})
            );
            Ok(EXIT_OK)
        }
    }
}

/// `import auths FILE.csv`, streamed: read, checked and written a batch
/// at a time in one transaction, committed only when every row was good
/// (all or nothing), so a file of millions of rows is imported in bounded
/// memory. A thread of its own reads and checks the next batch while the
/// store writes the one before (two batches at most are in memory). The
/// audit log gets one entry per batch (its numbers), in the same
/// transaction.
fn import_csv_streamed(file: &std::path::Path, db: DatabaseArgs) -> Result<i32> {
    let what = || format!("authorization file {}", file.display());
    let f = std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut rows =
        crate::authorizations::AuthCsv::open(std::io::BufReader::with_capacity(1 << 20, f))
            .with_context(what)?;
    let s = StoreSession::open(&url(db)?)?;
    let mut import = s.run(s.store.begin_auth_import())?;
    let (send, batches) = std::sync::mpsc::sync_channel(1);
    let reader = std::thread::spawn(move || {
        loop {
            let batch = rows.next_batch(crate::store::IMPORT_BATCH);
            if batch.is_empty() {
                break;
            }
            // Bad rows: keep reading to name them all, hand on nothing more.
            if rows.clean() && send.send(batch).is_err() {
                break;
            }
        }
        rows
    });
    let mut imported = 0u64;
    let written = (|| -> Result<()> {
        for batch in &batches {
            let numbers: Vec<&str> = batch.iter().map(|a| a.number.as_str()).collect();
            let entry = cli_audit("authorization.import", "authorization", &numbers.join(" "));
            s.run(import.audit(&entry))?;
            s.run(import.add(&batch))?;
            imported += batch.len() as u64;
        }
        Ok(())
    })();
    // A store error stops the reader at its next batch.
    drop(batches);
    let rows = reader
        .join()
        .map_err(|_| anyhow::anyhow!("{}: the reader failed", what()))?;
    written?;
    rows.finish().with_context(what)?;
    let done = s.run(import.commit_counted())?;
    println!(
        "{}",
        serde_json::json!({"imported": imported, "added": done.added, "replaced": done.replaced, "readjudicated": done.readjudicated})
    );
    Ok(EXIT_OK)
}

/// `import auths FILE` of an X12 278: its responses' decisions, all or
/// nothing; a file of requests only is refused (exit 2), one with rejected
/// sets imports the others and exits 1.
fn import_x278(file: &std::path::Path, data: &[u8], db: DatabaseArgs) -> Result<i32> {
    let out = read_x278(data);
    if let Some(why) = out.refusal() {
        bail!("authorization file {}: not imported: {why}", file.display());
    }
    let s = StoreSession::open(&url(db)?)?;
    s.audit_import(&out.authorizations)?;
    let done = s.run(s.store.import_authorizations_counted(&out.authorizations))?;
    let mut answer = x278_answer(&out, done.added, done.replaced);
    if let Some(m) = answer.as_object_mut() {
        m.insert("readjudicated".into(), done.readjudicated.into());
    }
    println!("{answer}");
    Ok(if out.rejected.is_empty() {
        EXIT_OK
    } else {
        EXIT_REJECTED
    })
}

/// `explain PAYER_CLAIM_ID`: the stored claim, one line per service line.
/// Which stored claim `explain` shows.
pub(super) enum Which {
    /// By its payer claim id.
    PayerClaimId(String),
    /// By billing NPI and CLM01: the latest claim in force, else the latest.
    Key(String, String),
}

pub(super) fn explain(which: Which, format: super::ExplainFormat, db: DatabaseArgs) -> Result<i32> {
    let url = url(db)?;
    // Explaining never creates a store: a missing SQLite file is an error.
    if let Some(path) = url.strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or(path);
        if !std::path::Path::new(file).exists() {
            bail!("no store at {file} (give --database or DATABASE_URL)");
        }
    }
    let s = StoreSession::open(&url)?;
    let claim = match &which {
        Which::PayerClaimId(id) => s.run(s.store.claim(id))?,
        Which::Key(npi, id) => {
            let mut all = s.run(s.store.claims_by_key(npi, id))?;
            // Oldest first: the last in force, else the last received.
            let at = all
                .iter()
                .rposition(|c| c.current)
                .or(all.len().checked_sub(1));
            at.map(|i| all.swap_remove(i))
        }
    };
    if let Some(c) = &claim {
        // A read through the CLI is audited like one through the API.
        s.run(
            s.store
                .audit(&cli_audit("claim.read", "claim", &c.payer_claim_id)),
        )?;
    }
    drop(s);
    let Some(c) = claim else {
        match which {
            Which::PayerClaimId(id) => bail!("no stored claim {id}"),
            Which::Key(npi, id) => bail!("no stored claim {id} from billing NPI {npi}"),
        }
    };
    if format == super::ExplainFormat::Json {
        println!("{}", serde_json::to_string(&c)?);
        return Ok(EXIT_OK);
    }
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
    // Decided again when an authorization was (issue 18): when and why,
    // and each earlier decision, oldest first.
    if let (Some(at), Some(why)) = (&c.changed_at, &c.changed_because) {
        println!("  {why} ({at})");
    }
    for h in &c.history {
        println!(
            "  earlier: {} under rule set {}, decided {}, replaced {}: {}",
            h.status, h.rule_set, h.decided_at, h.replaced_at, h.replaced_because
        );
    }
    Ok(EXIT_OK)
}

/// An audit record for a command run on this machine.
pub(super) fn cli_audit(action: &str, object_type: &str, object_id: &str) -> AuditEntry {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    AuditEntry {
        id: 0,
        at: String::new(),
        actor: format!("cli:{user}"),
        client_id: "cli".into(),
        action: action.into(),
        object_type: object_type.into(),
        object_id: object_id.into(),
        remote_addr: "local".into(),
    }
}

/// `--npi A B`, `--npi A,B` and `--npi "A B"` all mean A and B.
fn split_words(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split([',', ' ']))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// `clients add|list`.
pub(super) fn clients(action: ClientsAction) -> Result<i32> {
    match action {
        ClientsAction::Add {
            name,
            npis,
            scopes,
            redirect_uris,
            public,
            any_npi,
            json,
            db,
        } => {
            let spec = ClientSpec {
                name,
                npis: split_words(&npis),
                scopes: split_words(&scopes),
                redirect_uris: split_words(&redirect_uris),
                public,
                any_npi,
            };
            let (record, secret) = spec
                .register()
                .map_err(|e| anyhow::anyhow!("client not registered: {e}"))?;
            let s = StoreSession::open(&url(db)?)?;
            s.run(
                s.store
                    .audit(&cli_audit("client.create", "client", &record.id)),
            )?;
            s.run(s.store.add_client(&record))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"client_id": record.id, "client_secret": secret})
                );
            } else {
                println!("client_id:     {}", record.id);
                match secret {
                    Some(s) => {
                        println!("client_secret: {s}");
                        println!("(the secret is shown this once; only its hash is stored)");
                    }
                    None => println!("public client: no secret; it signs staff in with PKCE"),
                }
            }
            Ok(EXIT_OK)
        }
        ClientsAction::List { db } => {
            let s = StoreSession::open(&url(db)?)?;
            for c in s.run(s.store.clients())? {
                println!("{}", serde_json::to_string(&c)?);
            }
            Ok(EXIT_OK)
        }
    }
}

/// `users add|list`.
pub(super) fn users(action: UsersAction) -> Result<i32> {
    match action {
        UsersAction::Add {
            username,
            roles,
            password_stdin,
            password,
            json,
            db,
        } => {
            let password = if let Some(p) = password {
                Some(p)
            } else if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let spec = UserSpec {
                username,
                roles: split_words(&roles),
                password,
            };
            let (record, generated) = spec
                .register()
                .map_err(|e| anyhow::anyhow!("user not added: {e}"))?;
            let s = StoreSession::open(&url(db)?)?;
            s.run(s.store.audit(&cli_audit("user.create", "user", &record.id)))?;
            s.run(s.store.add_user(&record))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"user_id": record.id, "username": record.username, "password": generated})
                );
            } else {
                println!("user_id:  {}", record.id);
                println!("username: {}", record.username);
                if let Some(p) = generated {
                    println!("password: {p}");
                    println!("(the password is shown this once; only its hash is stored)");
                }
            }
            Ok(EXIT_OK)
        }
        UsersAction::List { db } => {
            let s = StoreSession::open(&url(db)?)?;
            for u in s.run(s.store.users())? {
                println!("{}", serde_json::to_string(&u)?);
            }
            Ok(EXIT_OK)
        }
    }
}

/// `keys rotate`.
pub(super) fn keys(action: KeysAction) -> Result<i32> {
    match action {
        KeysAction::Rotate { retire_old, db } => {
            let key = Keys::generate()?;
            let s = StoreSession::open(&url(db)?)?;
            s.run(
                s.store
                    .audit(&cli_audit("key.rotate", "signing_key", &key.kid)),
            )?;
            s.run(s.store.add_signing_key(&key))?;
            let retired = if retire_old {
                s.run(s.store.retire_signing_keys_except(&key.kid))?
            } else {
                0
            };
            println!(
                "{}",
                serde_json::json!({"kid": key.kid, "retired": retired})
            );
            Ok(EXIT_OK)
        }
    }
}
