//! `sync`: pushes the zone configuration into the kernel. The kernel is
//! the record of what exists: every run dumps the `ovs_tp_*` objects,
//! compares them with what the configuration asks for, and creates,
//! replaces or deletes only what differs, in batches. Objects that the
//! configuration does not explain are removed; a delete refused while the
//! object is in use is retried on the next run. Nothing outside the
//! prefix is touched, and a second run right after the first does nothing.
//!
//! Only the kernel datapath (`system`) has kernel objects. A sync never
//! takes a missing file, or a file without the datapath's record, for an
//! empty configuration (that would delete every object): it refuses, and
//! deleting everything takes [`SyncOptions::delete_all`]. Objects of
//! policies that other datapaths' zones use are never deleted.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;

use crate::config::Config;
use crate::cttimeout::message::parse_defaults;
use crate::cttimeout::object::check_timeouts;
use crate::cttimeout::{
    CtTimeoutClient, CtTimeoutObject, CtTimeoutRequest, L3Proto, L4Proto, NewMode, ObjectName, Timeouts,
};
use crate::error::{errno_name, Error, Result};
use crate::netlink::ParseError;
use crate::policy::{is_policy_id, policy_id_of, KERNEL_PROTOCOLS};
use crate::zone_store::ZoneStore;

/// The datapath type whose zones have kernel objects; others (`netdev`,
/// the userspace datapath) keep their conntrack in userspace.
pub const KERNEL_DATAPATH: &str = "system";

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

/// The policy ids the zones of datapaths other than `dp` use: their
/// objects are theirs, and `dp`'s sync leaves them alone.
pub fn other_datapaths_policy_ids(config: &Config, dp: &str) -> HashSet<u32> {
    config
        .datapaths
        .iter()
        .filter(|(name, _)| name.as_str() != dp)
        .flat_map(|(_, d)| d.policy_ids())
        .collect()
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
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Create(_) => "create",
            Action::Replace(_) => "replace",
            Action::Delete(_) => "delete",
        }
    }

    pub fn name(&self) -> &ObjectName {
        match self {
            Action::Create(o) | Action::Replace(o) => &o.name,
            Action::Delete(n) => n,
        }
    }

    /// The action as a report gives it.
    pub fn planned(&self) -> PlannedAction {
        match self {
            Action::Create(o) | Action::Replace(o) => PlannedAction {
                action: self.verb(),
                name: o.name.to_string(),
                l3: Some(o.l3.to_string()),
                l4: Some(o.l4.to_string()),
                timeouts: Some(StateTimeouts(
                    o.timeouts
                        .iter()
                        .map(|(attr, secs)| {
                            let state = o.l4.state_name(*attr).map(str::to_owned);
                            (state.unwrap_or_else(|| attr.to_string()), *secs)
                        })
                        .collect(),
                )),
            },
            Action::Delete(n) => {
                PlannedAction { action: "delete", name: n.to_string(), l3: None, l4: None, timeouts: None }
            }
        }
    }

    pub fn describe(&self) -> String {
        self.planned().describe()
    }
}

/// One action of a plan, as reports show it: `{"action": "create", "name":
/// ..., "l3": "ipv4", "l4": "udp", "timeouts": {"unreplied": 1}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedAction {
    pub action: &'static str,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l3: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l4: Option<String>,
    /// The states set, by kernel state name; the others take the kernel's
    /// defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<StateTimeouts>,
}

/// Timeouts by state name, in the kernel's attribute order; a JSON object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateTimeouts(pub Vec<(String, u32)>);

