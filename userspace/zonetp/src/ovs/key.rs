//! Flow keys and masks (`OVS_KEY_ATTR_*` of `include/uapi/linux/openvswitch.h`)
//! and their text form, close to `ovs-dpctl`'s:
//! `recirc_id(0),in_port(1),eth_type(0x0800),ipv4(src=10.1.1.1,proto=17),ct_state(+trk+est)`.
//!
//! One table describes every supported attribute: its layout, its fields
//! and how each field is written. Parsing, printing, encoding and decoding
//! all read that table, so they cannot disagree.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::netlink::{AttrIter, AttrWriter, ParseError};

pub const OVS_KEY_ATTR_PRIORITY: u16 = 2;
pub const OVS_KEY_ATTR_IN_PORT: u16 = 3;
pub const OVS_KEY_ATTR_ETHERNET: u16 = 4;
pub const OVS_KEY_ATTR_ETHERTYPE: u16 = 6;
pub const OVS_KEY_ATTR_IPV4: u16 = 7;
pub const OVS_KEY_ATTR_IPV6: u16 = 8;
pub const OVS_KEY_ATTR_TCP: u16 = 9;
pub const OVS_KEY_ATTR_UDP: u16 = 10;
pub const OVS_KEY_ATTR_ICMP: u16 = 11;
pub const OVS_KEY_ATTR_ICMPV6: u16 = 12;
pub const OVS_KEY_ATTR_ARP: u16 = 13;
pub const OVS_KEY_ATTR_SKB_MARK: u16 = 15;
pub const OVS_KEY_ATTR_SCTP: u16 = 17;
pub const OVS_KEY_ATTR_TCP_FLAGS: u16 = 18;
pub const OVS_KEY_ATTR_DP_HASH: u16 = 19;
pub const OVS_KEY_ATTR_RECIRC_ID: u16 = 20;
pub const OVS_KEY_ATTR_CT_STATE: u16 = 22;
pub const OVS_KEY_ATTR_CT_ZONE: u16 = 23;
pub const OVS_KEY_ATTR_CT_MARK: u16 = 24;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;

/// How a field's bytes are written in text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    U8,
    /// Big endian on the wire.
    Be16,
    Be32,
    /// Host order on the wire (netlink's u16/u32).
    U16,
    U32,
    Ip4,
    Ip6,
    Mac,
    CtState,
    /// `no`, `first`, `later` (OVS_FRAG_TYPE_*).
    Frag,
}

impl Kind {
    const fn len(self) -> usize {
        match self {
            Kind::U8 | Kind::Frag => 1,
            Kind::Be16 | Kind::U16 => 2,
            Kind::Be32 | Kind::U32 | Kind::Ip4 | Kind::CtState => 4,
            Kind::Ip6 => 16,
            Kind::Mac => 6,
        }
    }
}

struct Field {
    name: &'static str,
    offset: usize,
    kind: Kind,
}

const fn f(name: &'static str, offset: usize, kind: Kind) -> Field {
    Field { name, offset, kind }
}

const PORTS: &[Field] = &[f("src", 0, Kind::Be16), f("dst", 2, Kind::Be16)];
const TYPE_CODE: &[Field] = &[f("type", 0, Kind::U8), f("code", 1, Kind::U8)];

/// An attribute written `name(value)`.
const fn scalar(name: &'static str, attr: u16, kind: Kind) -> KeySpec {
    const U16: &[Field] = &[f("", 0, Kind::U16)];
    const BE16: &[Field] = &[f("", 0, Kind::Be16)];
    const CT_STATE: &[Field] = &[f("", 0, Kind::CtState)];
    const U32: &[Field] = &[f("", 0, Kind::U32)];
    let fields = match kind {
        Kind::U16 => U16,
        Kind::Be16 => BE16,
        Kind::CtState => CT_STATE,
        _ => U32,
    };
    KeySpec { name, attr, len: kind.len(), scalar: true, fields }
}

/// An attribute written `name(field=value,...)`.
const fn fields(name: &'static str, attr: u16, len: usize, fields: &'static [Field]) -> KeySpec {
    KeySpec { name, attr, len, scalar: false, fields }
}

struct KeySpec {
    name: &'static str,
    attr: u16,
    len: usize,
    /// A scalar attribute is written `name(value)`; a struct `name(field=value,...)`.
    scalar: bool,
    fields: &'static [Field],
}

