//! What the demo "model" answers to a refine (docs/ARCHITECTURE.md, "Refining a
//! page"): real SEARCH/REPLACE edit blocks against the document it was sent, for the simple
//! changes people ask for first — a colour or theme word, a new headline, a section to add —
//! and, when asked for a whole document (the retry after edits that could not be applied), the
//! whole document with the same change made.
//!
//! Like the demo page, everything here is deterministic: the same document and change always
//! give the same answer, so a continuation of a cut-off answer lines up with it.

use crate::generation::edits::{EditStream, block};

/// Tailwind colour families a change may name, with the words that name them.
const COLOURS: &[(&str, &[&str])] = &[
    ("red", &["red", "crimson", "scarlet"]),
    ("orange", &["orange"]),
    ("amber", &["amber", "yellow", "gold", "golden"]),
    ("lime", &["lime"]),
    ("emerald", &["green", "emerald", "forest"]),
    ("teal", &["teal", "turquoise"]),
    ("cyan", &["cyan", "aqua"]),
    ("sky", &["sky", "light blue"]),
    ("blue", &["blue", "navy"]),
    ("indigo", &["indigo"]),
    ("violet", &["violet", "purple", "lavender"]),
    ("pink", &["pink", "magenta"]),
    ("rose", &["rose", "coral"]),
];

/// The accent families a demo page uses, which a colour change swaps.
const ACCENTS: &[&str] = &[
    "red", "orange", "amber", "yellow", "lime", "green", "emerald", "teal", "cyan", "sky", "blue",
    "indigo", "violet", "purple", "fuchsia", "pink", "rose",
];

/// How many blocks one answer holds at most: a colour change touches many lines.
const MAX_BLOCKS: usize = 40;

/// The answer to `change` of `document`: edit blocks, or with `whole_document` the whole
/// updated document in a fence.
pub fn demo_refine(document: &str, change: &str, whole_document: bool) -> String {
    let blocks = blocks_for(document, change);
    if !whole_document && !blocks.is_empty() {
        return blocks.concat();
    }
    let mut edits = EditStream::new(document);
    for block in &blocks {
        edits.push(block);
    }
    edits.finish();
    let mut updated = edits.document().to_owned();
    if blocks.is_empty() {
        // A change the demo model cannot read: it adds a note of it, so that something shows.
        updated = add_section(&updated, change).unwrap_or(updated);
    }
    format!("```html\n{updated}\n```")
}

/// The edit blocks for `change`, in order; none when the demo model cannot make it.
fn blocks_for(document: &str, change: &str) -> Vec<String> {
    let lower = change.to_lowercase();
    if ["headline", "heading", "title"]
        .iter()
        .any(|w| lower.contains(w))
        && let Some(block) = headline(document, change)
    {
        return vec![block];
    }
    if lower.contains("add")
        && let Some(updated) = add_section(document, change)
    {
        return section_block(document, &updated).into_iter().collect();
    }
    if ["dark", "night"].iter().any(|w| lower.contains(w))
        && let Some(block) = dark_body(document)
    {
        return vec![block];
    }
    if let Some(family) = colour_named(&lower) {
        return recolour(document, family);
    }
    Vec::new()
}

/// The colour family the change names, if any.
fn colour_named(lower: &str) -> Option<&'static str> {
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .collect();
    COLOURS.iter().find_map(|(family, names)| {
        names
            .iter()
            .any(|name| words.contains(name) || (name.contains(' ') && lower.contains(name)))
            .then_some(*family)
    })
}

/// The accent family the document uses most (`indigo` in `bg-indigo-600`).
fn dominant_accent(document: &str) -> Option<&'static str> {
    ACCENTS
        .iter()
        .map(|family| (document.matches(&format!("-{family}-")).count(), *family))
        .filter(|(count, _)| *count > 0)
        .max_by_key(|(count, _)| *count)
        .map(|(_, family)| family)
}

