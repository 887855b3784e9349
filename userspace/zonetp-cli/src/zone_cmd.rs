//! ovs-vsctl-style commands on the zone configuration: datapaths, zone
//! timeout policies, and resolution of a zone to its kernel object.

use clap::Args;
use serde_json::{json, Value};
use zonetp::config::parse_zone_arg;
use zonetp::cttimeout::{L3Proto, L4Proto};
use zonetp::policy::TimeoutPolicy;
use zonetp::store::Store;
use zonetp::{Error, Result};

use crate::output::{print_json, Format};

#[derive(Args)]
pub struct AddDp {
    /// Datapath name: `system` is the kernel datapath, `netdev` the userspace one.
    pub datapath: String,
    /// Do nothing if the datapath exists.
    #[arg(long)]
    pub may_exist: bool,
}

#[derive(Args)]
pub struct DelDp {
    /// The datapath record to delete.
    pub datapath: String,
    /// Do nothing if the datapath does not exist.
    #[arg(long)]
    pub if_exists: bool,
}

#[derive(Args)]
pub struct SetDp {
    /// The datapath record to change.
    pub datapath: String,
    /// KEY=VALUE settings. `resolution=zone0-fallback` (the default): a zone
    /// without a policy gets zone 0's, else the kernel's defaults.
    /// `resolution=exact`: it gets the kernel's defaults, as OVS does.
    #[arg(value_name = "KEY=VALUE", required = true)]
    pub settings: Vec<String>,
}

#[derive(Args)]
pub struct AddZoneTp {
    /// The datapath record (see add-dp).
    pub datapath: String,
    /// The zone, as zone=N with N in 0..65535.
    #[arg(value_name = "zone=N")]
    pub zone: String,
    /// KEY=SECONDS pairs. Keys: tcp_syn_sent tcp_syn_recv tcp_established
    /// tcp_fin_wait tcp_close_wait tcp_last_ack tcp_time_wait tcp_close
    /// tcp_syn_sent2 tcp_retransmit tcp_unack udp_first udp_single
    /// udp_multiple icmp_first icmp_reply. The kernel datapath has no
    /// attribute for udp_first and icmp_reply and ignores them.
    #[arg(value_name = "KEY=SECONDS", allow_hyphen_values = true)]
    pub timeouts: Vec<String>,
    /// Replace the zone's policy if it has one.
    #[arg(long)]
    pub may_exist: bool,
}

#[derive(Args)]
pub struct DelZoneTp {
    /// The datapath record.
    pub datapath: String,
    /// The zone, as zone=N with N in 0..65535.
    #[arg(value_name = "zone=N")]
    pub zone: String,
    /// Do nothing if the zone has no policy.
    #[arg(long)]
    pub if_exists: bool,
}

#[derive(Args)]
pub struct ListZoneTp {
    /// The datapath record.
    pub datapath: String,
}

#[derive(Args)]
pub struct Resolve {
    /// The datapath record whose zones and resolution mode apply.
    pub datapath: String,
    /// The zone of the ct(commit) action, as zone=N.
    #[arg(value_name = "zone=N")]
    pub zone: String,
    /// L3 protocol of the flow: ipv4 or ipv6.
    #[arg(long)]
    pub l3: String,
    /// L4 protocol of the flow: tcp, udp, icmp (ipv4) or icmpv6 (ipv6).
    #[arg(long)]
    pub l4: String,
}

pub fn add_dp(store: &Store, a: AddDp) -> Result<()> {
    store.update(|c| c.add_dp(&a.datapath, a.may_exist))
}

pub fn del_dp(store: &Store, a: DelDp) -> Result<()> {
    store.update(|c| c.del_dp(&a.datapath, a.if_exists))
}

pub fn set_dp(store: &Store, a: SetDp) -> Result<()> {
    store.update(|c| c.set_dp(&a.datapath, &a.settings))
}

pub fn list_dp(store: &Store, format: Format) -> Result<()> {
    let config = store.read()?;
    match format {
        Format::Json => print_json(&Value::Array(
            config
                .datapaths
                .iter()
                .map(|(name, d)| json!({"name": name, "zones": d.ct_zones.len(), "resolution": d.resolution}))
                .collect(),
        )),
        Format::Text => config.datapaths.keys().for_each(|n| println!("{n}")),
    }
    Ok(())
}

pub fn add_zone_tp(store: &Store, a: AddZoneTp) -> Result<()> {
    let zone = parse_zone_arg(&a.zone)?;
    let policy = TimeoutPolicy::parse(&a.timeouts)?;
    let ignored = policy.userspace_only_keys().join(", ");
    store.update(|c| c.add_zone_tp(&a.datapath, zone, policy, a.may_exist))?;
    if a.datapath == "system" && !ignored.is_empty() {
        eprintln!("zonetp: note: the kernel datapath has no timeout for {ignored}; it ignores them");
    }
    Ok(())
}

pub fn del_zone_tp(store: &Store, a: DelZoneTp) -> Result<()> {
    let zone = parse_zone_arg(&a.zone)?;
    store.update(|c| c.del_zone_tp(&a.datapath, zone, a.if_exists))
}

pub fn list_zone_tp(store: &Store, a: ListZoneTp, format: Format) -> Result<()> {
    let config = store.read()?;
    match format {
        Format::Text => config.list_zone_tp(&a.datapath)?.iter().for_each(|l| println!("{l}")),
        Format::Json => {
            config.list_zone_tp(&a.datapath)?; // same refusal as text
            let d = config.datapath(&a.datapath)?;
            print_json(&Value::Array(
                d.ct_zones
                    .iter()
                    .map(|(zone, z)| {
                        let timeouts = z
                            .timeout_policy
                            .and_then(|id| config.timeout_policies.get(&id))
                            .map(|p| json!(p.timeouts))
                            .unwrap_or(Value::Null);
                        json!({"zone": zone, "policy_id": z.timeout_policy, "timeouts": timeouts})
                    })
                    .collect(),
            ))
        }
    }
    Ok(())
}

pub fn resolve(store: &Store, a: Resolve, format: Format) -> Result<()> {
    let zone = parse_zone_arg(&a.zone)?;
    let l3 = L3Proto::parse(&a.l3).map_err(Error::Invalid)?;
    let l4 = L4Proto::parse(&a.l4).map_err(Error::Invalid)?;
    let r = store.read()?.resolve(&a.datapath, zone, l3, l4)?;
    match format {
        Format::Json => print_json(&json!(r)),
        Format::Text => println!("{}", r.object.as_deref().unwrap_or("none")),
    }
    Ok(())
}
