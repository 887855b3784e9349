//! Host tests of the zone configuration and `zonetp sync` against the
//! running kernel, each in a throwaway network namespace with its own
//! configuration file.

mod common;
#[path = "common/db.rs"]
mod db;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use db::Db;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

fn names(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_owned()).collect()
}

#[test]
fn config_then_sync_gives_exactly_the_ovs_objects() {
    in_netns(|| {
        let db = Db::with_system("exact");
        db.ok(&[
            "add-zone-tp",
            "system",
            "zone=5",
            "udp_single=1",
            "icmp_first=2",
            "tcp_established=100",
            "tcp_retransmit=7",
        ]);
        let r = db.sync();
        // Created in OVS's order, which is the order the kernel lists them in.
        let ovs_order: Vec<String> = SIX.iter().map(|s| format!("ovs_tp_1_{s}")).collect();
        assert_eq!(names(&r["created"]), ovs_order);
        assert_eq!(nfct_objects(), ovs_order);
        assert_eq!(nfct_objects_sorted(), six(1));
        assert_eq!(
            nfct_get("ovs_tp_1_udp4"),
            (2, 17, vec![("UNREPLIED".into(), 1), ("REPLIED".into(), 120)])
        );
        assert_eq!(nfct_get("ovs_tp_1_udp6").0, 10);
        assert_eq!(nfct_get("ovs_tp_1_icmp4"), (2, 1, vec![("TIMEOUT".into(), 2)]));
        assert_eq!(nfct_get("ovs_tp_1_icmpv6"), (10, 58, vec![("TIMEOUT".into(), 2)]));
        let tcp = nfct_get("ovs_tp_1_tcp6").2;
        assert!(
            tcp.contains(&("ESTABLISHED".into(), 100)) && tcp.contains(&("RETRANS".into(), 7)),
            "{tcp:?}"
        );
        // Idempotent: a second sync changes nothing.
        let again = db.sync();
        assert_eq!(again["unchanged"], json!(6));
        assert!(again["plan"].as_array().unwrap().is_empty());
    });
}

#[test]
fn changing_a_key_replaces_only_its_objects() {
    in_netns(|| {
        let db = Db::with_system("change");
        db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1", "icmp_first=2"]);
        db.sync();
        db.ok(&["--may-exist", "add-zone-tp", "system", "zone=5", "udp_single=9", "icmp_first=2"]);
        let r = db.sync();
        assert_eq!(names(&r["replaced"]), vec!["ovs_tp_1_udp4", "ovs_tp_1_udp6"]);
        assert!(names(&r["created"]).is_empty() && names(&r["deleted"]).is_empty());
        assert_eq!(nfct_get("ovs_tp_1_udp4").2[0], ("UNREPLIED".into(), 9));
        // Dropping a key returns that state to the kernel's default.
        db.ok(&["--may-exist", "add-zone-tp", "system", "zone=5", "udp_single=9"]);
        let r = db.sync();
        assert_eq!(names(&r["replaced"]), vec!["ovs_tp_1_icmp4", "ovs_tp_1_icmpv6"]);
        assert_eq!(nfct_get("ovs_tp_1_icmp4").2, vec![("TIMEOUT".into(), 30)]);
        // A change made behind zonetp's back is repaired.
        zonetp_ok(&["timeout", "replace", "ovs_tp_1_udp6", "--l3", "ipv6", "--l4", "udp", "unreplied=3"]);
        tool_ok("nfct", &["delete", "timeout", "ovs_tp_1_tcp4"]);
        let r = db.sync();
        assert_eq!(names(&r["created"]), vec!["ovs_tp_1_tcp4"]);
        assert_eq!(names(&r["replaced"]), vec!["ovs_tp_1_udp6"]);
        assert_eq!(nfct_get("ovs_tp_1_udp6").2[0], ("UNREPLIED".into(), 9));
    });
}

