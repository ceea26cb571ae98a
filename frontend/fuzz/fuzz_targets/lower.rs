//! Any bytes -> (lossy UTF-8) -> `lower::lower` with `NoResolver` for the
//! host platform. Errors are fine; a panic, hang or overflow is a bug.
#![no_main]

use kiln_frontend::definition::Platform;
use kiln_frontend::lower::{lower, BuildOptions, NoResolver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let opts = BuildOptions::new(Platform::host());
    let _ = lower(&text, &opts, &NoResolver);
});
