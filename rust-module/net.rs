// SPDX-License-Identifier: GPL-2.0

//! `struct net`: a network namespace, as the nfnetlink core and conntrack
//! hand it to us.

use kernel::types::Opaque;

use crate::ffi as bindings;

/// A network namespace that is set up and not being dismantled.
///
/// # Invariants
///
/// `self.0` is a `struct net` whose pernet `init` calls (zonetp's included)
/// have all run and whose `pre_exit` calls have not started, for as long as
/// the reference lives.
#[repr(transparent)]
pub(crate) struct Net(Opaque<bindings::net>);

impl Net {
    /// # Safety
    ///
    /// `ptr` must be a live namespace, set up (zonetp's pernet `init` ran on
    /// it) and not dismantled, for `'a`: the namespace of a netlink request
    /// or socket during the callback, or the one conntrack passes to
    /// `timeout_find_get`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::net) -> &'a Net {
        // SAFETY: `Net` is a transparent wrapper of `struct net`; the caller
        // guarantees the invariant for `'a`.
        unsafe { &*ptr.cast::<Net>() }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::net {
        self.0.get()
    }
}
