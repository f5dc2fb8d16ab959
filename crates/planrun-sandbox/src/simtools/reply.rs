//! A plain answer: wait, print, exit.

use std::io::Write;
use std::time::Duration;

use serde::Deserialize;

/// What a simulated tool does when no richer behaviour applies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Reply {
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
    pub delay_ms: u64,
}

impl Reply {
    /// Waits, prints, and returns the exit code.
    pub fn perform(&self) -> i32 {
        if self.delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(self.delay_ms));
        }
        print_block(&mut std::io::stdout(), &self.stdout);
        print_block(&mut std::io::stderr(), &self.stderr);
        self.exit
    }
}

/// Writes `text`, adding a final newline if it lacks one.
pub fn print_block(out: &mut impl Write, text: &str) {
    if text.is_empty() {
        return;
    }
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}
