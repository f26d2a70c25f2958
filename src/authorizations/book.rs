//! The authorization book adjudication works against: every authorization
//! in memory, found by number and by member, with units consumed as lines
//! are approved (in file order).
//!
//! With a million authorizations the book does not fit in cache, and every
//! pointer a check follows is a cache miss (string keys and the strings of
//! the record were about a third of adjudication time in
//! benches/adjudication.rs). So what the checks of SPEC §3 read sits
//! together in one small record per authorization ([`Terms`]), with its
//! number, member and provider packed inline; the indexes by number and by
//! member are tables of positions (4 bytes a slot) that compare the packed
//! keys in those records. The full [`Authorization`] is read only to write
//! a reason about it, or for identifiers too long to pack.

use hashbrown::HashTable;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{AuthStatus, Authorization, UnitType};
use crate::model::{any_matches, code_key, CodeSpec, DateRange, Member, MemberBirth};

/// An identifier of up to 15 bytes with its length, inline: equal strings,
/// and only they, give equal keys. None for longer identifiers. Hashed as
/// bytes (the hasher's byte hash spreads them; hashing the bytes as two
/// words left the changing digits of "A0012345" in bits the table ignores,
/// and lookups walked long probe chains).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Packed([u8; 16]);

impl Packed {
    fn of(s: &str) -> Option<Packed> {
        let b = s.as_bytes();
        let len = u8::try_from(b.len()).ok().filter(|&n| n <= 15)?;
        let mut k = [0u8; 16];
        k.get_mut(..b.len())?.copy_from_slice(b);
        if let Some(last) = k.last_mut() {
            *last = len;
        }
        Some(Packed(k))
    }
}

/// Hash of an identifier: the tables hash the text, whether or not it packs.
fn hash_id(s: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(s)
}

/// Compares a packed key with an identifier's, reading the full text
/// (`cold`) only when neither packs.
fn same_id(stored: Option<Packed>, wanted: Option<Packed>, cold: impl FnOnce() -> bool) -> bool {
    match (stored, wanted) {
        (Some(a), Some(b)) => a == b,
        (None, None) => cold(),
        _ => false,
    }
}

/// The codes an authorization covers, as the code check reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codes {
    /// No codes listed: any code.
    Any,
    /// One code or range of codes of up to 8 bytes: length and packed ends.
    One { len: usize, lo: u64, hi: u64 },
    /// Anything else: the authorization's list is read.
    Listed,
}

impl Codes {
    fn of(list: &[CodeSpec]) -> Codes {
        let (lo, hi) = match list {
            [] => return Codes::Any,
            [CodeSpec::Exact(c)] => (c, c),
            [CodeSpec::Range(lo, hi)] => (lo, hi),
            _ => return Codes::Listed,
        };
        match (code_key(lo), code_key(hi)) {
            (Some(l), Some(h)) if lo.len() == hi.len() => Codes::One {
                len: lo.len(),
                lo: l,
                hi: h,
            },
            _ => Codes::Listed,
        }
    }
}

/// No authorization: the end of a member's chain.
const NONE: u32 = u32::MAX;

/// What the checks of SPEC §3 read of one authorization, kept together.
#[derive(Debug, Clone)]
pub struct Terms {
    number: Option<Packed>,
    member_key: Option<Packed>,
    provider: Option<Packed>,
    /// UM status.
    pub status: AuthStatus,
    /// First day covered.
    pub start_date: NaiveDate,
    /// Last day covered.
    pub end_date: NaiveDate,
    /// Approved units (None: unlimited).
    pub units: Option<Decimal>,
    /// Units already consumed.
    pub units_used: Decimal,
    /// What the units count.
    pub unit_type: UnitType,
    /// The authorization is for a dependent (a patient birth date is on
    /// the record; only then is the record read to compare it). A flag, not
    /// the date: it fits in the padding, and a larger record cost a cache
    /// line per check in the 1M-authorization bench.
    for_dependent: bool,
    codes: Codes,
    /// The member's next authorization (NONE at the end).
    next_of_member: u32,
}

