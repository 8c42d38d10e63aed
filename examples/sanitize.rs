//! Runs one page through LivePage's sanitizer, as a page written by a model would be.
//!
//! Reads the HTML file named by the first argument (or standard input when there is none, or
//! it is `-`) and prints the sanitized document, with compiled styles (`LIVEPAGE_STYLES`'s
//! default). Used by the fidelity benchmark in `fidelity/` (see `fidelity/README.md`):
//!
//! ```sh
//! cargo build --release --example sanitize
//! target/release/examples/sanitize page.html > sanitized.html
//! ```

use std::io::{Read, Write};

use livepage::sanitize::{Sanitizer, Styles};

fn main() -> std::io::Result<()> {
    let raw = match std::env::args_os().nth(1) {
        Some(path) if path != "-" => std::fs::read_to_string(path)?,
        _ => {
            let mut raw = String::new();
            std::io::stdin().read_to_string(&mut raw)?;
            raw
        }
    };
    let page = Sanitizer::new(Styles::Compiled).sanitize(&raw);
    std::io::stdout().lock().write_all(page.as_str().as_bytes())
}
