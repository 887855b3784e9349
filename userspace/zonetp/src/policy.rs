//! Zone timeout policies in OVS's vocabulary (`CT_Timeout_Policy.timeouts`
//! keys of `vswitch.ovsschema`) and how one policy becomes the six kernel
//! objects OVS's kernel datapath creates (`lib/dpif-netlink.c`).

use std::collections::BTreeMap;

use crate::cttimeout::{CtTimeoutObject, L3Proto, L4Proto, ObjectName, Timeouts};
use crate::error::{Error, Result};

/// Where an OVS key lands in the kernel: (L4 tracker, attribute type).
/// Keys with no kernel attribute map to nothing.
pub struct TimeoutKey {
    pub name: &'static str,
    kernel: &'static [(L4Proto, u16)],
}

/// The 16 keys in `ct-dpif.h` order.
pub const TIMEOUT_KEYS: &[TimeoutKey] = &[
    TimeoutKey { name: "tcp_syn_sent", kernel: &[(L4Proto::TCP, 1)] },
    TimeoutKey { name: "tcp_syn_recv", kernel: &[(L4Proto::TCP, 2)] },
    TimeoutKey { name: "tcp_established", kernel: &[(L4Proto::TCP, 3)] },
    TimeoutKey { name: "tcp_fin_wait", kernel: &[(L4Proto::TCP, 4)] },
    TimeoutKey { name: "tcp_close_wait", kernel: &[(L4Proto::TCP, 5)] },
    TimeoutKey { name: "tcp_last_ack", kernel: &[(L4Proto::TCP, 6)] },
    TimeoutKey { name: "tcp_time_wait", kernel: &[(L4Proto::TCP, 7)] },
    TimeoutKey { name: "tcp_close", kernel: &[(L4Proto::TCP, 8)] },
    TimeoutKey { name: "tcp_syn_sent2", kernel: &[(L4Proto::TCP, 9)] },
    TimeoutKey { name: "tcp_retransmit", kernel: &[(L4Proto::TCP, 10)] },
    TimeoutKey { name: "tcp_unack", kernel: &[(L4Proto::TCP, 11)] },
    TimeoutKey { name: "udp_first", kernel: &[] },
    TimeoutKey { name: "udp_single", kernel: &[(L4Proto::UDP, 1)] },
    TimeoutKey { name: "udp_multiple", kernel: &[(L4Proto::UDP, 2)] },
    TimeoutKey { name: "icmp_first", kernel: &[(L4Proto::ICMP, 1), (L4Proto::ICMPV6, 1)] },
    TimeoutKey { name: "icmp_reply", kernel: &[] },
];

pub fn timeout_key(name: &str) -> Option<&'static TimeoutKey> {
    TIMEOUT_KEYS.iter().find(|k| k.name == name)
}

/// The six (L3, L4) pairs of one policy, in the order OVS creates them,
/// with the name suffix OVS gives each.
pub const KERNEL_PROTOCOLS: [(L3Proto, L4Proto, &str); 6] = [
    (L3Proto::IPV4, L4Proto::TCP, "tcp4"),
    (L3Proto::IPV4, L4Proto::UDP, "udp4"),
    (L3Proto::IPV4, L4Proto::ICMP, "icmp4"),
    (L3Proto::IPV6, L4Proto::TCP, "tcp6"),
    (L3Proto::IPV6, L4Proto::UDP, "udp6"),
    (L3Proto::IPV6, L4Proto::ICMPV6, "icmpv6"),
];

/// The prefix of every kernel object made from a zone policy.
pub const OBJECT_PREFIX: &str = "ovs_tp_";

/// Largest policy id: OVS allocates ids in 1..=2^32-2.
pub const MAX_POLICY_ID: u32 = u32::MAX - 1;

/// True for an id a policy can have, 1..=MAX_POLICY_ID. Every reader of
/// ids (the file, the database's rows, the kernel's object names) goes
/// by this: 0 and 2^32-1 are no policy's.
pub fn is_policy_id(id: u32) -> bool {
    (1..=MAX_POLICY_ID).contains(&id)
}

/// The words for a value that is no policy id, after the value.
pub const NOT_A_POLICY_ID: &str = "is not a policy id (1 to 4294967294)";

/// The kernel object name OVS uses for policy `id` and an L3/L4 pair, or
/// `None` for a pair zone policies do not cover.
pub fn object_name(id: u32, l3: L3Proto, l4: L4Proto) -> Option<String> {
    KERNEL_PROTOCOLS
        .iter()
        .find(|(a, b, _)| *a == l3 && *b == l4)
        .map(|(_, _, suffix)| format!("{OBJECT_PREFIX}{id}_{suffix}"))
}

