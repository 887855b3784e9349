//! A blocking netlink socket that sends batches of requests in few
//! datagrams and matches every reply to its request by sequence number.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::message::{
    messages, set_seq, ErrorMessage, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_DUMP_INTR,
};
use super::ParseError;

pub const NETLINK_GENERIC: i32 = 16;
pub const NETLINK_NETFILTER: i32 = 12;

const SOL_NETLINK: i32 = 270;
const NETLINK_CAP_ACK: i32 = 10;
const NETLINK_EXT_ACK: i32 = 11;
const NETLINK_GET_STRICT_CHK: i32 = 12;

/// How many requests go into one datagram. Each answer is small (a capped
/// ack is 36 bytes), so a batch fits the default receive buffer many times.
const BATCH: usize = 64;
const RECV_BUF: usize = 64 * 1024;

/// The kernel's answer to one request.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Whole reply messages (headers included) other than the final ack.
    pub replies: Vec<Vec<u8>>,
    /// `Err` with the kernel's errno and extended-ack text.
    pub status: Result<(), ErrorMessage>,
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome { replies: Vec::new(), status: Ok(()) }
    }
}

#[derive(Debug)]
pub enum TransactError {
    Io(io::Error),
    Parse(ParseError),
}

impl From<io::Error> for TransactError {
    fn from(e: io::Error) -> Self {
        TransactError::Io(e)
    }
}
impl From<ParseError> for TransactError {
    fn from(e: ParseError) -> Self {
        TransactError::Parse(e)
    }
}

/// An `AF_NETLINK` socket of one protocol.
pub struct NetlinkSocket {
    fd: OwnedFd,
    port_id: u32,
    next_seq: u32,
}

impl NetlinkSocket {
    pub fn open(protocol: i32) -> io::Result<Self> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: an all-zero sockaddr_nl is valid (pid 0: the kernel picks the port).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        let addr_len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: `addr` is a valid sockaddr_nl of `addr_len` bytes.
        if unsafe { libc::bind(fd.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, addr_len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut len = addr_len;
        // SAFETY: getsockname writes at most `len` bytes into `addr`.
        if unsafe { libc::getsockname(fd.as_raw_fd(), &mut addr as *mut _ as *mut libc::sockaddr, &mut len) }
            < 0
        {
            return Err(io::Error::last_os_error());
        }
        let sock = Self { fd, port_id: addr.nl_pid, next_seq: 1 };
        // Best effort: older kernels lack these options and still work.
        let _ = sock.set_opt(NETLINK_EXT_ACK, 1);
        let _ = sock.set_opt(NETLINK_CAP_ACK, 1);
        let _ = sock.set_opt(NETLINK_GET_STRICT_CHK, 0);
        Ok(sock)
    }

    fn set_opt(&self, opt: i32, value: i32) -> io::Result<()> {
        // SAFETY: `value` is a live i32 and its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                SOL_NETLINK,
                opt,
                &value as *const i32 as *const libc::c_void,
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn port_id(&self) -> u32 {
        self.port_id
    }

    fn send(&self, bytes: &[u8]) -> io::Result<()> {
        // SAFETY: a zeroed sockaddr_nl addresses the kernel (pid 0).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        loop {
            // SAFETY: `bytes` and `addr` are valid for the lengths passed.
            let rc = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    bytes.as_ptr() as *const libc::c_void,
                    bytes.len(),
                    0,
                    &addr as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if rc >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is writable for its length.
            let rc = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if rc >= 0 {
                let n = rc as usize;
                if n > buf.len() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "netlink reply truncated"));
                }
                return Ok(n);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// Sends every request (each must carry `NLM_F_ACK`, or be a dump) and
    /// returns one outcome per request, in order. Requests go out in
    /// datagrams of up to `BATCH` messages, not one round trip each.
    pub fn transact(&mut self, requests: Vec<Vec<u8>>) -> Result<Vec<Outcome>, TransactError> {
        self.transact_with_progress(requests, &mut |_, _| {})
    }

    /// `transact`, calling `progress(done, total)` once a datagram's
    /// requests are all answered.
    pub fn transact_with_progress(
        &mut self,
        mut requests: Vec<Vec<u8>>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Outcome>, TransactError> {
        let mut outcomes: Vec<Outcome> = (0..requests.len()).map(|_| Outcome::default()).collect();
        let mut buf = vec![0u8; RECV_BUF];
        let mut start = 0;
        while start < requests.len() {
            let end = (start + BATCH).min(requests.len());
            let mut pending: HashMap<u32, usize> = HashMap::new();
            let mut datagram = Vec::new();
            for (i, req) in requests[start..end].iter_mut().enumerate() {
                let seq = self.next_seq;
                self.next_seq = self.next_seq.wrapping_add(1).max(1);
                set_seq(req, seq);
                pending.insert(seq, start + i);
                datagram.extend_from_slice(req);
            }
            self.send(&datagram)?;
            while !pending.is_empty() {
                let n = self.recv(&mut buf)?;
                for msg in messages(&buf[..n]) {
                    let msg = msg?;
                    let Some(&index) = pending.get(&msg.header.seq) else {
                        continue; // a stray answer to an earlier, abandoned request
                    };
                    let outcome = &mut outcomes[index];
                    match msg.header.kind {
                        NLMSG_NOOP => {}
                        NLMSG_ERROR => {
                            let err = ErrorMessage::parse(&msg.header, msg.payload)?;
                            if err.errno != 0 {
                                outcome.status = Err(err);
                            }
                            pending.remove(&msg.header.seq);
                        }
                        NLMSG_DONE => {
                            // A dump's end; its payload may carry an error.
                            if msg.payload.len() >= 4 {
                                let e = i32::from_ne_bytes(msg.payload[0..4].try_into().unwrap());
                                if e < 0 {
                                    outcome.status = Err(ErrorMessage { errno: -e, text: None });
                                }
                            }
                            if msg.header.flags & NLM_F_DUMP_INTR != 0 && outcome.status.is_ok() {
                                outcome.status = Err(ErrorMessage {
                                    errno: libc::EINTR,
                                    text: Some("dump interrupted by a concurrent change".into()),
                                });
                            }
                            pending.remove(&msg.header.seq);
                        }
                        NLMSG_OVERRUN => return Err(io::Error::other("netlink overrun").into()),
                        _ => {
                            outcome.replies.push(buf_msg(&msg.header, msg.payload));
                        }
                    }
                }
            }
            start = end;
            progress(end, requests.len());
        }
        Ok(outcomes)
    }
}

fn buf_msg(h: &super::message::NlMsgHeader, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + payload.len());
    v.extend_from_slice(&h.len.to_ne_bytes());
    v.extend_from_slice(&h.kind.to_ne_bytes());
    v.extend_from_slice(&h.flags.to_ne_bytes());
    v.extend_from_slice(&h.seq.to_ne_bytes());
    v.extend_from_slice(&h.pid.to_ne_bytes());
    v.extend_from_slice(payload);
    v
}
