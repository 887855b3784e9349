//! `zonetp status [DP]`: per zone, its policy and where it comes from, the
//! kernel object of each L3/L4 with its sync state and use count, and the
//! live conntrack entries (what OVS users cannot see anywhere). Beside
//! ovs-vswitchd, the objects are its own, numbered its way: each zone is
//! shown with the objects the datapath's flows commit with, else the ones
//! whose values are its policy's.

use clap::{Args, ValueEnum};
use serde_json::json;
use zonetp::beside_vswitchd::{flow_commits, Decision, FlowCommit};
use zonetp::ctnetlink::ConntrackClient;
use zonetp::cttimeout::CtTimeoutClient;
use zonetp::ovs::ct_limit::LimitTarget;
use zonetp::ovs::{CtLimitClient, OvsClient};
use zonetp::reconcile::{kernel_defaults, KERNEL_DATAPATH};
use zonetp::status::{status, status_beside_vswitchd, StatusReport, SyncState, VswitchdInput, ZoneStatus};
use zonetp::zone_store::ZoneStore;
use zonetp::Error;

use crate::failure::CmdResult;
use crate::output::{escape, outln, print_json, Format};

#[derive(Args)]
#[command(after_help = "Examples:
  zonetp status
  zonetp status --check
  zonetp status system --format json
  zonetp status --managed-by ovs-vswitchd --db unix:/run/openvswitch/db.sock")]
