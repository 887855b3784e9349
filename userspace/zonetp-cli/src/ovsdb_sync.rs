//! `zonetp sync` with the configuration in an Open vSwitch database: once,
//! or as the database's agent (`--watch`), following it with `monitor`
//! and pushing each committed change into the kernel. As ovs-vswitchd
//! does, the agent then sets `Open_vSwitch.cur_cfg` to the `next_cfg` it
//! applied, which is what `ovs-vsctl` without `--no-wait` waits for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use zonetp::cttimeout::CtTimeoutClient;
use zonetp::delta::{object_names, objects_exist, Pushed};
use zonetp::ovsdb::client::TxnError;
use zonetp::ovsdb::follow::Event;
use zonetp::ovsdb::vswitch::{Change, Snapshot};
use zonetp::ovsdb::{Client, DbError, Follower, OvsdbStore};
use zonetp::reconcile::{
    check_config, check_kernel_datapath, full_pass, kernel_policy_ids, sync_config, SyncOptions, SyncReport,
    KERNEL_DATAPATH,
};
use zonetp::zone_store::ZoneStore;

use crate::failure::CmdResult;
use crate::output::{errln, Format};
use crate::sync_cmd::{
    attach_progress, dry_run_beside_vswitchd, print_report, push_limits, record_capabilities, report_failure,
    Sync,
};
use crate::watch_signals::{self, Request, WatchSignals};

/// How often the agent looks at the stop flag and for SIGHUP's requests.
const TICK: Duration = Duration::from_millis(200);

/// The `cur_cfg` update for a snapshot whose configuration was applied,
/// if ovs-vsctl is waiting for one.
fn applied(snapshot: &Snapshot) -> Option<Change> {
    let ovs = snapshot.ovs.as_ref()?;
    (ovs.next_cfg > ovs.cur_cfg).then(|| Change::report_applied(&ovs.uuid, ovs.next_cfg))
}

pub fn run(store: &OvsdbStore, a: Sync, format: Format) -> CmdResult {
    let dp = a.datapath.clone().unwrap_or_else(|| KERNEL_DATAPATH.to_owned());
    check_kernel_datapath(&dp)?;
    if a.watch {
        // The database's lock is probed once the database answers: at
        // boot the agent may start before ovsdb-server.
        crate::vswitchd::check(None, a.beside_vswitchd)?;
        return watch(store, dp, Duration::from_secs(a.interval), format, a.beside_vswitchd);
    }
    if !a.dry_run {
        crate::vswitchd::check(Some(store), a.beside_vswitchd)?;
    } else {
        // A dry run writes nothing, so it works where the lock cannot be
        // asked for (a read-only remote refuses `lock`): it then plans as
        // if ovs-vswitchd did not manage the database, and says so.
        let refusal = crate::vswitchd::refusal(Some(store), a.beside_vswitchd).unwrap_or_else(|e| {
            errln!("zonetp: note: cannot tell whether ovs-vswitchd manages this database ({e}); planned as if not");
            None
        });
        if dry_run_beside_vswitchd(refusal, &dp, format) {
            return Ok(());
        }
    }
    let mut client = CtTimeoutClient::open()?;
    let opts = SyncOptions { dry_run: a.dry_run, delete_all: a.delete_all };
    // Rows ovs-vsctl inserted get ids, skipping those of kernel objects
    // present; a dry run numbers them in memory only (it writes nothing).
    store.reserve_ids(kernel_policy_ids(&mut client)?);
    let snapshot = if a.dry_run { store.snapshot()? } else { store.numbered_snapshot()? };
    let config = snapshot.to_config();
    check_config(Some(&config), &store.describe(), &dp, opts)?;
    // Ids only grow in the database: there are no retired ids to record.
    // Progress on stderr (a terminal only), as for the file.
    let progress = attach_progress(&mut client, &dp);
    if let Ok(mut p) = progress.lock() {
        p.restart();
    }
    let result = sync_config(&config, &mut client, &dp, opts);
    if let Ok(mut p) = progress.lock() {
        p.finish();
    }
    let (mut report, _) = result?;
    if !a.beside_vswitchd && !a.delete_all {
        report.limits = push_limits(&config, &dp, a.dry_run);
    }
    print_report(&report, format, false);
    if let Some(e) = report_failure(&report) {
        return Err(e.into());
    }
    if !a.dry_run && !a.beside_vswitchd {
        record_capabilities(store, &dp);
    }
    // The kernel now holds the configuration (not so after --delete-all).
    if let Some(change) = applied(&snapshot).filter(|_| !a.dry_run && !a.delete_all) {
        store.with_client(|c| c.transact(&change.ops).map(drop).map_err(|e| DbError::Rpc(e.to_string())))?;
    }
    Ok(())
}

