//! A stored claim decided again (issue 18): when an authorization one of
//! its lines was pended on is decided, the claim is adjudicated afresh
//! from its facts, as if it arrived now, with what it consumed before
//! given back first, so that its units are consumed once. A rule-change
//! replay (`impact.rs`) decides stored claims again the same way.

use super::Adjudicator;
use crate::authorizations::AuthBook;
use crate::model::{Claim, ClaimDecision, Consumption};

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
        let mut d = self.redecide(claim, &earlier.payer_claim_id, &earlier.consumption, book);
        d.reversed.clone_from(&earlier.reversed);
        d.takes_back.clone_from(&earlier.takes_back);
        d
    }

    /// A stored claim's lines decided again: the units it `consumed` are
    /// returned to the book first, then its lines are decided, consuming
    /// from the book. Its arrival (duplicates, what a replacement took
    /// back) is not decided again.
    pub fn redecide(
        &self,
        claim: &Claim,
        payer_claim_id: &str,
        consumed: &[Consumption],
        book: &mut AuthBook,
    ) -> ClaimDecision {
        self.give_back(consumed, book);
        self.adjudicate_lines(claim, payer_claim_id, book)
    }

    /// Returns the units a stored claim `consumed` to the book.
    pub fn give_back(&self, consumed: &[Consumption], book: &mut AuthBook) {
        for c in consumed {
            book.consume(&c.authorization, -c.units);
        }
    }

    /// True when a rule of this index covers at least one of the claim's
    /// lines (with the network directory, for `network = "out"` rules). A
    /// claim it is false for decides `not_required` on every line and
    /// consumes nothing, whatever the book holds.
    pub fn covers_any_line(&self, claim: &Claim) -> bool {
        claim
            .lines
            .iter()
            .any(|line| self.rules.matched(&self.facts(claim, line)).is_some())
    }
}
