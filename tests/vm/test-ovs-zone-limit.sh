#!/bin/bash
# Usage: tests/vm/run-vm /boot/vmlinuz-6.12.*-amd64 tests/vm/test-ovs-zone-limit.sh ZONETP_BINARY
#
# Conntrack zone limits (`zonetp set-zone-limit`, OVS 3.3's verbs) pushed
# by `zonetp sync` into the stock Debian kernel's openvswitch.ko
# (`ovs_ct_limit`): a datapath with two veth ports into two namespaces,
# flows that commit UDP from 10.1.1.1 in zone 5 and from 10.1.1.11 in zone
# 20, and rounds of N new UDP connections (N source ports) from each
# address. Past zone 5's limit, connections are refused in zone 5 (the
# datapath drops their packets) and not in zone 20; removing the limit
# lifts it; the default limit applies to zones without one of their own,
# and a zone's own limit 0 (unlimited) overrides it. `zonetp status`
# shows each zone's limit and count, the kernel's limits are read back
# after each sync, and `list-dp-cap` shows what sync probed. A limit set
# by another tool (`ovs-dpctl ct-set-limits`, zone 9) is kept by every
# sync and shown by status; `set-zone-limit system default 0` is pushed
# over another tool's default.
# shellcheck disable=SC2016
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
Z=${1:?usage: test-ovs-zone-limit.sh ZONETP_BINARY}
export ZONETP_DB=/tmp/zonetp-test/limit.json
mkdir -p /tmp/zonetp-test
rm -f "$ZONETP_DB"
echo "zonetp-test-ovs-zone-limit-$$" >/dev/kmsg

DP=ovs-system
N=6
RECV=/tmp/zonetp-test/limit-recv
ns0() { ip netns exec at_ns0 "$@"; }

setup_net() {
  modprobe openvswitch || return 1
  ovs_two_namespaces "$Z" $DP 10.1.1.11
}

# ARP and ICMP pass untracked (the ping that fills the ARP caches); UDP
# from 10.1.1.1 commits in zone 5, from 10.1.1.11 in zone 20. No reply
# is needed: the datagrams go one way.
install_flows() {
  "$Z" dp-flow del $DP || return 1
  add_flows "$Z" $DP \
    "in_port(1),eth_type(0x0806) actions:2" \
    "in_port(2),eth_type(0x0806) actions:1" \
    "in_port(1),eth_type(0x0800),ipv4(proto=1) actions:2" \
    "in_port(2),eth_type(0x0800),ipv4(proto=1) actions:1" \
    "in_port(1),eth_type(0x0800),ipv4(src=10.1.1.1,proto=17) actions:ct(commit,zone=5),2" \
    "in_port(1),eth_type(0x0800),ipv4(src=10.1.1.11,proto=17) actions:ct(commit,zone=20),2"
}

# udp_round: N new connections from each address (a socket each, so a
# source port each); sets GOT5 and GOT20 to the datagrams at_ns1 got from
# zone 5's and zone 20's address. Entries live 30 s (the kernel's UDP
# default), so every connection of a round still counts when the next
# one is sent unless `conntrack -F` flushed them.
udp_round() {
  GOT5=- GOT20=-
  rm -f "$RECV"
  ip netns exec at_ns1 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.1.1.2", 5000))
# The first datagram may come many seconds after "ready" (the sender is a
# python started under TCG, maybe on a guest waiting for a core); after
# it, 3 s of silence ends the count.
s.settimeout(30)
print("ready", flush=True)
got = {}
while True:
    try:
        _, (src, _) = s.recvfrom(100)
    except socket.timeout:
        break
    s.settimeout(3)
    got[src] = got.get(src, 0) + 1
print(got.get("10.1.1.1", 0), got.get("10.1.1.11", 0), flush=True)
' >"$RECV" &
  local pid=$! i
  for i in $(seq 600); do grep -q ready "$RECV" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$RECV" 2>/dev/null || { echo "the receiver did not start within 60 s"; return 1; }
  ns0 ping -q -c 1 -W 2 10.1.1.2 >/dev/null
  ns0 python3 -c '
import socket, sys
for src in ("10.1.1.1", "10.1.1.11"):
    for _ in range(int(sys.argv[1])):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.sendto(b"zonetp", ("10.1.1.2", 5000))
' "$N" || return 1
  wait "$pid" || return 1
  read -r GOT5 GOT20 < <(tail -n1 "$RECV")
  echo "zone 5 (10.1.1.1): $GOT5 of $N connections got through; zone 20 (10.1.1.11): $GOT20 of $N"
}
# round WANT5 WANT20: a round whose counts are those.
round() { udp_round && [[ $GOT5 == "$1" && $GOT20 == "$2" ]]; }

