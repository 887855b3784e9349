// SPDX-License-Identifier: GPL-2.0

//! `nf_ct_timeout_hook`: how conntrack users (openvswitch, xt_CT) resolve
//! a policy name to an object and release it.
//!
//! The hook is a single global pointer that either provider may own:
//! upstream's `nfnetlink_cttimeout` sets it unconditionally at init and
//! clears it unconditionally at exit.  zonetp.ko only ever sets it from
//! NULL and only clears it while it still points to zonetp's hooks, so a
//! provider that loaded in between (the nfnetlink core autoloads upstream
//! when a cttimeout request arrives while zonetp's subsystem is gone) keeps
//! its hook.

use kernel::ffi::c_char;
use kernel::prelude::*;

use crate::compat::ARef;
use crate::ffi as b;
use crate::net::Net;
use crate::pernet;
use crate::table::{Key, RcuReadSide, NAME_MAX};

/// `timeout_find_get`: called under `rcu_read_lock()` (must not sleep).
/// Returns a new reference and takes a module reference, or NULL (also
/// once the module is going).
///
/// # Safety
///
/// Called only by the conntrack core through `nf_ct_timeout_hook`
/// (`nf_ct_set_timeout`), which guarantees: `net` is a live
/// namespace that is set up (zonetp's pernet `init` ran on it: the hook is
/// installed only after the pernet operations are registered) and not
/// being dismantled; `name` is a NUL-terminated string.
unsafe extern "C" fn find_get(net: *mut b::net, name: *const c_char) -> *mut b::nf_ct_timeout {
    // Read the name byte by byte up to its NUL (at most 32 bytes matter).
    let mut buf = [0u8; NAME_MAX];
    for (i, c) in buf.iter_mut().enumerate() {
        // SAFETY: `name` is a NUL-terminated string; we stop at its NUL.
        let v = unsafe { *name.add(i) } as u8;
        if v == 0 {
            break;
        }
        *c = v;
    }
    // SAFETY: conntrack passes the template's namespace, which is set up
    // (a rule or flow is being added in it) and outlives the call.
    let net = unsafe { Net::from_raw(net) };
    // The caller (nf_ct_set_timeout) holds rcu_read_lock() already; a
    // section of our own makes the look-up's safety local to this function.
    let rcu = RcuReadSide::lock();
    let Some(t) = pernet::table(net).find_rcu(&rcu, &Key::new(&buf)).and_then(|e| e.try_get_timeout()) else {
        return core::ptr::null_mut();
    };
    // Upstream's __module_get() also succeeds once rmmod has begun: the
    // caller's template would then hold a module reference on a module
    // about to be freed, and give the object back later through whichever
    // provider holds the hook by then (an unmatched module_put on an
    // autoloaded upstream).  A going provider finds nothing instead.
    // SAFETY: `try_module_get` on our own module, whose `struct module`
    // outlives this call; a reference taken is given back by the
    // module_put in `put`.
    if !unsafe { b::zonetp_compat_module_try_get() } {
        // Gives back the object reference just taken (kfree_rcu() if it
        // was the last: fine under rcu_read_lock()).
        drop(t);
        return core::ptr::null_mut();
    }
    ARef::into_raw(t).as_ptr().cast()
}

/// `timeout_put`: drops a reference from `find_get`.
///
/// # Safety
///
/// Called only by the conntrack core through `nf_ct_timeout_hook`, with
/// `t` a reference that `find_get` handed out and that the caller gives
/// back, once.  (The hook is zonetp's only while no other provider's
/// references are out: upstream's pin nfnetlink_cttimeout, whose hook
/// zonetp never replaces, and zonetp's pin zonetp.ko.)
unsafe extern "C" fn put(t: *mut b::nf_ct_timeout) {
    // SAFETY: the caller gives back a reference `find_get` handed out.
    drop(unsafe { ARef::from_raw(core::ptr::NonNull::new_unchecked(t.cast::<crate::timeout::Timeout>())) });
    // SAFETY: paired with the try_module_get in `find_get`.
    unsafe { b::zonetp_compat_module_put() };
}

pub(crate) static HOOKS: b::nf_ct_timeout_hooks = b::nf_ct_timeout_hooks {
    timeout_find_get: Some(find_get),
    timeout_put: Some(put),
};

/// Ownership of `nf_ct_timeout_hook`; dropping it gives the hook up.
///
/// # Invariants
///
/// `new` installed `HOOKS` in `nf_ct_timeout_hook`, and only the `Drop` of
/// this, the only `Registration`, removes it.  (Another provider may have
/// replaced it since, which is why `Drop` compares before clearing.)
pub(crate) struct Registration(());

impl Registration {
    /// Installs zonetp's hooks if no provider has the hook; `EBUSY` if one
    /// does (upstream is loaded or still unloading).
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: HOOKS is static and its functions stay valid while the
        // module is loaded; the Drop below removes it before unload.
        if unsafe { b::zonetp_compat_timeout_hook_install(&HOOKS) } {
            // INVARIANT: installed just now; a second `new` would find the
            // hook taken (by us) and fail.
            Ok(Registration(()))
        } else {
            // The first registration a loaded upstream provider refuses.
            pr_err!("nf_ct_timeout_hook is held by another cttimeout provider (is nfnetlink_cttimeout loaded? rmmod it first)\n");
            Err(EBUSY)
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: a compare-and-exchange: clears the hook only if it still
        // points to HOOKS; another provider's hook is left alone.
        unsafe { b::zonetp_compat_timeout_hook_remove(&HOOKS) };
        // SAFETY: process context (module exit or failed init); waits for
        // conntrack callers still inside `find_get`/`put`, which may have
        // loaded HOOKS before it was removed or replaced.
        unsafe { b::synchronize_net() };
    }
}