/// The agent: the main thread reads signals, a worker follows the
/// database and runs the passes.
fn watch(store: &OvsdbStore, dp: String, interval: Duration, format: Format, beside: bool) -> CmdResult {
    let signals = WatchSignals::block()?;
    if !beside && wait_for_database(store, &signals)? {
        errln!("zonetp: sync --watch stopped");
        return Ok(());
    }
    let client = CtTimeoutClient::open()?;
    let stop = Arc::new(AtomicBool::new(false));
    // One request queued at most: SIGHUPs that come together coalesce.
    let (request, requests) = mpsc::sync_channel::<()>(1);
    let follower = Follower::new(store.remotes().to_vec(), store.dialer().clone());
    let (what, pushed, reported_requests, refusal) = (store.describe(), None, 0, None);
    // Beside ovs-vswitchd the datapath's record is its to write.
    let capabilities = if beside { Capabilities::NotOurs } else { Capabilities::ToRecord };
    let agent = Agent {
        follower,
        client,
        dp,
        what,
        interval,
        format,
        pushed,
        reported_requests,
        refusal,
        capabilities,
    };
    let worker_stop = Arc::clone(&stop);
    let worker = std::thread::spawn(move || agent.run(&worker_stop, &requests));
    loop {
        match signals.wait()? {
            Some(Request::Stop) => break,
            Some(Request::Resync) => {
                let _ = request.try_send(());
            }
            None if worker.is_finished() => break,
            None => {}
        }
    }
    stop.store(true, Ordering::SeqCst);
    drop(request);
    watch_signals::finish(&worker);
    Ok(())
}

/// First wait between attempts to reach the database at start, and the
/// longest (the wait doubles in between).
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Waits until the database answers with a usable schema, then refuses if
/// ovs-vswitchd holds its lock. At boot ovsdb-server may not be up yet:
/// an agent waits (with backoff) rather than exit, and says once per state
/// what it waits for. What waiting cannot mend ends the wait with its
/// error (exit status 1): a server that is not an Open vSwitch database
/// zonetp can use (no zone tables, another database, not OVSDB at all),
/// or a socket this user may not open. True if SIGINT/SIGTERM came
/// meanwhile, which is seen within [`STOP_POLL`] even while an attempt
/// waits for a connection or a reply.
fn wait_for_database(store: &OvsdbStore, signals: &WatchSignals) -> CmdResult<bool> {
    let mut retry = FIRST_RETRY;
    let mut said: Option<String> = None;
    loop {
        let Some(answer) = probe_database(store, signals)? else { return Ok(true) };
        match answer {
            Ok(true) => return Err(crate::vswitchd::lock_held().into()),
            Ok(false) => {
                if said.is_some() {
                    errln!("zonetp: {} answers now", store.describe());
                }
                return Ok(false);
            }
            Err(e) if e.is_permanent() => return Err(zonetp::Error::from(e).into()),
            Err(e) => {
                let why = zonetp::Error::from(e).to_string();
                if said.as_deref() != Some(why.as_str()) {
                    errln!("zonetp: waiting for {}: {why}", store.describe());
                    said = Some(why);
                }
                let until = Instant::now() + retry;
                while Instant::now() < until {
                    if signals.wait()? == Some(Request::Stop) {
                        return Ok(true);
                    }
                }
                retry = (retry * 2).min(MAX_RETRY);
            }
        }
    }
}

/// How often an attempt's wait looks at the signals.
const STOP_POLL: Duration = Duration::from_millis(50);

/// One attempt to reach the database and probe ovs-vswitchd's lock, on a
/// thread of its own: a connection or a reply may take seconds (the
/// connect timeout, 10 s for a server that takes the connection and never
/// answers), and a stop must not wait for them. `None`: SIGINT/SIGTERM
/// came first; the attempt is abandoned with the process.
fn probe_database(store: &OvsdbStore, signals: &WatchSignals) -> CmdResult<Option<Result<bool, DbError>>> {
    let (remotes, dialer) = (store.remotes().to_vec(), store.dialer().clone());
    let (answer, answers) = mpsc::channel();
    std::thread::spawn(move || {
        let held = Client::connect_any(&remotes, 0, &dialer, 0)
            .and_then(|(mut c, _)| c.lock_is_held("ovs_vswitchd"));
        let _ = answer.send(held);
    });
    loop {
        match answers.recv_timeout(STOP_POLL) {
            Ok(a) => return Ok(Some(a)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Ok(Some(Err(DbError::Io(
                    "the attempt to connect failed (its thread panicked)".into(),
                ))))
            }
        }
        if signals.poll()? == Some(Request::Stop) {
            return Ok(None);
        }
    }
}

