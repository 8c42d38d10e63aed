//! Compiled styles: the Tailwind CSS that a page's classes need, generated on the server so
//! that pages need no JavaScript (`LIVEPAGE_STYLES=compiled`, docs/ARCHITECTURE.md, "Sanitizing").
//!
//! [encre-css] generates the rules for the utility classes it finds in the *sanitized,
//! serialized* page, after its preflight (Tailwind's reset). It follows Tailwind v4, which
//! still accepts most v3 class names (`bg-gradient-to-r`, `shadow-lg`, `space-y-4`, …), but
//! models write v3, so a few additions close the gap:
//! - [`V3_UTILITIES`]: v3 names that v4 dropped or renamed (`rounded`, `shadow`,
//!   `outline-none`, `ring-inset`, `flex-shrink-0`, `backdrop-blur`, `size-*`, …);
//! - [`V3_BASE`]: v3 defaults that v4's preflight changed (light-grey borders, grey
//!   placeholders, pointer cursor on buttons, a translucent blue default ring);
//! - [`V3_PALETTE`]: v3's colours, in place of v4's oklch ones;
//! - [`FORMS`]: the official forms plugin, for a page that asks the Play CDN for it;
//! - [`v3_spelling`]: classes encre-css reads otherwise, said its way (`-left-[5px]`,
//!   `rotate-45`, `shadow-sm`, `opacity-[0.03]`, `placeholder-gray-400`), and
//!   [`with_v3_opacity`], v3's `*-opacity-*` utilities applied to their element's colours.
//!
//! The rules of the icon fonts the page uses (see [`super::icons`]) and the page's own CSS (see
//! [`super::css`]) come first, as on a page that loads the Play CDN.
//!
//! The result is inlined in a `<style>` element, whose text ends at the first `</style`
//! whatever the CSS means, so [`escape_for_style_element`] makes sure no `</` can appear.
//!
//! [encre-css]: https://docs.rs/encre-css

use encre_css::config::DarkMode;
use encre_css::prelude::build_plugin::{
    Arbitrary, ArbitraryDisambiguate, ArbitraryDisambiguateSeparation, CssType, ListProperties,
    MultipleProps, Number, Plugin, SingleProp, Spacing, StaticPlugin, map, phf,
};
use encre_css::{Config, Scanner};

use super::icons;
use super::render::{PAGE_CSS_END, PAGE_CSS_START};
use super::theme::{CdnPlugin, DarkMode as ThemeDarkMode, Theme, split_variants};

/// The class that switches a page to dark mode when it sits on `<html>` or `<body>`.
const DARK_CLASS: &str = "dark";

/// Generates the stylesheet of a page; built once per [`super::Sanitizer`], because building
/// the configurations and the preflight costs more than generating a small page's rules.
#[derive(Debug)]
pub(super) struct Stylesheets {
    /// `dark:` variants follow the visitor's colour scheme, as with the Play CDN's defaults.
    media_dark: Config,
    /// `dark:` variants apply inside an element with class `dark`: a page that puts `dark` on
    /// its root means "always dark", which a media query would ignore.
    class_dark: Config,
    /// The preflight followed by [`V3_BASE`]: the same for every page, so generated once.
    base: String,
}

impl Stylesheets {
    pub(super) fn new() -> Self {
        let base = encre_css::generate([], &with_v3_utilities(Config::default()));
        Self {
            media_dark: utilities_only(DarkMode::Media),
            class_dark: utilities_only(DarkMode::new_class(format!(".{DARK_CLASS}"))),
            base: format!("{base}\n\n{V3_BASE}"),
        }
    }

