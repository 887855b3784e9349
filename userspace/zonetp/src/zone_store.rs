//! Where the zone configuration lives, as the commands see it: the JSON
//! file ([`crate::store::Store`]) or an Open vSwitch database
//! ([`crate::ovsdb::OvsdbStore`]). Both give the same verbs with
//! ovs-vsctl's semantics; each change is atomic in its backend.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{Config, DpSettings, LimitZone};
use crate::error::Result;
use crate::policy::TimeoutPolicy;
use crate::store::Store;

pub trait ZoneStore {
    /// The configuration now, with every policy numbered (a missing one
    /// is empty).
    fn read(&self) -> Result<Config>;
    /// The configuration now; `None` when there is none at all (a missing
    /// file), which `sync` must not take for an empty one.
    fn load(&self) -> Result<Option<Config>> {
        self.read().map(Some)
    }
    /// Names the configuration's home in messages: "zonetp database PATH".
    fn describe(&self) -> String;
    fn add_dp(&self, name: &str, may_exist: bool) -> Result<()>;
    fn del_dp(&self, name: &str, if_exists: bool) -> Result<()>;
    /// `set-dp DP KEY=VALUE...` (settings parsed already): the file keeps
    /// them in the datapath record, an OVS database in the `Datapath`
    /// row's `external_ids` (OVS has no column for them).
    fn set_dp(&self, name: &str, settings: DpSettings) -> Result<()>;
    fn add_zone_tp(&self, dp: &str, zone: u16, policy: TimeoutPolicy, may_exist: bool) -> Result<()>;
    fn del_zone_tp(&self, dp: &str, zone: u16, if_exists: bool) -> Result<()>;
    /// Refuses the zone limit verbs (`verb`) where the store has no place
    /// for limits: an OVS database whose schema is older than 8.5.0 (OVS
    /// 3.3), in the words of the ovs-vsctl that goes with it, which has no
    /// such verb. The file always has a place.
    fn check_zone_limits(&self, _verb: &str) -> Result<()> {
        Ok(())
    }
    /// `set-zone-limit DP ZONE|default LIMIT` (values parsed, ranges not
    /// yet checked: the store checks them in ovs-vsctl's order).
    fn set_zone_limit(&self, dp: &str, zone: LimitZone, limit: i64) -> Result<()>;
    /// `del-zone-limit DP ZONE|default`.
    fn del_zone_limit(&self, dp: &str, zone: LimitZone, if_exists: bool) -> Result<()>;
    /// `list-dp-cap DP`: the datapath record's capabilities (refused in
    /// ovs-vsctl's words when there is no record).
    fn dp_capabilities(&self, dp: &str) -> Result<BTreeMap<String, String>>;
    /// Sets the keys of `caps` in the datapath record's capabilities, what
    /// sync probed of the kernel; writes only when a value differs.
    fn set_capabilities(&self, dp: &str, caps: &BTreeMap<String, String>) -> Result<()>;
    /// Ids new policies must not get although the configuration does not
    /// use them: those of `ovs_tp_<id>_*` objects in the kernel (a live
    /// rule may hold them; a new policy of that id would have sync replace
    /// them under it). Called before a change by whoever read the kernel.
    fn reserve_ids(&self, ids: BTreeSet<u32>);
    /// After a sync: retired ids (of `seen`) whose kernel objects are gone
    /// may be reused, those still `pending` stay reserved. A backend whose
    /// ids never come back has nothing to do.
    fn settle_retired(&self, seen: &BTreeSet<u32>, pending: &BTreeSet<u32>) -> Result<()>;
}

impl ZoneStore for Store {
    fn read(&self) -> Result<Config> {
        Store::read(self)
    }
    fn load(&self) -> Result<Option<Config>> {
        Store::load(self)
    }
    fn describe(&self) -> String {
        format!("zonetp database {}", self.path().display())
    }
    fn add_dp(&self, name: &str, may_exist: bool) -> Result<()> {
        self.update(|c| c.add_dp(name, may_exist))
    }
    fn del_dp(&self, name: &str, if_exists: bool) -> Result<()> {
        self.update(|c| c.del_dp(name, if_exists))
    }
    fn set_dp(&self, name: &str, settings: DpSettings) -> Result<()> {
        self.update(|c| c.apply_dp_settings(name, settings))
    }
    fn add_zone_tp(&self, dp: &str, zone: u16, policy: TimeoutPolicy, may_exist: bool) -> Result<()> {
        let reserved = self.reserved_ids();
        self.update(|c| c.add_zone_tp_avoiding(dp, zone, policy.clone(), may_exist, &reserved)).map(drop)
    }
    fn reserve_ids(&self, ids: BTreeSet<u32>) {
        Store::reserve_ids(self, ids)
    }
    fn set_zone_limit(&self, dp: &str, zone: LimitZone, limit: i64) -> Result<()> {
        self.update(|c| c.set_zone_limit(dp, zone, limit))
    }
    fn del_zone_limit(&self, dp: &str, zone: LimitZone, if_exists: bool) -> Result<()> {
        self.update(|c| c.del_zone_limit(dp, zone, if_exists))
    }
    fn dp_capabilities(&self, dp: &str) -> Result<BTreeMap<String, String>> {
        Ok(self.read()?.dp_capabilities(dp)?.clone())
    }
    /// Written only when that changes the file (see [`Store::update`]).
    fn set_capabilities(&self, dp: &str, caps: &BTreeMap<String, String>) -> Result<()> {
        self.update(|c| c.set_capabilities(dp, caps))
    }
    fn del_zone_tp(&self, dp: &str, zone: u16, if_exists: bool) -> Result<()> {
        self.update(|c| c.del_zone_tp(dp, zone, if_exists))
    }
    /// Written only when that changes the file (see [`Store::update`]).
    fn settle_retired(&self, seen: &BTreeSet<u32>, pending: &BTreeSet<u32>) -> Result<()> {
        self.update(|c| {
            let policies: BTreeSet<u32> = c.timeout_policies.keys().copied().collect();
            c.retired_policy_ids.retain(|id| !seen.contains(id) || pending.contains(id));
            c.retired_policy_ids.extend(pending.iter().filter(|id| !policies.contains(id)));
            Ok(())
        })
    }
}
