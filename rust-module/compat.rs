// SPDX-License-Identifier: GPL-2.0

//! The `kernel` crate APIs zonetp uses that differ between the kernels
//! it builds for: the 6.12 test kernel and Linux 7.x (Debian sid's stock
//! 7.2 and Debian 13's trixie-backports 7.3: `cfg(zonetp_linux_7)`, and
//! `cfg(zonetp_linux_7_3)` for 7.3 and later, set by `Kbuild`).  Every such difference
//! on the Rust side is settled here, so the rest of the module is written
//! once; docs/porting-7x.md lists them with the errors they cause.

use core::alloc::Layout;
use core::ptr::NonNull;

use kernel::alloc::{allocator::Kmalloc, AllocError, Allocator, Flags};
use kernel::prelude::PinInit;

/// The refcounting types: in `kernel::types` on 6.12; 7.x moved them to
/// `kernel::sync::aref`, and `kernel::types` no longer re-exports them.
#[cfg(not(zonetp_linux_7))]
pub(crate) use kernel::types::{ARef, AlwaysRefCounted};
#[cfg(zonetp_linux_7)]
pub(crate) use kernel::sync::aref::{ARef, AlwaysRefCounted};

/// `Kmalloc::alloc(layout, flags)`: a kmalloc'ed block for `layout`.
#[cfg(not(zonetp_linux_7))]
pub(crate) fn kmalloc(layout: Layout, flags: Flags) -> Result<NonNull<[u8]>, AllocError> {
    Kmalloc::alloc(layout, flags)
}

/// The same on 7.x, whose `Allocator::alloc` also takes a NUMA node: none
/// in particular (`NO_NODE`), which is what 6.12's always does.
#[cfg(zonetp_linux_7)]
pub(crate) fn kmalloc(layout: Layout, flags: Flags) -> Result<NonNull<[u8]>, AllocError> {
    Kmalloc::alloc(layout, flags, kernel::alloc::NumaNode::NO_NODE)
}

/// Runs `init` on `slot`: pin-init's `__pinned_init`, which 7.3 renamed to
/// `__init` (the old name is kept only outside the kernel there).
///
/// # Safety
///
/// As for `PinInit::__pinned_init`: `slot` is valid for writes, suitably
/// aligned, and stays pinned; on error it is left uninitialised.
pub(crate) unsafe fn pin_init_at<T, E>(init: impl PinInit<T, E>, slot: *mut T) -> Result<(), E> {
    // SAFETY: per the caller.
    #[cfg(not(zonetp_linux_7_3))]
    let r = unsafe { init.__pinned_init(slot) };
    // SAFETY: per the caller.
    #[cfg(zonetp_linux_7_3)]
    let r = unsafe { init.__init(slot) };
    r
}
