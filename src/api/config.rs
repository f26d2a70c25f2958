//! Service configuration: command-line flags over `PRIORAUTH_…` environment
//! variables over defaults (documented in README and docs/SERVICE.md).

use std::path::PathBuf;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings of `priorauth serve`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (`PRIORAUTH_BIND`, default 127.0.0.1:8080).
    pub bind: String,
    /// Database URL (`DATABASE_URL` or `PRIORAUTH_DATABASE_URL`, default
    /// `sqlite://priorauth.db`).
    pub database_url: String,
    /// Body limit of `POST /v1/claims` in bytes (`PRIORAUTH_BODY_LIMIT`,
    /// default 10 MiB); larger files go to `/v1/batches`.
    pub body_limit: u64,
    /// Body limit of `POST /v1/batches` (`PRIORAUTH_BATCH_LIMIT`, default 4 GiB).
    pub batch_limit: u64,
    /// Where batch files are spooled (`PRIORAUTH_DATA_DIR`, default
    /// `priorauth-data`).
    pub data_dir: PathBuf,
    /// HTTP worker threads (`PRIORAUTH_WORKERS`, default: one per core).
    pub workers: usize,
    /// Database connections (`PRIORAUTH_DB_CONNECTIONS`, default 16).
    pub db_connections: u32,
    /// Claims per batch transaction (`PRIORAUTH_BATCH_CHUNK`, default 5000).
    pub batch_chunk: usize,
    /// Log format (`PRIORAUTH_LOG_FORMAT`: text or json; default text).
    pub log_format: LogFormat,
    /// Log filter (`PRIORAUTH_LOG`, default `info`).
    pub log_filter: String,
    /// The payer named in the 835 and 277CA (`PRIORAUTH_PAYER_…`).
    pub payer: Payer,
    /// Token settings.
    pub access: AccessConfig,
}

/// How tokens are issued and checked (SPEC §5 "Access").
#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// `iss` of the tokens issued here (`PRIORAUTH_ISSUER`, default `priorauth`).
    pub issuer: String,
    /// `aud` they carry (`PRIORAUTH_AUDIENCE`, default `priorauth`).
    pub audience: String,
    /// Access token lifetime in seconds (`PRIORAUTH_TOKEN_TTL`, 1 to 900, default 900).
    pub token_seconds: i64,
    /// Authorization code lifetime in seconds (`PRIORAUTH_CODE_TTL`, 1 to
    /// 60, default 60).
    pub code_seconds: i64,
    /// How long a client or user stays locked out after three failures
    /// within 10 s (`PRIORAUTH_LOCKOUT_SECONDS`, default 60).
    pub lockout_seconds: i64,
    /// A PKCS#8 PEM Ed25519 key to sign with instead of the stored keys
    /// (`PRIORAUTH_SIGNING_KEY_FILE`).
    pub signing_key_file: Option<PathBuf>,
    /// An external OpenID Connect issuer whose tokens are accepted too:
    /// (issuer, audience, JWKS URL) from `PRIORAUTH_OIDC_ISSUER`,
    /// `PRIORAUTH_OIDC_AUDIENCE`, `PRIORAUTH_OIDC_JWKS_URL`.
    pub oidc: Option<(String, String, String)>,
}

impl AccessConfig {
    /// Reads the `PRIORAUTH_…` token settings.
    pub fn from_env() -> anyhow::Result<AccessConfig> {
        let token_seconds = env_number("PRIORAUTH_TOKEN_TTL", 900i64)?;
        if !(1..=crate::access::MAX_TOKEN_SECONDS).contains(&token_seconds) {
            anyhow::bail!("PRIORAUTH_TOKEN_TTL={token_seconds}: tokens live 1 to 900 seconds");
        }
        let code_seconds = env_number("PRIORAUTH_CODE_TTL", 60i64)?;
        if !(1..=60).contains(&code_seconds) {
            anyhow::bail!("PRIORAUTH_CODE_TTL={code_seconds}: codes live 1 to 60 seconds");
        }
        let lockout_seconds = env_number("PRIORAUTH_LOCKOUT_SECONDS", 60i64)?;
        if !(1..=86_400).contains(&lockout_seconds) {
            anyhow::bail!("PRIORAUTH_LOCKOUT_SECONDS={lockout_seconds}: give 1 to 86400");
        }
        let oidc = match (
            env("PRIORAUTH_OIDC_ISSUER"),
            env("PRIORAUTH_OIDC_AUDIENCE"),
            env("PRIORAUTH_OIDC_JWKS_URL"),
        ) {
            (None, None, None) => None,
            (Some(i), Some(a), Some(j)) => {
                let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                    .iter()
                    .any(|h| j.starts_with(h));
                if !j.starts_with("https://") && !loopback {
                    anyhow::bail!(
                        "PRIORAUTH_OIDC_JWKS_URL={j:?}: the provider's keys must come over https (plain http only from this machine)"
                    );
                }
                Some((i, a, j))
            }
            _ => anyhow::bail!(
                "an external OIDC issuer needs all of PRIORAUTH_OIDC_ISSUER, PRIORAUTH_OIDC_AUDIENCE and PRIORAUTH_OIDC_JWKS_URL"
            ),
        };
        Ok(AccessConfig {
            issuer: env("PRIORAUTH_ISSUER").unwrap_or_else(|| "priorauth".into()),
            audience: env("PRIORAUTH_AUDIENCE").unwrap_or_else(|| "priorauth".into()),
            token_seconds,
            code_seconds,
            lockout_seconds,
            signing_key_file: env("PRIORAUTH_SIGNING_KEY_FILE").map(PathBuf::from),
            oidc,
        })
    }
}

