#!/bin/bash
# Usage: tests/vm/run-vm /boot/vmlinuz-6.12.*-amd64 tests/vm/test-vswitchd-status.sh ZONETP_BINARY
#
# `zonetp status` beside the real Open vSwitch (issue 20): Debian's
# ovs-vswitchd (3.1) on the stock kernel manages the policies, numbered its
# own way and kept in no database. Policies on zones 0, 5, 7 and 20 are set
# with `ovs-vsctl add-zone-tp`; zones 5 and 7 differ only in udp_first,
# which the kernel has no timeout for, so ovs-vswitchd makes two ids with
# identical objects and only the datapath's flows can tell them apart.
# OpenFlow flows commit ICMP and UDP to port 5000 in zone 5, UDP to 7000
# in zone 7, to 2000 in zone 20 and to 1000 in zone 0; ping and UDP make
# ovs-vswitchd install datapath flows ct(commit,zone=N,timeout=ovs_tp_*).
# Then `zonetp --db ... status` must report every zone in sync, no stray,
# and name for each zone exactly the objects its flows commit with (as
# `ovs-appctl dpctl/dump-flows` shows them), with their use counts and
# live entries; `sync --dry-run` plans nothing and `sync` is refused.
# The status and the raw flow dump are printed for the docs and fixtures.
# shellcheck disable=SC2016
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
Z=${1:?usage: test-vswitchd-status.sh ZONETP_BINARY}
mark="zonetp-test-vswitchd-status-$$"
echo "$mark" >/dev/kmsg

export OVS_RUNDIR=/tmp/ovs OVS_LOGDIR=/tmp/ovs OVS_DBDIR=/tmp/ovs OVS_SYSCONFDIR=/tmp/ovs OVS_PKGDATADIR=/usr/share/openvswitch
DB=unix:/tmp/ovs/db.sock
mkdir -p /tmp/ovs
eventually() { local end=$((SECONDS + $1)); shift; until "$@"; do ((SECONDS < end)) || return 1; sleep 0.5; done; }
ns0() { ip netns exec at_ns0 "$@"; }
z() { "$Z" --db "$DB" "$@"; }

start_ovs() {
  modprobe -a openvswitch nfnetlink_cttimeout || return 1
  start_ovsdb_and_vswitchd || return 1
  ovs-vsctl add-br br0 -- set bridge br0 fail-mode=secure &&
    ovs-vsctl -- --id=@m create Datapath datapath_version=0 -- set Open_vSwitch . datapaths:"system"=@m
}
policies() {
  ovs-vsctl add-zone-tp system zone=0 udp_single=90 tcp_established=3600 &&
    ovs-vsctl add-zone-tp system zone=5 udp_first=5 udp_single=50 icmp_first=50 icmp_reply=50 &&
    ovs-vsctl add-zone-tp system zone=7 udp_first=7 udp_single=50 icmp_first=50 icmp_reply=50 &&
    ovs-vsctl add-zone-tp system zone=20 udp_single=70 tcp_established=700 &&
    ovs-vsctl list-zone-tp system
}
# Four policies, six objects each.
pushed() {
  eventually 60 bash -c 'n=$(nfct list timeout | grep -c "^\.ovs_tp_"); ((n == 24))' && return 0
  nfct list timeout | grep '^\.ovs_tp_'; tail -n 30 /tmp/ovs/ovs-vswitchd.log
  return 1
}
openflow() {
  # Idle datapath flows are kept a minute (the default is 10 s), long
  # enough under TCG for every check below.
  ovs-vsctl set Open_vSwitch . other_config:max-idle=60000 || return 1
  ovs-ofctl add-flows br0 - <<'EOF'
priority=1,action=drop
priority=10,arp,action=normal
priority=100,in_port=1,icmp,action=ct(zone=5,table=1)
priority=100,in_port=2,icmp,action=ct(zone=5,table=1)
priority=100,in_port=1,udp,tp_dst=5000,action=ct(zone=5,table=1)
priority=100,in_port=1,udp,tp_dst=7000,action=ct(zone=7,table=1)
priority=100,in_port=1,udp,tp_dst=2000,action=ct(zone=20,table=1)
priority=100,in_port=1,udp,tp_dst=1000,action=ct(table=1)
table=1,in_port=1,icmp,ct_state=+trk+new,action=ct(commit,zone=5),2
table=1,in_port=1,udp,tp_dst=5000,ct_state=+trk+new,action=ct(commit,zone=5),2
table=1,in_port=1,udp,tp_dst=7000,ct_state=+trk+new,action=ct(commit,zone=7),2
table=1,in_port=1,udp,tp_dst=2000,ct_state=+trk+new,action=ct(commit,zone=20),2
table=1,in_port=1,udp,tp_dst=1000,ct_state=+trk+new,action=ct(commit),2
table=1,in_port=1,ip,ct_state=+trk+est,action=2
table=1,in_port=2,ip,ct_state=+trk+est,action=1
EOF
  ovs-ofctl dump-flows br0 --no-stats
}
send_traffic() {
  ns0 ping -q -c 3 -i 0.3 -W 2 10.1.1.2 || return 1
  ns0 python3 -c '
import socket
for port in (5000, 7000, 2000, 1000):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.1.1.1", 0))
    s.sendto(b"zonetp", ("10.1.1.2", port))'
}
# zone object: the committing datapath flows, as ovs-dpctl prints them
# (zone 0 has no zone=).
flow_objects() {
  ovs-appctl dpctl/dump-flows | grep -oE 'ct\(commit(,zone=[0-9]+)?[^)]*timeout=ovs_tp_[0-9]+_[a-z0-9]+' |
    sed -E 's/^ct\(commit(,zone=([0-9]+))?.*timeout=/\2 /; s/^ /0 /' | sort -u
}
every_zone_commits() {
  local out; out=$(flow_objects)
  local zone
  for zone in 0 5 7 20; do grep -q "^$zone ovs_tp_" <<<"$out" || return 1; done
  grep -q '^5 ovs_tp_[0-9]*_icmp4' <<<"$out"
}
commit_flows_installed() {
  local rc=0
  eventually 30 every_zone_commits || rc=1
  ovs-appctl dpctl/dump-flows
  echo "committing flows by zone:"; flow_objects
  return $rc
}

