//! Turns whatever the model wrote into a safe, complete HTML document (DESIGN.md §5).
//!
//! Model output is a whole document, often fenced in markdown and surrounded by prose, styled
//! with Tailwind classes and decorated with inline SVG. ammonia cleans *fragments* (it drops
//! `<html>`, `<head>` and `<body>` and would leak the title's text into the page), so the
//! sanitizer works in three steps:
//!
//! 1. `extract` cuts the document out of the answer (fences, prose, a stream cut anywhere);
//! 2. `source` parses it with html5ever and keeps the title, the `lang`, the body's classes
//!    and the body's markup, which is cleaned with ammonia under the allow-list in `policy`;
//! 3. `render` writes a fresh document: a fixed head (charset, viewport, escaped title,
//!    styles) around the cleaned body.
//!
//! [`SanitizedHtml`] can only be made here, and the store only accepts it, so "nothing
//! unsanitized is stored" is checked by the compiler. Sanitizing is a pure, deterministic
//! function, and idempotent: sanitizing a sanitized page gives the same page. It runs at the
//! end of every generation and on throttled preview snapshots of a partial document.
//!
//! The served page does not rely on this module alone: it is also sent with a sandboxing
//! Content-Security-Policy (DESIGN.md §6).

mod extract;
mod newlines;
mod policy;
mod render;
mod source;
#[cfg(test)]
mod tests;

/// How pages get their styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Styles {
    /// The Tailwind Play CDN script, pinned to one exact URL (the original design).
    #[default]
    Cdn,
}

/// The one Tailwind Play CDN file pages may load in `cdn` mode.
pub const TAILWIND_CDN_URL: &str = "https://cdn.tailwindcss.com/3.4.17";

/// A complete HTML document that went through [`Sanitizer::sanitize`]; nothing else makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanitizedHtml {
    document: String,
    title: String,
}

impl SanitizedHtml {
    /// The whole document, from `<!DOCTYPE html>` to `</html>`.
    pub fn as_str(&self) -> &str {
        &self.document
    }

    /// The page's title: the document's `<title>`, else its first heading, else "Untitled page".
    /// Plain text (not escaped), whitespace collapsed, at most 200 characters.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The whole document, as [`SanitizedHtml::as_str`].
    pub fn into_string(self) -> String {
        self.document
    }
}

/// Passes over a page before it is taken as settled (see [`Sanitizer::sanitize`]). In
/// 100,000 fuzzed inputs none needed more than three; the bound only keeps a pathological
/// input from looping.
const MAX_PASSES: usize = 4;

/// The sanitizer, built once at start-up and shared (it is `Send + Sync`).
#[derive(Debug)]
pub struct Sanitizer {
    styles: Styles,
    /// The body's allow-list, built once: assembling its sets costs more than cleaning a
    /// small preview snapshot.
    body_cleaner: ammonia::Builder<'static>,
}

impl Sanitizer {
    /// Builds the allow-list; do it once and share the sanitizer.
    pub fn new(styles: Styles) -> Self {
        Self {
            styles,
            body_cleaner: policy::body_cleaner(),
        }
    }

    /// How the pages it writes get their styles.
    pub fn styles(&self) -> Styles {
        self.styles
    }

    /// Sanitizes raw model output (possibly fenced, possibly with prose around it, possibly
    /// cut off mid-stream).
    ///
    /// One pass is not always a fixed point: the parser can build trees that its own
    /// serialization does not reproduce, and removing a disallowed element can leave such a
    /// tree behind (`<h1><listing><h1>` becomes a heading nested in a heading, which reads back
    /// as two headings). So the page goes through again until a pass changes nothing, and
    /// `sanitize(sanitize(x)) == sanitize(x)` holds because the result *is* such a page rather
    /// than by luck. A normal page pays one extra pass: the one that finds nothing to change.
    pub fn sanitize(&self, raw: &str) -> SanitizedHtml {
        let mut page = self.sanitize_once(raw);
        for _ in 1..MAX_PASSES {
            let again = self.sanitize_once(page.as_str());
            if again == page {
                break;
            }
            page = again;
        }
        page
    }

    fn sanitize_once(&self, raw: &str) -> SanitizedHtml {
        let source = source::read(extract::document_text(raw));
        let body = self.clean_body(&source.body_html);
        SanitizedHtml {
            document: render::document(&source, &body, self.styles),
            title: source.title,
        }
    }

    /// Both the markup going into ammonia and the markup coming out were serialized by
    /// html5ever, so both need their `<pre>` line feeds back (see [`newlines`]).
    fn clean_body(&self, body_html: &str) -> String {
        let body_html = newlines::restore_leading_newlines(body_html);
        let cleaned = self.body_cleaner.clean(&body_html).to_string();
        // Whitespace around the body's content does not render; trimming it keeps the page
        // stable when the line feeds that `render` puts around the body are parsed back in.
        newlines::restore_leading_newlines(cleaned.trim_ascii())
    }
}
