// SPDX-License-Identifier: GPL-2.0

//! The per-network-namespace table of named timeout objects.
//!
//! A hash table that RCU readers (`timeout_find_get`, called by conntrack
//! under `rcu_read_lock()`) search without locks, and that grows and
//! shrinks with the number of objects so that a look-up costs the same at
//! 1 and at 30,000 objects; plus a creation-ordered list, because dumps
//! list objects in creation order as upstream's list does.
//!
//! Writers hold the table's mutex (and, for requests, the nfnl subsystem
//! mutex).  They publish an entry with a Release store of the pointer to
//! it and unlink it with a Release store of its successor; readers load
//! with Acquire.  An unlinked entry is freed with `kfree_rcu()`, so a
//! reader may still follow it until it leaves its read-side section.
//!
//! The bucket arrays, and how a resize replaces one under RCU without
//! ever waiting for a grace period, are in `buckets.rs`.  Memory follows
//! the objects: no array until the first object, then between one and
//! four buckets (8 bytes each) per object, 16 at least; entries, arrays
//! and policy objects are charged to the memory cgroup of the task that
//! creates them (`GFP_KERNEL_ACCOUNT`).

use core::marker::PhantomData;
use core::ptr::{null, null_mut, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::alloc::flags::GFP_KERNEL_ACCOUNT;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{lock::mutex::MutexBackend, lock::Guard, LockedBy, Mutex};
use kernel::types::Opaque;

use crate::compat::{ARef, AlwaysRefCounted};
use crate::errno::EPROTONOSUPPORT;
use crate::ffi as bindings;
use crate::net::Net;
use crate::timeout::Timeout;

// A child module, so that it reaches `Entry`'s private chain links and no
// other module does.
#[path = "buckets.rs"]
mod buckets;
use buckets::{Arrays, Buckets};

/// `CTNL_TIMEOUT_NAME_MAX`: names compare on at most this many bytes.
pub(crate) const NAME_MAX: usize = bindings::CTNL_TIMEOUT_NAME_MAX as usize;

/// Smallest bucket array (a power of two).
const MIN_SLOTS: usize = 16;

/// A name as upstream compares it (`strncmp(a, b, 32)`): the bytes before
/// the first NUL, at most 32, padded with zeroes.  Two names are equal for
/// upstream exactly when their keys are.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key([u8; NAME_MAX]);

impl Key {
    pub(crate) fn new(bytes: &[u8]) -> Key {
        let mut k = [0u8; NAME_MAX];
        for (d, &s) in k.iter_mut().zip(bytes.iter().take_while(|&&c| c != 0)) {
            *d = s;
        }
        Key(k)
    }

    /// The name, without its padding.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        let n = self.0.iter().position(|&c| c == 0).unwrap_or(NAME_MAX);
        &self.0[..n]
    }

    pub(crate) fn raw(&self) -> &[u8; NAME_MAX] {
        &self.0
    }
}

/// An entry's place in the creation order; writer-only state.
struct OrderLinks {
    prev: *const Entry,
    next: *const Entry,
}

// SAFETY: the pointers are only followed by holders of the table's mutex
// (`LockedBy<OrderLinks, State>`), whichever CPU they run on.
unsafe impl Send for OrderLinks {}
// SAFETY: as for `Send`; shared access (`LockedBy::access`) only reads the
// two pointers.
unsafe impl Sync for OrderLinks {}

/// One named object.
///
/// What RCU readers see is immutable after publication (`key`, `seq`,
/// `timeout`) or atomic (`links`); the creation order, which writers
/// change on neighbouring entries while readers hold `&Entry`, is behind
/// the table's mutex (`LockedBy`).
///
/// # Invariants
///
/// - Allocated by [`Locked::insert`] with `KBox` (kmalloc), never moved, and
///   freed only by the drop of its [`Unlinked`], with `kfree_rcu()` after
///   it was unlinked from the current array's chains and the creation
///   order; a reader that can still reach it (through those chains before
///   the unlink, or a retired array's) is inside a read-side section that
///   began before the `kfree_rcu()`, which waits for it.
/// - `timeout` is the table's reference on the policy object (an
///   `ARef<Timeout>` turned into a pointer), held until that drop.
/// - A `&Entry` outside this module exists only while the entry is in the
///   table and its mutex is held ([`Locked`]), or while an [`Unlinked`]
///   owns it: in both cases the table's reference is held, so `timeout`
///   has a non-zero count.  RCU readers get an [`RcuEntry`] instead.
#[repr(C)]
pub(crate) struct Entry {
    /// First field: `kfree_rcu()` frees the entry through it.
    rcu: Opaque<bindings::zonetp_rcu_obj>,
    /// Chain links, one per bucket-array generation (`buckets.rs`).
    links: [AtomicPtr<Entry>; 2],
    key: Key,
    /// Creation number; dumps resume from it.
    seq: u64,
    timeout: NonNull<Timeout>,
    order: LockedBy<OrderLinks, State>,
}

