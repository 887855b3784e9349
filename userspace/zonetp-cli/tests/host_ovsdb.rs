//! Host tests of zonetp on the real Open vSwitch database: Debian's
//! `ovsdb-server`, `ovsdb-tool` and `ovs-vsctl` (openvswitch-switch), run
//! from a temporary directory (never the system service), with zonetp's
//! kernel side in a throwaway network namespace. Servers, agents and
//! named namespaces are owned by guards that kill and remove them even
//! when a test fails. Timing is printed (run with --nocapture), never
//! asserted.

mod common;

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// A process started in a process group of its own; dropping the guard
/// kills the group.
struct Proc(Child);

impl Proc {
    fn spawn(cmd: &mut Command, log: &Path) -> Self {
        let out = File::create(log).unwrap();
        let err = out.try_clone().unwrap();
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
        Proc(cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}")))
    }
    fn signal(&mut self, sig: i32) {
        // SAFETY: kill(2) on the process group of our own child.
        unsafe { libc::kill(-(self.0.id() as i32), sig) };
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.0.wait();
    }
}

/// Waits for `f` to hold, polling; fails the test after `secs` seconds.
fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(secs), "timed out after {secs} s waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zonetp-ovsdb-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Debian's schema edited by `edit`, written to `path` (for servers whose
/// schema is older or newer than the installed one).
fn write_schema(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(SCHEMA).unwrap()).unwrap();
    edit(&mut schema);
    std::fs::write(path, schema.to_string()).unwrap();
}

/// ovsdb-server serving the database file `db` on `remote` (`punix:PATH`
/// or `ptcp:PORT:IP`), with its control socket at `ctl` and its output in
/// `log`. Every ovsdb-server of these tests is started here.
fn ovsdb_server(db: &Path, remote: &str, ctl: &Path, log: &Path) -> Proc {
    Proc::spawn(
        Command::new("ovsdb-server").args([
            db.to_str().unwrap(),
            &format!("--remote={remote}"),
            &format!("--unixctl={}", ctl.display()),
            "--no-chdir",
        ]),
        log,
    )
}

/// The ovs-vsctl arguments that make the `system` datapath record, as an
/// OVS user makes it: `create Datapath` plus `datapaths:system`.
const ADD_SYSTEM_DATAPATH: [&str; 10] = [
    "--",
    "--id=@dp",
    "create",
    "Datapath",
    "datapath_version=0",
    "--",
    "set",
    "Open_vSwitch",
    ".",
    "datapaths:system=@dp",
];

/// One standalone ovsdb-server on a Unix socket, in a directory of its own.
struct Server {
    dir: PathBuf,
    db: PathBuf,
    sock: PathBuf,
    proc: Option<Proc>,
}

impl Server {
    /// A fresh database of Debian's schema with the `system` datapath
    /// record.
    fn new(name: &str) -> Self {
        Self::with_schema(temp_dir(name), SCHEMA)
    }

    /// A fresh database of `schema` in `dir`, served, initialised, and with
    /// the `system` datapath record (ADD_SYSTEM_DATAPATH).
    fn with_schema(dir: PathBuf, schema: &str) -> Self {
        let db = dir.join("conf.db");
        tool_ok("ovsdb-tool", &["create", db.to_str().unwrap(), schema]);
        let mut s = Self::unstarted(dir, db);
        s.start();
        s.vsctl_ok(&["init"]);
        s.vsctl_ok(&ADD_SYSTEM_DATAPATH);
        s
    }

    /// A server of the database file `db` in `dir`, not started yet.
    fn unstarted(dir: PathBuf, db: PathBuf) -> Self {
        Server { sock: dir.join("db.sock"), dir, db, proc: None }
    }

    fn remote(&self) -> String {
        format!("unix:{}", self.sock.display())
    }

    /// Serves the database on `sock`.
    fn serve_on(&self, sock: &Path, tag: &str) -> Proc {
        let _ = std::fs::remove_file(sock);
        let p = ovsdb_server(
            &self.db,
            &format!("punix:{}", sock.display()),
            &self.dir.join(format!("{tag}.ctl")),
            &self.dir.join(format!("{tag}.log")),
        );
        wait_for("ovsdb-server to listen", 10, || std::os::unix::net::UnixStream::connect(sock).is_ok());
        p
    }

    fn start(&mut self) {
        self.proc = Some(self.serve_on(&self.sock, "server"));
    }

    fn stop(&mut self) {
        self.proc = None;
    }

    fn vsctl(&self, args: &[&str]) -> Run {
        let db = format!("--db={}", self.remote());
        let mut v = vec![db.as_str(), "--no-wait", "--timeout=20"];
        v.extend_from_slice(args);
        tool("ovs-vsctl", &v)
    }

    fn vsctl_ok(&self, args: &[&str]) -> String {
        let r = self.vsctl(args);
        assert_eq!(r.status, 0, "ovs-vsctl {args:?}: {}", r.stderr);
        r.stdout
    }

    fn z(&self, args: &[&str]) -> Run {
        let remote = self.remote();
        let mut v = vec!["--db", remote.as_str()];
        v.extend_from_slice(args);
        zonetp(&v)
    }

    fn z_ok(&self, args: &[&str]) -> String {
        let r = self.z(args);
        assert_eq!(r.status, 0, "zonetp {args:?}: {}", r.stderr);
        r.stdout
    }

    /// The zonetp id stored in the policy row zone `zone` of `system` uses.
    fn stored_id(&self, zone: u16) -> Option<u32> {
        let unquote = |s: String| s.trim().trim_matches('"').to_owned();
        let dp = unquote(self.vsctl_ok(&["get", "Open_vSwitch", ".", "datapaths:system"]));
        let z = unquote(self.vsctl_ok(&["get", "Datapath", &dp, &format!("ct_zones:{zone}")]));
        let tp = unquote(self.vsctl_ok(&["get", "CT_Zone", &z, "timeout_policy"]));
        let r = self.vsctl(&[
            "get",
            "CT_Timeout_Policy",
            tp.trim_matches(|c| c == '[' || c == ']'),
            "external_ids:zonetp-id",
        ]);
        (r.status == 0).then(|| unquote(r.stdout).parse().ok()).flatten()
    }

