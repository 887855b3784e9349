//! Property tests (proptest) of every parser that takes input from a
//! user, a file or the kernel: none may panic, whatever it is given, and
//! what parses prints back to something that parses the same. Inputs are
//! both arbitrary strings and strings assembled from each grammar's own
//! tokens, so the generator reaches deep into each parser. Run by
//! `make check` (unit stage).

use proptest::prelude::*;
use zonetp::config::{parse_limit_arg, parse_zone_arg, Config, LimitZone};
use zonetp::cttimeout::message::{parse_defaults, parse_object};
use zonetp::cttimeout::object::parse_timeouts;
use zonetp::cttimeout::{L3Proto, L4Proto, ObjectName};
use zonetp::ovs::ct_limit::parse_reply;
use zonetp::ovs::{Action, FlowKey};
use zonetp::policy::TimeoutPolicy;
use zonetp::store::Store;

/// Strings made of a grammar's tokens, in any order.
fn tokens(vocabulary: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vocabulary), 0..max).prop_map(|v| v.concat())
}

const ZONE_TOKENS: &[&str] = &[
    "zone=",
    "0",
    "1",
    "7",
    "9",
    "x",
    "X",
    "0x",
    "+",
    "-",
    "a",
    "f",
    "g",
    " ",
    "65535",
    "65536",
    "99999999999",
];

const WORD_TOKENS: &[&str] = &[
    "udp_single",
    "tcp_established",
    "icmp_first",
    "udp_first",
    "=",
    "==",
    "0",
    "1",
    "4294967295",
    "4294967296",
    "+",
    "-",
    " ",
    "x",
];

const FLOW_TOKENS: &[&str] = &[
    "in_port",
    "eth",
    "eth_type",
    "ipv4",
    "ipv6",
    "tcp",
    "udp",
    "icmp",
    "icmpv6",
    "arp",
    "ct_state",
    "ct_zone",
    "ct_mark",
    "recirc_id",
    "skb_mark",
    "sctp",
    "tcp_flags",
    "(",
    ")",
    ",",
    "=",
    "/",
    ":",
    ".",
    "src",
    "dst",
    "proto",
    "frag",
    "type",
    "code",
    "0x",
    "0x0800",
    "0x86dd",
    "ffff",
    "1",
    "17",
    "255",
    "256",
    "10.0.0.1",
    "::1",
    "fe80::",
    "aa:bb:cc:dd:ee:ff",
    "+trk",
    "-new",
    "+est",
    "no",
    "first",
    "later",
    "-",
    " ",
];

const ACTION_TOKENS: &[&str] = &[
    "ct",
    "(",
    ")",
    ",",
    "commit",
    "force_commit",
    "zone=",
    "mark=",
    "timeout=",
    "ovs_tp_1_udp4",
    "recirc",
    "drop",
    "1",
    "2",
    "0x",
    "ff",
    "/",
    "-",
    "=",
    " ",
    "65536",
    "4294967296",
];

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"schema_version\"",
    "\"datapaths\"",
    "\"system\"",
    "\"ct_zones\"",
    "\"5\"",
    "\"70000\"",
    "\"timeout_policy\"",
    "\"timeout_policies\"",
    "\"timeouts\"",
    "\"udp_single\"",
    "\"retired_policy_ids\"",
    "\"external_ids\"",
    "1",
    "0",
    "-1",
    "4294967295",
    "null",
    "true",
];

