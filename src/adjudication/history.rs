//! Claims adjudicated before (SPEC §3.3): where duplicates are found and
//! where replacements and voids find what to reverse.

use hashbrown::HashTable;
use rustc_hash::FxHashMap as HashMap;

use crate::model::{Claim, Consumption};

/// The earlier claim a replacement or void takes back, with its key: by
/// its REF*F8 payer claim id, else by its own billing NPI and CLM01. A
/// provider corrects only its own claims: an F8 naming another billing
/// NPI's claim is not followed.
pub fn earlier_claim(
    claim: &Claim,
    history: &impl ClaimHistory,
) -> Option<((String, String), PriorClaim)> {
    let key = claim
        .payer_claim_number
        .as_deref()
        .and_then(|f8| history.by_payer_id(f8))
        .filter(|(npi, _)| *npi == claim.billing_npi)
        .unwrap_or_else(|| (claim.billing_npi.clone(), claim.claim_id.clone()));
    let prior = history.by_key(&key.0, &key.1)?;
    Some((key, prior))
}

/// What an earlier claim consumed, kept to reverse it on replacement or void.
#[derive(Debug, Clone)]
pub struct PriorClaim {
    /// Its payer claim id.
    pub payer_claim_id: String,
    /// What it consumed.
    pub consumption: Vec<Consumption>,
    /// Its content key (SPEC §3.3), while it may still be duplicated.
    pub content_key: Option<u64>,
}

/// Claims adjudicated before: where duplicates are found and replacements
/// and voids find what to reverse. In memory for a CLI run; the service
/// backs it with the store.
pub trait ClaimHistory {
    /// The earlier claim with this billing NPI and CLM01.
    fn by_key(&self, billing_npi: &str, claim_id: &str) -> Option<PriorClaim>;
    /// The earlier claim with this payer claim id (REF*F8).
    fn by_payer_id(&self, payer_claim_id: &str) -> Option<(String, String)>;
    /// The payer claim id of the earlier live claim with this content
    /// (SPEC §3.3), if any.
    fn by_content(&self, content_key: u64) -> Option<String>;
    /// Records an adjudicated claim under its key (and its content key,
    /// when it has one).
    fn record(&mut self, billing_npi: &str, claim_id: &str, prior: PriorClaim);
    /// Forgets a voided or replaced claim, its content key too.
    fn forget(&mut self, billing_npi: &str, claim_id: &str);
}

/// History of one run, in memory. Each billing NPI and CLM01 pair has one
/// slot, found through a table of positions that compares the key stored
/// in the slot (no key copied into a table, no nested maps); the slot
/// holds the claim recorded last under that key. A payer claim id leads to
/// a slot: it keeps leading there after the key is recorded again (a
/// replacement may cite any earlier payer claim id of the key), and is
/// dropped when the claim recorded with it is forgotten.
#[derive(Debug, Default)]
pub struct MemoryHistory {
    keys: Vec<KeySlot>,
    by_key: HashTable<u32>,
    by_payer_id: HashMap<String, u32>,
    by_content: HashMap<u64, ContentAt>,
}

/// Where the payer claim id of a content key is: the claim recorded last
/// in a key slot (no copy of its id per claim), or, once that slot holds a
/// later claim, the id moved out of the claim it replaced.
#[derive(Debug)]
enum ContentAt {
    Slot(u32),
    Owned(String),
}

#[derive(Debug)]
struct KeySlot {
    billing_npi: String,
    claim_id: String,
    prior: Option<PriorClaim>,
}

fn key_hash(billing_npi: &str, claim_id: &str) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    billing_npi.hash(&mut h);
    claim_id.hash(&mut h);
    h.finish()
}

impl MemoryHistory {
    /// Makes a content key lead to a stored claim that may be duplicated
    /// (the store knows claims the run never saw).
    pub fn link_content(&mut self, content_key: u64, payer_claim_id: &str) {
        self.by_content
            .insert(content_key, ContentAt::Owned(payer_claim_id.to_string()));
    }

    /// Makes an older payer claim id (REF*F8) lead to the claim that now
    /// answers for its key: the store knows ids the run never saw.
    pub fn link(&mut self, payer_claim_id: &str, billing_npi: &str, claim_id: &str) {
        let slot = self.slot_or_add(billing_npi, claim_id);
        self.by_payer_id.insert(payer_claim_id.to_string(), slot);
    }

    fn slot(&self, billing_npi: &str, claim_id: &str) -> Option<u32> {
        self.by_key
            .find(key_hash(billing_npi, claim_id), |&at| {
                self.keys
                    .get(at as usize)
                    .is_some_and(|k| k.billing_npi == billing_npi && k.claim_id == claim_id)
            })
            .copied()
    }

