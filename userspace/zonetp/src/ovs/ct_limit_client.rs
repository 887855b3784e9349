//! `CtLimitClient`: openvswitch.ko's conntrack zone limits
//! ([`super::ct_limit`]) over generic netlink.

use crate::error::{Error, Op, Result};
use crate::netlink::socket::NETLINK_GENERIC;
use crate::netlink::NetlinkSocket;

use super::ct_limit::{parse_reply, CtLimitRequest, LimitTarget, ZoneLimit, OVS_CT_LIMIT_FAMILY};
use super::genl::resolve_family;

pub struct CtLimitClient {
    sock: NetlinkSocket,
    family: u16,
}

impl CtLimitClient {
    /// Fails with ENOENT (`Error::errno`) when openvswitch.ko is not there
    /// (the kernel tried to load it).
    pub fn open() -> Result<Self> {
        let mut sock = NetlinkSocket::open(NETLINK_GENERIC)?;
        let family = resolve_family(&mut sock, OVS_CT_LIMIT_FAMILY)?;
        Ok(Self { sock, family })
    }

    /// Sends each of the request's messages on its own (a `SET` of 4096
    /// entries is 49 KB: several in one datagram could pass the socket's
    /// send buffer); the first refusal ends it.
    fn call(&mut self, req: CtLimitRequest, verb: &'static str) -> Result<Vec<ZoneLimit>> {
        let mut limits = Vec::new();
        for message in req.emit(self.family) {
            let out = self.sock.transact(vec![message])?.pop().expect("one outcome");
            if let Err(e) = out.status {
                return Err(Error::Kernel {
                    op: Op::Other(verb),
                    what: "conntrack zone limits".to_owned(),
                    errno: e.errno,
                    text: e.text,
                });
            }
            for reply in &out.replies {
                limits.extend(parse_reply(reply)?);
            }
        }
        Ok(limits)
    }

    /// In messages of at most 4096 entries.
    pub fn set(&mut self, limits: &[(LimitTarget, u32)]) -> Result<()> {
        self.call(CtLimitRequest::Set(limits.to_vec()), "set").map(drop)
    }

    /// In messages of at most 4096 entries.
    pub fn del(&mut self, targets: &[LimitTarget]) -> Result<()> {
        self.call(CtLimitRequest::Del(targets.to_vec()), "delete").map(drop)
    }

    /// The default limit and every zone that has one, with their counts.
    /// The kernel answers EMSGSIZE when they do not fit its one-page
    /// reply (a few hundred limits): callers fall back to [`Self::get`].
    pub fn get_all(&mut self) -> Result<Vec<ZoneLimit>> {
        self.call(CtLimitRequest::Get(None), "get")
    }

    /// `targets`' limits (a zone without one: the default's) and counts,
    /// in messages of at most 256 zones.
    pub fn get(&mut self, targets: &[LimitTarget]) -> Result<Vec<ZoneLimit>> {
        self.call(CtLimitRequest::Get(Some(targets.to_vec())), "get")
    }
}
