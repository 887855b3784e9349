//! `zonetp timeout ...`: the kernel's cttimeout objects, nfct's job.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use zonetp::cttimeout::object::{format_timeouts, parse_timeouts};
use zonetp::cttimeout::{CtTimeoutClient, CtTimeoutObject, L3Proto, L4Proto, ObjectName};
use zonetp::error::Op;
use zonetp::Error;

use crate::failure::{usage, CmdResult};
use crate::output::{
    l3_json, l4_json, object_json, object_text, outln, print_json, shown_timeouts, timeouts_json, Format,
};

#[derive(Subcommand)]
pub enum TimeoutCommand {
    /// Create a timeout object; fails if the name exists.
    ///
    /// States not given take the kernel's current defaults for the protocol.
    #[command(after_help = "Examples:
  zonetp timeout add web --l3 ipv4 --l4 udp unreplied=10 replied=20
  zonetp timeout add ssh --l3 ipv6 --l4 tcp established=600")]
    Add(ObjectArgs),
    /// Change an existing object's timeouts in place (same L3/L4 only); an
    /// object that does not exist is an error (ENOENT).
    ///
    /// Connections already using the object see the new values. States not
    /// given are reset to the kernel's current defaults.
    #[command(after_help = "Examples:
  zonetp timeout replace web --l3 ipv4 --l4 udp replied=99")]
    Replace(ObjectArgs),
    /// Show one object, with its use count (references from connections,
    /// rules and flows).
    #[command(after_help = "Examples:
  zonetp timeout get web
  zonetp timeout get ovs_tp_1_udp4 --format json")]
    Get {
        /// Object name (up to 31 bytes; "" for an object another tool made
        /// with an empty name).
        name: OsString,
    },
    /// Show every object in this network namespace.
    #[command(after_help = "Examples:
  zonetp timeout list
  zonetp timeout list --format json")]
    List,
    /// Delete an object, or with --all every object the kernel lets go.
    #[command(after_help = "Examples:
  zonetp timeout delete web
  zonetp timeout delete --all")]
    Delete {
        /// Object name (up to 31 bytes; "" for an object another tool made
        /// with an empty name).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<OsString>,
        /// Delete all objects (a DELETE request without a name).
        #[arg(long)]
        all: bool,
    },
    /// The kernel's per-namespace default timeouts of an L3/L4 pair.
    #[command(subcommand)]
    Defaults(DefaultsCommand),
}

#[derive(Subcommand)]
pub enum DefaultsCommand {
    /// Show the defaults.
    #[command(after_help = "Examples:
  zonetp timeout defaults get --l3 ipv6 --l4 tcp")]
    Get(ProtoArgs),
    /// Change the defaults: STATE=SECONDS...
    #[command(after_help = "Examples:
  zonetp timeout defaults set --l3 ipv4 --l4 udp unreplied=44")]
    Set {
        #[command(flatten)]
        protos: ProtoArgs,
        /// STATE=SECONDS pairs, e.g. unreplied=30.
        #[arg(required = true, value_name = "STATE=SECONDS")]
        timeouts: Vec<String>,
    },
}

#[derive(Args)]
pub struct ProtoArgs {
    /// L3 protocol: ipv4 (inet) or ipv6 (inet6).
    #[arg(long, value_name = "L3", value_parser = L3Proto::parse)]
    l3: L3Proto,
    /// L4 protocol: tcp, udp, icmp, icmpv6, udplite, gre, sctp, dccp, generic, or a number.
    #[arg(long, value_name = "L4", value_parser = L4Proto::parse)]
    l4: L4Proto,
}

impl ProtoArgs {
    fn parse(&self) -> CmdResult<(L3Proto, L4Proto)> {
        Ok((self.l3, self.l4))
    }
}

/// Names are bytes to the kernel, so any argument is taken as it is
/// (`timeout delete "$(printf 'bad\377')"` reaches an object `nfct` made).
fn object_name(name: &OsStr) -> CmdResult<ObjectName> {
    ObjectName::from_bytes(name.as_bytes()).map_err(usage)
}

