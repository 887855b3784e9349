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
