//! What the agent asks of the zone tables on every change, kept up to
//! date row by row rather than read from every row: which datapath rows'
//! zones use each policy row, which policy rows changed since the agent
//! last looked, and the policy rows' ids (the ones claimed, those
//! missing, those that are no id). A change then costs in proportion to
//! the rows it names; at 65,536 zones, reading every row on each change
//! cost more than the change.
//!
//! The counts hold whatever order the rows of one update are read in:
//! a zone row's refs are counted by datapath row, and a zone's users move
//! with its policy when the zone row changes, with the zone when the
//! datapath row changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::vswitch::{DatapathRow, PolicyRow, ID_KEY};
use crate::policy::is_policy_id;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    /// Zone row -> the datapath rows whose `ct_zones` refer to it, with
    /// how many times.
    zone_refs: HashMap<String, HashMap<String, usize>>,
    /// Policy row -> datapath row -> zones of it that use the policy.
    users: HashMap<String, HashMap<String, usize>>,
    /// Policy rows whose users, timeouts or id may have changed since
    /// [`Index::take_dirty`].
    dirty: BTreeSet<String>,
    /// `Open_vSwitch.datapaths` changed since [`Index::take_dirty`]: which
    /// row is which datapath may have, and every policy with it.
    datapaths_changed: bool,
    /// Valid ids -> the policy rows claiming them.
    claims: BTreeMap<u32, BTreeSet<String>>,
    /// Ids two rows or more claim.
    shared: BTreeSet<u32>,
    /// Policy rows whose `zonetp-id` is no policy id.
    bad: BTreeSet<String>,
    /// Policy rows without a `zonetp-id`.
    unnumbered: BTreeSet<String>,
}

/// What a policy row's `external_ids:zonetp-id` says.
enum IdClaim {
    None,
    Valid(u32),
    Bad,
}

fn claim_of(row: &PolicyRow) -> IdClaim {
    match row.external_ids.get(ID_KEY).map(|v| v.parse::<u32>()) {
        None => IdClaim::None,
        Some(Ok(id)) if is_policy_id(id) => IdClaim::Valid(id),
        Some(_) => IdClaim::Bad,
    }
}

/// Counts `n` more (`up`) or fewer references of `key` from `dp` in
/// `counts`, dropping what falls to none.
fn bump(counts: &mut HashMap<String, HashMap<String, usize>>, key: &str, dp: &str, n: usize, up: bool) {
    let by_dp = counts.entry(key.to_owned()).or_default();
    let count = by_dp.entry(dp.to_owned()).or_default();
    *count = if up { *count + n } else { count.saturating_sub(n) };
    if *count == 0 {
        by_dp.remove(dp);
    }
    if by_dp.is_empty() {
        counts.remove(key);
    }
}

impl Index {
    /// A policy row changed from `old` to `new` (`None`: none).
    pub fn policy_changed(&mut self, uuid: &str, old: Option<&PolicyRow>, new: Option<&PolicyRow>) {
        self.dirty.insert(uuid.to_owned());
        if let Some(old) = old {
            match claim_of(old) {
                IdClaim::None => drop(self.unnumbered.remove(uuid)),
                IdClaim::Bad => drop(self.bad.remove(uuid)),
                IdClaim::Valid(id) => {
                    if let Some(rows) = self.claims.get_mut(&id) {
                        rows.remove(uuid);
                        match rows.len() {
                            0 => drop(self.claims.remove(&id)),
                            1 => drop(self.shared.remove(&id)),
                            _ => {}
                        }
                    }
                }
            }
        }
        if let Some(new) = new {
            match claim_of(new) {
                IdClaim::None => drop(self.unnumbered.insert(uuid.to_owned())),
                IdClaim::Bad => drop(self.bad.insert(uuid.to_owned())),
                IdClaim::Valid(id) => {
                    let rows = self.claims.entry(id).or_default();
                    rows.insert(uuid.to_owned());
                    if rows.len() > 1 {
                        self.shared.insert(id);
                    }
                }
            }
        }
    }

    /// Zone row `zone` now uses policy row `new` instead of `old`.
    pub fn zone_changed(&mut self, zone: &str, old: Option<&str>, new: Option<&str>) {
        if old == new {
            return;
        }
        let Some(refs) = self.zone_refs.get(zone) else { return };
        for (policy, up) in [(old, false), (new, true)] {
            let Some(policy) = policy else { continue };
            for (dp, n) in refs {
                bump(&mut self.users, policy, dp, *n, up);
            }
            self.dirty.insert(policy.to_owned());
        }
    }