proptest! {
    // Cheap, and the interesting strings (signs inside digits) are rare.
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn zone_arguments(s in prop_oneof![".*", tokens(ZONE_TOKENS, 5).prop_map(|b| format!("zone={b}"))]) {
        if let Ok(zone) = parse_zone_arg(&s) {
            prop_assert_eq!(parse_zone_arg(&format!("zone={zone}")).unwrap(), zone);
            let n = s.strip_prefix("zone=").unwrap();
            let body = n.trim_start_matches(['+', '-']);
            prop_assert!(n.len() - body.len() <= 1, "one sign at most: {}", s);
            let digits = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")).unwrap_or(body);
            prop_assert!(!digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit()), "{}", s);
        }
        // The zone limit verbs' words: what parses prints back the same.
        if let Ok(LimitZone::Zone(n)) = LimitZone::parse(&s) {
            prop_assert_eq!(LimitZone::parse(&n.to_string()).unwrap(), LimitZone::Zone(n));
        }
        let bare = s.strip_prefix("zone=").unwrap_or(&s);
        if let Ok(n) = parse_limit_arg(bare) {
            prop_assert_eq!(parse_limit_arg(&format!("limit={n}")).unwrap(), n);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn policy_words(words in prop::collection::vec(prop_oneof![".*", tokens(WORD_TOKENS, 5)], 0..5)) {
        if let Ok(p) = TimeoutPolicy::parse(&words) {
            let again: Vec<String> = p.to_words().split(' ').map(str::to_owned).collect();
            prop_assert_eq!(TimeoutPolicy::parse(&again).unwrap(), p.clone());
            prop_assert_eq!(p.0.len(), words.len(), "no key twice");
            let _ = p.check_kernel_range(u32::MAX / 1000);
            for id in [1, u32::MAX - 1] {
                prop_assert_eq!(p.kernel_objects(id).len(), 6);
            }
        }
    }

    #[test]
    fn state_words_and_protocols(
        l3 in ".*",
        l4 in prop_oneof![".*", prop::sample::select(&["tcp", "udp", "sctp", "dccp", "gre", "200", "256", "-1"][..]).prop_map(str::to_owned)],
        words in prop::collection::vec(prop_oneof![".*", tokens(&["established", "unreplied", "timeout", "=", "1", "+", "x", "closed"], 4)], 0..4),
        name in ".*",
    ) {
        let _ = L3Proto::parse(&l3);
        if let Ok(l4) = L4Proto::parse(&l4) {
            let _ = parse_timeouts(l4, &words);
        }
        for l4 in [L4Proto::TCP, L4Proto::UDP, L4Proto(132), L4Proto(200)] {
            let _ = parse_timeouts(l4, &words);
        }
        if let Ok(n) = ObjectName::new(&name) {
            prop_assert!((1..=31).contains(&n.as_bytes().len()));
        }
    }

    #[test]
    fn flow_matches(s in prop_oneof![".*", tokens(FLOW_TOKENS, 24)]) {
        if let Ok(key) = FlowKey::parse(&s) {
            let text = key.format();
            let again = FlowKey::parse(&text);
            prop_assert!(again.is_ok(), "{:?} prints as {:?}, which does not parse: {:?}", s, text, again.err());
            prop_assert_eq!(again.unwrap().format(), text);
        }
    }

    #[test]
    fn flow_actions(s in prop_oneof![".*", tokens(ACTION_TOKENS, 16)]) {
        if let Ok(actions) = Action::parse_list(&s) {
            let text = Action::format_list(&actions);
            let again = Action::parse_list(&text);
            prop_assert!(again.is_ok(), "{:?} prints as {:?}, which does not parse", s, text);
            prop_assert_eq!(Action::format_list(&again.unwrap()), text);
        }
    }

    #[test]
    fn configuration_files(s in prop_oneof![".*", tokens(JSON_TOKENS, 40)]) {
        if let Ok(c) = serde_json::from_str::<Config>(&s) {
            let _ = c.validate();
            for dp in c.datapaths.keys() {
                let _ = c.list_zone_tp(dp);
                let _ = c.resolve(dp, 5, L3Proto::IPV4, L4Proto::UDP);
            }
        }
    }

    #[test]
    fn kernel_replies(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_object(&bytes);
        let _ = parse_defaults(&bytes);
        let _ = FlowKey::decode(&bytes, None);
        let _ = FlowKey::decode(&bytes, Some(&bytes));
        let _ = Action::decode_list(&bytes);
        let _ = parse_reply(&bytes);
    }
}

/// The store reads any bytes without panicking, and never rewrites what it
/// could not read.
#[test]
fn store_reads_any_file() {
    let dir = std::env::temp_dir().join(format!("zonetp-fuzz-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::locate(Some(&dir.join("conf.json")));
    let mut runner =
        proptest::test_runner::TestRunner::new(ProptestConfig { cases: 300, ..ProptestConfig::default() });
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        tokens(JSON_TOKENS, 40).prop_map(String::into_bytes)
    ];
    runner
        .run(&strategy, |bytes| {
            std::fs::write(store.path(), &bytes).unwrap();
            if store.load().is_err() {
                prop_assert!(store.update(|c| c.add_dp("x", true)).is_err());
                prop_assert_eq!(std::fs::read(store.path()).unwrap(), bytes);
            }
            Ok(())
        })
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
