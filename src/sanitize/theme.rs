//! The page's own Tailwind theme, read as data from its Play-CDN configuration.
//!
//! Models configure Tailwind the way the Play CDN documents it, in a script:
//! `tailwind.config = { darkMode: "class", theme: { extend: { colors: { primary: "#137fec" } } } }`.
//! The sanitizer removes every script, and with it the colours that `bg-primary` or
//! `bg-background-dark` name: a dark page would lose its background and keep its white text.
//! So the object literal is read as data — never run — with a JSON5 parser (unquoted keys,
//! single quotes, trailing commas, comments), and what LivePage's stylesheet generator can use
//! is kept: `darkMode` and the theme's colours (`theme.colors` and `theme.extend.colors`,
//! nested names joined with `-`, `DEFAULT` naming the colour itself). Anything that is not
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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the Play CDN reads its configuration from.
const CONFIG_ASSIGNMENT: &str = "tailwind.config";
/// The most colours a page may define, and the longest name and value: a model's palette is
/// a few dozen; the bounds only keep a hostile page from growing the stylesheet.
const MAX_COLORS: usize = 512;
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
}

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
            colors: BTreeMap::new(),
        };
        for (name, value) in theme.colors {
            checked.add_color(name, &Value::String(value));
        }
        (!checked.is_empty()).then_some(checked)
    }

    /// The theme as data, for the sanitized page to carry.
    pub(super) fn to_data(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn is_empty(&self) -> bool {
        self.dark_mode.is_none() && self.colors.is_empty()
    }

    fn from_config(config: &Value) -> Self {
        let mut theme = Self {
            dark_mode: dark_mode(config.get("darkMode")),
            colors: BTreeMap::new(),
        };
        let base = config.get("theme");
        let extended = base.and_then(|theme| theme.get("extend"));
        for colors in [base, extended].into_iter().flatten() {
            if let Some(colors) = colors.get("colors") {
                theme.add_colors("", colors);
            }
        }
        theme
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