# More packets on the flows just before status reads them: under TCG a
# check can take long, and an idle flow is the revalidator's to delete.
refresh() { send_traffic >/dev/null 2>&1; }
status_text() {
  local out rc
  refresh
  out=$(z status --check); rc=$?
  echo "$out"
  ((rc == 0)) || return 1
  grep -q '^datapath system: objects of ovs-vswitchd (pid [0-9]*), numbered by it' <<<"$out" &&
    grep -q "^in sync: ovs-vswitchd's objects carry every zone's policy$" <<<"$out" &&
    ! grep -qE 'stray|differs|missing|not pushed|flows lack it|out of sync' <<<"$out"
}
# The objects status names for each zone are those its flows commit with,
# every zone was decided by the flows, zones 5 and 7 got different ids
# though each fits the other's values, every zone has live entries, and
# each object its flows use is held by their templates (use >= 2).
status_json() {
  local json
  refresh
  json=$(z status --format json) || return 1
  flow_objects | python3 -c '
import json, sys
report = json.loads(sys.argv[1])
flows = {}
for line in sys.stdin:
    zone, name = line.split()
    flows.setdefault(int(zone), set()).add(name)
zones = {z["zone"]: z for z in report["zones"]}
bad = []
assert report["strays"] == [] and report["vswitchd"]["unclaimed"] == [], "strays or unclaimed"
for zone in (0, 5, 7, 20):
    z = zones[zone]
    d = z["decided_by"]
    named = set(d.get("objects", []))
    print("zone %d: %s %s, policy %s, %d entries" % (zone, d["by"], sorted(named), z["policy_id"], z["entries"]))
    if d["by"] != "flows" or named != flows[zone]:
        bad.append("zone %d: status names %s, the flows commit with %s" % (zone, sorted(named), sorted(flows[zone])))
    if z["entries"] < 1:
        bad.append("zone %d: no live entries counted" % zone)
    for o in z["objects"]:
        if o["state"] != "in-sync":
            bad.append("zone %d %s %s: %s" % (zone, o["l3"], o["l4"], o["state"]))
        if o["object"] in named and (o["use"] or 0) < 2:
            bad.append("%s: use %s, but flows hold it" % (o["object"], o["use"]))
z5, z7 = zones[5], zones[7]
if z5["policy_id"] == z7["policy_id"]:
    bad.append("zones 5 and 7 got one id")
if z7["policy_id"] not in z5["decided_by"]["also_fit"] or z5["policy_id"] not in z7["decided_by"]["also_fit"]:
    bad.append("zones 5 and 7: the other id fits too, and the report should say so")
print("\n".join(bad))
sys.exit(1 if bad else 0)' "$json"
}
dry_run_plans_nothing() {
  local out; out=$(z sync --dry-run) || return 1
  echo "$out"
  grep -q '^sync system: nothing planned: ovs-vswitchd (pid [0-9]*) runs in this network namespace' <<<"$out" &&
    ! grep -qE '^(create|replace|delete) ' <<<"$out"
}
sync_refused() {
  local err; err=$(z sync 2>&1 >/dev/null); local rc=$?
  echo "$err"
  ((rc == 1)) && grep -q 'sync refused, use --beside-vswitchd' <<<"$err"
}

check "stock Debian 6.12 kernel" bash -c '[[ $(uname -r) == 6.12.*-amd64 ]]'
check "ovsdb-server and ovs-vswitchd running, bridge br0, Datapath system" start_ovs
check "ovs-vswitchd sees the ct_timeout capability" bash -c '
  for i in $(seq 40); do ovs-vsctl list-dp-cap system | grep -q "ct_timeout=true" && exit 0; sleep 0.5; done
  ovs-vsctl list-dp-cap system; exit 1'
check "two namespaces on ports 1 and 2" two_namespaces
check "ovs-vsctl add-zone-tp: zones 0, 5, 7 (5's values but udp_first) and 20" policies
check "ovs-vswitchd pushed 24 objects (four policies)" pushed
check "OpenFlow flows commit in zones 5, 7, 20 and 0" openflow
check "ping and UDP through br0" send_traffic
check "vswitchd installed ct(commit,zone=N,timeout=ovs_tp_*) for zones 0, 5, 7, 20" commit_flows_installed
check "zonetp status: every zone in sync with ovs-vswitchd's objects, no stray" status_text
check "zonetp status --format json: each zone's objects are the ones its flows use" status_json
check "zonetp sync --dry-run plans nothing beside ovs-vswitchd" dry_run_plans_nothing
check "zonetp sync is refused beside ovs-vswitchd" sync_refused
check "the datapath's raw flow dump (golden fixture)" python3 "$here/ovs_flow_dump.py" ovs-system
ovs-appctl -t ovs-vswitchd exit >/dev/null 2>&1
ovs-appctl -t ovsdb-server exit >/dev/null 2>&1
ip netns del at_ns0; ip netns del at_ns1
finish
