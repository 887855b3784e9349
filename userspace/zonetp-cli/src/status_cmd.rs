//! `zonetp status [DP]`: per zone, its policy and where it comes from, the
//! kernel object of each L3/L4 with its sync state and use count, and the
//! live conntrack entries (what OVS users cannot see anywhere).

use clap::Args;
use serde_json::json;
use zonetp::ctnetlink::ConntrackClient;
use zonetp::cttimeout::CtTimeoutClient;
use zonetp::reconcile::{kernel_defaults, KERNEL_DATAPATH};
use zonetp::status::{status, StatusReport, SyncState, ZoneStatus};
use zonetp::zone_store::ZoneStore;
use zonetp::Error;

use crate::failure::CmdResult;
use crate::output::{escape, outln, print_json, Format};

#[derive(Args)]
#[command(after_help = "Examples:
  zonetp status
  zonetp status --check
  zonetp status system --format json")]
pub struct Status {
    /// The datapath record to show (default: system, the kernel datapath).
    pub datapath: Option<String>,
    /// Exit with 1 when the kernel is out of sync with the configuration
    /// (the report's last line), 0 when in sync, as `git diff
    /// --exit-code` does. The report is printed either way.
    #[arg(long)]
    pub check: bool,
}

pub fn run(store: &dyn ZoneStore, a: Status, format: Format) -> CmdResult {
    let dp = a.datapath.unwrap_or_else(|| KERNEL_DATAPATH.to_owned());
    let config = store.read()?;
    config.datapath(&dp)?;
    if dp != KERNEL_DATAPATH {
        // A userspace datapath: nothing of the kernel's is its own.
        let report = status(&config, &dp, &[], &Default::default(), 0, &Default::default())?;
        match format {
            Format::Json => print_json(&json!(report)),
            Format::Text => print_text(&report),
        }
        return Ok(());
    }
    let mut timeouts = CtTimeoutClient::open()?;
    let objects = timeouts.list()?;
    let defaults = kernel_defaults(&mut timeouts)?;
    let entries = ConntrackClient::open()?.count_entries()?;
    let report = status(&config, &dp, &objects, &defaults, timeouts.max_seconds(), &entries)?;
    match format {
        Format::Json => print_json(&json!(report)),
        Format::Text => print_text(&report),
    }
    if a.check && !report.in_sync() {
        return Err(Error::Invalid(format!(
            "status {dp}: out of sync with the configuration (run `zonetp sync`)"
        ))
        .into());
    }
    Ok(())
}

fn zone_line(z: &ZoneStatus, kernel: bool) -> String {
    let policy = match (z.policy_id, &z.timeouts) {
        (Some(id), Some(t)) => format!("policy {id} ({}): {}", z.source.name(), t.to_words()),
        _ if kernel => "no policy (kernel defaults)".to_owned(),
        _ => "no policy (ovs-vswitchd's defaults)".to_owned(),
    };
    if !kernel {
        return format!("zone {}: {policy}", z.zone);
    }
    let entries = if z.entries == 1 { "entry" } else { "entries" };
    format!("zone {}: {policy}; {} {entries}", z.zone, z.entries)
}

fn print_text(r: &StatusReport) {
    outln!("datapath {} (resolution {})", escape(&r.datapath), r.resolution);
    for z in &r.zones {
        outln!("{}", zone_line(z, r.kernel_objects));
        for o in &z.objects {
            // Zones on the kernel's defaults: only the protocols with entries.
            if o.state == SyncState::KernelDefaults && o.entries == 0 {
                continue;
            }
            let use_count = o.use_count.map(|u| format!("use={u}")).unwrap_or_else(|| "use=-".into());
            outln!(
                "  {:<4} {:<6} {:<20} {:<15} {:<8} entries={}",
                o.l3,
                o.l4,
                escape(o.object.as_deref().unwrap_or("-")),
                o.state.name(),
                use_count,
                o.entries
            );
        }
    }
    for s in &r.strays {
        outln!("stray {}: no zone explains it (sync deletes it)", escape(s));
    }
    if !r.kernel_objects {
        outln!(
            "{} datapath: policies live in ovs-vswitchd's userspace conntrack; no kernel objects",
            escape(&r.datapath)
        );
        return;
    }
    outln!("{}", if r.in_sync() { "in sync" } else { "out of sync: run `zonetp sync`" });
}
