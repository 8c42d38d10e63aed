//! SEARCH/REPLACE edit blocks: read from a refine's answer as it streams, and applied to the
//! page's document one by one as each block completes (docs/ARCHITECTURE.md, "Refining a
//! page").
//!
//! A refine's answer is either edit blocks,
//!
//! ```text
//! <<<<<<< SEARCH
//! exact lines of the current document
//! =======
//! the lines that replace them
//! >>>>>>> REPLACE
//! ```
//!
//! with any prose around them (ignored), or a whole new document. [`EditStream`] takes the
//! answer in pieces split anywhere (inside a marker, inside a character's line), and applies
//! each block the moment its `>>>>>>> REPLACE` line is complete, so that previews show the
//! page changing while the model writes. A block whose SEARCH text matches nowhere, or in more
//! than one place, is never applied: the stream stops applying and says why, and the caller
//! asks the model for a whole document instead (nothing is saved half-applied).
//!
//! Matching is exact, except that each line's leading and trailing whitespace is not
//! compared: models re-indent what they quote.

const SEARCH: &str = "<<<<<<< SEARCH";
const DIVIDER: &str = "=======";
const REPLACE: &str = ">>>>>>> REPLACE";

/// Why a block could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// Block `block` (from 1) matches nowhere in the document.
    #[error("edit {block}: its SEARCH text is not in the page")]
    Unmatched { block: usize },
    /// Block `block` matches in `places` places: which one was meant is not known.
    #[error(
        "edit {block}: its SEARCH text is in the page {places} times, so which one to change is unclear"
    )]
    Ambiguous { block: usize, places: usize },
    /// Block `block` has an empty SEARCH text, which would match everywhere.
    #[error("edit {block}: its SEARCH text is empty")]
    EmptySearch { block: usize },
    /// The answer ended inside block `block`.
    #[error("edit {block} was cut off")]
    Unfinished { block: usize },
}

/// Where the reader is in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside any block: prose, or a whole document.
    Outside,
    /// Between `<<<<<<< SEARCH` and `=======`.
    Search,
    /// Between `=======` and `>>>>>>> REPLACE`.
    Replace,
}

/// Reads an answer piece by piece and applies its edit blocks to a document as they complete.
#[derive(Debug, Clone)]
pub struct EditStream {
    /// The document as it was before any block.
    base: String,
    /// The document with every block so far applied.
    document: String,
    /// The part of the answer after the last complete line.
    line: String,
    state: State,
    search: Vec<String>,
    replace: Vec<String>,
    /// Blocks applied.
    applied: usize,
    /// Blocks begun (the current one included).
    blocks: usize,
    /// The first failure; nothing is applied after it.
    failed: Option<EditError>,
}

impl EditStream {
    /// A stream of edits to `document`.
    pub fn new(document: impl Into<String>) -> Self {
        let document = document.into();
        Self {
            base: document.clone(),
            document,
            line: String::new(),
            state: State::Outside,
            search: Vec::new(),
            replace: Vec::new(),
            applied: 0,
            blocks: 0,
            failed: None,
        }
    }

    /// Takes in the next piece of the answer; returns how many blocks it completed and applied.
    pub fn push(&mut self, piece: &str) -> usize {
        let before = self.applied;
        let mut rest = piece;
        while let Some(end) = rest.find('\n') {
            self.line.push_str(&rest[..end]);
            let line = std::mem::take(&mut self.line);
            self.take_line(line.strip_suffix('\r').unwrap_or(&line));
            rest = &rest[end + 1..];
        }
        self.line.push_str(rest);
        self.applied - before
    }

    /// The answer has ended: a last line without its line feed counts, and a block left open
    /// is a failure. Returns how many blocks the last line applied.
    pub fn finish(&mut self) -> usize {
        let before = self.applied;
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.take_line(&line);
        }
        if self.state != State::Outside && self.failed.is_none() {
            self.failed = Some(EditError::Unfinished { block: self.blocks });
        }
        self.applied - before
    }

    /// The document before any block.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The document with the blocks applied so far.
    pub fn document(&self) -> &str {
        &self.document
    }

    /// Blocks applied so far.
    pub fn applied(&self) -> usize {
        self.applied
    }

    /// Whether the answer has begun any block: if not, it is prose or a whole document.
    pub fn has_blocks(&self) -> bool {
        self.blocks > 0
    }

    /// The block that could not be applied, if one could not.
    pub fn failure(&self) -> Option<&EditError> {
        self.failed.as_ref()
    }

    fn take_line(&mut self, line: &str) {
        if self.failed.is_some() {
            return;
        }
        let marker = line.trim();
        match self.state {
            State::Outside if marker == SEARCH => {
                self.blocks += 1;
                self.state = State::Search;
            }
            State::Outside => {}
            State::Search if marker == DIVIDER => self.state = State::Replace,
            State::Search => self.search.push(line.to_owned()),
            State::Replace if marker == REPLACE => {
                self.state = State::Outside;
                let search = std::mem::take(&mut self.search);
                let replace = std::mem::take(&mut self.replace);
                match apply(&self.document, &search, &replace, self.blocks) {
                    Ok(document) => {
                        self.document = document;
                        self.applied += 1;
                    }
                    Err(err) => self.failed = Some(err),
                }
            }
            State::Replace => self.replace.push(line.to_owned()),
        }
    }
}

