//! The OVS kernel datapath (`openvswitch.ko`) over generic netlink:
//! datapaths, vports and flows, with `ct` actions that carry
//! `OVS_CT_ATTR_TIMEOUT`.

pub mod action;
pub mod client;
pub mod ct_limit;
pub mod ct_limit_client;
pub mod datapath;
pub mod genl;
pub mod key;

pub use action::{Action, CtAction};
pub use client::OvsClient;
pub use ct_limit_client::CtLimitClient;
pub use key::FlowKey;