const KEYS: &[KeySpec] = &[
    scalar("priority", OVS_KEY_ATTR_PRIORITY, Kind::U32),
    scalar("in_port", OVS_KEY_ATTR_IN_PORT, Kind::U32),
    fields("eth", OVS_KEY_ATTR_ETHERNET, 12, &[f("src", 0, Kind::Mac), f("dst", 6, Kind::Mac)]),
    scalar("eth_type", OVS_KEY_ATTR_ETHERTYPE, Kind::Be16),
    fields(
        "ipv4",
        OVS_KEY_ATTR_IPV4,
        12,
        &[
            f("src", 0, Kind::Ip4),
            f("dst", 4, Kind::Ip4),
            f("proto", 8, Kind::U8),
            f("tos", 9, Kind::U8),
            f("ttl", 10, Kind::U8),
            f("frag", 11, Kind::Frag),
        ],
    ),
    fields(
        "ipv6",
        OVS_KEY_ATTR_IPV6,
        40,
        &[
            f("src", 0, Kind::Ip6),
            f("dst", 16, Kind::Ip6),
            f("label", 32, Kind::Be32),
            f("proto", 36, Kind::U8),
            f("tclass", 37, Kind::U8),
            f("hlimit", 38, Kind::U8),
            f("frag", 39, Kind::Frag),
        ],
    ),
    fields("tcp", OVS_KEY_ATTR_TCP, 4, PORTS),
    fields("udp", OVS_KEY_ATTR_UDP, 4, PORTS),
    fields("icmp", OVS_KEY_ATTR_ICMP, 2, TYPE_CODE),
    fields("icmpv6", OVS_KEY_ATTR_ICMPV6, 2, TYPE_CODE),
    fields(
        "arp",
        OVS_KEY_ATTR_ARP,
        24,
        &[
            f("sip", 0, Kind::Ip4),
            f("tip", 4, Kind::Ip4),
            f("op", 8, Kind::Be16),
            f("sha", 10, Kind::Mac),
            f("tha", 16, Kind::Mac),
        ],
    ),
    scalar("skb_mark", OVS_KEY_ATTR_SKB_MARK, Kind::U32),
    fields("sctp", OVS_KEY_ATTR_SCTP, 4, PORTS),
    scalar("tcp_flags", OVS_KEY_ATTR_TCP_FLAGS, Kind::Be16),
    scalar("dp_hash", OVS_KEY_ATTR_DP_HASH, Kind::U32),
    scalar("recirc_id", OVS_KEY_ATTR_RECIRC_ID, Kind::U32),
    scalar("ct_state", OVS_KEY_ATTR_CT_STATE, Kind::CtState),
    scalar("ct_zone", OVS_KEY_ATTR_CT_ZONE, Kind::U16),
    scalar("ct_mark", OVS_KEY_ATTR_CT_MARK, Kind::U32),
];

/// `OVS_CS_F_*` flags as ovs-dpctl spells them.
const CT_STATE_FLAGS: [(&str, u32); 8] = [
    ("new", 0x01),
    ("est", 0x02),
    ("rel", 0x04),
    ("rpl", 0x08),
    ("inv", 0x10),
    ("trk", 0x20),
    ("snat", 0x40),
    ("dnat", 0x80),
];

fn spec_by_attr(attr: u16) -> Option<&'static KeySpec> {
    KEYS.iter().find(|s| s.attr == attr)
}

fn spec_by_name(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|s| s.name == name)
}

/// One key attribute with its mask (same length; a zero mask bit is a wildcard).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAttr {
    pub attr: u16,
    pub key: Vec<u8>,
    pub mask: Vec<u8>,
}

/// A flow match: key attributes in attribute order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowKey {
    pub attrs: Vec<KeyAttr>,
}

fn perr(msg: String) -> ParseError {
    ParseError::Syntax(msg)
}

