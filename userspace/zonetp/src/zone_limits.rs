//! Conntrack zone limits in the kernel: what `sync` pushes into
//! openvswitch.ko's `ovs_ct_limit` family ([`crate::ovs::ct_limit`]) from
//! the configuration (`set-zone-limit`), and what it takes back.
//!
//! The kernel's limits carry no name and no owner (unlike `ovs_tp_*`
//! objects), so zonetp keeps a record of what it set, per network
//! namespace, in `/run/zonetp` (the kernel forgets its limits at boot, and
//! so does /run). A limit the configuration no longer has is removed only
//! when the record says zonetp set it *and* the kernel still holds the
//! value it set: one set by another tool, or changed behind zonetp's back,
//! is kept and reported. Beside ovs-vswitchd nothing is pushed (the
//! callers do not call this); ovs-vswitchd pushes its own.
//!
//! A default limit of 0 is no limit, which is what the kernel starts with
//! and what `DEL` of the default gives back: a wanted or recorded default
//! of 0 is the same as none.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Datapath;
use crate::error::{Error, Result};
use crate::ovs::ct_limit::{LimitTarget, ZoneLimit};
use crate::ovs::CtLimitClient;

/// Where the records are kept, one file per network namespace.
pub const STATE_DIR: &str = "/run/zonetp";

/// A set of limits: wanted (the configuration), in the kernel, or
/// recorded as zonetp's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The default limit; `None` (never `Some(0)`): no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub zones: BTreeMap<u16, u32>,
}

impl Limits {
    pub fn new(default: Option<u32>, zones: BTreeMap<u16, u32>) -> Self {
        Self { default: default.filter(|d| *d != 0), zones }
    }

    /// What datapath record `dp` asks for.
    pub fn of(dp: &Datapath) -> Self {
        let zones = dp.ct_zones.iter().filter_map(|(z, r)| Some((*z, r.limit?))).collect();
        Self::new(dp.ct_zone_default_limit, zones)
    }

    /// What a `GET` of everything answered.
    pub fn from_kernel(limits: &[ZoneLimit]) -> Self {
        let mut out = Self::default();
        for l in limits {
            match l.target {
                LimitTarget::Default => out.default = Some(l.limit).filter(|d| *d != 0),
                LimitTarget::Zone(z) => drop(out.zones.insert(z, l.limit)),
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.zones.is_empty()
    }

    fn get(&self, t: LimitTarget) -> Option<u32> {
        match t {
            LimitTarget::Default => self.default,
            LimitTarget::Zone(z) => self.zones.get(&z).copied(),
        }
    }

    fn entries(&self) -> impl Iterator<Item = (LimitTarget, u32)> + '_ {
        let zones = self.zones.iter().map(|(z, l)| (LimitTarget::Zone(*z), *l));
        self.default.map(|d| (LimitTarget::Default, d)).into_iter().chain(zones)
    }
}

/// What a sync does to the kernel's limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitPlan {
    pub set: Vec<(LimitTarget, u32)>,
    pub del: Vec<LimitTarget>,
    pub unchanged: usize,
    /// Limits in the kernel the configuration does not have and zonetp did
    /// not set (or were changed since): left as they are.
    pub kept: Vec<(LimitTarget, u32)>,
}

/// Sets what differs from `wanted`; deletes what `record` explains.
pub fn plan(wanted: &Limits, kernel: &Limits, record: &Limits) -> LimitPlan {
    let mut p = LimitPlan::default();
    for (t, w) in wanted.entries() {
        if kernel.get(t) == Some(w) {
            p.unchanged += 1;
        } else {
            p.set.push((t, w));
        }
    }
    for (t, k) in kernel.entries().filter(|(t, _)| wanted.get(*t).is_none()) {
        if record.get(t) == Some(k) {
            p.del.push(t);
        } else {
            p.kept.push((t, k));
        }
    }
    p
}

