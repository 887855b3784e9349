//! Progress of `zonetp sync` against the running kernel: shown on a
//! terminal (a pty made by script(1)), never when stderr is a pipe.

mod common;
#[path = "common/db.rs"]
mod db;

use std::process::Command;

use common::*;
use db::Db;

/// 100 zones with distinct policies: 600 objects, ten datagrams.
fn hundred_zones(db: &Db) {
    db.ok(&["add-dp", "system"]);
    let mut conf = serde_json::json!({"schema_version": 1, "datapaths": {"system": {"ct_zones": {}}}, "timeout_policies": {}});
    for zone in 1..=100u32 {
        conf["datapaths"]["system"]["ct_zones"][zone.to_string()] =
            serde_json::json!({"timeout_policy": zone});
        conf["timeout_policies"][zone.to_string()] = serde_json::json!({"timeouts": {"udp_single": zone}});
    }
    std::fs::write(&db.0, conf.to_string()).unwrap();
}

#[test]
fn progress_shows_on_a_terminal_only() {
    in_netns(|| {
        let db = Db::new("progress-pipe");
        hundred_zones(&db);
        // stderr is a pipe here: nothing, however long it takes.
        let r = zonetp(&db.args(&["sync"]));
        assert_eq!(r.status, 0, "{}", r.stderr);
        assert_eq!(r.stderr, "", "no progress on a pipe");
        assert!(r.stdout.contains("created 600"), "{}", r.stdout);
        tool_ok("nfct", &["flush", "timeout"]);

        // On a terminal, once the delay (0 here) has passed: a line
        // rewritten in place, then cleared.
        let cmd = format!("{} --db {} sync >/dev/null", env!("CARGO_BIN_EXE_zonetp"), db.0.display());
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("ZONETP_PROGRESS_AFTER_MS", "0")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("\r\x1b[Kzonetp: sync system: 64/600 requests answered"), "{text:?}");
        assert!(text.contains("zonetp: sync system: 600/600 requests answered\r\x1b[K"), "{text:?}");
        assert_eq!(
            tool_ok("nfct", &["list", "timeout"]).lines().filter(|l| l.starts_with(".ovs_tp_")).count(),
            600
        );
    });
}
