//! Long lines cut for people, saying how much was left out: what a task prints can
//! be one line of gigabytes, and neither memory, a terminal nor a report holds that.
//! Messages put on one line and clipped.

/// The part of a line a failure excerpt keeps (terminal, report).
pub const EXCERPT_LINE: usize = 4 * 1024;

/// `text` (the start of a line of `total` bytes) cut to at most `max` bytes, never
/// inside a character, with what was cut said: `[… 19.1 MiB more in the task log]`.
pub fn cap_line(text: &str, max: usize, total: u64) -> String {
    if text.len() <= max && total <= text.len() as u64 {
        return text.to_owned();
    }
    let mut cut = max.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let more = total.saturating_sub(cut as u64);
    format!("{} [… {} more in the task log]", &text[..cut], size(more))
}

/// Text on one line, every run of whitespace (newlines included) one space: servers
/// and tools put newlines in some messages.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to at most `max` characters, an ellipsis saying it was.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A byte count for people: `512 bytes`, `3.0 KiB`, `19.1 MiB`.
pub fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    let tenths = |unit: u64| (bytes.saturating_mul(10) + unit / 2) / unit;
    match bytes {
        b if b < KIB => format!("{b} bytes"),
        b if b < MIB => {
            let t = tenths(KIB);
            format!("{}.{} KiB", t / 10, t % 10)
        }
        _ => {
            let t = tenths(MIB);
            format!("{}.{} MiB", t / 10, t % 10)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_capped_saying_what_is_left() {
        assert_eq!(cap_line("short", 10, 5), "short");
        assert_eq!(
            cap_line(&"x".repeat(100), 10, 20 * 1024 * 1024),
            format!("{} [… 20.0 MiB more in the task log]", "x".repeat(10))
        );
        // Never inside a character.
        assert_eq!(cap_line("ééé", 3, 6), "é [… 4 bytes more in the task log]");
        assert_eq!(size(3 * 1024), "3.0 KiB");
    }

    #[test]
    fn messages_are_put_on_one_line_and_clipped_by_characters() {
        assert_eq!(
            one_line("  error:\n  expired\r\n\tlog in "),
            "error: expired log in"
        );
        assert_eq!(clip("short", 5), "short");
        assert_eq!(clip("ééé", 2), "éé…");
    }
}