    /// The stylesheet for a page whose root elements carry `root_classes` and whose cleaned
    /// body is `body`, ready to be written inside `<style>…</style>`.
    ///
    /// Only the `class` attributes of the sanitized markup are read, so nothing the cleaner
    /// removed (a `<script>`'s text, a dropped attribute) and no text can add CSS.
    ///
    /// A page's own `theme` (see [`super::theme`]) adds its colours and scales and says how
    /// `dark:` applies; without one, a `dark` class on the root means class mode.
    pub(super) fn for_page(
        &self,
        root_classes: &[&str],
        body: &str,
        theme: Option<&Theme>,
        page_css: &str,
    ) -> String {
        let dark_by_class = match theme.and_then(|theme| theme.dark_mode) {
            Some(mode) => mode == ThemeDarkMode::Class,
            None => root_classes
                .iter()
                .flat_map(|classes| classes.split_ascii_whitespace())
                .any(|class| class == DARK_CLASS),
        };
        let config = if dark_by_class {
            &self.class_dark
        } else {
            &self.media_dark
        };
        let mut classes = root_classes.join(" ");
        push_class_values(body, &mut classes);
        // Classes that stand for others: the theme's scales (see `Theme::expand`) and the v3
        // spellings encre-css reads differently (see `v3_spelling`).
        let shortcuts: Vec<(&str, String)> = classes
            .split_ascii_whitespace()
            .filter_map(|class| {
                theme
                    .and_then(|theme| theme.expand(class))
                    .or_else(|| v3_spelling(class))
                    .map(|expansion| (class, expansion))
            })
            .collect();
        let colors = theme
            .map(|theme| &theme.colors)
            .filter(|colors| !colors.is_empty());
        let adapted;
        let config = if colors.is_some() || !shortcuts.is_empty() {
            let mut with_page = config.clone();
            for (name, value) in colors.into_iter().flatten() {
                with_page.theme.colors.add(name.clone(), value.clone());
            }
            for (class, expansion) in shortcuts {
                with_page.shortcuts.add(class.to_owned(), expansion);
            }
            adapted = with_page;
            &adapted
        } else {
            config
        };
        let utilities = encre_css::generate([classes.as_str()], config);
        let icons = icons::stylesheet(&classes.split_ascii_whitespace().collect());
        // In the order of a page on the Play CDN: the icon fonts' stylesheets (linked in the
        // head), the page's own `<style>`, then Tailwind's, which the CDN appends last.
        let mut css = String::with_capacity(
            icons.len() + page_css.len() + self.base.len() + FORMS.len() + utilities.len() + 64,
        );
        css.push_str(&icons);
        // The markers go in even around nothing: they tell a page this module wrote, read
        // back, from a model's page whose `<style>` is all its own.
        css.push_str(PAGE_CSS_START);
        css.push_str(page_css);
        css.push_str(PAGE_CSS_END);
        css.push_str("\n\n");
        css.push_str(&self.base);
        if theme.is_some_and(|theme| theme.plugins.contains(&CdnPlugin::Forms)) {
            css.push_str("\n\n");
            css.push_str(FORMS);
        }
        if !utilities.is_empty() {
            css.push_str("\n\n");
            css.push_str(&utilities);
        }
        escape_for_style_element(&css)
    }
}

/// The configuration for a page's own rules: the v3 additions, no preflight (that is in
/// [`Stylesheets::base`]), and `dark:` as asked.
fn utilities_only(dark_mode: DarkMode) -> Config {
    let mut config = with_v3_utilities(Config::default());
    config.preflight = encre_css::Preflight::new_none();
    config.theme.dark_mode = dark_mode;
    // The sources are class attribute values: class names are separated by whitespace only
    // (the default scanner also splits at quotes, breaking `content-['→']`).
    config.scanner = Scanner::from_fn(|classes| classes.split_ascii_whitespace().collect());
    config
}

/// Appends the value of every `class` attribute in `body` to `classes`, decoded as a browser
/// reads it (`[&amp;&gt;p]:mt-2` is the class `[&>p]:mt-2`), each after a space.
///
/// `body` comes from html5ever's serializer: a `<` in text is written `&lt;`, so every `<`
/// opens a tag, and attribute values are double-quoted with any `"` in them written
/// `&quot;`, so inside a tag ` class="` can only begin the class attribute, whose value ends
/// at the next `"`.
fn push_class_values(body: &str, classes: &mut String) {
    const ATTRIBUTE: &str = " class=\"";
    let mut rest = body;
    while let Some(tag_start) = rest.find('<') {
        let tag = &rest[tag_start..];
        let tag_len = tag_length(tag);
        if let Some(start) = tag[..tag_len].find(ATTRIBUTE) {
            let value = &tag[start + ATTRIBUTE.len()..tag_len];
            let value = value.split('"').next().unwrap_or_default();
            classes.push(' ');
            classes.push_str(&html_escape::decode_html_entities(value));
        }
        rest = &tag[tag_len..];
    }
}

