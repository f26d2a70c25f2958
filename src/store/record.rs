//! A stored claim's record (`claims.body`): the decision JSON, byte for
//! byte as the core wrote it, and the claim's facts (the claim model,
//! what re-adjudication needs), compressed with zstd and dictionaries
//! trained on decisions and claims. A claim costs about 290 bytes
//! instead of 3.5 KB: the decisions' reason sentences and JSON keys, and
//! the facts' usual codes and qualifiers, are in the dictionaries.
//!
//! Layouts, told apart by their first byte; every one stays readable:
//! - **Version 2** (written now): the length of the facts frame (4 bytes,
//!   little-endian; 0 when the record has no facts), the facts frame (the
//!   claim model in `postcard`'s binary form), then the decision frame
//!   (the decision JSON). Two frames so that a replay (issue 19) reads a
//!   claim's facts without decompressing its decision, and binary facts
//!   because parsing JSON facts was most of a replay's decoding time
//!   (docs/PERFORMANCE.md). postcard writes fields in the order the model
//!   declares them and names none: a change to the claim model's fields
//!   needs a new version (the test `a_version_2_record_of_today_still_reads`
//!   fails first).
//! - **Version 1**: one frame of `decision JSON` `\n` `facts JSON`
//!   (serde_json never writes a raw newline, so the first one splits
//!   them).
//!
//! Every frame is zstd with a dictionary trained on generated claims
//! (`zstd --train`): `claims-v1.dict` (decisions and JSON facts) for the
//! version 1 frame and the decision frame, `facts-v2.dict` for the facts
//! frame (trained on the binary facts of the generated 100k-claim file,
//! decompressed from records made with the first: 135 bytes a claim's
//! facts instead of 245 with the first). `benches/mkdict.sh` trains its
//! successor the same way. A new dictionary gets a new version byte.

use std::cell::RefCell;
use std::sync::OnceLock;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use super::{Result, StoreError};
use crate::model::Claim;

const V1: u8 = 1;
const V2: u8 = 2;
const DICT_V1: &[u8] = include_bytes!("claims-v1.dict");
const DICT_FACTS_V2: &[u8] = include_bytes!("facts-v2.dict");
/// zstd level 1: on generated claims (version 1 records) 308 bytes a
/// record against 300 at level 3 and 273 at level 6, for the least time
/// (compression was 9% of a stored run's time at level 3).
const LEVEL: i32 = 1;
/// No record decompresses to more (a claim has at most 50 lines of SPEC
/// §2.1 size); a corrupt frame cannot make the reader allocate more.
const MAX_PLAIN: usize = 4 << 20;
/// Nor a batch chunk (thousands of claims).
const MAX_CHUNK: usize = 1 << 30;

/// Which dictionary a frame is compressed with.
#[derive(Clone, Copy)]
enum Dict {
    /// `claims-v1.dict`: decisions, and version 1's JSON facts.
    Claims,
    /// `facts-v2.dict`: version 2's binary facts.
    Facts,
}

impl Dict {
    fn bytes(self) -> &'static [u8] {
        match self {
            Dict::Claims => DICT_V1,
            Dict::Facts => DICT_FACTS_V2,
        }
    }

    /// Its slot of a pair kept per dictionary.
    fn of<T>(self, pair: &mut (T, T)) -> &mut T {
        match self {
            Dict::Claims => &mut pair.0,
            Dict::Facts => &mut pair.1,
        }
    }

    fn encoder(self) -> &'static EncoderDictionary<'static> {
        static CLAIMS: OnceLock<EncoderDictionary<'static>> = OnceLock::new();
        static FACTS: OnceLock<EncoderDictionary<'static>> = OnceLock::new();
        let d = match self {
            Dict::Claims => &CLAIMS,
            Dict::Facts => &FACTS,
        };
        d.get_or_init(|| EncoderDictionary::copy(self.bytes(), LEVEL))
    }

    fn decoder(self) -> &'static DecoderDictionary<'static> {
        static CLAIMS: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
        static FACTS: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
        let d = match self {
            Dict::Claims => &CLAIMS,
            Dict::Facts => &FACTS,
        };
        d.get_or_init(|| DecoderDictionary::copy(self.bytes()))
    }
}

thread_local! {
    // One zstd context per thread and dictionary: building one costs more
    // than a record.
    static COMPRESSOR: RefCell<(Option<Compressor<'static>>, Option<Compressor<'static>>)> = const { RefCell::new((None, None)) };
    static DECOMPRESSOR: RefCell<(Option<Decompressor<'static>>, Option<Decompressor<'static>>)> = const { RefCell::new((None, None)) };
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("claim record: {what}"))
}

