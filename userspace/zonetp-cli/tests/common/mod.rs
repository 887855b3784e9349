//! Helpers for host tests: each test runs in a network namespace of its own
//! (a thread that unshares CLONE_NEWNET; children it spawns inherit it), so
//! tests run in parallel against the real kernel and leave nothing behind.
//! They need root; without it they fail, loudly, rather than skip.
#![allow(dead_code)]

use std::process::{Command, Output};

use nix::sched::{unshare, CloneFlags};

/// Runs `f` on a fresh thread inside a new, empty network namespace.
pub fn in_netns<F: FnOnce() + Send + 'static>(f: F) {
    let handle = std::thread::spawn(move || {
        // unshare(2) changes only this thread's namespace.
        if let Err(e) = unshare(CloneFlags::CLONE_NEWNET) {
            panic!("host tests need root to create a network namespace: unshare(CLONE_NEWNET): {e}");
        }
        f()
    });
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

fn run(mut cmd: Command) -> Run {
    let Output { status, stdout, stderr } =
        cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run {
        status: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub fn zonetp(args: &[&str]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zonetp"));
    c.args(args);
    run(c)
}

/// Runs zonetp and insists on success.
pub fn zonetp_ok(args: &[&str]) -> String {
    let r = zonetp(args);
    assert_eq!(r.status, 0, "zonetp {args:?} failed: {}", r.stderr);
    r.stdout
}

/// Runs zonetp and insists on exit status `status` with one error line;
/// returns that line.
fn zonetp_fails(status: i32, args: &[&str]) -> String {
    let r = zonetp(args);
    assert_eq!(
        r.status, status,
        "zonetp {args:?} should fail with {status}, got {}: {}{}",
        r.status, r.stdout, r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "one error line: {}", r.stderr);
    assert!(r.stderr.starts_with("zonetp: "), "{}", r.stderr);
    r.stderr
}

/// Runs zonetp and insists on exit status 1 (a runtime error) with one
/// error line.
pub fn zonetp_err(args: &[&str]) -> String {
    zonetp_fails(1, args)
}

pub fn tool(program: &str, args: &[&str]) -> Run {
    let mut c = Command::new(program);
    c.args(args);
    run(c)
}

pub fn tool_ok(program: &str, args: &[&str]) -> String {
    let r = tool(program, args);
    assert_eq!(r.status, 0, "{program} {args:?} failed: {}{}", r.stdout, r.stderr);
    r.stdout
}

/// `zonetp --format json timeout list`, as a JSON value.
pub fn list_json() -> serde_json::Value {
    serde_json::from_str(&zonetp_ok(&["--format", "json", "timeout", "list"])).expect("valid JSON")
}

/// Parses `nfct get timeout NAME` output into (l3proto, l4proto, [(STATE, secs)]).
pub fn nfct_get(name: &str) -> (u32, u32, Vec<(String, u32)>) {
    let out = tool_ok("nfct", &["get", "timeout", name]);
    let mut l3 = 0;
    let mut l4 = 0;
    let mut states = Vec::new();
    for line in out.lines() {
        let line = line.trim().trim_end_matches(',');
        if let Some((k, v)) = line.split_once(" = ").filter(|(_, v)| *v != "{") {
            let k = k.trim_start_matches('.');
            match k {
                "l3proto" => l3 = v.parse().unwrap(),
                "l4proto" => l4 = v.parse().unwrap(),
                state => states.push((state.to_string(), v.parse().unwrap())),
            }
        }
    }
    (l3, l4, states)
}

/// The object names in `nfct list timeout` output, in the order listed.
/// (Each object starts with a line `.NAME = {`.)
pub fn object_names(nfct_list: &str) -> Vec<String> {
    nfct_list
        .lines()
        .filter(|l| l.starts_with('.'))
        .map(|l| l.trim_start_matches('.').split(' ').next().unwrap().to_owned())
        .collect()
}

/// The timeout objects in this thread's network namespace, in the order
/// the kernel lists them.
pub fn nfct_objects() -> Vec<String> {
    object_names(&tool_ok("nfct", &["list", "timeout"]))
}

/// The timeout objects in this thread's network namespace, sorted by name.
pub fn nfct_objects_sorted() -> Vec<String> {
    let mut v = nfct_objects();
    v.sort();
    v
}

/// The suffixes of an OVS policy's six objects, in the order OVS (and
/// zonetp) creates them.
pub const SIX: [&str; 6] = ["tcp4", "udp4", "icmp4", "tcp6", "udp6", "icmpv6"];

/// The names of policy `id`'s six objects, sorted (to compare with
/// `nfct_objects_sorted`).
pub fn six(id: u32) -> Vec<String> {
    let mut v: Vec<String> = SIX.iter().map(|s| format!("ovs_tp_{id}_{s}")).collect();
    v.sort();
    v
}

/// The names of the entries of `dir`, sorted.
pub fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Makes timeout object `name` in use: an iptables rule in the raw table
/// attaches it to UDP connections (`-j CT --timeout NAME`).
pub fn iptables_ct_rule(name: &str) {
    tool_ok("iptables", &["-t", "raw", "-A", "PREROUTING", "-p", "udp", "-j", "CT", "--timeout", name]);
}

/// Runs zonetp and insists on exit status 2 (a usage error) with one
/// error line.
pub fn zonetp_usage(args: &[&str]) -> String {
    zonetp_fails(2, args)
}

/// What `zonetp sync` should record of openvswitch.ko in this network
/// namespace's kernel (`Datapath.capabilities`): "true" for both probed
/// keys where the module answers (any kernel since 5.4 has both), "false"
/// where it cannot be loaded, as on a kernel built without it.
pub fn expected_capabilities() -> String {
    // A datapath that does not exist: the module's answer, or the
    // kernel's word that there is no module.
    let r = zonetp(&["dp", "show", "zonetp-none"]);
    assert_ne!(r.status, 0, "no datapath zonetp-none: {}", r.stdout);
    let v = if r.stderr.contains("is the openvswitch module loaded?") { "false" } else { "true" };
    format!("ct_timeout={v} ct_zone={v}")
}

/// The zone limit verbs' round trip and refusals, as ovs-vsctl 3.5's own
/// tests (tests/ovs-vsctl.at) run them, on a store with the `system`
/// record; `z` runs zonetp on it.
pub fn zone_limits_round_trip(z: &dyn Fn(&[&str]) -> Run) {
    let ok = |args: &[&str]| {
        let r = z(args);
        assert_eq!(r.status, 0, "zonetp {args:?}: {}", r.stderr);
        r.stdout
    };
    let fails = |status: i32, args: &[&str], words: &str| {
        let r = z(args);
        assert_eq!(
            (r.status, r.stderr.as_str()),
            (status, format!("zonetp: {words}\n").as_str()),
            "{args:?}"
        );
    };
    let limits = || ok(&["list-zone-limits", "system"]);
    assert_eq!(limits(), "");
    ok(&["set-zone-limit", "system", "1", "1"]);
    assert_eq!(limits(), "Zone: 1, Limit: 1\n");
    ok(&["set-zone-limit", "system", "1", "5"]);
    assert_eq!(limits(), "Zone: 1, Limit: 5\n");
    ok(&["del-zone-limit", "system", "1"]);
    assert_eq!(limits(), "");
    assert_eq!(ok(&["list-zone-tp", "system"]), "", "a zone with neither half goes");
    // Each half keeps the zone's record while the other is set.
    ok(&["set-zone-limit", "system", "10", "5"]);
    ok(&["add-zone-tp", "system", "zone=10", "icmp_first=1", "icmp_reply=2"]);
    ok(&["del-zone-limit", "system", "10"]);
    assert_eq!(limits(), "");
    assert_eq!(ok(&["list-zone-tp", "system"]), "Zone:10, Timeout Policies: icmp_first=1 icmp_reply=2\n");
    ok(&["set-zone-limit", "system", "10", "5"]);
    ok(&["del-zone-tp", "system", "zone=10"]);
    assert_eq!(limits(), "Zone: 10, Limit: 5\n");
    assert_eq!(ok(&["list-zone-tp", "system"]), "Zone:10, Timeout Policies: system default\n");
    ok(&["set-zone-limit", "system", "default", "5"]);
    ok(&["set-zone-limit", "system", "default", "10"]);
    assert_eq!(limits(), "Default, Limit: 10\nZone: 10, Limit: 5\n");
    ok(&["del-zone-limit", "system", "default"]);
    assert_eq!(limits(), "Zone: 10, Limit: 5\n");
    ok(&["--if-exists", "del-zone-limit", "system", "default"]);
    ok(&["del-zone-limit", "system", "10", "--if-exists"]);
    ok(&["--if-exists", "del-zone-limit", "system", "10"]);
    // zonetp's words too, and the ends of the ranges.
    ok(&["set-zone-limit", "system", "zone=0x10", "limit=0"]);
    ok(&["set-zone-limit", "system", "65535", "4294967295"]);
    ok(&["set-zone-limit", "system", "zone=default", "limit=7"]);
    assert_eq!(limits(), "Default, Limit: 7\nZone: 16, Limit: 0\nZone: 65535, Limit: 4294967295\n");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["--format", "json", "list-zone-limits", "system"])).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"default": 7, "zones": [{"zone": 16, "limit": 0}, {"zone": 65535, "limit": 4294967295u32}]})
    );
    // Refusals: ovs-vsctl 3.5's words (exit status 1), in its order.
    fails(1, &["set-zone-limit", "netdevxx", "5", "1"], "datapath netdevxx does not exist");
    fails(1, &["set-zone-limit", "netdevxx", "88888", "-1"], "datapath netdevxx does not exist");
    fails(1, &["set-zone-limit", "system", "88888", "1"], "zone_id (88888) out of range");
    fails(1, &["set-zone-limit", "system", "-1", "1"], "zone_id (-1) out of range");
    fails(1, &["set-zone-limit", "system", "88888", "-1"], "limit (-1) out of range");
    fails(1, &["set-zone-limit", "system", "5", "4294967296"], "limit (4294967296) out of range");
    fails(1, &["del-zone-limit", "system", "11"], "zone_id 11 does not have a limit");
    fails(1, &["set-zone-limit", "netdevxx", "default", "1"], "datapath netdevxx does not exist");
    fails(1, &["set-zone-limit", "system", "default", "-1"], "limit (-1) out of range");
    ok(&["del-zone-limit", "system", "default"]);
    fails(1, &["del-zone-limit", "system", "default"], "datapath system does not have a limit");
    fails(1, &["list-zone-limits", "nope"], "datapath: nope record not found");
    // Words that are no number: ovs-vsctl 3.6's words and exit status,
    // after the datapath's check (3.5's order).
    fails(1, &["set-zone-limit", "system", "five", "1"], "invalid zone id, five");
    fails(1, &["set-zone-limit", "system", "5", "lots"], "invalid limit, lots");
    fails(1, &["del-zone-limit", "system", "zone=x"], "invalid zone id, zone=x");
    fails(1, &["set-zone-limit", "netdevxx", "five", "lots"], "datapath netdevxx does not exist");
    fails(1, &["del-zone-limit", "netdevxx", "zone=x"], "datapath netdevxx does not exist");
    assert_eq!(limits(), "Zone: 16, Limit: 0\nZone: 65535, Limit: 4294967295\n", "refusals change nothing");
}
