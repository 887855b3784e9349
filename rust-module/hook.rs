// SPDX-License-Identifier: GPL-2.0

//! `nf_ct_timeout_hook`: how conntrack users (openvswitch, xt_CT, nft)
//! resolve a policy name to an object and release it.

use kernel::ffi::c_char;

use crate::ffi as b;
use crate::pernet;
use crate::timeout::TimeoutRef;

/// `timeout_find_get`: called under `rcu_read_lock()` (must not sleep).
/// Returns a new reference and takes a module reference, or NULL.
unsafe extern "C" fn find_get(net: *mut b::net, name: *const c_char) -> *mut b::nf_ct_timeout {
    // Read the name byte by byte up to its NUL (at most 32 bytes matter).
    let mut buf = [0u8; crate::table::NAME_MAX];
    for (i, c) in buf.iter_mut().enumerate() {
        // SAFETY: `name` is a NUL-terminated string; we stop at its NUL.
        let v = unsafe { *name.add(i) } as u8;
        if v == 0 {
            break;
        }
        *c = v;
    }
    let table = pernet::table(net);
    // SAFETY: the caller (nf_ct_set_timeout) holds rcu_read_lock().
    let Some(e) = (unsafe { table.find_rcu(&buf) }) else {
        return core::ptr::null_mut();
    };
    // SAFETY: the entry (and its object) are RCU-protected here.
    match unsafe { TimeoutRef::try_get(crate::timeout::TimeoutView::raw(e)) } {
        Some(t) => {
            // SAFETY: plain call; paired with `put`.
            unsafe { b::zonetp_compat_module_get() };
            t.into_raw()
        }
        None => core::ptr::null_mut(),
    }
}

/// `timeout_put`: drops a reference from `find_get`.
unsafe extern "C" fn put(t: *mut b::nf_ct_timeout) {
    // SAFETY: the caller gives back a reference `find_get` handed out.
    drop(unsafe { TimeoutRef::from_raw(t) });
    // SAFETY: paired with the module_get in `find_get`.
    unsafe { b::zonetp_compat_module_put() };
}

static HOOKS: b::nf_ct_timeout_hooks = b::nf_ct_timeout_hooks {
    timeout_find_get: Some(find_get),
    timeout_put: Some(put),
};

/// RCU_INIT_POINTER(nf_ct_timeout_hook, &HOOKS)
pub(crate) fn install() {
    // SAFETY: HOOKS is static.
    unsafe { b::zonetp_compat_set_timeout_hook(&HOOKS) };
}

/// RCU_INIT_POINTER(nf_ct_timeout_hook, NULL); the caller waits for readers.
pub(crate) fn uninstall() {
    // SAFETY: plain pointer store.
    unsafe { b::zonetp_compat_set_timeout_hook(core::ptr::null()) };
}
