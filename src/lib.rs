//! priorauth: payer-side prior-authorization validation of X12 837 claims.
//!
//! Code tour, in the order data flows:
//! - [`x12`]: zero-copy segment reader, envelope checks, the 837 claim
//!   builder (HL tree → CLM → LX) and the 999 writer. Pure.
//! - [`model`]: the owned claim model adjudication works on.
//! - [`rules`]: the Section 5.1 rule set (TOML) and its in-memory index.
//! - [`authorizations`]: authorization records, CSV import, the unit book.
//! - [`adjudication`]: the pure decision core of SPEC §3 and its output.
//! - [`cli`]: the `priorauth` command line (the only place that reads files
//!   and the clock).
#![deny(missing_docs)]

pub mod access;
pub mod adjudication;
pub mod api;
pub mod authorizations;
pub mod cli;
pub mod model;
pub mod rules;
pub mod store;
pub mod x12;
