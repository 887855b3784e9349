//! The `ovs_ct_limit` generic netlink family of openvswitch.ko
//! (`include/uapi/linux/openvswitch.h`, `net/openvswitch/conntrack.c`):
//! conntrack zone limits, per network namespace. Every message carries
//! `struct ovs_header` (its `dp_ifindex` unused: limits are not a
//! datapath's) and at most one `OVS_CT_LIMIT_ATTR_ZONE_LIMIT`, whose
//! payload is an array of `struct ovs_zone_limit { int zone_id; u32 limit;
//! u32 count; }`, 12 bytes each, back to back (not attributes; OVS puts
//! the attribute without `NLA_F_NESTED`, and so does zonetp). Zone id
//! `OVS_ZONE_LIMIT_DEFAULT_ZONE` (-1) is the default limit of zones
//! without one of their own; a limit of 0 is no limit.
//!
//! - `SET`: each entry's limit, for its zone or the default.
//! - `DEL`: each entry's zone loses its limit (the default goes back to 0);
//!   only `zone_id` is read.
//! - `GET`: with the attribute, each entry's zone: its limit (the
//!   default's when it has none) and `count`, the connections the zone
//!   holds now; without, the default and every zone with a limit.
//!
//! Sizes: the attribute's `nla_len` is a u16, so one message holds at
//! most 5460 structs; zonetp puts at most [`MAX_SET_DEL_ENTRIES`] in a
//! `SET` or `DEL`. The kernel builds a `GET`'s reply in one
//! `NLMSG_DEFAULT_SIZE` buffer (a page less overhead: about 300 structs
//! on 4 KiB pages), and fails it with EMSGSIZE past that: zonetp asks at
//! most [`MAX_GET_ENTRIES`] zones a `GET`, and a `GET` of everything
//! (no attribute) may fail once a few hundred limits exist.

use serde::Serialize;

use crate::netlink::message::{NLM_F_ACK, NLM_F_REQUEST};
use crate::netlink::{AttrIter, AttrWriter, ParseError};

use super::genl::{genl_message, split_genl};

pub const OVS_CT_LIMIT_FAMILY: &str = "ovs_ct_limit";
const OVS_CT_LIMIT_VERSION: u8 = 1;
const OVS_CT_LIMIT_CMD_SET: u8 = 1;
const OVS_CT_LIMIT_CMD_DEL: u8 = 2;
const OVS_CT_LIMIT_CMD_GET: u8 = 3;
const OVS_CT_LIMIT_ATTR_ZONE_LIMIT: u16 = 1;
pub const OVS_ZONE_LIMIT_DEFAULT_ZONE: i32 = -1;
/// `sizeof(struct ovs_zone_limit)`, already a multiple of 4.
const ZONE_LIMIT_LEN: usize = 12;
/// The most structs in one `SET` or `DEL` message (49,152 bytes of
/// attribute, well under `nla_len`'s 65,535).
pub const MAX_SET_DEL_ENTRIES: usize = 4096;
/// The most zones in one `GET` message: their reply (3,072 bytes of
/// structs) fits the kernel's one-page reply buffer.
pub const MAX_GET_ENTRIES: usize = 256;

/// Whose limit: a zone's, or the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitTarget {
    Default,
    Zone(u16),
}

impl LimitTarget {
    /// `ovs_zone_limit.zone_id`.
    pub fn zone_id(self) -> i32 {
        match self {
            LimitTarget::Default => OVS_ZONE_LIMIT_DEFAULT_ZONE,
            LimitTarget::Zone(z) => i32::from(z),
        }
    }

    pub fn from_zone_id(id: i32) -> Option<Self> {
        match id {
            OVS_ZONE_LIMIT_DEFAULT_ZONE => Some(LimitTarget::Default),
            _ => u16::try_from(id).ok().map(LimitTarget::Zone),
        }
    }
}

impl std::fmt::Display for LimitTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitTarget::Default => f.write_str("default"),
            LimitTarget::Zone(z) => write!(f, "zone {z}"),
        }
    }
}

/// One `struct ovs_zone_limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneLimit {
    pub target: LimitTarget,
    pub limit: u32,
    /// Connections counted in the zone (`GET` replies only).
    pub count: u32,
}

