//! Reads what a page keeps from the model's document: its title, its language, the classes
//! on `<html>` and `<body>`, the body's markup, its Tailwind theme and its own CSS.
//!
//! Everything else in the model's `<head>` (scripts, metas, links) is dropped: the sanitizer
//! writes a fixed head. The document is parsed with
//! html5ever, the parser browsers' behaviour is specified by, so a truncated or malformed
//! document is read the way a browser would read it.

use std::collections::BTreeSet;

use scraper::{ElementRef, Html};

use super::css;
use super::policy::REMOVED_WITH_CONTENT;
use super::render::{PAGE_CSS_END, PAGE_CSS_START, THEME_META};
use super::theme::{CdnPlugin, Theme};

const HTML_NAMESPACE: &str = "http://www.w3.org/1999/xhtml";

/// The title when the document has neither a `<title>` nor an `<h1>` with text.
const UNTITLED: &str = "Untitled page";

/// Titles are shown in lists and tabs; a model that writes a paragraph there gets it cut.
const TITLE_MAX_CHARS: usize = 200;

/// The language when `<html lang>` is missing or not a language tag.
const DEFAULT_LANG: &str = "en";

/// The parts of the model's document that the rebuilt page is made from. Everything but
/// `body_html` is already safe to write into the fixed head (after escaping).
#[derive(Debug)]
pub(super) struct SourceDocument {
    /// Whitespace collapsed, capped to [`TITLE_MAX_CHARS`], never empty.
    pub(super) title: String,
    /// A syntactically valid language tag.
    pub(super) lang: String,
    /// The classes of `<html>` (`scroll-smooth`, `h-full`, `dark`), filtered as `body_classes`.
    pub(super) html_classes: String,
    /// Only class names made of the characters Tailwind class names use, space-separated.
    pub(super) body_classes: String,
    /// The body's inner HTML, still unsanitized.
    pub(super) body_html: String,
    /// The page's Tailwind theme: from its `tailwind.config` script, or from the data a
    /// sanitized page carries.
    pub(super) theme: Option<Theme>,
    /// The page's own CSS, cleaned (see [`super::css`]).
    pub(super) css: String,
}

/// Parses `document` (a full document, a fragment, or a truncated one) and takes its parts.
pub(super) fn read(document: &str) -> SourceDocument {
    let parsed = Html::parse_document(document);
    let root = root_html_element(&parsed);
    let body = root.and_then(body_element);
    SourceDocument {
        title: title(&parsed),
        lang: root
            .and_then(|html| html.attr("lang"))
            .filter(|lang| is_language_tag(lang))
            .unwrap_or(DEFAULT_LANG)
            .to_owned(),
        html_classes: classes_of(root),
        body_classes: classes_of(body),
        // A `<frameset>` document has no body; there is nothing to keep from it.
        body_html: body.map(|body| body.inner_html()).unwrap_or_default(),
        theme: theme(&parsed),
        css: own_css(&parsed),
    }
}

/// The page's own CSS, cleaned: the text of its `<style>` elements of CSS, in document order,
/// then that of its `<style type="text/tailwindcss">` ones (see [`css::clean_page`]), which
/// the Play CDN puts after Tailwind's. From a page this module's sanitizer wrote, only the part
/// of its stylesheet between the page-CSS markers.
fn own_css(parsed: &Html) -> String {
    let mut plain = String::new();
    let mut tailwind = String::new();
    let styles = parsed
        .tree
        .root()
        .descendants()
        .filter_map(ElementRef::wrap)
        .filter(|element| is_html_element(element, "style"));
    for style in styles {
        let kind = style.attr("type").map(str::trim);
        let css = match kind {
            None => &mut plain,
            Some(kind) if kind.eq_ignore_ascii_case("text/css") => &mut plain,
            Some(kind) if kind.eq_ignore_ascii_case("text/tailwindcss") => &mut tailwind,
            Some(_) => continue,
        };
        let text: String = style.text().collect();
        let own = match text.split_once(PAGE_CSS_START) {
            Some((_, rest)) => rest.split(PAGE_CSS_END).next().unwrap_or_default(),
            None => &text,
        };
        css.push_str(own);
        css.push('\n');
    }
    css::clean_page(&plain, &tailwind)
}

/// The first Tailwind theme found: in a `<script>` that sets `tailwind.config` (the Play CDN
/// way), or in the `<meta>` a sanitized page carries it in; with the plugins that the page's
/// Play CDN `<script src>` asks for.
fn theme(parsed: &Html) -> Option<Theme> {
    let elements = || {
        parsed
            .tree
            .root()
            .descendants()
            .filter_map(ElementRef::wrap)
    };
    let configured = elements().find_map(|element| {
        if is_html_element(&element, "script") {
            Theme::from_script(&element.text().collect::<String>())
        } else if is_html_element(&element, "meta") && element.attr("name") == Some(THEME_META) {
            Theme::from_data(element.attr("content")?)
        } else {
            None
        }
    });
    let plugins: BTreeSet<CdnPlugin> = elements()
        .filter(|element| is_html_element(element, "script"))
        .filter_map(|script| script.attr("src"))
        .flat_map(CdnPlugin::asked_by)
        .collect();
    if plugins.is_empty() {
        return configured;
    }
    let mut theme = configured.unwrap_or_default();
    theme.plugins.extend(plugins);
    Some(theme)
}

