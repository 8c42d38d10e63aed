//! The demo page: what the mock "model" writes for a prompt when no real model is configured.
//!
//! Demo mode runs the whole pipeline for real, so the page it streams should look like the
//! output of a good model following our system prompt — a complete, responsive, single-file
//! Tailwind document shaped by the prompt, page type and theme, wrapped in a markdown fence the
//! way models wrap it — rather than lorem ipsum. It also gives the sanitizer and the style
//! generator realistic input (inline SVG, gradients, `md:` and `hover:` variants) in every test.
//!
//! Everything here is deterministic: the same inputs always give the same page, byte for byte.

use std::fmt::{self, Write};

use crate::domain::{PageType, Theme};

mod brief;
mod palette;
mod refine;
mod sections;

use brief::Brief;
use palette::Palette;
pub use refine::demo_refine;

/// The page the mock writes for `prompt`, fenced as ```` ```html ```` … ```` ``` ````.
///
/// The prompt's words appear in the title, the headline and the hero's subline, always
/// HTML-escaped.
pub fn demo_page(prompt: &str, page_type: PageType, theme: Theme) -> String {
    let brief = Brief::read(prompt, page_type);
    let palette = Palette::of(theme);
    let mut page = String::with_capacity(12 * 1024);
    write_page(&mut page, &brief, page_type, &palette)
        .expect("formatting into a String never fails");
    page
}

fn write_page(out: &mut String, brief: &Brief, page_type: PageType, p: &Palette) -> fmt::Result {
    writeln!(out, "```html")?;
    head(out, brief, page_type, p)?;
    writeln!(out, "<body class=\"min-h-screen {}\">", p.body)?;
    sections::nav(out, brief, page_type, p)?;
    sections::hero(out, brief, page_type, p)?;
    writeln!(out, "  <main>")?;
    match page_type {
        PageType::Landing => sections::landing(out, brief, p)?,
        PageType::Portfolio => sections::portfolio(out, brief, p)?,
        PageType::Blog => sections::blog(out, brief, p)?,
        PageType::Product => sections::product(out, brief, p)?,
        PageType::Event => sections::event(out, brief, p)?,
        PageType::Restaurant => sections::restaurant(out, brief, p)?,
        PageType::Resume => sections::resume(out, brief, p)?,
    }
    writeln!(out, "  </main>")?;
    sections::footer(out, brief, p)?;
    write!(out, "</body>\n</html>\n```")
}

