// SPDX-License-Identifier: GPL-2.0

//! zonetp: zone-based conntrack timeout policies.
//!
//! Crate root of `zonetp.ko`, a Rust provider of the cttimeout nfnetlink
//! subsystem and of `nf_ct_timeout_hook`, in the place of upstream
//! `nfnetlink_cttimeout` (Linux 6.12 semantics), with hashed name look-ups.
//!
//! - [`nlattr`], [`skb`], [`timeout`]: safe wrappers of the kernel FFI.
//! - [`table`]: the per-namespace hash table; [`pernet`]: its lifetime.
//! - [`netlink`]: policy, callbacks, subsystem; [`handlers`]: the requests.
//! - [`hook`]: conntrack's look-up hook.

use kernel::prelude::*;

mod ffi;
mod errno;
mod handlers;
mod hook;
mod netlink;
mod nlattr;
mod pernet;
mod skb;
mod table;
mod timeout;

module! {
    type: Zonetp,
    name: "zonetp",
    author: "zonetp developers",
    description: "Zone-based conntrack timeout policies",
    license: "GPL",
}

struct Zonetp;

impl kernel::Module for Zonetp {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: `zonetp_compat_fail_init` only reads a module parameter
        // that lives as long as the module.
        if unsafe { ffi::zonetp_compat_fail_init() } {
            pr_err!("init failing on request (fail_init=1)\n");
            return Err(EINVAL);
        }

        // SAFETY: `zonetp_compat_abi` takes no arguments and has no side effects.
        let abi = unsafe { ffi::zonetp_compat_abi() };
        if abi != ffi::ZONETP_COMPAT_ABI {
            pr_err!("C shim ABI {} != {}\n", abi, ffi::ZONETP_COMPAT_ABI);
            return Err(EINVAL);
        }

        // SAFETY: `zonetp_compat_default_zone_id` reads a constant kernel object.
        let dflt_zone = unsafe { ffi::zonetp_compat_default_zone_id() };

        pernet::register()?;
        if let Err(e) = netlink::register() {
            if e == EBUSY {
                pr_err!("cttimeout subsystem already registered (is nfnetlink_cttimeout loaded? rmmod it first)\n");
            } else {
                pr_err!("cannot register the cttimeout nfnetlink subsystem ({:?})\n", e);
            }
            pernet::unregister();
            return Err(e);
        }
        hook::install();

        pr_info!(
            "loaded (shim abi {}, default zone {}, nf_ct_timeout header {} bytes): cttimeout provider, {} buckets per netns\n",
            abi,
            dflt_zone,
            core::mem::size_of::<ffi::nf_ct_timeout>(),
            table::BUCKETS
        );
        Ok(Zonetp)
    }
}

impl Drop for Zonetp {
    fn drop(&mut self) {
        netlink::unregister();
        hook::uninstall();
        // SAFETY: plain call; waits for conntrack readers of the hook.
        unsafe { ffi::synchronize_net() };
        pernet::unregister();
        pr_info!("unloaded\n");
    }
}
