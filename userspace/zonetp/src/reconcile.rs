//! `sync`: pushes the zone configuration into the kernel. The kernel is
//! the record of what exists: every run dumps the `ovs_tp_*` objects,
//! compares them with what the configuration asks for, and creates,
//! replaces or deletes only what differs, in batches. Objects that the
//! configuration does not explain are removed; a delete refused while the
//! object is in use is retried on the next run. Nothing outside the
//! prefix is touched, and a second run right after the first does nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::Config;
use crate::cttimeout::message::parse_defaults;
use crate::cttimeout::object::{check_timeouts, format_timeouts};
use crate::cttimeout::{
    CtTimeoutClient, CtTimeoutObject, CtTimeoutRequest, L3Proto, L4Proto, NewMode, ObjectName, Timeouts,
};
use crate::error::{Error, Result};
use crate::netlink::ParseError;
use crate::policy::{policy_id_of, KERNEL_PROTOCOLS};
use crate::store::Store;

/// The kernel objects a datapath's zones call for, by name, in the order
/// OVS creates them: by policy id, then tcp4, udp4, icmp4, tcp6, udp6,
/// icmpv6 (the kernel lists objects in creation order).
pub fn desired_objects(config: &Config, dp: &str) -> Desired {
    let mut out = Desired::default();
    let Some(d) = config.datapaths.get(dp) else {
        return out;
    };
    for id in d.policy_ids() {
        if let Some(p) = config.timeout_policies.get(&id) {
            out.0.extend(p.timeouts.kernel_objects(id));
        }
    }
    out
}

/// Desired objects in creation order.
#[derive(Clone, Debug, Default)]
pub struct Desired(pub Vec<CtTimeoutObject>);

impl Desired {
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|o| o.name.as_str() == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Create(CtTimeoutObject),
    /// The object exists with other values: replaced in place.
    Replace(CtTimeoutObject),
    /// The object is not wanted (or has the wrong L3/L4 and must be made anew).
    Delete(ObjectName),
}

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::Create(o) | Action::Replace(o) => {
                let verb = if matches!(self, Action::Create(_)) { "create" } else { "replace" };
                let mut words = vec![verb.to_owned(), o.name.to_string(), o.l3.to_string(), o.l4.to_string()];
                words.extend(format_timeouts(o.l4, &o.timeouts));
                words.join(" ")
            }
            Action::Delete(n) => format!("delete {n}"),
        }
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub unchanged: usize,
    /// Desired objects refused before sending (values the kernel would wrap).
    pub refused: Vec<(String, Error)>,
}

/// The kernel's current per-netns defaults by (L3, L4).
pub type Defaults = BTreeMap<(L3Proto, L4Proto), Timeouts>;

/// Compares what is wanted with what the kernel has (only `ovs_tp_*`
/// objects of `current` are considered). A kernel object matches when its
/// L3/L4 agree and every state has the policy's value or, for a state the
/// policy leaves unset, the kernel's default (what a create or replace
/// would give it).
pub fn plan(desired: &Desired, current: &[CtTimeoutObject], defaults: &Defaults, max_seconds: u32) -> Plan {
    let mut p = Plan::default();
    let current: BTreeMap<&str, &CtTimeoutObject> = current
        .iter()
        .filter(|o| policy_id_of(o.name.as_str()).is_some())
        .map(|o| (o.name.as_str(), o))
        .collect();
    let mut recreate = Vec::new();
    for want in &desired.0 {
        let name = want.name.as_str();
        if let Err(e) = check_timeouts(want.l4, &want.timeouts, max_seconds) {
            p.refused.push((name.to_owned(), e));
            continue;
        }
        match current.get(name) {
            None => p.actions.push(Action::Create(want.clone())),
            Some(have) if have.l3 != want.l3 || have.l4 != want.l4 => {
                p.actions.push(Action::Delete(have.name.clone()));
                recreate.push(Action::Create(want.clone()));
            }
            Some(have) if have.timeouts == expected(want, defaults) => p.unchanged += 1,
            Some(_) => p.actions.push(Action::Replace(want.clone())),
        }
    }
    for (name, have) in &current {
        if !desired.contains(name) {
            p.actions.push(Action::Delete(have.name.clone()));
        }
    }
    // Deletes go first so that a recreated object's name is free.
    p.actions.sort_by_key(|a| !matches!(a, Action::Delete(_)));
    p.actions.extend(recreate);
    p
}

