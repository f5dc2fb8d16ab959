//! planrun's own words on the terminal, outside the reporters: notices and
//! diagnostics to stderr, command output to stdout. Writing never panics and never
//! fails a run: a closed or broken stderr (`2>&-`, a pipe whose reader left) loses
//! the message and nothing else. Text from outside planrun in them (plan names,
//! variables, messages from the cluster) has its control characters escaped first.

use std::io::{self, Write};

use planrun_text::{escape_controls, escape_controls_keep_colours};

/// One line to stderr, best effort.
pub fn say(line: &str) {
    let line = escape_controls(line);
    let _ = writeln!(io::stderr().lock(), "{line}");
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
