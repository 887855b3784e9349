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

/// Runs `program` with arguments that need not be UTF-8; insists on success.
fn run_bytes_ok(program: &str, args: &[&[u8]]) -> String {
    use std::os::unix::ffi::OsStrExt;
    let o = Command::new(program).args(args.iter().map(|a| std::ffi::OsStr::from_bytes(a))).output().unwrap();
    assert!(o.status.success(), "{program} {args:?}: {o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Issue 21 H1: objects another tool made with names zonetp would never
/// make (bytes that are not UTF-8, the empty name the kernel accepts) are
/// listed escaped, left alone by sync and status, and reachable by name;
/// they do not stop zonetp from managing its own.
#[test]
fn foreign_objects_with_odd_names_stop_nothing() {
    in_netns(|| {
        let z = env!("CARGO_BIN_EXE_zonetp");
        run_bytes_ok("nfct", &[b"add", b"timeout", b"bad\xff", b"inet", b"udp", b"unreplied", b"5"]);
        run_bytes_ok("nfct", &[b"add", b"timeout", b"", b"inet", b"udp", b"unreplied", b"6"]);
        run_bytes_ok("nfct", &[b"add", b"timeout", b"back\\slash", b"inet", b"udp", b"unreplied", b"7"]);
        let db = Db::with_system("odd-names");
        db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1"]);
        let r = db.sync();
        assert_eq!(r["created"].as_array().unwrap().len(), 6, "{r}");
        assert_eq!(nfct_objects().len(), 9, "the foreign objects stay");
        let dry = db.ok(&["sync", "--dry-run"]);
        assert!(
            dry.ends_with("would change 0, unchanged 6, create 0, replace 0, delete 0, failed 0\n"),
            "{dry}"
        );
        let status = db.ok(&["status"]);
        assert!(status.ends_with("in sync\n"), "{status}");

        // Text: escaped, one line each, the empty name shown as "".
        let list = zonetp_ok(&["timeout", "list"]);
        let lines: Vec<&str> = list.lines().filter(|l| !l.starts_with("ovs_tp_")).collect();
        assert_eq!(lines.len(), 3, "{list}");
        assert!(lines[0].starts_with("\"\" ipv4 udp use=1 unreplied=6 "), "{list}");
        assert!(lines[1].starts_with("back\\\\slash ipv4 udp use=1 unreplied=7 "), "{list}");
        assert!(lines[2].starts_with("bad\\xff ipv4 udp use=1 unreplied=5 "), "{list}");
        // JSON: the exact bytes in name_hex when the name is not UTF-8.
        let json = list_json();
        let odd: Vec<&Value> =
            json.as_array().unwrap().iter().filter(|o| o.get("name_hex").is_some()).collect();
        assert_eq!(odd.len(), 1, "{json}");
        assert_eq!(odd[0]["name"], Value::Null);
        assert_eq!(odd[0]["name_hex"], "626164ff");
        assert!(json.as_array().unwrap().iter().any(|o| o["name"] == "back\\slash"), "{json}");

        // Reachable by their bytes.
        let got = run_bytes_ok(z, &[b"timeout", b"get", b"bad\xff"]);
        assert!(got.starts_with("bad\\xff ipv4 udp"), "{got}");
        run_bytes_ok(z, &[b"timeout", b"delete", b"bad\xff"]);
        assert_eq!(nfct_objects().len(), 8);
        // Errors name the object, escaped, on one line.
        use std::os::unix::ffi::OsStrExt;
        let o =
            Command::new(z).args(["timeout", "delete"]).arg(std::ffi::OsStr::from_bytes(b"bad\xff")).output();
        let o = o.unwrap();
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            "zonetp: cannot delete timeout \"bad\\xff\": no such timeout object (ENOENT)\n"
        );
    });
}

/// A name that is not UTF-8 and a UTF-8 name spelling its escaped form
/// (`bad<0xff>` and a literal `bad\xff`) are two objects; neither text nor
/// JSON may show them the same (JSON gave both `"name": "bad\\xff"`).
#[test]
fn a_non_utf8_name_and_its_escaped_spelling_stay_apart() {
    in_netns(|| {
        run_bytes_ok("nfct", &[b"add", b"timeout", b"bad\xff", b"inet", b"udp", b"unreplied", b"5"]);
        run_bytes_ok("nfct", &[b"add", b"timeout", b"bad\\xff", b"inet", b"udp", b"unreplied", b"8"]);
        let json = list_json();
        let objects = json.as_array().unwrap();
        assert_eq!(objects.len(), 2, "{json}");
        // Sorted by bytes: the literal backslash (0x5c) before 0xff.
        assert_eq!(objects[0]["name"], "bad\\xff", "the literal name, exactly: {json}");
        assert_eq!(objects[0].get("name_hex"), None, "{json}");
        assert_eq!(objects[0]["timeouts"]["unreplied"], 8);
        assert_eq!(objects[1]["name"], Value::Null, "no JSON string is this name: {json}");
        assert_eq!(objects[1]["name_hex"], "626164ff");
        assert_eq!(objects[1]["timeouts"]["unreplied"], 5);
        assert_ne!(objects[0]["name"], objects[1]["name"]);
        // `timeout get` says the same as the list.
        let got: Value = serde_json::from_str(&run_bytes_ok(
            env!("CARGO_BIN_EXE_zonetp"),
            &[b"--format", b"json", b"timeout", b"get", b"bad\xff"],
        ))
        .unwrap();
        assert_eq!(got, objects[1]);
        // Text: the backslash is escaped, so the two lines differ.
        let list = zonetp_ok(&["timeout", "list"]);
        let names: Vec<&str> = list.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(names, ["bad\\\\xff", "bad\\xff"], "{list}");
    });
}

/// The empty name, which other tools give objects (`nfct add timeout ""
/// ...`), is reachable by `timeout get ""` and `timeout delete ""` (they
/// were usage errors), and a delete of it deletes that object alone. Text
/// shows it as `""`, which no other name is shown as: a name of two double
/// quotes is `\x22\x22`, and names with quotes or spaces stay one word.
#[test]
fn the_empty_name_is_reachable_and_no_other_name_looks_like_it() {
    in_netns(|| {
        let z = env!("CARGO_BIN_EXE_zonetp");
        run_bytes_ok("nfct", &[b"add", b"timeout", b"", b"inet", b"udp", b"unreplied", b"6"]);
        run_bytes_ok("nfct", &[b"add", b"timeout", b"\"\"", b"inet", b"udp", b"unreplied", b"7"]);
        run_bytes_ok("nfct", &[b"add", b"timeout", b"it's a b", b"inet", b"udp", b"unreplied", b"8"]);
        let list = zonetp_ok(&["timeout", "list"]);
        let names: Vec<&str> = list.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(names, ["\"\"", "\\x22\\x22", "it\\x27s\\x20a\\x20b"], "{list}");
        // Each shown name reads back to the object with bash's $'...'.
        for shown in &names[1..] {
            let got = run_bytes_ok("bash", &[b"-c", format!("{z} timeout get $'{shown}'").as_bytes()]);
            assert!(got.starts_with(&format!("{shown} ipv4 udp")), "{shown}: {got}");
        }

        let got = zonetp_ok(&["timeout", "get", ""]);
        assert!(got.starts_with("\"\" ipv4 udp use=1 unreplied=6 "), "{got}");
        let got: Value =
            serde_json::from_str(&zonetp_ok(&["--format", "json", "timeout", "get", ""])).unwrap();
        assert_eq!(got["name"], "");
        zonetp_ok(&["timeout", "delete", ""]);
        assert_eq!(nfct_objects().len(), 2, "the others stay");
        let e = zonetp_err(&["timeout", "get", ""]);
        assert!(e.contains("ENOENT"), "{e}");
        let e = zonetp_err(&["timeout", "delete", ""]);
        assert!(e.contains("ENOENT"), "{e}");
        assert_eq!(nfct_objects().len(), 2);
    });
}
