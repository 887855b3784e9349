//! The agent's passes between full ones: a change of the configuration
//! applied to a kernel that holds the previous one. A full pass
//! ([`crate::reconcile::full_pass`]) lists every `ovs_tp_*` object and
//! compares it with the whole configuration, which at 65,536 zones is a
//! dump of 393,216 objects for any change. Here the kernel is not read:
//! what it holds is known from the last full pass and the passes since,
//! and only the objects of the policies that changed are sent:
//!
//! - a policy the datapath's zones use that was not pushed: its six
//!   objects (create, or replace if they are there);
//! - a pushed policy whose timeouts changed: the objects whose values
//!   changed (two for a UDP timeout: `udp4` and `udp6`);
//! - a policy no zone of any datapath uses any more: its six objects
//!   deleted (one only other datapaths' zones use is kept, as a full pass
//!   keeps it).
//!
//! What it cannot see (an object deleted or changed behind the agent's
//! back, a delete the kernel refused while the object was in use) the
//! agent's periodic and SIGHUP full passes repair; an object it did not
//! expect on a name it is about to use makes it fall back to one.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Config;
use crate::cttimeout::object::check_timeouts;
use crate::cttimeout::{CtTimeoutClient, CtTimeoutRequest, NewMode, ObjectName};
use crate::error::{errno_name, Result};
use crate::policy::{object_name, TimeoutPolicy, KERNEL_PROTOCOLS};
use crate::reconcile::{
    kernel_policy_id, other_datapaths_policy_ids, Action, FullPass, SyncFailure, SyncReport,
};

/// What the kernel holds of one datapath's policies, as far as the passes
/// that made it know.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// The datapath's policies whose objects all hold these values.
    policies: BTreeMap<u32, TimeoutPolicy>,
    /// Policy ids only other datapaths' zones use: their objects are kept.
    others: BTreeSet<u32>,
    /// Policy ids of the `ovs_tp_<id>_*` objects in the kernel, which new
    /// policies must not be given.
    kernel_ids: BTreeSet<u32>,
}

/// The datapath's policies by id (a zone without one, or whose policy has
/// no id yet, has none to push).
fn dp_policies<'a>(config: &'a Config, dp: &str) -> BTreeMap<u32, &'a TimeoutPolicy> {
    let Some(d) = config.datapaths.get(dp) else { return BTreeMap::new() };
    d.policy_ids()
        .into_iter()
        .filter_map(|id| Some((id, &config.timeout_policies.get(&id)?.timeouts)))
        .collect()
}

/// The six object names of policy `id`, in OVS's order.
pub fn object_names(id: u32) -> impl Iterator<Item = ObjectName> {
    KERNEL_PROTOCOLS.iter().map(move |(l3, l4, _)| {
        ObjectName::new(&object_name(id, *l3, *l4).expect("listed pair")).expect("fits 31 bytes")
    })
}