/// Reads the policy id back out of an `ovs_tp_<id>_<proto>` name.
pub fn policy_id_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(OBJECT_PREFIX)?;
    let (id, suffix) = rest.split_once('_')?;
    if !KERNEL_PROTOCOLS.iter().any(|(_, _, s)| *s == suffix) || id.is_empty() || id.starts_with('+') {
        return None;
    }
    id.parse().ok()
}

/// A set of timeouts by OVS key, e.g. `udp_single=30`. Keys print sorted,
/// as OVSDB keeps a map's keys.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct TimeoutPolicy(pub BTreeMap<String, u32>);

impl TimeoutPolicy {
    /// Parses `key=value` words as `add-zone-tp` takes them.
    pub fn parse(words: &[String]) -> Result<Self> {
        if words.is_empty() {
            return Err(Error::Invalid("No timeout policy".into()));
        }
        let mut map = BTreeMap::new();
        for word in words {
            let (key, value) = word.split_once('=').ok_or_else(|| {
                Error::Invalid(format!("invalid timeout policy argument, {word} (expected KEY=SECONDS)"))
            })?;
            check_key(key)?;
            let seconds = parse_seconds(value).ok_or_else(|| {
                // Only a whole number outside the range gets ovs-vsctl's
                // range message; `5.0`, `+5`, `0x5` are no number zonetp
                // takes, whatever their value.
                let digits = value.strip_prefix('-').unwrap_or(value);
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    Error::Invalid(format!(
                        "{key}={value}: {value} is not in the valid range 0 to 4294967295 (inclusive)"
                    ))
                } else {
                    Error::Invalid(format!(
                        "{key}={value}: \"{value}\" is not a number of seconds (decimal digits only, \
                         0 to 4294967295)"
                    ))
                }
            })?;
            if map.insert(key.to_owned(), seconds).is_some() {
                return Err(Error::Invalid(format!("{key} is given twice")));
            }
        }
        Ok(Self(map))
    }

    /// Refuses values the kernel would wrap: it stores `seconds * HZ` in 32
    /// bits, so at most `max_seconds` fit. Keys with no kernel attribute
    /// are not checked.
    pub fn check_kernel_range(&self, max_seconds: u32) -> Result<()> {
        for (key, secs) in &self.0 {
            let in_kernel = timeout_key(key).is_some_and(|k| !k.kernel.is_empty());
            if in_kernel && *secs > max_seconds {
                return Err(Error::Invalid(format!(
                    "{key}={secs} is too large for the kernel datapath: the kernel stores seconds*HZ \
                     in 32 bits, so at most {max_seconds} seconds fit ({})",
                    crate::cttimeout::object::hz_words(max_seconds)
                )));
            }
        }
        Ok(())
    }

    /// Checks a policy read from a file.
    pub fn validate(&self) -> Result<()> {
        for key in self.0.keys() {
            check_key(key)?;
        }
        Ok(())
    }

    /// Keys set here that the kernel datapath has no attribute for.
    pub fn userspace_only_keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter(|k| timeout_key(k).is_some_and(|t| t.kernel.is_empty()))
            .map(String::as_str)
            .collect()
    }

    /// The kernel attributes for one L4 tracker: only the keys that are set.
    pub fn kernel_timeouts(&self, l4: L4Proto) -> Timeouts {
        let mut t = Timeouts::new();
        for (key, secs) in &self.0 {
            if let Some(k) = timeout_key(key) {
                for (proto, attr) in k.kernel {
                    if *proto == l4 {
                        t.insert(*attr, *secs);
                    }
                }
            }
        }
        t
    }

    /// The six kernel objects for policy `id`, in OVS's order.
    pub fn kernel_objects(&self, id: u32) -> Vec<CtTimeoutObject> {
        KERNEL_PROTOCOLS
            .iter()
            .map(|(l3, l4, _)| CtTimeoutObject {
                name: ObjectName::new(&object_name(id, *l3, *l4).expect("listed pair"))
                    .expect("fits 31 bytes"),
                l3: *l3,
                l4: *l4,
                timeouts: self.kernel_timeouts(*l4),
                use_count: None,
                other: Vec::new(),
            })
            .collect()
    }

    /// `key=value key=value`, keys sorted.
    pub fn to_words(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }
}

