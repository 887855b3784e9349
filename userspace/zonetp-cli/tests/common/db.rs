//! A configuration file of the test's own, passed to zonetp with --db.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::common::{zonetp, zonetp_err, zonetp_ok, zonetp_usage, Run};

pub struct Db(pub PathBuf);

impl Db {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("zonetp-host-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Db(dir.join("conf.json"))
    }
    /// A fresh file holding the `system` datapath record (`add-dp
    /// system`), where most tests start.
    pub fn with_system(name: &str) -> Self {
        let db = Db::new(name);
        db.ok(&["add-dp", "system"]);
        db
    }
    pub fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["--db", self.0.to_str().unwrap()];
        v.extend_from_slice(args);
        v
    }
    pub fn run(&self, args: &[&str]) -> Run {
        zonetp(&self.args(args))
    }
    pub fn ok(&self, args: &[&str]) -> String {
        zonetp_ok(&self.args(args))
    }
    pub fn err(&self, args: &[&str]) -> String {
        zonetp_err(&self.args(args))
    }
    pub fn usage(&self, args: &[&str]) -> String {
        zonetp_usage(&self.args(args))
    }
    pub fn json(&self, args: &[&str]) -> Value {
        let mut v = vec!["--format", "json"];
        v.extend_from_slice(args);
        serde_json::from_str(&self.ok(&v)).unwrap_or_else(|e| panic!("zonetp {args:?}: not JSON: {e}"))
    }
    /// The directory holding the file (lock and temporary files go there).
    pub fn dir(&self) -> PathBuf {
        self.0.parent().unwrap().to_owned()
    }
    /// The file as it is now ("" when it does not exist).
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }
    /// A writer killed mid-run: a shell that keeps running `zonetp --db
    /// FILE --may-exist add-zone-tp system zone=$((i % 500)) KEYS` (`$i`
    /// counts its commands; `keys` may use it) runs for `run_for`, then its
    /// process group gets SIGKILL: the shell and whatever zonetp it is
    /// running, mid-write or not. The error is killpg(2)'s.
    pub fn kill_writer_after(&self, keys: &str, run_for: Duration) -> nix::Result<()> {
        let script = format!(
            "i=0; while true; do i=$((i+1)); {z} --db {db} --may-exist add-zone-tp system zone=$((i % 500)) {keys}; done",
            z = env!("CARGO_BIN_EXE_zonetp"),
            db = self.0.display()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        std::thread::sleep(run_for);
        // Not killed, the shell would never end: if the group could not be
        // killed, kill the shell alone, so that the wait cannot hang and no
        // zombie is left.
        let killed = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        if killed.is_err() {
            let _ = child.kill();
        }
        let _ = child.wait();
        killed
    }
    /// `sync` with a JSON report.
    pub fn sync(&self) -> Value {
        serde_json::from_str(&self.ok(&["--format", "json", "sync"])).unwrap()
    }
}
