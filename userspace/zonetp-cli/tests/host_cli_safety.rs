//! Host tests: the command line never panics, never misreads an argument,
//! exits 0 / 1 (runtime) / 2 (usage) with one error line, ends quietly on
//! a closed pipe, and reports what it did in a shape a program can read.

mod common;
#[path = "common/db.rs"]
mod db;

use std::os::unix::fs::FileTypeExt;
use std::process::{Command, Output, Stdio};

use common::*;
use db::Db;
use serde_json::{json, Value};

fn zonetp_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zonetp"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Runs zonetp with standard output a pipe whose reader is already gone:
/// every write fails with EPIPE.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_zonetp")).args(args).stdout(Stdio::from(writer)).output().unwrap()
}

/// A file with zones 0..n on `system`, zone z with a policy of its own
/// (udp_single=z+1), made by add-zone-tp as a user would.
fn with_zones(name: &str, n: u16) -> Db {
    let db = Db::with_system(name);
    for z in 0..n {
        db.ok(&["add-zone-tp", "system", &format!("zone={z}"), &format!("udp_single={}", z + 1)]);
    }
    db
}

fn assert_quiet_success(what: &str, o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{what}: {o:?}");
    assert!(o.stderr.is_empty(), "{what}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn values_the_kernel_cannot_store_are_refused_at_add_zone_tp() {
    let db = Db::with_system("range");
    db.ok(&["add-dp", "netdev"]);
    let args = db.args(&["add-zone-tp", "system", "zone=200", "tcp_established=4294968"]);
    let r = zonetp_env(&args, &[("ZONETP_KERNEL_HZ", "1000")]);
    assert_eq!(r.status.code(), Some(1));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(e.starts_with("zonetp: tcp_established=4294968 is too large for the kernel datapath"), "{e}");
    assert_eq!(db.ok(&["list-zone-tp", "system"]), "", "nothing was written");
    assert_eq!(db.ok(&["resolve", "system", "zone=200", "--l3", "ipv4", "--l4", "tcp"]).trim(), "none");
    // The largest value that fits, keys without a kernel attribute, and the
    // userspace datapath are fine.
    let r = zonetp_env(
        &db.args(&["add-zone-tp", "system", "zone=200", "tcp_established=4294967", "udp_first=4294967295"]),
        &[("ZONETP_KERNEL_HZ", "1000")],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let r = zonetp_env(
        &db.args(&["add-zone-tp", "netdev", "zone=200", "tcp_established=4294968"]),
        &[("ZONETP_KERNEL_HZ", "1000")],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
}

#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    in_netns(|| {
        let db = with_zones("pipe", 50);
        db.ok(&["sync", "--dry-run"]);
        assert_quiet_success("sync", &with_closed_stdout(&db.args(&["sync"])));
        assert_eq!(list_json().as_array().unwrap().len(), 300, "the sync itself was done");
        assert_quiet_success("timeout list", &with_closed_stdout(&["timeout", "list"]));
        assert_quiet_success("json list", &with_closed_stdout(&["--format", "json", "timeout", "list"]));
        assert_quiet_success("list-zone-tp", &with_closed_stdout(&db.args(&["list-zone-tp", "system"])));
        assert_quiet_success("list-dp", &with_closed_stdout(&db.args(&["list-dp"])));
        assert_quiet_success("status", &with_closed_stdout(&db.args(&["status"])));
        assert_quiet_success("json status", &with_closed_stdout(&db.args(&["--format", "json", "status"])));
        assert_quiet_success("dry run", &with_closed_stdout(&db.args(&["sync", "--dry-run"])));
        assert_quiet_success("--help", &with_closed_stdout(&["--help"]));
        assert_quiet_success("help", &with_closed_stdout(&["help", "sync"]));
    });
}

/// `zonetp status | head -1` through a real shell pipeline: status prints
/// more than a pipe holds (200 zones, about 90 KiB; a pipe holds 64 KiB), so zonetp is
/// still writing when head exits, and must end with 0 and say nothing.
#[test]
fn status_piped_into_head_ends_quietly() {
    in_netns(|| {
        let db = with_zones("status-head", 200);
        let full = db.ok(&["status"]);
        assert!(full.len() > 65_536, "status must outgrow a pipe: {} bytes", full.len());
        let script = format!(
            "{} --db {} status | head -1; echo \"status=${{PIPESTATUS[0]}}\"",
            env!("CARGO_BIN_EXE_zonetp"),
            db.0.display()
        );
        let o = Command::new("bash").arg("-c").arg(&script).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(out, "datapath system (resolution zone0-fallback)\nstatus=0\n", "{o:?}");
        assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    });
}

