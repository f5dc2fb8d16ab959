//! Helpers shared by several test modules: starting a sandbox API server, fast lifecycle
//! scenarios, the Flux CRD seeds, the deadline of every wait, and what
//! `scripts/realcluster` built.

use std::time::{Duration, Instant};

use planrun_sandbox::{Delay, Manifest, RequestRecord, Sandbox, SandboxConfig, Scenario};

/// A deadline for every wait, generous for a busy 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Two Flux CRDs (GitRepository served at v1 and v1beta2, Kustomization at v1).
pub const FLUX_CRDS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: gitrepositories.source.toolkit.fluxcd.io }
spec:
  group: source.toolkit.fluxcd.io
  names: { kind: GitRepository, listKind: GitRepositoryList, plural: gitrepositories, singular: gitrepository, shortNames: [gitrepo] }
  scope: Namespaced
  versions:
  - { name: v1, served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } } }
  - { name: v1beta2, served: true, storage: false, subresources: { status: {} }, schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } } }
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: kustomizations.kustomize.toolkit.fluxcd.io }
spec:
  group: kustomize.toolkit.fluxcd.io
  names: { kind: Kustomization, listKind: KustomizationList, plural: kustomizations, singular: kustomization, shortNames: [ks] }
  scope: Namespaced
  versions:
  - { name: v1, served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } } }
"#;

/// The default scenario with namespace and CRD finalization and deployment readiness all
/// taking `millis`.
pub fn fast(millis: u64) -> Scenario {
    Scenario {
        namespace_finalize_delay: Delay::millis(millis),
        crd_finalize_delay: Delay::millis(millis),
        deployment_ready_delay: Delay::millis(millis),
        ..Scenario::default()
    }
}

/// Starts a sandbox on a free port, seeded with inline manifests.
pub async fn start_sandbox<S: AsRef<str>>(scenario: Scenario, seeds: &[S]) -> Sandbox {
    Sandbox::start(SandboxConfig {
        port: 0,
        seeds: seeds.iter().map(|s| Manifest::inline(s.as_ref())).collect(),
        scenario,
    })
    .await
    .unwrap()
}

/// The requests that hit a path a real API server serves but the sandbox does not
/// (`404 page not found`) or a method it does not allow (405).
pub fn unserved(log: &[RequestRecord]) -> Vec<&RequestRecord> {
    log.iter()
        .filter(|r| (r.status == 404 && r.reason.is_none()) || r.status == 405)
        .collect()
}

/// No request may have been left unserved (see [`unserved`]).
pub fn assert_all_served(sb: &Sandbox) {
    let log = sb.requests();
    let unserved = unserved(&log);
    assert!(unserved.is_empty(), "unserved requests: {unserved:#?}");
}

/// The (manager, operation) pairs of an object's managedFields.
pub fn managers(object: &serde_json::Value) -> Vec<(&str, &str)> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap_or_default(),
                m["operation"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

/// One HTTP/1.1 request over a fresh connection, answered in full: the status code
/// and the body (chunked bodies decoded). For requests no client library would
/// send: oversized, malformed, in odd formats.
pub async fn raw_http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) before reading everything: a write error then is
    // expected, the answer is what counts.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Waits, at most a minute (a loaded machine), for `path` to exist.
pub fn wait_for_file(path: &std::path::Path) {
    let start = std::time::Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "no {}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The directory of the one run under `runs` (`<state>/<plan>/runs`).
pub fn only_run(runs: &std::path::Path) -> std::path::PathBuf {
    let mut all: Vec<std::path::PathBuf> = std::fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(all.len(), 1, "one run in {}: {all:?}", runs.display());
    all.remove(0)
}

/// A server of a test's own on 127.0.0.1: every connection goes to `handle`, on one
/// thread, until this is dropped.
pub struct LocalServer {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalServer {
    pub fn start(mut handle: impl FnMut(std::net::TcpStream) + Send + 'static) -> LocalServer {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        handle(conn);
                    }
                }
            }
        });
        LocalServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A TCP relay to `target` whose open connections can go silent at once, as a VPN
/// that dropped leaves them (nothing more passes either way, and no reset ever
/// comes), while new connections pass: the network came back on a new tunnel.
pub struct Blackhole {
    relay: LocalServer,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::sync::Arc<std::sync::atomic::AtomicBool>>>>,
}

