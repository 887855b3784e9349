//! A small reader of the kernel's conntrack table (nfnetlink subsystem
//! `NFNL_SUBSYS_CTNETLINK`): a dump of every entry, reduced to what zone
//! policies care about (zone, L3, L4), so `zonetp status` can count the
//! live connections of each zone.

pub mod entry;

pub use entry::{dump_request, parse_entry, ConntrackClient, EntryCounts, EntryKey};
