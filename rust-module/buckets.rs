// SPDX-License-Identifier: GPL-2.0

//! The table's bucket arrays, and how one replaces another under RCU.
//!
//! Every entry has two chain links, one per array "generation" (0 and 1).
//! A resize chains all entries into a new array through the links the
//! current array does not use, publishes the new array, and keeps the old
//! one (whose readers follow the other links) as `retired`.  The rules:
//!
//! 1. A generation's links are reused, and the array that used them is
//!    freed, only after a grace period has passed since that array was
//!    unpublished: then no reader walks it or follows those links.
//! 2. Nothing here waits for one.  A writer holds the nfnl cttimeout
//!    mutex, which every namespace shares, so a wait would stall every
//!    namespace's requests behind one user's churn.  Publication takes a
//!    cookie and asks for a grace period (`start_poll_synchronize_rcu()`);
//!    the next resize asks whether it has passed
//!    (`poll_state_synchronize_rcu()`) and, when not, is refused with
//!    `EAGAIN`: the table keeps its size, chains stay longer (at most what
//!    one grace period's creates add), and the next create retries a
//!    grow, the next delete a shrink.  Resizes being exponentially
//!    spaced, one has almost always passed.
//! 3. At namespace exit, `pre_exit` only unpublishes (no array is made
//!    after it); `exit` runs after the core's grace period and frees every
//!    array.
//!
//! Each array has its own random SipHash key (`get_random_bytes()`), so a
//! user with CAP_NET_ADMIN in a user namespace cannot choose names that
//! share a bucket.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::alloc::flags::GFP_KERNEL_ACCOUNT;
use kernel::ffi::c_ulong;
use kernel::prelude::*;

use crate::ffi as bindings;
use super::{Entry, Key, NAME_MAX};

/// One bucket array.
///
/// # Invariants
///
/// `slots.len()` is a power of two; its chains link entries through
/// their links of generation `gen`; `key` is fixed at allocation.
pub(super) struct Buckets {
    gen: usize,
    key: bindings::siphash_key_t,
    slots: KVVec<AtomicPtr<Entry>>,
}

impl Buckets {
    /// An empty array of `n` buckets (a power of two) for generation `gen`.
    fn new(n: usize, gen: usize) -> Result<KBox<Self>> {
        let mut slots = KVVec::with_capacity(n, GFP_KERNEL_ACCOUNT)?;
        for _ in 0..n {
            slots.push(AtomicPtr::new(null_mut()), GFP_KERNEL_ACCOUNT)?;
        }
        let mut key = bindings::siphash_key_t::default();
        // SAFETY: `key` is a plain 16-byte buffer we own.
        unsafe {
            bindings::get_random_bytes(
                (&mut key as *mut bindings::siphash_key_t).cast(),
                core::mem::size_of::<bindings::siphash_key_t>(),
            )
        };
        // INVARIANT: `n` is a power of two (callers); chains are empty.
        Ok(KBox::new(Buckets { gen, key, slots }, GFP_KERNEL_ACCOUNT)?)
    }

    /// The number of buckets.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    fn slot(&self, key: &Key) -> &AtomicPtr<Entry> {
        // SAFETY: reads `NAME_MAX` bytes of `key` and the siphash key, both ours.
        let h = unsafe { bindings::zonetp_compat_siphash(key.raw().as_ptr().cast(), NAME_MAX, &self.key) };
        &self.slots[(h as usize) & (self.slots.len() - 1)]
    }

    /// The entry named `key` in this array's chains.
    ///
    /// # Safety
    ///
    /// Every entry reachable from the chains must stay allocated while the
    /// result is used: the caller holds the table's mutex, or is an RCU
    /// reader that loaded this array while it was published.
    pub(super) unsafe fn find(&self, key: &Key) -> Option<&Entry> {
        let mut p = self.slot(key).load(Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: entries in a chain are freed only after a grace period
            // that follows their unlink (caller).
            let e = unsafe { &*p };
            if e.key == *key {
                return Some(e);
            }
            p = e.links[self.gen].load(Ordering::Acquire);
        }
        None
    }

    /// Puts `e` first in its chain, visible to readers of this array once
    /// the Release store returns (or once the array is published).
    ///
    /// # Safety
    ///
    /// The caller holds the table's mutex; `e` is a live entry of the
    /// table, not in this array's chains, and no reader follows its link of
    /// this array's generation: the entry is new, or this array came from
    /// [`Arrays::next`] (rule 1).
    pub(super) unsafe fn push(&self, e: &Entry) {
        let slot = self.slot(&e.key);
        e.links[self.gen].store(slot.load(Ordering::Relaxed), Ordering::Relaxed);
        slot.store(e as *const Entry as *mut Entry, Ordering::Release);
    }

    /// Takes `e` out of its chain, if it is there.  Readers already on it
    /// still follow its link to the rest of the chain.
    ///
    /// # Safety
    ///
    /// The caller holds the table's mutex, so every entry in the chains is
    /// live.
    pub(super) unsafe fn remove(&self, e: &Entry) {
        let mut link = self.slot(&e.key);
        loop {
            let p = link.load(Ordering::Relaxed);
            if p.is_null() {
                return;
            }
            if core::ptr::eq(p, e) {
                link.store(e.links[self.gen].load(Ordering::Relaxed), Ordering::Release);
                return;
            }
            // SAFETY: chain entries are live while the mutex is held (caller).
            link = unsafe { &(*p).links[self.gen] };
        }
    }
}

