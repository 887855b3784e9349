#!/bin/bash
# Usage: tests/vm/run-vm "$(scripts/build-kernel --print-dir)" tests/vm/test-provider-users.sh ZONETP_KO ZONETP_BIN
#
# zonetp.ko as the cttimeout provider of its real users: an iptables CT
# rule (--timeout, in a network namespace of its own) and an openvswitch
# datapath flow with ct(commit,zone=5,timeout=NAME) resolve the policy
# through zonetp's nf_ct_timeout_hook; real connections start with the
# policy's timeout (conntrack entries / [NEW] events) and expire on it.
# Deleting a policy in use succeeds (Linux 6.12); rmmod is refused while a
# rule or a flow holds a deleted policy, each check with every other
# object, rule, flow and connection gone first, so that only the holder
# under test can be what refuses it (it would pass no more if find_get
# took no module reference); destroying a namespace with live references
# releases them, and rmmod then succeeds; the checkers' verdict ends it.
# shellcheck disable=SC2016
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
ko=$1 Z=$2
export ZONETP_DB=/tmp/zonetp-users/conf.json
mkdir -p /tmp/zonetp-users
mark="zonetp-test-provider-users-$$"
echo "$mark" >/dev/kmsg
DP=ovs-system
use_of() { "$Z" timeout get "$1" | grep -o 'use=[0-9]*' | cut -d= -f2; }
expect_use() { local u; u=$(use_of "$1"); echo "$1 use=$u"; [[ $u == "$2" ]]; }
# eventually SECONDS CMD...: CMD succeeds within SECONDS. References held by
# a deleted flow or a dying namespace are dropped after an RCU grace period
# or from a workqueue, not by the time the deleting command returns.
eventually() { local end=$((SECONDS + $1)); shift; until "$@"; do ((SECONDS < end)) || return 1; sleep 0.5; done; }
# Conntrack entries hold a reference on their policy until they are freed,
# and an expired entry is freed only when the GC worker (or a dump) reaps
# it: flush them before counting what flows and rules hold.
flushed_use() { conntrack -F >/dev/null 2>&1; expect_use "$@"; }
# refused_holding_only REFCNT [NETNS...]: the test isolates one holder: no
# cttimeout object is left in the initial namespace or in NETNS, so only
# the rule or flow under test holds zonetp.ko, with REFCNT module
# references (a template holds one, taken by the hook's find_get); rmmod
# must be refused as "in use", zonetp.ko still loaded.
refused_holding_only() {
  local want=$1 ns out; shift
  ((want > 0)) || { echo "refused_holding_only: a holder must hold a reference"; return 1; }
  for ns in "" "$@"; do
    out=$(${ns:+ip netns exec "$ns"} nfct list timeout) || return 1
    [[ -z $out ]] || { echo "objects left${ns:+ in $ns}: $out"; return 1; }
  done
  echo "no objects left"
  eventually 20 refcnt_is "$want" && rmmod_refused
}
udp_send() { python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('$1', 0))
s.sendto(b'zonetp', ('$2', 5000))"; }

check "upstream nfnetlink_cttimeout not loaded" bash -c '! test -d /sys/module/nfnetlink_cttimeout'
check "insmod zonetp.ko, modprobe openvswitch" bash -c "insmod $ko && modprobe openvswitch"

# ---- iptables CT --timeout in a namespace ----------------------------------
ipt() { ip netns exec ipt "$@"; }
ip netns add ipt; ipt ip link set lo up
check "policy in namespace ipt" ipt "$Z" timeout add pu2 --l3 ipv4 --l4 udp unreplied=2 replied=2
check "iptables -t raw CT --timeout pu2 (OUTPUT and PREROUTING)" bash -c '
  ip netns exec ipt iptables -t raw -A OUTPUT -p udp -j CT --timeout pu2 &&
  ip netns exec ipt iptables -t raw -A PREROUTING -p udp -j CT --timeout pu2 && ip netns exec ipt iptables -t raw -S'
# Each rule's template holds two references (nf_ct_set_timeout: the hook's
# find_get and nf_ct_timeout_ext_add), the table one: USE = 1 + 2 per user.
check "USE is 5 (table + 2 x two rules)" ipt bash -c "$(declare -f use_of expect_use); Z=$Z; expect_use pu2 5"
check "removing one rule gives its references back (USE 3)" ipt bash -c "
  iptables -t raw -D PREROUTING -p udp -j CT --timeout pu2 && $(declare -f use_of expect_use); Z=$Z; expect_use pu2 3"
# The [NEW] event carries the timeout the connection got, however slow
# the emulated CPU is (a listing may come after a 2 s entry expired).
# The listener runs in namespace ipt and is known to listen (sentinels,
# ct_events_start in tests/vm/lib.sh); the timeout is read from the [NEW]
# event of the connection to port 5000 (fields: timestamp, event,
# protocol name, number, timeout), not from a sentinel's.
ct_events_start /tmp/zonetp-users/ipt-events ipt
check "UDP through the CT rule" ipt bash -c "$(declare -f udp_send); udp_send 127.0.0.1 127.0.0.1"
ct_events_stop
check "conntrack events recorded in ipt (both sentinels seen)" ct_events_recorded
check "a UDP connection starts with the 2 s policy" bash -c "cat /tmp/zonetp-users/ipt-events
  awk '\$2 == \"[NEW]\" && \$3 == \"udp\" && / dport=5000 / {t=\$5} END {exit !(t != \"\" && t <= 2)}' /tmp/zonetp-users/ipt-events"
