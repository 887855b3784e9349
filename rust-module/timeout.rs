// SPDX-License-Identifier: GPL-2.0

//! `struct nf_ct_timeout` objects and the conntrack L4 protocols that
//! parse and print their per-state timeouts.

use core::alloc::Layout;
use core::ffi::c_void;
use core::ptr::NonNull;

use kernel::alloc::{allocator::Kmalloc, flags, Allocator};
use kernel::prelude::*;

use crate::errno::*;
use crate::ffi as bindings;
use crate::nlattr::Attr;
use crate::skb::SkbWriter;

/// A conntrack L4 protocol that really tracks its number.
///
/// INVARIANT: points to one of conntrack's static, built-in
/// `struct nf_conntrack_l4proto` (they live as long as the kernel).
#[derive(Clone, Copy)]
pub(crate) struct L4Proto(&'static bindings::nf_conntrack_l4proto);

impl L4Proto {
    /// `nf_ct_l4proto_find(l4num)`, or `None` when that falls back to the
    /// generic tracker for an untracked number (upstream: EOPNOTSUPP()).
    pub(crate) fn find(l4num: u8) -> Option<Self> {
        // SAFETY: always returns a valid static l4proto (generic fallback).
        let p = unsafe { bindings::nf_ct_l4proto_find(l4num) };
        // SAFETY: static object, never freed.
        let p: &'static bindings::nf_conntrack_l4proto = unsafe { &*p };
        (p.l4proto == l4num).then_some(L4Proto(p))
    }

    /// # Safety
    ///
    /// `p` must be a conntrack l4proto (as stored in a `nf_ct_timeout`).
    pub(crate) unsafe fn from_raw(p: *const bindings::nf_conntrack_l4proto) -> Self {
        // SAFETY: guaranteed by the caller; static object.
        L4Proto(unsafe { &*p })
    }

    pub(crate) fn num(&self) -> u8 {
        self.0.l4proto
    }

    fn obj_size(&self) -> usize {
        self.0.ctnl_timeout.obj_size as usize
    }

    /// Parses the nested `data` attribute into `obj` with the protocol's
    /// `nlattr_to_obj` (`ctnl_timeout_parse_policy`); `obj` NULL sets the
    /// per-netns defaults instead.
    ///
    /// # Safety
    ///
    /// `net` must be valid; `obj` NULL or an `obj_size()`-byte timeout array
    /// of this protocol that the caller may write.
    pub(crate) unsafe fn parse(&self, obj: *mut c_void, net: *mut bindings::net, data: Attr<'_>) -> Result {
        let ct = &self.0.ctnl_timeout;
        let max = ct.nlattr_max as usize;
        let mut tb: KVec<*mut bindings::nlattr> = KVec::with_capacity(max + 1, GFP_KERNEL)?;
        for _ in 0..=max {
            tb.push(core::ptr::null_mut(), GFP_KERNEL)?;
        }
        let payload = data.payload();
        // SAFETY: `tb` has `max + 1` slots; the payload is readable (Attr
        // invariant); the policy is the protocol's static table.
        // nla_parse_nested_deprecated == __nla_parse(.., NL_VALIDATE_LIBERAL, NULL).
        let r = unsafe {
            bindings::__nla_parse(
                tb.as_mut_ptr(),
                max as i32,
                payload.as_ptr().cast(),
                payload.len() as i32,
                ct.nla_policy,
                bindings::netlink_validation_NL_VALIDATE_LIBERAL,
                core::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        let f = ct.nlattr_to_obj.ok_or(EOPNOTSUPP())?;
        // SAFETY: `tb` is the parsed table; `net`/`obj` per the caller.
        let r = unsafe { f(tb.as_mut_ptr(), net, obj) };
        if r < 0 {
            Err(Error::from_errno(r))
        } else {
            Ok(())
        }
    }

    /// `obj_to_nlattr`: the timeouts in `obj` as attributes.
    ///
    /// # Safety
    ///
    /// `obj` must be a timeout array of this protocol, readable.
    pub(crate) unsafe fn write(&self, w: &mut SkbWriter, obj: *const c_void) -> Result {
        let f = self.0.ctnl_timeout.obj_to_nlattr.ok_or(EOPNOTSUPP())?;
        // SAFETY: the skb is writable (SkbWriter invariant); `obj` per the caller.
        if unsafe { f(w.as_ptr(), obj) } < 0 {
            Err(EMSGSIZE())
        } else {
            Ok(())
        }
    }
}

/// One reference to a `struct nf_ct_timeout`.
///
/// INVARIANT: `ptr` is a kmalloc'ed `nf_ct_timeout` with a valid `l4proto`,
/// on which this value owns one reference (dropped on drop; the last one
/// frees it with `kfree_rcu`).
pub(crate) struct TimeoutRef {
    ptr: NonNull<bindings::nf_ct_timeout>,
}

// SAFETY: the refcount is atomic and the object is freed through RCU, so a
// reference may be dropped on any thread.
unsafe impl Send for TimeoutRef {}

impl TimeoutRef {
    /// A new object for `l3num`/`l4` with refcount 1 whose data is parsed
    /// from `data` (states left out take the kernel's defaults).
    pub(crate) fn new(l3num: u16, l4: L4Proto, net: *mut bindings::net, data: Attr<'_>) -> Result<Self> {
        let size = core::mem::size_of::<bindings::nf_ct_timeout>() + l4.obj_size();
        let layout = Layout::from_size_align(size, core::mem::align_of::<bindings::nf_ct_timeout>())
            .map_err(|_| ENOMEM)?;
        let mem = Kmalloc::alloc(layout, GFP_KERNEL | flags::__GFP_ZERO)?;
        let ptr = mem.cast::<bindings::nf_ct_timeout>();
        // SAFETY: `ptr` is a zeroed, exclusively owned allocation of `size`
        // bytes; refcount_set and plain field writes initialise it.
        unsafe {
            bindings::zonetp_compat_timeout_ref_init(ptr.as_ptr());
            (*ptr.as_ptr()).l3num = l3num;
            (*ptr.as_ptr()).l4proto = l4.0;
        }
        // INVARIANT: kmalloc'ed, l4proto set, refcount 1 owned here.  On a
        // parse error the drop frees it through kfree_rcu (never shared).
        let t = TimeoutRef { ptr };
        // SAFETY: data[] has obj_size bytes of this protocol, ours alone.
        unsafe { l4.parse(t.data(), net, data)? };
        Ok(t)
    }

    /// Takes a new reference (`refcount_inc_not_zero`).
    ///
    /// # Safety
    ///
    /// `p` must point to a live (at least RCU-protected) `nf_ct_timeout`.
    pub(crate) unsafe fn try_get(p: *mut bindings::nf_ct_timeout) -> Option<Self> {
        // SAFETY: `p` is live per the caller.
        if unsafe { bindings::zonetp_compat_timeout_ref_get(p) } {
            // INVARIANT: we just took a reference.
            NonNull::new(p).map(|ptr| TimeoutRef { ptr })
        } else {
            None
        }
    }

    /// # Safety
    ///
    /// The caller must own one reference on `p`, which is transferred.
    pub(crate) unsafe fn from_raw(p: *mut bindings::nf_ct_timeout) -> Self {
        // INVARIANT: per the caller (`p` non-NULL as it owns a reference).
        TimeoutRef { ptr: unsafe { NonNull::new_unchecked(p) } }
    }

    /// Hands the reference to the caller.
    pub(crate) fn into_raw(self) -> *mut bindings::nf_ct_timeout {
        core::mem::ManuallyDrop::new(self).ptr.as_ptr()
    }

}

/// Field access on a `nf_ct_timeout` we hold a reference on (directly or
/// through an entry of the table).
pub(crate) trait TimeoutView {
    fn raw(&self) -> *mut bindings::nf_ct_timeout;

    fn l3num(&self) -> u16 {
        // SAFETY: `raw()` is live while `self` is.
        unsafe { (*self.raw()).l3num }
    }

    fn l4proto(&self) -> L4Proto {
        // SAFETY: `raw()` is live; its l4proto is a static conntrack l4proto.
        unsafe { L4Proto::from_raw((*self.raw()).l4proto) }
    }

    /// The refcount (`USE`).
    fn use_count(&self) -> u32 {
        // SAFETY: `raw()` is live.
        unsafe { bindings::zonetp_compat_timeout_ref_read(self.raw()) }
    }

    /// The timeout array (`data[]`).
    fn data(&self) -> *mut c_void {
        // SAFETY: `raw()` is live; `data` is its flexible array member.
        unsafe { core::ptr::addr_of_mut!((*self.raw()).data).cast() }
    }
}

impl TimeoutView for TimeoutRef {
    fn raw(&self) -> *mut bindings::nf_ct_timeout {
        self.ptr.as_ptr()
    }
}

impl Drop for TimeoutRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant); the last one frees
        // the object with kfree_rcu(t, rcu).
        unsafe { bindings::zonetp_compat_timeout_ref_put(self.ptr.as_ptr()) };
    }
}