// SAFETY: other CPUs (RCU readers, the next writer) read only the immutable
// `key`, `seq` and `timeout` pointer and the atomic `links`; `Timeout` is
// itself thread-safe (atomic refcount, RCU-freed); `order` is accessed
// only with the table's mutex held (`LockedBy`); `rcu` is touched only by
// `kfree_rcu()`, once, after the unlink: RCU readers may still be walking
// the entry then, but no reader ever reads or writes `rcu`.
unsafe impl Sync for Entry {}
// SAFETY: an entry is created on one CPU and released (its reference
// dropped, its memory freed by RCU) on any other; nothing in it is tied
// to a thread.
unsafe impl Send for Entry {}

impl Entry {
    pub(crate) fn key(&self) -> &Key {
        &self.key
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The policy object.
    pub(crate) fn timeout(&self) -> &Timeout {
        // SAFETY: by the type invariant, whoever holds `&self` holds (through
        // the table) a reference on the object, which keeps it alive.
        unsafe { self.timeout.as_ref() }
    }
}

/// An RCU read-side critical section, held while the guard lives: the
/// proof `find_rcu` asks for, so what it lends cannot outlive the section.
///
/// # Invariants
///
/// `rcu_read_lock()` was called when the guard was made, and is matched by
/// the `rcu_read_unlock()` of its `drop`.  The guard is neither `Send` nor
/// `Sync` (the raw pointer in its marker), so it is dropped by the task
/// that made it, as RCU requires of an unlock.
pub(crate) struct RcuReadSide(PhantomData<*mut ()>);

impl RcuReadSide {
    /// Enters a read-side critical section (nested sections are cheap:
    /// the hook's caller usually holds one already).
    pub(crate) fn lock() -> RcuReadSide {
        // SAFETY: rcu_read_lock() has no precondition; the guard's drop
        // calls the matching unlock.
        unsafe { bindings::zonetp_compat_rcu_read_lock() };
        RcuReadSide(PhantomData)
    }
}

impl Drop for RcuReadSide {
    fn drop(&mut self) {
        // SAFETY: by the type invariant, this section was entered by
        // `lock` in this task and is left once, here.
        unsafe { bindings::zonetp_compat_rcu_read_unlock() };
    }
}

/// An entry as an RCU reader sees it: it may have been deleted meanwhile,
/// and its policy object's count may have dropped to zero.
pub(crate) struct RcuEntry<'a>(&'a Entry);

impl RcuEntry<'_> {
    /// A new reference on the policy object, unless its last one is gone
    /// (`refcount_inc_not_zero`, as upstream's `ctnl_timeout_find_get`).
    pub(crate) fn try_get_timeout(&self) -> Option<ARef<Timeout>> {
        // SAFETY: the object is freed with kfree_rcu() only after the
        // table's reference is dropped, which follows the entry's unlink;
        // this reader found the entry in a chain, inside its read-side
        // section (`RcuReadSide`), so the memory is still there.
        unsafe { Timeout::try_get(self.0.timeout) }
    }
}

/// The table's writer state, behind its mutex.
pub(crate) struct State {
    /// The bucket arrays: the published one (also in `Table::buckets` for
    /// readers) and the retired ones.
    arrays: Arrays,
    /// Creation order (oldest first).
    head: *const Entry,
    tail: *const Entry,
    count: usize,
    next_seq: u64,
}

// SAFETY: the raw pointers are to entries owned by the table, followed only
// with the mutex held.
unsafe impl Send for State {}

/// The table of one network namespace (in its `net_generic` area).
#[pin_data]
pub(crate) struct Table {
    /// `Arrays::current` (in `State::arrays`), as RCU readers load it
    /// (NULL: no objects yet).
    buckets: AtomicPtr<Buckets>,
    #[pin]
    state: Mutex<State>,
}