/// Splits on commas outside parentheses.
pub fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = s[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

fn parse_num(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

fn write_uint(out: &mut [u8], kind: Kind, v: u64) {
    match kind {
        Kind::U8 | Kind::Frag => out[0] = v as u8,
        Kind::Be16 => out.copy_from_slice(&(v as u16).to_be_bytes()),
        Kind::U16 => out.copy_from_slice(&(v as u16).to_ne_bytes()),
        Kind::Be32 => out.copy_from_slice(&(v as u32).to_be_bytes()),
        Kind::U32 | Kind::CtState => out.copy_from_slice(&(v as u32).to_ne_bytes()),
        _ => unreachable!("not an integer field"),
    }
}

fn read_uint(b: &[u8], kind: Kind) -> u64 {
    match kind {
        Kind::U8 | Kind::Frag => b[0] as u64,
        Kind::Be16 => u16::from_be_bytes([b[0], b[1]]) as u64,
        Kind::U16 => u16::from_ne_bytes([b[0], b[1]]) as u64,
        Kind::Be32 => u32::from_be_bytes(b.try_into().unwrap()) as u64,
        Kind::U32 | Kind::CtState => u32::from_ne_bytes(b.try_into().unwrap()) as u64,
        _ => unreachable!("not an integer field"),
    }
}

/// Parses one field value (with optional `/mask`) into key and mask bytes.
fn parse_field(field: &Field, text: &str, key: &mut [u8], mask: &mut [u8]) -> Result<(), ParseError> {
    let bad = || {
        perr(format!(
            "invalid value \"{text}\" for {}",
            if field.name.is_empty() { "field" } else { field.name }
        ))
    };
    let n = field.kind.len();
    let (k, m) = (&mut key[field.offset..field.offset + n], &mut mask[field.offset..field.offset + n]);
    if field.kind == Kind::CtState {
        if let Some((v, mk)) = text.split_once('/') {
            write_uint(k, Kind::U32, parse_num(v).ok_or_else(bad)?);
            write_uint(m, Kind::U32, parse_num(mk).ok_or_else(bad)?);
            return Ok(());
        }
        let (mut value, mut maskv) = (0u32, 0u32);
        let mut rest = text;
        while !rest.is_empty() {
            let sign = rest.as_bytes()[0];
            if sign != b'+' && sign != b'-' {
                return Err(perr(format!(
                    "ct_state \"{text}\": expected +flag or -flag (new est rel rpl inv trk snat dnat)"
                )));
            }
            let end = rest[1..].find(['+', '-']).map(|i| i + 1).unwrap_or(rest.len());
            let name = &rest[1..end];
            let (_, bit) = CT_STATE_FLAGS
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| perr(format!("unknown ct_state flag \"{name}\"")))?;
            maskv |= bit;
            if sign == b'+' {
                value |= bit;
            }
            rest = &rest[end..];
        }
        write_uint(k, Kind::U32, value as u64);
        write_uint(m, Kind::U32, maskv as u64);
        return Ok(());
    }
    let (v, mk) = match text.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (text, None),
    };
    let put = |dst: &mut [u8], s: &str| -> Result<(), ParseError> {
        match field.kind {
            Kind::Ip4 => dst.copy_from_slice(&s.parse::<Ipv4Addr>().map_err(|_| bad())?.octets()),
            Kind::Ip6 => dst.copy_from_slice(&s.parse::<Ipv6Addr>().map_err(|_| bad())?.octets()),
            Kind::Mac => {
                let parts: Vec<_> = s.split(':').collect();
                if parts.len() != 6 {
                    return Err(bad());
                }
                for (d, p) in dst.iter_mut().zip(parts) {
                    *d = u8::from_str_radix(p, 16).map_err(|_| bad())?;
                }
            }
            Kind::Frag => {
                dst[0] = match s {
                    "no" => 0,
                    "first" => 1,
                    "later" => 2,
                    _ => parse_num(s).filter(|v| *v <= 0xff).ok_or_else(bad)? as u8,
                }
            }
            kind => {
                let v = parse_num(s).ok_or_else(bad)?;
                if kind.len() < 8 && v >> (kind.len() * 8) != 0 {
                    return Err(bad());
                }
                write_uint(dst, kind, v);
            }
        }
        Ok(())
    };
    put(k, v)?;
    match mk {
        Some(mk) => put(m, mk)?,
        None => m.iter_mut().for_each(|b| *b = 0xff),
    }
    // Key bits outside the mask are meaningless; the kernel clears them too.
    k.iter_mut().zip(m.iter()).for_each(|(kb, mb)| *kb &= mb);
    Ok(())
}

