//! Settings: command-line flags over `PRIORAUTH_…` environment variables
//! over defaults, read by clap (documented in README and docs/SERVICE.md).
//! Values are checked here, once, and a bad one names its variable. The
//! database URL may hold a password: it is never printed (see `Debug`).

use std::path::PathBuf;

use clap::Args;

use crate::access::MAX_TOKEN_SECONDS;
use crate::x12::Payer;

/// Unsets every empty `PRIORAUTH_…` and `DATABASE_URL` variable: an empty
/// setting means "the default", as it does in most deployment tools, while
/// clap would read it as an empty value. Call before parsing, while the
/// process has one thread.
pub fn forget_empty_settings() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(k, v)| {
            let k = k.to_string_lossy();
            (k.starts_with("PRIORAUTH_") || k == "DATABASE_URL")
                && v.to_string_lossy().trim().is_empty()
        })
        .map(|(k, _)| k)
        .collect();
    for k in empty {
        std::env::remove_var(k);
    }
}

/// Where the service keeps its data (`serve`, `import`, `explain`, …).
#[derive(Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://FILE (created on first use) or postgres://…;
    /// default DATABASE_URL, else PRIORAUTH_DATABASE_URL, else
    /// sqlite://priorauth.db.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// The second name the URL is read from.
    #[arg(
        long = "priorauth-database-url",
        hide = true,
        env = "PRIORAUTH_DATABASE_URL",
        hide_env_values = true
    )]
    pub fallback: Option<String>,
}

impl DatabaseArgs {
    /// The URL to open.
    pub fn url(&self) -> String {
        self.database
            .clone()
            .or_else(|| self.fallback.clone())
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "sqlite://priorauth.db".into())
    }
}

impl std::fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::store::redact(&self.url()))
    }
}

/// The payer named in the 835 (N1*PR, TRN03, PER) and the 277CA (NM1*PR).
/// Defaults: the plan of the bundled rule set.
#[derive(Debug, Clone, Args)]
pub struct PayerArgs {
    /// Payer name.
    #[arg(
        long,
        env = "PRIORAUTH_PAYER_NAME",
        default_value = "HEALTH ALLIANCE PLAN"
    )]
    pub payer_name: String,
    /// Payer id in the 277CA.
    #[arg(long, env = "PRIORAUTH_PAYER_ID", default_value = "HAP01")]
    pub payer_id: String,
    /// Payer tax id, 9 digits (TRN03 is `1` + this).
    #[arg(long, env = "PRIORAUTH_PAYER_TIN", default_value = "381234567", value_parser = tin)]
    pub payer_tin: String,
    /// Payer address as street|city|ST|zip.
    #[arg(long, env = "PRIORAUTH_PAYER_ADDRESS", value_parser = address)]
    pub payer_address: Option<(String, String, String, String)>,
    /// EDI contact phone (PER*BL).
    #[arg(long, env = "PRIORAUTH_PAYER_PHONE", default_value = "3135550100")]
    pub payer_phone: String,
}

impl PayerArgs {
    /// The payer these settings name.
    pub fn payer(&self) -> Payer {
        let d = Payer::default();
        Payer {
            name: self.payer_name.clone(),
            id: self.payer_id.clone(),
            tin: self.payer_tin.clone(),
            address: self.payer_address.clone().unwrap_or(d.address),
            phone: self.payer_phone.clone(),
        }
    }
}

fn tin(v: &str) -> Result<String, String> {
    if v.len() == 9 && v.bytes().all(|b| b.is_ascii_digit()) {
        Ok(v.to_string())
    } else {
        Err(format!("PRIORAUTH_PAYER_TIN={v:?} must be 9 digits"))
    }
}