impl Terms {
    fn of(a: &Authorization) -> Terms {
        Terms {
            number: Packed::of(&a.number),
            member_key: Packed::of(&a.member_id),
            provider: Packed::of(&a.provider_npi),
            status: a.status,
            start_date: a.start_date,
            end_date: a.end_date,
            units: a.units,
            units_used: a.units_used,
            unit_type: a.unit_type,
            for_dependent: a.patient_birth_date.is_some(),
            codes: Codes::of(&a.codes),
            next_of_member: NONE,
        }
    }

    /// Units still available (None: unlimited).
    pub fn remaining(&self) -> Option<Decimal> {
        super::units_remaining(self.units, self.units_used)
    }

    /// True when every day of `dates` is inside the authorization.
    pub fn covers_dates(&self, dates: &DateRange) -> bool {
        self.start_date <= dates.start && dates.end <= self.end_date
    }
}

/// An authorization in the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthId(u32);

/// Where a member's authorizations are in the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberAuths(u32);

/// A claim's member (SPEC §3.1), its id packed once per claim and then
/// compared with each authorization's member inline, with no lookup: only
/// suggestions look the member up.
#[derive(Clone, Copy)]
pub struct MemberKey<'a> {
    id: &'a str,
    packed: Option<Packed>,
    birth: MemberBirth,
}

impl std::fmt::Debug for MemberKey<'_> {
    // The birth date is PHI: never in a Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<'a> MemberKey<'a> {
    /// The key of a subscriber sent without patient loop or birth date:
    /// it matches the authorizations of the subscriber themself.
    pub fn of(id: &'a str) -> Self {
        MemberKey {
            id,
            packed: Packed::of(id),
            birth: MemberBirth::Subscriber(None),
        }
    }

    /// The key of a claim's member (SPEC §3.1).
    pub fn of_member(member: Member<'a>) -> Self {
        MemberKey {
            id: member.member_id,
            packed: Packed::of(member.member_id),
            birth: member.birth,
        }
    }
}

/// The authorizations adjudication works against.
#[derive(Debug, Default, Clone)]
pub struct AuthBook {
    auths: Vec<Authorization>,
    terms: Vec<Terms>,
    /// Positions by number.
    by_number: HashTable<u32>,
    /// Per member, the position of the first authorization of its chain.
    by_member: HashTable<u32>,
}

/// True when the authorization at `at` was issued for this member. A free
/// function so that `link` can call it while it holds the member table.
fn member_at(
    terms: &[Terms],
    auths: &[Authorization],
    at: u32,
    member_id: &str,
    packed: Option<Packed>,
) -> bool {
    terms.get(at as usize).is_some_and(|t| {
        same_id(t.member_key, packed, || {
            auths
                .get(at as usize)
                .is_some_and(|a| a.member_id == member_id)
        })
    })
}

fn position(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(NONE)
}

impl AuthBook {
    /// A book over these authorizations (numbers are unique; a later
    /// duplicate replaces an earlier one).
    pub fn new(auths: Vec<Authorization>) -> Self {
        let mut book = AuthBook::default();
        book.auths.reserve(auths.len());
        book.terms.reserve(auths.len());
        for a in auths {
            book.insert(a);
        }
        book
    }

    fn number_at(&self, number: &str) -> Option<u32> {
        let packed = Packed::of(number);
        self.by_number
            .find(hash_id(number), |&at| {
                self.terms.get(at as usize).is_some_and(|t| {
                    same_id(t.number, packed, || {
                        self.auths
                            .get(at as usize)
                            .is_some_and(|a| a.number == number)
                    })
                })
            })
            .copied()
    }

    /// The first authorization of a member's chain (NONE: none on file).
    fn first_of_member(&self, member_id: &str, packed: Option<Packed>) -> u32 {
        self.by_member
            .find(hash_id(member_id), |&at| {
                self.is_member_at(at, member_id, packed)
            })
            .copied()
            .unwrap_or(NONE)
    }

