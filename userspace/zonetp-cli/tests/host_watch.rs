//! Host tests of `zonetp sync --watch`: signals (SIGHUP syncs now, SIGUSR1
//! is ignored, SIGTERM stops it well before the pass would end even in the middle of a
//! pass over 24,576 objects) and one JSON report per line.

mod common;
#[path = "common/db.rs"]
mod db;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use db::Db;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

fn lines_of(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// A running watcher with its output read line by line.
struct Watcher {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Watcher {
    fn start(db: &Db, extra: &[&str]) -> Self {
        Self::start_with_stdout(db, extra, Stdio::piped())
    }

    /// With standard output `out` (`stdout` then yields nothing unless
    /// `out` is a pipe).
    fn start_with_stdout(db: &Db, extra: &[&str], out: Stdio) -> Self {
        let mut args = db.args(&["sync", "--watch"]);
        args.extend_from_slice(extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_zonetp"))
            .args(args)
            .stdout(out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = match child.stdout.take() {
            Some(o) => lines_of(o),
            None => mpsc::channel().1,
        };
        let stderr = lines_of(child.stderr.take().unwrap());
        Watcher { child, stdout, stderr }
    }

    fn line(rx: &mpsc::Receiver<String>, what: &str) -> String {
        rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("no {what} line"))
    }

    fn stderr_with(&self, text: &str) -> String {
        loop {
            let l = Self::line(&self.stderr, "stderr");
            if l.contains(text) {
                return l;
            }
        }
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then the time until it exited and whether it exited 0.
    fn stop(&mut self) -> (Duration, bool) {
        let t = Instant::now();
        self.signal(Signal::SIGTERM);
        let status = self.child.wait().unwrap();
        (t.elapsed(), status.success())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn object_count() -> usize {
    list_json().as_array().unwrap().len()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_syncs_now_and_sigusr1_is_ignored() {
    in_netns(|| {
        let db = Db::with_system("signals");
        db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1"]);
        let mut w = Watcher::start(&db, &["--interval", "3600"]);
        wait_until("the first pass", || object_count() == 6);
        // Behind zonetp's back; the file does not change and the next
        // periodic pass is an hour away: only SIGHUP brings it back.
        tool_ok("nfct", &["delete", "timeout", "ovs_tp_1_tcp4"]);
        w.signal(Signal::SIGHUP);
        wait_until("the SIGHUP pass", || object_count() == 6);
        assert!(w.running(), "SIGHUP does not kill the watcher");
        w.signal(Signal::SIGUSR1);
        let l = w.stderr_with("SIGUSR1");
        assert!(l.contains("ignored"), "{l}");
        assert!(w.running(), "SIGUSR1 does not kill the watcher");
        let (_, ok) = w.stop();
        assert!(ok, "clean exit on SIGTERM");
        w.stderr_with("stopped");
    });
}

#[test]
fn json_watch_prints_one_document_per_line() {
    in_netns(|| {
        let db = Db::with_system("json");
        db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1"]);
        let mut w = Watcher::start(&db, &["--interval", "3600", "--format", "json"]);
        let first: Value =
            serde_json::from_str(&Watcher::line(&w.stdout, "report")).expect("a whole document");
        assert_eq!(first["datapath"], "system");
        assert_eq!(first["created"].as_array().unwrap().len(), 6);
        db.ok(&["del-zone-tp", "system", "zone=5"]);
        let second: Value =
            serde_json::from_str(&Watcher::line(&w.stdout, "report")).expect("a whole document");
        assert_eq!(second["deleted"].as_array().unwrap().len(), 6);
        assert!(w.stop().1);
    });
}

/// Issue 21 M1: `sync --watch | head -1`: a closed standard output ends
/// neither the watcher nor its work (it used to exit 0 on its first
/// report, which `Restart=on-failure` does not restart); its reports are
/// dropped quietly and it still stops cleanly on SIGTERM.
#[test]
fn a_watcher_whose_stdout_closes_keeps_working() {
    in_netns(|| {
        let db = Db::with_system("closed-stdout");
        db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1"]);
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut w = Watcher::start_with_stdout(&db, &["--interval", "3600"], Stdio::from(writer));
        wait_until("the first pass", || object_count() == 6);
        // Its report went to the closed pipe once the pass was done.
        std::thread::sleep(Duration::from_millis(500));
        assert!(w.running(), "the watcher outlives its closed stdout");
        db.ok(&["del-zone-tp", "system", "zone=5"]);
        wait_until("the pass after the pipe closed", || object_count() == 0);
        db.ok(&["add-zone-tp", "system", "zone=6", "udp_single=2"]);
        wait_until("another pass", || object_count() == 6);
        let (_, ok) = w.stop();
        assert!(ok, "clean exit on SIGTERM");
        // Quietly: nothing on stderr about the pipe.
        let mut said = Vec::new();
        while !said.last().is_some_and(|l: &String| l.contains("stopped")) {
            said.push(Watcher::line(&w.stderr, "stderr"));
        }
        assert!(!said.iter().any(|l| l.contains("standard output")), "{said:?}");
    });
}

/// The configuration of `n` zones, each with a policy of its own.
fn many_zones(n: u32) -> String {
    let zones: Vec<String> = (1..=n).map(|z| format!("\"{z}\": {{\"timeout_policy\": {z}}}")).collect();
    let policies: Vec<String> = (1..=n)
        .map(|z| format!("\"{z}\": {{\"timeouts\": {{\"udp_single\": {z}, \"tcp_established\": 7}}}}"))
        .collect();
    format!(
        "{{\"schema_version\": 1, \"datapaths\": {{\"system\": {{\"ct_zones\": {{{}}}}}}}, \"timeout_policies\": {{{}}}}}",
        zones.join(", "),
        policies.join(", ")
    )
}

#[test]
fn sigterm_stops_a_pass_over_24576_objects_before_the_pass_could_finish() {
    in_netns(|| {
        let db = Db::new("large");
        std::fs::write(&db.0, many_zones(4096)).unwrap();
        let out = db.ok(&["sync", "--dry-run"]);
        assert!(
            out.ends_with("create 24576, replace 0, delete 0, failed 0\n"),
            "{}",
            out.lines().last().unwrap()
        );
        let mut w = Watcher::start(&db, &["--interval", "3600"]);
        // The first pass (dump, plan, 24,576 creates) is under way.
        std::thread::sleep(Duration::from_millis(500));
        let (took, ok) = w.stop();
        assert!(ok, "clean exit on SIGTERM");
        eprintln!("[measure] SIGTERM during a 24,576-object pass -> exit: {took:?}");
        // The pass alone takes several seconds (3.4 s unloaded, ~10 s on a
        // busy machine); 3 s leaves room for a loaded shared machine (1.47 s
        // was seen at load 27 on 2 cores). What proves the stop did not
        // wait for the pass is the kernel: it holds only part of it.
        assert!(took < Duration::from_secs(3), "stopping took {took:?}");
        w.stderr_with("stopped during a pass");
        let made = object_count();
        eprintln!("[measure] objects the cut-short pass made: {made} of 24576");
        assert!(made < 24576, "the pass ran to its end before the stop");
    });
}
