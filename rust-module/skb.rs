// SPDX-License-Identifier: GPL-2.0

//! Building nfnetlink messages in socket buffers.

use core::ffi::c_int;
use core::ptr::NonNull;

use kernel::prelude::*;

use crate::errno::EMSGSIZE;
use crate::ffi as bindings;
use crate::net::Net;

/// Writes messages and attributes into an skb.
///
/// # Invariants
///
/// `skb` is a valid `struct sk_buff` the holder may append to for as long
/// as the writer lives (a dump skb or an [`OwnedSkb`]).
pub(crate) struct SkbWriter {
    skb: NonNull<bindings::sk_buff>,
}

impl SkbWriter {
    /// # Safety
    ///
    /// `skb` must be valid and writable by the caller for the writer's life.
    pub(crate) unsafe fn from_raw(skb: *mut bindings::sk_buff) -> Option<Self> {
        // INVARIANT: guaranteed by the caller.
        NonNull::new(skb).map(|skb| SkbWriter { skb })
    }

    pub(crate) fn as_ptr(&mut self) -> *mut bindings::sk_buff {
        self.skb.as_ptr()
    }

    /// `skb->len`.
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: `skb` is valid (type invariant).
        unsafe { bindings::zonetp_compat_skb_len(self.skb.as_ptr()) }
    }

    /// One nfnetlink message (`nfnl_msg_put`, AF_UNSPEC, NFNETLINK_V0,
    /// res_id 0) whose attributes `body` writes; on any failure the message
    /// is cancelled (`nlmsg_cancel`) and `None` returned, else `nlmsg_end`
    /// and `Some(skb->len)`, as the kernel's fill_info functions do.
    pub(crate) fn message(
        &mut self,
        portid: u32,
        seq: u32,
        msg_type: u16,
        flags: u32,
        body: impl FnOnce(&mut SkbWriter) -> Result,
    ) -> Option<u32> {
        // SAFETY: `skb` is valid and ours to append to (type invariant).
        let nlh = unsafe {
            bindings::zonetp_compat_nfnl_msg_put(
                self.as_ptr(),
                portid,
                seq,
                msg_type as c_int,
                flags as c_int,
            )
        };
        if nlh.is_null() {
            return None;
        }
        if body(self).is_err() {
            // SAFETY: `nlh` was put into this skb above; nothing after it is kept.
            unsafe { bindings::zonetp_compat_nlmsg_cancel(self.as_ptr(), nlh) };
            return None;
        }
        // SAFETY: `nlh` is the last message put into this skb.
        unsafe { bindings::zonetp_compat_nlmsg_end(self.as_ptr(), nlh) };
        Some(self.len())
    }

    /// `nla_put`.
    pub(crate) fn put(&mut self, ty: u32, data: &[u8]) -> Result {
        // SAFETY: `skb` is valid (type invariant); `data` is readable for its length.
        let r = unsafe {
            bindings::nla_put(self.as_ptr(), ty as c_int, data.len() as c_int, data.as_ptr().cast())
        };
        if r < 0 {
            Err(EMSGSIZE())
        } else {
            Ok(())
        }
    }

    /// `nla_put_string`: the bytes and a terminating NUL.
    pub(crate) fn put_string(&mut self, ty: u32, s: &[u8]) -> Result {
        let mut buf = [0u8; bindings::CTNL_TIMEOUT_NAME_MAX as usize + 1];
        let n = s.len().min(buf.len() - 1);
        buf[..n].copy_from_slice(&s[..n]);
        self.put(ty, &buf[..n + 1])
    }

    pub(crate) fn put_u8(&mut self, ty: u32, v: u8) -> Result {
        self.put(ty, &[v])
    }

    pub(crate) fn put_be16(&mut self, ty: u32, v: u16) -> Result {
        self.put(ty, &v.to_be_bytes())
    }

    pub(crate) fn put_be32(&mut self, ty: u32, v: u32) -> Result {
        self.put(ty, &v.to_be_bytes())
    }

    /// `nla_nest_start(ty)`, `body`, `nla_nest_end` (flag NLA_F_NESTED as
    /// nla_nest_start sets it).  On failure the caller cancels the message.
    pub(crate) fn nest(&mut self, ty: u32, body: impl FnOnce(&mut SkbWriter) -> Result) -> Result {
        // SAFETY: `skb` is valid (type invariant).
        let start = unsafe { bindings::zonetp_compat_nla_nest_start(self.as_ptr(), ty as c_int) };
        if start.is_null() {
            return Err(EMSGSIZE());
        }
        body(self)?;
        // SAFETY: `start` was put into this skb above.
        unsafe { bindings::zonetp_compat_nla_nest_end(self.as_ptr(), start) };
        Ok(())
    }
}

/// An skb from `nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL)` that we own.
///
/// # Invariants
///
/// `w` wraps an skb nobody else references; freed on drop unless handed
/// to [`OwnedSkb::unicast`].
pub(crate) struct OwnedSkb {
    w: SkbWriter,
}

impl OwnedSkb {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: an allocation with no preconditions (process context,
        // GFP_KERNEL: request handlers may sleep).
        let skb = unsafe { bindings::zonetp_compat_nlmsg_new() };
        // SAFETY: a fresh skb is ours to write to until freed or sent.
        let w = unsafe { SkbWriter::from_raw(skb) }.ok_or(ENOMEM)?;
        // INVARIANT: freshly allocated, only referenced here.
        Ok(OwnedSkb { w })
    }

    pub(crate) fn writer(&mut self) -> &mut SkbWriter {
        &mut self.w
    }

    /// `nfnetlink_unicast(skb, net, portid)`; it consumes the skb.
    pub(crate) fn unicast(self, net: &Net, portid: u32) -> c_int {
        let mut this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the skb is ours (type invariant) and `net` is live (`Net`
        // invariant); nfnetlink_unicast takes ownership whatever it returns,
        // so it must not be freed here.
        unsafe { bindings::nfnetlink_unicast(this.w.as_ptr(), net.as_ptr(), portid) }
    }
}

impl Drop for OwnedSkb {
    fn drop(&mut self) {
        // SAFETY: the skb is ours and not sent (type invariant).
        unsafe { bindings::zonetp_compat_kfree_skb(self.w.as_ptr()) };
    }
}
