//! The page's own CSS: what its `<style>` elements say, cleaned with a real CSS parser.
//!
//! Models put keyframes, gradients, font stacks and small custom classes in a `<style>` block
//! beside their Tailwind classes. That CSS is kept, but only after it has been read token by
//! token with `cssparser` (the tokenizer of Servo and Firefox) and written out again from those
//! tokens, so nothing the model wrote reaches the page as text:
//!
//! - **rules** that style: style rules, `@media`, `@supports`, `@container` and `@layer`
//!   blocks (nested up to [`MAX_DEPTH`]), `@keyframes` and `@font-face`. Everything else —
//!   `@import` (it would load a stylesheet), `@charset`, `@namespace`, `@tailwind` and other
//!   at-rules, CSS nesting inside a style rule, `<!--`/`-->` — is dropped;
//! - **declarations** without script or loads: `url()` only to `https:` or to a `data:`
//!   image or font (what the page's Content-Security-Policy allows anyway); no `expression()`,
//!   `behavior`, `-moz-binding` or `javascript:` (the legacy ways of running script from CSS);
//!   a declaration with a bad string or URL is dropped whole;
//! - **comments** go; where two tokens would run together without one, a `/**/` keeps them
//!   apart, so the output reads back as the same tokens. Writing out what was read makes the
//!   cleaning idempotent: cleaned CSS cleans to itself.
//!
//! The result is at most [`MAX_CSS`] bytes (rules past that are dropped whole) and joins the
//! page's one stylesheet, where it is escaped for the `<style>` element like the rest
//! (`stylesheet::escape_for_style_element`).

use cssparser::{ParseError, Parser, ToCss, Token, TokenSerializationType};

/// The most CSS kept from one page's `<style>` elements.
pub(super) const MAX_CSS: usize = 64 * 1024;

/// How deeply blocks may nest (`@media` in `@supports`, functions in functions).
const MAX_DEPTH: usize = 16;

/// At-rules whose block holds more rules.
const GROUPING_RULES: &[&str] = &["media", "supports", "container", "layer"];

/// At-rules whose block holds keyframes (`from`, `50%`, …), each a block of declarations.
const KEYFRAMES_RULES: &[&str] = &["keyframes", "-webkit-keyframes"];

/// Properties that ran script in some browser, once.
const SCRIPT_PROPERTIES: &[&str] = &["behavior", "-ms-behavior", "-moz-binding"];

/// Value functions that ran script in some browser, once.
const SCRIPT_FUNCTIONS: &[&str] = &["expression", "-moz-binding"];

/// The cleaned text of a page's CSS (see the module's documentation): its `<style>` blocks (`css`), then the plain CSS of its
/// `<style type="text/tailwindcss">` blocks (`tailwind`), which the Play CDN runs through
/// Tailwind. There, `@layer base { … }` names one of Tailwind's layers, not a CSS cascade
/// layer: its rules are kept as rules of the page (a cascade layer would lose to every rule
/// outside one). Tailwind's own at-rules (`@apply`, `@tailwind`, `@config`) are dropped like any
/// other unknown at-rule.
pub(super) fn clean_page(css: &str, tailwind: &str) -> String {
    let mut out = Writer::default();
    rules(&mut Parser::new(css), &mut out, 0);
    if !tailwind.is_empty() {
        out.tailwind_layers = true;
        rules(&mut Parser::new(tailwind), &mut out, 0);
    }
    out.text
}

/// Serialized tokens, with a `/**/` wherever two tokens would otherwise read back as one.
#[derive(Default)]
struct Writer {
    text: String,
    last: Option<TokenSerializationType>,
    /// Whether `@layer` blocks are Tailwind's, whose rules are written without them.
    tailwind_layers: bool,
}

impl Writer {
    fn token(&mut self, token: &Token<'_>) {
        let kind = token.serialization_type();
        if self
            .last
            .is_some_and(|last| last.needs_separator_when_before(kind))
        {
            self.text.push_str("/**/");
        }
        match token {
            // Whitespace is whitespace: one space says it.
            Token::WhiteSpace(_) => self.text.push(' '),
            _ => {
                let _ = token.to_css(&mut self.text);
            }
        }
        self.last = Some(kind);
    }