/// Blocks that swap the document's accent family for `family`, one per line that uses it,
/// each with as many lines before it as make its SEARCH text unique where it is applied.
fn recolour(document: &str, family: &str) -> Vec<String> {
    let Some(old) = dominant_accent(document) else {
        return Vec::new();
    };
    if old == family {
        return Vec::new();
    }
    let (from, to) = (format!("-{old}-"), format!("-{family}-"));
    let mut current = document.to_owned();
    let mut blocks = Vec::new();
    let mut searched_from = 0;
    loop {
        let lines: Vec<&str> = current.split('\n').collect();
        let Some(at) = (searched_from..lines.len()).find(|&i| lines[i].contains(&from)) else {
            break;
        };
        let Some(start) = (searched_from..=at)
            .rev()
            .find(|&start| is_unique(&lines, start, at))
        else {
            searched_from = at + 1;
            continue;
        };
        let search = lines[start..=at].join("\n");
        let mut replaced: Vec<String> = lines[start..at].iter().map(|l| (*l).to_owned()).collect();
        replaced.push(lines[at].replace(&from, &to));
        let replace = replaced.join("\n");
        let block = block(&search, &replace);
        let mut edits = EditStream::new(current.as_str());
        edits.push(&block);
        if edits.failure().is_some() || edits.applied() != 1 {
            searched_from = at + 1;
            continue;
        }
        current = edits.document().to_owned();
        blocks.push(block);
        searched_from = at + 1;
        if blocks.len() == MAX_BLOCKS {
            break;
        }
    }
    blocks
}

/// Whether lines `start..=end`, compared without their edge whitespace, occur once only.
fn is_unique(lines: &[&str], start: usize, end: usize) -> bool {
    let wanted: Vec<&str> = lines[start..=end].iter().map(|l| l.trim()).collect();
    if wanted.iter().all(|l| l.is_empty()) {
        return false;
    }
    let len = wanted.len();
    (0..=lines.len() - len)
        .filter(|&i| {
            lines[i..i + len]
                .iter()
                .zip(&wanted)
                .all(|(line, wanted)| line.trim() == *wanted)
        })
        .count()
        == 1
}

/// A block that makes the page dark: the body's own classes.
fn dark_body(document: &str) -> Option<String> {
    let line = document
        .split('\n')
        .find(|line| line.trim_start().starts_with("<body"))?;
    let replaced = format!(
        "{}<body class=\"min-h-screen bg-slate-950 text-slate-100 antialiased\">",
        &line[..line.len() - line.trim_start().len()]
    );
    (replaced != line).then(|| block(line, &replaced))
}

/// A block that gives the first `<h1>` the text the change asks for.
fn headline(document: &str, change: &str) -> Option<String> {
    let text = new_text(change)?;
    let lines: Vec<&str> = document.split('\n').collect();
    let first = lines.iter().position(|line| line.contains("<h1"))?;
    let last = (first..lines.len()).find(|&i| lines[i].contains("</h1>"))?;
    let search = lines[first..=last].join("\n");
    let open_at = search.find("<h1")?;
    let open_end = open_at + search[open_at..].find('>')? + 1;
    let close_at = search.rfind("</h1>")?;
    let replace = format!(
        "{}{}{}",
        &search[..open_end],
        html_escape::encode_text(&text),
        &search[close_at..]
    );
    Some(block(&search, &replace))
}

/// The text a change asks for: what it quotes, or what follows " to ".
fn new_text(change: &str) -> Option<String> {
    for (open, close) in [('"', '"'), ('“', '”'), ('\'', '\''), ('«', '»')] {
        if let Some((_, rest)) = change.split_once(open)
            && let Some((quoted, _)) = rest.split_once(close)
            && !quoted.trim().is_empty()
        {
            return Some(quoted.trim().to_owned());
        }
    }
    let lower = change.to_lowercase();
    let at = lower.rfind(" to ")?;
    let text = change[at + 4..].trim().trim_end_matches(['.', '!']);
    (!text.is_empty()).then(|| text.to_owned())
}

