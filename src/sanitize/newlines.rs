//! Puts back the line feed that the HTML parser drops after `<pre>`, `<textarea>` and
//! `<listing>` start tags.
//!
//! The parser drops one line feed right after those start tags, and html5ever's serializer
//! does not write it back, so a `<pre>` whose text starts with a line feed loses it each
//! time its markup is parsed: the cleaner would see less than the model wrote, the browser
//! less than we cleaned, and sanitizing a page again would not give the same page. One extra
//! line feed is exactly what the parser removes, so adding it after every such start tag is
//! right whatever the text starts with.

/// Writes a line feed after every `<pre>`, `<textarea>` and `<listing>` start tag of `html`.
///
/// `html` must come from html5ever's serializer, which escapes `<` and `>` in text and
/// attribute values, so they only ever delimit tags. The exceptions are comments and the
/// text of raw-text elements (`<script>`, `<style>`, …); a line feed misplaced there is
/// harmless, because the body cleaner removes them, and ammonia's output has none.
pub(super) fn restore_leading_newlines(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(tag_start) = rest.find('<') {
        let (text, tag_and_rest) = rest.split_at(tag_start);
        out.push_str(text);
        let tag_len = tag_and_rest
            .find('>')
            .map_or(tag_and_rest.len(), |end| end + 1);
        let (tag, after) = tag_and_rest.split_at(tag_len);
        out.push_str(tag);
        if tag.ends_with('>') && eats_leading_newline(tag) {
            out.push('\n');
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Whether `tag` (`<name …>`) is a start tag of an element whose first line feed the parser
/// drops. End tags start with `</`, so their name reads as empty here.
fn eats_leading_newline(tag: &str) -> bool {
    let name = tag
        .get(1..)
        .unwrap_or_default()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default();
    matches!(name, "pre" | "textarea" | "listing")
}

#[cfg(test)]
mod tests {
    use super::restore_leading_newlines;

    #[test]
    fn start_tags_that_eat_a_line_feed_get_one_back() {
        assert_eq!(
            restore_leading_newlines("<p>a</p><pre class=\"x\">\ncode</pre><textarea>t</textarea>"),
            "<p>a</p><pre class=\"x\">\n\ncode</pre><textarea>\nt</textarea>"
        );
    }

    #[test]
    fn other_tags_and_text_are_left_alone() {
        let html = "<prefix>x</prefix><p>pre &lt;pre&gt;</p></pre>";
        assert_eq!(restore_leading_newlines(html), html);
        assert_eq!(restore_leading_newlines("<pre"), "<pre");
        assert_eq!(restore_leading_newlines(""), "");
    }
}
