//! Rule files: any bytes either load or give named problems; never a panic.
//! A loaded set must also build an index and answer a lookup.
#![no_main]

use libfuzzer_sys::fuzz_target;
use priorauth::rules::{RuleSet, RulesIndex};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match RuleSet::from_toml(text) {
        Ok(set) => {
            let index = RulesIndex::new(set);
            let _ = index.version();
        }
        Err(e) => assert!(!e.problems.is_empty()),
    }
});