fn address(a: &str) -> Result<(String, String, String, String), String> {
    match a.split('|').map(str::trim).collect::<Vec<_>>().as_slice() {
        &[street, city, state, zip] if state.len() == 2 => Ok((
            street.to_string(),
            city.to_string(),
            state.to_string(),
            zip.to_string(),
        )),
        _ => Err(format!(
            "PRIORAUTH_PAYER_ADDRESS={a:?}: write street|city|ST|zip (a two-letter state)"
        )),
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A number within `lo..=hi`, or an error naming the variable.
fn within(
    name: &'static str,
    lo: i64,
    hi: i64,
    why: &'static str,
) -> impl Fn(&str) -> Result<i64, String> + Clone {
    move |v: &str| match v.trim().parse::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{name}={n}: {why}")),
        Err(_) => Err(format!("{name}={v:?} is not a number")),
    }
}

/// A whole number, or an error naming the variable.
fn number<T: std::str::FromStr>(name: &'static str) -> impl Fn(&str) -> Result<T, String> + Clone {
    move |v: &str| {
        v.trim()
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a number"))
    }
}

/// 1/true/yes or 0/false/no, or an error naming the variable.
fn flag(name: &'static str) -> impl Fn(&str) -> Result<bool, String> + Clone {
    move |v: &str| match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(format!("{name}={v:?}: give 1 or 0")),
    }
}

/// An IP address, or an error naming the variable.
fn ip(name: &'static str) -> impl Fn(&str) -> Result<std::net::IpAddr, String> + Clone {
    move |v: &str| {
        v.trim()
            .parse()
            .map_err(|_| format!("{name}: {v:?} is not an IP address"))
    }
}

fn log_filter(f: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(f)
        .map(|_| f.to_string())
        .map_err(|e| format!("PRIORAUTH_LOG={f:?} is not a log filter: {e}"))
}

/// Settings of `priorauth serve` as clap reads them.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PRIORAUTH_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    #[allow(missing_docs)] // clap would show a doc comment as help text
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// PEM certificate chain (leaf first) to serve HTTPS with; needs
    /// PRIORAUTH_TLS_KEY.
    #[arg(long, env = "PRIORAUTH_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long, env = "PRIORAUTH_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// 1 when a TLS-terminating proxy stands in front: plain HTTP may then
    /// listen beyond loopback, and X-Forwarded-Proto from the trusted
    /// proxies says whether the client came over https.
    #[arg(long, env = "PRIORAUTH_BEHIND_TLS_PROXY", default_value = "0", num_args = 0..=1, default_missing_value = "1", value_parser = flag("PRIORAUTH_BEHIND_TLS_PROXY"))]
    pub behind_tls_proxy: bool,
    /// Addresses of those proxies, comma-separated (IPv4 or IPv6).
    #[arg(long, env = "PRIORAUTH_TRUSTED_PROXIES", value_delimiter = ',', value_parser = ip("PRIORAUTH_TRUSTED_PROXIES"))]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Body limit of `POST /v1/claims` in bytes; larger files go to /v1/batches.
    #[arg(long, env = "PRIORAUTH_BODY_LIMIT", default_value = "10485760", value_parser = number::<u64>("PRIORAUTH_BODY_LIMIT"))]
    pub body_limit: u64,
    /// Seconds a request body has to arrive (a larger body gets this long
    /// again for every further MiB); a body not in by then is a 408.
    #[arg(long, env = "PRIORAUTH_BODY_TIMEOUT", default_value = "30", value_parser = within("PRIORAUTH_BODY_TIMEOUT", 1, 3600, "give 1 to 3600 seconds"))]
    pub body_timeout: i64,
    /// Body limit of `POST /v1/batches` in bytes.
    #[arg(long, env = "PRIORAUTH_BATCH_LIMIT", default_value = "4294967296", value_parser = number::<u64>("PRIORAUTH_BATCH_LIMIT"))]
    pub batch_limit: u64,
    /// Batch uploads one client may have under way at once (beyond: 429).
    #[arg(long, env = "PRIORAUTH_BATCH_UPLOADS", default_value = "2", value_parser = within("PRIORAUTH_BATCH_UPLOADS", 1, 1000, "give 1 to 1000"))]
    pub batch_uploads: i64,
    /// Batch result downloads one client may have under way at once
    /// (beyond: 429).
    #[arg(long, env = "PRIORAUTH_BATCH_DOWNLOADS", default_value = "2", value_parser = within("PRIORAUTH_BATCH_DOWNLOADS", 1, 1000, "give 1 to 1000"))]
    pub batch_downloads: i64,
    /// Scratch folder for batch uploads (a batch itself is kept in the
    /// database).
    #[arg(long, env = "PRIORAUTH_DATA_DIR", default_value = "priorauth-data")]
    pub data_dir: PathBuf,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "PRIORAUTH_WORKERS", value_parser = number::<usize>("PRIORAUTH_WORKERS"))]
    pub workers: Option<usize>,
    /// Database connections.
    #[arg(long, env = "PRIORAUTH_DB_CONNECTIONS", default_value = "16", value_parser = number::<u32>("PRIORAUTH_DB_CONNECTIONS"))]
    pub db_connections: u32,
    /// Claims per batch transaction.
    #[arg(long, env = "PRIORAUTH_BATCH_CHUNK", default_value = "5000", value_parser = number::<usize>("PRIORAUTH_BATCH_CHUNK"))]
    pub batch_chunk: usize,
    /// The service's address as browsers reach it (the console's sign-in
    /// comes back to `<URL>/console/callback`); default: the bound address
    /// over http.
    #[arg(long, env = "PRIORAUTH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Log format.
    #[arg(
        long,
        env = "PRIORAUTH_LOG_FORMAT",
        value_enum,
        default_value = "text",
        ignore_case = true
    )]
    pub log_format: LogFormat,
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "PRIORAUTH_LOG", default_value = "info", value_parser = log_filter)]
    pub log: String,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub payer: PayerArgs,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub access: AccessArgs,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub webhook: WebhookArgs,
}

