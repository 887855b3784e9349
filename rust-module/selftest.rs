// SPDX-License-Identifier: GPL-2.0

//! Test aids of the `ZONETP_SELFTEST=1` build (see Kbuild), compiled into
//! no other: the crate root declares this module, and the one field of
//! [`crate::Zonetp`] that holds an [`Aids`], only in that build, so the
//! production module has neither the code nor a branch that skips it.

use kernel::prelude::*;

use crate::ffi;

/// The version of the C shims' interface this Rust code is written for,
/// kept by hand: it must equal `ZONETP_COMPAT_ABI` in
/// `compat/zonetp_compat.h`, and both change when a shim's signature or
/// meaning does.  Written here, not taken from the header (as bindgen
/// would), so that the check below compares two independent statements.
const SHIM_ABI: u32 = 3;

/// The aids, alive from init to exit.  [`crate::Zonetp`] holds it between
/// the nfnetlink subsystem and the hook, so its drop runs in exit's
/// window between the two.
pub(crate) struct Aids(());

impl Aids {
    /// Checks that C and Rust agree on the shims and the layout (logs
    /// `zonetp: selftest: ...`); fails init otherwise.
    pub(crate) fn new() -> Result<Self> {
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
        Ok(Aids(()))
    }
}

impl Drop for Aids {
    /// At unload, after the subsystem is gone and before the hook is given
    /// up: waits (`exit_hook_delay_ms` at most) for another provider to
    /// take the hook, so that tests/vm/test-hook-ownership.sh has
    /// upstream's provider load in that window every time.
    fn drop(&mut self) {
        // SAFETY: reads the hook pointer and sleeps; we are in process
        // context (module exit, or a failed init after this was made).
        unsafe { ffi::zonetp_compat_selftest_exit_delay(&crate::hook::HOOKS) };
    }
}