struct Agent {
    follower: Follower,
    client: CtTimeoutClient,
    dp: String,
    /// The database, as messages name it.
    what: String,
    interval: Duration,
    format: Format,
    /// What the kernel holds, from the last full pass and the delta passes
    /// since; `None`: the next pass is a full one.
    pushed: Option<Pushed>,
    /// The client's request count at the last report.
    reported_requests: u64,
    /// The last refusal of the policy rows' ids, said once per change.
    refusal: Option<String>,
    /// Whether the datapath record's capabilities are to be written.
    capabilities: Capabilities,
}

/// The agent's part in `Datapath.capabilities` ([`zonetp::capabilities`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Capabilities {
    /// Probe and write after the next pass (the first after a connect: the
    /// database may be another one, or have been restored).
    ToRecord,
    /// Written (or said why not) since the last connect.
    Recorded,
    /// Beside ovs-vswitchd: never written.
    NotOurs,
}

impl Agent {
    /// Passes on each change of the database, a full one on SIGHUP, every
    /// `interval` and after every connect (the kernel may have changed
    /// meanwhile, and so may the database, beyond what a resumed monitor
    /// says of it), delta passes in between.
    fn run(mut self, stop: &AtomicBool, resyncs: &mpsc::Receiver<()>) {
        // A copy of the tables came: there is a configuration to pass.
        let mut seen = false;
        let mut next_periodic = Instant::now() + self.interval;
        // The last loss reported: a server that stays away is said once,
        // not on every retry.
        let mut last_lost: Option<String> = None;
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            // SIGHUP: a full pass now on the configuration last seen.
            let mut full = resyncs.try_recv().is_ok() && seen;
            if !full {
                match self.follower.next((now + TICK).min(next_periodic.max(now))) {
                    Event::Connected { remote, resumed } => {
                        let how =
                            if resumed { "changes since the last transaction seen" } else { "full copy" };
                        errln!("zonetp: following {remote} ({how})");
                        self.pushed = None;
                        if self.capabilities == Capabilities::Recorded {
                            self.capabilities = Capabilities::ToRecord;
                        }
                        last_lost = None;
                        continue;
                    }
                    Event::Lost(why) => {
                        if last_lost.as_deref() != Some(why.as_str()) {
                            errln!("zonetp: {why}; reconnecting");
                            last_lost = Some(why);
                        }
                        continue;
                    }
                    Event::Idle if Instant::now() < next_periodic => continue,
                    // The periodic pass repairs and retries.
                    Event::Idle => full = seen,
                    Event::Changed => seen = true,
                }
            }
            next_periodic = Instant::now() + self.interval;
            if !seen {
                continue;
            }
            if full {
                self.pushed = None;
            }
            self.step();
        }
    }

    /// Numbers new policy rows, or passes and reports the configuration
    /// applied.
    fn step(&mut self) {
        let dp = self.dp.clone();
        // Two rows claiming one id: no pass (the kernel's objects of that
        // id would follow one of them, perhaps a copy), no numbering.
        let snapshot = self.follower.snapshot();
        if let Err(e) = snapshot.check_ids() {
            if self.refusal.as_ref() != Some(&e) {
                errln!("zonetp: sync {dp}: {e}");
                self.refusal = Some(e);
            }
            // The refusal is the pass's outcome: ovs-vsctl must not wait
            // for cur_cfg forever.
            self.report_applied();
            return;
        }
        self.refusal = None;
        // Policies ovs-vsctl inserted get their ids first; the update that
        // brings them starts the next pass. (No id left to give: the rows
        // stay out and the pass runs.)
        if !snapshot.rows_without_id().is_empty() {
            if let Err(e) = self.reserve_kernel_ids() {
                // Numbering blind to the kernel could reuse an id in use.
                errln!("zonetp: cannot list the kernel's timeout objects to number new policies: {e}");
                return;
            }
            let numbering = Change::assign_ids_guarded(self.follower.snapshot());
            if !numbering.ops.is_empty() {
                // A conflict: the change that beat us comes as an update.
                if let Some(Err(TxnError::Db(e))) = self.follower.client().map(|c| c.transact(&numbering.ops))
                {
                    if let Event::Lost(why) = self.follower.drop_connection(&e.to_string()) {
                        errln!("zonetp: {why}; reconnecting");
                    }
                }
                return;
            }
        }
        if self.pass() {
            self.record_capabilities();
            self.report_applied();
        }
    }

    /// Once per connection, after a pass: what was probed of openvswitch.ko
    /// into the datapath row's capabilities. A failure is said once (the
    /// next connection tries again).
    fn record_capabilities(&mut self) {
        if self.capabilities != Capabilities::ToRecord {
            return;
        }
        self.capabilities = Capabilities::Recorded;
        let dp = self.dp.clone();
        let Some(client) = self.follower.client() else { return };
        // A row that says both are supported is not probed again, as
        // `sync` does not.
        let known = client
            .datapath_capabilities(&dp)
            .is_ok_and(|row| row.is_some_and(|(_, caps)| zonetp::capabilities::all_supported(&caps)));
        if known {
            return;
        }
        let recorded = zonetp::capabilities::probe(&dp).and_then(|caps| {
            let Some(caps) = caps else { return Ok(()) };
            let Some(client) = self.follower.client() else { return Ok(()) };
            match client.set_capabilities(&dp, &caps) {
                Ok(_) => Ok(()),
                Err(e) => Err(zonetp::Error::from(e)),
            }
        });
        if let Err(e) = recorded {
            errln!("zonetp: note: the capabilities of datapath {dp} were not recorded: {e}");
        }
    }

    /// Sets cur_cfg to the next_cfg of the configuration applied, if
    /// ovs-vsctl waits for it.
    fn report_applied(&mut self) {
        let Some(change) = applied(self.follower.snapshot()) else { return };
        if let Some(Err(e)) = self.follower.client().map(|c| c.transact(&change.ops)) {
            errln!("zonetp: cannot report the configuration applied (cur_cfg): {e}");
        }
    }

    /// Sets the snapshot's reserved ids to those of the `ovs_tp_<id>_*`
    /// objects in the kernel, which new policies must not get. Between
    /// full passes they are known without a dump, from the last one and
    /// the passes since; the names the next ids would take are looked up
    /// (one GET each, in one batch), and an object found there, made
    /// behind the agent's back, sends it back to listing the kernel and
    /// to a full pass.
    fn reserve_kernel_ids(&mut self) -> zonetp::Result<()> {
        if let Some(pushed) = &self.pushed {
            self.follower.snapshot_mut().reserved_ids = pushed.kernel_ids().clone();
            let ids = self.follower.snapshot().ids_to_assign();
            let names: Vec<_> = ids.iter().flat_map(|(_, id)| object_names(*id)).collect();
            if !objects_exist(&mut self.client, &names)? {
                return Ok(());
            }
            self.pushed = None;
        }
        self.follower.snapshot_mut().reserved_ids = kernel_policy_ids(&mut self.client)?;
        Ok(())
    }

    /// One pass, delta or full; true if it ran (the configuration then
    /// counts as applied).
    fn pass(&mut self) -> bool {
        let dp = self.dp.clone();
        // A database without the datapath's record is refused, as a file
        // is, and the kernel left as it is; the refusal is the pass's
        // outcome, so ovs-vsctl does not wait for cur_cfg forever.
        let records = self.follower.snapshot().datapath_records();
        if let Err(e) = check_config(Some(&records), &self.what, &dp, SyncOptions::default()) {
            errln!("zonetp: sync {dp}: {e}");
            return true;
        }
        let (changed, datapaths_changed) = self.follower.snapshot_mut().index.take_dirty();
        let s = self.follower.snapshot();
        let result = match self.pushed.as_mut().filter(|p| p.can_follow(s, &dp, datapaths_changed)) {
            Some(pushed) => pushed.apply(s, changed, &mut self.client, &dp),
            None => {
                let config = s.to_config();
                full_pass(&config, &mut self.client, &dp, SyncOptions::default()).map(|pass| {
                    self.pushed = Some(Pushed::after_full_pass(s, &dp, &pass));
                    SyncReport { pass: Some("full"), ..pass.report }
                })
            }
        };
        match result {
            // As ovs-vswitchd does, the configuration counts as applied
            // once a pass ran, even if some objects were refused (they
            // are reported, and retried on the next change or period):
            // one bad value must not hang every ovs-vsctl.
            Ok(mut report) => {
                // Beside ovs-vswitchd it pushes its own limits.
                if self.capabilities != Capabilities::NotOurs {
                    let wanted = self.follower.snapshot().limits_of(&dp);
                    report.limits = zonetp::zone_limits::sync_limits(&wanted, false);
                }
                let limits_quiet = report.limits.as_ref().is_none_or(|l| !l.changed() && l.error.is_none());
                // A delta pass with nothing to do (the update was cur_cfg,
                // say) says nothing.
                if report.pass == Some("delta")
                    && report.plan.is_empty()
                    && report.failed.is_empty()
                    && limits_quiet
                {
                    return true;
                }
                let sent = self.client.requests_sent();
                report.requests = Some(sent - self.reported_requests);
                self.reported_requests = sent;
                print_report(&report, self.format, true);
                if let Some(e) = report_failure(&report) {
                    errln!("zonetp: {e}");
                }
                true
            }
            // A failed pass is reported and retried in full; the agent
            // keeps going.
            Err(e) => {
                self.pushed = None;
                errln!("zonetp: sync {dp}: {e}");
                false
            }
        }
    }
}
