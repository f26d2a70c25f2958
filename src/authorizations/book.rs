//! The authorization book adjudication works against: every authorization
//! in memory, found by number and by member, with units consumed as lines
//! are approved (in file order).
//!
//! With a million authorizations the book does not fit in cache, and every
//! pointer a check follows is a cache miss (string keys and the strings of
//! the record were about a third of adjudication time in
//! benches/adjudication.rs). So numbers and members are found by packed
//! keys, members are compared as small numbers, and what the checks of
//! SPEC §3 read sits together in one small record per authorization
//! ([`Terms`]). The full [`Authorization`] is read only to write a reason
//! about it, or for codes and NPIs too long to pack.

use rustc_hash::FxHashMap as HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{AuthStatus, Authorization};
use crate::model::{any_matches, code_key, CodeSpec, DateRange};

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

/// Identifiers to positions: packed keys for short ones, strings beyond.
#[derive(Debug, Default, Clone)]
struct Ids {
    short: HashMap<Packed, u32>,
    long: HashMap<Box<str>, u32>,
}

impl Ids {
    fn get(&self, s: &str) -> Option<u32> {
        match Packed::of(s) {
            Some(k) => self.short.get(&k).copied(),
            None => self.long.get(s).copied(),
        }
    }

    fn insert(&mut self, s: &str, at: u32) {
        match Packed::of(s) {
            Some(k) => self.short.insert(k, at),
            None => self.long.insert(s.into(), at),
        };
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
    member: u32,
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
    codes: Codes,
    /// The member's next authorization (NONE at the end).
    next_of_member: u32,
}

impl Terms {
    fn of(a: &Authorization, member: u32) -> Terms {
        Terms {
            member,
            member_key: Packed::of(&a.member_id),
            provider: Packed::of(&a.provider_npi),
            status: a.status,
            start_date: a.start_date,
            end_date: a.end_date,
            units: a.units,
            units_used: a.units_used,
            codes: Codes::of(&a.codes),
            next_of_member: NONE,
        }
    }

    /// Units still available (None: unlimited).
    pub fn remaining(&self) -> Option<Decimal> {
        self.units.map(|u| (u - self.units_used).max(Decimal::ZERO))
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

/// A claim's member id, packed once per claim and then compared with each
/// authorization's member inline, with no lookup: only suggestions look
/// the member up.
#[derive(Debug, Clone, Copy)]
pub struct MemberKey<'a> {
    id: &'a str,
    packed: Option<Packed>,
}

impl<'a> MemberKey<'a> {
    /// The key of a member id.
    pub fn of(id: &'a str) -> Self {
        MemberKey {
            id,
            packed: Packed::of(id),
        }
    }
}

/// The authorizations adjudication works against.
#[derive(Debug, Default, Clone)]
pub struct AuthBook {
    auths: Vec<Authorization>,
    terms: Vec<Terms>,
    numbers: Ids,
    members: Ids,
    /// Per member, the first authorization of its chain.
    first_of_member: Vec<u32>,
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

    fn member_or_add(&mut self, member_id: &str) -> u32 {
        if let Some(m) = self.members.get(member_id) {
            return m;
        }
        let m = position(self.first_of_member.len());
        self.members.insert(member_id, m);
        self.first_of_member.push(NONE);
        m
    }

    fn link(&mut self, i: u32, member: u32) {
        let Some(first) = self.first_of_member.get_mut(member as usize) else {
            return;
        };
        let next = std::mem::replace(first, i);
        if let Some(t) = self.terms.get_mut(i as usize) {
            t.member = member;
            t.next_of_member = next;
        }
    }

    fn unlink(&mut self, i: u32, member: u32) {
        let next = self
            .terms
            .get(i as usize)
            .map_or(NONE, |t| t.next_of_member);
        let Some(first) = self.first_of_member.get_mut(member as usize) else {
            return;
        };
        if *first == i {
            *first = next;
            return;
        }
        let mut at = *first;
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
        let member = self.member_or_add(&a.member_id);
        if let Some(i) = self.numbers.get(&a.number) {
            let old = self
                .terms
                .get(i as usize)
                .map(|t| (t.member, t.next_of_member));
            if let (Some(t), Some(slot)) = (
                self.terms.get_mut(i as usize),
                self.auths.get_mut(i as usize),
            ) {
                let (old_member, next) = old.unwrap_or((member, NONE));
                *t = Terms {
                    member: old_member,
                    next_of_member: next,
                    ..Terms::of(&a, member)
                };
                *slot = a;
                if old_member != member {
                    self.unlink(i, old_member);
                    self.link(i, member);
                }
            }
            return;
        }
        let i = position(self.auths.len());
        self.numbers.insert(&a.number, i);
        self.terms.push(Terms::of(&a, member));
        self.auths.push(a);
        self.link(i, member);
    }

    /// The authorization with this number.
    pub fn get(&self, number: &str) -> Option<&Authorization> {
        self.numbers
            .get(number)
            .and_then(|i| self.auths.get(i as usize))
    }

    /// The authorization with this number, and its terms.
    pub fn find(&self, number: &str) -> Option<(AuthId, &Terms)> {
        let i = self.numbers.get(number)?;
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

    /// True when the authorization was issued for this member.
    pub fn is_for(&self, id: AuthId, terms: &Terms, member: &MemberKey<'_>) -> bool {
        match (terms.member_key, member.packed) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.record(id).is_some_and(|a| a.member_id == member.id),
            _ => false,
        }
    }

    /// Where a member's authorizations are (found once per claim, at most).
    pub fn member_auths(&self, member: &MemberKey<'_>) -> MemberAuths {
        MemberAuths(
            self.members
                .get(member.id)
                .and_then(|m| self.first_of_member.get(m as usize))
                .copied()
                .unwrap_or(NONE),
        )
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
        match (terms.provider, Packed::of(npi)) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.record(id).is_some_and(|a| a.provider_npi == npi),
            _ => false,
        }
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
        if let Some(i) = self.numbers.get(number) {
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
        let numbers = |m: &str| {
            let mut n: Vec<String> = book
                .of_member(book.member_auths(&MemberKey::of(m)))
                .map(|(id, _)| book.record(id).unwrap().number.clone())
                .collect();
            n.sort();
            n
        };
        assert_eq!(numbers("M1"), ["A1", "A3"]);
        assert_eq!(numbers("M2"), ["A2"]);
        assert_eq!(book.len(), 3);
        book.consume("A2", Decimal::ONE);
        assert_eq!(book.find("A2").unwrap().1.remaining(), Some(Decimal::ONE));
        assert_eq!(book.get("A2").unwrap().units_used, Decimal::ONE);
        book.consume("A2", -Decimal::TEN);
        assert_eq!(book.get("A2").unwrap().units_used, Decimal::ZERO);
    }
}
