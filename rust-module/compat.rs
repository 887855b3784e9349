// SPDX-License-Identifier: GPL-2.0

//! The `kernel` crate APIs zonetp uses that differ between the two kernels
//! it builds for: the 6.12 test kernel and Linux 7.x (Debian sid's stock
//! kernel, `cfg(zonetp_linux_7)`, set by `Kbuild`).  Every such difference
//! on the Rust side is settled here, so the rest of the module is written
//! once; docs/porting-7x.md lists them with the errors they cause.

use core::alloc::Layout;
use core::ptr::NonNull;

use kernel::alloc::{allocator::Kmalloc, AllocError, Allocator, Flags};

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
