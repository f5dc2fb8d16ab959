//! A child's output, line by line, to the task log and the event stream, keeping the
//! last lines for the failure excerpt.

use std::collections::VecDeque;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::child::LineFilter;
use crate::events::Stream;
use crate::exec::Attempt;

/// Lines kept for the excerpt shown when a task fails.
pub const EXCERPT_LINES: usize = 20;

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

    /// One line of output (`raw` may end with a newline, may not be UTF-8).
    pub fn line(&mut self, stream: Stream, raw: &[u8]) {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
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
        if self.tail.len() == EXCERPT_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(text.clone());
        self.ctx.emit(stream, &text);
    }

    /// The last lines, oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }
}

/// Copies both streams into `sink` until both are closed.
pub async fn pump(
    sink: &mut OutputSink<'_>,
    stdout: Option<impl AsyncRead + Unpin>,
    stderr: Option<impl AsyncRead + Unpin>,
) {
    let mut out = stdout.map(BufReader::new);
    let mut err = stderr.map(BufReader::new);
    let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
    // `read_until` keeps partial reads in its buffer when `select!` drops it, so no
    // bytes are lost between iterations.
    loop {
        tokio::select! {
            r = read_line(&mut out, &mut out_buf), if out.is_some() => {
                if !emit(sink, Stream::Stdout, r, &mut out_buf) { out = None; }
            }
            r = read_line(&mut err, &mut err_buf), if err.is_some() => {
                if !emit(sink, Stream::Stderr, r, &mut err_buf) { err = None; }
            }
            else => break,
        }
    }
}

async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut Option<BufReader<R>>,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    match reader {
        Some(r) => r.read_until(b'\n', buf).await,
        None => Ok(0),
    }
}

/// Hands a complete line (or the last, unterminated one) to the sink; `false` at the
/// end of the stream.
fn emit(
    sink: &mut OutputSink<'_>,
    stream: Stream,
    read: std::io::Result<usize>,
    buf: &mut Vec<u8>,
) -> bool {
    let open = matches!(read, Ok(n) if n > 0);
    if !buf.is_empty() && (!open || buf.ends_with(b"\n")) {
        sink.line(stream, buf);
        buf.clear();
    }
    open
}