    /// `zonetp resolve system zone=N --l3 ipv4 --l4 udp`.
    fn resolve_udp4(&self, zone: u16) -> String {
        self.z_ok(&["resolve", "system", &format!("zone={zone}"), "--l3", "ipv4", "--l4", "udp"])
            .trim()
            .to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.proc = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `ovs_tp_*` objects in this thread's network namespace, sorted.
fn kernel_objects() -> Vec<String> {
    nfct_objects_sorted().into_iter().filter(|n| n.starts_with("ovs_tp_")).collect()
}

/// The UNREPLIED timeout (udp_single) of a UDP object.
fn udp_single(name: &str) -> Option<u32> {
    let r = tool("nfct", &["get", "timeout", name]);
    if r.status != 0 {
        return None;
    }
    nfct_get(name).2.iter().find(|(s, _)| s == "UNREPLIED").map(|(_, v)| *v)
}

#[test]
fn ovs_vsctl_policies_are_listed_resolved_and_synced() {
    in_netns(|| {
        let s = Server::new("from-vsctl");
        s.vsctl_ok(&["add-zone-tp", "system", "zone=5", "udp_single=10", "icmp_first=3"]);
        s.vsctl_ok(&["add-zone-tp", "system", "zone=0", "tcp_established=3600"]);
        let theirs = s.vsctl_ok(&["list-zone-tp", "system"]);
        assert_eq!(s.z_ok(&["list-zone-tp", "system"]), theirs);
        assert_eq!(s.z_ok(&["list-dp"]), "system\n");
        // Reading numbers the rows ovs-vsctl inserted in memory only; sync
        // gives them those ids, kept in the rows.
        let five = s.resolve_udp4(5);
        let zero = s.resolve_udp4(7); // zone 7 has none: zone 0's applies
        assert_eq!(s.stored_id(5), None, "reading writes nothing");
        let out = s.z_ok(&["sync"]);
        assert!(out.contains("created 12"), "{out}");
        let id5 = s.stored_id(5).expect("sync numbered the policy");
        assert_eq!(five, format!("ovs_tp_{id5}_udp4"));
        let id0 = s.stored_id(0).unwrap();
        assert_ne!(id0, id5);
        assert_eq!(zero, format!("ovs_tp_{id0}_udp4"));
        let mut want = six(id0);
        want.extend(six(id5));
        want.sort();
        assert_eq!(kernel_objects(), want);
        assert_eq!(udp_single(&format!("ovs_tp_{id5}_udp4")), Some(10));
        assert!(s.z_ok(&["sync"]).contains("unchanged 12"));
        // ovs-vsctl takes a zone away: the next sync removes its objects.
        s.vsctl_ok(&["del-zone-tp", "system", "zone=5"]);
        s.z_ok(&["sync"]);
        assert_eq!(kernel_objects(), six(id0));
    });
}

#[test]
fn zonetp_policies_show_in_ovs_vsctl_and_refusals_match() {
    let s = Server::new("to-vsctl");
    s.z_ok(&["add-zone-tp", "system", "zone=3", "udp_single=30", "tcp_established=100"]);
    s.z_ok(&["add-zone-tp", "system", "zone=4", "tcp_established=100", "udp_single=30"]);
    s.z_ok(&["add-zone-tp", "system", "zone=9", "icmp_first=1"]);
    let ours = s.z_ok(&["list-zone-tp", "system"]);
    assert_eq!(s.vsctl_ok(&["list-zone-tp", "system"]), ours);
    assert_eq!(
        ours,
        "Zone:3, Timeout Policies: tcp_established=100 udp_single=30\n\
         Zone:4, Timeout Policies: tcp_established=100 udp_single=30\n\
         Zone:9, Timeout Policies: icmp_first=1\n"
    );
    // Identical policies share one row, as ovs-vsctl makes them.
    assert_eq!(
        s.vsctl_ok(&["--columns=timeouts", "--bare", "list", "CT_Timeout_Policy"])
            .lines()
            .filter(|l| !l.is_empty())
            .count(),
        2
    );
    // Refusals: the same words from both tools.
    let cases: [&[&str]; 5] = [
        &["add-zone-tp", "system", "zone=3", "udp_single=1"],
        &["add-zone-tp", "netdev", "zone=3", "udp_single=1"],
        &["del-zone-tp", "system", "zone=11"],
        &["del-zone-tp", "netdev", "zone=3"],
        &["list-zone-tp", "netdev"],
    ];
    for args in cases {
        let theirs = s.vsctl(args);
        let ours = s.z(args);
        assert_eq!(theirs.status, 1, "{args:?}");
        assert_eq!(ours.status, 1, "{args:?}: {}", ours.stderr);
        assert_eq!(
            ours.stderr.strip_prefix("zonetp: ").unwrap(),
            theirs.stderr.lines().last().unwrap().strip_prefix("ovs-vsctl: ").unwrap().to_owned() + "\n",
            "{args:?}"
        );
    }
    // del-zone-tp both ways; the last reference gone, ovsdb-server
    // collects the rows (none is left unreferenced).
    s.z_ok(&["del-zone-tp", "system", "zone=3"]);
    s.vsctl_ok(&["del-zone-tp", "system", "zone=9"]);
    assert_eq!(
        s.vsctl_ok(&["list-zone-tp", "system"]),
        "Zone:4, Timeout Policies: tcp_established=100 udp_single=30\n"
    );
    s.vsctl_ok(&["del-zone-tp", "system", "zone=4"]);
    assert_eq!(s.z_ok(&["list-zone-tp", "system"]), "");
    assert_eq!(s.vsctl_ok(&["list", "CT_Timeout_Policy"]), "");
    assert_eq!(s.vsctl_ok(&["list", "CT_Zone"]), "");
    // --if-exists and --may-exist as ovs-vsctl takes them.
    s.z_ok(&["--if-exists", "del-zone-tp", "system", "zone=4"]);
    s.z_ok(&["add-zone-tp", "system", "zone=4", "udp_single=1"]);
    s.z_ok(&["--may-exist", "add-zone-tp", "system", "zone=4", "udp_single=2"]);
    assert_eq!(s.vsctl_ok(&["list-zone-tp", "system"]), "Zone:4, Timeout Policies: udp_single=2\n");
    // Datapath records, and what a value outside the schema gets.
    s.z_ok(&["add-dp", "netdev"]);
    assert_eq!(s.vsctl_ok(&["get", "Open_vSwitch", ".", "datapaths"]).matches('=').count(), 2);
    assert!(s.z(&["add-dp", "netdev"]).stderr.contains("datapath netdev already exists"));
    s.z_ok(&["add-zone-tp", "netdev", "zone=1", "icmp_reply=3"]);
    s.z_ok(&["del-dp", "netdev"]);
    assert_eq!(s.z_ok(&["list-dp"]), "system\n");
    assert_eq!(s.vsctl_ok(&["list", "Datapath"]).matches("_uuid").count(), 1, "the record went");
    let e = s.z(&["add-zone-tp", "system", "zone=70000", "udp_single=1"]);
    assert_eq!(
        (e.status, e.stderr.as_str()),
        // A value that does not parse is a usage error (exit status 2).
        (2, "zonetp: zone 70000 is not in the valid range 0 to 65535 (inclusive)\n")
    );
}

/// A server whose schema is Debian's (8.3.1) plus the two columns schema
/// 8.5.0 (OVS 3.3) added for zone limits, `CT_Zone.limit` and
/// `Datapath.ct_zone_default_limit`, with its version bumped to 8.5.0:
/// ovsdb-server 3.1 serves it; OVS's own schema file is not needed.
fn server_with_zone_limits(name: &str) -> Server {
    let dir = temp_dir(name);
    let path = dir.join("limit.ovsschema");
    write_schema(&path, |schema| {
        schema["version"] = "8.5.0".into();
        let limit = serde_json::json!({"type": {"key": {"type": "integer", "minInteger": 0,
            "maxInteger": 4294967295u64}, "min": 0, "max": 1}});
        schema["tables"]["CT_Zone"]["columns"]["limit"] = limit.clone();
        schema["tables"]["Datapath"]["columns"]["ct_zone_default_limit"] = limit;
    });
    Server::with_schema(dir, path.to_str().unwrap())
}

/// The zone limit verbs on a database of schema 8.5.0: ovs-vsctl 3.5's
/// round trip and refusals, and the rows as OVS 3.5 has them.
#[test]
fn zone_limits_on_a_schema_8_5_0_database_round_trip_with_ovs_vsctl_3_5_s_words() {
    let s = server_with_zone_limits("limit-verbs");
    zone_limits_round_trip(&|args| s.z(args));
    s.z_ok(&["set-zone-limit", "system", "default", "9"]);
    let select = |table: &str, column: &str| {
        let txn = serde_json::json!(["Open_vSwitch", {"op": "select", "table": table, "where": [],
            "columns": [column]}]);
        tool_ok("ovsdb-client", &["transact", &s.remote(), &txn.to_string()]).trim().to_owned()
    };
    assert_eq!(select("Datapath", "ct_zone_default_limit"), r#"[{"rows":[{"ct_zone_default_limit":9}]}]"#);
    let mut limits: Vec<String> = serde_json::from_str::<serde_json::Value>(&select("CT_Zone", "limit"))
        .unwrap()[0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["limit"].to_string())
        .collect();
    limits.sort();
    assert_eq!(limits, ["0", "4294967295"], "one row per limited zone, none left over");
    // ovs-vsctl 3.1 sees zones that have a limit alone as zones without a policy.
    assert_eq!(s.vsctl_ok(&["list-zone-tp", "system"]), s.z_ok(&["list-zone-tp", "system"]));
    assert_eq!(
        s.z_ok(&["list-zone-tp", "system"]),
        "Zone:16, Timeout Policies: system default\nZone:65535, Timeout Policies: system default\n"
    );
}

/// On Debian's schema (8.3.1, OVS 3.1) the zone limit verbs are refused in
/// ovs-vsctl 3.1's words for a command it does not have, whatever their
/// arguments; every other verb keeps working.
#[test]
fn zone_limit_verbs_are_unknown_commands_on_an_older_schema_and_the_rest_works() {
    let s = Server::new("limit-old-schema");
    for args in [
        &["set-zone-limit", "system", "1", "5"][..],
        &["set-zone-limit", "system", "five", "5"],
        &["del-zone-limit", "system", "default"],
        &["--if-exists", "del-zone-limit", "system", "1"],
        &["list-zone-limits", "system"],
        &["list-zone-limits", "nope"],
    ] {
        let theirs = s.vsctl(args);
        let ours = s.z(args);
        assert_eq!((theirs.status, ours.status), (1, 1), "{args:?}: {}", ours.stderr);
        assert_eq!(ours.stderr, theirs.stderr.replace("ovs-vsctl: ", "zonetp: "), "{args:?}");
        assert_eq!(
            ours.stderr,
            format!(
                "zonetp: unknown command '{}'; use --help for help\n",
                args.iter().find(|a| a.contains("zone-limit")).unwrap()
            )
        );
    }
    s.z_ok(&["add-zone-tp", "system", "zone=3", "udp_single=1"]);
    assert_eq!(s.z_ok(&["list-zone-tp", "system"]), "Zone:3, Timeout Policies: udp_single=1\n");
    s.z_ok(&["del-zone-tp", "system", "zone=3"]);
    assert_eq!(s.z_ok(&["list-dp-cap", "system"]), "\n");
    assert_eq!(s.z_ok(&["list-dp"]), "system\n");
}

#[test]
fn a_schema_with_zone_limits_keeps_limited_zones_and_uses_ovs_3_3_words() {
    let s = server_with_zone_limits("limits");
    s.z_ok(&["add-zone-tp", "system", "zone=3", "udp_single=1"]);
    let unquote = |t: String| t.trim().trim_matches('"').to_owned();
    let dp = unquote(s.vsctl_ok(&["get", "Open_vSwitch", ".", "datapaths:system"]));
    let zone = unquote(s.vsctl_ok(&["get", "Datapath", &dp, "ct_zones:3"]));
    // ovs-vsctl 3.1 does not know the column; set it over the protocol.
    let txn = serde_json::json!(["Open_vSwitch", {"op": "update", "table": "CT_Zone",
        "where": [["_uuid", "==", ["uuid", zone]]], "row": {"limit": 10}}]);
    tool_ok("ovsdb-client", &["transact", &s.remote(), &txn.to_string()]);
    assert_eq!(
        s.z(&["add-zone-tp", "system", "zone=3", "udp_single=2"]).stderr,
        "zonetp: zone id 3 already has a policy\n"
    );
    // The zone keeps its row (and limit); only the policy goes.
    s.z_ok(&["del-zone-tp", "system", "zone=3"]);
    assert_eq!(s.z_ok(&["list-zone-tp", "system"]), "Zone:3, Timeout Policies: system default\n");
    assert_eq!(s.vsctl_ok(&["list", "CT_Timeout_Policy"]), "", "the policy row went with its last reference");
    let select = serde_json::json!(["Open_vSwitch", {"op": "select", "table": "CT_Zone", "where": [],
        "columns": ["limit", "timeout_policy"]}]);
    assert_eq!(
        tool_ok("ovsdb-client", &["transact", &s.remote(), &select.to_string()]).trim(),
        r#"[{"rows":[{"limit":10,"timeout_policy":["set",[]]}]}]"#
    );
    assert_eq!(
        s.z(&["del-zone-tp", "system", "zone=3"]).stderr,
        "zonetp: zone id 3 does not have a policy\n"
    );
    // A zone with a limit and no policy takes one without --may-exist.
    s.z_ok(&["add-zone-tp", "system", "zone=3", "udp_single=2"]);
    assert_eq!(s.z_ok(&["list-zone-tp", "system"]), "Zone:3, Timeout Policies: udp_single=2\n");
    assert_eq!(
        s.z(&["del-zone-tp", "system", "zone=11"]).stderr,
        "zonetp: zone id 11 does not have a policy\n"
    );
}

#[test]
fn zonetp_db_in_the_environment_names_a_remote_too() {
    let s = Server::new("env");
    s.vsctl_ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
    let out = Command::new(env!("CARGO_BIN_EXE_zonetp"))
        .args(["list-zone-tp", "system"])
        .env("ZONETP_DB", s.remote())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Zone:1, Timeout Policies: udp_single=5\n");
}

#[test]
fn netns_option_works_the_kernel_of_a_named_namespace() {
    in_netns(|| {
        let ns = NamedNetns::new("netns-opt");
        zonetp_ok(&[
            "--netns",
            &ns.0,
            "timeout",
            "add",
            "web",
            "--l3",
            "ipv4",
            "--l4",
            "udp",
            "unreplied=10",
        ]);
        let there = tool_ok("ip", &["netns", "exec", &ns.0, "nfct", "list", "timeout"]);
        assert!(there.contains(".web = {"), "{there}");
        assert!(!tool_ok("nfct", &["list", "timeout"]).contains(".web"), "not here");
        let e = zonetp_err(&["--netns", "zt-no-such-namespace", "timeout", "list"]);
        assert!(
            e.contains("network namespace zt-no-such-namespace: cannot open /run/netns/zt-no-such-namespace"),
            "{e}"
        );
        assert!(
            zonetp_usage(&["--netns", "../x", "timeout", "list"]).contains("invalid network namespace name")
        );
    });
}

#[test]
fn bad_remotes_and_old_schemas_are_refused_clearly() {
    let e = zonetp(&["--db", "tcp:localhost", "list-dp"]);
    assert_eq!(e.status, 2, "a remote that does not parse is a usage error");
    assert!(e.stderr.contains("expected tcp:IP:PORT"), "{}", e.stderr);
    let dir = temp_dir("nosock");
    let e = zonetp(&["--db", &format!("unix:{}/none.sock", dir.display()), "list-dp"]);
    assert_eq!(e.status, 1);
    assert!(e.stderr.starts_with("zonetp: ovsdb: cannot connect to unix:"), "{}", e.stderr);
    // A schema before the zone tables (8.1.0 has no CT_Timeout_Policy).
    let path = dir.join("old.ovsschema");
    write_schema(&path, |old| {
        old["version"] = "8.1.0".into();
        for t in ["CT_Zone", "CT_Timeout_Policy"] {
            old["tables"].as_object_mut().unwrap().remove(t);
        }
        old["tables"]["Datapath"]["columns"].as_object_mut().unwrap().remove("ct_zones");
    });
    let db = dir.join("old.db");
    tool_ok("ovsdb-tool", &["create", db.to_str().unwrap(), path.to_str().unwrap()]);
    // Served as it is: no init, no records (Server::with_schema adds them).
    // The guard removes `dir` with the server.
    let mut server = Server::unstarted(dir, db);
    server.start();
    let e = zonetp(&["--db", &server.remote(), "list-zone-tp", "system"]);
    assert_eq!(e.status, 1);
    assert!(
        e.stderr.contains("schema version 8.1.0; zone timeout policies need 8.2.0 or later"),
        "{}",
        e.stderr
    );
}

#[test]
fn policy_ids_are_stable_never_reused_and_survive_restarts() {
    in_netns(|| {
        let mut s = Server::new("ids");
        s.z_ok(&["add-zone-tp", "system", "zone=1", "udp_single=11"]);
        s.z_ok(&["add-zone-tp", "system", "zone=2", "udp_single=22"]);
        assert_eq!((s.stored_id(1), s.stored_id(2)), (Some(1), Some(2)));
        s.z_ok(&["sync"]);
        // Policy 1 goes; a new policy never gets its number back.
        s.z_ok(&["del-zone-tp", "system", "zone=1"]);
        s.z_ok(&["add-zone-tp", "system", "zone=3", "udp_single=33"]);
        assert_eq!(s.stored_id(3), Some(3));
        s.z_ok(&["sync"]);
        let mut want = six(2);
        want.extend(six(3));
        want.sort();
        assert_eq!(kernel_objects(), want);
        // A restarted server, a new connection: the same ids, nothing to do.
        s.stop();
        s.start();
        assert_eq!(s.resolve_udp4(2), "ovs_tp_2_udp4");
        assert!(s.z_ok(&["sync"]).contains("changed 0, unchanged 12"));
        // zonetp's --may-exist on a policy only this zone uses changes it
        // in place: same id, only the changed object is replaced.
        s.z_ok(&["--may-exist", "add-zone-tp", "system", "zone=2", "udp_single=23"]);
        assert_eq!(s.stored_id(2), Some(2));
        let out = s.z_ok(&["sync"]);
        assert!(out.contains("replaced ovs_tp_2_udp4") && out.contains("replaced 2,"), "{out}");
        // ovs-vsctl's --may-exist makes a new row: it gets a new id (4),
        // and sync moves the kernel over.
        s.vsctl_ok(&["--may-exist", "add-zone-tp", "system", "zone=2", "udp_single=24"]);
        assert_eq!(s.resolve_udp4(2), "ovs_tp_4_udp4");
        s.z_ok(&["sync"]);
        let mut want = six(3);
        want.extend(six(4));
        want.sort();
        assert_eq!(kernel_objects(), want);
        assert_eq!(udp_single("ovs_tp_4_udp4"), Some(24));
        assert_eq!(
            s.vsctl_ok(&["get", "Open_vSwitch", ".", "external_ids:zonetp-next-policy-id"]).trim(),
            "\"5\""
        );
    });
}

#[test]
fn concurrent_writers_lose_nothing_and_share_no_id() {
    let s = Server::new("concurrent");
    let remote = s.remote();
    let children: Vec<Child> = (0..8)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_zonetp"))
                .args([
                    "--db",
                    &remote,
                    "add-zone-tp",
                    "system",
                    &format!("zone={}", 10 + i),
                    &format!("udp_single={i}"),
                ])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // ovs-vsctl writes at the same time.
    for i in 0..4 {
        s.vsctl_ok(&["add-zone-tp", "system", &format!("zone={}", 30 + i), &format!("icmp_first={i}")]);
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let lines = s.vsctl_ok(&["list-zone-tp", "system"]);
    assert_eq!(lines.lines().count(), 12, "{lines}");
    // Rows ovs-vsctl inserted after zonetp's last write get their ids with
    // the next write (reading numbers in memory only).
    s.z_ok(&["--if-exists", "del-zone-tp", "system", "zone=99"]);
    let mut ids: Vec<u32> = (10..18).chain(30..34).map(|z| s.stored_id(z).unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "every policy its own id: {ids:?}");
}

/// `zonetp sync --watch` against the server, in this thread's namespace.
fn watcher(s: &Server, tag: &str) -> (Proc, PathBuf) {
    let log = s.dir.join(format!("{tag}.log"));
    let p = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_zonetp")).args(["--db", &s.remote(), "sync", "--watch"]),
        &log,
    );
    (p, log)
}

#[test]
fn a_database_without_the_datapath_row_is_refused_and_other_datapaths_objects_are_kept() {
    in_netns(|| {
        let s = Server::new("safety");
        s.vsctl_ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
        // zonetp numbers the policies ovs-vsctl made when it writes.
        s.z_ok(&["add-dp", "netdev"]);
        let id = s.stored_id(1).unwrap();
        s.z_ok(&["add-zone-tp", "netdev", "zone=2", "udp_single=7"]);
        let theirs = s.z_ok(&["--format", "json", "list-zone-tp", "netdev"]);
        let theirs: serde_json::Value = serde_json::from_str(&theirs).unwrap();
        let theirs = theirs[0]["policy_id"].as_u64().unwrap();
        assert_ne!(theirs, u64::from(id));
        // An object of the netdev policy (made by someone else): not ours to delete.
        let kept = format!("ovs_tp_{theirs}_udp4");
        tool_ok("nfct", &["add", "timeout", &kept, "inet", "udp", "unreplied", "7"]);
        let report: serde_json::Value =
            serde_json::from_str(&s.z_ok(&["--format", "json", "sync"])).expect("one document");
        assert_eq!(report["created"].as_array().unwrap().len(), 6, "{report}");
        assert_eq!(report["kept"], serde_json::json!([kept]), "{report}");
        let mut want = six(id);
        want.push(kept.clone());
        want.sort();
        assert_eq!(kernel_objects(), want);
        // Only the kernel datapath is synced.
        let e = s.z(&["sync", "netdev"]);
        assert_eq!(e.status, 1, "{}", e.stderr);
        assert!(e.stderr.contains("datapath netdev has no kernel objects"), "{}", e.stderr);
        // The system record gone (an OVS user's edit): refused, nothing deleted.
        s.vsctl_ok(&["remove", "Open_vSwitch", ".", "datapaths", "system"]);
        let e = s.z(&["sync"]);
        assert_eq!(e.status, 1, "{}", e.stderr);
        assert_eq!(e.stderr.lines().count(), 1, "{}", e.stderr);
        assert!(
            e.stderr
                .contains(&format!("Open vSwitch database {} has no record for datapath system", s.remote())),
            "{}",
            e.stderr
        );
        assert!(e.stderr.contains("sync --delete-all"), "{}", e.stderr);
        assert_eq!(kernel_objects(), want, "the kernel was left as it is");
        // Deleting everything is asked for by name; the netdev policy's object stays.
        assert!(s.z_ok(&["sync", "--delete-all"]).contains("deleted 6"));
        assert_eq!(kernel_objects(), vec![kept]);
    });
}

/// The agent's stdout and stderr lines so far.
fn log_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log).unwrap_or_default().lines().map(str::to_owned).collect()
}

#[test]
fn the_agent_reads_signals_prints_json_lines_and_refuses_a_missing_datapath_row() {
    in_netns(|| {
        let s = Server::new("agent-signals");
        s.vsctl_ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
        let log = s.dir.join("agent.log");
        let mut agent = Proc::spawn(
            Command::new(env!("CARGO_BIN_EXE_zonetp")).args([
                "--db",
                &s.remote(),
                "--format",
                "json",
                "sync",
                "--watch",
                "--interval",
                "3600",
            ]),
            &log,
        );
        wait_for("the agent's first pass", 20, || kernel_objects().len() == 6);
        wait_for("its report", 20, || log_lines(&log).iter().any(|l| l.starts_with('{')));
        // Every report is one whole JSON document on a line of its own.
        for l in log_lines(&log).iter().filter(|l| l.starts_with('{')) {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["datapath"], "system", "{l}");
        }
        // Behind zonetp's back, with the next periodic pass an hour away:
        // only SIGHUP brings the object back.
        let id = s.stored_id(1).unwrap();
        tool_ok("nfct", &["delete", "timeout", &format!("ovs_tp_{id}_tcp4")]);
        assert_eq!(kernel_objects().len(), 5);
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(agent.0.id() as i32, libc::SIGHUP) };
        wait_for("the SIGHUP pass", 20, || kernel_objects().len() == 6);
        // SAFETY: as above.
        unsafe { libc::kill(agent.0.id() as i32, libc::SIGUSR1) };
        wait_for("SIGUSR1 logged", 20, || log_lines(&log).iter().any(|l| l.contains("SIGUSR1 ignored")));
        assert!(agent.0.try_wait().unwrap().is_none(), "SIGHUP and SIGUSR1 do not stop the agent");
        // The system record gone: every pass refuses and leaves the kernel
        // alone, and ovs-vsctl (which waits for cur_cfg) still returns.
        s.vsctl_ok(&["remove", "Open_vSwitch", ".", "datapaths", "system"]);
        wait_for("the refusal", 20, || {
            log_lines(&log).iter().any(|l| l.contains("no record for datapath system"))
        });
        let db = format!("--db={}", s.remote());
        tool_ok("ovs-vsctl", &[&db, "--timeout=20", "set", "Open_vSwitch", ".", "external_ids:x=1"]);
        assert_eq!(kernel_objects(), six(id), "nothing deleted");
        // SIGTERM stops it at once.
        let start = Instant::now();
        // SAFETY: as above.
        unsafe { libc::kill(agent.0.id() as i32, libc::SIGTERM) };
        let status = agent.0.wait().unwrap();
        let took = start.elapsed();
        assert!(status.success(), "clean exit on SIGTERM: {status:?}");
        eprintln!("[measure] SIGTERM to the idle agent -> exit: {took:?}");
        // Its wait is up to --interval long: stopping must not wait it out
        // (3 s leaves room for a loaded shared machine).
        assert!(took < Duration::from_secs(3), "stopping took {took:?}");
        assert!(log_lines(&log).iter().any(|l| l.contains("sync --watch stopped")));
    });
}

