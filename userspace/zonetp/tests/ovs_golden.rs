//! Byte-level golden tests for the OVS generic netlink messages, each
//! expectation spelled out field by field from
//! `include/uapi/linux/openvswitch.h` (Linux 6.12). Family ids are those a
//! kernel might assign; x86_64 byte order.

use zonetp::ovs::ct_limit::{parse_reply, CtLimitRequest, LimitTarget, ZoneLimit};
use zonetp::ovs::datapath::{Families, FlowInfo, OvsRequest};
use zonetp::ovs::{Action, FlowKey};

const F: Families = Families { datapath: 0x1c, vport: 0x1d, flow: 0x1e, packet: 0x1f };

fn hdr(len: u32, family: u16, flags: u16, cmd: u8, version: u8, ifindex: i32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&family.to_le_bytes());
    v.extend_from_slice(&flags.to_le_bytes());
    v.extend_from_slice(&[0; 8]); // seq, pid (the socket fills seq)
    v.extend_from_slice(&[cmd, version, 0, 0]); // genlmsghdr
    v.extend_from_slice(&ifindex.to_le_bytes()); // ovs_header
    v
}

fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = ((4 + payload.len()) as u16).to_le_bytes().to_vec();
    v.extend_from_slice(&kind.to_le_bytes());
    v.extend_from_slice(payload);
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
    v
}

fn msg(h: Vec<u8>, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut v = h;
    for a in attrs {
        v.extend_from_slice(a);
    }
    let len = v.len() as u32;
    v[..4].copy_from_slice(&len.to_le_bytes());
    v
}

#[test]
fn datapath_new() {
    let got = OvsRequest::DpNew { name: "ovs-system".into() }.emit(&F);
    let want = msg(
        // REQUEST|ACK|EXCL|CREATE, OVS_DP_CMD_NEW, OVS_DATAPATH_VERSION 2
        hdr(0, 0x1c, 0x0605, 1, 2, 0),
        &[
            attr(1, b"ovs-system\0"),     // OVS_DP_ATTR_NAME
            attr(2, &0u32.to_le_bytes()), // OVS_DP_ATTR_UPCALL_PID: no upcalls
            attr(5, &3u32.to_le_bytes()), // OVS_DP_ATTR_USER_FEATURES: UNALIGNED|VPORT_PIDS
        ],
    );
    assert_eq!(got, want);
}

#[test]
fn vport_new_netdev() {
    let got = OvsRequest::VportNew { dp_ifindex: 7, name: "veth0".into(), port_no: Some(1) }.emit(&F);
    let want = msg(
        hdr(0, 0x1d, 0x0605, 1, 1, 7),
        &[
            attr(1, &1u32.to_le_bytes()), // OVS_VPORT_ATTR_PORT_NO
            attr(2, &1u32.to_le_bytes()), // OVS_VPORT_ATTR_TYPE: NETDEV
            attr(3, b"veth0\0"),          // OVS_VPORT_ATTR_NAME
            attr(5, &0u32.to_le_bytes()), // OVS_VPORT_ATTR_UPCALL_PID
        ],
    );
    assert_eq!(got, want);
}

