//! Progress of long syncs: shown on stderr only when it is a terminal and
//! only once the work has taken more than a second, so scripts, logs and
//! quick runs see nothing.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How long a sync runs before progress shows. `ZONETP_PROGRESS_AFTER_MS`
/// changes it (the host tests use 0 to see the terminal output).
fn delay() -> Duration {
    std::env::var("ZONETP_PROGRESS_AFTER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(1))
}

pub struct Progress<W: Write> {
    out: W,
    enabled: bool,
    label: String,
    start: Instant,
    after: Duration,
    shown: bool,
}

impl Progress<std::io::Stderr> {
    /// Progress on stderr, if stderr is a terminal.
    pub fn stderr(label: String) -> Self {
        let err = std::io::stderr();
        let enabled = err.is_terminal();
        Progress::new(err, enabled, label, delay())
    }
}

impl<W: Write> Progress<W> {
    pub fn new(out: W, enabled: bool, label: String, after: Duration) -> Self {
        Self { out, enabled, label, start: Instant::now(), after, shown: false }
    }

    /// Starts timing anew (each pass of `sync --watch`).
    pub fn restart(&mut self) {
        self.start = Instant::now();
    }

    pub fn update(&mut self, done: usize, total: usize) {
        if !self.enabled || self.start.elapsed() < self.after {
            return;
        }
        // Progress is a courtesy: a write that fails changes nothing.
        let _ = write!(self.out, "\r\x1b[K{}: {done}/{total} requests answered", self.label);
        let _ = self.out.flush();
        self.shown = true;
    }

    /// Clears the progress line, if one was shown.
    pub fn finish(&mut self) {
        if std::mem::take(&mut self.shown) {
            let _ = write!(self.out, "\r\x1b[K");
            let _ = self.out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_when_not_a_terminal_or_quick() {
        let mut p = Progress::new(Vec::new(), false, "sync".into(), Duration::ZERO);
        p.update(1, 2);
        p.finish();
        assert!(p.out.is_empty());
        let mut p = Progress::new(Vec::new(), true, "sync".into(), Duration::from_secs(3600));
        p.update(1, 2);
        p.finish();
        assert!(p.out.is_empty());
    }

    #[test]
    fn a_line_rewritten_in_place_then_cleared() {
        let mut p = Progress::new(Vec::new(), true, "zonetp: sync system".into(), Duration::ZERO);
        p.update(64, 128);
        p.update(128, 128);
        p.finish();
        let text = String::from_utf8(p.out).unwrap();
        assert_eq!(
            text,
            "\r\x1b[Kzonetp: sync system: 64/128 requests answered\
             \r\x1b[Kzonetp: sync system: 128/128 requests answered\r\x1b[K"
        );
    }
}
