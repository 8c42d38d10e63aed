//! The model's output limit, and how it continues: which part of the script's text one
//! response writes.
//!
//! A script with [`cuts`](Script::cuts) writes its text in segments. A response stops at the
//! first cut past where it starts, as a model stops at its output limit, and finishes with
//! `length`. A request whose messages end with an assistant message — the text written so far,
//! as a prefill, the way LivePage asks for a continuation — starts where that text ends, and
//! begins the way the script's [`Resume`](super::Resume) says: a preamble, a new code fence,
//! some of the text before again. The prefill must be exactly the start of the text: anything
//! else means whoever merged the segments got it wrong, and the mock refuses the request rather
//! than guess where to go on.

use super::Script;

const FENCE: &str = "```";

/// What one response writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Segment {
    pub text: String,
    /// Stopped by the output limit (`finish_reason: "length"`) rather than finished.
    pub cut: bool,
}

/// The segment of `document` (the script's whole text) that a request with `prefill` gets.
pub(super) fn segment(
    document: &str,
    script: &Script,
    prefill: Option<&str>,
) -> Result<Segment, &'static str> {
    let start = match prefill {
        None => 0,
        Some(written) if document.starts_with(written) => written.len(),
        Some(_) => return Err("the assistant prefill is not the start of the scripted text"),
    };
    let cut = script
        .cuts
        .iter()
        .map(|&at| floor_char_boundary(document, at.min(document.len())))
        .find(|&at| at > start);
    let end = cut.unwrap_or(document.len());
    let Some(_) = prefill else {
        return Ok(Segment {
            text: document[..end].to_owned(),
            cut: cut.is_some(),
        });
    };
    let resume = &script.resume;
    let mut text = resume.preamble.clone().unwrap_or_default();
    if resume.fence {
        text.push_str("```html\n");
    }
    text.push_str(&document[chars_before(document, start, resume.overlap)..end]);
    let finished = cut.is_none();
    if resume.fence && finished && !document.trim_start().starts_with(FENCE) {
        text.push_str("\n```");
    }
    Ok(Segment {
        text,
        cut: !finished,
    })
}

/// The byte offset `count` characters before `at` (or 0).
fn chars_before(text: &str, at: usize, count: usize) -> usize {
    if count == 0 {
        return at;
    }
    text[..at]
        .char_indices()
        .rev()
        .nth(count - 1)
        .map_or(0, |(offset, _)| offset)
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
    use super::*;
    use crate::mock::Resume;

    const TEXT: &str = "<p>Zoë’s café</p>\n<p>Fresh bread</p>";

    fn script(cuts: &[usize], resume: Resume) -> Script {
        Script {
            cuts: cuts.to_vec(),
            resume,
            ..Script::default()
        }
    }

    #[test]
    fn responses_stop_at_the_cuts_and_continue_where_the_prefill_ends() {
        let script = script(&[9, 26], Resume::default());
        let first = segment(TEXT, &script, None).unwrap();
        assert_eq!(first.text, "<p>Zoë", "the cut inside ’ moves to its start");
        assert!(first.cut);
        let second = segment(TEXT, &script, Some(&first.text)).unwrap();
        assert_eq!(second.text, "’s café</p>\n<p>F");
        assert!(second.cut);
        let third = segment(TEXT, &script, Some(&TEXT[..26])).unwrap();
        assert_eq!(
            third,
            Segment {
                text: "resh bread</p>".into(),
                cut: false
            }
        );
    }

    #[test]
    fn a_continuation_begins_with_its_preamble_fence_and_repeat() {
        let script = script(
            &[10],
            Resume {
                preamble: Some("Sure, here is the rest:\n\n".into()),
                fence: true,
                overlap: 3,
            },
        );
        let rest = segment(TEXT, &script, Some("<p>Zoë’s ")).unwrap();
        assert_eq!(
            rest.text,
            "Sure, here is the rest:\n\n```html\n’s café</p>\n<p>Fresh bread</p>\n```"
        );
        let fenced = format!("```html\n{TEXT}\n```");
        let rest = segment(&fenced, &script, Some("```html\n<p>Zo")).unwrap();
        assert!(
            rest.text.ends_with("bread</p>\n```") && !rest.text.ends_with("```\n```"),
            "a fenced text keeps its own closing fence: {:?}",
            rest.text
        );
    }

    #[test]
    fn a_continuation_of_the_whole_text_writes_nothing_new() {
        let script = script(&[TEXT.len()], Resume::default());
        assert!(segment(TEXT, &script, None).unwrap().cut);
        assert_eq!(
            segment(TEXT, &script, Some(TEXT)).unwrap(),
            Segment {
                text: String::new(),
                cut: false
            }
        );
    }

    #[test]
    fn a_prefill_that_is_not_the_start_of_the_text_is_refused() {
        let script = script(&[10], Resume::default());
        assert!(segment(TEXT, &script, Some("<p>Zoë’s c<p>Zoë")).is_err());
    }
}
