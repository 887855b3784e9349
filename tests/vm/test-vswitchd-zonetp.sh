#!/bin/bash
# Usage: tests/vm/run-vm "$(scripts/build-kernel --print-dir)" tests/vm/test-vswitchd-zonetp.sh ZONETP_KO ZONETP_BIN
#        tests/vm/run-vm --root ROOT KERNEL tests/vm/test-vswitchd-zonetp.sh --autoload ZONETP_BIN
#
# The real Open vSwitch on zonetp.ko: Debian's ovs-vswitchd (3.1, from the
# host, visible in the guest; 3.5 in the trixie stage's Debian 13 root, see
# zone_policy below for its bug) runs on the test kernel with zonetp.ko as
# the only cttimeout provider.  A zone policy set with `ovs-vsctl
# add-zone-tp` (UDP and ICMP 3 s on zone 5) is pushed by vswitchd into
# zonetp.ko; OpenFlow flows commit connections with ct(commit,zone=5) as
# OVS's system test "conntrack - zone-based timeout policy" does; ping and
# UDP between two namespaces make vswitchd install datapath flows
# ct(commit,zone=5,timeout=ovs_tp_<id>_*), which openvswitch.ko resolves
# through zonetp.ko's nf_ct_timeout_hook; the connections start with 3 s
# and expire on it.  Then `exit --cleanup`: the datapath goes, the
# ovs_tp_* objects stay in the kernel holding module references; with the
# namespaces, entries and flow templates gone they are the only holders
# (refcnt = their number), rmmod is refused as in use (as it is for
# upstream), and a flush lets rmmod succeed.
# --autoload in the place of ZONETP_KO: on a Debian kernel with the
# zonetp-dkms package installed (the trixie stage, tests/distro/run-distro),
# nothing is loaded by hand: ovs-vswitchd's own first cttimeout request
# must autoload zonetp.ko (the package's modprobe rule) and never
# Debian's nfnetlink_cttimeout.  The rest is the same.
# shellcheck disable=SC2016
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
ko=$1 Z=$2
export OVS_RUNDIR=/tmp/ovs OVS_LOGDIR=/tmp/ovs OVS_DBDIR=/tmp/ovs OVS_SYSCONFDIR=/tmp/ovs OVS_PKGDATADIR=/usr/share/openvswitch
mkdir -p /tmp/ovs
EVENTS=/tmp/ovs/events
eventually() { local end=$((SECONDS + $1)); shift; until "$@"; do ((SECONDS < end)) || return 1; sleep 0.5; done; }
ns0() { ip netns exec at_ns0 "$@"; }

start_ovs() {
  start_ovsdb_and_vswitchd || return 1
  ovs-vsctl add-br br0 -- set bridge br0 fail-mode=secure &&
    ovs-vsctl -- --id=@m create Datapath datapath_version=0 -- set Open_vSwitch . datapaths:"system"=@m
}
# The OpenFlow flows of OVS's system test.
openflow() {
  # Keep idle datapath flows for a minute (the default is 10 s): the ICMP
  # commit flow carries no packet after the upcall that made it, and under
  # TCG the revalidator would delete it before its template's references
  # are counted below.
  ovs-vsctl set Open_vSwitch . other_config:max-idle=60000 || return 1
  ovs-ofctl add-flows br0 - <<'EOF'
priority=1,action=drop
priority=10,arp,action=normal
priority=100,in_port=1,ip,action=ct(zone=5,table=1)
priority=100,in_port=2,ip,action=ct(zone=5,table=1)
table=1,in_port=2,ip,ct_state=+trk+est,action=1
table=1,in_port=1,ip,ct_state=+trk+new,action=ct(commit,zone=5),2
table=1,in_port=1,ip,ct_state=+trk+est,action=2
EOF
  ovs-ofctl dump-flows br0 --no-stats
}
# The number of ovs_tp_* objects, from a listing that worked.
ovs_objects() { count_of '^\.ovs_tp_' nfct list timeout; }
send_traffic() {
  ns0 ping -q -c 3 -i 0.3 -W 2 10.1.1.2 || return 1
  ns0 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.1.1.1", 0))
s.sendto(b"zonetp", ("10.1.1.2", 5000))'
}
new_timeout() { awk -v p="$1" '$2 == "[NEW]" && $3 == p && / zone=5/ {print $5; exit}' "$EVENTS"; }
expect_new() { local t; t=$(new_timeout "$1"); grep " $1 " "$EVENTS" | head -n 3; echo "$1: [NEW] timeout ${t:-none}"; [[ -n $t ]] && ((t <= 3)); }
zone5_gone() {
  local n
  n=$(count_of 'zone=5' conntrack -L -w 5) || return 1
  echo "$n entries"
  ((n == 0))
}

