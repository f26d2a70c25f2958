//! Throughput of X12 837 intake, in bytes per second of input:
//!
//! - `lexer`: `SegmentReader` alone (segment splitting, delimiters from ISA);
//! - `parser`: `Parser` to the full claim model (envelopes, HL tree, claims).
//!
//! The input is a synthetic 837P made here, in memory, by a small
//! deterministic generator (no files, nothing from ../shared), shaped like
//! `gen837.py`'s: billing provider HL → subscriber HL (→ patient HL for about
//! one claim in five), CLM with CLM05, REF*G1 on some claims, HI, 1-6
//! LX/SV1/DTP*472/REF*6R lines (REF*G1 on some lines), correct SE/GE/IEA
//! counts. The generator's output is checked to parse with every set
//! accepted before anything is timed, so the error paths are not what is
//! measured.
//!
//! `cargo bench --bench x12_parse` (add `-- --quick` for a short run).
//! `benches/perf.sh` measures the release binary on real files and against
//! the peer tools; see docs/PERFORMANCE.md.

// Bench code is not shipped: the deny-lints on unwrap/expect/indexing/panic in
// Cargo.toml are for library code, and a broken generator here should stop
// the bench loudly rather than time an error path.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use priorauth::x12::{Lexed, Parser, SegmentReader};

/// Claims in the generated file: about 3.3 MB of 837P.
const CLAIMS: usize = 6_000;
/// Claims per ST/SE transaction set.
const PER_ST: usize = 2_000;
/// Claims per billing provider HL.
const PER_BILLING: usize = 50;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

const CPT: &[&str] = &[
    "99213", "99214", "99203", "70551", "72148", "73721", "97110", "97140", "93000", "80053",
    "85025", "36415", "20610", "64483", "29881", "90837", "J1885", "E0601",
];
const MODS: &[&str] = &["25", "59", "LT", "RT", "GT", "26", "TC"];
const ICD: &[&str] = &[
    "I10", "E119", "M545", "Z0000", "J069", "R0789", "M1711", "F329", "K219", "N390", "G4733",
];
const LAST: &[&str] = &[
    "SMITH", "GARCIA", "NGUYEN", "PATEL", "JOHNSON", "KOWALSKI", "OKAFOR",
];
const FIRST: &[&str] = &[
    "JOHN", "JANE", "MARIA", "WEI", "AHMED", "OLGA", "LUIS", "AMY",
];
const POS: &[&str] = &["11", "22", "21", "23", "81", "02"];

/// Luhn-valid NPI (check digit over the 80840 prefix, as CMS defines it).
fn npi(rng: &mut Rng) -> String {
    let mut digits = vec![rng.range(1, 2)];
    digits.extend((0..8).map(|_| rng.range(0, 9)));
    let mut total = 0;
    for (i, &d) in [8, 0, 8, 4, 0]
        .iter()
        .chain(digits.iter())
        .rev()
        .enumerate()
    {
        let d = if i % 2 == 0 { d * 2 } else { d };
        total += if d > 9 { d - 9 } else { d };
    }
    digits.push((10 - total % 10) % 10);
    digits.iter().map(|d| char::from(b'0' + *d as u8)).collect()
}