    /// Text that no token can run into (`{`, `}`, `;`, `:`).
    fn punctuation(&mut self, text: &str) {
        self.text.push_str(text);
        self.last = None;
    }
}

/// Rules until the end of the block (or stylesheet) the parser is in.
fn rules(parser: &mut Parser<'_>, out: &mut Writer, depth: usize) {
    loop {
        let rule_start = out.text.len();
        let token = match parser.next() {
            Ok(token) => token.clone(),
            Err(_) => return,
        };
        match token {
            Token::CDO | Token::CDC | Token::Semicolon => continue,
            Token::AtKeyword(name) => at_rule(parser, &name.to_ascii_lowercase(), out, depth),
            first => style_rule(parser, first, out, depth),
        }
        if out.text.len() > MAX_CSS {
            out.text.truncate(rule_start);
            out.last = None;
            return;
        }
    }
}

/// A rule that starts with `first`: its selector, then its declarations.
fn style_rule(parser: &mut Parser<'_>, first: Token<'_>, out: &mut Writer, depth: usize) {
    let start = out.text.len();
    if !prelude(parser, Some(first), out, depth) {
        out.text.truncate(start);
        out.last = None;
        return;
    }
    declaration_block(parser, out, depth);
}

fn at_rule(parser: &mut Parser<'_>, name: &str, out: &mut Writer, depth: usize) {
    let start = out.text.len();
    if name == "layer" && out.tailwind_layers && depth < MAX_DEPTH {
        // Its name, then its rules as the page's (`@layer base;`, a statement, says nothing).
        while let Ok(token) = parser.next() {
            match token {
                Token::CurlyBracketBlock => {
                    let _ = parser.parse_nested_block(|block| {
                        rules(block, out, depth + 1);
                        Ok::<(), ParseError<()>>(())
                    });
                    return;
                }
                Token::Semicolon => return,
                _ => {}
            }
        }
        return;
    }
    let nested = GROUPING_RULES.contains(&name) || KEYFRAMES_RULES.contains(&name);
    if !(nested || name == "font-face") || depth >= MAX_DEPTH {
        skip_rule(parser);
        return;
    }
    out.punctuation("@");
    out.token(&Token::Ident(name.into()));
    if !prelude(parser, None, out, depth) {
        out.text.truncate(start);
        out.last = None;
        return;
    }
    if name == "font-face" {
        declaration_block(parser, out, depth);
    } else {
        out.punctuation("{");
        let _ = parser.parse_nested_block(|block| {
            rules(block, out, depth + 1);
            Ok::<(), ParseError<()>>(())
        });
        out.punctuation("}");
    }
}

/// Copies a rule's prelude (its selector, or an at-rule's condition), starting with `first`
/// if given, up to its block. False when it has none (an invalid rule, dropped whole), or
/// when it holds something that cannot be written back.
fn prelude(
    parser: &mut Parser<'_>,
    first: Option<Token<'_>>,
    out: &mut Writer,
    depth: usize,
) -> bool {
    let mut next = first;
    loop {
        let token = match next.take() {
            Some(token) => token,
            None => match parser.next_including_whitespace() {
                Ok(token) => token.clone(),
                Err(_) => return false,
            },
        };
        match token {
            Token::CurlyBracketBlock => {
                trim_trailing_space(out);
                return true;
            }
            Token::Semicolon => {
                return false;
            }
            // Never part of a valid selector or condition (comparisons are in brackets): the
            // rule is invalid, and it reads like markup.
            Token::Delim('<') => {
                skip_rule(parser);
                return false;
            }
            token => {
                if !copy(parser, &token, out, depth) {
                    skip_rule(parser);
                    return false;
                }
            }
        }
    }
}

fn trim_trailing_space(out: &mut Writer) {
    if out.text.ends_with(' ') {
        out.text.pop();
    }
    out.last = None;
}