fn classes_of(element: Option<ElementRef<'_>>) -> String {
    element
        .and_then(|element| element.attr("class"))
        .map(safe_classes)
        .unwrap_or_default()
}

/// `<html>`: html5ever always creates it for a document, but nothing here relies on that.
fn root_html_element(parsed: &Html) -> Option<ElementRef<'_>> {
    parsed
        .tree
        .root()
        .children()
        .filter_map(ElementRef::wrap)
        .find(|element| is_html_element(element, "html"))
}

fn body_element(html: ElementRef<'_>) -> Option<ElementRef<'_>> {
    html.child_elements()
        .find(|element| is_html_element(element, "body"))
}

/// Compares the namespace too: an SVG `<title>` is not the document's title.
fn is_html_element(element: &ElementRef<'_>, local_name: &str) -> bool {
    let name = &element.value().name;
    &*name.ns == HTML_NAMESPACE && &*name.local == local_name
}

/// The first `<title>` in tree order (as `document.title` does), else the first `<h1>`.
fn title(parsed: &Html) -> String {
    let text_of_first = |local_name: &str| {
        parsed
            .tree
            .root()
            .descendants()
            .filter_map(ElementRef::wrap)
            .find(|element| is_html_element(element, local_name))
            .map(visible_text)
            .filter(|text| !text.is_empty())
    };
    text_of_first("title")
        .or_else(|| text_of_first("h1"))
        .unwrap_or_else(|| UNTITLED.to_owned())
}

/// The element's text with whitespace collapsed and capped, leaving out text inside elements
/// that the body cleaner removes with their content (an `<h1>` holding a `<script>`).
fn visible_text(element: ElementRef<'_>) -> String {
    let text: String = element
        .descendants()
        .filter(|node| {
            node.value().is_text()
                && !node
                    .ancestors()
                    .take_while(|ancestor| ancestor.id() != element.id())
                    .filter_map(ElementRef::wrap)
                    .any(|ancestor| REMOVED_WITH_CONTENT.contains(&ancestor.value().name()))
        })
        .filter_map(|node| node.value().as_text().map(|text| &**text))
        .collect();
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let capped: String = collapsed.chars().take(TITLE_MAX_CHARS).collect();
    // Cutting may leave a space at the end; trimming keeps the title stable on re-sanitizing.
    capped.trim_end().to_owned()
}

/// `[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*`: the shape of a BCP 47 tag, which is all a browser
/// needs from `lang`, and nothing that could leave the attribute.
fn is_language_tag(lang: &str) -> bool {
    let mut subtags = lang.split('-');
    let primary_ok = subtags
        .next()
        .is_some_and(|primary| is_subtag(primary, u8::is_ascii_alphabetic));
    primary_ok && subtags.all(|subtag| is_subtag(subtag, u8::is_ascii_alphanumeric))
}

fn is_subtag(subtag: &str, allowed: fn(&u8) -> bool) -> bool {
    (1..=8).contains(&subtag.len()) && subtag.bytes().all(|byte| allowed(&byte))
}

/// Keeps the class names that could be Tailwind classes (`bg-slate-50`, `md:flex`,
/// `w-1/2`, `bg-[#0f172a]`, `!mt-0`) and drops the rest, so the attributes copied into the
/// fixed skeleton carry nothing but class names even before they are escaped.
fn safe_classes(classes: &str) -> String {
    classes
        .split_ascii_whitespace()
        .filter(|class| class.bytes().all(is_tailwind_class_byte))
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_tailwind_class_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-_:/.[]#%!".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::{is_language_tag, safe_classes};

    #[test]
    fn language_tags_are_recognised_by_shape() {
        for lang in ["en", "fr", "en-US", "zh-Hant-TW", "de-CH-1996", "x-klingon"] {
            assert!(is_language_tag(lang), "{lang}");
        }
        for lang in [
            "",
            "e n",
            "en_",
            "en-",
            "-en",
            "1en",
            "abcdefghi",
            "en\"x",
            "en-US-",
        ] {
            assert!(!is_language_tag(lang), "{lang}");
        }
    }

    #[test]
    fn only_tailwind_shaped_classes_survive() {
        assert_eq!(
            safe_classes("  bg-slate-50 md:flex w-1/2\tbg-[#0f172a] !mt-0 x\" onload=\"a <b> "),
            "bg-slate-50 md:flex w-1/2 bg-[#0f172a] !mt-0"
        );
    }
}