sync_ok() {
  local out rc
  out=$("$Z" sync); rc=$?
  printf '%s\n' "$out" | grep -E 'limit|^sync '
  ((rc == 0)) || { echo "zonetp sync failed (exit $rc)"; return 1; }
}
zone_status() { # ZONE FIELD: print status's kernel_limit FIELD of ZONE
  "$Z" --format json status system | python3 -c '
import json, sys
zone, field = int(sys.argv[1]), sys.argv[2]
z = next(z for z in json.load(sys.stdin)["zones"] if z["zone"] == zone)
print(z["kernel_limit"][field])' "$1" "$2"
}
expect_status() { # ZONE LIMIT COUNT
  local l c
  l=$(zone_status "$1" limit) && c=$(zone_status "$1" count) || return 1
  echo "status: zone $1 limit $l, $c counted"
  [[ $l == "$2" && $c == "$3" ]]
}

check "stock Debian 6.12 kernel" bash -c '[[ $(uname -r) == 6.12.*-amd64 ]]'
check "datapath with two veth ports into two namespaces" setup_net
"$Z" add-dp system
check "flows installed" install_flows

check "without limits every connection gets through" round $N $N
conntrack -F >/dev/null 2>&1

check "another tool's limit: ovs-dpctl ct-set-limits zone=9,limit=4" \
  ovs-dpctl ct-set-limits system@$DP zone=9,limit=4
check "set-zone-limit system 5 3" "$Z" set-zone-limit system 5 3
check "list-zone-limits" bash -c "[[ \$('$Z' list-zone-limits system) == 'Zone: 5, Limit: 3' ]]"
check "sync pushes the limit" sync_ok
check "sync kept zone 9's limit (not zonetp's)" \
  bash -c "ovs-dpctl ct-get-limits system@$DP zone=9 | grep -q 'zone=9,limit=4'"
check "status shows zone 9's limit, not configured" \
  bash -c "'$Z' status system | grep -qx 'zone 9: limit 4 in the kernel, not configured; 0 counted'"
check "list-dp-cap: sync probed ct_zone and ct_timeout" \
  bash -c "[[ \$('$Z' list-dp-cap system) == 'ct_timeout=true ct_zone=true' ]]"
check "past zone 5's limit connections are refused in zone 5, not in zone 20" round 3 $N
check "status: zone 5 at its limit" expect_status 5 3 3
"$Z" status system
check "a second sync changes nothing" bash -c "'$Z' sync | grep -q 'zone limits system: set 0, delete 0, unchanged 1, kept 0'"

check "del-zone-limit system 5" "$Z" del-zone-limit system 5
check "sync takes the limit back (zonetp set it)" bash -c "'$Z' sync | grep -q '^deleted limit of zone 5$'"
check "removing the limit lifts it: zone 5's new connections get through" round $N $N
conntrack -F >/dev/null 2>&1

check "set-zone-limit system default 2" "$Z" set-zone-limit system default 2
check "set-zone-limit system 20 0 (zone 20: unlimited, its own)" "$Z" set-zone-limit system 20 0
check "sync pushes both" sync_ok
check "the default applies to zone 5; zone 20's own 0 overrides it" round 2 $N
check "status: zone 5 at the default limit" expect_status 5 2 2
conntrack -F >/dev/null 2>&1

check "del-zone-limit system default, del-zone-limit system 20" \
  bash -c "'$Z' del-zone-limit system default && '$Z' del-zone-limit system 20"
check "sync takes both back" bash -c "'$Z' sync | grep -q '^zone limits system: set 0, delete 2, unchanged 0, kept 0$'"
check "another tool's default: ovs-dpctl ct-set-limits default=5" \
  ovs-dpctl ct-set-limits system@$DP default=5
check "set-zone-limit system default 0" "$Z" set-zone-limit system default 0
check "sync pushes the default 0 over it" bash -c "'$Z' sync | grep -qx 'set limit of default limit=0'"
check "the kernel's default is 0 again" bash -c "ovs-dpctl ct-get-limits system@$DP | grep -q 'default limit=0'"
check "a second sync: the default 0 unchanged" \
  bash -c "'$Z' sync | grep -qx 'zone limits system: set 0, delete 0, unchanged 1, kept 0'"
check "del-zone-limit system default; sync forgets it" \
  bash -c "'$Z' del-zone-limit system default && '$Z' sync >/dev/null"
check "no limit left: every connection gets through" round $N $N
check "the kernel holds no limit zonetp set" bash -c "[[ \$('$Z' sync | grep -c limit) == 0 ]]"
check "every sync kept zone 9's limit" bash -c "ovs-dpctl ct-get-limits system@$DP zone=9 | grep -q 'zone=9,limit=4'"
check "ovs-dpctl ct-del-limits zone=9" ovs-dpctl ct-del-limits system@$DP zone=9

check "datapath deleted" "$Z" dp del $DP
ip netns del at_ns0; ip netns del at_ns1
finish