    fn is_member_at(&self, at: u32, member_id: &str, packed: Option<Packed>) -> bool {
        member_at(&self.terms, &self.auths, at, member_id, packed)
    }

    /// Puts `i` first in its member's chain.
    fn link(&mut self, i: u32) {
        let Some(member_id) = self.auths.get(i as usize).map(|a| a.member_id.clone()) else {
            return;
        };
        let packed = Packed::of(&member_id);
        let hash = hash_id(&member_id);
        let (terms, auths) = (&self.terms, &self.auths);
        let same = |&at: &u32| member_at(terms, auths, at, &member_id, packed);
        let next = match self.by_member.find_mut(hash, same) {
            Some(first) => std::mem::replace(first, i),
            None => {
                self.by_member.insert_unique(hash, i, |&at| {
                    auths.get(at as usize).map_or(0, |a| hash_id(&a.member_id))
                });
                NONE
            }
        };
        if let Some(t) = self.terms.get_mut(i as usize) {
            t.next_of_member = next;
        }
    }

    /// Takes `i` out of its member's chain (before its record changes).
    fn unlink(&mut self, i: u32) {
        let Some(member_id) = self.auths.get(i as usize).map(|a| a.member_id.clone()) else {
            return;
        };
        let packed = Packed::of(&member_id);
        let next = self
            .terms
            .get(i as usize)
            .map_or(NONE, |t| t.next_of_member);
        let first = self.first_of_member(&member_id, packed);
        if first == i {
            let hash = hash_id(&member_id);
            if let Ok(entry) = self.by_member.find_entry(hash, |&at| at == i) {
                if next == NONE {
                    entry.remove();
                } else {
                    *entry.into_mut() = next;
                }
            }
            return;
        }
        let mut at = first;
        while let Some(t) = self.terms.get_mut(at as usize) {
            if t.next_of_member == i {
                t.next_of_member = next;
                return;
            }
            at = t.next_of_member;
        }
    }

    /// Adds or replaces one authorization.
    pub fn insert(&mut self, a: Authorization) {
        if let Some(i) = self.number_at(&a.number) {
            let moves = self
                .auths
                .get(i as usize)
                .is_some_and(|old| old.member_id != a.member_id);
            if moves {
                self.unlink(i);
            }
            if let (Some(t), Some(slot)) = (
                self.terms.get_mut(i as usize),
                self.auths.get_mut(i as usize),
            ) {
                *t = Terms {
                    next_of_member: t.next_of_member,
                    ..Terms::of(&a)
                };
                *slot = a;
            }
            if moves {
                self.link(i);
            }
            return;
        }
        let i = position(self.auths.len());
        let hash = hash_id(&a.number);
        self.terms.push(Terms::of(&a));
        self.auths.push(a);
        let auths = &self.auths;
        self.by_number.insert_unique(hash, i, |&at| {
            auths.get(at as usize).map_or(0, |a| hash_id(&a.number))
        });
        self.link(i);
    }

    /// The authorization with this number.
    pub fn get(&self, number: &str) -> Option<&Authorization> {
        self.number_at(number)
            .and_then(|i| self.auths.get(i as usize))
    }

    /// The authorization with this number, and its terms.
    pub fn find(&self, number: &str) -> Option<(AuthId, &Terms)> {
        let i = self.number_at(number)?;
        Some((AuthId(i), self.terms.get(i as usize)?))
    }

    /// The terms of an authorization already found.
    pub fn terms(&self, id: AuthId) -> Option<&Terms> {
        self.terms.get(id.0 as usize)
    }

    /// The whole record of an authorization.
    pub fn record(&self, id: AuthId) -> Option<&Authorization> {
        self.auths.get(id.0 as usize)
    }

    /// True when the authorization was issued for this member (SPEC §3.1:
    /// the subscriber id, and the patient's birth date when the claim has a
    /// patient loop).
    pub fn is_for(&self, id: AuthId, terms: &Terms, member: &MemberKey<'_>) -> bool {
        let birth_ok = match (member.birth, terms.for_dependent) {
            (MemberBirth::Subscriber(_), false) => true,
            (MemberBirth::Dependent(_), false) => false,
            (birth, true) => birth.accepts(self.record(id).and_then(|a| a.patient_birth_date)),
        };
        birth_ok
            && same_id(terms.member_key, member.packed, || {
                self.record(id).is_some_and(|a| a.member_id == member.id)
            })
    }