#[test]
fn flow_new_with_ct_timeout() {
    let key = FlowKey::parse("in_port(1),eth_type(0x0800),ipv4(proto=17)").unwrap();
    let actions = Action::parse_list("ct(commit,zone=5,timeout=ovs_tp_1_udp4),2").unwrap();
    let got = OvsRequest::FlowNew { dp_ifindex: 7, key, actions }.emit(&F);
    let ipv4_key = [0, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0];
    let ipv4_mask = [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0];
    let keys = [
        attr(3, &1u32.to_le_bytes()), // OVS_KEY_ATTR_IN_PORT
        attr(4, &[0; 12]),            // OVS_KEY_ATTR_ETHERNET (wildcarded)
        attr(6, &[0x08, 0x00]),       // OVS_KEY_ATTR_ETHERTYPE be16
        attr(7, &ipv4_key),           // OVS_KEY_ATTR_IPV4 proto 17
        attr(10, &[0; 4]),            // OVS_KEY_ATTR_UDP (wildcarded)
    ]
    .concat();
    let masks = [
        attr(3, &[0xff; 4]),
        attr(4, &[0; 12]),
        attr(6, &[0xff, 0xff]),
        attr(7, &ipv4_mask),
        attr(10, &[0; 4]),
    ]
    .concat();
    let ct = [
        attr(1, &[]),                 // OVS_CT_ATTR_COMMIT
        attr(2, &5u16.to_le_bytes()), // OVS_CT_ATTR_ZONE
        attr(9, b"ovs_tp_1_udp4\0"),  // OVS_CT_ATTR_TIMEOUT
    ]
    .concat();
    let actions = [attr(12, &ct), attr(1, &2u32.to_le_bytes())].concat(); // CT, OUTPUT 2
    let want = msg(
        hdr(0, 0x1e, 0x0605, 1, 1, 7),
        &[attr(1, &keys), attr(7, &masks), attr(2, &actions)], // KEY, MASK, ACTIONS
    );
    assert_eq!(got, want);
}

#[test]
fn datapath_dump() {
    // REQUEST|DUMP, OVS_DP_CMD_GET, version 2, dp_ifindex 0: every datapath.
    assert_eq!(OvsRequest::DpDump.emit(&F), msg(hdr(0, 0x1c, 0x0301, 3, 2, 0), &[]));
}

#[test]
fn flow_dump_and_delete_all() {
    assert_eq!(OvsRequest::FlowDump { dp_ifindex: 7 }.emit(&F), msg(hdr(0, 0x1e, 0x0301, 3, 1, 7), &[]));
    assert_eq!(
        OvsRequest::FlowDel { dp_ifindex: 7, key: None }.emit(&F),
        msg(hdr(0, 0x1e, 0x0005, 2, 1, 7), &[])
    );
}

#[test]
fn a_kernel_flow_dump_reply_parses() {
    // As the kernel sends it: KEY (every attribute), MASK, STATS, ACTIONS.
    let keys = [attr(20, &0u32.to_le_bytes()), attr(3, &2u32.to_le_bytes()), attr(6, &[0x08, 0x00])].concat();
    let masks = [attr(20, &[0xff; 4]), attr(3, &[0xff; 4]), attr(6, &[0xff, 0xff])].concat();
    let stats = [3u64.to_le_bytes(), 252u64.to_le_bytes()].concat();
    let ct = attr(2, &5u16.to_le_bytes());
    let actions = [attr(12, &ct), attr(1, &1u32.to_le_bytes())].concat();
    let reply = msg(
        hdr(0, 0x1e, 0x0002, 1, 1, 7),
        &[attr(1, &keys), attr(7, &masks), attr(3, &stats), attr(2, &actions)],
    );
    let f = FlowInfo::parse(&reply).unwrap();
    assert_eq!(f.key.format(), "in_port(2),eth_type(0x0800),recirc_id(0)");
    assert_eq!(Action::format_list(&f.actions), "ct(zone=5),1");
    assert_eq!((f.packets, f.bytes), (3, 252));
}

#[test]
fn flow_delete_by_key_and_packet_probe_carry_the_key_without_a_mask() {
    let key = FlowKey::parse("in_port(1),eth_type(0x0806)").unwrap();
    let keys = [
        attr(3, &1u32.to_le_bytes()), // OVS_KEY_ATTR_IN_PORT
        attr(4, &[0; 12]),            // OVS_KEY_ATTR_ETHERNET (wildcarded)
        attr(6, &[0x08, 0x06]),       // OVS_KEY_ATTR_ETHERTYPE be16
        attr(13, &[0; 24]),           // OVS_KEY_ATTR_ARP (wildcarded)
    ]
    .concat();
    assert_eq!(
        OvsRequest::FlowDel { dp_ifindex: 7, key: Some(key.clone()) }.emit(&F),
        msg(hdr(0, 0x1e, 0x0005, 2, 1, 7), &[attr(1, &keys)]) // OVS_FLOW_ATTR_KEY only
    );
    let actions = Action::parse_list("drop").unwrap();
    let packet = vec![0xaa; 6];
    let got = OvsRequest::PacketProbe { dp_ifindex: 7, packet: packet.clone(), key, actions }.emit(&F);
    let want = msg(
        hdr(0, 0x1f, 0x0005, 3, 1, 7), // OVS_PACKET_CMD_EXECUTE
        // OVS_PACKET_ATTR_PACKET, KEY, ACTIONS (empty: drop), PROBE
        &[attr(1, &packet), attr(2, &keys), attr(3, &[]), attr(8, &[])],
    );
    assert_eq!(got, want);
}

