//! A stored claim decided again (issue 18): when an authorization one of
//! its lines was pended on is decided, the claim is adjudicated afresh
//! from its facts, as if it arrived now, with what it consumed before
//! given back first, so that its units are consumed once.

use super::Adjudicator;
use crate::authorizations::AuthBook;
use crate::model::{Claim, ClaimDecision};

impl Adjudicator<'_> {
    /// The claim's new decision: the units of `earlier` are returned to
    /// the book, its lines are decided again (consuming from the book),
    /// and what it took back when it arrived (a replacement's reversal)
    /// stays as it was: that happened once, on arrival.
    pub fn readjudicate(
        &self,
        claim: &Claim,
        earlier: &ClaimDecision,
        book: &mut AuthBook,
    ) -> ClaimDecision {
        for c in &earlier.consumption {
            book.consume(&c.authorization, -c.units);
        }
        let mut d = self.adjudicate_lines(claim, &earlier.payer_claim_id, book);
        d.reversed.clone_from(&earlier.reversed);
        d.takes_back.clone_from(&earlier.takes_back);
        d
    }
}
