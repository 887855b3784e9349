//! The `zonetp` command.
//!
//! Exit status: 0 success, 1 an error (one line on stderr naming the object
//! and the cause), 2 a usage error (one line too). A closed standard output
//! changes neither the work nor the status: the output is dropped quietly.

mod backend;
mod docs_cmd;
mod dp_cmd;
mod failure;
mod netns;
mod output;
mod ovsdb_sync;
mod progress;
mod status_cmd;
mod sync_cmd;
mod timeout_cmd;
mod vswitchd;
mod watch_signals;
mod zone_cmd;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use backend::Backend;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

use failure::{usage, CmdResult};
use output::{errln, escape, Format};
use zonetp::ovsdb::Dialer;

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
/// Exit status: 0 on success, 1 when the command could not be carried out,
/// 2 when the command line is wrong (unknown command or option, missing
/// argument, a value that does not parse).
#[derive(Parser)]
#[command(name = "zonetp", version, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// The configuration: a JSON file, or an Open vSwitch database as
    /// ovs-vsctl's --db names it (unix:PATH, tcp:IP:PORT, or a comma-separated
    /// list of the members of a cluster) [env: ZONETP_DB; default:
    /// /var/lib/zonetp/conf.json]. Any other WORD: at the start (punix:,
    /// UNIX:) is refused as a mistyped remote; write such a file as ./WORD:...
    #[arg(long, global = true, value_name = "FILE|REMOTE")]
    db: Option<PathBuf>,

    /// Work on the kernel of network namespace NAME (/run/netns/NAME, as
    /// `ip -n`); the database is still reached from where zonetp started.
    #[arg(long, global = true, value_name = "NAME")]
    netns: Option<String>,

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
    /// Print a datapath record's capabilities (KEY=VALUE on one line, as
    /// ovs-vsctl does; sorted by key).
    ///
    /// `zonetp sync` records what it probed of openvswitch.ko (ct_zone,
    /// ct_timeout) when it drives the kernel; beside ovs-vswitchd, it is
    /// ovs-vswitchd's to write.
    #[command(after_help = "Examples:
  zonetp list-dp-cap system
  zonetp list-dp-cap system --format json")]
    ListDpCap(zone_cmd::ListDpCap),
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
    /// Set a conntrack zone limit: set-zone-limit DP ZONE|default LIMIT
    ///
    /// At most LIMIT connections in the zone (0: unlimited); `default`: the
    /// limit of every zone without one of its own. `zonetp sync` pushes
    /// limits into openvswitch.ko. On an OVS database whose schema is older
    /// than 8.5.0 (OVS 3.3) the zone limit verbs are refused, as that
    /// ovs-vsctl has none.
    #[command(after_help = "Examples:
  zonetp set-zone-limit system 5 100
  zonetp set-zone-limit system default 1000
  zonetp set-zone-limit system zone=7 limit=0")]
    SetZoneLimit(zone_cmd::SetZoneLimit),
    /// Remove a conntrack zone limit: del-zone-limit DP ZONE|default
    ///
    /// A zone that also has a timeout policy keeps it.
    #[command(after_help = "Examples:
  zonetp del-zone-limit system 5
  zonetp --if-exists del-zone-limit system default")]
    DelZoneLimit(zone_cmd::DelZoneLimit),
    /// List the conntrack zone limits of a datapath, as ovs-vsctl does.
    #[command(after_help = "Examples:
  zonetp list-zone-limits system
  zonetp list-zone-limits system --format json")]
    ListZoneLimits(zone_cmd::ListZoneLimits),
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
    ///
    /// Exit status: 0 when the report was made (in sync or not); 1 when it
    /// could not be made or, with --check, when the kernel is out of sync;
    /// 2 on a usage error.
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

/// ovs-vsctl's command options, which it takes before the command.
const MOVABLE: [&str; 2] = ["--may-exist", "--if-exists"];

