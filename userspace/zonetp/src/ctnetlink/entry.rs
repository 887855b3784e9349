//! Conntrack entries as `IPCTNL_MSG_CT_GET` dumps them: the request, the
//! parse of an entry's zone and protocols, and per-zone counts.

use std::collections::BTreeMap;

use crate::cttimeout::{L3Proto, L4Proto};
use crate::error::{Error, Op, Result};
use crate::netlink::message::{nfnl_message, parse_nfnl, NLM_F_DUMP, NLM_F_REQUEST};
use crate::netlink::socket::NETLINK_NETFILTER;
use crate::netlink::{AttrIter, NetlinkSocket, NfGenMsg, ParseError};

pub const NFNL_SUBSYS_CTNETLINK: u8 = 1;
pub const IPCTNL_MSG_CT_NEW: u8 = 0;
pub const IPCTNL_MSG_CT_GET: u8 = 1;

pub const CTA_TUPLE_ORIG: u16 = 1;
pub const CTA_ZONE: u16 = 18;
pub const CTA_TUPLE_PROTO: u16 = 2;
pub const CTA_TUPLE_ZONE: u16 = 3;
pub const CTA_PROTO_NUM: u16 = 1;

/// The zone and protocols of one conntrack entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryKey {
    pub zone: u16,
    pub l3: L3Proto,
    pub l4: L4Proto,
}

/// Live entries by (zone, L3, L4).
pub type EntryCounts = BTreeMap<EntryKey, u64>;

/// A dump of the whole table (every family: `AF_UNSPEC`). The kernel could
/// filter by zone (`CTA_ZONE` in the request, Linux 5.x and later), but one
/// dump counts every zone at once.
pub fn dump_request(seq: u32) -> Vec<u8> {
    nfnl_message(
        ((NFNL_SUBSYS_CTNETLINK as u16) << 8) | IPCTNL_MSG_CT_GET as u16,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        NfGenMsg { family: libc::AF_UNSPEC as u8, version: 0, res_id: 0 },
        Vec::new(),
    )
}

/// Reads an entry's zone and protocols. The zone is `CTA_ZONE` (a zone of
/// both directions), else the original tuple's `CTA_TUPLE_ZONE` (a zone of
/// the original direction only), else 0: the kernel leaves the default
/// zone out.
pub fn parse_entry(buf: &[u8]) -> Result<EntryKey, ParseError> {
    let m = parse_nfnl(buf)?;
    let header = m.header;
    if header.kind != ((NFNL_SUBSYS_CTNETLINK as u16) << 8) | IPCTNL_MSG_CT_NEW as u16 {
        return Err(ParseError::UnexpectedType { want: "a conntrack entry", got: header.kind });
    }
    let nfgen = m.nfgen;
    let mut zone = None;
    let mut tuple_zone = None;
    let mut l4 = None;
    for attr in AttrIter::new(&m.attrs) {
        let attr = attr?;
        match attr.kind {
            CTA_ZONE => zone = Some(attr.be16()?),
            CTA_TUPLE_ORIG => {
                for t in attr.nested() {
                    let t = t?;
                    match t.kind {
                        CTA_TUPLE_ZONE => tuple_zone = Some(t.be16()?),
                        CTA_TUPLE_PROTO => {
                            for p in t.nested() {
                                let p = p?;
                                if p.kind == CTA_PROTO_NUM {
                                    l4 = Some(L4Proto(p.u8()?));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(EntryKey {
        zone: zone.or(tuple_zone).unwrap_or(0),
        l3: L3Proto(nfgen.family as u16),
        l4: l4.ok_or_else(|| ParseError::Missing {
            what: "CTA_PROTO_NUM",
            context: "conntrack entry".into(),
        })?,
    })
}

/// Conntrack entries of the caller's network namespace.
pub struct ConntrackClient {
    sock: NetlinkSocket,
}

impl ConntrackClient {
    pub fn open() -> Result<Self> {
        Ok(Self { sock: NetlinkSocket::open(NETLINK_NETFILTER)? })
    }

    /// Dumps the table and counts its entries by (zone, L3, L4).
    pub fn count_entries(&mut self) -> Result<EntryCounts> {
        let out = self.sock.transact(vec![dump_request(0)])?.pop().expect("one outcome per request");
        if let Err(e) = out.status {
            return Err(Error::Kernel {
                op: Op::Other("dump"),
                what: "conntrack entries".into(),
                errno: e.errno,
                text: e.text,
            });
        }
        let mut counts = EntryCounts::new();
        for reply in &out.replies {
            *counts.entry(parse_entry(reply)?).or_default() += 1;
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::message::parse_message;
    use crate::netlink::AttrWriter;

    fn entry(family: u8, proto: u8, zone: Option<u16>, tuple_zone: Option<u16>) -> Vec<u8> {
        let mut attrs = Vec::new();
        let mut w = AttrWriter::new(&mut attrs);
        let tuple = w.nest_start(CTA_TUPLE_ORIG, true);
        let p = w.nest_start(CTA_TUPLE_PROTO, true);
        w.put_u8(CTA_PROTO_NUM, proto);
        w.nest_end(p);
        if let Some(z) = tuple_zone {
            w.put_be16(CTA_TUPLE_ZONE, z);
        }
        w.nest_end(tuple);
        w.put_be32(7, 30); // CTA_TIMEOUT, ignored
        if let Some(z) = zone {
            w.put_be16(CTA_ZONE, z);
        }
        nfnl_message(0x0100, 0, 1, NfGenMsg { family, version: 0, res_id: 0 }, attrs)
    }

    #[test]
    fn zone_comes_from_cta_zone_then_the_tuple_then_defaults_to_zero() {
        let k = parse_entry(&entry(2, 17, Some(5), None)).unwrap();
        assert_eq!((k.zone, k.l3, k.l4), (5, L3Proto::IPV4, L4Proto::UDP));
        assert_eq!(parse_entry(&entry(10, 58, None, Some(7))).unwrap().zone, 7);
        let k = parse_entry(&entry(10, 6, None, None)).unwrap();
        assert_eq!((k.zone, k.l3, k.l4), (0, L3Proto::IPV6, L4Proto::TCP));
        assert_eq!(parse_entry(&entry(2, 1, Some(0x1234), Some(9))).unwrap().zone, 0x1234);
    }

    #[test]
    fn the_dump_request_is_a_ct_get_dump_of_every_family() {
        let req = dump_request(3);
        assert_eq!(req.len(), 20);
        let h = parse_message(&req).unwrap().0;
        assert_eq!((h.kind, h.flags, h.seq), (0x0101, NLM_F_REQUEST | NLM_F_DUMP, 3));
        assert_eq!(&req[16..], &[0, 0, 0, 0]);
    }

    #[test]
    fn malformed_entries_are_errors() {
        let mut e = entry(2, 17, Some(5), None);
        e.truncate(30);
        assert!(parse_entry(&e).is_err());
        let mut other = entry(2, 17, None, None);
        other[4] = 1; // message type 0x0101
        assert!(parse_entry(&other).unwrap_err().to_string().contains("expected a conntrack entry"));
    }
}
