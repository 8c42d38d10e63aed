//! Writes the page: a fixed head around the cleaned body.
//!
//! Nothing from the model reaches the head except the escaped title, and the `<html lang>` and
//! `<body class>` values that [`super::source`] has already reduced to safe characters (and
//! that are escaped anyway).

use html_escape::{encode_double_quoted_attribute_to_string, encode_text_to_string};

use super::source::SourceDocument;
use super::{Styles, TAILWIND_CDN_URL};

/// The whole document around `body`, which must already be clean.
pub(super) fn document(source: &SourceDocument, body: &str, styles: Styles) -> String {
    let mut out = String::with_capacity(body.len() + 512);
    out.push_str("<!DOCTYPE html>\n<html lang=\"");
    encode_double_quoted_attribute_to_string(&source.lang, &mut out);
    out.push_str(concat!(
        "\">\n<head>\n",
        "<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<title>",
    ));
    encode_text_to_string(&source.title, &mut out);
    out.push_str("</title>\n");
    push_styles(&mut out, styles);
    out.push_str("</head>\n<body");
    if !source.body_classes.is_empty() {
        out.push_str(" class=\"");
        encode_double_quoted_attribute_to_string(&source.body_classes, &mut out);
        out.push('"');
    }
    out.push_str(">\n");
    out.push_str(body);
    out.push_str("\n</body>\n</html>\n");
    out
}

fn push_styles(out: &mut String, styles: Styles) {
    match styles {
        Styles::Cdn => {
            out.push_str("<script src=\"");
            out.push_str(TAILWIND_CDN_URL);
            out.push_str("\"></script>\n");
        }
    }
}
