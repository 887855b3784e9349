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

use std::collections::{BTreeSet, HashMap};

use crate::cttimeout::object::check_timeouts;
use crate::cttimeout::{CtTimeoutClient, CtTimeoutRequest, NewMode, ObjectName};
use crate::error::{errno_name, Result};
use crate::ovsdb::vswitch::Snapshot;
use crate::policy::{object_name, TimeoutPolicy, KERNEL_PROTOCOLS};
use crate::reconcile::{kernel_policy_id, Action, FullPass, SyncFailure, SyncReport};

/// How the agent's datapath uses a policy row, as far as its objects go.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Use {
    /// Its zones use it: its objects hold these values.
    Mine(TimeoutPolicy),
    /// Only other datapaths' zones use it: its objects are kept.
    Others,
}

/// What the kernel holds of one datapath's policies, as far as the passes
/// that made it know.
#[derive(Clone, Debug, Default)]
pub struct Pushed {
    /// The datapath's row when this was taken: another row (or a change
    /// of `Open_vSwitch.datapaths`) calls for a full pass.
    dp_row: Option<String>,
    /// Policy rows with an id that some datapath's zones use.
    rows: HashMap<String, (u32, Use)>,
    /// How many of them the datapath's zones use.
    mine: usize,
    /// Rows with an object the kernel failed: sent again next pass.
    retry: BTreeSet<String>,
    /// Policy ids of the `ovs_tp_<id>_*` objects in the kernel, which new
    /// policies must not be given.
    kernel_ids: BTreeSet<u32>,
}

