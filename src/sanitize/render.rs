//! Writes the page: a fixed head around the cleaned body, and reads back how a written page is
//! styled (for its Content-Security-Policy).
//!
//! Nothing from the model reaches the head except the escaped title and the stylesheet
//! generated from its classes (escaped for a `<style>` element); the `<html lang>`,
//! `<html class>` and `<body class>` values have already been reduced to safe characters by
//! [`super::source`], and are escaped anyway.

use html_escape::{encode_double_quoted_attribute_to_string, encode_text_to_string};

use super::TAILWIND_CDN_URL;
use super::stylesheet::escape_for_style_element;
use super::theme::Theme;

/// The `name` of the `<meta>` that carries a page's Tailwind theme.
pub(super) const THEME_META: &str = "tailwind-theme";

/// Where the page's own CSS begins and ends in its stylesheet, so that a written page read
/// back gives the same page CSS (and not the generated rules around it).
pub(super) const PAGE_CSS_START: &str = "/* page styles */";
pub(super) const PAGE_CSS_END: &str = "/* end of page styles */";

/// A page once cleaned: everything the rebuilt document is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Page {
    /// Plain text, escaped when written.
    pub(super) title: String,
    pub(super) lang: String,
    pub(super) html_classes: String,
    pub(super) body_classes: String,
    /// The body's markup, cleaned by the body cleaner.
    pub(super) body: String,
    /// The page's own Tailwind theme, checked; written into the head as data.
    pub(super) theme: Option<Theme>,
    /// The page's own CSS, cleaned; part of the stylesheet, between [`PAGE_CSS_START`] and
    /// [`PAGE_CSS_END`].
    pub(super) css: String,
}

/// How the head brings in styles.
#[derive(Debug, Clone, Copy)]
pub(super) enum StyleTag<'a> {
    /// Only the page's own CSS: the document that the sanitizer reads back between passes.
    None,
    /// The pinned Tailwind Play CDN script.
    Cdn,
    /// An inline stylesheet, already escaped for a `<style>` element.
    Inline(&'a str),
}

/// How a written page is styled, as its head says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStyles<'a> {
    /// Compiled styles: the exact text of the page's one `<style>` element.
    Inline(&'a str),
    /// The pinned Tailwind Play CDN script.
    Cdn,
    /// Neither: the page needs no style element and no script.
    Unstyled,
}

const STYLE_OPEN: &str = "<style>";
const STYLE_CLOSE: &str = "</style>";
const HEAD_CLOSE: &str = "</head>";

/// The whole document for `page`.
pub(super) fn document(page: &Page, styles: StyleTag<'_>) -> String {
    let stylesheet_len = match styles {
        StyleTag::Inline(css) => css.len(),
        _ => 0,
    };
    let mut out = String::with_capacity(page.body.len() + stylesheet_len + 512);
    out.push_str("<!DOCTYPE html>\n<html lang=\"");
    encode_double_quoted_attribute_to_string(&page.lang, &mut out);
    out.push('"');
    push_class_attribute(&mut out, &page.html_classes);
    out.push_str(concat!(
        ">\n<head>\n",
        "<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<title>",
    ));
    encode_text_to_string(&page.title, &mut out);
    out.push_str("</title>\n");
    if let Some(theme) = &page.theme {
        // Inert data, read back when the page is sanitized again (see `theme`).
        out.push_str("<meta name=\"");
        out.push_str(THEME_META);
        out.push_str("\" content=\"");
        encode_double_quoted_attribute_to_string(theme.to_data(), &mut out);
        out.push_str("\">\n");
    }
    match styles {
        StyleTag::None if !page.css.is_empty() => {
            let css = format!("{PAGE_CSS_START}{}{PAGE_CSS_END}", page.css);
            push_styles(&mut out, StyleTag::Inline(&escape_for_style_element(&css)));
        }
        styles => push_styles(&mut out, styles),
    }
    out.push_str("</head>\n<body");
    push_class_attribute(&mut out, &page.body_classes);
    out.push_str(">\n");
    out.push_str(&page.body);
    out.push_str("\n</body>\n</html>\n");
    out
}

fn push_class_attribute(out: &mut String, classes: &str) {
    if !classes.is_empty() {
        out.push_str(" class=\"");
        encode_double_quoted_attribute_to_string(classes, out);
        out.push('"');
    }
}

fn push_styles(out: &mut String, styles: StyleTag<'_>) {
    match styles {
        StyleTag::None => {}
        StyleTag::Cdn => {
            out.push_str("<script src=\"");
            out.push_str(TAILWIND_CDN_URL);
            out.push_str("\"></script>\n");
        }
        StyleTag::Inline(css) => {
            out.push_str(STYLE_OPEN);
            out.push_str(css);
            out.push_str(STYLE_CLOSE);
            out.push('\n');
        }
    }
}

/// How `document`, a page this module wrote, is styled.
///
/// Only the head is read. In it, the title's text has `<` escaped and the stylesheet
/// cannot contain `</`, so the first `</head>` ends the head, the one `<style>` is ours, and
/// its text ends at the first `</style>`.
pub fn styles_of(document: &str) -> PageStyles<'_> {
    let head = document
        .find(HEAD_CLOSE)
        .map_or(document, |end| &document[..end]);
    if let Some(start) = head.find(STYLE_OPEN) {
        let css = &head[start + STYLE_OPEN.len()..];
        if let Some(end) = css.find(STYLE_CLOSE) {
            return PageStyles::Inline(&css[..end]);
        }
    }
    let cdn_script = format!("<script src=\"{TAILWIND_CDN_URL}\"></script>");
    if head.contains(&cdn_script) {
        PageStyles::Cdn
    } else {
        PageStyles::Unstyled
    }
}
