//! The messages of nfnetlink subsystem `NFNL_SUBSYS_CTNETLINK_TIMEOUT`:
//! typed requests with `emit`, and `parse` for the kernel's replies.

use super::object::{CtTimeoutObject, ObjectName, Timeouts};
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
                w.put_cstr(CTA_TIMEOUT_NAME, object.name.as_str());
                put_policy(&mut w, object.l3, object.l4, &object.timeouts);
            }
            Self::Get { name } | Self::Delete { name: Some(name) } => {
                w.put_cstr(CTA_TIMEOUT_NAME, name.as_str())
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
        let need_name = || fields.name.clone().ok_or_else(|| ParseError("missing CTA_TIMEOUT_NAME".into()));
        let need_protos = || match (fields.l3, fields.l4) {
            (Some(l3), Some(l4)) => Ok((l3, l4)),
            _ => Err(ParseError("missing CTA_TIMEOUT_L3PROTO or L4PROTO".into())),
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
                let name = ObjectName::new(&need_name()?).map_err(|e| ParseError(e.to_string()))?;
                let object =
                    CtTimeoutObject { name, l3, l4, timeouts: fields.timeouts, use_count: fields.use_count };
                Self::New { object, mode }
            }
            IPCTNL_MSG_TIMEOUT_GET if header.flags & NLM_F_DUMP == NLM_F_DUMP => Self::Dump,
            IPCTNL_MSG_TIMEOUT_GET => {
                Self::Get { name: ObjectName::new(&need_name()?).map_err(|e| ParseError(e.to_string()))? }
            }
            IPCTNL_MSG_TIMEOUT_DELETE => Self::Delete {
                name: fields
                    .name
                    .as_deref()
                    .map(ObjectName::new)
                    .transpose()
                    .map_err(|e| ParseError(e.to_string()))?,
            },
            IPCTNL_MSG_TIMEOUT_DEFAULT_GET => {
                let (l3, l4) = need_protos()?;
                Self::DefaultGet { l3, l4 }
            }
            IPCTNL_MSG_TIMEOUT_DEFAULT_SET => {
                let (l3, l4) = need_protos()?;
                Self::DefaultSet { l3, l4, timeouts: fields.timeouts }
            }
            other => return Err(ParseError(format!("unknown cttimeout command {other}"))),
        })
    }
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
        return Err(ParseError(format!("message type {:#06x} is not cttimeout", header.kind)));
    }
    Ok(header.kind as u8)
}

/// The attributes of any cttimeout message.
#[derive(Default)]
struct Fields {
    name: Option<String>,
    l3: Option<L3Proto>,
    l4: Option<L4Proto>,
    use_count: Option<u32>,
    timeouts: Timeouts,
}

impl Fields {
    fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut f = Fields::default();
        for attr in AttrIter::new(body) {
            let attr = attr?;
            match attr.kind {
                CTA_TIMEOUT_NAME => f.name = Some(attr.cstr()?.to_owned()),
                CTA_TIMEOUT_L3PROTO => f.l3 = Some(L3Proto(attr.be16()?)),
                CTA_TIMEOUT_L4PROTO => f.l4 = Some(L4Proto(attr.u8()?)),
                CTA_TIMEOUT_USE => f.use_count = Some(attr.be32()?),
                CTA_TIMEOUT_DATA => {
                    for state in attr.nested() {
                        let state = state?;
                        f.timeouts.insert(state.kind, state.be32()?);
                    }
                }
                _ => {} // newer kernels may add attributes
            }
        }
        Ok(f)
    }
}

/// Parses one object from a kernel reply (a `NEW` message from GET or dump).
pub fn parse_object(buf: &[u8]) -> Result<CtTimeoutObject, ParseError> {
    let (header, body) = split(buf)?;
    if check_type(&header)? != IPCTNL_MSG_TIMEOUT_NEW {
        return Err(ParseError(format!("expected a cttimeout NEW message, got type {:#06x}", header.kind)));
    }
    let f = Fields::parse(&body)?;
    let name = f.name.ok_or_else(|| ParseError("object without a name".into()))?;
    Ok(CtTimeoutObject {
        // The kernel only holds names it validated; keep what it says.
        name: ObjectName::new(&name).map_err(|e| ParseError(e.to_string()))?,
        l3: f.l3.ok_or_else(|| ParseError(format!("object {name} without L3 protocol")))?,
        l4: f.l4.ok_or_else(|| ParseError(format!("object {name} without L4 protocol")))?,
        timeouts: f.timeouts,
        use_count: f.use_count,
    })
}

/// Parses the kernel's answer to `DEFAULT_GET` (a `DEFAULT_SET` message).
pub fn parse_defaults(buf: &[u8]) -> Result<(L3Proto, L4Proto, Timeouts), ParseError> {
    let (header, body) = split(buf)?;
    if check_type(&header)? != IPCTNL_MSG_TIMEOUT_DEFAULT_SET {
        return Err(ParseError(format!(
            "expected a cttimeout DEFAULT_SET message, got type {:#06x}",
            header.kind
        )));
    }
    let f = Fields::parse(&body)?;
    match (f.l3, f.l4) {
        (Some(l3), Some(l4)) => Ok((l3, l4, f.timeouts)),
        _ => Err(ParseError("defaults without L3/L4 protocol".into())),
    }
}
