//! Any `data:` payload an upstream may send: the chunk parser never panics, and the content it
//! returns is never empty.

#![no_main]

use libfuzzer_sys::fuzz_target;
use livepage::upstream::chunk;

fuzz_target!(|data: &[u8]| {
    if let Ok(chunk) = chunk::parse(data) {
        assert!(chunk.content.is_none_or(|content| !content.is_empty()));
    }
});
