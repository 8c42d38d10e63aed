//! How the mock cuts a text into model-like content deltas.
//!
//! Real models stream sub-word tokens: a word with its leading space, a tag's opening `<div`,
//! `">` and so on, a few characters each. Clients must cope with any cut (a tag, an entity or an
//! attribute split across deltas), so the mock cuts like a tokenizer would — at word and tag
//! boundaries, two to twelve characters at a time — and deterministically, so that tests can
//! predict the exact deltas with [`deltas_for`].

/// No delta is longer than this many characters (a word longer than this is cut inside).
const MAX_CHARS: usize = 12;
/// A delta is at least this many characters, except the very last one of a text.
const MIN_CHARS: usize = 2;
/// The lengths the cutter aims for, in turn: varied like real token lengths, but fixed so that
/// the same text always gives the same deltas.
const TARGETS: [usize; 10] = [4, 7, 3, 9, 5, 11, 6, 2, 8, 5];

/// `text` cut into the deltas the mock streams for it.
///
/// The concatenation of the deltas is exactly `text`; every delta is non-empty, at most 12
/// characters long and ends on a character boundary.
pub fn deltas_for(text: &str) -> Vec<String> {
    Cutter::default().pieces(text).map(str::to_owned).collect()
}

/// The state of cutting one text: which target length comes next.
#[derive(Debug, Clone, Default)]
pub(super) struct Cutter {
    cuts: usize,
}

impl Cutter {
    /// The byte length of the next delta at the start of `rest` (0 only when `rest` is empty).
    pub fn next_len(&mut self, rest: &str) -> usize {
        let target = TARGETS[self.cuts % TARGETS.len()];
        self.cuts += 1;
        let mut last_boundary = None;
        let mut prev = None;
        for (count, (at, c)) in rest.char_indices().enumerate() {
            if count == MAX_CHARS {
                return last_boundary.unwrap_or(at);
            }
            if count >= MIN_CHARS && prev.is_some_and(|p| is_boundary(p, c)) {
                if count >= target {
                    return at;
                }
                last_boundary = Some(at);
            }
            prev = Some(c);
        }
        rest.len()
    }

    /// The deltas of `text`, borrowed from it.
    pub fn pieces(mut self, text: &str) -> impl Iterator<Item = &str> {
        let mut rest = text;
        std::iter::from_fn(move || {
            let len = self.next_len(rest);
            let (piece, tail) = rest.split_at(len);
            rest = tail;
            (!piece.is_empty()).then_some(piece)
        })
    }
}

/// Whether a tokenizer would start a new token between `prev` and `next`: before a word's
/// leading whitespace, before a tag, after a tag or a quote.
fn is_boundary(prev: char, next: char) -> bool {
    (next.is_whitespace() && !prev.is_whitespace()) || next == '<' || matches!(prev, '>' | '"')
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn html_is_cut_at_word_and_tag_boundaries() {
        let deltas = deltas_for("<h1 class=\"text-4xl font-bold\">Fresh bread, every morning</h1>");
        assert_eq!(
            deltas.concat(),
            "<h1 class=\"text-4xl font-bold\">Fresh bread, every morning</h1>"
        );
        assert!(deltas.iter().any(|d| d.starts_with(" font")), "{deltas:?}");
        assert!(deltas.iter().any(|d| d.starts_with("</h1")), "{deltas:?}");
    }

    #[test]
    fn the_same_text_always_gives_the_same_deltas() {
        let text = "<p>Hello, world. This is a page about bread.</p>".repeat(5);
        assert_eq!(deltas_for(&text), deltas_for(&text));
        assert!(deltas_for(&text).len() > 20);
    }

    #[test]
    fn an_empty_text_has_no_deltas() {
        assert!(deltas_for("").is_empty());
    }

    proptest! {
        #[test]
        fn deltas_concatenate_to_the_text_and_stay_small(text in "\\PC{0,300}") {
            let deltas = deltas_for(&text);
            prop_assert_eq!(deltas.concat(), text.clone());
            for (i, delta) in deltas.iter().enumerate() {
                let chars = delta.chars().count();
                prop_assert!((1..=MAX_CHARS).contains(&chars), "{:?}", delta);
                if i + 1 < deltas.len() {
                    prop_assert!(chars >= MIN_CHARS, "{:?}", delta);
                }
            }
        }

        #[test]
        fn multibyte_text_is_never_cut_inside_a_character(
            text in "[a-zé\u{4e9a}\u{1F35E} <>\"]{0,200}"
        ) {
            // `split_at` would panic on a bad cut; check the boundaries explicitly too.
            let mut at = 0;
            for delta in Cutter::default().pieces(&text) {
                at += delta.len();
                prop_assert!(text.is_char_boundary(at));
            }
            prop_assert_eq!(at, text.len());
        }
    }
}
