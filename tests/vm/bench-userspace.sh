#!/bin/bash
# Usage (guest, from tests/vm/bench-guest.sh): bench-userspace.sh ZONETP_KO ZONETP_BIN
#
# e. Userspace against the real thing, at 4,096 zones with a policy each
# (24,576 kernel objects), in the same VM, on each cttimeout provider:
#  - Debian's ovs-vswitchd gets the configuration through one ovs-vsctl
#    transaction (4,096 add-zone-tp); time until all objects exist in the
#    kernel (polled once a second) -- against `zonetp sync` of the same
#    configuration, in a namespace of its own (list-zone-tp of both must
#    agree before anything is timed);
#  - a no-op `zonetp sync` against one dump (`zonetp timeout list`);
#  - `zonetp add-zone-tp` at 1 and at 4,096 zones, `list-zone-tp` (reading
#    the file) at 4,096, and ovs-vsctl add-zone-tp at 4,096.
# Prints BENCH lines (tests/vm/bench-lib.sh); nothing about time is asserted.
# shellcheck disable=SC2016
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/bench-lib.sh
. "$here/bench-lib.sh"
# Not lib.sh: sourcing it starts the test kernel checkers' watch.
# shellcheck source=tests/vm/ovs-daemons.sh
. "$here/ovs-daemons.sh"
export ZONETP_KO=${1:?usage: bench-userspace.sh ZONETP_KO ZONETP_BIN}
Z=${2:?}
# shellcheck disable=SC2206 # the providers to compare; the default is both
providers=(${ZONETP_BENCH_PROVIDERS:-upstream zonetp})
ZONES=${ZONETP_BENCH_ZONES:-4096}; OBJECTS=$((ZONES * 6))
export OVS_RUNDIR=/tmp/ovs OVS_LOGDIR=/tmp/ovs OVS_DBDIR=/tmp/ovs OVS_SYSCONFDIR=/tmp/ovs OVS_PKGDATADIR=/usr/share/openvswitch
work=/tmp/zonetp-bench-e
mkdir -p "$work"

# Both sides get the same policy for zone z, distinct per zone:
# tcp_established=1000+z udp_single=100+z icmp_first=10+z.
# conf.json of zones 1..N as `zonetp add-zone-tp` would write it (zone z,
# policy id z); 4,096 add-zone-tp processes would take minutes under TCG.
write_zonetp_config() { # FILE N
  python3 - "$1" "$2" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
conf = {"schema_version": 1,
        "datapaths": {"system": {"ct_zones": {str(z): {"timeout_policy": z} for z in range(1, n + 1)}}},
        "timeout_policies": {str(z): {"timeouts": {"icmp_first": 10 + z, "tcp_established": 1000 + z,
                                                   "udp_single": 100 + z}} for z in range(1, n + 1)}}
with open(path, "w") as f:
    json.dump(conf, f, indent=2)
PY
}

objects_here() { # ovs_tp_ objects in this namespace
  python3 -c "
import sys; sys.path.insert(0, '$here'); import bench_ctt
print(sum(n.startswith('ovs_tp_') for n in bench_ctt.Client().uses()))"
}

start_ovs() {
  rm -rf /tmp/ovs; mkdir -p /tmp/ovs
  modprobe openvswitch || return 1
  start_ovsdb_and_vswitchd || return 1
  ovs-vsctl add-br br0 &&
    ovs-vsctl -- --id=@m create Datapath datapath_version=0 -- set Open_vSwitch . datapaths:"system"=@m ||
    return 1
  local i
  for i in $(seq 120); do
    ovs-vsctl list-dp-cap system | grep -q ct_timeout=true && return 0
    sleep 0.5
  done
  say "ovs-vswitchd never reported ct_timeout=true"; return 1
}

stop_ovs() {
  ovs-appctl -t ovs-vswitchd exit >/dev/null 2>&1
  ovs-appctl -t ovsdb-server exit >/dev/null 2>&1
  ovs-dpctl del-dp ovs-system >/dev/null 2>&1
  sleep 1
}

