#!/bin/bash
# Usage (guest, from tests/vm/bench-guest.sh): bench-provider.sh ZONETP_KO ZONETP_BIN UDP_FLOOD
#
# Upstream nfnetlink_cttimeout (a list walked with strncmp) against
# zonetp.ko, one after the other in the same VM on the same kernel:
#  a. creating 24,576 objects (4,096 OVS policies x 6), batched (256 per
#     datagram, the time inside sendmsg) and one request per round trip;
#  b. GET by name, c. installing OVS flows ct(commit,zone=Z,timeout=NAME)
#     and iptables -j CT --timeout rules, at 1 .. 24,576 objects
#     (tests/vm/bench_scale.py, in a namespace of its own);
#  d. new connections per second through an OVS flow that commits with a
#     policy (UDP to 20,000 ports, tests/vm/bench-udp-flood.c), the two
#     providers alternated over several rounds.
# Prints BENCH lines (tests/vm/bench-lib.sh). Nothing about time is asserted;
# every result is checked (acks, USE counts, connection counts).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/bench-lib.sh
. "$here/bench-lib.sh"
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
export ZONETP_KO=${1:?usage: bench-provider.sh ZONETP_KO ZONETP_BIN UDP_FLOOD}
Z=${2:?} flood=${3:?}
# shellcheck disable=SC2206 # the providers to compare; the default is both
providers=(${ZONETP_BENCH_PROVIDERS:-upstream zonetp})
OBJECTS=${ZONETP_BENCH_OBJECTS:-24576} CONNS=${ZONETP_BENCH_CONNS:-20000} ROUNDS=${ZONETP_BENCH_ROUNDS:-5}

scale() { # PROVIDER: a, b and c
  say "$1: objects, GETs, flows and rules at 1 .. $OBJECTS objects"
  modprobe openvswitch || die "cannot load openvswitch"
  ip netns add bench-scale || die "netns"
  ip netns exec bench-scale python3 "$here/bench_scale.py" "$1" grow || die "$1: bench_scale.py grow failed"
  ip netns del bench-scale
  say "$1: $OBJECTS objects, one request per round trip"
  ip netns add bench-one || die "netns"
  ip netns exec bench-one python3 "$here/bench_scale.py" "$1" one-by-one $OBJECTS || die "$1: one-by-one failed"
  ip netns del bench-one
}

# d: datapath ports 1 (at_ns0) and 2 (at_ns1); at_ns0 reaches 10.1.1.2
# through a static neighbour, so every datagram meets the committing flow.
packet_setup() {
  export ZONETP_DB=/tmp/zonetp-bench-packet.json
  modprobe openvswitch || return 1
  sysctl -qw net.netfilter.nf_conntrack_max=262144 || return 1
  ovs_two_namespaces "$Z" bench-dp &&
    ip -n at_ns0 neigh replace 10.1.1.2 lladdr 02:00:00:00:00:02 dev p0 nud permanent
}

packet_round() { # PROVIDER ROUND: new connections per second
  local p=$1 r=$2 t n
  "$Z" timeout add bench_udp --l3 ipv4 --l4 udp unreplied=300 replied=600 >/dev/null || return 1
  "$Z" dp-flow add bench-dp \
    "in_port(1),eth_type(0x0800),ipv4(proto=17) actions:ct(commit,zone=5,timeout=bench_udp)" >/dev/null || return 1
  conntrack -F >/dev/null 2>&1
  t=$(ip netns exec at_ns0 "$flood" 10.1.1.2 $CONNS) || return 1
  n=$(conntrack -C)
  # every datagram made a connection, and each got the policy's 300 s (the
  # kernel's default for an unreplied UDP connection is 30 s)
  if ((n != CONNS)); then say "$p round $r: $n connections, expected $CONNS"; return 1; fi
  conntrack -L -p udp 2>/dev/null | awk '$3 <= 30 {bad++} END {exit bad > 0}' ||
    { say "$p round $r: a connection did not get the 300 s policy"; return 1; }
  bench_out "$p" conn_rate "$r" "$(echo "$CONNS / $t" | bc -l)"
  "$Z" dp-flow del bench-dp >/dev/null && conntrack -F >/dev/null 2>&1
  "$Z" timeout delete bench_udp >/dev/null
}

packets() {
  say "new connections through a committing flow, $ROUNDS rounds x $CONNS per provider"
  packet_setup || die "datapath setup failed"
  local r p
  for r in $(seq "$ROUNDS"); do
    for p in "${providers[@]}"; do
      provider_load $p
      packet_round $p "$r" || die "$p: packet round $r failed"
      provider_unload
    done
  done
  "$Z" dp del bench-dp; ip netns del at_ns0; ip netns del at_ns1
}

for p in "${providers[@]}"; do
  provider_load $p
  scale $p
  provider_unload
done
packets