/// One transaction set's segments (without terminators); SE is added here.
fn transaction(rng: &mut Rng, st: usize, first_claim: usize, claims: usize) -> Vec<String> {
    let ctl = format!("{st:04}");
    let mut s = vec![
        format!("ST*837*{ctl}*005010X222A1"),
        format!("BHT*0019*00*B{ctl}*20251101*1200*CH"),
        "NM1*41*2*SYNTH SUBMITTER*****46*SUB12345".to_string(),
        "PER*IC*EDI DESK*TE*5125550100".to_string(),
        "NM1*40*2*SYNTH PAYER CLEARINGHOUSE*****46*PAYER001".to_string(),
    ];
    let mut hl = 0;
    let mut claim_no = first_claim;
    let mut left = claims;
    while left > 0 {
        let n = left.min(PER_BILLING);
        left -= n;
        hl += 1;
        let bp = hl;
        s.push(format!("HL*{bp}**20*1"));
        s.push("PRV*BI*PXC*207Q00000X".to_string());
        s.push(format!("NM1*85*2*SYNTH CLINIC {bp}*****XX*{}", npi(rng)));
        s.push(format!("N3*{} MAIN ST", rng.range(100, 9999)));
        s.push("N4*AUSTIN*TX*787011234".to_string());
        s.push(format!("REF*EI*{}", rng.range(100_000_000, 999_999_999)));
        for _ in 0..n {
            claim_no += 1;
            let dependent = rng.chance(20);
            hl += 1;
            let sub = hl;
            s.push(format!("HL*{sub}*{bp}*22*{}", u8::from(dependent)));
            let rel = if dependent { "" } else { "18" };
            s.push(format!("SBR*P*{rel}*GRP{}******CI", rng.range(1000, 9999)));
            let (last, first) = (rng.pick(LAST), rng.pick(FIRST));
            let member = rng.range(1_000_000_000, 9_999_999_999);
            s.push(format!("NM1*IL*1*{last}*{first}****MI*M{member}"));
            s.push(format!("N3*{} OAK AVE", rng.range(1, 999)));
            s.push("N4*DENVER*CO*802021111".to_string());
            let (y, m, d) = (rng.range(1940, 2005), rng.range(1, 12), rng.range(1, 28));
            s.push(format!("DMG*D8*{y}{m:02}{d:02}*F"));
            s.push("NM1*PR*2*SYNTH HEALTH PLAN*****PI*PAYER001".to_string());
            if dependent {
                hl += 1;
                s.push(format!("HL*{hl}*{sub}*23*0"));
                s.push("PAT*19".to_string());
                let (last, first) = (rng.pick(LAST), rng.pick(FIRST));
                s.push(format!("NM1*QC*1*{last}*{first}"));
                s.push(format!("N3*{} OAK AVE", rng.range(1, 999)));
                s.push("N4*DENVER*CO*802021111".to_string());
                let (m, d) = (rng.range(1, 12), rng.range(1, 28));
                s.push(format!("DMG*D8*2012{m:02}{d:02}*M"));
            }
            let lines = rng.range(1, 6);
            let ndx = rng.range(1, 4);
            let mut body = Vec::new();
            let mut total = 0;
            let day = rng.range(1, 28);
            for ln in 1..=lines {
                let mut proc = format!("HC:{}", rng.pick(CPT));
                if rng.chance(25) {
                    write!(proc, ":{}", rng.pick(MODS)).unwrap();
                }
                let units = rng.range(1, 4);
                let amount = rng.range(25, 2500) * units;
                total += amount;
                let ptr = rng.range(1, ndx);
                body.push(format!("LX*{ln}"));
                body.push(format!("SV1*{proc}*{amount}*UN*{units}***{ptr}"));
                body.push(format!("DTP*472*D8*202503{day:02}"));
                if rng.chance(25) {
                    body.push(format!("REF*G1*PA{}", rng.range(100_000_000, 999_999_999)));
                }
                body.push(format!("REF*6R*{claim_no}L{ln}"));
            }
            let pos = rng.pick(POS);
            s.push(format!("CLM*PCN{claim_no:09}*{total}***{pos}:B:1*Y*A*Y*Y"));
            if rng.chance(40) {
                s.push(format!("REF*G1*PA{}", rng.range(100_000_000, 999_999_999)));
            }
            let mut hi = format!("HI*ABK:{}", rng.pick(ICD));
            for _ in 1..ndx {
                write!(hi, "*ABF:{}", rng.pick(ICD)).unwrap();
            }
            s.push(hi);
            s.extend(body);
        }
    }
    s.push(format!("SE*{}*{ctl}", s.len() + 1));
    s
}

/// A whole interchange of `claims` claims, `PER_ST` to a set.
fn generate(claims: usize) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut segs = vec![
        "ISA*00*          *00*          *ZZ*SUB12345       *ZZ*PAYER001       *251101*1200*^*00501*000000001*0*T*:"
            .to_string(),
        "GS*HC*SUB12345*PAYER001*20251101*1200*1*X*005010X222A1".to_string(),
    ];
    let (mut done, mut sets) = (0, 0);
    while done < claims {
        let n = PER_ST.min(claims - done);
        sets += 1;
        segs.extend(transaction(&mut rng, sets, done, n));
        done += n;
    }
    segs.push(format!("GE*{sets}*1"));
    segs.push("IEA*1*000000001".to_string());
    let mut out = segs.join("~");
    out.push('~');
    out.into_bytes()
}

fn count_segments(data: &[u8]) -> u64 {
    let mut reader = SegmentReader::new(data);
    let mut n = 0;
    while let Some(item) = reader.next_segment() {
        if let Lexed::Segment(s) = item {
            black_box(s.raw());
            n += 1;
        }
    }
    n
}

fn count_claims(data: &[u8]) -> (usize, usize) {
    let mut parser = Parser::new(data);
    let (mut claims, mut rejected) = (0, 0);
    while let Some(set) = parser.next_set() {
        if !set.accepted() {
            rejected += 1;
        }
        claims += black_box(&set.claims).len();
    }
    (claims, rejected)
}

fn bench(c: &mut Criterion) {
    let data = generate(CLAIMS);
    let (claims, rejected) = count_claims(&data);
    assert_eq!(
        (claims, rejected),
        (CLAIMS, 0),
        "the generated 837P must parse cleanly"
    );
    eprintln!(
        "x12_parse: {} claims, {:.2} MB of synthetic 837P",
        CLAIMS,
        data.len() as f64 / 1e6
    );

    let mut g = c.benchmark_group("x12_837p");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(2));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("lexer", |b| b.iter(|| count_segments(black_box(&data))));
    g.bench_function("parser_to_claims", |b| {
        b.iter(|| count_claims(black_box(&data)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
