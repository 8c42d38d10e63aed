//! Finds the HTML document inside the model's answer.
//!
//! Models wrap the page in a markdown code fence and sometimes talk before or after it
//! ("Here is your page: …", "This page features …"). That text is not part of the page, and
//! an HTML parser would happily put it on screen. During streaming the answer is also cut
//! anywhere, so every marker here may be missing: an unterminated fence or a document without
//! `</html>` must still give the best prefix of the page.
//!
//! Works on bytes with ASCII needles only, so every index is a char boundary and nothing here
//! can panic on input.

const DOCTYPE: &str = "<!doctype";
const HTML_OPEN: &str = "<html";
const HTML_CLOSE: &str = "</html>";
const FENCE: &str = "```";

/// The part of `raw` that is the page: from `<!DOCTYPE` (else `<html`) to the last `</html>`;
/// without either, the content of the first code fence, or all of `raw`.
///
/// The *last* `</html>`, because one inside the document (a script's string, say) would
/// otherwise cut the page short; prose after the page that quotes `</html>` only costs a
/// stray sentence at the bottom of the page. Our own output holds exactly one `</html>`
/// (text and attribute values have `<` escaped), so re-sanitizing finds the right one.
pub(super) fn document_text(raw: &str) -> &str {
    match document_start(raw) {
        Some(start) => {
            let document = &raw[start..];
            match rfind_ignore_ascii_case(document, HTML_CLOSE) {
                Some(end) => &document[..end + HTML_CLOSE.len()],
                // No `</html>`: truncated, or the model forgot it. Still end at the fence.
                None => before_closing_fence(document),
            }
        }
        None => fenced_content(raw).unwrap_or(raw),
    }
}

/// Where the document begins. `<!DOCTYPE` is preferred because prose is more likely to
/// mention `<html>` than a doctype.
fn document_start(raw: &str) -> Option<usize> {
    find_ignore_ascii_case(raw, DOCTYPE).or_else(|| find_html_start_tag(raw))
}

/// The first `<html` that is a start tag rather than the prefix of some other name.
fn find_html_start_tag(raw: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = find_ignore_ascii_case(&raw[from..], HTML_OPEN) {
        let start = from + found;
        let after = start + HTML_OPEN.len();
        let ends_name = raw
            .as_bytes()
            .get(after)
            .is_none_or(|&next| next.is_ascii_whitespace() || next == b'>' || next == b'/');
        if ends_name {
            return Some(start);
        }
        from = after;
    }
    None
}

/// The text after the first opening fence line (```` ```html ````), up to its closing fence
/// if there is one.
fn fenced_content(raw: &str) -> Option<&str> {
    let mut offset = 0;
    for line in raw.split_inclusive('\n') {
        offset += line.len();
        if line.trim_start().starts_with(FENCE) {
            return Some(before_closing_fence(&raw[offset..]));
        }
    }
    None
}

/// `text` up to its first line made only of backticks. A partial fence counts too: the
/// stream may have been cut in the middle of the closing ```` ``` ````.
fn before_closing_fence(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if !trimmed.is_empty() && trimmed.bytes().all(|byte| byte == b'`') {
            return &text[..offset];
        }
        offset += line.len();
    }
    text
}

fn find_ignore_ascii_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

fn rfind_ignore_ascii_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .rposition(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::document_text;

    #[test]
    fn a_fenced_document_loses_the_fence_and_the_prose_around_it() {
        let raw =
            "Here you go:\n```html\n<!DOCTYPE html>\n<html><body>Hi</body></html>\n```\nEnjoy!";
        assert_eq!(
            document_text(raw),
            "<!DOCTYPE html>\n<html><body>Hi</body></html>"
        );
    }

    #[test]
    fn the_doctype_and_closing_tag_are_found_in_any_case() {
        let raw = "x <!doctype HTML><HTML><body>Hi</body></HTML> y";
        assert_eq!(
            document_text(raw),
            "<!doctype HTML><HTML><body>Hi</body></HTML>"
        );
    }

    #[test]
    fn a_document_without_doctype_starts_at_the_html_tag() {
        let raw = "Sure: <htmlish> no, <html lang=\"fr\"><body>Salut</body></html>";
        assert_eq!(
            document_text(raw),
            "<html lang=\"fr\"><body>Salut</body></html>"
        );
    }

    #[test]
    fn a_truncated_document_is_kept_up_to_where_it_stops() {
        let raw = "```html\n<!DOCTYPE html><html><body><p>Hel";
        assert_eq!(document_text(raw), "<!DOCTYPE html><html><body><p>Hel");
    }

    #[test]
    fn a_document_without_closing_html_ends_at_the_closing_fence() {
        let raw = "```html\n<!DOCTYPE html><body>Hi</body>\n```\nThis page has a hero.";
        assert_eq!(document_text(raw), "<!DOCTYPE html><body>Hi</body>\n");
    }

    #[test]
    fn a_closing_fence_cut_in_the_middle_is_still_a_fence() {
        let raw = "```html\n<!DOCTYPE html><body>Hi</body>\n``";
        assert_eq!(document_text(raw), "<!DOCTYPE html><body>Hi</body>\n");
    }

    #[test]
    fn without_html_tags_the_fence_content_is_the_page() {
        let raw = "Here:\n```\n<div>Hi</div>\n```\nBye";
        assert_eq!(document_text(raw), "<div>Hi</div>\n");
        assert_eq!(document_text("```html\n<div>Hi"), "<div>Hi");
    }

    #[test]
    fn without_html_tags_or_fence_everything_is_the_page() {
        assert_eq!(
            document_text("<p>Just a paragraph</p>"),
            "<p>Just a paragraph</p>"
        );
        assert_eq!(document_text(""), "");
    }

    #[test]
    fn a_lone_opening_fence_gives_an_empty_page() {
        assert_eq!(document_text("```html"), "");
    }
}