/// `document` with the one place that `search` matches replaced by `replace`.
///
/// An exact match of the SEARCH text wins; failing that, the lines are compared without their
/// leading and trailing whitespace, and the matched lines are replaced whole. Either way the
/// match must be unique.
fn apply(
    document: &str,
    search: &[String],
    replace: &[String],
    block: usize,
) -> Result<String, EditError> {
    // Blank lines at the edges of a block are layout, not content to find.
    let search = trim_blank_edges(search);
    if search.is_empty() {
        return Err(EditError::EmptySearch { block });
    }
    let replace = trim_blank_edges(replace).join("\n");
    let needle = search.join("\n");
    let exact: Vec<usize> = document.match_indices(&needle).map(|(at, _)| at).collect();
    match exact.as_slice() {
        [at] => {
            let mut out = String::with_capacity(document.len() + replace.len());
            out.push_str(&document[..*at]);
            out.push_str(&replace);
            out.push_str(&document[at + needle.len()..]);
            return Ok(out);
        }
        [] => {}
        places => {
            return Err(EditError::Ambiguous {
                block,
                places: places.len(),
            });
        }
    }
    let lines: Vec<&str> = document.split('\n').collect();
    let wanted: Vec<&str> = search.iter().map(|line| line.trim()).collect();
    let starts: Vec<usize> = (0..lines.len().saturating_sub(wanted.len() - 1))
        .filter(|&start| {
            lines[start..start + wanted.len()]
                .iter()
                .zip(&wanted)
                .all(|(line, wanted)| line.trim() == *wanted)
        })
        .collect();
    match starts.as_slice() {
        [start] => {
            let mut out: Vec<&str> = Vec::with_capacity(lines.len());
            out.extend_from_slice(&lines[..*start]);
            // An empty REPLACE deletes the matched lines rather than leaving a blank one.
            if !replace.is_empty() {
                out.push(&replace);
            }
            out.extend_from_slice(&lines[start + wanted.len()..]);
            Ok(out.join("\n"))
        }
        [] => Err(EditError::Unmatched { block }),
        places => Err(EditError::Ambiguous {
            block,
            places: places.len(),
        }),
    }
}

fn trim_blank_edges(lines: &[String]) -> &[String] {
    let start = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(start, |i| i + 1);
    &lines[start..end]
}

/// Whether an answer with no edit blocks holds a document (rather than only prose): it
/// has an `<html` or `<!DOCTYPE` tag, or a `<body`.
pub fn looks_like_document(answer: &str) -> bool {
    let lower = answer.to_ascii_lowercase();
    lower.contains("<!doctype") || lower.contains("<html") || lower.contains("<body")
}

