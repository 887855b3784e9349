//! Host tests of `zonetp timeout` and the cttimeout library against the
//! running kernel, each in a throwaway network namespace, with the real
//! `nfct` and `iptables` as peers.

mod common;

use common::*;
use serde_json::json;
use zonetp::cttimeout::{CtTimeoutClient, CtTimeoutObject, CtTimeoutRequest, L3Proto, L4Proto, NewMode};

#[test]
fn what_zonetp_creates_nfct_reads_with_the_same_values() {
    in_netns(|| {
        zonetp_ok(&["timeout", "add", "web", "--l3", "ipv4", "--l4", "udp", "unreplied=10", "replied=20"]);
        assert_eq!(nfct_get("web"), (2, 17, vec![("UNREPLIED".into(), 10), ("REPLIED".into(), 20)]));
        zonetp_ok(&["timeout", "add", "t6", "--l3", "ipv6", "--l4", "tcp", "established=100", "unack=7"]);
        let (l3, l4, states) = nfct_get("t6");
        assert_eq!((l3, l4), (10, 6));
        assert!(states.contains(&("ESTABLISHED".into(), 100)), "{states:?}");
        assert!(states.contains(&("UNACKNOWLEDGED".into(), 7)), "{states:?}");
        // Unset states come from the kernel's defaults.
        assert!(states.contains(&("SYN_SENT".into(), 120)), "{states:?}");
    });
}

#[test]
fn what_nfct_creates_zonetp_reads_back() {
    in_netns(|| {
        tool_ok("nfct", &["add", "timeout", "n1", "inet", "udp", "unreplied", "11", "replied", "22"]);
        tool_ok("nfct", &["add", "timeout", "n2", "inet6", "icmpv6", "timeout", "7"]);
        let got: serde_json::Value =
            serde_json::from_str(&zonetp_ok(&["--format", "json", "timeout", "get", "n1"])).unwrap();
        assert_eq!(
            got,
            json!({"name": "n1", "l3": "ipv4", "l4": "udp", "timeouts": {"unreplied": 11, "replied": 22}, "use": 1})
        );
        assert_eq!(zonetp_ok(&["timeout", "get", "n2"]).trim(), "n2 ipv6 icmpv6 use=1 timeout=7");
        let names: Vec<_> = list_json().as_array().unwrap().iter().map(|o| o["name"].clone()).collect();
        assert_eq!(names, vec![json!("n1"), json!("n2")]);
    });
}

#[test]
fn duplicate_create_fails_and_changes_nothing() {
    in_netns(|| {
        zonetp_ok(&["timeout", "add", "dup", "--l3", "ipv4", "--l4", "udp", "unreplied=10"]);
        let before = list_json();
        let err = zonetp_err(&["timeout", "add", "dup", "--l3", "ipv4", "--l4", "udp", "unreplied=99"]);
        assert!(err.contains("\"dup\"") && err.contains("already exists") && err.contains("EEXIST"), "{err}");
        assert_eq!(list_json(), before);
    });
}

#[test]
fn replace_updates_in_place_but_not_across_protocols() {
    in_netns(|| {
        zonetp_ok(&["timeout", "add", "r", "--l3", "ipv4", "--l4", "udp", "unreplied=10", "replied=20"]);
        zonetp_ok(&["timeout", "replace", "r", "--l3", "ipv4", "--l4", "udp", "replied=99"]);
        assert_eq!(nfct_get("r").2, vec![("UNREPLIED".into(), 30), ("REPLIED".into(), 99)]);
        let before = list_json();
        let err = zonetp_err(&["timeout", "replace", "r", "--l3", "ipv4", "--l4", "tcp", "established=5"]);
        assert!(err.contains("another L3/L4 protocol") && err.contains("EINVAL"), "{err}");
        assert_eq!(list_json(), before);
    });
}

#[test]
fn delete_missing_is_enoent() {
    in_netns(|| {
        let err = zonetp_err(&["timeout", "delete", "ghost"]);
        assert!(err.contains("\"ghost\"") && err.contains("no such timeout object (ENOENT)"), "{err}");
        let err = zonetp_err(&["timeout", "get", "ghost"]);
        assert!(err.contains("ENOENT"), "{err}");
    });
}

