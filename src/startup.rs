//! `priorauth serve`: opens and migrates the store, puts the stored rule
//! set in force (storing the bundled one on first start), loads the
//! signing keys, starts the HTTP server and the background loops (rule
//! and key pick-up from other instances, SQLite checkpoints, unfinished
//! batches, the webhook outbox), and closes the store when the server
//! stops.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use crate::access::Keys;
use crate::api::{self, AppState};
use crate::config::Config;
use crate::rules::{RuleSet, RulesIndex};
use crate::store::Store;

/// Loads the rule set in force: the stored one, or the bundled set (stored
/// on first start, so every instance sees the same version).
async fn initial_rules(store: &Store) -> anyhow::Result<(i64, RulesIndex)> {
    if let Some(stored) = store.active_rules().await? {
        let set = RuleSet::from_toml(&stored.source)
            .map_err(|e| anyhow::anyhow!("stored rule set {}: {e}", stored.version))?;
        return Ok((stored.id, RulesIndex::new(set)));
    }
    let set = RuleSet::bundled()?;
    let id = store
        .activate_rules(&set.version, crate::rules::BUNDLED)
        .await?;
    Ok((id, RulesIndex::new(set)))
}

/// Checkpoints the SQLite WAL four times a second, beside the writers
/// (see `Store::checkpoint`): small, frequent checkpoints keep each pause
/// short (measured: every 1 s and every 5 s gave longer latency tails).
fn checkpoints(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(Duration::from_millis(250)).await;
            if let Err(e) = state.store().checkpoint().await {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
    });
}

/// Puts the stored rule set in force here when another instance changed it.
async fn pick_up_rules(state: &AppState) {
    let Ok(Some(id)) = state.store().active_rules_id().await else {
        return;
    };
    if id == state.rules_id() {
        return;
    }
    if let Ok(Some(stored)) = state.store().active_rules().await {
        match RuleSet::from_toml(&stored.source) {
            Ok(set) => {
                state.swap_rules(stored.id, RulesIndex::new(set));
                tracing::info!(version = %stored.version, "rule set picked up from the store");
            }
            Err(e) => tracing::error!(error = %e, "stored rule set cannot be loaded"),
        }
    }
}

/// Keeps this instance on the rule set and keys another instance stored:
/// every 2 s (the fallback on PostgreSQL, the only way on SQLite).
fn poll_rules(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(Duration::from_secs(2)).await;
            state.reload_keys().await;
            pick_up_rules(&state).await;
        }
    });
}

/// PostgreSQL: rule sets, keys and batches announced by any instance are
/// picked up as soon as they are committed (`LISTEN/NOTIFY`). A lost
/// connection is opened again; polling covers the gap.
fn listen_changes(state: web::Data<AppState>, url: String) {
    use crate::store::{Change, Listener};
    actix_web::rt::spawn(async move {
        loop {
            let mut listener = match Listener::connect(&url).await {
                Ok(Some(l)) => l,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for changes; polling only");
                    actix_web::rt::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            loop {
                match listener.recv().await {
                    Ok(Change::Rules) => pick_up_rules(&state).await,
                    Ok(Change::Keys) => state.reload_keys().await,
                    Ok(Change::Batches) => state.wake_batches(),
                    Err(e) => {
                        tracing::warn!(error = %e, "change listener lost; reconnecting");
                        actix_web::rt::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        }
    });
}

/// Rereads the disabled clients and users every half second, so a
/// disable through another instance bites here within a second.
fn poll_revocations(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(crate::access::REFRESH).await;
            state.refresh_revocations().await;
        }
    });
}

/// Starts the service and runs until stopped. Prints the bound address on
/// standard output first (`listening on http://ADDR`, `https://` when it
/// terminates TLS), so scripts and
/// tests that bind port 0 learn the port.
pub fn serve(config: Config) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let store = Arc::new(
            Store::open(&config.database_url, config.db_connections)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot open the database {} (--database or DATABASE_URL): {e}",
                        crate::store::redact(&config.database_url)
                    )
                })?,
        );
        let issuer = &config.access.issuer;
        if !issuer.starts_with("https://") {
            // RFC 8414 §2: the issuer is an https URL; strict clients
            // refuse the metadata (and the sign-in's `iss`) otherwise.
            tracing::warn!(
                issuer = %issuer,
                "PRIORAUTH_ISSUER is not an https URL; set it to the service's public https address in production"
            );
        }
        let rules = initial_rules(&store).await?;
        let pinned_key = match &config.access.signing_key_file {
            None => None,
            Some(path) => {
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("PRIORAUTH_SIGNING_KEY_FILE {}: {e}", path.display())
                })?;
                Some(Keys::from_pem(&pem).map_err(|e| {
                    anyhow::anyhow!("PRIORAUTH_SIGNING_KEY_FILE {}: {e}", path.display())
                })?)
            }
        };
        let data_dir = config.data_dir.clone();
        let url = config.database_url.clone();
        let state = AppState::new(store.clone(), rules, config, pinned_key);
        state.first_keys().await?;
        state.refresh_revocations().await;
        std::fs::create_dir_all(&data_dir)?;
        api::resume_batches(&state).await?;
        poll_rules(state.clone());
        listen_changes(state.clone(), url);
        poll_revocations(state.clone());
        checkpoints(state.clone());
        let scheme = if state.config().tls.is_some() {
            "https"
        } else {
            "http"
        };
        // The console's redirect URI is known once the port is: it is
        // set (and its client registered) before anyone is told the
        // address.
        let console = web::Data::new(crate::console::Console::default());
        let for_app = console.clone();
        let (server, addrs) = api::listen(state.clone(), move |cfg| {
            cfg.app_data(for_app.clone());
            crate::console::configure(cfg);
        })?;
        let public = match (&state.config().public_url, addrs.first()) {
            (Some(u), _) => u.clone(),
            (None, Some(a)) => format!("{scheme}://{a}"),
            (None, None) => "http://127.0.0.1".into(),
        };
        let (redirect_uri, secure) = crate::console::register_client(&store, &public).await?;
        // Cookies are Secure whenever the instance is reached over https
        // (its own TLS, or a TLS proxy), not only when the public URL says so.
        console.set(redirect_uri, secure || state.https());
        // Claims decided again, told to the billing system (issue 18).
        if let Some(hook) = state.config().webhook.clone() {
            api::webhook::deliver(store.clone(), hook, public.clone());
        }
        api::webhook::purge(
            store.clone(),
            state.config().webhook_retention,
            state.config().webhook.is_some(),
        );
        for addr in addrs {
            println!("listening on {scheme}://{addr}");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tracing::info!(database = ?store.backend(), "priorauth serving");
        server.await?;
        state.stop_batches();
        store.close().await;
        Ok(())
    })
}
