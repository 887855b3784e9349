//! Datapath actions (`OVS_ACTION_ATTR_*`) with the `ct` action's
//! attributes (`OVS_CT_ATTR_*`, including `OVS_CT_ATTR_TIMEOUT`), and their
//! text form: `ct(commit,zone=5,mark=0x1/0xff,timeout=ovs_tp_1_udp4),recirc(0x1),2`.
//!
//! Flows that ovs-vswitchd installs carry actions and ct attributes zonetp
//! never writes (`set`, `userspace`, `ct(...,eventmask)`, ...): they are
//! read back as they came ([`Action::Other`], [`CtAction::other`]), so a
//! dump of its datapath parses and the ct actions in it can be looked at.

use crate::cttimeout::object::{OtherAttr, NAME_MAX_LEN};
use crate::netlink::{AttrIter, AttrWriter, ParseError};

use super::key::split_top;

pub const OVS_ACTION_ATTR_OUTPUT: u16 = 1;
pub const OVS_ACTION_ATTR_RECIRC: u16 = 7;
pub const OVS_ACTION_ATTR_CT: u16 = 12;
pub const OVS_ACTION_ATTR_CLONE: u16 = 20;

pub const OVS_CT_ATTR_COMMIT: u16 = 1;
pub const OVS_CT_ATTR_ZONE: u16 = 2;
pub const OVS_CT_ATTR_MARK: u16 = 3;
pub const OVS_CT_ATTR_FORCE_COMMIT: u16 = 7;
pub const OVS_CT_ATTR_TIMEOUT: u16 = 9;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CtAction {
    pub commit: bool,
    pub force_commit: bool,
    pub zone: u16,
    /// (value, mask)
    pub mark: Option<(u32, u32)>,
    /// The cttimeout object new connections get (`OVS_CT_ATTR_TIMEOUT`).
    pub timeout: Option<String>,
    /// Attributes zonetp has no type for (ovs-vswitchd's `EVENTMASK`,
    /// `NAT`, `LABELS`, `HELPER`), as the kernel reported them.
    pub other: Vec<OtherAttr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Output(u32),
    Recirc(u32),
    Ct(CtAction),
    /// `clone(...)`: actions run on a copy of the packet (ovs-vswitchd
    /// puts a `ct` inside one, e.g. across patch ports).
    Clone(Vec<Action>),
    /// An action zonetp has no type for, as the kernel reported it.
    Other(OtherAttr),
}

/// How deep `clone` actions may nest: the kernel's own limit
/// (`OVS_COPY_ACTIONS_MAX_DEPTH` in `net/openvswitch/flow_netlink.c`), so
/// neither a reply nor a command line can recurse without bound.
const MAX_CLONE_DEPTH: usize = 16;