/// The table's arrays, behind its mutex: the published one, and the ones
/// readers may still walk (rules 1 and 3 above).
pub(super) struct Arrays {
    /// The published array (also in the table's reader pointer).
    current: Option<KBox<Buckets>>,
    /// The array replaced last, which readers may still be walking until a
    /// grace period has passed since `retired_gp`.
    retired: Option<KBox<Buckets>>,
    retired_gp: c_ulong,
    /// Only after `unpublish_for_exit`: the array retired before the one
    /// it retired, whose grace period may not have passed either.
    retired_before_exit: Option<KBox<Buckets>>,
}

impl Arrays {
    /// No array: no memory until the first object.
    pub(super) const fn new() -> Arrays {
        Arrays { current: None, retired: None, retired_gp: 0, retired_before_exit: None }
    }

    /// The published array.
    pub(super) fn current(&self) -> Option<&Buckets> {
        self.current.as_deref()
    }

    /// Frees the retired array if a grace period has passed since it was
    /// unpublished.  Never waits; false while one has not passed.
    fn reap_retired(&mut self) -> bool {
        if self.retired.is_none() {
            return true;
        }
        // SAFETY: any cookie is valid to poll; this one was taken by
        // `publish` after the Release store that unpublished the retired
        // array, so a grace period that has passed since started after
        // every reader that could still find that array.
        if !unsafe { bindings::zonetp_compat_rcu_gp_passed(self.retired_gp) } {
            return false;
        }
        self.retired = None;
        true
    }

    /// An empty array of `n` buckets (a power of two) to fill with
    /// [`Buckets::push`] and then [`Arrays::publish`]; `EAGAIN` while the
    /// previous replacement's grace period has not passed (rule 2), and
    /// after `unpublish_for_exit`, whose older array's generation is not
    /// known free.
    pub(super) fn next(&mut self, n: usize) -> Result<KBox<Buckets>> {
        if self.retired_before_exit.is_some() || !self.reap_retired() {
            return Err(EAGAIN);
        }
        let gen = self.current.as_ref().map_or(0, |b| 1 - b.gen);
        Buckets::new(n, gen)
    }

    /// Publishes `new` in `readers` and retires the current array.
    ///
    /// # Safety
    ///
    /// `readers` is the pointer the table's RCU readers load, and `new`
    /// came from [`Arrays::next`] with no publication since: the retired
    /// array it replaces was reaped by that `next`, so no reader still
    /// walks it.
    pub(super) unsafe fn publish(&mut self, readers: &AtomicPtr<Buckets>, new: KBox<Buckets>) {
        readers.store(&*new as *const Buckets as *mut Buckets, Ordering::Release);
        self.retired = self.current.replace(new);
        // SAFETY: no preconditions; returns the current grace-period state.
        self.retired_gp = unsafe { bindings::zonetp_compat_rcu_gp_cookie() };
    }

    /// `pre_exit`: no array for readers, without waiting (it runs under
    /// `pernet_ops_rwsem`); both arrays readers may walk are kept.
    ///
    /// # Safety
    ///
    /// `readers` is the pointer the table's RCU readers load.
    pub(super) unsafe fn unpublish_for_exit(&mut self, readers: &AtomicPtr<Buckets>) {
        if self.current.is_some() {
            readers.store(null_mut(), Ordering::Release);
            self.retired_before_exit = self.retired.take();
            self.retired = self.current.take();
            // SAFETY: no preconditions; returns the current grace-period state.
            self.retired_gp = unsafe { bindings::zonetp_compat_rcu_gp_cookie() };
        }
    }

    /// `exit`: frees every array.
    ///
    /// # Safety
    ///
    /// `unpublish_for_exit` ran, and a grace period has passed since.
    pub(super) unsafe fn free_after_exit(&mut self) {
        self.current = None;
        self.retired = None;
        self.retired_before_exit = None;
    }
}