impl Table {
    /// An initialiser for an empty table: no memory beyond its own.
    pub(crate) fn new() -> impl PinInit<Self> {
        let state = State {
            arrays: Arrays::new(),
            head: null(),
            tail: null(),
            count: 0,
            next_seq: 1,
        };
        pin_init!(Table { buckets: AtomicPtr::new(null_mut()), state <- new_mutex!(state, "zonetp_table") })
    }

    /// Takes the table's mutex.
    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked { table: self, g: self.state.lock() }
    }

    /// Looks `key` up without locks.
    pub(crate) fn find_rcu<'a>(&'a self, _rcu: &'a RcuReadSide, key: &Key) -> Option<RcuEntry<'a>> {
        let b = self.buckets.load(Ordering::Acquire);
        if b.is_null() {
            return None;
        }
        // SAFETY: a bucket array is freed only after a grace period following
        // its replacement, and we are inside a read-side section.
        let b = unsafe { &*b };
        // SAFETY: as above, for the entries of its chains.
        unsafe { b.find(key) }.map(RcuEntry)
    }
}

/// The table, locked: every writer operation, tied to this table's mutex.
pub(crate) struct Locked<'a> {
    table: &'a Table,
    g: Guard<'a, State, MutexBackend>,
}

impl<'a> Locked<'a> {
    /// The entry named `key`.
    pub(crate) fn find(&self, key: &Key) -> Option<&Entry> {
        let b = self.g.arrays.current()?;
        // SAFETY: with the mutex held no entry is unlinked or freed.
        unsafe { b.find(key) }
    }

    /// Adds `key` -> `timeout` (the table keeps the reference), last in
    /// creation order, and takes a module reference, as upstream does; or
    /// fails with `EPROTONOSUPPORT` once the module is going (see below).
    /// The caller has checked that `key` is not in the table.
    pub(crate) fn insert(&mut self, key: Key, timeout: ARef<Timeout>) -> Result {
        if self.g.arrays.current().map_or(0, Buckets::len) < self.g.count + 1 {
            // A failed resize only makes chains longer, unless there was no
            // array at all.
            let r = self.resize(size_for(self.g.count + 1));
            if self.g.arrays.current().is_none() {
                return r;
            }
        }
        let seq = self.g.next_seq;
        let tail = self.g.tail;
        let e = KBox::new(
            Entry {
                rcu: Opaque::uninit(),
                links: [AtomicPtr::new(null_mut()), AtomicPtr::new(null_mut())],
                key,
                seq,
                timeout: NonNull::from(&*timeout),
                order: LockedBy::new(&self.table.state, OrderLinks { prev: tail, next: null() }),
            },
            GFP_KERNEL_ACCOUNT,
        )?;
        // Upstream's __module_get() also succeeds once rmmod has begun (the
        // module is going, its refcount was zero): a request that reaches
        // the subsystem before exit unregisters it would then create an
        // object that exit releases with nf_ct_untimeout() on a live
        // namespace.  Refuse it instead, with the errno a cttimeout dump
        // gets in the same window, from either provider
        // (netlink_dump_start()'s try_module_get() of the provider).
        // Returning drops `e` (plain memory) and the never shared `timeout`.
        // SAFETY: `try_module_get` on our own module, whose `struct module`
        // outlives this call; a reference taken is given back by the
        // module_put in `Unlinked`'s drop.
        if !unsafe { bindings::zonetp_compat_module_try_get() } {
            return Err(EPROTONOSUPPORT());
        }
        // INVARIANT: the entry now holds the table's reference.
        let _ = ARef::into_raw(timeout);
        let e: *const Entry = KBox::into_raw(e);
        self.g.next_seq += 1;
        self.g.count += 1;
        if tail.is_null() {
            self.g.head = e;
        } else {
            // SAFETY: `tail` is a live entry of this table (mutex held).
            let t = unsafe { &*tail };
            t.order.access_mut(&mut self.g).next = e;
        }
        self.g.tail = e;
        let Some(b) = self.g.arrays.current() else {
            // Unreachable: checked above, with the mutex held since.
            return Ok(());
        };
        // SAFETY: `e` is from `KBox::into_raw` above, live until its
        // `Unlinked` drops; the mutex is held; the entry is new, in no
        // chain, and no reader has seen it.
        unsafe { b.push(&*e) };
        Ok(())
    }

