//! priorauth: payer-side prior-authorization validation of X12 837 claims.
//!
//! Code tour, bottom up (each room uses only the rooms above it in this
//! list; docs/ARCHITECTURE.md draws the data path):
//! - [`model`]: the claim model, dates, code specs, and the vocabulary of
//!   decisions every layer speaks (decisions, adjustments, CARC/RARC).
//! - [`x12`]: segment reader, envelope checks, the 837 claim builder,
//!   reading inputs set by set, and the 999/835/277CA writers. Pure.
//! - [`rules`]: the Section 5.1 rule set (TOML), its index and the
//!   questions staff ask of it.
//! - [`authorizations`]: authorization records, CSV import, the unit book.
//! - [`network`]: the network directory (SPEC §2.4): its CSV import and
//!   the in-memory directory `network = "out"` rules are judged with.
//! - [`exemptions`]: gold-card exemptions (SPEC §3.5): records, CSV
//!   import, the book lines are looked up in, the gold-card computation.
//! - [`adjudication`]: the pure decision core of SPEC §3 (checks, reasons,
//!   the claim history, a submission decided as a whole).
//! - [`access`]: scopes, secrets, signed tokens.
//! - [`store`]: SQL only (SQLite and PostgreSQL): loads what a
//!   submission needs, writes what the core decided.
//! - [`config`]: settings from flags and `PRIORAUTH_…` variables.
//! - [`telemetry`]: tracing setup, PHI-free.
//! - [`api`]: the HTTP API (actix-web).
//! - [`console`]: the staff console at `/console/` (server-rendered
//!   HTML beside the API, over the same store and access checks).
//! - [`startup`]: `serve`: state, background loops, the server.
//! - [`cli`]: the `priorauth` command line; nothing imports it.
#![deny(missing_docs)]

pub mod access;
pub mod adjudication;
pub mod api;
pub mod authorizations;
pub mod cli;
pub mod config;
pub mod console;
pub mod exemptions;
pub mod model;
pub mod network;
pub mod rules;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod x12;
