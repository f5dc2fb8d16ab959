//! A child's output, line by line, to the task log and the event stream, keeping the
//! last lines for the failure excerpt.
//!
//! Memory is bounded whatever a child prints: of one line, at most [`LINE_SHOWN`]
//! bytes are kept and shown (events, excerpt), followed by `[… 19.1 MiB more in the
//! task log]`; the whole line still reaches the task log, masked as it streams
//! (a secret is never cut in two, so never escapes the mask). A line filter (pulumi's
//! JSON events) gets lines of up to [`FILTERED_LINE`] whole.

use std::collections::VecDeque;

use tokio::io::{AsyncRead, AsyncReadExt};

use planrun_text::{EXCERPT_LINE, cap_line as capped};

use super::child::LineFilter;
use crate::events::Stream;
use crate::exec::Attempt;

/// Lines kept for the excerpt shown when a task fails.
pub const EXCERPT_LINES: usize = 20;

/// The part of one line kept in memory and shown in events.
pub const LINE_SHOWN: usize = 64 * 1024;

/// Lines a filter gets whole (pulumi's `--json` events hold whole resource states).
const FILTERED_LINE: usize = 16 * 1024 * 1024;

/// Bytes read from a pipe at once.
const READ_CHUNK: usize = 64 * 1024;

/// One line on its way: its first bytes, and once too long to hold, the bytes not
/// yet masked and written to the log.
#[derive(Default)]
struct Line {
    head: Vec<u8>,
    /// `Some` once the line is too long: raw bytes waiting to be masked and logged.
    carry: Option<Vec<u8>>,
    total: u64,
}

/// Where the lines of one child go: the attempt's log (a section of its own, headed
/// by the command) and events, keeping the last lines for the excerpt.
pub struct OutputSink<'a> {
    ctx: &'a Attempt,
    tail: VecDeque<String>,
    filter: Option<LineFilter<'a>>,
}

impl<'a> OutputSink<'a> {
    /// A sink for `ctx`'s log and events; `header` (masked) starts its log section.
    pub fn new(ctx: &'a Attempt, header: &str) -> Self {
        ctx.begin_log_section(header);
        Self {
            ctx,
            tail: VecDeque::new(),
            filter: None,
        }
    }

    /// Rewrites (or, returning `None`, drops) each line before it is masked.
    pub fn set_filter(&mut self, filter: LineFilter<'a>) {
        self.filter = Some(filter);
    }

    /// Whether the child's section of the log was written.
    pub fn log_written(&self) -> bool {
        self.ctx.log_section_written()
    }

    /// Writes a line planrun itself adds to the log (not an event), starting the
    /// section if needed.
    pub fn note(&mut self, text: &str) {
        self.ctx.log_line(text);
    }

    /// The last lines, oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }

    /// How much of a line is held before it streams to the log.
    fn keep(&self) -> usize {
        let keep = if self.filter.is_some() {
            FILTERED_LINE
        } else {
            LINE_SHOWN
        };
        // Beyond what is shown, as much as the longest secret: one that starts in
        // the shown part is masked whole before the part is cut.
        keep + self.ctx.run.redactor.max_len()
    }

    /// Bytes of output, any number of lines and parts of lines.
    fn feed(&mut self, stream: Stream, line: &mut Line, mut data: &[u8]) {
        while !data.is_empty() {
            let (part, newline) = match data.iter().position(|&b| b == b'\n') {
                Some(i) => (&data[..i], true),
                None => (data, false),
            };
            self.extend(line, part);
            data = &data[part.len() + usize::from(newline)..];
            if newline {
                self.end(stream, std::mem::take(line));
            }
        }
    }

    fn extend(&mut self, line: &mut Line, part: &[u8]) {
        line.total += part.len() as u64;
        let keep = self.keep();
        if let Some(carry) = &mut line.carry {
            carry.extend_from_slice(part);
            if carry.len() >= 2 * READ_CHUNK {
                self.stream_to_log(carry, false);
            }
            return;
        }
        line.head.extend_from_slice(part);
        if line.head.len() > keep {
            // Too long to hold: from now on the line streams to the log, and only
            // its start stays in memory.
            let mut carry = std::mem::take(&mut line.head);
            line.head = carry[..keep].to_vec();
            self.stream_to_log(&mut carry, false);
            line.carry = Some(carry);
        }
    }

