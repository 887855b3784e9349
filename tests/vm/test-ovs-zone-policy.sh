#!/bin/bash
# Usage: tests/vm/run-vm /boot/vmlinuz-6.12.*-amd64 tests/vm/test-ovs-zone-policy.sh ZONETP_BINARY [--demo]
#        tests/vm/run-vm "$(scripts/build-kernel --print-dir)" tests/vm/test-ovs-zone-policy.sh \
#            ZONETP_BINARY [--demo] --provider ZONETP_KO
#
# OVS's system test "conntrack - zone-based timeout policy"
# (tests/system-traffic.at) with zonetp in the place of ovs-vswitchd, on the
# stock Debian kernel's openvswitch.ko and nfnetlink_cttimeout: a datapath
# with two veth ports into two namespaces, flows that commit UDP and ICMP in
# zone 5 (and UDP from a second address in zone 20, with another policy),
# real traffic, and the conntrack entries expiring on the policy's timeouts.
# Then the fallbacks: a policy only on zone 0 applies to zone 5; no policy
# at all gives the kernel defaults; with `set-dp system resolution=exact`
# (OVS's rule) zone 5 gets the kernel defaults despite zone 0's policy.
# `zonetp status` is checked against live connections (entries per zone,
# use counts, policy source). --demo narrates for a person.
# --provider ZONETP_KO: on the zonetp test kernel, with zonetp.ko (not
# upstream nfnetlink_cttimeout) as the cttimeout provider, so the Rust
# module stores the policies and resolves those of the flows; it ends
# with every object deleted, rmmod and the checkers' verdict.
# shellcheck disable=SC2016
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
Z=${1:?usage: test-ovs-zone-policy.sh ZONETP_BINARY [--demo] [--provider ZONETP_KO]}
shift
demo=0 ko=
while (($#)); do
  case $1 in
    --demo) demo=1; shift ;;
    --provider) ko=$2; shift 2 ;;
    *) echo "test-ovs-zone-policy.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
export ZONETP_DB=/tmp/zonetp-test/conf.json
mkdir -p /tmp/zonetp-test
mark="zonetp-test-ovs-$$"
echo "$mark" >/dev/kmsg

say() { ((demo)) && printf '\n\033[1m== %s\033[0m\n' "$*"; return 0; }
show() { ((demo)) && { echo "\$ $*"; "$@"; }; return 0; }

DP=ovs-system
# OVS puts policies on zones 1..255; under TCG every command costs a
# fraction of a second, so fewer zones keep the run short.
ZONES=${ZONETP_TEST_ZONES:-24}
# Zones 5 and 20 carry the traffic (the flows below).
[[ $ZONES =~ ^[0-9]+$ ]] && ((ZONES >= 20)) ||
  { echo "test-ovs-zone-policy: ZONETP_TEST_ZONES must be 20 or more (zones 5 and 20 carry the traffic), not '$ZONES'" >&2; exit 2; }
ns0() { ip netns exec at_ns0 "$@"; }

setup_net() {
  if [[ -n $ko ]]; then
    insmod "$ko" && modprobe openvswitch || return 1
  else
    modprobe -a openvswitch nfnetlink_cttimeout || return 1
  fi
  ovs_two_namespaces "$Z" $DP 10.1.1.11
}

# Flows of the system test: ARP both ways; from port 1, UDP and ICMP from
# 10.1.1.1 commit in zone 5 and UDP from 10.1.1.11 in zone 20; replies go
# through conntrack in their zone. zonetp fills each commit's timeout.
install_flows() {
  "$Z" dp-flow del $DP || return 1
  add_flows "$Z" $DP \
    "in_port(1),eth_type(0x0806) actions:2" \
    "in_port(2),eth_type(0x0806) actions:1" \
    "in_port(1),eth_type(0x0800),ipv4(src=10.1.1.1,proto=17) actions:ct(commit,zone=5),2" \
    "in_port(1),eth_type(0x0800),ipv4(src=10.1.1.1,proto=1) actions:ct(commit,zone=5),2" \
    "in_port(1),eth_type(0x0800),ipv4(src=10.1.1.11,proto=17) actions:ct(commit,zone=20),2" \
    "in_port(2),eth_type(0x0800),ipv4(dst=10.1.1.1) actions:ct(zone=5),1" \
    "in_port(2),eth_type(0x0800),ipv4(dst=10.1.1.11) actions:ct(zone=20),1"
}