/// A whole number of seconds: decimal digits only (no sign, no spaces).
fn parse_seconds(value: &str) -> Option<u32> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn check_key(key: &str) -> Result<()> {
    if timeout_key(key).is_none() {
        let names: Vec<_> = TIMEOUT_KEYS.iter().map(|k| k.name).collect();
        // An empty key (`=5`) is shown as one, not as nothing.
        let shown = if key.is_empty() { "\"\"" } else { key };
        return Err(Error::Invalid(format!(
            "{shown} is not a valid timeout policy key (expected one of {})",
            names.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(words: &[&str]) -> TimeoutPolicy {
        TimeoutPolicy::parse(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn names_follow_ovs() {
        assert_eq!(object_name(1, L3Proto::IPV4, L4Proto::UDP).unwrap(), "ovs_tp_1_udp4");
        assert_eq!(object_name(7, L3Proto::IPV6, L4Proto::ICMPV6).unwrap(), "ovs_tp_7_icmpv6");
        assert_eq!(
            object_name(MAX_POLICY_ID, L3Proto::IPV6, L4Proto::TCP).unwrap(),
            "ovs_tp_4294967294_tcp6"
        );
        assert_eq!(object_name(1, L3Proto::IPV4, L4Proto::ICMPV6), None);
        assert_eq!(policy_id_of("ovs_tp_12_tcp6"), Some(12));
        assert_eq!(policy_id_of("ovs_tp_12_sctp4"), None);
        assert_eq!(policy_id_of("ovs_tp__tcp4"), None);
        assert_eq!(policy_id_of("web"), None);
        assert!(
            !is_policy_id(0) && is_policy_id(1) && is_policy_id(MAX_POLICY_ID) && !is_policy_id(u32::MAX)
        );
        assert!(NOT_A_POLICY_ID.ends_with(&format!("1 to {MAX_POLICY_ID})")));
    }

    #[test]
    fn keys_map_to_kernel_attributes() {
        let p =
            policy(&["tcp_retransmit=5", "tcp_unack=6", "udp_single=1", "udp_multiple=2", "icmp_first=3"]);
        assert_eq!(p.kernel_timeouts(L4Proto::TCP), Timeouts::from([(10, 5), (11, 6)]));
        assert_eq!(p.kernel_timeouts(L4Proto::UDP), Timeouts::from([(1, 1), (2, 2)]));
        assert_eq!(p.kernel_timeouts(L4Proto::ICMP), Timeouts::from([(1, 3)]));
        assert_eq!(p.kernel_timeouts(L4Proto::ICMPV6), Timeouts::from([(1, 3)]));
        let objs = p.kernel_objects(3);
        let names: Vec<_> = objs.iter().map(|o| o.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "ovs_tp_3_tcp4",
                "ovs_tp_3_udp4",
                "ovs_tp_3_icmp4",
                "ovs_tp_3_tcp6",
                "ovs_tp_3_udp6",
                "ovs_tp_3_icmpv6"
            ]
        );
    }

    #[test]
    fn userspace_only_keys_are_reported() {
        let p = policy(&["udp_first=1", "icmp_reply=2", "udp_single=3"]);
        assert_eq!(p.userspace_only_keys(), vec!["icmp_reply", "udp_first"]);
        assert!(p.kernel_timeouts(L4Proto::ICMP).is_empty());
    }

    #[test]
    fn bad_words_are_refused() {
        let e = |w: &[&str]| {
            TimeoutPolicy::parse(&w.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(e(&[]), "No timeout policy");
        assert!(e(&["tcp_bogus=1"]).contains("tcp_bogus is not a valid timeout policy key"));
        assert!(
            e(&["=5"]).starts_with("\"\" is not a valid timeout policy key (expected one of tcp_syn_sent,")
        );
        assert!(e(&["udp_first=-1"]).contains("not in the valid range 0 to 4294967295"));
        assert!(e(&["udp_first=4294967296"]).contains("not in the valid range"));
        assert!(e(&["udp_first"]).contains("invalid timeout policy argument, udp_first"));
        assert_eq!(policy(&["udp_first=4294967295"]).to_words(), "udp_first=4294967295");
        for bad in
            ["udp_first=+5", "udp_first= 5", "udp_first=", "udp_first=0x10", "udp_first=5s", "udp_first=5.0"]
        {
            assert!(e(&[bad]).contains("is not a number of seconds (decimal digits only"), "{bad}");
        }
        assert_eq!(e(&["udp_single=1", "udp_single=2"]), "udp_single is given twice");
        assert_eq!(policy(&["udp_first=007"]).to_words(), "udp_first=7");
    }

    #[test]
    fn kernel_range_names_the_key() {
        let p = policy(&["tcp_established=4294968", "udp_first=4294967295"]);
        let e = p.check_kernel_range(u32::MAX / 1000).unwrap_err().to_string();
        assert!(e.starts_with("tcp_established=4294968 is too large") && e.contains("HZ=1000"), "{e}");
        assert!(policy(&["tcp_established=4294967", "udp_first=4294967295"])
            .check_kernel_range(u32::MAX / 1000)
            .is_ok());
    }
}
