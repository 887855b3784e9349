//! A blocking netlink socket that sends batches of requests in few
//! datagrams and matches every reply to its request by sequence number.

use std::collections::HashMap;
use std::io;

use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;

use super::message::{decode_datagram, set_seq, ErrorMessage, Received};
use super::ParseError;

/// The netlink protocols zonetp speaks.
pub const NETLINK_GENERIC: NlFamily = NlFamily::Generic;
pub const NETLINK_NETFILTER: NlFamily = NlFamily::Netfilter;

/// How many requests go into one datagram. An ack of success is 36 bytes
/// and an error echoes its request (neli cannot parse capped acks, see
/// `open`), so a batch's answers stay far below the receive buffer.
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

/// An `AF_NETLINK` socket of one protocol: neli's `NlSocket` (socket,
/// bind, send, recv, socket options), driven here to batch requests.
pub struct NetlinkSocket {
    sock: NlSocket,
    port_id: u32,
    next_seq: u32,
}

impl NetlinkSocket {
    pub fn open(protocol: NlFamily) -> io::Result<Self> {
        let sock = NlSocket::connect(protocol, None, Groups::empty())?;
        let port_id = sock.pid()?;
        // Best effort: older kernels lack extended acks and still work.
        // NETLINK_CAP_ACK stays off: neli has no setter for it, and its
        // error parser reads the echoed request in full, which a capped ack
        // leaves out. Only error acks grow (by their request, at most a few
        // hundred bytes each). NETLINK_GET_STRICT_CHK is off by default.
        let _ = sock.enable_ext_ack(true);
        Ok(Self { sock, port_id, next_seq: 1 })
    }

    pub fn port_id(&self) -> u32 {
        self.port_id
    }

    fn send(&self, bytes: &[u8]) -> io::Result<()> {
        loop {
            match self.sock.send(bytes, Msg::empty()) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // MSG_TRUNC: the kernel reports a datagram's full length, so a
            // reply larger than the buffer is an error, not silently cut.
            match self.sock.recv(&mut *buf, Msg::TRUNC) {
                Ok((n, _)) if n > buf.len() => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "netlink reply truncated"))
                }
                Ok((n, _)) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
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
                for msg in decode_datagram(&buf[..n])? {
                    match msg {
                        Received::Noop => {}
                        Received::Overrun => return Err(io::Error::other("netlink overrun").into()),
                        Received::Reply { seq, message } => {
                            // A stray answer to an earlier, abandoned request is dropped.
                            if let Some(&index) = pending.get(&seq) {
                                outcomes[index].replies.push(message);
                            }
                        }
                        Received::Ack { seq, result } => {
                            if let Some(index) = pending.remove(&seq) {
                                if result.errno != 0 {
                                    outcomes[index].status = Err(result);
                                }
                            }
                        }
                        Received::DumpDone { seq, result, interrupted } => {
                            if let Some(index) = pending.remove(&seq) {
                                outcomes[index].status = if result.errno != 0 {
                                    Err(result)
                                } else if interrupted {
                                    Err(ErrorMessage {
                                        errno: libc::EINTR,
                                        text: Some("dump interrupted by a concurrent change".into()),
                                    })
                                } else {
                                    Ok(())
                                };
                            }
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
