//! zonetp: zone-based conntrack timeout policies for Linux, compatible with
//! Open vSwitch.
//!
//! - [`netlink`]: a small netlink codec and a batching socket.
//! - [`cttimeout`]: the kernel's cttimeout objects (nfnetlink subsystem 8).

pub mod beside_vswitchd;
pub mod capabilities;
pub mod config;
pub mod ctnetlink;
pub mod cttimeout;
pub mod delta;
pub mod error;
pub mod netlink;
pub mod ovs;
pub mod ovsdb;
pub mod policy;
pub mod reconcile;
pub mod status;
pub mod store;
pub mod xlate;
pub mod zone_limits;
pub mod zone_store;

pub use error::{Error, Result};