/// The webhook that tells a billing system about claims decided again
/// (docs/SERVICE.md "Webhook").
#[derive(Clone, Args)]
pub struct WebhookArgs {
    /// URL a JSON POST per changed claim goes to (https, or http on this
    /// machine); none: no webhook.
    #[arg(long, env = "PRIORAUTH_WEBHOOK_URL", hide_env_values = true)]
    pub webhook_url: Option<String>,
    /// Secret of the HMAC-SHA256 signature (16 characters or more);
    /// required with the URL.
    #[arg(long, env = "PRIORAUTH_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// First retry delay in milliseconds; it doubles with every failure,
    /// up to an hour.
    #[arg(long, env = "PRIORAUTH_WEBHOOK_BACKOFF", default_value = "1000", value_parser = within("PRIORAUTH_WEBHOOK_BACKOFF", 1, 3_600_000, "give 1 to 3600000 milliseconds"))]
    pub webhook_backoff: i64,
    /// Seconds delivered events are kept (and, with no URL, undelivered
    /// ones: nobody sends them).
    #[arg(long, env = "PRIORAUTH_WEBHOOK_RETENTION", default_value = "604800", value_parser = within("PRIORAUTH_WEBHOOK_RETENTION", 0, 31_536_000, "give 0 to 31536000 seconds"))]
    pub webhook_retention: i64,
}

impl std::fmt::Debug for WebhookArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookArgs")
            .field("webhook_url", &self.webhook_url.as_ref().map(|_| "***"))
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "***"),
            )
            .field("webhook_backoff", &self.webhook_backoff)
            .field("webhook_retention", &self.webhook_retention)
            .finish()
    }
}

/// Where the webhook goes and how it is signed. Neither is ever printed.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The receiver's URL.
    pub url: String,
    /// The signing secret.
    pub secret: String,
    /// First retry delay (doubling up to an hour).
    pub backoff: std::time::Duration,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl WebhookArgs {
    fn config(&self) -> anyhow::Result<Option<WebhookConfig>> {
        let some = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let backoff = std::time::Duration::from_millis(self.webhook_backoff.unsigned_abs());
        match (some(&self.webhook_url), some(&self.webhook_secret)) {
            (None, None) => Ok(None),
            (None, Some(_)) => {
                anyhow::bail!("PRIORAUTH_WEBHOOK_SECRET is set but PRIORAUTH_WEBHOOK_URL is not")
            }
            (Some(_), None) => anyhow::bail!(
                "PRIORAUTH_WEBHOOK_URL needs PRIORAUTH_WEBHOOK_SECRET: the deliveries are signed with it"
            ),
            (Some(url), Some(secret)) => {
                let url = url.trim().to_string();
                let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                    .iter()
                    .any(|h| {
                        url.strip_prefix(h)
                            .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
                    });
                // The URL may hold credentials: it is never repeated.
                if !url.starts_with("https://") && !loopback {
                    anyhow::bail!(
                        "PRIORAUTH_WEBHOOK_URL must be an https URL (plain http only to this machine)"
                    );
                }
                if secret.chars().count() < 16 {
                    anyhow::bail!("PRIORAUTH_WEBHOOK_SECRET must be 16 characters or more");
                }
                Ok(Some(WebhookConfig {
                    url,
                    secret,
                    backoff,
                }))
            }
        }
    }
}

