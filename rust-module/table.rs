// SPDX-License-Identifier: GPL-2.0

//! The per-network-namespace table of named timeout objects: a hash table
//! whose chains RCU readers (`timeout_find_get`, called from conntrack
//! under `rcu_read_lock`) walk without locks, plus a creation-ordered list
//! (dumps list objects in creation order, as upstream's list does).
//!
//! Writers hold the table's mutex.  They publish an entry with a Release
//! store of the pointer to it and unlink it with a Release store of its
//! successor; readers load with Acquire.  An unlinked entry is freed only
//! after a grace period (`kfree_rcu`), so a reader may still follow it.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::{self, null_mut};
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{lock::mutex::MutexBackend, lock::Guard, Mutex};

use crate::ffi as bindings;
use crate::timeout::{TimeoutRef, TimeoutView};

/// Number of hash buckets per namespace (a power of two).
pub(crate) const BUCKETS: usize = 1024;
/// `CTNL_TIMEOUT_NAME_MAX`: names compare on at most this many bytes.
pub(crate) const NAME_MAX: usize = bindings::CTNL_TIMEOUT_NAME_MAX as usize;

/// A name as compared by upstream's `strncmp(a, b, 32)`: the bytes before
/// the first NUL, at most 32.
pub(crate) fn name_key(bytes: &[u8]) -> &[u8] {
    let b = &bytes[..bytes.len().min(NAME_MAX)];
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

fn bucket_of(key: &[u8]) -> usize {
    // FNV-1a, 32 bits.
    let mut h: u32 = 0x811c_9dc5;
    for &c in key {
        h ^= c as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    (h as usize) & (BUCKETS - 1)
}

/// One named object.
///
/// INVARIANT: allocated with `KBox` (kmalloc) and never moved; `timeout`
/// is the reference the table holds (a leaked [`TimeoutRef`]); once
/// unlinked from its chain it is freed only through `kfree_rcu`.
pub(crate) struct Entry {
    /// Next entry in the hash chain (RCU readers follow it).
    next: AtomicPtr<Entry>,
    /// Written by `kvfree_call_rcu` while readers may hold `&Entry`.
    rcu: UnsafeCell<bindings::callback_head>,
    /// Creation-ordered list, only touched under the table mutex.
    prev_c: *mut Entry,
    next_c: *mut Entry,
    seq: u64,
    name: [u8; NAME_MAX],
    timeout: *mut bindings::nf_ct_timeout,
}

impl Entry {
    pub(crate) fn name(&self) -> &[u8] {
        name_key(&self.name)
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }
}

impl TimeoutView for Entry {
    fn raw(&self) -> *mut bindings::nf_ct_timeout {
        self.timeout
    }
}

/// The mutable state of a table; only accessed with its mutex held.
pub(crate) struct Order {
    head: *mut Entry,
    tail: *mut Entry,
    next_seq: u64,
    /// Entries unlinked by `pre_exit`, freed by `exit`.
    free: *mut Entry,
}

// SAFETY: the raw pointers are to entries owned by the table, only touched
// with the mutex held.
unsafe impl Send for Order {}

pub(crate) type TableGuard<'a> = Guard<'a, Order, MutexBackend>;

/// The table of one network namespace (lives in its `net_generic` area).
#[pin_data]
pub(crate) struct Table {
    buckets: KVec<AtomicPtr<Entry>>,
    #[pin]
    inner: Mutex<Order>,
}

impl Table {
    /// An initialiser for an empty table.
    pub(crate) fn new() -> Result<impl PinInit<Self>> {
        let mut buckets = KVec::with_capacity(BUCKETS, GFP_KERNEL)?;
        for _ in 0..BUCKETS {
            buckets.push(AtomicPtr::new(null_mut()), GFP_KERNEL)?;
        }
        let order = Order { head: null_mut(), tail: null_mut(), next_seq: 1, free: null_mut() };
        Ok(pin_init!(Table { buckets, inner <- new_mutex!(order, "zonetp_table") }))
    }

    pub(crate) fn lock(&self) -> TableGuard<'_> {
        self.inner.lock()
    }

    fn bucket(&self, key: &[u8]) -> &AtomicPtr<Entry> {
        &self.buckets[bucket_of(key)]
    }

    /// Looks `name` up without the lock.
    ///
    /// # Safety
    ///
    /// The caller must be in an RCU read-side critical section (or hold the
    /// mutex); the entry is only valid until it leaves it.
    pub(crate) unsafe fn find_rcu(&self, name: &[u8]) -> Option<&Entry> {
        let key = name_key(name);
        let mut p = self.bucket(key).load(Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: published entries are freed only after a grace period
            // following their unlink; we are inside one (caller).
            let e = unsafe { &*p };
            if e.name() == key {
                return Some(e);
            }
            p = e.next.load(Ordering::Acquire);
        }
        None
    }

    /// Looks `name` up with the mutex held.
    pub(crate) fn find<'a>(&'a self, _g: &'a TableGuard<'_>, name: &[u8]) -> Option<&'a Entry> {
        // SAFETY: holding the mutex, no entry is unlinked or freed while
        // the guard lives.
        unsafe { self.find_rcu(name) }
    }

    /// Adds `name` -> `timeout` (the table takes the reference), last in
    /// creation order; takes a module reference as upstream does.
    pub(crate) fn insert(&self, g: &mut TableGuard<'_>, name: &[u8], timeout: TimeoutRef) -> Result {
        let key = name_key(name);
        let mut n = [0u8; NAME_MAX];
        n[..key.len()].copy_from_slice(key);
        let o: &mut Order = &mut *g;
        let e = KBox::new(
            Entry {
                next: AtomicPtr::new(null_mut()),
                rcu: UnsafeCell::new(bindings::callback_head::default()),
                prev_c: o.tail,
                next_c: null_mut(),
                seq: o.next_seq,
                name: n,
                timeout: ptr::null_mut(),
            },
            GFP_KERNEL,
        )?;
        let e = KBox::into_raw(e);
        o.next_seq += 1;
        let bucket = self.bucket(key);
        // SAFETY: `e` is ours until published by the Release store below;
        // `o.tail` is a live entry (mutex held).
        unsafe {
            (*e).timeout = timeout.into_raw();
            (*e).next.store(bucket.load(Ordering::Relaxed), Ordering::Relaxed);
            if o.tail.is_null() {
                o.head = e;
            } else {
                (*o.tail).next_c = e;
            }
        }
        o.tail = e;
        // SAFETY: plain call.
        unsafe { bindings::zonetp_compat_module_get() };
        bucket.store(e, Ordering::Release);
        Ok(())
    }

    /// Removes `e` from its hash chain (readers may still see it until a
    /// grace period passes) and from the creation order.
    fn unlink(&self, o: &mut Order, e: *mut Entry) {
        // SAFETY: `e` is a live entry of this table and the mutex is held.
        let er = unsafe { &*e };
        let mut link = self.bucket(er.name());
        loop {
            let p = link.load(Ordering::Relaxed);
            if p.is_null() {
                break;
            }
            if p == e {
                link.store(er.next.load(Ordering::Relaxed), Ordering::Release);
                break;
            }
            // SAFETY: chain entries are live under the mutex.
            link = unsafe { &(*p).next };
        }
        // SAFETY: neighbours in the creation list are live under the mutex.
        unsafe {
            if er.prev_c.is_null() {
                o.head = er.next_c;
            } else {
                (*er.prev_c).next_c = er.next_c;
            }
            if er.next_c.is_null() {
                o.tail = er.prev_c;
            } else {
                (*er.next_c).prev_c = er.prev_c;
            }
        }
    }

    /// Drops the table's reference and frees an unlinked entry after a
    /// grace period; gives back the module reference.
    ///
    /// # Safety
    ///
    /// `e` must be unlinked from the chain and the creation list, and not
    /// released before.
    unsafe fn release(e: *mut Entry) {
        // SAFETY: the table's reference, transferred to the TimeoutRef.
        drop(unsafe { TimeoutRef::from_raw((*e).timeout) });
        // SAFETY: `e` was kmalloc'ed (KBox) and has no destructor to run;
        // readers that may still follow it are inside an RCU read section.
        unsafe {
            bindings::kvfree_call_rcu((*e).rcu.get(), e.cast::<c_void>());
            bindings::zonetp_compat_module_put();
        }
    }

    /// Deletes one entry (`ctnl_timeout_del`): unlink, clear the policy from
    /// live connections (`nf_ct_untimeout`), drop the table's reference.
    pub(crate) fn delete(&self, g: &mut TableGuard<'_>, net: *mut bindings::net, e: &Entry) {
        let e = e as *const Entry as *mut Entry;
        self.unlink(&mut *g, e);
        // SAFETY: `net` is the live namespace of this table; `e` unlinked,
        // still valid (freed only by `release`).
        unsafe {
            bindings::nf_ct_untimeout(net, (*e).timeout);
            Self::release(e);
        }
    }

    /// Deletes every entry, in creation order.
    pub(crate) fn delete_all(&self, g: &mut TableGuard<'_>, net: *mut bindings::net) {
        loop {
            let e = g.head;
            if e.is_null() {
                break;
            }
            // SAFETY: the head is a live entry (mutex held).
            self.delete(g, net, unsafe { &*e });
        }
    }

    /// Calls `f` on entries with `seq >= from`, in creation order, until it
    /// returns false.
    pub(crate) fn for_each_from(&self, g: &TableGuard<'_>, from: u64, mut f: impl FnMut(&Entry) -> bool) {
        let mut p = g.head;
        while !p.is_null() {
            // SAFETY: live entry under the mutex.
            let e = unsafe { &*p };
            if e.seq >= from && !f(e) {
                break;
            }
            p = e.next_c;
        }
    }

    /// `pre_exit`: unlink everything onto the free list (the netns core
    /// waits for a grace period before `exit`).
    pub(crate) fn pre_exit(&self) {
        let mut g = self.lock();
        loop {
            let e = g.head;
            if e.is_null() {
                break;
            }
            self.unlink(&mut *g, e);
            // SAFETY: `e` is unlinked and ours; reuse `next_c` for the free list.
            unsafe { (*e).next_c = g.free };
            g.free = e;
        }
    }

    /// `exit`: clear policies from the namespace's connections and release
    /// the unlinked entries.
    pub(crate) fn exit(&self, net: *mut bindings::net) {
        let mut g = self.lock();
        if g.free.is_null() {
            return;
        }
        // SAFETY: `net` is the namespace being dismantled.
        unsafe { bindings::nf_ct_untimeout(net, null_mut()) };
        while !g.free.is_null() {
            let e = g.free;
            // SAFETY: free-list entries are unlinked and not yet released.
            unsafe {
                g.free = (*e).next_c;
                Self::release(e);
            }
        }
    }
}
