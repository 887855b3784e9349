//! What `zonetp sync` writes into the kernel datapath's record
//! (`Datapath.capabilities` in an OVS database, `capabilities` in the
//! file) when it, not ovs-vswitchd, drives the kernel: what it can truly
//! probe of openvswitch.ko, the way ovs-vswitchd probes it
//! (ofproto-dpif.c):
//!
//! - `ct_zone`: a flow whose key holds a conntrack zone is put with the
//!   probe flag, then deleted (`check_ct_zone`);
//! - `ct_timeout`: `ct(timeout=ovs_test_tp)` is executed on a test packet
//!   (`check_ct_timeout_policy`); a datapath without the attribute answers
//!   EINVAL.
//!
//! A probe has side effects, so it runs only when all of these hold, and
//! otherwise nothing is written (`list-dp-cap` prints an empty line, as
//! before ovs-vswitchd ever ran):
//!
//! - openvswitch.ko is loaded (`/sys/module/openvswitch`): a probe never
//!   makes the kernel load it (resolving its families would);
//! - the record is the kernel datapath's (`system`) and the datapath
//!   ovs-vswitchd makes for it, `ovs-system`, exists in this network
//!   namespace: zonetp never makes or deletes a datapath to probe, and
//!   never probes another one (a `zonetp-probe` left by an older zonetp
//!   is left alone);
//! - it has not run in this network namespace since boot: its outcome,
//!   whatever it was, is kept in `/run/zonetp/capabilities-DEV-INO.json`
//!   and given again (a failure is said once, then nothing is written).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ovs::OvsClient;

/// What ovs-vswitchd names the kernel datapath of the `system` record.
pub const KERNEL_DATAPATH_NAME: &str = "ovs-system";

/// Present while openvswitch.ko is loaded.
const MODULE_DIR: &str = "/sys/module/openvswitch";

/// The keys zonetp probes, as ovs-vswitchd names them.
pub const KEYS: [&str; 2] = ["ct_timeout", "ct_zone"];

/// The probed values, as `Datapath.capabilities` holds them.
pub fn as_map(ct_zone: bool, ct_timeout: bool) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("ct_timeout".to_owned(), ct_timeout.to_string()),
        ("ct_zone".to_owned(), ct_zone.to_string()),
    ])
}

/// Whether a record already says every probed key is supported: then it
/// is not probed again (a module does not lose them).
pub fn all_supported(caps: &BTreeMap<String, String>) -> bool {
    KEYS.iter().all(|k| caps.get(*k).map(String::as_str) == Some("true"))
}

/// A probe's outcome as remembered under /run/zonetp.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Outcome {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    capabilities: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What to write into datapath record `record`'s capabilities, if
/// anything (see the module's conditions).
pub fn probe(record: &str) -> Result<Option<BTreeMap<String, String>>> {
    if record != crate::reconcile::KERNEL_DATAPATH {
        return Ok(None);
    }
    let memory = crate::zone_limits::netns_path(Path::new(crate::zone_limits::STATE_DIR), "capabilities")?;
    probe_with(Path::new(MODULE_DIR), &memory, &mut probe_kernel)
}

/// [`probe`] with the module's directory, the outcome's file and the
/// probe itself (`Ok(None)`: no datapath to probe) given.
fn probe_with(
    module: &Path,
    memory: &Path,
    run: &mut dyn FnMut() -> Result<Option<BTreeMap<String, String>>>,
) -> Result<Option<BTreeMap<String, String>>> {
    if !module.exists() {
        return Ok(None);
    }
    if let Ok(text) = std::fs::read_to_string(memory) {
        // Said when it happened: a failure remembered writes nothing.
        return Ok(serde_json::from_str::<Outcome>(&text).ok().and_then(|o| o.capabilities));
    }
    let probed = run();
    let outcome = match &probed {
        Ok(None) => return Ok(None),
        Ok(Some(caps)) => Outcome { capabilities: Some(caps.clone()), error: None },
        Err(e) => Outcome { capabilities: None, error: Some(e.to_string()) },
    };
    remember(memory, &outcome)?;
    probed
}

/// Writes the outcome atomically (temp file, rename).
fn remember(path: &Path, outcome: &Outcome) -> Result<()> {
    let failed =
        |e: std::io::Error| Error::Store(format!("cannot write the probe's outcome {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let text = serde_json::to_string(outcome).expect("an outcome serializes");
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(failed)
}

/// Probes `ovs-system`, if this network namespace has it.
fn probe_kernel() -> Result<Option<BTreeMap<String, String>>> {
    let mut ovs = OvsClient::open()?;
    let Some(dp) = ovs.datapaths()?.into_iter().find(|d| d.name == KERNEL_DATAPATH_NAME) else {
        return Ok(None);
    };
    let ct_zone = ovs.supports_ct_zone(&dp)?;
    let ct_timeout = ovs.supports_ct_timeout(&dp)?;
    Ok(Some(as_map(ct_zone, ct_timeout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_holds_the_keys_ovs_vswitchd_writes_with_its_values() {
        let m = as_map(true, false);
        assert_eq!(m.keys().map(String::as_str).collect::<Vec<_>>(), KEYS);
        assert_eq!(crate::config::dp_cap_line(&m), "ct_timeout=false ct_zone=true");
        assert!(!all_supported(&m));
        let mut both = as_map(true, true);
        assert!(all_supported(&both));
        both.remove("ct_zone");
        assert!(!all_supported(&both));
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("zonetp-caps-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Without the module nothing is probed (no load is triggered) and
    /// nothing remembered; without the datapath nothing is remembered
    /// either; a probe's outcome, whatever it was, is given again without
    /// probing; a failure is said once.
    #[test]
    fn a_probe_runs_only_with_the_module_and_the_datapath_and_once_per_boot() {
        let dir = temp("once");
        let (module, memory) = (dir.join("module"), dir.join("run/capabilities.json"));
        let runs = std::cell::Cell::new(0);
        let run = |answer: Result<Option<BTreeMap<String, String>>>| {
            let mut answer = Some(answer);
            probe_with(&module, &memory, &mut || {
                runs.set(runs.get() + 1);
                answer.take().expect("one run")
            })
        };
        assert_eq!(run(Ok(Some(as_map(true, true)))).unwrap(), None, "no module");
        assert!(!memory.exists());
        std::fs::create_dir(&module).unwrap();
        assert_eq!(run(Ok(None)).unwrap(), None, "no datapath");
        assert!(!memory.exists());
        assert_eq!(run(Ok(Some(as_map(true, false)))).unwrap(), Some(as_map(true, false)));
        assert_eq!(run(Ok(Some(as_map(true, true)))).unwrap(), Some(as_map(true, false)), "remembered");
        assert_eq!(runs.get(), 2);
        std::fs::remove_file(&memory).unwrap();
        let failed = run(Err(Error::Invalid("the kernel said no".to_owned())));
        assert_eq!(failed.unwrap_err().to_string(), "the kernel said no");
        assert_eq!(run(Ok(Some(as_map(true, true)))).unwrap(), None, "a failure remembered writes nothing");
        assert_eq!(runs.get(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
