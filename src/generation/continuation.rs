//! Where a continuation meets the text written so far: the seam between two segments.
//!
//! When the model stops at its length limit, the generation asks it to carry on from what it
//! wrote (`run`). The answer seldom starts at exactly the next character: models repeat the last
//! words or lines they were given, open with a preamble ("Sure, here is the rest:"), or open a
//! new code fence. [`Merger`] is fed the continuation's deltas as they arrive and gives back
//! only the text that extends the document, so that the `delta` events of all segments
//! concatenate to the document exactly once. It holds back the continuation's opening until
//! what that opening is has been decided, then passes the rest through as it comes.
//!
//! It is pure — text in, text out, no I/O and no clock — and every slice it takes is on a
//! character boundary. How each part is recognised, and the cases the rules cannot tell apart,
//! are in docs/ARCHITECTURE.md, "Continuing a page cut off".

use memchr::memmem;

/// Bytes at the end of the written text that a repeat is looked for in: the longest overlap
/// removed. Models repeat a line or a few, well under this.
pub const WINDOW: usize = 2048;

/// An overlap at least this many bytes long is taken wherever it starts; a shorter one only when
/// it starts a line of the written text (where a model restarts the line it was cut in). A short
/// match in the middle of a line is as likely to be the text's own repetition (`bee|ep`,
/// `</div>|</div>`) as a repeat, and is kept.
pub const SURE_OVERLAP: usize = 16;

/// A first line longer than this is page text, not a preamble.
const MAX_PREAMBLE: usize = 200;

/// A fence line (```` ```html ````) longer than this is not a fence.
const MAX_FENCE_LINE: usize = 32;

const FENCE: &str = "```";

/// Merges one continuation into the text written before it.
#[derive(Debug)]
pub struct Merger {
    /// The last [`WINDOW`] bytes (or fewer) of the written text, where an overlap is looked for.
    tail: String,
    /// Whether `tail` begins a line of the written text.
    tail_starts_line: bool,
    /// Whether the written text is inside a code fence it opened (```` ```html ```` and no
    /// closing fence yet): then a closing fence of the continuation closes the document's.
    in_fence: bool,
    /// Whether the written text already ends with `</html>`: a bare ```` ``` ```` after it closes
    /// the document's fence rather than opening one.
    ends_document: bool,
    /// Received and not yet released.
    pending: String,
    phase: Phase,
    /// What was taken out, for the log.
    removed: Removed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The opening (preamble, fence, overlap) is not decided yet: everything is held.
    Opening,
    /// The opening is gone; the rest passes through. When the continuation opened a fence the
    /// document never had, a closing fence at its very end goes too, so the end of the text is
    /// held while it could still be one. `starts_line`: `pending` begins a line.
    Body {
        closes_fence: bool,
        starts_line: bool,
    },
}

/// What [`Merger`] removed from a continuation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Bytes of the preamble line and the empty line after it.
    pub preamble: usize,
    /// Whether an opening code fence line was removed.
    pub fence: bool,
    /// Bytes of the repeated text.
    pub overlap: usize,
    /// Whether a closing fence at the end was removed (it closed the fence removed above).
    pub closing_fence: bool,
}

/// The parts of a continuation's opening, in bytes, as they follow one another.
#[derive(Debug, Clone, Copy)]
struct Opening {
    preamble: usize,
    fence: usize,
    overlap: usize,
}

impl Merger {
    /// A merger for a continuation of `written`, everything the document has so far.
    pub fn new(written: &str) -> Self {
        let start = floor_char_boundary(written, written.len().saturating_sub(WINDOW));
        Self {
            tail: written[start..].to_owned(),
            tail_starts_line: start == 0 || written.as_bytes()[start - 1] == b'\n',
            in_fence: is_in_fence(written),
            ends_document: ends_with_html_close(written),
            pending: String::new(),
            phase: Phase::Opening,
            removed: Removed::default(),
        }
    }

