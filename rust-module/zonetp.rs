// SPDX-License-Identifier: GPL-2.0

//! zonetp: zone-based conntrack timeout policies.
//!
//! Crate root of `zonetp.ko`.  For now the module proves the build: Rust and
//! the C shims in `compat/` link into one module, and the bindgen-generated
//! module-local bindings compile and are usable.

use kernel::prelude::*;

mod bindings;

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
        if unsafe { bindings::zonetp_compat_fail_init() } {
            pr_err!("init failing on request (fail_init=1)\n");
            return Err(EINVAL);
        }

        // SAFETY: `zonetp_compat_abi` takes no arguments and has no side effects.
        let abi = unsafe { bindings::zonetp_compat_abi() };
        if abi != bindings::ZONETP_COMPAT_ABI {
            pr_err!("C shim ABI {} != {}\n", abi, bindings::ZONETP_COMPAT_ABI);
            return Err(EINVAL);
        }

        // SAFETY: `zonetp_compat_default_zone_id` reads a constant kernel object.
        let dflt_zone = unsafe { bindings::zonetp_compat_default_zone_id() };

        pr_info!(
            "loaded (shim abi {}, default zone {}, nf_ct_timeout header {} bytes)\n",
            abi,
            dflt_zone,
            core::mem::size_of::<bindings::nf_ct_timeout>()
        );
        Ok(Zonetp)
    }
}

impl Drop for Zonetp {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