/// An object referenced by an iptables CT rule: the running kernel decides
/// whether it may go (6.18 refuses with EBUSY; 6.12 unlinks it, leaving the
/// rule its reference). Either way zonetp reports it and nothing is lost.
#[test]
fn delete_in_use_by_an_iptables_rule() {
    in_netns(|| {
        zonetp_ok(&["timeout", "add", "busy", "--l3", "ipv4", "--l4", "udp", "unreplied=10"]);
        iptables_ct_rule("busy");
        let inuse = list_json();
        // The rule holds references (6.18: one; 6.12: two, the look-up's and
        // the conntrack template's).
        assert!(inuse[0]["use"].as_u64().unwrap() >= 2, "the rule holds a reference: {inuse}");
        let r = zonetp(&["timeout", "delete", "busy"]);
        if r.status == 1 {
            assert!(r.stderr.contains("in use by a connection, rule or flow (EBUSY)"), "{}", r.stderr);
            assert_eq!(list_json(), inuse, "a refused delete changes nothing");
        } else {
            assert_eq!(r.status, 0, "{}", r.stderr);
            assert_eq!(list_json(), json!([]));
        }
        tool_ok("iptables", &["-t", "raw", "-F"]);
        // Once the rule is gone the object (if still there) has one reference again.
        if r.status == 1 {
            assert_eq!(list_json()[0]["use"], json!(1));
            zonetp_ok(&["timeout", "delete", "busy"]);
        }
        assert_eq!(list_json(), json!([]));
    });
}

#[test]
fn untracked_l4_protocol_is_eopnotsupp() {
    in_netns(|| {
        let err = zonetp_err(&["timeout", "add", "x", "--l3", "ipv4", "--l4", "200", "timeout=3"]);
        assert!(err.contains("does not track this L4 protocol (EOPNOTSUPP)"), "{err}");
        assert_eq!(list_json(), json!([]));
        let err = zonetp_err(&["timeout", "defaults", "get", "--l3", "ipv4", "--l4", "200"]);
        assert!(err.contains("EOPNOTSUPP"), "{err}");
    });
}

#[test]
fn names_longer_than_31_bytes_are_refused_before_sending() {
    in_netns(|| {
        let long = "n".repeat(32);
        let err = zonetp_usage(&["timeout", "add", &long, "--l3", "ipv4", "--l4", "udp"]);
        assert!(err.contains("32 bytes long") && err.contains("at most 31"), "{err}");
        let err = zonetp_usage(&["timeout", "add", "", "--l3", "ipv4", "--l4", "udp"]);
        assert!(err.contains("empty"), "{err}");
        assert_eq!(list_json(), json!([]));
        let max = "m".repeat(31);
        zonetp_ok(&["timeout", "add", &max, "--l3", "ipv4", "--l4", "udp"]);
        assert_eq!(nfct_get(&max).1, 17);
    });
}

#[test]
fn zero_is_kept_and_wrapping_values_are_refused() {
    in_netns(|| {
        zonetp_ok(&["timeout", "add", "zero", "--l3", "ipv4", "--l4", "udp", "unreplied=0"]);
        assert_eq!(nfct_get("zero").2[0], ("UNREPLIED".into(), 0));
        let before = list_json();
        let err = zonetp_err(&["timeout", "add", "big", "--l3", "ipv4", "--l4", "udp", "replied=4294967295"]);
        assert!(err.contains("replied=4294967295 is too large") && err.contains("32 bits"), "{err}");
        let err = zonetp_err(&[
            "timeout",
            "replace",
            "zero",
            "--l3",
            "ipv4",
            "--l4",
            "udp",
            "unreplied=4294967295",
        ]);
        assert!(err.contains("too large"), "{err}");
        let err =
            zonetp_usage(&["timeout", "add", "huge", "--l3", "ipv4", "--l4", "udp", "replied=4294967296"]);
        assert!(err.contains("not a whole number of seconds"), "{err}");
        assert_eq!(list_json(), before);
    });
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        vec!["timeout", "add", "x", "--l3", "ipv4"],
        vec!["timeout", "frobnicate"],
        vec!["--format", "yaml", "timeout", "list"],
    ] {
        zonetp_usage(&args);
    }
    let err = zonetp_usage(&["timeout", "add", "x", "--l3", "ipx", "--l4", "udp"]);
    assert!(err.contains("unknown L3 protocol \"ipx\""), "{err}");
    let err = zonetp_usage(&["timeout", "add", "x", "--l3", "ipv4", "--l4", "quic"]);
    assert!(err.contains("unknown L4 protocol \"quic\""), "{err}");
    let err = zonetp_usage(&["timeout", "add", "x", "--l3", "ipv4", "--l4", "udp", "established=3"]);
    assert!(err.contains("unknown udp state \"established\""), "{err}");
    zonetp_usage(&["timeout", "add", "x", "--l3", "ipv4", "--l4", "udp", "replied=+5"]);
}