/// The name of an object to get or delete: also the empty name, which
/// zonetp never gives an object but other tools do (`timeout delete ""`).
fn existing_name(name: &OsStr) -> CmdResult<ObjectName> {
    ObjectName::existing(name.as_bytes()).map_err(usage)
}

#[derive(Args)]
pub struct ObjectArgs {
    /// Object name (1..31 bytes).
    name: OsString,
    #[command(flatten)]
    protos: ProtoArgs,
    /// STATE=SECONDS pairs. TCP: syn_sent syn_recv established fin_wait
    /// close_wait last_ack time_wait close syn_sent2 retrans unack; UDP,
    /// UDP-Lite, GRE: unreplied replied; ICMP, ICMPv6, generic: timeout;
    /// SCTP and DCCP: their conntrack states.
    #[arg(value_name = "STATE=SECONDS")]
    timeouts: Vec<String>,
}

impl ObjectArgs {
    fn object(&self) -> CmdResult<CtTimeoutObject> {
        let (l3, l4) = self.protos.parse()?;
        let timeouts = parse_timeouts(l4, &self.timeouts).map_err(usage)?;
        let name = object_name(&self.name)?;
        Ok(CtTimeoutObject { name, l3, l4, timeouts, use_count: None, other: Vec::new() })
    }
}

pub fn run(cmd: TimeoutCommand, format: Format) -> CmdResult {
    match cmd {
        TimeoutCommand::Add(args) => {
            let object = args.object()?;
            Ok(CtTimeoutClient::open()?.create(&object)?)
        }
        TimeoutCommand::Replace(args) => {
            let object = args.object()?;
            let mut client = CtTimeoutClient::open()?;
            // The kernel creates a missing object even for a replace
            // (NLM_F_REPLACE without the name existing): ask first.
            match client.get(&object.name) {
                Err(e) if e.errno() == Some(libc::ENOENT) => {
                    return Err(Error::Kernel {
                        op: Op::Replace,
                        what: format!("timeout \"{}\" ({} {})", object.name, object.l3, object.l4),
                        errno: libc::ENOENT,
                        text: None,
                    }
                    .into())
                }
                other => drop(other?),
            }
            Ok(client.replace(&object)?)
        }
        TimeoutCommand::Get { name } => {
            let name = existing_name(&name)?;
            let object = CtTimeoutClient::open()?.get(&name)?;
            match format {
                Format::Json => print_json(&object_json(&object)),
                Format::Text => outln!("{}", object_text(&object)),
            }
            Ok(())
        }
        TimeoutCommand::List => {
            let mut objects = CtTimeoutClient::open()?.list()?;
            objects.sort_by(|a, b| a.name.cmp(&b.name));
            match format {
                Format::Json => print_json(&Value::Array(objects.iter().map(object_json).collect())),
                Format::Text => objects.iter().for_each(|o| outln!("{}", object_text(o))),
            }
            Ok(())
        }
        TimeoutCommand::Delete { name, all } => {
            let name = name.as_deref().map(existing_name).transpose()?;
            let mut client = CtTimeoutClient::open()?;
            match (name, all) {
                (Some(name), false) => Ok(client.delete(&name)?),
                _ => Ok(client.delete_all()?),
            }
        }
        TimeoutCommand::Defaults(DefaultsCommand::Get(protos)) => {
            let (l3, l4) = protos.parse()?;
            let timeouts = CtTimeoutClient::open()?.default_get(l3, l4)?;
            match format {
                Format::Json => print_json(&json!({
                    "l3": l3_json(l3), "l4": l4_json(l4), "timeouts": timeouts_json(l4, &timeouts),
                })),
                Format::Text => {
                    let mut words = vec![l3.to_string(), l4.to_string()];
                    words.extend(format_timeouts(l4, &shown_timeouts(l4, &timeouts)));
                    outln!("{}", words.join(" "));
                }
            }
            Ok(())
        }
        TimeoutCommand::Defaults(DefaultsCommand::Set { protos, timeouts }) => {
            let (l3, l4) = protos.parse()?;
            let timeouts = parse_timeouts(l4, &timeouts).map_err(usage)?;
            Ok(CtTimeoutClient::open()?.default_set(l3, l4, &timeouts)?)
        }
    }
}
