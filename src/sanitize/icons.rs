//! Icon fonts: Material Symbols, Material Icons and Font Awesome Free, served by LivePage itself.
//!
//! Models write icons the way their documentation shows: a stylesheet `<link>` to Google Fonts
//! or a CDN, then `<span class="material-symbols-outlined">download</span>` or
//! `<i class="fa-solid fa-key"></i>`. The sanitizer removes every `<link>`, so without this the
//! first shows the word "download" and the second nothing. Instead, the fonts and their
//! stylesheets, vendored from the npm packages (`assets/icons/vendor.sh`, which names the
//! versions and licences), are compiled into the binary; LivePage serves the fonts at
//! [`FONTS_PATH`] and adds to a page's stylesheet the packages' own rules for the icon classes
//! the page uses (`docs/ARCHITECTURE.md`, "Icon fonts").
//!
//! The packages' stylesheets are split into rules with `cssparser`, once. A package's rules
//! join a page's stylesheet when the page uses one of the package's classes, and then only
//! the rules that apply to it: its `@font-face`s and custom properties, and each rule whose
//! selector names a class of the page (Font Awesome's 1,400 icon rules are one class each) or
//! keyframes named like one (`fa-spin`).

use std::collections::HashSet;
use std::sync::LazyLock;

use cssparser::{ParseError, Parser, Token};

/// Where the fonts are served; the stylesheets' `url()`s point here, on the page's own origin.
pub const FONTS_PATH: &str = "/fonts/";

/// A font file served at [`FONTS_PATH`]`{name}`.
#[derive(Debug)]
pub struct Font {
    pub name: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! font {
    ($name:literal) => {
        Font {
            name: $name,
            bytes: include_bytes!(concat!("../../assets/icons/", $name)),
        }
    };
}

/// Every font file of `assets/icons/`.
pub const FONTS: &[Font] = &[
    font!("material-symbols-outlined.woff2"),
    font!("material-symbols-rounded.woff2"),
    font!("material-symbols-sharp.woff2"),
    font!("material-icons.woff2"),
    font!("material-icons-outlined.woff2"),
    font!("material-icons-round.woff2"),
    font!("material-icons-sharp.woff2"),
    font!("material-icons-two-tone.woff2"),
    font!("fa-solid-900.woff2"),
    font!("fa-regular-400.woff2"),
    font!("fa-brands-400.woff2"),
];

/// One vendored stylesheet and the classes that make a page need it.
struct Package {
    css: &'static str,
    used_by: &'static [&'static str],
}

macro_rules! package {
    ($name:literal, $used_by:expr) => {
        Package {
            css: include_str!(concat!("../../assets/icons/", $name)),
            used_by: $used_by,
        }
    };
}

/// Font Awesome's style classes (v5 short and v6 long names); `fa` alone is solid.
const FONT_AWESOME: &[&str] = &[
    "fa",
    "fas",
    "far",
    "fab",
    "fa-solid",
    "fa-regular",
    "fa-brands",
];

const PACKAGES: &[Package] = &[
    package!(
        "material-symbols-outlined.css",
        &["material-symbols-outlined"]
    ),
    package!(
        "material-symbols-rounded.css",
        &["material-symbols-rounded"]
    ),
    package!("material-symbols-sharp.css", &["material-symbols-sharp"]),
    package!(
        "material-icons.css",
        &[
            "material-icons",
            "material-icons-outlined",
            "material-icons-round",
            "material-icons-sharp",
            "material-icons-two-tone",
        ]
    ),
    package!("fontawesome.css", FONT_AWESOME),
    package!("fontawesome-solid.css", &["fa", "fas", "fa-solid"]),
    package!("fontawesome-regular.css", &["far", "fa-regular"]),
    package!("fontawesome-brands.css", &["fab", "fa-brands"]),
];

/// A rule of a vendored stylesheet, its font URLs pointing at [`FONTS_PATH`].
#[derive(Debug)]
struct Rule {
    text: String,
    /// When it applies: always (with its package), or to pages with one of these classes.
    needs: Option<Vec<String>>,
}

/// The rules of each of [`PACKAGES`], in order.
static RULES: LazyLock<Vec<Vec<Rule>>> =
    LazyLock::new(|| PACKAGES.iter().map(|package| rules(package.css)).collect());

/// The icon fonts' rules for a page whose elements carry `classes`, or an empty string when
/// it uses none of them.
pub(super) fn stylesheet(classes: &HashSet<&str>) -> String {
    let mut css = String::new();
    for (package, rules) in PACKAGES.iter().zip(RULES.iter()) {
        if !package.used_by.iter().any(|class| classes.contains(class)) {
            continue;
        }
        for rule in rules {
            let applies = match &rule.needs {
                None => true,
                Some(needs) => needs.iter().any(|class| classes.contains(class.as_str())),
            };
            if applies {
                css.push_str(&rule.text);
                css.push('\n');
            }
        }
    }
    css
}

