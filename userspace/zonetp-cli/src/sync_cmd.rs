//! `zonetp sync` with the configuration in a JSON file: the reconciler,
//! once or as a watcher (an Open vSwitch database: `ovsdb_sync`).
//!
//! The watcher's main thread only waits for signals (see `watch_signals`)
//! and for changes of the file; a worker thread runs the sync passes.

use std::io::Stderr;
use std::os::unix::fs::MetadataExt;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use serde_json::json;
use zonetp::config::Config;
use zonetp::cttimeout::CtTimeoutClient;
use zonetp::reconcile::{check_kernel_datapath, sync, SyncOptions, SyncReport, KERNEL_DATAPATH};
use zonetp::store::Store;
use zonetp::zone_limits::{sync_limits, LimitReport, Limits};
use zonetp::zone_store::ZoneStore;
use zonetp::Error;

use crate::failure::CmdResult;
use crate::output::{errln, outln, print_json, print_json_line, Format};
use crate::progress::Progress;
use crate::watch_signals::{self, Request, WatchSignals};

/// Longest --interval: a week.
const MAX_INTERVAL: u64 = 7 * 24 * 3600;

#[derive(Args)]
pub struct Sync {
    /// The datapath whose zones are pushed (default: system, the kernel
    /// datapath, the only one with kernel objects).
    pub datapath: Option<String>,
    /// Print the plan and change nothing.
    #[arg(long, conflicts_with = "watch")]
    pub dry_run: bool,
    /// Delete every ovs_tp_* object (but those of policies other
    /// datapaths' zones use), whatever the configuration says. Without it,
    /// a missing configuration file, or one without the datapath's record
    /// (in an Open vSwitch database: no Datapath row), is refused rather
    /// than taken for an empty configuration.
    #[arg(long, conflicts_with = "watch")]
    pub delete_all: bool,
    /// Keep running: sync again whenever the configuration changes (an
    /// Open vSwitch database is followed with monitor, and cur_cfg set to
    /// next_cfg after each pass, as ovs-vswitchd does), on SIGHUP, and every
    /// --interval seconds (to retry deletes of objects in use and repair
    /// changes made behind zonetp's back). Stops on SIGINT/SIGTERM; SIGUSR1
    /// is ignored. A configuration that goes missing or cannot be read is
    /// reported and the kernel left as it is. With --format json, one
    /// report per line.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between periodic syncs in --watch mode (1 to 604800).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=MAX_INTERVAL))]
    pub interval: u64,
    /// Sync even though ovs-vswitchd runs in this network namespace or
    /// manages the database (it deletes and remakes ovs_tp_* objects itself).
    #[arg(long)]
    pub beside_vswitchd: bool,
}

pub(crate) fn print_report(r: &SyncReport, format: Format, one_line_json: bool) {
    if format == Format::Json {
        let v = json!(r);
        if one_line_json {
            print_json_line(&v);
        } else {
            print_json(&v);
        }
        return;
    }
    if let Some(why) = r.refused_beside_vswitchd.as_deref().filter(|_| r.dry_run) {
        outln!(
            "sync {}: nothing planned: {why}; zonetp status compares its objects with the configuration",
            r.datapath
        );
        return;
    }
    if r.dry_run {
        r.plan.iter().for_each(|a| outln!("{}", a.describe()));
    }
    for n in &r.created {
        outln!("created {n}");
    }
    for n in &r.replaced {
        outln!("replaced {n}");
    }
    for n in &r.deleted {
        outln!("deleted {n}");
    }
    for n in &r.pending {
        outln!("pending {n}: in use (EBUSY), retried on the next sync");
    }
    for f in &r.failed {
        errln!("zonetp: {}: {}", f.object, f.error);
    }
    if !r.kept.is_empty() {
        errln!(
            "zonetp: note: {} object(s) of policies other datapaths' zones use were left alone",
            r.kept.len()
        );
    }
    if !r.ignored_keys.is_empty() {
        errln!(
            "zonetp: note: the kernel datapath has no timeout for {}; it ignores them",
            r.ignored_keys.join(", ")
        );
    }
    if r.dry_run {
        let (c, p, d) = (r.planned("create"), r.planned("replace"), r.planned("delete"));
        outln!(
            "sync {}: would change {}, unchanged {}, create {c}, replace {p}, delete {d}, failed {}",
            r.datapath,
            c + p + d,
            r.unchanged,
            r.failed.len()
        );
    } else {
        // The agent says which pass it was and what it sent the kernel.
        let pass = match (r.pass, r.requests) {
            (Some(pass), Some(n)) => format!(" ({pass} pass, {n} requests)"),
            _ => String::new(),
        };
        outln!(
            "sync {}: changed {}, unchanged {}, created {}, replaced {}, deleted {}, pending {}, failed {}{pass}",
            r.datapath,
            r.created.len() + r.replaced.len() + r.deleted.len(),
            r.unchanged,
            r.created.len(),
            r.replaced.len(),
            r.deleted.len(),
            r.pending.len(),
            r.failed.len()
        );
    }
    if let Some(l) = &r.limits {
        print_limits(&r.datapath, l, r.dry_run);
    }
}