    /// Datapath row `dp` changed from `old` to `new`; `policy_of` gives a
    /// zone row's policy row as it is now. Linear in the zones of the two
    /// rows (they are compared), touching only the zones that differ. The
    /// follower calls it when it reads the row whole; a difference of
    /// `ct_zones` alone goes through [`Index::zone_ref_changed`].
    pub fn datapath_changed(
        &mut self,
        dp: &str,
        old: Option<&DatapathRow>,
        new: Option<&DatapathRow>,
        policy_of: impl Fn(&str) -> Option<String>,
    ) {
        let empty = BTreeMap::new();
        let old = old.map_or(&empty, |r| &r.ct_zones);
        let new = new.map_or(&empty, |r| &r.ct_zones);
        let gone = old.iter().filter(|(z, u)| new.get(z) != Some(u)).map(|(_, u)| (u, false));
        let came = new.iter().filter(|(z, u)| old.get(z) != Some(u)).map(|(_, u)| (u, true));
        let changes: Vec<(&String, bool)> = gone.chain(came).collect();
        for (zone, added) in changes {
            self.zone_ref(dp, zone, added, &policy_of);
        }
    }

    /// One zone of datapath row `dp` changed row, from `old` to `new`
    /// (a map difference of `ct_zones`, applied without reading the rest).
    pub fn zone_ref_changed(
        &mut self,
        dp: &str,
        old: Option<&str>,
        new: Option<&str>,
        policy_of: impl Fn(&str) -> Option<String>,
    ) {
        if let Some(z) = old {
            self.zone_ref(dp, z, false, &policy_of);
        }
        if let Some(z) = new {
            self.zone_ref(dp, z, true, &policy_of);
        }
    }

    /// Datapath row `dp` refers to zone row `zone` once more (`added`) or
    /// once less.
    fn zone_ref(&mut self, dp: &str, zone: &str, added: bool, policy_of: &impl Fn(&str) -> Option<String>) {
        bump(&mut self.zone_refs, zone, dp, 1, added);
        if let Some(policy) = policy_of(zone) {
            bump(&mut self.users, &policy, dp, 1, added);
            self.dirty.insert(policy);
        }
    }

    /// Which row is which datapath may have changed.
    pub fn datapaths_changed(&mut self) {
        self.datapaths_changed = true;
    }

    /// The policy rows that changed since the last call, and whether
    /// `Open_vSwitch.datapaths` did (then any policy may have).
    pub fn take_dirty(&mut self) -> (BTreeSet<String>, bool) {
        (std::mem::take(&mut self.dirty), std::mem::take(&mut self.datapaths_changed))
    }

    /// How many zones of datapath row `dp` use policy row `policy`, and
    /// whether zones of other datapath rows do.
    pub fn users(&self, policy: &str, dp: Option<&str>) -> (usize, bool) {
        let Some(users) = self.users.get(policy) else { return (0, false) };
        let mine = dp.and_then(|dp| users.get(dp)).copied().unwrap_or(0);
        (mine, users.keys().any(|d| Some(d.as_str()) != dp))
    }

    /// True when every policy row's id is valid and its own (the
    /// snapshot's check of the ids has nothing to say).
    pub fn ids_are_sound(&self) -> bool {
        self.bad.is_empty() && self.shared.is_empty()
    }

    /// Policy rows without an id.
    pub fn unnumbered(&self) -> &BTreeSet<String> {
        &self.unnumbered
    }

    /// The highest id a row claims.
    pub fn highest_id(&self) -> Option<u32> {
        self.claims.keys().next_back().copied()
    }

