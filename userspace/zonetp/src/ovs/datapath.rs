//! The `ovs_datapath`, `ovs_vport`, `ovs_flow` and `ovs_packet` messages:
//! typed requests that emit their bytes, and parsers for the replies.

use crate::netlink::message::{NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST};
use crate::netlink::{AttrIter, AttrWriter, ParseError};

use super::action::Action;
use super::genl::{genl_message, split_genl};
use super::key::FlowKey;

pub const OVS_DATAPATH_FAMILY: &str = "ovs_datapath";
pub const OVS_VPORT_FAMILY: &str = "ovs_vport";
pub const OVS_FLOW_FAMILY: &str = "ovs_flow";
pub const OVS_PACKET_FAMILY: &str = "ovs_packet";

const OVS_DATAPATH_VERSION: u8 = 2;
const OVS_VPORT_VERSION: u8 = 1;
const OVS_FLOW_VERSION: u8 = 1;
const OVS_PACKET_VERSION: u8 = 1;

// Commands: every family numbers NEW 1, DEL 2, GET 3.
const CMD_NEW: u8 = 1;
const CMD_DEL: u8 = 2;
const CMD_GET: u8 = 3;
const OVS_PACKET_CMD_EXECUTE: u8 = 3;

const OVS_DP_ATTR_NAME: u16 = 1;
const OVS_DP_ATTR_UPCALL_PID: u16 = 2;
const OVS_DP_ATTR_STATS: u16 = 3;
const OVS_DP_ATTR_USER_FEATURES: u16 = 5;
/// `OVS_DP_F_UNALIGNED | OVS_DP_F_VPORT_PIDS`, what ovs-vswitchd asks for.
pub const DP_FEATURES: u32 = 0x3;

const OVS_VPORT_ATTR_PORT_NO: u16 = 1;
const OVS_VPORT_ATTR_TYPE: u16 = 2;
const OVS_VPORT_ATTR_NAME: u16 = 3;
const OVS_VPORT_ATTR_UPCALL_PID: u16 = 5;
pub const OVS_VPORT_TYPE_NETDEV: u32 = 1;

const OVS_FLOW_ATTR_KEY: u16 = 1;
const OVS_FLOW_ATTR_ACTIONS: u16 = 2;
const OVS_FLOW_ATTR_STATS: u16 = 3;
const OVS_FLOW_ATTR_USED: u16 = 5;
const OVS_FLOW_ATTR_MASK: u16 = 7;
const OVS_FLOW_ATTR_PROBE: u16 = 8;

const OVS_PACKET_ATTR_PACKET: u16 = 1;
const OVS_PACKET_ATTR_KEY: u16 = 2;
const OVS_PACKET_ATTR_ACTIONS: u16 = 3;
const OVS_PACKET_ATTR_PROBE: u16 = 8;

/// The resolved family ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Families {
    pub datapath: u16,
    pub vport: u16,
    pub flow: u16,
    pub packet: u16,
}

/// A request to one of the OVS families.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OvsRequest {
    DpNew {
        name: String,
    },
    DpDel {
        name: String,
    },
    DpGet {
        name: String,
    },
    /// Every datapath of the network namespace (ovs-vswitchd's is `ovs-system`).
    DpDump,
    VportNew {
        dp_ifindex: i32,
        name: String,
        port_no: Option<u32>,
    },
    VportDel {
        dp_ifindex: i32,
        name: String,
    },
    VportDump {
        dp_ifindex: i32,
    },
    FlowNew {
        dp_ifindex: i32,
        key: FlowKey,
        actions: Vec<Action>,
    },
    /// With no key: every flow of the datapath.
    FlowDel {
        dp_ifindex: i32,
        key: Option<FlowKey>,
    },
    FlowDump {
        dp_ifindex: i32,
    },
    /// Puts an exact-match flow of `key` without actions, with the probe
    /// flag (the kernel logs no error): whether the datapath takes the
    /// key's attributes, as ovs-vswitchd's `dpif_probe_feature` asks.
    FlowProbe {
        dp_ifindex: i32,
        key: FlowKey,
    },
    /// Executes `actions` on `packet` with the probe flag (no log noise).
    PacketProbe {
        dp_ifindex: i32,
        packet: Vec<u8>,
        key: FlowKey,
        actions: Vec<Action>,
    },
}

