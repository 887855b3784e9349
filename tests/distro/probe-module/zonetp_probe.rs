// SPDX-License-Identifier: GPL-2.0

//! zonetp_probe: a toolchain probe for distribution kernels (not zonetp).
//!
//! Loading it proves that an out-of-tree Rust module built by
//! `scripts/distro-module` links against the stock kernel's exported Rust
//! symbols (the `kernel` crate's hashes must match, which needs the exact
//! rustc) and runs: it allocates a `KVec`, pins a `Mutex` in a `KBox`, and
//! logs one line with the results at load and one at unload, which the VM
//! test checks.  Written for the Rust-for-Linux API of Linux 7.x.

use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

module! {
    type: ZonetpProbe,
    name: "zonetp_probe",
    authors: ["zonetp developers"],
    description: "Toolchain probe for out-of-tree Rust modules on distribution kernels",
    license: "GPL",
}

struct ZonetpProbe {
    counter: Pin<KBox<Mutex<u64>>>,
}

impl kernel::Module for ZonetpProbe {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut squares = KVec::with_capacity(8, GFP_KERNEL)?;
        for i in 1..=8u64 {
            squares.push(i * i, GFP_KERNEL)?;
        }
        let sum: u64 = squares.iter().sum();
        let counter = KBox::pin_init(new_mutex!(sum, "zonetp_probe_counter"), GFP_KERNEL)?;
        *counter.lock() += 1;
        pr_info!("loaded (rust ok, sum of squares + 1 = {})\n", *counter.lock());
        Ok(ZonetpProbe { counter })
    }
}

impl Drop for ZonetpProbe {
    fn drop(&mut self) {
        pr_info!("unloaded (counter {})\n", *self.counter.lock());
    }
}