/// The record of a decision (its JSON) and, when known, the claim's facts
/// (version 2).
pub(super) fn encode(decision_json: &str, facts: Option<&Claim>) -> Result<Vec<u8>> {
    let facts = match facts {
        Some(claim) => frame(Dict::Facts, &postcard::to_allocvec(claim).map_err(corrupt)?)?,
        None => Vec::new(),
    };
    let decision = frame(Dict::Claims, decision_json.as_bytes())?;
    let facts_len = u32::try_from(facts.len()).map_err(|_| corrupt("facts too large"))?;
    let mut out = Vec::with_capacity(5 + facts.len() + decision.len());
    out.push(V2);
    out.extend_from_slice(&facts_len.to_le_bytes());
    out.extend_from_slice(&facts);
    out.extend_from_slice(&decision);
    Ok(out)
}

/// One zstd frame of `plain`, with the dictionary.
fn frame(dict: Dict, plain: &[u8]) -> Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slots = cell.borrow_mut();
        let slot = dict.of(&mut slots);
        let c = match slot.as_mut() {
            Some(c) => c,
            None => {
                slot.insert(Compressor::with_prepared_dictionary(dict.encoder()).map_err(corrupt)?)
            }
        };
        c.compress(plain).map_err(corrupt)
    })
}

/// A version 1 record of `plain` (batch chunks are still written so).
fn compress(plain: &[u8]) -> Result<Vec<u8>> {
    let frame = frame(Dict::Claims, plain)?;
    let mut out = Vec::with_capacity(frame.len() + 1);
    out.push(V1);
    out.extend_from_slice(&frame);
    Ok(out)
}

/// A record's frames.
enum Frames<'a> {
    /// Version 1: decision JSON and facts JSON in one.
    One(&'a [u8]),
    /// Version 2: the facts (None: the record has none) and the decision.
    Two {
        facts: Option<&'a [u8]>,
        decision: &'a [u8],
    },
}

fn frames(record: &[u8]) -> Result<Frames<'_>> {
    match record.split_first() {
        None => Err(corrupt("empty")),
        Some((&V1, frame)) => Ok(Frames::One(frame)),
        Some((&V2, rest)) => {
            let (len, rest) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| corrupt("cut short"))?;
            let len = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
            if len > rest.len() {
                return Err(corrupt("cut short"));
            }
            let (facts, decision) = rest.split_at(len);
            Ok(Frames::Two {
                facts: (len > 0).then_some(facts),
                decision,
            })
        }
        Some((version, _)) => Err(corrupt(format_args!("unknown version {version}"))),
    }
}

/// The plain text of a version 1 record (`max` bytes at most).
fn plain_sized(record: &[u8], max: usize) -> Result<Vec<u8>> {
    match frames(record)? {
        Frames::One(frame) => unframe(Dict::Claims, frame, max),
        Frames::Two { .. } => Err(corrupt("a claim record where claims were expected")),
    }
}

/// The plain bytes of one frame (`max` bytes at most).
fn unframe(dict: Dict, frame: &[u8], max: usize) -> Result<Vec<u8>> {
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .map_err(|_| corrupt("not a zstd frame"))?
        .ok_or_else(|| corrupt("no content size"))?;
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size > max {
        return Err(corrupt("too large"));
    }
    DECOMPRESSOR.with(|cell| {
        let mut slots = cell.borrow_mut();
        let slot = dict.of(&mut slots);
        let d = match slot.as_mut() {
            Some(d) => d,
            None => slot
                .insert(Decompressor::with_prepared_dictionary(dict.decoder()).map_err(corrupt)?),
        };
        d.decompress(frame, size).map_err(corrupt)
    })
}

fn split(plain: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr(b'\n', plain) {
        Some(i) => (plain.get(..i).unwrap_or_default(), plain.get(i + 1..)),
        None => (plain, None),
    }
}

/// The decision JSON of a record, exactly as it was stored.
pub(super) fn decision(record: &[u8]) -> Result<String> {
    let plain = match frames(record)? {
        Frames::One(frame) => {
            let mut plain = unframe(Dict::Claims, frame, MAX_PLAIN)?;
            let len = split(&plain).0.len();
            plain.truncate(len);
            plain
        }
        Frames::Two { decision, .. } => unframe(Dict::Claims, decision, MAX_PLAIN)?,
    };
    String::from_utf8(plain).map_err(corrupt)
}

/// The facts after a version 1 record's decision line, when it has them.
fn json_facts(json: Option<&[u8]>) -> Result<Option<Claim>> {
    json.map(|j| serde_json::from_slice(j).map_err(corrupt))
        .transpose()
}

/// The claim's facts of a record, when it has them.
pub(super) fn facts(record: &[u8]) -> Result<Option<Claim>> {
    match frames(record)? {
        Frames::One(frame) => json_facts(split(&unframe(Dict::Claims, frame, MAX_PLAIN)?).1),
        Frames::Two { facts: None, .. } => Ok(None),
        Frames::Two {
            facts: Some(frame), ..
        } => postcard::from_bytes(&unframe(Dict::Facts, frame, MAX_PLAIN)?)
            .map(Some)
            .map_err(corrupt),
    }
}

