//! Translation (OVS's xlate step): a `ct(commit, zone=N)` action gets the
//! `OVS_CT_ATTR_TIMEOUT` of zone N's policy for the flow's L3/L4 (else zone
//! 0's, else none), and every timeout a flow names is checked against the
//! kernel before the flow is installed, because `openvswitch.ko` installs a
//! flow whose policy is missing or of another L3/L4 anyway, without any
//! timeout, and only logs it.

use crate::config::Config;
use crate::cttimeout::{CtTimeoutClient, L3Proto, L4Proto, ObjectName};
use crate::error::{Error, Result};
use crate::ovs::key::{ETH_P_IP, ETH_P_IPV6};
use crate::ovs::{Action, FlowKey};

/// The flow's exact L3/L4, if it matches both exactly.
pub fn flow_protocols(key: &FlowKey) -> Option<(L3Proto, L4Proto)> {
    let l3 = match key.eth_type()? {
        ETH_P_IP => L3Proto::IPV4,
        ETH_P_IPV6 => L3Proto::IPV6,
        _ => return None,
    };
    Some((l3, L4Proto(key.ip_proto()?)))
}

/// Fills the timeout of every committing ct action that has none, from the
/// zone configuration of datapath `dp`.
pub fn fill_timeouts(config: &Config, dp: &str, key: &FlowKey, actions: &mut [Action]) -> Result<()> {
    for action in actions.iter_mut() {
        let Action::Ct(ct) = action else { continue };
        if !(ct.commit || ct.force_commit) || ct.timeout.is_some() {
            continue;
        }
        // The record named is the zone configuration's, not the kernel
        // datapath the flow goes to (`ovs-system`): say so, and how out.
        let record = config.datapaths.get(dp).ok_or_else(|| {
            Error::Invalid(format!(
                "ct(commit,zone={}) takes its timeout policy from the zone configuration's datapath \
                 record {dp}, which the configuration does not have: create it (zonetp add-dp {dp}), \
                 name another with --zones-from, or install the actions as written with --no-xlate",
                ct.zone
            ))
        })?;
        // The datapath's resolution mode decides whether zone 0 fills in.
        if record.policy_for(ct.zone).1.is_none() {
            continue; // kernel defaults
        }
        let Some((l3, l4)) = flow_protocols(key) else {
            return Err(Error::Invalid(format!(
                "ct(commit,zone={}) in a zone with a timeout policy needs a flow that matches an exact \
                 eth_type (0x0800 or 0x86dd) and IP protocol, since the kernel applies a policy per L3/L4",
                ct.zone
            )));
        };
        // Protocols zone policies do not cover keep the kernel's defaults.
        if let Ok(r) = config.resolve(dp, ct.zone, l3, l4) {
            ct.timeout = r.object;
        }
    }
    Ok(())
}

