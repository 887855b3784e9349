// SPDX-License-Identifier: GPL-2.0

//! Per-network-namespace state: a [`Table`] in each namespace's
//! `net_generic` area, set up and torn down by pernet operations
//! (`pre_exit` unpublishes the table, so RCU readers find nothing; `exit`
//! releases every object; upstream's pre_exit unlinks its list instead).

use core::cell::UnsafeCell;
use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use kernel::error::to_result;
use kernel::prelude::*;

use crate::ffi as b;
use crate::net::Net;
use crate::table::Table;

/// The `net_generic` id the core assigns at registration.
static NET_ID: AtomicU32 = AtomicU32::new(0);

/// `struct pernet_operations` (the core links it into its list, so it must
/// be mutable memory).
#[repr(transparent)]
struct PernetOps(UnsafeCell<b::pernet_operations>);

// SAFETY: after registration only the netns core touches it, under its own
// lock (pernet_ops_rwsem); `Registration` registers it at most once.
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

/// Our slot in `net`'s generic area.
///
/// # Safety
///
/// `net` must be live and our pernet operations registered (so NET_ID is
/// our id and the area has `size_of::<Table>()` bytes for us).
unsafe fn slot(net: *mut b::net) -> *mut Table {
    // SAFETY: per the caller.
    unsafe { b::zonetp_compat_net_generic(net, NET_ID.load(Ordering::Relaxed)) }.cast::<Table>()
}

/// The table of `net`.
pub(crate) fn table(net: &Net) -> &Table {
    // SAFETY: a `Net` is set up and not dismantled, so our `net_init`
    // initialised the Table in its area and `net_exit` has not dropped it;
    // the area lives as long as the namespace.
    unsafe { &*slot(net.as_ptr()) }
}

/// Our pernet `init`: an empty table in `net`'s area.
///
/// # Safety
///
/// Called only by the netns core, once per namespace: `net` is live, our
/// operations are registered (NET_ID is our id), and our area holds
/// `size_of::<Table>()` zeroed, suitably aligned bytes no one else uses.
unsafe extern "C" fn net_init(net: *mut b::net) -> c_int {
    // SAFETY: the core calls init on a live namespace after registering
    // our id and allocating `size` zeroed bytes for us.
    let slot = unsafe { slot(net) };
    // SAFETY: `slot` is suitably sized and aligned (kzalloc'ed by the core)
    // and never moves until the core frees it after `net_exit`.
    match unsafe { crate::compat::pin_init_at(Table::new(), slot) } {
        Ok(()) => 0,
        Err(e) => match e {},
    }
}

/// Our pernet `pre_exit`: no RCU reader finds anything in `net` any more.
///
/// # Safety
///
/// Called only by the netns core, once per namespace, after our `init`
/// succeeded on it and before our `exit`, in process context.
unsafe extern "C" fn net_pre_exit(net: *mut b::net) {
    // SAFETY: `net_init` initialised the table; nothing else frees it
    // before `net_exit`.
    let table = unsafe { &*slot(net) };
    table.lock().pre_exit();
    // The core calls synchronize_rcu() before `exit`.
}

/// Our pernet `exit`: releases every object of `net`, then the table.
///
/// # Safety
///
/// Called only by the netns core, once per namespace, after our
/// `pre_exit` and a grace period, in process context; the core frees our
/// area afterwards, and nothing uses the table after this call.
unsafe extern "C" fn net_exit(net: *mut b::net) {
    // SAFETY: `net` is being dismantled (or our operations unregistered),
    // but its memory and our area are valid during the call; no conntrack
    // look-up finds anything in it any more (pre_exit unpublished the
    // table, then a grace period), and no request reaches it (the
    // namespace has no sockets left, or the subsystem is unregistered).
    let table = unsafe { &*slot(net) };
    // SAFETY: `net` is in its pernet exit, after `pre_exit` and a grace
    // period.
    unsafe { table.lock().exit(net) };
    // SAFETY: nothing uses the table any more; the core frees its memory
    // after us, so drop its contents (the mutex, any bucket array) in place.
    unsafe { core::ptr::drop_in_place(slot(net)) };
}

/// Whether OPS is registered (it must not be twice: the core links it).
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// The registered pernet operations; dropping it unregisters them, which
/// runs `pre_exit` and `exit` on every namespace.
///
/// # Invariants
///
/// While it exists, `OPS` is registered with the netns core (and
/// `REGISTERED` is true); only its `Drop` unregisters them.
pub(crate) struct Registration(());

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        if REGISTERED.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        // SAFETY: OPS is static, valid, and not registered (checked above).
        let r = to_result(unsafe { b::register_pernet_subsys(OPS.0.get()) });
        if r.is_err() {
            REGISTERED.store(false, Ordering::Release);
        }
        // INVARIANT: registered unless `r` is an error.
        r.map(|()| Registration(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant), and unregistered only here.
        unsafe { b::unregister_pernet_subsys(OPS.0.get()) };
        REGISTERED.store(false, Ordering::Release);
    }
}
