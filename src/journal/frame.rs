//! Framing of journal records, so a torn or corrupted record is detected.
//!
//! A journal is text, one record a line:
//!
//! ```text
//! 0000002e 1c291ca3 {"type":"task-started","task":"a","attempt":1}
//! ^len     ^crc32   ^payload (one JSON object, no newline inside)
//! ```
//!
//! `len` is the payload's length in bytes and `crc32` its CRC-32 (IEEE), both as 8
//! lowercase hex digits, then one space, the payload and `\n`. A line is a valid frame
//! only when all of it checks: the header's shape, the length, the checksum and the
//! final newline.
//!
//! Reading tells two kinds of damage apart:
//! - a **torn tail**: damage that starts after the last valid frame and runs to the
//!   end of the file with no valid frame after it. That is what an append cut off by a
//!   crash or a power loss leaves (a prefix of a line, or a line whose bytes never
//!   reached the disk). It is dropped, and the caller warns; the writer truncates it
//!   away before appending again.
//! - **corruption**: damage with a valid frame after it (starting at any byte, so two
//!   lines merged by a damaged newline still count). An interrupted append does not
//!   produce that, so it is an error naming the byte offset; nothing is guessed.
//!
//! A damaged *last* record that was once complete (a flipped bit in it) cannot be
//! told from a torn append, so it is dropped as a torn tail too: the task it recorded
//! runs again, which is the safe direction.

use std::fmt;

/// Bytes of the header before the payload: `llllllll cccccccc `.
const HEADER_LEN: usize = 8 + 1 + 8 + 1;

/// Appends one framed record to `out`.
///
/// The payload must not contain a newline (serde_json's compact output never does).
pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(!payload.contains(&b'\n'), "a payload holds no newline");
    let crc = crc32fast::hash(payload);
    out.extend_from_slice(format!("{:08x} {:08x} ", payload.len(), crc).as_bytes());
    out.extend_from_slice(payload);
    out.push(b'\n');
}

/// A valid frame found in a journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Byte offset of the frame's first byte in the file.
    pub offset: u64,
    pub payload: &'a [u8],
}

/// Damage at the end of a journal that a crash explains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Where the damage starts: the length of the journal's valid prefix.
    pub offset: u64,
    /// How many bytes are dropped.
    pub len: u64,
    pub why: Damage,
}

/// What is wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The file ends inside the line (no final newline).
    Unterminated,
    /// The header is not `<8 hex> <8 hex> `.
    BadHeader,
    /// The header's length differs from the payload's.
    LengthMismatch { stated: u64, actual: u64 },
    /// The payload's CRC-32 differs from the header's.
    ChecksumMismatch,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Unterminated => f.write_str("the record is cut off before its end"),
            Damage::BadHeader => f.write_str("the record header is malformed"),
            Damage::LengthMismatch { stated, actual } => write!(
                f,
                "the record header states {stated} bytes but the record holds {actual}"
            ),
            Damage::ChecksumMismatch => f.write_str("the record checksum does not match"),
        }
    }
}

/// Damage followed by valid frames: not a crash's doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// Byte offset of the first damaged line.
    pub offset: u64,
    /// Byte offset of the first valid frame after it.
    pub next_valid: u64,
    pub why: Damage,
}

/// Every valid frame of a journal, and a torn tail if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub frames: Vec<Frame<'a>>,
    /// Length of the valid prefix: where the next record is appended.
    pub valid_len: u64,
    pub torn_tail: Option<TornTail>,
}

/// Splits a journal's bytes into frames, telling a torn tail from corruption.
pub fn decode(bytes: &[u8]) -> Result<Decoded<'_>, Corruption> {
    let mut frames = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let checked = match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => check_line(&rest[..nl]).map(|payload| (payload, pos + nl + 1)),
            None => Err(Damage::Unterminated),
        };
        match checked {
            Ok((payload, next)) => {
                frames.push(Frame {
                    offset: pos as u64,
                    payload,
                });
                pos = next;
            }
            Err(why) => {
                if let Some(next_valid) = next_frame_start(bytes, pos + 1) {
                    return Err(Corruption {
                        offset: pos as u64,
                        next_valid: next_valid as u64,
                        why,
                    });
                }
                return Ok(Decoded {
                    frames,
                    valid_len: pos as u64,
                    torn_tail: Some(TornTail {
                        offset: pos as u64,
                        len: (bytes.len() - pos) as u64,
                        why,
                    }),
                });
            }
        }
    }
    Ok(Decoded {
        frames,
        valid_len: bytes.len() as u64,
        torn_tail: None,
    })
}