/// ovs-vsctl puts options before the command (`--may-exist add-zone-tp`);
/// move them after it so clap sees them as the command's own.
pub(crate) fn ovs_vsctl_order(mut args: Vec<OsString>) -> Vec<OsString> {
    let movable = |a: &OsString| a.to_str().is_some_and(|a| MOVABLE.contains(&a));
    let commands = Cli::command();
    let is_command = |a: &OsString| commands.get_subcommands().any(|c| a.to_str() == Some(c.get_name()));
    let Some(cmd_at) = args.iter().position(is_command) else {
        return args;
    };
    let moved: Vec<OsString> = args[..cmd_at].iter().filter(|a| movable(a)).cloned().collect();
    if moved.is_empty() {
        return args;
    }
    let mut head: Vec<OsString> = args.drain(..cmd_at).filter(|a| !movable(a)).collect();
    let command = args.remove(0);
    head.push(command);
    head.extend(moved);
    head.extend(args);
    head
}

/// The verbs zonetp shares with ovs-vsctl, as ovs-vsctl 3.5's command
/// table has them: the fewest and most arguments after the command, and
/// the one of `--may-exist`/`--if-exists` it takes, if any.
const VSCTL_VERBS: [(&str, usize, Option<usize>, Option<&str>); 7] = [
    ("add-zone-tp", 3, None, Some("--may-exist")),
    ("del-zone-tp", 2, Some(2), Some("--if-exists")),
    ("list-zone-tp", 1, Some(1), None),
    ("set-zone-limit", 3, Some(3), None),
    ("del-zone-limit", 2, Some(2), Some("--if-exists")),
    ("list-zone-limits", 1, Some(1), None),
    ("list-dp-cap", 1, Some(1), None),
];

/// For a command line clap refused: ovs-vsctl's words when the command is
/// one of ovs-vsctl's verbs and what is wrong is an option that verb does
/// not take or the number of its arguments (`'set-zone-limit' command
/// requires at least 3 arguments`), checked in ovs-vsctl's order; `None`
/// for anything else (clap's words then). zonetp's own options are no
/// arguments, wherever they stand; an option zonetp does not know leaves
/// the words to clap.
pub(crate) fn vsctl_usage_words(args: &[OsString]) -> Option<String> {
    // zonetp's global options that take a value (`--db FILE`), from its
    // own definition: their values are no arguments either.
    let with_value: Vec<String> = Cli::command()
        .get_arguments()
        .filter(|a| a.is_global_set() && a.get_action().takes_values())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    let (mut verb, mut n, mut flags) = (None, 0usize, Vec::new());
    // A word after the command that starts with '-': ovs-vsctl counts it
    // as an argument and, when there are too many, adds a note about
    // where options go (zonetp takes its options anywhere).
    let mut dash_after_verb = false;
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        let word = word.to_str()?;
        dash_after_verb |= verb.is_some() && word.starts_with('-');
        let option = word.split_once('=').map_or(word, |(o, _)| o);
        if with_value.iter().any(|o| o == option) {
            if option == word {
                words.next(); // `--db FILE`; `--db=FILE` is one word
            }
        } else if MOVABLE.contains(&word) {
            flags.push(word);
        } else if word.starts_with("--") || (verb.is_none() && word.starts_with('-')) {
            return None;
        } else if verb.is_none() {
            verb = Some(word);
        } else {
            n += 1; // `-1` after the command is an argument (a zone, a limit)
        }
    }
    let (name, min, max, takes) = VSCTL_VERBS.iter().find(|v| Some(v.0) == verb)?;
    if let Some(flag) = flags.iter().find(|f| Some(**f) != *takes) {
        return Some(format!("'{name}' command has no '{flag}' option"));
    }
    if n < *min {
        return Some(format!("'{name}' command requires at least {min} arguments"));
    }
    match max {
        Some(max) if n > *max => {
            let note = if dash_after_verb {
                " (note that options must precede command names and follow a \"--\" argument)"
            } else {
                ""
            };
            Some(format!("'{name}' command takes at most {max} arguments{note}"))
        }
        _ => None,
    }
}

