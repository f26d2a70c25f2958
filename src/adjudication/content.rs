//! SPEC §3.3 the content of a claim, as a duplicate is recognized by it:
//! billing NPI, member (§3.1), total charge and the lines as a multiset,
//! each line on procedure code, modifiers, revenue code, service date
//! range, units and charge. CLM01 plays no part.
//!
//! The key is a 64-bit hash of those fields, computed without allocating
//! (the fields are fed to the hasher as they are). It is stored with each
//! claim (the store finds a duplicate with one indexed read), so the hash
//! is a fixed, documented function (a word-at-a-time multiply-rotate step
//! with a final mix), not a library hasher whose output may change between
//! versions. The lines are
//! combined by a wrapping sum of their own hashes: the same lines in any
//! order give the same key.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use crate::model::{Claim, MemberBirth, ServiceLine};

/// A word-at-a-time hash (the FxHash step: rotate, xor, multiply), fed
/// whole 8-byte words so a line costs a handful of multiplies, and mixed
/// at the end by splitmix64's finalizer. Fixed here, not a library's:
/// the keys are stored.
struct WordHash(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl WordHash {
    fn new() -> Self {
        WordHash(0xcbf2_9ce4_8422_2325)
    }
    fn u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(K);
    }
    fn bytes(&mut self, b: &[u8]) {
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            if let Some(dst) = w.get_mut(..rest.len()) {
                dst.copy_from_slice(rest);
            }
            self.u64(u64::from_le_bytes(w));
        }
    }
    /// A text field with its length, so ("ab", "c") and ("a", "bc") differ.
    fn text(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.bytes(s.as_bytes());
    }
    fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.u64(u64::MAX),
        }
    }
    /// A decimal by value: 1.0 and 1.00 are the same amount.
    fn decimal(&mut self, d: Decimal) {
        let n = d.normalize();
        let m = n.mantissa();
        // Truncations keep the low and high halves of the 96-bit mantissa.
        self.u64(m as u64);
        self.u64((m >> 64) as u64);
        self.u64(u64::from(n.scale()));
    }
    fn date(&mut self, d: NaiveDate) {
        self.u64(u64::from(d.num_days_from_ce().unsigned_abs()));
    }
    fn finish(&self) -> u64 {
        mix(self.0)
    }
}

/// splitmix64's finalizer: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn line_hash(claim: &Claim, line: &ServiceLine) -> u64 {
    let mut h = WordHash::new();
    match &line.procedure {
        Some(p) => {
            h.text(&p.code);
            h.u64(p.modifiers.len() as u64);
            for m in &p.modifiers {
                h.text(m);
            }
        }
        None => h.u64(u64::MAX),
    }
    h.opt_text(line.revenue_code.as_deref());
    match claim.line_dates(line) {
        Some(d) => {
            h.date(d.start);
            h.date(d.end);
        }
        None => h.u64(u64::MAX),
    }
    h.decimal(line.units);
    h.decimal(line.charge);
    h.finish()
}

/// The content key of a claim (SPEC §3.3).
pub fn content_key(claim: &Claim) -> u64 {
    let mut h = WordHash::new();
    h.text(&claim.billing_npi);
    let member = claim.member();
    h.text(member.member_id);
    // The member is the subscriber id, and with a patient loop that
    // patient's birth date (SPEC §3.1).
    match member.birth {
        MemberBirth::Subscriber(_) => h.u64(0),
        MemberBirth::Dependent(None) => h.u64(1),
        MemberBirth::Dependent(Some(b)) => {
            h.u64(2);
            h.date(b);
        }
    }
    h.decimal(claim.total_charge);
    let lines = claim
        .lines
        .iter()
        .fold(0u64, |acc, l| acc.wrapping_add(line_hash(claim, l)));
    h.u64(claim.lines.len() as u64);
    h.u64(lines);
    h.finish()
}

/// The key as stored: 16 lower-case hex digits.
pub fn content_key_text(key: u64) -> String {
    format!("{key:016x}")
}
