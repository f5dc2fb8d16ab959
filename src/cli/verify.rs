//! Before a resume takes tasks as done: check, read-only and bounded in time, that
//! what each achieved still holds (`exec::postcondition`), and decide the resume
//! again with what was found (`journal::Prepared::with_checks`). `--no-verify`
//! skips it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::events::EventSender;
use crate::exec::{self, Attempt, KubeSlot, Postcondition, RunResources};
use crate::journal::Prepared;
use crate::validate::TaskIdx;

/// Checks the postconditions of the tasks `prepared` would take as done and
/// returns it decided again; said on stderr as it goes (the listing follows).
pub(super) async fn check_postconditions(prepared: Prepared, kube: &KubeSlot) -> Prepared {
    let plan = &prepared.plan;
    let tasks = prepared.to_verify(|i| exec::has_check(plan.task(i)));
    let Some(run_dir) = prepared.resumed_run_dir().filter(|_| !tasks.is_empty()) else {
        return prepared;
    };
    let ids: Vec<&str> = tasks.iter().map(|&i| plan.task(i).id.as_str()).collect();
    crate::console::say(&format!(
        "planrun: checking that what these tasks achieved still holds (--no-verify skips this): {}",
        ids.join(", ")
    ));
    // Read-only: assertions judge the live state at once, as in a dry run; their
    // output goes nowhere (the listing says what matters).
    let (events, _nobody) = EventSender::channel();
    let mut resources = RunResources::new(run_dir.path().to_path_buf(), events);
    resources.redactor = plan.redactor().clone();
    resources.dry_run = true;
    resources.kube = kube.clone();
    resources.child_env = vec![
        (
            "PLANRUN_RUN_DIR".to_owned(),
            run_dir.path().display().to_string(),
        ),
        ("PLANRUN_RUN_ID".to_owned(), run_dir.run_id().to_owned()),
        ("PLANRUN_PLAN".to_owned(), plan.header().name.clone()),
    ];
    let resources = Arc::new(resources);
    let checks = tasks.iter().map(|&i| {
        let resources = resources.clone();
        async move {
            let task = plan.task(i);
            let attempt = Attempt::new(resources, &task.id, 0, None);
            (i, exec::postcondition(task, &attempt).await)
        }
    });
    let found: Vec<(TaskIdx, Postcondition)> = futures::future::join_all(checks).await;
    let mut lost = BTreeMap::new();
    let mut holds = Vec::new();
    for (i, found) in found {
        match found {
            Postcondition::Holds => holds.push(i),
            Postcondition::Lost(why) => {
                lost.insert(i, plan.redactor().redact(&why).into_owned());
            }
            Postcondition::NotChecked => {}
        }
    }
    prepared.with_checks(&lost, &holds)
}