/// Splits a stylesheet into its top-level rules. Rules without classes in their selector (and
/// at-rules other than keyframes) always apply; keyframes apply to pages with a class of their
/// name.
fn rules(css: &str) -> Vec<Rule> {
    let mut parser = Parser::new(css);
    let mut rules = Vec::new();
    loop {
        let start = parser.position();
        let mut needs = Vec::new();
        let mut keyframes = false;
        let mut first = true;
        let complete = loop {
            let token = match parser.next_including_whitespace() {
                Ok(token) => token.clone(),
                Err(_) => break false,
            };
            let blank = matches!(token, Token::WhiteSpace(_) | Token::Comment(_));
            match token {
                Token::CurlyBracketBlock => {
                    skip_block(&mut parser);
                    break true;
                }
                Token::Semicolon => break true,
                Token::AtKeyword(name) if first => {
                    keyframes = name.eq_ignore_ascii_case("keyframes");
                }
                Token::Ident(name) if keyframes => needs.push(name.to_string()),
                Token::Delim('.') => {
                    if let Ok(Token::Ident(name)) = parser.next_including_whitespace() {
                        needs.push(name.to_string());
                    }
                }
                Token::Function(_) | Token::ParenthesisBlock | Token::SquareBracketBlock => {
                    collect_classes(&mut parser, &mut needs);
                }
                _ => {}
            }
            if !blank {
                first = false;
            }
        };
        if !complete {
            break;
        }
        rules.push(Rule {
            text: fonts_here(parser.slice_from(start).trim()),
            needs: (!needs.is_empty()).then_some(needs),
        });
    }
    rules
}

/// The classes named inside the block the parser has just entered (`:is(.fas,.far)`).
fn collect_classes(parser: &mut Parser<'_>, classes: &mut Vec<String>) {
    let _ = parser.parse_nested_block(|block| {
        while let Ok(token) = block.next_including_whitespace() {
            match token.clone() {
                Token::Delim('.') => {
                    if let Ok(Token::Ident(name)) = block.next_including_whitespace() {
                        classes.push(name.to_string());
                    }
                }
                Token::Function(_) | Token::ParenthesisBlock | Token::SquareBracketBlock => {
                    collect_classes(block, classes);
                }
                _ => {}
            }
        }
        Ok::<(), ParseError<()>>(())
    });
}

fn skip_block(parser: &mut Parser<'_>) {
    let _ = parser.parse_nested_block(|block| {
        while block.next().is_ok() {}
        Ok::<(), ParseError<()>>(())
    });
}

/// `rule` with its font URLs (`./name.woff2` in Material's stylesheets, `../webfonts/name.woff2`
/// in Font Awesome's) pointing at [`FONTS_PATH`].
fn fonts_here(rule: &str) -> String {
    rule.replace("url(\"./", &format!("url(\"{FONTS_PATH}"))
        .replace("url(../webfonts/", &format!("url({FONTS_PATH}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn for_classes(classes: &str) -> String {
        stylesheet(&classes.split_ascii_whitespace().collect())
    }

    #[test]
    fn a_page_without_icon_classes_gets_nothing() {
        assert_eq!(for_classes("flex p-4 text-white fa-key"), "");
    }

    #[test]
    fn material_symbols_bring_their_font_and_class() {
        let css = for_classes("material-symbols-outlined text-xl");
        assert!(css.contains("@font-face"), "{css}");
        assert!(
            css.contains("url(\"/fonts/material-symbols-outlined.woff2\")"),
            "{css}"
        );
        assert!(css.contains(".material-symbols-outlined {"), "{css}");
        assert!(!css.contains("Rounded"), "only the style the page uses");
    }

    #[test]
    fn font_awesome_brings_the_icons_the_page_uses_and_no_others() {
        let css = for_classes("fa-solid fa-key fa-spin");
        assert!(css.contains(r#".fa-key{--fa:"\f084"}"#), "{css}");
        assert!(css.contains("url(/fonts/fa-solid-900.woff2)"), "{css}");
        assert!(css.contains("@keyframes fa-spin"), "{css}");
        assert!(
            !css.contains(".fa-lock{"),
            "icons the page does not use stay out"
        );
        assert!(
            !css.contains("fa-regular-400"),
            "styles the page does not use stay out"
        );
        assert!(!css.contains("@keyframes fa-bounce"));
        assert!(css.len() < 12_000, "{} bytes", css.len());
    }

    #[test]
    fn every_font_that_a_stylesheet_names_is_served() {
        for package in PACKAGES {
            for rule in rules(package.css) {
                let mut rest = rule.text.as_str();
                while let Some(at) = rest.find(FONTS_PATH) {
                    let name = &rest[at + FONTS_PATH.len()..];
                    let name = &name[..name.find(['"', ')']).unwrap()];
                    assert!(
                        FONTS.iter().any(|font| font.name == name),
                        "{name} is not served"
                    );
                    rest = &rest[at + 1..];
                }
                assert!(!rule.text.contains("url(\"./") && !rule.text.contains("../webfonts"));
            }
        }
    }

    #[test]
    fn every_font_file_of_the_folder_is_served() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/icons");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("assets/icons exists")
            .map(|entry| entry.expect("readable").file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".woff2"))
            .collect();
        on_disk.sort();
        let mut served: Vec<&str> = FONTS.iter().map(|font| font.name).collect();
        served.sort_unstable();
        assert_eq!(served, on_disk);
    }
}
