//! The per-number checks of the SPEC §3 table (rows 2-11) and the search
//! for an authorization that would have passed (the suggestion).

use std::cell::Cell;

use rust_decimal::Decimal;

use crate::authorizations::{AuthBook, AuthId, AuthStatus, MemberAuths, MemberKey, Terms};
use crate::model::carc::{Carc, Rarc};
use crate::model::{Claim, ServiceLine};

use super::units::{LineUse, Usage};
use super::Adjudicator;

/// Why an authorization number did not pass (rows of the SPEC §3 table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    /// Row 1.
    NoNumber,
    /// Row 2.
    NotOnFile,
    /// Row 3.
    Member,
    /// Row 4.
    Provider,
    /// Row 5.
    StatusDenied,
    /// Row 6.
    Pending,
    /// Row 7.
    Cancelled,
    /// Row 8a.
    AfterEnd,
    /// Row 8b.
    BeforeStart,
    /// Row 9.
    Codes,
    /// Row 10.
    NoUnits,
    /// Row 11: this many units remain.
    TooFewUnits(Decimal),
}

impl Failure {
    /// Group, CARC and RARC of a full denial.
    pub(super) fn codes(&self) -> (Carc, Option<Rarc>) {
        match self {
            Failure::NoNumber | Failure::NotOnFile | Failure::Cancelled => {
                (Carc::C197, Some(Rarc::M62))
            }
            Failure::Member => (Carc::C197, Some(Rarc::N54)),
            Failure::Provider => (Carc::C296, Some(Rarc::N54)),
            Failure::StatusDenied => (Carc::C39, Some(Rarc::N758)),
            Failure::AfterEnd => (Carc::C302, Some(Rarc::N351)),
            Failure::BeforeStart => (Carc::C197, Some(Rarc::N351)),
            Failure::Codes => (Carc::C284, Some(Rarc::N54)),
            Failure::NoUnits | Failure::TooFewUnits(_) | Failure::Pending => (Carc::C198, None),
        }
    }

    /// Rows after which priorauth looks for an authorization that would pass.
    pub(super) fn suggests(&self) -> bool {
        matches!(
            self,
            Failure::NoNumber
                | Failure::NotOnFile
                | Failure::Member
                | Failure::Provider
                | Failure::Cancelled
                | Failure::AfterEnd
                | Failure::BeforeStart
                | Failure::Codes
        )
    }
}

/// The claim's member: its key, and where its authorizations are, found
/// on the first suggestion and kept for the claim's other lines.
pub(super) struct Member<'c> {
    pub(super) key: MemberKey<'c>,
    pub(super) auths: Cell<Option<MemberAuths>>,
}

impl Member<'_> {
    pub(super) fn auths(&self, book: &AuthBook) -> MemberAuths {
        match self.auths.get() {
            Some(a) => a,
            None => {
                let a = book.member_auths(&self.key);
                self.auths.set(Some(a));
                a
            }
        }
    }
}

/// One number checked: the number (from the claim), the authorization
/// found for it (from the book) and the outcome.
pub(super) struct Checked<'c, 'b> {
    pub(super) number: Option<&'c str>,
    pub(super) found: Option<(AuthId, &'b Terms)>,
    pub(super) result: Result<(), Failure>,
}

impl Adjudicator<'_> {
    /// Runs checks 2-11 for one number.
    #[allow(clippy::too_many_arguments)] // the line's facts, found once per claim
    pub(super) fn check<'c, 'b>(
        &self,
        claim: &Claim,
        member: &Member<'_>,
        line: &ServiceLine,
        number: &'c str,
        found: Option<(AuthId, &'b Terms)>,
        book: &'b AuthBook,
        use_: &LineUse,
    ) -> Checked<'c, 'b> {
        let Some((id, a)) = found else {
            return Checked {
                number: Some(number),
                found: None,
                result: Err(Failure::NotOnFile),
            };
        };
        let fail = |f| Checked {
            number: Some(number),
            found: Some((id, a)),
            result: Err(f),
        };
        if !book.is_for(id, a, &member.key) {
            return fail(Failure::Member);
        }
        if !claim.provider_npis(line).any(|n| book.issued_to(id, a, n)) {
            return fail(Failure::Provider);
        }
        match a.status {
            AuthStatus::Denied => return fail(Failure::StatusDenied),
            AuthStatus::Pending => return fail(Failure::Pending),
            AuthStatus::Cancelled => return fail(Failure::Cancelled),
            AuthStatus::Approved => {}
        }
        let usage = use_.usage(a.unit_type);
        let dates = use_.row8_dates(usage);
        let procedure = line.procedure.as_ref().map(|p| p.code.as_str());
        let codes_ok = || book.covers_code(id, a, procedure, line.revenue_code.as_deref());
        // An ancillary line of a stay is judged on its codes (row 9)
        // before its date (SPEC §3.2).
        if matches!(usage, Usage::Ancillary(_)) && !codes_ok() {
            return fail(Failure::Codes);
        }
        match dates {
            Some(d) if d.end > a.end_date => return fail(Failure::AfterEnd),
            Some(d) if d.start < a.start_date => return fail(Failure::BeforeStart),
            Some(_) => {}
            None => return fail(Failure::BeforeStart),
        }
        if !matches!(usage, Usage::Ancillary(_)) && !codes_ok() {
            return fail(Failure::Codes);
        }
        let pass = Checked {
            number: Some(number),
            found: Some((id, a)),
            result: Ok(()),
        };
        match (usage, a.remaining()) {
            // Stay days are judged one by one once the number is chosen;
            // ancillary lines consume nothing.
            (Usage::Stay(_) | Usage::Ancillary(_), _) | (_, None) => pass,
            (_, Some(r)) if r <= Decimal::ZERO => fail(Failure::NoUnits),
            (Usage::Visits, Some(r)) if r < Decimal::ONE => fail(Failure::NoUnits),
            (Usage::Visits, Some(_)) => pass,
            (Usage::Units, Some(r)) if line.units > r => fail(Failure::TooFewUnits(r)),
            (Usage::Units, Some(_)) => pass,
        }
    }

    /// An authorization on file that would pass every check for this line:
    /// the one ending first (then the lowest number).
    pub(super) fn suggestion(
        &self,
        claim: &Claim,
        member: &Member<'_>,
        line: &ServiceLine,
        book: &AuthBook,
        use_: &LineUse,
    ) -> Option<String> {
        let procedure = line.procedure.as_ref().map(|p| p.code.as_str());
        let number = |id| book.record(id).map(|a| a.number.as_str());
        book.of_member(member.auths(book))
            .filter(|&(id, a)| {
                a.status == AuthStatus::Approved
                    && book.is_for(id, a, &member.key)
                    && claim.provider_npis(line).any(|n| book.issued_to(id, a, n))
                    && use_
                        .row8_dates(use_.usage(a.unit_type))
                        .is_some_and(|d| a.covers_dates(&d))
                    && book.covers_code(id, a, procedure, line.revenue_code.as_deref())
                    && a.remaining().map_or(true, |r| r >= Decimal::ONE)
            })
            .min_by(|x, y| {
                x.1.end_date
                    .cmp(&y.1.end_date)
                    .then_with(|| number(x.0).cmp(&number(y.0)))
            })
            .and_then(|(id, _)| number(id))
            .map(str::to_string)
    }
}
