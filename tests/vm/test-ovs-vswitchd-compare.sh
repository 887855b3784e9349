#!/bin/bash
# Usage: tests/vm/run-vm /boot/vmlinuz-6.12.*-amd64 tests/vm/test-ovs-vswitchd-compare.sh ZONETP_BINARY
#
# Side by side with the real Open vSwitch: Debian's ovs-vswitchd (3.1) runs
# in the VM's initial network namespace and pushes zone policies set with
# `ovs-vsctl add-zone-tp` into the kernel; zonetp gets the same
# configuration and runs all its commands in a namespace of its own (its
# numbering skips the ids of ovs_tp_ objects already in its kernel, so it
# must not see ovs-vswitchd's; docs/reliability.md, M4). The
# cttimeout objects both leave in the kernel (names and every value, as
# `nfct list timeout` shows them) must be identical.
# shellcheck disable=SC2016
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
Z=${1:?usage: test-ovs-vswitchd-compare.sh ZONETP_BINARY}
mark="zonetp-test-vswitchd-$$"
echo "$mark" >/dev/kmsg

export OVS_RUNDIR=/tmp/ovs OVS_LOGDIR=/tmp/ovs OVS_DBDIR=/tmp/ovs OVS_SYSCONFDIR=/tmp/ovs OVS_PKGDATADIR=/usr/share/openvswitch
export ZONETP_DB=/tmp/zonetp-compare/conf.json
mkdir -p /tmp/ovs /tmp/zonetp-compare

start_ovs() {
  modprobe -a openvswitch nfnetlink_cttimeout || return 1
  start_ovsdb_and_vswitchd || return 1
  ovs-vsctl add-br br0 &&
    ovs-vsctl -- --id=@m create Datapath datapath_version=0 -- set Open_vSwitch . datapaths:"system"=@m
}

# Both sides get the same commands.
configure() { # TOOL...: runs the zone commands with that tool
  "$@" add-zone-tp system zone=5 udp_first=1 udp_single=2 udp_multiple=3 icmp_first=4 icmp_reply=5 \
    tcp_established=100 tcp_retransmit=7 tcp_unack=8 &&
    "$@" add-zone-tp system zone=7 udp_first=1 udp_single=2 udp_multiple=3 icmp_first=4 icmp_reply=5 \
      tcp_established=100 tcp_retransmit=7 tcp_unack=8
}
configure_more() {
  "$@" add-zone-tp system zone=9 tcp_syn_sent=11 tcp_syn_recv=12 tcp_fin_wait=13 tcp_close_wait=14 \
    tcp_last_ack=15 tcp_time_wait=16 tcp_close=17 tcp_syn_sent2=18 udp_single=19
}

# The ovs_tp_ objects of the current namespace, as nfct prints them.
ovs_objects() { nfct list timeout | awk '/^\.ovs_tp_/{keep=1} keep{print} /^};/{keep=0}'; }

wait_for_vswitchd() { # COUNT: wait until vswitchd has pushed COUNT objects
  local i
  for i in $(seq 60); do
    (($(ovs_objects | grep -c '^\.ovs_tp_') == $1)) && return 0
    sleep 0.5
  done
  ovs_objects; tail -n 20 /tmp/ovs/ovs-vswitchd.log
  return 1
}

zonetp_side() { ip netns exec zonetp-side "$@"; }

compare() { # LABEL
  local ovs zt
  ovs=$(ovs_objects)
  zt=$(zonetp_side bash -c "$(declare -f ovs_objects); ovs_objects")
  echo "ovs-vswitchd: $(grep -c '^\.ovs_tp_' <<<"$ovs") objects; zonetp: $(grep -c '^\.ovs_tp_' <<<"$zt") objects"
  diff -u <(echo "$ovs") <(echo "$zt") && [[ -n $ovs ]]
}

check "stock Debian 6.12 kernel" bash -c '[[ $(uname -r) == 6.12.*-amd64 ]]'
check "ovsdb-server and ovs-vswitchd running, Datapath system created" start_ovs
check "ovs-vswitchd sees the ct_timeout capability" bash -c '
  for i in $(seq 40); do ovs-vsctl list-dp-cap system | grep -q "ct_timeout=true" && exit 0; sleep 0.5; done
  ovs-vsctl list-dp-cap system; exit 1'
check "ovs-vsctl add-zone-tp (zones 5 and 7 share a policy)" configure ovs-vsctl
check "ovs-vswitchd pushed six objects" wait_for_vswitchd 6
ip netns add zonetp-side
check "zonetp: same configuration" zonetp_side bash -c "'$Z' add-dp system && $(declare -f configure); configure '$Z'"
check "zonetp sync in its own namespace" zonetp_side "$Z" sync
check "list-zone-tp is the same" bash -c "diff -u <(ovs-vsctl list-zone-tp system) <(ip netns exec zonetp-side '$Z' list-zone-tp system)"
check "identical kernel objects (names and values)" compare first
check "a second, different policy on zone 9 (ovs-vsctl)" configure_more ovs-vsctl
check "the same on zonetp" zonetp_side bash -c "$(declare -f configure_more); configure_more '$Z'"
check "ovs-vswitchd pushed twelve objects" wait_for_vswitchd 12
check "zonetp sync" zonetp_side "$Z" sync
check "identical kernel objects after the second policy" compare second
check "del-zone-tp zone=9 on both" bash -c "ovs-vsctl del-zone-tp system zone=9 && ip netns exec zonetp-side '$Z' del-zone-tp system zone=9"
check "ovs-vswitchd removed the six objects" wait_for_vswitchd 6
check "zonetp sync" zonetp_side "$Z" sync
check "identical kernel objects after the delete" compare third
ovs-appctl -t ovs-vswitchd exit >/dev/null 2>&1
ovs-appctl -t ovsdb-server exit >/dev/null 2>&1
finish
