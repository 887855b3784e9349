// SPDX-License-Identifier: GPL-2.0

//! The five nfnetlink cttimeout requests (NEW, GET incl. dump, DELETE,
//! DEFAULT_SET, DEFAULT_GET), with upstream 6.12's semantics.  All run
//! as NFNL_CB_MUTEX callbacks (process context, nfnl subsystem mutex held);
//! dump continuations run from recvmsg without it, under the table mutex.

use core::ffi::c_int;

use kernel::prelude::*;

use crate::errno::*;
use crate::ffi as b;
use crate::nlattr::{Attr, NlAttrs};
use crate::pernet;
use crate::skb::{OwnedSkb, SkbWriter};
use crate::table::Entry;
use crate::timeout::{L4Proto, TimeoutRef, TimeoutView};

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
    attrs: NlAttrs<'a>,
}

impl<'a> Request<'a> {
    /// # Safety
    ///
    /// Arguments as passed to an nfnl callback whose `attr_count` is ATTR_MAX.
    unsafe fn new(skb: *mut b::sk_buff, info: *const b::nfnl_info, cda: *const *const b::nlattr) -> Self {
        Request {
            skb,
            // SAFETY: valid for the callback (caller).
            info: unsafe { &*info },
            // SAFETY: `cda` has ATTR_MAX + 1 validated entries (caller).
            attrs: unsafe { NlAttrs::from_raw(cda, ATTR_MAX) },
        }
    }
    fn net(&self) -> *mut b::net {
        self.info.net
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

fn errno(r: Result<c_int>) -> c_int {
    r.unwrap_or_else(|e| e.to_errno())
}

/// The C entry point nfnetlink calls for one message type: it builds the
/// `Request` view once and turns the handler's `Result` into an errno.
macro_rules! nfnl_entry {
    ($entry:ident => $handler:ident) => {
        pub(crate) unsafe extern "C" fn $entry(
            skb: *mut b::sk_buff,
            info: *const b::nfnl_info,
            cda: *const *const b::nlattr,
        ) -> c_int {
            // SAFETY: nfnetlink calls this with its callback arguments.
            let req = unsafe { Request::new(skb, info, cda) };
            errno($handler(&req))
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
    let l4 = e.l4proto();
    w.message(portid, seq, msg_type(b::ctnl_timeout_msg_types_IPCTNL_MSG_TIMEOUT_NEW), flags, |w| {
        w.put_string(NAME, e.name())?;
        w.put_be16(L3PROTO, e.l3num())?;
        w.put_u8(L4PROTO, l4.num())?;
        w.put_be32(USE, e.use_count())?;
        // SAFETY: the entry's data is a timeout array of `l4`.
        w.nest(DATA, |w| unsafe { l4.write(w, e.data()) })
    })
}

fn do_new(req: &Request<'_>) -> Result<c_int> {
    let (Some(name), Some(l3), Some(l4), Some(data)) =
        (req.attr(NAME), req.attr(L3PROTO), req.attr(L4PROTO), req.attr(DATA))
    else {
        return Err(EINVAL);
    };
    let name = name.nul_str();
    let (l3num, l4num) = (l3.get_be16(), l4.get_u8());
    let table = pernet::table(req.net());
    let mut g = table.lock();

    if let Some(e) = table.find(&g, name) {
        if req.flags() & b::NLM_F_EXCL != 0 {
            return Err(EEXIST);
        }
        if req.flags() & b::NLM_F_REPLACE != 0 {
            // A policy cannot be replaced by one of another kind.
            if e.l3num() != l3num || e.l4proto().num() != l4num {
                return Err(EINVAL);
            }
            // SAFETY: the entry's data array belongs to its l4proto; writes
            // are serialised by the mutexes (as upstream, in place).
            unsafe { e.l4proto().parse(e.data(), req.net(), data)? };
            return Ok(0);
        }
        return Err(EBUSY);
    }

    // This protocol is not supported (falls back to generic).
    let l4 = L4Proto::find(l4num).ok_or(EOPNOTSUPP())?;
    let t = TimeoutRef::new(l3num, l4, req.net(), data)?;
    table.insert(&mut g, name, t)?;
    Ok(0)
}

fn do_get(req: &Request<'_>) -> Result<c_int> {
    if req.flags() & b::NLM_F_DUMP != 0 {
        // SAFETY: the request's socket, skb and header, as netlink_dump_start wants.
        return Ok(unsafe { b::zonetp_compat_netlink_dump_start(req.info.sk, req.skb, req.info.nlh, Some(dump)) });
    }
    let name = req.attr(NAME).ok_or(EINVAL)?.nul_str();
    let table = pernet::table(req.net());
    let g = table.lock();
    let e = table.find(&g, name).ok_or(ENOENT)?;
    let mut skb2 = OwnedSkb::new()?;
    if fill_entry(skb2.writer(), req.portid(), req.nlh().nlmsg_seq, e).is_none() {
        // Upstream returns fill_info's -1 here.
        return Ok(-1);
    }
    drop(g);
    Ok(skb2.unicast(req.net(), req.portid()))
}

/// Dump state in `cb->args`: [0] the creation sequence number to resume
/// from, [1] non-zero when resuming, [2] non-zero when done.
unsafe extern "C" fn dump(skb: *mut b::sk_buff, cb: *mut b::netlink_callback) -> c_int {
    // SAFETY: netlink passes a valid callback and the skb to fill.
    let (cb, w) = unsafe { (&mut *cb, SkbWriter::from_raw(skb)) };
    let Some(mut w) = w else { return 0 };
    // SAFETY: `args` is the active view of the ctx union for this dump.
    let args = unsafe { &mut cb.__bindgen_anon_1.args };
    if args[2] != 0 {
        return 0;
    }
    let from = if args[1] != 0 { args[0] as u64 } else { 0 };
    args[1] = 0;
    // SAFETY: the dump's request skb and header stay valid during the dump.
    let (portid, seq, net) = unsafe {
        (b::zonetp_compat_skb_portid(cb.skb), (*cb.nlh).nlmsg_seq, b::zonetp_compat_skb_net(skb))
    };
    let table = pernet::table(net);
    let g = table.lock();
    let mut resume = None;
    table.for_each_from(&g, from, |e| {
        if fill_entry(&mut w, portid, seq, e).is_none() {
            resume = Some(e.seq());
            return false;
        }
        true
    });
    drop(g);
    match resume {
        Some(s) => {
            args[0] = s as _;
            args[1] = 1;
        }
        None => args[2] = 1,
    }
    w.len() as c_int
}

fn do_delete(req: &Request<'_>) -> Result<c_int> {
    let table = pernet::table(req.net());
    let mut g = table.lock();
    let Some(name) = req.attr(NAME) else {
        table.delete_all(&mut g, req.net());
        return Ok(0);
    };
    let e: *const Entry = table.find(&g, name.nul_str()).ok_or(ENOENT)?;
    // SAFETY: `e` is live while the mutex is held.
    table.delete(&mut g, req.net(), unsafe { &*e });
    Ok(0)
}

fn do_default_set(req: &Request<'_>) -> Result<c_int> {
    let (Some(l4), Some(data)) = (req.attr(L4PROTO), req.attr(DATA)) else {
        return Err(EINVAL);
    };
    let l4 = L4Proto::find(l4.get_u8()).ok_or(EOPNOTSUPP())?;
    // SAFETY: NULL data: nlattr_to_obj sets the namespace's defaults.
    unsafe { l4.parse(core::ptr::null_mut(), req.net(), data)? };
    Ok(0)
}

fn do_default_get(req: &Request<'_>) -> Result<c_int> {
    let (Some(l3), Some(l4)) = (req.attr(L3PROTO), req.attr(L4PROTO)) else {
        return Err(EINVAL);
    };
    let l3num = l3.get_be16();
    let l4 = L4Proto::find(l4.get_u8()).ok_or(EOPNOTSUPP())?;
    // SAFETY: `net` is the request's live namespace.
    let timeouts = unsafe { b::zonetp_compat_default_timeouts(req.net(), l4.num()) };
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
    Ok(skb2.unicast(req.net(), portid))
}
