//! `CtTimeoutClient`: cttimeout objects in the kernel of the caller's
//! network namespace, over one `NETLINK_NETFILTER` socket.

use super::message::{parse_defaults, parse_object, CtTimeoutRequest, NewMode};
use super::object::{check_timeouts, max_timeout_seconds, CtTimeoutObject, ObjectName, Timeouts};
use super::proto::{L3Proto, L4Proto};
use crate::error::{Error, Op, Result};
use crate::netlink::socket::NETLINK_NETFILTER;
use crate::netlink::{NetlinkSocket, Outcome};

/// Called with (requests answered, requests in the batch) as a batch goes.
/// `Send`, so a client with progress can run on a worker thread
/// (`sync --watch`).
pub type ProgressFn = Box<dyn FnMut(usize, usize) + Send>;

pub struct CtTimeoutClient {
    sock: NetlinkSocket,
    max_seconds: u32,
    progress: Option<ProgressFn>,
    /// Requests sent since the client was opened (not counting those
    /// refused before sending).
    sent: u64,
}

impl CtTimeoutClient {
    pub fn open() -> Result<Self> {
        Ok(Self {
            sock: NetlinkSocket::open(NETLINK_NETFILTER)?,
            max_seconds: max_timeout_seconds(),
            progress: None,
            sent: 0,
        })
    }

    /// Reports the progress of every batch to `f` (a sync of thousands of
    /// objects shows it on a terminal).
    pub fn set_progress(&mut self, f: Option<ProgressFn>) {
        self.progress = f;
    }

    /// The largest timeout this kernel stores without wrapping.
    pub fn max_seconds(&self) -> u32 {
        self.max_seconds
    }

    /// How many requests this client has sent: the agent reports the
    /// difference per pass, so how much of the kernel a pass touched is
    /// counted, not guessed from its time.
    pub fn requests_sent(&self) -> u64 {
        self.sent
    }

    /// Checks a request before it is sent: names were checked when built,
    /// values are checked against the kernel's `seconds * HZ` range here.
    pub fn validate(&self, req: &CtTimeoutRequest) -> Result<()> {
        match req {
            CtTimeoutRequest::New { object, .. } => {
                check_timeouts(object.l4, &object.timeouts, self.max_seconds)
            }
            CtTimeoutRequest::DefaultSet { l4, timeouts, .. } => {
                check_timeouts(*l4, timeouts, self.max_seconds)
            }
            _ => Ok(()),
        }
    }

    /// Sends many requests in few datagrams and returns one result per
    /// request, each with its replies. Invalid requests are not sent.
    pub fn batch(&mut self, requests: &[CtTimeoutRequest]) -> Result<Vec<Result<Vec<Vec<u8>>>>> {
        for r in requests {
            self.validate(r)?;
        }
        let encoded = requests.iter().map(|r| r.emit(0)).collect();
        self.sent += requests.len() as u64;
        let outcomes = match self.progress.as_mut() {
            Some(f) => self.sock.transact_with_progress(encoded, f.as_mut())?,
            None => self.sock.transact(encoded)?,
        };
        Ok(requests.iter().zip(outcomes).map(|(req, out)| into_result(req, out)).collect())
    }

    fn one(&mut self, request: CtTimeoutRequest) -> Result<Vec<Vec<u8>>> {
        self.batch(std::slice::from_ref(&request))?.pop().expect("one outcome per request")
    }

    pub fn create(&mut self, object: &CtTimeoutObject) -> Result<()> {
        self.one(CtTimeoutRequest::New { object: object.clone(), mode: NewMode::Create }).map(drop)
    }

    pub fn replace(&mut self, object: &CtTimeoutObject) -> Result<()> {
        self.one(CtTimeoutRequest::New { object: object.clone(), mode: NewMode::Replace }).map(drop)
    }

    pub fn get(&mut self, name: &ObjectName) -> Result<CtTimeoutObject> {
        let replies = self.one(CtTimeoutRequest::Get { name: name.clone() })?;
        let first = replies.first().ok_or_else(|| Error::Kernel {
            op: Op::Get,
            what: format!("timeout \"{name}\""),
            errno: libc::ENOENT,
            text: None,
        })?;
        Ok(parse_object(first)?)
    }

    pub fn list(&mut self) -> Result<Vec<CtTimeoutObject>> {
        let replies = self.one(CtTimeoutRequest::Dump)?;
        replies.iter().map(|r| parse_object(r).map_err(Error::from)).collect()
    }

    pub fn delete(&mut self, name: &ObjectName) -> Result<()> {
        self.one(CtTimeoutRequest::Delete { name: Some(name.clone()) }).map(drop)
    }

    /// `DELETE` without a name: the kernel drops every object it can.
    pub fn delete_all(&mut self) -> Result<()> {
        self.one(CtTimeoutRequest::Delete { name: None }).map(drop)
    }

    pub fn default_get(&mut self, l3: L3Proto, l4: L4Proto) -> Result<Timeouts> {
        let replies = self.one(CtTimeoutRequest::DefaultGet { l3, l4 })?;
        let first = replies.first().ok_or_else(|| {
            Error::Parse(crate::netlink::ParseError::Missing {
                what: "DEFAULT_SET reply",
                context: format!("defaults of {l3} {l4}"),
            })
        })?;
        Ok(parse_defaults(first)?.2)
    }

    pub fn default_set(&mut self, l3: L3Proto, l4: L4Proto, timeouts: &Timeouts) -> Result<()> {
        self.one(CtTimeoutRequest::DefaultSet { l3, l4, timeouts: timeouts.clone() }).map(drop)
    }
}

fn into_result(req: &CtTimeoutRequest, out: Outcome) -> Result<Vec<Vec<u8>>> {
    match out.status {
        Ok(()) => Ok(out.replies),
        Err(e) => {
            let (op, what) = describe(req);
            Err(Error::Kernel { op, what, errno: e.errno, text: e.text })
        }
    }
}

fn describe(req: &CtTimeoutRequest) -> (Op, String) {
    match req {
        CtTimeoutRequest::New { object, mode } => (
            if *mode == NewMode::Create { Op::Create } else { Op::Replace },
            format!("timeout \"{}\" ({} {})", object.name, object.l3, object.l4),
        ),
        CtTimeoutRequest::Get { name } => (Op::Get, format!("timeout \"{name}\"")),
        CtTimeoutRequest::Dump => (Op::List, "timeouts".into()),
        CtTimeoutRequest::Delete { name: Some(name) } => (Op::Delete, format!("timeout \"{name}\"")),
        CtTimeoutRequest::Delete { name: None } => (Op::Delete, "all timeouts".into()),
        CtTimeoutRequest::DefaultGet { l3, l4 } => (Op::DefaultGet, format!("{l3} {l4}")),
        CtTimeoutRequest::DefaultSet { l3, l4, .. } => (Op::DefaultSet, format!("{l3} {l4}")),
    }
}
