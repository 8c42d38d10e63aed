//! The page's own Tailwind theme, read as data from its Play-CDN configuration.
//!
//! Models configure Tailwind the way the Play CDN documents it, in a script:
//! `tailwind.config = { darkMode: "class", theme: { extend: { colors: { primary: "#137fec" } } } }`.
//! The sanitizer removes every script, and with it the colours that `bg-primary` or
//! `bg-background-dark` name: a dark page would lose its background and keep its white text.
//! So the object literal is read as data — never run — with a JSON5 parser (unquoted keys,
//! single quotes, trailing commas, comments), and what LivePage's stylesheet generator can use
//! is kept: `darkMode`, the theme's colours (`theme.colors` and `theme.extend.colors`,
//! nested names joined with `-`, `DEFAULT` naming the colour itself), and its other scales —
//! `fontFamily`, `fontSize` (with its line height, letter spacing and weight), `spacing`,
//! `maxWidth`, `borderRadius`, `boxShadow`, … ([`SCALES`]) — which become, for each class of the
//! page that names one of their keys (`font-display`, `md:px-margin-desktop`, `-mt-gutter`),
//! the same utility with the value written out (`font-[family-name:'Space_Grotesk',sans-serif]`,
//! `md:px-[24px]`, `mt-[-24px]`; see [`Theme::expand`]). Anything that is not
//! data (a `require(…)`, a function, a spread of `defaultTheme`) cannot be parsed; then the
//! `colors` objects and `darkMode` are looked for one by one, so one plugin line does not cost
//! the page its palette.
//!
//! A colour value ends up in the page's stylesheet, so only plain colour syntax is accepted
//! (`#hex`, a name, or a colour function of numbers), never anything that could end a
//! declaration or a rule.
//!
//! The theme is written back into the sanitized page as data (`<meta name="tailwind-theme">`,
//! see `render`), so that sanitizing a sanitized page finds it again and changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the Play CDN reads its configuration from.
const CONFIG_ASSIGNMENT: &str = "tailwind.config";
/// The most colours a page may define, and the longest name and value: a model's palette is
/// a few dozen; the bounds only keep a hostile page from growing the stylesheet.
const MAX_COLORS: usize = 512;
/// The most values of the other scales together.
const MAX_SCALE_VALUES: usize = 512;
/// The longest value of another scale (a font stack, a shadow).
const MAX_SCALE_VALUE: usize = 200;

/// The theme's scales besides colours, and the utilities that take their keys. A utility that
/// equals its prefix (`rounded`, `shadow`) takes the `DEFAULT` key.
const SCALES: &[(&str, &[&str])] = &[
    ("fontFamily", &["font"]),
    ("fontSize", &["text"]),
    ("maxWidth", &["max-w"]),
    (
        "borderRadius",
        &[
            "rounded",
            "rounded-t",
            "rounded-r",
            "rounded-b",
            "rounded-l",
            "rounded-s",
            "rounded-e",
            "rounded-tl",
            "rounded-tr",
            "rounded-br",
            "rounded-bl",
        ],
    ),
    ("boxShadow", &["shadow"]),
    ("letterSpacing", &["tracking"]),
    ("lineHeight", &["leading"]),
    ("width", &["w"]),
    ("height", &["h"]),
    ("minWidth", &["min-w"]),
    ("minHeight", &["min-h"]),
    ("maxHeight", &["max-h"]),
    (
        "spacing",
        &[
            "p",
            "px",
            "py",
            "pt",
            "pr",
            "pb",
            "pl",
            "ps",
            "pe",
            "m",
            "mx",
            "my",
            "mt",
            "mr",
            "mb",
            "ml",
            "ms",
            "me",
            "gap",
            "gap-x",
            "gap-y",
            "space-x",
            "space-y",
            "w",
            "h",
            "min-w",
            "min-h",
            "max-w",
            "max-h",
            "size",
            "inset",
            "inset-x",
            "inset-y",
            "top",
            "right",
            "bottom",
            "left",
            "translate-x",
            "translate-y",
            "basis",
            "indent",
            "scroll-m",
            "scroll-p",
        ],
    ),
];