/// The zone limits' lines, after the objects' (an error is the caller's
/// to say, as [`report_failure`] words it).
fn print_limits(dp: &str, l: &LimitReport, dry_run: bool) {
    let (set, deleted) = if dry_run { ("would set", "would delete") } else { ("set", "deleted") };
    for s in &l.set {
        outln!("{set} limit of {s}");
    }
    for d in &l.deleted {
        outln!("{deleted} limit of {d}");
    }
    for k in &l.kept {
        errln!("zonetp: note: limit of {k} kept: zonetp set another value, changed since (not the configuration's)");
    }
    if l.error.is_none() {
        let would = if dry_run { "would " } else { "" };
        outln!(
            "zone limits {dp}: {would}set {}, {would}delete {}, unchanged {}, kept {}",
            l.set.len(),
            l.deleted.len(),
            l.unchanged,
            l.kept.len()
        );
    }
}

/// Datapath `dp`'s conntrack zone limits into the kernel, and the ones
/// zonetp set that the configuration dropped out ([`zonetp::zone_limits`]).
/// Not beside ovs-vswitchd (it pushes its own), nor for `--delete-all`
/// (which is about timeout objects).
pub(crate) fn push_limits(config: &Config, dp: &str, dry_run: bool) -> Option<LimitReport> {
    let wanted = config.datapaths.get(dp).map(Limits::of).unwrap_or_default();
    sync_limits(&wanted, dry_run)
}

/// After a sync that drove the kernel itself (not beside ovs-vswitchd,
/// whose record it is to write): what was probed of openvswitch.ko
/// ([`zonetp::capabilities`]) into the datapath record's capabilities. A
/// probe or a write that fails is said in one line; the sync's outcome
/// stands.
///
/// A record that says both are supported already is not probed again (a
/// module does not lose them); otherwise the probe runs at most once per
/// boot and network namespace, and only where openvswitch.ko is loaded
/// and `ovs-system` exists; else nothing is written.
pub(crate) fn record_capabilities(store: &dyn ZoneStore, dp: &str) {
    let known = store.dp_capabilities(dp).is_ok_and(|caps| zonetp::capabilities::all_supported(&caps));
    if known {
        return;
    }
    let recorded = zonetp::capabilities::probe(dp).and_then(|caps| match caps {
        Some(caps) => store.set_capabilities(dp, &caps),
        None => Ok(()),
    });
    if let Err(e) = recorded {
        errln!("zonetp: note: the capabilities of datapath {dp} were not recorded: {e}");
    }
}

/// Why a finished sync still fails the command (after its report).
pub(crate) fn report_failure(r: &SyncReport) -> Option<Error> {
    if let Some(e) = &r.record_error {
        return Some(Error::Store(format!(
            "sync {}: the kernel was changed as reported, but the outcome was not recorded: {e}",
            r.datapath
        )));
    }
    if let Some(e) = r.limits.as_ref().and_then(|l| l.error.as_ref()) {
        return Some(Error::Invalid(format!("sync {}: {e}", r.datapath)));
    }
    (!r.failed.is_empty()).then(|| {
        Error::Invalid(format!("sync {}: {} object(s) could not be pushed", r.datapath, r.failed.len()))
    })
}

/// What identifies a version of the file (`None`: there is none).
fn stamp(store: &Store) -> Option<(SystemTime, u64, u64)> {
    let m = std::fs::metadata(store.path()).ok()?;
    Some((m.modified().ok()?, m.ino(), m.len()))
}

/// Progress of the client's batches on stderr (when it is a terminal),
/// shared with the caller, which clears the line after each pass.
pub(crate) fn attach_progress(client: &mut CtTimeoutClient, dp: &str) -> Arc<Mutex<Progress<Stderr>>> {
    let progress = Arc::new(Mutex::new(Progress::stderr(format!("zonetp: sync {dp}"))));
    let shared = progress.clone();
    client.set_progress(Some(Box::new(move |done, total| {
        if let Ok(mut p) = shared.lock() {
            p.update(done, total);
        }
    })));
    progress
}