    /// The id of policy row `uuid`, if it is a valid one no other row claims.
    pub fn id_of(&self, row: &PolicyRow) -> Option<u32> {
        match claim_of(row) {
            IdClaim::Valid(id) if !self.shared.contains(&id) => Some(id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::vswitch::{Snapshot, Tables};

    /// The rows of `value` (tables by name, rows by UUID).
    fn tables(value: serde_json::Value) -> Tables {
        serde_json::from_value(value).unwrap()
    }

    /// Reads the rows `rows` of `next` into `s` one by one, in the order
    /// given, and checks the index against one built from every row.
    fn step(s: &mut Snapshot, next: &Tables, rows: &[(&str, &str)]) {
        s.tables = next.clone();
        for (table, uuid) in rows {
            s.refresh_row(table, uuid);
        }
        let mut kept = s.index.clone();
        let mut built = Snapshot::from_tables(next.clone()).index;
        kept.take_dirty();
        built.take_dirty();
        assert_eq!(kept, built, "after {rows:?}");
    }

    #[test]
    fn users_and_ids_kept_row_by_row_are_those_read_from_every_row() {
        let t0 = tables(json!({
            "Open_vSwitch": {"o": {"datapaths": ["map", [["system", ["uuid", "d"]], ["netdev", ["uuid", "n"]]]]}},
            "Datapath": {"d": {"ct_zones": ["map", [[1, ["uuid", "z1"]], [2, ["uuid", "z2"]]]]},
                         "n": {"ct_zones": ["map", [[7, ["uuid", "z7"]]]]}},
            "CT_Zone": {"z1": {"timeout_policy": ["uuid", "p"]}, "z2": {"timeout_policy": ["uuid", "p"]},
                        "z7": {"timeout_policy": ["uuid", "q"]}},
            "CT_Timeout_Policy": {"p": {"external_ids": ["map", [["zonetp-id", "1"]]]}, "q": {}}
        }));
        let mut s = Snapshot::from_tables(t0.clone());
        assert_eq!(s.index.users("p", Some("d")), (2, false));
        assert_eq!(s.index.users("q", Some("d")), (0, true));
        assert_eq!(s.index.unnumbered().len(), 1);
        let (dirty, _) = s.index.take_dirty();
        assert_eq!(dirty.len(), 2);

        // A zone added with a new policy, in one update (rows in the
        // order the follower reads them: by table name, then UUID).
        let mut t1 = t0.clone();
        t1.get_mut("CT_Timeout_Policy").unwrap().insert("r".into(), json!({}).as_object().unwrap().clone());
        t1.get_mut("CT_Zone")
            .unwrap()
            .insert("z3".into(), json!({"timeout_policy": ["uuid", "r"]}).as_object().unwrap().clone());
        t1.get_mut("Datapath").unwrap().insert(
            "d".into(),
            json!({"ct_zones": ["map", [[1, ["uuid", "z1"]], [2, ["uuid", "z2"]], [3, ["uuid", "z3"]]]]})
                .as_object()
                .unwrap()
                .clone(),
        );
        step(&mut s, &t1, &[("CT_Timeout_Policy", "r"), ("CT_Zone", "z3"), ("Datapath", "d")]);
        assert_eq!(s.index.users("r", Some("d")), (1, false));
        let (dirty, changed) = s.index.take_dirty();
        assert_eq!((dirty.into_iter().collect::<Vec<_>>(), changed), (vec!["r".to_owned()], false));

        // Zone 1 moves to policy q (used by netdev too), zone 2 leaves:
        // p is used by no zone, and q by both datapaths.
        let mut t2 = t1.clone();
        t2.get_mut("CT_Zone")
            .unwrap()
            .insert("z1".into(), json!({"timeout_policy": ["uuid", "q"]}).as_object().unwrap().clone());
        t2.get_mut("CT_Zone").unwrap().remove("z2");
        t2.get_mut("Datapath").unwrap().insert(
            "d".into(),
            json!({"ct_zones": ["map", [[1, ["uuid", "z1"]], [3, ["uuid", "z3"]]]]})
                .as_object()
                .unwrap()
                .clone(),
        );
        step(&mut s, &t2, &[("CT_Zone", "z1"), ("CT_Zone", "z2"), ("Datapath", "d")]);
        assert_eq!(s.index.users("p", Some("d")), (0, false));
        assert_eq!(s.index.users("q", Some("d")), (1, true));
        let (dirty, _) = s.index.take_dirty();
        assert_eq!(dirty.into_iter().collect::<Vec<_>>(), vec!["p".to_owned(), "q".to_owned()]);

        // Ids: q takes p's (two claims), then p is deleted.
        let mut t3 = t2.clone();
        t3.get_mut("CT_Timeout_Policy").unwrap().insert(
            "q".into(),
            json!({"external_ids": ["map", [["zonetp-id", "1"]]]}).as_object().unwrap().clone(),
        );
        step(&mut s, &t3, &[("CT_Timeout_Policy", "q")]);
        assert!(!s.index.ids_are_sound());
        assert!(s.check_ids().is_err());
        t3.get_mut("CT_Timeout_Policy").unwrap().remove("p");
        step(&mut s, &t3, &[("CT_Timeout_Policy", "p")]);
        assert!(s.index.ids_are_sound());
        assert_eq!(s.index.highest_id(), Some(1));
        assert_eq!(s.rows_without_id(), vec!["r".to_owned()]);

        // Which row is which datapath changed.
        let mut t4 = t3.clone();
        t4.get_mut("Open_vSwitch").unwrap().insert(
            "o".into(),
            json!({"datapaths": ["map", [["system", ["uuid", "n"]]]]}).as_object().unwrap().clone(),
        );
        t4.get_mut("Datapath").unwrap().remove("d");
        step(&mut s, &t4, &[("Datapath", "d"), ("Open_vSwitch", "o")]);
        assert!(s.index.take_dirty().1);
    }
}