    /// Takes the next delta of the continuation; returns the text to pass on now, if any.
    pub fn push(&mut self, delta: String) -> Option<String> {
        if let Phase::Body {
            closes_fence: false,
            ..
        } = self.phase
        {
            return Some(delta).filter(|text| !text.is_empty());
        }
        self.pending.push_str(&delta);
        self.release(false)
    }

    /// The continuation has ended: `document_ended` when the model finished (rather than being
    /// cut off again). Returns what was still held.
    pub fn finish(&mut self, document_ended: bool) -> Option<String> {
        let mut out = self.release(true).unwrap_or_default();
        if let Phase::Body {
            closes_fence: true,
            starts_line,
        } = self.phase
            && document_ended
            && let Some(end) = without_closing_fence(&self.pending, starts_line)
        {
            self.pending.truncate(end);
            self.removed.closing_fence = true;
        }
        out.push_str(&self.pending);
        self.pending.clear();
        Some(out).filter(|text| !text.is_empty())
    }

    /// What has been removed so far.
    pub fn removed(&self) -> Removed {
        self.removed
    }

    /// Decides the opening when it can be, then releases what is no longer in doubt. At the
    /// end (`ended`) everything is decided; the end of the text stays in `pending` for
    /// [`Merger::finish`].
    fn release(&mut self, ended: bool) -> Option<String> {
        if self.phase == Phase::Opening {
            let opening = self.opening(ended)?;
            self.removed.preamble = opening.preamble;
            self.removed.fence = opening.fence > 0;
            self.removed.overlap = opening.overlap;
            self.pending
                .drain(..opening.preamble + opening.fence + opening.overlap);
            self.phase = Phase::Body {
                closes_fence: opening.fence > 0 && !self.in_fence,
                starts_line: true,
            };
        }
        let Phase::Body {
            closes_fence,
            starts_line,
        } = self.phase
        else {
            return None;
        };
        let keep = match (closes_fence, ended) {
            (true, true) => return None,
            (true, false) => fence_hold(&self.pending, starts_line),
            (false, _) => self.pending.len(),
        };
        let held = self.pending.split_off(keep);
        let out = std::mem::replace(&mut self.pending, held);
        if out.is_empty() {
            return None;
        }
        self.phase = Phase::Body {
            closes_fence,
            starts_line: out.ends_with('\n'),
        };
        Some(out)
    }

    /// The continuation's opening, or `None` while more text could change it.
    fn opening(&self, ended: bool) -> Option<Opening> {
        let text = self.pending.as_str();
        let preamble = preamble_len(text, ended)?;
        let fence = self.fence_len(&text[preamble..], ended)?;
        let overlap = self.overlap_len(&text[preamble + fence..], ended)?;
        Some(Opening {
            preamble,
            fence,
            overlap,
        })
    }

    /// The length of an opening fence line at the start of `text`, or 0.
    fn fence_len(&self, text: &str, ended: bool) -> Option<usize> {
        if !text.starts_with(FENCE) {
            // "", "`" and "``" may still become a fence.
            let undecided = !ended && FENCE.starts_with(text);
            return (!undecided).then_some(0);
        }
        let Some(line_end) = text.find('\n') else {
            // A fence line still being written; at the end, a bare fence is a closing one.
            return (ended || text.len() > MAX_FENCE_LINE).then_some(0);
        };
        let info = text[FENCE.len()..line_end].trim();
        let is_language = info
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_+.".contains(&b));
        // Right after `</html>` inside the document's fence, a bare fence closes it.
        let closes_document = info.is_empty() && self.in_fence && self.ends_document;
        let opens = is_language && line_end <= MAX_FENCE_LINE && !closes_document;
        Some(if opens { line_end + 1 } else { 0 })
    }

