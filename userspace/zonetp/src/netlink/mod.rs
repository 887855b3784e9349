//! Netlink for zonetp: neli underneath (the socket, message framing, acks
//! and errors, generic-netlink family resolution), zonetp's own attribute
//! codec and typed messages on top, and a socket that batches requests.
//! Shared by the cttimeout and ctnetlink (nfnetlink) and OVS (generic
//! netlink) clients.

pub mod attr;
pub mod message;
pub mod socket;

pub use attr::{align4, Attr, AttrIter, AttrWriter};
pub use message::{MessageBuilder, NfGenMsg, NlMsgHeader};
pub use socket::{NetlinkSocket, Outcome};

/// A message or attribute the kernel (or a test) handed us is malformed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ParseError {}