pub struct Status {
    /// The datapath record to show (default: system, the kernel datapath).
    pub datapath: Option<String>,
    /// Exit with 1 when the kernel is out of sync with the configuration
    /// (the report's last line), 0 when in sync, as `git diff
    /// --exit-code` does. The report is printed either way.
    #[arg(long)]
    pub check: bool,
    /// Whose the kernel's ovs_tp_* objects are. auto: ovs-vswitchd's when
    /// an ovs-vswitchd process runs in this network namespace, else
    /// zonetp's (made by `zonetp sync` with zonetp's numbering).
    #[arg(long, value_enum, default_value_t = ManagedBy::Auto)]
    pub managed_by: ManagedBy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ManagedBy {
    Auto,
    #[value(name = "ovs-vswitchd")]
    OvsVswitchd,
    Zonetp,
}

/// The committing ct actions of every kernel datapath's flows in this
/// network namespace, or why they could not be read.
fn read_commits() -> Result<Vec<FlowCommit>, String> {
    let mut ovs = OvsClient::open().map_err(|e| match e.errno() {
        Some(libc::ENOENT) => "openvswitch.ko is not loaded: no datapath flows".to_owned(),
        _ => e.to_string(),
    })?;
    let mut commits = Vec::new();
    for dp in ovs.datapaths().map_err(|e| e.to_string())? {
        commits.extend(flow_commits(&ovs.flows(&dp).map_err(|e| e.to_string())?));
    }
    Ok(commits)
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
    let vswitchd = match a.managed_by {
        ManagedBy::Auto => crate::vswitchd::vswitchd_in_this_netns().first().map(|pid| Some(*pid)),
        ManagedBy::OvsVswitchd => Some(crate::vswitchd::vswitchd_in_this_netns().first().copied()),
        ManagedBy::Zonetp => None,
    };
    let mut report = match vswitchd {
        Some(pid) => {
            let input = VswitchdInput { pid, commits: read_commits() };
            status_beside_vswitchd(&config, &dp, &objects, &defaults, &entries, &input)?
        }
        None => status(&config, &dp, &objects, &defaults, timeouts.max_seconds(), &entries)?,
    };
    // Only the kernel datapath's limits are the kernel's; the family is
    // resolved only when a limit is configured or openvswitch.ko is
    // loaded already (resolving it would load the module).
    if report.kernel_objects && (report.has_limits() || std::path::Path::new(OVS_MODULE).exists()) {
        read_kernel_limits(&mut report);
    }
    match format {
        Format::Json => print_json(&json!(report)),
        Format::Text => print_text(&report),
    }
    if a.check && !report.in_sync() {
        let why = match (&report.vswitchd, report.policies_in_sync()) {
            (Some(_), false) => "ovs-vswitchd's objects are out of sync with the configuration",
            (Some(_), true) => "ovs-vswitchd's zone limits are out of sync with the configuration",
            (None, false) => "out of sync with the configuration (run `zonetp sync`)",
            (None, true) => "zone limits out of sync with the configuration (run `zonetp sync`)",
        };
        let limits = match report.limit_differences() {
            d if d.is_empty() || !report.policies_in_sync() => String::new(),
            d => format!(": {}", d.join("; ")),
        };
        return Err(Error::Invalid(format!("status {dp}: {why}{limits}")).into());
    }
    Ok(())
}

/// Present while openvswitch.ko is loaded.
const OVS_MODULE: &str = "/sys/module/openvswitch";

/// Each zone's limit and count as openvswitch.ko reports them (GETs of
/// the default and every zone shown, at most 256 a message), and every
/// limit the kernel holds (one GET of everything, which the kernel fails
/// with EMSGSIZE past a few hundred: then only the zones shown are), or
/// why they could not be read.
fn read_kernel_limits(r: &mut StatusReport) {
    let targets: Vec<LimitTarget> = std::iter::once(LimitTarget::Default)
        .chain(r.zones.iter().map(|z| LimitTarget::Zone(z.zone)))
        .collect();
    let read = CtLimitClient::open().and_then(|mut c| {
        let asked = c.get(&targets)?;
        let all = match c.get_all() {
            Ok(all) => Ok(all),
            Err(e) if e.errno() == Some(libc::EMSGSIZE) => Err(
                "the kernel holds more limits than one reply carries: only the zones shown here were read"
                    .to_owned(),
            ),
            Err(e) => Err(e.to_string()),
        };
        Ok((asked, all))
    });
    match read {
        Ok((asked, all)) => r.set_kernel_limits(&asked, all),
        Err(e) => r.limits_unread = Some(e.to_string()),
    }
}

/// "; limit 100, 42 counted": the zone's limit, and what the kernel has.
fn limit_words(z: &ZoneStatus) -> String {
    match (z.limit, z.kernel_limit) {
        (Some(l), Some(k)) if k.limit == l && k.own == Some(false) => {
            format!("; limit {l} (the kernel has it as the default's only), {} counted", k.count)
        }
        (Some(l), Some(k)) if k.limit == l => format!("; limit {l}, {} counted", k.count),
        (Some(l), Some(k)) => format!("; limit {l} (the kernel has {}), {} counted", k.limit, k.count),
        (Some(l), None) => format!("; limit {l}"),
        (None, Some(k)) if k.own == Some(true) => {
            format!("; limit {} (the kernel's, not configured), {} counted", k.limit, k.count)
        }
        (None, Some(k)) if k.limit != 0 => format!("; limit {} (the default), {} counted", k.limit, k.count),
        _ => String::new(),
    }
}

/// "a, b and c".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// How a zone's objects beside ovs-vswitchd were found, in words.
fn decision_line(z: &ZoneStatus, d: &Decision, flows_read: bool) -> String {
    let id = z.policy_id.map(|i| i.to_string()).unwrap_or_default();
    let ids = |v: &[u32]| and_list(&v.iter().map(u32::to_string).collect::<Vec<_>>());
    let no_flows = if flows_read {
        format!("no flow of zone {} commits", z.zone)
    } else {
        "the datapath's flows were not read".to_owned()
    };
    match d {
        Decision::Flows { objects, also_fit } => {
            let same = match also_fit.as_slice() {
                [] => String::new(),
                [one] => format!("; policy {one}'s objects have the same values, but no flow of this zone names them"),
                more => format!("; policies {}'s objects have the same values, but no flow of this zone names them", ids(more)),
            };
            format!("flows commit with {} (ovs-vswitchd's policy {id}{same})", escape(&objects.join(", ")))
        }
        Decision::Contents => {
            format!("by contents: ovs-vswitchd's policy {id}, the only objects with these values ({no_flows})")
        }
        Decision::ContentsAmbiguous { candidates } => format!(
            "by contents: ovs-vswitchd's policies {} all have these values and {no_flows}; shown: {id}, the lowest",
            ids(candidates)
        ),
        Decision::NotFound => {
            "no object of ovs-vswitchd's has these values and no flow names one: not pushed".to_owned()
        }
    }
}

fn zone_line(z: &ZoneStatus, kernel: bool, vswitchd: bool) -> String {
    let policy = match (z.policy_id, &z.timeouts) {
        (_, Some(t)) if vswitchd => format!("policy {}", t.to_words()),
        (Some(id), Some(t)) => format!("policy {id} ({}): {}", z.source.name(), t.to_words()),
        _ if kernel => "no policy (kernel defaults)".to_owned(),
        _ => "no policy (ovs-vswitchd's defaults)".to_owned(),
    };
    let limit = limit_words(z);
    if !kernel {
        return format!("zone {}: {policy}{limit}", z.zone);
    }
    let entries = if z.entries == 1 { "entry" } else { "entries" };
    format!("zone {}: {policy}; {} {entries}{limit}", z.zone, z.entries)
}

fn print_text(r: &StatusReport) {
    match &r.vswitchd {
        Some(v) => {
            let pid = v.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            outln!(
                "datapath {}: objects of ovs-vswitchd{pid}, numbered by it; zones resolve as it resolves them (exact)",
                escape(&r.datapath)
            );
            match &v.flows_unread {
                Some(why) => outln!("datapath flows: not read ({}); objects found by contents", escape(why)),
                None => outln!("datapath flows: {} commit with ct(commit)", v.commit_flows),
            }
        }
        None => outln!("datapath {} (resolution {})", escape(&r.datapath), r.resolution),
    }
    let kernel_default = r.kernel_limits.as_ref().map(|k| k.default);
    match (r.default_limit, kernel_default) {
        (Some(l), Some(k)) if k != l => outln!("default zone limit: {l} (the kernel has {k})"),
        (Some(l), _) => outln!("default zone limit: {l}"),
        (None, Some(k)) if k != 0 => outln!("default zone limit: none configured (the kernel has {k})"),
        (None, _) => {}
    }
    if let Some(why) = &r.limits_unread {
        outln!("zone limits: the kernel's not read ({})", escape(why));
    }
    if let Some(k) = &r.kernel_limits {
        for o in &k.other_zones {
            outln!("zone {}: limit {} in the kernel, not configured; {} counted", o.zone, o.limit, o.count);
        }
        if let Some(why) = &k.partial {
            outln!("zone limits: {}", escape(why));
        }
    }
    let flows_read = r.vswitchd.as_ref().is_some_and(|v| v.flows_unread.is_none());
    for z in &r.zones {
        outln!("{}", zone_line(z, r.kernel_objects, r.vswitchd.is_some()));
        if let Some(d) = &z.decided_by {
            outln!("  {}", decision_line(z, d, flows_read));
        }
        for o in &z.objects {
            // Zones on the kernel's defaults: only the protocols with entries.
            if o.state == SyncState::KernelDefaults && o.entries == 0 {
                continue;
            }
            let use_count = o.use_count.map(|u| format!("use={u}")).unwrap_or_else(|| "use=-".into());
            let flows = o.flows.map(|f| format!("flows={f:<3} ")).unwrap_or_default();
            outln!(
                "  {:<4} {:<6} {:<20} {:<15} {:<8} {flows}entries={}",
                o.l3,
                o.l4,
                escape(o.object.as_deref().unwrap_or("-")),
                o.state.name(),
                use_count,
                o.entries
            );
        }
    }
    if let Some(v) = &r.vswitchd {
        for n in &v.unclaimed {
            outln!(
                "ovs-vswitchd's {}: no zone's policy (ovs-vswitchd deletes what it no longer uses)",
                escape(n)
            );
        }
        let limits = limits_clause(r);
        outln!(
            "{}",
            if !r.policies_in_sync() {
                format!("out of sync: ovs-vswitchd's objects do not carry every zone's policy{limits} (zonetp sync does not act beside it)")
            } else if !limits.is_empty() {
                format!("out of sync: ovs-vswitchd's objects carry every zone's policy{limits} (zonetp sync does not act beside it)")
            } else {
                "in sync: ovs-vswitchd's objects carry every zone's policy".to_owned()
            }
        );
        return;
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
    let limits = limits_clause(r);
    match (r.policies_in_sync(), limits.is_empty()) {
        (true, true) => outln!("in sync"),
        (true, false) => {
            outln!("out of sync: zone limits{}; run `zonetp sync`", &limits[", zone limits".len()..])
        }
        (false, _) => outln!("out of sync{limits}: run `zonetp sync`"),
    }
}

/// ", zone limits (zone 5: configured 100, the kernel has 7)", or "".
fn limits_clause(r: &StatusReport) -> String {
    let d = r.limit_differences();
    if d.is_empty() {
        String::new()
    } else {
        format!(", zone limits ({})", d.join("; "))
    }
}
