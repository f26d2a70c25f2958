//! Per-client limits on concurrent batch transfers (issue 15 point 3): a
//! client may have a few batch uploads and a few result downloads under
//! way at once on an instance; one more is a 429 with `Retry-After`. A
//! download holds its slot until its last byte is sent (or the client goes
//! away), an upload until its body is spooled and counted.

use std::sync::Arc;

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use super::guard::Actor;
use super::ApiError;

/// What a slot is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Transfer {
    /// `POST /v1/batches`.
    Upload,
    /// `GET /v1/batches/{id}/results`.
    Download,
}

impl Transfer {
    fn noun(self) -> &'static str {
        match self {
            Transfer::Upload => "batch uploads",
            Transfer::Download => "batch downloads",
        }
    }
}

/// Seconds a refused client is told to wait: long enough for a typical
/// transfer to end, short enough not to stall a well-behaved one.
pub(super) const RETRY_AFTER_SECONDS: u64 = 5;

/// The transfers under way, per client and kind.
pub(super) struct Transfers {
    uploads: usize,
    downloads: usize,
    busy: Arc<Mutex<FxHashMap<(String, Transfer), usize>>>,
}

impl Transfers {
    /// At most `uploads` and `downloads` at once per client.
    pub(super) fn new(uploads: usize, downloads: usize) -> Transfers {
        Transfers {
            uploads,
            downloads,
            busy: Arc::default(),
        }
    }

    /// A slot for `actor`, or 429 when its transfers of this kind are all
    /// under way. The caller is the token's subject under its client: each
    /// staff member signed in through the console counts on their own.
    pub(super) fn take(&self, actor: &Actor, kind: Transfer) -> Result<Slot, ApiError> {
        let limit = match kind {
            Transfer::Upload => self.uploads,
            Transfer::Download => self.downloads,
        };
        let key = (
            format!("{} {}", actor.caller.client_id, actor.caller.subject),
            kind,
        );
        let mut busy = self.busy.lock();
        let n = busy.entry(key.clone()).or_insert(0);
        if *n >= limit {
            return Err(ApiError::TooManyRequests {
                message: format!(
                    "{limit} {} of this client are under way, the most it may have at once; try again when one has ended",
                    kind.noun()
                ),
                retry_after: RETRY_AFTER_SECONDS,
            });
        }
        *n += 1;
        Ok(Slot {
            busy: self.busy.clone(),
            key,
        })
    }
}

/// A transfer under way; dropping it frees the slot.
pub(super) struct Slot {
    busy: Arc<Mutex<FxHashMap<(String, Transfer), usize>>>,
    key: (String, Transfer),
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut busy = self.busy.lock();
        if let Some(n) = busy.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                busy.remove(&self.key);
            }
        }
    }
}