/// What a sync did (or, dry, would do) to the kernel's limits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LimitReport {
    /// `zone 5 limit=100`, `default limit=1000`.
    pub set: Vec<String>,
    /// `zone 5`, `default`.
    pub deleted: Vec<String>,
    pub unchanged: usize,
    /// `zone 9 limit=3`: not the configuration's, not set by zonetp.
    pub kept: Vec<String>,
    /// Why the limits could not be read or pushed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl LimitReport {
    fn of(p: &LimitPlan) -> Self {
        let said = |(t, l): &(LimitTarget, u32)| format!("{t} limit={l}");
        Self {
            set: p.set.iter().map(said).collect(),
            deleted: p.del.iter().map(ToString::to_string).collect(),
            unchanged: p.unchanged,
            kept: p.kept.iter().map(said).collect(),
            error: None,
        }
    }

    fn failed(e: impl std::fmt::Display) -> Self {
        Self { error: Some(format!("zone limits: {e}")), ..Default::default() }
    }

    pub fn changed(&self) -> bool {
        !self.set.is_empty() || !self.deleted.is_empty()
    }
}

/// The record's file for this thread's network namespace, under `dir`.
pub fn record_path(dir: &Path) -> Result<PathBuf> {
    let ns = std::fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| Error::Store(format!("cannot identify the network namespace: {e}")))?;
    Ok(dir.join(format!("ct-limits-{}-{}.json", ns.dev(), ns.ino())))
}

/// The record at `path`; none yet is empty.
pub fn load_record(path: &Path) -> Result<Limits> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| Error::Store(format!("cannot read the zone limit record {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Limits::default()),
        Err(e) => Err(Error::Store(format!("cannot read the zone limit record {}: {e}", path.display()))),
    }
}

/// Writes the record atomically (temp file, fsync, rename); an empty one
/// is removed.
pub fn save_record(path: &Path, record: &Limits) -> Result<()> {
    let failed = |e: std::io::Error| {
        Error::Store(format!("cannot write the zone limit record {}: {e}", path.display()))
    };
    if record.is_empty() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(failed(e)),
            _ => Ok(()),
        };
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let text = serde_json::to_string(record).expect("limits serialize");
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(failed)
}

/// Pushes `wanted` into this network namespace's kernel, removing what the
/// record explains; `None` when there is nothing to do and nothing was
/// ever set (the kernel is not asked: a host without openvswitch.ko and
/// without limits never hears of them).
pub fn sync_limits(wanted: &Limits, dry_run: bool) -> Option<LimitReport> {
    sync_limits_in(Path::new(STATE_DIR), wanted, dry_run)
}