/// The id and use of policy row `row` now, if it has a (sound) id and
/// some datapath's zones use it.
fn current(s: &Snapshot, row: &str, dp_row: Option<&str>) -> Option<(u32, Use)> {
    let policy = s.policies.get(row)?;
    let id = s.index.id_of(policy)?;
    match s.index.users(row, dp_row) {
        (0, false) => None,
        (0, true) => Some((id, Use::Others)),
        _ => Some((id, Use::Mine(TimeoutPolicy(policy.timeouts.clone())))),
    }
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

/// The datapath row named `dp` in `s`.
fn dp_row(s: &Snapshot, dp: &str) -> Option<String> {
    s.ovs.as_ref()?.datapaths.get(dp).cloned()
}

impl Pushed {
    /// What the kernel holds after a full pass of `s`'s configuration that
    /// did `pass`: a policy with an object the kernel failed is sent again
    /// by the next pass.
    pub fn after_full_pass(s: &Snapshot, dp: &str, pass: &FullPass) -> Self {
        let failed = failed_ids(&pass.report.failed);
        let dp_row = dp_row(s, dp);
        let mut out = Self { kernel_ids: pass.kernel_ids.clone(), ..Default::default() };
        for row in s.policies.keys() {
            match current(s, row, dp_row.as_deref()) {
                Some((id, _)) if failed.contains(&id) => drop(out.retry.insert(row.clone())),
                Some(counted) => {
                    out.mine += usize::from(matches!(counted.1, Use::Mine(_)));
                    out.rows.insert(row.clone(), counted);
                }
                None => {}
            }
        }
        out.dp_row = dp_row;
        out
    }

    /// True if a delta pass can follow from here: the datapath is the same
    /// row, and which row is which datapath did not change.
    pub fn can_follow(&self, s: &Snapshot, dp: &str, datapaths_changed: bool) -> bool {
        !datapaths_changed && self.dp_row == dp_row(s, dp)
    }

    /// The policy ids of `ovs_tp_<id>_*` objects in the kernel.
    pub fn kernel_ids(&self) -> &BTreeSet<u32> {
        &self.kernel_ids
    }

    /// What one pass for the policy rows `changed` would send, by row, and
    /// the objects refused before sending (values the kernel would wrap).
    /// In proportion to the rows; no request.
    fn plan(
        &self,
        s: &Snapshot,
        changed: &BTreeSet<String>,
        max_seconds: u32,
    ) -> (Vec<(String, Action)>, Vec<SyncFailure>) {
        let mut actions = Vec::new();
        let mut refused = Vec::new();
        for row in changed {
            let old = self.rows.get(row);
            let new = current(s, row, self.dp_row.as_deref());
            if let Some((o, _)) = old.filter(|(o, _)| new.as_ref().map(|(n, _)| n) != Some(o)) {
                actions.extend(object_names(*o).map(|n| (row.clone(), Action::Delete(n))));
            }
            let Some((id, Use::Mine(policy))) = &new else { continue };
            let pushed = match old {
                Some((o, Use::Mine(p))) if o == id => Some(p),
                _ => None,
            };
            if pushed == Some(policy) {
                continue;
            }
            let before = pushed.map(|p| p.kernel_objects(*id));
            for (i, want) in policy.kernel_objects(*id).into_iter().enumerate() {
                let verb = match &before {
                    None => "create",
                    Some(b) if b[i].timeouts != want.timeouts => "replace",
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
                    actions.push((row.clone(), Action::Create(want)));
                } else {
                    actions.push((row.clone(), Action::Replace(want)));
                }
            }
        }
        // Deletes first, as a full pass sends them: a name an id leaves
        // may be the one another row takes.
        actions.sort_by_key(|(_, a)| !matches!(a, Action::Delete(_)));
        (actions, refused)
    }

    /// Brings the kernel from what it holds to `s`'s configuration (already
    /// checked with [`crate::reconcile::check_config`]) for the policy rows
    /// `changed` ([`crate::ovsdb::index::Index::take_dirty`]; the agent
    /// checks [`Pushed::can_follow`] first) and those the kernel failed
    /// last time, sending only their requests, in one batch. An object a
    /// delete finds gone is not reported as deleted; a delete refused
    /// while the object is in use is pending, and the next full pass
    /// retries it.
    pub fn apply(
        &mut self,
        s: &Snapshot,
        mut changed: BTreeSet<String>,
        client: &mut CtTimeoutClient,
        dp: &str,
    ) -> Result<SyncReport> {
        changed.append(&mut self.retry);
        let (actions, refused) = self.plan(s, &changed, client.max_seconds());
        let mut report = SyncReport { datapath: dp.to_owned(), pass: Some("delta"), ..Default::default() };
        if let Some(r) = dp_row(s, dp).and_then(|u| s.datapaths.get(&u)) {
            report.resolution = match r.external_ids.get(crate::ovsdb::vswitch::RESOLUTION_KEY) {
                Some(v) => crate::config::ResolutionMode::parse(v).unwrap_or_default(),
                None => Default::default(),
            };
        }
        // Bring the rows' uses up to date; the kernel's failures undo it.
        let mut sent_policies = Vec::new();
        for row in &changed {
            let new = current(s, row, self.dp_row.as_deref());
            let was_mine = matches!(self.rows.get(row), Some((_, Use::Mine(_))));
            let old = match new {
                Some(counted) => {
                    if let (_, Use::Mine(p)) = &counted {
                        sent_policies.push(p.clone());
                    }
                    self.rows.insert(row.clone(), counted)
                }
                None => self.rows.remove(row),
            };
            let is_mine = matches!(self.rows.get(row), Some((_, Use::Mine(_))));
            self.mine = self.mine + usize::from(is_mine) - usize::from(was_mine);
            drop(old);
        }
        let keys: BTreeSet<&str> = sent_policies.iter().flat_map(|p| p.userspace_only_keys()).collect();
        report.ignored_keys = keys.into_iter().map(str::to_owned).collect();
        let pushes = actions.iter().filter(|(_, a)| !matches!(a, Action::Delete(_))).count();
        report.unchanged = (6 * self.mine).saturating_sub(pushes + refused.len());
        report.plan = actions.iter().map(|(_, a)| a.planned()).collect();
        report.failed = refused;
        let requests: Vec<CtTimeoutRequest> = actions
            .iter()
            .map(|(_, a)| match a {
                Action::Create(o) | Action::Replace(o) => {
                    CtTimeoutRequest::New { object: o.clone(), mode: NewMode::CreateOrReplace }
                }
                Action::Delete(n) => CtTimeoutRequest::Delete { name: Some(n.clone()) },
            })
            .collect();
        let results = client.batch(&requests)?;
        // Ids deleted, and those of them with an object left.
        let (mut deleted, mut lingering) = (BTreeSet::new(), BTreeSet::new());
        for ((row, action), result) in actions.iter().zip(results) {
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
                (Action::Delete(_), Err(e)) if e.errno() == Some(libc::ENOENT) => drop(deleted.insert(id)),
                (Action::Delete(_), Err(e)) if e.errno() == Some(libc::EBUSY) => {
                    lingering.insert(id);
                    report.pending.push(name);
                }
                (a, Err(e)) => {
                    if let Action::Delete(_) = a {
                        lingering.insert(id);
                    } else if let Some((_, Use::Mine(_))) = self.rows.remove(row) {
                        // Made again, all six, by the next pass.
                        self.mine -= 1;
                        self.retry.insert(row.clone());
                    }
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
        // An id is free again once every object of it is gone; objects
        // of every policy of the datapath's may be in the kernel (a failed
        // create may have been a lost reply).
        for id in deleted.difference(&lingering) {
            self.kernel_ids.remove(id);
        }
        for row in &changed {
            if let Some((id, Use::Mine(_))) = current(s, row, self.dp_row.as_deref()) {
                self.kernel_ids.insert(id);
            }
        }
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
