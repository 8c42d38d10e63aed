//! The SSE framing of an upstream response body: bytes in, the `data` of each event out.
//!
//! This is the one hot loop every delta goes through, so it does no more than the upstream
//! needs: it buffers the body, finds each event's end (a blank line), and hands out the event's
//! data as a slice of the buffer — no `String` per line or per event as a general SSE parser
//! builds. Comment lines (`: OPENROUTER PROCESSING`) and fields other than `data` are skipped;
//! several `data` lines of one event are joined with `\n` as the SSE standard says. Lines end
//! with `\n` or `\r\n` (a lone `\r` is not taken as a line end). An event cut off by the end of
//! the body is never dispatched.

/// Splits a byte stream into SSE events.
#[derive(Debug, Default)]
pub struct Frames {
    /// Received bytes; `buf[start..]` is not yet consumed.
    buf: Vec<u8>,
    start: usize,
    /// The joined data of an event with several `data` lines (rare: chunks are one line).
    joined: Vec<u8>,
}

impl Frames {
    /// Appends bytes of the body.
    pub fn push(&mut self, bytes: &[u8]) {
        // Consumed bytes are dropped before the buffer grows, so it stays about one read long.
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 && self.buf.len() + bytes.len() > self.buf.capacity() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The data of the next complete event, or `None` until more bytes arrive. Events without a
    /// `data` field (comments, keep-alives) are skipped.
    pub fn next_data(&mut self) -> Option<&[u8]> {
        loop {
            let rest = &self.buf[self.start..];
            let len = event_len(rest)?;
            let event = self.start..self.start + len;
            self.start += len;
            match data_of(&self.buf[event.clone()]) {
                Data::None => continue,
                Data::One(range) => {
                    let at = event.start;
                    return Some(&self.buf[at + range.start..at + range.end]);
                }
                Data::Many => {
                    self.joined.clear();
                    join_data(&self.buf[event], &mut self.joined);
                    return Some(&self.joined);
                }
            }
        }
    }
}

/// Where an event's data is, relative to the event.
enum Data {
    None,
    One(std::ops::Range<usize>),
    Many,
}

/// The length of the first event of `rest` up to and including its blank line.
fn event_len(rest: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for newline in memchr::memchr_iter(b'\n', rest) {
        let line = &rest[line_start..newline];
        if line.is_empty() || line == b"\r" {
            return Some(newline + 1);
        }
        line_start = newline + 1;
    }
    None
}

/// The event's lines without their line ends.
fn lines(event: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = &event[at..];
        let end = memchr::memchr(b'\n', rest)?;
        let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
        let start = at;
        at += end + 1;
        Some((start, line))
    })
}

/// The value of a `data` line (`data:value`, `data: value` or a bare `data`).
fn data_value(line: &[u8]) -> Option<(usize, &[u8])> {
    let value = match line.strip_prefix(b"data") {
        Some([]) => &[][..],
        Some([b':', b' ', value @ ..]) | Some([b':', value @ ..]) => value,
        _ => return None,
    };
    Some((line.len() - value.len(), value))
}

fn data_of(event: &[u8]) -> Data {
    let mut found = Data::None;
    for (start, line) in lines(event) {
        if let Some((offset, value)) = data_value(line) {
            found = match found {
                Data::None => Data::One(start + offset..start + offset + value.len()),
                _ => return Data::Many,
            };
        }
    }
    found
}

fn join_data(event: &[u8], out: &mut Vec<u8>) {
    for (_, line) in lines(event) {
        if let Some((_, value)) = data_value(line) {
            if !out.is_empty() {
                out.push(b'\n');
            }
            out.extend_from_slice(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(frames: &mut Frames) -> Vec<String> {
        std::iter::from_fn(|| {
            frames
                .next_data()
                .map(|d| String::from_utf8(d.to_vec()).unwrap())
        })
        .collect()
    }

    #[test]
    fn events_are_split_on_blank_lines_and_comments_skipped() {
        let mut frames = Frames::default();
        frames.push(b": OPENROUTER PROCESSING\n\ndata: {\"a\":1}\n\ndata:{\"b\":2}\r\n\r\n");
        assert_eq!(all(&mut frames), ["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn an_event_split_across_reads_waits_for_its_end() {
        let mut frames = Frames::default();
        let body = b"id: 1\nevent: x\ndata: hello\n\ndata: [DONE]\n\n";
        let mut seen = Vec::new();
        for byte in body {
            frames.push(&[*byte]);
            seen.extend(all(&mut frames));
        }
        assert_eq!(seen, ["hello", "[DONE]"]);
    }

    #[test]
    fn several_data_lines_are_joined_and_a_cut_off_event_is_not_dispatched() {
        let mut frames = Frames::default();
        frames.push(b"data: one\ndata\ndata: two\n\ndata: cut");
        assert_eq!(all(&mut frames), ["one\n\ntwo"]);
        assert!(frames.next_data().is_none());
    }
}
