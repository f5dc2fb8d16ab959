//! The reporter threads: one takes every event off the channel and writes
//! `events.jsonl`; the other feeds the chosen output (terminal or JSON Lines) and the
//! run record, and at the end prints the summary (the run report is written from the
//! journal, by the run). A slow terminal, or one nobody reads (an SSH session whose
//! connection died, Ctrl-S), holds up neither the dispatcher nor `events.jsonl`.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;

use super::json::JsonLines;
use super::record::RunRecord;
use super::style::{Paint, color_enabled};
use super::summary;
use super::terminal::Terminal;
use crate::events::{Event, EventKind};
use crate::layout::{Open, open_private};

/// How long events gather before the reporter handles them.
const BATCH: std::time::Duration = std::time::Duration::from_millis(20);
/// How often the reporter looks for progress details whose turn came, without events.
const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Progress and a summary for people.
    #[default]
    Human,
    /// JSON Lines events on stdout.
    Json,
}

/// What to report where.
#[derive(Debug, Clone)]
pub struct ReporterConfig {
    pub format: OutputFormat,
    /// Live progress (`None`: when stdout is a terminal).
    pub live: Option<bool>,
    /// Where to copy every event as JSON Lines.
    pub events_file: Option<PathBuf>,
    /// The plan's task ids, in execution order.
    pub tasks: Vec<String>,
}

/// Starts the reporter threads; they end when every sender is dropped and the output
/// has taken everything, returning the files they could not write (each named with
/// its error), which make the run end as planrun having failed even when its tasks
/// did not.
pub fn spawn(rx: Receiver<Event>, config: ReporterConfig) -> JoinHandle<Vec<String>> {
    std::thread::Builder::new()
        .name("planrun-report".into())
        .spawn(move || report(rx, config))
        .expect("a thread can be started")
}

/// Waits for the reporter thread once every sender is dropped, waking it from the
/// moment it lets events gather: the run's last events need not wait for it.
pub fn finish(reporter: JoinHandle<Vec<String>>) -> std::thread::Result<Vec<String>> {
    reporter.thread().unpark();
    reporter.join()
}

/// A file the reporter writes: given up, and said once, at its first failure, so
/// that a full disk costs `events.jsonl` but not the terminal.
struct ReportFile<W> {
    path: PathBuf,
    out: Option<W>,
}

impl<W> ReportFile<W> {
    fn attempt<T>(&mut self, problems: &mut Vec<String>, f: impl FnOnce(&mut W) -> io::Result<T>) {
        let Some(out) = &mut self.out else { return };
        if let Err(e) = f(out) {
            problems.push(format!("cannot write {}: {e}", self.path.display()));
            self.out = None;
        }
    }
}

fn report(rx: Receiver<Event>, config: ReporterConfig) -> Vec<String> {
    let mut problems = Vec::new();
    let mut events_file = config.events_file.as_ref().map(|path| {
        // Appended to: a resumed run keeps the events of its earlier processes.
        let out = match open_private(path, Open::Append) {
            Ok(f) => Some(JsonLines::new(BufWriter::new(f))),
            Err(e) => {
                problems.push(format!("cannot write {}: {e}", path.display()));
                None
            }
        };
        ReportFile {
            path: path.clone(),
            out,
        }
    });
    // The output has a thread of its own: a terminal nobody reads (an SSH session
    // whose connection died, Ctrl-S) blocks every write until it is read, and
    // `events.jsonl` must not wait for it.
    let (batches, to_show) = mpsc::channel::<Vec<Event>>();
    let output = std::thread::Builder::new()
        .name("planrun-output".into())
        .spawn(move || show(to_show, config))
        .expect("a thread can be started");
    while let Ok(first) = rx.recv() {
        // Let events gather for a moment, then take them all and flush once: one
        // wake-up of this thread per batch instead of one per event keeps it off the
        // CPU the tasks need (it matters with thousands of short tasks).
        // The run wakes it early once it has said everything ([`finish`]).
        if !matches!(first.kind, EventKind::RunFinished { .. }) {
            std::thread::park_timeout(BATCH);
        }
        let batch: Vec<Event> = std::iter::once(first).chain(rx.try_iter()).collect();
        if let Some(f) = &mut events_file {
            for event in &batch {
                f.attempt(&mut problems, |out| out.write(event));
            }
            f.attempt(&mut problems, JsonLines::flush);
        }
        // The output thread ends only when this one lets it (below).
        let _ = batches.send(batch);
    }
    drop(batches);
    let _ = output.join();
    problems
}

/// The output for people or programs (terminal or JSON Lines on stdout), batch by
/// batch, and the summary at the end. A closed stdout (a pipe whose reader went
/// away, a terminal hung up) must not stop the run or the report: output errors lose
/// that output and nothing else.
fn show(batches: Receiver<Vec<Event>>, config: ReporterConfig) {
    let mut record = RunRecord::new(&config.tasks);
    let tty = io::stdout().is_terminal();
    let mut human = None;
    let mut json = None;
    match config.format {
        OutputFormat::Human => {
            human = Some(if config.live.unwrap_or(tty) {
                Terminal::live(Paint {
                    enabled: color_enabled(tty),
                })
            } else {
                Terminal::plain(Box::new(BufWriter::new(io::stdout())))
            });
        }
        OutputFormat::Json => json = Some(JsonLines::new(BufWriter::new(io::stdout()))),
    }
    loop {
        let batch = match batches.recv_timeout(TICK) {
            Ok(batch) => batch,
            Err(RecvTimeoutError::Timeout) => {
                // Plain output prints a waiting progress detail once its turn came;
                // the time left counts down.
                let now = jiff::Timestamp::now();
                if let Some(t) = &mut human {
                    let _ = t
                        .tick(now)
                        .and_then(|()| t.show_estimate(now))
                        .and_then(|()| t.flush());
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        for event in batch {
            if let Some(j) = &mut json {
                let _ = j.write(&event);
            }
            // People see text from outside (task output, cluster messages, plan
            // names) with its control characters escaped.
            let event = for_people(event);
            record.apply(&event);
            if let Some(t) = &mut human {
                let _ = t.event(&event);
            }
            if matches!(event.kind, EventKind::RunFinished { .. })
                && let Some(t) = &mut human
            {
                let text = format!("\n{}", summary::render(&record, t.paint()));
                let _ = t.print_block(&text);
            }
        }
        let _ = match (&mut human, &mut json) {
            (Some(t), _) => t
                .show_estimate(jiff::Timestamp::now())
                .and_then(|()| t.flush()),
            (_, Some(j)) => j.flush(),
            _ => Ok(()),
        };
    }
    let _ = io::stdout().flush();
}

/// `event` with every text in it escaped for a terminal (see
/// [`planrun_text::escape_controls`]): whatever a task printed or the cluster said.
fn for_people(event: Event) -> Event {
    fn escape(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                if let std::borrow::Cow::Owned(escaped) = planrun_text::escape_controls(s) {
                    *s = escaped;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(escape),
            serde_json::Value::Object(map) => map.values_mut().for_each(escape),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&event) else {
        return event;
    };
    let before = value.clone();
    escape(&mut value);
    if value == before {
        return event;
    }
    serde_json::from_value(value).unwrap_or(event)
}
