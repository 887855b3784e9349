//! Golden bytes from a real ovs-vswitchd: the flow dump of its datapath in
//! the VM test vswitchd-status (`tests/data/vswitchd-3.1-flow-dump.hex`,
//! Debian 12's ovs-vswitchd 3.1 on Debian's stock 6.12 kernel, zones 0, 5,
//! 7 and 20 with policies, 5 and 7 differing only in udp_first). Every
//! message must parse, its committing ct actions must name what
//! `ovs-appctl dpctl/dump-flows` showed in that run, and with the objects
//! ovs-vswitchd made there each zone must be paired with its own.

use std::collections::BTreeSet;

use zonetp::beside_vswitchd::{flow_commits, groups, match_zone, Decision};
use zonetp::cttimeout::{CtTimeoutObject, L3Proto, L4Proto, Timeouts};
use zonetp::ovs::datapath::FlowInfo;
use zonetp::ovs::Action;
use zonetp::policy::{TimeoutPolicy, KERNEL_PROTOCOLS};
use zonetp::reconcile::{expected, Defaults};

/// A commit as compared here: zone, object, the flow's L3/L4.
type Commit = (u16, String, Option<(L3Proto, L4Proto)>);

fn dump() -> Vec<FlowInfo> {
    include_str!("data/vswitchd-3.1-flow-dump.hex")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let bytes: Vec<u8> =
                (0..l.len()).step_by(2).map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap()).collect();
            FlowInfo::parse(&bytes).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .collect()
}

#[test]
fn every_flow_of_ovs_vswitchd_s_datapath_parses() {
    let flows = dump();
    assert_eq!(flows.len(), 19);
    // As ovs-dpctl printed the committing flow of zone 20 in that run.
    let zone20 = flows
        .iter()
        .find(|f| Action::format_list(&f.actions).starts_with("ct(commit,zone=20,timeout=ovs_tp_4_udp4"))
        .expect("zone 20's commit flow");
    assert_eq!((zone20.key.eth_type(), zone20.key.ip_proto()), (Some(0x0800), Some(17)));
    // ovs-vswitchd's ct actions carry EVENTMASK, kept as it came.
    assert!(
        Action::format_list(&zone20.actions).contains(",attr8=0x"),
        "{}",
        Action::format_list(&zone20.actions)
    );
}

#[test]
fn the_committing_flows_name_each_zone_s_objects() {
    let commits: BTreeSet<Commit> = flow_commits(&dump())
        .into_iter()
        .map(|c| (c.zone, c.timeout.expect("every commit carries a timeout"), c.protocols))
        .collect();
    let (udp4, icmp4) = (Some((L3Proto::IPV4, L4Proto::UDP)), Some((L3Proto::IPV4, L4Proto::ICMP)));
    let want: BTreeSet<_> = [
        (0, "ovs_tp_1_udp4", udp4),
        (5, "ovs_tp_2_icmp4", icmp4),
        (5, "ovs_tp_2_udp4", udp4),
        (7, "ovs_tp_3_udp4", udp4),
        (20, "ovs_tp_4_udp4", udp4),
    ]
    .into_iter()
    .map(|(z, n, p)| (z, n.to_owned(), p))
    .collect();
    assert_eq!(commits, want);
}

fn tp(words: &[&str]) -> TimeoutPolicy {
    TimeoutPolicy::parse(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>()).unwrap()
}

#[test]
fn with_the_objects_ovs_vswitchd_made_each_zone_gets_its_own() {
    // The kernel's defaults do not matter here: the same for every policy.
    let defaults: Defaults =
        KERNEL_PROTOCOLS.iter().map(|(l3, l4, _)| ((*l3, *l4), Timeouts::from([(1, 30)]))).collect();
    let zones = [
        (0, tp(&["tcp_established=3600", "udp_single=90"])),
        (5, tp(&["icmp_first=50", "icmp_reply=50", "udp_first=5", "udp_single=50"])),
        (7, tp(&["icmp_first=50", "icmp_reply=50", "udp_first=7", "udp_single=50"])),
        (20, tp(&["tcp_established=700", "udp_single=70"])),
    ];
    // ovs-vswitchd numbered them 1 to 4 in that run, in the order set.
    let kernel: Vec<CtTimeoutObject> = zones
        .iter()
        .zip(1..)
        .flat_map(|((_, p), id)| p.kernel_objects(id))
        .map(|mut o| {
            o.timeouts = expected(&o, &defaults);
            o
        })
        .collect();
    let (g, commits) = (groups(&kernel), flow_commits(&dump()));
    let got: Vec<_> =
        zones.iter().map(|(zone, p)| (*zone, match_zone(*zone, p, &g, &commits, &defaults))).collect();
    let ids: Vec<_> = got.iter().map(|(z, m)| (*z, m.policy_id)).collect();
    assert_eq!(ids, vec![(0, Some(1)), (5, Some(2)), (7, Some(3)), (20, Some(4))]);
    assert_eq!(
        got[1].1.decision,
        Decision::Flows { objects: vec!["ovs_tp_2_icmp4".into(), "ovs_tp_2_udp4".into()], also_fit: vec![3] }
    );
    assert_eq!(
        got[2].1.decision,
        Decision::Flows { objects: vec!["ovs_tp_3_udp4".into()], also_fit: vec![2] }
    );
    // Without the flows, zones 5 and 7 fit both ids, and it is said.
    let blind = match_zone(7, &zones[2].1, &g, &[], &defaults);
    assert_eq!(blind.decision, Decision::ContentsAmbiguous { candidates: vec![2, 3] });
}
