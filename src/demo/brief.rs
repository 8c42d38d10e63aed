//! Reading a prompt the way a model would: who or what the page is about, and anything else
//! the person said about it.
//!
//! "a landing page for my bakery" is about a *Bakery*; "Portfolio for Jane Doe, a wedding
//! photographer" is about *Jane Doe*, who is a wedding photographer. A small word-based
//! heuristic gets these right: skip the request's preamble ("create a … page for my"), take the
//! words up to the first clause break (a comma, "with", "that", …) as the subject, and keep the
//! rest as a detail for the hero's subline.

use crate::domain::PageType;

/// Words that name the kind of page; what follows them ("for", "about", …) is the subject.
const KIND_WORDS: &[&str] = &[
    "page",
    "website",
    "site",
    "homepage",
    "webpage",
    "landing",
    "portfolio",
    "blog",
    "resume",
    "cv",
    "résumé",
    "one-pager",
];
/// Words that link a kind of page to its subject.
const CONNECTORS: &[&str] = &["for", "about", "of", "on", "called", "named", "titled"];
/// Words of a request's preamble, skipped before the subject.
const PREAMBLE: &[&str] = &[
    "please",
    "can",
    "could",
    "would",
    "you",
    "i",
    "we",
    "need",
    "want",
    "like",
    "to",
    "create",
    "make",
    "build",
    "design",
    "generate",
    "write",
    "give",
    "me",
    "us",
    "a",
    "an",
    "the",
    "my",
    "our",
    "new",
    "simple",
    "modern",
    "beautiful",
    "clean",
    "nice",
    "personal",
    "single",
    "professional",
];
/// Words that end the subject and start a description of it.
const CLAUSE_WORDS: &[&str] = &[
    "with",
    "that",
    "which",
    "who",
    "featuring",
    "including",
    "where",
    "showcasing",
    "offering",
    "selling",
    "for",
    "about",
];
/// Words kept lower-case inside a title.
const SMALL_WORDS: &[&str] = &[
    "a", "an", "and", "the", "of", "in", "on", "at", "to", "for", "by", "or", "&",
];
/// A subject longer than this is cut: it is a title, not a sentence.
const MAX_NAME_WORDS: usize = 6;
/// The subline quotes at most this many characters of the prompt.
const MAX_DETAIL_CHARS: usize = 160;

/// What a page is about, HTML-escaped and ready to insert anywhere in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Brief {
    /// The subject in title case: "Bakery", "Jane Doe".
    pub name: String,
    /// The rest of the prompt as a sentence, when there is one: "A wedding photographer."
    pub detail: Option<String>,
    /// Up to two initials of the subject, for avatar badges.
    pub initials: String,
}

impl Brief {
    pub fn read(prompt: &str, page_type: PageType) -> Self {
        let line = prompt
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        let start = subject_start(&words);
        let end = subject_end(&words, start);
        let name = title_case(&words[start..end]).unwrap_or_else(|| default_name(page_type).into());
        let detail = sentence(&words[end..]);
        Self {
            initials: initials(&name),
            name: html_escape::encode_text(&name).into_owned(),
            detail: detail.map(|d| html_escape::encode_text(&d).into_owned()),
        }
    }
}

/// Lower-case `word` without surrounding punctuation, for comparing with the word lists.
fn norm(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric() && c != '&')
        .to_lowercase()
}

fn is_in(list: &[&str], word: &str) -> bool {
    list.contains(&norm(word).as_str())
}

/// Index of the subject's first word: after "… page for" when the prompt names a kind of page
/// near its start, then past any preamble words — but never past the last word.
fn subject_start(words: &[&str]) -> usize {
    let mut start = 0;
    if let Some(kind) = words.iter().take(8).position(|w| is_in(KIND_WORDS, w)) {
        let after = kind
            + 1
            + words[kind + 1..]
                .iter()
                .take_while(|w| is_in(KIND_WORDS, w) || is_in(CONNECTORS, w))
                .count();
        if after < words.len() {
            start = after;
        }
    }
    while start + 1 < words.len() && is_in(PREAMBLE, words[start]) {
        start += 1;
    }
    start
}

/// Index just past the subject's last word: before a clause word, after a word ending a clause.
fn subject_end(words: &[&str], start: usize) -> usize {
    for (at, word) in words.iter().enumerate().skip(start) {
        if at > start && is_in(CLAUSE_WORDS, word) {
            return at;
        }
        if word.ends_with([',', ';', ':', '.', '!', '?']) || *word == "-" || *word == "—" {
            return at + 1;
        }
    }
    words.len()
}

