//! `status`: what each zone of a datapath gets, side by side with what the
//! kernel has. Per zone: its policy and where it comes from (own, zone 0 or
//! the kernel's defaults), per L3/L4 the kernel object, whether it matches
//! the configuration, its use count, and the live conntrack entries.
//! Computed from values read beforehand, so it is testable without a kernel.
//!
//! Beside ovs-vswitchd ([`status_beside_vswitchd`]) the kernel's objects
//! are ovs-vswitchd's, numbered its own way: each zone is paired with the
//! objects that serve it by the datapath's flows and the objects' contents
//! ([`crate::beside_vswitchd`]), zones resolve as ovs-vswitchd resolves
//! them (exactly: no zone-0 fallback), and no object is a stray.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;

use crate::beside_vswitchd::{groups, match_zone, slot, Decision, FlowCommit};
use crate::config::{Config, PolicySource, ResolutionMode};
use crate::ctnetlink::{EntryCounts, EntryKey};
use crate::cttimeout::object::check_timeouts;
use crate::cttimeout::CtTimeoutObject;
use crate::error::Result;
use crate::ovs::ct_limit::{LimitTarget, ZoneLimit};
use crate::policy::{object_name, policy_id_of, TimeoutPolicy, KERNEL_PROTOCOLS};
use crate::reconcile::{desired_objects, expected, other_datapaths_policy_ids, Defaults, KERNEL_DATAPATH};

/// How a kernel object compares with what the configuration asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncState {
    /// Present with the policy's values (and the defaults for unset states).
    InSync,
    /// Not in the kernel: `sync` creates it.
    Missing,
    /// Present with other values: `sync` replaces it.
    Differs,
    /// Present for another L3/L4: `sync` deletes and recreates it.
    WrongProtocol,
    /// A value the kernel would wrap: `sync` refuses it.
    Refused,
    /// No policy applies: the kernel's defaults, no object.
    KernelDefaults,
    /// Beside ovs-vswitchd: no object of ovs-vswitchd's has the policy's
    /// values and no flow names one (ovs-vswitchd has not pushed it).
    NotPushed,
    /// Beside ovs-vswitchd: the object is right, but the zone's flows for
    /// this L3/L4 commit without a timeout (the kernel's defaults apply).
    FlowsWithout,
}

impl SyncState {
    pub fn name(self) -> &'static str {
        match self {
            SyncState::InSync => "in sync",
            SyncState::Missing => "missing",
            SyncState::Differs => "differs",
            SyncState::WrongProtocol => "wrong L3/L4",
            SyncState::Refused => "refused",
            SyncState::KernelDefaults => "kernel defaults",
            SyncState::NotPushed => "not pushed",
            SyncState::FlowsWithout => "flows lack it",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectStatus {
    pub l3: String,
    pub l4: String,
    /// The object a `ct(commit)` in this zone carries, if any.
    pub object: Option<String>,
    pub state: SyncState,
    /// `CTA_TIMEOUT_USE` of the kernel object.
    #[serde(rename = "use")]
    pub use_count: Option<u32>,
    /// Live conntrack entries of this zone and L3/L4.
    pub entries: u64,
    /// Beside ovs-vswitchd: the datapath flows of this zone that commit
    /// with this object (none when the flows could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneStatus {
    pub zone: u16,
    pub source: PolicySource,
    pub policy_id: Option<u32>,
    pub timeouts: Option<TimeoutPolicy>,
    /// Live conntrack entries of this zone, every protocol.
    pub entries: u64,
    pub objects: Vec<ObjectStatus>,
    /// Beside ovs-vswitchd: how the zone's objects were found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Decision>,
    /// The zone's conntrack limit in the configuration (`set-zone-limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// What openvswitch.ko's `ovs_ct_limit` says of the zone: its limit
    /// (the default's when it has none of its own; 0: none) and the
    /// connections it counts. Read when a limit is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_limit: Option<KernelLimit>,
}

/// A zone's limit and count as the kernel reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct KernelLimit {
    pub limit: u32,
    pub count: u32,
    /// Whether the limit is the zone's own (anyone's) rather than the
    /// default's: from a `GET` of every limit, else told by value (a
    /// value other than the default's is the zone's own); `None`: the
    /// default's value, and no list to tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own: Option<bool>,
}

/// What openvswitch.ko holds beyond the zones shown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelLimits {
    /// The kernel's default limit (0: none).
    pub default: u32,
    /// Zones not shown that have a limit of their own (another tool's,
    /// `ovs-dpctl ct-set-limits`, or one zonetp set and kept).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_zones: Vec<OtherZoneLimit>,
    /// Why every limit could not be listed (EMSGSIZE: more than one reply
    /// carries): only the zones shown were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OtherZoneLimit {
    pub zone: u16,
    pub limit: u32,
    pub count: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub datapath: String,
    pub resolution: ResolutionMode,
    /// Configured zones and zones with live entries, ascending.
    pub zones: Vec<ZoneStatus>,
    /// `ovs_tp_*` objects the configuration does not explain (`sync`
    /// deletes them).
    pub strays: Vec<String>,
    /// False for a userspace datapath (netdev): its policies live in
    /// ovs-vswitchd's own conntrack, so there are no kernel objects (nor
    /// kernel entries) to show, and nothing to sync.
    pub kernel_objects: bool,
    /// Set when ovs-vswitchd manages the kernel's objects: `policy_id`s
    /// are then its numbers, not zonetp's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vswitchd: Option<VswitchdView>,
    /// The datapath's default conntrack zone limit in the configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_limit: Option<u32>,
    /// Why the kernel's limits and counts could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits_unread: Option<String>,
    /// The kernel's default limit and the limits of zones not shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_limits: Option<KernelLimits>,
}

