//! A Git repository served over HTTP as a Git host serves one to Flux's
//! source-controller: git's own smart-HTTP server, `git http-backend` (a CGI program,
//! git's `http-backend.c`), behind a minimal HTTP/1.1 front on 127.0.0.1, one request
//! per connection. source-controller clones with go-git's smart-HTTP client
//! (`GET /info/refs?service=git-upload-pack`, then `POST /git-upload-pack`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::LocalServer;

/// The repository's name under the server's root.
const REPO: &str = "repo.git";

/// One bare repository, its branch `main` one commit of given files, served until
/// dropped.
pub struct GitServer {
    server: LocalServer,
    head: String,
}

impl GitServer {
    /// Commits `files` (path, text) on `main` in `dir/work`, makes the bare
    /// `dir/git/repo.git` of it and serves that.
    pub fn serve(dir: &Path, files: &[(&str, &str)]) -> GitServer {
        let work = dir.join("work");
        for (path, text) in files {
            let file = work.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        git(&work, &["init", "--quiet", "--initial-branch=main"]);
        git(&work, &["add", "--all"]);
        git(&work, &["commit", "--quiet", "--message=oceanid manifests"]);
        let head = git(&work, &["rev-parse", "HEAD"]).trim().to_owned();
        let root = dir.join("git");
        std::fs::create_dir_all(&root).unwrap();
        git(
            &root,
            &[
                "clone",
                "--quiet",
                "--bare",
                work.to_str().unwrap(),
                root.join(REPO).to_str().unwrap(),
            ],
        );
        let server = LocalServer::start(move |conn| {
            let root = root.clone();
            std::thread::spawn(move || {
                if let Err(e) = serve_one(conn, &root) {
                    eprintln!("git server: {e}");
                }
            });
        });
        GitServer { server, head }
    }

    /// The repository's URL.
    pub fn url(&self) -> String {
        format!("http://{}/{REPO}", self.server.addr())
    }

    /// The commit `main` points at.
    pub fn head(&self) -> &str {
        &self.head
    }
}

/// `git ARGS` in `dir` with a fixed identity, no user or system configuration; its
/// stdout. Fails the test when git fails.
fn git(dir: &Path, args: &[&str]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "planrun test")
        .env("GIT_AUTHOR_EMAIL", "test@planrun.invalid")
        .env("GIT_COMMITTER_NAME", "planrun test")
        .env("GIT_COMMITTER_EMAIL", "test@planrun.invalid")
        .output()
        .expect("git is needed to serve a repository");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One request, answered by `git http-backend` as a web server runs a CGI program
/// (RFC 3875: the request's method, path and query, its body on stdin; the program's
/// `Status:` and other header lines, a blank line and the body on stdout).
fn serve_one(mut conn: TcpStream, root: &Path) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    if header("Transfer-Encoding").is_some() {
        // go-git sends its requests with a length; nothing else is needed here.
        return answer(&mut conn, "411 Length Required", &[], b"");
    }
    let length: usize = header("Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = request[head_end..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", length.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, var) in [
        ("Content-Type", "CONTENT_TYPE"),
        ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
        ("Git-Protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(value) = header(name) {
            cgi.env(var, value);
        }
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out)?;
    child.wait()?;
    let _ = writer.join();
    let (cgi_head, cgi_body) = split_cgi(&out);
    let mut status = "200 OK".to_owned();
    let mut headers = Vec::new();
    for line in cgi_head.lines() {
        match line.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("Status") => status = v.trim().to_owned(),
            Some((k, v)) => headers.push((k.trim().to_owned(), v.trim().to_owned())),
            None => {}
        }
    }
    answer(&mut conn, &status, &headers, cgi_body)
}

/// A CGI program's output: its header block and its body (the header block ends at the
/// first blank line, `\r\n` or `\n`).
fn split_cgi(out: &[u8]) -> (String, &[u8]) {
    for (sep, len) in [(&b"\r\n\r\n"[..], 4), (&b"\n\n"[..], 2)] {
        if let Some(at) = out.windows(len).position(|w| w == sep) {
            return (
                String::from_utf8_lossy(&out[..at]).into_owned(),
                &out[at + len..],
            );
        }
    }
    (String::from_utf8_lossy(out).into_owned(), &[])
}

fn answer(
    conn: &mut TcpStream,
    status: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)
}

/// The server answers the real git client: a clone of it holds the files committed.
#[test]
fn git_clones_what_the_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = GitServer::serve(dir.path(), &[("clusters/oceanid/a.yaml", "a: 1\n")]);
    let clone: PathBuf = dir.path().join("clone");
    git(
        dir.path(),
        &["clone", "--quiet", &server.url(), clone.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read_to_string(clone.join("clusters/oceanid/a.yaml")).unwrap(),
        "a: 1\n"
    );
    assert_eq!(git(&clone, &["rev-parse", "HEAD"]).trim(), server.head());
}