/// The document with a section about what `change` asks to add, before `</main>` (or the
/// footer, or the end of the body); `None` when it has none of those.
fn add_section(document: &str, change: &str) -> Option<String> {
    let topic = topic(change);
    let title = html_escape::encode_text(&topic).into_owned();
    let section = format!(
        "    <section class=\"py-16 md:py-24\" id=\"added\">\n      <div class=\"mx-auto max-w-3xl px-6 text-center\">\n        <h2 class=\"text-3xl font-bold tracking-tight\">{title}</h2>\n        <p class=\"mt-4 text-lg opacity-80\">Added at your request: {title}.</p>\n      </div>\n    </section>"
    );
    let lines: Vec<&str> = document.split('\n').collect();
    let anchor = ["</main>", "<footer", "</body>"].iter().find_map(|tag| {
        let found: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].contains(tag))
            .collect();
        (found.len() == 1).then(|| found[0])
    })?;
    let mut out: Vec<&str> = lines[..anchor].to_vec();
    out.push(&section);
    out.extend_from_slice(&lines[anchor..]);
    Some(out.join("\n"))
}

/// The block that turns `document` into `updated`, which is it with lines inserted: SEARCH
/// for the line the section goes before.
fn section_block(document: &str, updated: &str) -> Option<String> {
    let before: Vec<&str> = document.split('\n').collect();
    let after: Vec<&str> = updated.split('\n').collect();
    let at = before.iter().zip(&after).position(|(a, b)| a != b)?;
    let added = after.len() - before.len();
    let anchor = before[at];
    let replace = after[at..at + added + 1].join("\n");
    Some(block(anchor, &replace))
}

/// What a section is about: the words after "add", without articles and "section".
fn topic(change: &str) -> String {
    let lower = change.to_lowercase();
    let start = lower.find("add ").map_or(0, |at| at + 4);
    let words: Vec<&str> = change[start..]
        .split_whitespace()
        .filter(|w| {
            !matches!(
                w.to_lowercase()
                    .trim_matches(|c: char| !c.is_alphanumeric()),
                "a" | "an" | "the" | "section" | "with" | "about" | "on" | "for"
            )
        })
        .collect();
    let topic = words.join(" ");
    let topic = topic.trim_matches(|c: char| !c.is_alphanumeric());
    let mut chars = topic.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "More".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "<html>\n<body class=\"bg-white\">\n  <h1 class=\"text-indigo-600\">\n    Harbor Bakery\n  </h1>\n  <a class=\"bg-indigo-600\">Order</a>\n  <a class=\"bg-indigo-600\">Order</a>\n  <main>\n    <p>Bread</p>\n  </main>\n</body>\n</html>";

    fn apply(answer: &str) -> EditStream {
        let mut edits = EditStream::new(PAGE);
        edits.push(answer);
        edits.finish();
        edits
    }

    #[test]
    fn a_colour_word_recolours_every_accent_line_with_blocks_that_apply() {
        let answer = demo_refine(PAGE, "make it green please", false);
        assert!(answer.starts_with("<<<<<<< SEARCH"), "{answer}");
        let edits = apply(&answer);
        assert_eq!(edits.failure(), None, "{answer}");
        assert_eq!(edits.applied(), 3);
        assert!(!edits.document().contains("indigo"));
        assert_eq!(edits.document().matches("-emerald-").count(), 3);
    }

    #[test]
    fn a_headline_and_a_section_and_a_dark_theme_are_edits_too() {
        let edits = apply(&demo_refine(
            PAGE,
            "change the headline to \"Fresh & warm\"",
            false,
        ));
        assert_eq!(edits.failure(), None);
        assert!(edits.document().contains(">Fresh &amp; warm</h1>"));
        let edits = apply(&demo_refine(
            PAGE,
            "add a section about opening hours",
            false,
        ));
        assert_eq!(edits.failure(), None);
        assert!(edits.document().contains(">Opening hours</h2>"));
        assert!(edits.document().find("Opening hours") < edits.document().find("</main>"));
        let edits = apply(&demo_refine(PAGE, "make it dark", false));
        assert_eq!(edits.failure(), None);
        assert!(edits.document().contains("bg-slate-950"));
    }

    #[test]
    fn asked_for_a_whole_document_it_writes_the_document_with_the_change() {
        let answer = demo_refine(PAGE, "make it red", true);
        assert!(answer.starts_with("```html\n<html>"));
        assert!(answer.contains("bg-red-600") && !answer.contains("indigo"));
        let unknown = demo_refine(PAGE, "something odd", false);
        assert!(unknown.starts_with("```html") && unknown.contains("Something odd"));
    }
}