#[test]
fn deleting_a_zone_policy_removes_its_objects_and_retries_while_in_use() {
    in_netns(|| {
        let db = Db::with_system("delete");
        db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1"]);
        db.sync();
        iptables_ct_rule("ovs_tp_1_udp4");
        db.ok(&["del-zone-tp", "system", "zone=5"]);
        let r = db.sync();
        let pending = names(&r["pending"]);
        let mut gone = names(&r["deleted"]);
        gone.extend(pending.clone());
        gone.sort();
        assert_eq!(gone, six(1), "every object is deleted or pending");
        if !pending.is_empty() {
            // This kernel refuses to delete an object in use (EBUSY).
            assert_eq!(pending, vec!["ovs_tp_1_udp4"]);
            assert_eq!(nfct_objects(), vec!["ovs_tp_1_udp4"]);
            // Its id stays reserved: a new policy does not take over the
            // object the rule still holds.
            db.ok(&["add-zone-tp", "system", "zone=6", "udp_single=2"]);
            let r = db.sync();
            assert_eq!(names(&r["pending"]), vec!["ovs_tp_1_udp4"]);
            assert!(names(&r["created"]).contains(&"ovs_tp_2_udp4".to_owned()));
            tool_ok("iptables", &["-t", "raw", "-F"]);
            let r = db.sync();
            assert_eq!(names(&r["deleted"]), vec!["ovs_tp_1_udp4"]);
            assert!(!std::fs::read_to_string(&db.0).unwrap().contains("retired"), "the id is free again");
        }
        tool_ok("iptables", &["-t", "raw", "-F"]);
        db.ok(&["del-zone-tp", "--if-exists", "system", "zone=6"]);
        db.sync();
        assert!(nfct_objects().is_empty());
    });
}

#[test]
fn objects_the_configuration_does_not_explain_are_cleaned_up_and_others_kept() {
    in_netns(|| {
        let db = Db::with_system("strays");
        tool_ok("nfct", &["add", "timeout", "ovs_tp_77_tcp4", "inet", "tcp", "established", "5"]);
        tool_ok("nfct", &["add", "timeout", "web", "inet", "udp", "unreplied", "5"]);
        tool_ok("nfct", &["add", "timeout", "ovs_tp_x_tcp4", "inet", "tcp", "established", "5"]);
        let dry: Value = serde_json::from_str(&db.ok(&["--format", "json", "sync", "--dry-run"])).unwrap();
        assert_eq!(dry["plan"], json!([{"action": "delete", "name": "ovs_tp_77_tcp4"}]));
        assert_eq!(nfct_objects().len(), 3, "a dry run changes nothing");
        let r = db.sync();
        assert_eq!(names(&r["deleted"]), vec!["ovs_tp_77_tcp4"]);
        assert_eq!(nfct_objects_sorted(), vec!["ovs_tp_x_tcp4", "web"]);
    });
}

#[test]
fn resolve_falls_back_to_zone_zero_then_to_kernel_defaults() {
    let db = Db::with_system("resolve");
    let args = |zone: &'static str, l3: &'static str, l4: &'static str| {
        ["resolve", "system", zone, "--l3", l3, "--l4", l4]
    };
    assert_eq!(db.ok(&args("zone=5", "ipv4", "udp")).trim(), "none");
    db.ok(&["add-zone-tp", "system", "zone=0", "udp_single=3"]);
    assert_eq!(db.ok(&args("zone=5", "ipv4", "udp")).trim(), "ovs_tp_1_udp4");
    db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1"]);
    assert_eq!(db.ok(&args("zone=5", "ipv6", "icmpv6")).trim(), "ovs_tp_2_icmpv6");
    assert_eq!(db.ok(&args("zone=9", "ipv6", "tcp")).trim(), "ovs_tp_1_tcp6");
    let j: Value = serde_json::from_str(
        &db.ok(&["--format", "json", "resolve", "system", "zone=9", "--l3", "ipv4", "--l4", "icmp"]),
    )
    .unwrap();
    assert_eq!(
        j,
        json!({"datapath": "system", "zone": 9, "resolution": "zone0-fallback", "source": "zone0",
               "policy_zone": 0, "policy_id": 1, "object": "ovs_tp_1_icmp4"})
    );
    assert!(db.usage(&args("zone=5", "ipv4", "icmpv6")).contains("not ipv4 icmpv6"));
}