impl OvsRequest {
    pub fn emit(&self, f: &Families) -> Vec<u8> {
        let (family, flags, cmd, version, ifindex) = self.header(f);
        let mut m = genl_message(family, flags, cmd, version);
        m.header(&ifindex.to_ne_bytes()); // struct ovs_header
        self.put_attrs(&mut AttrWriter::new(m.buf()));
        m.finish()
    }

    /// (family id, netlink flags, command, family version, dp_ifindex).
    fn header(&self, f: &Families) -> (u16, u16, u8, u8, i32) {
        let ack = NLM_F_REQUEST | NLM_F_ACK;
        let create = ack | NLM_F_CREATE | NLM_F_EXCL;
        let dump = NLM_F_REQUEST | NLM_F_DUMP;
        match self {
            Self::DpNew { .. } => (f.datapath, create, CMD_NEW, OVS_DATAPATH_VERSION, 0),
            Self::DpDel { .. } => (f.datapath, ack, CMD_DEL, OVS_DATAPATH_VERSION, 0),
            Self::DpGet { .. } => (f.datapath, ack, CMD_GET, OVS_DATAPATH_VERSION, 0),
            Self::DpDump => (f.datapath, dump, CMD_GET, OVS_DATAPATH_VERSION, 0),
            Self::VportNew { dp_ifindex, .. } => (f.vport, create, CMD_NEW, OVS_VPORT_VERSION, *dp_ifindex),
            Self::VportDel { dp_ifindex, .. } => (f.vport, ack, CMD_DEL, OVS_VPORT_VERSION, *dp_ifindex),
            Self::VportDump { dp_ifindex } => (f.vport, dump, CMD_GET, OVS_VPORT_VERSION, *dp_ifindex),
            Self::FlowNew { dp_ifindex, .. } => (f.flow, create, CMD_NEW, OVS_FLOW_VERSION, *dp_ifindex),
            Self::FlowDel { dp_ifindex, .. } => (f.flow, ack, CMD_DEL, OVS_FLOW_VERSION, *dp_ifindex),
            Self::FlowDump { dp_ifindex } => (f.flow, dump, CMD_GET, OVS_FLOW_VERSION, *dp_ifindex),
            Self::FlowProbe { dp_ifindex, .. } => (f.flow, create, CMD_NEW, OVS_FLOW_VERSION, *dp_ifindex),
            Self::PacketProbe { dp_ifindex, .. } => {
                (f.packet, ack, OVS_PACKET_CMD_EXECUTE, OVS_PACKET_VERSION, *dp_ifindex)
            }
        }
    }

    fn put_attrs(&self, w: &mut AttrWriter<'_>) {
        match self {
            Self::DpNew { name } => {
                w.put_cstr(OVS_DP_ATTR_NAME, name);
                w.put_u32(OVS_DP_ATTR_UPCALL_PID, 0); // no upcalls: zonetp installs every flow
                w.put_u32(OVS_DP_ATTR_USER_FEATURES, DP_FEATURES);
            }
            Self::DpDel { name } | Self::DpGet { name } => w.put_cstr(OVS_DP_ATTR_NAME, name),
            Self::VportNew { name, port_no, .. } => {
                if let Some(p) = port_no {
                    w.put_u32(OVS_VPORT_ATTR_PORT_NO, *p);
                }
                w.put_u32(OVS_VPORT_ATTR_TYPE, OVS_VPORT_TYPE_NETDEV);
                w.put_cstr(OVS_VPORT_ATTR_NAME, name);
                w.put_u32(OVS_VPORT_ATTR_UPCALL_PID, 0);
            }
            Self::VportDel { name, .. } => w.put_cstr(OVS_VPORT_ATTR_NAME, name),
            Self::DpDump
            | Self::VportDump { .. }
            | Self::FlowDump { .. }
            | Self::FlowDel { key: None, .. } => {}
            Self::FlowNew { key, actions, .. } => {
                key.emit(w, OVS_FLOW_ATTR_KEY, OVS_FLOW_ATTR_MASK);
                Action::emit_list(actions, w, OVS_FLOW_ATTR_ACTIONS);
            }
            Self::FlowDel { key: Some(key), .. } => key.emit_key(w, OVS_FLOW_ATTR_KEY),
            Self::FlowProbe { key, .. } => {
                key.emit_key(w, OVS_FLOW_ATTR_KEY);
                // A new flow must carry actions; none: it drops.
                Action::emit_list(&[], w, OVS_FLOW_ATTR_ACTIONS);
                w.put_flag(OVS_FLOW_ATTR_PROBE);
            }
            Self::PacketProbe { packet, key, actions, .. } => {
                w.put(OVS_PACKET_ATTR_PACKET, packet);
                key.emit_key(w, OVS_PACKET_ATTR_KEY);
                Action::emit_list(actions, w, OVS_PACKET_ATTR_ACTIONS);
                w.put_flag(OVS_PACKET_ATTR_PROBE);
            }
        }
    }
}