/// A clap error as one line: its first paragraph, without the "error: ".
fn clap_error_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with("tip:"))
        .collect();
    let line = first.join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_owned()
}

/// For a command line that stops short of a command (`zonetp`, `zonetp
/// timeout`): a short usage, as git and ripgrep give, rather than the
/// whole help (32 lines for `zonetp`) on a usage error.
fn short_usage(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let usage = text.lines().find_map(|l| l.trim().strip_prefix("Usage: ")).unwrap_or("zonetp <COMMAND>");
    let path: Vec<&str> = usage.split(' ').take_while(|w| !w.starts_with(['[', '<'])).collect();
    let path = path.join(" ");
    let first = match path.strip_prefix("zonetp ") {
        Some(sub) => format!("zonetp: {sub} needs a command"),
        None => "zonetp: a command is required".to_owned(),
    };
    format!("{first}\nUsage: {usage}\nRun '{path} --help' for the commands.")
}

/// `ZONETP_KERNEL_HZ`, when set, must be a tick rate a kernel can have.
fn check_environment() -> CmdResult {
    zonetp::cttimeout::object::hz_override().map(drop).map_err(usage)
}

/// Enters `--netns` (if given); returns how to reach a database server
/// from the caller's namespace.
fn enter_netns(cli: &Cli) -> CmdResult<Option<Dialer>> {
    match cli.netns.as_deref() {
        Some(name) => {
            netns::check_name(name).map_err(usage)?;
            Ok(Some(netns::enter(name)?))
        }
        None => Ok(None),
    }
}