impl ZoneLimit {
    fn bytes(&self) -> [u8; ZONE_LIMIT_LEN] {
        let mut b = [0; ZONE_LIMIT_LEN];
        b[..4].copy_from_slice(&self.target.zone_id().to_ne_bytes());
        b[4..8].copy_from_slice(&self.limit.to_ne_bytes());
        b[8..].copy_from_slice(&self.count.to_ne_bytes());
        b
    }
}

/// A request to `ovs_ct_limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtLimitRequest {
    Set(Vec<(LimitTarget, u32)>),
    Del(Vec<LimitTarget>),
    /// `None`: the default and every zone with a limit.
    Get(Option<Vec<LimitTarget>>),
}

impl CtLimitRequest {
    /// The request's messages: one per [`MAX_SET_DEL_ENTRIES`] entries of
    /// a `SET` or `DEL`, one per [`MAX_GET_ENTRIES`] zones of a `GET`
    /// (none for an empty list; one for a `GET` of everything).
    pub fn emit(&self, family: u16) -> Vec<Vec<u8>> {
        let (cmd, per_message) = match self {
            Self::Set(_) => (OVS_CT_LIMIT_CMD_SET, MAX_SET_DEL_ENTRIES),
            Self::Del(_) => (OVS_CT_LIMIT_CMD_DEL, MAX_SET_DEL_ENTRIES),
            Self::Get(_) => (OVS_CT_LIMIT_CMD_GET, MAX_GET_ENTRIES),
        };
        let entries: Option<Vec<ZoneLimit>> = match self {
            Self::Set(v) => Some(
                v.iter()
                    .map(|(target, limit)| ZoneLimit { target: *target, limit: *limit, count: 0 })
                    .collect(),
            ),
            Self::Del(v) | Self::Get(Some(v)) => {
                Some(v.iter().map(|target| ZoneLimit { target: *target, limit: 0, count: 0 }).collect())
            }
            Self::Get(None) => None,
        };
        let message = |entries: Option<&[ZoneLimit]>| {
            let mut m = genl_message(family, NLM_F_REQUEST | NLM_F_ACK, cmd, OVS_CT_LIMIT_VERSION);
            m.header(&0i32.to_ne_bytes()); // struct ovs_header: no datapath
            if let Some(entries) = entries {
                let payload: Vec<u8> = entries.iter().flat_map(|e| e.bytes()).collect();
                AttrWriter::new(m.buf()).put(OVS_CT_LIMIT_ATTR_ZONE_LIMIT, &payload);
            }
            m.finish()
        };
        match entries {
            None => vec![message(None)],
            Some(entries) => entries.chunks(per_message).map(|c| message(Some(c))).collect(),
        }
    }
}

/// The entries of a `GET` reply (or the empty `SET`/`DEL` ones), in the
/// kernel's order. A zone id that is neither -1 nor a zone is refused.
pub fn parse_reply(buf: &[u8]) -> Result<Vec<ZoneLimit>, ParseError> {
    let (_, body) = split_genl(buf)?;
    let attrs = body.get(4..).ok_or(ParseError::Truncated { what: "ovs_header" })?;
    let mut out = Vec::new();
    for a in AttrIter::new(attrs) {
        let a = a?;
        if a.kind != OVS_CT_LIMIT_ATTR_ZONE_LIMIT {
            continue;
        }
        if a.payload.len() % ZONE_LIMIT_LEN != 0 {
            return Err(ParseError::BadLength { what: "OVS_CT_LIMIT_ATTR_ZONE_LIMIT", len: a.payload.len() });
        }
        for e in a.payload.chunks(ZONE_LIMIT_LEN) {
            let word = |i: usize| <[u8; 4]>::try_from(&e[i..i + 4]).expect("4 bytes");
            let id = i32::from_ne_bytes(word(0));
            let target = LimitTarget::from_zone_id(id).ok_or_else(|| ParseError::Decode {
                what: "struct ovs_zone_limit",
                cause: format!("zone id {id} is neither a zone nor the default"),
            })?;
            out.push(ZoneLimit {
                target,
                limit: u32::from_ne_bytes(word(4)),
                count: u32::from_ne_bytes(word(8)),
            });
        }
    }
    Ok(out)
}