    /// The length of the repeated text at the start of `body`: the longest prefix of `body`
    /// that the written text ends with and that is [plausible](Merger::plausible), or 0.
    /// `None` while `body` could still grow into a longer plausible overlap.
    fn overlap_len(&self, body: &str, ended: bool) -> Option<usize> {
        let tail = self.tail.as_str();
        if !ended && body.len() < tail.len() {
            if body.is_empty() {
                return None;
            }
            // Every place in the tail where `body` starts a longer suffix: each could become an
            // overlap as more text arrives.
            let mut from = 0;
            while let Some(found) = memmem::find(&tail.as_bytes()[from..], body.as_bytes()) {
                let start = from + found;
                if start + body.len() < tail.len() && self.plausible(start) {
                    return None;
                }
                from = start + 1;
            }
        }
        let longest = (1..=body.len().min(tail.len())).rev().find(|&len| {
            body.is_char_boundary(len)
                && tail.ends_with(&body[..len])
                && self.plausible(tail.len() - len)
        });
        Some(longest.unwrap_or(0))
    }

    /// Whether a repeat of the tail from byte `start` on is taken for one: long enough, or
    /// starting a line.
    fn plausible(&self, start: usize) -> bool {
        let starts_line = if start == 0 {
            self.tail_starts_line
        } else {
            self.tail.as_bytes()[start - 1] == b'\n'
        };
        self.tail.len() - start >= SURE_OVERLAP || starts_line
    }
}

/// The length of a preamble at the start of `text` — a line of prose that ends with a colon or
/// is followed by a code fence, with the empty line after it, if any — or 0; `None` while
/// undecided. Only one empty line goes with it: a second one may be the page's own line end.
fn preamble_len(text: &str, ended: bool) -> Option<usize> {
    let Some(line_end) = text.find('\n') else {
        // The first line is still being written: it may yet turn out to be a preamble.
        let undecided = !ended && (text.is_empty() || reads_as_prose(text));
        return (!undecided).then_some(0);
    };
    let line = &text[..line_end];
    if !reads_as_prose(line) {
        return Some(0);
    }
    let after = line_end + 1 + empty_line_len(&text[line_end + 1..]);
    if line.trim_end().ends_with([':', '：']) {
        return Some(after);
    }
    let rest = &text[after..];
    if rest.starts_with(FENCE) {
        Some(after)
    } else if !ended && FENCE.starts_with(rest) {
        None
    } else {
        Some(0)
    }
}

/// Whether `line` reads like a sentence to the reader rather than page source: it starts with
/// a capital letter (or a letter of a script without case), is short, and holds no markup or
/// backticks.
fn reads_as_prose(line: &str) -> bool {
    line.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() && !c.is_lowercase())
        && line.len() <= MAX_PREAMBLE
        && !line.contains(['<', '>', '`'])
}

/// The length of the empty line at the start of `text`, or 0.
fn empty_line_len(text: &str) -> usize {
    ["\n", "\r\n"]
        .into_iter()
        .find(|line| text.starts_with(line))
        .map_or(0, str::len)
}

/// Where the end of `text` that could still grow into a closing fence line begins: the first
/// line end in its trailing run of whitespace and backticks (or the run itself, when `text` is
/// all of it and begins a line).
fn fence_hold(text: &str, starts_line: bool) -> usize {
    let run = text
        .trim_end_matches(|c: char| c == '`' || c.is_whitespace())
        .len();
    if run == 0 && starts_line {
        return 0;
    }
    text[run..].find('\n').map_or(text.len(), |at| run + at)
}

/// The length of `text` without the closing fence line at its end (and the line end before
/// it), when it ends with one.
fn without_closing_fence(text: &str, starts_line: bool) -> Option<usize> {
    let trimmed = text.trim_end();
    let line_end = trimmed.rfind('\n');
    let line = trimmed[line_end.map_or(0, |at| at + 1)..].trim_start_matches([' ', '\t']);
    if line.len() < FENCE.len() || !line.bytes().all(|b| b == b'`') {
        return None;
    }
    match line_end {
        Some(at) => Some(at),
        None => starts_line.then_some(0),
    }
}

/// Whether `text` has opened a code fence and not closed it: an odd number of fence lines.
fn is_in_fence(text: &str) -> bool {
    text.lines()
        .filter(|line| line.trim_start().starts_with(FENCE))
        .count()
        % 2
        == 1
}

