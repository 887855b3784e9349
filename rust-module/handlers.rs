// SPDX-License-Identifier: GPL-2.0

//! The five nfnetlink cttimeout requests (NEW, GET incl. dump, DELETE,
//! DEFAULT_SET, DEFAULT_GET), with upstream 6.12's semantics.  All run
//! as NFNL_CB_MUTEX callbacks (process context, nfnl subsystem mutex held);
//! dump continuations run from recvmsg without it, under the table mutex.
//! Every reply is built as upstream's (same messages, attributes, order
//! and errors): the provider-diff VM test compares them byte for byte.

use core::ffi::c_int;

use kernel::error::from_result;
use kernel::prelude::*;

use crate::errno::EOPNOTSUPP;
use crate::ffi as b;
use crate::net::Net;
use crate::nlattr::{Attr, NlAttrs};
use crate::pernet;
use crate::skb::{OwnedSkb, SkbWriter};
use crate::table::{Entry, Key, NAME_MAX};
use crate::timeout::{L4Proto, Timeout};

const NAME: u32 = b::ctattr_timeout_CTA_TIMEOUT_NAME;
const L3PROTO: u32 = b::ctattr_timeout_CTA_TIMEOUT_L3PROTO;
const L4PROTO: u32 = b::ctattr_timeout_CTA_TIMEOUT_L4PROTO;
const DATA: u32 = b::ctattr_timeout_CTA_TIMEOUT_DATA;
const USE: u32 = b::ctattr_timeout_CTA_TIMEOUT_USE;
pub(crate) const ATTR_MAX: usize = b::ctattr_timeout___CTA_TIMEOUT_MAX as usize - 1;

/// `nfnl_msg_type(NFNL_SUBSYS_CTNETLINK_TIMEOUT, event)`.
fn msg_type(event: u32) -> u16 {
    ((b::NFNL_SUBSYS_CTNETLINK_TIMEOUT << 8) | event) as u16
}

/// The request, as the nfnetlink core hands it to a callback.
struct Request<'a> {
    skb: *mut b::sk_buff,
    info: &'a b::nfnl_info,
    net: &'a Net,
    attrs: NlAttrs<'a>,
}

impl<'a> Request<'a> {
    /// # Safety
    ///
    /// Arguments as passed to an nfnl callback whose `attr_count` is
    /// ATTR_MAX, valid for `'a` (the callback's duration).
    unsafe fn new(skb: *mut b::sk_buff, info: *const b::nfnl_info, cda: *const *const b::nlattr) -> Self {
        // SAFETY: `info` is valid for the callback (caller).
        let info = unsafe { &*info };
        Request {
            skb,
            info,
            // SAFETY: the request's namespace is live and set up while the
            // request is handled (its socket holds it).
            net: unsafe { Net::from_raw(info.net) },
            // SAFETY: `cda` has ATTR_MAX + 1 validated entries (caller).
            attrs: unsafe { NlAttrs::from_raw(cda, ATTR_MAX) },
        }
    }
    fn nlh(&self) -> &b::nlmsghdr {
        // SAFETY: the request header is valid for the callback.
        unsafe { &*self.info.nlh }
    }
    fn flags(&self) -> u32 {
        self.nlh().nlmsg_flags as u32
    }
    fn portid(&self) -> u32 {
        // SAFETY: the request skb is valid for the callback.
        unsafe { b::zonetp_compat_skb_portid(self.skb) }
    }
    fn attr(&self, ty: u32) -> Option<Attr<'a>> {
        self.attrs.get(ty)
    }
}

/// The C entry point nfnetlink calls for one message type: it builds the
/// `Request` view once and turns the handler's `Result` into an errno.
macro_rules! nfnl_entry {
    ($entry:ident => $handler:ident) => {
        /// An nfnl callback (`struct nfnl_callback.call`).
        ///
        /// # Safety
        ///
        /// Called only by the nfnetlink core, for a message of our
        /// subsystem, as an `NFNL_CB_MUTEX` callback (process context, the
        /// subsystem's nfnl mutex held): `skb` is the request, `info`
        /// describes it (its `net` live and set up, its `nlh` and `sk`
        /// valid), and `cda` is the table of `ATTR_MAX + 1` attributes the
        /// core parsed and validated with our policy; all valid until the
        /// callback returns.
        pub(crate) unsafe extern "C" fn $entry(
            skb: *mut b::sk_buff,
            info: *const b::nfnl_info,
            cda: *const *const b::nlattr,
        ) -> c_int {
            // SAFETY: nfnetlink calls this with its callback arguments,
            // valid until we return.
            let req = unsafe { Request::new(skb, info, cda) };
            from_result(|| $handler(&req))
        }
    };
}

