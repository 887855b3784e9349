//! `zonetp dp ...` and `zonetp dp-flow ...`: the OVS kernel datapath
//! (`openvswitch.ko`), with zone timeout policies translated into the ct
//! actions of the flows zonetp installs.

use clap::Subcommand;
use serde_json::{json, Value};
use zonetp::cttimeout::CtTimeoutClient;
use zonetp::ovs::{Action, FlowKey, OvsClient};
use zonetp::xlate::{check_timeouts, fill_timeouts};
use zonetp::zone_store::ZoneStore;

use crate::failure::{usage, CmdResult};
use crate::output::{escape, outln, print_json, Format};

#[derive(Subcommand)]
pub enum DpCommand {
    /// Create a kernel datapath, optionally with ports (numbered 1, 2, ... in order).
    #[command(after_help = "Examples:
  zonetp dp add ovs-system
  zonetp dp add ovs-system veth0 veth1")]
    Add {
        /// Datapath name (its local port's network device), e.g. ovs-system.
        name: String,
        /// Network devices to attach as ports.
        ports: Vec<String>,
    },
    /// Delete a kernel datapath with its ports and flows.
    #[command(after_help = "Examples:
  zonetp dp del ovs-system")]
    Del {
        /// Datapath name.
        name: String,
    },
    /// Show a datapath: ports, flow count, and whether it supports
    /// OVS_CT_ATTR_TIMEOUT (probed as OVS does).
    #[command(after_help = "Examples:
  zonetp dp show ovs-system
  zonetp dp show ovs-system --format json")]
    Show {
        /// Datapath name.
        name: String,
    },
    /// Attach a network device as a port.
    #[command(after_help = "Examples:
  zonetp dp add-port ovs-system veth2
  zonetp dp add-port ovs-system veth3 --port-no 7")]
    AddPort {
        /// Datapath name.
        name: String,
        /// The network device to attach.
        device: String,
        /// Port number (default: the next free one).
        #[arg(long)]
        port_no: Option<u32>,
    },
    /// Detach a port.
    #[command(after_help = "Examples:
  zonetp dp del-port ovs-system veth2")]
    DelPort {
        /// Datapath name.
        name: String,
        /// The network device to detach.
        device: String,
    },
}

#[derive(Subcommand)]
pub enum FlowCommand {
    /// Install a flow: `MATCH actions:ACTIONS`, e.g.
    /// "in_port(1),eth_type(0x0800),ipv4(proto=17) actions:ct(commit,zone=5),2".
    ///
    /// A committing ct action without timeout= gets the zone's policy for
    /// the flow's L3/L4 (zone N, else zone 0 unless the datapath record has
    /// resolution=exact, else none), and every timeout
    /// is checked against the kernel first: a missing object or one of
    /// another L3/L4 is refused (the kernel would install the flow without
    /// the policy and only log it).
    #[command(after_help = "Examples:
  zonetp dp-flow add ovs-system \"in_port(1),eth_type(0x0800),ipv4(proto=17) actions:ct(commit,zone=5),2\"
  zonetp dp-flow add ovs-system \"in_port(2),eth_type(0x0800) actions:ct(zone=5),1\"
  zonetp dp-flow add ovs-system \"in_port(1),eth_type(0x0806) actions:2\" --no-xlate")]
    Add {
        /// Datapath name.
        datapath: String,
        /// The flow: MATCH actions:ACTIONS (one shell word, quoted).
        flow: String,
        /// The zone configuration's datapath record used for translation.
        #[arg(long, default_value = "system")]
        zones_from: String,
        /// Install the actions as written: no timeout translation or check.
        #[arg(long)]
        no_xlate: bool,
    },
    /// Delete one flow (by its match) or, without a match, all flows.
    #[command(after_help = "Examples:
  zonetp dp-flow del ovs-system
  zonetp dp-flow del ovs-system \"in_port(1),eth_type(0x0806)\"")]
    Del {
        /// Datapath name.
        datapath: String,
        /// The match of the flow to delete (default: every flow).
        r#match: Option<String>,
    },
    /// Print the flows with their statistics.
    #[command(after_help = "Examples:
  zonetp dp-flow dump ovs-system
  zonetp dp-flow dump ovs-system --format json")]
    Dump {
        /// Datapath name.
        datapath: String,
    },
}

/// Splits `MATCH actions:ACTIONS` (also `actions=`).
fn split_flow(text: &str) -> CmdResult<(&str, &str)> {
    let at = text
        .find("actions:")
        .or_else(|| text.find("actions="))
        .ok_or_else(|| usage(format!("flow \"{}\" has no actions: part", escape(text))))?;
    Ok((text[..at].trim().trim_end_matches(','), &text[at + 8..]))
}