/// The `ct_zone` probe (`Datapath.capabilities:ct_zone`): an exact-match
/// flow (KEY, no MASK) of an IPv4 packet from the local port in zone 1,
/// no actions, and OVS_FLOW_ATTR_PROBE, as ovs-vswitchd's
/// `dpif_probe_feature` puts it.
#[test]
fn the_ct_zone_probe_puts_an_exact_flow_with_a_zone_and_the_probe_flag() {
    let key = zonetp::ovs::client::ct_zone_probe_key();
    let got = OvsRequest::FlowProbe { dp_ifindex: 7, key }.emit(&F);
    let keys = [
        attr(3, &0u32.to_le_bytes()), // OVS_KEY_ATTR_IN_PORT: the local port
        attr(4, &[0; 12]),            // OVS_KEY_ATTR_ETHERNET
        attr(6, &[0x08, 0x00]),       // OVS_KEY_ATTR_ETHERTYPE be16
        attr(7, &[0, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0]), // OVS_KEY_ATTR_IPV4 proto 17
        attr(10, &[0; 4]),            // OVS_KEY_ATTR_UDP
        attr(23, &1u16.to_le_bytes()), // OVS_KEY_ATTR_CT_ZONE: zone 1
    ]
    .concat();
    let want = msg(
        hdr(0, 0x1e, 0x0605, 1, 1, 7), // REQUEST|ACK|EXCL|CREATE, OVS_FLOW_CMD_NEW
        // OVS_FLOW_ATTR_KEY, ACTIONS (empty: drop), PROBE
        &[attr(1, &keys), attr(2, &[]), attr(8, &[])],
    );
    assert_eq!(got, want);
}