/// What a `fontSize` entry may set besides the size, and the utility that sets it.
const FONT_SIZE_EXTRAS: &[(&str, &str)] = &[
    ("lineHeight", "leading"),
    ("letterSpacing", "tracking"),
    ("fontWeight", "font"),
];
const MAX_NAME: usize = 64;
const MAX_VALUE: usize = 100;

/// How `dark:` variants apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum DarkMode {
    /// Inside an element with class `dark`.
    Class,
    /// When the visitor prefers a dark colour scheme.
    Media,
}

/// What LivePage uses of a page's Tailwind configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Theme {
    #[serde(rename = "darkMode", default, skip_serializing_if = "Option::is_none")]
    pub(super) dark_mode: Option<DarkMode>,
    /// Colour names (as in `bg-<name>`) and their CSS values.
    #[serde(default)]
    pub(super) colors: BTreeMap<String, String>,
    /// The other scales ([`SCALES`], and `fontSize.lineHeight` and the like for a font size's
    /// extras): key (as in `font-<key>`) → CSS value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) scales: BTreeMap<String, BTreeMap<String, String>>,
    /// The official plugins the page asks the Play CDN for, of those LivePage applies.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub(super) plugins: BTreeSet<CdnPlugin>,
}

/// An official Tailwind plugin that the Play CDN loads when its URL names it
/// (`https://cdn.tailwindcss.com?plugins=forms,container-queries`), and LivePage applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum CdnPlugin {
    /// `@tailwindcss/forms`: form controls reset to a plain look that utilities can style, and
    /// the `form-*` classes.
    Forms,
}

impl CdnPlugin {
    /// The plugins a `<script src>` asks for: none unless it is the Play CDN's.
    pub(super) fn asked_by(src: &str) -> Vec<Self> {
        let src = src.trim();
        let absolute = match src.strip_prefix("//") {
            Some(_) => format!("https:{src}"),
            None => src.to_owned(),
        };
        let Ok(url) = url::Url::parse(&absolute) else {
            return Vec::new();
        };
        if url.host_str() != Some(PLAY_CDN_HOST) {
            return Vec::new();
        }
        url.query_pairs()
            .filter(|(name, _)| name == "plugins")
            .flat_map(|(_, names)| names.split(',').filter_map(Self::named).collect::<Vec<_>>())
            .collect()
    }

    /// The plugin the Play CDN knows by `name`, if LivePage applies it.
    fn named(name: &str) -> Option<Self> {
        match name.trim() {
            "forms" => Some(Self::Forms),
            _ => None,
        }
    }
}

/// Where the Play CDN is served from.
const PLAY_CDN_HOST: &str = "cdn.tailwindcss.com";

impl Theme {
    /// The theme configured by a script's text, if it assigns `tailwind.config` anything
    /// LivePage can use.
    pub(super) fn from_script(script: &str) -> Option<Self> {
        let at = script.find(CONFIG_ASSIGNMENT)?;
        let rest = script[at + CONFIG_ASSIGNMENT.len()..].trim_start();
        let rest = rest.strip_prefix('=')?.trim_start();
        let literal = quote_number_keys(balanced(rest)?);
        let literal = literal.as_str();
        let theme = match json5::from_str::<Value>(literal) {
            Ok(config) => Self::from_config(&config),
            Err(_) => Self::from_parts(literal),
        };
        (!theme.is_empty()).then_some(theme)
    }

    /// The theme as written back into a sanitized page (see [`Theme::to_data`]), checked again.
    pub(super) fn from_data(data: &str) -> Option<Self> {
        let theme: Self = serde_json::from_str(data).ok()?;
        let mut checked = Self {
            dark_mode: theme.dark_mode,
            plugins: theme.plugins,
            ..Self::default()
        };
        for (name, value) in theme.colors {
            checked.add_color(name, &Value::String(value));
        }
        for (scale, values) in theme.scales {
            let known = SCALES.iter().any(|(name, _)| *name == scale)
                || FONT_SIZE_EXTRAS
                    .iter()
                    .any(|(extra, _)| scale == format!("fontSize.{extra}"));
            if known {
                for (key, value) in values {
                    checked.add_scale_value(&scale, key, &value);
                }
            }
        }
        (!checked.is_empty()).then_some(checked)
    }

