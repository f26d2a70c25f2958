//! A submission decided as a whole (SPEC §3.3 across its claims): every
//! claim in order, and which claims answer for their keys at the end and
//! which stored claims they take the place of. Pure: the store loads the
//! book and the history, calls [`decide_submission`] and writes what it
//! says, in one transaction.

use rustc_hash::FxHashMap as HashMap;

use crate::authorizations::AuthBook;
use crate::model::{Claim, ClaimDecision};

use super::{Adjudicator, ClaimHistory};

/// A claim decided in a submission, to be stored.
#[derive(Debug)]
pub struct SubmittedClaim {
    /// Its payer claim id.
    pub payer_claim_id: String,
    /// Its position in the submission.
    pub seq: usize,
    /// True when it answers for its key after the whole submission.
    pub live: bool,
    /// The decision.
    pub decision: ClaimDecision,
    /// The later claim of the same submission that reversed its units.
    pub reversed_by: Option<String>,
    /// Its content key (SPEC §3.3) while a later claim may duplicate it:
    /// None for duplicates and voids and once reversed.
    pub content_key: Option<u64>,
}

/// A claim stored before the submission that a claim of it takes the
/// place of.
#[derive(Debug, PartialEq, Eq)]
pub struct SupersededStored {
    /// The stored claim's payer claim id.
    pub payer_claim_id: String,
    /// The payer claim id of the claim taking its place.
    pub by: String,
    /// True when its units were given back (a replacement or void).
    pub reversed: bool,
}

/// What a submission decided.
#[derive(Debug, Default)]
pub struct Submission {
    /// Every claim, in submission order.
    pub claims: Vec<SubmittedClaim>,
    /// Stored claims superseded by this submission.
    pub superseded: Vec<SupersededStored>,
}

/// Decides `claims` in order against `book` and `history`. `new_id` gives
/// each claim its payer claim id; `earlier_decision` reads the stored
/// decision a replacement or void takes back (for the 835).
pub fn decide_submission(
    adjudicator: &Adjudicator<'_>,
    claims: &[Claim],
    book: &mut AuthBook,
    history: &mut impl ClaimHistory,
    mut new_id: impl FnMut() -> String,
    earlier_decision: impl Fn(&str) -> Option<ClaimDecision>,
) -> Submission {
    let mut out = Submission {
        claims: Vec::with_capacity(claims.len()),
        superseded: Vec::new(),
    };
    // Payer claim id → position in `out.claims`, for claims of this
    // submission superseded by later ones.
    let mut here: HashMap<String, usize> = HashMap::default();
    for (seq, claim) in claims.iter().enumerate() {
        let payer_claim_id = new_id();
        let mut decided = adjudicator.decide(claim, &payer_claim_id, book, history);
        if let Some(target) = decided.supersedes.iter().find(|s| s.reversed) {
            decided.decision.takes_back = match here
                .get(&target.payer_claim_id)
                .and_then(|&j| out.claims.get(j))
            {
                Some(earlier) => Some(Box::new(ClaimDecision {
                    takes_back: None,
                    ..earlier.decision.clone()
                })),
                None => earlier_decision(&target.payer_claim_id).map(Box::new),
            };
        }
        for old in decided.supersedes {
            match here
                .get(&old.payer_claim_id)
                .and_then(|&j| out.claims.get_mut(j))
            {
                Some(earlier) => {
                    earlier.live = false;
                    if old.reversed {
                        earlier.reversed_by = Some(payer_claim_id.clone());
                        earlier.content_key = None;
                    }
                }
                None => out.superseded.push(SupersededStored {
                    payer_claim_id: old.payer_claim_id,
                    by: payer_claim_id.clone(),
                    reversed: old.reversed,
                }),
            }
        }
        here.insert(payer_claim_id.clone(), out.claims.len());
        out.claims.push(SubmittedClaim {
            payer_claim_id,
            seq,
            live: decided.live,
            decision: decided.decision,
            reversed_by: None,
            content_key: decided.content_key,
        });
    }
    out
}
