// SPDX-License-Identifier: GPL-2.0

//! `struct nf_ct_timeout` objects and the conntrack L4 protocols that
//! parse and print their per-state timeouts.

use core::alloc::Layout;
use core::ffi::c_void;
use core::ptr::NonNull;

use kernel::alloc::flags;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::types::Opaque;

use crate::compat::{self, ARef, AlwaysRefCounted};
use crate::errno::{EMSGSIZE, EOPNOTSUPP};
use crate::ffi as bindings;
use crate::net::Net;
use crate::nlattr::Attr;
use crate::skb::SkbWriter;

/// A conntrack L4 protocol that really tracks its number.
///
/// # Invariants
///
/// Points to one of conntrack's static, built-in `struct
/// nf_conntrack_l4proto`.  They are statics of the conntrack core: of the
/// kernel image, or of `nf_conntrack.ko` on modular kernels (every tracker
/// is a bool option compiled into it), which cannot be unloaded while
/// zonetp.ko is loaded, since zonetp uses its symbols (`nf_ct_l4proto_find`
/// and others) and so depends on it.  So they outlive every use zonetp can
/// make of them, which is what the `'static` stands for here.
#[derive(Clone, Copy)]
pub(crate) struct L4Proto(&'static bindings::nf_conntrack_l4proto);

impl L4Proto {
    /// `nf_ct_l4proto_find(l4num)`, or `None` when that falls back to the
    /// generic tracker for an untracked number (upstream: EOPNOTSUPP()).
    pub(crate) fn find(l4num: u8) -> Option<Self> {
        // SAFETY: takes any number; returns a static tracker (the generic
        // one for numbers nothing tracks).
        let p = unsafe { bindings::nf_ct_l4proto_find(l4num) };
        // SAFETY: trackers are conntrack statics, which outlive zonetp.ko
        // (type invariant).
        let p: &'static bindings::nf_conntrack_l4proto = unsafe { &*p };
        // INVARIANT: a static built-in tracker.
        (p.l4proto == l4num).then_some(L4Proto(p))
    }

    /// # Safety
    ///
    /// `p` must be a conntrack l4proto (as stored in a `nf_ct_timeout`).
    pub(crate) unsafe fn from_raw(p: *const bindings::nf_conntrack_l4proto) -> Self {
        // INVARIANT, SAFETY: a conntrack tracker (caller), which outlives
        // zonetp.ko.
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
    /// `obj` must be NULL or an `obj_size()`-byte timeout array of this
    /// protocol that the caller may write.
    pub(crate) unsafe fn parse(&self, obj: *mut c_void, net: &Net, data: Attr<'_>) -> Result {
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
        to_result(r)?;
        let f = ct.nlattr_to_obj.ok_or(EOPNOTSUPP())?;
        // SAFETY: `tb` is the parsed table; `net` is live (`Net` invariant);
        // `obj` per the caller.
        to_result(unsafe { f(tb.as_mut_ptr(), net.as_ptr(), obj) })
    }

    /// `obj_to_nlattr`: the timeouts in `obj` as attributes.
    ///
    /// # Safety
    ///
    /// `obj` must be a timeout array of this protocol, readable.
    pub(crate) unsafe fn write(&self, w: &mut SkbWriter, obj: *const c_void) -> Result {
        let f = self.0.ctnl_timeout.obj_to_nlattr.ok_or(EOPNOTSUPP())?;
        // SAFETY: the skb is writable (SkbWriter invariant); `obj` per the caller.
        to_result(unsafe { f(w.as_ptr(), obj) }).map_err(|_| EMSGSIZE())
    }
}

/// A conntrack timeout policy, `struct nf_ct_timeout`.
///
/// # Invariants
///
/// - Always reference counted (`refcnt`): allocated by [`Timeout::new`]
///   with kmalloc, freed with `kfree_rcu(t, rcu)` when the last reference
///   goes, by us or by the conntrack core (`untimeout`,
///   `nf_ct_destroy_timeout`), which drop references the same way.
/// - `l3num` and `l4proto` (a static conntrack tracker) are set before the
///   first reference is shared and never change.
/// - `data` is the timeout array of `l4proto` (`obj_size` bytes).  After
///   publication it is rewritten in place only by a REPLACE request
///   ([`Timeout::reparse`]), under the mutex of the table that holds the
///   object (and the nfnl subsystem mutex, as upstream), which Rust's
///   readers (GET and dumps, through an `Entry`) hold as well; conntrack
///   reads it meanwhile from C, as it does upstream.  Rust code never
///   reads it directly, only the tracker's C callbacks do.
#[repr(transparent)]
pub(crate) struct Timeout(Opaque<bindings::nf_ct_timeout>);

// SAFETY: `inc_ref`/`dec_ref` are the object's atomic refcount, and the
// last `dec_ref` frees it after a grace period (`kfree_rcu`), so a reference
// keeps it alive; every object is created by `Timeout::new` with a count.
unsafe impl AlwaysRefCounted for Timeout {
    fn inc_ref(&self) {
        // SAFETY: `&self` is a live object (its count is held by someone).
        unsafe { bindings::zonetp_compat_timeout_ref_inc(self.as_ptr()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller gives up a reference it owns; the last one
        // frees the object with kfree_rcu(t, rcu).
        unsafe { bindings::zonetp_compat_timeout_ref_put(obj.as_ptr().cast()) };
    }
}

// SAFETY: the refcount is atomic, the object is freed through RCU, and its
// fields are immutable after publication except `data`, written only by C
// under the nfnl mutex: references may be used and dropped on any CPU.
unsafe impl Send for Timeout {}
// SAFETY: as for `Send`: shared access only reads immutable fields or goes
// through the atomic refcount.
unsafe impl Sync for Timeout {}

impl Timeout {
    /// A new object for `l3num`/`l4` with one reference, whose timeouts are
    /// parsed from `data` (states left out take the namespace's defaults).
    pub(crate) fn new(l3num: u16, l4: L4Proto, net: &Net, data: Attr<'_>) -> Result<ARef<Self>> {
        let size = core::mem::size_of::<bindings::nf_ct_timeout>() + l4.obj_size();
        let layout = Layout::from_size_align(size, core::mem::align_of::<bindings::nf_ct_timeout>())
            .map_err(|_| ENOMEM)?;
        let mem = compat::kmalloc(layout, flags::GFP_KERNEL_ACCOUNT | flags::__GFP_ZERO)?;
        let ptr = mem.cast::<bindings::nf_ct_timeout>();
        // SAFETY: `ptr` is a zeroed, exclusively owned allocation of `size`
        // bytes; refcount_set and plain field writes initialise it.
        unsafe {
            bindings::zonetp_compat_timeout_ref_init(ptr.as_ptr());
            (*ptr.as_ptr()).l3num = l3num;
            (*ptr.as_ptr()).l4proto = l4.0;
        }
        // SAFETY: kmalloc'ed, l4proto set, refcount 1, which we hand to the
        // ARef (on a parse error its drop frees the never-shared object).
        let t: ARef<Self> = unsafe { ARef::from_raw(ptr.cast()) };
        // SAFETY: data[] has obj_size bytes of this protocol, ours alone.
        unsafe { l4.parse(t.data(), net, data)? };
        Ok(t)
    }

    /// A new reference, unless the count already dropped to zero
    /// (`refcount_inc_not_zero`).
    ///
    /// # Safety
    ///
    /// `t` must point to an object whose memory stays allocated during the
    /// call (a reference is held, or the caller is an RCU reader that found
    /// it where it was published).
    pub(crate) unsafe fn try_get(t: NonNull<Self>) -> Option<ARef<Self>> {
        // SAFETY: the memory is there (caller); inc_not_zero does not touch
        // an object whose count is zero.
        if unsafe { bindings::zonetp_compat_timeout_ref_get(t.as_ptr().cast()) } {
            // SAFETY: we now own the reference just taken.
            Some(unsafe { ARef::from_raw(t) })
        } else {
            None
        }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::nf_ct_timeout {
        self.0.get()
    }

    pub(crate) fn l3num(&self) -> u16 {
        // SAFETY: live object; `l3num` never changes after publication.
        unsafe { (*self.as_ptr()).l3num }
    }

    pub(crate) fn l4proto(&self) -> L4Proto {
        // SAFETY: live object; its l4proto is a static conntrack tracker,
        // fixed at creation.
        unsafe { L4Proto::from_raw((*self.as_ptr()).l4proto) }
    }

    /// The refcount (`USE`).
    pub(crate) fn use_count(&self) -> u32 {
        // SAFETY: live object; an atomic read.
        unsafe { bindings::zonetp_compat_timeout_ref_read(self.as_ptr()) }
    }

    /// The timeout array (`data[]`), for the tracker's C callbacks.
    pub(crate) fn data(&self) -> *mut c_void {
        // SAFETY: live object; `data` is its flexible array member (no
        // reference is made to it).
        unsafe { core::ptr::addr_of_mut!((*self.as_ptr()).data).cast() }
    }

    /// REPLACE: parses `data` into the live object, in place, as upstream.
    ///
    /// # Safety
    ///
    /// The caller must hold the mutex of the table that holds this object
    /// (a [`crate::table::Locked`] it was found through): that serialises
    /// this write with every other Rust access to `data[]` (type
    /// invariant).
    pub(crate) unsafe fn reparse(&self, net: &Net, data: Attr<'_>) -> Result {
        // SAFETY: the array belongs to this object's tracker; no other Rust
        // access to it runs meanwhile (caller), and it is inside `Opaque`,
        // so writing it while `&self` is shared is allowed.
        unsafe { self.l4proto().parse(self.data(), net, data) }
    }

    /// The timeouts as attributes (`obj_to_nlattr`).
    pub(crate) fn write(&self, w: &mut SkbWriter) -> Result {
        // SAFETY: the array belongs to this object's tracker.
        unsafe { self.l4proto().write(w, self.data()) }
    }
}