    /// The theme as data, for the sanitized page to carry.
    pub(super) fn to_data(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn is_empty(&self) -> bool {
        self.dark_mode.is_none()
            && self.colors.is_empty()
            && self.scales.is_empty()
            && self.plugins.is_empty()
    }

    fn from_config(config: &Value) -> Self {
        let mut theme = Self {
            dark_mode: dark_mode(config.get("darkMode")),
            ..Self::default()
        };
        let base = config.get("theme");
        let extended = base.and_then(|theme| theme.get("extend"));
        for section in [base, extended].into_iter().flatten() {
            if let Some(colors) = section.get("colors") {
                theme.add_colors("", colors);
            }
            for (scale, _) in SCALES {
                if let Some(Value::Object(values)) = section.get(*scale) {
                    for (key, value) in values {
                        theme.add_scale_entry(scale, key, value);
                    }
                }
            }
        }
        theme
    }

    /// Adds one entry of a scale from the configuration: a string or number, an array (a
    /// font stack, several shadows), or for `fontSize` `[size, lineHeight]` or
    /// `[size, { lineHeight, letterSpacing, fontWeight }]`.
    fn add_scale_entry(&mut self, scale: &str, key: &str, value: &Value) {
        let text = |value: &Value| match value {
            Value::String(text) => Some(text.trim().to_owned()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        };
        match (scale, value) {
            ("fontSize", Value::Array(parts)) => {
                let Some(size) = parts.first().and_then(text) else {
                    return;
                };
                self.add_scale_value(scale, key.to_owned(), &size);
                match parts.get(1) {
                    Some(Value::Object(extras)) => {
                        for (extra, _) in FONT_SIZE_EXTRAS {
                            if let Some(value) = extras.get(*extra).and_then(text) {
                                let scale = format!("fontSize.{extra}");
                                self.add_scale_value(&scale, key.to_owned(), &value);
                            }
                        }
                    }
                    Some(line_height) => {
                        if let Some(value) = text(line_height) {
                            self.add_scale_value("fontSize.lineHeight", key.to_owned(), &value);
                        }
                    }
                    None => {}
                }
            }
            ("fontFamily", Value::Array(names)) => {
                let names: Option<Vec<String>> = names.iter().map(text).collect();
                if let Some(names) = names {
                    let stack = names
                        .iter()
                        .map(|name| font_name(name))
                        .collect::<Vec<_>>()
                        .join(",");
                    self.add_scale_value(scale, key.to_owned(), &stack);
                }
            }
            ("fontFamily", value) => {
                if let Some(name) = text(value) {
                    self.add_scale_value(scale, key.to_owned(), &name);
                }
            }
            (_, Value::Array(values)) => {
                let values: Option<Vec<String>> = values.iter().map(text).collect();
                if let Some(values) = values {
                    self.add_scale_value(scale, key.to_owned(), &values.join(", "));
                }
            }
            (_, value) => {
                if let Some(value) = text(value) {
                    self.add_scale_value(scale, key.to_owned(), &value);
                }
            }
        }
    }

    fn add_scale_value(&mut self, scale: &str, key: String, value: &str) {
        let count: usize = self.scales.values().map(BTreeMap::len).sum();
        if count < MAX_SCALE_VALUES && is_color_name(&key) && is_scale_value(value) {
            self.scales
                .entry(scale.to_owned())
                .or_default()
                .insert(key, value.to_owned());
        }
    }

    /// What a page class that names a key of one of the theme's scales stands for, as classes
    /// the stylesheet generator knows: the same variants and utility with the value written
    /// out (`md:px-margin-desktop` → `md:px-[24px]`, `-mt-gutter` → `mt-[-24px]`, `text-body`
    /// → `text-[16px] leading-[24px]`). `None` for any other class.
    pub(super) fn expand(&self, class: &str) -> Option<String> {
        if self.scales.is_empty() {
            return None;
        }
        let (variants, utility) = split_variants(class);
        let (negative, utility) = match utility.strip_prefix('-') {
            Some(positive) => ("-", positive),
            None => ("", utility),
        };
        for (scale, prefixes) in SCALES {
            let Some(values) = self.scales.get(*scale) else {
                continue;
            };
            for prefix in *prefixes {
                let key = match utility.strip_prefix(prefix) {
                    Some("") => "DEFAULT",
                    Some(rest) => match rest.strip_prefix('-') {
                        Some(key) => key,
                        None => continue,
                    },
                    None => continue,
                };
                let Some(value) = values.get(key) else {
                    continue;
                };
                return Some(match *scale {
                    "fontFamily" => format!("{variants}font-[family-name:{}]", arbitrary(value)),
                    "fontSize" => {
                        let mut classes = format!("{variants}text-[length:{}]", arbitrary(value));
                        for (extra, utility) in FONT_SIZE_EXTRAS {
                            let scale = format!("fontSize.{extra}");
                            if let Some(extra) = self.scales.get(&scale).and_then(|s| s.get(key)) {
                                classes.push_str(&format!(
                                    " {variants}{utility}-[{}]",
                                    arbitrary(extra)
                                ));
                            }
                        }
                        classes
                    }
                    _ => format!("{variants}{prefix}-[{negative}{}]", arbitrary(value)),
                });
            }
        }
        None
    }

    /// For a configuration that is not all data: its `darkMode` and each `colors` object that
    /// is.
    fn from_parts(literal: &str) -> Self {
        let mut theme = Self::default();
        for (key, value) in keyed_values(literal) {
            match key {
                "darkMode" => {
                    let parsed = json5::from_str::<Value>(value).ok();
                    theme.dark_mode = theme.dark_mode.or(dark_mode(parsed.as_ref()));
                }
                "colors" => {
                    if let Ok(colors) = json5::from_str::<Value>(&quote_number_keys(value)) {
                        theme.add_colors("", &colors);
                    }
                }
                _ => {}
            }
        }
        theme
    }

    /// Adds the colours of a `colors` object, nested names joined with `-` under `prefix`.
    fn add_colors(&mut self, prefix: &str, colors: &Value) {
        let Some(colors) = colors.as_object() else {
            return;
        };
        for (key, value) in colors {
            let name = match (prefix, key.as_str()) {
                (_, "DEFAULT") if !prefix.is_empty() => prefix.to_owned(),
                ("", key) => key.to_owned(),
                (prefix, key) => format!("{prefix}-{key}"),
            };
            match value {
                Value::Object(_) => self.add_colors(&name, value),
                value => self.add_color(name, value),
            }
        }
    }

    fn add_color(&mut self, name: String, value: &Value) {
        let Some(value) = value.as_str().map(str::trim) else {
            return;
        };
        if self.colors.len() < MAX_COLORS && is_color_name(&name) && is_color_value(value) {
            self.colors.insert(name, value.to_owned());
        }
    }
}

fn dark_mode(value: Option<&Value>) -> Option<DarkMode> {
    // `["class", ".my-dark"]` and `"selector"` are class modes too; a custom class is not
    // supported, so they mean `.dark`.
    let mode = match value? {
        Value::Array(items) => items.first()?.as_str()?,
        value => value.as_str()?,
    };
    match mode {
        "class" | "selector" => Some(DarkMode::Class),
        "media" => Some(DarkMode::Media),
        _ => None,
    }
}

/// `class` split into its variants (`md:hover:`, kept with their colons) and its utility.
pub(super) fn split_variants(class: &str) -> (&str, &str) {
    let mut depth = 0usize;
    let mut split = 0;
    for (at, byte) in class.bytes().enumerate() {
        match byte {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b':' if depth == 0 => split = at + 1,
            _ => {}
        }
    }
    class.split_at(split)
}

/// A font family name as CSS writes it: quoted when it is not one identifier.
fn font_name(name: &str) -> String {
    let bare = name.trim_matches(|c| c == '"' || c == '\'');
    if bare.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        bare.to_owned()
    } else {
        format!("'{bare}'")
    }
}

/// A value as a Tailwind arbitrary value: spaces are written `_`.
fn arbitrary(value: &str) -> String {
    value.replace(' ', "_")
}

/// Lengths, numbers, font stacks, shadows and the functions that compute them
/// (`calc(100vw - 2rem)`, `clamp(…)`, `rgba(…)`), and nothing that could end the utility's
/// brackets, its declaration or its rule, start a comment or an escape, or load something.
fn is_scale_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_SCALE_VALUE
        && !value.contains("url(")
        && !value.contains("/*")
        && !value.contains('_')
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b' ' | b'.'
                        | b','
                        | b'%'
                        | b'('
                        | b')'
                        | b'+'
                        | b'-'
                        | b'*'
                        | b'/'
                        | b'#'
                        | b'\''
                )
        })
}

