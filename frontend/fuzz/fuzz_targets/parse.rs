//! Any bytes -> (lossy UTF-8) -> `parser::parse`, then `Parsed::dump`.
//! Errors are fine; a panic, hang or overflow is a bug.
#![no_main]

use kiln_frontend::parser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(parsed) = parser::parse(&text) {
        let _ = parsed.dump();
    }
});