impl Serialize for StateTimeouts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl PlannedAction {
    /// `create ovs_tp_1_udp4 ipv4 udp unreplied=1`, `delete ovs_tp_9_tcp4`.
    pub fn describe(&self) -> String {
        let mut words = vec![self.action.to_owned(), self.name.clone()];
        words.extend(self.l3.clone());
        words.extend(self.l4.clone());
        words.extend(self.timeouts.iter().flat_map(|t| &t.0).map(|(k, v)| format!("{k}={v}")));
        words.join(" ")
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub unchanged: usize,
    /// Desired objects refused before sending (values the kernel would
    /// wrap), with the action they needed.
    pub refused: Vec<(&'static str, String, Error)>,
    /// Objects of other datapaths' policies, left alone.
    pub kept: Vec<ObjectName>,
}

/// The kernel's current per-netns defaults by (L3, L4).
pub type Defaults = BTreeMap<(L3Proto, L4Proto), Timeouts>;

/// Compares what is wanted with what the kernel has (only `ovs_tp_*`
/// objects of `current` are considered, less those of the policies in
/// `others`, which other datapaths use). A kernel object matches when its
/// L3/L4 agree and every state has the policy's value or, for a state the
/// policy leaves unset, the kernel's default (what a create or replace
/// would give it). Linear in the number of objects.
pub fn plan(
    desired: &Desired,
    current: &[CtTimeoutObject],
    others: &HashSet<u32>,
    defaults: &Defaults,
    max_seconds: u32,
) -> Plan {
    let mut p = Plan::default();
    // Names that are not UTF-8 are never ovs_tp_* names: such objects are
    // someone else's and are not looked at.
    let current: BTreeMap<&str, &CtTimeoutObject> = current
        .iter()
        .filter_map(|o| Some((o.name.to_str().filter(|n| policy_id_of(n).is_some())?, o)))
        .collect();
    let wanted: HashSet<&[u8]> = desired.0.iter().map(|o| o.name.as_bytes()).collect();
    let mut recreate = Vec::new();
    for want in &desired.0 {
        let name = want.name.to_str().expect("zonetp makes UTF-8 names");
        if let Err(e) = check_timeouts(want.l4, &want.timeouts, max_seconds) {
            let verb = if current.contains_key(name) { "replace" } else { "create" };
            p.refused.push((verb, name.to_owned(), e));
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
        if wanted.contains(name.as_bytes()) {
            continue;
        }
        if policy_id_of(name).is_some_and(|id| others.contains(&id)) {
            p.kept.push(have.name.clone());
        } else {
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

/// An object that could not be pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncFailure {
    /// The kernel object.
    pub object: String,
    /// What was to be done: create, replace or delete.
    pub action: &'static str,
    /// Why it failed.
    pub error: String,
    /// The kernel's errno (`EPERM`, ...) when the kernel refused it.
    pub errno: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct SyncReport {
    pub datapath: String,
    /// The datapath's resolution mode. It does not change what is pushed:
    /// every zone's own policy is needed in either mode, and zone 0's
    /// is a zone's own policy too.
    pub resolution: crate::config::ResolutionMode,
    pub dry_run: bool,
    /// Every object was deleted on request (`--delete-all`).
    pub delete_all: bool,
    pub created: Vec<String>,
    pub replaced: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: usize,
    /// Deletes the kernel refused because the object is in use; retried
    /// on the next sync.
    pub pending: Vec<String>,
    /// Objects that could not be pushed.
    pub failed: Vec<SyncFailure>,
    /// What the sync does (did, for a real run), in order.
    pub plan: Vec<PlannedAction>,
    /// Objects of policies other datapaths use, left alone.
    pub kept: Vec<String>,
    /// Keys set in the configuration that the kernel datapath ignores.
    pub ignored_keys: Vec<String>,
    /// The kernel was changed as reported, but recording the outcome in
    /// the configuration file (ids of deleted policies) failed.
    pub record_error: Option<String>,
    /// The agent's passes only: `full` (the kernel listed and compared
    /// with the whole configuration) or `delta` (only the objects of the
    /// policies that changed since the last pass were sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<&'static str>,
    /// The agent's passes only: the netlink requests sent since the last
    /// report, this pass's and those that numbered new policies before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// A dry run beside ovs-vswitchd plans nothing: the kernel's objects
    /// are its own, and sync would be refused; this says why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_beside_vswitchd: Option<String>,
    /// The conntrack zone limits pushed with the objects, when there are
    /// any to push or to take back ([`crate::zone_limits`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<crate::zone_limits::LimitReport>,
}

impl SyncReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
            && self.record_error.is_none()
            && self.limits.as_ref().is_none_or(|l| l.error.is_none())
    }

    /// How many objects the plan creates, replaces and deletes.
    pub fn planned(&self, action: &str) -> usize {
        self.plan.iter().filter(|a| a.action == action).count()
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SyncOptions {
    /// Compute and report the plan; change nothing.
    pub dry_run: bool,
    /// Push no policies: delete every `ovs_tp_*` object (but those of
    /// other datapaths' policies), with or without a configuration.
    pub delete_all: bool,
}

/// Refuses a sync of a datapath with no kernel side.
pub fn check_kernel_datapath(dp: &str) -> Result<()> {
    if dp == KERNEL_DATAPATH {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "datapath {dp} has no kernel objects: only the kernel datapath ({KERNEL_DATAPATH}) is synced into \
         the kernel; the kernel was left as it is"
    )))
}

/// The hint every refusal to take a configuration as empty gives.
const DELETE_ALL_HINT: &str =
    "the kernel was left as it is; to delete every ovs_tp_* object, use sync --delete-all";

/// Refuses a configuration a sync must not take for an empty one: none at
/// all (`loaded` is `None`), or one without a record for `dp`, unless
/// everything is to be deleted. `what` names the configuration's home.
pub fn check_config(loaded: Option<&Config>, what: &str, dp: &str, opts: SyncOptions) -> Result<()> {
    if opts.delete_all {
        return Ok(());
    }
    match loaded {
        None => Err(Error::Store(format!(
            "{what} does not exist, and a missing file is not an empty configuration ({DELETE_ALL_HINT})"
        ))),
        Some(c) if !c.datapaths.contains_key(dp) => Err(Error::Store(format!(
            "{what} has no record for datapath {dp} ({DELETE_ALL_HINT}; add-dp {dp} creates the record)"
        ))),
        Some(c) => c.datapath(dp).map(drop),
    }
}

/// The policy ids of the `ovs_tp_<id>_*` objects in the kernel: ids in
/// use, whatever the configuration says (a rule may hold an object of a
/// policy the configuration lost), which numbering must skip.
pub fn kernel_policy_ids(client: &mut CtTimeoutClient) -> Result<BTreeSet<u32>> {
    Ok(policy_ids_in_use(&client.list()?))
}

/// The policy ids `objects`' names carry. An `ovs_tp_0_*` or
/// `ovs_tp_4294967295_*` object (another tool's) is no policy's, and
/// no id a policy can get is kept from it: it is left out.
pub fn policy_ids_in_use(objects: &[CtTimeoutObject]) -> BTreeSet<u32> {
    objects.iter().filter_map(|o| kernel_policy_id(&o.name)).collect()
}

/// Runs one reconciliation of datapath `dp` from the configuration in
/// `store`, and records in it which retired policy ids stay reserved.
pub fn sync(
    store: &dyn ZoneStore,
    client: &mut CtTimeoutClient,
    dp: &str,
    opts: SyncOptions,
) -> Result<SyncReport> {
    check_kernel_datapath(dp)?;
    let loaded = store.load()?;
    check_config(loaded.as_ref(), &store.describe(), dp, opts)?;
    let config = loaded.unwrap_or_default();
    let (mut report, pending_ids) = sync_config(&config, client, dp, opts)?;
    if !opts.dry_run {
        // Keep ids reserved while their objects linger; free those that
        // are gone. A backend writes only when that changes something, so
        // a sync with nothing to record needs no write access.
        if let Err(e) = store.settle_retired(&config.retired_policy_ids, &pending_ids) {
            report.record_error = Some(e.to_string());
        }
    }
    Ok(report)
}

/// Reconciles the kernel with `config` (already checked with
/// [`check_config`]); also returns the ids of policies whose objects the
/// kernel kept (deletes refused or failed), which stay reserved.
pub fn sync_config(
    config: &Config,
    client: &mut CtTimeoutClient,
    dp: &str,
    opts: SyncOptions,
) -> Result<(SyncReport, BTreeSet<u32>)> {
    full_pass(config, client, dp, opts).map(|p| (p.report, p.pending_ids))
}

/// What a full pass did, and what it leaves in the kernel.
pub struct FullPass {
    pub report: SyncReport,
    /// Ids of policies whose objects the kernel kept (deletes refused or
    /// failed), which stay reserved.
    pub pending_ids: BTreeSet<u32>,
    /// The policy ids of the `ovs_tp_<id>_*` objects in the kernel after
    /// the pass: those listed, less the ones deleted, plus the ones made
    /// (empty for a dry run: the kernel is as listed).
    pub kernel_ids: BTreeSet<u32>,
}

/// [`sync_config`], also saying which policy ids the kernel holds after
/// it (the agent numbers new policies past them without listing again).
pub fn full_pass(
    config: &Config,
    client: &mut CtTimeoutClient,
    dp: &str,
    opts: SyncOptions,
) -> Result<FullPass> {
    check_kernel_datapath(dp)?;
    let desired = if opts.delete_all { Desired::default() } else { desired_objects(config, dp) };
    let others = other_datapaths_policy_ids(config, dp);
    let mut report = SyncReport {
        datapath: dp.to_owned(),
        dry_run: opts.dry_run,
        delete_all: opts.delete_all,
        ..Default::default()
    };
    if let Some(d) = config.datapaths.get(dp) {
        report.resolution = d.resolution;
    }
    if let (Some(d), false) = (config.datapaths.get(dp), opts.delete_all) {
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
    let plan = plan(&desired, &current, &others, &defaults, client.max_seconds());
    report.kept = plan.kept.iter().map(ToString::to_string).collect();
    report.unchanged = plan.unchanged;
    report.failed = plan
        .refused
        .iter()
        .map(|(verb, n, e)| SyncFailure {
            object: n.clone(),
            action: verb,
            error: e.to_string(),
            errno: None,
        })
        .collect();
    report.plan = plan.actions.iter().map(Action::planned).collect();
    if opts.dry_run {
        return Ok(FullPass {
            report,
            pending_ids: BTreeSet::new(),
            kernel_ids: policy_ids_in_use(&current),
        });
    }
    // Objects per policy id in the kernel, kept up to date as the
    // results come: an id is free again only once none is left.
    let mut in_kernel: BTreeMap<u32, isize> = BTreeMap::new();
    for o in &current {
        count(&mut in_kernel, &o.name, 1);
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
        let gone = matches!(&result, Err(e) if e.errno() == Some(libc::ENOENT));
        match (action, &result) {
            (Action::Create(o), Ok(_)) => count(&mut in_kernel, &o.name, 1),
            (Action::Delete(n), Ok(_)) => count(&mut in_kernel, n, -1),
            (Action::Delete(n), Err(_)) if gone => count(&mut in_kernel, n, -1),
            _ => {}
        }
        match (action, result) {
            (Action::Create(o), Ok(_)) => report.created.push(o.name.to_string()),
            (Action::Replace(o), Ok(_)) => report.replaced.push(o.name.to_string()),
            (Action::Delete(n), Ok(_)) => report.deleted.push(n.to_string()),
            (Action::Delete(n), Err(e)) if e.errno() == Some(libc::ENOENT) => {
                report.deleted.push(n.to_string())
            }
            (Action::Delete(n), Err(e)) if e.errno() == Some(libc::EBUSY) => {
                report.pending.push(n.to_string());
                pending_ids.extend(n.to_str().and_then(policy_id_of));
            }
            (a, Err(e)) => {
                if let Action::Delete(n) = a {
                    // Still there: its id stays reserved, as for EBUSY.
                    pending_ids.extend(n.to_str().and_then(policy_id_of));
                }
                report.failed.push(SyncFailure {
                    object: a.name().to_string(),
                    action: a.verb(),
                    errno: e.errno().map(errno_name),
                    error: e.to_string(),
                })
            }
        }
    }
    let kernel_ids = in_kernel.into_iter().filter(|(_, n)| *n > 0).map(|(id, _)| id).collect();
    Ok(FullPass { report, pending_ids, kernel_ids })
}

/// Counts an object of a policy in or out of `objects` (by policy id).
fn count(objects: &mut BTreeMap<u32, isize>, name: &ObjectName, by: isize) {
    if let Some(id) = kernel_policy_id(name) {
        *objects.entry(id).or_default() += by;
    }
}

/// The policy id an object's name carries, if it is one a policy can have.
pub fn kernel_policy_id(name: &ObjectName) -> Option<u32> {
    name.to_str().and_then(policy_id_of).filter(|id| is_policy_id(*id))
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
    fn kernel_objects_keep_only_ids_a_policy_can_have() {
        let objects: Vec<CtTimeoutObject> =
            ["ovs_tp_0_udp4", "ovs_tp_3_tcp6", "ovs_tp_4294967294_icmp4", "ovs_tp_4294967295_udp4", "web"]
                .iter()
                .map(|n| CtTimeoutObject::new(n, L3Proto::IPV4, L4Proto::UDP, Timeouts::new()).unwrap())
                .collect();
        assert_eq!(policy_ids_in_use(&objects), BTreeSet::from([3, crate::policy::MAX_POLICY_ID]));
    }

    #[test]
    fn first_sync_creates_six_then_nothing() {
        let c = config_with(&["udp_single=1", "icmp_first=2"]);
        let desired = desired_objects(&c, "system");
        assert_eq!(desired.len(), 6);
        let p = plan(&desired, &[], &HashSet::new(), &defaults(), 1000);
        assert_eq!(p.actions.len(), 6);
        // The kernel fills unset states with defaults: still a match.
        let kernel: Vec<_> = desired.0.iter().map(kernel_has).collect();
        let p = plan(&desired, &kernel, &HashSet::new(), &defaults(), 1000);
        assert!(p.actions.is_empty());
        assert_eq!(p.unchanged, 6);
    }

    #[test]
    fn changed_values_replace_foreign_objects_stay_and_strays_go() {
        let c = config_with(&["udp_single=1"]);
        let desired = desired_objects(&c, "system");
        let mut kernel: Vec<_> = desired.0.iter().map(kernel_has).collect();
        let udp4 = kernel.iter_mut().find(|o| o.name.as_bytes() == b"ovs_tp_1_udp4").unwrap();
        udp4.timeouts.insert(1, 30);
        kernel.push(CtTimeoutObject::new("web", L3Proto::IPV4, L4Proto::UDP, Default::default()).unwrap());
        kernel.push(
            CtTimeoutObject::new("ovs_tp_9_tcp4", L3Proto::IPV4, L4Proto::TCP, Default::default()).unwrap(),
        );
        let mut wrong =
            CtTimeoutObject::new("ovs_tp_1_tcp6", L3Proto::IPV4, L4Proto::UDP, Default::default()).unwrap();
        // A state left at a value other than the default is a difference too.
        kernel.iter_mut().find(|o| o.name.as_bytes() == b"ovs_tp_1_icmp4").unwrap().timeouts.insert(9, 7);
        wrong.use_count = Some(1);
        kernel.retain(|o| o.name.as_bytes() != b"ovs_tp_1_tcp6");
        kernel.push(wrong);
        let p = plan(&desired, &kernel, &HashSet::new(), &defaults(), 1000);
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
        let p = plan(&desired_objects(&c, "system"), &[], &HashSet::new(), &defaults(), u32::MAX / 1000);
        assert_eq!(p.refused.len(), 2, "udp4 and udp6");
        assert_eq!(p.actions.len(), 4);
    }

    #[test]
    fn objects_of_other_datapaths_policies_are_kept() {
        let mut c = config_with(&["udp_single=1"]);
        c.add_dp("netdev", false).unwrap();
        let p = TimeoutPolicy::parse(&["udp_single=2".to_owned()]).unwrap();
        assert_eq!(c.add_zone_tp("netdev", 7, p, false).unwrap(), 2);
        let desired = desired_objects(&c, "system");
        let theirs = TimeoutPolicy::parse(&["udp_single=2".to_owned()]).unwrap().kernel_objects(2);
        let others = other_datapaths_policy_ids(&c, "system");
        assert_eq!(others, HashSet::from([2]));
        let p = plan(&desired, &theirs, &others, &defaults(), 1000);
        assert_eq!(p.kept.len(), 6);
        assert!(p.actions.iter().all(|a| matches!(a, Action::Create(_))), "{:?}", p.actions);
        // Without the other datapath they are strays.
        let p = plan(&desired, &theirs, &HashSet::new(), &defaults(), 1000);
        assert_eq!(p.actions.iter().filter(|a| matches!(a, Action::Delete(_))).count(), 6);
    }

    /// 4096 policies, 24,576 objects (issue 10's size): the plan is exact
    /// for a kernel that has every other policy, one changed value and 100
    /// strays. Linear, so it runs in a test; nothing here is timed.
    #[test]
    fn plan_at_24576_objects_is_exact() {
        let mut desired = Desired::default();
        for id in 1..=4096u32 {
            let p = TimeoutPolicy::parse(&[format!("udp_single={id}")]).unwrap();
            desired.0.extend(p.kernel_objects(id));
        }
        assert_eq!(desired.len(), 24_576);
        let mut kernel: Vec<_> = desired
            .0
            .iter()
            .filter(|o| policy_id_of(o.name.to_str().unwrap()).unwrap().is_multiple_of(2))
            .map(kernel_has)
            .collect();
        kernel[1].timeouts.insert(1, 999_999);
        let changed = kernel[1].name.clone();
        for i in 0..100 {
            kernel.push(
                CtTimeoutObject::new(
                    &format!("ovs_tp_{}_tcp4", 10_000 + i),
                    L3Proto::IPV4,
                    L4Proto::TCP,
                    Default::default(),
                )
                .unwrap(),
            );
        }
        let p = plan(&desired, &kernel, &HashSet::new(), &defaults(), u32::MAX / 1000);
        let count = |f: fn(&Action) -> bool| p.actions.iter().filter(|a| f(a)).count();
        assert_eq!(count(|a| matches!(a, Action::Create(_))), 12_288);
        assert_eq!(count(|a| matches!(a, Action::Delete(_))), 100);
        assert_eq!(count(|a| matches!(a, Action::Replace(_))), 1);
        assert_eq!(p.unchanged, 12_287);
        assert!(p
            .actions
            .iter()
            .any(|a| *a == Action::Replace(desired.0.iter().find(|o| o.name == changed).unwrap().clone())));
        // Deletes first, then creates in OVS's order.
        assert!(p.actions[..100].iter().all(|a| matches!(a, Action::Delete(_))));
        let creates: Vec<_> = p
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Create(o) => Some(o.name.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(creates[0], "ovs_tp_1_tcp4");
        assert_eq!(creates[6], "ovs_tp_3_tcp4");
    }
}
