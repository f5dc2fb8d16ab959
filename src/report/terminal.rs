//! The human reporter. On a terminal: a spinner with the elapsed time for each running
//! task, and one line per finished task with its outcome and duration. Elsewhere
//! (a pipe, a CI log): plain timestamped lines, no escape codes.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use planrun_text::format_duration;

use super::style::Paint;
use crate::events::{Event, EventKind, SkipReason};
use crate::vocabulary::TaskStatus;

/// Lines of a failure's output shown on the terminal (the report keeps more).
const EXCERPT_SHOWN: usize = 10;

/// Writes events for people.
pub struct Terminal {
    screen: Screen,
    paint: Paint,
}

enum Screen {
    Live {
        multi: MultiProgress,
        bars: HashMap<String, ProgressBar>,
        style: ProgressStyle,
    },
    Plain {
        out: Box<dyn Write + Send>,
        tz: jiff::tz::TimeZone,
    },
}

impl Terminal {
    /// Live progress on stderr-free stdout when it is a terminal.
    pub fn live(paint: Paint) -> Self {
        let style = ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}")
            .expect("the template is valid")
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
        Self {
            screen: Screen::Live {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                bars: HashMap::new(),
                style,
            },
            paint,
        }
    }

    /// Plain timestamped lines to `out`, never coloured.
    pub fn plain(out: Box<dyn Write + Send>) -> Self {
        Self {
            screen: Screen::Plain {
                out,
                tz: jiff::tz::TimeZone::system(),
            },
            paint: Paint { enabled: false },
        }
    }

    pub fn paint(&self) -> Paint {
        self.paint
    }

    pub fn event(&mut self, event: &Event) -> io::Result<()> {
        let p = self.paint;
        let line = match &event.kind {
            EventKind::RunStarted {
                plan,
                tasks,
                jobs,
                dry_run,
                run_dir,
                ..
            } => {
                let mut line = format!(
                    "{}plan {plan}: {tasks} task{}, up to {jobs} at once",
                    if *dry_run { "dry run of " } else { "" },
                    if *tasks == 1 { "" } else { "s" },
                );
                if let Some(dir) = run_dir {
                    line.push_str(&format!(", logs in {dir}"));
                }
                Some(line)
            }
            EventKind::TaskStarted { task, attempt } => {
                if let Screen::Live {
                    multi, bars, style, ..
                } = &mut self.screen
                {
                    let bar = multi.add(ProgressBar::new_spinner().with_style(style.clone()));
                    bar.set_message(if *attempt > 1 {
                        format!("{task} (attempt {attempt})")
                    } else {
                        task.clone()
                    });
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bars.insert(task.clone(), bar);
                    None
                } else if *attempt > 1 {
                    Some(format!("started {task} (attempt {attempt})"))
                } else {
                    Some(format!("started {task}"))
                }
            }
            EventKind::TaskOutput { .. } => None,
            EventKind::TaskLogFailed { task, path, error } => Some(format!(
                "{} {task}: cannot write its log {path} ({error}); its output goes on in the events only",
                p.yellow("warning")
            )),
            EventKind::TaskRetrying {
                task,
                attempt,
                delay_ms,
                error,
            } => {
                self.clear_bar(task);
                Some(format!(
                    "{} {task}: attempt {attempt} failed ({error}), retrying in {}",
                    p.yellow("retry"),
                    format_duration(Duration::from_millis(*delay_ms))
                ))
            }
            EventKind::TaskSucceeded {
                task,
                duration_ms,
                summary,
                ..
            } => {
                self.clear_bar(task);
                let mut line = format!(
                    "{} {task} {}",
                    p.green(TaskStatus::Succeeded.line_word()),
                    p.dim(&format_duration(Duration::from_millis(*duration_ms)))
                );
                if let Some(s) = summary.as_ref().filter(|s| s.starts_with("would ")) {
                    line.push_str(&format!(": {s}"));
                }
                Some(line)
            }
            EventKind::TaskFailed {
                task,
                duration_ms,
                error,
                allowed,
                excerpt,
                ..
            } => {
                self.clear_bar(task);
                let word = if *allowed {
                    p.yellow(TaskStatus::FailedAllowed.line_word())
                } else {
                    p.red(TaskStatus::Failed.line_word())
                };
                let mut line = format!(
                    "{word} {task} {}: {error}",
                    p.dim(&format_duration(Duration::from_millis(*duration_ms)))
                );
                let shown = &excerpt[excerpt.len().saturating_sub(EXCERPT_SHOWN)..];
                for l in shown {
                    line.push_str(&format!("\n    {}", p.dim("|")));
                    line.push(' ');
                    line.push_str(l);
                }
                Some(line)
            }
            EventKind::TaskSkipped { task, reason } => match reason {
                SkipReason::DoneEarlier => Some(format!(
                    "{} {task} (earlier run)",
                    TaskStatus::DoneEarlier.line_word()
                )),
                SkipReason::DependencyFailed { dependency } => Some(format!(
                    "{} {task}: {dependency} did not succeed",
                    p.yellow(TaskStatus::Skipped.line_word())
                )),
                SkipReason::RunFailed => Some(format!(
                    "{} {task}: the run failed first",
                    p.yellow(TaskStatus::Skipped.line_word())
                )),
            },
            EventKind::TaskCancelled {
                task,
                duration_ms,
                reason,
                ..
            } => {
                self.clear_bar(task);
                Some(format!(
                    "{} {task} {}: {reason}",
                    p.red(TaskStatus::Cancelled.line_word()),
                    p.dim(&format_duration(Duration::from_millis(*duration_ms)))
                ))
            }
            EventKind::RunFinished { .. } => {
                if let Screen::Live { bars, .. } = &mut self.screen {
                    for (_, bar) in bars.drain() {
                        bar.finish_and_clear();
                    }
                }
                None
            }
        };
        match line {
            Some(line) => self.println(event, &line),
            None => Ok(()),
        }
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

    fn println(&mut self, event: &Event, line: &str) -> io::Result<()> {
        match &mut self.screen {
            Screen::Live { multi, .. } => multi.println(line),
            Screen::Plain { out, tz } => {
                let ts = event.ts.to_zoned(tz.clone()).strftime("%H:%M:%S%.3f");
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