/// `body` with each element's classes written so that what Tailwind v3 lets win wins here too,
/// where a theme font size (`fontSize: { title: ["20px", "28px"] }`) meets a class that sets
/// the same properties. LivePage's `text-title` stands for `text-[length:20px] leading-[28px]`
/// (see [`Theme::expand`]), and encre-css orders those parts by its own rules, so on an element
/// whose classes hold, under the same variants:
/// - a `leading-*` too: v3 writes the font size's line height inside the `text-title` rule,
///   before every `leading-*` rule, so `text-title leading-tight` is tight: the font size is
///   written without its line height (`text-[length:20px] leading-tight`);
/// - another font size (`text-title text-sm`): v3 orders the rules of one utility by class
///   name, so the name that sorts last (`text-title`) wins every property it sets and the
///   others keep only what it leaves alone (a loser's `fontWeight`, say): the losing theme
///   size is written without those parts, a losing default size (`text-sm`) left out when the
///   winner sets the line height too.
///
/// A font size under other variants (`md:text-headline`) keeps everything: its rule comes later
/// in v3 too. `None` when nothing changes (as for a body already adapted).
///
/// Reads `body` as [`push_class_values`] does; the classes touched and written hold no
/// character that the serializer escapes.
pub(super) fn with_v3_precedence(body: &str, theme: &Theme) -> Option<String> {
    const ATTRIBUTE: &str = " class=\"";
    theme.scales.get("fontSize")?;
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = body[at..].find('<') {
        let tag_start = at + found;
        let tag_len = tag_length(&body[tag_start..]);
        let tag = &body[tag_start..tag_start + tag_len];
        at = tag_start + tag_len;
        let Some(start) = tag.find(ATTRIBUTE) else {
            continue;
        };
        let value_start = tag_start + start + ATTRIBUTE.len();
        let value = body[value_start..at].split('"').next().unwrap_or_default();
        let classes: Vec<&str> = value.split_ascii_whitespace().collect();
        let mut changed = false;
        let adapted: Vec<String> = classes
            .iter()
            .filter_map(|class| match in_v3_precedence(class, &classes, theme) {
                Some(written) => {
                    changed = true;
                    (!written.is_empty()).then_some(written)
                }
                None => Some((*class).to_owned()),
            })
            .collect();
        if changed {
            out.push_str(&body[copied..value_start]);
            out.push_str(&adapted.join(" "));
            copied = value_start + value.len();
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&body[copied..]);
    Some(out)
}

/// The font sizes of Tailwind v3's default theme, each setting a line height too.
const V3_FONT_SIZES: &[&str] = &[
    "xs", "sm", "base", "lg", "xl", "2xl", "3xl", "4xl", "5xl", "6xl", "7xl", "8xl", "9xl",
];

/// A font size class: one of the page theme's, or one of v3's defaults.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FontSize<'a> {
    Theme(&'a str),
    Default,
}

impl<'a> FontSize<'a> {
    fn of(utility: &'a str, theme: &Theme) -> Option<Self> {
        let key = utility.strip_prefix("text-")?;
        if theme
            .scales
            .get("fontSize")
            .is_some_and(|sizes| sizes.contains_key(key))
        {
            Some(Self::Theme(key))
        } else {
            V3_FONT_SIZES.contains(&key).then_some(Self::Default)
        }
    }

    /// Whether this size's rule sets what `part` of a theme size's expansion sets.
    fn sets(self, part: &str, theme: &Theme) -> bool {
        let utility = split_variants(part).1;
        match self {
            Self::Default => utility.starts_with("text-") || utility.starts_with("leading-"),
            Self::Theme(key) => {
                utility.starts_with("text-")
                    || theme.expand(&format!("text-{key}")).is_some_and(|own| {
                        own.split(' ')
                            .any(|own| kind(split_variants(own).1) == kind(utility))
                    })
            }
        }
    }
}

/// The utility an expansion's part belongs to (`leading` for `leading-[28px]`).
fn kind(utility: &str) -> &str {
    utility.split_once('-').map_or(utility, |(kind, _)| kind)
}

/// How `class`, on an element whose classes are `classes`, is written for v3's precedence (see
/// [`with_v3_precedence`]); empty when it is left out, `None` when it stays as it is.
fn in_v3_precedence(class: &str, classes: &[&str], theme: &Theme) -> Option<String> {
    let (variants, utility) = split_variants(class);
    let size = FontSize::of(utility, theme)?;
    let winner = classes
        .iter()
        .map(|other| split_variants(other))
        .filter(|(other_variants, other)| {
            *other_variants == variants && FontSize::of(other, theme).is_some()
        })
        .map(|(_, other)| other)
        .max()
        .filter(|&winner| winner != utility)
        .and_then(|winner| FontSize::of(winner, theme));
    let led = classes.iter().any(|other| {
        let (other_variants, other) = split_variants(other);
        other_variants == variants && other.starts_with("leading-")
    });
    match size {
        FontSize::Default => match winner {
            Some(winner) if winner.sets("leading-", theme) => Some(String::new()),
            _ => None,
        },
        FontSize::Theme(_) if winner.is_none() && !led => None,
        FontSize::Theme(_) => {
            let expansion = theme.expand(class)?;
            let kept: Vec<&str> = expansion
                .split(' ')
                .filter(|part| !winner.is_some_and(|winner| winner.sets(part, theme)))
                .filter(|part| !(led && split_variants(part).1.starts_with("leading-")))
                .collect();
            Some(kept.join(" "))
        }
    }
}

/// The length of the tag at the start of `tag`, up to its `>` outside quotes (or the end).
fn tag_length(tag: &str) -> usize {
    let mut quoted = false;
    for (index, byte) in tag.bytes().enumerate() {
        match byte {
            b'"' => quoted = !quoted,
            b'>' if !quoted => return index + 1,
            _ => {}
        }
    }
    tag.len()
}

/// The class that says in encre-css's terms what Tailwind v3 means by `class`, when encre-css
/// reads it otherwise:
/// - a negative arbitrary value (`-left-[5px]`, `md:-mt-[2px]`), whose sign encre-css drops:
///   the sign goes inside the brackets (`left-[-5px]`);
/// - `rotate-*`, which encre-css turns about all three axes: v3's is about z (`rotate-z-*`);
/// - the steps v4 renamed: v3's `shadow-sm`, `drop-shadow-sm`, `blur-sm`, `backdrop-blur-sm`
///   and `rounded[-side]-sm` are v4's `-xs`, v3's `ring` is `ring-3`;
/// - an arbitrary opacity (`opacity-[0.03]`, `opacity-[.5]`, `opacity-[3%]`), which encre-css
///   does not read: the percentage step (`opacity-3`), when it is a whole one;
/// - `placeholder-{colour}`, v4's `placeholder:text-{colour}`;
/// - the widths of `divide-x` and `divide-y`, which encre-css 0.21 draws on the wrong side of
///   each child: LivePage's own `v3-divide-*` (see [`V3_DIVIDE_X`]).
fn v3_spelling(class: &str) -> Option<String> {
    const RENAMED_SM: &[&str] = &["shadow-sm", "drop-shadow-sm", "blur-sm", "backdrop-blur-sm"];
    let (variants, utility) = split_variants(class);
    if ["divide-x", "divide-y"].iter().any(|axis| {
        utility.strip_prefix(axis).is_some_and(|width| {
            width.is_empty()
                || width.strip_prefix('-').is_some_and(|width| {
                    width.starts_with('[') || width.bytes().all(|byte| byte.is_ascii_digit())
                })
        })
    }) {
        return Some(format!("{variants}v3-{utility}"));
    }
    if let Some(colour) = utility.strip_prefix("placeholder-") {
        let opaque = colour.split('/').next().unwrap_or_default();
        return is_colour("text", opaque).then(|| format!("{variants}placeholder:text-{colour}"));
    }
    if let Some(value) = utility
        .strip_prefix("opacity-[")
        .and_then(|rest| rest.strip_suffix(']'))
    {
        let percent = match value.strip_suffix('%') {
            Some(percent) => percent.parse::<f64>().ok()?,
            None => value.parse::<f64>().ok()? * 100.0,
        };
        let whole = percent.round();
        return ((percent - whole).abs() < 1e-9 && (0.0..=100.0).contains(&whole))
            .then(|| format!("{variants}opacity-{whole}"));
    }
    let (mut sign, mut body) = match utility.strip_prefix('-') {
        Some(positive) => ("-", positive.to_owned()),
        None => ("", utility.to_owned()),
    };
    let mut changed = false;
    if let Some((name, value)) = body.split_once("-[").filter(|_| sign == "-") {
        let value = value.strip_suffix(']')?;
        if value.starts_with('-') || value.is_empty() {
            return None;
        }
        body = format!("{name}-[-{value}]");
        sign = "";
        changed = true;
    }
    if let Some(angle) = body.strip_prefix("rotate-") {
        if !["x-", "y-", "z-"]
            .iter()
            .any(|axis| angle.starts_with(axis))
        {
            body = format!("rotate-z-{angle}");
            changed = true;
        }
    } else if RENAMED_SM.contains(&body.as_str())
        || (body.starts_with("rounded") && body.ends_with("-sm"))
    {
        body = format!("{}-xs", &body[..body.len() - 3]);
        changed = true;
    } else if body == "ring" {
        body = "ring-3".to_owned();
        changed = true;
    }
    changed.then(|| format!("{variants}{sign}{body}"))
}

/// A Tailwind v3 opacity class (`hover:bg-opacity-30`) as its variants, kind and percentage.
fn v3_opacity(class: &str) -> Option<(&str, &'static str, &str)> {
    let (variants, utility) = split_variants(class);
    OPACITY_KINDS.iter().find_map(|kind| {
        let value = utility.strip_prefix(kind)?.strip_prefix("-opacity-")?;
        (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
            .then_some((variants, *kind, value))
    })
}

/// The kinds of colour that Tailwind v3's `*-opacity-*` utilities make translucent.
const OPACITY_KINDS: &[&str] = &["bg", "text", "border", "divide", "ring", "placeholder"];

/// A class list with Tailwind v3's opacity utilities said the v4 way, which is the only one
/// encre-css knows: v3 makes `bg-white bg-opacity-20` a white at 20 % through a variable that
/// the colour utility reads; v4 says `bg-white/20`. So each colour class of a kind that an
/// opacity class of the list applies to (one with the same variants, else one without any) is
/// replaced by its translucent form, and an opacity class with variants (`hover:bg-opacity-30`)
/// over a plain colour adds that colour's translucent form under those variants
/// (`hover:bg-white/30`); the opacity classes themselves are left out. `None` when the list has
/// no opacity class. Applied to the
/// class lists of the cleaned markup (`policy`), so a page's classes are adapted once, per
/// element, where the pairing is known; a list already adapted is left as it is.
pub(super) fn with_v3_opacity(classes: &str) -> Option<String> {
    // Every class attribute of every page (and preview) comes through here; most have none.
    if !classes.contains("-opacity-") {
        return None;
    }
    let list: Vec<&str> = classes.split_ascii_whitespace().collect();
    let opacities: Vec<(&str, &str, &str)> =
        list.iter().filter_map(|class| v3_opacity(class)).collect();
    if opacities.is_empty() {
        return None;
    }
    let opacity_of = |variants: &str, kind: &str| {
        opacities
            .iter()
            .rev()
            .find(|(v, k, _)| *v == variants && *k == kind)
            .map(|(_, _, value)| *value)
    };
    let mut adapted: Vec<String> = Vec::with_capacity(list.len() + 2);
    let mut changed = false;
    let mut plain_colors: Vec<(&str, &str)> = Vec::new();
    for class in &list {
        if v3_opacity(class).is_some() {
            // Said by the colours now; on an element without a colour of its kind, v3's
            // opacity classes do nothing either.
            changed = true;
            continue;
        }
        let (variants, utility) = split_variants(class);
        let colour = OPACITY_KINDS.iter().find_map(|kind| {
            let colour = utility.strip_prefix(kind)?.strip_prefix('-')?;
            is_colour(kind, colour).then_some((*kind, colour))
        });
        let Some((kind, colour)) = colour else {
            adapted.push((*class).to_owned());
            continue;
        };
        if variants.is_empty() {
            plain_colors.push((kind, colour));
        }
        match opacity_of(variants, kind).or_else(|| opacity_of("", kind)) {
            Some(value) => {
                adapted.push(format!("{variants}{kind}-{colour}/{value}"));
                changed = true;
            }
            None => adapted.push((*class).to_owned()),
        }
    }
    for (variants, kind, value) in &opacities {
        let has_own_colour = list.iter().any(|class| {
            let (v, utility) = split_variants(class);
            v == *variants
                && utility
                    .strip_prefix(kind)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|colour| is_colour(kind, colour) || colour.contains('/'))
        });
        if variants.is_empty() || has_own_colour {
            continue;
        }
        for (plain_kind, colour) in &plain_colors {
            let translucent = format!("{variants}{kind}-{colour}/{value}");
            if plain_kind == kind && !adapted.contains(&translucent) {
                adapted.push(translucent);
                changed = true;
            }
        }
    }
    changed.then(|| adapted.join(" "))
}

/// Whether `value` in `{kind}-{value}` names a colour (not already translucent), rather than
/// one of the kind's other utilities (`bg-cover`, `text-lg`, `border-2`, `ring-offset-2`…).
fn is_colour(kind: &str, value: &str) -> bool {
    if value.contains('/') || value.starts_with("opacity-") {
        return false;
    }
    if let Some(arbitrary) = value.strip_prefix('[') {
        return ["#", "rgb", "hsl", "oklch", "color:"]
            .iter()
            .any(|start| arbitrary.starts_with(start));
    }
    let first = value.split('-').next().unwrap_or_default();
    if !first
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
    {
        return false;
    }
    let others: &[&str] = match kind {
        "bg" => &[
            "cover", "contain", "auto", "center", "top", "bottom", "left", "right", "fixed",
            "local", "scroll", "repeat", "no", "clip", "origin", "gradient", "blend", "none",
            "linear", "radial", "conic",
        ],
        "text" => &[
            "xs", "sm", "base", "lg", "xl", "left", "center", "right", "justify", "start", "end",
            "ellipsis", "clip", "wrap", "nowrap", "balance", "pretty", "shadow",
        ],
        "border" | "divide" => &[
            "x", "y", "t", "r", "b", "l", "s", "e", "solid", "dashed", "dotted", "double",
            "hidden", "none", "collapse", "separate", "spacing", "reverse",
        ],
        "ring" => &["inset", "offset"],
        _ => &[],
    };
    !others.contains(&first)
}

/// Tailwind v3's default palette (`assets/tailwind/colors.json`, from the official package by
/// its `vendor.sh`): encre-css ships v4's oklch palette, whose saturated colours are visibly
/// others than the ones models chose.
static V3_PALETTE: std::sync::LazyLock<Vec<(String, String)>> = std::sync::LazyLock::new(|| {
    let palette: std::collections::BTreeMap<String, String> =
        serde_json::from_str(include_str!("../../assets/tailwind/colors.json"))
            .expect("assets/tailwind/colors.json is a map of colour names to values");
    palette.into_iter().collect()
});

fn with_v3_utilities(mut config: Config) -> Config {
    for plugin in V3_UTILITIES {
        config.register_plugin(plugin);
    }
    for (name, value) in V3_PALETTE.iter() {
        config.theme.colors.add(name.clone(), value.clone());
    }
    config
}

/// Makes `css` safe as the text of a `<style>` element, without changing what it means.
///
/// The HTML parser ends a `<style>` element at the first `</style`, whatever the CSS around
/// it, so every `<` becomes the CSS escape `\3c ` (the same character inside a string or an
/// identifier, and the only places where CSS may contain one). The exception is a `<` followed
/// by whitespace, which cannot begin `</` and is how media queries compare (`(width < 48rem)`,
/// from the `max-*` variants).
///
/// Carriage returns and NULs are escaped too: the parser would turn them into a line feed and
/// U+FFFD, and the page's Content-Security-Policy names this text by its hash, which must be
/// the hash of exactly what the browser reads.
pub(super) fn escape_for_style_element(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut chars = css.chars().peekable();
    // Backslashes seen just before the current character: an odd count means that the
    // character is already escaped, so only the hex digits of its new escape are needed.
    let mut backslashes = 0usize;
    while let Some(c) = chars.next() {
        let hex = match c {
            '<' if chars.peek().is_some_and(char::is_ascii_whitespace) => None,
            '<' => Some("3c "),
            '\r' => Some("d "),
            '\0' => Some("fffd "),
            _ => None,
        };
        match hex {
            Some(hex) => {
                if backslashes.is_multiple_of(2) {
                    out.push('\\');
                }
                out.push_str(hex);
                backslashes = 0;
            }
            None => {
                out.push(c);
                backslashes = if c == '\\' { backslashes + 1 } else { 0 };
            }
        }
    }
    out
}

/// What the official forms plugin adds to a page that asks the Play CDN for it (its rules for
/// form controls, then its `form-*` classes), as Tailwind v3's CLI writes it: between the base
/// styles and the utilities, as in Tailwind's layers. Vendored by `assets/tailwind/vendor.sh`.
const FORMS: &str = include_str!("../../assets/tailwind/forms.css");

/// v3 defaults that v4's preflight changed, restored after it (and before the utilities, so
/// that any class still wins).
const V3_BASE: &str = "\
*, ::before, ::after, ::backdrop {
  border-color: #e5e7eb;
  --en-ring-color: rgb(59 130 246 / 0.5);
}

