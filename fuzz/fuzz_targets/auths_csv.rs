//! Authorization CSV: any bytes import whole or report problems with line
//! numbers; never a panic. An import must also build a book.
#![no_main]

use libfuzzer_sys::fuzz_target;
use priorauth::authorizations::{import_csv, AuthBook};

fuzz_target!(|data: &[u8]| {
    match import_csv(data) {
        Ok(auths) => {
            let n = auths.len();
            let book = AuthBook::new(auths);
            assert!(book.len() <= n);
        }
        Err(e) => assert!(!e.problems.is_empty()),
    }
});