/// How tokens are issued and checked (SPEC §5 "Access").
#[derive(Debug, Clone, Args)]
pub struct AccessArgs {
    /// `iss` of the tokens issued here.
    #[arg(long, env = "PRIORAUTH_ISSUER", default_value = "priorauth")]
    pub issuer: String,
    /// `aud` they carry.
    #[arg(long, env = "PRIORAUTH_AUDIENCE", default_value = "priorauth")]
    pub audience: String,
    /// Access token lifetime in seconds, 1 to 900.
    #[arg(long, env = "PRIORAUTH_TOKEN_TTL", default_value = "900", value_parser = within("PRIORAUTH_TOKEN_TTL", 1, MAX_TOKEN_SECONDS, "tokens live 1 to 900 seconds"))]
    pub token_ttl: i64,
    /// Authorization code lifetime in seconds, 1 to 60.
    #[arg(long, env = "PRIORAUTH_CODE_TTL", default_value = "60", value_parser = within("PRIORAUTH_CODE_TTL", 1, 60, "codes live 1 to 60 seconds"))]
    pub code_ttl: i64,
    /// How long a client or user stays locked out after three failures
    /// within 10 s, in seconds.
    #[arg(long, env = "PRIORAUTH_LOCKOUT_SECONDS", default_value = "60", value_parser = within("PRIORAUTH_LOCKOUT_SECONDS", 1, 86_400, "give 1 to 86400"))]
    pub lockout_seconds: i64,
    /// A PKCS#8 PEM Ed25519 key to sign with instead of the stored keys.
    #[arg(long, env = "PRIORAUTH_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// An external OpenID Connect issuer whose tokens are accepted too.
    #[arg(long, env = "PRIORAUTH_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The audience its tokens carry.
    #[arg(long, env = "PRIORAUTH_OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,
    /// Where its keys are (https, or http on this machine).
    #[arg(long, env = "PRIORAUTH_OIDC_JWKS_URL")]
    pub oidc_jwks_url: Option<String>,
    /// Staff sign in to the console at the issuer too: its authorization
    /// endpoint (https, or http on this machine).
    #[arg(long, env = "PRIORAUTH_OIDC_AUTHORIZE_URL")]
    pub oidc_authorize_url: Option<String>,
    /// Its token endpoint (https, or http on this machine).
    #[arg(long, env = "PRIORAUTH_OIDC_TOKEN_URL")]
    pub oidc_token_url: Option<String>,
    /// The console's client id at the issuer.
    #[arg(long, env = "PRIORAUTH_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The console's client secret at the issuer (none: a public client,
    /// PKCE alone).
    #[arg(long, env = "PRIORAUTH_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
}

/// The console's sign-in at the external issuer (authorization code with
/// PKCE, the console as that issuer's client).
#[derive(Clone)]
pub struct ConsoleAtIssuer {
    /// The issuer's authorization endpoint.
    pub authorize_url: String,
    /// Its token endpoint.
    pub token_url: String,
    /// The console's client id there.
    pub client_id: String,
    /// The console's secret there, if it is a confidential client.
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for ConsoleAtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleAtIssuer")
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .finish()
    }
}

/// An issuer's endpoint must be https; plain http only on this machine
/// (tests, a provider beside the server).
fn https_or_loopback(name: &str, url: &str) -> anyhow::Result<()> {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|h| url.starts_with(h));
    if !url.starts_with("https://") && !loopback {
        anyhow::bail!("{name}={url:?}: the provider must be reached over https (plain http only on this machine)");
    }
    Ok(())
}