fn format_value(kind: Kind, b: &[u8]) -> String {
    match kind {
        Kind::Ip4 => Ipv4Addr::from(<[u8; 4]>::try_from(b).unwrap()).to_string(),
        Kind::Ip6 => Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap()).to_string(),
        Kind::Mac => b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":"),
        Kind::Frag => match b[0] {
            0 => "no".into(),
            1 => "first".into(),
            2 => "later".into(),
            v => v.to_string(),
        },
        Kind::Be16 if b.len() == 2 => {
            let v = read_uint(b, kind);
            if v > 9 {
                format!("{v:#06x}")
            } else {
                v.to_string()
            }
        }
        kind => read_uint(b, kind).to_string(),
    }
}

fn format_field(field: &Field, key: &[u8], mask: &[u8]) -> Option<String> {
    let n = field.kind.len();
    let (k, m) = (&key[field.offset..field.offset + n], &mask[field.offset..field.offset + n]);
    if m.iter().all(|b| *b == 0) {
        return None;
    }
    if field.kind == Kind::CtState {
        let (v, mk) = (read_uint(k, Kind::U32) as u32, read_uint(m, Kind::U32) as u32);
        let known: u32 = CT_STATE_FLAGS.iter().map(|(_, b)| b).sum();
        if mk & !known != 0 {
            return Some(format!("{v:#x}/{mk:#x}"));
        }
        let mut s = String::new();
        for (name, bit) in CT_STATE_FLAGS {
            if mk & bit != 0 {
                let _ = write!(s, "{}{name}", if v & bit != 0 { '+' } else { '-' });
            }
        }
        return Some(s);
    }
    let value = format_value(field.kind, k);
    if m.iter().all(|b| *b == 0xff) {
        Some(value)
    } else {
        Some(format!("{value}/{}", format_value(field.kind, m)))
    }
}

impl FlowKey {
    pub fn get(&self, attr: u16) -> Option<&KeyAttr> {
        self.attrs.iter().find(|a| a.attr == attr)
    }

    /// The exact value of an integer field, or `None` when the field is
    /// absent or not fully masked.
    fn exact(&self, attr: u16, offset: usize, kind: Kind) -> Option<u64> {
        let a = self.get(attr)?;
        let n = kind.len();
        if !a.mask[offset..offset + n].iter().all(|b| *b == 0xff) {
            return None;
        }
        Some(read_uint(&a.key[offset..offset + n], kind))
    }

    /// The exact EtherType, when the flow matches one.
    pub fn eth_type(&self) -> Option<u16> {
        self.exact(OVS_KEY_ATTR_ETHERTYPE, 0, Kind::Be16).map(|v| v as u16)
    }

    /// The exact IP protocol, when the flow matches one.
    pub fn ip_proto(&self) -> Option<u8> {
        match self.eth_type()? {
            ETH_P_IP => self.exact(OVS_KEY_ATTR_IPV4, 8, Kind::U8).map(|v| v as u8),
            ETH_P_IPV6 => self.exact(OVS_KEY_ATTR_IPV6, 36, Kind::U8).map(|v| v as u8),
            _ => None,
        }
    }

    fn put(&mut self, attr: u16, key: Vec<u8>, mask: Vec<u8>) {
        match self.attrs.iter_mut().find(|a| a.attr == attr) {
            Some(a) => {
                a.key = key;
                a.mask = mask;
            }
            None => self.attrs.push(KeyAttr { attr, key, mask }),
        }
        self.attrs.sort_by_key(|a| a.attr);
    }

    fn ensure_wildcard(&mut self, attr: u16) {
        if self.get(attr).is_none() {
            let len = spec_by_attr(attr).expect("known attribute").len;
            self.put(attr, vec![0; len], vec![0; len]);
        }
    }

    /// Adds the attributes the kernel insists on (`match_validate`): an
    /// Ethernet key for an Ethernet port, the L3 key of an exact EtherType,
    /// the L4 key of an exact IP protocol. Added ones are wildcards.
    fn complete(&mut self) {
        self.ensure_wildcard(OVS_KEY_ATTR_ETHERNET);
        match self.eth_type() {
            Some(ETH_P_IP) => self.ensure_wildcard(OVS_KEY_ATTR_IPV4),
            Some(ETH_P_IPV6) => self.ensure_wildcard(OVS_KEY_ATTR_IPV6),
            Some(ETH_P_ARP) => self.ensure_wildcard(OVS_KEY_ATTR_ARP),
            _ => {}
        }
        let later = |attr, off| self.get(attr).is_some_and(|a: &KeyAttr| a.key[off] == 2);
        if later(OVS_KEY_ATTR_IPV4, 11) || later(OVS_KEY_ATTR_IPV6, 39) {
            return;
        }
        match (self.eth_type(), self.ip_proto()) {
            (_, Some(6)) => {
                self.ensure_wildcard(OVS_KEY_ATTR_TCP);
                self.ensure_wildcard(OVS_KEY_ATTR_TCP_FLAGS);
            }
            (_, Some(17)) => self.ensure_wildcard(OVS_KEY_ATTR_UDP),
            (_, Some(132)) => self.ensure_wildcard(OVS_KEY_ATTR_SCTP),
            (Some(ETH_P_IP), Some(1)) => self.ensure_wildcard(OVS_KEY_ATTR_ICMP),
            (Some(ETH_P_IPV6), Some(58)) => self.ensure_wildcard(OVS_KEY_ATTR_ICMPV6),
            _ => {}
        }
    }