/// The payer as the 835 (N1*PR, TRN03, PER) and the 277CA (NM1*PR) name
/// it. Defaults: the plan of the bundled rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payer {
    /// `PRIORAUTH_PAYER_NAME` (default `HEALTH ALLIANCE PLAN`).
    pub name: String,
    /// `PRIORAUTH_PAYER_ID`, the payer id in the 277CA (default `HAP01`).
    pub id: String,
    /// `PRIORAUTH_PAYER_TIN`, 9 digits (TRN03 is `1` + this).
    pub tin: String,
    /// `PRIORAUTH_PAYER_ADDRESS` as `street|city|state|zip`.
    pub address: (String, String, String, String),
    /// `PRIORAUTH_PAYER_PHONE`, the EDI contact (PER*BL).
    pub phone: String,
}

impl Payer {
    /// From `PRIORAUTH_PAYER_…`, each falling back to its default.
    pub fn from_env() -> anyhow::Result<Payer> {
        let d = crate::x12::RemitConfig::default();
        let tin = env("PRIORAUTH_PAYER_TIN").unwrap_or(d.payer_tin);
        if tin.len() != 9 || !tin.bytes().all(|b| b.is_ascii_digit()) {
            anyhow::bail!("PRIORAUTH_PAYER_TIN={tin:?} must be 9 digits");
        }
        let address = match env("PRIORAUTH_PAYER_ADDRESS") {
            None => d.payer_address,
            Some(a) => match a.split('|').map(str::trim).collect::<Vec<_>>().as_slice() {
                &[street, city, state, zip] if state.len() == 2 => (
                    street.to_string(),
                    city.to_string(),
                    state.to_string(),
                    zip.to_string(),
                ),
                _ => anyhow::bail!(
                    "PRIORAUTH_PAYER_ADDRESS={a:?}: write street|city|ST|zip (a two-letter state)"
                ),
            },
        };
        Ok(Payer {
            name: env("PRIORAUTH_PAYER_NAME").unwrap_or(d.payer_name),
            id: env("PRIORAUTH_PAYER_ID").unwrap_or_else(|| "HAP01".into()),
            tin,
            address,
            phone: env("PRIORAUTH_PAYER_PHONE").unwrap_or(d.payer_phone),
        })
    }

    /// The 835's settings for this payer.
    pub fn remit(
        &self,
        created: chrono::NaiveDateTime,
        control_number: u32,
        test: bool,
    ) -> crate::x12::RemitConfig {
        crate::x12::RemitConfig {
            payer_name: self.name.clone(),
            payer_tin: self.tin.clone(),
            payer_address: self.address.clone(),
            payer_phone: self.phone.clone(),
            created,
            control_number,
            test,
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match env(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a number")),
    }
}

impl Config {
    /// Reads the environment; `bind` and `database` are the command-line
    /// flags, which win.
    pub fn from_env(bind: Option<String>, database: Option<String>) -> anyhow::Result<Config> {
        let log_format = match env("PRIORAUTH_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => anyhow::bail!("PRIORAUTH_LOG_FORMAT={other:?}: use text or json"),
        };
        let workers = env_number(
            "PRIORAUTH_WORKERS",
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )?;
        Ok(Config {
            bind: bind
                .or_else(|| env("PRIORAUTH_BIND"))
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            database_url: database
                .or_else(|| env("DATABASE_URL"))
                .or_else(|| env("PRIORAUTH_DATABASE_URL"))
                .unwrap_or_else(|| "sqlite://priorauth.db".into()),
            body_limit: env_number("PRIORAUTH_BODY_LIMIT", 10 * 1024 * 1024)?,
            batch_limit: env_number("PRIORAUTH_BATCH_LIMIT", 4 * 1024 * 1024 * 1024)?,
            // Absolute: batches record where their file is, and a restart
            // from another folder must still find it.
            data_dir: std::path::absolute(
                env("PRIORAUTH_DATA_DIR")
                    .map_or_else(|| PathBuf::from("priorauth-data"), PathBuf::from),
            )?,
            workers: workers.max(1),
            db_connections: env_number("PRIORAUTH_DB_CONNECTIONS", 16)?,
            batch_chunk: env_number("PRIORAUTH_BATCH_CHUNK", 5000usize)?.max(1),
            log_format,
            log_filter: {
                let f = env("PRIORAUTH_LOG").unwrap_or_else(|| "info".into());
                tracing_subscriber::EnvFilter::try_new(&f)
                    .map_err(|e| anyhow::anyhow!("PRIORAUTH_LOG={f:?} is not a log filter: {e}"))?;
                f
            },
            payer: Payer::from_env()?,
            access: AccessConfig::from_env()?,
        })
    }
}

/// Installs the tracing subscriber the configuration asks for. Log lines
/// carry routes, statuses, counts and ids, never claim contents.
pub fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
