//! `zonetp sync`: the reconciler, once or as a watcher.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use serde_json::json;
use zonetp::cttimeout::CtTimeoutClient;
use zonetp::reconcile::{sync, SyncReport};
use zonetp::store::Store;
use zonetp::{Error, Result};

use crate::output::{print_json, Format};
use crate::progress::Progress;

#[derive(Args)]
pub struct Sync {
    /// The datapath whose zones are pushed (default: system, the kernel datapath).
    pub datapath: Option<String>,
    /// Print the plan and change nothing.
    #[arg(long, conflicts_with = "watch")]
    pub dry_run: bool,
    /// Keep running: sync again whenever the configuration file changes,
    /// and every --interval seconds (to retry deletes of objects in use and
    /// repair changes made behind zonetp's back). Stops on SIGINT/SIGTERM.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between periodic syncs in --watch mode.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

fn print_report(r: &SyncReport, format: Format) {
    if format == Format::Json {
        print_json(&json!(r));
        return;
    }
    if r.dry_run {
        r.plan.iter().for_each(|l| println!("{l}"));
    }
    for n in &r.created {
        println!("created {n}");
    }
    for n in &r.replaced {
        println!("replaced {n}");
    }
    for n in &r.deleted {
        println!("deleted {n}");
    }
    for n in &r.pending {
        println!("pending {n}: in use (EBUSY), retried on the next sync");
    }
    for (what, why) in &r.failed {
        eprintln!("zonetp: {what}: {why}");
    }
    if !r.ignored_keys.is_empty() {
        eprintln!(
            "zonetp: note: the kernel datapath has no timeout for {}; it ignores them",
            r.ignored_keys.join(", ")
        );
    }
    let verb = if r.dry_run { "would change" } else { "changed" };
    println!(
        "sync {}: {verb} {}, unchanged {}, created {}, replaced {}, deleted {}, pending {}, failed {}",
        r.datapath,
        if r.dry_run { r.plan.len() } else { r.created.len() + r.replaced.len() + r.deleted.len() },
        r.unchanged,
        r.created.len(),
        r.replaced.len(),
        r.deleted.len(),
        r.pending.len(),
        r.failed.len()
    );
}

fn stamp(store: &Store) -> Option<(SystemTime, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(store.path()).ok()?;
    Some((m.modified().ok()?, m.ino() ^ m.len()))
}

pub fn run(store: &Store, a: Sync, format: Format) -> Result<()> {
    let explicit = a.datapath.is_some();
    let dp = a.datapath.unwrap_or_else(|| "system".to_owned());
    let mut client = CtTimeoutClient::open()?;
    let progress = std::rc::Rc::new(std::cell::RefCell::new(Progress::stderr(format!("zonetp: sync {dp}"))));
    let shared = progress.clone();
    client.set_progress(Some(Box::new(move |done, total| shared.borrow_mut().update(done, total))));
    if !a.watch {
        let report = sync(store, &mut client, &dp, explicit, a.dry_run);
        progress.borrow_mut().finish();
        let report = report?;
        print_report(&report, format);
        return if report.ok() {
            Ok(())
        } else {
            Err(Error::Invalid(format!("sync {dp}: {} object(s) could not be pushed", report.failed.len())))
        };
    }
    install_signal_handlers();
    let interval = Duration::from_secs(a.interval);
    let mut last_stamp = None;
    let mut next = Instant::now();
    while !STOP.load(Ordering::SeqCst) {
        let now_stamp = stamp(store);
        if now_stamp != last_stamp || Instant::now() >= next {
            last_stamp = now_stamp;
            next = Instant::now() + interval;
            // A failed pass (kernel or file unreadable) is reported and
            // retried; the watcher keeps going.
            progress.borrow_mut().restart();
            let result = sync(store, &mut client, &dp, explicit, false);
            progress.borrow_mut().finish();
            match result {
                Ok(r) => print_report(&r, format),
                Err(e) => eprintln!("zonetp: sync {dp}: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("zonetp: sync --watch stopped");
    Ok(())
}