#[test]
fn values_that_used_to_panic_are_usage_errors() {
    let db = Db::with_system("panics");
    let e = db.usage(&["sync", "--watch", "--interval", "9223372036854775807"]);
    assert!(e.contains("--interval"), "{e}");
    db.usage(&["sync", "--watch", "--interval", "0"]);
    for (args, what) in [
        (vec!["timeout", "add", "x", "--l3", "ipv4", "--l4", "udp", "replied=5"], "timeout add"),
        (db.args(&["add-zone-tp", "system", "zone=1", "udp_single=5"]), "add-zone-tp"),
        (db.args(&["list-dp"]), "list-dp"),
    ] {
        // Not a tick rate a kernel can have (a typo must not move the bound).
        for hz in ["0", "-1", "fast", "", "1", "999", "10000", "4294967295"] {
            let r = zonetp_env(&args, &[("ZONETP_KERNEL_HZ", hz)]);
            assert_eq!(r.status.code(), Some(2), "{what} with HZ={hz:?}: {r:?}");
            let e = String::from_utf8_lossy(&r.stderr);
            assert!(e.starts_with("zonetp: ZONETP_KERNEL_HZ=") && e.lines().count() == 1, "{e}");
            #[cfg(target_arch = "x86_64")]
            assert!(e.trim_end().ends_with("(CONFIG_HZ is one of 100, 250, 300, 1000)"), "{e}");
        }
    }
    for hz in ["100", "250", "300", "1000"] {
        let r = zonetp_env(&db.args(&["list-dp"]), &[("ZONETP_KERNEL_HZ", hz)]);
        assert_eq!(r.status.code(), Some(0), "HZ={hz}: {r:?}");
    }
    assert_eq!(db.ok(&["list-zone-tp", "system"]), "");
}

#[test]
fn timeout_replace_of_a_missing_name_is_enoent() {
    in_netns(|| {
        let e = zonetp_err(&["timeout", "replace", "ghost", "--l3", "ipv4", "--l4", "udp", "replied=5"]);
        assert!(
            e.contains("cannot replace timeout \"ghost\" (ipv4 udp): no such timeout object (ENOENT)"),
            "{e}"
        );
        assert_eq!(list_json(), json!([]), "nothing was created");
        zonetp_ok(&["timeout", "add", "real", "--l3", "ipv4", "--l4", "udp"]);
        zonetp_ok(&["timeout", "replace", "real", "--l3", "ipv4", "--l4", "udp", "replied=5"]);
        assert_eq!(list_json()[0]["timeouts"]["replied"], 5);
    });
}

#[test]
fn options_are_options_anywhere() {
    let db = Db::with_system("options");
    db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1", "--may-exist"]);
    db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=2", "--may-exist"]);
    db.ok(&["add-zone-tp", "system", "--may-exist", "zone=5", "udp_single=3"]);
    db.ok(&["--may-exist", "add-zone-tp", "system", "zone=5", "udp_single=4"]);
    assert_eq!(db.ok(&["list-zone-tp", "system"]), "Zone:5, Timeout Policies: udp_single=4\n");
    let before = db.text();
    let help = db.ok(&["add-zone-tp", "system", "zone=6", "udp_single=1", "--help"]);
    assert!(help.contains("Usage:") && help.contains("--may-exist"), "{help}");
    db.ok(&["del-zone-tp", "system", "zone=9", "--if-exists"]);
    assert_eq!(db.text(), before, "--help and a no-op changed nothing");
    // An unknown option is a usage error, not a policy word.
    let e = db.usage(&["add-zone-tp", "system", "zone=6", "udp_single=1", "--frobnicate"]);
    assert!(e.contains("--frobnicate"), "{e}");
}