/// The head as models write it: the Play CDN, its configuration (the theme's brand colour),
/// and the icon font the page uses, linked from Google Fonts.
fn head(out: &mut String, brief: &Brief, page_type: PageType, p: &Palette) -> fmt::Result {
    let kind = match page_type {
        PageType::Landing => "Home",
        PageType::Portfolio => "Portfolio",
        PageType::Blog => "Blog",
        PageType::Product => "Product",
        PageType::Event => "Event",
        PageType::Restaurant => "Menu &amp; Reservations",
        PageType::Resume => "Résumé",
    };
    write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <title>{name} | {kind}</title>
  <link href="https://fonts.googleapis.com/css2?family=Material+Symbols+Outlined" rel="stylesheet">
  <script src="https://cdn.tailwindcss.com"></script>
  <script>tailwind.config = {{ theme: {{ extend: {{ colors: {{ brand: "{brand}" }} }} }} }}</script>
</head>
"#,
        name = brief.name,
        brand = p.brand,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_page(prompt: &str) -> impl Iterator<Item = (PageType, Theme, String)> + '_ {
        PageType::ALL.iter().flat_map(move |&page_type| {
            Theme::ALL
                .iter()
                .map(move |&theme| (page_type, theme, demo_page(prompt, page_type, theme)))
        })
    }

    #[test]
    fn every_page_type_and_theme_gives_a_complete_titled_document() {
        for (page_type, theme, page) in every_page("a landing page for my bakery") {
            let case = format!("{page_type}/{theme}");
            assert!(
                page.starts_with("```html\n<!DOCTYPE html>\n<html lang=\"en\">"),
                "{case}"
            );
            assert!(page.ends_with("</html>\n```"), "{case}");
            assert!(page.contains("<title>Bakery | "), "{case}");
            assert!(page.contains("<meta charset=\"UTF-8\">"), "{case}");
            assert!(page.contains("name=\"viewport\""), "{case}");
            assert!(page.contains("<nav") && page.contains("<footer"), "{case}");
            assert!(
                page.contains("<svg") && page.contains("viewBox=\"0 0 24 24\""),
                "{case}"
            );
            assert!(page.contains("md:") && page.contains("hover:"), "{case}");
            assert!(
                page.contains("tailwind.config = {") && page.contains("text-brand"),
                "{case}"
            );
            assert!(page.contains("class=\"material-symbols-outlined"), "{case}");
            assert!(page.contains("bg-gradient-to-"), "{case}");
            assert!(!page.to_lowercase().contains("lorem"), "{case}");
            assert!(
                (5_000..=12_000).contains(&page.len()),
                "{case}: {} bytes",
                page.len()
            );
        }
    }

    #[test]
    fn the_sanitized_page_keeps_its_brand_colour_and_icons() {
        use crate::sanitize::{PageStyles, Sanitizer, Styles, styles_of};
        let sanitizer = Sanitizer::new(Styles::Compiled);
        let page = sanitizer.sanitize(&demo_page("a bakery", PageType::Landing, Theme::Playful));
        let PageStyles::Inline(css) = styles_of(page.as_str()) else {
            panic!("an inline stylesheet");
        };
        assert!(css.contains(".text-brand {\n  color: #d97706;\n}"), "{css}");
        assert!(
            css.contains("/fonts/material-symbols-outlined.woff2"),
            "{css}"
        );
    }

    #[test]
    fn pages_are_deterministic() {
        let a = demo_page(
            "Portfolio for Jane Doe, a wedding photographer",
            PageType::Portfolio,
            Theme::Elegant,
        );
        let b = demo_page(
            "Portfolio for Jane Doe, a wedding photographer",
            PageType::Portfolio,
            Theme::Elegant,
        );
        assert_eq!(a, b);
        assert!(a.contains("Jane Doe"));
        assert!(a.contains("A wedding photographer."));
    }

    #[test]
    fn hostile_prompts_are_escaped_everywhere() {
        let prompt = "<script>alert(1)</script> & \"friends\" <img src=x onerror=alert(2)>";
        for (page_type, theme, page) in every_page(prompt) {
            let case = format!("{page_type}/{theme}");
            // Only the page's own two: the Play CDN and its configuration.
            assert_eq!(page.matches("<script").count(), 2, "{case}");
            assert!(!page.contains("<script>alert"), "{case}");
            assert!(!page.contains("<img src=x"), "{case}");
            assert!(page.contains("&lt;script&gt;"), "{case}");
        }
    }

    #[test]
    fn pages_differ_by_type_and_theme() {
        let landing = demo_page("a bakery", PageType::Landing, Theme::Modern);
        assert!(landing.contains("id=\"testimonials\"") && landing.contains("indigo-"));
        let product = demo_page("a bakery", PageType::Product, Theme::Dark);
        assert!(product.contains("id=\"pricing\"") && product.contains("<details"));
        assert!(product.contains("bg-slate-900") && product.contains("cyan-"));
        let event = demo_page("a bakery", PageType::Event, Theme::Playful);
        assert!(event.contains("id=\"schedule\"") && event.contains("rounded-3xl"));
        let menu = demo_page("a bakery", PageType::Restaurant, Theme::Elegant);
        assert!(menu.contains("id=\"menu\"") && menu.contains("font-serif"));
        let resume = demo_page("a bakery", PageType::Resume, Theme::Corporate);
        assert!(resume.contains("id=\"experience\"") && resume.contains("blue-"));
        let blog = demo_page("a bakery", PageType::Blog, Theme::Minimal);
        assert!(blog.contains("id=\"posts\"") && !blog.contains("indigo-"));
    }
}
