//! cttimeout objects (`NFNL_SUBSYS_CTNETLINK_TIMEOUT`): the kernel objects
//! every zone policy is made of.

pub mod client;
pub mod message;
pub mod object;
pub mod proto;

pub use client::CtTimeoutClient;
pub use message::{CtTimeoutRequest, NewMode};
pub use object::{CtTimeoutObject, ObjectName, Timeouts};
pub use proto::{L3Proto, L4Proto};