#[test]
fn malformed_numbers_and_duplicates_are_refused() {
    let db = Db::with_system("numbers");
    for zone in ["zone=--9", "zone=0x+a", "zone=0x-1", "zone=+-1", "zone= 5", "zone=5x", "zone=08"] {
        let e = db.usage(&["add-zone-tp", "system", zone, "udp_single=1"]);
        assert_eq!(e, format!("zonetp: invalid zone argument, {zone}\n"));
        db.usage(&["del-zone-tp", "system", zone]);
        db.usage(&["resolve", "system", zone, "--l3", "ipv4", "--l4", "udp"]);
    }
    for word in ["udp_single=+5", "udp_single= 5", "udp_single=0x5", "udp_single=", "udp_single=5.0"] {
        let e = db.usage(&["add-zone-tp", "system", "zone=1", word]);
        let value = word.split_once('=').unwrap().1;
        assert_eq!(
            e,
            format!("zonetp: {word}: \"{value}\" is not a number of seconds (decimal digits only, 0 to 4294967295)\n")
        );
    }
    for word in ["udp_single=-1", "udp_single=4294967296"] {
        let e = db.usage(&["add-zone-tp", "system", "zone=1", word]);
        assert!(e.contains("is not in the valid range 0 to 4294967295 (inclusive)"), "{word}: {e}");
    }
    let e = db.usage(&["add-zone-tp", "system", "zone=1", "udp_single=1", "udp_single=2"]);
    assert_eq!(e, "zonetp: udp_single is given twice\n");
    assert_eq!(db.ok(&["list-zone-tp", "system"]), "");
    db.ok(&["add-zone-tp", "system", "zone=0x10", "udp_single=1"]);
    assert_eq!(db.ok(&["list-zone-tp", "system"]), "Zone:16, Timeout Policies: udp_single=1\n");
}

#[test]
fn control_characters_never_break_a_line() {
    in_netns(|| {
        zonetp_ok(&["timeout", "add", "evil\nname", "--l3", "ipv4", "--l4", "udp"]);
        zonetp_ok(&["timeout", "add", "\u{1b}[2Jx", "--l3", "ipv4", "--l4", "udp"]);
        let out = zonetp_ok(&["timeout", "list"]);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.contains("evil\\nname ipv4 udp") && out.contains("\\x1b[2Jx ipv4 udp"), "{out}");
        assert!(!out.contains('\u{1b}'));
        // JSON keeps the exact name.
        let names: Vec<Value> = list_json().as_array().unwrap().iter().map(|o| o["name"].clone()).collect();
        assert!(names.contains(&json!("evil\nname")));
        // An error naming it is one line too.
        let e = zonetp_err(&["timeout", "add", "evil\nname", "--l3", "ipv4", "--l4", "udp"]);
        assert!(e.contains("evil\\nname"), "{e}");
    });
    let db = Db::new("control");
    let e = db.usage(&["add-dp", "a\nb"]);
    assert!(e.contains("control character"), "{e}");
    // A hand-edited file with such a name still lists one name per line.
    std::fs::write(&db.0, r#"{"schema_version": 1, "datapaths": {"x\ny": {}, "system": {}}}"#).unwrap();
    assert_eq!(db.ok(&["list-dp"]), "system\nx\\ny\n");
}

#[test]
fn protocols_are_checked_by_the_parser() {
    let db = Db::with_system("protocols");
    let e = db.usage(&["resolve", "system", "zone=1", "--l3", "foo", "--l4", "udp"]);
    assert!(e.contains("invalid value 'foo' for '--l3"), "{e}");
    db.usage(&["resolve", "system", "zone=1", "--l3", "ipv4", "--l4", "sctp"]);
    assert!(db
        .usage(&["resolve", "system", "zone=1", "--l3", "ipv6", "--l4", "icmp"])
        .contains("not ipv6 icmp"));
    assert_eq!(db.ok(&["resolve", "system", "zone=1", "--l3", "inet6", "--l4", "icmpv6"]).trim(), "none");
    zonetp_usage(&["timeout", "get", &"n".repeat(40)]);
    zonetp_usage(&["timeout", "defaults", "get", "--l3", "foo", "--l4", "udp"]);
    zonetp_usage(&["timeout", "defaults", "set", "--l3", "ipv4", "--l4", "udp", "replied=x"]);
}