/// A name a class can use: `primary`, `background-dark`, `brand-500`, `sky.50`.
fn is_color_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

/// Plain colour syntax only: `#137fec`, `white`, `rgb(19 127 236 / 0.5)`, `hsl(210, 40%, 96%)`.
/// Nothing that could close the declaration (`;`, `}`), start a string, a comment or a URL,
/// or refer to something else (`var(…)`).
fn is_color_value(value: &str) -> bool {
    if value.is_empty() || value.len() > MAX_VALUE {
        return false;
    }
    if let Some(hex) = value.strip_prefix('#') {
        return matches!(hex.len(), 3 | 4 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    if value.bytes().all(|b| b.is_ascii_alphabetic()) {
        return true;
    }
    let Some((function, arguments)) = value.split_once('(') else {
        return false;
    };
    const FUNCTIONS: [&str; 10] = [
        "rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch", "color",
    ];
    let Some(arguments) = arguments.strip_suffix(')') else {
        return false;
    };
    FUNCTIONS.contains(&function.to_ascii_lowercase().as_str())
        && arguments.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b' ' | b',' | b'.' | b'%' | b'/' | b'-' | b'+')
        })
}

/// The object or array literal at the start of `text` (`{…}` or `[…]`), up to its matching
/// close, skipping brackets inside strings and comments; `None` when it does not close.
fn balanced(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let (open, close) = match bytes.first()? {
        b'{' => (b'{', b'}'),
        b'[' => (b'[', b']'),
        _ => return None,
    };
    let mut depth = 0usize;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            quote @ (b'"' | b'\'' | b'`') => at = skip_string(bytes, at, quote),
            b'/' if bytes.get(at + 1) == Some(&b'/') => {
                at = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |end| at + end);
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at = memchr::memmem::find(&bytes[at + 2..], b"*/")
                    .map_or(bytes.len(), |end| at + 2 + end + 1);
            }
            byte if byte == open => depth += 1,
            byte if byte == close => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[..=at]);
                }
            }
            _ => {}
        }
        at += 1;
    }
    None
}