#[test]
fn ovs_vsctl_outputs_and_refusals() {
    let db = Db::new("vsctl");
    assert_eq!(
        db.err(&["add-zone-tp", "system", "zone=1", "udp_first=1"]),
        "zonetp: datapath system does not exist\n"
    );
    db.ok(&["add-dp", "system"]);
    db.ok(&["add-zone-tp", "system", "zone=1", "icmp_reply=2", "icmp_first=1"]);
    let r = zonetp(&db.args(&["add-zone-tp", "system", "zone=10", "udp_first=5"]));
    assert!(r.stderr.contains("no timeout for udp_first"), "the ignored key is named: {}", r.stderr);
    assert_eq!(
        db.ok(&["list-zone-tp", "system"]),
        "Zone:1, Timeout Policies: icmp_first=1 icmp_reply=2\nZone:10, Timeout Policies: udp_first=5\n"
    );
    assert_eq!(
        db.err(&["add-zone-tp", "system", "zone=1", "udp_first=1"]),
        "zonetp: zone id 1 already has a policy\n"
    );
    assert_eq!(
        db.usage(&["add-zone-tp", "system", "zone=UNKNOWN", "udp_first=1"]),
        "zonetp: invalid zone argument, zone=UNKNOWN\n"
    );
    assert_eq!(db.err(&["del-zone-tp", "system", "zone=11"]), "zonetp: zone id 11 does not have a policy\n");
    assert_eq!(db.err(&["list-zone-tp", "netdev"]), "zonetp: datapath: netdev record not found\n");
    // A zone without a timeout: ovs-vsctl's words for too few arguments.
    assert_eq!(
        db.usage(&["add-zone-tp", "system", "zone=2"]),
        "zonetp: 'add-zone-tp' command requires at least 3 arguments\n"
    );
    assert!(db
        .usage(&["add-zone-tp", "system", "zone=2", "udp_bogus=1"])
        .contains("udp_bogus is not a valid timeout policy key"));
    assert!(db
        .usage(&["add-zone-tp", "system", "zone=70000", "udp_first=1"])
        .contains("70000 is not in the valid range 0 to 65535"));
    assert!(db
        .usage(&["add-zone-tp", "system", "zone=2", "udp_first=-1"])
        .contains("not in the valid range 0 to 4294967295"));
    db.ok(&["add-zone-tp", "system", "zone=2", "udp_first=4294967295"]);
    db.ok(&["del-zone-tp", "--if-exists", "system", "zone=11"]);
    assert_eq!(db.ok(&["list-dp"]), "system\n");
}

