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

/// What is wrong with a message, attribute or flow text, with the context
/// that names it: a malformed kernel reply is reported, never guessed at.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("truncated {what}")]
    Truncated { what: &'static str },
    #[error("{what} has bad length {len}")]
    BadLength { what: &'static str, len: usize },
    #[error("attribute {kind} has {got} bytes, expected {want}")]
    AttrSize { kind: u16, got: usize, want: usize },
    #[error("attribute {kind} is not UTF-8")]
    NotUtf8 { kind: u16 },
    #[error("{context} lacks {what}")]
    Missing { what: &'static str, context: String },
    #[error("expected {want}, got message type {got:#06x}")]
    UnexpectedType { want: &'static str, got: u16 },
    #[error("unsupported {what} {value}")]
    Unsupported { what: &'static str, value: String },
    /// neli could not decode the message.
    #[error("malformed {what}: {cause}")]
    Decode { what: &'static str, cause: String },
    /// `name` is shown escaped.
    #[error("object name \"{name}\": {cause}")]
    BadName { name: String, cause: String },
    /// A flow or action in ovs-dpctl syntax that does not parse.
    #[error("{0}")]
    Syntax(String),
}
