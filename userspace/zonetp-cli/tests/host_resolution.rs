//! Host tests of the per-datapath resolution mode (`set-dp DP
//! resolution=exact|zone0-fallback`): `resolve` and `sync` against the
//! running kernel, each in a throwaway network namespace.

mod common;
#[path = "common/db.rs"]
mod db;

use common::*;
use db::Db;

#[test]
fn exact_mode_gives_zones_without_a_policy_the_kernel_defaults() {
    in_netns(|| {
        let db = Db::with_system("resolution-exact");
        db.ok(&["add-zone-tp", "system", "zone=0", "udp_single=9"]);
        db.ok(&["add-zone-tp", "system", "zone=5", "udp_single=1"]);
        // The default mode: zone 0 fills in.
        assert_eq!(db.ok(&["resolve", "system", "zone=7", "--l3", "ipv4", "--l4", "udp"]), "ovs_tp_1_udp4\n");
        let r = db.json(&["resolve", "system", "zone=7", "--l3", "ipv4", "--l4", "udp"]);
        assert_eq!((r["resolution"].as_str(), r["source"].as_str()), (Some("zone0-fallback"), Some("zone0")));

        db.ok(&["set-dp", "system", "resolution=exact"]);
        assert_eq!(db.ok(&["resolve", "system", "zone=7", "--l3", "ipv4", "--l4", "udp"]), "none\n");
        let r = db.json(&["resolve", "system", "zone=7", "--l3", "ipv4", "--l4", "udp"]);
        assert_eq!((r["resolution"].as_str(), r["source"].as_str()), (Some("exact"), Some("default")));
        assert_eq!(db.ok(&["resolve", "system", "zone=5", "--l3", "ipv6", "--l4", "udp"]), "ovs_tp_2_udp6\n");
        assert_eq!(db.ok(&["resolve", "system", "zone=0", "--l3", "ipv4", "--l4", "tcp"]), "ovs_tp_1_tcp4\n");
        let dps = db.json(&["list-dp"]);
        assert_eq!(dps[0]["resolution"], "exact");

        // Sync pushes every zone's own policy in either mode (zone 0's is its own).
        let report = db.json(&["sync"]);
        assert_eq!(report["resolution"], "exact");
        assert_eq!(report["created"].as_array().unwrap().len(), 12, "{report}");
        let nfct = tool_ok("nfct", &["list", "timeout"]);
        assert!(nfct.contains(".ovs_tp_1_udp4") && nfct.contains(".ovs_tp_2_udp4"), "{nfct}");
        db.ok(&["set-dp", "system", "resolution=zone0-fallback"]);
        let report = db.json(&["sync"]);
        assert_eq!(report["unchanged"], 12, "switching modes changes no kernel object: {report}");
        assert_eq!(db.ok(&["resolve", "system", "zone=7", "--l3", "ipv4", "--l4", "udp"]), "ovs_tp_1_udp4\n");
    });
}

#[test]
fn bad_settings_are_refused_and_change_nothing() {
    in_netns(|| {
        let db = Db::with_system("resolution-bad");
        let before = std::fs::read_to_string(&db.0).unwrap();
        // Words that do not parse are usage errors (exit 2); a datapath
        // that does not exist is a runtime one (exit 1).
        let e = db.usage(&["set-dp", "system", "resolution=zone0"]);
        assert_eq!(e, "zonetp: unknown resolution mode \"zone0\" (expected zone0-fallback or exact)\n");
        let e = db.usage(&["set-dp", "system", "mode"]);
        assert!(e.contains("unknown setting \"mode\""), "{e}");
        let e = db.err(&["set-dp", "netdev", "resolution=exact"]);
        assert_eq!(e, "zonetp: datapath netdev does not exist\n");
        assert_eq!(db.run(&["set-dp", "system"]).status, 2, "a setting is required");
        assert_eq!(std::fs::read_to_string(&db.0).unwrap(), before);
    });
}

#[test]
fn a_configuration_file_from_before_the_setting_loads_as_zone0_fallback() {
    in_netns(|| {
        let db = Db::new("resolution-old-file");
        std::fs::write(
            &db.0,
            r#"{"schema_version": 1, "datapaths": {"system": {"ct_zones": {"0": {"timeout_policy": 1}}}},
                "timeout_policies": {"1": {"timeouts": {"udp_single": 3}}}}"#,
        )
        .unwrap();
        assert_eq!(db.ok(&["resolve", "system", "zone=9", "--l3", "ipv4", "--l4", "udp"]), "ovs_tp_1_udp4\n");
    });
}
