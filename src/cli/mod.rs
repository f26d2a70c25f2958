//! The command line: `parse`, `adjudicate`, `rules`, `codes`, `serve`,
//! `import`, `goldcard`, `replay`, `explain`, `clients`, `users` and `keys`. The only room that
//! opens files by path and reads the clock for offline answers; nothing
//! imports it.
//!
//! Exit codes (SPEC §5): 0 every transaction set accepted, 1 some sets
//! rejected (the rest still processed), 2 usage or configuration error.
//! A closed pipe on stdout counts as success.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser as ClapParser, Subcommand, ValueEnum};

use crate::config::{DatabaseArgs, PayerArgs, ServeArgs};
use crate::x12::{self, Input, Intake, Stamp, X12Answer};

mod adjudicate;
mod auths;
mod goldcard;
mod lookup;
mod replay;
mod store_commands;
mod table;

/// Payer-side prior-authorization validation of X12 837 claims.
#[derive(Debug, ClapParser)]
#[command(name = "priorauth", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ask the rule set: list it, validate a file, or check one service.
    Rules {
        /// Rule set (TOML); the bundled Section 5.1 set by default. With
        /// --database it overrides the store's active set for this run.
        #[arg(long, global = true)]
        rules: Option<PathBuf>,
        /// Answer from the store's active rule set (sqlite://FILE or
        /// postgres://…), as the service does (SPEC §3.4).
        #[arg(long, global = true)]
        database: Option<String>,
        #[command(subcommand)]
        action: RulesAction,
    },
    /// Look up a CARC or RARC code.
    Codes {
        /// `carc` or `rarc`.
        list: String,
        /// The code, e.g. 197 or M62.
        code: String,
    },
    /// Parse 837 files and print the claim model as JSON (or a 999, a TA1, or counts).
    Parse {
        /// Output: the claim model as JSON, the 999 acknowledgment, or the
        /// TA1 of interchange envelope faults (or of an ISA14 `1` request).
        #[arg(long, value_enum, default_value_t = ParseFormat::Json)]
        format: ParseFormat,
        /// Print only counts (interchanges, transaction sets, claims, lines, bytes).
        #[arg(long)]
        summary: bool,
        /// 837 files (`-` for standard input).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Adjudicate 837 files offline against a rule set and authorizations.
    Adjudicate {
        /// Rule set (TOML, SPEC §2.2); the bundled Section 5.1 set by default.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Authorizations (CSV, SPEC §2.3). Without it (and without --db) no
        /// authorization is on file. With --db it is imported into the store first.
        #[arg(long)]
        auths: Option<PathBuf>,
        /// Gold-card exemptions (CSV, SPEC §3.5). With --db they are
        /// imported into the store first; the store's exemptions apply too.
        #[arg(long)]
        exemptions: Option<PathBuf>,
        /// Network directory (CSV `npi,network_start,network_end`, SPEC
        /// §2.4): `network = "out"` rules apply to billing providers out of
        /// network on the service date. Without it (and without a directory
        /// in the --db store) every provider is in network. With --db it
        /// replaces the store's directory first.
        #[arg(long)]
        network: Option<PathBuf>,
        /// Adjudicate against the service's store (sqlite://FILE, created if
        /// needed, or postgres://…): its authorizations and claim history.
        /// Nothing is consumed or stored unless --commit is given.
        /// `--database` works too, as on every other command.
        #[arg(long, visible_alias = "database")]
        db: Option<String>,
        /// With --db: store the decisions and consume units, as the service would.
        #[arg(long, requires = "db")]
        commit: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = AdjudicateFormat::Json)]
        format: AdjudicateFormat,
        #[command(flatten)]
        payer: PayerArgs,
        /// 837 files (`-` for standard input).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the HTTP API (SPEC §5) over the store.
    Serve(Box<ServeArgs>),
    /// Load authorizations, exemptions or the network directory (CSV), or a
    /// rule set (TOML), into the store.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// The store's authorizations: `auths list`.
    Auths {
        #[command(subcommand)]
        action: AuthsAction,
    },
    /// Register provider billing systems and the staff console (OAuth clients).
    Clients {
        #[command(subcommand)]
        action: ClientsAction,
    },
    /// Register payer staff who sign in to the console.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Token signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Gold-card exemptions (SPEC §3.5): compute them from authorization
    /// history, list or revoke them.
    Goldcard {
        #[command(subcommand)]
        action: goldcard::GoldcardAction,
    },
    /// What a candidate rule set would decide on the stored claims: each
    /// live claim received in the window decided again under it and under
    /// the set in force, in the order received, with the authorizations as
    /// they are now; the lines whose decision changes, per transition, rule
    /// and provider. Nothing is consumed or stored.
    Replay(replay::ReplayArgs),
    /// Show one stored claim: its decisions and the reason for each line.
    Explain {
        /// The payer claim id the submission answered with.
        #[arg(required_unless_present = "claim_id", conflicts_with_all = ["npi", "claim_id"])]
        payer_claim_id: Option<String>,
        /// Billing NPI of the claim (with --claim-id): the latest claim
        /// under that NPI and CLM01, the one in force first.
        #[arg(long, requires = "claim_id")]
        npi: Option<String>,
        /// CLM01, the patient control number (with --npi).
        #[arg(long, requires = "npi")]
        claim_id: Option<String>,
        /// text (default): the reasons, line by line; json: the stored claim.
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsAction {
    /// Register a client; its secret is shown once (stored only as a hash).
    Add {
        /// A name a person recognises ("Riverside Imaging billing").
        #[arg(long)]
        name: String,
        /// Billing NPIs it submits for (a billing system sees only these).
        #[arg(long = "npi", alias = "npis", num_args = 1..)]
        npis: Vec<String>,
        /// Scopes: claims:submit, claims:read, rules:write, auths:write, admin.
        #[arg(long = "scope", alias = "scopes", num_args = 1.., required = true)]
        scopes: Vec<String>,
        /// Exact redirect URIs (the staff console's authorization-code grant).
        #[arg(long = "redirect-uri", aliases = ["redirect-uris", "redirect_uri"], num_args = 1..)]
        redirect_uris: Vec<String>,
        /// A public client (browser console): no secret, PKCE only.
        #[arg(long)]
        public: bool,
        /// A payer-side intake that submits claims of any billing NPI (a
        /// clearinghouse gateway); it also reads every claim its scopes allow.
        #[arg(long)]
        any_npi: bool,
        /// Print `{"client_id": …, "client_secret": …}`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Every client, one JSON object per line (no secrets).
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
enum UsersAction {
    /// Add a staff member; a generated password is shown once.
    Add {
        /// Sign-in name.
        #[arg(long, alias = "name")]
        username: String,
        /// Roles: the scopes the user may be given (claims:read, rules:write,
        /// auths:write, claims:submit, admin).
        #[arg(long = "role", aliases = ["roles", "scope"], num_args = 1.., required = true)]
        roles: Vec<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
        /// The password itself (visible to other local users in the process
        /// list: prefer --password-stdin or a generated one).
        #[arg(long)]
        password: Option<String>,
        /// Print `{"user_id": …, "username": …, "password": …}`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Every user, one JSON object per line.
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Make a new signing key; running services sign with it within 2 s,
    /// and tokens signed with the old keys stay valid until they expire.
    Rotate {
        /// Delete the old keys: tokens they signed stop verifying at once
        /// (after a key leak). Without it they verify for 15 more minutes.
        #[arg(long)]
        retire_old: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AuthsAction {
    /// Authorizations on file, filtered (every filter given must match).
    List(auths::ListArgs),
}

#[derive(Debug, Subcommand)]
enum ImportWhat {
    /// Authorizations (SPEC §2.3 CSV, or X12 278 responses, told apart by
    /// content), all or nothing; known numbers are replaced.
    Auths {
        /// The CSV or X12 278 file.
        file: PathBuf,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Gold-card exemptions (CSV `provider_npi,rule_id,start_date,end_date`),
    /// all or nothing; rule ids are checked against the rule set in force.
    Exemptions {
        /// The CSV file.
        file: PathBuf,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// The network directory (CSV `npi,network_start,network_end`, SPEC
    /// §2.4), all or nothing: it replaces the stored directory as a whole.
    Network {
        /// The CSV file.
        file: PathBuf,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// A rule set (TOML): validated, stored, and in force from then on.
    Rules {
        /// The TOML file.
        file: PathBuf,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
enum RulesAction {
    /// Every rule in file order, one JSON object per line.
    List,
    /// Load a rule file and report every problem (exit 2) or that it is valid.
    Validate {
        /// The rule file.
        file: PathBuf,
    },
    /// Does this service need prior authorization? Prints the first matching rule.
    Check(crate::rules::query::CheckQuery),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AdjudicateFormat {
    Json,
    Ndjson,
    Table,
    #[value(name = "999")]
    Ack999,
    #[value(name = "835")]
    Remit835,
    #[value(name = "277ca")]
    Ack277ca,
    #[value(name = "ta1")]
    Ta1,
}

/// How `explain` prints a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExplainFormat {
    /// The reasons, line by line.
    Text,
    /// The stored claim as `GET /v1/claims/{payer_claim_id}` answers it.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ParseFormat {
    Json,
    #[value(name = "999")]
    Ack999,
    #[value(name = "ta1")]
    Ta1,
}

/// Exit code: every set accepted.
pub const EXIT_OK: i32 = 0;
/// Exit code: some transaction sets rejected.
pub const EXIT_REJECTED: i32 = 1;
/// Exit code: usage or configuration error.
pub const EXIT_USAGE: i32 = 2;

/// Runs the CLI with the process arguments and returns the exit code.
pub fn main() -> i32 {
    crate::config::forget_empty_settings();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => EXIT_OK,
        Err(e) => {
            eprintln!("priorauth: error: {e:#}");
            EXIT_USAGE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Parse {
            format,
            summary,
            files,
        } => parse_command(&files, format, summary),
        Command::Rules {
            rules,
            database,
            action,
        } => match action {
            RulesAction::List => lookup::list(rules.as_deref(), database.as_deref()),
            RulesAction::Validate { file } => lookup::validate(&file),
            RulesAction::Check(query) => {
                lookup::check(rules.as_deref(), database.as_deref(), &query)
            }
        },
        Command::Codes { list, code } => lookup::code(&list, &code),
        Command::Serve(args) => {
            let config = args.config()?;
            crate::telemetry::init(&config);
            crate::startup::serve(config)?;
            Ok(EXIT_OK)
        }
        Command::Import { what } => store_commands::import(what),
        Command::Auths {
            action: AuthsAction::List(args),
        } => auths::list(args),
        Command::Goldcard { action } => goldcard::run(action),
        Command::Replay(args) => replay::run(args),
        Command::Clients { action } => store_commands::clients(action),
        Command::Users { action } => store_commands::users(action),
        Command::Keys { action } => store_commands::keys(action),
        Command::Explain {
            payer_claim_id,
            npi,
            claim_id,
            format,
            db,
        } => {
            let which = match (payer_claim_id, npi, claim_id) {
                (Some(id), _, _) => store_commands::Which::PayerClaimId(id),
                (None, Some(npi), Some(id)) => store_commands::Which::Key(npi, id),
                _ => anyhow::bail!("give a payer claim id, or --npi and --claim-id"),
            };
            store_commands::explain(which, format, db)
        }
        Command::Adjudicate {
            rules,
            auths,
            exemptions,
            network,
            db,
            commit,
            format,
            payer,
            files,
        } => adjudicate::run(
            adjudicate::Sources {
                rules: rules.as_deref(),
                auths: auths.as_deref(),
                exemptions: exemptions.as_deref(),
                network: network.as_deref(),
                db: db.as_deref(),
                commit,
            },
            format,
            &payer.payer(),
            &files,
        ),
    }
}

/// Opens every input (a file, or standard input for `-`) before anything is
/// written, so a missing file never leaves half a JSON document behind.
pub fn open_inputs(files: &[PathBuf]) -> Result<Vec<Input>> {
    files
        .iter()
        .map(|path| {
            let reader: Box<dyn Read> = if path.as_os_str() == "-" {
                Box::new(io::stdin().lock())
            } else {
                Box::new(
                    File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
                )
            };
            Ok(Input {
                name: path.display().to_string(),
                reader,
            })
        })
        .collect()
}

/// The exit code an intake earns.
pub fn exit_code(intake: &Intake) -> i32 {
    if intake.all_accepted() {
        EXIT_OK
    } else {
        EXIT_REJECTED
    }
}

/// Reads every input, calling `on_set` for each accepted set, with a
/// progress bar advanced by bytes read when one is shown.
pub fn read_files(
    inputs: Vec<Input>,
    progress: Option<&indicatif::ProgressBar>,
    on_set: impl FnMut(&mut x12::TransactionSet) -> Result<()>,
) -> Result<Intake> {
    x12::read_inputs(
        inputs,
        |done| {
            if let Some(p) = progress {
                p.set_position(done);
            }
        },
        on_set,
    )
}

/// One line on stderr when sets were rejected, so a batch job that sends
/// stdout to a file still sees why it exited 1.
pub fn report_rejections(intake: &Intake) {
    if !intake.rejected.is_empty() {
        let sets = intake
            .rejected
            .iter()
            .filter(|r| r.control_number.is_some())
            .count();
        let other = intake.rejected.len() - sets;
        eprintln!(
            "priorauth: {sets} transaction set{} rejected{}; see \"rejected\" in the output (or --format 999)",
            if sets == 1 { "" } else { "s" },
            if other > 0 { format!(", {other} unreadable stretch{}", if other == 1 { "" } else { "es" }) } else { String::new() }
        );
    }
}

/// When an X12 answer is written now, and a control number that increases
/// between runs without a store.
#[allow(clippy::disallowed_methods)] // the CLI is the edge that reads the clock
pub fn stamp_now() -> Stamp {
    let now = chrono::Utc::now().naive_utc();
    Stamp {
        created: now,
        control_number: u32::try_from(now.and_utc().timestamp().rem_euclid(1_000_000_000))
            .unwrap_or(1),
    }
}

fn parse_command(files: &[PathBuf], format: ParseFormat, summary: bool) -> Result<i32> {
    let inputs = open_inputs(files)?;
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    if summary {
        let intake = read_files(inputs, None, |_| Ok(()))?;
        serde_json::to_writer(&mut out, &intake.summary)?;
        writeln!(out)?;
        out.flush()?;
        report_rejections(&intake);
        return Ok(exit_code(&intake));
    }
    let kind = match format {
        ParseFormat::Json => None,
        ParseFormat::Ack999 => Some(X12Answer::Ack999),
        ParseFormat::Ta1 => Some(X12Answer::Ta1),
    };
    if let Some(kind) = kind {
        let intake = read_files(inputs, None, |_| Ok(()))?;
        // Nothing to say: nothing on stdout, why on stderr.
        match x12::x12_answer(kind, &[], &intake, stamp_now(), &x12::Payer::default()) {
            Ok(ack) => out.write_all(ack.as_bytes())?,
            Err(nothing) => eprintln!("priorauth: {nothing}"),
        }
        out.flush()?;
        report_rejections(&intake);
        return Ok(exit_code(&intake));
    }
    // Stream claims out as sets complete: memory stays flat for any file size.
    out.write_all(b"{\"claims\":[")?;
    let mut first = true;
    let intake = read_files(inputs, None, |set| {
        for claim in &set.claims {
            if !first {
                out.write_all(b",")?;
            }
            first = false;
            serde_json::to_writer(&mut out, claim)?;
        }
        Ok(())
    })?;
    out.write_all(b"],\"rejected\":")?;
    serde_json::to_writer(&mut out, &intake.rejected)?;
    out.write_all(b",\"warnings\":")?;
    serde_json::to_writer(&mut out, &intake.warnings)?;
    out.write_all(b"}\n")?;
    out.flush()?;
    report_rejections(&intake);
    Ok(exit_code(&intake))
}
