//! The send-time stamp a benchmark's mock puts in front of each delta's text, and reads back
//! at the far side of a relay: `<!--{micros}-->`, the unix time in microseconds modulo 2^36
//! written as nine hex digits. The clock wraps every 19 hours, so a latency is taken modulo
//! the same.
//!
//! It is short on purpose: a relay stores the text it relays, and at 16 bytes a stamp is still
//! about twice the average delta it rides on (the first version, `<!--t:{unix micros}-->`, was
//! 25 bytes and made the benchmark's pages four times their size).

use std::time::{SystemTime, UNIX_EPOCH};

const OPEN: &str = "<!--";
const CLOSE: &str = "-->";
const DIGITS: usize = 9;
const MASK: u64 = (1 << (4 * DIGITS)) - 1;

/// The stamp's clock now: unix microseconds modulo 2^36.
pub fn now() -> u64 {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros());
    (micros & u128::from(MASK)) as u64
}

/// Writes the stamp of `micros` (a value of [`now`]).
pub fn write(out: &mut impl std::fmt::Write, micros: u64) -> std::fmt::Result {
    write!(
        out,
        "{OPEN}{:0width$x}{CLOSE}",
        micros & MASK,
        width = DIGITS
    )
}

/// The stamp at the start of `text` and the rest of the text, or `None` when it is not there.
pub fn read(text: &[u8]) -> Option<(u64, &[u8])> {
    let rest = text.strip_prefix(OPEN.as_bytes())?;
    let (digits, rest) = rest.split_at_checked(DIGITS)?;
    let rest = rest.strip_prefix(CLOSE.as_bytes())?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let micros = u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
    Some((micros, rest))
}

/// Microseconds from the stamp `sent` to the stamp clock's `now`; 0 when `now` is earlier
/// (the wall clock stepped back), which modulo 2^36 looks like hours later.
pub fn elapsed(sent: u64, now: u64) -> u64 {
    let elapsed = now.wrapping_sub(sent) & MASK;
    if elapsed > MASK / 2 { 0 } else { elapsed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_with_the_rest_of_the_text() {
        let mut text = String::new();
        write(&mut text, 0xa_bcde_f012).unwrap();
        assert_eq!(text, "<!--abcdef012-->");
        text.push_str("<p>hi");
        assert_eq!(read(text.as_bytes()), Some((0xa_bcde_f012, &b"<p>hi"[..])));
        assert_eq!(read(b"<p>hi"), None);
        assert_eq!(read(b"<!--abc-->x"), None, "too few digits");
        assert_eq!(read(b"<!-- comment -->x"), None);
        assert_eq!(read(b"<!--+bcdef012-->x"), None, "a sign is no digit");
    }

    #[test]
    fn latency_is_measured_across_the_wrap() {
        assert_eq!(elapsed(MASK - 4, 5), 10);
        assert_eq!(elapsed(100, 350), 250);
        assert_eq!(elapsed(350, 100), 0, "a clock stepped back is no latency");
        let stamp = now();
        assert!(stamp <= MASK && elapsed(stamp, now()) < 1_000_000);
    }
}