input::placeholder, textarea::placeholder {
  color: #9ca3af;
}

button, [role=\"button\"] {
  cursor: pointer;
}

:disabled {
  cursor: default;
}";

/// The `box-shadow` that encre-css's shadow utilities share, so that a shadow composes with a
/// ring as in Tailwind.
const BOX_SHADOW: &str = "box-shadow: var(--en-inset-shadow, 0 0 #0000), \
    var(--en-inset-ring-shadow, 0 0 #0000), var(--en-ring-offset-shadow, 0 0 #0000), \
    var(--en-ring-shadow, 0 0 #0000), var(--en-shadow);";
const INSET_BOX_SHADOW: &str = "box-shadow: var(--en-inset-shadow), \
    var(--en-inset-ring-shadow, 0 0 #0000), var(--en-ring-offset-shadow, 0 0 #0000), \
    var(--en-ring-shadow, 0 0 #0000), var(--en-shadow, 0 0 #0000);";
const FILTER: &str = "filter: var(--en-blur) var(--en-brightness) var(--en-contrast) \
    var(--en-grayscale) var(--en-hue-rotate) var(--en-invert) var(--en-saturate) \
    var(--en-sepia) var(--en-drop-shadow);";
/// The filter chain of encre-css's backdrop utilities (a macro so that `concat!` can use it).
macro_rules! backdrop_filters {
    () => {
        "var(--en-backdrop-blur) var(--en-backdrop-brightness) var(--en-backdrop-contrast) \
         var(--en-backdrop-grayscale) var(--en-backdrop-hue-rotate) var(--en-backdrop-invert) \
         var(--en-backdrop-opacity) var(--en-backdrop-saturate) var(--en-backdrop-sepia);"
    };
}
const WEBKIT_BACKDROP_FILTER: &str = concat!("-webkit-backdrop-filter: ", backdrop_filters!());
const BACKDROP_FILTER: &str = concat!("backdrop-filter: ", backdrop_filters!());