/// A flow as the kernel reports it for ovs-vswitchd (Linux 6.12,
/// `ovs_flow_cmd_fill_info`): UFID, the masked KEY with every attribute
/// vswitchd's datapath fills, MASK, USED, STATS, ACTIONS. Its ct action is
/// in the order the kernel writes it back (`ovs_ct_action_to_attr`:
/// COMMIT, ZONE even for zone 0, EVENTMASK, TIMEOUT), with the eventmask
/// ovs-vswitchd asks for (`OVS_CT_EVENTMASK_DEFAULT`: new, related,
/// destroy, mark, label); its action list has a `set` and a `userspace`.
/// zonetp writes none of EVENTMASK, `set` or `userspace` itself.
fn vswitchd_flow(zone: u16, proto: u8, timeout: &str) -> Vec<u8> {
    let (l4_kind, l4_key): (u16, &[u8]) = match proto {
        17 => (10, &[0x13, 0x88, 0x13, 0x88]), // OVS_KEY_ATTR_UDP 5000 -> 5000
        _ => (11, &[8, 0]),                    // OVS_KEY_ATTR_ICMP echo request
    };
    let ipv4 = [10, 1, 1, 1, 10, 1, 1, 2, proto, 0, 64, 0]; // src, dst, proto, tos, ttl, frag
    let keys = [
        attr(20, &1u32.to_le_bytes()),    // RECIRC_ID 1
        attr(19, &0u32.to_le_bytes()),    // DP_HASH
        attr(2, &0u32.to_le_bytes()),     // PRIORITY
        attr(3, &1u32.to_le_bytes()),     // IN_PORT 1
        attr(15, &0u32.to_le_bytes()),    // SKB_MARK
        attr(22, &0x21u32.to_le_bytes()), // CT_STATE +new+trk
        attr(23, &zone.to_le_bytes()),    // CT_ZONE
        attr(24, &0u32.to_le_bytes()),    // CT_MARK
        attr(25, &[0; 16]),               // CT_LABELS
        attr(26, &[10, 1, 1, 1, 10, 1, 1, 2, 0x13, 0x88, 0x13, 0x88, proto]), // CT_ORIG_TUPLE_IPV4
        attr(4, &[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]), // ETHERNET
        attr(6, &[0x08, 0x00]),           // ETHERTYPE
        attr(7, &ipv4),                   // IPV4
        attr(l4_kind, l4_key),
    ]
    .concat();
    let masks = [
        attr(20, &[0xff; 4]),
        attr(19, &[0; 4]),
        attr(2, &[0; 4]),
        attr(3, &[0xff; 4]),
        attr(15, &[0; 4]),
        attr(22, &0x23u32.to_le_bytes()), // new, est, trk
        attr(23, &[0; 2]),
        attr(24, &[0; 4]),
        attr(25, &[0; 16]),
        attr(26, &[0; 13]),
        attr(4, &[0; 12]),
        attr(6, &[0xff, 0xff]),
        attr(7, &[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0xff]), // proto, frag
        attr(l4_kind, &vec![0; l4_key.len()]),
    ]
    .concat();
    let ct = [
        attr(1, &[]),                               // OVS_CT_ATTR_COMMIT
        attr(2, &zone.to_le_bytes()),               // OVS_CT_ATTR_ZONE
        attr(8, &0x487u32.to_le_bytes()),           // OVS_CT_ATTR_EVENTMASK
        attr(9, format!("{timeout}\0").as_bytes()), // OVS_CT_ATTR_TIMEOUT
    ];
    let set_mark = attr(15, &7u32.to_le_bytes()); // a key attribute: SKB_MARK 7
    let userspace = [attr(1, &99u32.to_le_bytes())].concat(); // OVS_USERSPACE_ATTR_PID
    let actions = [
        attr(3, &set_mark),           // OVS_ACTION_ATTR_SET
        attr(12, &ct.concat()),       // OVS_ACTION_ATTR_CT
        attr(1, &2u32.to_le_bytes()), // OVS_ACTION_ATTR_OUTPUT 2
        attr(2, &userspace),          // OVS_ACTION_ATTR_USERSPACE
    ]
    .concat();
    let stats = [2u64.to_le_bytes(), 196u64.to_le_bytes()].concat();
    msg(
        hdr(0, 0x1e, 0x0002, 1, 1, 7), // NLM_F_MULTI, OVS_FLOW_CMD_NEW as dumps answer
        &[
            attr(10, &[0xab; 16]),          // OVS_FLOW_ATTR_UFID
            attr(1, &keys),                 // OVS_FLOW_ATTR_KEY
            attr(7, &masks),                // OVS_FLOW_ATTR_MASK
            attr(5, &123u64.to_le_bytes()), // OVS_FLOW_ATTR_USED
            attr(3, &stats),                // OVS_FLOW_ATTR_STATS
            attr(2, &actions),              // OVS_FLOW_ATTR_ACTIONS
        ],
    )
}

#[test]
fn a_vswitchd_flow_parses_with_the_actions_zonetp_does_not_write() {
    let f = FlowInfo::parse(&vswitchd_flow(5, 17, "ovs_tp_3_udp4")).unwrap();
    assert_eq!(
        Action::format_list(&f.actions),
        "action3(0x08000f0007000000),ct(commit,zone=5,timeout=ovs_tp_3_udp4,attr8=0x87040000),2,\
         action2(0x0800010063000000)"
    );
    assert_eq!((f.key.eth_type(), f.key.ip_proto(), f.packets), (Some(0x0800), Some(17), 2));
    // Written back and read again, the actions are the same (the ct
    // attributes zonetp knows first, then the others, as kept).
    let mut buf = Vec::new();
    Action::emit_list(&f.actions, &mut zonetp::netlink::AttrWriter::new(&mut buf), 2);
    let again = Action::decode_list(&buf[4..]).unwrap();
    assert_eq!(again, f.actions);
}