/// A flow match as the user wrote it; a syntax error is theirs.
fn parse_match(text: &str) -> CmdResult<FlowKey> {
    FlowKey::parse(text).map_err(|e| usage(format!("invalid flow match \"{}\": {e}", escape(text))))
}

fn parse_actions(text: &str) -> CmdResult<Vec<Action>> {
    Action::parse_list(text).map_err(|e| usage(format!("invalid flow actions \"{}\": {e}", escape(text))))
}

pub fn run_dp(cmd: DpCommand, format: Format) -> CmdResult {
    let mut ovs = OvsClient::open()?;
    match cmd {
        DpCommand::Add { name, ports } => {
            let dp = ovs.dp_new(&name)?;
            for p in ports {
                ovs.vport_new(&dp, &p, None)?;
            }
            Ok(())
        }
        DpCommand::Del { name } => Ok(ovs.dp_del(&name)?),
        DpCommand::AddPort { name, device, port_no } => {
            let dp = ovs.dp_get(&name)?;
            Ok(ovs.vport_new(&dp, &device, port_no)?)
        }
        DpCommand::DelPort { name, device } => {
            let dp = ovs.dp_get(&name)?;
            Ok(ovs.vport_del(&dp, &device)?)
        }
        DpCommand::Show { name } => {
            let dp = ovs.dp_get(&name)?;
            let ports = ovs.vports(&dp)?;
            let flows = ovs.flows(&dp)?.len();
            let ct_timeout = ovs.supports_ct_timeout(&dp)?;
            match format {
                Format::Json => print_json(&json!({
                    "name": dp.name, "ifindex": dp.ifindex, "flows": flows,
                    "ports": ports, "capabilities": {"ct_timeout": ct_timeout},
                })),
                Format::Text => {
                    outln!("{}:", dp.name);
                    if let Some([hit, missed, lost, _]) = dp.stats {
                        outln!("  lookups: hit:{hit} missed:{missed} lost:{lost}");
                    }
                    outln!("  flows: {flows}");
                    outln!("  capabilities: ct_timeout={ct_timeout}");
                    for p in ports {
                        let internal = if p.kind == 2 { " (internal)" } else { "" };
                        outln!("  port {}: {}{internal}", p.port_no, p.name);
                    }
                }
            }
            Ok(())
        }
    }
}

pub fn run_flow(store: &dyn ZoneStore, cmd: FlowCommand, format: Format) -> CmdResult {
    match cmd {
        FlowCommand::Add { datapath, flow, zones_from, no_xlate } => {
            let (m, a) = split_flow(&flow)?;
            let key = parse_match(m)?;
            let mut actions = parse_actions(a)?;
            if !no_xlate {
                fill_timeouts(&store.read()?, &zones_from, &key, &mut actions)?;
                check_timeouts(&mut CtTimeoutClient::open()?, &key, &actions)?;
            }
            let mut ovs = OvsClient::open()?;
            let dp = ovs.dp_get(&datapath)?;
            ovs.flow_new(&dp, &key, &actions)?;
            if format == Format::Json {
                print_json(&json!({"match": key.format(), "actions": Action::format_list(&actions)}));
            } else {
                outln!("{} actions:{}", key.format(), Action::format_list(&actions));
            }
            Ok(())
        }
        FlowCommand::Del { datapath, r#match } => {
            let key = r#match.as_deref().map(parse_match).transpose()?;
            let mut ovs = OvsClient::open()?;
            let dp = ovs.dp_get(&datapath)?;
            Ok(ovs.flow_del(&dp, key.as_ref())?)
        }
        FlowCommand::Dump { datapath } => {
            let mut ovs = OvsClient::open()?;
            let dp = ovs.dp_get(&datapath)?;
            let flows = ovs.flows(&dp)?;
            match format {
                Format::Json => print_json(&Value::Array(
                    flows
                        .iter()
                        .map(|f| {
                            json!({"match": f.key.format(), "actions": Action::format_list(&f.actions),
                                   "packets": f.packets, "bytes": f.bytes})
                        })
                        .collect(),
                )),
                Format::Text => {
                    for f in flows {
                        outln!(
                            "{}, packets:{}, bytes:{}, actions:{}",
                            f.key.format(),
                            f.packets,
                            f.bytes,
                            Action::format_list(&f.actions)
                        );
                    }
                }
            }
            Ok(())
        }
    }
}
