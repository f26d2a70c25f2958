//! Bearer tokens and client credentials as they arrive in headers: any
//! string is refused or accepted without a panic, and no string the fuzzer
//! makes up verifies as one of our tokens.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use priorauth::access::{decode_basic, ExternalIssuer, Keys, Scope};

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let keys = Keys::new("priorauth", "priorauth");
        let key = Keys::generate().expect("a key");
        keys.install(&[key], None).expect("installed");
        keys
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert!(keys().verify(text).is_err(), "a made-up token verified");
    let external = ExternalIssuer::new("https://idp.example.org", "priorauth", "http://127.0.0.1:9/jwks");
    let _ = external.verify(text);
    let _ = decode_basic(text);
    let _ = Scope::parse_all(text.split_whitespace());
});
