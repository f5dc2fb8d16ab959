//! How planrun spawns children, measured against duct: 1000 runs of `true`, at most
//! 2 in flight, each in its own process group with stdout and stderr piped.
//!
//!   cargo bench --bench spawn
//!
//! - `tokio`: `tokio::process` with `process_group(0)` and an async wait;
//! - `guarded`: the same with what planrun adds to every spawn so that no task
//!   outlives it: the leader's start time (the boot clock read around the spawn,
//!   `/proc` only when the readings straddle a tick), the group registered with a
//!   running process guard (a line in its ledger, the release written with the
//!   next one), and the check for leftovers in the group (one `killpg(0)`);
//! - `duct`: `duct::cmd` with a `before_spawn` hook setting the process group, the
//!   blocking `wait` on tokio's blocking pool;
//! - `std`: `std::process` on 2 plain threads (the floor).

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

const TASKS: usize = 1000;
const IN_FLIGHT: usize = 2;
const ROUNDS: usize = 5;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let guard = planrun::exec::process::ProcessGuard::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_planrun")),
        Duration::from_secs(5),
    )
    .expect("the guard starts");
    let groups = planrun::exec::process::GroupRegistry::guarded(guard);
    let mut rows: Vec<(&str, Vec<Duration>)> = vec![
        ("tokio", vec![]),
        ("guarded", vec![]),
        ("duct", vec![]),
        ("std", vec![]),
    ];
    for _ in 0..ROUNDS {
        rows[0].1.push(rt.block_on(tokio_round()));
        rows[1].1.push(rt.block_on(guarded_round(groups.clone())));
        rows[2].1.push(rt.block_on(duct_round()));
        rows[3].1.push(std_round());
    }
    println!("{TASKS} x `true`, {IN_FLIGHT} in flight, median of {ROUNDS}:");
    for (name, mut times) in rows {
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "  {name:<6} {:>7.3} s  {:>6.1} us/spawn",
            median.as_secs_f64(),
            median.as_secs_f64() * 1e6 / TASKS as f64
        );
    }
}

async fn tokio_round() -> Duration {
    let start = Instant::now();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let permit = sem.clone().acquire_owned().await.expect("open");
        set.spawn(async move {
            let mut child = tokio::process::Command::new("true")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .spawn()
                .expect("spawn");
            let status = child.wait().await.expect("wait");
            assert!(status.success());
            drop(permit);
        });
    }
    while set.join_next().await.is_some() {}
    start.elapsed()
}

async fn guarded_round(groups: planrun::exec::process::GroupRegistry) -> Duration {
    let start = Instant::now();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let permit = sem.clone().acquire_owned().await.expect("open");
        let groups = groups.clone();
        set.spawn(async move {
            let before = planrun::procs::boot_ticks();
            let mut child = tokio::process::Command::new("true")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .spawn()
                .expect("spawn");
            let after = planrun::procs::boot_ticks();
            let pgid = i32::try_from(child.id().expect("a pid")).expect("a pid fits");
            let leader_start = planrun::procs::spawned_start(pgid, before, after);
            let registration = groups.register(
                planrun::exec::process::ProcessGroup {
                    task: "t".into(),
                    attempt: 1,
                    pgid,
                    leader_start,
                },
                nix::sys::signal::Signal::SIGTERM,
                Duration::from_secs(5),
            );
            let status = child.wait().await.expect("wait");
            assert!(status.success());
            // The leftover check: the group is empty, one call says so.
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None);
            drop(registration);
            drop(permit);
        });
    }
    while set.join_next().await.is_some() {}
    start.elapsed()
}

async fn duct_round() -> Duration {
    let start = Instant::now();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let permit = sem.clone().acquire_owned().await.expect("open");
        set.spawn(async move {
            let handle = duct::cmd!("true")
                .stdin_null()
                .stdout_capture()
                .stderr_capture()
                .before_spawn(|cmd| {
                    cmd.process_group(0);
                    Ok(())
                })
                .start()
                .expect("spawn");
            tokio::task::spawn_blocking(move || {
                handle.wait().expect("wait");
            })
            .await
            .expect("join");
            drop(permit);
        });
    }
    while set.join_next().await.is_some() {}
    start.elapsed()
}

fn std_round() -> Duration {
    let start = Instant::now();
    let threads: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..TASKS / IN_FLIGHT {
                    let status = std::process::Command::new("true")
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .process_group(0)
                        .status()
                        .expect("spawn");
                    assert!(status.success());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    start.elapsed()
}