    /// Removes the entry named `key` from the table: readers may still see
    /// it until a grace period passes; dropping the handle releases it.
    pub(crate) fn take(&mut self, key: &Key) -> Option<Unlinked> {
        let e: *const Entry = self.find(key)?;
        // SAFETY: found in this table's chains, with the mutex held since.
        Some(unsafe { self.unlink(e) })
    }

    /// Removes the oldest entry.
    pub(crate) fn take_first(&mut self) -> Option<Unlinked> {
        let e = self.g.head;
        // SAFETY: the head of this table's creation order (mutex held).
        (!e.is_null()).then(|| unsafe { self.unlink(e) })
    }

    /// # Safety
    ///
    /// `e` must be an entry of this table (in its chains and creation order).
    unsafe fn unlink(&mut self, e: *const Entry) -> Unlinked {
        // SAFETY: a live entry of this table (caller), and the mutex is held.
        let er = unsafe { &*e };
        if let Some(b) = self.g.arrays.current() {
            // SAFETY: the mutex is held.
            unsafe { b.remove(er) };
        }
        let (prev, next) = {
            let o = er.order.access_mut(&mut self.g);
            (o.prev, o.next)
        };
        if prev.is_null() {
            self.g.head = next;
        } else {
            // SAFETY: neighbours in the creation order are live (mutex held).
            unsafe { &*prev }.order.access_mut(&mut self.g).next = next;
        }
        if next.is_null() {
            self.g.tail = prev;
        } else {
            // SAFETY: as above.
            unsafe { &*next }.order.access_mut(&mut self.g).prev = prev;
        }
        self.g.count -= 1;
        let n = self.g.count;
        // Shrink below a quarter full (a failure keeps the larger array).
        // An emptied table keeps its smallest array: freeing it would
        // leave the next create without one until a grace period passed.
        if self.g.arrays.current().is_some_and(|b| b.len() > MIN_SLOTS && n < b.len() / 4) {
            let _ = self.resize(size_for(n * 2));
        }
        // INVARIANT: unlinked from the chains of the current array and from
        // the creation order; readers of a retired array that still see it
        // are inside a read-side section, which kfree_rcu() waits for.
        Unlinked { e: NonNull::from(er) }
    }

    /// Rehashes every entry into a new array of `n` buckets; `EAGAIN`
    /// while the previous resize's grace period has not passed.
    fn resize(&mut self, n: usize) -> Result {
        let new = self.g.arrays.next(n)?;
        let mut p = self.g.head;
        while !p.is_null() {
            // SAFETY: live entry (mutex held).
            let e = unsafe { &*p };
            // SAFETY: the mutex is held; `e` is a live entry, not yet in
            // `new`, which came from `Arrays::next`.
            unsafe { new.push(e) };
            p = e.order.access(&self.g).next;
        }
        // SAFETY: `new` is from `next`, with no publication since (the
        // mutex is held); `buckets` is the pointer this table's readers load.
        unsafe { self.g.arrays.publish(&self.table.buckets, new) };
        Ok(())
    }

    /// Calls `f` on entries in creation order, from the entry `from` names
    /// (key and creation number) or from the oldest, until it returns
    /// false.  If `from`'s entry is gone, there is nothing to list: as
    /// upstream, which resumes at the saved object and lists nothing more
    /// when it is no longer on the list.
    pub(crate) fn for_each_from(&self, from: Option<(&Key, u64)>, mut f: impl FnMut(&Entry) -> bool) {
        let mut p = match from {
            None => self.g.head,
            Some((key, seq)) => match self.find(key) {
                Some(e) if e.seq == seq => e as *const Entry,
                _ => return,
            },
        };
        while !p.is_null() {
            // SAFETY: live entry (mutex held).
            let e = unsafe { &*p };
            if !f(e) {
                break;
            }
            p = e.order.access(&self.g).next;
        }
    }

    /// `pre_exit`: makes every entry unreachable for readers (no array),
    /// without waiting (it runs under `pernet_ops_rwsem`); the netns core
    /// waits for a grace period before `exit`, which frees the arrays.
    pub(crate) fn pre_exit(&mut self) {
        // SAFETY: `buckets` is the pointer this table's readers load.
        unsafe { self.g.arrays.unpublish_for_exit(&self.table.buckets) };
    }

