//! Netlink message framing (`struct nlmsghdr`), the netfilter header
//! (`struct nfgenmsg`) and kernel error/ack messages.

use super::attr::{align4, AttrIter};
use super::ParseError;

pub const NLMSG_HDRLEN: usize = 16;

pub const NLM_F_REQUEST: u16 = 0x01;
pub const NLM_F_MULTI: u16 = 0x02;
pub const NLM_F_ACK: u16 = 0x04;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
/// In an ack: extended-ack TLVs follow the echoed header.
pub const NLM_F_ACK_TLVS: u16 = 0x200;
/// In an ack: the echoed request was cut to its header.
pub const NLM_F_CAPPED: u16 = 0x100;

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;

const NLMSGERR_ATTR_MSG: u16 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NlMsgHeader {
    pub len: u32,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

impl NlMsgHeader {
    pub fn parse(buf: &[u8]) -> Result<Self, ParseError> {
        if buf.len() < NLMSG_HDRLEN {
            return Err(ParseError("truncated netlink header".into()));
        }
        let u32_at = |i: usize| u32::from_ne_bytes(buf[i..i + 4].try_into().unwrap());
        let u16_at = |i: usize| u16::from_ne_bytes(buf[i..i + 2].try_into().unwrap());
        Ok(Self { len: u32_at(0), kind: u16_at(4), flags: u16_at(6), seq: u32_at(8), pid: u32_at(12) })
    }
}

/// Builds one netlink message: header, family header, attributes.
pub struct MessageBuilder {
    buf: Vec<u8>,
}

impl MessageBuilder {
    pub fn new(kind: u16, flags: u16, seq: u32) -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        Self { buf }
    }

    /// Appends a fixed header (nfgenmsg, genlmsghdr, ovs_header...), padded.
    pub fn header(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// Rewrites the sequence number of an encoded message.
pub fn set_seq(msg: &mut [u8], seq: u32) {
    msg[8..12].copy_from_slice(&seq.to_ne_bytes());
}

/// `struct nfgenmsg`: address family, version, resource id (big endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NfGenMsg {
    pub family: u8,
    pub version: u8,
    pub res_id: u16,
}

impl NfGenMsg {
    pub const LEN: usize = 4;

    pub fn bytes(&self) -> [u8; 4] {
        let r = self.res_id.to_be_bytes();
        [self.family, self.version, r[0], r[1]]
    }

    pub fn parse(buf: &[u8]) -> Result<Self, ParseError> {
        if buf.len() < Self::LEN {
            return Err(ParseError("truncated nfgenmsg".into()));
        }
        Ok(Self { family: buf[0], version: buf[1], res_id: u16::from_be_bytes([buf[2], buf[3]]) })
    }
}

/// One message out of a received datagram.
#[derive(Clone, Debug)]
pub struct RawMessage<'a> {
    pub header: NlMsgHeader,
    /// Everything after the netlink header.
    pub payload: &'a [u8],
}

/// Splits a datagram into its messages.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Result<RawMessage<'_>, ParseError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let header = match NlMsgHeader::parse(rest) {
            Ok(h) => h,
            Err(e) => {
                rest = &[];
                return Some(Err(e));
            }
        };
        let len = header.len as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            rest = &[];
            return Some(Err(ParseError(format!("netlink message has bad length {len}"))));
        }
        let msg = RawMessage { header, payload: &rest[NLMSG_HDRLEN..len] };
        rest = &rest[align4(len).min(rest.len())..];
        Some(Ok(msg))
    })
}

/// The body of an `NLMSG_ERROR` message: errno 0 is an ack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorMessage {
    /// Positive errno, 0 for an ack.
    pub errno: i32,
    /// The kernel's extended-ack text, when it gave one.
    pub text: Option<String>,
}

impl ErrorMessage {
    pub fn parse(header: &NlMsgHeader, payload: &[u8]) -> Result<Self, ParseError> {
        if payload.len() < 4 + NLMSG_HDRLEN {
            return Err(ParseError("truncated netlink error message".into()));
        }
        let err = i32::from_ne_bytes(payload[0..4].try_into().unwrap());
        let echoed = NlMsgHeader::parse(&payload[4..])?;
        let mut text = None;
        if header.flags & NLM_F_ACK_TLVS != 0 {
            let echoed_len =
                if header.flags & NLM_F_CAPPED != 0 { NLMSG_HDRLEN } else { echoed.len as usize };
            let start = (4 + align4(echoed_len)).min(payload.len());
            for attr in AttrIter::new(&payload[start..]).flatten() {
                if attr.kind == NLMSGERR_ATTR_MSG {
                    text = attr.cstr().ok().map(str::to_owned);
                }
            }
        }
        Ok(Self { errno: -err, text })
    }
}
