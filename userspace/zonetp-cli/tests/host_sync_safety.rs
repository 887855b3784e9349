//! Host tests: `zonetp sync` deletes nothing it cannot explain. A missing
//! configuration file, a file without the datapath's record, a datapath
//! with no kernel side and another datapath's policies all leave the
//! kernel's objects alone; deleting everything takes `--delete-all`.

mod common;
#[path = "common/db.rs"]
mod db;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use db::Db;
use serde_json::Value;

/// A configuration with zone 5 on `system`, pushed: six objects of policy 1.
fn pushed(name: &str) -> Db {
    let db = Db::with_system(name);
    db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1", "icmp_first=2"]);
    db.sync();
    assert_eq!(nfct_objects_sorted(), six(1));
    db
}

#[test]
fn a_missing_file_is_not_an_empty_configuration() {
    in_netns(|| {
        let db = pushed("missing");
        // A typo in --db: refused, nothing deleted, nothing created.
        let typo = db.dir().join("c.jsn");
        let before = files_in(&db.dir());
        let e = zonetp_err(&["--db", typo.to_str().unwrap(), "sync"]);
        assert!(e.contains("does not exist") && e.contains("--delete-all"), "{e}");
        assert_eq!(nfct_objects_sorted(), six(1), "every object is still there");
        assert_eq!(files_in(&db.dir()), before, "no c.jsn, no c.jsn.lock");
        let r = zonetp(&["--db", typo.to_str().unwrap(), "sync", "--dry-run"]);
        assert_eq!(r.status, 1, "a dry run is refused the same way: {}", r.stderr);

        // The same through $ZONETP_DB, as sudo or cron may drop it.
        let r = Command::new(env!("CARGO_BIN_EXE_zonetp"))
            .arg("sync")
            .env("ZONETP_DB", db.dir().join("nothing-here.json"))
            .output()
            .unwrap();
        assert_eq!(r.status.code(), Some(1));
        assert_eq!(nfct_objects_sorted(), six(1));

        // A file without the datapath's record is refused too.
        let other = Db::new("missing-other");
        other.ok(&["add-dp", "netdev"]);
        let e = other.err(&["sync"]);
        assert!(e.contains("no record for datapath system"), "{e}");
        assert_eq!(nfct_objects_sorted(), six(1));

        // Deleting everything takes the explicit option, and creates no file.
        let r: Value = serde_json::from_str(&zonetp_ok(&[
            "--db",
            typo.to_str().unwrap(),
            "--format",
            "json",
            "sync",
            "--delete-all",
        ]))
        .unwrap();
        assert_eq!(r["delete_all"], Value::Bool(true));
        assert_eq!(r["deleted"].as_array().unwrap().len(), 6);
        assert!(nfct_objects_sorted().is_empty());
        assert_eq!(files_in(&db.dir()), before);
    });
}

/// `zonetp sync --watch` with its stderr read line by line.
struct Watcher {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Watcher {
    fn start(db: &Db) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zonetp"))
            .args(db.args(&["sync", "--watch", "--interval", "1"]))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Watcher { child, stderr: rx }
    }

    /// Waits for a stderr line containing `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("the watcher never said {text:?}"),
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_watcher_whose_file_vanishes_keeps_the_kernel_and_says_so() {
    in_netns(|| {
        let db = pushed("vanish");
        let w = Watcher::start(&db);
        let saved = std::fs::read(&db.0).unwrap();
        std::fs::remove_file(&db.0).unwrap();
        let line = w.wait_for("does not exist");
        assert!(line.contains("left as it is"), "{line}");
        // Two more passes (--interval 1) change nothing either.
        w.wait_for("does not exist");
        w.wait_for("does not exist");
        assert_eq!(nfct_objects_sorted(), six(1));
        // The file comes back with another zone: the watcher follows again.
        std::fs::write(&db.0, saved).unwrap();
        db.ok(&["add-zone-tp", "system", "zone=6", "udp_single=7"]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while nfct_objects_sorted().len() != 12 {
            assert!(Instant::now() < deadline, "the watcher did not push zone 6");
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}

#[test]
fn two_datapaths_do_not_undo_each_other() {
    in_netns(|| {
        let db = pushed("two-dps");
        db.ok(&["add-dp", "netdev"]);
        db.ok(&["add-zone-tp", "netdev", "zone=7", "udp_single=2"]);
        // The userspace datapath has no kernel side: refused, nothing touched.
        let e = db.err(&["sync", "netdev"]);
        assert!(e.contains("datapath netdev has no kernel objects"), "{e}");
        assert_eq!(nfct_objects_sorted(), six(1));
        let r = db.sync();
        assert_eq!(r["unchanged"], 6);
        assert!(r["created"].as_array().unwrap().is_empty() && r["deleted"].as_array().unwrap().is_empty());

        // Objects of a policy netdev's zones use (pushed by someone else)
        // are explained, so system's sync leaves them alone.
        tool_ok("nfct", &["add", "timeout", "ovs_tp_2_udp4", "inet", "udp", "unreplied", "2"]);
        let r = db.sync();
        assert!(r["deleted"].as_array().unwrap().is_empty(), "{r}");
        assert_eq!(r["kept"], serde_json::json!(["ovs_tp_2_udp4"]));
        assert!(nfct_objects_sorted().contains(&"ovs_tp_2_udp4".to_owned()));
        // Even --delete-all keeps them; it removes only system's.
        let r: Value = serde_json::from_str(&db.ok(&["--format", "json", "sync", "--delete-all"])).unwrap();
        assert_eq!(r["deleted"].as_array().unwrap().len(), 6);
        assert_eq!(nfct_objects_sorted(), vec!["ovs_tp_2_udp4"]);
    });
}
