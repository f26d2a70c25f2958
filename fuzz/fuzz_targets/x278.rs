//! The X12 278 response reader: no input makes it panic, and every record
//! it gives validates again from its text form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use priorauth::authorizations::{read_x278, AuthorizationRecord};

fuzz_target!(|data: &[u8]| {
    let out = read_x278(data);
    for a in &out.authorizations {
        let again = AuthorizationRecord::from(a).validate();
        assert_eq!(again.as_ref(), Ok(a));
    }
    let _ = out.refusal();
});