/// The first byte offset at or after `from` where a valid frame starts.
///
/// Every byte offset is tried, not only line starts: a damaged newline merges two
/// lines, and the second record must still count as "a valid record after the
/// damage". Cheap checks (shape, length) come before the checksum, so this stays
/// linear in practice.
fn next_frame_start(bytes: &[u8], from: usize) -> Option<usize> {
    let mut nl = None::<usize>;
    for p in from..bytes.len() {
        if nl.is_none_or(|n| n < p) {
            nl = Some(p + bytes[p..].iter().position(|&b| b == b'\n')?);
        }
        let end = nl.expect("set just above");
        if check_line(&bytes[p..end]).is_ok() {
            return Some(p);
        }
    }
    None
}

/// The payload of a complete line (without its newline), if the line is a valid frame.
fn check_line(line: &[u8]) -> Result<&[u8], Damage> {
    if line.len() < HEADER_LEN || line[8] != b' ' || line[17] != b' ' {
        return Err(Damage::BadHeader);
    }
    let stated = parse_hex8(&line[..8]).ok_or(Damage::BadHeader)?;
    let crc = parse_hex8(&line[9..17]).ok_or(Damage::BadHeader)?;
    let payload = &line[HEADER_LEN..];
    if u64::from(stated) != payload.len() as u64 {
        return Err(Damage::LengthMismatch {
            stated: stated.into(),
            actual: payload.len() as u64,
        });
    }
    if crc32fast::hash(payload) != crc {
        return Err(Damage::ChecksumMismatch);
    }
    Ok(payload)
}

/// Exactly 8 lowercase hex digits, as [`encode`] writes them.
fn parse_hex8(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        Some((acc << 4) | u32::from(v))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn journal(payloads: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode(p.as_bytes(), &mut out);
        }
        out
    }

    #[test]
    fn round_trips() {
        let bytes = journal(&[r#"{"a":1}"#, r#"{"b":"two"}"#]);
        let d = decode(&bytes).unwrap();
        assert_eq!(d.frames.len(), 2);
        assert_eq!(d.frames[0].payload, br#"{"a":1}"#);
        assert_eq!(d.frames[1].offset, 26);
        assert_eq!(d.valid_len, bytes.len() as u64);
        assert_eq!(d.torn_tail, None);
    }

    #[test]
    fn header_is_readable() {
        let bytes = journal(&["{}"]);
        assert_eq!(
            bytes,
            format!("00000002 {:08x} {{}}\n", crc32fast::hash(b"{}")).as_bytes()
        );
    }

    #[test]
    fn every_truncation_of_the_last_record_is_a_torn_tail() {
        let bytes = journal(&[r#"{"a":1}"#, r#"{"b":"two"}"#]);
        let second = 26;
        for cut in second + 1..bytes.len() {
            let d = decode(&bytes[..cut]).unwrap();
            assert_eq!(d.frames.len(), 1, "cut at {cut}");
            assert_eq!(d.valid_len, second as u64);
            let torn = d.torn_tail.unwrap();
            assert_eq!(torn.offset, second as u64);
            assert_eq!(torn.len, (cut - second) as u64);
        }
        // Cut exactly at a record boundary: nothing is torn.
        let d = decode(&bytes[..second]).unwrap();
        assert_eq!((d.frames.len(), d.torn_tail), (1, None));
    }

    #[test]
    fn a_flipped_byte_before_the_last_record_is_corruption() {
        let bytes = journal(&[r#"{"a":1}"#, r#"{"b":"two"}"#, r#"{"c":3}"#]);
        for i in 0..56 {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            let err = decode(&bad).unwrap_err();
            assert!(err.offset <= i as u64, "flip at {i}: {err:?}");
        }
    }

    #[test]
    fn garbage_after_the_last_record_is_a_torn_tail() {
        let mut bytes = journal(&[r#"{"a":1}"#]);
        let valid = bytes.len() as u64;
        bytes.extend_from_slice(&[0u8; 300]);
        let d = decode(&bytes).unwrap();
        assert_eq!(d.valid_len, valid);
        assert_eq!(d.torn_tail.unwrap().why, Damage::Unterminated);
    }

    #[test]
    fn rejects_uppercase_and_short_headers() {
        assert_eq!(
            check_line(b"0000000A 00000000 0123456789"),
            Err(Damage::BadHeader)
        );
        assert_eq!(check_line(b"00000000 0000000"), Err(Damage::BadHeader));
        assert_eq!(
            check_line(b"00000003 00000000 {}"),
            Err(Damage::LengthMismatch {
                stated: 3,
                actual: 2
            })
        );
    }
}
