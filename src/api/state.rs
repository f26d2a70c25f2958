//! What every handler shares: the store, the rule set in force, the
//! signing keys, metrics, the batch queue and the settings.

use std::sync::Arc;

use actix_web::web;
use parking_lot::RwLock;

use super::batches;
use super::metrics::Metrics;
use crate::access::{ExternalIssuer, Keys, Revocations};
use crate::config::Config;
use crate::rules::RulesIndex;
use crate::store::{SigningKeyRecord, Store};

/// What every handler shares.
pub struct AppState {
    pub(super) store: Arc<Store>,
    rules: RwLock<(i64, Arc<RulesIndex>)>,
    pub(super) metrics: Metrics,
    pub(super) config: Config,
    pub(super) batches: batches::Queue,
    pub(super) keys: Keys,
    /// The configured signing key, when one is given instead of stored keys.
    pub(super) pinned_key: Option<SigningKeyRecord>,
    pub(super) external: Option<Arc<ExternalIssuer>>,
    /// Disabled clients and users, checked on every request.
    pub(super) revoked: Revocations,
}

impl AppState {
    /// The state of a service over `store`, deciding with rule set
    /// `rules_id` (`index`), signing with `pinned_key` when one is given.
    pub fn new(
        store: Arc<Store>,
        (rules_id, index): (i64, RulesIndex),
        config: Config,
        pinned_key: Option<SigningKeyRecord>,
    ) -> web::Data<AppState> {
        let access = &config.access;
        web::Data::new(AppState {
            store,
            rules: RwLock::new((rules_id, Arc::new(index))),
            metrics: Metrics::default(),
            batches: batches::Queue::new(),
            keys: Keys::new(&access.issuer, &access.audience),
            pinned_key,
            external: access
                .oidc
                .as_ref()
                .map(|(iss, aud, jwks)| Arc::new(ExternalIssuer::new(iss, aud, jwks))),
            revoked: Revocations::default(),
            config,
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The rule index in force.
    pub fn rules(&self) -> Arc<RulesIndex> {
        self.rules.read().1.clone()
    }

    /// Puts rule set `id` in force.
    pub fn swap_rules(&self, id: i64, index: RulesIndex) {
        *self.rules.write() = (id, Arc::new(index));
    }

    /// The stored id of the rule set in force.
    pub fn rules_id(&self) -> i64 {
        self.rules.read().0
    }

    /// Loads the stored signing keys; makes and stores the first key when
    /// there is none (and no configured key).
    pub async fn first_keys(&self) -> anyhow::Result<()> {
        let mut stored = self.store.signing_keys().await?;
        if stored.is_empty() && self.pinned_key.is_none() {
            let key = Keys::generate()?;
            self.store.add_signing_key(&key).await?;
            tracing::info!(kid = %key.kid, "token signing key generated");
            stored = self.store.signing_keys().await?;
        }
        let live = crate::access::live_keys(&stored, crate::store::now());
        self.keys.install(&live, self.pinned_key.as_ref())?;
        Ok(())
    }

    /// Picks up keys another instance made (a rotation), keeping the
    /// current set when the store cannot be read.
    pub async fn reload_keys(&self) {
        match self.store.signing_keys().await {
            Ok(stored) => {
                let live = crate::access::live_keys(&stored, crate::store::now());
                if let Err(e) = self.keys.install(&live, self.pinned_key.as_ref()) {
                    tracing::error!(error = %e, "stored signing keys cannot be used");
                }
            }
            Err(e) => tracing::warn!(error = %e, "signing keys not reloaded"),
        }
    }

    /// Reads the disabled clients and users from the store (another
    /// instance may have disabled one); keeps the current set, which then
    /// grows stale, when the store cannot be read.
    pub async fn refresh_revocations(&self) {
        match self.store.disabled_ids().await {
            Ok((clients, users)) => {
                self.revoked
                    .replace(clients, users, std::time::Instant::now());
            }
            Err(e) => tracing::warn!(error = %e, "disabled clients and users not reread"),
        }
    }

    /// Lets the batch worker finish its current chunk and end.
    pub fn stop_batches(&self) {
        self.batches.stop();
    }

    /// Tells the batch worker there may be a chunk to work (another
    /// instance queued a batch or committed a chunk).
    pub fn wake_batches(&self) {
        self.batches.wake();
    }
}

/// Starts the batch worker: it works the chunks of every unfinished batch,
/// this instance's or another's, a previous run's included.
pub async fn resume_batches(state: &web::Data<AppState>) -> Result<(), crate::store::StoreError> {
    batches::start_worker(state);
    Ok(())
}