#[test]
fn vswitchd_flows_name_the_objects_each_zone_commits_with() {
    use zonetp::beside_vswitchd::{flow_commits, FlowCommit};
    use zonetp::cttimeout::{L3Proto, L4Proto};
    let flows: Vec<FlowInfo> = [
        vswitchd_flow(5, 17, "ovs_tp_3_udp4"),
        vswitchd_flow(5, 1, "ovs_tp_3_icmp4"),
        vswitchd_flow(0, 17, "ovs_tp_1_udp4"),
    ]
    .iter()
    .map(|m| FlowInfo::parse(m).unwrap())
    .collect();
    let c = |zone, name: &str, l4| FlowCommit {
        zone,
        timeout: Some(name.into()),
        protocols: Some((L3Proto::IPV4, L4Proto(l4))),
    };
    assert_eq!(
        flow_commits(&flows),
        vec![c(5, "ovs_tp_3_udp4", 17), c(5, "ovs_tp_3_icmp4", 1), c(0, "ovs_tp_1_udp4", 17)]
    );
}

/// `struct ovs_zone_limit { int zone_id; __u32 limit; __u32 count; }`.
fn zone_limit(zone_id: i32, limit: u32, count: u32) -> Vec<u8> {
    [zone_id.to_le_bytes(), limit.to_le_bytes(), count.to_le_bytes()].concat()
}

/// `ovs_ct_limit` (family id 0x20 here): SET, DEL and GET carry
/// `struct ovs_header` (dp_ifindex 0: limits are the namespace's) and one
/// OVS_CT_LIMIT_ATTR_ZONE_LIMIT (1, without NLA_F_NESTED, as OVS's
/// dpif-netlink puts it) holding the structs back to back; zone id -1
/// (OVS_ZONE_LIMIT_DEFAULT_ZONE) is the default. OVS_CT_LIMIT_VERSION 1;
/// commands SET 1, DEL 2, GET 3.
#[test]
fn ct_limit_set_del_and_get_carry_zone_limit_structs_back_to_back() {
    let set = CtLimitRequest::Set(vec![(LimitTarget::Zone(5), 100), (LimitTarget::Default, 1000)]).emit(0x20);
    let want = msg(
        hdr(0, 0x20, 0x0005, 1, 1, 0), // REQUEST|ACK, OVS_CT_LIMIT_CMD_SET
        &[attr(1, &[zone_limit(5, 100, 0), zone_limit(-1, 1000, 0)].concat())],
    );
    assert_eq!(set, std::slice::from_ref(&want));
    assert_eq!(want.len(), 16 + 4 + 4 + 4 + 24);
    let del = CtLimitRequest::Del(vec![LimitTarget::Zone(65535), LimitTarget::Default]).emit(0x20);
    assert_eq!(
        del,
        [msg(
            hdr(0, 0x20, 0x0005, 2, 1, 0),
            &[attr(1, &[zone_limit(65535, 0, 0), zone_limit(-1, 0, 0)].concat())]
        )]
    );
    // GET without the attribute: the default and every zone with a limit.
    assert_eq!(CtLimitRequest::Get(None).emit(0x20), [msg(hdr(0, 0x20, 0x0005, 3, 1, 0), &[])]);
    let get = CtLimitRequest::Get(Some(vec![LimitTarget::Zone(7)])).emit(0x20);
    assert_eq!(get, [msg(hdr(0, 0x20, 0x0005, 3, 1, 0), &[attr(1, &zone_limit(7, 0, 0))])]);
}