/// How tokens are issued and checked, checked.
#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// `iss` of the tokens issued here.
    pub issuer: String,
    /// `aud` they carry.
    pub audience: String,
    /// Access token lifetime in seconds.
    pub token_seconds: i64,
    /// Authorization code lifetime in seconds.
    pub code_seconds: i64,
    /// Lockout after three failures within 10 s, in seconds.
    pub lockout_seconds: i64,
    /// A key to sign with instead of the stored keys.
    pub signing_key_file: Option<PathBuf>,
    /// An external OIDC issuer: (issuer, audience, JWKS URL).
    pub oidc: Option<(String, String, String)>,
    /// Console sign-in at that issuer, when configured.
    pub console_at_issuer: Option<ConsoleAtIssuer>,
}

impl AccessArgs {
    fn config(&self) -> anyhow::Result<AccessConfig> {
        let some = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let oidc = match (
            some(&self.oidc_issuer),
            some(&self.oidc_audience),
            some(&self.oidc_jwks_url),
        ) {
            (None, None, None) => None,
            (Some(i), Some(a), Some(j)) => {
                https_or_loopback("PRIORAUTH_OIDC_JWKS_URL", &j)?;
                Some((i, a, j))
            }
            _ => anyhow::bail!(
                "an external OIDC issuer needs all of PRIORAUTH_OIDC_ISSUER, PRIORAUTH_OIDC_AUDIENCE and PRIORAUTH_OIDC_JWKS_URL"
            ),
        };
        let console_at_issuer = match (
            some(&self.oidc_authorize_url),
            some(&self.oidc_token_url),
            some(&self.oidc_client_id),
        ) {
            (None, None, None) => None,
            (Some(authorize_url), Some(token_url), Some(client_id)) => {
                if oidc.is_none() {
                    anyhow::bail!(
                        "console sign-in at an external issuer (PRIORAUTH_OIDC_AUTHORIZE_URL) needs the issuer itself: PRIORAUTH_OIDC_ISSUER, PRIORAUTH_OIDC_AUDIENCE and PRIORAUTH_OIDC_JWKS_URL"
                    );
                }
                https_or_loopback("PRIORAUTH_OIDC_AUTHORIZE_URL", &authorize_url)?;
                https_or_loopback("PRIORAUTH_OIDC_TOKEN_URL", &token_url)?;
                Some(ConsoleAtIssuer {
                    authorize_url,
                    token_url,
                    client_id,
                    client_secret: some(&self.oidc_client_secret),
                })
            }
            _ => anyhow::bail!(
                "console sign-in at an external issuer needs all of PRIORAUTH_OIDC_AUTHORIZE_URL, PRIORAUTH_OIDC_TOKEN_URL and PRIORAUTH_OIDC_CLIENT_ID"
            ),
        };
        Ok(AccessConfig {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            token_seconds: self.token_ttl,
            code_seconds: self.code_ttl,
            lockout_seconds: self.lockout_seconds,
            signing_key_file: self.signing_key_file.clone(),
            oidc,
            console_at_issuer,
        })
    }
}