fn run(cli: Cli) -> CmdResult {
    check_environment()?;
    let dialer = enter_netns(&cli)?;
    let format = cli.format;
    // Commands that never read the configuration: `--db`/`ZONETP_DB` is
    // not looked at (a stale `ZONETP_DB` must not break `timeout list`).
    let command = match cli.command {
        Command::Timeout(cmd) => return timeout_cmd::run(cmd, format),
        Command::Dp(cmd) => return dp_cmd::run_dp(cmd, format),
        Command::GenerateDocs(a) => return docs_cmd::run(Cli::command(), a),
        command => command,
    };
    let backend = Backend::open(cli.db.as_deref(), dialer)?;
    let store = backend.zones();
    match command {
        Command::AddDp(a) => zone_cmd::add_dp(store, a),
        Command::DelDp(a) => zone_cmd::del_dp(store, a),
        Command::SetDp(a) => zone_cmd::set_dp(store, a),
        Command::ListDp => zone_cmd::list_dp(store, format),
        Command::ListDpCap(a) => zone_cmd::list_dp_cap(store, a, format),
        Command::AddZoneTp(a) => zone_cmd::add_zone_tp(store, a),
        Command::DelZoneTp(a) => zone_cmd::del_zone_tp(store, a),
        Command::ListZoneTp(a) => zone_cmd::list_zone_tp(store, a, format),
        Command::SetZoneLimit(a) => zone_cmd::set_zone_limit(store, a),
        Command::DelZoneLimit(a) => zone_cmd::del_zone_limit(store, a),
        Command::ListZoneLimits(a) => zone_cmd::list_zone_limits(store, a, format),
        Command::Resolve(a) => zone_cmd::resolve(store, a, format),
        Command::Sync(a) => match &backend {
            Backend::File(s) => sync_cmd::run(s, a, format),
            Backend::Ovsdb(s) => ovsdb_sync::run(s, a, format),
        },
        Command::Status(a) => status_cmd::run(store, a, format),
        Command::DpFlow(cmd) => dp_cmd::run_flow(store, cmd, format),
        Command::Timeout(_) | Command::Dp(_) | Command::GenerateDocs(_) => unreachable!("run above"),
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(ovs_vsctl_order(args.clone())) {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print(); // a closed pipe is no error here
                return ExitCode::SUCCESS;
            }
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                errln!("{}", short_usage(&e));
                return ExitCode::from(2);
            }
            kind => {
                let ovs_words = match kind {
                    ErrorKind::MissingRequiredArgument | ErrorKind::UnknownArgument => {
                        vsctl_usage_words(&args)
                    }
                    _ => None,
                };
                errln!("zonetp: {}", escape(&ovs_words.unwrap_or_else(|| clap_error_line(&e))));
                return ExitCode::from(2);
            }
        },
    };
    match run(cli) {
        // Output lost to a write error (not a closed pipe) was reported
        // when it happened; the command did not do all it was asked.
        Ok(()) if output::output_failed() => ExitCode::from(1),
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("zonetp: {}", escape(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What zonetp says of LINE, which clap must refuse: ovs-vsctl's
    /// words, or `None` for clap's.
    fn words(line: &str) -> Option<String> {
        let args: Vec<OsString> =
            std::iter::once("zonetp").chain(line.split_whitespace()).map(OsString::from).collect();
        let e = Cli::try_parse_from(ovs_vsctl_order(args.clone())).err();
        assert!(e.is_some(), "clap takes {line}");
        vsctl_usage_words(&args)
    }

    /// The words of ovs-vsctl 3.5, as tests/distro/test-vsctl-diff.sh
    /// compares them (the exit status stays zonetp's 2).
    #[test]
    fn ovs_vsctl_s_verbs_are_refused_in_its_words_for_arguments_and_options() {
        let w = |line| words(line).unwrap_or_else(|| panic!("clap's words for {line}"));
        let at_least = |verb: &str, n: u8| format!("'{verb}' command requires at least {n} arguments");
        let at_most = |verb: &str, n: u8| format!("'{verb}' command takes at most {n} arguments");
        // ovs-vsctl's note when a word after the command starts with '-'.
        let noted = |verb: &str, n: u8| {
            at_most(verb, n) + " (note that options must precede command names and follow a \"--\" argument)"
        };
        assert_eq!(w("add-zone-tp"), at_least("add-zone-tp", 3));
        assert_eq!(w("add-zone-tp system"), at_least("add-zone-tp", 3));
        assert_eq!(w("add-zone-tp system zone=3"), at_least("add-zone-tp", 3));
        assert_eq!(w("--may-exist add-zone-tp system zone=3"), at_least("add-zone-tp", 3));
        assert_eq!(w("--db unix:/x del-zone-tp system"), at_least("del-zone-tp", 2));
        assert_eq!(w("del-zone-tp system zone=1 x --if-exists"), noted("del-zone-tp", 2));
        assert_eq!(w("list-zone-tp --format json"), at_least("list-zone-tp", 1));
        assert_eq!(w("list-zone-limits system netdev --format=json"), noted("list-zone-limits", 1));
        assert_eq!(w("list-dp-cap"), at_least("list-dp-cap", 1));
        assert_eq!(w("list-dp-cap a b"), at_most("list-dp-cap", 1));
        // A negative number after the command is an argument.
        assert_eq!(w("set-zone-limit system -1"), at_least("set-zone-limit", 3));
        assert_eq!(w("set-zone-limit system 5 1 -2"), noted("set-zone-limit", 3));
        assert_eq!(w("set-zone-limit system 5 1 2"), at_most("set-zone-limit", 3));
        assert_eq!(w("del-zone-limit system"), at_least("del-zone-limit", 2));
        // An option the verb does not take comes first, as in ovs-vsctl.
        assert_eq!(
            w("--if-exists set-zone-limit system"),
            "'set-zone-limit' command has no '--if-exists' option"
        );
        assert_eq!(
            w("--may-exist --if-exists add-zone-tp system zone=1 udp_single=1"),
            "'add-zone-tp' command has no '--if-exists' option"
        );
        assert_eq!(
            w("list-zone-tp system --may-exist"),
            "'list-zone-tp' command has no '--may-exist' option"
        );
        // Anything else keeps clap's words: an option zonetp does not know,
        // zonetp's own verbs.
        assert_eq!(words("list-zone-tp system --bogus"), None);
        assert_eq!(words("--bogus list-zone-tp system"), None);
        assert_eq!(words("add-dp"), None);
        assert_eq!(words("resolve system"), None);
    }
}