fn too_deep() -> ParseError {
    ParseError::Syntax(format!("clone actions nested more than {MAX_CLONE_DEPTH} deep"))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn perr(s: String) -> ParseError {
    ParseError::Syntax(s)
}

fn num(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

impl CtAction {
    fn parse(inner: &str) -> Result<Self, ParseError> {
        let mut ct = CtAction::default();
        for part in split_top(inner) {
            let (k, v) = match part.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (part, None),
            };
            match (k, v) {
                ("commit", None) => ct.commit = true,
                ("force_commit", None) => ct.force_commit = true,
                ("zone", Some(v)) => {
                    ct.zone = num(v)
                        .and_then(|z| u16::try_from(z).ok())
                        .ok_or_else(|| perr(format!("ct: zone \"{v}\" is not in 0..65535")))?
                }
                ("mark", Some(v)) => {
                    let (val, mask) = v.split_once('/').unwrap_or((v, "0xffffffff"));
                    let p = |s: &str| num(s).and_then(|x| u32::try_from(x).ok());
                    ct.mark = Some(
                        p(val).zip(p(mask)).ok_or_else(|| perr(format!("ct: mark \"{v}\" is not VALUE[/MASK]")))?,
                    );
                }
                ("timeout", Some(v)) => {
                    if v.is_empty() || v.len() > NAME_MAX_LEN {
                        return Err(perr(format!("ct: timeout \"{v}\" must be 1..{NAME_MAX_LEN} characters")));
                    }
                    ct.timeout = Some(v.to_owned());
                }
                _ => {
                    return Err(perr(format!(
                        "ct: unknown or malformed argument \"{part}\" (expected commit, force_commit, zone=N, mark=V[/M], timeout=NAME)"
                    )))
                }
            }
        }
        Ok(ct)
    }

    fn format(&self) -> String {
        // OVS's printer order: commit, force_commit, zone, mark, ..., timeout.
        let mut parts = Vec::new();
        if self.commit {
            parts.push("commit".to_owned());
        }
        if self.force_commit {
            parts.push("force_commit".to_owned());
        }
        if self.zone != 0 {
            parts.push(format!("zone={}", self.zone));
        }
        if let Some((v, m)) = self.mark {
            parts.push(format!("mark={v:#x}/{m:#x}"));
        }
        if let Some(t) = &self.timeout {
            parts.push(format!("timeout={t}"));
        }
        parts.extend(self.other.iter().map(|o| format!("attr{}=0x{}", o.kind, hex(&o.payload))));
        format!("ct({})", parts.join(","))
    }
}

impl Action {
    /// Parses a comma-separated action list; `drop` or nothing is empty.
    pub fn parse_list(text: &str) -> Result<Vec<Action>, ParseError> {
        Action::parse_nested(text, 0)
    }

    fn parse_nested(text: &str, depth: usize) -> Result<Vec<Action>, ParseError> {
        if depth > MAX_CLONE_DEPTH {
            return Err(too_deep());
        }
        let text = text.trim();
        if text.is_empty() || text == "drop" {
            return Ok(Vec::new());
        }
        split_top(text)
            .into_iter()
            .map(|a| {
                if let Some(inner) = a.strip_prefix("ct(").and_then(|r| r.strip_suffix(')')) {
                    return CtAction::parse(inner).map(Action::Ct);
                }
                if a == "ct" {
                    return Ok(Action::Ct(CtAction::default()));
                }
                if let Some(inner) = a.strip_prefix("clone(").and_then(|r| r.strip_suffix(')')) {
                    return Action::parse_nested(inner, depth + 1).map(Action::Clone);
                }
                if let Some(inner) = a.strip_prefix("recirc(").and_then(|r| r.strip_suffix(')')) {
                    return num(inner)
                        .and_then(|v| u32::try_from(v).ok())
                        .map(Action::Recirc)
                        .ok_or_else(|| perr(format!("recirc \"{inner}\" is not a 32-bit number")));
                }
                num(a).and_then(|v| u32::try_from(v).ok()).map(Action::Output).ok_or_else(|| {
                    perr(format!(
                        "unknown action \"{a}\" (expected a port number, ct(...), recirc(N), clone(...) or drop)"
                    ))
                })
            })
            .collect()
    }

    pub fn format_list(actions: &[Action]) -> String {
        if actions.is_empty() {
            return "drop".into();
        }
        actions
            .iter()
            .map(|a| match a {
                Action::Output(p) => p.to_string(),
                Action::Recirc(r) => format!("recirc({r:#x})"),
                Action::Ct(ct) => ct.format(),
                Action::Clone(inner) => format!("clone({})", Action::format_list(inner)),
                Action::Other(o) => format!("action{}(0x{})", o.kind, hex(&o.payload)),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The committing `ct` actions of a list, those inside `clone` too.
    pub fn commits(actions: &[Action]) -> Vec<&CtAction> {
        let mut out = Vec::new();
        for a in actions {
            match a {
                Action::Ct(ct) if ct.commit || ct.force_commit => out.push(ct),
                Action::Clone(inner) => out.extend(Action::commits(inner)),
                _ => {}
            }
        }
        out
    }

    /// Writes the action list as `attr` (e.g. `OVS_FLOW_ATTR_ACTIONS`).
    pub fn emit_list(actions: &[Action], w: &mut AttrWriter<'_>, attr: u16) {
        let nest = w.nest_start(attr, false);
        Action::emit_actions(actions, w);
        w.nest_end(nest);
    }

    fn emit_actions(actions: &[Action], w: &mut AttrWriter<'_>) {
        for a in actions {
            match a {
                Action::Output(p) => w.put_u32(OVS_ACTION_ATTR_OUTPUT, *p),
                Action::Recirc(r) => w.put_u32(OVS_ACTION_ATTR_RECIRC, *r),
                Action::Ct(ct) => {
                    let n = w.nest_start(OVS_ACTION_ATTR_CT, false);
                    if ct.commit {
                        w.put_flag(OVS_CT_ATTR_COMMIT);
                    }
                    if ct.force_commit {
                        w.put_flag(OVS_CT_ATTR_FORCE_COMMIT);
                    }
                    if ct.zone != 0 {
                        w.put_u16(OVS_CT_ATTR_ZONE, ct.zone);
                    }
                    if let Some((v, m)) = ct.mark {
                        let mut b = v.to_ne_bytes().to_vec();
                        b.extend_from_slice(&m.to_ne_bytes());
                        w.put(OVS_CT_ATTR_MARK, &b);
                    }
                    if let Some(t) = &ct.timeout {
                        w.put_cstr(OVS_CT_ATTR_TIMEOUT, t);
                    }
                    for o in &ct.other {
                        w.put(o.kind, &o.payload);
                    }
                    w.nest_end(n);
                }
                Action::Clone(inner) => {
                    let n = w.nest_start(OVS_ACTION_ATTR_CLONE, false);
                    Action::emit_actions(inner, w);
                    w.nest_end(n);
                }
                Action::Other(o) => w.put(o.kind, &o.payload),
            }
        }
    }

    /// Reads an action list back (the payload of `OVS_FLOW_ATTR_ACTIONS`).
    pub fn decode_list(payload: &[u8]) -> Result<Vec<Action>, ParseError> {
        Action::decode_nested(payload, 0)
    }

    fn decode_nested(payload: &[u8], depth: usize) -> Result<Vec<Action>, ParseError> {
        if depth > MAX_CLONE_DEPTH {
            return Err(too_deep());
        }
        let mut out = Vec::new();
        for a in AttrIter::new(payload) {
            let a = a?;
            match a.kind {
                OVS_ACTION_ATTR_OUTPUT => out.push(Action::Output(a.u32()?)),
                OVS_ACTION_ATTR_RECIRC => out.push(Action::Recirc(a.u32()?)),
                OVS_ACTION_ATTR_CT => {
                    let mut ct = CtAction::default();
                    for c in a.nested() {
                        let c = c?;
                        match c.kind {
                            OVS_CT_ATTR_COMMIT => ct.commit = true,
                            OVS_CT_ATTR_FORCE_COMMIT => ct.force_commit = true,
                            OVS_CT_ATTR_ZONE => ct.zone = c.u16()?,
                            OVS_CT_ATTR_MARK if c.payload.len() == 8 => {
                                let v = u32::from_ne_bytes(c.payload[..4].try_into().unwrap());
                                let m = u32::from_ne_bytes(c.payload[4..].try_into().unwrap());
                                ct.mark = Some((v, m));
                            }
                            OVS_CT_ATTR_TIMEOUT => ct.timeout = Some(c.cstr()?.to_owned()),
                            kind => ct.other.push(OtherAttr { kind, payload: c.payload.to_vec() }),
                        }
                    }
                    out.push(Action::Ct(ct));
                }
                OVS_ACTION_ATTR_CLONE => {
                    out.push(Action::Clone(Action::decode_nested(a.payload, depth + 1)?))
                }
                kind => out.push(Action::Other(OtherAttr { kind, payload: a.payload.to_vec() })),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_text_and_bytes() {
        let text = "ct(commit,zone=5,mark=0x1/0xff,timeout=ovs_tp_1_udp4),recirc(0x1),2";
        let acts = Action::parse_list(text).unwrap();
        assert_eq!(Action::format_list(&acts), text);
        let mut buf = Vec::new();
        Action::emit_list(&acts, &mut AttrWriter::new(&mut buf), 2);
        let inner = &buf[4..];
        assert_eq!(Action::decode_list(inner).unwrap(), acts);
        assert_eq!(Action::parse_list("drop").unwrap(), vec![]);
        assert_eq!(Action::format_list(&[]), "drop");
    }

    #[test]
    fn ct_timeout_bytes_follow_openvswitch_h() {
        let acts = Action::parse_list("ct(commit,zone=5,timeout=ovs_tp_1_udp4)").unwrap();
        let mut buf = Vec::new();
        Action::emit_list(&acts, &mut AttrWriter::new(&mut buf), 2);
        let expect: Vec<u8> = [
            &[40, 0, 2, 0][..],        // OVS_FLOW_ATTR_ACTIONS, 40 bytes
            &[36, 0, 12, 0],           // OVS_ACTION_ATTR_CT
            &[4, 0, 1, 0],             // OVS_CT_ATTR_COMMIT (flag)
            &[6, 0, 2, 0, 5, 0, 0, 0], // OVS_CT_ATTR_ZONE u16 5 + pad
            &[18, 0, 9, 0],            // OVS_CT_ATTR_TIMEOUT, 14 bytes + NUL
            b"ovs_tp_1_udp4\0",
            &[0, 0],
        ]
        .concat();
        assert_eq!(buf, expect);
    }

    #[test]
    fn clone_nests_to_the_kernel_s_depth_and_no_deeper() {
        let nested = |n: usize| format!("{}2{}", "clone(".repeat(n), ")".repeat(n));
        let acts = Action::parse_list(&format!("ct(commit,zone=7),{}", nested(16))).unwrap();
        assert_eq!(Action::commits(&acts).len(), 1);
        assert!(Action::parse_list(&nested(17)).unwrap_err().to_string().contains("more than 16 deep"));
        let inner = Action::parse_list("clone(ct(commit,zone=5,timeout=ovs_tp_1_udp4)),1").unwrap();
        assert_eq!(Action::commits(&inner)[0].timeout.as_deref(), Some("ovs_tp_1_udp4"));
        // In bytes: `levels` clones around an output.
        let wrapped = |levels: usize| {
            let mut list = Vec::new();
            AttrWriter::new(&mut list).put_u32(OVS_ACTION_ATTR_OUTPUT, 2);
            for _ in 0..levels {
                let mut outer = Vec::new();
                AttrWriter::new(&mut outer).put(OVS_ACTION_ATTR_CLONE, &list);
                list = outer;
            }
            list
        };
        assert!(Action::decode_list(&wrapped(16)).is_ok());
        assert!(Action::decode_list(&wrapped(17)).unwrap_err().to_string().contains("more than 16 deep"));
    }

    #[test]
    fn bad_actions_are_named() {
        let e = |t: &str| Action::parse_list(t).unwrap_err().to_string();
        assert!(e("ct(zone=70000)").contains("not in 0..65535"));
        assert!(e(&format!("ct(timeout={})", "x".repeat(32))).contains("1..31"));
        assert!(e("ct(nat)").contains("unknown or malformed argument \"nat\""));
        assert!(e("flood").contains("unknown action \"flood\""));
    }
}
