//! Host tests of the configuration file's edges: a read-only store, a
//! symlinked file, its mode and owner, temp files of killed writers, and
//! commands that fail (which create nothing).

mod common;
#[path = "common/db.rs"]
mod db;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use common::*;
use db::Db;
use serde_json::Value;

/// Runs `zonetp ARGS` in a private mount namespace where `dir` is a
/// read-only bind mount of itself.
fn zonetp_read_only(dir: &Path, args: &[&str]) -> Run {
    let script =
        r#"dir=$1; shift; mount --bind "$dir" "$dir" && mount -o remount,bind,ro "$dir" && exec "$@""#;
    let mut all =
        vec!["--mount", "--propagation", "private", "sh", "-c", script, "sh", dir.to_str().unwrap()];
    let bin = env!("CARGO_BIN_EXE_zonetp");
    all.push(bin);
    all.extend_from_slice(args);
    tool("unshare", &all)
}

#[test]
fn a_read_only_store_still_syncs_and_always_reports() {
    in_netns(|| {
        let db = Db::with_system("ro");
        db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1"]);
        let before = files_in(&db.dir());
        // Nothing to record: no lock, no write, success.
        let r = zonetp_read_only(&db.dir(), &db.args(&["--format", "json", "sync"]));
        assert_eq!(r.status, 0, "{}", r.stderr);
        let report: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(report["created"].as_array().unwrap().len(), 6);
        assert_eq!(list_json().as_array().unwrap().len(), 6);
        let r = zonetp_read_only(&db.dir(), &db.args(&["sync"]));
        assert_eq!((r.status, r.stdout.lines().last()), (0, Some("sync system: changed 0, unchanged 6, created 0, replaced 0, deleted 0, pending 0, failed 0")), "{}", r.stderr);
        // Removing the zone retires id 1; the sync that deletes its objects
        // must record that the id is free again, which fails here: the
        // report of what reached the kernel comes first, then the error.
        db.ok(&["del-zone-tp", "system", "zone=5"]);
        let r = zonetp_read_only(&db.dir(), &db.args(&["sync"]));
        assert_eq!(r.status, 1, "{}{}", r.stdout, r.stderr);
        assert_eq!(
            r.stdout.lines().filter(|l| l.starts_with("deleted ovs_tp_1_")).count(),
            6,
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("sync system: changed 6"), "{}", r.stdout);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(
            r.stderr.contains("the kernel was changed as reported") && r.stderr.contains("Read-only"),
            "{}",
            r.stderr
        );
        assert_eq!(list_json().as_array().unwrap().len(), 0);
        assert_eq!(files_in(&db.dir()), before, "no lock, temp or other file made by the read-only syncs");
        // Writable again, the next sync records it.
        db.ok(&["sync"]);
        assert!(!std::fs::read_to_string(&db.0).unwrap().contains("retired"));
    });
}

#[test]
fn writes_go_through_a_symlink() {
    let db = Db::new("symlink");
    let real_dir = db.dir().join("real");
    std::fs::create_dir_all(&real_dir).unwrap();
    let real = real_dir.join("zonetp.json");
    db.ok(&["add-dp", "system"]);
    std::fs::rename(&db.0, &real).unwrap();
    std::os::unix::fs::symlink("real/zonetp.json", &db.0).unwrap();
    db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1"]);
    assert!(std::fs::symlink_metadata(&db.0).unwrap().file_type().is_symlink(), "still a link");
    assert!(std::fs::read_to_string(&real).unwrap().contains("udp_single"), "the target was updated");
    assert_eq!(db.ok(&["list-zone-tp", "system"]), "Zone:5, Timeout Policies: udp_single=1\n");
    // A link to a file not yet there: the file is made where it points.
    let db2 = Db::new("dangling");
    std::os::unix::fs::symlink(db2.dir().join("made-later.json"), &db2.0).unwrap();
    db2.ok(&["add-dp", "system"]);
    assert!(std::fs::symlink_metadata(&db2.0).unwrap().file_type().is_symlink());
    assert!(db2.dir().join("made-later.json").is_file());
}

#[test]
fn writes_keep_the_mode_and_owner() {
    let db = Db::with_system("mode");
    std::fs::set_permissions(&db.0, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&db.0, Some(12345), Some(54321)).unwrap();
    db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1"]);
    let m = std::fs::metadata(&db.0).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o600, 12345, 54321));
    assert!(std::fs::read_to_string(&db.0).unwrap().contains("udp_single"));
}

#[test]
fn temp_files_of_killed_writers_are_cleaned_up() {
    let db = Db::with_system("tmp");
    for round in 0..8u64 {
        let _ = db.kill_writer_after("udp_single=$i", Duration::from_millis(40 + round * 23 % 90));
    }
    // What a writer killed between creating and renaming its temp file leaves.
    std::fs::write(db.dir().join("conf.json.tmp.999999"), "half a file").unwrap();
    db.ok(&["--may-exist", "add-zone-tp", "system", "zone=1", "udp_single=77777"]);
    let left: Vec<String> = files_in(&db.dir()).into_iter().filter(|n| n.contains(".tmp.")).collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
}