/// What status saw of ovs-vswitchd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VswitchdView {
    /// Its process, when found in this network namespace.
    pub pid: Option<u32>,
    /// Committing ct actions in the kernel's datapath flows.
    pub commit_flows: usize,
    /// Why the flows could not be read, if they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows_unread: Option<String>,
    /// Its `ovs_tp_*` objects that no zone's policy uses (a policy it
    /// dropped, whose objects it deletes, retrying every 20 s).
    pub unclaimed: Vec<String>,
}

/// What status is given about ovs-vswitchd and its datapath.
#[derive(Clone, Debug)]
pub struct VswitchdInput {
    pub pid: Option<u32>,
    /// The committing ct actions of the datapath's flows, or why they
    /// could not be read.
    pub commits: std::result::Result<Vec<FlowCommit>, String>,
}

impl StatusReport {
    /// Every zone and object is as the configuration asks, and every
    /// configured zone limit is in the kernel.
    pub fn in_sync(&self) -> bool {
        self.policies_in_sync() && self.limit_differences().is_empty()
    }

    /// Every zone and object is as the configuration asks.
    pub fn policies_in_sync(&self) -> bool {
        self.strays.is_empty()
            && self
                .zones
                .iter()
                .flat_map(|z| &z.objects)
                .all(|o| matches!(o.state, SyncState::InSync | SyncState::KernelDefaults))
    }

    /// Each configured limit the kernel does not hold as configured
    /// (`zone 5: configured 100, the kernel has 7`); none for a datapath
    /// without kernel objects.
    pub fn limit_differences(&self) -> Vec<String> {
        if !self.kernel_objects || !self.has_limits() {
            return Vec::new();
        }
        if self.limits_unread.is_some() {
            return vec!["the kernel's not read".to_owned()];
        }
        let mut out = Vec::new();
        if let (Some(c), Some(k)) = (self.default_limit, &self.kernel_limits) {
            if k.default != c {
                out.push(format!("default: configured {c}, the kernel has {}", k.default));
            }
        }
        for z in &self.zones {
            let Some(l) = z.limit else { continue };
            match z.kernel_limit {
                None => out.push(format!("zone {}: configured {l}, not read", z.zone)),
                Some(k) if k.limit != l => {
                    out.push(format!("zone {}: configured {l}, the kernel has {}", z.zone, k.limit))
                }
                Some(k) if k.own == Some(false) => {
                    out.push(format!("zone {}: configured {l}, the kernel has only the default's", z.zone))
                }
                Some(_) => {}
            }
        }
        out
    }
}