/// The decision JSON and the facts of a record, each frame decompressed
/// once.
pub(super) fn decision_and_facts(record: &[u8]) -> Result<(String, Option<Claim>)> {
    let Frames::One(frame) = frames(record)? else {
        return Ok((decision(record)?, facts(record)?));
    };
    let plain = unframe(Dict::Claims, frame, MAX_PLAIN)?;
    let (json, facts) = split(&plain);
    Ok((
        String::from_utf8(json.to_vec()).map_err(corrupt)?,
        json_facts(facts)?,
    ))
}

/// A batch chunk's claims (`batch_chunks.data`): their JSON, one a line,
/// compressed the same way (the facts part of the dictionary fits them).
pub(super) fn encode_claims(claims: &[Claim]) -> Result<Vec<u8>> {
    let mut plain = Vec::with_capacity(claims.len() * 2048);
    for c in claims {
        serde_json::to_writer(&mut plain, c).map_err(corrupt)?;
        plain.push(b'\n');
    }
    compress(&plain)
}

/// The claims of a batch chunk, in order.
pub(super) fn decode_claims(record: &[u8]) -> Result<Vec<Claim>> {
    let plain = plain_sized(record, MAX_CHUNK)?;
    plain
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).map_err(corrupt))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every claim of the 837P and 837I samples.
    fn sample_claims() -> Vec<Claim> {
        let mut claims = Vec::new();
        for file in ["837p-sample.x12", "837i-sample.x12"] {
            let path = format!("{}/fixtures/x12/{file}", env!("CARGO_MANIFEST_DIR"));
            let x12 = std::fs::read(&path).unwrap_or_default();
            let mut parser = crate::x12::Parser::new(&x12[..]);
            while let Some(set) = parser.next_set() {
                claims.extend(set.claims.iter().cloned());
            }
        }
        assert!(claims.len() > 3, "the samples have claims");
        claims
    }

    #[test]
    fn a_decision_without_facts_comes_back_byte_for_byte() -> Result<()> {
        let json = r#"{"claim_id":"A1","status":"approved","lines":[]}"#;
        let rec = encode(json, None)?;
        assert_eq!(rec.first(), Some(&V2));
        assert_eq!(decision(&rec)?, json);
        assert!(facts(&rec)?.is_none());
        Ok(())
    }

    #[test]
    fn decision_and_facts_come_back_as_they_went_in() -> Result<()> {
        for claim in sample_claims() {
            let json = format!(r#"{{"claim_id":"{}","lines":[]}}"#, claim.claim_id);
            let rec = encode(&json, Some(&claim))?;
            assert_eq!(decision(&rec)?, json);
            assert_eq!(facts(&rec)?.as_ref(), Some(&claim));
            assert_eq!(decision_and_facts(&rec)?, (json, Some(claim)));
        }
        Ok(())
    }

    #[test]
    fn version_1_records_still_read() -> Result<()> {
        let claim = sample_claims().remove(0);
        let json = r#"{"claim_id":"A1","lines":[]}"#;
        let mut plain = json.as_bytes().to_vec();
        plain.push(b'\n');
        plain.extend(serde_json::to_vec(&claim).map_err(corrupt)?);
        let rec = compress(&plain)?;
        assert_eq!(rec.first(), Some(&V1));
        assert_eq!(decision(&rec)?, json);
        assert_eq!(facts(&rec)?, Some(claim.clone()));
        assert_eq!(decision_and_facts(&rec)?, (json.to_string(), Some(claim)));
        let without = compress(json.as_bytes())?;
        assert_eq!(decision(&without)?, json);
        assert_eq!(facts(&without)?, None);
        Ok(())
    }

    /// A record written by version 2 as it is today
    /// (`fixtures/golden/record-v2.bin`: the first sample claim and a
    /// small decision) must still read: postcard names no fields, so a
    /// change to the claim model's fields breaks stored records unless it
    /// comes with a new record version. `UPDATE_GOLDEN=1` writes the file
    /// again, for a new version only.
    #[test]
    fn a_version_2_record_of_today_still_reads() -> Result<()> {
        let claim = sample_claims().remove(0);
        let json = r#"{"claim_id":"golden","lines":[]}"#;
        let path = format!(
            "{}/fixtures/golden/record-v2.bin",
            env!("CARGO_MANIFEST_DIR")
        );
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, encode(json, Some(&claim))?).map_err(corrupt)?;
        }
        let rec = std::fs::read(&path).map_err(corrupt)?;
        assert_eq!(rec.first(), Some(&V2));
        assert_eq!(decision(&rec)?, json);
        assert_eq!(facts(&rec)?, Some(claim));
        Ok(())
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"\x03abc",
            b"\x01",
            b"\x01\x28\xb5\x2f\xfd\x00",
            b"\x02",
            b"\x02\x01\x00",
            b"\x02\xff\xff\xff\xff\x28\xb5",
            b"\x02\x00\x00\x00\x00",
            b"\x02\x02\x00\x00\x00\x28\xb5\x28\xb5\x2f\xfd\x00",
        ] {
            assert!(decision(bad).is_err(), "{bad:?}");
        }
        assert!(facts(b"\x02\x02\x00\x00\x00\x28\xb5").is_err());
    }
}
