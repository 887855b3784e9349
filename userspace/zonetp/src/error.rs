//! The library's error type. Kernel errors keep the errno and say what it
//! means for the operation that got it.

use std::io;

use crate::netlink::ParseError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What was asked of the kernel, to word its errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Replace,
    Get,
    List,
    Delete,
    DefaultGet,
    DefaultSet,
    /// A generic-netlink or OVS datapath request, described by the caller.
    Other(&'static str),
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Replace => "replace",
            Op::Get => "get",
            Op::List => "list",
            Op::Delete => "delete",
            Op::DefaultGet => "read defaults of",
            Op::DefaultSet => "set defaults of",
            Op::Other(v) => v,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Refused before anything was sent.
    #[error("{0}")]
    Invalid(String),
    #[error("cannot {} {what}: {}", op.verb(), cause(*op, *errno, text.as_deref()))]
    Kernel { op: Op, what: String, errno: i32, text: Option<String> },
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    #[error("malformed reply from the kernel: {0}")]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Store(String),
}

impl Error {
    /// The kernel's errno, for errors that came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

impl From<crate::netlink::socket::TransactError> for Error {
    fn from(e: crate::netlink::socket::TransactError) -> Self {
        match e {
            crate::netlink::socket::TransactError::Io(e) => Error::Io(e),
            crate::netlink::socket::TransactError::Parse(e) => Error::Parse(e),
        }
    }
}

/// The symbolic name of an errno, as a netfilter user knows it.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::ENOMEM => "ENOMEM",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ERANGE => "ERANGE",
        libc::E2BIG => "E2BIG",
        libc::ENOBUFS => "ENOBUFS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EFBIG => "EFBIG",
        _ => return format!("errno {errno}"),
    };
    name.to_owned()
}

fn cause(op: Op, errno: i32, text: Option<&str>) -> String {
    let meaning = match (op, errno) {
        (Op::Create, libc::EBUSY) | (Op::Create, libc::EEXIST) => {
            "a timeout object with this name already exists (use replace to change it)".to_owned()
        }
        (Op::Replace, libc::EINVAL) => {
            "the existing object has another L3/L4 protocol, which replace cannot change".to_owned()
        }
        (Op::Delete, libc::EBUSY) => "it is in use by a connection, rule or flow".to_owned(),
        (Op::Get | Op::Delete | Op::Replace, libc::ENOENT) => "no such timeout object".to_owned(),
        (_, libc::EOPNOTSUPP) => "the kernel does not track this L4 protocol".to_owned(),
        (_, libc::EPERM) => "operation not permitted (needs CAP_NET_ADMIN)".to_owned(),
        _ => io::Error::from_raw_os_error(errno).to_string(),
    };
    let mut s = format!("{meaning} ({})", errno_name(errno));
    if let Some(t) = text {
        s.push_str(": ");
        s.push_str(t);
    }
    s
}
