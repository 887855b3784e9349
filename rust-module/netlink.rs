// SPDX-License-Identifier: GPL-2.0

//! The nfnetlink subsystem NFNL_SUBSYS_CTNETLINK_TIMEOUT: attribute policy
//! (one table), callbacks and registration.

use kernel::error::to_result;
use kernel::prelude::*;

use crate::ffi as b;
use crate::handlers::{self, ATTR_MAX};

/// Static C data with pointers in it, never written (the nfnetlink core
/// takes `const` pointers to it).
#[repr(transparent)]
struct Shared<T>(T);

// SAFETY: for exactly the three tables below, not for any `T`: each is
// built at compile time, never written afterwards (no interior mutability,
// no `static mut`), and its pointers lead only to other such statics or to
// functions, so every CPU may read it at once.
unsafe impl Sync for Shared<[b::nla_policy; ATTR_MAX + 1]> {}
// SAFETY: as above.
unsafe impl Sync for Shared<[b::nfnl_callback; CB_COUNT]> {}
// SAFETY: as above.
unsafe impl Sync for Shared<b::nfnetlink_subsystem> {}

const fn policy(ty: u32, len: u16) -> b::nla_policy {
    // SAFETY: all-zero is a valid nla_policy (NLA_UNSPEC, no validation).
    let mut p: b::nla_policy = unsafe { core::mem::zeroed() };
    p.type_ = ty as u8;
    p.len = len;
    p
}

/// The attribute policy shared by every request (upstream's
/// cttimeout_nla_policy): NAME a NUL-terminated string of at most 31 bytes.
static POLICY: Shared<[b::nla_policy; ATTR_MAX + 1]> = Shared({
    let mut t = [policy(0, 0); ATTR_MAX + 1];
    t[b::ctattr_timeout_CTA_TIMEOUT_NAME as usize] =
        policy(b::NLA_NUL_STRING, (b::CTNL_TIMEOUT_NAME_MAX - 1) as u16);
    t[b::ctattr_timeout_CTA_TIMEOUT_L3PROTO as usize] = policy(b::NLA_U16, 0);
    t[b::ctattr_timeout_CTA_TIMEOUT_L4PROTO as usize] = policy(b::NLA_U8, 0);
    t[b::ctattr_timeout_CTA_TIMEOUT_DATA as usize] = policy(b::NLA_NESTED, 0);
    t
});

type Call = unsafe extern "C" fn(*mut b::sk_buff, *const b::nfnl_info, *const *const b::nlattr) -> i32;

const fn cb(call: Call) -> b::nfnl_callback {
    b::nfnl_callback {
        call: Some(call),
        policy: &POLICY.0 as *const _ as *const b::nla_policy,
        type_: b::nfnl_callback_type_NFNL_CB_MUTEX,
        attr_count: ATTR_MAX as u16,
    }
}

const CB_COUNT: usize = b::ctnl_timeout_msg_types_IPCTNL_MSG_TIMEOUT_MAX as usize;

/// One handler per message type, indexed by the message type itself (as
/// `POLICY` is by attribute type); a type left out would stay all-zero, a
/// NULL `call` that nfnetlink answers with EOPNOTSUPP.
static CALLBACKS: Shared<[b::nfnl_callback; CB_COUNT]> = Shared({
    // SAFETY: all-zero is a valid nfnl_callback (no call, no policy).
    let mut t: [b::nfnl_callback; CB_COUNT] = unsafe { core::mem::zeroed() };
    t[b::ctnl_timeout_msg_types_IPCTNL_MSG_TIMEOUT_NEW as usize] = cb(handlers::new_timeout);
    t[b::ctnl_timeout_msg_types_IPCTNL_MSG_TIMEOUT_GET as usize] = cb(handlers::get_timeout);
    t[b::ctnl_timeout_msg_types_IPCTNL_MSG_TIMEOUT_DELETE as usize] = cb(handlers::del_timeout);
    t[b::ctnl_timeout_msg_types_IPCTNL_MSG_TIMEOUT_DEFAULT_SET as usize] = cb(handlers::default_set);
    t[b::ctnl_timeout_msg_types_IPCTNL_MSG_TIMEOUT_DEFAULT_GET as usize] = cb(handlers::default_get);
    t
});

static SUBSYS: Shared<b::nfnetlink_subsystem> = Shared({
    // SAFETY: all-zero is valid (NULL owner and batch callbacks).
    let mut s: b::nfnetlink_subsystem = unsafe { core::mem::zeroed() };
    s.name = c"conntrack_timeout".as_ptr().cast();
    s.subsys_id = b::NFNL_SUBSYS_CTNETLINK_TIMEOUT as u8;
    s.cb_count = CB_COUNT as u8;
    s.cb = &CALLBACKS.0 as *const _ as *const b::nfnl_callback;
    s
});

/// The registered subsystem; dropping it unregisters it.
///
/// # Invariants
///
/// While it exists, `SUBSYS` is registered with nfnetlink (which refuses a
/// second registration of the subsystem id); only its `Drop` unregisters it.
pub(crate) struct Registration(());

impl Registration {
    /// `nfnetlink_subsys_register`; `EBUSY` when another provider (upstream
    /// nfnetlink_cttimeout) has the subsystem, or when it is ours already.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: SUBSYS and what it points to are static and valid while
        // the module is loaded; the Drop below unregisters it before.
        to_result(unsafe { b::nfnetlink_subsys_register(&SUBSYS.0) })?;
        // INVARIANT: registered just now.
        Ok(Registration(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant), and unregistered only here; no
        // new callback starts after this returns (it waits for a grace
        // period), and running ones hold the nfnl mutex it takes.
        unsafe { b::nfnetlink_subsys_unregister(&SUBSYS.0) };
    }
}
