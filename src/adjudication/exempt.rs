//! SPEC §3.5: a line a rule requires PA for, one of whose provider NPIs
//! (§3.1) holds an exemption under that rule on the service date, is
//! `not_required` before any authorization check: the rule and the
//! exemption named, no adjustment, nothing consumed.

use crate::model::{Claim, Decision, LineDecision, ServiceLine};
use crate::rules::Rule;

use super::reasons::Label;
use super::Adjudicator;

impl Adjudicator<'_> {
    /// Decides `d` by an exemption when one covers the line; true when it
    /// did (the line is then final). The date looked up is the line's
    /// service date as rules match it: its DTP*472, the first day of its
    /// RD8 range, or the claim-level fallback.
    pub(super) fn exempt(
        &self,
        claim: &Claim,
        line: &ServiceLine,
        rule: &Rule,
        says: &str,
        label: &Label<'_>,
        d: &mut LineDecision,
    ) -> bool {
        let Some(book) = self.exemptions else {
            return false;
        };
        let Some(date) = claim.line_dates(line).map(|r| r.start) else {
            return false;
        };
        let Some(e) = book.find_any(claim.provider_npis(line), &rule.id, date) else {
            return false;
        };
        d.decision = Decision::NotRequired;
        d.exemption = Some(e.id.clone());
        d.units_approved = line.units;
        if !self.reasons {
            return true;
        }
        d.reason = reason!(
            "{label}: {says}; provider NPI {} is exempt from prior authorization under rule {} by exemption {} ({}); no authorization is needed.",
            e.provider_npi,
            rule.id,
            e.id,
            e.period()
        );
        true
    }
}