#[test]
fn a_failed_command_creates_nothing() {
    let db = Db::new("nothing");
    let deep = db.dir().join("not/yet/there/conf.json");
    let d = deep.to_str().unwrap();
    zonetp_err(&["--db", d, "add-zone-tp", "system", "zone=1", "udp_single=1"]);
    zonetp_err(&["--db", d, "del-dp", "system"]);
    zonetp_usage(&["--db", d, "add-zone-tp", "system", "zone=x", "udp_single=1"]);
    zonetp_ok(&["--db", d, "del-dp", "--if-exists", "system"]);
    zonetp_ok(&["--db", d, "list-dp"]);
    assert_eq!(files_in(&db.dir()), Vec::<String>::new(), "no directory, file or lock");
    // In an existing directory: no lock file, no file.
    let here = db.dir().join("conf.json");
    zonetp_err(&["--db", here.to_str().unwrap(), "add-zone-tp", "system", "zone=1", "udp_single=1"]);
    assert_eq!(files_in(&db.dir()), Vec::<String>::new());
    // The first real change creates them.
    zonetp_ok(&["--db", d, "add-dp", "system"]);
    assert!(deep.is_file());
}

/// Runs `zonetp ARGS` as user `uid` (primary group `uid`) with `groups` as
/// its only supplementary groups.
fn zonetp_as(uid: u32, groups: &str, args: &[&str]) -> Run {
    let (u, g) = (format!("--reuid={uid}"), format!("--regid={uid}"));
    let groups = format!("--groups={groups}");
    let mut all = vec![u.as_str(), g.as_str(), groups.as_str(), env!("CARGO_BIN_EXE_zonetp")];
    all.extend_from_slice(args);
    tool("setpriv", &all)
}

#[test]
fn members_of_the_store_s_group_can_write_it() {
    let db = Db::with_system("group");
    // A lock file root made (0644, root's group), as the first writer does.
    let lock = db.dir().join("conf.json.lock");
    assert!(lock.exists());
    // Shared as an admin shares it: root:1234, group-writable.
    tool_ok("chown", &["-R", "0:1234", db.dir().to_str().unwrap()]);
    std::fs::set_permissions(db.dir(), std::fs::Permissions::from_mode(0o775)).unwrap();
    std::fs::set_permissions(&db.0, std::fs::Permissions::from_mode(0o664)).unwrap();
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o644)).unwrap();
    let member = |uid: u32, zone: &str| {
        let r = zonetp_as(uid, "1234", &db.args(&["add-zone-tp", "system", zone, "udp_single=5"]));
        assert_eq!(r.status, 0, "member {uid}: {}", r.stderr);
        let m = std::fs::metadata(&db.0).unwrap();
        assert_eq!((m.gid(), m.mode() & 0o7777), (1234, 0o664), "group and mode kept");
    };
    member(65534, "zone=1");
    member(65533, "zone=2");
    // A member creates the lock afresh: the store's group and mode.
    std::fs::remove_file(&lock).unwrap();
    member(65534, "zone=3");
    let m = std::fs::metadata(&lock).unwrap();
    assert_eq!((m.gid(), m.mode() & 0o666), (1234, 0o664));
    db.ok(&["add-zone-tp", "system", "zone=4", "udp_single=5"]);
    assert_eq!(std::fs::metadata(&db.0).unwrap().gid(), 1234, "root's write keeps the group too");
    // Not a member: the error says which step failed on which file.
    let e = zonetp_as(65532, "65532", &db.args(&["add-zone-tp", "system", "zone=5", "udp_single=5"]));
    assert_eq!(e.status, 1, "{}", e.stderr);
    assert!(e.stderr.contains("create ") && e.stderr.contains("conf.json.tmp."), "{}", e.stderr);
    // One who may create files there but cannot keep the group: refused
    // (the members would lose write access), saying that chown failed.
    std::fs::set_permissions(db.dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&db.0, std::fs::Permissions::from_mode(0o666)).unwrap();
    let before = db.text();
    let e = zonetp_as(65532, "65532", &db.args(&["add-zone-tp", "system", "zone=5", "udp_single=5"]));
    assert_eq!(e.status, 1, "{}", e.stderr);
    assert_eq!(e.stderr.lines().count(), 1, "{}", e.stderr);
    assert!(e.stderr.contains("chown ") && e.stderr.contains("group 1234"), "{}", e.stderr);
    assert_eq!(db.text(), before, "left as it was");
    assert!(!files_in(&db.dir()).iter().any(|f| f.contains(".tmp.")), "no temp file left");
    let _ = std::fs::remove_dir_all(db.dir());
}

#[test]
fn a_key_given_twice_is_refused_by_name_and_line() {
    let db = Db::with_system("dup");
    db.ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
    db.ok(&["add-zone-tp", "system", "zone=2", "udp_single=5"]);
    // A zone pasted twice by hand: serde_json alone would keep the last.
    let bad = db.text().replacen("\"2\": {", "\"1\": {", 1);
    assert_ne!(bad, db.text());
    std::fs::write(&db.0, &bad).unwrap();
    let e = db.err(&["list-zone-tp", "system"]);
    assert!(e.contains("duplicate key \"1\" at line "), "{e}");
    assert!(e.contains(db.0.to_str().unwrap()), "{e}");
    db.err(&["add-zone-tp", "system", "zone=3", "udp_single=1"]);
    assert_eq!(db.text(), bad, "left as it was");
    let _ = std::fs::remove_dir_all(db.dir());
}