fn ovs_body(buf: &[u8]) -> Result<(i32, &[u8]), ParseError> {
    let (_, body) = split_genl(buf)?;
    if body.len() < 4 {
        return Err(ParseError::Truncated { what: "ovs_header" });
    }
    Ok((i32::from_ne_bytes(body[..4].try_into().unwrap()), &body[4..]))
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DatapathInfo {
    pub name: String,
    pub ifindex: i32,
    /// hit, missed, lost, flows
    pub stats: Option<[u64; 4]>,
}

impl DatapathInfo {
    pub fn parse(buf: &[u8]) -> Result<Self, ParseError> {
        let (ifindex, attrs) = ovs_body(buf)?;
        let mut info = DatapathInfo { name: String::new(), ifindex, stats: None };
        for a in AttrIter::new(attrs) {
            let a = a?;
            match a.kind {
                OVS_DP_ATTR_NAME => info.name = a.cstr()?.to_owned(),
                OVS_DP_ATTR_STATS if a.payload.len() >= 32 => {
                    let v = |i: usize| u64::from_ne_bytes(a.payload[i * 8..i * 8 + 8].try_into().unwrap());
                    info.stats = Some([v(0), v(1), v(2), v(3)]);
                }
                _ => {}
            }
        }
        Ok(info)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VportInfo {
    pub port_no: u32,
    pub name: String,
    pub kind: u32,
}

impl VportInfo {
    pub fn parse(buf: &[u8]) -> Result<Self, ParseError> {
        let (_, attrs) = ovs_body(buf)?;
        let mut v = VportInfo { port_no: 0, name: String::new(), kind: 0 };
        for a in AttrIter::new(attrs) {
            let a = a?;
            match a.kind {
                OVS_VPORT_ATTR_PORT_NO => v.port_no = a.u32()?,
                OVS_VPORT_ATTR_NAME => v.name = a.cstr()?.to_owned(),
                OVS_VPORT_ATTR_TYPE => v.kind = a.u32()?,
                _ => {}
            }
        }
        Ok(v)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowInfo {
    pub key: FlowKey,
    pub actions: Vec<Action>,
    pub packets: u64,
    pub bytes: u64,
    /// Milliseconds of monotonic time when last used, if ever.
    pub used: Option<u64>,
}

impl FlowInfo {
    pub fn parse(buf: &[u8]) -> Result<Self, ParseError> {
        let (_, attrs) = ovs_body(buf)?;
        let (mut key, mut mask, mut actions) = (None, None, Vec::new());
        let (mut packets, mut bytes, mut used) = (0, 0, None);
        for a in AttrIter::new(attrs) {
            let a = a?;
            match a.kind {
                OVS_FLOW_ATTR_KEY => key = Some(a.payload),
                OVS_FLOW_ATTR_MASK => mask = Some(a.payload),
                OVS_FLOW_ATTR_ACTIONS => actions = Action::decode_list(a.payload)?,
                OVS_FLOW_ATTR_STATS if a.payload.len() == 16 => {
                    packets = u64::from_ne_bytes(a.payload[..8].try_into().unwrap());
                    bytes = u64::from_ne_bytes(a.payload[8..].try_into().unwrap());
                }
                OVS_FLOW_ATTR_USED => used = Some(a.u64()?),
                _ => {}
            }
        }
        let key = FlowKey::decode(
            key.ok_or_else(|| ParseError::Missing { what: "OVS_FLOW_ATTR_KEY", context: "flow".into() })?,
            mask,
        )?;
        Ok(FlowInfo { key, actions, packets, bytes, used })
    }
}