/// The declarations of the block the parser has just reached, each kept or dropped whole.
fn declaration_block(parser: &mut Parser<'_>, out: &mut Writer, depth: usize) {
    out.punctuation("{");
    let _ = parser.parse_nested_block(|block| {
        loop {
            let name = match block.next() {
                Ok(Token::Ident(name)) => name.clone(),
                Ok(Token::Semicolon) => continue,
                // A nested rule or stray tokens: skipped up to the next `;` or block.
                Ok(_) => {
                    skip_rule(block);
                    continue;
                }
                Err(_) => break,
            };
            let start = out.text.len();
            let kept = block.expect_colon().is_ok()
                && !SCRIPT_PROPERTIES.contains(&name.to_ascii_lowercase().as_str())
                && {
                    out.token(&Token::Ident(name.clone()));
                    out.punctuation(":");
                    value(block, out, depth)
                };
            if kept {
                trim_trailing_space(out);
                out.punctuation(";");
            } else {
                out.text.truncate(start);
                out.last = None;
                skip_rule(block);
            }
        }
        Ok::<(), ParseError<()>>(())
    });
    out.punctuation("}");
}

/// Copies a declaration's value up to its `;` (consumed) or the end of the block. False when
/// it must not be kept.
fn value(parser: &mut Parser<'_>, out: &mut Writer, depth: usize) -> bool {
    let mut leading = true;
    loop {
        let token = match parser.next_including_whitespace() {
            Ok(token) => token.clone(),
            Err(_) => return true,
        };
        match token {
            Token::Semicolon => return true,
            Token::WhiteSpace(_) if leading => {}
            // A block where a value should be: not a declaration.
            Token::CurlyBracketBlock => return false,
            token => {
                leading = false;
                if !copy(parser, &token, out, depth) {
                    return false;
                }
            }
        }
    }
}

/// Writes `token`, and for a function or bracket its contents and closing bracket. False
/// when something in it must not be kept.
fn copy(parser: &mut Parser<'_>, token: &Token<'_>, out: &mut Writer, depth: usize) -> bool {
    match token {
        Token::BadUrl(_) | Token::BadString(_) => false,
        Token::UnquotedUrl(url) => {
            allowed_url(url) && {
                out.token(token);
                true
            }
        }
        Token::QuotedString(text) | Token::Ident(text) if mentions_script(text) => false,
        Token::Function(name) if SCRIPT_FUNCTIONS.contains(&name.to_ascii_lowercase().as_str()) => {
            false
        }
        Token::Function(_) | Token::ParenthesisBlock | Token::SquareBracketBlock => {
            if depth >= MAX_DEPTH {
                return false;
            }
            let is_url = matches!(token, Token::Function(name) if name.eq_ignore_ascii_case("url"));
            out.token(token);
            let inner = parser.parse_nested_block(|block| {
                let mut fine = true;
                while let Ok(inner) = block.next_including_whitespace() {
                    let inner = inner.clone();
                    if is_url
                        && !matches!(&inner, Token::QuotedString(url) if allowed_url(url))
                        && !matches!(inner, Token::WhiteSpace(_))
                    {
                        fine = false;
                    }
                    fine = fine && copy(block, &inner, out, depth + 1);
                }
                Ok::<bool, ParseError<()>>(fine)
            });
            let closing = match token {
                Token::SquareBracketBlock => "]",
                _ => ")",
            };
            out.punctuation(closing);
            inner.unwrap_or(false)
        }
        Token::CurlyBracketBlock => false,
        token => {
            out.token(token);
            true
        }
    }
}

/// Skips the rest of a rule or declaration: up to a `;` or past a block.
fn skip_rule(parser: &mut Parser<'_>) {
    while let Ok(token) = parser.next() {
        if matches!(token, Token::Semicolon | Token::CurlyBracketBlock) {
            return;
        }
    }
}

/// Whether a `url()` may stay: what a page may load at all (its Content-Security-Policy
/// allows https images and fonts, and data ones).
fn allowed_url(url: &str) -> bool {
    let url = url.trim().to_ascii_lowercase();
    [
        "https:",
        "data:image/",
        "data:font/",
        "data:application/font",
        "data:application/x-font",
    ]
    .iter()
    .any(|prefix| url.starts_with(prefix))
}