impl Blackhole {
    pub fn start(target: std::net::SocketAddr) -> Blackhole {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, Ordering};
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let relay = LocalServer::start({
            let open = open.clone();
            move |client: std::net::TcpStream| {
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    return;
                };
                let silent = std::sync::Arc::new(AtomicBool::new(false));
                open.lock().unwrap().push(silent.clone());
                let ways = [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ];
                for (mut from, mut to) in ways {
                    let silent = silent.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => {
                                    if !silent.load(Ordering::SeqCst) {
                                        let _ = to.shutdown(std::net::Shutdown::Write);
                                    }
                                    return;
                                }
                                Ok(_) if silent.load(Ordering::SeqCst) => {}
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            }
        });
        Blackhole { relay, open }
    }

    /// `http://` and the relay's address.
    pub fn url(&self) -> String {
        format!("http://{}", self.relay.addr())
    }

    /// Every connection open now goes silent for good.
    pub fn cut(&self) {
        for silent in self.open.lock().unwrap().drain(..) {
            silent.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// A terminal nobody reads, as a dropped SSH connection leaves one until the server
/// notices (hours, by default), or Ctrl-S: a pty whose buffers are full, so that every
/// write to it blocks (from the start, or from [`StuckTerminal::stick`]). Its slave
/// end is for planrun's stdout and stderr.
pub struct StuckTerminal {
    /// Kept open: its end would hang the terminal up.
    _master: std::os::fd::OwnedFd,
    slave: std::os::fd::OwnedFd,
    /// What reads it until [`StuckTerminal::stick`]: the flag that stops it, and it.
    reader: Option<(
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    )>,
}

impl StuckTerminal {
    /// A terminal nobody reads from the start.
    pub fn new() -> Self {
        let mut terminal = Self::read();
        terminal.stick();
        terminal
    }

    /// A terminal read, as a live session's is, until [`StuckTerminal::stick`].
    pub fn read() -> Self {
        use std::io::Read;
        use std::sync::atomic::{AtomicBool, Ordering};
        let pty = nix::pty::openpty(None, None).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let mut master = std::fs::File::from(pty.master.try_clone().unwrap());
        let flags = nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_GETFL).unwrap();
        nix::fcntl::fcntl(
            &master,
            nix::fcntl::FcntlArg::F_SETFL(
                nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK,
            ),
        )
        .unwrap();
        let reader = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut buf = [0u8; 16 * 1024];
                while !stop.load(Ordering::SeqCst) {
                    if !matches!(master.read(&mut buf), Ok(n) if n > 0) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        });
        Self {
            _master: pty.master,
            slave: pty.slave,
            reader: Some((stop, reader)),
        }
    }

    /// Nobody reads it from now on: its buffers are filled (through a description of
    /// its own, non-blocking) until it has taken nothing for a while (the kernel moves
    /// output on to the master's side in the background), and every write to it blocks.
    pub fn stick(&mut self) {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        if let Some((stop, reader)) = self.reader.take() {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            reader.join().unwrap();
        }
        let mut filler = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
            .open(nix::unistd::ttyname(&self.slave).unwrap())
            .unwrap();
        let mut full_since: Option<Instant> = None;
        loop {
            match filler.write(&[b'.'; 1024]) {
                Ok(_) => full_since = None,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if full_since.get_or_insert_with(Instant::now).elapsed()
                        > Duration::from_millis(300)
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("cannot fill the terminal: {e}"),
            }
        }
    }

    /// planrun on this terminal, in `dir`: stdout and stderr here, no stdin.
    pub fn planrun(&self, dir: &std::path::Path, args: &[&str]) -> KilledOnDrop {
        let out = std::fs::File::from(self.slave.try_clone().unwrap());
        let err = out.try_clone().unwrap();
        KilledOnDrop(
            std::process::Command::new(assert_cmd::cargo::cargo_bin("planrun"))
                .current_dir(dir)
                .args(args)
                .env_remove("NO_COLOR")
                .stdin(std::process::Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap(),
        )
    }
}

/// A process the test stops however the test ends.
pub struct KilledOnDrop(pub std::process::Child);

impl KilledOnDrop {
    /// Its exit code, once it has exited (at most a minute from now: a loaded machine).
    pub fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "planrun {} did not exit",
                self.0.id()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits, at most a minute, until it has armed its exit on a stop signal (its
    /// thread `planrun-exit` runs).
    pub fn wait_for_exit_on_stop(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let armed = || {
            std::fs::read_dir(format!("/proc/{}/task", self.0.id()))
                .into_iter()
                .flatten()
                .flatten()
                .any(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.trim() == "planrun-exit")
                })
        };
        while !armed() {
            assert!(
                Instant::now() < deadline,
                "planrun {} never armed its exit",
                self.0.id()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