/// One edit block as a model writes it, for prompts, the mock and tests.
pub fn block(search: &str, replace: &str) -> String {
    format!("{SEARCH}\n{search}\n{DIVIDER}\n{replace}\n{REPLACE}\n")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const PAGE: &str = "<html>\n<body>\n  <h1 class=\"text-indigo-600\">Harbor Bakery</h1>\n  <p>Fresh bread.</p>\n  <p>Open daily.</p>\n</body>\n</html>";

    fn run(answer: &str) -> EditStream {
        let mut edits = EditStream::new(PAGE);
        edits.push(answer);
        edits.finish();
        edits
    }

    #[test]
    fn each_edit_error_names_its_block_and_says_what_went_wrong() {
        let messages = [
            EditError::Unmatched { block: 1 },
            EditError::Ambiguous {
                block: 2,
                places: 3,
            },
            EditError::EmptySearch { block: 4 },
            EditError::Unfinished { block: 5 },
        ]
        .map(|err| err.to_string());
        assert_eq!(
            messages,
            [
                "edit 1: its SEARCH text is not in the page",
                "edit 2: its SEARCH text is in the page 3 times, so which one to change is unclear",
                "edit 4: its SEARCH text is empty",
                "edit 5 was cut off",
            ]
        );
    }

    #[test]
    fn several_blocks_in_one_answer_are_applied_in_order_and_prose_is_ignored() {
        let answer = format!(
            "Here are the changes:\n\n{}\nAnd the second:\n{}Done.",
            block(
                "<h1 class=\"text-indigo-600\">Harbor Bakery</h1>",
                "<h1 class=\"text-rose-600\">Harbor Bakery</h1>"
            ),
            block("<p>Open daily.</p>", "<p>Open daily, 7 to 7.</p>")
        );
        let edits = run(&answer);
        assert_eq!(edits.failure(), None);
        assert_eq!(edits.applied(), 2);
        assert!(edits.document().contains("text-rose-600"));
        assert!(edits.document().contains("Open daily, 7 to 7."));
    }

    #[test]
    fn leading_and_trailing_whitespace_of_each_line_is_tolerated() {
        let edits = run(&block(
            "    <p>Fresh bread.</p>   \n<p>Open daily.</p>",
            "  <p>Fresh bread and cake.</p>",
        ));
        assert_eq!(edits.failure(), None);
        assert_eq!(
            edits.document(),
            "<html>\n<body>\n  <h1 class=\"text-indigo-600\">Harbor Bakery</h1>\n  <p>Fresh bread and cake.</p>\n</body>\n</html>"
        );
    }

    #[test]
    fn a_search_that_matches_nowhere_is_not_applied() {
        let answer = format!(
            "{}{}",
            block("<p>Open daily.</p>", "<p>Closed.</p>"),
            block("<p>Gluten free.</p>", "<p>Vegan.</p>")
        );
        let edits = run(&answer);
        assert_eq!(edits.failure(), Some(&EditError::Unmatched { block: 2 }));
        assert_eq!(edits.applied(), 1);
    }

    #[test]
    fn a_search_that_matches_twice_is_not_applied() {
        let edits = run(&block("<p>", "<p class=\"x\">"));
        assert_eq!(
            edits.failure(),
            Some(&EditError::Ambiguous {
                block: 1,
                places: 2
            })
        );
        assert_eq!(edits.document(), PAGE);
    }

    #[test]
    fn an_unfinished_block_is_a_failure_and_an_empty_search_too() {
        let edits = run("<<<<<<< SEARCH\n<p>Open daily.</p>\n=======\n<p>Cl");
        assert_eq!(edits.failure(), Some(&EditError::Unfinished { block: 1 }));
        assert_eq!(edits.document(), PAGE);
        let edits = run(&block("", "<p>x</p>"));
        assert_eq!(edits.failure(), Some(&EditError::EmptySearch { block: 1 }));
    }

    #[test]
    fn an_answer_without_blocks_is_told_apart_as_a_document_or_prose() {
        let edits = run("```html\n<!DOCTYPE html><html><body>new</body></html>\n```");
        assert!(!edits.has_blocks());
        assert!(looks_like_document(
            "```html\n<!DOCTYPE html><html><body>new</body></html>\n```"
        ));
        assert!(!looks_like_document("Sorry, I cannot do that."));
    }

    #[test]
    fn an_empty_replace_deletes_the_lines() {
        let edits = run(&block("<p>Open daily.</p>", ""));
        assert_eq!(edits.failure(), None);
        assert!(!edits.document().contains("Open daily"));
        assert!(!edits.document().contains("\n\n"));
    }

    fn answer() -> String {
        format!(
            "Sure!\r\n{}{}thanks",
            block(
                "  <h1 class=\"text-indigo-600\">Harbor Bakery</h1>",
                "<h1 class=\"text-teal-700\">Harbor Bakery — since 1921</h1>"
            ),
            block(
                "<p>Fresh bread.</p>\n<p>Open daily.</p>",
                "<p>Fresh bread, é ☕.</p>"
            ),
        )
    }

    proptest! {
        /// Wherever the deltas split the answer (inside markers, inside characters' lines),
        /// the result is the same as reading it whole, and each block is applied exactly once.
        #[test]
        fn blocks_split_at_any_delta_boundaries_apply_identically(
            cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..12)
        ) {
            let answer = answer();
            let whole = run(&answer);
            prop_assert_eq!(whole.applied(), 2);
            let mut bounds: Vec<usize> = cuts
                .iter()
                .map(|cut| cut.index(answer.len() + 1))
                .filter(|&at| answer.is_char_boundary(at))
                .collect();
            bounds.push(0);
            bounds.push(answer.len());
            bounds.sort_unstable();
            bounds.dedup();
            let mut edits = EditStream::new(PAGE);
            let mut applied = 0;
            for pair in bounds.windows(2) {
                applied += edits.push(&answer[pair[0]..pair[1]]);
            }
            applied += edits.finish();
            prop_assert_eq!(applied, 2);
            prop_assert_eq!(edits.document(), whole.document());
            prop_assert_eq!(edits.failure(), None);
        }
    }

    #[test]
    fn every_single_split_point_applies_identically() {
        let answer = answer();
        let whole = run(&answer);
        for at in (0..=answer.len()).filter(|&at| answer.is_char_boundary(at)) {
            let mut edits = EditStream::new(PAGE);
            edits.push(&answer[..at]);
            edits.push(&answer[at..]);
            edits.finish();
            assert_eq!(edits.document(), whole.document(), "split at {at}");
            assert_eq!(edits.applied(), 2, "split at {at}");
        }
    }
}