/// A list of declarations, typed as the slice that [`ListProperties`] maps a class to.
macro_rules! declarations {
    ($($declaration:expr),+ $(,)?) => {
        &[$($declaration),+] as &[&str]
    };
}

/// Tailwind v3 names that encre-css (v4) does not know, with their v3 values. As plugins
/// rather than shortcuts, so that variants work on them (`focus:outline-none`, `md:rounded`).
const V3_UTILITIES: &[&StaticPlugin] = &[
    &V3_FIXED,
    &V3_SIZE,
    &V3_SIZE_ARBITRARY,
    &V3_Z_ARBITRARY,
    &V3_DIVIDE_X,
    &V3_DIVIDE_X_ARBITRARY,
    &V3_DIVIDE_Y,
    &V3_DIVIDE_Y_ARBITRARY,
];

const V3_FIXED: StaticPlugin = Plugin::ListProperties(ListProperties {
    props: map! {
        "rounded" => declarations!["border-radius: 0.25rem;"],
        "shadow" => declarations![
            "--en-shadow: 0 1px 3px 0 var(--en-shadow-color, rgb(0 0 0 / 0.1)), \
             0 1px 2px -1px var(--en-shadow-color, rgb(0 0 0 / 0.1));",
            BOX_SHADOW,
        ],
        "shadow-inner" => declarations![
            "--en-inset-shadow: inset 0 2px 4px 0 var(--en-inset-shadow-color, rgb(0 0 0 / 0.05));",
            INSET_BOX_SHADOW,
        ],
        // The ring's shadow, drawn inside (encre-css's `ring-*` have no inset variable).
        "ring-inset" => declarations![
            "box-shadow: var(--en-inset-shadow, 0 0 #0000), inset var(--en-ring-shadow, 0 0 #0000), \
             var(--en-shadow, 0 0 #0000);",
        ],
        "outline-none" => declarations!["outline: 2px solid transparent;", "outline-offset: 2px;"],
        "blur" => declarations!["--en-blur: blur(8px);", FILTER],
        "drop-shadow" => declarations![
            "--en-drop-shadow: drop-shadow(0 1px 2px rgb(0 0 0 / 0.1)) \
             drop-shadow(0 1px 1px rgb(0 0 0 / 0.06));",
            FILTER,
        ],
        "backdrop-blur" => declarations![
            "--en-backdrop-blur: blur(8px);",
            WEBKIT_BACKDROP_FILTER,
            BACKDROP_FILTER,
        ],
        "antialiased" => declarations![
            "-webkit-font-smoothing: antialiased;",
            "-moz-osx-font-smoothing: grayscale;",
        ],
        "subpixel-antialiased" => declarations!["-webkit-font-smoothing: auto;", "-moz-osx-font-smoothing: auto;"],
        "flex-grow" => declarations!["flex-grow: 1;"],
        "flex-grow-0" => declarations!["flex-grow: 0;"],
        "flex-shrink" => declarations!["flex-shrink: 1;"],
        "flex-shrink-0" => declarations!["flex-shrink: 0;"],
        "overflow-ellipsis" => declarations!["text-overflow: ellipsis;"],
    },
    ..ListProperties::default()
});

