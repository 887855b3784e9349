//! The messages of nfnetlink subsystem `NFNL_SUBSYS_CTNETLINK_TIMEOUT`:
//! typed requests with `emit`, and `parse` for the kernel's replies.

use super::object::{escape_name, CtTimeoutObject, ObjectName, OtherAttr, Timeouts};
use super::proto::{L3Proto, L4Proto};
use crate::netlink::message::{
    nfnl_message, parse_nfnl, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST,
};
use crate::netlink::{AttrIter, AttrWriter, NfGenMsg, NlMsgHeader, ParseError};

pub const NFNL_SUBSYS_CTNETLINK_TIMEOUT: u8 = 8;

pub const IPCTNL_MSG_TIMEOUT_NEW: u8 = 0;
pub const IPCTNL_MSG_TIMEOUT_GET: u8 = 1;
pub const IPCTNL_MSG_TIMEOUT_DELETE: u8 = 2;
pub const IPCTNL_MSG_TIMEOUT_DEFAULT_SET: u8 = 3;
pub const IPCTNL_MSG_TIMEOUT_DEFAULT_GET: u8 = 4;

pub const CTA_TIMEOUT_NAME: u16 = 1;
pub const CTA_TIMEOUT_L3PROTO: u16 = 2;
pub const CTA_TIMEOUT_L4PROTO: u16 = 3;
pub const CTA_TIMEOUT_DATA: u16 = 4;
pub const CTA_TIMEOUT_USE: u16 = 5;

const NFNETLINK_V0: u8 = 0;

pub const fn msg_type(cmd: u8) -> u16 {
    ((NFNL_SUBSYS_CTNETLINK_TIMEOUT as u16) << 8) | cmd as u16
}

/// How `NEW` treats an object that already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewMode {
    /// `NLM_F_CREATE|NLM_F_EXCL`: fail with `EEXIST` if it exists.
    Create,
    /// `NLM_F_REPLACE`: update in place (the kernel creates a missing one).
    Replace,
    /// `NLM_F_CREATE|NLM_F_REPLACE`, what OVS sends for every object.
    CreateOrReplace,
}

impl NewMode {
    fn flags(self) -> u16 {
        match self {
            NewMode::Create => NLM_F_CREATE | NLM_F_EXCL,
            NewMode::Replace => NLM_F_REPLACE,
            NewMode::CreateOrReplace => NLM_F_CREATE | NLM_F_REPLACE,
        }
    }
}

/// A request to the kernel's cttimeout subsystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtTimeoutRequest {
    New {
        object: CtTimeoutObject,
        mode: NewMode,
    },
    Get {
        name: ObjectName,
    },
    Dump,
    /// `None` deletes every object the kernel is willing to drop.
    Delete {
        name: Option<ObjectName>,
    },
    DefaultGet {
        l3: L3Proto,
        l4: L4Proto,
    },
    DefaultSet {
        l3: L3Proto,
        l4: L4Proto,
        timeouts: Timeouts,
    },
}

impl CtTimeoutRequest {
    pub fn command(&self) -> u8 {
        match self {
            Self::New { .. } => IPCTNL_MSG_TIMEOUT_NEW,
            Self::Get { .. } | Self::Dump => IPCTNL_MSG_TIMEOUT_GET,
            Self::Delete { .. } => IPCTNL_MSG_TIMEOUT_DELETE,
            Self::DefaultGet { .. } => IPCTNL_MSG_TIMEOUT_DEFAULT_GET,
            Self::DefaultSet { .. } => IPCTNL_MSG_TIMEOUT_DEFAULT_SET,
        }
    }

    pub fn flags(&self) -> u16 {
        NLM_F_REQUEST
            | match self {
                Self::New { mode, .. } => NLM_F_ACK | mode.flags(),
                Self::Dump => NLM_F_DUMP,
                _ => NLM_F_ACK,
            }
    }

    /// Encodes the request as libnetfilter_cttimeout does: NAME, L3PROTO,
    /// L4PROTO, then DATA (flagged nested) with the set states ascending.
    pub fn emit(&self, seq: u32) -> Vec<u8> {
        let mut attrs = Vec::with_capacity(128);
        let mut w = AttrWriter::new(&mut attrs);
        match self {
            Self::New { object, .. } => {
                w.put_cbytes(CTA_TIMEOUT_NAME, object.name.as_bytes());
                put_policy(&mut w, object.l3, object.l4, &object.timeouts);
                for a in &object.other {
                    w.put(a.kind, &a.payload);
                }
            }
            Self::Get { name } | Self::Delete { name: Some(name) } => {
                w.put_cbytes(CTA_TIMEOUT_NAME, name.as_bytes())
            }
            Self::Dump | Self::Delete { name: None } => {}
            Self::DefaultGet { l3, l4 } => {
                w.put_be16(CTA_TIMEOUT_L3PROTO, l3.0);
                w.put_u8(CTA_TIMEOUT_L4PROTO, l4.0);
            }
            Self::DefaultSet { l3, l4, timeouts } => put_policy(&mut w, *l3, *l4, timeouts),
        }
        let nfgen = NfGenMsg { family: libc::AF_UNSPEC as u8, version: NFNETLINK_V0, res_id: 0 };
        nfnl_message(msg_type(self.command()), self.flags(), seq, nfgen, attrs)
    }

