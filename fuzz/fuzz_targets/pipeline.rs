//! Fuzzes the parser and the whole pipeline: any input must be handled
//! without a panic or a hang; an input that parses must produce output that
//! re-parses and that a second run leaves unchanged (`process` verifies
//! both and reports an internal error otherwise, which counts as a crash).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    upkeep::fuzz_one(data);
});