/// `size-10`: width and height at once (v3.4).
const V3_SIZE: StaticPlugin = Plugin::Spacing(Spacing {
    namespace: "size",
    prop: MultipleProps(&["width", "height"]),
    has_auto: Some(true),
    has_full: Some(true),
    ..Spacing::default()
});

const V3_SIZE_ARBITRARY: StaticPlugin = Plugin::Arbitrary(Arbitrary {
    namespace: "size",
    prop: MultipleProps(&["width", "height"]),
    ..Arbitrary::default()
});

/// The element after which a `divide-*` border is drawn: every child but the first, as in
/// Tailwind v3.
const DIVIDED: Option<&str> = Some(" > :not([hidden]) ~ :not([hidden])");

/// `divide-x`, `divide-x-2` (as `v3-divide-x`, see [`v3_spelling`]): the border of each child
/// but the first on its start side (its end side with `divide-x-reverse`). encre-css 0.21 draws
/// them on the end side (the two templates of its plugin are swapped), which puts the last line
/// after the last child.
const V3_DIVIDE_X: StaticPlugin = Plugin::Number(Number {
    namespace: "v3-divide-x",
    prop: MultipleProps(&["border-inline-start-width", "border-inline-end-width"]),
    has_empty: Some(true),
    extra_class: DIVIDED,
    template: Some(MultipleProps(&[
        "calc({}px * calc(1 - var(--en-divide-x-reverse)))",
        "calc({}px * var(--en-divide-x-reverse))",
    ])),
    extra_rule_css: Some(&["--en-divide-x-reverse: 0;"]),
    ..Number::default()
});