    /// Where a member's authorizations are (found once per claim, at most).
    pub fn member_auths(&self, member: &MemberKey<'_>) -> MemberAuths {
        MemberAuths(self.first_of_member(member.id, member.packed))
    }

    /// Authorizations issued for a member, with their terms.
    pub fn of_member(&self, member: MemberAuths) -> impl Iterator<Item = (AuthId, &Terms)> + '_ {
        let mut at = member.0;
        std::iter::from_fn(move || {
            let t = self.terms.get(at as usize)?;
            let id = AuthId(at);
            at = t.next_of_member;
            Some((id, t))
        })
    }

    /// True when the authorization was issued to this provider NPI.
    pub fn issued_to(&self, id: AuthId, terms: &Terms, npi: &str) -> bool {
        same_id(terms.provider, Packed::of(npi), || {
            self.record(id).is_some_and(|a| a.provider_npi == npi)
        })
    }

    /// True when the line's procedure or revenue code is covered.
    pub fn covers_code(
        &self,
        id: AuthId,
        terms: &Terms,
        procedure: Option<&str>,
        revenue: Option<&str>,
    ) -> bool {
        let listed = |code: &str| self.record(id).is_some_and(|a| any_matches(&a.codes, code));
        let covers = |code: &str| match terms.codes {
            Codes::Any => true,
            Codes::One { len, lo, hi } => match code_key(code) {
                Some(k) => code.len() == len && lo <= k && k <= hi,
                None => listed(code),
            },
            Codes::Listed => listed(code),
        };
        terms.codes == Codes::Any || procedure.is_some_and(covers) || revenue.is_some_and(covers)
    }

    /// Adds `units` to an authorization's units used (negative to reverse).
    pub fn consume(&mut self, number: &str, units: Decimal) {
        if let Some(i) = self.number_at(number) {
            self.consume_id(AuthId(i), units);
        }
    }

    /// [`AuthBook::consume`] for an authorization already found.
    pub fn consume_id(&mut self, id: AuthId, units: Decimal) {
        if let (Some(t), Some(a)) = (
            self.terms.get_mut(id.0 as usize),
            self.auths.get_mut(id.0 as usize),
        ) {
            t.units_used = (t.units_used + units).max(Decimal::ZERO);
            a.units_used = t.units_used;
        }
    }

    /// Number of authorizations.
    pub fn len(&self) -> usize {
        self.auths.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.auths.is_empty()
    }

    /// All authorizations, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Authorization> {
        self.auths.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(number: &str, member: &str, npi: &str, codes: &str) -> Authorization {
        Authorization {
            number: number.into(),
            member_id: member.into(),
            provider_npi: npi.into(),
            codes: codes
                .split('|')
                .filter(|c| !c.is_empty())
                .map(|c| CodeSpec::parse(c).unwrap())
                .collect(),
            units: Some(Decimal::TWO),
            units_used: Decimal::ZERO,
            start_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            end_date: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            status: AuthStatus::Approved,
            patient_birth_date: None,
            unit_type: UnitType::Units,
        }
    }

    #[test]
    fn packed_keys_tell_every_short_string_apart() {
        let ids = [
            "",
            "A",
            "A\0",
            "A0",
            "0A",
            "123456789012345",
            "12345678901234",
        ];
        for a in ids {
            for b in ids {
                assert_eq!(Packed::of(a) == Packed::of(b), a == b, "{a:?} {b:?}");
            }
        }
        assert_eq!(Packed::of("1234567890123456"), None);
    }

    #[test]
    fn long_and_short_identifiers_are_found_and_compared_exactly() {
        let long = "AUTH-2026-000000000001";
        let book = AuthBook::new(vec![
            auth(
                long,
                "MEMBER-ID-LONGER-THAN-15",
                "12345678931",
                "70551|70553",
            ),
            auth("A1", "M1", "1234567893", "70540-70553"),
            auth("A2", "M1", "1234567893", "ABCDEFGHIJ"),
        ]);
        let (id, t) = book.find(long).unwrap();
        assert!(book.is_for(id, t, &MemberKey::of("MEMBER-ID-LONGER-THAN-15")));
        assert!(!book.is_for(id, t, &MemberKey::of("M1")));
        assert!(!book.is_for(id, t, &MemberKey::of("nobody")));
        let (a1, t1) = book.find("A1").unwrap();
        assert!(book.is_for(a1, t1, &MemberKey::of("M1")));
        assert!(!book.is_for(a1, t1, &MemberKey::of("M1 ")));
        assert!(book.issued_to(id, t, "12345678931"));
        assert!(!book.issued_to(id, t, "1234567893"));
        assert!(book.covers_code(id, t, Some("70553"), None));
        assert!(!book.covers_code(id, t, Some("70552"), None));
        let (id, t) = book.find("A1").unwrap();
        assert!(book.covers_code(id, t, Some("70552"), None));
        assert!(book.covers_code(id, t, None, Some("70540")));
        assert!(!book.covers_code(id, t, Some("7055"), None));
        assert!(!book.covers_code(id, t, Some("705520"), None));
        assert!(!book.issued_to(id, t, "12345678931"));
        let (id, t) = book.find("A2").unwrap();
        assert!(book.covers_code(id, t, Some("ABCDEFGHIJ"), None));
        assert!(!book.covers_code(id, t, Some("ABCDEFGHIK"), None));
        assert!(book.find("A3").is_none());
    }

    #[test]
    fn replacing_an_authorization_moves_it_between_members() {
        let mut book = AuthBook::new(vec![
            auth("A1", "M1", "1234567893", ""),
            auth("A2", "M1", "1234567893", ""),
            auth("A3", "M1", "1234567893", ""),
        ]);
        book.insert(auth("A2", "M2", "1234567893", "70551"));
        let numbers = |book: &AuthBook, m: &str| {
            let mut n: Vec<String> = book
                .of_member(book.member_auths(&MemberKey::of(m)))
                .map(|(id, _)| book.record(id).unwrap().number.clone())
                .collect();
            n.sort();
            n
        };
        assert_eq!(numbers(&book, "M1"), ["A1", "A3"]);
        assert_eq!(numbers(&book, "M2"), ["A2"]);
        assert_eq!(book.len(), 3);
        // The first of a chain (the latest added), then the last one left.
        book.insert(auth("A3", "MEMBER-ID-LONGER-THAN-15", "1234567893", ""));
        assert_eq!(numbers(&book, "M1"), ["A1"]);
        assert_eq!(numbers(&book, "MEMBER-ID-LONGER-THAN-15"), ["A3"]);
        book.insert(auth("A1", "M2", "1234567893", ""));
        assert!(book
            .of_member(book.member_auths(&MemberKey::of("M1")))
            .next()
            .is_none());
        assert_eq!(numbers(&book, "M2"), ["A1", "A2"]);
        // Same member again: stays in its chain, record replaced.
        book.insert(auth("A1", "M2", "1234567893", "70551"));
        assert_eq!(numbers(&book, "M2"), ["A1", "A2"]);
        assert_eq!(book.get("A1").unwrap().codes_text(), "70551");
        book.consume("A2", Decimal::ONE);
        assert_eq!(book.find("A2").unwrap().1.remaining(), Some(Decimal::ONE));
        assert_eq!(book.get("A2").unwrap().units_used, Decimal::ONE);
        book.consume("A2", -Decimal::TEN);
        assert_eq!(book.get("A2").unwrap().units_used, Decimal::ZERO);
    }
}

#[cfg(test)]
mod size {
    /// The checks read one record per line: keep it from growing.
    #[test]
    fn terms_stay_within_their_size() {
        assert!(std::mem::size_of::<super::Terms>() <= 136);
    }
}