#[test]
fn one_rule_for_exit_codes() {
    let db = Db::new("exit");
    // Usage: the command line alone is wrong.
    for args in [
        vec!["frobnicate"],
        vec!["add-zone-tp"],
        vec!["add-zone-tp", "system", "zone=x", "udp_single=1"],
        vec!["add-zone-tp", "system", "zone=1", "bogus=1"],
        vec!["sync", "--dry-run", "--watch"],
        vec!["--format", "yaml", "list-dp"],
        vec!["list-dp", "extra"],
    ] {
        let e = db.usage(&args);
        assert!(!e.contains("error:"), "one zonetp line, not clap's block: {e}");
    }
    // Runtime: well formed, but the state says no.
    db.err(&["add-zone-tp", "system", "zone=1", "udp_single=1"]);
    db.err(&["del-dp", "system"]);
    db.err(&["list-zone-tp", "system"]);
    db.err(&["sync"]);
    // Arguments that are not UTF-8 are refused, not a panic.
    use std::os::unix::ffi::OsStrExt;
    for args in [
        vec!["add-dp".as_bytes(), b"\xff"],
        vec![b"\xff".as_slice()],
        vec![b"--db", b"/tmp/\xff", b"list-dp"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_zonetp"))
            .args(args.iter().map(|a| std::ffi::OsStr::from_bytes(a)))
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.code() == Some(2) || (o.status.code() == Some(0) && e.is_empty()),
            "{args:?}: {o:?}"
        );
        assert!(!e.contains("panicked"), "{e}");
    }
    // The help is no error.
    assert!(db.ok(&["help"]).contains("Usage:"));
    assert!(zonetp_ok(&["--version"]).starts_with("zonetp "));
}

#[test]
fn flow_syntax_errors_are_the_users() {
    for flow in [
        "in_port(1),bogus(2) actions:2",
        "in_port(x) actions:2",
        "in_port(1) actions:ct(zone=abc),2",
        "in_port(1) actions:frob",
        "in_port(1)",
    ] {
        let e = zonetp_usage(&["dp-flow", "add", "ovs-system", flow]);
        assert!(!e.contains("malformed reply from the kernel"), "{flow}: {e}");
        assert!(e.contains("flow"), "{flow}: {e}");
    }
    let e = zonetp_usage(&["dp-flow", "del", "ovs-system", "eth_type(0xzz)"]);
    assert!(e.contains("invalid flow match"), "{e}");
}

#[test]
fn sync_reports_are_consistent_and_structured() {
    in_netns(|| {
        let db = Db::with_system("reports");
        db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1", "tcp_established=9"]);
        let text = db.ok(&["sync", "--dry-run"]);
        let summary = text.lines().last().unwrap();
        assert_eq!(
            summary, "sync system: would change 6, unchanged 0, create 6, replace 0, delete 0, failed 0",
            "{text}"
        );
        let dry = db.json(&["sync", "--dry-run"]);
        assert_eq!(dry["plan"].as_array().unwrap().len(), 6);
        assert_eq!(
            dry["plan"][0],
            json!({"action": "create", "name": "ovs_tp_1_tcp4", "l3": "ipv4", "l4": "tcp",
                   "timeouts": {"established": 9}})
        );
        assert_eq!(
            dry["plan"][1],
            json!({"action": "create", "name": "ovs_tp_1_udp4", "l3": "ipv4", "l4": "udp",
                   "timeouts": {"unreplied": 1}})
        );
        assert_eq!(dry["created"], json!([]), "a dry run creates nothing");
        let r = db.json(&["sync"]);
        assert_eq!(r["created"].as_array().unwrap().len(), 6);
        let text = db.ok(&["sync", "--dry-run"]);
        assert_eq!(
            text,
            "sync system: would change 0, unchanged 6, create 0, replace 0, delete 0, failed 0\n"
        );

        // A failure is an object with named fields.
        let hz = |hz: &str, args: &[&str]| zonetp_env(&db.args(args), &[("ZONETP_KERNEL_HZ", hz)]);
        assert!(hz("100", &["--may-exist", "add-zone-tp", "system", "zone=5", "udp_single=5000000"])
            .status
            .success());
        let o = hz("1000", &["--format", "json", "sync"]);
        assert_eq!(o.status.code(), Some(1));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["failed"].as_array().unwrap().len(), 2, "{r}");
        let f = &r["failed"][0];
        assert_eq!(f["object"], "ovs_tp_1_udp4");
        assert_eq!(f["action"], "replace");
        assert!(f["error"].as_str().unwrap().contains("unreplied=5000000 is too large"), "{f}");
        assert_eq!(f["errno"], Value::Null);
    });
}