/// Runs one pass with its progress line cleared afterwards, whatever the outcome.
fn sync_pass(
    store: &Store,
    client: &mut CtTimeoutClient,
    progress: &Mutex<Progress<Stderr>>,
    dp: &str,
    opts: SyncOptions,
) -> zonetp::Result<SyncReport> {
    if let Ok(mut p) = progress.lock() {
        p.restart();
    }
    let result = sync(store, client, dp, opts);
    if let Ok(mut p) = progress.lock() {
        p.finish();
    }
    result
}

/// A dry run beside ovs-vswitchd (not overridden) plans nothing: the
/// objects are ovs-vswitchd's, numbered its own way, and a plan made with
/// zonetp's numbering would replace them. Prints that report; false when
/// the dry run is to be made.
pub(crate) fn dry_run_beside_vswitchd(refusal: Option<Error>, dp: &str, format: Format) -> bool {
    let Some(why) = refusal else { return false };
    let report = SyncReport {
        datapath: dp.to_owned(),
        dry_run: true,
        refused_beside_vswitchd: Some(why.to_string()),
        ..Default::default()
    };
    print_report(&report, format, false);
    true
}

pub fn run(store: &Store, a: Sync, format: Format) -> CmdResult {
    let dp = a.datapath.unwrap_or_else(|| KERNEL_DATAPATH.to_owned());
    check_kernel_datapath(&dp)?;
    if !a.dry_run {
        crate::vswitchd::check(None, a.beside_vswitchd)?;
    } else if dry_run_beside_vswitchd(crate::vswitchd::refusal(None, a.beside_vswitchd)?, &dp, format) {
        return Ok(());
    }
    if a.watch {
        return watch(store, dp, Duration::from_secs(a.interval), format, a.beside_vswitchd);
    }
    let mut client = CtTimeoutClient::open()?;
    let progress = attach_progress(&mut client, &dp);
    let opts = SyncOptions { dry_run: a.dry_run, delete_all: a.delete_all };
    let mut report = sync_pass(store, &mut client, &progress, &dp, opts)?;
    if !a.beside_vswitchd && !a.delete_all {
        report.limits = push_limits(&store.read()?, &dp, a.dry_run);
    }
    print_report(&report, format, false);
    if let Some(e) = report_failure(&report) {
        return Err(e.into());
    }
    // After a sync that failed, its error is the one line said.
    if !a.dry_run && !a.beside_vswitchd {
        record_capabilities(store, &dp);
    }
    Ok(())
}

fn watch(store: &Store, dp: String, interval: Duration, format: Format, beside: bool) -> CmdResult {
    let signals = WatchSignals::block()?;
    let mut client = CtTimeoutClient::open()?;
    let progress = attach_progress(&mut client, &dp);

    // One pass queued at most: requests made while one runs coalesce.
    let (request, requests) = mpsc::sync_channel::<()>(1);
    let worker_store = Store::locate(Some(store.path()));
    let worker_dp = dp.clone();
    let worker = std::thread::spawn(move || {
        // Beside ovs-vswitchd the datapath's record is its to write.
        let mut capabilities_recorded = beside;
        while requests.recv().is_ok() {
            // A failed pass (kernel or file unreadable) is reported and
            // retried; the watcher keeps going.
            match sync_pass(&worker_store, &mut client, &progress, &worker_dp, SyncOptions::default()) {
                Ok(mut r) => {
                    if !beside {
                        if let Ok(config) = worker_store.read() {
                            r.limits = push_limits(&config, &worker_dp, false);
                        }
                    }
                    print_report(&r, format, true);
                    if let Some(e) = report_failure(&r) {
                        errln!("zonetp: {e}");
                    } else if !capabilities_recorded {
                        // Once, after the first pass that went through.
                        record_capabilities(&worker_store, &worker_dp);
                        capabilities_recorded = true;
                    }
                }
                Err(e) => errln!("zonetp: sync {worker_dp}: {e}"),
            }
        }
    });

    let mut last_stamp = None;
    let mut next = Instant::now();
    loop {
        let now_stamp = Some(stamp(store));
        if now_stamp != last_stamp || Instant::now() >= next {
            last_stamp = now_stamp;
            next = Instant::now() + interval;
            let _ = request.try_send(());
        }
        match signals.wait()? {
            Some(Request::Stop) => break,
            Some(Request::Resync) => {
                next = Instant::now() + interval;
                let _ = request.try_send(());
            }
            None => {}
        }
    }
    drop(request);
    watch_signals::finish(&worker);
    Ok(())
}