/// Builds the status of datapath `dp` from the kernel's objects, defaults
/// and entry counts.
pub fn status(
    config: &Config,
    dp: &str,
    kernel: &[CtTimeoutObject],
    defaults: &Defaults,
    max_seconds: u32,
    entries: &EntryCounts,
) -> Result<StatusReport> {
    let d = config.datapath(dp)?;
    let kernel_objects = dp == KERNEL_DATAPATH;
    if !kernel_objects {
        // The kernel's objects and entries are not this datapath's: only
        // the configuration applies.
        let zones = d
            .ct_zones
            .keys()
            .map(|zone| {
                let (source, policy_id) = d.policy_for(*zone);
                let policy = policy_id.and_then(|id| config.timeout_policies.get(&id));
                ZoneStatus {
                    zone: *zone,
                    source,
                    policy_id,
                    timeouts: policy.map(|p| p.timeouts.clone()),
                    entries: 0,
                    objects: Vec::new(),
                    decided_by: None,
                    limit: d.ct_zones.get(zone).and_then(|z| z.limit),
                    kernel_limit: None,
                }
            })
            .collect();
        return Ok(StatusReport {
            datapath: dp.to_owned(),
            resolution: d.resolution,
            zones,
            strays: Vec::new(),
            kernel_objects,
            vswitchd: None,
            default_limit: d.ct_zone_default_limit,
            limits_unread: None,
            kernel_limits: None,
        });
    }
    let kernel: BTreeMap<&[u8], &CtTimeoutObject> = kernel.iter().map(|o| (o.name.as_bytes(), o)).collect();
    let per_zone = entries_per_zone(entries);
    let zones: BTreeSet<u16> = d.ct_zones.keys().chain(per_zone.keys()).copied().collect();
    let mut out = Vec::new();
    for zone in zones {
        let (source, policy_id) = d.policy_for(zone);
        let policy = policy_id.and_then(|id| config.timeout_policies.get(&id));
        // The policy's six objects, once per zone, in KERNEL_PROTOCOLS order.
        let wanted = match (policy_id, policy) {
            (Some(id), Some(p)) => Some((id, p.timeouts.kernel_objects(id))),
            _ => None,
        };
        let objects = KERNEL_PROTOCOLS
            .iter()
            .enumerate()
            .map(|(i, (l3, l4, _))| {
                let count = entries.get(&EntryKey { zone, l3: *l3, l4: *l4 }).copied().unwrap_or(0);
                let (object, state, use_count) = match &wanted {
                    Some((id, objs)) => {
                        let (id, want) = (*id, &objs[i]);
                        debug_assert!((want.l3, want.l4) == (*l3, *l4));
                        let have = kernel.get(want.name.as_bytes());
                        let state = match have {
                            _ if check_timeouts(want.l4, &want.timeouts, max_seconds).is_err() => {
                                SyncState::Refused
                            }
                            None => SyncState::Missing,
                            Some(h) if (h.l3, h.l4) != (want.l3, want.l4) => SyncState::WrongProtocol,
                            Some(h) if h.timeouts == expected(want, defaults) => SyncState::InSync,
                            Some(_) => SyncState::Differs,
                        };
                        (object_name(id, *l3, *l4), state, have.and_then(|h| h.use_count))
                    }
                    _ => (None, SyncState::KernelDefaults, None),
                };
                ObjectStatus {
                    l3: l3.to_string(),
                    l4: l4.to_string(),
                    object,
                    state,
                    use_count,
                    entries: count,
                    flows: None,
                }
            })
            .collect();
        out.push(ZoneStatus {
            zone,
            source,
            policy_id,
            timeouts: policy.map(|p| p.timeouts.clone()),
            entries: per_zone.get(&zone).copied().unwrap_or(0),
            objects,
            decided_by: None,
            limit: d.ct_zones.get(&zone).and_then(|z| z.limit),
            kernel_limit: None,
        });
    }
    // Strays as sync sees them (`reconcile::plan`): `ovs_tp_*` objects this
    // datapath does not want, except those of policies other datapaths use,
    // which sync keeps.
    let desired = desired_objects(config, dp);
    let wanted: HashSet<&[u8]> = desired.0.iter().map(|o| o.name.as_bytes()).collect();
    let others = other_datapaths_policy_ids(config, dp);
    // A name that is not UTF-8 is no ovs_tp_* name, so never a stray.
    let strays = kernel
        .keys()
        .filter_map(|n| std::str::from_utf8(n).ok())
        .filter(|n| policy_id_of(n).is_some_and(|id| !others.contains(&id)) && !wanted.contains(n.as_bytes()))
        .map(str::to_owned)
        .collect();
    Ok(StatusReport {
        datapath: dp.to_owned(),
        resolution: d.resolution,
        zones: out,
        strays,
        kernel_objects,
        vswitchd: None,
        default_limit: d.ct_zone_default_limit,
        limits_unread: None,
        kernel_limits: None,
    })
}

/// Live entries per zone, every protocol.
fn entries_per_zone(entries: &EntryCounts) -> BTreeMap<u16, u64> {
    let mut per_zone: BTreeMap<u16, u64> = BTreeMap::new();
    for (k, n) in entries {
        *per_zone.entry(k.zone).or_default() += n;
    }
    per_zone
}

