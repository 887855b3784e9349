//! Living beside ovs-vswitchd. ovs-vswitchd owns the `ovs_tp_*` objects of
//! its network namespace: at start it deletes every one it finds, and it
//! makes its own from the database with its own numbering. Two agents
//! would undo each other, so `zonetp sync` refuses when ovs-vswitchd
//! runs in the namespace zonetp's kernel side works in, or manages the
//! database zonetp follows (it holds the OVSDB lock `ovs_vswitchd` for as
//! long as it does, on whatever host it runs).

use std::os::unix::fs::MetadataExt;

use zonetp::ovsdb::OvsdbStore;
use zonetp::{Error, Result};

pub const OVERRIDE: &str = "--beside-vswitchd";

/// The ovs-vswitchd processes in this thread's network namespace.
pub fn vswitchd_in_this_netns() -> Vec<u32> {
    let ns = |p: &str| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let Some(ours) = ns("/proc/thread-self/ns/net") else { return Vec::new() };
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == "ovs-vswitchd")
                && ns(&format!("/proc/{pid}/ns/net")) == Some(ours)
        })
        .collect()
}

/// Refuses to sync beside ovs-vswitchd unless told to.
pub fn check(db: Option<&OvsdbStore>, overridden: bool) -> Result<()> {
    match refusal(db, overridden)? {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Why a sync would be refused beside ovs-vswitchd (`None`: it would not
/// be); an error when the database could not be asked.
pub fn refusal(db: Option<&OvsdbStore>, overridden: bool) -> Result<Option<Error>> {
    if overridden {
        return Ok(None);
    }
    let pids = vswitchd_in_this_netns();
    if let Some(pid) = pids.first() {
        return Ok(Some(Error::Invalid(format!(
            "ovs-vswitchd (pid {pid}) runs in this network namespace and owns its ovs_tp_* timeout objects \
             (it deletes the ones it did not make); sync refused, use {OVERRIDE} to sync anyway"
        ))));
    }
    if let Some(db) = db {
        if db.vswitchd_lock_held()? {
            return Ok(Some(lock_held()));
        }
    }
    Ok(None)
}

/// The refusal when ovs-vswitchd holds its OVSDB lock.
pub fn lock_held() -> Error {
    Error::Invalid(format!(
        "ovs-vswitchd manages this database (it holds the OVSDB lock ovs_vswitchd) and pushes its \
         policies itself; sync refused, use {OVERRIDE} to sync anyway"
    ))
}
