//! Generic netlink: the `genlmsghdr` and family-id resolution through
//! `nlctrl` (`CTRL_CMD_GETFAMILY`).

use crate::error::{Error, Op, Result};
use crate::netlink::message::{NLMSG_HDRLEN, NLM_F_ACK, NLM_F_REQUEST};
use crate::netlink::{AttrIter, AttrWriter, MessageBuilder, NetlinkSocket, ParseError};

pub const GENL_ID_CTRL: u16 = 0x10;
pub const GENL_HDRLEN: usize = 4;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

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
    let len = crate::netlink::NlMsgHeader::parse(buf)?.len as usize;
    if len < NLMSG_HDRLEN + GENL_HDRLEN || len > buf.len() {
        return Err(ParseError(format!("generic netlink message has bad length {len}")));
    }
    Ok((buf[NLMSG_HDRLEN], &buf[NLMSG_HDRLEN + GENL_HDRLEN..len]))
}

/// Resolves a generic netlink family name to its id.
pub fn resolve_family(sock: &mut NetlinkSocket, name: &str) -> Result<u16> {
    let mut m = genl_message(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, CTRL_CMD_GETFAMILY, 1);
    AttrWriter::new(m.buf()).put_cstr(CTRL_ATTR_FAMILY_NAME, name);
    let out = sock.transact(vec![m.finish()])?.pop().expect("one outcome");
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
    let reply = out.replies.first().ok_or_else(|| ParseError(format!("no answer for family {name}")))?;
    let (_, body) = split_genl(reply)?;
    for attr in AttrIter::new(body) {
        let attr = attr?;
        if attr.kind == CTRL_ATTR_FAMILY_ID {
            return Ok(attr.u16()?);
        }
    }
    Err(ParseError(format!("family {name} without an id")).into())
}
