//! ovs-vsctl-style commands on the zone configuration: datapaths, zone
//! timeout policies, and resolution of a zone to its kernel object.

use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use zonetp::config::{
    check_datapath_name, dp_cap_line, parse_limit_arg, parse_zone_arg, DpSettings, LimitZone,
};
use zonetp::cttimeout::object::max_timeout_seconds;
use zonetp::cttimeout::{CtTimeoutClient, L3Proto, L4Proto};
use zonetp::policy::{object_name, TimeoutPolicy};
use zonetp::reconcile::{kernel_policy_ids, KERNEL_DATAPATH};
use zonetp::zone_store::ZoneStore;

use crate::failure::{usage, CmdResult};
use crate::output::{errln, escape, outln, print_json, Format};

/// The L3 protocols of zone policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ZoneL3 {
    #[value(alias = "inet", alias = "ip", alias = "ip4")]
    Ipv4,
    #[value(alias = "inet6", alias = "ip6")]
    Ipv6,
}

/// The L4 protocols of zone policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ZoneL4 {
    Tcp,
    Udp,
    Icmp,
    #[value(alias = "ipv6-icmp")]
    Icmpv6,
}

impl From<ZoneL3> for L3Proto {
    fn from(l3: ZoneL3) -> Self {
        match l3 {
            ZoneL3::Ipv4 => L3Proto::IPV4,
            ZoneL3::Ipv6 => L3Proto::IPV6,
        }
    }
}

impl From<ZoneL4> for L4Proto {
    fn from(l4: ZoneL4) -> Self {
        match l4 {
            ZoneL4::Tcp => L4Proto::TCP,
            ZoneL4::Udp => L4Proto::UDP,
            ZoneL4::Icmp => L4Proto::ICMP,
            ZoneL4::Icmpv6 => L4Proto::ICMPV6,
        }
    }
}

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
pub struct SetZoneLimit {
    /// The datapath record.
    pub datapath: String,
    /// The zone (0..65535; `zone=N` too), or `default`: the limit of every
    /// zone without one of its own.
    #[arg(value_name = "ZONE|default", allow_hyphen_values = true)]
    pub zone: String,
    /// The most conntrack entries the zone may hold (0..4294967295; 0:
    /// unlimited; `limit=L` too).
    #[arg(value_name = "LIMIT", allow_hyphen_values = true)]
    pub limit: String,
}

#[derive(Args)]
pub struct DelZoneLimit {
    /// The datapath record.
    pub datapath: String,
    /// The zone (`zone=N` too), or `default`.
    #[arg(value_name = "ZONE|default", allow_hyphen_values = true)]
    pub zone: String,
    /// Do nothing if there is no such limit.
    #[arg(long)]
    pub if_exists: bool,
}

#[derive(Args)]
pub struct ListZoneLimits {
    /// The datapath record.
    pub datapath: String,
}

#[derive(Args)]
pub struct ListDpCap {
    /// The datapath record.
    pub datapath: String,
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
    #[arg(value_name = "KEY=SECONDS", required = true)]
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
    /// L3 protocol of the flow.
    #[arg(long, value_enum)]
    pub l3: ZoneL3,
    /// L4 protocol of the flow: icmp goes with ipv4, icmpv6 with ipv6.
    #[arg(long, value_enum)]
    pub l4: ZoneL4,
}

/// A name the datapath-name rule refuses is a usage error, unless
/// `--may-exist` finds the record already there (made before the rule):
/// then there is nothing to do, and nothing is written.
pub fn add_dp(store: &dyn ZoneStore, a: AddDp) -> CmdResult {
    if let Err(e) = check_datapath_name(&a.datapath) {
        if a.may_exist && store.read()?.datapaths.contains_key(&a.datapath) {
            return Ok(());
        }
        return Err(usage(e));
    }
    Ok(store.add_dp(&a.datapath, a.may_exist)?)
}

pub fn del_dp(store: &dyn ZoneStore, a: DelDp) -> CmdResult {
    Ok(store.del_dp(&a.datapath, a.if_exists)?)
}

pub fn set_dp(store: &dyn ZoneStore, a: SetDp) -> CmdResult {
    let settings = DpSettings::parse(&a.datapath, &a.settings).map_err(usage)?;
    Ok(store.set_dp(&a.datapath, settings)?)
}

pub fn list_dp(store: &dyn ZoneStore, format: Format) -> CmdResult {
    let config = store.read()?;
    match format {
        Format::Json => print_json(&Value::Array(
            config
                .datapaths
                .iter()
                .map(|(name, d)| json!({"name": name, "zones": d.ct_zones.len(), "resolution": d.resolution}))
                .collect(),
        )),
        Format::Text => config.datapaths.keys().for_each(|n| outln!("{}", escape(n))),
    }
    Ok(())
}

