//! Netlink message framing with neli: every message zonetp sends is a
//! neli `Nlmsghdr` (neli computes the length and pads), the netfilter
//! header (`struct nfgenmsg`) is a neli-derived payload, and replies are
//! decoded by neli into payloads, acks, errors with their extended-ack
//! text, and dump ends. zonetp's own code (`attr.rs` and the typed
//! messages) writes and reads the attributes inside.

use std::io::Cursor;

use neli::consts::nl::{NlmF, NlmsgerrAttr};
use neli::err::DeError;
use neli::nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder};
use neli::types::{Buffer, GenlBuffer};
use neli::{FromBytes, Header, Size, ToBytes, TypeSize};

use super::attr::align4;
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

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;

fn malformed(what: &'static str, e: DeError) -> ParseError {
    ParseError::Decode { what, cause: e.to_string() }
}

/// The fields of a `struct nlmsghdr`, as read from a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NlMsgHeader {
    pub len: u32,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

impl NlMsgHeader {
    fn of<P>(m: &Nlmsghdr<u16, P>) -> Self {
        Self {
            len: *m.nl_len(),
            kind: *m.nl_type(),
            flags: m.nl_flags().bits(),
            seq: *m.nl_seq(),
            pid: *m.nl_pid(),
        }
    }
}

/// Frames `payload` (everything after the netlink header) as one message.
pub fn frame<P: Size + ToBytes>(kind: u16, flags: u16, seq: u32, payload: P) -> Vec<u8> {
    let msg = NlmsghdrBuilder::default()
        .nl_type(kind)
        .nl_flags(NlmF::from(flags))
        .nl_seq(seq)
        .nl_payload(NlPayload::Payload(payload))
        .build()
        .expect("type, flags and payload are set");
    let mut out = Cursor::new(Vec::with_capacity(msg.padded_size()));
    msg.to_bytes(&mut out).expect("serializing into memory cannot fail");
    out.into_inner()
}

/// Builds one netlink message: a fixed family header (genlmsghdr,
/// ovs_header...), then attributes written into `buf()`; neli frames it.
pub struct MessageBuilder {
    kind: u16,
    flags: u16,
    seq: u32,
    body: Vec<u8>,
}

impl MessageBuilder {
    pub fn new(kind: u16, flags: u16, seq: u32) -> Self {
        Self { kind, flags, seq, body: Vec::with_capacity(256) }
    }

    /// Appends a fixed header, padded.
    pub fn header(&mut self, bytes: &[u8]) -> &mut Self {
        self.body.extend_from_slice(bytes);
        self.body.resize(align4(self.body.len()), 0);
        self
    }

    /// The message body, for attribute writers.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }

    pub fn finish(self) -> Vec<u8> {
        frame(self.kind, self.flags, self.seq, Buffer::from(self.body))
    }
}

/// Rewrites the sequence number of an encoded message (the socket numbers
/// the requests of a batch as it sends them).
pub fn set_seq(msg: &mut [u8], seq: u32) {
    msg[8..12].copy_from_slice(&seq.to_ne_bytes());
}

/// A big-endian `u16` field for neli-derived structs (`nfgenmsg.res_id`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Be16(pub u16);

impl Size for Be16 {
    fn unpadded_size(&self) -> usize {
        2
    }
}
impl TypeSize for Be16 {
    fn type_size() -> usize {
        2
    }
}
impl ToBytes for Be16 {
    fn to_bytes(&self, buffer: &mut Cursor<Vec<u8>>) -> Result<(), neli::err::SerError> {
        std::io::Write::write_all(buffer, &self.0.to_be_bytes())?;
        Ok(())
    }
}
impl FromBytes for Be16 {
    fn from_bytes(buffer: &mut Cursor<impl AsRef<[u8]>>) -> Result<Self, DeError> {
        let mut b = [0u8; 2];
        std::io::Read::read_exact(buffer, &mut b)?;
        Ok(Be16(u16::from_be_bytes(b)))
    }
}

/// `struct nfgenmsg` and the attributes after it: the payload of every
/// nfnetlink message (cttimeout, ctnetlink).
#[derive(Clone, Debug, PartialEq, Eq, neli::Size, neli::ToBytes, neli::FromBytesWithInput, neli::Header)]
pub struct NfnlPayload {
    pub family: u8,
    pub version: u8,
    pub res_id: Be16,
    #[neli(input = "input.checked_sub(Self::header_size()).ok_or(DeError::InvalidInput(input))?")]
    pub attrs: Buffer,
}

/// The nfgenmsg fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NfGenMsg {
    pub family: u8,
    pub version: u8,
    pub res_id: u16,
}

impl NfGenMsg {
    pub const LEN: usize = 4;
}

/// An nfnetlink message: header, nfgenmsg, attributes (raw, for the
/// typed parsers).
#[derive(Clone, Debug)]
pub struct NfnlMessage {
    pub header: NlMsgHeader,
    pub nfgen: NfGenMsg,
    pub attrs: Vec<u8>,
}

