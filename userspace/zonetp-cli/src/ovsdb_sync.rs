//! `zonetp sync` with the configuration in an Open vSwitch database: once,
//! or as the database's agent (`--watch`), following it with `monitor`
//! and pushing each committed change into the kernel. As ovs-vswitchd
//! does, the agent then sets `Open_vSwitch.cur_cfg` to the `next_cfg` it
//! applied, which is what `ovs-vsctl` without `--no-wait` waits for.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use zonetp::config::Config;
use zonetp::cttimeout::CtTimeoutClient;
use zonetp::ovsdb::follow::Event;
use zonetp::ovsdb::vswitch::{Change, Snapshot};
use zonetp::ovsdb::{DbError, Follower, OvsdbStore};
use zonetp::reconcile::{sync_config, SyncReport};
use zonetp::{Error, Result};

use crate::output::Format;
use crate::sync_cmd::{install_signal_handlers, print_report, Sync, STOP};

/// How often the watcher looks at the stop flag.
const TICK: Duration = Duration::from_millis(200);

fn pass(
    snapshot: &Snapshot,
    client: &mut CtTimeoutClient,
    dp: &str,
    explicit: bool,
    dry_run: bool,
) -> Result<SyncReport> {
    Ok(sync_config(&snapshot.to_config(), client, dp, explicit, dry_run)?.0)
}

/// The `cur_cfg` update for a snapshot whose configuration was applied,
/// if ovs-vsctl is waiting for one.
fn applied(snapshot: &Snapshot) -> Option<Change> {
    let ovs = snapshot.ovs.as_ref()?;
    (ovs.next_cfg > ovs.cur_cfg).then(|| Change::report_applied(&ovs.uuid, ovs.next_cfg))
}

pub fn run(store: &OvsdbStore, a: Sync, format: Format) -> Result<()> {
    let explicit = a.datapath.is_some();
    let dp = a.datapath.clone().unwrap_or_else(|| "system".to_owned());
    if !a.dry_run {
        crate::vswitchd::check(Some(store), a.beside_vswitchd)?;
    }
    let mut client = CtTimeoutClient::open()?;
    if !a.watch {
        let snapshot = store.snapshot()?;
        let report = pass(&snapshot, &mut client, &dp, explicit, a.dry_run)?;
        print_report(&report, format);
        if !report.ok() {
            return Err(Error::Invalid(format!(
                "sync {dp}: {} object(s) could not be pushed",
                report.failed.len()
            )));
        }
        if let Some(change) = applied(&snapshot).filter(|_| !a.dry_run) {
            store.with_client(|c| {
                c.transact(&change.ops).map(drop).map_err(|e| DbError::Rpc(e.to_string()))
            })?;
        }
        return Ok(());
    }

    install_signal_handlers();
    let interval = Duration::from_secs(a.interval);
    let mut follower = Follower::new(store.remotes().to_vec(), store.dialer().clone());
    let mut last: Option<Snapshot> = None;
    // The configuration the kernel was last brought to; a notification
    // that leaves it as it is (cur_cfg, say) needs no pass of its own.
    let mut in_kernel: Option<Config> = None;
    let mut next_periodic = Instant::now() + interval;
    while !STOP.load(Ordering::SeqCst) {
        let now = Instant::now();
        let snapshot = match follower.next((now + TICK).min(next_periodic.max(now))) {
            Event::Connected { remote, resumed } => {
                let how = if resumed { "changes since the last transaction seen" } else { "full copy" };
                eprintln!("zonetp: following {remote} ({how})");
                in_kernel = None;
                continue;
            }
            Event::Lost(why) => {
                eprintln!("zonetp: {why}; reconnecting");
                continue;
            }
            Event::Idle if Instant::now() < next_periodic => continue,
            Event::Idle => match &last {
                Some(s) => {
                    in_kernel = None; // the periodic pass repairs and retries
                    s.clone()
                }
                None => {
                    next_periodic = Instant::now() + interval;
                    continue;
                }
            },
            Event::Changed(s) => s,
        };
        next_periodic = Instant::now() + interval;
        // Policies ovs-vsctl inserted get their ids first; the update that
        // brings them starts the next pass.
        if !snapshot.rows_without_id().is_empty() {
            let committed = follower.client().map(|c| c.commit(&snapshot, Change::assign_ids(&snapshot)));
            last = Some(snapshot);
            if let Some(Err(e)) = committed {
                if let Event::Lost(why) = follower.drop_connection(&e.to_string()) {
                    eprintln!("zonetp: {why}; reconnecting");
                }
            }
            continue;
        }
        let config = snapshot.to_config();
        let done = if in_kernel.as_ref() == Some(&config) {
            true
        } else {
            in_kernel = None;
            match sync_config(&config, &mut client, &dp, explicit, false) {
                // As ovs-vswitchd does, the configuration counts as applied
                // once a pass ran, even if some objects were refused (they
                // are reported, and retried on the next change or period):
                // one bad value must not hang every ovs-vsctl.
                Ok((report, _)) => {
                    print_report(&report, format);
                    if report.ok() {
                        in_kernel = Some(config);
                    }
                    true
                }
                // A failed pass is reported and retried; the agent keeps going.
                Err(e) => {
                    eprintln!("zonetp: sync {dp}: {e}");
                    false
                }
            }
        };
        if done {
            if let (Some(change), Some(c)) = (applied(&snapshot), follower.client()) {
                if let Err(e) = c.transact(&change.ops) {
                    eprintln!("zonetp: cannot report the configuration applied (cur_cfg): {e}");
                }
            }
        }
        last = Some(snapshot);
    }
    eprintln!("zonetp: sync --watch stopped");
    Ok(())
}
