//! planrun's own words on the terminal, outside the reporters: notices and
//! diagnostics to stderr, command output to stdout. Writing never panics and never
//! fails a run: a closed or broken stderr (`2>&-`, a pipe whose reader left) loses
//! the message and nothing else. Text from outside planrun in them (plan names,
//! variables, messages from the cluster) has its control characters escaped first.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, mpsc};
use std::time::{Duration, Instant};

use planrun_text::{escape_controls, escape_controls_keep_colours};

/// One line to stderr, best effort.
pub fn say(line: &str) {
    let line = escape_controls(line);
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Lines said aside ([`say_aside`]): written to stderr, in order, by a thread of
/// their own.
struct Aside {
    lines: mpsc::Sender<String>,
    /// Lines sent, and lines written (the writer notifies each).
    said: AtomicU64,
    written: Arc<(Mutex<u64>, Condvar)>,
}

fn aside() -> Option<&'static Aside> {
    static ASIDE: OnceLock<Option<Aside>> = OnceLock::new();
    ASIDE
        .get_or_init(|| {
            let (lines, to_write) = mpsc::channel::<String>();
            let written = Arc::new((Mutex::new(0), Condvar::new()));
            let counted = Arc::clone(&written);
            std::thread::Builder::new()
                .name("planrun-aside".into())
                .spawn(move || {
                    for line in to_write {
                        say(&line);
                        let (count, changed) = &*counted;
                        *count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
                        changed.notify_all();
                    }
                })
                .ok()?;
            Some(Aside {
                lines,
                said: AtomicU64::new(0),
                written,
            })
        })
        .as_ref()
}

/// One line to stderr without waiting for the terminal, for callers that must not:
/// a terminal nobody reads (an SSH session whose connection died, Ctrl-S) blocks
/// every write until it is read. Lines said aside keep their order; [`settle`] waits
/// for them. Without a thread to say it (the system refused one) the line is lost,
/// rather than waited for.
pub fn say_aside(line: &str) {
    if let Some(aside) = aside() {
        aside.said.fetch_add(1, Ordering::SeqCst);
        if aside.lines.send(line.to_owned()).is_err() {
            aside.said.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Waits until every line said aside so far is written, or `within` has passed
/// (`None`: however long the terminal takes).
pub fn settle(within: Option<Duration>) {
    let Some(aside) = aside() else { return };
    let said = aside.said.load(Ordering::SeqCst);
    let deadline = within.map(|w| Instant::now() + w);
    let (count, changed) = &*aside.written;
    let mut written = count.lock().unwrap_or_else(PoisonError::into_inner);
    while *written < said {
        written = match deadline {
            None => changed
                .wait(written)
                .unwrap_or_else(PoisonError::into_inner),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return;
                }
                changed
                    .wait_timeout(written, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
    }
}

/// A rendered diagnostic (miette's, coloured when stderr is a terminal) to stderr,
/// best effort; colours pass, every other control character is escaped.
pub fn say_diagnostic(rendered: &str) {
    let text = escape_controls_keep_colours(rendered);
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// A command's output to stdout. A reader that went away (`planrun list p | head`)
/// ends the output quietly; other failures (a full disk behind `>`) are errors.
pub fn out(text: &str) -> io::Result<()> {
    let text = escape_controls(text);
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