if [[ $ko == --autoload ]]; then
  check "Debian's kernel, no cttimeout provider loaded" bash -c '
    uname -r; [[ $(uname -r) == *-amd64 ]] && ! test -d /sys/module/nfnetlink_cttimeout && ! test -d /sys/module/zonetp'
  check "modprobe openvswitch" modprobe openvswitch
else
  check "the test kernel, no upstream cttimeout loaded" bash -c '! test -d /sys/module/nfnetlink_cttimeout && [[ $(uname -r) != *-amd64 ]]'
  check "insmod zonetp.ko (the cttimeout provider), modprobe openvswitch" bash -c "insmod $ko && modprobe openvswitch"
fi
check "ovsdb-server and ovs-vswitchd running, bridge br0, Datapath system" start_ovs
check "ovs-vswitchd sees the ct_timeout capability (probed through zonetp.ko)" bash -c '
  for i in $(seq 60); do ovs-vsctl list-dp-cap system | grep -q "ct_timeout=true" && exit 0; sleep 0.5; done
  ovs-vsctl list-dp-cap system; tail -n 20 /tmp/ovs/ovs-vswitchd.log; exit 1'
check "two namespaces on ports 1 and 2" two_namespaces
check "OpenFlow flows of OVS's system test (ct(commit,zone=5))" openflow
# Two steps, because of a bug of ovs-vswitchd 3.3 to 3.5 (Debian 13 has
# 3.5.0): bridge.c's ct_zones_reconfigure() creates a new zone with its
# policy already copied in (ct_zone_alloc), then sends the policy only if
# it differs from that copy, so a new zone's policy never reaches the
# kernel; only a later change does (OVS commit 1b3557f53, "Propagate the
# CT limit from database", first in 3.3.0; OVS's own system test changes
# zone 5's policy after creating it, which is why it passes).  A
# placeholder first, then the policy: 3.1 sends both, 3.5 the second.
zone_policy() {
  ovs-vsctl add-zone-tp system zone=5 udp_first=4 &&
    ovs-vsctl --may-exist add-zone-tp system zone=5 \
      udp_first=3 udp_single=3 udp_multiple=3 icmp_first=3 icmp_reply=3 &&
    ovs-vsctl list-zone-tp system
}
check "ovs-vsctl add-zone-tp zone=5, UDP and ICMP 3 s (after a placeholder)" zone_policy
pushed() {
  eventually 60 bash -c "
    n=\$(nfct list timeout | grep -c '^\.ovs_tp_'); echo \"\$n ovs_tp_ objects\"; ((n > 0)) &&
    nfct list timeout | grep -A4 'ovs_tp_.*_udp4 = ' | grep -q 'UNREPLIED = 3,'" && return 0
  ovs-vsctl list CT_Zone; ovs-vsctl list CT_Timeout_Policy; tail -n 40 /tmp/ovs/ovs-vswitchd.log
  return 1
}
check "ovs-vswitchd pushed its ovs_tp_* objects into zonetp.ko" pushed
check "zonetp.ko holds them (module references), upstream still absent" bash -c '
  r=$(cat /sys/module/zonetp/refcnt); echo "zonetp refcnt $r"; ((r > 0)) && ! test -d /sys/module/nfnetlink_cttimeout'

