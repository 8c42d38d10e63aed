//! The allow-list that the body of every page is cleaned under.
//!
//! Built from `ammonia::Builder::empty()`, so anything not named here is dropped: an element
//! that is not listed loses its tag but keeps its text, an element in [`REMOVED_WITH_CONTENT`]
//! goes away with everything inside it, and an attribute that is not listed is dropped.
//! The lists are what AI-written Tailwind pages actually use: layout and text, images, tables,
//! forms that cannot submit anywhere, and inline SVG icons.
//!
//! ammonia matches element and attribute names by their *local name* only, without the
//! namespace, and html5ever gives SVG names their camelCase form (`linearGradient`,
//! `viewBox`), so the SVG lists are written in that form.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use ammonia::{Builder, UrlRelative};

/// The builder for the body's allow-list; built once per [`super::Sanitizer`].
pub(super) fn body_cleaner() -> Builder<'static> {
    let mut builder = Builder::empty();
    builder
        .tags(HTML_ELEMENTS.iter().chain(SVG_ELEMENTS).copied().collect())
        .clean_content_tags(REMOVED_WITH_CONTENT.iter().copied().collect())
        .generic_attributes(GENERIC_ATTRIBUTES.iter().copied().collect())
        .generic_attribute_prefixes(HashSet::from(["aria-"]))
        .tag_attributes(tag_attributes())
        .filter_style_properties(STYLE_PROPERTIES.iter().copied().collect())
        .url_schemes(URL_SCHEMES.iter().copied().collect())
        .url_relative(UrlRelative::Custom(Box::new(keep_in_page_anchor)))
        // Links leave for pages we know nothing about: no `window.opener`, no referrer, and
        // no endorsement for search engines of links the model (or a prompt) chose.
        .link_rel(Some("noopener noreferrer nofollow ugc"))
        // Tailwind v3's opacity utilities, said the way the stylesheet generator reads them.
        .attribute_filter(|_, attribute, value| match attribute {
            "class" => Some(match super::stylesheet::with_v3_opacity(value) {
                Some(adapted) => Cow::Owned(adapted),
                None => Cow::Borrowed(value),
            }),
            _ => Some(Cow::Borrowed(value)),
        })
        .strip_comments(true);
    builder
}

/// Keeps a relative URL only when it is an anchor on the page itself (`#pricing`).
///
/// A stored page lives at `/p/{id}` on the pages origin, so any other relative URL would point
/// at our own routes (or, protocol-relative, at any host) rather than at something the
/// model meant.
fn keep_in_page_anchor(url: &str) -> Option<Cow<'_, str>> {
    let url = url.trim_ascii();
    url.starts_with('#').then_some(Cow::Borrowed(url))
}

/// `tel:` and `mailto:` because contact sections are a staple of generated pages.
const URL_SCHEMES: &[&str] = &["http", "https", "mailto", "tel"];

#[rustfmt::skip]
const HTML_ELEMENTS: &[&str] = &[
    // Sections and grouping.
    "div", "span", "section", "header", "footer", "main", "nav", "article", "aside", "hgroup",
    "address", "p", "hr", "br", "wbr", "blockquote", "figure", "figcaption", "details", "summary",
    "h1", "h2", "h3", "h4", "h5", "h6",
    "ul", "ol", "li", "dl", "dt", "dd",
    // Text-level semantics.
    "a", "strong", "em", "b", "i", "u", "s", "small", "mark", "code", "pre", "kbd", "samp",
    "var", "sub", "sup", "abbr", "time", "cite", "q", "del", "ins", "dfn", "bdi", "bdo",
    "ruby", "rt", "rp",
    // Images. `picture`/`source` are not listed: without `srcset` a `source` is useless, and
    // dropping the `picture` tag keeps its fallback `img`.
    "img",
    // Tables.
    "table", "caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "th", "td",
    // Forms, for looks only: no element may carry an action, and pages are served with
    // `form-action 'none'`.
    "form", "fieldset", "legend", "label", "input", "button", "select", "option", "optgroup",
    "textarea",
];

/// The SVG subset for icons and simple illustrations. Never animation elements (they can set
/// `href` and event-handler attributes over time), `use`/`image` (they load other documents),
/// `foreignObject` (it switches back to HTML inside SVG), or `style`/`script`.
///
/// SVG `title` is not here although it is harmless: ammonia cannot tell it from the HTML
/// `title`, which must go with its content (see [`REMOVED_WITH_CONTENT`]). Icons get their
/// accessible name from `aria-label` instead.
#[rustfmt::skip]
const SVG_ELEMENTS: &[&str] = &[
    "svg", "g", "defs", "path", "circle", "ellipse", "line", "polyline", "polygon", "rect",
    "linearGradient", "radialGradient", "stop", "clipPath", "mask", "text", "tspan", "desc",
];

/// Elements dropped together with everything inside them: their content is code, another
/// document, or markup that html5ever and browsers may parse differently (raw-text elements,
/// MathML), so keeping their text would at best show garbage and at worst smuggle markup.
#[rustfmt::skip]
pub(super) const REMOVED_WITH_CONTENT: &[&str] = &[
    "script", "style", "noscript", "template", "iframe", "frame", "frameset", "object", "embed",
    "applet", "xmp", "noembed", "noframes", "plaintext", "math",
    // In the body, a `title` is the model's mistake; its text must not show up on the page.
    "title",
    "animate", "animateColor", "animateMotion", "animateTransform", "set", "discard",
    "foreignObject", "use", "image",
];