/// The store is asked first: where it has no place for limits, ovs-vsctl
/// of its schema has no such verb, and says so whatever the arguments.
///
/// The datapath is checked before the words, as ovs-vsctl 3.5 does (its
/// `datapath X does not exist` comes before any range error); a word that
/// is no number is refused with exit status 1, in ovs-vsctl 3.6's words
/// (`invalid zone id, X`, `invalid limit, X`).
pub fn set_zone_limit(store: &dyn ZoneStore, a: SetZoneLimit) -> CmdResult {
    store.check_zone_limits("set-zone-limit")?;
    store.read()?.datapath(&a.datapath)?;
    let zone = LimitZone::parse(&a.zone)?;
    let limit = parse_limit_arg(&a.limit)?;
    Ok(store.set_zone_limit(&a.datapath, zone, limit)?)
}

/// The datapath first, then the word, as [`set_zone_limit`].
pub fn del_zone_limit(store: &dyn ZoneStore, a: DelZoneLimit) -> CmdResult {
    store.check_zone_limits("del-zone-limit")?;
    store.read()?.datapath(&a.datapath)?;
    let zone = LimitZone::parse(&a.zone)?;
    Ok(store.del_zone_limit(&a.datapath, zone, a.if_exists)?)
}

pub fn list_zone_limits(store: &dyn ZoneStore, a: ListZoneLimits, format: Format) -> CmdResult {
    store.check_zone_limits("list-zone-limits")?;
    let config = store.read()?;
    let lines = config.list_zone_limits(&a.datapath)?;
    match format {
        Format::Text => lines.iter().for_each(|l| outln!("{l}")),
        Format::Json => {
            let d = config.datapath(&a.datapath)?;
            let zones: Vec<Value> = d
                .ct_zones
                .iter()
                .filter_map(|(zone, z)| Some(json!({"zone": zone, "limit": z.limit?})))
                .collect();
            print_json(&json!({"default": d.ct_zone_default_limit, "zones": zones}))
        }
    }
    Ok(())
}

pub fn list_dp_cap(store: &dyn ZoneStore, a: ListDpCap, format: Format) -> CmdResult {
    let caps = store.dp_capabilities(&a.datapath)?;
    match format {
        Format::Json => print_json(&json!(caps)),
        Format::Text => outln!("{}", escape(&dp_cap_line(&caps))),
    }
    Ok(())
}

pub fn add_zone_tp(store: &dyn ZoneStore, a: AddZoneTp) -> CmdResult {
    let zone = parse_zone_arg(&a.zone).map_err(usage)?;
    let policy = TimeoutPolicy::parse(&a.timeouts).map_err(usage)?;
    let kernel = a.datapath == KERNEL_DATAPATH;
    if kernel {
        // Refused now, as `timeout add` does, rather than by every sync.
        policy.check_kernel_range(max_timeout_seconds())?;
    }
    let ignored = policy.userspace_only_keys().join(", ");
    // A new policy must not get the id of objects still in the kernel (a
    // rule may hold them). Without access to the kernel (no privileges, no
    // module), ids come from the configuration alone, and sync's numbering
    // of the kernel's namespace still applies.
    if let Ok(ids) = CtTimeoutClient::open().and_then(|mut c| kernel_policy_ids(&mut c)) {
        store.reserve_ids(ids);
    }
    store.add_zone_tp(&a.datapath, zone, policy, a.may_exist)?;
    if kernel && !ignored.is_empty() {
        errln!("zonetp: note: the kernel datapath has no timeout for {ignored}; it ignores them");
    }
    Ok(())
}

pub fn del_zone_tp(store: &dyn ZoneStore, a: DelZoneTp) -> CmdResult {
    let zone = parse_zone_arg(&a.zone).map_err(usage)?;
    Ok(store.del_zone_tp(&a.datapath, zone, a.if_exists)?)
}

pub fn list_zone_tp(store: &dyn ZoneStore, a: ListZoneTp, format: Format) -> CmdResult {
    let config = store.read()?;
    match format {
        Format::Text => config.list_zone_tp(&a.datapath)?.iter().for_each(|l| outln!("{l}")),
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

pub fn resolve(store: &dyn ZoneStore, a: Resolve, format: Format) -> CmdResult {
    let zone = parse_zone_arg(&a.zone).map_err(usage)?;
    let (l3, l4) = (L3Proto::from(a.l3), L4Proto::from(a.l4));
    if object_name(1, l3, l4).is_none() {
        return Err(usage(format!(
            "zone timeout policies cover ipv4/ipv6 with tcp, udp, icmp (ipv4) and icmpv6 (ipv6), not {l3} {l4}"
        )));
    }
    let r = store.read()?.resolve(&a.datapath, zone, l3, l4)?;
    match format {
        Format::Json => print_json(&json!(r)),
        Format::Text => outln!("{}", r.object.as_deref().unwrap_or("none")),
    }
    Ok(())
}