/// The values an object has once the kernel made it from `want`.
pub fn expected(want: &CtTimeoutObject, defaults: &Defaults) -> Timeouts {
    let mut t = defaults.get(&(want.l3, want.l4)).cloned().unwrap_or_default();
    t.extend(want.timeouts.iter().map(|(k, v)| (*k, *v)));
    t
}

/// Reads the defaults of every L3/L4 pair zone policies use, in one batch.
pub fn kernel_defaults(client: &mut CtTimeoutClient) -> Result<Defaults> {
    let requests: Vec<_> = KERNEL_PROTOCOLS
        .iter()
        .map(|(l3, l4, _)| CtTimeoutRequest::DefaultGet { l3: *l3, l4: *l4 })
        .collect();
    let mut out = Defaults::new();
    for ((l3, l4, _), replies) in KERNEL_PROTOCOLS.iter().zip(client.batch(&requests)?) {
        let reply = replies?.into_iter().next().ok_or_else(|| {
            Error::Parse(ParseError::Missing {
                what: "DEFAULT_SET reply",
                context: format!("defaults of {l3} {l4}"),
            })
        })?;
        out.insert((*l3, *l4), parse_defaults(&reply)?.2);
    }
    Ok(out)
}

#[derive(Debug, Default, Serialize)]
pub struct SyncReport {
    pub datapath: String,
    /// The datapath's resolution mode. It does not change what is pushed:
    /// every zone's own policy is needed in either mode, and zone 0's
    /// is a zone's own policy too.
    pub resolution: crate::config::ResolutionMode,
    pub dry_run: bool,
    pub created: Vec<String>,
    pub replaced: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: usize,
    /// Deletes the kernel refused because the object is in use; retried
    /// on the next sync.
    pub pending: Vec<String>,
    /// Objects that could not be pushed, with the reason.
    pub failed: Vec<(String, String)>,
    /// What a dry run would do, one line per action.
    pub plan: Vec<String>,
    /// Keys set in the configuration that the kernel datapath ignores.
    pub ignored_keys: Vec<String>,
}

