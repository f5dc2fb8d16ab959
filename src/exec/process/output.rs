//! A child's output, line by line, to the task log and the event stream, keeping the
//! last lines for the failure excerpt.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::child::LineFilter;
use crate::events::Stream;
use crate::exec::ExecContext;

/// Lines kept for the excerpt shown when a task fails.
pub const EXCERPT_LINES: usize = 20;

/// Where the lines of one attempt go.
///
/// The log file is created (or appended to) only when there is something to write:
/// a task that prints nothing costs no file. Creating thousands of files is what
/// dominated a run of short silent tasks (ext4 slows file creation down right after
/// many deletions).
pub struct OutputSink<'a> {
    ctx: &'a ExecContext,
    log: Log,
    /// Written to the log before its first line.
    header: String,
    tail: VecDeque<String>,
    filter: Option<LineFilter<'a>>,
}

enum Log {
    /// Not kept for this attempt (or it could not be opened).
    Off,
    NotOpened(PathBuf),
    Open(File),
}

impl<'a> OutputSink<'a> {
    /// A sink for `ctx`'s log (if any) and events; `header` (masked) starts the log.
    pub fn new(ctx: &'a ExecContext, header: &str) -> Self {
        Self {
            ctx,
            log: ctx.log.clone().map_or(Log::Off, Log::NotOpened),
            header: ctx.redactor.redact(header).into_owned(),
            tail: VecDeque::new(),
            filter: None,
        }
    }

    /// Rewrites (or, returning `None`, drops) each line before it is masked.
    pub fn set_filter(&mut self, filter: LineFilter<'a>) {
        self.filter = Some(filter);
    }

    /// Whether the log file was written.
    pub fn log_written(&self) -> bool {
        matches!(self.log, Log::Open(_))
    }

    /// The log file, opened for appending (with the header written) on first use.
    /// A log that cannot be written must not fail the task: the output still reaches
    /// the events and the excerpt.
    fn log(&mut self) -> Option<&mut File> {
        if let Log::NotOpened(path) = &self.log {
            self.log = match open_log(path, &self.header) {
                Ok(file) => Log::Open(file),
                Err(_) => Log::Off,
            };
        }
        match &mut self.log {
            Log::Open(file) => Some(file),
            _ => None,
        }
    }

    /// Writes a line planrun itself adds to the log (not an event), creating the log
    /// if needed.
    pub fn note(&mut self, text: &str) {
        let text = self.ctx.redactor.redact(text).into_owned();
        if let Some(log) = self.log() {
            let _ = writeln!(log, "{text}");
        }
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
        let text = self.ctx.redactor.redact(&text).into_owned();
        if let Some(log) = self.log() {
            let mut buf = Vec::with_capacity(text.len() + 1);
            buf.extend_from_slice(text.as_bytes());
            buf.push(b'\n');
            let _ = log.write_all(&buf);
        }
        if self.tail.len() == EXCERPT_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(text.clone());
        self.ctx.output(stream, &text);
    }

    /// The last lines, oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }
}

fn open_log(path: &Path, header: &str) -> std::io::Result<File> {
    let mut file = File::options().create(true).append(true).open(path)?;
    writeln!(file, "{header}")?;
    Ok(file)
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
