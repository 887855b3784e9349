//! Conntrack zone limits in the kernel: what `sync` pushes into
//! openvswitch.ko's `ovs_ct_limit` family ([`crate::ovs::ct_limit`]) from
//! the configuration (`set-zone-limit`), and what it takes back.
//!
//! The kernel's limits carry no name and no owner (unlike `ovs_tp_*`
//! objects), so zonetp keeps a record of what it set, per network
//! namespace, in `/run/zonetp` (the kernel forgets its limits at boot, and
//! so does /run), under a lock beside it (the agent and a one-shot sync
//! must not lose each other's entries). A limit the configuration no
//! longer has is removed only when the record says zonetp set it *and*
//! the kernel still holds the value it set: one set by another tool, or
//! changed behind zonetp's back, is kept and reported. Beside
//! ovs-vswitchd nothing is pushed (the callers do not call this);
//! ovs-vswitchd pushes its own.
//!
//! The kernel is asked only of the zones wanted or recorded, and the
//! default, in `GET`s of at most 256 zones: a `GET` of everything fails
//! once a few hundred limits exist (anyone's). Such a `GET` answers a
//! zone without a limit of its own with the default's, so a zone whose
//! answer is the default's value cannot be told from one without a
//! limit: a wanted one is set (quietly, counted as unchanged, when the
//! record says zonetp set it), a recorded one whose answer is not what
//! zonetp set is taken as gone.
//!
//! A default limit of 0 is no limit, which is what the kernel starts with
//! and what `DEL` of the default gives back. A configured 0 is still
//! pushed (ovs-vswitchd pushes it too: it overrides another tool's
//! default); a recorded or kernel default of 0 is the same as none.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Datapath;
use crate::error::{Error, Result};
use crate::ovs::ct_limit::{LimitTarget, ZoneLimit};
use crate::ovs::CtLimitClient;
use crate::store::Lock;

/// Where the records are kept, one file per network namespace.
pub const STATE_DIR: &str = "/run/zonetp";

/// A set of limits: wanted (the configuration) or recorded as zonetp's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The default limit; `Some(0)`: no limit, but said (and pushed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub zones: BTreeMap<u16, u32>,
}

impl Limits {
    pub fn new(default: Option<u32>, zones: BTreeMap<u16, u32>) -> Self {
        Self { default, zones }
    }

    /// What datapath record `dp` asks for.
    pub fn of(dp: &Datapath) -> Self {
        let zones = dp.ct_zones.iter().filter_map(|(z, r)| Some((*z, r.limit?))).collect();
        Self::new(dp.ct_zone_default_limit, zones)
    }

    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.zones.is_empty()
    }

    /// The default, and every zone's, to ask the kernel about.
    fn targets(&self, other: &Limits) -> Vec<LimitTarget> {
        let zones: std::collections::BTreeSet<u16> =
            self.zones.keys().chain(other.zones.keys()).copied().collect();
        std::iter::once(LimitTarget::Default).chain(zones.into_iter().map(LimitTarget::Zone)).collect()
    }
}

/// What a `GET` of the default and some zones answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelLimits {
    /// 0: none.
    pub default: u32,
    /// Each zone asked: its limit, else the default's.
    pub zones: BTreeMap<u16, u32>,
}

impl KernelLimits {
    pub fn from_reply(limits: &[ZoneLimit]) -> Self {
        let mut out = Self::default();
        for l in limits {
            match l.target {
                LimitTarget::Default => out.default = l.limit,
                LimitTarget::Zone(z) => drop(out.zones.insert(z, l.limit)),
            }
        }
        out
    }
}

/// What a sync does to the kernel's limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitPlan {
    pub set: Vec<(LimitTarget, u32)>,
    /// Wanted zones whose answer was the wanted value but also the
    /// default's: set again, since the zone may have no limit of its own
    /// (not reported: counted as unchanged).
    pub reassert: Vec<(LimitTarget, u32)>,
    pub del: Vec<LimitTarget>,
    pub unchanged: usize,
    /// Limits zonetp set that the configuration no longer has and the
    /// kernel holds with another value since: left as they are.
    pub kept: Vec<(LimitTarget, u32)>,
}

