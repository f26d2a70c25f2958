//! The segment reader alone: every segment it hands out must answer any
//! element / component question without panicking, and byte offsets must
//! move forward.
#![no_main]

use libfuzzer_sys::fuzz_target;
use priorauth::x12::{Lexed, SegmentReader};

fuzz_target!(|data: &[u8]| {
    let mut reader = SegmentReader::new(data);
    let mut last_byte = 0u64;
    let mut last_number = 0u64;
    while let Some(item) = reader.next_segment() {
        match item {
            Lexed::Segment(s) => {
                assert!(s.byte >= last_byte);
                assert!(s.number > last_number);
                last_byte = s.byte;
                last_number = s.number;
                let id = s.id();
                let raw = s.raw();
                assert!(id.len() <= raw.len());
                let _ = s.len();
                let _ = s.is_empty();
                for n in 0..20 {
                    let e = s.element(n);
                    assert!(e.len() <= raw.len());
                    let _ = s.text(n);
                    for c in 0..6 {
                        let _ = s.component(n, c);
                    }
                    let _ = s.components(n).count();
                }
            }
            Lexed::Error(e) => {
                assert!(e.byte <= data.len() as u64);
            }
        }
    }
    assert!(reader.bytes_read() <= data.len() as u64);
});