/// Whether the kernel holds any of the objects `names`: one GET each, in
/// one batch.
pub fn objects_exist(client: &mut CtTimeoutClient, names: &[ObjectName]) -> Result<bool> {
    let requests: Vec<_> = names.iter().map(|n| CtTimeoutRequest::Get { name: n.clone() }).collect();
    let mut found = false;
    for result in client.batch(&requests)? {
        match result {
            Ok(_) => found = true,
            Err(e) if e.errno() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

impl Pushed {
    /// What the kernel holds after a full pass of `config` that did
    /// `pass`: a policy with an object the pass could not push is left
    /// out, so the next pass sends it again.
    pub fn after_full_pass(config: &Config, dp: &str, pass: &FullPass) -> Self {
        let failed = failed_ids(&pass.report.failed);
        let policies = dp_policies(config, dp)
            .into_iter()
            .filter(|(id, _)| !failed.contains(id))
            .map(|(id, p)| (id, p.clone()))
            .collect();
        let others = other_datapaths_policy_ids(config, dp).into_iter().collect();
        Self { policies, others, kernel_ids: pass.kernel_ids.clone() }
    }

    /// The policy ids of `ovs_tp_<id>_*` objects in the kernel.
    pub fn kernel_ids(&self) -> &BTreeSet<u32> {
        &self.kernel_ids
    }

    /// What one pass for `config` would send: the actions, and the
    /// objects refused before sending (values the kernel would wrap).
    /// Linear in the policies of the two configurations; no request.
    pub fn plan(&self, config: &Config, dp: &str, max_seconds: u32) -> (Vec<Action>, Vec<SyncFailure>) {
        let wanted = dp_policies(config, dp);
        let others = other_datapaths_policy_ids(config, dp);
        let mut actions = Vec::new();
        let mut refused = Vec::new();
        for (id, policy) in &wanted {
            let pushed = self.policies.get(id);
            if pushed == Some(*policy) {
                continue;
            }
            let old = pushed.map(|p| p.kernel_objects(*id));
            for (i, want) in policy.kernel_objects(*id).into_iter().enumerate() {
                let verb = match &old {
                    None => "create",
                    Some(old) if old[i].timeouts != want.timeouts => "replace",
                    Some(_) => continue,
                };
                if let Err(e) = check_timeouts(want.l4, &want.timeouts, max_seconds) {
                    let error = e.to_string();
                    refused.push(SyncFailure {
                        object: want.name.to_string(),
                        action: verb,
                        error,
                        errno: None,
                    });
                } else if verb == "create" {
                    actions.push(Action::Create(want));
                } else {
                    actions.push(Action::Replace(want));
                }
            }
        }
        let gone = self.policies.keys().chain(&self.others).collect::<BTreeSet<_>>();
        for id in gone {
            if !wanted.contains_key(id) && !others.contains(id) {
                actions.extend(object_names(*id).map(Action::Delete));
            }
        }
        // Deletes first, as a full pass sends them.
        actions.sort_by_key(|a| !matches!(a, Action::Delete(_)));
        (actions, refused)
    }

    /// Brings the kernel from what it holds to `config` (already checked
    /// with [`crate::reconcile::check_config`]), sending only the requests
    /// [`Pushed::plan`] lists, in one batch. An object a delete finds gone
    /// is not reported as deleted; a delete refused while the object is in
    /// use is pending, and the next full pass retries it.
    pub fn apply(&mut self, config: &Config, client: &mut CtTimeoutClient, dp: &str) -> Result<SyncReport> {
        let (actions, refused) = self.plan(config, dp, client.max_seconds());
        let wanted = dp_policies(config, dp);
        let mut report = SyncReport { datapath: dp.to_owned(), pass: Some("delta"), ..Default::default() };
        if let Some(d) = config.datapaths.get(dp) {
            report.resolution = d.resolution;
        }
        // Keys the kernel ignores, of the policies sent.
        let sent = wanted.iter().filter(|(id, p)| self.policies.get(id) != Some(**p));
        let keys: BTreeSet<&str> = sent.flat_map(|(_, p)| p.userspace_only_keys()).collect();
        report.ignored_keys = keys.into_iter().map(str::to_owned).collect();
        let pushes = actions.iter().filter(|a| !matches!(a, Action::Delete(_))).count();
        report.unchanged = (6 * wanted.len()).saturating_sub(pushes + refused.len());
        report.plan = actions.iter().map(Action::planned).collect();
        report.failed = refused;
        let requests: Vec<CtTimeoutRequest> = actions
            .iter()
            .map(|a| match a {
                Action::Create(o) | Action::Replace(o) => {
                    CtTimeoutRequest::New { object: o.clone(), mode: NewMode::CreateOrReplace }
                }
                Action::Delete(n) => CtTimeoutRequest::Delete { name: Some(n.clone()) },
            })
            .collect();
        let results = client.batch(&requests)?;
        // Policies with an object not pushed: sent again next time.
        let mut unpushed = failed_ids(&report.failed);
        // Policies deleted, and those of them with an object left.
        let (mut deleted, mut lingering) = (BTreeSet::new(), BTreeSet::new());
        for (action, result) in actions.iter().zip(results) {
            let id = kernel_policy_id(action.name()).expect("ovs_tp_<id>_* names only");
            let name = action.name().to_string();
            match (action, result) {
                (Action::Create(_), Ok(_)) => report.created.push(name),
                (Action::Replace(_), Ok(_)) => report.replaced.push(name),
                (Action::Delete(_), Ok(_)) => {
                    deleted.insert(id);
                    report.deleted.push(name);
                }
                // Gone already (a full pass would not have listed it).
                (Action::Delete(_), Err(e)) if e.errno() == Some(libc::ENOENT) => {
                    deleted.insert(id);
                }
                (Action::Delete(_), Err(e)) if e.errno() == Some(libc::EBUSY) => {
                    lingering.insert(id);
                    report.pending.push(name);
                }
                (a, Err(e)) => {
                    match a {
                        Action::Delete(_) => lingering.insert(id),
                        _ => unpushed.insert(id),
                    };
                    let errno = e.errno().map(errno_name);
                    report.failed.push(SyncFailure {
                        object: name,
                        action: a.verb(),
                        errno,
                        error: e.to_string(),
                    });
                }
            }
        }
        // Objects of every wanted policy may be in the kernel now (a
        // failed create may have been a lost reply); an id is free again
        // once every object of it is gone.
        self.kernel_ids.extend(wanted.keys());
        for id in deleted.difference(&lingering) {
            self.kernel_ids.remove(id);
        }
        self.policies = wanted
            .into_iter()
            .filter(|(id, _)| !unpushed.contains(id))
            .map(|(id, p)| (id, p.clone()))
            .collect();
        self.others = other_datapaths_policy_ids(config, dp).into_iter().collect();
        Ok(report)
    }
}

/// The policy ids of the objects the kernel failed: sent again on the
/// next pass. An object refused before sending (`errno` none: a value the
/// kernel would wrap) would be refused again: it is not.
fn failed_ids(failed: &[SyncFailure]) -> BTreeSet<u32> {
    failed
        .iter()
        .filter(|f| f.errno.is_some())
        .filter_map(|f| kernel_policy_id(&ObjectName::new(&f.object).ok()?))
        .collect()
}