#[test]
fn sctp_objects_show_only_their_states() {
    in_netns(|| {
        zonetp_ok(&["timeout", "add", "s", "--l3", "ipv4", "--l4", "sctp", "established=99"]);
        let text = zonetp_ok(&["timeout", "get", "s"]);
        assert!(text.contains("established=99 ") && text.trim_end().ends_with("heartbeat_sent=30"), "{text}");
        assert!(!text.contains(" 9="), "{text}");
        let j: Value =
            serde_json::from_str(&zonetp_ok(&["--format", "json", "timeout", "get", "s"])).unwrap();
        assert_eq!(j["timeouts"].as_object().unwrap().len(), 8, "{j}");
        let d = zonetp_ok(&["timeout", "defaults", "get", "--l3", "ipv4", "--l4", "sctp"]);
        assert!(!d.contains(" 9="), "{d}");
    });
}

/// Issue 21 M1: a closed standard output changes neither the work nor the
/// exit status: `zonetp sync | true` with objects the kernel refuses
/// exits 1, as it does with its output on /dev/null, and still does the
/// rest of the sync; a full disk (/dev/full) loses the output and says so.
#[test]
fn a_closed_pipe_does_not_turn_a_failure_into_success() {
    in_netns(|| {
        let db = Db::with_system("pipe-failure");
        let hz = |hz: &str, args: &[&str]| zonetp_env(&db.args(args), &[("ZONETP_KERNEL_HZ", hz)]);
        assert!(hz("100", &["add-zone-tp", "system", "zone=5", "udp_single=5000000"]).status.success());
        db.ok(&["add-zone-tp", "system", "zone=6", "udp_single=7"]);
        let closed = |args: &[&str]| {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            Command::new(env!("CARGO_BIN_EXE_zonetp"))
                .args(db.args(args))
                .env("ZONETP_KERNEL_HZ", "1000")
                .stdout(Stdio::from(writer))
                .output()
                .unwrap()
        };
        let o = closed(&["sync"]);
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("udp_single=5000000") || e.contains("unreplied=5000000"), "{e}");
        assert!(e.trim_end().ends_with("2 object(s) could not be pushed"), "{e}");
        // The rest was pushed: zone 6's six objects, zone 5's other four.
        assert_eq!(list_json().as_array().unwrap().len(), 10);
        let null = Command::new(env!("CARGO_BIN_EXE_zonetp"))
            .args(db.args(&["sync"]))
            .env("ZONETP_KERNEL_HZ", "1000")
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(null.status.code(), Some(1), "{null:?}");
        // The JSON report too.
        assert_eq!(closed(&["--format", "json", "sync"]).status.code(), Some(1));
        // Not a closed pipe but lost output: reported once, status 1.
        db.ok(&["del-zone-tp", "system", "zone=5"]);
        let full = Command::new(env!("CARGO_BIN_EXE_zonetp"))
            .args(db.args(&["sync"]))
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(full.status.code(), Some(1), "{full:?}");
        let e = String::from_utf8_lossy(&full.stderr);
        assert_eq!(e.matches("cannot write to standard output").count(), 1, "{e}");
        assert_eq!(list_json().as_array().unwrap().len(), 6, "the sync was done all the same");
    });
}

