//! One integration-test binary (a binary per file would multiply link time).
//! See tests/README.md for what each module covers and what it needs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a test failure

mod helpers;

/// Makes `sqlite` and `postgres` tests of `fn name(Backend)` (the module
/// using it has `Backend` in scope).
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(super::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name(super::Backend::Postgres)
            }
        }
    )*};
}

mod access;
mod ack999;
mod adjudication;
mod adjudication_props;
mod cli;
mod console;
mod corpus;
mod exemptions;
mod hardening;
mod intake;
mod network;
mod openapi;
mod payer;
mod pgcluster;
mod readjudicate;
mod remit;
mod render;
mod replay;
mod roundtrip;
mod scaling;
mod search;
mod service;
mod webhook;
mod x278;
