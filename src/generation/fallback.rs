//! The page served when the model could not be reached at all.
//!
//! It is the demo model's page for the same prompt, page type and theme — a real, themed page
//! rather than an apology — with a notice at the top saying what happened, so that nobody
//! mistakes it for the model's work. The completed event and the page's metadata also say
//! `fallback: true`.

use crate::demo::demo_page;
use crate::domain::GenerationRequest;

/// Shown at the top of every fallback page.
const NOTICE: &str = r#"<div role="status" class="bg-amber-100 text-amber-900 text-sm text-center px-4 py-3 border-b border-amber-200">Our AI writer could not be reached, so this is a starter page built from your prompt. Generate again in a moment for a page written just for you.</div>"#;

/// The raw (unsanitized) fallback document for a request.
pub fn page(request: &GenerationRequest) -> String {
    let page = demo_page(request.prompt.as_str(), request.page_type, request.theme);
    with_notice(&page)
}

/// Inserts the notice right after the opening `<body …>` tag (or at the start, without one).
fn with_notice(page: &str) -> String {
    let insert_at = page
        .find("<body")
        .and_then(|start| page[start..].find('>').map(|end| start + end + 1))
        .unwrap_or(0);
    let mut out = String::with_capacity(page.len() + NOTICE.len());
    out.push_str(&page[..insert_at]);
    out.push_str(NOTICE);
    out.push_str(&page[insert_at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_opens_the_body() {
        let page = with_notice(r#"<html><body class="a"><h1>Hi</h1></body></html>"#);
        assert!(page.starts_with(r#"<html><body class="a"><div role="status""#));
        assert!(page.ends_with("<h1>Hi</h1></body></html>"));
        assert!(with_notice("<h1>Hi</h1>").starts_with("<div role=\"status\""));
    }
}
