//! Generic netlink: the `genlmsghdr` of OVS messages, and family-id
//! resolution through `nlctrl` with neli's typed control messages
//! (`CTRL_CMD_GETFAMILY`), sent through zonetp's socket.

use std::io::Cursor;

use neli::consts::genl::{CtrlAttr, CtrlCmd};
use neli::consts::nl::{GenlId, NlmF};
use neli::genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, NlattrBuilder};
use neli::nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder};
use neli::types::GenlBuffer;
use neli::{FromBytes, ToBytes};

use crate::error::{Error, Op, Result};
use crate::netlink::message::{parse_message, NLMSG_HDRLEN};
use crate::netlink::{MessageBuilder, NetlinkSocket, ParseError};

pub const GENL_HDRLEN: usize = 4;

/// `struct genlmsghdr`: command, version, reserved.
pub fn genl_header(cmd: u8, version: u8) -> [u8; 4] {
    [cmd, version, 0, 0]
}

/// Starts a generic netlink message for `family`.
pub fn genl_message(family: u16, flags: u16, cmd: u8, version: u8) -> MessageBuilder {
    let mut m = MessageBuilder::new(family, flags, 0);
    m.header(&genl_header(cmd, version));
    m
}

/// Splits a generic netlink message into (cmd, body after genlmsghdr).
pub fn split_genl(buf: &[u8]) -> Result<(u8, &[u8]), ParseError> {
    let len = parse_message(buf)?.0.len as usize;
    if len < NLMSG_HDRLEN + GENL_HDRLEN || len > buf.len() {
        return Err(ParseError::BadLength { what: "generic netlink message", len });
    }
    Ok((buf[NLMSG_HDRLEN], &buf[NLMSG_HDRLEN + GENL_HDRLEN..len]))
}

type CtrlMessage = Nlmsghdr<GenlId, Genlmsghdr<CtrlCmd, CtrlAttr>>;

/// `CTRL_CMD_GETFAMILY` for `name`, as neli's router builds it.
fn getfamily_request(name: &str) -> Vec<u8> {
    let attr = NlattrBuilder::default()
        .nla_type(AttrTypeBuilder::default().nla_type(CtrlAttr::FamilyName).build().expect("type set"))
        .nla_payload(name)
        .build()
        .expect("a string attribute");
    let genl = GenlmsghdrBuilder::default()
        .cmd(CtrlCmd::Getfamily)
        .version(2)
        .attrs(std::iter::once(attr).collect::<GenlBuffer<_, _>>())
        .build()
        .expect("command, version and attributes set");
    let msg: CtrlMessage = NlmsghdrBuilder::default()
        .nl_type(GenlId::Ctrl)
        .nl_flags(NlmF::REQUEST | NlmF::ACK)
        .nl_payload(NlPayload::Payload(genl))
        .build()
        .expect("type, flags and payload set");
    let mut out = Cursor::new(Vec::new());
    msg.to_bytes(&mut out).expect("serializing into memory cannot fail");
    out.into_inner()
}

/// Reads `CTRL_ATTR_FAMILY_ID` out of the controller's answer.
fn family_id(reply: &[u8]) -> Result<Option<u16>, ParseError> {
    let msg = CtrlMessage::from_bytes(&mut Cursor::new(reply))
        .map_err(|e| ParseError::Decode { what: "nlctrl answer", cause: e.to_string() })?;
    let Some(genl) = msg.get_payload() else { return Ok(None) };
    Ok(genl.attrs().get_attr_handle().get_attr_payload_as::<u16>(CtrlAttr::FamilyId).ok())
}

/// Resolves a generic netlink family name to its id.
pub fn resolve_family(sock: &mut NetlinkSocket, name: &str) -> Result<u16> {
    let out = sock.transact(vec![getfamily_request(name)])?.pop().expect("one outcome");
    if let Err(e) = out.status {
        return Err(Error::Kernel {
            op: Op::Other("resolve generic netlink family"),
            what: name.to_owned(),
            errno: e.errno,
            text: Some(if e.errno == libc::ENOENT {
                format!(
                    "is the {} module loaded?",
                    if name.starts_with("ovs_") { "openvswitch" } else { "right" }
                )
            } else {
                e.text.unwrap_or_default()
            }),
        });
    }
    for reply in &out.replies {
        if let Some(id) = family_id(reply)? {
            return Ok(id);
        }
    }
    Err(ParseError::Missing { what: "CTRL_ATTR_FAMILY_ID", context: format!("family {name}") }.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request is what libnl's genl_ctrl_resolve sends, byte for byte
    /// (but version 2, as neli and iproute2's genl do).
    #[test]
    fn getfamily_request_bytes() {
        let req = getfamily_request("ovs_flow");
        let mut want = vec![];
        want.extend_from_slice(&36u32.to_ne_bytes()); // nlmsg_len
        want.extend_from_slice(&0x10u16.to_ne_bytes()); // GENL_ID_CTRL
        want.extend_from_slice(&5u16.to_ne_bytes()); // REQUEST|ACK
        want.extend_from_slice(&[0; 8]); // seq, pid
        want.extend_from_slice(&[3, 2, 0, 0]); // CTRL_CMD_GETFAMILY, version 2
        want.extend_from_slice(&13u16.to_ne_bytes()); // nla_len
        want.extend_from_slice(&2u16.to_ne_bytes()); // CTRL_ATTR_FAMILY_NAME
        want.extend_from_slice(b"ovs_flow\0\0\0\0");
        assert_eq!(req, want);
    }
}