nfnl_entry!(new_timeout => do_new);
nfnl_entry!(get_timeout => do_get);
nfnl_entry!(del_timeout => do_delete);
nfnl_entry!(default_set => do_default_set);
nfnl_entry!(default_get => do_default_get);

/// `ctnl_timeout_fill_info`: a NEW message describing `e`.
fn fill_entry(w: &mut SkbWriter, portid: u32, seq: u32, e: &Entry) -> Option<u32> {
    let flags = if portid != 0 { b::NLM_F_MULTI } else { 0 };
    let t: &Timeout = e.timeout();
    w.message(portid, seq, msg_type(b::ctnl_timeout_msg_types_IPCTNL_MSG_TIMEOUT_NEW), flags, |w| {
        w.put_string(NAME, e.key().as_bytes())?;
        w.put_be16(L3PROTO, t.l3num())?;
        w.put_u8(L4PROTO, t.l4proto().num())?;
        w.put_be32(USE, t.use_count())?;
        w.nest(DATA, |w| t.write(w))
    })
}

fn do_new(req: &Request<'_>) -> Result<c_int> {
    let (Some(name), Some(l3), Some(l4), Some(data)) =
        (req.attr(NAME), req.attr(L3PROTO), req.attr(L4PROTO), req.attr(DATA))
    else {
        return Err(EINVAL);
    };
    let key = Key::new(name.nul_str());
    let (l3num, l4num) = (l3.get_be16(), l4.get_u8());
    let mut table = pernet::table(req.net).lock();

    if let Some(e) = table.find(&key) {
        if req.flags() & b::NLM_F_EXCL != 0 {
            return Err(EEXIST);
        }
        if req.flags() & b::NLM_F_REPLACE != 0 {
            let t = e.timeout();
            // A policy cannot be replaced by one of another kind.
            if t.l3num() != l3num || t.l4proto().num() != l4num {
                return Err(EINVAL);
            }
            // SAFETY: `t` was found in `table`, whose mutex we hold.
            unsafe { t.reparse(req.net, data)? };
            return Ok(0);
        }
        return Err(EBUSY);
    }

    // This protocol is not supported (falls back to generic).
    let l4 = L4Proto::find(l4num).ok_or(EOPNOTSUPP())?;
    let t = Timeout::new(l3num, l4, req.net, data)?;
    table.insert(key, t)?;
    Ok(0)
}

fn do_get(req: &Request<'_>) -> Result<c_int> {
    if req.flags() & b::NLM_F_DUMP != 0 {
        // SAFETY: the request's socket, skb and header, as
        // netlink_dump_start wants; `dump` is a valid dump callback and the
        // shim pins this module for the dump's duration.
        return Ok(unsafe { b::zonetp_compat_netlink_dump_start(req.info.sk, req.skb, req.info.nlh, Some(dump)) });
    }
    let key = Key::new(req.attr(NAME).ok_or(EINVAL)?.nul_str());
    let table = pernet::table(req.net).lock();
    let e = table.find(&key).ok_or(ENOENT)?;
    let mut skb2 = OwnedSkb::new()?;
    if fill_entry(skb2.writer(), req.portid(), req.nlh().nlmsg_seq, e).is_none() {
        // Upstream returns fill_info's -1 here.
        return Ok(-1);
    }
    drop(table);
    Ok(skb2.unicast(req.net, req.portid()))
}

/// Dump state in `cb->ctx` (zeroed by netlink_dump_start): where to resume.
#[repr(C)]
struct DumpCursor {
    /// The object to resume at: its name and creation number.
    key: [u8; NAME_MAX],
    seq: u64,
    /// 0: first part, 1: resume at `key`/`seq`, 2: done.
    state: u64,
}

// `cb->ctx`'s size and alignment, which zonetp_compat.c checks at build time.
const _: () = assert!(core::mem::size_of::<DumpCursor>() <= b::ZONETP_DUMP_CTX_SIZE as usize);
const _: () = assert!(core::mem::align_of::<DumpCursor>() <= b::ZONETP_DUMP_CTX_ALIGN as usize);