    /// Decodes a request (the inverse of `emit`), for round-trip tests and
    /// for tools that read captured traffic.
    pub fn parse(buf: &[u8]) -> Result<Self, ParseError> {
        let (header, body) = split(buf)?;
        let cmd = check_type(&header)?;
        let fields = Fields::parse(&body)?;
        let need_name =
            || fields.name.clone().ok_or_else(|| missing("CTA_TIMEOUT_NAME", "cttimeout request"));
        let need_protos = || match (fields.l3, fields.l4) {
            (Some(l3), Some(l4)) => Ok((l3, l4)),
            _ => Err(missing("CTA_TIMEOUT_L3PROTO or CTA_TIMEOUT_L4PROTO", "cttimeout request")),
        };
        Ok(match cmd {
            IPCTNL_MSG_TIMEOUT_NEW => {
                let mode = if header.flags & NLM_F_EXCL != 0 {
                    NewMode::Create
                } else if header.flags & NLM_F_CREATE != 0 {
                    NewMode::CreateOrReplace
                } else {
                    NewMode::Replace
                };
                let (l3, l4) = need_protos()?;
                let name = object_name(&need_name()?)?;
                let object = CtTimeoutObject {
                    name,
                    l3,
                    l4,
                    timeouts: fields.timeouts,
                    use_count: fields.use_count,
                    other: fields.other,
                };
                Self::New { object, mode }
            }
            IPCTNL_MSG_TIMEOUT_GET if header.flags & NLM_F_DUMP == NLM_F_DUMP => Self::Dump,
            IPCTNL_MSG_TIMEOUT_GET => Self::Get { name: object_name(&need_name()?)? },
            IPCTNL_MSG_TIMEOUT_DELETE => {
                Self::Delete { name: fields.name.as_deref().map(object_name).transpose()? }
            }
            IPCTNL_MSG_TIMEOUT_DEFAULT_GET => {
                let (l3, l4) = need_protos()?;
                Self::DefaultGet { l3, l4 }
            }
            IPCTNL_MSG_TIMEOUT_DEFAULT_SET => {
                let (l3, l4) = need_protos()?;
                Self::DefaultSet { l3, l4, timeouts: fields.timeouts }
            }
            other => {
                return Err(ParseError::Unsupported { what: "cttimeout command", value: other.to_string() })
            }
        })
    }
}

fn missing(what: &'static str, context: impl Into<String>) -> ParseError {
    ParseError::Missing { what, context: context.into() }
}

/// A name a request (a captured message) holds, checked as zonetp checks
/// its own.
fn object_name(name: &[u8]) -> Result<ObjectName, ParseError> {
    ObjectName::from_bytes(name)
        .map_err(|e| ParseError::BadName { name: escape_name(name), cause: e.to_string() })
}

fn put_policy(w: &mut AttrWriter<'_>, l3: L3Proto, l4: L4Proto, timeouts: &Timeouts) {
    w.put_be16(CTA_TIMEOUT_L3PROTO, l3.0);
    w.put_u8(CTA_TIMEOUT_L4PROTO, l4.0);
    let nest = w.nest_start(CTA_TIMEOUT_DATA, true);
    for (attr, seconds) in timeouts {
        w.put_be32(*attr, *seconds);
    }
    w.nest_end(nest);
}

/// The header and attributes of a cttimeout message, framed by neli.
fn split(buf: &[u8]) -> Result<(NlMsgHeader, Vec<u8>), ParseError> {
    let m = parse_nfnl(buf)?;
    Ok((m.header, m.attrs))
}

fn check_type(header: &NlMsgHeader) -> Result<u8, ParseError> {
    if (header.kind >> 8) as u8 != NFNL_SUBSYS_CTNETLINK_TIMEOUT {
        return Err(ParseError::UnexpectedType { want: "a cttimeout message", got: header.kind });
    }
    Ok(header.kind as u8)
}

/// The attributes of any cttimeout message.
#[derive(Default)]
struct Fields {
    name: Option<Vec<u8>>,
    l3: Option<L3Proto>,
    l4: Option<L4Proto>,
    use_count: Option<u32>,
    timeouts: Timeouts,
    other: Vec<OtherAttr>,
}

