//! How long a plan's tasks took in its last runs: `timings.json` beside the plan's
//! runs, one small file per plan. A run reads it once as it starts (no earlier
//! journal is read again) and each planrun process adds the attempts that succeeded
//! in it as its part of the run ends.
//!
//! Per task id, for up to [`DEFINITIONS`] definitions (fingerprints; the latest
//! first, so switching a variable back and forth keeps both), the durations of the
//! last [`SAMPLES`] successful attempts. A task's expected duration is their median:
//! one slow attempt (a slow API server, a node under load) does not move it, and a
//! lasting change wins within three runs; an average would follow every outlier for
//! several runs. A task that never succeeded with its current definition has no
//! expected duration here (its type's typical one stands in).
//!
//! The file is written aside and renamed over the old one, so a reader sees a whole
//! file, but it is not synced: a power loss may lose the last run's durations. A
//! file that cannot be read counts as empty, with a warning: durations only order
//! the work and estimate the time left, they never decide what runs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::history::{RecordedState, RunHistory};
use super::plan_state::PlanState;
use crate::validate::ValidatedPlan;

/// Successful attempts kept per task and definition.
pub const SAMPLES: usize = 5;
/// Definitions (fingerprints) kept per task.
pub const DEFINITIONS: usize = 3;
/// The file's format.
const VERSION: u32 = 1;

/// The durations of a plan's last runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    version: u32,
    /// By task id, the latest definition first.
    tasks: BTreeMap<String, Vec<Definition>>,
}

/// One definition of a task and its last successful durations, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Definition {
    fingerprint: String,
    ms: Vec<u64>,
}

impl Timings {
    /// The plan's timings; none when there is no file yet or it cannot be read.
    pub fn load(plan: &PlanState) -> Self {
        let path = plan.dir().timings_path();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Self::default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the timings of earlier runs");
                return Self::default();
            }
        };
        match serde_json::from_slice::<Timings>(&bytes) {
            Ok(t) if t.version == VERSION => t,
            Ok(t) => {
                tracing::warn!(path = %path.display(), version = t.version, "timings of another format, ignored");
                Self::default()
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable timings of earlier runs, ignored");
                Self::default()
            }
        }
    }

    /// How long the task `id` with definition `fingerprint` is expected to take: the
    /// median of its last successful attempts; `None` when it never succeeded so.
    pub fn expected(&self, id: &str, fingerprint: &str) -> Option<Duration> {
        let def = self
            .tasks
            .get(id)?
            .iter()
            .find(|d| d.fingerprint == fingerprint)?;
        median(&def.ms).map(Duration::from_millis)
    }

    /// Each task's expected duration, in the plan's order.
    pub fn expected_for(&self, plan: &ValidatedPlan) -> Vec<Option<Duration>> {
        plan.tasks()
            .iter()
            .map(|t| self.expected(&t.id, &t.fingerprint))
            .collect()
    }

    /// Takes in the attempts that succeeded in the run's latest process (this one),
    /// and forgets tasks the plan no longer has.
    pub fn learn(&mut self, run: &RunHistory, plan: &ValidatedPlan) {
        let process = run.sessions.len().saturating_sub(1);
        for task in plan.tasks() {
            let Some(history) = run.task(&task.id) else {
                continue;
            };
            for attempt in &history.attempt_log {
                if attempt.process != process || attempt.state != RecordedState::Succeeded {
                    continue;
                }
                let Some(ended) = attempt.ended_at else {
                    continue;
                };
                let took: Duration = ended
                    .duration_since(attempt.started_at)
                    .try_into()
                    .unwrap_or_default();
                self.add(&task.id, &task.fingerprint, took);
            }
        }
        let ids: std::collections::HashSet<&str> =
            plan.tasks().iter().map(|t| t.id.as_str()).collect();
        self.tasks.retain(|id, _| ids.contains(id.as_str()));
        self.version = VERSION;
    }

    fn add(&mut self, id: &str, fingerprint: &str, took: Duration) {
        let defs = self.tasks.entry(id.to_owned()).or_default();
        let mut def = match defs.iter().position(|d| d.fingerprint == fingerprint) {
            Some(i) => defs.remove(i),
            None => Definition {
                fingerprint: fingerprint.to_owned(),
                ms: Vec::new(),
            },
        };
        def.ms
            .push(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
        let extra = def.ms.len().saturating_sub(SAMPLES);
        def.ms.drain(..extra);
        defs.insert(0, def);
        defs.truncate(DEFINITIONS);
    }

    /// Writes the timings for the plan, atomically and privately, not durably (see
    /// [`replace_private_unsynced`](crate::layout::replace_private_unsynced)).
    pub fn save(&self, plan: &PlanState) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::layout::replace_private_unsynced(&plan.dir().timings_path(), &bytes)
    }
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &[u64]) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => {
            let sum = u128::from(sorted[n / 2 - 1]) + u128::from(sorted[n / 2]);
            Some(u64::try_from(sum / 2).unwrap_or(u64::MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn the_median_of_the_last_samples_of_the_same_definition() {
        let mut t = Timings::default();
        assert_eq!(t.expected("a", "f1"), None);
        t.add("a", "f1", ms(100));
        assert_eq!(t.expected("a", "f1"), Some(ms(100)));
        t.add("a", "f1", ms(300));
        assert_eq!(t.expected("a", "f1"), Some(ms(200)));
        // One slow attempt does not move it.
        t.add("a", "f1", ms(5_000));
        assert_eq!(t.expected("a", "f1"), Some(ms(300)));
        // Only the last SAMPLES count: a lasting change wins.
        for _ in 0..3 {
            t.add("a", "f1", ms(1_000));
        }
        assert_eq!(t.expected("a", "f1"), Some(ms(1_000)));
        assert_eq!(t.tasks["a"][0].ms.len(), SAMPLES);
        // Another definition has no duration yet, and keeps the first one's.
        assert_eq!(t.expected("a", "f2"), None);
        t.add("a", "f2", ms(7));
        assert_eq!(t.expected("a", "f2"), Some(ms(7)));
        assert_eq!(t.expected("a", "f1"), Some(ms(1_000)));
        for f in ["f3", "f4"] {
            t.add("a", f, ms(1));
        }
        assert_eq!(
            t.expected("a", "f1"),
            None,
            "at most {DEFINITIONS} definitions"
        );
        assert_eq!(t.expected("a", "f2"), Some(ms(7)));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3]), Some(3));
        assert_eq!(median(&[5, 1, 3]), Some(3));
        assert_eq!(median(&[1, 4]), Some(2));
        assert_eq!(median(&[3, 4]), Some(3));
        assert_eq!(median(&[u64::MAX, u64::MAX]), Some(u64::MAX));
    }

    #[test]
    fn a_missing_or_unreadable_file_is_no_timings() {
        let dir = tempfile::tempdir().unwrap();
        let plan = PlanState::new(dir.path(), "p");
        assert_eq!(Timings::load(&plan), Timings::default());
        std::fs::create_dir_all(plan.dir().path()).unwrap();
        let mut t = Timings::default();
        t.add("a", "f", ms(42));
        t.version = VERSION;
        t.save(&plan).unwrap();
        assert_eq!(Timings::load(&plan), t);
        std::fs::write(plan.dir().timings_path(), "{\"version\":1,").unwrap();
        assert_eq!(Timings::load(&plan), Timings::default());
    }
}
