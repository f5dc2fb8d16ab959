//! The human reporter. On a terminal: a spinner per running task with its elapsed
//! time and what it waits on now (its progress detail), and one line per finished
//! task. Elsewhere (a pipe, a CI log): plain timestamped lines, no escape codes; a
//! task's progress detail is printed when it changes, at most every
//! [`PLAIN_DETAIL_EVERY`] per task (the latest one once that time has passed).
//!
//! Every line about a task that ended names its state in the vocabulary:
//! `<task> <state> <duration>: <what>`.
//!
//! Once the plan's earlier runs tell how long its tasks take, the expected time left
//! ("about 3m left"): on a terminal on a line under the running tasks, counting down
//! between estimates; in plain output when its words change, at most every
//! [`PLAIN_DETAIL_EVERY`].

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::Timestamp;

use planrun_text::{format_duration, format_rough, plural};

use super::style::Paint;
use super::summary::paint_status;
use crate::events::{Event, EventKind, SkipReason};
use crate::vocabulary::TaskStatus;

/// Lines of a failure's output shown on the terminal (the report keeps more).
const EXCERPT_SHOWN: usize = 10;

/// How often plain output may print a task's progress detail.
pub const PLAIN_DETAIL_EVERY: Duration = Duration::from_secs(30);

/// How often the live area is drawn at most, and how often a spinner turns. Each
/// draw rewrites every running task's line: eight waiting tasks cost 17 KB/s of
/// terminal output at indicatif's 20 draws a second, much of a weak link over SSH and
/// a VPN, and 4.6 KB/s at 4 (measured on a pty); the elapsed times still tick every
/// second.
const REDRAWS_PER_SECOND: u8 = 4;
const SPINNER_TICK: Duration = Duration::from_millis(250);

/// Writes events for people.
pub struct Terminal {
    screen: Screen,
    paint: Paint,
    /// The latest estimate of the time left.
    estimate: Option<Estimate>,
}

enum Screen {
    Live {
        multi: MultiProgress,
        bars: HashMap<String, ProgressBar>,
        style: ProgressStyle,
        /// The line with the time left, under the running tasks.
        footer: Option<ProgressBar>,
    },
    Plain {
        out: Box<dyn Write + Send>,
        tz: jiff::tz::TimeZone,
        details: HashMap<String, PlainDetail>,
        /// The time left as last printed, and when.
        estimate_printed: Option<(Timestamp, String)>,
    },
}

/// An estimate of the time left, counted down from when it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Estimate {
    at: Timestamp,
    left: Duration,
    overrun: bool,
    guessed: usize,
}

impl Estimate {
    /// The time left at `now`, in words: "about 3m left", "at least 3m left" (a task
    /// runs longer than expected), "taking longer than expected" once counted down;
    /// with the tasks whose duration is a guess.
    fn text(&self, now: Timestamp) -> String {
        let left = self.left.saturating_sub(elapsed(self.at, now));
        let mut text = if left.is_zero() {
            "taking longer than expected".to_owned()
        } else if self.overrun {
            format!("at least {} left", format_rough(left))
        } else {
            format!("about {} left", format_rough(left))
        };
        if self.guessed > 0 {
            text.push_str(&format!(
                " ({} not timed yet)",
                plural(self.guessed, "task", "tasks")
            ));
        }
        text
    }
}

/// A task's progress detail in plain output: what was printed last and when, and
/// the newer one waiting for its turn.
#[derive(Debug, Default)]
struct PlainDetail {
    printed: Option<(Timestamp, String)>,
    waiting: Option<String>,
}