    /// Masks and logs what `carry` holds, but (unless `last`) its end, where a
    /// secret may be starting.
    fn stream_to_log(&mut self, carry: &mut Vec<u8>, last: bool) {
        let cut = match std::str::from_utf8(carry) {
            Ok(_) => carry.len(),
            // A character cut by the read ends it: kept for the next part.
            Err(e) if e.error_len().is_none() && !last => e.valid_up_to(),
            Err(_) => carry.len(),
        };
        let text = String::from_utf8_lossy(&carry[..cut]).into_owned();
        let redactor = &self.ctx.run.redactor;
        let split = if last {
            text.len()
        } else {
            redactor.safe_split(&text, text.len().saturating_sub(redactor.max_len()))
        };
        self.ctx.log_partial(&redactor.redact(&text[..split]));
        let mut rest = text.as_bytes()[split..].to_vec();
        rest.extend_from_slice(&carry[cut..]);
        *carry = rest;
    }

    /// A complete line.
    fn end(&mut self, stream: Stream, mut line: Line) {
        let Some(mut carry) = line.carry.take() else {
            let raw = line.head.strip_suffix(b"\r").unwrap_or(&line.head);
            self.whole(stream, raw);
            return;
        };
        if carry.last() == Some(&b'\r') {
            carry.pop();
        }
        self.stream_to_log(&mut carry, true);
        self.ctx.log_line("");
        let head = self
            .ctx
            .run
            .redactor
            .redact(&String::from_utf8_lossy(&line.head))
            .into_owned();
        let shown = capped(&head, LINE_SHOWN, line.total);
        self.show(stream, shown);
    }

    /// A line held whole: filtered, masked, logged whole, shown capped.
    fn whole(&mut self, stream: Stream, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let text = match &mut self.filter {
            Some(filter) => match filter(stream, &text) {
                Some(text) => text,
                None => return,
            },
            None => text.into_owned(),
        };
        let text = self.ctx.run.redactor.redact(&text).into_owned();
        self.ctx.log_line(&text);
        let total = text.len() as u64;
        let shown = capped(&text, LINE_SHOWN, total);
        self.show(stream, shown);
    }

    fn show(&mut self, stream: Stream, shown: String) {
        if self.tail.len() == EXCERPT_LINES {
            self.tail.pop_front();
        }
        let total = shown.len() as u64;
        self.tail.push_back(capped(&shown, EXCERPT_LINE, total));
        self.ctx.emit(stream, &shown);
    }
}

/// Copies both streams into `sink` until both are closed, a bounded buffer per
/// stream whatever the children print.
pub async fn pump(
    sink: &mut OutputSink<'_>,
    stdout: Option<impl AsyncRead + Unpin>,
    stderr: Option<impl AsyncRead + Unpin>,
) {
    let (mut out, mut err) = (stdout, stderr);
    let (mut out_buf, mut err_buf) = (vec![0u8; READ_CHUNK], vec![0u8; READ_CHUNK]);
    let (mut out_line, mut err_line) = (Line::default(), Line::default());
    // `read` is cancel-safe: a read `select!` drops has taken no bytes.
    loop {
        tokio::select! {
            n = read(&mut out, &mut out_buf), if out.is_some() => match n {
                0 => {
                    finish(sink, Stream::Stdout, &mut out_line);
                    out = None;
                }
                n => sink.feed(Stream::Stdout, &mut out_line, &out_buf[..n]),
            },
            n = read(&mut err, &mut err_buf), if err.is_some() => match n {
                0 => {
                    finish(sink, Stream::Stderr, &mut err_line);
                    err = None;
                }
                n => sink.feed(Stream::Stderr, &mut err_line, &err_buf[..n]),
            },
            else => break,
        }
    }
}

/// The last, unterminated line of a stream.
fn finish(sink: &mut OutputSink<'_>, stream: Stream, line: &mut Line) {
    if line.total > 0 {
        sink.end(stream, std::mem::take(line));
    }
}

/// Bytes read, 0 at the end of the stream (or on a read error: the pipe is gone).
async fn read<R: AsyncRead + Unpin>(reader: &mut Option<R>, buf: &mut [u8]) -> usize {
    match reader {
        Some(r) => r.read(buf).await.unwrap_or(0),
        None => 0,
    }
}
