//! `OvsClient`: the OVS kernel datapath over generic netlink.

use crate::error::{Error, Op, Result};
use crate::netlink::socket::NETLINK_GENERIC;
use crate::netlink::NetlinkSocket;

use super::action::{Action, CtAction};
use super::datapath::*;
use super::genl::resolve_family;
use super::key::FlowKey;

pub struct OvsClient {
    sock: NetlinkSocket,
    families: Families,
}

impl OvsClient {
    pub fn open() -> Result<Self> {
        let mut sock = NetlinkSocket::open(NETLINK_GENERIC)?;
        let families = Families {
            datapath: resolve_family(&mut sock, OVS_DATAPATH_FAMILY)?,
            vport: resolve_family(&mut sock, OVS_VPORT_FAMILY)?,
            flow: resolve_family(&mut sock, OVS_FLOW_FAMILY)?,
            packet: resolve_family(&mut sock, OVS_PACKET_FAMILY)?,
        };
        Ok(Self { sock, families })
    }

    fn call(&mut self, req: OvsRequest, what: &str, verb: &'static str) -> Result<Vec<Vec<u8>>> {
        let out = self.sock.transact(vec![req.emit(&self.families)])?.pop().expect("one outcome");
        match out.status {
            Ok(()) => Ok(out.replies),
            Err(e) => Err(Error::Kernel {
                op: Op::Other(verb),
                what: what.to_owned(),
                errno: e.errno,
                text: e.text,
            }),
        }
    }

    pub fn dp_new(&mut self, name: &str) -> Result<DatapathInfo> {
        self.call(OvsRequest::DpNew { name: name.into() }, &format!("datapath {name}"), "create")?;
        self.dp_get(name)
    }

    pub fn dp_del(&mut self, name: &str) -> Result<()> {
        self.call(OvsRequest::DpDel { name: name.into() }, &format!("datapath {name}"), "delete").map(drop)
    }

    pub fn dp_get(&mut self, name: &str) -> Result<DatapathInfo> {
        let r = self.call(OvsRequest::DpGet { name: name.into() }, &format!("datapath {name}"), "get")?;
        Ok(DatapathInfo::parse(
            r.first().ok_or_else(|| Error::Invalid(format!("no answer for datapath {name}")))?,
        )?)
    }

    /// Every kernel datapath of this network namespace.
    pub fn datapaths(&mut self) -> Result<Vec<DatapathInfo>> {
        let r = self.call(OvsRequest::DpDump, "datapaths", "list")?;
        Ok(r.iter().map(|m| DatapathInfo::parse(m)).collect::<Result<_, _>>()?)
    }

    pub fn vport_new(&mut self, dp: &DatapathInfo, name: &str, port_no: Option<u32>) -> Result<()> {
        let req = OvsRequest::VportNew { dp_ifindex: dp.ifindex, name: name.into(), port_no };
        self.call(req, &format!("port {name} of datapath {}", dp.name), "add").map(drop)
    }

    pub fn vport_del(&mut self, dp: &DatapathInfo, name: &str) -> Result<()> {
        let req = OvsRequest::VportDel { dp_ifindex: dp.ifindex, name: name.into() };
        self.call(req, &format!("port {name} of datapath {}", dp.name), "delete").map(drop)
    }

    pub fn vports(&mut self, dp: &DatapathInfo) -> Result<Vec<VportInfo>> {
        let r = self.call(
            OvsRequest::VportDump { dp_ifindex: dp.ifindex },
            &format!("ports of {}", dp.name),
            "list",
        )?;
        let mut v: Vec<VportInfo> = r.iter().map(|m| VportInfo::parse(m)).collect::<Result<_, _>>()?;
        v.sort_by_key(|p| p.port_no);
        Ok(v)
    }

    pub fn flow_new(&mut self, dp: &DatapathInfo, key: &FlowKey, actions: &[Action]) -> Result<()> {
        let req = OvsRequest::FlowNew { dp_ifindex: dp.ifindex, key: key.clone(), actions: actions.to_vec() };
        self.call(req, &format!("flow {}", key.format()), "add").map(drop)
    }

    pub fn flow_del(&mut self, dp: &DatapathInfo, key: Option<&FlowKey>) -> Result<()> {
        let what =
            key.map(|k| format!("flow {}", k.format())).unwrap_or_else(|| format!("flows of {}", dp.name));
        self.call(OvsRequest::FlowDel { dp_ifindex: dp.ifindex, key: key.cloned() }, &what, "delete")
            .map(drop)
    }

    pub fn flows(&mut self, dp: &DatapathInfo) -> Result<Vec<FlowInfo>> {
        let r = self.call(
            OvsRequest::FlowDump { dp_ifindex: dp.ifindex },
            &format!("flows of {}", dp.name),
            "dump",
        )?;
        Ok(r.iter().map(|m| FlowInfo::parse(m)).collect::<Result<_, _>>()?)
    }

    /// Whether the datapath takes a conntrack zone in a flow key
    /// (`OVS_KEY_ATTR_CT_ZONE`), probed as ovs-vswitchd's `check_ct_zone`
    /// does: put a flow whose key holds zone 1 with the probe flag, then
    /// delete it. A datapath without the attribute answers EINVAL; one
    /// that has such a flow already (EEXIST) took the key.
    pub fn supports_ct_zone(&mut self, dp: &DatapathInfo) -> Result<bool> {
        let key = ct_zone_probe_key();
        let req = OvsRequest::FlowProbe { dp_ifindex: dp.ifindex, key: key.clone() };
        match self.call(req, &format!("datapath {}", dp.name), "probe") {
            Ok(_) => {
                self.flow_del(dp, Some(&key))?;
                Ok(true)
            }
            Err(e) if e.errno() == Some(libc::EEXIST) => Ok(true),
            Err(e) if e.errno() == Some(libc::EINVAL) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether the datapath accepts `OVS_CT_ATTR_TIMEOUT`, probed as OVS
    /// does: execute `ct(timeout=ovs_test_tp)` on a test packet; a datapath
    /// without the attribute answers EINVAL.
    pub fn supports_ct_timeout(&mut self, dp: &DatapathInfo) -> Result<bool> {
        let packet = probe_packet();
        let key = FlowKey::parse("in_port(0),eth_type(0x0800)")?;
        let actions =
            vec![Action::Ct(CtAction { timeout: Some("ovs_test_tp".into()), ..Default::default() })];
        let req = OvsRequest::PacketProbe { dp_ifindex: dp.ifindex, packet, key, actions };
        match self.call(req, &format!("datapath {}", dp.name), "probe") {
            Ok(_) => Ok(true),
            Err(e) if e.errno() == Some(libc::EINVAL) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The key of the `ct_zone` probe flow: an IPv4 packet (its key
/// attribute all but zero, as the kernel wants one for that ethertype)
/// from the local port in conntrack zone 1.
pub fn ct_zone_probe_key() -> FlowKey {
    FlowKey::parse("in_port(0),eth_type(0x0800),ipv4(proto=17),ct_zone(1)").expect("a key zonetp can parse")
}

/// Ethernet + IPv4 + UDP, 42 bytes, from 10.0.0.1 to 10.0.0.2.
fn probe_packet() -> Vec<u8> {
    let mut p = Vec::with_capacity(42);
    p.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    p.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    let sum = {
        let mut s: u32 = p[14..34].chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]]) as u32).sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    };
    p[24..26].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, 8, 0, 0]);
    p
}