sleep 3
check "... and expires on it" absent 'dport=5000' ipt conntrack -L -p udp
check "delete pu2 while in use succeeds (6.12 semantics)" ipt "$Z" timeout delete pu2
check "pu2 is gone from the table" ipt bash -c "! nfct get timeout pu2"
check "a new pu2 (udp 4 s) while the rule still holds the old one" ipt bash -c "
  $Z timeout add pu2 --l3 ipv4 --l4 udp unreplied=4 replied=4 && $Z timeout get pu2"
check "delete the new pu2" ipt "$Z" timeout delete pu2
ipt conntrack -F >/dev/null 2>&1
check "rmmod refused: only the CT rule's template holds zonetp (the deleted pu2; refcnt 1)" refused_holding_only 1 ipt
check "destroy namespace ipt with the rule's live references" ip netns del ipt
check "the namespace's teardown gave every reference back (refcnt 0)" eventually 20 refcnt_is 0

# ---- openvswitch datapath flow with OVS_CT_ATTR_TIMEOUT --------------------
ns0() { ip netns exec at_ns0 "$@"; }
setup_net() { ovs_two_namespaces "$Z" $DP; }
check "datapath with two veth ports" setup_net
check "dp show: ct_timeout=true (probe through zonetp's hook)" bash -c "'$Z' dp show $DP | grep -q 'ct_timeout=true'"
check "policies ovs_udp (2 s) and ovs_icmp (2 s)" bash -c "
  '$Z' timeout add ovs_udp --l3 ipv4 --l4 udp unreplied=2 replied=2 &&
  '$Z' timeout add ovs_icmp --l3 ipv4 --l4 icmp timeout=2"
install_flows() {
  local rc=0
  add_flows "$Z" $DP \
    "in_port(1),eth_type(0x0806) actions:2" \
    "in_port(2),eth_type(0x0806) actions:1" \
    "in_port(1),eth_type(0x0800),ipv4(proto=17) actions:ct(commit,zone=5,timeout=ovs_udp),2" \
    "in_port(1),eth_type(0x0800),ipv4(proto=1) actions:ct(commit,zone=5,timeout=ovs_icmp),2" \
    "in_port(2),eth_type(0x0800) actions:ct(zone=5),1" || rc=1
  "$Z" dp-flow dump $DP
  return $rc
}
check "flows with ct(commit,zone=5,timeout=...)" install_flows
check "USE of ovs_udp is 3 (table + 2 x flow template)" expect_use ovs_udp 3
EVENTS=/tmp/zonetp-users/events
# traffic_round TAG: UDP and ping through the datapath, while the events
# are recorded into $EVENTS.TAG (by a listener known to listen: sentinels,
# ct_events_start in tests/vm/lib.sh; started and stopped here, at the
# top level, not in the check's subshell), and the entries expire.
traffic() {
  ns0 ping -q -c 2 -i 0.2 -W 1 10.1.1.2 >/dev/null; local rc=$?
  ns0 bash -c "$(declare -f udp_send); udp_send 10.1.1.1 10.1.1.2" || rc=1
  sleep 0.5; conntrack -L -w 5 2>/dev/null
  sleep 3.5
  return $rc
}
traffic_round() {
  ct_events_start "$EVENTS.$1"
  check "traffic through the datapath ($1)" traffic
  ct_events_stop
  check "conntrack events recorded ($1, both sentinels seen)" ct_events_recorded
  sed 's/^/    # /' "$EVENTS.$1"
}
new_timeout() { awk -v p="$2" '$2 == "[NEW]" && $3 == p && /zone=5/ {print $5; exit}' "$EVENTS.$1"; }
expect_new() { local t; t=$(new_timeout "$1" "$2"); echo "$2: [NEW] timeout ${t:-none}"; [[ -n $t ]] && ((t <= 2)); }
expect_gone() {
  local n
  n=$(count_of 'zone=5' conntrack -L -w 5) || return 1
  echo "$n entries"
  ((n == 0))
}
traffic_round r1
check "UDP connection began with the 2 s policy" expect_new r1 udp
check "ICMP connection began with the 2 s policy" expect_new r1 icmp
check "entries expired on the policy" expect_gone
check "USE of ovs_udp is 3 before the delete (expired entries left none)" expect_use ovs_udp 3
check "delete ovs_udp while the flow holds it: succeeds (6.12)" "$Z" timeout delete ovs_udp
traffic_round r2
check "the flow's template still applies the deleted policy (2 s)" expect_new r2 udp
check "delete the ICMP flow" "$Z" dp-flow del $DP "in_port(1),eth_type(0x0800),ipv4(proto=1)"
check "ovs_icmp back to USE 1 once its flow is gone (no leaked reference)" eventually 15 flushed_use ovs_icmp 1
check "delete ovs_icmp" "$Z" timeout delete ovs_icmp
conntrack -F >/dev/null 2>&1
check "rmmod refused: only the UDP flow's template holds zonetp (the deleted ovs_udp; refcnt 1)" refused_holding_only 1
check "delete the flows and the datapath" bash -c "'$Z' dp-flow del $DP && '$Z' dp del $DP"
ip netns del at_ns0; ip netns del at_ns1
check "zonetp has no users left" eventually 20 refcnt_is 0
check "rmmod zonetp" rmmod zonetp
check "dmesg: loaded/unloaded lines" bash -c "dmesg | sed -n '/$mark/,\$p' | grep -E 'zonetp: (loaded|unloaded)'"
leak_mark
finish
