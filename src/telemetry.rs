//! Tracing setup. Log lines carry routes, statuses, counts and ids, never
//! claim contents (member ids, names, birth dates): the request span is
//! `api::observe`'s, and the PHI log test reads what the service writes.

use crate::config::{Config, LogFormat};

/// Installs the tracing subscriber the configuration asks for, on stderr.
pub fn init(config: &Config) {
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