/// Frames an nfnetlink message.
pub fn nfnl_message(kind: u16, flags: u16, seq: u32, nfgen: NfGenMsg, attrs: Vec<u8>) -> Vec<u8> {
    let payload = NfnlPayload {
        family: nfgen.family,
        version: nfgen.version,
        res_id: Be16(nfgen.res_id),
        attrs: Buffer::from(attrs),
    };
    frame(kind, flags, seq, payload)
}

/// Reads one nfnetlink message (a request or a reply that carries data).
pub fn parse_nfnl(buf: &[u8]) -> Result<NfnlMessage, ParseError> {
    let m = Nlmsghdr::<u16, NfnlPayload>::from_bytes(&mut Cursor::new(buf))
        .map_err(|e| malformed("nfnetlink message", e))?;
    let header = NlMsgHeader::of(&m);
    match m.get_payload() {
        Some(p) => Ok(NfnlMessage {
            header,
            nfgen: NfGenMsg { family: p.family, version: p.version, res_id: p.res_id.0 },
            attrs: p.attrs.as_ref().to_vec(),
        }),
        None => Err(ParseError::UnexpectedType { want: "an nfnetlink message", got: header.kind }),
    }
}

/// Reads one message: its header and the bytes after it.
pub fn parse_message(buf: &[u8]) -> Result<(NlMsgHeader, Vec<u8>), ParseError> {
    let m = Nlmsghdr::<u16, Buffer>::from_bytes(&mut Cursor::new(buf))
        .map_err(|e| malformed("netlink message", e))?;
    let header = NlMsgHeader::of(&m);
    match m.nl_payload() {
        NlPayload::Payload(p) => Ok((header, p.as_ref().to_vec())),
        _ => Ok((header, Vec::new())),
    }
}

/// The kernel's error or ack: errno 0 is an ack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorMessage {
    /// Positive errno, 0 for an ack.
    pub errno: i32,
    /// The kernel's extended-ack text, when it gave one.
    pub text: Option<String>,
}

/// One message of a received datagram, as neli decoded it.
#[derive(Clone, Debug)]
pub enum Received {
    /// Data for the request with this sequence number (whole message).
    Reply { seq: u32, message: Vec<u8> },
    /// The request's final answer: an ack (errno 0) or an error.
    Ack { seq: u32, result: ErrorMessage },
    /// The end of a dump, with its error and whether it was interrupted.
    DumpDone { seq: u32, result: ErrorMessage, interrupted: bool },
    /// NLMSG_NOOP.
    Noop,
    /// NLMSG_OVERRUN: the kernel dropped messages.
    Overrun,
}

fn ext_ack_text(attrs: &GenlBuffer<NlmsgerrAttr, Buffer>) -> Option<String> {
    attrs.iter().find(|a| *a.nla_type().nla_type() == NlmsgerrAttr::Msg).map(|a| {
        let bytes = a.nla_payload().as_ref();
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    })
}