/// `literal` with its number keys quoted (`{ 50: "#fff" }` → `{ "50": "#fff" }`): JavaScript
/// allows them, and palettes are full of them, but JSON5 keys are names or strings.
fn quote_number_keys(literal: &str) -> String {
    let bytes = literal.as_bytes();
    let mut out = String::with_capacity(literal.len() + 16);
    let mut copied = 0;
    let mut key_may_follow = false;
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        match byte {
            b'"' | b'\'' | b'`' => {
                at = skip_string(bytes, at, byte);
                key_may_follow = false;
            }
            b'{' | b',' => key_may_follow = true,
            byte if byte.is_ascii_whitespace() => {}
            byte if key_may_follow && byte.is_ascii_digit() => {
                let end = at
                    + bytes[at..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit() || **b == b'.')
                        .count();
                if literal[end..].trim_start().starts_with(':') {
                    out.push_str(&literal[copied..at]);
                    out.push('"');
                    out.push_str(&literal[at..end]);
                    out.push('"');
                    copied = end;
                }
                at = end;
                key_may_follow = false;
                continue;
            }
            _ => key_may_follow = false,
        }
        at += 1;
    }
    out.push_str(&literal[copied..]);
    out
}

/// The index of the closing `quote` of the string opening at `start` (or the end).
fn skip_string(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 1,
            byte if byte == quote => return at,
            _ => {}
        }
        at += 1;
    }
    bytes.len()
}