/// The status of the kernel datapath `dp` when ovs-vswitchd manages the
/// kernel's objects. Zones are resolved as ovs-vswitchd resolves them
/// (its own policy or the kernel's defaults, whatever zonetp's mode); each
/// zone with a policy is paired with ovs-vswitchd's objects by the
/// datapath's flows, else by contents ([`match_zone`]). Objects no zone
/// uses are listed as ovs-vswitchd's, not as strays: only it may delete them.
pub fn status_beside_vswitchd(
    config: &Config,
    dp: &str,
    kernel: &[CtTimeoutObject],
    defaults: &Defaults,
    entries: &EntryCounts,
    vswitchd: &VswitchdInput,
) -> Result<StatusReport> {
    let d = config.datapath(dp)?;
    let groups = groups(kernel);
    let no_commits = Vec::new();
    let commits = vswitchd.commits.as_ref().unwrap_or(&no_commits);
    let per_zone = entries_per_zone(entries);
    let zones: BTreeSet<u16> =
        d.ct_zones.keys().chain(per_zone.keys()).copied().chain(commits.iter().map(|c| c.zone)).collect();
    let mut claimed = BTreeSet::new();
    let mut out = Vec::new();
    for zone in zones {
        let own = d.ct_zones.get(&zone).and_then(|z| z.timeout_policy);
        let policy = own.and_then(|id| config.timeout_policies.get(&id)).map(|p| &p.timeouts);
        let zone_commits: Vec<&FlowCommit> = commits.iter().filter(|c| c.zone == zone).collect();
        let found = policy.map(|p| match_zone(zone, p, &groups, commits, defaults));
        if let Some(id) = found.as_ref().and_then(|m| m.policy_id) {
            claimed.insert(id);
        }
        let objects = KERNEL_PROTOCOLS
            .iter()
            .enumerate()
            .map(|(i, (l3, l4, _))| {
                let count = entries.get(&EntryKey { zone, l3: *l3, l4: *l4 }).copied().unwrap_or(0);
                let on_protocol = |c: &&&FlowCommit| {
                    let named = c.timeout.as_deref().and_then(slot).map(|(_, j)| j == i);
                    named.unwrap_or(c.protocols == Some((*l3, *l4)))
                };
                let without = zone_commits.iter().filter(on_protocol).any(|c| c.timeout.is_none());
                let (object, state, use_count, flows) =
                    match (policy, found.as_ref().and_then(|m| m.policy_id)) {
                        (None, _) => (None, SyncState::KernelDefaults, None, None),
                        (Some(_), None) => (None, SyncState::NotPushed, None, None),
                        (Some(p), Some(id)) => {
                            let want = &p.kernel_objects(id)[i];
                            let have = groups.get(&id).and_then(|g| g[i]);
                            let name = want.name.to_string();
                            let flows =
                                zone_commits.iter().filter(|c| c.timeout.as_deref() == Some(&name)).count();
                            let state = match have {
                                None => SyncState::NotPushed,
                                Some(h) if (h.l3, h.l4) != (want.l3, want.l4) => SyncState::WrongProtocol,
                                Some(h) if h.timeouts != expected(want, defaults) => SyncState::Differs,
                                Some(_) if without && flows == 0 => SyncState::FlowsWithout,
                                Some(_) => SyncState::InSync,
                            };
                            (Some(name), state, have.and_then(|h| h.use_count), Some(flows as u64))
                        }
                    };
                ObjectStatus {
                    l3: l3.to_string(),
                    l4: l4.to_string(),
                    object,
                    state,
                    use_count,
                    entries: count,
                    flows: flows.filter(|_| vswitchd.commits.is_ok()),
                }
            })
            .collect();
        out.push(ZoneStatus {
            zone,
            source: if own.is_some() { PolicySource::Own } else { PolicySource::Default },
            policy_id: found.as_ref().and_then(|m| m.policy_id),
            timeouts: policy.cloned(),
            entries: per_zone.get(&zone).copied().unwrap_or(0),
            objects,
            decided_by: found.map(|m| m.decision),
            limit: d.ct_zones.get(&zone).and_then(|z| z.limit),
            kernel_limit: None,
        });
    }
    let unclaimed = groups
        .iter()
        .filter(|(id, _)| !claimed.contains(*id))
        .flat_map(|(_, g)| g.iter().flatten().map(|o| o.name.to_string()))
        .collect();
    Ok(StatusReport {
        datapath: dp.to_owned(),
        resolution: ResolutionMode::Exact,
        zones: out,
        strays: Vec::new(),
        kernel_objects: true,
        vswitchd: Some(VswitchdView {
            pid: vswitchd.pid,
            commit_flows: commits.len(),
            flows_unread: vswitchd.commits.as_ref().err().cloned(),
            unclaimed,
        }),
        default_limit: d.ct_zone_default_limit,
        limits_unread: None,
        kernel_limits: None,
    })
}

