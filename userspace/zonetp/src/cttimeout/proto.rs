//! The kernel's vocabulary: L3 families, L4 trackers and, per tracker, its
//! timeout states in `CTA_TIMEOUT_<PROTO>_*` attribute order (attribute
//! type = index + 1), as `include/uapi/linux/netfilter/nfnetlink_cttimeout.h`
//! and `nfct` name them.

use std::fmt;

/// An L3 protocol number as the kernel stores it (`AF_INET`, `AF_INET6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct L3Proto(pub u16);

impl L3Proto {
    pub const IPV4: L3Proto = L3Proto(libc::AF_INET as u16);
    pub const IPV6: L3Proto = L3Proto(libc::AF_INET6 as u16);

    /// `ipv4`/`inet`/`ip`, `ipv6`/`inet6`/`ip6`, or a number.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "ipv4" | "inet" | "ip" | "ip4" => Ok(Self::IPV4),
            "ipv6" | "inet6" | "ip6" => Ok(Self::IPV6),
            other => other
                .parse::<u16>()
                .map(L3Proto)
                .map_err(|_| format!("unknown L3 protocol \"{s}\" (expected ipv4 or ipv6)")),
        }
    }

    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::IPV4 => Some("ipv4"),
            Self::IPV6 => Some("ipv6"),
            _ => None,
        }
    }
}

impl fmt::Display for L3Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

/// One L4 tracker: its protocol number, name and timeout states.
pub struct L4Tracker {
    pub number: u8,
    pub name: &'static str,
    /// State names; the attribute type of `states[i]` is `i + 1`.
    pub states: &'static [&'static str],
}

const GENERIC_STATES: &[&str] = &["timeout"];

/// Every tracker the kernel's cttimeout knows (6.12). SCTP's ninth
/// attribute (HEARTBEAT_ACKED) is left out: the kernel no longer reads it.
pub const L4_TRACKERS: &[L4Tracker] = &[
    L4Tracker {
        number: 6,
        name: "tcp",
        states: &[
            "syn_sent",
            "syn_recv",
            "established",
            "fin_wait",
            "close_wait",
            "last_ack",
            "time_wait",
            "close",
            "syn_sent2",
            "retrans",
            "unack",
        ],
    },
    L4Tracker { number: 17, name: "udp", states: &["unreplied", "replied"] },
    L4Tracker { number: 1, name: "icmp", states: &["timeout"] },
    L4Tracker { number: 58, name: "icmpv6", states: &["timeout"] },
    L4Tracker { number: 136, name: "udplite", states: &["unreplied", "replied"] },
    L4Tracker { number: 47, name: "gre", states: &["unreplied", "replied"] },
    L4Tracker {
        number: 132,
        name: "sctp",
        states: &[
            "closed",
            "cookie_wait",
            "cookie_echoed",
            "established",
            "shutdown_sent",
            "shutdown_recd",
            "shutdown_ack_sent",
            "heartbeat_sent",
        ],
    },
    L4Tracker {
        number: 33,
        name: "dccp",
        states: &["request", "respond", "partopen", "open", "closereq", "closing", "timewait"],
    },
    L4Tracker { number: 255, name: "generic", states: GENERIC_STATES },
];

/// Other spellings accepted on input (nfct prints `UNACKNOWLEDGED`).
const STATE_ALIASES: &[(&str, &str)] = &[("unacknowledged", "unack"), ("retransmit", "retrans")];

/// An L4 protocol number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct L4Proto(pub u8);

impl L4Proto {
    pub const ICMP: L4Proto = L4Proto(1);
    pub const TCP: L4Proto = L4Proto(6);
    pub const UDP: L4Proto = L4Proto(17);
    pub const ICMPV6: L4Proto = L4Proto(58);

    /// A tracker name (`tcp`, `udp`, ...) or a number.
    pub fn parse(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(t) =
            L4_TRACKERS.iter().find(|t| t.name == lower || (lower == "ipv6-icmp" && t.number == 58))
        {
            return Ok(L4Proto(t.number));
        }
        lower.parse::<u8>().map(L4Proto).map_err(|_| {
            let names: Vec<_> = L4_TRACKERS.iter().map(|t| t.name).collect();
            format!("unknown L4 protocol \"{s}\" (expected one of {} or a number)", names.join(", "))
        })
    }

    pub fn tracker(self) -> Option<&'static L4Tracker> {
        L4_TRACKERS.iter().find(|t| t.number == self.0)
    }

    /// The states of this protocol's tracker. A protocol the kernel does
    /// not track is handled by the generic tracker's single state, so a
    /// request for it can still be sent (and the kernel answers EOPNOTSUPP).
    pub fn states(self) -> &'static [&'static str] {
        self.tracker().map(|t| t.states).unwrap_or(GENERIC_STATES)
    }

    /// The attribute type of a state name, case-insensitive.
    pub fn state_attr(self, state: &str) -> Result<u16, String> {
        let lower = state.to_ascii_lowercase();
        let canonical = STATE_ALIASES.iter().find(|(a, _)| *a == lower).map(|(_, c)| *c).unwrap_or(&lower);
        self.states().iter().position(|s| *s == canonical).map(|i| i as u16 + 1).ok_or_else(|| {
            format!("unknown {} state \"{state}\" (expected one of {})", self, self.states().join(", "))
        })
    }

    /// The state name of an attribute type, if the tracker has one.
    pub fn state_name(self, attr: u16) -> Option<&'static str> {
        self.states().get((attr as usize).checked_sub(1)?).copied()
    }
}

impl fmt::Display for L4Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tracker() {
            Some(t) => f.write_str(t.name),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_states_follow_the_uapi_enum() {
        let tcp = L4Proto::TCP;
        assert_eq!(tcp.state_attr("syn_sent").unwrap(), 1);
        assert_eq!(tcp.state_attr("RETRANS").unwrap(), 10);
        assert_eq!(tcp.state_attr("unacknowledged").unwrap(), 11);
        assert_eq!(tcp.state_name(3), Some("established"));
        assert_eq!(tcp.state_name(12), None);
        assert_eq!(tcp.state_name(0), None);
    }

    #[test]
    fn protocols_parse_by_name_and_number() {
        assert_eq!(L3Proto::parse("inet6").unwrap(), L3Proto::IPV6);
        assert_eq!(L3Proto::parse("IPv4").unwrap(), L3Proto::IPV4);
        assert!(L3Proto::parse("ipx").unwrap_err().contains("ipx"));
        assert_eq!(L4Proto::parse("udp").unwrap(), L4Proto::UDP);
        assert_eq!(L4Proto::parse("132").unwrap().to_string(), "sctp");
        assert_eq!(L4Proto::parse("253").unwrap().states(), &["timeout"]);
        assert!(L4Proto::parse("quic").unwrap_err().contains("tcp, udp"));
        assert!(L4Proto::UDP.state_attr("established").unwrap_err().contains("unreplied, replied"));
    }
}