vswitchd_push() { # PROVIDER: ovs-vsctl transaction until all objects exist
  local p=$1 args=() z t0 n i
  for ((z = 1; z <= ZONES; z++)); do
    args+=(-- add-zone-tp system "zone=$z" "tcp_established=$((1000 + z))" "udp_single=$((100 + z))"
      "icmp_first=$((10 + z))")
  done
  t0=$(now)
  ovs-vsctl --no-wait "${args[@]}" || return 1
  bench_out "$p" vsctl_txn $ZONES "$(since "$t0")"
  for i in $(seq 1800); do
    n=$(objects_here)
    ((n >= OBJECTS)) && break
    sleep 1
  done
  ((n == OBJECTS)) || { say "ovs-vswitchd pushed $n of $OBJECTS objects"; tail -n 20 /tmp/ovs/ovs-vswitchd.log >&2; return 1; }
  bench_out "$p" vswitchd_push $ZONES "$(since "$t0")"
}

# Runs CMD... 3 times; prints the median wall time.
timed3() {
  local ts=() t0 i
  for i in 1 2 3; do
    t0=$(now); "$@" >/dev/null || return 1; ts+=("$(since "$t0")")
  done
  median "${ts[@]}"
}

zonetp_push() { # PROVIDER: zonetp sync of the same configuration, in its own namespace
  local p=$1 t0 n
  ip netns add bench-zs || return 1
  write_zonetp_config "$work/conf.json" $ZONES || return 1
  export ZONETP_DB=$work/conf.json
  diff <(ovs-vsctl list-zone-tp system | sort) <("$Z" list-zone-tp system | sort) >/dev/null ||
    { say "ovs-vsctl and zonetp list-zone-tp differ"; return 1; }
  t0=$(now)
  ip netns exec bench-zs "$Z" sync >/dev/null || return 1
  bench_out "$p" zonetp_sync $ZONES "$(since "$t0")"
  n=$(ip netns exec bench-zs bash -c "$(declare -f objects_here); here=$here; objects_here")
  ((n == OBJECTS)) || { say "zonetp sync left $n of $OBJECTS objects"; return 1; }
  bench_out "$p" noop_sync $ZONES "$(timed3 ip netns exec bench-zs "$Z" sync)" || return 1
  bench_out "$p" dump $ZONES "$(timed3 ip netns exec bench-zs "$Z" timeout list)" || return 1
  ip netns del bench-zs
}

# add-zone-tp of one more zone (then removed again), in a file of N zones.
add_zone() { "$Z" add-zone-tp system zone=5000 udp_single=5 && "$Z" del-zone-tp system zone=5000; }
add_zone_tp() {
  local n
  export ZONETP_DB=$work/add.json
  for n in 1 $ZONES; do
    write_zonetp_config "$ZONETP_DB" $n || return 1
    bench_out zonetp add_zone_tp $n "$(timed3 add_zone)" || return 1
    bench_out zonetp list_zone_tp $n "$(timed3 "$Z" list-zone-tp system)" || return 1
  done
  bench_out ovs-vsctl add_zone_tp $ZONES "$(timed3 bash -c \
    'ovs-vsctl --no-wait add-zone-tp system zone=5000 udp_single=5 && ovs-vsctl --no-wait del-zone-tp system zone=5000')"
}

for p in "${providers[@]}"; do
  provider_load $p
  say "$p: ovs-vswitchd and zonetp sync, $ZONES zones ($OBJECTS objects)"
  start_ovs || die "cannot start ovs-vswitchd"
  vswitchd_push $p || die "$p: ovs-vswitchd push failed"
  zonetp_push $p || die "$p: zonetp sync failed"
  [[ $p == zonetp ]] && { add_zone_tp || die "add-zone-tp failed"; }
  stop_ovs
  # ovs-vswitchd never deletes its objects (not even on exit --cleanup),
  # and each holds a reference on the provider's module.
  nfct flush timeout || die "$p: cannot flush ovs-vswitchd's objects"
  provider_unload
done