impl StatusReport {
    /// Whether any limit is configured: only then are the kernel's read.
    pub fn has_limits(&self) -> bool {
        self.default_limit.is_some() || self.zones.iter().any(|z| z.limit.is_some())
    }

    /// Fills each zone's [`KernelLimit`] from `asked`, a `GET` of the
    /// default and the zones shown (one request: the default's value to
    /// compare with), and [`KernelLimits`] from `all`, a `GET` of every
    /// limit, or why it failed.
    pub fn set_kernel_limits(
        &mut self,
        asked: &[ZoneLimit],
        all: std::result::Result<Vec<ZoneLimit>, String>,
    ) {
        let default = asked.iter().find(|l| l.target == LimitTarget::Default).map_or(0, |l| l.limit);
        let own: Option<Vec<(u16, u32, u32)>> = all.as_ref().ok().map(|all| {
            all.iter()
                .filter_map(|l| match l.target {
                    LimitTarget::Zone(z) => Some((z, l.limit, l.count)),
                    LimitTarget::Default => None,
                })
                .collect()
        });
        for l in asked {
            let LimitTarget::Zone(zone) = l.target else { continue };
            let is_own = match &own {
                Some(own) => Some(own.iter().any(|(z, _, _)| *z == zone)),
                None if l.limit != default => Some(true),
                None => None,
            };
            if let Some(z) = self.zones.iter_mut().find(|z| z.zone == zone) {
                z.kernel_limit = Some(KernelLimit { limit: l.limit, count: l.count, own: is_own });
            }
        }
        let other_zones = own
            .unwrap_or_default()
            .into_iter()
            .filter(|(z, _, _)| !self.zones.iter().any(|s| s.zone == *z))
            .map(|(zone, limit, count)| OtherZoneLimit { zone, limit, count })
            .collect();
        self.kernel_limits = Some(KernelLimits { default, other_zones, partial: all.err() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctnetlink::EntryKey;
    use crate::cttimeout::{L3Proto, L4Proto, Timeouts};

    fn tp(words: &[&str]) -> TimeoutPolicy {
        TimeoutPolicy::parse(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn defaults() -> Defaults {
        KERNEL_PROTOCOLS.iter().map(|(l3, l4, _)| ((*l3, *l4), Timeouts::from([(9, 120)]))).collect()
    }

    fn config() -> Config {
        let mut c = Config::default();
        c.add_dp("system", false).unwrap();
        c.add_zone_tp("system", 0, tp(&["udp_single=9"]), false).unwrap();
        c.add_zone_tp("system", 5, tp(&["udp_single=1"]), false).unwrap();
        c
    }

    /// The kernel as a sync leaves it, with use counts.
    fn synced(c: &Config) -> Vec<CtTimeoutObject> {
        desired_objects(c, "system")
            .0
            .iter()
            .map(|o| {
                let mut k = o.clone();
                k.timeouts = expected(o, &defaults());
                k.use_count = Some(1);
                k
            })
            .collect()
    }

    fn entries() -> EntryCounts {
        let key = |zone, l3, l4| EntryKey { zone, l3, l4 };
        EntryCounts::from([
            (key(5, L3Proto::IPV4, L4Proto::UDP), 3),
            (key(5, L3Proto::IPV4, L4Proto(132)), 1),
            (key(7, L3Proto::IPV4, L4Proto::UDP), 2),
        ])
    }

    #[test]
    fn zones_show_their_source_objects_and_entries() {
        let c = config();
        let r = status(&c, "system", &synced(&c), &defaults(), 1000, &entries()).unwrap();
        assert!(r.in_sync());
        let zones: Vec<_> = r.zones.iter().map(|z| (z.zone, z.source, z.policy_id, z.entries)).collect();
        assert_eq!(
            zones,
            vec![
                (0, PolicySource::Own, Some(1), 0),
                (5, PolicySource::Own, Some(2), 4),
                (7, PolicySource::Zone0, Some(1), 2),
            ]
        );
        let udp4 = &r.zones[1].objects[1];
        assert_eq!(
            (udp4.object.as_deref(), udp4.state, udp4.use_count, udp4.entries),
            (Some("ovs_tp_2_udp4"), SyncState::InSync, Some(1), 3)
        );
        assert_eq!(r.zones[2].objects[1].object.as_deref(), Some("ovs_tp_1_udp4"));
    }

    #[test]
    fn objects_of_other_datapaths_policies_are_not_strays() {
        let mut c = config();
        c.add_dp("netdev", false).unwrap();
        c.add_zone_tp("netdev", 6, tp(&["udp_single=3"]), false).unwrap();
        let mut kernel = synced(&c);
        kernel.extend(desired_objects(&c, "netdev").0);
        kernel.push(
            CtTimeoutObject::new("ovs_tp_9_udp4", L3Proto::IPV4, L4Proto::UDP, Timeouts::new()).unwrap(),
        );
        let r = status(&c, "system", &kernel, &defaults(), 1000, &entries()).unwrap();
        // sync of system keeps netdev's policy's six objects and deletes 9's.
        assert_eq!(r.strays, vec!["ovs_tp_9_udp4"]);
    }

    #[test]
    fn exact_mode_missing_changed_and_stray_objects() {
        let mut c = config();
        c.set_dp("system", &["resolution=exact".into()]).unwrap();
        let mut kernel = synced(&c);
        kernel.retain(|o| o.name.as_bytes() != b"ovs_tp_2_tcp4");
        kernel.iter_mut().find(|o| o.name.as_bytes() == b"ovs_tp_2_udp4").unwrap().timeouts.insert(1, 30);
        kernel.push(
            CtTimeoutObject::new("ovs_tp_9_udp4", L3Proto::IPV4, L4Proto::UDP, Timeouts::new()).unwrap(),
        );
        kernel.push(CtTimeoutObject::new("web", L3Proto::IPV4, L4Proto::UDP, Timeouts::new()).unwrap());
        let r = status(&c, "system", &kernel, &defaults(), 1000, &entries()).unwrap();
        assert!(!r.in_sync());
        assert_eq!(r.strays, vec!["ovs_tp_9_udp4"]);
        let z5 = &r.zones[1];
        assert_eq!((z5.objects[0].state, z5.objects[1].state), (SyncState::Missing, SyncState::Differs));
        let z7 = &r.zones[2];
        assert_eq!((z7.source, z7.policy_id), (PolicySource::Default, None));
        assert!(z7.objects.iter().all(|o| o.state == SyncState::KernelDefaults && o.object.is_none()));
        assert_eq!(z7.objects[1].entries, 2);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["zones"][1]["objects"][1]["state"], "differs");
        assert_eq!(json["zones"][2]["source"], "default");
        assert_eq!(json["resolution"], "exact");
    }

    /// Zones 0, 5, 7 and 20 as ovs-vsctl sets them; 5 and 7 differ only in
    /// udp_first, which the kernel has no timeout for.
    fn vswitchd_config() -> Config {
        let mut c = Config::default();
        c.add_dp("system", false).unwrap();
        c.add_zone_tp("system", 0, tp(&["udp_single=90", "tcp_established=3600"]), false).unwrap();
        c.add_zone_tp("system", 5, tp(&["udp_single=50", "icmp_first=50", "udp_first=5"]), false).unwrap();
        c.add_zone_tp("system", 7, tp(&["udp_single=50", "icmp_first=50", "udp_first=7"]), false).unwrap();
        c.add_zone_tp("system", 20, tp(&["udp_single=70", "tcp_established=700"]), false).unwrap();
        c
    }

    /// What ovs-vswitchd pushed for zone `zone`'s policy under its own `id`.
    fn vswitchd_pushed(c: &Config, zone: u16, id: u32) -> Vec<CtTimeoutObject> {
        let own = c.datapaths["system"].ct_zones[&zone].timeout_policy.unwrap();
        c.timeout_policies[&own]
            .timeouts
            .kernel_objects(id)
            .into_iter()
            .map(|mut o| {
                o.timeouts = expected(&o, &defaults());
                o.use_count = Some(1);
                o
            })
            .collect()
    }

    fn flow(zone: u16, name: &str) -> FlowCommit {
        FlowCommit { zone, timeout: Some(name.into()), protocols: None }
    }

    #[test]
    fn beside_vswitchd_zones_get_its_objects_by_flows_then_contents() {
        let c = vswitchd_config();
        // ovs-vswitchd's numbering is not zonetp's (zonetp's ids are 1..4).
        let mut kernel = vswitchd_pushed(&c, 20, 1);
        kernel.extend(vswitchd_pushed(&c, 7, 2));
        kernel.extend(vswitchd_pushed(&c, 5, 3));
        kernel.extend(vswitchd_pushed(&c, 0, 4));
        let input = VswitchdInput {
            pid: Some(812),
            commits: Ok(vec![flow(5, "ovs_tp_3_udp4"), flow(5, "ovs_tp_3_icmp4"), flow(7, "ovs_tp_2_udp4")]),
        };
        let r = status_beside_vswitchd(&c, "system", &kernel, &defaults(), &entries(), &input).unwrap();
        assert!(r.in_sync(), "{r:#?}");
        assert!(r.strays.is_empty() && r.vswitchd.as_ref().unwrap().unclaimed.is_empty());
        let ids: Vec<_> = r.zones.iter().map(|z| (z.zone, z.policy_id)).collect();
        assert_eq!(ids, vec![(0, Some(4)), (5, Some(3)), (7, Some(2)), (20, Some(1))]);
        assert_eq!(r.zones[0].decided_by, Some(Decision::Contents));
        assert_eq!(
            r.zones[1].decided_by,
            Some(Decision::Flows {
                objects: vec!["ovs_tp_3_icmp4".into(), "ovs_tp_3_udp4".into()],
                also_fit: vec![2]
            })
        );
        let udp4 = &r.zones[1].objects[1];
        assert_eq!(
            (udp4.object.as_deref(), udp4.state, udp4.flows, udp4.entries),
            (Some("ovs_tp_3_udp4"), SyncState::InSync, Some(1), 3)
        );
        assert_eq!(r.resolution, ResolutionMode::Exact);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["zones"][1]["decided_by"]["by"], "flows");
        assert_eq!(json["zones"][0]["decided_by"]["by"], "contents");
        assert_eq!(json["vswitchd"]["pid"], 812);
        // The same kernel, read as zonetp's own: what status said before.
        let old = status(&c, "system", &kernel, &defaults(), 1000, &entries()).unwrap();
        assert!(!old.in_sync());
    }

    #[test]
    fn beside_vswitchd_a_policy_not_pushed_is_said_and_nothing_is_a_stray() {
        let c = vswitchd_config();
        let mut kernel = vswitchd_pushed(&c, 0, 1);
        kernel.extend(vswitchd_pushed(&c, 5, 2));
        // A policy ovs-vswitchd dropped, its objects not deleted yet.
        kernel.push(
            CtTimeoutObject::new("ovs_tp_9_udp4", L3Proto::IPV4, L4Proto::UDP, Timeouts::from([(1, 1)]))
                .unwrap(),
        );
        let input = VswitchdInput {
            pid: None,
            commits: Err("openvswitch.ko is not loaded: no datapath flows".into()),
        };
        let r =
            status_beside_vswitchd(&c, "system", &kernel, &defaults(), &EntryCounts::new(), &input).unwrap();
        assert!(!r.in_sync());
        assert!(r.strays.is_empty());
        assert_eq!(r.vswitchd.as_ref().unwrap().unclaimed, vec!["ovs_tp_9_udp4"]);
        // Zones 5 and 7 have identical objects: by contents, ambiguous
        // would need two ids; here one fits both.
        assert_eq!((r.zones[1].policy_id, r.zones[2].policy_id), (Some(2), Some(2)));
        let z20 = &r.zones[3];
        assert_eq!((z20.policy_id, &z20.decided_by), (None, &Some(Decision::NotFound)));
        assert!(z20.objects.iter().all(|o| o.state == SyncState::NotPushed && o.flows.is_none()));
    }

    #[test]
    fn beside_vswitchd_flows_without_a_timeout_are_named() {
        let c = vswitchd_config();
        let mut kernel = vswitchd_pushed(&c, 0, 1);
        kernel.extend(vswitchd_pushed(&c, 5, 2));
        kernel.extend(vswitchd_pushed(&c, 20, 3));
        let bare = FlowCommit { zone: 20, timeout: None, protocols: Some((L3Proto::IPV4, L4Proto::UDP)) };
        let input = VswitchdInput { pid: None, commits: Ok(vec![bare]) };
        let r =
            status_beside_vswitchd(&c, "system", &kernel, &defaults(), &EntryCounts::new(), &input).unwrap();
        let z20 = r.zones.iter().find(|z| z.zone == 20).unwrap();
        assert_eq!(z20.objects[1].state, SyncState::FlowsWithout);
        assert_eq!(z20.objects[0].state, SyncState::InSync);
        assert!(!r.in_sync());
    }

    #[test]
    fn unknown_datapath_is_an_error() {
        let e = status(&config(), "netdev", &[], &defaults(), 1000, &EntryCounts::new()).unwrap_err();
        assert_eq!(e.to_string(), "datapath netdev does not exist");
    }

    fn zl(target: LimitTarget, limit: u32, count: u32) -> ZoneLimit {
        ZoneLimit { target, limit, count }
    }

    /// The default comes in the same GET as the zones: a zone whose value
    /// is not the default's has one of its own (L7); a GET of everything,
    /// when it works, says so exactly and names the zones not shown.
    /// `--check` counts a configured limit the kernel does not hold.
    #[test]
    fn kernel_limits_tell_own_from_the_default_and_configured_ones_count_in_check() {
        let mut c = config();
        c.set_zone_limit("system", crate::config::LimitZone::Zone(5), 100).unwrap();
        c.set_zone_limit("system", crate::config::LimitZone::Default, 7).unwrap();
        let base = status(&c, "system", &synced(&c), &defaults(), 1000, &entries()).unwrap();
        assert!(base.policies_in_sync());
        let (d, z) = (LimitTarget::Default, LimitTarget::Zone);
        // Zone 7 has another tool's 4, zone 0 the default's 7; the list
        // of everything failed (EMSGSIZE): told by value.
        let mut r = base.clone();
        let asked = [zl(d, 7, 0), zl(z(0), 7, 0), zl(z(5), 100, 4), zl(z(7), 4, 2)];
        r.set_kernel_limits(&asked, Err("too many".to_owned()));
        let own: Vec<_> = r.zones.iter().map(|z| (z.zone, z.kernel_limit.and_then(|k| k.own))).collect();
        assert_eq!(own, [(0, None), (5, Some(true)), (7, Some(true))]);
        assert_eq!(r.kernel_limits.as_ref().unwrap().partial.as_deref(), Some("too many"));
        assert!(r.in_sync(), "{:?}", r.limit_differences());
        // The list: zone 0's 7 is its own after all; zone 9 is not shown.
        let mut r = base.clone();
        let all = vec![zl(d, 7, 0), zl(z(0), 7, 0), zl(z(5), 100, 4), zl(z(7), 4, 2), zl(z(9), 4, 1)];
        r.set_kernel_limits(&asked, Ok(all));
        assert_eq!(r.zones[0].kernel_limit.unwrap().own, Some(true));
        let k = r.kernel_limits.clone().unwrap();
        assert_eq!(
            (k.default, k.other_zones, k.partial),
            (7, vec![OtherZoneLimit { zone: 9, limit: 4, count: 1 }], None)
        );
        // Out of sync: zone 5 differs, the default differs.
        let mut r = base.clone();
        r.set_kernel_limits(
            &[zl(d, 0, 0), zl(z(0), 0, 0), zl(z(5), 90, 4), zl(z(7), 0, 2)],
            Ok(vec![zl(z(5), 90, 4)]),
        );
        assert_eq!(
            r.limit_differences(),
            ["default: configured 7, the kernel has 0", "zone 5: configured 100, the kernel has 90"]
        );
        assert!(!r.in_sync() && r.policies_in_sync());
        // Zone 5 at the default's 100, none of its own: not as configured.
        let mut r = base.clone();
        r.set_kernel_limits(&[zl(d, 7, 0), zl(z(0), 7, 0), zl(z(5), 7, 4), zl(z(7), 7, 2)], Ok(vec![]));
        assert_eq!(r.limit_differences(), ["zone 5: configured 100, the kernel has 7"]);
        let mut c2 = c.clone();
        c2.set_zone_limit("system", crate::config::LimitZone::Zone(5), 7).unwrap();
        let mut r = status(&c2, "system", &synced(&c2), &defaults(), 1000, &entries()).unwrap();
        r.set_kernel_limits(&[zl(d, 7, 0), zl(z(0), 7, 0), zl(z(5), 7, 4), zl(z(7), 7, 2)], Ok(vec![]));
        assert_eq!(r.limit_differences(), ["zone 5: configured 7, the kernel has only the default's"]);
        // Unread: configured limits are not in sync.
        let mut r = base.clone();
        r.limits_unread = Some("no module".to_owned());
        assert_eq!(r.limit_differences(), ["the kernel's not read"]);
        assert!(!r.in_sync());
        // A userspace datapath has no kernel limits to differ.
        c.add_dp("netdev", false).unwrap();
        c.set_zone_limit("netdev", crate::config::LimitZone::Zone(5), 1).unwrap();
        let r = status(&c, "netdev", &[], &defaults(), 1000, &EntryCounts::new()).unwrap();
        assert!(!r.kernel_objects && r.limit_differences().is_empty() && r.in_sync());
    }
}