/// Sets what differs from `wanted`; deletes what `record` explains.
/// `kernel` answered for the default and every zone of `wanted` and
/// `record`.
pub fn plan(wanted: &Limits, kernel: &KernelLimits, record: &Limits) -> LimitPlan {
    let mut p = LimitPlan::default();
    let kd = kernel.default;
    match (wanted.default, record.default.filter(|d| *d != 0)) {
        (Some(w), _) if w == kd => p.unchanged += 1,
        (Some(w), _) => p.set.push((LimitTarget::Default, w)),
        (None, _) if kd == 0 => {}
        (None, Some(r)) if r == kd => p.del.push(LimitTarget::Default),
        (None, _) => p.kept.push((LimitTarget::Default, kd)),
    }
    for (z, w) in &wanted.zones {
        let t = LimitTarget::Zone(*z);
        match kernel.zones.get(z) {
            Some(k) if k == w && *k != kd => p.unchanged += 1,
            // The default's value too: unchanged if zonetp set it (set
            // again all the same), else new.
            Some(k) if k == w && record.zones.get(z) == Some(w) => {
                p.unchanged += 1;
                p.reassert.push((t, *w));
            }
            _ => p.set.push((t, *w)),
        }
    }
    for (z, r) in record.zones.iter().filter(|(z, _)| !wanted.zones.contains_key(z)) {
        let t = LimitTarget::Zone(*z);
        match kernel.zones.get(z) {
            Some(k) if k == r => p.del.push(t),
            // The default's answer: no limit of its own left (or one of
            // the default's value, nobody's to tell).
            Some(k) if *k == kd => {}
            Some(k) => p.kept.push((t, *k)),
            None => {}
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
    /// `zone 9 limit=3`: set by zonetp once, changed since.
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
    netns_path(dir, "ct-limits")
}

/// `dir/STEM-DEV-INO.json`: a file of this thread's network namespace.
pub fn netns_path(dir: &Path, stem: &str) -> Result<PathBuf> {
    let ns = std::fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| Error::Store(format!("cannot identify the network namespace: {e}")))?;
    Ok(dir.join(format!("{stem}-{}-{}.json", ns.dev(), ns.ino())))
}

/// The lock file beside the record at `path`.
fn lock_path(path: &Path) -> PathBuf {
    path.with_extension("lock")
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
/// ever set (the kernel is not asked, not even for the family: a host
/// without openvswitch.ko and without limits never hears of them).
pub fn sync_limits(wanted: &Limits, dry_run: bool) -> Option<LimitReport> {
    sync_limits_in(Path::new(STATE_DIR), wanted, dry_run, &mut CtLimitClient::open)
}

/// [`sync_limits`] with the record under `dir` and the kernel's family
/// opened by `open`.
pub fn sync_limits_in(
    dir: &Path,
    wanted: &Limits,
    dry_run: bool,
    open: &mut dyn FnMut() -> Result<CtLimitClient>,
) -> Option<LimitReport> {
    let path = match record_path(dir) {
        Ok(p) => p,
        Err(e) => return Some(LimitReport::failed(e)),
    };
    // Nothing wanted, nothing recorded: no lock file made, no family
    // resolved (a record appearing meanwhile is the next sync's).
    match load_record(&path) {
        Ok(r) if wanted.is_empty() && r.is_empty() => return None,
        Ok(_) => {}
        Err(e) => return Some(LimitReport::failed(e)),
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Some(LimitReport::failed(format!("cannot make {}: {e}", dir.display())));
    }
    let _lock = match Lock::take(&lock_path(&path), None) {
        Ok(l) => l,
        Err(e) => return Some(LimitReport::failed(e)),
    };
    let record = match load_record(&path) {
        Ok(r) => r,
        Err(e) => return Some(LimitReport::failed(e)),
    };
    if wanted.is_empty() && record.is_empty() {
        return None;
    }
    let mut client = match open() {
        Ok(c) => c,
        // No openvswitch.ko: the limits zonetp set went with it (a module
        // unloaded takes its namespaces' limits), and none is wanted.
        Err(e) if e.errno() == Some(libc::ENOENT) && wanted.is_empty() => {
            return save_record(&path, &Limits::default()).err().map(LimitReport::failed);
        }
        Err(e) => return Some(LimitReport::failed(e)),
    };
    let kernel = match client.get(&wanted.targets(&record)) {
        Ok(k) => KernelLimits::from_reply(&k),
        Err(e) => return Some(LimitReport::failed(e)),
    };
    let p = plan(wanted, &kernel, &record);
    let mut report = LimitReport::of(&p);
    if dry_run {
        return Some(report);
    }
    let pushed = (|| {
        let set: Vec<_> = p.set.iter().chain(&p.reassert).copied().collect();
        if !set.is_empty() {
            client.set(&set)?;
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

    fn kernel(default: u32, zones: &[(u16, u32)]) -> KernelLimits {
        KernelLimits { default, zones: zones.iter().copied().collect() }
    }

    #[test]
    fn sync_sets_what_differs_and_deletes_only_what_it_set_and_the_kernel_still_holds() {
        let wanted = limits(Some(1000), &[(5, 100), (7, 0)]);
        let kernel = kernel(0, &[(5, 100), (6, 10), (7, 0), (8, 3), (9, 0)]);
        let record = limits(None, &[(6, 10), (7, 0), (8, 2), (9, 4)]);
        let p = plan(&wanted, &kernel, &record);
        assert_eq!(p.set, [(LimitTarget::Default, 1000)]);
        // 7's answer is 0, the default's too: it may have none of its own.
        assert_eq!(p.reassert, [(LimitTarget::Zone(7), 0)]);
        // Not recorded as zonetp's: a new limit, said.
        let fresh = plan(&wanted, &kernel, &limits(None, &[]));
        assert_eq!(fresh.set, [(LimitTarget::Default, 1000), (LimitTarget::Zone(7), 0)]);
        assert_eq!((fresh.reassert.len(), fresh.unchanged), (0, 1));
        assert_eq!(p.unchanged, 2);
        // 6: zonetp's, as set; 8: changed since zonetp set it; 9: gone
        // (the default's answer).
        assert_eq!(p.del, [LimitTarget::Zone(6)]);
        assert_eq!(p.kept, [(LimitTarget::Zone(8), 3)]);
        let r = LimitReport::of(&p);
        assert_eq!(r.set, ["default limit=1000"]);
        assert_eq!(r.deleted, ["zone 6"]);
        assert_eq!(r.kept, ["zone 8 limit=3"]);
        // Only the zones wanted or recorded, and the default, are asked.
        let z = LimitTarget::Zone;
        assert_eq!(wanted.targets(&record), [LimitTarget::Default, z(5), z(6), z(7), z(8), z(9)]);
    }

    #[test]
    fn the_default_is_deleted_only_when_zonetp_set_it_and_a_configured_zero_is_pushed() {
        let k = kernel(50, &[]);
        assert_eq!(plan(&Limits::default(), &k, &limits(Some(50), &[])).del, [LimitTarget::Default]);
        assert_eq!(plan(&Limits::default(), &k, &limits(Some(40), &[])).kept, [(LimitTarget::Default, 50)]);
        // `set-zone-limit DP default 0` overrides another tool's default,
        // as ovs-vswitchd's push of it does; with the kernel at 0 it is
        // unchanged.
        assert_eq!(limits(Some(0), &[]).default, Some(0), "a configured 0 stays wanted");
        assert_eq!(plan(&limits(Some(0), &[]), &k, &Limits::default()).set, [(LimitTarget::Default, 0)]);
        let p = plan(&limits(Some(0), &[]), &kernel(0, &[]), &Limits::default());
        assert_eq!((p.set.len(), p.unchanged), (0, 1));
        // A recorded 0 is none: nothing to take back.
        assert_eq!(plan(&Limits::default(), &kernel(0, &[]), &limits(Some(0), &[])), LimitPlan::default());
        assert_eq!(
            plan(&Limits::default(), &KernelLimits::default(), &Limits::default()),
            LimitPlan::default()
        );
        let from = KernelLimits::from_reply(&[
            ZoneLimit { target: LimitTarget::Default, limit: 7, count: 0 },
            ZoneLimit { target: LimitTarget::Zone(3), limit: 0, count: 9 },
        ]);
        assert_eq!(from, kernel(7, &[(3, 0)]));
    }

    #[test]
    fn a_datapath_record_asks_for_its_zones_limits_and_its_default() {
        let mut c = crate::config::Config::default();
        c.add_dp("system", false).unwrap();
        c.set_zone_limit("system", crate::config::LimitZone::Zone(5), 100).unwrap();
        c.set_zone_limit("system", crate::config::LimitZone::Default, 7).unwrap();
        c.add_zone_tp("system", 6, Default::default(), false).unwrap();
        assert_eq!(Limits::of(&c.datapaths["system"]), limits(Some(7), &[(5, 100)]));
        c.set_zone_limit("system", crate::config::LimitZone::Default, 0).unwrap();
        assert_eq!(Limits::of(&c.datapaths["system"]), limits(Some(0), &[(5, 100)]));
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zonetp-limit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_record_round_trips_and_an_empty_one_is_removed() {
        let dir = temp("record");
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
        std::fs::remove_file(&path).unwrap();
        // A record left and nothing wanted where openvswitch.ko is absent
        // (the family unknown): the record goes with the module's limits.
        save_record(&path, &r).unwrap();
        let mut absent = || -> Result<CtLimitClient> {
            Err(Error::Kernel {
                op: crate::error::Op::Other("resolve"),
                what: "ovs_ct_limit".to_owned(),
                errno: libc::ENOENT,
                text: None,
            })
        };
        assert_eq!(sync_limits_in(&dir, &Limits::default(), false, &mut absent), None);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Nothing configured and nothing recorded: the family is not even
    /// resolved (resolving it loads openvswitch.ko), and no file is made.
    #[test]
    fn with_nothing_wanted_or_recorded_the_family_is_not_resolved() {
        let dir = temp("untouched");
        let mut open = || -> Result<CtLimitClient> { panic!("the ovs_ct_limit family was resolved") };
        assert_eq!(sync_limits_in(&dir, &Limits::default(), false, &mut open), None);
        assert_eq!(sync_limits_in(&dir, &Limits::default(), true, &mut open), None);
        assert!(!dir.exists(), "no record, no lock file");
    }

    /// The step runs under the lock beside the record: another holder
    /// (the agent, a one-shot sync) keeps it from reading the record or
    /// the kernel until it is done. A lock file that is a symbolic link
    /// is refused, not followed.
    #[test]
    fn the_step_waits_for_the_record_s_lock_and_never_follows_a_link() {
        let dir = temp("lock");
        std::fs::create_dir_all(&dir).unwrap();
        let lock = lock_path(&record_path(&dir).unwrap());
        let held = Lock::take(&lock, None).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let worker_dir = dir.clone();
        let worker = std::thread::spawn(move || {
            let mut open = || {
                tx.send(()).unwrap();
                Err(Error::Invalid("no kernel in this test".to_owned()))
            };
            sync_limits_in(&worker_dir, &limits(None, &[(5, 1)]), false, &mut open)
        });
        let waited = rx.recv_timeout(std::time::Duration::from_millis(300));
        assert!(waited.is_err(), "the kernel was asked while another held the lock");
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(10)).expect("asked once the lock is free");
        let r = worker.join().unwrap().unwrap();
        assert_eq!(r.error.as_deref(), Some("zone limits: no kernel in this test"));
        std::fs::remove_file(&lock).unwrap();
        std::os::unix::fs::symlink(dir.join("elsewhere"), &lock).unwrap();
        let mut open = || -> Result<CtLimitClient> { panic!("asked without the lock") };
        let r = sync_limits_in(&dir, &limits(None, &[(5, 1)]), false, &mut open).unwrap();
        assert!(r.error.unwrap().contains("it is a symbolic link; refusing to follow it"));
        assert!(!dir.join("elsewhere").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