const V3_DIVIDE_X_ARBITRARY: StaticPlugin = Plugin::Arbitrary(Arbitrary {
    namespace: "v3-divide-x",
    prop: MultipleProps(&["border-inline-start-width", "border-inline-end-width"]),
    extra_class: DIVIDED,
    disambiguate: Some(ArbitraryDisambiguate {
        matched: &[CssType::Length, CssType::LineWidth],
        separation: ArbitraryDisambiguateSeparation::Space,
    }),
    template: Some(MultipleProps(&[
        "calc({} * calc(1 - var(--en-divide-x-reverse)))",
        "calc({} * var(--en-divide-x-reverse))",
    ])),
    extra_rule_css: Some(&["--en-divide-x-reverse: 0;"]),
    ..Arbitrary::default()
});

/// `divide-y`, `divide-y-2`: as [`V3_DIVIDE_X`], on the top of each child but the first.
const V3_DIVIDE_Y: StaticPlugin = Plugin::Number(Number {
    namespace: "v3-divide-y",
    prop: MultipleProps(&["border-block-start-width", "border-block-end-width"]),
    has_empty: Some(true),
    extra_class: DIVIDED,
    template: Some(MultipleProps(&[
        "calc({}px * calc(1 - var(--en-divide-y-reverse)))",
        "calc({}px * var(--en-divide-y-reverse))",
    ])),
    extra_rule_css: Some(&["--en-divide-y-reverse: 0;"]),
    ..Number::default()
});

const V3_DIVIDE_Y_ARBITRARY: StaticPlugin = Plugin::Arbitrary(Arbitrary {
    namespace: "v3-divide-y",
    prop: MultipleProps(&["border-block-start-width", "border-block-end-width"]),
    extra_class: DIVIDED,
    disambiguate: Some(ArbitraryDisambiguate {
        matched: &[CssType::Length, CssType::LineWidth],
        separation: ArbitraryDisambiguateSeparation::Space,
    }),
    template: Some(MultipleProps(&[
        "calc({} * calc(1 - var(--en-divide-y-reverse)))",
        "calc({} * var(--en-divide-y-reverse))",
    ])),
    extra_rule_css: Some(&["--en-divide-y-reverse: 0;"]),
    ..Arbitrary::default()
});

/// `z-[100]`: encre-css knows `z-100` but not the bracketed form models often write.
const V3_Z_ARBITRARY: StaticPlugin = Plugin::Arbitrary(Arbitrary {
    namespace: "z",
    prop: SingleProp("z-index"),
    ..Arbitrary::default()
});

#[cfg(test)]
mod tests {
    use super::escape_for_style_element as escape;
    use super::{v3_spelling, with_v3_opacity};