/// Attributes allowed on every element. `style` is here because ammonia filters its
/// declarations down to [`STYLE_PROPERTIES`]; `target` is not: pages are served sandboxed
/// without `allow-popups`, where a `target="_blank"` link silently does nothing, so links
/// open in the page's own tab (which also rules out tab-nabbing).
#[rustfmt::skip]
const GENERIC_ATTRIBUTES: &[&str] = &[
    "class", "id", "title", "lang", "dir", "role", "tabindex", "hidden", "style",
];

/// Presentation attributes of the allowed SVG elements (camelCase where SVG has it). None of
/// them is a URL; `fill="url(#id)"` references stay within the document.
#[rustfmt::skip]
const SVG_ATTRIBUTES: &[&str] = &[
    "xmlns", "viewBox", "preserveAspectRatio", "width", "height", "x", "y", "x1", "y1", "x2",
    "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy", "d", "points", "transform", "opacity",
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-linecap",
    "stroke-linejoin", "stroke-dasharray", "stroke-dashoffset", "stroke-miterlimit",
    "stroke-opacity", "clip-rule", "clip-path", "mask", "offset", "stop-color", "stop-opacity",
    "gradientUnits", "gradientTransform", "spreadMethod", "focusable", "text-anchor",
    "dominant-baseline", "font-size", "font-weight", "font-family", "vector-effect",
];

/// Form-control attributes that describe how a control looks and validates, never where or
/// how it submits (`action`, `formaction`, `method`, `target`, …). `pattern` is left out:
/// it is a regular expression the browser compiles, which buys nothing on a page that cannot
/// submit.
#[rustfmt::skip]
const INPUT_ATTRIBUTES: &[&str] = &[
    "type", "name", "value", "placeholder", "required", "checked", "disabled", "readonly",
    "min", "max", "step", "maxlength", "minlength", "autocomplete", "multiple", "size",
];

/// Per-element attributes beyond [`GENERIC_ATTRIBUTES`].
fn tag_attributes() -> HashMap<&'static str, HashSet<&'static str>> {
    let set = |names: &[&'static str]| names.iter().copied().collect::<HashSet<_>>();
    let mut attributes = HashMap::from([
        ("a", set(&["href", "hreflang"])),
        (
            "img",
            set(&["src", "alt", "width", "height", "loading", "decoding"]),
        ),
        ("ol", set(&["start", "reversed", "type"])),
        ("li", set(&["value"])),
        ("details", set(&["open"])),
        ("time", set(&["datetime"])),
        ("del", set(&["datetime"])),
        ("ins", set(&["datetime"])),
        ("col", set(&["span"])),
        ("colgroup", set(&["span"])),
        ("th", set(&["colspan", "rowspan", "scope", "headers"])),
        ("td", set(&["colspan", "rowspan", "headers"])),
        ("form", set(&["name", "autocomplete", "novalidate"])),
        ("fieldset", set(&["name", "disabled"])),
        ("label", set(&["for"])),
        ("input", set(INPUT_ATTRIBUTES)),
        ("button", set(&["type", "name", "value", "disabled"])),
        (
            "select",
            set(&[
                "name",
                "required",
                "disabled",
                "multiple",
                "size",
                "autocomplete",
            ]),
        ),
        ("option", set(&["value", "selected", "disabled", "label"])),
        ("optgroup", set(&["label", "disabled"])),
        (
            "textarea",
            set(&[
                "name",
                "rows",
                "cols",
                "placeholder",
                "required",
                "disabled",
                "readonly",
                "maxlength",
                "minlength",
                "autocomplete",
                "wrap",
            ]),
        ),
    ]);
    for &element in SVG_ELEMENTS {
        attributes.insert(element, set(SVG_ATTRIBUTES));
    }
    attributes
}

/// Declarations kept in `style` attributes: colours, type, spacing, sizing, flex/grid
/// layout and borders. Nothing that takes an image or any other `url()` (`background`,
/// `background-image`, `border-image`, `list-style`, `cursor`, `mask`, `filter`,
/// `content`), and no legacy script hooks (`behavior`, `-moz-binding`). Styling is mostly done
/// with Tailwind classes anyway; this is for the odd inline colour or width.
#[rustfmt::skip]
const STYLE_PROPERTIES: &[&str] = &[
    "color", "background-color", "opacity", "visibility",
    "font-size", "font-weight", "font-style", "font-family", "font-variant", "line-height",
    // How icon fonts are set (`'FILL' 1` fills a Material Symbol): numbers and tags only.
    "font-variation-settings", "font-feature-settings",
    "letter-spacing", "word-spacing", "text-align", "text-decoration", "text-decoration-color",
    "text-transform", "text-indent", "text-overflow", "white-space", "vertical-align",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "width", "height", "min-width", "min-height", "max-width", "max-height", "box-sizing",
    "aspect-ratio", "object-fit", "object-position", "overflow", "overflow-x", "overflow-y",
    "display", "gap", "row-gap", "column-gap", "flex", "flex-direction", "flex-wrap",
    "flex-grow", "flex-shrink", "flex-basis", "align-items", "align-self", "align-content",
    "justify-content", "justify-items", "order", "grid-template-columns", "grid-template-rows",
    "grid-column", "grid-row",
    "border", "border-top", "border-right", "border-bottom", "border-left", "border-width",
    "border-style", "border-color", "border-radius", "border-collapse", "border-spacing",
    "box-shadow", "list-style-type", "list-style-position", "table-layout",
];