/// The subject's words in title case, trailing kind words ("Restaurant Page") dropped.
fn title_case(words: &[&str]) -> Option<String> {
    let mut words: Vec<&str> = words
        .iter()
        .map(|w| {
            w.trim_matches(|c: char| {
                matches!(
                    c,
                    ',' | ';' | ':' | '.' | '!' | '?' | '"' | '*' | '“' | '”' | '—' | '-'
                )
            })
        })
        .filter(|w| !w.is_empty())
        .take(MAX_NAME_WORDS)
        .collect();
    while words.len() > 1 && words.last().is_some_and(|w| is_in(KIND_WORDS, w)) {
        words.pop();
    }
    let mut title = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            title.push(' ');
        }
        if word.chars().any(char::is_uppercase) || (i > 0 && is_in(SMALL_WORDS, word)) {
            title.push_str(word);
        } else {
            push_capitalised(&mut title, word);
        }
    }
    (!title.is_empty()).then_some(title)
}

/// The words after the subject as one sentence: capitalised, punctuated, not too long.
fn sentence(words: &[&str]) -> Option<String> {
    let words = match words.first() {
        Some(&("-" | "—")) => &words[1..],
        _ => words,
    };
    let mut text = String::new();
    for word in words {
        if text.chars().count() + word.chars().count() >= MAX_DETAIL_CHARS {
            text.push('…');
            break;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(word);
    }
    let text = text.trim_end_matches([',', ';', ':', ' ']);
    if text.is_empty() {
        return None;
    }
    let mut sentence = String::with_capacity(text.len() + 1);
    push_capitalised(&mut sentence, text);
    if !sentence.ends_with(['.', '!', '?', '…']) {
        sentence.push('.');
    }
    Some(sentence)
}

fn push_capitalised(out: &mut String, word: &str) {
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
}

/// Initials for an avatar: the first letters of the first two words ("JD"), or "LP".
fn initials(name: &str) -> String {
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .flat_map(char::to_uppercase)
        .take(2)
        .collect();
    if initials.is_empty() {
        "LP".into()
    } else {
        initials
    }
}

/// Who the page is about when the prompt does not say.
fn default_name(page_type: PageType) -> &'static str {
    match page_type {
        PageType::Landing => "Brightside",
        PageType::Portfolio | PageType::Resume => "Alex Morgan",
        PageType::Blog => "Field Notes",
        PageType::Product => "Nimbus",
        PageType::Event => "Open Summit",
        PageType::Restaurant => "The Corner Table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(prompt: &str) -> String {
        Brief::read(prompt, PageType::Landing).name
    }

    #[test]
    fn the_subject_is_found_behind_the_request_preamble() {
        assert_eq!(name("a landing page for my bakery"), "Bakery");
        assert_eq!(
            name("Make me a website for an Italian restaurant with a menu"),
            "Italian Restaurant"
        );
        assert_eq!(
            name("Create a product page for Nimbus, a smart bottle"),
            "Nimbus"
        );
        assert_eq!(name("a blog about sourdough baking"), "Sourdough Baking");
        assert_eq!(
            name("resume for a senior rust engineer"),
            "Senior Rust Engineer"
        );
        assert_eq!(
            name("Portfolio for Jane Doe, a wedding photographer"),
            "Jane Doe"
        );
        assert_eq!(name("bakery"), "Bakery");
        assert_eq!(name("a restaurant page"), "Restaurant");
        assert_eq!(
            name("DevDays conference in Berlin"),
            "DevDays Conference in Berlin"
        );
    }

    #[test]
    fn the_rest_of_the_prompt_becomes_the_detail() {
        let brief = Brief::read(
            "Create a product page for Nimbus, a smart bottle that glows",
            PageType::Product,
        );
        assert_eq!(brief.detail.as_deref(), Some("A smart bottle that glows."));
        assert_eq!(brief.initials, "N");
        assert_eq!(Brief::read("my bakery", PageType::Landing).detail, None);
        let long = format!("a cafe with {}", "very ".repeat(60));
        assert!(
            Brief::read(&long, PageType::Landing)
                .detail
                .unwrap()
                .ends_with('…')
        );
    }

    #[test]
    fn empty_prompts_get_a_name_for_the_page_type() {
        assert_eq!(
            Brief::read("  \n ", PageType::Restaurant).name,
            "The Corner Table"
        );
        assert_eq!(Brief::read("", PageType::Resume).initials, "AM");
    }

    #[test]
    fn names_and_details_are_escaped() {
        let brief = Brief::read(
            "<b>Tom & Jerry</b>, a \"cat\" <i>show</i>",
            PageType::Landing,
        );
        assert!(
            !brief.name.contains('<') && brief.name.contains("&amp;"),
            "{}",
            brief.name
        );
        assert!(!brief.detail.unwrap().contains('<'));
    }
}