/// Every `key: value` in `literal` whose value is a string, an object or an array, at any
/// depth, for keys written as plain identifiers or quoted: the parts of a configuration that
/// can be read even when the whole cannot.
fn keyed_values(literal: &str) -> Vec<(&str, &str)> {
    let bytes = literal.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if byte.is_ascii_alphabetic() || byte == b'_' {
            let start = at;
            while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
                at += 1;
            }
            let key = &literal[start..at];
            let rest = literal[at..].trim_start();
            if let Some(value) = rest.strip_prefix(':').map(str::trim_start) {
                let value = match value.as_bytes().first() {
                    Some(b'{' | b'[') => balanced(value),
                    Some(&quote @ (b'"' | b'\'')) => {
                        let end = skip_string(value.as_bytes(), 0, quote);
                        value.get(..=end)
                    }
                    _ => None,
                };
                if let Some(value) = value {
                    found.push((key, value));
                }
            }
            continue;
        }
        if matches!(byte, b'"' | b'\'' | b'`') {
            at = skip_string(bytes, at, byte);
        }
        at += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration as a page generator writes it.
    const GENERATED: &str = r##"
        tailwind.config = {
          darkMode: "class",
          theme: {
            extend: {
              colors: {
                "primary": "#137fec",
                "background-light": "#f6f7f8",
                'background-dark': '#101922',
                brand: { DEFAULT: "#ff5a1f", 50: "#fff4ed", dark: "rgb(10 20 30 / 0.5)" },
              },
              fontFamily: { "display": ["Inter", "sans-serif"] },
              borderRadius: { "DEFAULT": "0.25rem", "lg": "0.5rem", },   // trailing commas
            },
          },
        }
    "##;

    #[test]
    fn a_generated_configuration_gives_its_dark_mode_and_colours() {
        let theme = Theme::from_script(GENERATED).unwrap();
        assert_eq!(theme.dark_mode, Some(DarkMode::Class));
        let colors: Vec<(&str, &str)> = theme
            .colors
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(
            colors,
            [
                ("background-dark", "#101922"),
                ("background-light", "#f6f7f8"),
                ("brand", "#ff5a1f"),
                ("brand-50", "#fff4ed"),
                ("brand-dark", "rgb(10 20 30 / 0.5)"),
                ("primary", "#137fec"),
            ]
        );
    }

    #[test]
    fn what_is_not_data_costs_only_itself() {
        let script = r#"
            tailwind.config = {
              darkMode: 'media',
              theme: {
                extend: {
                  colors: { accent: '#0ea5e9' },
                  fontFamily: { sans: ['Inter', ...defaultTheme.fontFamily.sans] },
                },
              },
              plugins: [require('@tailwindcss/forms')],
            }
        "#;
        let theme = Theme::from_script(script).unwrap();
        assert_eq!(theme.dark_mode, Some(DarkMode::Media));
        assert_eq!(theme.colors["accent"], "#0ea5e9");
    }

    #[test]
    fn values_that_could_leave_their_declaration_are_refused() {
        for value in [
            "red;}body{background:url(https://evil.example/x)",
            "url(https://evil.example/x)",
            "var(--x)",
            "rgb(1 2 3);color:red",
            "expression(alert(1))",
            "#12345",
            "</style><script>alert(1)</script>",
            "rgb(var(--primary) / <alpha-value>)",
        ] {
            assert!(!is_color_value(value), "{value}");
        }
        for value in [
            "#fff",
            "#137fecaa",
            "white",
            "transparent",
            "hsl(210, 40%, 96%)",
        ] {
            assert!(is_color_value(value), "{value}");
        }
        assert!(!is_color_name("a b"));
        assert!(!is_color_name("x{y"));
    }

    #[test]
    fn the_other_scales_stand_for_their_values() {
        let theme = Theme::from_script(
            r#"tailwind.config = { theme: { extend: {
                fontFamily: { display: ["Space Grotesk", "sans-serif"], body: "Inter" },
                fontSize: { "body-md": ["16px", { lineHeight: "24px", fontWeight: "500" }],
                            "display-lg": ["48px", "56px"], hero: "clamp(2rem, 5vw, 4rem)" },
                spacing: { gutter: "24px", "margin-mobile": "16px" },
                maxWidth: { "container-max": "1280px" },
                borderRadius: { DEFAULT: "0.25rem", xl2: "1.25rem" },
                boxShadow: { soft: "0 4px 6px rgba(0, 0, 0, 0.1)" },
            } } }"#,
        )
        .unwrap();
        let expand = |class: &str| theme.expand(class);
        assert_eq!(
            expand("font-display").as_deref(),
            Some("font-[family-name:'Space_Grotesk',sans-serif]")
        );
        assert_eq!(
            expand("md:font-body").as_deref(),
            Some("md:font-[family-name:Inter]")
        );
        assert_eq!(
            expand("text-body-md").as_deref(),
            Some("text-[length:16px] leading-[24px] font-[500]")
        );
        assert_eq!(
            expand("lg:text-display-lg").as_deref(),
            Some("lg:text-[length:48px] lg:leading-[56px]")
        );
        assert_eq!(
            expand("text-hero").as_deref(),
            Some("text-[length:clamp(2rem,_5vw,_4rem)]")
        );
        assert_eq!(
            expand("md:px-margin-mobile").as_deref(),
            Some("md:px-[16px]")
        );
        assert_eq!(expand("-mx-margin-mobile").as_deref(), Some("mx-[-16px]"));
        assert_eq!(expand("gap-gutter").as_deref(), Some("gap-[24px]"));
        assert_eq!(
            expand("max-w-container-max").as_deref(),
            Some("max-w-[1280px]")
        );
        assert_eq!(expand("rounded").as_deref(), Some("rounded-[0.25rem]"));
        assert_eq!(
            expand("hover:rounded-t-xl2").as_deref(),
            Some("hover:rounded-t-[1.25rem]")
        );
        assert_eq!(
            expand("shadow-soft").as_deref(),
            Some("shadow-[0_4px_6px_rgba(0,_0,_0,_0.1)]")
        );
        for other in [
            "font-bold",
            "text-primary",
            "px-4",
            "pxgutter",
            "[&>p]:gap-gutter2",
        ] {
            assert_eq!(expand(other), None, "{other}");
        }
        assert_eq!(
            Theme::from_data(&theme.to_data()),
            Some(theme.clone()),
            "the scales read back from the page's data"
        );
    }

    #[test]
    fn scale_values_that_could_leave_their_utility_are_refused() {
        for value in [
            "1px]; } body { x: y",
            "url(https://evil.example/x.png)",
            "24px /* */",
            "a_b",
            "\\31 px",
            "<style>",
            "1px;",
        ] {
            let script = format!(
                "tailwind.config = {{ theme: {{ spacing: {{ x: {} }} }} }}",
                serde_json::to_string(value).unwrap()
            );
            assert_eq!(Theme::from_script(&script), None, "{value}");
        }
    }

    #[test]
    fn scripts_that_do_not_configure_tailwind_give_nothing() {
        assert_eq!(Theme::from_script("console.log('tailwind')"), None);
        assert_eq!(Theme::from_script("tailwind.config = window.x"), None);
        assert_eq!(
            Theme::from_script("tailwind.config = { theme: { extend: {"),
            None
        );
        assert_eq!(
            Theme::from_script("tailwind.config = { plugins: [] }"),
            None
        );
    }

    #[test]
    fn the_theme_reads_back_from_its_data() {
        let theme = Theme::from_script(GENERATED).unwrap();
        assert_eq!(Theme::from_data(&theme.to_data()), Some(theme));
        let forged = r#"{"darkMode":"class","colors":{"x":"red;}*{color:red"}}"#;
        assert_eq!(Theme::from_data(forged).unwrap().colors.len(), 0);
    }

    #[test]
    fn number_keys_are_quoted_and_nothing_else_is_touched() {
        assert_eq!(
            quote_number_keys(r##"{ 50: "#fff", a: '1: x', b: [1, 2], 100 : "#000", 1.5: 'y' }"##),
            r##"{ "50": "#fff", a: '1: x', b: [1, 2], "100" : "#000", "1.5": 'y' }"##
        );
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_end_the_literal() {
        let text = r#"{ a: "}", b: '{', /* } */ c: [1, 2], // }
            d: `}` } trailing"#;
        assert!(balanced(text).unwrap().ends_with("`}` }"));
    }
}