# The datapath flows vswitchd installed commit with both policies.
commit_flows() {
  local out
  out=$(ovs-appctl dpctl/dump-flows) || return 1
  grep -qE 'ct\(commit,zone=5,timeout=ovs_tp_[0-9]+_icmp4\)' <<<"$out" &&
    grep -qE 'ct\(commit,zone=5,timeout=ovs_tp_[0-9]+_udp4\)' <<<"$out"
}
# vswitchd installs a datapath flow after the upcall that asks for it,
# asynchronously: wait for them (the dump is shown once, at the end).
commit_flows_installed() {
  local rc=0
  eventually 20 commit_flows || rc=1
  ovs-appctl dpctl/dump-flows
  return $rc
}

# The events are recorded from a listener known to listen (sentinels,
# ct_events_start in tests/vm/lib.sh), not after a fixed sleep.
ct_events_start "$EVENTS"
check "ping and UDP through br0" send_traffic
check "vswitchd installed datapath flows ct(commit,zone=5,timeout=ovs_tp_*)" commit_flows_installed
# Each datapath flow's conntrack template holds two references (the
# hook's find_get and the template's timeout extension), the table one.
template_refs() {
  local name use ok=0
  for name in $(ovs-appctl dpctl/dump-flows | grep -oE 'timeout=ovs_tp_[0-9]+_(udp4|icmp4)' | cut -d= -f2 | sort -u); do
    use=$("$Z" timeout get "$name" | grep -o 'use=[0-9]*' | cut -d= -f2)
    echo "$name use=$use"
    ((use >= 3)) && ok=$((ok + 1))
  done
  ((ok >= 2))
}
check "the flows' templates hold the policies (USE 3 or more)" template_refs
sleep 4.5
ct_events_stop
check "conntrack events recorded (both sentinels seen)" ct_events_recorded
check "UDP connection began with the 3 s policy" expect_new udp
check "ICMP connection began with the 3 s policy" expect_new icmp
check "the zone 5 entries expired on the policy" zone5_gone

# vswitchd_exit_cleanup N: vswitchd exits with --cleanup (its datapath
# goes) and the N ovs_tp_* objects it made stay in the kernel.
vswitchd_exit_cleanup() {
  local n=$1 now i
  ((n > 0)) || { echo "no ovs_tp_* object was counted before the exit"; return 1; }
  ovs-appctl -t ovs-vswitchd exit --cleanup
  for i in $(seq 30); do pgrep -x ovs-vswitchd >/dev/null || break; sleep 0.5; done
  ! pgrep -x ovs-vswitchd || { echo "ovs-vswitchd still running"; return 1; }
  now=$(ovs_objects) || return 1
  echo "$now ovs_tp_* objects after the exit ($n before)"
  ((now == n))
}
# only_objects_hold N: the N objects are all the table holds, and the only
# holders of zonetp.ko, one module reference each (refcnt N): no
# namespace, conntrack entry or flow template (the datapath's flows went
# with vswitchd; their templates are freed after a grace period) is left
# to hold it, so a refused rmmod is theirs.
only_objects_hold() {
  local n=$1 all
  ((n > 0)) || { echo "no objects counted"; return 1; }
  all=$(count_of '^\.' nfct list timeout) || return 1
  echo "$all objects in the table, $n of them ovs_tp_*"
  ((all == n)) && eventually 30 refcnt_is "$n"
}
flush_all() { conntrack -F >/dev/null 2>&1; nfct flush timeout && absent . nfct list timeout; }

n=$(ovs_objects) || n=0
check "ovs-appctl exit --cleanup: vswitchd gone, its $n ovs_tp_* objects stay" vswitchd_exit_cleanup "$n"
ovs-appctl -t ovsdb-server exit >/dev/null 2>&1
ip netns del at_ns0; ip netns del at_ns1
conntrack -F >/dev/null 2>&1
check "only the $n objects hold zonetp.ko (refcnt $n), namespaces and entries gone" only_objects_hold "$n"
check "the leftover objects hold zonetp.ko: rmmod refused, in use (upstream behaves the same)" rmmod_refused
check "nfct flush timeout" flush_all
check "zonetp has no users left" eventually 20 bash -c 'r=$(cat /sys/module/zonetp/refcnt); echo refcnt=$r; [[ $r == 0 ]]'
check "rmmod zonetp" rmmod zonetp
leak_mark
finish
