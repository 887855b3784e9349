//! The `zonetp` command.
//!
//! Exit status: 0 success, 1 an error (one line on stderr naming the object
//! and the cause), 2 a usage error.

mod docs_cmd;
mod dp_cmd;
mod output;
mod progress;
mod status_cmd;
mod sync_cmd;
mod timeout_cmd;
mod zone_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use zonetp::store::Store;

use output::Format;

/// Zone-based conntrack timeout policies for Linux, compatible with Open vSwitch.
///
/// Zones of a datapath get timeout policies with ovs-vsctl's commands
/// (add-zone-tp, del-zone-tp, list-zone-tp); `zonetp sync` turns them into
/// the kernel's cttimeout objects, named as OVS names them
/// (ovs_tp_<id>_tcp4 ...), and `zonetp resolve` tells which object a
/// ct(commit,zone=N) action must carry: the zone's policy, else zone 0's,
/// else none (the kernel's defaults). `zonetp set-dp DP resolution=exact`
/// drops the zone-0 step, as OVS does.
///
/// `zonetp timeout ...` manages cttimeout objects directly, as `nfct timeout`
/// does. Run `zonetp help COMMAND` for each command's manual.
///
/// Exit status: 0 on success, 1 on an error, 2 on a usage error.
#[derive(Parser)]
#[command(name = "zonetp", version, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// The configuration file [env: ZONETP_DB; default: /var/lib/zonetp/conf.json].
    #[arg(long, global = true, value_name = "FILE")]
    db: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a datapath record (`system`: the kernel datapath).
    #[command(after_help = "Examples:
  zonetp add-dp system
  zonetp --may-exist add-dp system")]
    AddDp(zone_cmd::AddDp),
    /// Delete a datapath record with all its zones.
    #[command(after_help = "Examples:
  zonetp del-dp system
  zonetp --if-exists del-dp netdev")]
    DelDp(zone_cmd::DelDp),
    /// Change a datapath record's settings: set-dp DP resolution=exact|zone0-fallback
    #[command(after_help = "Examples:
  zonetp set-dp system resolution=exact
  zonetp set-dp system resolution=zone0-fallback")]
    SetDp(zone_cmd::SetDp),
    /// List datapath records.
    #[command(after_help = "Examples:
  zonetp list-dp
  zonetp list-dp --format json")]
    ListDp,
    /// Give a zone a timeout policy: add-zone-tp DP zone=N KEY=SECONDS...
    ///
    /// Identical policies share one policy id. The kernel is changed by `zonetp sync`.
    #[command(after_help = "Examples:
  zonetp add-zone-tp system zone=5 udp_single=10 icmp_first=5
  zonetp --may-exist add-zone-tp system zone=5 udp_single=1")]
    AddZoneTp(zone_cmd::AddZoneTp),
    /// Remove a zone's timeout policy: del-zone-tp DP zone=N
    #[command(after_help = "Examples:
  zonetp del-zone-tp system zone=5
  zonetp --if-exists del-zone-tp system zone=11")]
    DelZoneTp(zone_cmd::DelZoneTp),
    /// List the zones of a datapath with their policies, as ovs-vsctl does.
    #[command(after_help = "Examples:
  zonetp list-zone-tp system
  zonetp list-zone-tp system --format json")]
    ListZoneTp(zone_cmd::ListZoneTp),
    /// Print the kernel object a ct(commit,zone=N) action carries as its
    /// timeout: the zone's policy, else zone 0's (unless the datapath has
    /// resolution=exact), else `none`.
    #[command(after_help = "Examples:
  zonetp resolve system zone=5 --l3 ipv4 --l4 udp
  zonetp resolve system zone=7 --l3 ipv6 --l4 icmpv6 --format json")]
    Resolve(zone_cmd::Resolve),
    /// Push the zone configuration into the kernel (create, replace and
    /// delete only what differs).
    #[command(after_help = "Examples:
  zonetp sync --dry-run
  zonetp sync
  zonetp sync system --watch --interval 20")]
    Sync(sync_cmd::Sync),
    /// Show each zone's policy and its source, the kernel objects (sync
    /// state, use count) and the live conntrack entries per zone.
    Status(status_cmd::Status),
    /// Kernel cttimeout objects in this network namespace (like `nfct timeout`).
    #[command(subcommand)]
    Timeout(timeout_cmd::TimeoutCommand),
    /// OVS kernel datapaths (openvswitch.ko): add, del, show, ports.
    #[command(subcommand)]
    Dp(dp_cmd::DpCommand),
    /// Flows of an OVS kernel datapath, with zone policies translated into ct actions.
    #[command(subcommand)]
    DpFlow(dp_cmd::FlowCommand),
    /// Write the man pages and shell completions into DIR (for packaging).
    #[command(hide = true)]
    GenerateDocs(docs_cmd::GenerateDocs),
}

/// ovs-vsctl puts options before the command (`--may-exist add-zone-tp`);
/// move them after it so clap sees them as the command's own.
pub(crate) fn ovs_vsctl_order(mut args: Vec<String>) -> Vec<String> {
    const MOVABLE: [&str; 2] = ["--may-exist", "--if-exists"];
    let is_command = |a: &str| Cli::command().get_subcommands().any(|c| c.get_name() == a);
    let Some(cmd_at) = args.iter().position(|a| is_command(a)) else {
        return args;
    };
    let moved: Vec<String> =
        args[..cmd_at].iter().filter(|a| MOVABLE.contains(&a.as_str())).cloned().collect();
    if moved.is_empty() {
        return args;
    }
    let mut head: Vec<String> = args.drain(..cmd_at).filter(|a| !MOVABLE.contains(&a.as_str())).collect();
    let command = args.remove(0);
    head.push(command);
    head.extend(moved);
    head.extend(args);
    head
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(ovs_vsctl_order(std::env::args().collect()));
    let store = Store::locate(cli.db.as_deref());
    let format = cli.format;
    let result = match cli.command {
        Command::AddDp(a) => zone_cmd::add_dp(&store, a),
        Command::DelDp(a) => zone_cmd::del_dp(&store, a),
        Command::SetDp(a) => zone_cmd::set_dp(&store, a),
        Command::ListDp => zone_cmd::list_dp(&store, format),
        Command::AddZoneTp(a) => zone_cmd::add_zone_tp(&store, a),
        Command::DelZoneTp(a) => zone_cmd::del_zone_tp(&store, a),
        Command::ListZoneTp(a) => zone_cmd::list_zone_tp(&store, a, format),
        Command::Resolve(a) => zone_cmd::resolve(&store, a, format),
        Command::Sync(a) => sync_cmd::run(&store, a, format),
        Command::Status(a) => status_cmd::run(&store, a, format),
        Command::Timeout(cmd) => timeout_cmd::run(cmd, format),
        Command::Dp(cmd) => dp_cmd::run_dp(cmd, format),
        Command::DpFlow(cmd) => dp_cmd::run_flow(&store, cmd, format),
        Command::GenerateDocs(a) => docs_cmd::run(Cli::command(), a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zonetp: {e}");
            ExitCode::from(1)
        }
    }
}