/// Refuses a flow whose ct actions name a timeout object the kernel does
/// not have, or has for another L3/L4 than the flow's.
pub fn check_timeouts(client: &mut CtTimeoutClient, key: &FlowKey, actions: &[Action]) -> Result<()> {
    for action in actions {
        let Action::Ct(ct) = action else { continue };
        let Some(name) = &ct.timeout else { continue };
        let Some((l3, l4)) = flow_protocols(key) else {
            return Err(Error::Invalid(format!(
                "ct timeout={name} needs a flow that matches an exact eth_type and IP protocol; \
                 otherwise the kernel installs it without the policy"
            )));
        };
        let object = client.get(&ObjectName::new(name)?).map_err(|e| match e.errno() {
            Some(libc::ENOENT) => Error::Invalid(format!(
                "ct timeout={name}: no such timeout object in the kernel (run `zonetp sync` first?); \
                 the kernel would install the flow without the policy"
            )),
            _ => e,
        })?;
        if (object.l3, object.l4) != (l3, l4) {
            return Err(Error::Invalid(format!(
                "ct timeout={name} is a {} {} policy but the flow matches {l3} {l4}; \
                 the kernel would install the flow without the policy",
                object.l3, object.l4
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::TimeoutPolicy;

    fn config() -> Config {
        let mut c = Config::default();
        c.add_dp("system", false).unwrap();
        c.add_zone_tp("system", 5, TimeoutPolicy::parse(&["udp_single=1".into()]).unwrap(), false).unwrap();
        c
    }

    fn xlate(c: &Config, flow: &str, acts: &str) -> Result<String> {
        let key = FlowKey::parse(flow).unwrap();
        let mut a = Action::parse_list(acts).unwrap();
        fill_timeouts(c, "system", &key, &mut a)?;
        Ok(Action::format_list(&a))
    }

    #[test]
    fn committing_ct_gets_the_zone_policy() {
        let c = config();
        let udp = "eth_type(0x0800),ipv4(proto=17)";
        assert_eq!(
            xlate(&c, udp, "ct(commit,zone=5),2").unwrap(),
            "ct(commit,zone=5,timeout=ovs_tp_1_udp4),2"
        );
        assert_eq!(xlate(&c, udp, "ct(zone=5),2").unwrap(), "ct(zone=5),2", "no commit, no timeout");
        assert_eq!(xlate(&c, udp, "ct(commit,zone=6),2").unwrap(), "ct(commit,zone=6),2", "no policy");
        assert_eq!(
            xlate(&c, "eth_type(0x86dd),ipv6(proto=58)", "ct(commit,zone=5)").unwrap(),
            "ct(commit,zone=5,timeout=ovs_tp_1_icmpv6)"
        );
        assert_eq!(
            xlate(&c, "eth_type(0x0800),ipv4(proto=132)", "ct(commit,zone=5)").unwrap(),
            "ct(commit,zone=5)"
        );
        assert_eq!(
            xlate(&c, udp, "ct(commit,zone=5,timeout=mine)").unwrap(),
            "ct(commit,zone=5,timeout=mine)",
            "an explicit timeout is kept"
        );
        assert!(xlate(&c, "eth_type(0x0800)", "ct(commit,zone=5)")
            .unwrap_err()
            .to_string()
            .contains("exact"));
    }

    #[test]
    fn zone_zero_applies_to_other_zones() {
        let mut c = config();
        c.add_zone_tp("system", 0, TimeoutPolicy::parse(&["udp_single=3".into()]).unwrap(), false).unwrap();
        let udp = "eth_type(0x0800),ipv4(proto=17)";
        assert_eq!(xlate(&c, udp, "ct(commit,zone=9)").unwrap(), "ct(commit,zone=9,timeout=ovs_tp_2_udp4)");
        assert_eq!(xlate(&c, udp, "ct(commit)").unwrap(), "ct(commit,timeout=ovs_tp_2_udp4)");
    }

    #[test]
    fn exact_resolution_leaves_other_zones_to_the_kernel_defaults() {
        let mut c = config();
        c.add_zone_tp("system", 0, TimeoutPolicy::parse(&["udp_single=3".into()]).unwrap(), false).unwrap();
        c.set_dp("system", &["resolution=exact".into()]).unwrap();
        let udp = "eth_type(0x0800),ipv4(proto=17)";
        assert_eq!(xlate(&c, udp, "ct(commit,zone=9)").unwrap(), "ct(commit,zone=9)");
        // No exact L3/L4 is needed where no policy applies.
        assert_eq!(xlate(&c, "eth_type(0x0800)", "ct(commit,zone=9)").unwrap(), "ct(commit,zone=9)");
        assert_eq!(xlate(&c, udp, "ct(commit)").unwrap(), "ct(commit,timeout=ovs_tp_2_udp4)");
        assert_eq!(xlate(&c, udp, "ct(commit,zone=5)").unwrap(), "ct(commit,zone=5,timeout=ovs_tp_1_udp4)");
    }
}
