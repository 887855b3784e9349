//! Which of ovs-vswitchd's kernel objects serve which zone. ovs-vswitchd
//! numbers its policies itself (`ovs_tp_<id>_*`, an id pool inside the
//! process) and writes no number anywhere, so the database's zones and the
//! kernel's objects can only be paired by what is observable:
//!
//! - the datapath's installed flows, the ground truth where they exist: a
//!   flow whose actions hold `ct(commit,zone=5,timeout=ovs_tp_3_udp4)`
//!   makes every new connection of zone 5 it carries use that object;
//! - the objects' contents: the six objects of one id whose values are the
//!   zone's policy (with the kernel's defaults for the states it leaves
//!   unset, as they were filled in when ovs-vswitchd made them).
//!
//! Contents can fit several ids: ovs-vswitchd gives policies that differ
//! only in keys the kernel has no timeout for (`udp_first`, `icmp_reply`)
//! ids of their own, with identical objects, and objects of a policy it no
//! longer uses linger until its delete succeeds. Flows then decide; without
//! flows the lowest id is named, and the report says it was a choice.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::cttimeout::{CtTimeoutObject, L3Proto, L4Proto};
use crate::ovs::datapath::FlowInfo;
use crate::ovs::Action;
use crate::policy::{policy_id_of, TimeoutPolicy, KERNEL_PROTOCOLS};
use crate::reconcile::{expected, Defaults};
use crate::xlate::flow_protocols;

/// One committing `ct` action of an installed datapath flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowCommit {
    pub zone: u16,
    /// `OVS_CT_ATTR_TIMEOUT`: the object new connections get, if any.
    pub timeout: Option<String>,
    /// The flow's exact L3/L4, when it matches both.
    pub protocols: Option<(L3Proto, L4Proto)>,
}

/// The committing ct actions of `flows`, those inside `clone` too.
pub fn flow_commits(flows: &[FlowInfo]) -> Vec<FlowCommit> {
    flows
        .iter()
        .flat_map(|f| {
            Action::commits(&f.actions).into_iter().map(|ct| FlowCommit {
                zone: ct.zone,
                timeout: ct.timeout.clone(),
                protocols: flow_protocols(&f.key),
            })
        })
        .collect()
}

/// The kernel's `ovs_tp_<id>_*` objects by id, each id's six slots in
/// [`KERNEL_PROTOCOLS`] order (a slot is empty when that object is absent).
pub type Groups<'a> = BTreeMap<u32, [Option<&'a CtTimeoutObject>; 6]>;

pub fn groups(kernel: &[CtTimeoutObject]) -> Groups<'_> {
    let mut out = Groups::new();
    for o in kernel {
        if let Some((id, i)) = o.name.to_str().and_then(slot) {
            out.entry(id).or_default()[i] = Some(o);
        }
    }
    out
}

/// The policy id of an `ovs_tp_<id>_<proto>` name, and the
/// [`KERNEL_PROTOCOLS`] slot of its `<proto>`.
pub fn slot(name: &str) -> Option<(u32, usize)> {
    let id = policy_id_of(name)?;
    let suffix = name.rsplit('_').next()?;
    Some((id, KERNEL_PROTOCOLS.iter().position(|(_, _, s)| *s == suffix)?))
}

/// Whether the six objects of a group are exactly what `policy` makes.
pub fn fits(group: &[Option<&CtTimeoutObject>; 6], policy: &TimeoutPolicy, defaults: &Defaults) -> bool {
    policy.kernel_objects(1).iter().zip(group).all(|(want, have)| {
        have.is_some_and(|h| (h.l3, h.l4) == (want.l3, want.l4) && h.timeouts == expected(want, defaults))
    })
}

/// How the objects shown for a zone were chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Decision {
    /// The zone's committing flows name these objects.
    Flows {
        objects: Vec<String>,
        /// Other ids whose objects have the same values.
        also_fit: Vec<u32>,
    },
    /// No flow of the zone commits; one id's objects have the values.
    Contents,
    /// No flow of the zone commits; these ids' objects all have the
    /// values, and the lowest is shown.
    ContentsAmbiguous { candidates: Vec<u32> },
    /// No flow names an object, and no id's objects have the values.
    NotFound,
}

/// The objects of one zone: ovs-vswitchd's policy id, and how it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneObjects {
    pub policy_id: Option<u32>,
    pub decision: Decision,
}

