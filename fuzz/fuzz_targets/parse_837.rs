//! Any bytes through the whole intake: envelope checks, the 837 claim
//! builder, then the 999 for whatever was acknowledged. Nothing may panic,
//! and every transaction set must be either accepted or carry an error.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use priorauth::x12::{write_999, AckEnvelope, Parser};

fuzz_target!(|data: &[u8]| {
    let mut parser = Parser::new(data);
    let mut sets = 0u64;
    let mut claims = 0u64;
    while let Some(set) = parser.next_set() {
        sets += 1;
        if set.accepted() {
            claims += set.claims.len() as u64;
        } else {
            // A rejected set hands out no claims.
            assert!(set.claims.is_empty());
        }
    }
    let summary = parser.summary();
    assert_eq!(summary.transaction_sets, sets);
    assert_eq!(summary.claims, claims);
    assert!(summary.bytes <= data.len() as u64);

    let created = NaiveDate::from_ymd_opt(2026, 1, 2)
        .and_then(|d| d.and_hms_opt(3, 4, 0))
        .unwrap_or_default();
    let env = AckEnvelope {
        created,
        control_number: 1,
        test: true,
    };
    let ack = write_999(parser.acks(), &env);
    assert!(ack.starts_with("ISA"));
});
