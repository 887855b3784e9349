//! What `zonetp sync` writes into the kernel datapath's record
//! (`Datapath.capabilities` in an OVS database, `capabilities` in the
//! file) when it, not ovs-vswitchd, drives the kernel: what it can truly
//! probe of openvswitch.ko, the way ovs-vswitchd probes it
//! (ofproto-dpif.c):
//!
//! - `ct_zone`: a flow whose key holds a conntrack zone is put with the
//!   probe flag, then deleted (`check_ct_zone`);
//! - `ct_timeout`: `ct(timeout=ovs_test_tp)` is executed on a test packet
//!   (`check_ct_timeout_policy`); a datapath without the attribute answers
//!   EINVAL.
//!
//! Both need a datapath: the first of the network namespace, else one
//! made for the probe and deleted after it. Without openvswitch.ko (its
//! generic netlink families unknown, after the kernel tried to load it)
//! the kernel datapath supports neither: both are `false`.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::ovs::OvsClient;

/// The datapath made for a probe when the namespace has none.
pub const PROBE_DATAPATH: &str = "zonetp-probe";

/// The keys zonetp probes, as ovs-vswitchd names them.
pub const KEYS: [&str; 2] = ["ct_timeout", "ct_zone"];

/// The probed values, as `Datapath.capabilities` holds them.
pub fn as_map(ct_zone: bool, ct_timeout: bool) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("ct_timeout".to_owned(), ct_timeout.to_string()),
        ("ct_zone".to_owned(), ct_zone.to_string()),
    ])
}

/// Whether a record already says every probed key is supported: then it
/// is not probed again (a module does not lose them, and a probe may make
/// and delete a datapath).
pub fn all_supported(caps: &BTreeMap<String, String>) -> bool {
    KEYS.iter().all(|k| caps.get(*k).map(String::as_str) == Some("true"))
}

/// Probes openvswitch.ko in this network namespace.
pub fn probe() -> Result<BTreeMap<String, String>> {
    let mut ovs = match OvsClient::open() {
        Ok(c) => c,
        Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(as_map(false, false)),
        Err(e) => return Err(e),
    };
    let (dp, made) = match ovs.datapaths()?.into_iter().next() {
        Some(dp) => (dp, false),
        None => (ovs.dp_new(PROBE_DATAPATH)?, true),
    };
    let probed = ovs.supports_ct_zone(&dp).and_then(|zone| Ok((zone, ovs.supports_ct_timeout(&dp)?)));
    if made {
        let removed = ovs.dp_del(PROBE_DATAPATH);
        // A failed probe's own error says more than the removal's.
        if probed.is_ok() {
            removed?;
        }
    }
    let (ct_zone, ct_timeout) = probed?;
    Ok(as_map(ct_zone, ct_timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_holds_the_keys_ovs_vswitchd_writes_with_its_values() {
        let m = as_map(true, false);
        assert_eq!(m.keys().map(String::as_str).collect::<Vec<_>>(), KEYS);
        assert_eq!(crate::config::dp_cap_line(&m), "ct_timeout=false ct_zone=true");
        assert!(!all_supported(&m));
        let mut both = as_map(true, true);
        assert!(all_supported(&both));
        both.remove("ct_zone");
        assert!(!all_supported(&both));
    }
}
