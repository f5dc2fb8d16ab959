//! Announcing the window: a local HTTP server stands in for the webhook and records
//! what it received. The run is announced at its start, its first failure, an
//! interruption and its end (a `notify` task posts too); a webhook that answers
//! 500 gets the message again; one that cannot be reached never fails the run;
//! the URL, a secret, appears in no output and no file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::LocalServer;

/// The secret part of the webhook URL.
const TOKEN: &str = "s3cr3tT0kenXYZ";

/// A webhook that records each POST's path and JSON body; its first answer is 500.
struct Receiver {
    server: LocalServer,
    got: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl Receiver {
    fn start() -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        let mut answered = 0;
        let server = LocalServer::start(move |stream| {
            answered += 1;
            let status = if answered == 1 { 500 } else { 200 };
            if let Some(request) = serve(stream, status) {
                g.lock().unwrap().push(request);
            }
        });
        Self { server, got }
    }

    fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/services/T000/B000/{TOKEN}",
            self.server.addr().port()
        )
    }

    /// The texts received with a 200, in order.
    fn texts(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| body["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// Reads one request, answers `status`; returns the path and body of a POST
/// answered 200.
fn serve(stream: TcpStream, status: u16) -> Option<(String, serde_json::Value)> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    let reason = if status == 200 {
        "OK"
    } else {
        "Internal Server Error"
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
    );
    (status == 200).then(|| (path, serde_json::from_slice(&body).unwrap_or_default()))
}

const PLAN: &str = r#"
[plan]
name = "announce"

[vars]
hook = { env = "PLANRUN_TEST_WEBHOOK", secret = true }

[notify]
url = "{{ hook }}"

[tasks.tell]
type = "notify"
url = "{{ hook }}"
message = "the window opens"

[tasks.work]
type = "exec-script"
script = 'test -e fixed'
needs = ["tell"]

[tasks.hold]
type = "exec-script"
script = 'touch hold.started; while [ ! -e go ]; do sleep 0.05; done'
needs = ["work"]
"#;

fn planrun(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("planrun"));
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("PLANRUN_TEST_WEBHOOK", url)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn the_webhook_hears_start_failure_interruption_and_end_and_the_url_stays_secret() {
    let hook = Receiver::start();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("plan.toml"), PLAN).unwrap();
    let mut said = Vec::new();

    // Run 1: `work` fails.
    let o = planrun(d, &hook.url(), &["plan.toml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    said.push(text(&o));
    // The run's own notifications in order (start, failure, end); the task's
    // message (posted while the start's retry waits) in between.
    let texts = hook.texts();
    assert_eq!(texts.len(), 4, "{texts:#?}");
    assert!(texts.contains(&"the window opens".to_owned()), "{texts:#?}");
    let run: Vec<&String> = texts
        .iter()
        .filter(|t| t.starts_with("planrun: "))
        .collect();
    assert_eq!(run.len(), 3, "{texts:#?}");
    assert!(
        run[0].starts_with("planrun: `announce` starts (run ") && run[0].contains("report: "),
        "{texts:#?}"
    );
    assert!(
        run[1].starts_with("planrun: `announce`: task `work` failed: exit code 1"),
        "{texts:#?}"
    );
    assert!(
        run[2].starts_with("planrun: `announce` failed in "),
        "{texts:#?}"
    );
    assert!(
        run[2].contains("1 succeeded, 1 failed, 1 skipped"),
        "{texts:#?}"
    );
    assert_eq!(texts.last(), Some(run[2]), "the end comes last");
    // The first POST got a 500 and was sent again; every POST went to the URL.
    assert!(
        hook.got
            .lock()
            .unwrap()
            .iter()
            .all(|(path, _)| path.ends_with(TOKEN))
    );

    // Run 2: resumed, then interrupted while `hold` waits.
    std::fs::write(d.join("fixed"), "").unwrap();
    let child = planrun(d, &hook.url(), &["plan.toml", "--resume"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    crate::support::wait_for_file(&d.join("hold.started"));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    said.push(text(&o));
    let texts = hook.texts();
    assert_eq!(texts.len(), 7, "{texts:#?}");
    assert!(
        texts[4].starts_with("planrun: `announce` resumes (run "),
        "{texts:#?}"
    );
    assert!(
        texts[5].starts_with("planrun: `announce` interrupted by SIGINT (Ctrl-C) (run "),
        "{texts:#?}"
    );
    assert!(
        texts[6].starts_with("planrun: `announce` interrupted in "),
        "{texts:#?}"
    );
    assert!(
        said[1].contains("interrupted by SIGINT (Ctrl-C): stopping what runs"),
        "{}",
        said[1]
    );

    // The URL is a secret: no output, journal, report, log or event file has it.
    let mut files = Vec::new();
    files_under(&d.join(".planrun"), &mut files);
    for f in files {
        said.push(String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned());
    }
    for t in &said {
        assert!(!t.contains(TOKEN), "the webhook URL leaked: {t}");
    }
}

#[test]
fn a_webhook_that_cannot_be_reached_never_fails_the_run_unless_required() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hooks/{TOKEN}",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let plan = |required: bool| {
        format!(
            r#"
[plan]
name = "unreachable"
[vars]
hook = {{ env = "PLANRUN_TEST_WEBHOOK", secret = true }}
[notify]
url = "{{{{ hook }}}}"
retries = 0
on = ["end"]
[tasks.tell]
type = "notify"
url = "{{{{ hook }}}}"
message = "hello"
required = {required}
[tasks.after]
type = "exec-script"
command = ["true"]
needs = ["tell"]
"#
        )
    };
    std::fs::write(d.join("plan.toml"), plan(false)).unwrap();
    let o = planrun(d, &url, &["plan.toml"]).output().unwrap();
    let said = text(&o);
    assert_eq!(o.status.code(), Some(0), "{said}");
    assert!(said.contains("tell failed (allowed)"), "{said}");
    assert!(
        said.contains("not delivered after 4 tries: cannot connect"),
        "{said}"
    );
    assert!(said.contains("after succeeded"), "{said}");
    assert!(
        said.contains("planrun: the end notification was not sent (the run goes on)"),
        "{said}"
    );
    assert!(!said.contains(TOKEN), "{said}");

    std::fs::write(d.join("plan.toml"), plan(true)).unwrap();
    let o = planrun(d, &url, &["plan.toml"]).output().unwrap();
    let said = text(&o);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("tell failed"), "{said}");
    assert!(!said.contains(TOKEN), "{said}");
}

#[test]
fn a_webhook_url_that_is_not_secret_is_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("plan.toml"),
        r#"
[plan]
name = "open"
[notify]
url = "https://hooks.example.com/services/T000/B000/XYZ"
[tasks.a]
type = "exec-script"
command = ["true"]
"#,
    )
    .unwrap();
    let o = planrun(tmp.path(), "", &["validate", "plan.toml"])
        .output()
        .unwrap();
    let said = text(&o);
    assert_eq!(o.status.code(), Some(2), "{said}");
    assert!(
        said.contains("[notify]: the webhook URL does not come from a secret variable"),
        "{said}"
    );
}