    /// Parses `name(...)` items separated by commas.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut key = FlowKey::default();
        for item in split_top(text) {
            let (name, inner) = item
                .strip_suffix(')')
                .and_then(|s| s.split_once('('))
                .ok_or_else(|| perr(format!("\"{item}\" is not name(...)")))?;
            let spec = spec_by_name(name).ok_or_else(|| {
                let names: Vec<_> = KEYS.iter().map(|s| s.name).collect();
                perr(format!("unknown match field \"{name}\" (expected one of {})", names.join(", ")))
            })?;
            if key.get(spec.attr).is_some() {
                return Err(perr(format!("{name} is given twice")));
            }
            let mut k = vec![0u8; spec.len];
            let mut m = vec![0u8; spec.len];
            if spec.scalar {
                parse_field(&spec.fields[0], inner, &mut k, &mut m)
                    .map_err(|e| perr(format!("{name}: {e}")))?;
            } else {
                for part in split_top(inner) {
                    let (fname, value) = part
                        .split_once('=')
                        .ok_or_else(|| perr(format!("{name}: \"{part}\" is not field=value")))?;
                    let field = spec.fields.iter().find(|f| f.name == fname).ok_or_else(|| {
                        let names: Vec<_> = spec.fields.iter().map(|f| f.name).collect();
                        perr(format!(
                            "{name} has no field \"{fname}\" (expected one of {})",
                            names.join(", ")
                        ))
                    })?;
                    parse_field(field, value, &mut k, &mut m).map_err(|e| perr(format!("{name}: {e}")))?;
                }
            }
            key.put(spec.attr, k, m);
        }
        key.complete();
        Ok(key)
    }

    /// The text form: fully wildcarded attributes are left out.
    pub fn format(&self) -> String {
        let mut items = Vec::new();
        for a in &self.attrs {
            let Some(spec) = spec_by_attr(a.attr) else {
                // Attributes zonetp has no layout for (the kernel reports
                // e.g. CT_LABELS): shown only when they are matched.
                if a.mask.iter().any(|b| *b != 0) {
                    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
                    items.push(format!("key{}({}/{})", a.attr, hex(&a.key), hex(&a.mask)));
                }
                continue;
            };
            let fields: Vec<String> = spec
                .fields
                .iter()
                .filter_map(|f| {
                    format_field(f, &a.key, &a.mask).map(|v| {
                        if spec.scalar {
                            v
                        } else {
                            format!("{}={v}", f.name)
                        }
                    })
                })
                .collect();
            if fields.is_empty() {
                continue;
            }
            items.push(format!("{}({})", spec.name, fields.join(",")));
        }
        items.join(",")
    }

    /// Writes `OVS_FLOW_ATTR_KEY` and `OVS_FLOW_ATTR_MASK`.
    pub fn emit(&self, w: &mut AttrWriter<'_>, key_attr: u16, mask_attr: u16) {
        self.emit_key(w, key_attr);
        self.emit_nest(w, mask_attr, |a| &a.mask);
    }

    /// The key alone, without a mask (flow deletes, packet execution).
    pub fn emit_key(&self, w: &mut AttrWriter<'_>, key_attr: u16) {
        self.emit_nest(w, key_attr, |a| &a.key);
    }

    /// One nest (OVS leaves NLA_F_NESTED off) with one field of each attribute.
    fn emit_nest(&self, w: &mut AttrWriter<'_>, nest_attr: u16, field: impl Fn(&KeyAttr) -> &[u8]) {
        let nest = w.nest_start(nest_attr, false);
        for a in &self.attrs {
            w.put(a.attr, field(a));
        }
        w.nest_end(nest);
    }

    /// Rebuilds a key from the kernel's KEY and MASK attributes (a missing
    /// mask attribute is a wildcard).
    pub fn decode(key: &[u8], mask: Option<&[u8]>) -> Result<Self, ParseError> {
        let mut out = FlowKey::default();
        for a in AttrIter::new(key) {
            let a = a?;
            let m = match mask {
                Some(mask) => AttrIter::new(mask)
                    .filter_map(Result::ok)
                    .find(|m| m.kind == a.kind)
                    .map(|m| m.payload.to_vec())
                    .unwrap_or_else(|| vec![0; a.payload.len()]),
                None => vec![0xff; a.payload.len()],
            };
            if m.len() != a.payload.len() {
                return Err(perr(format!("key attribute {} and its mask differ in length", a.kind)));
            }
            out.attrs.push(KeyAttr { attr: a.kind, key: a.payload.to_vec(), mask: m });
        }
        out.attrs.sort_by_key(|a| a.attr);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_completes_what_the_kernel_expects() {
        let k = FlowKey::parse("in_port(1),eth_type(0x0800),ipv4(proto=17)").unwrap();
        let attrs: Vec<u16> = k.attrs.iter().map(|a| a.attr).collect();
        assert_eq!(
            attrs,
            vec![
                OVS_KEY_ATTR_IN_PORT,
                OVS_KEY_ATTR_ETHERNET,
                OVS_KEY_ATTR_ETHERTYPE,
                OVS_KEY_ATTR_IPV4,
                OVS_KEY_ATTR_UDP
            ]
        );
        assert_eq!(k.eth_type(), Some(ETH_P_IP));
        assert_eq!(k.ip_proto(), Some(17));
        assert_eq!(k.format(), "in_port(1),eth_type(0x0800),ipv4(proto=17)");
        let tcp6 = FlowKey::parse("eth_type(0x86dd),ipv6(proto=6)").unwrap();
        assert!(tcp6.get(OVS_KEY_ATTR_TCP).is_some() && tcp6.get(OVS_KEY_ATTR_TCP_FLAGS).is_some());
        assert_eq!(tcp6.ip_proto(), Some(6));
        let arp = FlowKey::parse("in_port(2),eth_type(0x0806)").unwrap();
        assert!(arp.get(OVS_KEY_ATTR_ARP).is_some());
        assert_eq!(arp.ip_proto(), None);
    }

    #[test]
    fn fields_masks_and_ct_state_round_trip() {
        let text = "recirc_id(0x1),in_port(2),eth(src=00:11:22:33:44:55),eth_type(0x0800),\
                    ipv4(src=10.1.1.0/255.255.255.0,dst=10.1.1.2,proto=1,frag=no),icmp(type=8),\
                    ct_state(-new+est+trk),ct_zone(5),ct_mark(0x1/0xff)";
        let k = FlowKey::parse(text).unwrap();
        let printed = k.format();
        assert_eq!(
            printed,
            "in_port(2),eth(src=00:11:22:33:44:55),eth_type(0x0800),\
             ipv4(src=10.1.1.0/255.255.255.0,dst=10.1.1.2,proto=1,frag=no),icmp(type=8),recirc_id(1),\
             ct_state(-new+est+trk),ct_zone(5),ct_mark(1/255)"
        );
        assert_eq!(FlowKey::parse(&printed).unwrap(), k);
        let ct = k.get(OVS_KEY_ATTR_CT_STATE).unwrap();
        assert_eq!(u32::from_ne_bytes(ct.key[..].try_into().unwrap()), 0x22);
        assert_eq!(u32::from_ne_bytes(ct.mask[..].try_into().unwrap()), 0x23);
    }

    #[test]
    fn bad_input_names_the_problem() {
        let e = |t: &str| FlowKey::parse(t).unwrap_err().to_string();
        assert!(e("in_prot(1)").contains("unknown match field \"in_prot\""));
        assert!(e("ipv4(proto=300)").contains("invalid value \"300\" for proto"));
        assert!(e("ipv4(port=3)").contains("ipv4 has no field \"port\""));
        assert!(e("ct_state(+bogus)").contains("unknown ct_state flag"));
        assert!(e("in_port(1),in_port(2)").contains("twice"));
        assert!(e("in_port").contains("is not name(...)"));
    }
}