impl SyncReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Runs one reconciliation of datapath `dp` (`explicit`: named by the user,
/// so it must exist).
pub fn sync(
    store: &Store,
    client: &mut CtTimeoutClient,
    dp: &str,
    explicit: bool,
    dry_run: bool,
) -> Result<SyncReport> {
    let config = store.read()?;
    if explicit {
        config.datapath(dp)?;
    }
    let desired = desired_objects(&config, dp);
    let mut report = SyncReport { datapath: dp.to_owned(), dry_run, ..Default::default() };
    if let Some(d) = config.datapaths.get(dp) {
        report.resolution = d.resolution;
        let mut keys = BTreeSet::new();
        for id in d.policy_ids() {
            if let Some(p) = config.timeout_policies.get(&id) {
                keys.extend(p.timeouts.userspace_only_keys().into_iter().map(str::to_owned));
            }
        }
        report.ignored_keys = keys.into_iter().collect();
    }
    let current = client.list()?;
    let defaults = kernel_defaults(client)?;
    let plan = plan(&desired, &current, &defaults, client.max_seconds());
    report.unchanged = plan.unchanged;
    report.failed = plan.refused.iter().map(|(n, e)| (n.clone(), e.to_string())).collect();
    report.plan = plan.actions.iter().map(Action::describe).collect();
    if dry_run {
        return Ok(report);
    }

    let requests: Vec<CtTimeoutRequest> = plan
        .actions
        .iter()
        .map(|a| match a {
            Action::Create(o) | Action::Replace(o) => {
                CtTimeoutRequest::New { object: o.clone(), mode: NewMode::CreateOrReplace }
            }
            Action::Delete(n) => CtTimeoutRequest::Delete { name: Some(n.clone()) },
        })
        .collect();
    let results = client.batch(&requests)?;
    let mut pending_ids = BTreeSet::new();
    for (action, result) in plan.actions.iter().zip(results) {
        match (action, result) {
            (Action::Create(o), Ok(_)) => report.created.push(o.name.to_string()),
            (Action::Replace(o), Ok(_)) => report.replaced.push(o.name.to_string()),
            (Action::Delete(n), Ok(_)) => report.deleted.push(n.to_string()),
            (Action::Delete(n), Err(e)) if e.errno() == Some(libc::ENOENT) => {
                report.deleted.push(n.to_string())
            }
            (Action::Delete(n), Err(e)) if e.errno() == Some(libc::EBUSY) => {
                report.pending.push(n.to_string());
                pending_ids.extend(policy_id_of(n.as_str()));
            }
            (a, Err(e)) => report.failed.push((a.describe(), e.to_string())),
        }
    }

    // Keep ids reserved while their objects linger; free those that are gone.
    let seen_retired = config.retired_policy_ids.clone();
    store.update(|c| {
        let policies: BTreeSet<u32> = c.timeout_policies.keys().copied().collect();
        c.retired_policy_ids.retain(|id| !seen_retired.contains(id) || pending_ids.contains(id));
        c.retired_policy_ids.extend(pending_ids.iter().filter(|id| !policies.contains(id)));
        Ok(())
    })?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::TimeoutPolicy;

    /// Kernel-like defaults: state 9 is 120 for every pair.
    fn defaults() -> Defaults {
        KERNEL_PROTOCOLS.iter().map(|(l3, l4, _)| ((*l3, *l4), Timeouts::from([(9, 120)]))).collect()
    }

    fn config_with(words: &[&str]) -> Config {
        let mut c = Config::default();
        c.add_dp("system", false).unwrap();
        let p = TimeoutPolicy::parse(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>()).unwrap();
        c.add_zone_tp("system", 5, p, false).unwrap();
        c
    }

    /// What the kernel reports for an object made from `o`.
    fn kernel_has(o: &CtTimeoutObject) -> CtTimeoutObject {
        let mut k = o.clone();
        k.timeouts = expected(o, &defaults());
        k.use_count = Some(1);
        k
    }

    #[test]
    fn first_sync_creates_six_then_nothing() {
        let c = config_with(&["udp_single=1", "icmp_first=2"]);
        let desired = desired_objects(&c, "system");
        assert_eq!(desired.len(), 6);
        let p = plan(&desired, &[], &defaults(), 1000);
        assert_eq!(p.actions.len(), 6);
        // The kernel fills unset states with defaults: still a match.
        let kernel: Vec<_> = desired.0.iter().map(kernel_has).collect();
        let p = plan(&desired, &kernel, &defaults(), 1000);
        assert!(p.actions.is_empty());
        assert_eq!(p.unchanged, 6);
    }

    #[test]
    fn changed_values_replace_foreign_objects_stay_and_strays_go() {
        let c = config_with(&["udp_single=1"]);
        let desired = desired_objects(&c, "system");
        let mut kernel: Vec<_> = desired.0.iter().map(kernel_has).collect();
        let udp4 = kernel.iter_mut().find(|o| o.name.as_str() == "ovs_tp_1_udp4").unwrap();
        udp4.timeouts.insert(1, 30);
        kernel.push(CtTimeoutObject::new("web", L3Proto::IPV4, L4Proto::UDP, Default::default()).unwrap());
        kernel.push(
            CtTimeoutObject::new("ovs_tp_9_tcp4", L3Proto::IPV4, L4Proto::TCP, Default::default()).unwrap(),
        );
        let mut wrong =
            CtTimeoutObject::new("ovs_tp_1_tcp6", L3Proto::IPV4, L4Proto::UDP, Default::default()).unwrap();
        // A state left at a value other than the default is a difference too.
        kernel.iter_mut().find(|o| o.name.as_str() == "ovs_tp_1_icmp4").unwrap().timeouts.insert(9, 7);
        wrong.use_count = Some(1);
        kernel.retain(|o| o.name.as_str() != "ovs_tp_1_tcp6");
        kernel.push(wrong);
        let p = plan(&desired, &kernel, &defaults(), 1000);
        let described: Vec<_> = p.actions.iter().map(Action::describe).collect();
        assert_eq!(
            described,
            vec![
                "delete ovs_tp_1_tcp6",
                "delete ovs_tp_9_tcp4",
                "replace ovs_tp_1_udp4 ipv4 udp unreplied=1",
                "replace ovs_tp_1_icmp4 ipv4 icmp",
                "create ovs_tp_1_tcp6 ipv6 tcp"
            ]
        );
        assert_eq!(p.unchanged, 3);
    }

    #[test]
    fn values_the_kernel_would_wrap_are_refused() {
        let c = config_with(&["udp_single=4294967295"]);
        let p = plan(&desired_objects(&c, "system"), &[], &defaults(), u32::MAX / 1000);
        assert_eq!(p.refused.len(), 2, "udp4 and udp6");
        assert_eq!(p.actions.len(), 4);
    }
}