/// The attribute's nla_len is a u16 (5460 structs at most), and the
/// kernel builds a GET's reply in one page: a SET or DEL goes in messages
/// of at most 4096 structs, a GET in messages of at most 256 zones, in
/// order; an empty list is no message. Every zone and the default at
/// once (65,537 entries) does not panic.
#[test]
fn ct_limit_requests_are_split_so_no_attribute_overflows_and_no_get_reply_outgrows_a_page() {
    let zones = |n: u16| (0..n).map(LimitTarget::Zone).collect::<Vec<_>>();
    let set = CtLimitRequest::Set(zones(4097).into_iter().map(|t| (t, 9)).collect()).emit(0x20);
    assert_eq!(set.len(), 2);
    let first: Vec<u8> = (0..4096).flat_map(|z| zone_limit(z, 9, 0)).collect();
    assert_eq!(set[0], msg(hdr(0, 0x20, 0x0005, 1, 1, 0), &[attr(1, &first)]));
    assert_eq!(set[0].len(), 16 + 4 + 4 + 4 + 4096 * 12);
    assert_eq!(set[1], msg(hdr(0, 0x20, 0x0005, 1, 1, 0), &[attr(1, &zone_limit(4096, 9, 0))]));
    let del = CtLimitRequest::Del(zones(8192)).emit(0x20);
    assert_eq!(del.len(), 2);
    assert_eq!(del[1].len(), 28 + 4096 * 12);
    assert_eq!(del[1][16], 2, "OVS_CT_LIMIT_CMD_DEL");
    let get = CtLimitRequest::Get(Some(zones(513))).emit(0x20);
    assert_eq!(get.len(), 3);
    let second: Vec<u8> = (256..512).flat_map(|z| zone_limit(z, 0, 0)).collect();
    assert_eq!(get[1], msg(hdr(0, 0x20, 0x0005, 3, 1, 0), &[attr(1, &second)]));
    assert_eq!(get[2], msg(hdr(0, 0x20, 0x0005, 3, 1, 0), &[attr(1, &zone_limit(512, 0, 0))]));
    let mut all: Vec<(LimitTarget, u32)> = (0..=u16::MAX).map(|z| (LimitTarget::Zone(z), 1)).collect();
    all.push((LimitTarget::Default, 1));
    let set = CtLimitRequest::Set(all).emit(0x20);
    assert_eq!(set.len(), 17, "65,537 entries in messages of 4096");
    assert!(set.iter().all(|m| m.len() <= 28 + 4096 * 12));
    assert_eq!(CtLimitRequest::Set(Vec::new()).emit(0x20), Vec::<Vec<u8>>::new());
    assert_eq!(CtLimitRequest::Get(Some(Vec::new())).emit(0x20), Vec::<Vec<u8>>::new());
}

/// A GET reply as Linux 6.12's `ovs_ct_limit_cmd_get` builds it: the
/// request's ovs_header, one ZONE_LIMIT attribute (nla_nest_start_noflag)
/// holding the default's struct, then each zone's with its count.
#[test]
fn a_ct_limit_get_reply_parses_into_the_default_and_each_zone_with_its_count() {
    let reply = msg(
        hdr(0, 0x20, 0, 3, 1, 0),
        &[attr(1, &[zone_limit(-1, 1000, 0), zone_limit(5, 100, 42), zone_limit(0, 0, 3)].concat())],
    );
    assert_eq!(
        parse_reply(&reply).unwrap(),
        [
            ZoneLimit { target: LimitTarget::Default, limit: 1000, count: 0 },
            ZoneLimit { target: LimitTarget::Zone(5), limit: 100, count: 42 },
            ZoneLimit { target: LimitTarget::Zone(0), limit: 0, count: 3 },
        ]
    );
    // SET's and DEL's replies: the header alone.
    assert_eq!(parse_reply(&msg(hdr(0, 0x20, 0, 1, 1, 0), &[])).unwrap(), []);
    let bad = msg(hdr(0, 0x20, 0, 3, 1, 0), &[attr(1, &zone_limit(70000, 1, 0))]);
    assert!(parse_reply(&bad).unwrap_err().to_string().contains("zone id 70000"));
    let short = msg(hdr(0, 0x20, 0, 3, 1, 0), &[attr(1, &zone_limit(5, 1, 0)[..8])]);
    assert!(parse_reply(&short).is_err());
}