#[test]
fn values_the_kernel_would_wrap_fail_the_sync_by_name() {
    in_netns(|| {
        let db = Db::with_system("wrap");
        // Accepted for a kernel with HZ=100, then synced where HZ=1000
        // (a file made for another kernel): the sync names the objects.
        let with_hz = |hz: &str, args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_zonetp"))
                .args(db.args(args))
                .env("ZONETP_KERNEL_HZ", hz)
                .output()
                .unwrap()
        };
        let r =
            with_hz("100", &["add-zone-tp", "system", "zone=1", "udp_single=5000000", "tcp_established=10"]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let r = with_hz("1000", &["sync"]);
        assert_eq!(r.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(stderr.contains("ovs_tp_1_udp4: timeout unreplied=5000000 is too large"), "{stderr}");
        assert_eq!(
            nfct_objects_sorted(),
            vec!["ovs_tp_1_icmp4", "ovs_tp_1_icmpv6", "ovs_tp_1_tcp4", "ovs_tp_1_tcp6"]
        );
    });
}

#[test]
fn eight_concurrent_writers_lose_nothing() {
    let db = Db::with_system("concurrent");
    let children: Vec<_> = (0..8)
        .map(|p| {
            let script = (0..10)
                .map(|i| {
                    format!(
                        "{} --db {} add-zone-tp system zone={} udp_single={} || exit 1",
                        env!("CARGO_BIN_EXE_zonetp"),
                        db.0.display(),
                        p * 10 + i,
                        p * 10 + i + 1
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Command::new("sh").arg("-c").arg(script).spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let lines = db.ok(&["list-zone-tp", "system"]);
    assert_eq!(lines.lines().count(), 80, "{lines}");
    for z in 0..80 {
        assert!(lines.contains(&format!("Zone:{z}, Timeout Policies: udp_single={}\n", z + 1)), "zone {z}");
    }
}

#[test]
fn garbage_or_truncated_files_give_a_clear_error_and_stay_untouched() {
    let db = Db::with_system("garbage");
    db.ok(&["add-zone-tp", "system", "zone=1", "udp_single=1"]);
    let good = std::fs::read_to_string(&db.0).unwrap();
    for bad in [good[..good.len() - 10].to_owned(), "garbage".to_owned(), String::new()] {
        std::fs::write(&db.0, &bad).unwrap();
        let e = db.err(&["add-zone-tp", "system", "zone=2", "udp_single=1"]);
        assert!(e.starts_with(&format!("zonetp: cannot read zonetp database {}", db.0.display())), "{e}");
        assert!(e.contains("left as it is"), "{e}");
        db.err(&["list-zone-tp", "system"]);
        assert_eq!(std::fs::read_to_string(&db.0).unwrap(), bad);
    }
}

#[test]
fn kill_9_during_writes_leaves_the_old_or_the_new_file() {
    let db = Db::with_system("kill9");
    for round in 0..15u64 {
        db.kill_writer_after("udp_single=$i tcp_established=$i", Duration::from_millis(30 + round * 17 % 90))
            .unwrap();
        let r = zonetp(&db.args(&["list-zone-tp", "system"]));
        assert_eq!(r.status, 0, "round {round}: the file must stay readable: {}", r.stderr);
    }
}

#[test]
fn watch_mode_follows_the_file_and_stops_on_sigterm() {
    in_netns(|| {
        let db = Db::with_system("watch");
        let child = Command::new(env!("CARGO_BIN_EXE_zonetp"))
            .args(db.args(&["sync", "--watch", "--interval", "1"]))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        db.ok(&["add-zone-tp", "system", "zone=3", "icmp_first=4"]);
        let deadline = Instant::now() + Duration::from_secs(15);
        while nfct_objects().len() < 6 {
            assert!(Instant::now() < deadline, "the watcher did not push the new zone");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(nfct_get("ovs_tp_1_icmp4").2, vec![("TIMEOUT".into(), 4)]);
        db.ok(&["del-zone-tp", "system", "zone=3"]);
        while !nfct_objects().is_empty() {
            assert!(Instant::now() < deadline, "the watcher did not remove the zone's objects");
            std::thread::sleep(Duration::from_millis(100));
        }
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "clean exit on SIGTERM: {:?}", out.status);
        assert!(String::from_utf8_lossy(&out.stderr).contains("stopped"));
        assert!(String::from_utf8_lossy(&out.stdout).contains("created ovs_tp_1_icmp4"));
    });
}

/// CONFIG_HZ of the running kernel, from the sources a packager may have:
/// /boot/config-RELEASE, else /proc/config.gz.
fn running_kernel_hz() -> Option<u32> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let config = std::fs::read_to_string(format!("/boot/config-{}", release.trim()))
        .ok()
        .or_else(|| Some(tool_ok("gzip", &["-dc", "/proc/config.gz"])))?;
    config.lines().find_map(|l| l.strip_prefix("CONFIG_HZ=")?.parse().ok())
}

#[test]
fn the_bound_follows_the_running_kernel_s_hz() {
    in_netns(|| {
        // Where /boot/config-RELEASE is missing (a kernel built elsewhere),
        // HZ comes from /proc/config.gz; on a kernel with HZ below 1000,
        // values between u32::MAX/1000 and u32::MAX/HZ fit and are kept.
        let hz = running_kernel_hz().expect("this host's kernel has /boot/config-RELEASE or /proc/config.gz");
        let max = u32::MAX / hz;
        let db = Db::with_system("hz");
        db.ok(&["add-zone-tp", "system", "zone=1", &format!("udp_single={max}")]);
        let e = db.err(&["add-zone-tp", "system", "zone=2", &format!("udp_single={}", max + 1)]);
        assert!(e.contains(&format!("at most {max} seconds fit (HZ={hz})")), "{e}");
        db.ok(&["sync"]);
        let (_, _, states) = nfct_get("ovs_tp_1_udp4");
        assert!(states.contains(&("UNREPLIED".to_owned(), max)), "{states:?}");
        eprintln!("[measure] this kernel: HZ={hz}, at most {max} s");
    });
}

/// Runs `zonetp ARGS` in a private mount namespace where the kernel's
/// configuration is out of sight: /boot is an empty tmpfs and, with
/// `hide_proc`, /proc/config.gz reads empty (/dev/null bound over it).
/// `path` is the `PATH` zonetp runs with.
fn zonetp_without_kernel_config(hide_proc: bool, path: &str, args: &[&str]) -> Run {
    let script = r#"hide=$1; shift; mount -t tmpfs none /boot &&
        if [ "$hide" = yes ]; then mount --bind /dev/null /proc/config.gz; fi && exec "$@""#;
    let hide = if hide_proc { "yes" } else { "no" };
    let mut all = vec!["--mount", "--propagation", "private", "sh", "-c", script, "sh", hide];
    // `env VAR=VALUE -- ARGS`: zonetp with VAR set.
    let (env, args) = match args.iter().position(|a| *a == "--").filter(|_| args[0] == "env") {
        Some(end) => (&args[..end], &args[end + 1..]),
        None => (&args[..0], args),
    };
    all.extend_from_slice(env);
    all.push(env!("CARGO_BIN_EXE_zonetp"));
    all.extend_from_slice(args);
    let out = Command::new("unshare").args(&all).env("PATH", path).output().unwrap();
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[test]
fn unknown_hz_bounds_at_the_highest_hz_and_says_so() {
    // No /boot/config-RELEASE, no /proc/config.gz: HZ may be 1000, so
    // what a HZ=1000 kernel would wrap is refused.
    let db = Db::with_system("hz-unknown");
    let add = |zone: &str, value: &str| {
        let timeouts = format!("udp_single={value}");
        zonetp_without_kernel_config(true, PATH, &db.args(&["add-zone-tp", "system", zone, &timeouts]))
    };
    let r = add("zone=1", "4294967");
    assert_eq!(r.status, 0, "{}", r.stderr);
    let r = add("zone=2", "4294968");
    assert_eq!(r.status, 1, "a HZ=1000 kernel wraps 4294968 s: {}", r.stdout);
    assert_eq!(
        r.stderr.trim_end(),
        "zonetp: udp_single=4294968 is too large for the kernel datapath: the kernel stores seconds*HZ \
         in 32 bits, so at most 4294967 seconds fit (HZ=1000, the highest a kernel may have: this \
         kernel's HZ is unknown, no /boot/config-RELEASE or /proc/config.gz; set ZONETP_KERNEL_HZ)"
    );
    // ZONETP_KERNEL_HZ says what the configuration would have said.
    let hz250 = |value: u32| {
        let timeouts = format!("udp_single={value}");
        let args = db.args(&["add-zone-tp", "system", "zone=3", &timeouts]);
        zonetp_without_kernel_config(
            true,
            PATH,
            &[&["env", "ZONETP_KERNEL_HZ=250", "--"][..], &args].concat(),
        )
    };
    assert_eq!(hz250(u32::MAX / 250 + 1).status, 1);
    let r = hz250(u32::MAX / 250);
    assert_eq!(r.status, 0, "{}", r.stderr);
}

#[test]
fn proc_config_gz_is_read_by_gzip_s_own_path_not_path_s() {
    // A gzip of the caller's PATH (first in it) that says HZ=100.
    let hz = running_kernel_hz().expect("this host's kernel has /boot/config-RELEASE or /proc/config.gz");
    assert!(std::path::Path::new("/proc/config.gz").exists(), "this test needs /proc/config.gz");
    assert!(hz > 100, "this test needs a kernel with HZ above 100, not {hz}");
    let db = Db::with_system("hz-path");
    let bin = db.dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("gzip");
    std::fs::write(&fake, "#!/bin/sh\necho CONFIG_HZ=100\n").unwrap();
    tool_ok("chmod", &["755", fake.to_str().unwrap()]);
    let path = format!("{}:{PATH}", bin.display());
    let over = format!("udp_single={}", u32::MAX / hz + 1);
    let r = zonetp_without_kernel_config(false, &path, &db.args(&["add-zone-tp", "system", "zone=1", &over]));
    assert_eq!(r.status, 1, "the bound of HZ=100 came from PATH's gzip: {}", r.stdout);
    assert!(r.stderr.contains(&format!("(HZ={hz})")), "{}", r.stderr);
}

#[test]
fn a_file_made_anew_does_not_reuse_the_id_of_objects_a_rule_holds() {
    in_netns(|| {
        let db = Db::with_system("anew");
        db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1"]);
        db.sync();
        iptables_ct_rule("ovs_tp_1_udp4");
        db.ok(&["del-zone-tp", "system", "zone=5"]);
        assert_eq!(names(&db.sync()["pending"]), vec!["ovs_tp_1_udp4"]);
        // The file, and its retired ids, gone: the kernel still says id 1
        // is in use.
        std::fs::remove_file(&db.0).unwrap();
        db.ok(&["add-dp", "system"]);
        db.ok(&["add-zone-tp", "system", "zone=7", "udp_single=70"]);
        let r = db.sync();
        assert!(names(&r["created"]).contains(&"ovs_tp_2_udp4".to_owned()), "{r}");
        let (_, _, states) = nfct_get("ovs_tp_1_udp4");
        assert!(
            states.contains(&("UNREPLIED".to_owned(), 1)),
            "the rule's object was left alone: {states:?}"
        );
        tool_ok("iptables", &["-t", "raw", "-F"]);
    });
}

/// `list-dp-cap` on the file: ovs-vsctl's line and refusal. `sync`
/// probes openvswitch.ko only where it is loaded and `ovs-system` exists
/// (never loading the module, never making a datapath): in a network
/// namespace without one (this test's) it writes nothing, keeps the keys
/// it did not probe, and leaves no `zonetp-probe` datapath; a record that
/// says both are supported stays as it is. With the module and the
/// datapath, the VM test ovs-zone-limit checks what it records.
#[test]
fn list_dp_cap_shows_what_sync_probed_of_the_kernel_datapath() {
    in_netns(|| {
        let db = Db::with_system("dp-cap");
        assert_eq!(db.err(&["list-dp-cap", "nosystem"]), "zonetp: datapath \"nosystem\" record not found\n");
        assert_eq!(db.ok(&["list-dp-cap", "system"]), "\n", "none yet: an empty line, as ovs-vsctl prints");
        db.ok(&["sync", "--dry-run"]);
        db.ok(&["sync", "--beside-vswitchd"]);
        assert_eq!(
            db.ok(&["list-dp-cap", "system"]),
            "\n",
            "a dry run and a sync beside ovs-vswitchd record nothing"
        );
        // A key zonetp does not probe, written by hand, stays.
        let text =
            db.text().replace("\"system\": {", "\"system\": {\"capabilities\": {\"recirc\": \"true\"},");
        std::fs::write(&db.0, text).unwrap();
        let before = std::fs::metadata(&db.0).unwrap().modified().unwrap();
        let r = db.run(&["sync"]);
        assert_eq!(r.status, 0, "{}", r.stderr);
        assert!(!r.stderr.contains("capabilities"), "{}", r.stderr);
        assert_eq!(db.ok(&["list-dp-cap", "system"]), "recirc=true\n", "no ovs-system here: nothing probed");
        assert_eq!(std::fs::metadata(&db.0).unwrap().modified().unwrap(), before, "nothing written");
        assert_ne!(tool("ip", &["link", "show", "zonetp-probe"]).status, 0, "no probe datapath made");
        // A record that says both are supported is not probed again: it
        // stays as it is.
        let text = db.text().replace(
            "\"capabilities\": {",
            "\"capabilities\": {\"ct_timeout\": \"true\", \"ct_zone\": \"true\", ",
        );
        std::fs::write(&db.0, text).unwrap();
        db.ok(&["sync"]);
        assert_eq!(db.ok(&["list-dp-cap", "system"]), "ct_timeout=true ct_zone=true recirc=true\n");
    });
}

/// The zone limit verbs on the file: ovs-vsctl 3.5's round trip and
/// refusals; the file keeps the limits where a reader can see them.
#[test]
fn zone_limits_on_the_file_round_trip_with_ovs_vsctl_3_5_s_words() {
    let db = Db::with_system("limits");
    zone_limits_round_trip(&|args| db.run(args));
    let text = db.text();
    assert!(text.contains("\"limit\": 4294967295"), "{text}");
}

/// `sync` pushes the configured zone limits into openvswitch.ko after the
/// timeout objects; `status` shows each zone's limit with the kernel's
/// count. On a kernel without openvswitch.ko (this host's) the limits
/// fail the sync by name, the objects are still pushed, and once no limit
/// is configured (and zonetp set none) the kernel is not asked at all.
/// With the module, the VM test ovs-zone-limit checks what it does to
/// connections.
#[test]
fn sync_pushes_zone_limits_or_fails_by_name_without_openvswitch_ko() {
    in_netns(|| {
        let module = expected_capabilities().contains("true");
        let db = Db::with_system("limit-sync");
        db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=3"]);
        let r = db.run(&["sync"]);
        assert!(!r.stdout.contains("zone limits"), "no limit, no word of them: {}", r.stdout);
        db.ok(&["set-zone-limit", "system", "5", "100"]);
        db.ok(&["set-zone-limit", "system", "default", "7"]);
        db.ok(&["add-zone-tp", "system", "zone=6", "udp_single=4"]);
        let r = db.run(&["sync"]);
        assert_eq!(nfct_objects_sorted().len(), 12, "the objects are pushed whatever the limits do");
        let status = db.ok(&["status"]);
        assert!(status.contains("default zone limit: 7\n"), "{status}");
        if module {
            assert_eq!(r.status, 0, "{}", r.stderr);
            assert!(
                r.stdout.contains("set limit of zone 5 limit=100\nset limit of default limit=7\n")
                    || r.stdout.contains("set limit of default limit=7\nset limit of zone 5 limit=100\n"),
                "{}",
                r.stdout
            );
            assert!(status.contains("; 0 entries; limit 100, 0 counted\n"), "{status}");
            db.ok(&["del-zone-limit", "system", "5"]);
            let r = db.ok(&["sync"]);
            assert!(r.contains("deleted limit of zone 5\n"), "{r}");
        } else {
            assert_eq!(r.status, 1, "{}", r.stdout);
            assert_eq!(
                r.stderr,
                "zonetp: sync system: zone limits: cannot resolve generic netlink family ovs_ct_limit: \
                 No such file or directory (os error 2) (ENOENT): is the openvswitch module loaded?\n"
            );
            assert!(
                status.contains(
                    "zone limits: the kernel's not read (cannot resolve generic netlink family ovs_ct_limit"
                ),
                "{status}"
            );
            assert!(
                status.contains("zone 5: policy 1 (own): udp_single=3; 0 entries; limit 100\n"),
                "{status}"
            );
            // Configured limits the kernel does not hold: out of sync.
            assert!(
                status.ends_with("out of sync: zone limits (the kernel's not read); run `zonetp sync`\n"),
                "{status}"
            );
            let check = db.run(&["status", "--check"]);
            assert_eq!(check.status, 1, "{}", check.stdout);
            assert_eq!(
                check.stderr,
                "zonetp: status system: zone limits out of sync with the configuration (run `zonetp sync`): \
                 the kernel's not read\n"
            );
            // A userspace datapath's limits are not the kernel's: not read,
            // not counted.
            db.ok(&["add-dp", "netdev"]);
            db.ok(&["set-zone-limit", "netdev", "5", "1"]);
            let netdev = db.ok(&["status", "--check", "netdev"]);
            assert!(!netdev.contains("not read") && netdev.contains("limit 1"), "{netdev}");
            db.ok(&["del-dp", "netdev"]);
            let json = db.json(&["status"]);
            assert_eq!(json["default_limit"], json!(7));
            assert_eq!(json["zones"][0]["limit"], json!(100));
            assert_eq!(json["zones"][1].get("limit"), None, "zone 6 has none of its own");
            db.ok(&["del-zone-limit", "system", "5"]);
        }
        db.ok(&["del-zone-limit", "system", "default"]);
        // Nothing configured, nothing zonetp set left: not a word, exit 0.
        let r = db.ok(&["sync"]);
        assert!(!r.contains("zone limits"), "{r}");
        assert!(!db.ok(&["status"]).contains("limit"));
    });
}
