// SPDX-License-Identifier: GPL-2.0

//! zonetp: zone-based conntrack timeout policies.
//!
//! Crate root of `zonetp.ko`, a Rust provider of the cttimeout nfnetlink
//! subsystem and of `nf_ct_timeout_hook`, in the place of upstream
//! `nfnetlink_cttimeout` (Linux 6.12 semantics), with hashed name look-ups.
//!
//! - [`net`], [`nlattr`], [`skb`], [`timeout`]: safe wrappers of the kernel FFI.
//! - [`table`]: the per-namespace hash table (its bucket arrays and their
//!   resize under RCU: `table::buckets`); [`pernet`]: its lifetime.
//! - [`netlink`]: policy, callbacks, subsystem; [`handlers`]: the requests.
//! - [`hook`]: conntrack's look-up hook.
//! - `selftest`: test aids, only in the `ZONETP_SELFTEST=1` build (see Kbuild).
//! - [`compat`]: the `kernel` crate APIs that differ between 6.12 and 7.x.

use kernel::prelude::*;

mod compat;
mod errno;
mod ffi;
mod handlers;
mod hook;
mod net;
mod netlink;
mod nlattr;
mod pernet;
#[cfg(zonetp_selftest)]
mod selftest;
mod skb;
mod table;
mod timeout;

module! {
    type: Zonetp,
    name: "zonetp",
    description: "Zone-based conntrack timeout policies",
    license: "GPL",
}

/// The loaded module: its registrations, undone by their `Drop` in field
/// order (Rust drops fields in declaration order), which is upstream's
/// exit order and the reverse of `init`'s: the nfnetlink subsystem (no new
/// request reaches us), the hook (only while it is still ours, then
/// `synchronize_net`), the per-netns state (every table released).
struct Zonetp {
    _subsys: netlink::Registration,
    /// `ZONETP_SELFTEST=1` only: dropped between the subsystem and the hook.
    #[cfg(zonetp_selftest)]
    _aids: selftest::Aids,
    _hook: hook::Registration,
    _pernet: pernet::Registration,
    _log: UnloadLog,
}

/// Logs the unload once every registration is gone.
struct UnloadLog;

impl Drop for UnloadLog {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}

impl kernel::Module for Zonetp {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // The subsystem comes last (upstream registers it before the hook):
        // once it is registered, NEW requests create objects, and if a
        // later step failed, dropping `pernet` would release them with
        // `nf_ct_untimeout()` on live namespaces.  Registered last, nothing
        // can fail after it.  The hook may come before it: until the
        // subsystem is there every table is empty, so `find_get` finds
        // nothing.  On an error the registrations made so far are dropped
        // (undone) in reverse.
        let pernet = pernet::Registration::new()?;
        let hook = hook::Registration::new()?;
        // Made after the hook, so that a failed init drops it first, as
        // exit does.
        #[cfg(zonetp_selftest)]
        let aids = selftest::Aids::new()?;
        let subsys = netlink::Registration::new().inspect_err(|e| {
            if *e == EBUSY {
                pr_err!("cttimeout subsystem already registered (is nfnetlink_cttimeout loaded? rmmod it first)\n");
            } else {
                pr_err!("cannot register the cttimeout nfnetlink subsystem ({:?})\n", e);
            }
        })?;
        pr_info!("loaded\n");
        Ok(Zonetp {
            _subsys: subsys,
            #[cfg(zonetp_selftest)]
            _aids: aids,
            _hook: hook,
            _pernet: pernet,
            _log: UnloadLog,
        })
    }
}