    /// `exit`: clears policies from the namespace's connections, then
    /// releases every entry and frees the arrays (all of them, also with
    /// no entry left).
    ///
    /// # Safety
    ///
    /// `net` must be this table's namespace, in its pernet `exit` (being
    /// dismantled, or our operations being unregistered): `pre_exit` ran
    /// and a grace period passed since.
    pub(crate) unsafe fn exit(&mut self, net: *mut bindings::net) {
        if self.g.head.is_null() {
            // SAFETY: `pre_exit` ran and a grace period passed (caller).
            unsafe { self.g.arrays.free_after_exit() };
            return;
        }
        // SAFETY: `net` is still valid during its pernet exit (caller).
        if unsafe { bindings::zonetp_compat_check_net(net) } {
            // A live namespace: the module is unloading.  Not expected to
            // happen (every object holds a module reference, and none is
            // created once the module is going), but should objects be
            // left, clear only our own from the connections, as DELETE
            // does: nf_ct_untimeout(net, NULL) would also clear the
            // policies of the provider that may hold the hook by now.
            self.for_each_from(None, |e| {
                // SAFETY: `net` is valid (caller); the object is live (the
                // table's reference).
                unsafe { bindings::nf_ct_untimeout(net, e.timeout().as_ptr()) };
                true
            });
        } else {
            // Being dismantled: one pass over its connections clears every
            // policy, as upstream does; the connections go away with the
            // namespace anyway.
            // SAFETY: `net` is still valid during its pernet exit (caller).
            unsafe { bindings::nf_ct_untimeout(net, null_mut()) };
        }
        while let Some(u) = self.take_first() {
            drop(u);
        }
        // SAFETY: the core waited for a grace period after `pre_exit`
        // published no array (caller), so nobody walks the retired ones.
        unsafe { self.g.arrays.free_after_exit() };
    }
}

/// Bucket count for `n` objects.
fn size_for(n: usize) -> usize {
    n.max(MIN_SLOTS).next_power_of_two()
}

/// An entry removed from its table, which this handle owns.  Dropping it
/// releases the entry (see the `Drop` impl); [`Unlinked::delete`] first
/// clears its policy from the namespace's connections, as a DELETE does.
///
/// A `Drop` that releases, rather than one that only warns: the handle
/// holds all that releasing takes (nothing needs the namespace), each step
/// may run in any context, and kernel panics do not unwind, so no drop
/// runs on a path that could not release; warning instead would leak the
/// entry, its object and a module reference.
///
/// # Invariants
///
/// `e` is an entry unlinked from the hash chains and the creation order
/// of its table, not yet released; only `Drop` releases it.
#[must_use = "dropping it releases the entry without clearing its policy from connections (see `delete`)"]
pub(crate) struct Unlinked {
    e: NonNull<Entry>,
}

impl Unlinked {
    pub(crate) fn entry(&self) -> &Entry {
        // SAFETY: owned and not released (type invariant).
        unsafe { self.e.as_ref() }
    }

    /// `ctnl_timeout_del`: clears the policy from the namespace's live
    /// connections (`nf_ct_untimeout`), then releases the entry.
    pub(crate) fn delete(self, net: &Net) {
        // SAFETY: `net` is live; the object is live (we hold the table's
        // reference).
        unsafe { bindings::nf_ct_untimeout(net.as_ptr(), self.entry().timeout().as_ptr()) };
        drop(self);
    }
}

impl Drop for Unlinked {
    /// Drops the table's reference on the policy object, frees the entry
    /// after a grace period and gives back the module reference.
    fn drop(&mut self) {
        let e = self.e;
        // SAFETY: the table's reference (Entry invariant), given up here
        // once: `drop` runs once, and nothing else releases (invariant).
        unsafe { Timeout::dec_ref((*e.as_ptr()).timeout) };
        // `Opaque::get` through the field, not `Opaque::raw_get`, which 7.x
        // renamed `cast_into`: the entry is live here, so a reference to
        // its field is fine, and the code is the same on both kernels.
        // SAFETY: `e` was allocated by KBox (kmalloc) with `rcu` as its first
        // field (repr(C)), so the zonetp_rcu_obj is at the start of the
        // allocation; it has nothing else to drop (`order` and `links` hold
        // no resources); readers still following it are in a read-side
        // section, which kfree_rcu() waits for.
        unsafe { bindings::zonetp_compat_kfree_rcu((*e.as_ptr()).rcu.get()) };
        // SAFETY: pairs with the try_module_get in `Locked::insert`.
        unsafe { bindings::zonetp_compat_module_put() };
    }
}