#[test]
fn defaults_are_per_namespace() {
    in_netns(|| {
        let before = zonetp_ok(&["timeout", "defaults", "get", "--l3", "ipv4", "--l4", "udp"]);
        assert_eq!(before.trim(), "ipv4 udp unreplied=30 replied=120");
        zonetp_ok(&["timeout", "defaults", "set", "--l3", "ipv4", "--l4", "udp", "unreplied=44"]);
        let after = zonetp_ok(&["timeout", "defaults", "get", "--l3", "ipv4", "--l4", "udp"]);
        assert_eq!(after.trim(), "ipv4 udp unreplied=44 replied=120");
        // A new object takes the changed default for states it leaves out.
        zonetp_ok(&["timeout", "add", "d", "--l3", "ipv4", "--l4", "udp", "replied=5"]);
        assert_eq!(nfct_get("d").2, vec![("UNREPLIED".into(), 44), ("REPLIED".into(), 5)]);
    });
    in_netns(|| {
        let fresh = zonetp_ok(&["timeout", "defaults", "get", "--l3", "ipv4", "--l4", "udp"]);
        assert_eq!(fresh.trim(), "ipv4 udp unreplied=30 replied=120", "another namespace is untouched");
    });
}

/// Hundreds of objects: created in batches, listed through a dump that
/// spans several messages, then all deleted.
#[test]
fn batches_and_multipart_dumps() {
    in_netns(|| {
        let mut client = CtTimeoutClient::open().unwrap();
        let requests: Vec<_> = (0..600)
            .map(|i| CtTimeoutRequest::New {
                object: CtTimeoutObject::new(
                    &format!("ovs_tp_{i}_tcp4"),
                    L3Proto::IPV4,
                    L4Proto::TCP,
                    [(3, 1000 + i)].into(),
                )
                .unwrap(),
                mode: NewMode::CreateOrReplace,
            })
            .collect();
        let results = client.batch(&requests).unwrap();
        assert!(results.iter().all(|r| r.is_ok()));
        let listed = client.list().unwrap();
        assert_eq!(listed.len(), 600);
        for (i, o) in listed.iter().enumerate() {
            assert_eq!(o.name.to_str(), Some(format!("ovs_tp_{i}_tcp4").as_str()));
            assert_eq!(o.timeouts[&3], 1000 + i as u32);
        }
        // A batch with failures reports each request on its own.
        let mixed = vec![
            CtTimeoutRequest::Delete { name: Some(listed[0].name.clone()) },
            CtTimeoutRequest::Delete { name: Some(zonetp::cttimeout::ObjectName::new("nope").unwrap()) },
            CtTimeoutRequest::Delete { name: Some(listed[1].name.clone()) },
        ];
        let results = client.batch(&mixed).unwrap();
        assert!(results[0].is_ok() && results[2].is_ok());
        assert_eq!(results[1].as_ref().unwrap_err().errno(), Some(libc::ENOENT));
        zonetp_ok(&["timeout", "delete", "--all"]);
        assert_eq!(client.list().unwrap().len(), 0);
    });
}