fn ends_with_html_close(text: &str) -> bool {
    let end = text.trim_end().as_bytes();
    end.len() >= 7 && end[end.len() - 7..].eq_ignore_ascii_case(b"</html>")
}

/// The largest character boundary of `text` at or before `at`.
fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `continuation` fed to a merger for `written` in pieces of `step` characters; what it
    /// passes on, and what it removed.
    fn merge_in_steps(
        written: &str,
        continuation: &str,
        step: usize,
        document_ended: bool,
    ) -> (String, Removed) {
        let mut merger = Merger::new(written);
        let mut out = String::new();
        let chars: Vec<char> = continuation.chars().collect();
        for piece in chars.chunks(step.max(1)) {
            out.extend(merger.push(piece.iter().collect()));
        }
        out.extend(merger.finish(document_ended));
        (out, merger.removed())
    }

    /// Merged whole, one character at a time and in pieces of 7: all must agree.
    fn merge(written: &str, continuation: &str) -> String {
        let (whole, removed) = merge_in_steps(written, continuation, usize::MAX, true);
        for step in [1, 7] {
            let (pieces, removed_in_pieces) = merge_in_steps(written, continuation, step, true);
            assert_eq!(pieces, whole, "fed {step} characters at a time");
            assert_eq!(removed_in_pieces, removed);
        }
        whole
    }

    #[test]
    fn an_exact_continuation_passes_through() {
        let written = "<!DOCTYPE html>\n<html><body>\n  <p class=\"lead\">Fresh br";
        assert_eq!(
            merge(written, "ead daily.</p>\n</body></html>"),
            "ead daily.</p>\n</body></html>"
        );
        assert_eq!(
            merge(written, "\n  <p>More</p>"),
            "\n  <p>More</p>",
            "a line end is not a repeat"
        );
    }

    #[test]
    fn a_restarted_line_is_removed_however_short() {
        let written = "<body>\n  <section>\n    <di";
        assert_eq!(
            merge(written, "    <div class=\"grid\">"),
            "v class=\"grid\">"
        );
        assert_eq!(merge(written, "    <di"), "", "all of it a repeat");
        assert_eq!(merge(written, "<di"), "<di", "mid-line and short: kept");
        assert_eq!(
            merge(written, "<section>\n    <div>"),
            "v>",
            "a longer repeat, mid-line"
        );
        let on_a_line_end = "<body>\n  <section>\n";
        assert_eq!(merge(on_a_line_end, "  <section>\n    <h2>"), "    <h2>");
    }

    #[test]
    fn a_long_repeat_is_removed_wherever_it_starts() {
        let written = "<p class=\"text-lg text-slate-600\">We bake sourdough every mor";
        let repeat = "text-slate-600\">We bake sourdough every morning.</p>";
        assert!(repeat.len() - "ning.</p>".len() >= SURE_OVERLAP);
        assert_eq!(merge(written, repeat), "ning.</p>");
    }

    #[test]
    fn a_short_match_inside_a_line_is_the_texts_own_and_kept() {
        // "The be" + "ep of a horn": the model wrote "beep", not a repeated "e". A merger cannot
        // tell the two apart, so a short match inside a line is kept rather than cutting text.
        assert_eq!(merge("<p>The be", "ep of a horn</p>"), "ep of a horn</p>");
        assert_eq!(merge("<div></div>", "</div></div>"), "</div></div>");
    }

    #[test]
    fn a_preamble_and_a_fence_are_removed() {
        let written = "```html\n<!DOCTYPE html>\n<html><body>\n  <h1>Crumb";
        for opening in [
            "Sure, here is the rest:\n",
            "Here's the continuation:\n\n",
            "Continuing.\n```html\n",
            "Sure! Continuing from where I stopped.\n\n```\n",
            "```html\n",
            "好的，以下是剩余部分：\n```html\n",
        ] {
            let continuation = format!("{opening} &amp; Co</h1>\n</body></html>\n```");
            assert_eq!(
                merge(written, &continuation),
                " &amp; Co</h1>\n</body></html>\n```",
                "{opening:?}"
            );
        }
        let (_, removed) = merge_in_steps(written, "Sure:\n```html\n  <h1>Crumb &amp;", 3, false);
        assert_eq!(
            removed,
            Removed {
                preamble: 6,
                fence: true,
                overlap: 11,
                closing_fence: false
            }
        );
    }

    #[test]
    fn page_text_is_not_taken_for_a_preamble() {
        let written = "<ul>\n";
        for text in [
            "  <li>Rye:</li>",
            "our menu:\n<li>",
            "Menu<br>\n",
            "Bread and butter\n<li>",
        ] {
            assert_eq!(merge(written, text), text);
        }
    }

    #[test]
    fn the_closing_fence_goes_only_with_the_fence_the_continuation_opened() {
        let unfenced = "<!DOCTYPE html>\n<html><body><p>Hi";
        assert_eq!(
            merge(unfenced, "```html\n</p></body></html>\n```"),
            "</p></body></html>"
        );
        assert_eq!(
            merge(unfenced, "```html\n</p></body></html>\n\n```\n"),
            "</p></body></html>\n"
        );
        assert_eq!(
            merge(
                unfenced,
                "```html\n</p></body></html>\n```\nThis page has a hero."
            ),
            "</p></body></html>\n```\nThis page has a hero.",
            "not at the very end: kept, as in a single answer"
        );
        let (cut_again, _) = merge_in_steps(unfenced, "```html\n</p></body>\n```", 2, false);
        assert_eq!(
            cut_again, "</p></body>\n```",
            "cut off again: nothing is the end yet"
        );

        let fenced = "```html\n<!DOCTYPE html>\n<html><body><p>Hi";
        assert_eq!(
            merge(fenced, "```html\n</p></body></html>\n```"),
            "</p></body></html>\n```",
            "the document's own closing fence stays"
        );
        let closed = "```html\n<!DOCTYPE html>\n<html><body></body></html>\n";
        assert_eq!(merge(closed, "```"), "```");
        assert_eq!(merge(closed, "```\nEnjoy!"), "```\nEnjoy!");
        assert_eq!(merge(unfenced, "```html\n```"), "", "nothing left to write");
    }

    #[test]
    fn the_opening_is_held_until_it_is_decided_then_the_rest_flows() {
        let mut merger = Merger::new("<main>\n  <p>Our sourdough is baked ");
        assert_eq!(merger.push("Sure".into()), None, "may be a preamble");
        assert_eq!(merger.push(", here is the rest:\n".into()), None);
        assert_eq!(merger.push("  <p>Our".into()), None, "may be a repeat");
        assert_eq!(merger.push(" sourdough is".into()), None);
        assert_eq!(merger.push(" baked every".into()), Some("every".into()));
        assert_eq!(merger.push(" night.".into()), Some(" night.".into()));
        assert_eq!(merger.finish(true), None);
    }

    #[test]
    fn characters_of_any_width_are_never_split() {
        let written = "<p>Zoë’s café — 🍞 and ☕\n<p>Naïve ";
        assert_eq!(
            merge(written, "<p>Naïve 🥐 pâtisserie</p>"),
            "🥐 pâtisserie</p>"
        );
        assert_eq!(merge(written, "🥐 pâtisserie</p>"), "🥐 pâtisserie</p>");
        // The window starts inside a character: it moves back to the character's start.
        let long = format!("x{}y", "é".repeat(WINDOW));
        assert!(!long.is_char_boundary(long.len() - WINDOW));
        assert_eq!(merge(&long, "éé\n"), "éé\n");
    }

    #[test]
    fn an_overlap_longer_than_the_window_is_not_looked_for() {
        let line = "<p>".to_owned() + &"word ".repeat(WINDOW / 4) + "</p>\n";
        let written = format!("<body>\n{line}");
        // The whole line repeated is longer than the window: it cannot be recognised.
        assert_eq!(merge(&written, &line), line);
    }

    /// What a model writes when asked to continue `document` from `resume` (before the cut
    /// when it repeats): a preamble, a fence, the document from `resume` on, and a closing
    /// fence when it opened one the document did not have.
    fn continuation(document: &str, resume: usize, preamble: bool, fence: bool) -> String {
        let mut text = String::new();
        if preamble {
            text.push_str("Sure, here is the rest of the page:\n\n");
        }
        if fence {
            text.push_str("```html\n");
        }
        text.push_str(&document[resume..]);
        if fence && !document.starts_with(FENCE) {
            text.push_str("\n```");
        }
        text
    }

    const WORDS: &[&str] = &[
        "bread", "crumb", "rye", "Zoë", "café", "🍞", "naïve", "oven", "Lisbon", "flour", "—",
        "butter", "seeds", "warm", "morning", "crust",
    ];

    /// HTML-ish documents: lines of tags with attributes and words of several widths.
    fn document() -> impl Strategy<Value = String> {
        let word = proptest::sample::select(WORDS);
        let line = (
            0..4usize,
            proptest::sample::select(&["p", "li", "h2", "span", "a"][..]),
            proptest::collection::vec(word, 1..8),
            0..1000u32,
        )
            .prop_map(|(depth, tag, words, n)| {
                format!(
                    "{}<{tag} class=\"text-{n} mt-{}\">{}</{tag}>",
                    "  ".repeat(depth),
                    n % 7,
                    words.join(" ")
                )
            });
        (proptest::collection::vec(line, 4..40), any::<bool>()).prop_map(|(lines, fenced)| {
            let body = format!(
                "<!DOCTYPE html>\n<html><body>\n{}\n</body></html>",
                lines.join("\n")
            );
            if fenced {
                format!("```html\n{body}\n```")
            } else {
                body
            }
        })
    }

    /// Whether the written text ends with a plausible repeat longer than `overlap` bytes of
    /// `resumed`: a seam no merger can tell from a repeat (indentation cut in half, say), left
    /// out of the property.
    fn ambiguous(written: &str, resumed: &str, overlap: usize) -> bool {
        let merger = Merger::new(written);
        (overlap + 1..=resumed.len().min(merger.tail.len())).any(|len| {
            resumed.is_char_boundary(len)
                && merger.tail.ends_with(&resumed[..len])
                && merger.plausible(merger.tail.len() - len)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Cut anywhere after the first line, continued with any opening and repeat, fed in any
        /// pieces: the document, once.
        #[test]
        fn any_seam_merges_back_into_the_document(
            document in document(),
            cut_at in 0.0..1.0f64,
            repeat in 0..3u8,
            long_repeat in SURE_OVERLAP..300usize,
            preamble in any::<bool>(),
            fence in any::<bool>(),
            step in 1..13usize,
        ) {
            let first_line = document.find('\n').unwrap() + 1;
            let cut = first_line + (((document.len() - first_line) as f64) * cut_at) as usize;
            let cut = floor_char_boundary(&document, cut);
            let written = &document[..cut];
            let resume = match repeat {
                0 => cut,
                // From the start of the line it was cut in, or of the line before a cut on a
                // line end.
                1 => written[..cut - usize::from(written.ends_with('\n'))]
                    .rfind('\n')
                    .map_or(0, |at| at + 1),
                // The last characters, however many.
                _ => written
                    .char_indices()
                    .rev()
                    .take(long_repeat)
                    .last()
                    .map_or(cut, |(at, _)| at),
            };
            prop_assume!(!ambiguous(written, &document[resume..], cut - resume));
            let text = continuation(&document, resume, preamble, fence);
            let (merged, removed) = merge_in_steps(written, &text, step, true);
            prop_assert_eq!(format!("{written}{merged}"), document);
            if resume >= first_line {
                prop_assert_eq!(removed.overlap, cut - resume);
            }
        }
    }
}