/// Issue 21 M1: a closed standard output does not stop a sync before it
/// sets `cur_cfg` (`zonetp sync | true` used to exit 0 after its first
/// line, leaving a waiting `ovs-vsctl` hanging), and the agent under
/// `sync --watch | head -1` keeps applying commits.
#[test]
fn a_closed_stdout_still_sets_cur_cfg_and_keeps_the_agent_going() {
    in_netns(|| {
        let s = Server::new("closed-stdout");
        s.vsctl_ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
        s.vsctl_ok(&["set", "Open_vSwitch", ".", "next_cfg=7"]);
        let closed = || {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            Stdio::from(writer)
        };
        let o = Command::new(env!("CARGO_BIN_EXE_zonetp"))
            .args(["--db", &s.remote(), "sync"])
            .stdout(closed())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(kernel_objects().len(), 6);
        assert_eq!(s.vsctl_ok(&["get", "Open_vSwitch", ".", "cur_cfg"]).trim(), "7");

        let log = s.dir.join("agent.log");
        let mut agent = Command::new(env!("CARGO_BIN_EXE_zonetp"));
        agent
            .args(["--db", &s.remote(), "sync", "--watch", "--interval", "3600"])
            .stdin(Stdio::null())
            .stdout(closed())
            .stderr(File::create(&log).unwrap())
            .process_group(0);
        let mut agent = Proc(agent.spawn().unwrap());
        // ovs-vsctl without --no-wait returns only once the agent applied
        // the change: twice, so the first report's EPIPE lies behind.
        let db = format!("--db={}", s.remote());
        for (zone, secs) in [("zone=2", "udp_single=8"), ("zone=3", "udp_single=9")] {
            tool_ok("ovs-vsctl", &[&db, "--timeout=20", "add-zone-tp", "system", zone, secs]);
        }
        assert_eq!(kernel_objects().len(), 18, "{}", std::fs::read_to_string(&log).unwrap());
        assert!(agent.0.try_wait().unwrap().is_none(), "the agent is still running");
        agent.signal(libc::SIGTERM);
        assert!(agent.0.wait().unwrap().success());
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.contains("standard output"), "{text}");
    });
}