impl Fields {
    fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut f = Fields::default();
        for attr in AttrIter::new(body) {
            let attr = attr?;
            match attr.kind {
                CTA_TIMEOUT_NAME => f.name = Some(attr.cbytes().to_owned()),
                CTA_TIMEOUT_L3PROTO => f.l3 = Some(L3Proto(attr.be16()?)),
                CTA_TIMEOUT_L4PROTO => f.l4 = Some(L4Proto(attr.u8()?)),
                CTA_TIMEOUT_USE => f.use_count = Some(attr.be32()?),
                CTA_TIMEOUT_DATA => {
                    for state in attr.nested() {
                        let state = state?;
                        f.timeouts.insert(state.kind, state.be32()?);
                    }
                }
                // A newer kernel's attribute: kept, not dropped.
                kind => f.other.push(OtherAttr { kind, payload: attr.payload.to_vec() }),
            }
        }
        Ok(f)
    }
}

/// Parses one object from a kernel reply (a `NEW` message from GET or dump).
pub fn parse_object(buf: &[u8]) -> Result<CtTimeoutObject, ParseError> {
    let (header, body) = split(buf)?;
    if check_type(&header)? != IPCTNL_MSG_TIMEOUT_NEW {
        return Err(ParseError::UnexpectedType { want: "a cttimeout NEW message", got: header.kind });
    }
    let f = Fields::parse(&body)?;
    let name = f.name.ok_or_else(|| missing("CTA_TIMEOUT_NAME", "cttimeout object"))?;
    // Whatever name the kernel holds is kept as it is, bytes and all: an
    // object another tool made with a name zonetp would refuse (not UTF-8,
    // empty) must not make the whole dump unreadable.
    let name = ObjectName::from_kernel(&name);
    Ok(CtTimeoutObject {
        l3: f.l3.ok_or_else(|| missing("CTA_TIMEOUT_L3PROTO", format!("object \"{name}\"")))?,
        l4: f.l4.ok_or_else(|| missing("CTA_TIMEOUT_L4PROTO", format!("object \"{name}\"")))?,
        name,
        timeouts: f.timeouts,
        use_count: f.use_count,
        other: f.other,
    })
}

/// Parses the kernel's answer to `DEFAULT_GET` (a `DEFAULT_SET` message).
pub fn parse_defaults(buf: &[u8]) -> Result<(L3Proto, L4Proto, Timeouts), ParseError> {
    let (header, body) = split(buf)?;
    if check_type(&header)? != IPCTNL_MSG_TIMEOUT_DEFAULT_SET {
        return Err(ParseError::UnexpectedType { want: "a cttimeout DEFAULT_SET message", got: header.kind });
    }
    let f = Fields::parse(&body)?;
    match (f.l3, f.l4) {
        (Some(l3), Some(l4)) => Ok((l3, l4, f.timeouts)),
        _ => Err(missing("CTA_TIMEOUT_L3PROTO or CTA_TIMEOUT_L4PROTO", "cttimeout defaults")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_attributes_are_kept_and_written_back() {
        let mut object =
            CtTimeoutObject::new("web", L3Proto::IPV4, L4Proto::UDP, Timeouts::from([(1, 10)])).unwrap();
        let plain = CtTimeoutRequest::New { object: object.clone(), mode: NewMode::Create }.emit(1);
        // As a newer kernel might send it: an attribute type zonetp does not know.
        object.other.push(OtherAttr { kind: 42, payload: vec![1, 2, 3, 4, 5] });
        let req = CtTimeoutRequest::New { object: object.clone(), mode: NewMode::Create };
        let bytes = req.emit(1);
        assert_eq!(bytes.len(), plain.len() + 12, "one attribute of 4 + 5 bytes, padded");
        let CtTimeoutRequest::New { object: back, .. } = CtTimeoutRequest::parse(&bytes).unwrap() else {
            panic!("a NEW request");
        };
        assert_eq!(back.other, vec![OtherAttr { kind: 42, payload: vec![1, 2, 3, 4, 5] }]);
        assert_eq!(back, object);
        // Replies keep them too.
        let mut reply = bytes.clone();
        reply[6..8].copy_from_slice(&0u16.to_ne_bytes()); // a reply's flags
        assert_eq!(parse_object(&reply).unwrap().other, object.other);
    }

    #[test]
    fn errors_name_what_is_missing() {
        let get = CtTimeoutRequest::Dump.emit(1);
        assert_eq!(
            parse_object(&get).unwrap_err(),
            ParseError::UnexpectedType { want: "a cttimeout NEW message", got: 0x0801 }
        );
        let bare = crate::netlink::message::nfnl_message(
            msg_type(IPCTNL_MSG_TIMEOUT_NEW),
            0,
            1,
            NfGenMsg { family: 0, version: 0, res_id: 0 },
            vec![],
        );
        assert_eq!(parse_object(&bare).unwrap_err().to_string(), "cttimeout object lacks CTA_TIMEOUT_NAME");
    }
}
