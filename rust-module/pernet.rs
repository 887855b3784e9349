// SPDX-License-Identifier: GPL-2.0

//! Per-network-namespace state: a [`Table`] in each namespace's
//! `net_generic` area, set up and torn down by pernet operations
//! (`pre_exit` unlinks everything, `exit` releases it, as upstream).

use core::cell::UnsafeCell;
use core::ffi::c_int;
use core::sync::atomic::{AtomicU32, Ordering};

use kernel::prelude::*;

use crate::ffi as b;
use crate::table::Table;

/// The `net_generic` id the core assigns at registration.
static NET_ID: AtomicU32 = AtomicU32::new(0);

/// `struct pernet_operations` (the core links it into its list, so it must
/// be mutable memory).
#[repr(transparent)]
struct PernetOps(UnsafeCell<b::pernet_operations>);

// SAFETY: only the netns core touches it, under its own locking.
unsafe impl Sync for PernetOps {}

static OPS: PernetOps = PernetOps(UnsafeCell::new({
    // SAFETY: all-zero is a valid pernet_operations (NULL callbacks).
    let mut o: b::pernet_operations = unsafe { core::mem::zeroed() };
    o.init = Some(net_init);
    o.pre_exit = Some(net_pre_exit);
    o.exit = Some(net_exit);
    o.id = NET_ID.as_ptr();
    o.size = core::mem::size_of::<Table>();
    o
}));

/// The table of `net`.
///
/// `net` must be a namespace whose `init` ran and whose `exit` did not
/// (true of any namespace a netlink request or conntrack hands us).
pub(crate) fn table<'a>(net: *mut b::net) -> &'a Table {
    // SAFETY: our id is registered; the area holds a Table initialised by
    // `net_init` and alive until `net_exit`.
    unsafe { &*b::zonetp_compat_net_generic(net, NET_ID.load(Ordering::Relaxed)).cast::<Table>() }
}

unsafe extern "C" fn net_init(net: *mut b::net) -> c_int {
    // SAFETY: the core allocated `size` zeroed bytes for us in net_generic.
    let slot = unsafe { b::zonetp_compat_net_generic(net, NET_ID.load(Ordering::Relaxed)) }.cast::<Table>();
    let init = match Table::new() {
        Ok(i) => i,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: `slot` is suitably sized and aligned (kzalloc) and never moves.
    match unsafe { init.__pinned_init(slot) } {
        Ok(()) => 0,
        Err(e) => match e {},
    }
}

unsafe extern "C" fn net_pre_exit(net: *mut b::net) {
    table(net).pre_exit();
    // The core calls synchronize_rcu() before `exit`.
}

unsafe extern "C" fn net_exit(net: *mut b::net) {
    table(net).exit(net);
    // SAFETY: nothing uses the table any more; its memory is freed by the
    // core after us, so drop its contents (the bucket vector) in place.
    unsafe {
        core::ptr::drop_in_place(b::zonetp_compat_net_generic(net, NET_ID.load(Ordering::Relaxed)).cast::<Table>())
    };
}

pub(crate) fn register() -> Result {
    // SAFETY: OPS is static and valid.
    let r = unsafe { b::register_pernet_subsys(OPS.0.get()) };
    if r < 0 {
        Err(Error::from_errno(r))
    } else {
        Ok(())
    }
}

pub(crate) fn unregister() {
    // SAFETY: registered by `register`.
    unsafe { b::unregister_pernet_subsys(OPS.0.get()) };
}