impl Terminal {
    /// Live progress on stderr-free stdout when it is a terminal.
    pub fn live(paint: Paint) -> Self {
        let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed:.dim} {wide_msg}")
            .expect("the template is valid")
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
        Self {
            screen: Screen::Live {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(
                    REDRAWS_PER_SECOND,
                )),
                bars: HashMap::new(),
                style,
                footer: None,
            },
            paint,
            estimate: None,
        }
    }

    /// Plain timestamped lines to `out`, never coloured.
    pub fn plain(out: Box<dyn Write + Send>) -> Self {
        Self {
            screen: Screen::Plain {
                out,
                tz: jiff::tz::TimeZone::system(),
                details: HashMap::new(),
                estimate_printed: None,
            },
            paint: Paint { enabled: false },
            estimate: None,
        }
    }

    pub fn paint(&self) -> Paint {
        self.paint
    }

    pub fn event(&mut self, event: &Event) -> io::Result<()> {
        let p = self.paint;
        let state = |status: TaskStatus| paint_status(p, status, status.display());
        let took = |ms: u64| p.dim(&format_duration(Duration::from_millis(ms)));
        let line = match &event.kind {
            EventKind::RunStarted(info) | EventKind::RunResumed(info) => {
                let resumed = matches!(event.kind, EventKind::RunResumed(_));
                let what = if info.dry_run {
                    "dry run of ".to_owned()
                } else if resumed {
                    format!("resuming run {} of ", info.run_id)
                } else {
                    String::new()
                };
                let mut line = format!(
                    "{what}plan {}: {} task{}, up to {} at once",
                    info.plan,
                    info.tasks,
                    if info.tasks == 1 { "" } else { "s" },
                    info.jobs,
                );
                if let Some(dir) = &info.run_dir {
                    line.push_str(&format!(", logs in {dir}"));
                }
                Some(line)
            }
            EventKind::TaskStarted { task, attempt, .. } => {
                let attempt_note = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                match &mut self.screen {
                    Screen::Live {
                        multi,
                        bars,
                        style,
                        footer,
                    } => {
                        let bar = ProgressBar::new_spinner().with_style(style.clone());
                        let bar = match footer {
                            Some(footer) => multi.insert_before(footer, bar),
                            None => multi.add(bar),
                        };
                        bar.set_prefix(format!("{task}{attempt_note}"));
                        bar.enable_steady_tick(SPINNER_TICK);
                        bars.insert(task.clone(), bar);
                        None
                    }
                    Screen::Plain { details, .. } => {
                        details.remove(task);
                        Some(format!("{task} started{attempt_note}"))
                    }
                }
            }
            EventKind::RunInterrupted { cause } => Some(format!(
                "{} by {}: stopping what runs; `always` tasks run next",
                p.red("interrupted"),
                cause.as_deref().unwrap_or("a stop signal")
            )),
            EventKind::TaskOutput { .. } => None,
            EventKind::TaskLogFailed { task, path, error } => Some(format!(
                "{} {task}: cannot write its log {path} ({error}); its output goes on in the events only",
                p.yellow("warning")
            )),
            EventKind::TaskProgress { task, detail, .. } => {
                self.progress(event.ts, task, detail)?;
                None
            }
            EventKind::TaskRetrying {
                task,
                attempt,
                delay_ms,
                error,
            } => {
                self.clear_bar(task);
                Some(format!(
                    "{task} attempt {attempt} failed ({error}); {} in {}",
                    p.yellow("retrying"),
                    format_duration(Duration::from_millis(*delay_ms))
                ))
            }
            EventKind::TaskSucceeded {
                task,
                state: status,
                duration_ms,
                summary,
                ..
            } => {
                self.clear_bar(task);
                let mut line = format!("{task} {} {}", state(*status), took(*duration_ms));
                if let Some(s) = summary {
                    line.push_str(&format!(": {s}"));
                }
                Some(line)
            }
            EventKind::TaskFailed {
                task,
                state: status,
                duration_ms,
                error,
                excerpt,
                ..
            } => {
                self.clear_bar(task);
                let mut line = format!("{task} {} {}: {error}", state(*status), took(*duration_ms));
                let shown = &excerpt[excerpt.len().saturating_sub(EXCERPT_SHOWN)..];
                for l in shown {
                    line.push_str(&format!("\n    {}", p.dim("|")));
                    line.push(' ');
                    line.push_str(l);
                }
                Some(line)
            }
            EventKind::TaskSkipped {
                task,
                state: status,
                reason,
            } => Some(match reason {
                SkipReason::DoneEarlier => format!("{task} {}", state(*status)),
                SkipReason::DependencyFailed { dependency } => {
                    format!("{task} {}: `{dependency}` did not succeed", state(*status))
                }
                SkipReason::RunFailed => format!("{task} {}: the run failed first", state(*status)),
                SkipReason::NotSelected => {
                    format!("{task} {}: not selected by --rerun", state(*status))
                }
            }),
            EventKind::TaskCancelled {
                task,
                state: status,
                duration_ms,
                reason,
                blocked_by,
                ..
            } => {
                self.clear_bar(task);
                let mut line =
                    format!("{task} {} {}: {reason}", state(*status), took(*duration_ms));
                if let Some(b) = blocked_by {
                    line.push_str(&format!(", waiting for: {b}"));
                }
                Some(line)
            }
            EventKind::RunEstimate {
                left_ms,
                overrun,
                guessed,
            } => {
                self.estimate = Some(Estimate {
                    at: event.ts,
                    left: Duration::from_millis(*left_ms),
                    overrun: *overrun,
                    guessed: *guessed,
                });
                self.show_estimate(event.ts)?;
                None
            }
            EventKind::RunFinished { .. } => {
                self.estimate = None;
                if let Screen::Live { bars, footer, .. } = &mut self.screen {
                    for (_, bar) in bars.drain() {
                        bar.finish_and_clear();
                    }
                    if let Some(footer) = footer.take() {
                        footer.finish_and_clear();
                    }
                }
                None
            }
        };
        if let Some(task) = event.kind.task()
            && event.kind.end_state().is_some()
            && let Screen::Plain { details, .. } = &mut self.screen
        {
            details.remove(task);
        }
        match line {
            Some(line) => self.println(event.ts, &line),
            None => Ok(()),
        }
    }

    /// A task's new progress detail: on its live line, or in plain output when it is
    /// its turn.
    fn progress(&mut self, at: Timestamp, task: &str, detail: &str) -> io::Result<()> {
        match &mut self.screen {
            Screen::Live { bars, .. } => {
                if let Some(bar) = bars.get(task) {
                    bar.set_message(detail.to_owned());
                }
                Ok(())
            }
            Screen::Plain { details, .. } => {
                let d = details.entry(task.to_owned()).or_default();
                let due = match &d.printed {
                    Some((_, text)) if text == detail => {
                        d.waiting = None;
                        return Ok(());
                    }
                    Some((when, _)) => elapsed(*when, at) >= PLAIN_DETAIL_EVERY,
                    None => true,
                };
                if due {
                    d.printed = Some((at, detail.to_owned()));
                    d.waiting = None;
                    self.println(at, &format!("{task}: {detail}"))
                } else {
                    d.waiting = Some(detail.to_owned());
                    Ok(())
                }
            }
        }
    }

    /// Shows the time left as of `now`: on the live footer, or as a plain line when
    /// its words changed and [`PLAIN_DETAIL_EVERY`] has passed since the last one.
    pub fn show_estimate(&mut self, now: Timestamp) -> io::Result<()> {
        let Some(estimate) = self.estimate else {
            return Ok(());
        };
        let text = estimate.text(now);
        match &mut self.screen {
            Screen::Live { multi, footer, .. } => {
                let bar = footer.get_or_insert_with(|| {
                    let style =
                        ProgressStyle::with_template("{msg:.dim}").expect("the template is valid");
                    multi.add(ProgressBar::new_spinner().with_style(style))
                });
                bar.set_message(text);
                Ok(())
            }
            Screen::Plain {
                estimate_printed, ..
            } => {
                let due = match estimate_printed {
                    Some((_, printed)) if *printed == text => false,
                    Some((when, _)) => elapsed(*when, now) >= PLAIN_DETAIL_EVERY,
                    None => true,
                };
                if !due {
                    return Ok(());
                }
                *estimate_printed = Some((now, text.clone()));
                self.println(now, &text)
            }
        }
    }

    /// Prints the plain progress details whose turn has come by `now`.
    pub fn tick(&mut self, now: Timestamp) -> io::Result<()> {
        let Screen::Plain { details, .. } = &mut self.screen else {
            return Ok(());
        };
        let mut due: Vec<(String, String)> = Vec::new();
        for (task, d) in details.iter_mut() {
            let turn = d
                .printed
                .as_ref()
                .is_none_or(|(when, _)| elapsed(*when, now) >= PLAIN_DETAIL_EVERY);
            if turn && let Some(text) = d.waiting.take() {
                d.printed = Some((now, text.clone()));
                due.push((task.clone(), text));
            }
        }
        due.sort();
        for (task, text) in due {
            self.println(now, &format!("{task}: {text}"))?;
        }
        Ok(())
    }

    /// Prints text after the run (the summary), outside the progress area.
    pub fn print_block(&mut self, text: &str) -> io::Result<()> {
        match &mut self.screen {
            Screen::Live { multi, .. } => {
                multi.clear()?;
                let mut out = io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()
            }
            Screen::Plain { out, .. } => {
                out.write_all(text.as_bytes())?;
                out.flush()
            }
        }
    }

    fn clear_bar(&mut self, task: &str) {
        if let Screen::Live { multi, bars, .. } = &mut self.screen
            && let Some(bar) = bars.remove(task)
        {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
    }

    fn println(&mut self, at: Timestamp, line: &str) -> io::Result<()> {
        match &mut self.screen {
            Screen::Live { multi, .. } => multi.println(line),
            Screen::Plain { out, tz, .. } => {
                let ts = at.to_zoned(tz.clone()).strftime("%H:%M:%S%.3f");
                writeln!(out, "{ts} {line}")
            }
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.screen {
            Screen::Live { .. } => Ok(()),
            Screen::Plain { out, .. } => out.flush(),
        }
    }
}

/// Time from `from` to `to` (zero when `to` is earlier).
fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    to.duration_since(from).try_into().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer whose text the test reads.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        /// The lines written, without their time of day.
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|l| l.split_once(' ').unwrap().1.to_owned())
                .collect()
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn progress(secs: i64, detail: &str) -> Event {
        Event {
            v: crate::events::SCHEMA_VERSION,
            ts: at(secs),
            kind: EventKind::TaskProgress {
                task: "wait".into(),
                attempt: 1,
                detail: detail.into(),
            },
        }
    }

    #[test]
    fn plain_output_prints_a_detail_when_it_changes_at_most_every_30s() {
        let out = Buffer::default();
        let mut t = Terminal::plain(Box::new(out.clone()));
        t.event(&progress(0, "2 objects left")).unwrap();
        t.event(&progress(1, "2 objects left")).unwrap();
        t.event(&progress(5, "1 object left")).unwrap();
        t.event(&progress(9, "1 object left, finalizer x")).unwrap();
        t.tick(at(20)).unwrap();
        assert_eq!(out.lines(), ["wait: 2 objects left"]);
        // Its turn came: the latest detail, once.
        t.tick(at(30)).unwrap();
        t.tick(at(31)).unwrap();
        t.event(&progress(40, "1 object left, finalizer x"))
            .unwrap();
        assert_eq!(
            out.lines(),
            ["wait: 2 objects left", "wait: 1 object left, finalizer x"]
        );
        t.event(&progress(
            61,
            "API unreachable, retry 1 in 100ms: connection refused",
        ))
        .unwrap();
        assert_eq!(out.lines().len(), 3, "30 s after the last one: at once");
    }
}