#[test]
fn the_agent_follows_commits_reports_cur_cfg_and_survives_server_restarts() {
    in_netns(|| {
        let mut s = Server::new("watch");
        s.vsctl_ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
        let (_agent, log) = watcher(&s, "agent");
        wait_for("the agent's first sync", 20, || kernel_objects().len() == 6);
        // ovs-vsctl without --no-wait returns once the agent applied the
        // change and set cur_cfg: by then the kernel has it.
        let db = format!("--db={}", s.remote());
        let mut took = Vec::new();
        for i in 0..20u32 {
            let start = Instant::now();
            tool_ok(
                "ovs-vsctl",
                &[
                    &db,
                    "--timeout=20",
                    "--may-exist",
                    "add-zone-tp",
                    "system",
                    "zone=2",
                    &format!("udp_single={}", 100 + i),
                ],
            );
            took.push(start.elapsed());
            let id = s.stored_id(2).unwrap();
            assert_eq!(
                udp_single(&format!("ovs_tp_{id}_udp4")),
                Some(100 + i),
                "{}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        let cur = s.vsctl_ok(&["get", "Open_vSwitch", ".", "cur_cfg"]);
        assert_eq!(cur, s.vsctl_ok(&["get", "Open_vSwitch", ".", "next_cfg"]));
        // A value the kernel cannot take is reported by the agent; the
        // configuration still counts as processed, as with ovs-vswitchd, so
        // ovs-vsctl does not hang on it.
        tool_ok(
            "ovs-vsctl",
            &[&db, "--timeout=20", "add-zone-tp", "system", "zone=9", "udp_single=2000000000"],
        );
        wait_for("the agent to report the refusal", 20, || {
            std::fs::read_to_string(&log).unwrap().contains("udp_single=2000000000 is too large")
                || std::fs::read_to_string(&log).unwrap().contains("unreplied=2000000000 is too large")
        });
        tool_ok("ovs-vsctl", &[&db, "--timeout=20", "del-zone-tp", "system", "zone=9"]);
        took.sort();
        eprintln!(
            "[measure] ovs-vsctl commit -> kernel (cur_cfg) over 20 changes: min {:?}, median {:?}, max {:?}",
            took[0], took[10], took[19]
        );
        // The server goes away; a change is made while the agent cannot see
        // it (the same database served on another socket); the server
        // comes back: the agent reconnects, resyncs in full, misses nothing.
        s.stop();
        let aside = s.dir.join("aside.sock");
        {
            let _other = s.serve_on(&aside, "aside");
            tool_ok(
                "ovs-vsctl",
                &[
                    &format!("--db=unix:{}", aside.display()),
                    "--no-wait",
                    "add-zone-tp",
                    "system",
                    "zone=3",
                    "udp_single=77",
                ],
            );
            tool_ok(
                "ovs-vsctl",
                &[&format!("--db=unix:{}", aside.display()), "--no-wait", "del-zone-tp", "system", "zone=1"],
            );
        }
        s.start();
        let t = wait_for("the agent to catch up after the restart", 30, || {
            s.stored_id(3).is_some_and(|id| udp_single(&format!("ovs_tp_{id}_udp4")) == Some(77))
                && kernel_objects().len() == 12
        });
        eprintln!("[measure] server restart -> agent resynced: {t:?}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("reconnecting"), "{text}");
        assert!(text.matches("zonetp: following unix:").count() >= 2, "{text}");
    });
}

#[test]
fn a_server_gone_silent_is_noticed_and_followed_again() {
    in_netns(|| {
        let mut s = Server::new("silent");
        let (_agent, log) = watcher(&s, "agent");
        s.vsctl_ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
        wait_for("the agent's first sync", 20, || kernel_objects().len() == 6);
        // Stopped, the server keeps its sockets open and says nothing.
        s.proc.as_mut().unwrap().signal(libc::SIGSTOP);
        let t = wait_for("the agent to notice the silence", 40, || {
            std::fs::read_to_string(&log).unwrap().contains("; reconnecting")
        });
        eprintln!("[measure] a silent server noticed after {t:?}");
        s.proc.as_mut().unwrap().signal(libc::SIGCONT);
        s.vsctl_ok(&["add-zone-tp", "system", "zone=2", "udp_single=6"]);
        wait_for("the agent to follow again", 40, || kernel_objects().len() == 12);
    });
}

#[test]
fn sync_refuses_beside_ovs_vswitchd_and_reading_still_works() {
    in_netns(|| {
        let s = Server::new("vswitchd");
        s.vsctl_ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
        // Numbered now (id 1), before ovs-vswitchd can take its lock: rows
        // numbered in one pass get their ids in UUID order, so zone 2's
        // row, added below, would be 1 or 2 by chance.
        s.z_ok(&["sync"]);
        // ovs-vswitchd in another namespace ("host"), on the same database.
        let vs = |tag: &str, cmd: &mut Command| {
            cmd.args([
                "ovs-vswitchd",
                &s.remote(),
                &format!("--unixctl={}", s.dir.join(format!("{tag}.ctl")).display()),
                "--no-chdir",
            ]);
            Proc::spawn(cmd, &s.dir.join(format!("{tag}.log")))
        };
        // Syncs until one is refused (ovs-vswitchd takes a moment to
        // start); returns the refusal.
        let refused = |what: &str| {
            let mut refusal = String::new();
            wait_for(what, 20, || {
                let r = s.z(&["sync"]);
                refusal = r.stderr;
                r.status == 1
            });
            refusal
        };
        let mut elsewhere = vs("vs-elsewhere", Command::new("unshare").arg("-n"));
        let refusal = refused("ovs-vswitchd to take its lock");
        assert!(
            refusal.contains("ovs-vswitchd manages this database (it holds the OVSDB lock ovs_vswitchd)"),
            "{refusal}"
        );
        assert!(refusal.contains("--beside-vswitchd"), "{refusal}");
        assert_eq!(s.z_ok(&["list-zone-tp", "system"]), "Zone:1, Timeout Policies: udp_single=5\n");
        s.vsctl_ok(&["add-zone-tp", "system", "zone=2", "udp_single=6"]);
        // A dry run plans nothing beside ovs-vswitchd (its objects, its
        // numbering); with the override it shows what that sync would do.
        let dry = s.z_ok(&["sync", "--dry-run"]);
        assert!(dry.starts_with("sync system: nothing planned: ovs-vswitchd manages this database"), "{dry}");
        assert!(!dry.contains("create"), "{dry}");
        let dry = s.z_ok(&["sync", "--dry-run", "--beside-vswitchd"]);
        assert!(dry.contains("create ovs_tp_2_udp4 ipv4 udp unreplied=6"), "{dry}");
        assert!(s.z_ok(&["sync", "--beside-vswitchd"]).contains("created ovs_tp_2_udp4"));
        elsewhere.signal(libc::SIGTERM);
        drop(elsewhere);
        wait_for("the lock to be free", 20, || s.z(&["sync"]).status == 0);
        // ovs-vswitchd in this namespace, whatever database it follows.
        let other = Server::new("vswitchd-other");
        let _here = Proc::spawn(
            Command::new("ovs-vswitchd").args([
                &other.remote(),
                &format!("--unixctl={}", s.dir.join("vs-here.ctl").display()),
                "--no-chdir",
            ]),
            &s.dir.join("vs-here.log"),
        );
        let refusal = refused("ovs-vswitchd to start");
        assert!(
            refusal.contains("runs in this network namespace and owns its ovs_tp_* timeout objects"),
            "{refusal}"
        );
        // The file store is refused just the same.
        let dir = temp_dir("vswitchd-file");
        let file = dir.join("conf.json");
        let e = zonetp(&["--db", file.to_str().unwrap(), "sync"]);
        assert_eq!(e.status, 1);
        assert!(e.stderr.contains("ovs-vswitchd (pid"), "{}", e.stderr);
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// Beside a real ovs-vswitchd process in this namespace, `status` pairs the
/// database's zones with objects numbered otherwise than zonetp numbers
/// them (made here by a zonetp sync from a file that met the policies in
/// another order, as ovs-vswitchd would number them: the host has no
/// openvswitch.ko for ovs-vswitchd to push its own; the VM test
/// vswitchd-status has the real ones, with flows). Without flows, the
/// objects' contents decide, and zones 5 and 7, whose policies differ only
/// in udp_first, fit two ids: the report says it chose.
#[test]
fn status_beside_ovs_vswitchd_pairs_zones_with_its_objects_by_contents() {
    in_netns(|| {
        let s = Server::new("vswitchd-status");
        let zones: [(&str, &[&str]); 4] = [
            ("zone=0", &["udp_single=90", "tcp_established=3600"]),
            ("zone=5", &["udp_single=50", "icmp_first=50", "udp_first=5"]),
            ("zone=7", &["udp_single=50", "icmp_first=50", "udp_first=7"]),
            ("zone=20", &["udp_single=70", "tcp_established=700"]),
        ];
        let dir = temp_dir("vswitchd-status-file");
        let file = dir.join("conf.json");
        let f = file.to_str().unwrap();
        zonetp_ok(&["--db", f, "add-dp", "system"]);
        for (zone, tp) in &zones {
            let mut args = vec!["add-zone-tp", "system", zone];
            args.extend_from_slice(tp);
            s.vsctl_ok(&args);
        }
        // The other order: zone 20's policy gets 1, 7's 2, 5's 3, 0's 4.
        for (zone, tp) in zones.iter().rev() {
            let mut args = vec!["--db", f, "add-zone-tp", "system", zone];
            args.extend_from_slice(tp);
            zonetp_ok(&args);
        }
        zonetp_ok(&["--db", f, "sync"]);
        // Read as zonetp's own objects, they are not the database's.
        let own = s.z(&["status", "--check", "--managed-by", "zonetp"]);
        assert_eq!(own.status, 1, "{}", own.stdout);
        let _vswitchd = Proc::spawn(
            Command::new("ovs-vswitchd").args([
                &s.remote(),
                &format!("--unixctl={}", s.dir.join("vs.ctl").display()),
                "--no-chdir",
            ]),
            &s.dir.join("vs.log"),
        );
        wait_for("ovs-vswitchd to start", 20, || {
            s.z_ok(&["status"]).contains("objects of ovs-vswitchd (pid")
        });
        let r = s.z(&["status", "--check"]);
        assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
        let text = r.stdout;
        for want in [
            "datapath flows: not read (",
            "zone 0: policy tcp_established=3600 udp_single=90; 0 entries",
            "  by contents: ovs-vswitchd's policy 4, the only objects with these values (the datapath's flows were not read)",
            "  by contents: ovs-vswitchd's policies 2 and 3 all have these values and the datapath's flows were not read; shown: 2, the lowest",
            "  by contents: ovs-vswitchd's policy 1, the only objects",
            "  ipv4 udp    ovs_tp_1_udp4        in sync",
            "in sync: ovs-vswitchd's objects carry every zone's policy",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        assert!(!text.contains("stray") && !text.contains("differs") && !text.contains("missing"), "{text}");
        let json =
            serde_json::from_str::<serde_json::Value>(&s.z_ok(&["status", "--format", "json"])).unwrap();
        assert_eq!(json["resolution"], "exact");
        assert_eq!(json["strays"], serde_json::json!([]));
        assert_eq!(
            json["zones"][1]["decided_by"],
            serde_json::json!({"by": "contents-ambiguous", "candidates": [2, 3]})
        );
        assert_eq!(json["zones"][3]["policy_id"], 1);
        let dry = s.z_ok(&["sync", "--dry-run"]);
        assert!(dry.starts_with("sync system: nothing planned: ovs-vswitchd (pid "), "{dry}");
        let dry =
            serde_json::from_str::<serde_json::Value>(&s.z_ok(&["sync", "--dry-run", "--format", "json"]))
                .unwrap();
        assert_eq!(dry["plan"], serde_json::json!([]));
        assert!(dry["refused_beside_vswitchd"].as_str().unwrap().contains("runs in this network namespace"));
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// A named network namespace (`ip netns add`), deleted with the guard.
struct NamedNetns(String);

impl NamedNetns {
    fn new(tag: &str) -> Self {
        let name = format!("zt{}-{tag}", std::process::id());
        let _ = tool("ip", &["netns", "del", &name]);
        tool_ok("ip", &["netns", "add", &name]);
        NamedNetns(name)
    }

    /// The udp_single (UNREPLIED) of object `name` in this namespace.
    fn udp_single(&self, name: &str) -> Option<u32> {
        let r = tool("ip", &["netns", "exec", &self.0, "nfct", "get", "timeout", name]);
        if r.status != 0 {
            return None;
        }
        r.stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(".UNREPLIED = ")?.trim_end_matches(',').parse().ok())
    }

    fn objects(&self) -> Vec<String> {
        let out = tool_ok("ip", &["netns", "exec", &self.0, "nfct", "list", "timeout"]);
        let mut v: Vec<String> =
            object_names(&out).into_iter().filter(|n| n.starts_with("ovs_tp_")).collect();
        v.sort();
        v
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = tool("ip", &["netns", "del", &self.0]);
    }
}

/// A 3-member clustered Open_vSwitch database on loopback ports of this
/// thread's namespace.
struct Cluster {
    dir: PathBuf,
    members: Vec<Option<Proc>>,
}

const RAFT_PORTS: [u16; 3] = [6643, 6644, 6645];
const CLIENT_PORTS: [u16; 3] = [6651, 6652, 6653];

impl Cluster {
    fn new() -> Self {
        let dir = temp_dir("cluster");
        let db = |i: usize| dir.join(format!("db{i}")).to_str().unwrap().to_owned();
        let raft = |i: usize| format!("tcp:127.0.0.1:{}", RAFT_PORTS[i]);
        tool_ok("ovsdb-tool", &["create-cluster", &db(0), SCHEMA, &raft(0)]);
        for i in 1..3 {
            tool_ok("ovsdb-tool", &["join-cluster", &db(i), "Open_vSwitch", &raft(i), &raft(0)]);
        }
        let mut c = Cluster { dir, members: vec![None, None, None] };
        for i in 0..3 {
            c.start(i);
        }
        // ovs-vsctl talks to the leader only: it works once there is one.
        wait_for("the cluster to elect a leader", 30, || c.vsctl(&["init"]).status == 0);
        wait_for("all members to join", 30, || {
            (0..3).all(|i| c.status(i).contains("Status: cluster member"))
        });
        let created = c.vsctl(&ADD_SYSTEM_DATAPATH);
        assert_eq!(created.status, 0, "{}", created.stderr);
        c
    }

    fn start(&mut self, i: usize) {
        let dir = &self.dir;
        self.members[i] = Some(ovsdb_server(
            &dir.join(format!("db{i}")),
            &format!("ptcp:{}:127.0.0.1", CLIENT_PORTS[i]),
            &dir.join(format!("ctl{i}")),
            &dir.join(format!("server{i}.log")),
        ));
    }

    fn kill(&mut self, i: usize) {
        self.members[i] = None;
    }

    fn status(&self, i: usize) -> String {
        let ctl = format!("{}/ctl{i}", self.dir.display());
        tool("ovs-appctl", &["-t", &ctl, "cluster/status", "Open_vSwitch"]).stdout
    }

    fn leader(&self) -> usize {
        let mut leader = None;
        wait_for("a leader", 30, || {
            leader = (0..3).find(|i| self.members[*i].is_some() && self.status(*i).contains("Role: leader"));
            leader.is_some()
        });
        leader.unwrap()
    }

    fn remotes() -> String {
        CLIENT_PORTS.iter().map(|p| format!("tcp:127.0.0.1:{p}")).collect::<Vec<_>>().join(",")
    }

    fn vsctl(&self, args: &[&str]) -> Run {
        let db = format!("--db={}", Self::remotes());
        let mut v = vec![db.as_str(), "--no-wait", "--retry", "--timeout=30"];
        v.extend_from_slice(args);
        tool("ovs-vsctl", &v)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.members.clear();
        if std::thread::panicking() {
            // What the agents and servers said, to tell why.
            for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "log") {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("created ")).collect();
                    eprintln!(
                        "== {}\n{}",
                        path.display(),
                        lines[lines.len().saturating_sub(25)..].join("\n")
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn three_hosts_follow_one_clustered_database_through_leader_failover() {
    in_netns(|| {
        tool_ok("ip", &["link", "set", "lo", "up"]);
        let mut cluster = Cluster::new();
        let remotes = Cluster::remotes();
        let hosts: Vec<NamedNetns> = (1..=3).map(|i| NamedNetns::new(&format!("host{i}"))).collect();
        // One agent per host: kernel side in the host's namespace, database
        // reached from here (the hosts' namespaces have no route to it).
        let _agents: Vec<Proc> = hosts
            .iter()
            .map(|h| {
                Proc::spawn(
                    Command::new(env!("CARGO_BIN_EXE_zonetp")).args([
                        "--netns",
                        &h.0,
                        "--db",
                        &remotes,
                        "sync",
                        "--watch",
                        "--interval",
                        "5",
                    ]),
                    &cluster.dir.join(format!("agent-{}.log", h.0)),
                )
            })
            .collect();
        let current_id = |zone: u16| -> u32 {
            let r = zonetp(&[
                "--db",
                &remotes,
                "resolve",
                "system",
                &format!("zone={zone}"),
                "--l3",
                "ipv4",
                "--l4",
                "udp",
            ]);
            assert_eq!(r.status, 0, "{}", r.stderr);
            r.stdout.trim().strip_prefix("ovs_tp_").unwrap().split('_').next().unwrap().parse().unwrap()
        };
        let converged = |zone: u16, value: u32| {
            let name = format!("ovs_tp_{}_udp4", current_id(zone));
            hosts.iter().all(|h| h.udp_single(&name) == Some(value))
        };
        let mut times = Vec::new();
        let mut killed = None;
        for i in 0..10u32 {
            if i == 5 {
                let leader = cluster.leader();
                cluster.kill(leader);
                killed = Some(leader);
            }
            let start = Instant::now();
            let r = cluster.vsctl(&[
                "--may-exist",
                "add-zone-tp",
                "system",
                "zone=5",
                &format!("udp_single={}", 100 + i),
            ]);
            assert_eq!(r.status, 0, "change {i}: {}", r.stderr);
            let committed = start.elapsed();
            let after = wait_for(&format!("change {i} on all three hosts"), 60, || converged(5, 100 + i));
            times.push((i, committed, after));
        }
        // Every host holds exactly the final policy's six objects.
        let final_id = current_id(5);
        wait_for("old policies removed on all hosts", 60, || {
            hosts.iter().all(|h| h.objects() == six(final_id))
        });
        eprintln!("[measure] cluster convergence (polling 3 namespaces with nfct, so an upper bound), leader killed before change 5:");
        for (i, committed, after) in &times {
            eprintln!(
                "[measure]   change {i}: ovs-vsctl committed in {committed:?}, all 3 kernels {after:?} later"
            );
        }
        // Agents start on the first remote; if that was the leader, each
        // had to fail over to another member.
        if killed == Some(0) {
            for h in &hosts {
                let log = std::fs::read_to_string(cluster.dir.join(format!("agent-{}.log", h.0))).unwrap();
                assert!(
                    log.contains("reconnecting") && log.matches("zonetp: following tcp:").count() >= 2,
                    "{log}"
                );
            }
        }
        // The killed member comes back; then another member is restarted
        // while a change is made: nothing is lost, on the hosts or in the
        // restarted members.
        let back = killed.unwrap();
        cluster.start(back);
        wait_for("the old leader to rejoin", 30, || cluster.status(back).contains("Status: cluster member"));
        let other = (back + 1) % 3;
        cluster.kill(other);
        let r = cluster.vsctl(&["add-zone-tp", "system", "zone=6", "udp_single=66"]);
        assert_eq!(r.status, 0, "{}", r.stderr);
        cluster.start(other);
        let start = Instant::now();
        wait_for("zone 6 on all hosts", 60, || converged(6, 66));
        eprintln!("[measure] change made while a member restarted -> all 3 kernels: {:?}", start.elapsed());
        let want = "Zone:5, Timeout Policies: udp_single=109\nZone:6, Timeout Policies: udp_single=66\n";
        for i in [back, other] {
            let remote = format!("tcp:127.0.0.1:{}", CLIENT_PORTS[i]);
            wait_for(&format!("member {i} to have everything"), 30, || {
                zonetp(&["--db", &remote, "list-zone-tp", "system"]).stdout == want
            });
        }
        let mut want_objects = six(final_id);
        want_objects.extend(six(current_id(6)));
        want_objects.sort();
        wait_for("all hosts to hold both policies", 30, || hosts.iter().all(|h| h.objects() == want_objects));
        // Quorum lost: two members die. The last one loses its cluster;
        // the agents leave it, find no usable member, and keep the kernels
        // as they are until the cluster is back.
        let last = cluster.leader();
        for i in (0..3).filter(|i| *i != last) {
            cluster.kill(i);
        }
        let logs = || {
            hosts
                .iter()
                .map(|h| std::fs::read_to_string(cluster.dir.join(format!("agent-{}.log", h.0))).unwrap())
                .collect::<Vec<_>>()
        };
        let before: Vec<usize> = logs().iter().map(|l| l.len()).collect();
        let t = wait_for("every agent to find the last member cut off", 60, || {
            logs().iter().zip(&before).all(|(l, b)| {
                let since = &l[*b..];
                since.contains("the cluster member lost its cluster")
                    || since.contains("this cluster member is not connected to the cluster")
            })
        });
        eprintln!("[measure] quorum lost -> every agent found the last member cut off: {t:?}");
        assert!(hosts.iter().all(|h| h.objects() == want_objects), "nothing deleted meanwhile");
        for i in (0..3).filter(|i| *i != last) {
            cluster.start(i);
        }
        let r = cluster.vsctl(&["add-zone-tp", "system", "zone=7", "udp_single=77"]);
        assert_eq!(r.status, 0, "{}", r.stderr);
        let start = Instant::now();
        wait_for("zone 7 on all hosts after quorum came back", 60, || converged(7, 77));
        eprintln!("[measure] quorum back, change -> all 3 kernels: {:?}", start.elapsed());
    });
}

/// `zonetp --db unix:... --format json ARGS` parsed.
fn z_json(s: &Server, args: &[&str]) -> serde_json::Value {
    let mut v = vec!["--format", "json"];
    v.extend_from_slice(args);
    let out = s.z_ok(&v);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("zonetp {args:?}: {e}: {out}"))
}

#[test]
fn set_dp_exact_on_ovsdb_is_kept_in_external_ids_and_resolve_sync_status_obey_it() {
    in_netns(|| {
        let s = Server::new("resolution");
        s.vsctl_ok(&["add-zone-tp", "system", "zone=0", "udp_single=9"]);
        s.z_ok(&["add-zone-tp", "system", "zone=5", "udp_single=1"]);
        // No key in the row: zonetp's default, zone 0 fills in.
        let r = z_json(&s, &["resolve", "system", "zone=7", "--l3", "ipv4", "--l4", "udp"]);
        assert_eq!((r["resolution"].as_str(), r["source"].as_str()), (Some("zone0-fallback"), Some("zone0")));
        let id0 = s.stored_id(0).expect("numbered");
        let id5 = s.stored_id(5).expect("numbered");
        assert_eq!(s.resolve_udp4(7), format!("ovs_tp_{id0}_udp4"));

        s.z_ok(&["set-dp", "system", "resolution=exact"]);
        let unquote = |v: String| v.trim().trim_matches('"').to_owned();
        let dp = unquote(s.vsctl_ok(&["get", "Open_vSwitch", ".", "datapaths:system"]));
        let stored = unquote(s.vsctl_ok(&["get", "Datapath", &dp, "external_ids:zonetp-resolution"]));
        assert_eq!(stored, "exact");
        assert_eq!(s.resolve_udp4(7), "none");
        let r = z_json(&s, &["resolve", "system", "zone=7", "--l3", "ipv4", "--l4", "udp"]);
        assert_eq!((r["resolution"].as_str(), r["source"].as_str()), (Some("exact"), Some("default")));
        assert_eq!(s.resolve_udp4(5), format!("ovs_tp_{id5}_udp4"));
        assert_eq!(s.resolve_udp4(0), format!("ovs_tp_{id0}_udp4"));
        assert_eq!(z_json(&s, &["list-dp"])[0]["resolution"], "exact");

        // sync names the mode and pushes every zone's own policy.
        let report = z_json(&s, &["sync"]);
        assert_eq!(report["resolution"], "exact", "{report}");
        assert_eq!(report["created"].as_array().unwrap().len(), 12, "{report}");
        let mut want = six(id0);
        want.extend(six(id5));
        want.sort();
        assert_eq!(kernel_objects(), want);

        // status reads the database: mode, sources, and the kernel in sync.
        let st = z_json(&s, &["status"]);
        assert_eq!(st["resolution"], "exact", "{st}");
        let zone = |n: u64| st["zones"].as_array().unwrap().iter().find(|z| z["zone"] == n).cloned();
        assert_eq!(zone(5).expect("zone 5")["source"], "own", "{st}");
        assert_eq!(zone(0).expect("zone 0")["policy_id"], id0, "{st}");
        let text = s.z_ok(&["status", "system"]);
        assert!(text.starts_with("datapath system (resolution exact)\n"), "{text}");
        assert!(text.ends_with("in sync\n"), "{text}");

        // Back to the default: the same objects, nothing changes in the kernel.
        s.z_ok(&["set-dp", "system", "resolution=zone0-fallback"]);
        assert_eq!(s.resolve_udp4(7), format!("ovs_tp_{id0}_udp4"));
        let report = z_json(&s, &["sync"]);
        assert_eq!(report["unchanged"], 12, "{report}");

        // Refusals: a bad word is a usage error, a missing datapath a
        // runtime one, and a value no mode names (written by another
        // tool) is reported with the datapath and key.
        let r = s.z(&["set-dp", "system", "resolution=zone0"]);
        assert_eq!(r.status, 2, "{}", r.stderr);
        let r = s.z(&["set-dp", "netdev", "resolution=exact"]);
        assert_eq!((r.status, r.stderr.as_str()), (1, "zonetp: datapath netdev does not exist\n"));
        s.vsctl_ok(&["set", "Datapath", &dp, "external_ids:zonetp-resolution=nearest"]);
        let r = s.z(&["resolve", "system", "zone=7", "--l3", "ipv4", "--l4", "udp"]);
        assert_eq!(r.status, 1, "{}", r.stderr);
        assert!(
            r.stderr.contains("datapath system: external_ids:zonetp-resolution")
                && r.stderr.contains("\"nearest\""),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains('\n') || r.stderr.lines().count() == 1, "{}", r.stderr);
        // Only that datapath's verbs fail: another datapath works.
        s.z_ok(&["add-dp", "netdev"]);
        s.z_ok(&["add-zone-tp", "netdev", "zone=4", "udp_single=8"]);
        assert_eq!(s.z_ok(&["list-zone-tp", "netdev"]), "Zone:4, Timeout Policies: udp_single=8\n");
        s.z_ok(&["resolve", "netdev", "zone=4", "--l3", "ipv4", "--l4", "udp"]);
        s.z_ok(&["status", "netdev"]);
        assert_eq!(s.z_ok(&["list-dp"]), "netdev\nsystem\n");
        // (list-zone-tp does not resolve: it lists the system zones still.)
        assert!(s.z_ok(&["list-zone-tp", "system"]).contains("Zone:0,"));
        for args in [&["status"][..], &["sync"], &["sync", "--dry-run"]] {
            let r = s.z(args);
            assert_eq!(r.status, 1, "{args:?}: {}", r.stderr);
            assert!(
                r.stderr.contains("datapath system: external_ids:zonetp-resolution"),
                "{args:?}: {}",
                r.stderr
            );
        }
    });
}

/// A backup ovsdb-server (`--sync-from`) of `s`'s database: it serves a
/// copy, read-only to its clients (the server refuses every write, as on
/// a remote with `read_only=true`; Debian's schema has no such column in
/// its Manager table). Started here rather than by `ovsdb_server`, for
/// `--sync-from`. Returns the server and its remote.
fn read_only_backup(s: &Server) -> (Proc, String) {
    let db = s.dir.join("backup.db");
    tool_ok("ovsdb-tool", &["create", db.to_str().unwrap(), SCHEMA]);
    let sock = s.dir.join("ro.sock");
    let p = Proc::spawn(
        Command::new("ovsdb-server").args([
            db.to_str().unwrap(),
            &format!("--remote=punix:{}", sock.display()),
            &format!("--sync-from={}", s.remote()),
            &format!("--unixctl={}", s.dir.join("backup.ctl").display()),
            "--no-chdir",
        ]),
        &s.dir.join("backup.log"),
    );
    wait_for("the backup to listen", 10, || std::os::unix::net::UnixStream::connect(&sock).is_ok());
    (p, format!("unix:{}", sock.display()))
}

#[test]
fn reading_verbs_work_on_a_read_only_remote_and_number_in_memory() {
    in_netns(|| {
        let s = Server::new("read-only");
        s.vsctl_ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
        let (_backup, ro) = read_only_backup(&s);
        let z = |args: &[&str]| {
            let mut v = vec!["--db", ro.as_str()];
            v.extend_from_slice(args);
            zonetp(&v)
        };
        let db = format!("--db={ro}");
        // It is read-only: ovs-vsctl reads there (once the copy came)
        // and may not write.
        let theirs = s.vsctl_ok(&["list-zone-tp", "system"]);
        wait_for("the backup's copy", 20, || {
            tool("ovs-vsctl", &[&db, "list-zone-tp", "system"]).stdout == theirs
        });
        let w = tool("ovs-vsctl", &[&db, "--no-wait", "add-zone-tp", "system", "zone=2", "udp_single=1"]);
        assert_ne!(w.status, 0, "the remote is not read-only: {}", w.stdout);
        // zonetp's reading verbs read there too, without numbering the
        // row ovs-vsctl inserted in the database.
        for args in [
            &["list-zone-tp", "system"][..],
            &["list-dp"],
            &["resolve", "system", "zone=1", "--l3", "ipv4", "--l4", "udp"],
            &["status"],
            &["sync", "--dry-run"],
        ] {
            let r = z(args);
            assert_eq!(r.status, 0, "zonetp {args:?} on a read-only remote: {}", r.stderr);
        }
        assert_eq!(z(&["list-zone-tp", "system"]).stdout, theirs);
        let shown = z(&["resolve", "system", "zone=1", "--l3", "ipv4", "--l4", "udp"]).stdout;
        let dry = z(&["sync", "--dry-run"]);
        assert!(dry.stdout.contains(&format!("create {}", shown.trim())));
        // The server refuses `lock` there: whether ovs-vswitchd holds it
        // is unknown, and the dry run says so.
        assert!(
            dry.stderr.contains("cannot tell whether ovs-vswitchd manages this database"),
            "{}",
            dry.stderr
        );
        assert_eq!(s.stored_id(1), None, "nothing was written");
        // A writing verb is refused there, with the server's words.
        let e = z(&["add-zone-tp", "system", "zone=2", "udp_single=1"]);
        assert_eq!(e.status, 1);
        assert!(e.stderr.contains("not allowed"), "{}", e.stderr);
        // sync on the read-write remote numbers the row as reading showed it.
        s.z_ok(&["sync"]);
        assert_eq!(shown.trim(), format!("ovs_tp_{}_udp4", s.stored_id(1).unwrap()));
        assert_eq!(udp_single(shown.trim()), Some(5));
    });
}

#[test]
fn ids_of_objects_still_in_the_kernel_are_not_given_to_new_policies() {
    in_netns(|| {
        let s = Server::new("ids-in-kernel");
        s.z_ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
        assert_eq!(s.stored_id(1), Some(1));
        s.z_ok(&["sync"]);
        // A rule holds policy 1's UDP object: its delete stays pending.
        iptables_ct_rule("ovs_tp_1_udp4");
        s.z_ok(&["del-zone-tp", "system", "zone=1"]);
        assert!(s.z_ok(&["sync"]).contains("pending ovs_tp_1_udp4"));
        let drop_counter =
            || s.vsctl_ok(&["remove", "Open_vSwitch", ".", "external_ids", "zonetp-next-policy-id"]);
        // The counter gone (a database made anew has none): a policy
        // ovs-vsctl adds is numbered by sync past the kernel's ids.
        drop_counter();
        s.vsctl_ok(&["add-zone-tp", "system", "zone=2", "udp_single=50"]);
        let out = s.z_ok(&["sync"]);
        let two = s.stored_id(2).unwrap();
        assert!(two > 1, "policy got id {two}, held by a live rule's object: {out}");
        assert_eq!(udp_single("ovs_tp_1_udp4"), Some(5), "the live rule's object was left alone: {out}");
        // And one zonetp adds, past the ids still in the kernel.
        s.z_ok(&["del-zone-tp", "system", "zone=2"]);
        s.z_ok(&["sync"]);
        assert_eq!(kernel_objects(), vec!["ovs_tp_1_udp4".to_owned()]);
        drop_counter();
        s.z_ok(&["add-zone-tp", "system", "zone=3", "udp_single=60"]);
        let three = s.stored_id(3).unwrap();
        assert!(three > 1, "policy got id {three}, held by a live rule's object");
        s.z_ok(&["sync"]);
        assert_eq!(udp_single("ovs_tp_1_udp4"), Some(5));
        assert_eq!(udp_single(&format!("ovs_tp_{three}_udp4")), Some(60));
    });
}

#[test]
fn every_verb_numbers_past_the_kernel_s_ids_as_sync_does() {
    in_netns(|| {
        let s = Server::new("every-verb-kernel-ids");
        // Policy 1's UDP object is in the kernel (a rule holds it) while
        // the database has no counter and a row ovs-vsctl inserted.
        zonetp_ok(&["timeout", "add", "ovs_tp_1_udp4", "--l3", "ipv4", "--l4", "udp", "unreplied=7"]);
        iptables_ct_rule("ovs_tp_1_udp4");
        s.vsctl_ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
        // Reading verbs show the names sync would make, not the live
        // rule's object.
        assert_eq!(s.resolve_udp4(1), "ovs_tp_2_udp4");
        let listed = z_json(&s, &["list-zone-tp", "system"]);
        assert_eq!(listed[0]["policy_id"], 2, "{listed}");
        let status = z_json(&s, &["status"]);
        assert_eq!(status["zones"][0]["policy_id"], 2, "{status}");
        assert!(s.z_ok(&["sync", "--dry-run"]).contains("create ovs_tp_2_udp4"));
        assert_eq!(s.stored_id(1), None, "reading wrote nothing");
        // Without CAP_NET_ADMIN the kernel cannot be listed: the look-up
        // is skipped without a word, and the database alone numbers
        // (docs/ovsdb.md, "The kernel's ids").
        tool_ok("chmod", &["666", s.sock.to_str().unwrap()]);
        let remote = s.remote();
        let nobody = tool(
            "setpriv",
            &[
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_zonetp"),
                "--db",
                &remote,
                "resolve",
                "system",
                "zone=1",
                "--l3",
                "ipv4",
                "--l4",
                "udp",
            ],
        );
        assert_eq!((nobody.status, nobody.stdout.trim(), nobody.stderr.as_str()), (0, "ovs_tp_1_udp4", ""));
        // Any change numbers the row first, past the kernel's ids too
        // (each from a database whose rows and counter have no id, so
        // only the kernel's objects can keep id 1 from it).
        let forget_ids = || {
            let rows = s.vsctl_ok(&["--bare", "--columns=_uuid", "list", "CT_Timeout_Policy"]);
            for row in rows.split_whitespace() {
                s.vsctl_ok(&["remove", "CT_Timeout_Policy", row, "external_ids", "zonetp-id"]);
            }
            s.vsctl_ok(&["remove", "Open_vSwitch", ".", "external_ids", "zonetp-next-policy-id"]);
        };
        for args in [
            &["add-dp", "netdev"][..],
            &["set-dp", "netdev", "resolution=exact"],
            &["del-zone-tp", "system", "zone=9", "--if-exists"],
            &["del-dp", "netdev"],
        ] {
            forget_ids();
            s.z_ok(args);
            assert_eq!(s.stored_id(1), Some(2), "zonetp {args:?} must number the row past the kernel's id 1");
        }
        s.z_ok(&["sync"]);
        assert_eq!(udp_single("ovs_tp_1_udp4"), Some(7), "the live rule's object was left alone");
        assert_eq!(udp_single(&format!("ovs_tp_{}_udp4", s.stored_id(1).unwrap())), Some(5));
    });
}

/// Waits up to `secs` seconds for `p` to exit: its status, or `None` if
/// it still runs.
fn exit_within(p: &mut Proc, secs: u64) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if let Some(status) = p.0.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// `zonetp --db REMOTE sync --watch`, its output in `log`, started by
/// `runner` (setpriv, say) when given.
fn agent_on(remote: &str, log: &Path, runner: &[&str]) -> Proc {
    let zonetp = env!("CARGO_BIN_EXE_zonetp");
    let mut argv: Vec<&str> = runner.to_vec();
    argv.extend([zonetp, "--db", remote, "sync", "--watch"]);
    Proc::spawn(Command::new(argv[0]).args(&argv[1..]), log)
}

#[test]
fn the_agent_waits_for_a_server_that_is_not_up_yet() {
    in_netns(|| {
        // The agent's log here; the server's directory comes and goes.
        let dir = temp_dir("agent-waits");
        let server_dir = temp_dir("agent-waits-server");
        let sock = server_dir.join("db.sock");
        let remote = format!("unix:{}", sock.display());
        let agent = |log: &Path| {
            let p = agent_on(&remote, log, &[]);
            wait_for("the agent to say what it waits for", 20, || {
                log_lines(log).iter().any(|l| l.starts_with("zonetp: waiting for Open vSwitch database"))
            });
            p
        };
        let log = dir.join("agent.log");
        let mut first = agent(&log);
        assert!(log_lines(&log)[0].contains("No such file or directory"), "{:?}", log_lines(&log));
        // A socket file nobody listens on (a server stopped): refused.
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        wait_for("the agent to say the connection is refused", 20, || {
            log_lines(&log).iter().any(|l| l.contains("Connection refused"))
        });
        // Retries go on, silently: one line per state.
        let said = log_lines(&log);
        std::thread::sleep(Duration::from_secs(3));
        assert!(first.0.try_wait().unwrap().is_none(), "the agent exited: {:?}", log_lines(&log));
        assert_eq!(log_lines(&log), said, "a line per retry");
        assert_eq!(said.len(), 2, "{said:?}");
        // The database comes up on the socket: the agent follows it.
        let s = Server::with_schema(server_dir.clone(), SCHEMA);
        s.vsctl_ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
        wait_for("the agent's first pass", 30, || kernel_objects().len() == 6);
        first.signal(libc::SIGTERM);
        assert!(first.0.wait().unwrap().success());
        drop(s);
        // Still stoppable, at once, while waiting.
        let mut waiting = agent(&dir.join("agent2.log"));
        let start = Instant::now();
        waiting.signal(libc::SIGTERM);
        assert!(waiting.0.wait().unwrap().success());
        assert!(start.elapsed() < Duration::from_secs(3), "stopping took {:?}", start.elapsed());
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn sigterm_stops_the_agent_while_a_server_keeps_it_waiting_for_an_answer() {
    in_netns(|| {
        let dir = temp_dir("agent-hung-server");
        // A server that takes connections (the listen backlog does) and
        // never answers: the agent's request waits for its reply.
        let sock = dir.join("db.sock");
        let _silent = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let log = dir.join("agent.log");
        let mut agent = agent_on(&format!("unix:{}", sock.display()), &log, &[]);
        std::thread::sleep(Duration::from_secs(1));
        let start = Instant::now();
        agent.signal(libc::SIGTERM);
        let status = exit_within(&mut agent, 30);
        let took = start.elapsed();
        println!("[measure] SIGTERM to exit, a request pending: {took:?}");
        let status = status.unwrap_or_else(|| panic!("no exit 30 s after SIGTERM: {:?}", log_lines(&log)));
        assert!(status.success(), "{status:?}: {:?}", log_lines(&log));
        assert!(took < Duration::from_secs(2), "stopping took {took:?}: {:?}", log_lines(&log));
        assert_eq!(log_lines(&log).last().map(String::as_str), Some("zonetp: sync --watch stopped"));
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn the_agent_stops_waiting_on_errors_waiting_cannot_mend() {
    in_netns(|| {
        let dir = temp_dir("agent-permanent");
        let sock = dir.join("db.sock");
        let remote = format!("unix:{}", sock.display());
        // Ends the wait with exit status 1 and a line naming the cause.
        let ends = |what: &str, runner: &[&str], says: &str| {
            let log = dir.join(format!("{}.log", what.replace(' ', "-")));
            let mut agent = agent_on(&remote, &log, runner);
            let status = exit_within(&mut agent, 10);
            let lines = log_lines(&log);
            let status = status.unwrap_or_else(|| panic!("{what}: the agent still waits: {lines:?}"));
            assert_eq!(status.code(), Some(1), "{what}: {lines:?}");
            let last = lines.last().cloned().unwrap_or_default();
            assert!(last.starts_with("zonetp: ") && last.contains(says), "{what}: {lines:?}");
            assert!(!lines.iter().any(|l| l.contains("waiting for")), "{what}: {lines:?}");
        };
        // A database of a schema before the zone tables (8.1.0).
        let old = dir.join("old.ovsschema");
        write_schema(&old, |o| {
            o["version"] = "8.1.0".into();
            for t in ["CT_Zone", "CT_Timeout_Policy"] {
                o["tables"].as_object_mut().unwrap().remove(t);
            }
            o["tables"]["Datapath"]["columns"].as_object_mut().unwrap().remove("ct_zones");
        });
        let old_db = dir.join("old.db");
        tool_ok("ovsdb-tool", &["create", old_db.to_str().unwrap(), old.to_str().unwrap()]);
        let wrong = ovsdb_server(
            &old_db,
            &format!("punix:{}", sock.display()),
            &dir.join("old.ctl"),
            &dir.join("old.log"),
        );
        wait_for("the old server", 10, || std::os::unix::net::UnixStream::connect(&sock).is_ok());
        ends("old schema", &[], "need 8.2.0 or later");
        drop(wrong);
        // A server of another database (the schema renamed).
        let other = dir.join("other.ovsschema");
        write_schema(&other, |o| o["name"] = "Not_vSwitch".into());
        let other_db = dir.join("other.db");
        tool_ok("ovsdb-tool", &["create", other_db.to_str().unwrap(), other.to_str().unwrap()]);
        let _ = std::fs::remove_file(&sock);
        let another = ovsdb_server(
            &other_db,
            &format!("punix:{}", sock.display()),
            &dir.join("other.ctl"),
            &dir.join("other.log"),
        );
        wait_for("the other server", 10, || std::os::unix::net::UnixStream::connect(&sock).is_ok());
        ends("another database", &[], "is this an Open_vSwitch database server?");
        drop(another);
        // Not an OVSDB server at all: Python's HTTP server.
        let _ = std::fs::remove_file(&sock);
        let script = "import socketserver, http.server, sys\n\
                      class H(http.server.BaseHTTPRequestHandler):\n    \
                          def address_string(self): return 'unix'\n\
                      socketserver.UnixStreamServer(sys.argv[1], H).serve_forever()\n";
        let http = Proc::spawn(
            Command::new("python3").args(["-c", script, sock.to_str().unwrap()]),
            &dir.join("httpd.log"),
        );
        wait_for("the HTTP server", 10, || std::os::unix::net::UnixStream::connect(&sock).is_ok());
        ends("http", &[], "not an OVSDB server");
        // A socket this user may not connect to (root's, 0755): as nobody.
        drop(http);
        let _ = std::fs::remove_file(&sock);
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        ends("denied", &["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], "Permission denied");
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn an_http_server_on_the_socket_is_named_at_once() {
    let dir = temp_dir("http");
    let sock = dir.join("http.sock");
    // Python's HTTP server, on a Unix socket.
    let script = "import socketserver, http.server, sys\n\
                  class H(http.server.BaseHTTPRequestHandler):\n    \
                      def address_string(self): return 'unix'\n\
                  socketserver.UnixStreamServer(sys.argv[1], H).serve_forever()\n";
    let _http = Proc::spawn(
        Command::new("python3").args(["-c", script, sock.to_str().unwrap()]),
        &dir.join("http.log"),
    );
    wait_for("the HTTP server", 10, || std::os::unix::net::UnixStream::connect(&sock).is_ok());
    let start = Instant::now();
    let e = zonetp(&["--db", &format!("unix:{}", sock.display()), "list-dp"]);
    let took = start.elapsed();
    assert_eq!(e.status, 1, "{}", e.stderr);
    // (Python answers a one-word request line as HTTP/0.9: the page alone.)
    assert!(e.stderr.contains("not an OVSDB server: it answered \"<!DOCTYPE HTML>\""), "{}", e.stderr);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_rows_claiming_one_policy_id_are_refused_until_a_person_says_which() {
    in_netns(|| {
        let s = Server::new("dup-ids");
        s.z_ok(&["add-zone-tp", "system", "zone=1", "udp_single=5"]);
        s.z_ok(&["sync"]);
        let dp =
            s.vsctl_ok(&["get", "Open_vSwitch", ".", "datapaths:system"]).trim().trim_matches('"').to_owned();
        // A copy of the row, id and all, with other timeouts, for zone 2.
        s.vsctl_ok(&[
            "--",
            "--id=@tp",
            "create",
            "CT_Timeout_Policy",
            "timeouts:udp_single=99",
            "external_ids:zonetp-id=1",
            "--",
            "--id=@z",
            "create",
            "CT_Zone",
            "timeout_policy=@tp",
            "--",
            "add",
            "Datapath",
            &dp,
            "ct_zones",
            "2=@z",
        ]);
        let copy =
            s.vsctl_ok(&["--bare", "--columns=_uuid", "find", "CT_Timeout_Policy", "timeouts:udp_single=99"]);
        let copy = copy.trim();
        for args in
            [&["list-zone-tp", "system"][..], &["sync"], &["add-zone-tp", "system", "zone=3", "udp_single=1"]]
        {
            let r = s.z(args);
            assert_eq!(r.status, 1, "{args:?}: {}", r.stderr);
            assert!(r.stderr.contains("policy id 1 is claimed by 2 CT_Timeout_Policy rows"), "{}", r.stderr);
            assert!(r.stderr.contains(copy), "{}", r.stderr);
        }
        assert_eq!(udp_single("ovs_tp_1_udp4"), Some(5), "the objects stay the policy's");
        // The copy's id removed: it gets a new one, the policy keeps its own.
        s.vsctl_ok(&["remove", "CT_Timeout_Policy", copy, "external_ids", "zonetp-id"]);
        s.z_ok(&["sync"]);
        assert_eq!(s.stored_id(1), Some(1));
        let two = s.stored_id(2).unwrap();
        assert_ne!(two, 1);
        assert_eq!(udp_single("ovs_tp_1_udp4"), Some(5));
        assert_eq!(udp_single(&format!("ovs_tp_{two}_udp4")), Some(99));
    });
}

/// The agent, `--format json`, with a periodic pass every `interval` s.
fn json_agent(s: &Server, tag: &str, interval: &str) -> (Proc, PathBuf) {
    let log = s.dir.join(format!("{tag}.log"));
    let args = ["--db", &s.remote(), "--format", "json", "sync", "--watch", "--interval", interval];
    (Proc::spawn(Command::new(env!("CARGO_BIN_EXE_zonetp")).args(args), &log), log)
}

/// The agent's reports so far (its JSON lines).
fn reports(log: &Path) -> Vec<serde_json::Value> {
    log_lines(log).iter().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// `ovs-vsctl` without `--no-wait`: it returns once the agent has applied
/// the change and set cur_cfg.
fn vsctl_waiting(s: &Server, args: &[&str]) {
    let db = format!("--db={}", s.remote());
    let mut v = vec![db.as_str(), "--timeout=60"];
    v.extend_from_slice(args);
    tool_ok("ovs-vsctl", &v);
}

/// The one report the agent printed for what `f` did (nothing else may
/// have printed one meanwhile).
fn the_report(log: &Path, f: impl FnOnce()) -> serde_json::Value {
    let before = reports(log).len();
    f();
    let mut new = reports(log).split_off(before);
    assert_eq!(new.len(), 1, "one pass for one change: {new:#?}");
    new.pop().unwrap()
}

/// Zones `zones` of `system`, each with a policy of its own, in one
/// ovs-vsctl call.
fn add_zones(s: &Server, zones: std::ops::Range<u16>) {
    let words: Vec<(String, String)> =
        zones.map(|z| (format!("zone={z}"), format!("udp_single={}", 1000 + u32::from(z)))).collect();
    let mut args = vec![];
    for (zone, udp) in &words {
        args.extend(["--", "add-zone-tp", "system", zone.as_str(), udp.as_str()]);
    }
    s.vsctl_ok(&args);
}

/// Names of a report's actions (`plan`), sorted.
fn planned(report: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> =
        report["plan"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

/// The `CT_Timeout_Policy` row zone `zone` of `system` uses.
fn policy_row(s: &Server, zone: u16) -> String {
    let unquote = |s: String| s.trim().trim_matches('"').to_owned();
    let dp = unquote(s.vsctl_ok(&["get", "Open_vSwitch", ".", "datapaths:system"]));
    let z = unquote(s.vsctl_ok(&["get", "Datapath", &dp, &format!("ct_zones:{zone}")]));
    unquote(s.vsctl_ok(&["get", "CT_Zone", &z, "timeout_policy"])).trim_matches(['[', ']']).to_owned()
}

/// Issue 19: with 300 zones in place, the agent does not list the kernel
/// or compare every policy on a change: one `ovs-vsctl add-zone-tp`
/// makes it send the requests for that policy's objects only, counted by
/// the agent's netlink client and reported with the pass.
#[test]
fn the_agent_applies_each_change_as_a_delta_sending_only_that_policy_s_requests() {
    in_netns(|| {
        let s = Server::new("delta");
        add_zones(&s, 0..300);
        let (_agent, log) = json_agent(&s, "agent", "3600");
        vsctl_waiting(&s, &["set", "Open_vSwitch", ".", "external_ids:started=1"]);
        assert_eq!(kernel_objects().len(), 1800);
        let first = reports(&log);
        assert_eq!(first[0]["pass"], "full", "{first:#?}");
        assert_eq!(first[0]["created"].as_array().unwrap().len(), 1800);

        // A new zone: its policy is numbered (the next id's six names
        // looked up, one GET each, as no listing is made), then its six
        // objects made. Twelve requests, all of that policy's objects.
        let r =
            the_report(&log, || vsctl_waiting(&s, &["add-zone-tp", "system", "zone=500", "udp_single=7"]));
        let id = s.stored_id(500).unwrap();
        assert_eq!((&r["pass"], &r["requests"]), (&"delta".into(), &12.into()), "{r:#}");
        assert_eq!(planned(&r), six(id), "{r:#}");
        assert_eq!(r["created"].as_array().unwrap().len(), 6, "{r:#}");
        assert_eq!(r["unchanged"], 1800, "{r:#}");
        assert_eq!(udp_single(&format!("ovs_tp_{id}_udp4")), Some(7));

        // One policy's timeouts changed in place: the two objects whose
        // values change (UDP over IPv4 and IPv6), nothing else.
        let row = policy_row(&s, 7);
        let seven = s.stored_id(7).unwrap();
        let r = the_report(&log, || {
            vsctl_waiting(&s, &["set", "CT_Timeout_Policy", &row, "timeouts:udp_single=33"])
        });
        assert_eq!((&r["pass"], &r["requests"]), (&"delta".into(), &2.into()), "{r:#}");
        let udp = [format!("ovs_tp_{seven}_udp4"), format!("ovs_tp_{seven}_udp6")];
        assert_eq!(r["replaced"], serde_json::json!(udp), "{r:#}");
        assert_eq!(udp_single(&udp[0]), Some(33));
        assert_eq!(udp_single(&udp[1]), Some(33));

        // ovs-vsctl's --may-exist add-zone-tp inserts a new row: the new
        // policy's six objects made (after the GETs numbering it), the
        // old one's six deleted.
        let old = s.stored_id(8).unwrap();
        let r = the_report(&log, || {
            vsctl_waiting(&s, &["--may-exist", "add-zone-tp", "system", "zone=8", "udp_single=44"])
        });
        let new = s.stored_id(8).unwrap();
        assert_ne!(old, new);
        let mut both = [six(old), six(new)].concat();
        both.sort();
        assert_eq!(planned(&r), both, "{r:#}");
        assert_eq!(r["requests"], 18, "six GETs, six creates, six deletes: {r:#}");
        assert_eq!(r["created"].as_array().unwrap().len(), 6, "{r:#}");
        assert_eq!(r["deleted"].as_array().unwrap().len(), 6, "{r:#}");

        // A zone removed: its policy's six objects deleted.
        let r = the_report(&log, || vsctl_waiting(&s, &["del-zone-tp", "system", "zone=500"]));
        assert_eq!((&r["pass"], &r["requests"]), (&"delta".into(), &6.into()), "{r:#}");
        assert_eq!(planned(&r), six(id), "{r:#}");
        assert_eq!(kernel_objects().len(), 1800);
        // A change that touches no policy (cur_cfg, external_ids) sends
        // nothing and says nothing.
        let before = reports(&log).len();
        vsctl_waiting(&s, &["set", "Open_vSwitch", ".", "external_ids:other=1"]);
        assert_eq!(reports(&log).len(), before, "{:#?}", reports(&log));
    });
}

/// What delta passes cannot see (the kernel is not read between full
/// passes) SIGHUP's and the periodic full passes repair; an object made
/// behind the agent's back on a name a new policy would take is found by
/// the numbering's look-up, and the policy numbered past it.
#[test]
fn full_passes_on_sighup_and_every_interval_repair_what_delta_passes_cannot_see() {
    in_netns(|| {
        let s = Server::new("drift");
        add_zones(&s, 0..50);
        let (agent, log) = json_agent(&s, "agent", "3600");
        vsctl_waiting(&s, &["set", "Open_vSwitch", ".", "external_ids:started=1"]);
        assert_eq!(kernel_objects().len(), 300);
        let victim = format!("ovs_tp_{}_tcp4", s.stored_id(3).unwrap());
        tool_ok("nfct", &["delete", "timeout", &victim]);
        let r =
            the_report(&log, || vsctl_waiting(&s, &["add-zone-tp", "system", "zone=100", "udp_single=9"]));
        assert_eq!(r["pass"], "delta", "{r:#}");
        assert!(!kernel_objects().contains(&victim), "a delta pass does not list the kernel");
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(agent.0.id() as i32, libc::SIGHUP) };
        wait_for("the SIGHUP pass", 20, || kernel_objects().contains(&victim));
        // (Its report is printed once the batch is answered.)
        wait_for("its report", 20, || reports(&log).last().is_some_and(|r| r["pass"] == "full"));
        let r = reports(&log).pop().unwrap();
        assert_eq!((&r["pass"], &r["created"]), (&"full".into(), &serde_json::json!([victim])), "{r:#}");
        assert_eq!(r["unchanged"], 305, "{r:#}");

        // The next id's name taken behind the agent's back.
        let next: u32 = s
            .vsctl_ok(&["get", "Open_vSwitch", ".", "external_ids:zonetp-next-policy-id"])
            .trim()
            .trim_matches('"')
            .parse()
            .unwrap();
        let theirs = format!("ovs_tp_{next}_udp6");
        tool_ok("nfct", &["add", "timeout", &theirs, "inet6", "udp", "unreplied", "77"]);
        let r =
            the_report(&log, || vsctl_waiting(&s, &["add-zone-tp", "system", "zone=101", "udp_single=10"]));
        let got = s.stored_id(101).unwrap();
        assert!(got > next, "the new policy got id {got}, whose objects were in the kernel");
        // The kernel was listed: the pass is a full one, and the object
        // no policy explains goes, as any full pass deletes it.
        assert_eq!(r["pass"], "full", "{r:#}");
        assert_eq!(r["deleted"], serde_json::json!([theirs]), "{r:#}");
        assert_eq!(udp_single(&format!("ovs_tp_{got}_udp4")), Some(10));
        drop(agent);

        // Every --interval seconds, with no change at all.
        let (_agent, log) = json_agent(&s, "periodic", "1");
        vsctl_waiting(&s, &["set", "Open_vSwitch", ".", "external_ids:started=2"]);
        tool_ok("nfct", &["delete", "timeout", &victim]);
        wait_for("the periodic pass", 20, || kernel_objects().contains(&victim));
        wait_for("its report", 20, || {
            reports(&log).iter().any(|r| r["created"] == serde_json::json!([victim]))
        });
        let r = reports(&log).into_iter().find(|r| r["created"] == serde_json::json!([victim])).unwrap();
        assert_eq!(r["pass"], "full", "{r:#}");
    });
}

/// A reconnect is a full pass: what changed in the database and in the
/// kernel while the server was away is caught up with, and the passes
/// after it are deltas again.
#[test]
fn after_an_ovsdb_server_restart_the_agent_passes_in_full_then_by_deltas() {
    in_netns(|| {
        let mut s = Server::new("delta-restart");
        add_zones(&s, 0..20);
        let (_agent, log) = json_agent(&s, "agent", "3600");
        vsctl_waiting(&s, &["set", "Open_vSwitch", ".", "external_ids:started=1"]);
        assert_eq!(kernel_objects().len(), 120);
        let one = s.stored_id(1).unwrap();
        let victim = format!("ovs_tp_{}_tcp6", s.stored_id(2).unwrap());
        s.stop();
        tool_ok("nfct", &["delete", "timeout", &victim]);
        let aside = s.dir.join("aside.sock");
        {
            let _other = s.serve_on(&aside, "aside");
            let db = format!("--db=unix:{}", aside.display());
            tool_ok("ovs-vsctl", &[&db, "--no-wait", "add-zone-tp", "system", "zone=30", "udp_single=77"]);
            tool_ok("ovs-vsctl", &[&db, "--no-wait", "del-zone-tp", "system", "zone=1"]);
        }
        s.start();
        wait_for("the agent to catch up after the restart", 30, || {
            let k = kernel_objects();
            k.len() == 120 && k.contains(&victim) && !k.contains(&format!("ovs_tp_{one}_udp4"))
        });
        let thirty = s.stored_id(30).unwrap();
        assert_eq!(udp_single(&format!("ovs_tp_{thirty}_udp4")), Some(77));
        wait_for("the pass's report", 20, || {
            reports(&log).last().is_some_and(|r| r["created"].as_array().unwrap().len() == 7)
        });
        let r = reports(&log).pop().unwrap();
        assert_eq!(r["pass"], "full", "{r:#}");
        let mut created: Vec<String> = serde_json::from_value(r["created"].clone()).unwrap();
        created.sort();
        let mut want = six(thirty);
        want.push(victim.clone());
        want.sort();
        assert_eq!(created, want, "{r:#}");
        let r = the_report(&log, || vsctl_waiting(&s, &["add-zone-tp", "system", "zone=31", "udp_single=5"]));
        assert_eq!((&r["pass"], &r["requests"]), (&"delta".into(), &12.into()), "{r:#}");
        assert_eq!(planned(&r), six(s.stored_id(31).unwrap()), "{r:#}");
    });
}

/// `list-dp-cap` on the database: ovs-vsctl's line and refusal. `sync`
/// and the agent probe openvswitch.ko only where it is loaded and
/// `ovs-system` exists (the VM test ovs-zone-limit): in this test's
/// network namespace they write nothing into `Datapath.capabilities`,
/// keep the keys others wrote and make no datapath; beside ovs-vswitchd
/// (`--beside-vswitchd`) they record nothing either.
#[test]
fn list_dp_cap_matches_ovs_vsctl_and_sync_and_the_agent_record_what_they_probed() {
    in_netns(|| {
        let s = Server::new("dp-cap");
        assert_eq!(s.z_ok(&["list-dp-cap", "system"]), "\n");
        assert_eq!(s.vsctl_ok(&["list-dp-cap", "system"]), "\n");
        let theirs = s.vsctl(&["list-dp-cap", "nosystem"]);
        let ours = s.z(&["list-dp-cap", "nosystem"]);
        assert_eq!((theirs.status, ours.status), (1, 1), "{}{}", theirs.stderr, ours.stderr);
        assert_eq!(ours.stderr, theirs.stderr.replace("ovs-vsctl: ", "zonetp: "));
        assert_eq!(ours.stderr, "zonetp: datapath \"nosystem\" record not found\n");
        let unquote = |t: String| t.trim().trim_matches('"').to_owned();
        let dp = unquote(s.vsctl_ok(&["get", "Open_vSwitch", ".", "datapaths:system"]));
        s.vsctl_ok(&["set", "Datapath", &dp, "capabilities:recirc=true"]);
        assert_eq!(s.z_ok(&["list-dp-cap", "system"]), "recirc=true\n");
        assert_eq!(s.vsctl_ok(&["list-dp-cap", "system"]), "recirc=true\n");
        s.z_ok(&["sync", "--dry-run"]);
        s.z_ok(&["sync", "--beside-vswitchd"]);
        assert_eq!(s.z_ok(&["list-dp-cap", "system"]), "recirc=true\n", "nothing recorded");
        let r = s.z(&["sync"]);
        assert_eq!(r.status, 0, "{}", r.stderr);
        assert!(!r.stderr.contains("capabilities"), "{}", r.stderr);
        assert_eq!(s.z_ok(&["list-dp-cap", "system"]), "recirc=true\n", "no ovs-system here: nothing probed");
        assert_eq!(s.vsctl_ok(&["list-dp-cap", "system"]), "recirc=true\n");
        assert_ne!(tool("ip", &["link", "show", "zonetp-probe"]).status, 0, "no probe datapath made");
        let json = z_json(&s, &["list-dp-cap", "system"]);
        assert_eq!(json.as_object().unwrap().len(), 1, "{json}");
        assert_eq!(json["recirc"], "true");

        // The agent records them after its first pass; beside
        // ovs-vswitchd it does not.
        let beside = Server::new("dp-cap-beside");
        let log = beside.dir.join("beside.log");
        let args = ["--db", &beside.remote(), "sync", "--watch", "--beside-vswitchd"];
        let _beside_agent = Proc::spawn(Command::new(env!("CARGO_BIN_EXE_zonetp")).args(args), &log);
        wait_for("the agent's first pass", 30, || {
            log_lines(&log).iter().any(|l| l.starts_with("sync system:"))
        });
        assert_eq!(beside.z_ok(&["list-dp-cap", "system"]), "\n");
        let fresh = Server::new("dp-cap-agent");
        let (_agent, log) = watcher(&fresh, "agent");
        wait_for("the agent's first pass", 30, || {
            log_lines(&log).iter().any(|l| l.starts_with("sync system:"))
        });
        assert_eq!(fresh.z_ok(&["list-dp-cap", "system"]), "\n", "no ovs-system here: nothing probed");
        assert!(!log_lines(&log).iter().any(|l| l.contains("not recorded")), "{:?}", log_lines(&log));
        // A row that says both are supported is not probed again.
        let known = Server::new("dp-cap-known");
        let dp = unquote(known.vsctl_ok(&["get", "Open_vSwitch", ".", "datapaths:system"]));
        known.vsctl_ok(&[
            "set",
            "Datapath",
            &dp,
            "capabilities:ct_zone=true",
            "capabilities:ct_timeout=true",
        ]);
        let (_agent, log) = watcher(&known, "known");
        wait_for("the agent's first pass", 30, || {
            log_lines(&log).iter().any(|l| l.starts_with("sync system:"))
        });
        known.z_ok(&["sync"]);
        assert_eq!(known.z_ok(&["list-dp-cap", "system"]), "ct_timeout=true ct_zone=true\n");
    });
}

/// On a database of schema 8.5.0, `sync` and the agent push the zone
/// limits with the objects: on a kernel without openvswitch.ko (this
/// host's) they say why they could not, by name, and still push the
/// objects; without limits they never ask.
#[test]
fn sync_and_the_agent_push_zone_limits_from_the_database_or_say_why_not() {
    in_netns(|| {
        let module = expected_capabilities().contains("true");
        let s = server_with_zone_limits("limit-sync");
        s.z_ok(&["add-zone-tp", "system", "zone=5", "udp_single=3"]);
        s.z_ok(&["set-zone-limit", "system", "5", "100"]);
        let r = s.z(&["sync"]);
        assert_eq!(kernel_objects().len(), 6);
        if module {
            assert_eq!(r.status, 0, "{}", r.stderr);
            assert!(r.stdout.contains("set limit of zone 5 limit=100\n"), "{}", r.stdout);
        } else {
            assert_eq!(r.status, 1);
            assert!(
                r.stderr.starts_with(
                    "zonetp: sync system: zone limits: cannot resolve generic netlink family ovs_ct_limit"
                ),
                "{}",
                r.stderr
            );
        }
        let (_agent, log) = watcher(&s, "limit-agent");
        let said = if module {
            "set limit of zone 7 limit=5"
        } else {
            "zone limits: cannot resolve generic netlink family ovs_ct_limit"
        };
        s.z_ok(&["set-zone-limit", "system", "7", "5"]);
        wait_for("the agent's word on the limits", 30, || log_lines(&log).iter().any(|l| l.contains(said)));
        // Limits gone: the agent's passes are quiet about them again.
        s.z_ok(&["del-zone-limit", "system", "7"]);
        s.z_ok(&["del-zone-limit", "system", "5"]);
        let r = s.z(&["sync"]);
        assert_eq!(r.status, 0, "{}", r.stderr);
        assert!(!r.stdout.contains("zone limits"), "{}", r.stdout);
    });
}