pub fn sync_limits_in(dir: &Path, wanted: &Limits, dry_run: bool) -> Option<LimitReport> {
    let path = match record_path(dir) {
        Ok(p) => p,
        Err(e) => return Some(LimitReport::failed(e)),
    };
    let record = match load_record(&path) {
        Ok(r) => r,
        Err(e) => return Some(LimitReport::failed(e)),
    };
    if wanted.is_empty() && record.is_empty() {
        return None;
    }
    let mut client = match CtLimitClient::open() {
        Ok(c) => c,
        // No openvswitch.ko: the limits zonetp set went with it (a module
        // unloaded takes its namespaces' limits), and none is wanted.
        Err(e) if e.errno() == Some(libc::ENOENT) && wanted.is_empty() => {
            return save_record(&path, &Limits::default()).err().map(LimitReport::failed);
        }
        Err(e) => return Some(LimitReport::failed(e)),
    };
    let kernel = match client.get_all() {
        Ok(k) => Limits::from_kernel(&k),
        Err(e) => return Some(LimitReport::failed(e)),
    };
    let p = plan(wanted, &kernel, &record);
    let mut report = LimitReport::of(&p);
    if dry_run {
        return Some(report);
    }
    let pushed = (|| {
        if !p.set.is_empty() {
            client.set(&p.set)?;
        }
        if !p.del.is_empty() {
            client.del(&p.del)?;
        }
        Ok::<_, Error>(())
    })();
    // On failure the old record stays beside the wanted limits: what was
    // set before is still explained on the next sync.
    let new_record = match &pushed {
        Ok(()) => wanted.clone(),
        Err(_) => {
            let mut r = record.clone();
            r.zones.extend(wanted.zones.iter().map(|(z, l)| (*z, *l)));
            r.default = wanted.default.or(r.default);
            r
        }
    };
    if let Err(e) = pushed {
        report.error = Some(format!("zone limits: {e}"));
    }
    if let Err(e) = save_record(&path, &new_record) {
        report.error.get_or_insert_with(|| format!("zone limits: {e}"));
    }
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(default: Option<u32>, zones: &[(u16, u32)]) -> Limits {
        Limits::new(default, zones.iter().copied().collect())
    }

    #[test]
    fn sync_sets_what_differs_and_deletes_only_what_it_set_and_the_kernel_still_holds() {
        let wanted = limits(Some(1000), &[(5, 100), (7, 0)]);
        let kernel = limits(None, &[(5, 100), (6, 10), (8, 3), (9, 4)]);
        let record = limits(None, &[(6, 10), (8, 2)]);
        let p = plan(&wanted, &kernel, &record);
        assert_eq!(p.set, [(LimitTarget::Default, 1000), (LimitTarget::Zone(7), 0)]);
        assert_eq!(p.unchanged, 1);
        // 6: zonetp's, as set; 8: changed since zonetp set it; 9: not zonetp's.
        assert_eq!(p.del, [LimitTarget::Zone(6)]);
        assert_eq!(p.kept, [(LimitTarget::Zone(8), 3), (LimitTarget::Zone(9), 4)]);
        let r = LimitReport::of(&p);
        assert_eq!(r.set, ["default limit=1000", "zone 7 limit=0"]);
        assert_eq!(r.deleted, ["zone 6"]);
        assert_eq!(r.kept, ["zone 8 limit=3", "zone 9 limit=4"]);
    }

    #[test]
    fn the_default_is_deleted_only_when_zonetp_set_it_and_zero_is_none() {
        let kernel = limits(Some(50), &[]);
        assert_eq!(plan(&Limits::default(), &kernel, &limits(Some(50), &[])).del, [LimitTarget::Default]);
        assert_eq!(
            plan(&Limits::default(), &kernel, &limits(Some(40), &[])).kept,
            [(LimitTarget::Default, 50)]
        );
        assert_eq!(limits(Some(0), &[]), Limits::default());
        let from_kernel = Limits::from_kernel(&[
            ZoneLimit { target: LimitTarget::Default, limit: 0, count: 0 },
            ZoneLimit { target: LimitTarget::Zone(3), limit: 0, count: 9 },
        ]);
        assert_eq!(from_kernel, limits(None, &[(3, 0)]), "a zone's 0 is a limit of its own: unlimited");
        assert_eq!(plan(&Limits::default(), &Limits::default(), &Limits::default()), LimitPlan::default());
    }

    #[test]
    fn a_datapath_record_asks_for_its_zones_limits_and_its_default() {
        let mut c = crate::config::Config::default();
        c.add_dp("system", false).unwrap();
        c.set_zone_limit("system", crate::config::LimitZone::Zone(5), 100).unwrap();
        c.set_zone_limit("system", crate::config::LimitZone::Default, 7).unwrap();
        c.add_zone_tp("system", 6, Default::default(), false).unwrap();
        assert_eq!(Limits::of(&c.datapaths["system"]), limits(Some(7), &[(5, 100)]));
    }

    #[test]
    fn the_record_round_trips_and_an_empty_one_is_removed() {
        let dir = std::env::temp_dir().join(format!("zonetp-limit-record-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = record_path(&dir).unwrap();
        assert_eq!(load_record(&path).unwrap(), Limits::default());
        let r = limits(Some(9), &[(5, 100)]);
        save_record(&path, &r).unwrap();
        assert_eq!(load_record(&path).unwrap(), r);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), r#"{"default":9,"zones":{"5":100}}"#);
        save_record(&path, &Limits::default()).unwrap();
        assert!(!path.exists());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, "{").unwrap();
        assert!(load_record(&path).unwrap_err().to_string().starts_with("cannot read the zone limit record"));
        // Nothing wanted, nothing recorded: the kernel is not asked.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(sync_limits_in(&dir, &Limits::default(), false), None);
        // A record left and nothing wanted where openvswitch.ko is absent
        // (this host's kernel): the record goes with the module's limits.
        if crate::ovs::CtLimitClient::open().is_err_and(|e| e.errno() == Some(libc::ENOENT)) {
            save_record(&path, &r).unwrap();
            assert_eq!(sync_limits_in(&dir, &Limits::default(), false), None);
            assert!(!path.exists());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