/// `ctnl_timeout_dump`: one part of a dump, in creation order.
///
/// # Safety
///
/// Called only by netlink as the `dump` callback of a dump `do_get`
/// started: `skb` is the reply to fill, `cb` the dump's state (`cb->skb`
/// and `cb->nlh` the request, `cb->ctx` ours, zeroed at the start), both
/// valid and ours during the call; the dump socket's namespace is live
/// and set up.
unsafe extern "C" fn dump(skb: *mut b::sk_buff, cb: *mut b::netlink_callback) -> c_int {
    // SAFETY: netlink passes a valid callback and the skb to fill, ours to
    // append to during this call.
    let (cb, w) = unsafe { (&mut *cb, SkbWriter::from_raw(skb)) };
    let Some(mut w) = w else { return 0 };
    // SAFETY: `cb->ctx` is large and aligned enough for a DumpCursor (the
    // asserts above and the C side's BUILD_BUG_ONs), zeroed at dump start
    // and ours alone during the dump; every bit pattern is a valid
    // DumpCursor.
    let cur = unsafe { &mut *b::zonetp_compat_dump_ctx(cb).cast::<DumpCursor>() };
    if cur.state == 2 {
        return 0;
    }
    // SAFETY: the dump's request skb and header stay valid during the dump,
    // and the dump socket's namespace is live and set up while it dumps.
    let (portid, seq, net) = unsafe {
        (
            b::zonetp_compat_skb_portid(cb.skb),
            (*cb.nlh).nlmsg_seq,
            Net::from_raw(b::zonetp_compat_skb_net(skb)),
        )
    };
    let from_key = Key::new(&cur.key);
    let from = (cur.state == 1).then_some((&from_key, cur.seq));
    let table = pernet::table(net).lock();
    let mut resume = None;
    table.for_each_from(from, |e| {
        if fill_entry(&mut w, portid, seq, e).is_none() {
            resume = Some((*e.key(), e.seq()));
            return false;
        }
        true
    });
    drop(table);
    match resume {
        Some((key, s)) => {
            cur.key = *key.raw();
            cur.seq = s;
            cur.state = 1;
        }
        None => cur.state = 2,
    }
    w.len() as c_int
}

fn do_delete(req: &Request<'_>) -> Result<c_int> {
    let mut table = pernet::table(req.net).lock();
    let Some(name) = req.attr(NAME) else {
        while let Some(u) = table.take_first() {
            u.delete(req.net);
        }
        return Ok(0);
    };
    let u = table.take(&Key::new(name.nul_str())).ok_or(ENOENT)?;
    u.delete(req.net);
    Ok(0)
}

fn do_default_set(req: &Request<'_>) -> Result<c_int> {
    let (Some(l4), Some(data)) = (req.attr(L4PROTO), req.attr(DATA)) else {
        return Err(EINVAL);
    };
    let l4 = L4Proto::find(l4.get_u8()).ok_or(EOPNOTSUPP())?;
    // SAFETY: NULL data: nlattr_to_obj sets the namespace's defaults.
    unsafe { l4.parse(core::ptr::null_mut(), req.net, data)? };
    Ok(0)
}

fn do_default_get(req: &Request<'_>) -> Result<c_int> {
    let (Some(l3), Some(l4)) = (req.attr(L3PROTO), req.attr(L4PROTO)) else {
        return Err(EINVAL);
    };
    let l3num = l3.get_be16();
    let l4 = L4Proto::find(l4.get_u8()).ok_or(EOPNOTSUPP())?;
    // SAFETY: `net` is the request's live namespace; the array returned is
    // part of it.
    let timeouts = unsafe { b::zonetp_compat_default_timeouts(req.net.as_ptr(), l4.num()) };
    if timeouts.is_null() {
        return Err(EOPNOTSUPP());
    }
    let mut skb2 = OwnedSkb::new()?;
    let portid = req.portid();
    let flags = if portid != 0 { b::NLM_F_MULTI } else { 0 };
    let ev = msg_type(b::ctnl_timeout_msg_types_IPCTNL_MSG_TIMEOUT_DEFAULT_SET);
    let filled = skb2.writer().message(portid, req.nlh().nlmsg_seq, ev, flags, |w| {
        w.put_be16(L3PROTO, l3num)?;
        w.put_u8(L4PROTO, l4.num())?;
        // SAFETY: `timeouts` is the namespace's default array of `l4`.
        w.nest(DATA, |w| unsafe { l4.write(w, timeouts.cast()) })
    });
    if filled.is_none() {
        return Err(ENOMEM);
    }
    Ok(skb2.unicast(req.net, portid))
}