/// Whether text names a script URL scheme (whitespace and case do not hide it).
fn mentions_script(text: &str) -> bool {
    let squeezed: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .flat_map(char::to_lowercase)
        .collect();
    squeezed.contains("javascript:") || squeezed.contains("vbscript:")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cleaned text of a `<style>` block's CSS.
    fn clean(css: &str) -> String {
        clean_page(css, "")
    }

    #[test]
    fn style_rules_keyframes_and_media_survive_as_tokens() {
        let css = "/* brand */\n.hero { background: linear-gradient(135deg, #0f766e 0%, #14b8a6 100%); }\n\
                   @keyframes float { 0%, 100% { transform: translateY(0) } 50% { transform: translateY(-10px); } }\n\
                   @media (min-width: 768px) { .hero h1 { font-size: 3rem !important; } }\n\
                   body { font-family: 'Inter', sans-serif; }";
        assert_eq!(
            clean(css),
            ".hero{background:linear-gradient(135deg, #0f766e 0%, #14b8a6 100%);}\
             @keyframes float{0%, 100%{transform:translateY(0);}50%{transform:translateY(-10px);}}\
             @media (min-width: 768px){.hero h1{font-size:3rem !important;}}\
             body{font-family:\"Inter\", sans-serif;}"
        );
    }

    #[test]
    fn a_tailwind_blocks_layers_are_tailwinds_and_its_directives_go() {
        let plain = "@layer reset { p { margin: 0 } }";
        let tailwind = "@tailwind base; @layer base; @layer components { .btn { @apply px-4; \
                        color: red } @media (min-width: 768px) { .btn { color: blue } } }";
        let cleaned = clean_page(plain, tailwind);
        assert_eq!(
            cleaned,
            "@layer reset{p{margin:0;}}.btn{color:red;}\
             @media (min-width: 768px){.btn{color:blue;}}",
            "a `<style>`'s layer is a cascade layer; a Tailwind block's is not"
        );
        assert_eq!(clean(&cleaned), cleaned, "and it cleans to itself");
    }

    #[test]
    fn what_loads_or_runs_is_dropped() {
        let css = "@import url(https://evil.example/x.css);\n\
                   @charset \"utf-8\";\n\
                   @tailwind base;\n\
                   .a { background: url(/local.png); color: red; }\n\
                   .b { background-image: url('javascript:alert(1)'); }\n\
                   .c { width: expression(alert(1)); behavior: url(x.htc); -moz-binding: url(x.xml#y); }\n\
                   .d { background: url(\"https://images.example.com/a.jpg\") center/cover; }\n\
                   .e { background: url(data:image/png;base64,iVBOR) }\n\
                   .f { background: url(data:image/svg+xml,<svg onload=alert(1)>) }\n\
                   .h { background-image: url(\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E\") }\n\
                   .g { content: \"java\\73 cript:\" }";
        assert_eq!(
            clean(css),
            ".a{color:red;}.b{}.c{}\
             .d{background:url(\"https://images.example.com/a.jpg\") center/cover;}\
             .e{background:url(data:image/png;base64,iVBOR);}.f{}\
             .h{background-image:url(\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E\");}.g{}"
        );
    }

    #[test]
    fn cleaning_is_idempotent() {
        for css in [
            ".a{color:red}.b .c>d:hover::before{content:'\\201C';margin:-1px}",
            "@supports (display:grid){@media screen{.x{display:grid}}}",
            "a/**/b{c:d/**/e}",
            "@font-face{font-family:X;src:url(https://fonts.example/x.woff2) format('woff2')}",
            ".x{--brand: 12 34 56;color:rgb(var(--brand) / .5)}",
            "}}}{{{;;;.x{color:red",
            ".y{grid-template-areas:\"a b\" \"c d\"}",
        ] {
            let once = clean(css);
            assert_eq!(clean(&once), once, "{css}");
        }
    }

    #[test]
    fn nothing_breaks_out_of_the_style_element_or_the_parser() {
        let css = "</style><script>alert(1)</script><style>.x{color:red}";
        let cleaned = clean(css);
        assert!(!cleaned.contains("<script"), "{cleaned}");
        let deep = format!("{}x{}", "(".repeat(10_000), ")".repeat(10_000));
        let _ = clean(&format!(".x{{width:calc{deep}}}"));
        let _ = clean(&"@media screen{".repeat(10_000));
    }

    #[test]
    fn the_page_css_is_bounded() {
        let rule = ".x{color:red;}";
        let cleaned = clean(&rule.repeat(MAX_CSS / rule.len() * 2));
        assert!(cleaned.len() <= MAX_CSS);
        assert!(cleaned.ends_with('}'), "only whole rules");
    }
}
