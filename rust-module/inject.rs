// SPDX-License-Identifier: GPL-2.0

//! Deliberate defects for the harness's self-checks, compiled in only by
//! `ZONETP_INJECT=leak` or `ZONETP_INJECT=uaf` (see Kbuild).  In any other
//! build these functions are empty and the production module has none of
//! this code.  Both act on the first DELETE of an object only.

#[cfg(any(zonetp_inject_leak, zonetp_inject_uaf))]
use core::sync::atomic::{AtomicBool, Ordering};

#[cfg(any(zonetp_inject_leak, zonetp_inject_uaf))]
use kernel::prelude::*;

use crate::table::Entry;
use crate::timeout::Timeout;

#[cfg(any(zonetp_inject_leak, zonetp_inject_uaf))]
static DONE: AtomicBool = AtomicBool::new(false);

/// `ZONETP_INJECT=leak`: takes a reference on the deleted object's policy
/// and forgets it, so the object is never freed; once its entry is gone no
/// pointer to it remains and kmemleak reports it.
#[cfg(zonetp_inject_leak)]
pub(crate) fn leak_reference(t: &Timeout) {
    if !DONE.swap(true, Ordering::Relaxed) {
        pr_warn!("inject: leaking policy object {:p} (ZONETP_INJECT=leak)\n", t.as_ptr());
        core::mem::forget(crate::compat::ARef::from(t));
    }
}

#[cfg(not(zonetp_inject_leak))]
#[inline(always)]
pub(crate) fn leak_reference(_t: &Timeout) {}

/// `ZONETP_INJECT=uaf`: waits until the deleted entry's `kfree_rcu()` has
/// completed, then reads the freed entry, which KASAN reports.
///
/// # Safety
///
/// None possible, in this build: it is the injected defect.  `e` must be
/// an entry just released by [`crate::table::Unlinked::delete`].
#[cfg(zonetp_inject_uaf)]
pub(crate) unsafe fn read_after_free(e: *const Entry) {
    if DONE.swap(true, Ordering::Relaxed) {
        return;
    }
    // SAFETY: both may sleep, and we are in process context (a DELETE
    // request); they wait for a grace period and for every kfree_rcu() in
    // flight, ours included, to have freed.
    unsafe {
        crate::ffi::synchronize_rcu();
        crate::ffi::kvfree_rcu_barrier();
    }
    // SAFETY: none, on purpose: this is the injected defect, `e` has been
    // freed (ZONETP_INJECT=uaf).
    let v = unsafe { core::ptr::read_volatile(e.cast::<u64>()) };
    pr_warn!("inject: read {:#x} from freed entry {:p} (ZONETP_INJECT=uaf)\n", v, e);
}

/// Does nothing (no `ZONETP_INJECT=uaf`).
///
/// # Safety
///
/// Always safe to call; `unsafe` as the injecting variant is.
#[cfg(not(zonetp_inject_uaf))]
#[inline(always)]
pub(crate) unsafe fn read_after_free(_e: *const Entry) {}