/// Runs zonetp, killing it if it has not ended within 10 s (a hang fails
/// the test rather than the whole run).
fn zonetp_within_10s(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zonetp"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("zonetp {args:?} hung for 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Issue 21 L8: a `--db` that is not a regular file (a FIFO used to hang
/// every command forever, waiting for a writer) is refused at once, saying
/// what it is, and left as it is.
#[test]
fn a_db_that_is_not_a_regular_file_is_refused_at_once() {
    let db = Db::new("fifo");
    let fifo = db.dir().join("fifo");
    tool_ok("mkfifo", &[fifo.to_str().unwrap()]);
    let dir = db.dir().join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    for (path, what) in
        [(fifo.to_str().unwrap(), "a FIFO (named pipe)"), (dir.to_str().unwrap(), "a directory")]
    {
        for args in [vec!["list-dp"], vec!["add-dp", "system"], vec!["sync", "--dry-run"], vec!["status"]] {
            let mut all = vec!["--db", path];
            all.extend_from_slice(&args);
            let o = zonetp_within_10s(&all);
            let e = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{all:?}: {o:?}");
            assert_eq!(
                e,
                format!(
                    "zonetp: cannot read zonetp database {path}: it is {what}; the configuration must be a \
                     regular file (the file was left as it is)\n"
                ),
                "{all:?}"
            );
        }
    }
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO is still there");
    assert_eq!(files_in(&db.dir()), vec!["a-directory", "fifo"], "nothing was created beside them");
}

/// Issue 21 L2: a `--db` (or ZONETP_DB) that looks like a mistyped OVSDB
/// remote is a usage error naming the accepted forms, and creates nothing
/// (`add-dp` used to create `./punix:/x`); paths with a ':' further on
/// stay paths.
#[test]
fn mistyped_remotes_are_refused_not_taken_for_paths() {
    let db = Db::new("remotes");
    let cwd = db.dir();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_zonetp"));
        c.args(args).current_dir(&cwd).env_remove("ZONETP_DB");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    for (spec, says) in [
        ("punix:/x", "punix: is a server's listening (passive) remote; zonetp connects, with unix:"),
        ("ptcp:6640:127.0.0.1", "with tcp:"),
        ("UNIX:/x", "remote methods are lower case (unix:)"),
        (" unix:/x", "starts with whitespace"),
        (",unix:/x", "starts with a comma"),
        ("conf:json", "conf: is no OVSDB remote method zonetp knows"),
    ] {
        for args in [vec!["--db", spec, "add-dp", "system"], vec!["--db", spec, "list-dp"]] {
            let o = run(&args, &[]);
            let e = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
            assert!(e.starts_with("zonetp: ") && e.lines().count() == 1, "{e}");
            assert!(e.contains(says), "{spec:?}: {e}");
            assert!(e.contains("expected unix:PATH, tcp:IP:PORT"), "{e}");
        }
    }
    let o = run(&["add-dp", "system"], &[("ZONETP_DB", "punix:/x")]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("zonetp: ZONETP_DB \"punix:/x\" looks like"),
        "{o:?}"
    );
    assert_eq!(files_in(&cwd), Vec::<String>::new(), "nothing was created");
    // Genuine paths with a ':' are paths.
    for path in ["./a:b", &format!("{}/c:d", cwd.display())] {
        let o = run(&["--db", path, "add-dp", "system"], &[]);
        assert_eq!(o.status.code(), Some(0), "{path}: {o:?}");
    }
    let files = files_in(&cwd);
    assert!(files.contains(&"a:b".to_owned()) && files.contains(&"c:d".to_owned()), "{files:?}");
}

/// A stale or mistyped `ZONETP_DB` (or `--db`) matters only to commands
/// that read the configuration: `timeout`, `dp` and `generate-docs` never
/// do, and used to be refused all the same (`ZONETP_DB=punix:/x zonetp
/// timeout list` exited 2).
#[test]
fn commands_that_read_no_configuration_ignore_a_stale_db() {
    in_netns(|| {
        let stale = [("ZONETP_DB", "punix:/x")];
        zonetp_ok(&["timeout", "add", "web", "--l3", "ipv4", "--l4", "udp", "unreplied=7"]);
        for args in [
            vec!["timeout", "list"],
            vec!["timeout", "get", "web"],
            vec!["timeout", "defaults", "get", "--l3", "ipv4", "--l4", "udp"],
            vec!["--db", "UNIX:/x", "timeout", "list"],
        ] {
            let o = zonetp_env(&args, &stale);
            assert_eq!(o.status.code(), Some(0), "{args:?}: {o:?}");
            assert!(o.stderr.is_empty(), "{args:?}: {o:?}");
        }
        let o = zonetp_env(&["timeout", "list"], &stale);
        assert!(String::from_utf8_lossy(&o.stdout).starts_with("web ipv4 udp "), "{o:?}");
        let o = zonetp_env(&["timeout", "delete", "web"], &stale);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        assert_eq!(nfct_objects(), Vec::<String>::new());
        // Commands that read it still refuse it.
        let o = zonetp_env(&["list-dp"], &stale);
        assert_eq!(o.status.code(), Some(2), "{o:?}");
    });
}

/// Issue 21 L9: datapath names are checked as Linux checks an interface
/// name (OVS's kernel datapath is one): `" system"` and a 5,000-byte name
/// used to be taken. Each refusal names the problem, is a usage error and
/// writes nothing.
#[test]
fn odd_datapath_names_are_refused() {
    let db = Db::new("dp-names");
    let long = "x".repeat(5000);
    for (name, says) in [
        (" system", "datapath name \" system\" contains whitespace"),
        ("sys tem", "contains whitespace"),
        (long.as_str(), "datapath name \"xxxxxxxxxxxxxxx\"... is 5000 bytes long; at most 15 are allowed"),
        ("sixteen-bytes-xx", "is 16 bytes long"),
        ("a/b", "contains '/'"),
        ("a:b", "contains ':'"),
        ("..", "is not a name a Linux interface can have"),
    ] {
        let e = db.usage(&["add-dp", name]);
        assert!(e.contains(says), "{name:?}: {e}");
        assert!(e.len() < 200, "a long name is not echoed whole: {e}");
    }
    assert_eq!(db.text(), "", "nothing was written");
    db.ok(&["add-dp", "fifteen-bytes-x"]);
    db.ok(&["add-dp", "netdev"]);
    assert_eq!(db.ok(&["list-dp"]), "fifteen-bytes-x\nnetdev\n");
}

/// A record made before the datapath-name rule (by an older zonetp, or by
/// hand) is still there for `add-dp --may-exist`, which is a no-op on it,
/// as it always was; creating a record under such a name stays refused.
#[test]
fn may_exist_takes_a_record_whose_name_predates_the_rule() {
    let db = Db::with_system("dp-names-old");
    let text = db.text().replace("\"system\"", "\" system\"");
    assert!(text.contains("\" system\""), "{text}");
    std::fs::write(&db.0, &text).unwrap();
    db.ok(&["--may-exist", "add-dp", " system"]);
    db.ok(&["add-dp", "--may-exist", " system"]);
    assert_eq!(db.text(), text, "nothing was written");
    let e = db.usage(&["add-dp", " system"]);
    assert!(e.contains("contains whitespace"), "{e}");
    let e = db.usage(&["--may-exist", "add-dp", " other"]);
    assert!(e.contains("contains whitespace"), "{e}");
    assert_eq!(db.text(), text, "nothing was written");
}

/// Issue 21 L6: `zonetp` and `zonetp timeout` with no command give a short
/// usage (they printed the whole help, 32 and 23 lines) with status 2, as
/// git and ripgrep do.
#[test]
fn a_missing_command_gives_a_short_usage() {
    for (args, path) in [
        (vec![], "zonetp"),
        (vec!["timeout"], "zonetp timeout"),
        (vec!["timeout", "defaults"], "zonetp timeout defaults"),
        (vec!["dp"], "zonetp dp"),
        (vec!["--format", "json", "dp-flow"], "zonetp dp-flow"),
    ] {
        let r = zonetp(&args);
        assert_eq!(r.status, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert_eq!(r.stdout, "", "{args:?}");
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 3, "{args:?}: {}", r.stderr);
        let first = match path.strip_prefix("zonetp ") {
            Some(sub) => format!("zonetp: {sub} needs a command"),
            None => "zonetp: a command is required".to_owned(),
        };
        assert_eq!(lines[0], first);
        assert!(lines[1].starts_with(&format!("Usage: {path} ")), "{}", r.stderr);
        assert_eq!(lines[2], format!("Run '{path} --help' for the commands."));
    }
}

/// Issue 21 L6: `dp-flow add ovs-system` with a committing ct action and
/// no zone configuration names the configuration's record, not a kernel
/// datapath that "does not exist", and the ways out.
#[test]
fn dp_flow_without_a_zone_record_says_which_record_is_missing() {
    let db = Db::new("dp-flow-norecord");
    let flow = "in_port(1),eth_type(0x0800),ipv4(proto=17) actions:ct(commit,zone=5),2";
    let e = db.err(&["dp-flow", "add", "ovs-system", flow]);
    assert_eq!(
        e,
        "zonetp: ct(commit,zone=5) takes its timeout policy from the zone configuration's datapath record \
         system, which the configuration does not have: create it (zonetp add-dp system), name another with \
         --zones-from, or install the actions as written with --no-xlate\n"
    );
}