/// Splits a datagram into its messages and decodes each with neli. Each
/// message is cut out by its own length first, so a message neli reads
/// short (an ack with trailing attributes) cannot shift the next one.
pub fn decode_datagram(buf: &[u8]) -> Result<Vec<Received>, ParseError> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        if rest.len() < NLMSG_HDRLEN {
            return Err(ParseError::Truncated { what: "netlink header" });
        }
        let len = u32::from_ne_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(ParseError::BadLength { what: "netlink message", len });
        }
        let raw = &rest[..len];
        rest = &rest[align4(len).min(rest.len())..];
        let m = Nlmsghdr::<u16, Buffer>::from_bytes(&mut Cursor::new(raw))
            .map_err(|e| malformed("netlink message", e))?;
        let seq = *m.nl_seq();
        let kind = *m.nl_type();
        let interrupted = m.nl_flags().contains(NlmF::DUMP_INTR);
        out.push(match (kind, m.nl_payload()) {
            (NLMSG_NOOP, _) => Received::Noop,
            (NLMSG_OVERRUN, _) => Received::Overrun,
            (_, NlPayload::Ack(_)) => Received::Ack { seq, result: ErrorMessage { errno: 0, text: None } },
            (_, NlPayload::Err(e)) => Received::Ack {
                seq,
                result: ErrorMessage { errno: -*e.error(), text: ext_ack_text(e.ext_ack()) },
            },
            (NLMSG_DONE, NlPayload::DumpExtAck(e)) => Received::DumpDone {
                seq,
                result: ErrorMessage { errno: -*e.error(), text: ext_ack_text(e.ext_ack()) },
                interrupted,
            },
            (NLMSG_DONE, payload) => {
                // A DONE without NLM_F_MULTI: neli hands over the raw
                // payload, whose first word is the dump's error, if any.
                let error = match payload {
                    NlPayload::Payload(p) if p.as_ref().len() >= 4 => {
                        i32::from_ne_bytes(p.as_ref()[0..4].try_into().expect("4 bytes"))
                    }
                    _ => 0,
                };
                Received::DumpDone { seq, result: ErrorMessage { errno: -error, text: None }, interrupted }
            }
            (NLMSG_ERROR, _) => return Err(ParseError::Truncated { what: "netlink error message" }),
            _ => Received::Reply { seq, message: raw.to_vec() },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::AttrWriter;

    /// A message as the kernel writes it.
    fn raw(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&1234u32.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize(align4(v.len()), 0);
        v
    }

    /// An NLMSG_ERROR echoing `request` in full (no NETLINK_CAP_ACK), with
    /// an extended-ack message when `text` is given.
    fn error(seq: u32, errno: i32, request: &[u8], text: Option<&str>) -> Vec<u8> {
        let mut p = (-errno).to_ne_bytes().to_vec();
        if errno == 0 {
            p.extend_from_slice(&request[..NLMSG_HDRLEN]);
        } else {
            p.extend_from_slice(request);
        }
        let mut flags = 0x100; // NLM_F_CAPPED on acks, as the kernel sets it
        if let Some(t) = text {
            flags = 0x200; // NLM_F_ACK_TLVS
            AttrWriter::new(&mut p).put_cstr(1, t);
        }
        if errno != 0 && text.is_none() {
            flags = 0;
        }
        raw(NLMSG_ERROR, flags, seq, &p)
    }

    #[test]
    fn acks_errors_replies_and_dump_ends_are_told_apart() {
        let req =
            nfnl_message(0x0800, 0x405, 7, NfGenMsg { family: 0, version: 0, res_id: 0 }, vec![1, 2, 3, 4]);
        let mut d = Vec::new();
        d.extend(raw(0x0800, NLM_F_MULTI, 9, &[2, 0, 0, 0, 8, 0, 1, 0, b'w', b'e', b'b', 0]));
        d.extend(error(7, 0, &req, None));
        d.extend(error(8, libc::EEXIST, &req, Some("object exists")));
        d.extend(error(10, libc::EBUSY, &req, None));
        d.extend(raw(NLMSG_DONE, NLM_F_MULTI, 9, &0i32.to_ne_bytes()));
        d.extend(raw(NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, 11, &0i32.to_ne_bytes()));
        d.extend(raw(NLMSG_DONE, NLM_F_MULTI, 12, &(-libc::ENOBUFS).to_ne_bytes()));
        d.extend(raw(NLMSG_NOOP, 0, 0, &[]));
        let got = decode_datagram(&d).unwrap();
        assert!(matches!(&got[0], Received::Reply { seq: 9, message } if message.len() == 28));
        let acks: Vec<_> = got
            .iter()
            .filter_map(|r| match r {
                Received::Ack { seq, result } => Some((*seq, result.errno, result.text.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            acks,
            vec![(7, 0, None), (8, libc::EEXIST, Some("object exists".into())), (10, libc::EBUSY, None)]
        );
        let dones: Vec<_> = got
            .iter()
            .filter_map(|r| match r {
                Received::DumpDone { seq, result, interrupted } => Some((*seq, result.errno, *interrupted)),
                _ => None,
            })
            .collect();
        assert_eq!(dones, vec![(9, 0, false), (11, 0, true), (12, libc::ENOBUFS, false)]);
        assert!(matches!(got.last(), Some(Received::Noop)));
    }

    #[test]
    fn truncated_or_garbage_datagrams_are_errors() {
        let good = raw(0x0800, 0, 1, &[0, 0, 0, 0]);
        assert!(decode_datagram(&good[..10]).is_err());
        let mut long = good.clone();
        long[0] = 200;
        assert!(
            decode_datagram(&long).unwrap_err()
                == ParseError::BadLength { what: "netlink message", len: 200 }
        );
        let mut short_error = raw(NLMSG_ERROR, 0, 1, &(-1i32).to_ne_bytes());
        short_error.truncate(20);
        assert!(decode_datagram(&short_error).is_err());
    }

    #[test]
    fn nfnetlink_messages_round_trip_through_neli() {
        let msg = nfnl_message(
            0x0801,
            0x301,
            5,
            NfGenMsg { family: 2, version: 0, res_id: 0x1234 },
            vec![8, 0, 1, 0, 1, 2, 3, 4],
        );
        assert_eq!(&msg[16..20], &[2, 0, 0x12, 0x34], "res_id is big endian");
        assert_eq!(msg.len(), 28);
        let m = parse_nfnl(&msg).unwrap();
        assert_eq!((m.header.kind, m.header.flags, m.header.seq, m.header.len), (0x0801, 0x301, 5, 28));
        assert_eq!(m.nfgen, NfGenMsg { family: 2, version: 0, res_id: 0x1234 });
        assert_eq!(m.attrs, vec![8, 0, 1, 0, 1, 2, 3, 4]);
        assert!(parse_nfnl(&msg[..18]).is_err());
    }
}
