// SPDX-License-Identifier: GPL-2.0

//! zonetp: zone-based conntrack timeout policies.
//!
//! Crate root of `zonetp.ko`, a Rust provider of the cttimeout nfnetlink
//! subsystem and of `nf_ct_timeout_hook`, in the place of upstream
//! `nfnetlink_cttimeout` (Linux 6.12 semantics), with hashed name look-ups.
//!
//! - [`net`], [`nlattr`], [`skb`], [`timeout`]: safe wrappers of the kernel FFI.
//! - [`table`]: the per-namespace hash table; [`pernet`]: its lifetime.
//! - [`netlink`]: policy, callbacks, subsystem; [`handlers`]: the requests.
//! - [`hook`]: conntrack's look-up hook.
//! - [`inject`]: deliberate defects, only in test builds (see Kbuild).
//! - [`compat`]: the `kernel` crate APIs that differ between 6.12 and 7.x.

use kernel::prelude::*;

mod compat;
mod errno;
mod ffi;
mod handlers;
mod hook;
mod inject;
mod net;
mod netlink;
mod nlattr;
mod pernet;
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

#[cfg(zonetp_fail_init)]
fn fail_init() -> Result {
    // SAFETY: reads a module parameter that lives as long as the module.
    if unsafe { ffi::zonetp_compat_fail_init() } {
        pr_err!("init failing on request (fail_init=1)\n");
        return Err(EINVAL);
    }
    Ok(())
}

/// The version of the C shims' interface this Rust code is written for,
/// kept by hand: it must equal `ZONETP_COMPAT_ABI` in
/// `compat/zonetp_compat.h`, and both change when a shim's signature or
/// meaning does.  Written here, not taken from the header (as bindgen
/// would), so that the check below compares two independent statements.
#[cfg(zonetp_selftest)]
const SHIM_ABI: u32 = 3;

/// ZONETP_SELFTEST=1: C and Rust agree on the shims and the layout.
#[cfg(zonetp_selftest)]
fn selftest() -> Result {
    // SAFETY: both functions take no arguments and only return constants.
    let (abi, size) = unsafe { (ffi::zonetp_compat_abi(), ffi::zonetp_compat_sizeof_timeout()) };
    // The C compiler's layout against bindgen's (libclang's, which on a
    // GCC-built kernel parses with other flags).
    let rust_size = core::mem::size_of::<ffi::nf_ct_timeout>();
    if abi != SHIM_ABI || size != rust_size {
        pr_err!("selftest: shim abi {} (want {}), nf_ct_timeout {} bytes in C, {} in Rust\n",
            abi, SHIM_ABI, size, rust_size);
        return Err(EINVAL);
    }
    pr_info!("selftest: shim abi {}, nf_ct_timeout {} bytes in C and Rust\n", abi, size);
    Ok(())
}

impl kernel::Module for Zonetp {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        #[cfg(zonetp_fail_init)]
        fail_init()?;
        #[cfg(zonetp_selftest)]
        selftest()?;

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
            _hook: hook,
            _pernet: pernet,
            _log: UnloadLog,
        })
    }
}