/// Settings of `priorauth serve`, checked.
#[derive(Clone)]
pub struct Config {
    /// Address to listen on.
    pub bind: String,
    /// TLS terminated here, from `PRIORAUTH_TLS_CERT` and `PRIORAUTH_TLS_KEY`.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// A TLS-terminating proxy stands in front.
    pub behind_tls_proxy: bool,
    /// The proxies whose `X-Forwarded-Proto` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Database URL (may hold a password: never printed).
    pub database_url: String,
    /// Body limit of `POST /v1/claims` in bytes.
    pub body_limit: u64,
    /// Body limit of `POST /v1/batches`.
    pub batch_limit: u64,
    /// How long a request body has to arrive (per MiB beyond the first).
    pub body_timeout: std::time::Duration,
    /// Batch uploads per client at once.
    pub batch_uploads: usize,
    /// Batch result downloads per client at once.
    pub batch_downloads: usize,
    /// Scratch folder for batch uploads (absolute).
    pub data_dir: PathBuf,
    /// HTTP worker threads.
    pub workers: usize,
    /// Database connections.
    pub db_connections: u32,
    /// Claims per batch transaction.
    pub batch_chunk: usize,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_filter: String,
    /// The payer named in the 835 and 277CA.
    pub payer: Payer,
    /// Token settings.
    pub access: AccessConfig,
    /// The public URL browsers use (`None`: the bound address).
    pub public_url: Option<String>,
    /// The webhook for claims decided again (`None`: none).
    pub webhook: Option<WebhookConfig>,
    /// How long delivered webhook events are kept (and undelivered ones
    /// when there is no webhook).
    pub webhook_retention: std::time::Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("tls", &self.tls.is_some())
            .field("behind_tls_proxy", &self.behind_tls_proxy)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("database_url", &crate::store::redact(&self.database_url))
            .field("body_limit", &self.body_limit)
            .field("batch_limit", &self.batch_limit)
            .field("body_timeout", &self.body_timeout)
            .field("batch_uploads", &self.batch_uploads)
            .field("batch_downloads", &self.batch_downloads)
            .field("data_dir", &self.data_dir)
            .field("workers", &self.workers)
            .field("db_connections", &self.db_connections)
            .field("batch_chunk", &self.batch_chunk)
            .field("log_format", &self.log_format)
            .field("log_filter", &self.log_filter)
            .field("payer", &self.payer)
            .field("access", &self.access)
            .field("public_url", &self.public_url)
            .field("webhook", &self.webhook)
            .field("webhook_retention", &self.webhook_retention)
            .finish()
    }
}

impl ServeArgs {
    /// The checked settings.
    pub fn config(&self) -> anyhow::Result<Config> {
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let tls = match (&self.tls_cert, &self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
            _ => anyhow::bail!(
                "TLS needs both PRIORAUTH_TLS_CERT and PRIORAUTH_TLS_KEY (--tls-cert, --tls-key)"
            ),
        };
        if self.behind_tls_proxy && self.trusted_proxies.is_empty() {
            anyhow::bail!(
                "PRIORAUTH_BEHIND_TLS_PROXY=1 needs PRIORAUTH_TRUSTED_PROXIES: the addresses of the proxies whose X-Forwarded-Proto is believed"
            );
        }
        // Plain HTTP carries tokens, secrets and PHI: it stays on this
        // machine unless a TLS-terminating proxy is said to stand in front.
        if tls.is_none() && !self.behind_tls_proxy && !crate::tls::loopback_only(&self.bind) {
            anyhow::bail!(
                "PRIORAUTH_BIND={:?} is not a loopback address, and plain HTTP must not leave this machine: give PRIORAUTH_TLS_CERT and PRIORAUTH_TLS_KEY, or set PRIORAUTH_BEHIND_TLS_PROXY=1 (with PRIORAUTH_TRUSTED_PROXIES) when a TLS-terminating proxy stands in front",
                self.bind
            );
        }
        Ok(Config {
            bind: self.bind.clone(),
            tls,
            behind_tls_proxy: self.behind_tls_proxy,
            trusted_proxies: self.trusted_proxies.clone(),
            database_url: self.db.url(),
            body_limit: self.body_limit,
            batch_limit: self.batch_limit,
            body_timeout: std::time::Duration::from_secs(self.body_timeout.unsigned_abs()),
            batch_uploads: usize::try_from(self.batch_uploads).unwrap_or(1),
            batch_downloads: usize::try_from(self.batch_downloads).unwrap_or(1),
            // Absolute: batches record where their file is, and a restart
            // from another folder must still find it.
            data_dir: std::path::absolute(&self.data_dir)?,
            workers: workers.max(1),
            db_connections: self.db_connections,
            batch_chunk: self.batch_chunk.max(1),
            log_format: self.log_format,
            log_filter: self.log.clone(),
            payer: self.payer.payer(),
            access: self.access.config()?,
            public_url: match self.public_url.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
                    Some(u.trim_end_matches('/').to_string())
                }
                Some(u) => anyhow::bail!(
                    "PRIORAUTH_PUBLIC_URL={u:?}: give the URL browsers use, http(s)://host[:port]"
                ),
            },
            webhook: self.webhook.config()?,
            webhook_retention: std::time::Duration::from_secs(
                self.webhook.webhook_retention.unsigned_abs(),
            ),
        })
    }
}