    fn slot_or_add(&mut self, billing_npi: &str, claim_id: &str) -> u32 {
        if let Some(at) = self.slot(billing_npi, claim_id) {
            return at;
        }
        let at = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.keys.push(KeySlot {
            billing_npi: billing_npi.to_string(),
            claim_id: claim_id.to_string(),
            prior: None,
        });
        let keys = &self.keys;
        self.by_key
            .insert_unique(key_hash(billing_npi, claim_id), at, |&p| {
                keys.get(p as usize)
                    .map_or(0, |k| key_hash(&k.billing_npi, &k.claim_id))
            });
        at
    }
}

impl ClaimHistory for MemoryHistory {
    fn by_key(&self, billing_npi: &str, claim_id: &str) -> Option<PriorClaim> {
        let at = self.slot(billing_npi, claim_id)?;
        self.keys.get(at as usize)?.prior.clone()
    }
    fn by_payer_id(&self, payer_claim_id: &str) -> Option<(String, String)> {
        let k = self
            .keys
            .get(*self.by_payer_id.get(payer_claim_id)? as usize)?;
        Some((k.billing_npi.clone(), k.claim_id.clone()))
    }
    fn by_content(&self, content_key: u64) -> Option<String> {
        match self.by_content.get(&content_key)? {
            ContentAt::Slot(at) => self
                .keys
                .get(*at as usize)?
                .prior
                .as_ref()
                .map(|p| p.payer_claim_id.clone()),
            ContentAt::Owned(id) => Some(id.clone()),
        }
    }
    fn record(&mut self, billing_npi: &str, claim_id: &str, prior: PriorClaim) {
        let at = self.slot_or_add(billing_npi, claim_id);
        self.by_payer_id.insert(prior.payer_claim_id.clone(), at);
        let content = prior.content_key;
        let old = self
            .keys
            .get_mut(at as usize)
            .and_then(|k| k.prior.replace(prior));
        // The claim this one takes the slot from stays live for its
        // content (SPEC §3.3): its id moves into the content table.
        if let Some(old) = old {
            if let Some(k) = old.content_key {
                if let Some(c) = self.by_content.get_mut(&k) {
                    if matches!(c, ContentAt::Slot(s) if *s == at) {
                        *c = ContentAt::Owned(old.payer_claim_id);
                    }
                }
            }
        }
        if let Some(k) = content {
            self.by_content.insert(k, ContentAt::Slot(at));
        }
    }
    fn forget(&mut self, billing_npi: &str, claim_id: &str) {
        let Some(at) = self.slot(billing_npi, claim_id) else {
            return;
        };
        if let Some(p) = self.keys.get_mut(at as usize).and_then(|k| k.prior.take()) {
            self.by_payer_id.remove(&p.payer_claim_id);
            if let Some(k) = p.content_key {
                let here = match self.by_content.get(&k) {
                    Some(ContentAt::Slot(s)) => *s == at,
                    Some(ContentAt::Owned(id)) => *id == p.payer_claim_id,
                    None => false,
                };
                if here {
                    self.by_content.remove(&k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prior(payer_claim_id: &str) -> PriorClaim {
        PriorClaim {
            payer_claim_id: payer_claim_id.into(),
            consumption: vec![],
            content_key: None,
        }
    }

    #[test]
    fn memory_history_finds_by_key_and_payer_id_and_forgets() {
        let mut h = MemoryHistory::default();
        assert!(h.by_key("1234567893", "C1").is_none());
        h.record("1234567893", "C1", prior("P1"));
        h.record("1234567893", "C2", prior("P2"));
        h.record("1111111112", "C1", prior("P3"));
        assert_eq!(h.by_key("1234567893", "C1").unwrap().payer_claim_id, "P1");
        assert_eq!(h.by_key("1111111112", "C1").unwrap().payer_claim_id, "P3");
        assert_eq!(
            h.by_payer_id("P2"),
            Some(("1234567893".into(), "C2".into()))
        );
        // Recorded again under its key (an interim bill, say): the new payer
        // id answers, and the old one still leads to the key.
        h.record("1234567893", "C1", prior("P4"));
        assert_eq!(h.by_key("1234567893", "C1").unwrap().payer_claim_id, "P4");
        assert_eq!(
            h.by_payer_id("P1"),
            Some(("1234567893".into(), "C1".into()))
        );
        assert_eq!(
            h.by_payer_id("P4"),
            Some(("1234567893".into(), "C1".into()))
        );
        // A payer id used again leads to the claim recorded with it last.
        h.record("1234567893", "C9", prior("P2"));
        assert_eq!(
            h.by_payer_id("P2"),
            Some(("1234567893".into(), "C9".into()))
        );
        // Forgetting a claim drops the payer id it was recorded with.
        h.forget("1234567893", "C2");
        assert!(h.by_key("1234567893", "C2").is_none());
        assert_eq!(h.by_payer_id("P2"), None);
        h.link("OLD", "1234567893", "C1");
        assert_eq!(
            h.by_payer_id("OLD"),
            Some(("1234567893".into(), "C1".into()))
        );
        h.record("1234567893", "C5", prior("P5"));
        h.link("P5", "1234567893", "C5");
        h.forget("1234567893", "C5");
        assert_eq!(h.by_payer_id("P5"), None);
    }
}