/// Finds the id of the objects that serve `zone`, whose policy is `policy`.
pub fn match_zone(
    zone: u16,
    policy: &TimeoutPolicy,
    groups: &Groups<'_>,
    commits: &[FlowCommit],
    defaults: &Defaults,
) -> ZoneObjects {
    let fitting: BTreeSet<u32> =
        groups.iter().filter(|(_, g)| fits(g, policy, defaults)).map(|(id, _)| *id).collect();
    let named: BTreeSet<&str> =
        commits.iter().filter(|c| c.zone == zone).filter_map(|c| c.timeout.as_deref()).collect();
    let mut by_flows: BTreeMap<u32, usize> = BTreeMap::new();
    for id in named.iter().filter_map(|n| policy_id_of(n)) {
        *by_flows.entry(id).or_default() += 1;
    }
    // Several ids in one zone's flows (a change not yet revalidated into
    // every flow): one whose objects fit first, then the most named, then
    // the lowest.
    let chosen = by_flows.iter().max_by_key(|(id, n)| (fitting.contains(id), **n, std::cmp::Reverse(**id)));
    if let Some((id, _)) = chosen {
        let also_fit = fitting.iter().copied().filter(|f| f != id).collect();
        let objects = named.iter().map(|n| n.to_string()).collect();
        return ZoneObjects { policy_id: Some(*id), decision: Decision::Flows { objects, also_fit } };
    }
    match fitting.len() {
        0 => ZoneObjects { policy_id: None, decision: Decision::NotFound },
        1 => ZoneObjects { policy_id: fitting.first().copied(), decision: Decision::Contents },
        _ => ZoneObjects {
            policy_id: fitting.first().copied(),
            decision: Decision::ContentsAmbiguous { candidates: fitting.into_iter().collect() },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cttimeout::Timeouts;

    fn tp(words: &[&str]) -> TimeoutPolicy {
        TimeoutPolicy::parse(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn defaults() -> Defaults {
        KERNEL_PROTOCOLS.iter().map(|(l3, l4, _)| ((*l3, *l4), Timeouts::from([(1, 120)]))).collect()
    }

    /// The six objects ovs-vswitchd makes for `policy` under id `id`.
    fn pushed(id: u32, policy: &TimeoutPolicy) -> Vec<CtTimeoutObject> {
        policy
            .kernel_objects(id)
            .into_iter()
            .map(|mut o| {
                o.timeouts = expected(&o, &defaults());
                o
            })
            .collect()
    }

    fn commit(zone: u16, name: &str) -> FlowCommit {
        FlowCommit { zone, timeout: Some(name.into()), protocols: None }
    }

    #[test]
    fn contents_alone_pick_the_one_id_that_fits() {
        let p = tp(&["udp_single=10"]);
        let mut kernel = pushed(3, &p);
        kernel.extend(pushed(4, &tp(&["udp_single=11"])));
        let m = match_zone(5, &p, &groups(&kernel), &[], &defaults());
        assert_eq!(m, ZoneObjects { policy_id: Some(3), decision: Decision::Contents });
    }

    #[test]
    fn identical_objects_are_ambiguous_without_flows_and_decided_by_them() {
        // udp_first has no kernel timeout: two policies, identical objects.
        let (a, b) = (tp(&["udp_single=10", "udp_first=1"]), tp(&["udp_single=10", "udp_first=2"]));
        let mut kernel = pushed(3, &a);
        kernel.extend(pushed(8, &b));
        let g = groups(&kernel);
        let m = match_zone(7, &b, &g, &[], &defaults());
        assert_eq!(m.policy_id, Some(3));
        assert_eq!(m.decision, Decision::ContentsAmbiguous { candidates: vec![3, 8] });
        let flows = [commit(5, "ovs_tp_3_udp4"), commit(7, "ovs_tp_8_udp4"), commit(7, "ovs_tp_8_icmp4")];
        let m = match_zone(7, &b, &g, &flows, &defaults());
        assert_eq!(m.policy_id, Some(8));
        assert_eq!(
            m.decision,
            Decision::Flows {
                objects: vec!["ovs_tp_8_icmp4".into(), "ovs_tp_8_udp4".into()],
                also_fit: vec![3]
            }
        );
    }

    #[test]
    fn flows_win_over_contents_even_when_the_values_differ() {
        let p = tp(&["udp_single=10"]);
        let mut kernel = pushed(3, &p);
        kernel.extend(pushed(4, &tp(&["udp_single=99"])));
        let m = match_zone(5, &p, &groups(&kernel), &[commit(5, "ovs_tp_4_udp4")], &defaults());
        assert_eq!(m.policy_id, Some(4));
        assert!(matches!(m.decision, Decision::Flows { ref also_fit, .. } if also_fit == &[3]));
        // Flows of two ids: the one whose objects fit.
        let flows = [commit(5, "ovs_tp_4_udp4"), commit(5, "ovs_tp_4_tcp4"), commit(5, "ovs_tp_3_udp4")];
        assert_eq!(match_zone(5, &p, &groups(&kernel), &flows, &defaults()).policy_id, Some(3));
    }

    #[test]
    fn a_partial_group_does_not_fit_and_nothing_is_found() {
        let p = tp(&["udp_single=10"]);
        let mut kernel = pushed(3, &p);
        kernel.retain(|o| o.name.as_bytes() != b"ovs_tp_3_icmpv6");
        let m = match_zone(5, &p, &groups(&kernel), &[commit(6, "ovs_tp_3_udp4")], &defaults());
        assert_eq!(m, ZoneObjects { policy_id: None, decision: Decision::NotFound });
    }
}
