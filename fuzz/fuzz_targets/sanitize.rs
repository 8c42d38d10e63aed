//! Any model output, in both style modes: the sanitizer never panics, its page holds no
//! script (none at all with compiled styles, only the pinned CDN file otherwise), no event
//! handler, no stylesheet that could end early, and sanitizing the page again changes nothing.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use livepage::sanitize::{PageStyles, Sanitizer, Styles, TAILWIND_CDN_URL, styles_of};
use scraper::Html;

static COMPILED: LazyLock<Sanitizer> = LazyLock::new(|| Sanitizer::new(Styles::Compiled));
static CDN: LazyLock<Sanitizer> = LazyLock::new(|| Sanitizer::new(Styles::Cdn));

fuzz_target!(|raw: &str| {
    for sanitizer in [&*COMPILED, &*CDN] {
        let page = sanitizer.sanitize(raw);
        let document = page.as_str();
        let allowed_scripts = match (sanitizer.styles(), styles_of(document)) {
            (Styles::Compiled, PageStyles::Inline(css)) => {
                assert!(!css.contains("</"), "the stylesheet can end early: {css}");
                0
            }
            (Styles::Cdn, PageStyles::Cdn) => 1,
            (styles, found) => panic!("{found:?} in a {styles:?} page"),
        };
        let parsed = Html::parse_document(document);
        let mut scripts = 0;
        for node in parsed.tree.nodes() {
            let Some(element) = node.value().as_element() else {
                continue;
            };
            if element.name().eq_ignore_ascii_case("script") {
                assert_eq!(element.attr("src"), Some(TAILWIND_CDN_URL));
                scripts += 1;
            }
            for (name, _) in element.attrs() {
                assert!(
                    !name.to_ascii_lowercase().starts_with("on"),
                    "handler {name}"
                );
            }
        }
        assert_eq!(scripts, allowed_scripts);
        assert_eq!(
            sanitizer.sanitize(document),
            page,
            "sanitizing twice changed the page"
        );
    }
});