EVENTS=/tmp/zonetp-test/events
# Conntrack events are recorded while traffic runs: a [NEW] event carries
# the timeout the connection got, whatever the delays of an emulated CPU,
# and [DESTROY] events show when entries expire.  The listener is known
# to be ready, and to have written everything, by its sentinels
# (ct_events_start/ct_events_stop in tests/vm/lib.sh).
start_events() { ct_events_start "$EVENTS"; }
stop_events() {
  ct_events_stop
  ((demo)) && { echo "conntrack events (timestamp, event, protocol, timeout, tuple, zone):"; cat "$EVENTS"; }
  return 0
}

# Run under `check` (a subshell): start_events/stop_events stay outside.
send_traffic() {
  ns0 ping -q -c 3 -i 0.2 -W 1 10.1.1.2 >/dev/null || return 1
  ns0 python3 -c '
import socket
for src in ("10.1.1.1", "10.1.1.11"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.sendto(b"zonetp", ("10.1.1.2", 5000))
'
  local rc=$?
  sleep 0.3
  return $rc
}

# new_timeout ZONE PROTO: the timeout of the first [NEW] event (fields:
# timestamp, event, protocol name, number, timeout, ...).
new_timeout() { awk -v z="zone=$1" -v p="$2" '$2 == "[NEW]" && $3 == p && index($0, z " ") + index($0 " ", z " ") {print $5; exit}' "$EVENTS"; }

# entries ZONE PROTO: prints the conntrack entries of ZONE and PROTO now
# and sets N_ENTRIES to their number; fails if conntrack does (an empty
# listing from a failed conntrack is not "no entries").
entries() {
  local out
  out=$(conntrack -L -w "$1" -p "$2" 2>/dev/null) || { echo "conntrack -L -w $1 -p $2 failed"; return 1; }
  [[ -n $out ]] && printf '%s\n' "$out"
  N_ENTRIES=$(grep -c "zone=$1" <<<"$out")
  return 0
}

expect_new() { # ZONE PROTO MIN MAX: a connection began with a timeout in [MIN, MAX]
  local t; t=$(new_timeout "$1" "$2")
  grep -E "zone=$1( |$)" "$EVENTS" | grep " $2 " | head -n 3
  echo "zone $1 $2: new connection's timeout ${t:-none}"
  [[ -n $t ]] && ((t >= $3 && t <= $4))
}
# outlived ZONE PROTO MIN: the connection of the first [NEW] event was not
# destroyed while the events were recorded, or only MIN seconds or more
# after it began. Read from the events, not from `conntrack -L` at the time
# of the check, so a slow guest cannot make it race the entry's expiry.
expect_outlived() {
  grep -E "zone=$1( |$)" "$EVENTS" | grep " $2 "
  awk -v z="zone=$1" -v p="$2" -v min="$3" '
    function ts(f) { gsub(/[][]/, "", f); return f + 0 }
    $3 == p && index($0, z " ") + index($0 " ", z " ") {
      if ($2 == "[NEW]" && !new) new = ts($1)
      if ($2 == "[DESTROY]" && new && !gone) gone = ts($1)
    }
    END {
      if (!new) { print "no [NEW] event"; exit 1 }
      if (!gone) { print "not destroyed while recorded"; exit 0 }
      printf "destroyed %.1f s after it began\n", gone - new
      exit !(gone - new >= min)
    }' "$EVENTS"
}
expect_gone() { # ZONE PROTO
  entries "$1" "$2" || return 1
  echo "zone $1 $2: $N_ENTRIES entries"
  ((N_ENTRIES == 0))
}
expect_present() { # ZONE PROTO
  entries "$1" "$2" || return 1
  echo "zone $1 $2: $N_ENTRIES entries"
  ((N_ENTRIES >= 1))
}

# status_zone ZONE SOURCE L3 L4 OBJECT MIN_ENTRIES MIN_USE: `zonetp status`
# (JSON) shows zone ZONE with its policy from SOURCE, the L3/L4 row naming
# OBJECT in sync ("-" for none), at least MIN_ENTRIES live entries in that
# row and a use count of at least MIN_USE.
status_zone() {
  local out
  out=$("$Z" --format json status system) || return 1
  python3 -c '
import json, sys
zone, source, l3, l4, obj, min_entries, min_use = sys.argv[1:]
s = json.loads(sys.stdin.read())
z = next(z for z in s["zones"] if z["zone"] == int(zone))
row = next(o for o in z["objects"] if o["l3"] == l3 and o["l4"] == l4)
print("status: zone %s source %s %s %s object %s state %s use %s entries %s" % (
    zone, z["source"], l3, l4, row["object"], row["state"], row["use"], row["entries"]))
want_state = "kernel-defaults" if obj == "-" else "in-sync"
assert z["source"] == source, z["source"]
assert row["object"] == (None if obj == "-" else obj), row["object"]
assert row["state"] == want_state, row["state"]
assert row["entries"] >= int(min_entries), row["entries"]
assert obj == "-" or row["use"] >= int(min_use), row["use"]
' "$@" <<<"$out"
}

# check "conntrack events recorded" events_recorded: the listener reported
# both sentinels, so the file holds every event of the traffic.
events_recorded() { ct_events_recorded; }
# sync_ok: `zonetp sync` succeeds (its status, not that of a pipe's last
# command); its last line, the summary, is shown (all of it if it failed).
sync_ok() {
  local out rc
  out=$("$Z" sync); rc=$?
  ((rc == 0)) || { printf '%s\n' "$out"; echo "zonetp sync failed (exit $rc)"; return 1; }
  tail -n1 <<<"$out"
}
# The checks' commands that are more than one: each listing is read only
# from a command that succeeded (absent, tests/vm/lib.sh).
sync_removes_ovs_tp() { sync_ok && absent 'ovs_tp_' nfct list timeout; }
exact_commit_no_timeout() {
  absent 'zone=5,timeout=' "$Z" dp-flow dump $DP && nfct list timeout | grep -q ovs_tp_1_udp4
}
every_object_deleted() {
  conntrack -F >/dev/null 2>&1
  "$Z" timeout delete --all && absent . nfct list timeout
}

if [[ -n $ko ]]; then
  say "The zonetp test kernel ($(uname -r)), zonetp.ko as the cttimeout provider"
  check "test kernel, upstream nfnetlink_cttimeout not loaded" bash -c '[[ $(uname -r) != *-amd64 ]] && ! test -d /sys/module/nfnetlink_cttimeout'
else
  check "stock Debian 6.12 kernel" bash -c '[[ $(uname -r) == 6.12.*-amd64 ]]'
fi
check "datapath with two veth ports into two namespaces" setup_net
if [[ -n $ko ]]; then
  show bash -c "lsmod | grep -E '^(zonetp|nfnetlink_cttimeout|openvswitch) '"
  check "zonetp.ko is the provider: its hook answered the datapath's probe" bash -c '
    test -d /sys/module/zonetp && ! test -d /sys/module/nfnetlink_cttimeout'
fi
show "$Z" dp show $DP
check "dp show reports OVS_CT_ATTR_TIMEOUT support" bash -c "'$Z' dp show $DP | grep -q 'ct_timeout=true'"

say "Without any policy: kernel default timeouts (UDP and ICMP 30 s)"
"$Z" add-dp system
check "flows installed" install_flows
start_events
check "traffic" send_traffic
stop_events
check "conntrack events recorded" events_recorded
check "zone 5 UDP began with the default timeout" expect_new 5 udp 25 30
check "zone 5 ICMP began with the default timeout" expect_new 5 icmp 25 30
conntrack -F >/dev/null 2>&1

say "Policies on zones 1..$ZONES (udp/icmp = zone id, zone 20's UDP 60 s), then zone 5: all four 1 s"
# Zone 20's UDP timeout is 60 s, not 20: its entry must still be live when
# `status` looks, and a guest at SCHED_IDLE beside the debug boot once took
# 28 s for the traffic and 21 s more for `status` (make check's second lane).
for i in $(seq 1 $ZONES); do
  u=$i; ((i == 20)) && u=60
  "$Z" add-zone-tp system zone=$i udp_first=$u udp_single=$u icmp_first=$i icmp_reply=$i 2>/dev/null
done
check "--may-exist replaces zone 5's policy" \
  "$Z" --may-exist add-zone-tp system zone=5 udp_first=1 udp_single=1 icmp_first=1 icmp_reply=1
show "$Z" list-zone-tp system | sed -n '1,3p;/^Zone:5,/p'
check "sync pushes every policy" sync_ok
# Zone 5's new policy equals zone 1's, so the two share policy 1.
check "zone 5 resolves to the shared policy's objects" bash -c "
  [[ \$('$Z' resolve system zone=5 --l3 ipv4 --l4 udp) == ovs_tp_1_udp4 ]] &&
  [[ \$('$Z' resolve system zone=5 --l3 ipv4 --l4 icmp) == ovs_tp_1_icmp4 ]]"
show nfct get timeout ovs_tp_1_udp4
check "the kernel objects carry the policy" bash -c '
  nfct get timeout ovs_tp_1_udp4 | grep -q "UNREPLIED = 1," && nfct get timeout ovs_tp_1_icmp4 | grep -q "TIMEOUT = 1,"'
check "flows installed with the zone's timeout" install_flows
show "$Z" dp-flow dump $DP
((demo)) && [[ -n $ko ]] && say "openvswitch.ko resolved these timeouts through zonetp.ko's nf_ct_timeout_hook (zonetp refcnt $(cat /sys/module/zonetp/refcnt): its objects and the flows' templates)"
check "committing flows carry their zone's timeout" bash -c "
  out=\$('$Z' dp-flow dump $DP); echo \"\$out\"
  grep -q 'ct(commit,zone=5,timeout=ovs_tp_1_udp4)' <<<\"\$out\" &&
  grep -q 'ct(commit,zone=5,timeout=ovs_tp_1_icmp4)' <<<\"\$out\" &&
  grep -q 'ct(commit,zone=20,timeout=ovs_tp_20_udp4)' <<<\"\$out\""
for round in 1 2; do
  say "Round $round: traffic; zone 5's entries live 1 s, zone 20's (60 s policy) outlive them"
  start_events
  check "traffic (round $round)" send_traffic
  # Zone 20's entry lives 60 s: `status` counts it, and its object's use
  # count is 1 + 2 (the flow's template) + 1 (the entry) on 6.12. The check
  # runs inside the 3 s wait for zone 5's entries, so it does not stretch
  # the time zone 20's entry must outlive.
  t0=$(date +%s%N)
  check "status: zone 20's live UDP entry and its object in use (round $round)" \
    status_zone 20 own ipv4 udp ovs_tp_20_udp4 1 4
  show "$Z" status system
  ((demo)) && { echo "\$ conntrack -L"; conntrack -L 2>/dev/null; echo "waiting 3 s ..."; }
  left_ms=$((3000 - ($(date +%s%N) - t0) / 1000000))
  ((left_ms > 0)) && sleep "$(awk -v ms="$left_ms" 'BEGIN { print ms / 1000 }')"
  # Zone 5's entries are gone while the events are still recorded, so
  # zone 20's entry outliving them is read from the same recording.
  check "zone 5 UDP entry expired (round $round)" expect_gone 5 udp
  check "zone 5 ICMP entry expired (round $round)" expect_gone 5 icmp
  stop_events
  check "conntrack events recorded (round $round)" events_recorded
  check "zone 5 UDP began with the 1 s policy (round $round)" expect_new 5 udp 0 1
  check "zone 5 ICMP began with the 1 s policy (round $round)" expect_new 5 icmp 0 1
  check "zone 20 UDP began with its 60 s policy (round $round)" expect_new 20 udp 55 60
  # Not destroyed before zone 5's had expired, or (on a guest so slow that
  # 60 s passed) no sooner than its policy allows.
  check "zone 20 UDP entry outlived zone 5's (round $round)" expect_outlived 20 udp 55
  conntrack -F >/dev/null 2>&1
done

say "Zone 5 without a policy falls back to zone 0's"
for i in $(seq 1 $ZONES); do "$Z" del-zone-tp --if-exists system zone=$i; done
check "sync removes the zones' objects" sync_removes_ovs_tp
"$Z" add-zone-tp system zone=0 udp_single=3 icmp_first=3
check "sync" sync_ok
check "zone 5 resolves to zone 0's objects" bash -c "[[ \$('$Z' resolve system zone=5 --l3 ipv4 --l4 udp) == ovs_tp_1_udp4 ]]"
check "flows installed with zone 0's timeout" install_flows
check "committing flow carries zone 0's policy" bash -c "'$Z' dp-flow dump $DP | grep -q 'ct(commit,zone=5,timeout=ovs_tp_1_udp4)'"
start_events
check "traffic (zone 0 fallback)" send_traffic
sleep 4.5
stop_events
check "conntrack events recorded (zone 0 fallback)" events_recorded
check "zone 5 UDP began with zone 0's 3 s policy" expect_new 5 udp 2 3
check "zone 5 ICMP began with zone 0's 3 s policy" expect_new 5 icmp 2 3
check "zone 5 UDP entry expired on zone 0's policy" expect_gone 5 udp
check "zone 5 ICMP entry expired on zone 0's policy" expect_gone 5 icmp
conntrack -F >/dev/null 2>&1

say "OVS's exact resolution: zone 5 without a policy gets the kernel defaults, not zone 0's"
check "set-dp system resolution=exact" "$Z" set-dp system resolution=exact
check "zone 5 resolves to none" bash -c "[[ \$('$Z' resolve system zone=5 --l3 ipv4 --l4 udp) == none ]]"
check "flows installed" install_flows
check "zone 5's commit carries no timeout, zone 0's policy stays in the kernel" exact_commit_no_timeout
start_events
check "traffic (exact resolution)" send_traffic
stop_events
check "conntrack events recorded (exact resolution)" events_recorded
check "zone 5 UDP began with the kernel default" expect_new 5 udp 25 30
check "status: zone 5 on the kernel defaults with its live entry" status_zone 5 default ipv4 udp - 1 0
show "$Z" status system
"$Z" set-dp system resolution=zone0-fallback
conntrack -F >/dev/null 2>&1

say "No policy at all: kernel defaults again"
"$Z" del-zone-tp system zone=0
check "sync removes every ovs_tp_ object" sync_removes_ovs_tp
check "flows installed without timeouts" install_flows
check "no flow carries a timeout" absent 'timeout=' "$Z" dp-flow dump $DP
start_events
check "traffic (no policy)" send_traffic
stop_events
check "conntrack events recorded (no policy)" events_recorded
check "zone 5 UDP back to the default timeout" expect_new 5 udp 25 30
check "zone 5 UDP entry still there" expect_present 5 udp

say "Bad input: flows naming a missing or mismatched policy are refused"
"$Z" add-zone-tp system zone=5 udp_single=1 >/dev/null && "$Z" sync >/dev/null
check "a ct timeout of another L4 is refused" bash -c "
  out=\$('$Z' dp-flow add $DP 'in_port(1),eth_type(0x0800),ipv4(src=10.1.1.5,proto=17) actions:ct(commit,zone=5,timeout=ovs_tp_1_icmp4),2' 2>&1); rc=\$?
  echo \"\$out\"; ((rc == 1)) && grep -q 'is a ipv4 icmp policy but the flow matches ipv4 udp' <<<\"\$out\""
check "a missing ct timeout is refused" bash -c "
  out=\$('$Z' dp-flow add $DP 'in_port(1),eth_type(0x0800),ipv4(src=10.1.1.6,proto=17) actions:ct(commit,timeout=nope),2' 2>&1); rc=\$?
  echo \"\$out\"; ((rc == 1)) && grep -q 'no such timeout object' <<<\"\$out\""
check "a commit in a policy zone without exact L4 is refused" bash -c "
  out=\$('$Z' dp-flow add $DP 'in_port(1),eth_type(0x0800),ipv4(src=10.1.1.7) actions:ct(commit,zone=5),2' 2>&1); rc=\$?
  echo \"\$out\"; ((rc == 1)) && grep -q 'exact' <<<\"\$out\""
check "refused flows were not installed" absent '10\.1\.1\.[567]' "$Z" dp-flow dump $DP

check "datapath deleted" "$Z" dp del $DP
if [[ -n $ko ]]; then
  say "Unloading zonetp.ko once every policy is gone"
  ip netns del at_ns0; ip netns del at_ns1
  check "every object deleted" every_object_deleted
  check "rmmod zonetp" bash -c 'for i in $(seq 40); do rmmod zonetp 2>/dev/null && exit 0; sleep 0.5; done; cat /sys/module/zonetp/refcnt; exit 1'
  leak_mark
fi
finish
