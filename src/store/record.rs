//! A stored claim's record (`claims.body`): the decision JSON, byte for
//! byte as the core wrote it, and the claim's facts (the claim model,
//! what re-adjudication needs), compressed together with zstd and a
//! dictionary trained on decisions and claims. A claim costs about 300
//! bytes instead of 3.5 KB: the reason sentences and the JSON keys
//! are in the dictionary, and the facts repeat what the decision says.
//!
//! Layout: one version byte, then a zstd frame of
//! `decision JSON` `\n` `facts JSON` (serde_json never writes a raw
//! newline, so the first one splits them). Version 1 is the dictionary
//! `claims-v1.dict` (`benches/mkdict.sh` made it); a new dictionary gets
//! a new version byte and the old one stays to read old rows.

use std::cell::RefCell;
use std::sync::OnceLock;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use super::{Result, StoreError};
use crate::model::Claim;

const V1: u8 = 1;
const DICT_V1: &[u8] = include_bytes!("claims-v1.dict");
/// zstd level 1: on generated claims 308 bytes a record against 300 at
/// level 3 and 273 at level 6, for the least time (compression was 9% of
/// a stored run's time at level 3).
const LEVEL: i32 = 1;
/// No record decompresses to more (a claim has at most 50 lines of SPEC
/// §2.1 size); a corrupt frame cannot make the reader allocate more.
const MAX_PLAIN: usize = 4 << 20;
/// Nor a batch chunk (thousands of claims).
const MAX_CHUNK: usize = 1 << 30;

fn encoder_dict() -> &'static EncoderDictionary<'static> {
    static D: OnceLock<EncoderDictionary<'static>> = OnceLock::new();
    D.get_or_init(|| EncoderDictionary::copy(DICT_V1, LEVEL))
}

fn decoder_dict() -> &'static DecoderDictionary<'static> {
    static D: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
    D.get_or_init(|| DecoderDictionary::copy(DICT_V1))
}

thread_local! {
    // One zstd context per thread: building one costs more than a record.
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("claim record: {what}"))
}

/// The record of a decision (its JSON) and, when known, the claim's facts.
pub(super) fn encode(decision_json: &str, facts: Option<&Claim>) -> Result<Vec<u8>> {
    let mut plain = Vec::with_capacity(decision_json.len() + 2048);
    plain.extend_from_slice(decision_json.as_bytes());
    if let Some(claim) = facts {
        plain.push(b'\n');
        serde_json::to_writer(&mut plain, claim).map_err(corrupt)?;
    }
    compress(&plain)
}

fn compress(plain: &[u8]) -> Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let c = match slot.as_mut() {
            Some(c) => c,
            None => {
                slot.insert(Compressor::with_prepared_dictionary(encoder_dict()).map_err(corrupt)?)
            }
        };
        let mut out = Vec::with_capacity(plain.len() / 4 + 64);
        out.push(V1);
        let frame = c.compress(plain).map_err(corrupt)?;
        out.extend_from_slice(&frame);
        Ok(out)
    })
}

/// The plain text of a record: the decision JSON, and the facts JSON
/// after the first newline when the record has them.
fn plain(record: &[u8]) -> Result<Vec<u8>> {
    plain_sized(record, MAX_PLAIN)
}

fn plain_sized(record: &[u8], max: usize) -> Result<Vec<u8>> {
    let Some((&version, frame)) = record.split_first() else {
        return Err(corrupt("empty"));
    };
    if version != V1 {
        return Err(corrupt(format_args!("unknown version {version}")));
    }
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .map_err(|_| corrupt("not a zstd frame"))?
        .ok_or_else(|| corrupt("no content size"))?;
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size > max {
        return Err(corrupt("too large"));
    }
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let d = match slot.as_mut() {
            Some(d) => d,
            None => slot
                .insert(Decompressor::with_prepared_dictionary(decoder_dict()).map_err(corrupt)?),
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
    let mut plain = plain(record)?;
    let (json, _) = split(&plain);
    let len = json.len();
    plain.truncate(len);
    String::from_utf8(plain).map_err(corrupt)
}

/// The claim's facts of a record, when it has them.
pub(super) fn facts(record: &[u8]) -> Result<Option<Claim>> {
    let plain = plain(record)?;
    match split(&plain).1 {
        None => Ok(None),
        Some(json) => serde_json::from_slice(json).map(Some).map_err(corrupt),
    }
}

/// The decision JSON and the facts of a record, decompressed once.
pub(super) fn decision_and_facts(record: &[u8]) -> Result<(String, Option<Claim>)> {
    let plain = plain(record)?;
    let (json, facts) = split(&plain);
    let facts = facts
        .map(|f| serde_json::from_slice(f).map_err(corrupt))
        .transpose()?;
    Ok((String::from_utf8(json.to_vec()).map_err(corrupt)?, facts))
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

    #[test]
    fn a_decision_without_facts_comes_back_byte_for_byte() -> Result<()> {
        let json = r#"{"claim_id":"A1","status":"approved","lines":[]}"#;
        let rec = encode(json, None)?;
        assert_eq!(rec.first(), Some(&V1));
        assert_eq!(decision(&rec)?, json);
        assert!(facts(&rec)?.is_none());
        Ok(())
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        for bad in [&b""[..], b"\x02abc", b"\x01", b"\x01\x28\xb5\x2f\xfd\x00"] {
            assert!(decision(bad).is_err(), "{bad:?}");
        }
    }
}