    #[test]
    fn v3_opacity_classes_make_their_elements_colours_translucent() {
        let adapted = |classes: &str| with_v3_opacity(classes);
        assert_eq!(
            adapted("px-4 bg-white bg-opacity-20 text-white").as_deref(),
            Some("px-4 bg-white/20 text-white")
        );
        assert_eq!(
            adapted("bg-white bg-opacity-20 hover:bg-opacity-30").as_deref(),
            Some("bg-white/20 hover:bg-white/30")
        );
        assert_eq!(
            adapted("bg-black hover:bg-blue-500 bg-opacity-50").as_deref(),
            Some("bg-black/50 hover:bg-blue-500/50")
        );
        assert_eq!(
            adapted(
                "text-lg text-primary text-opacity-75 border-2 border-gray-300 border-opacity-50"
            )
            .as_deref(),
            Some("text-lg text-primary/75 border-2 border-gray-300/50")
        );
        assert_eq!(
            adapted("bg-cover bg-white/20 bg-opacity-20").as_deref(),
            Some("bg-cover bg-white/20"),
            "adapted by an earlier LivePage, which kept the opacity class"
        );
        assert_eq!(
            adapted("p-4 bg-opacity-50").as_deref(),
            Some("p-4"),
            "without a colour of its kind, v3's opacity class does nothing"
        );
        assert_eq!(adapted("bg-white text-lg"), None, "nothing to apply");
        let once = adapted("bg-white bg-opacity-20 hover:bg-opacity-30").unwrap();
        assert_eq!(adapted(&once), None, "adapting twice changes nothing");
    }

    #[test]
    fn v3_spellings_that_encre_css_reads_otherwise_are_respelled() {
        let respelled = |class: &str| v3_spelling(class);
        assert_eq!(respelled("-left-[5px]").as_deref(), Some("left-[-5px]"));
        assert_eq!(respelled("md:-mt-[2px]").as_deref(), Some("md:mt-[-2px]"));
        assert_eq!(
            respelled("-translate-x-[50%]").as_deref(),
            Some("translate-x-[-50%]")
        );
        assert_eq!(respelled("opacity-[0.03]").as_deref(), Some("opacity-3"));
        assert_eq!(
            respelled("hover:opacity-[.5]").as_deref(),
            Some("hover:opacity-50")
        );
        assert_eq!(respelled("opacity-[3%]").as_deref(), Some("opacity-3"));
        assert_eq!(
            respelled("focus:placeholder-gray-400").as_deref(),
            Some("focus:placeholder:text-gray-400")
        );
        assert_eq!(
            respelled("[&>p]:-mt-[2px]").as_deref(),
            Some("[&>p]:mt-[-2px]")
        );
        assert_eq!(
            respelled("placeholder-gray-400/50").as_deref(),
            Some("placeholder:text-gray-400/50")
        );
        assert_eq!(respelled("rotate-45").as_deref(), Some("rotate-z-45"));
        assert_eq!(respelled("divide-y").as_deref(), Some("v3-divide-y"));
        assert_eq!(
            respelled("md:divide-x-[3px]").as_deref(),
            Some("md:v3-divide-x-[3px]")
        );
        for kept in [
            "divide-y-reverse",
            "divide-gray-200",
            "divide-dashed",
            "divide-x-px",
        ] {
            assert_eq!(respelled(kept), None, "{kept}");
        }
        assert_eq!(
            respelled("group-hover:-rotate-12").as_deref(),
            Some("group-hover:-rotate-z-12")
        );
        assert_eq!(
            respelled("-rotate-[17deg]").as_deref(),
            Some("rotate-z-[-17deg]")
        );
        assert_eq!(respelled("shadow-sm").as_deref(), Some("shadow-xs"));
        assert_eq!(
            respelled("md:rounded-t-sm").as_deref(),
            Some("md:rounded-t-xs")
        );
        assert_eq!(
            respelled("backdrop-blur-sm").as_deref(),
            Some("backdrop-blur-xs")
        );
        assert_eq!(respelled("focus:ring").as_deref(), Some("focus:ring-3"));
        for kept in [
            "rotate-x-45",
            "shadow-md",
            "ring-2",
            "text-sm",
            "-mt-2",
            "left-[-5px]",
            "opacity-[0.035]",
            "opacity-[2]",
            "p-4",
            "placeholder-opacity-50",
        ] {
            assert_eq!(respelled(kept), None, "{kept}");
        }
    }

    #[test]
    fn a_less_than_sign_becomes_a_css_escape() {
        assert_eq!(escape("a</style>"), "a\\3c /style>");
        assert_eq!(escape("content: '<b>'"), "content: '\\3c b>'");
    }

    #[test]
    fn an_escaped_less_than_sign_keeps_its_backslash() {
        // `\<` in a selector is already an escape: only the hex digits are added.
        assert_eq!(escape(".a\\<b"), ".a\\3c b");
        // `\\<` is an escaped backslash followed by a bare `<`.
        assert_eq!(escape(".a\\\\<b"), ".a\\\\\\3c b");
    }

    #[test]
    fn media_query_comparisons_are_kept() {
        let css = "@media (width < 48rem) {\n  .x { display: none; }\n}";
        assert_eq!(escape(css), css);
    }

    #[test]
    fn characters_the_parser_would_change_are_escaped() {
        assert_eq!(escape("a\rb\0c"), "a\\d b\\fffd c");
        assert_eq!(escape("a\\\rb"), "a\\d b");
    }

    #[test]
    fn plain_css_is_unchanged() {
        let css = ".md\\:flex > p { content: 'é'; }";
        assert_eq!(escape(css), css);
    }
}
