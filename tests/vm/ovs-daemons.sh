# shellcheck shell=bash
# start_ovsdb_and_vswitchd, on its own so that the bench can source it:
# tests/vm/lib.sh (which sources this file for the tests) starts the kernel
# checkers' watch when it is sourced (a /dev/kmsg line, debugfs, a kmemleak
# scan and clear), which tests/vm/bench-userspace.sh must not do.
# Defines functions only; sourcing it runs nothing.
# (two_namespaces too: the port wiring of the OVS system tests.)

# start_ovsdb_and_vswitchd: a fresh Open_vSwitch database in /tmp/ovs (which
# must exist), its ovsdb-server on /tmp/ovs/db.sock, and Debian's
# ovs-vswitchd on it; the caller adds bridges and the Datapath row.
start_ovsdb_and_vswitchd() {
  ovsdb-tool create /tmp/ovs/conf.db /usr/share/openvswitch/vswitch.ovsschema || return 1
  ovsdb-server /tmp/ovs/conf.db --remote=punix:/tmp/ovs/db.sock --pidfile=/tmp/ovs/ovsdb-server.pid \
    --detach --log-file=/tmp/ovs/ovsdb-server.log || return 1
  ovs-vsctl --no-wait init || return 1
  ovs-vswitchd unix:/tmp/ovs/db.sock --pidfile=/tmp/ovs/ovs-vswitchd.pid --detach \
    --log-file=/tmp/ovs/ovs-vswitchd.log || return 1
}

# two_namespaces: at_ns0 (10.1.1.1) on port 1 and at_ns1 (10.1.1.2) on port 2
# of bridge br0, through veth pairs, as OVS's system tests wire them.
two_namespaces() {
  ip netns add at_ns0 && ip netns add at_ns1 || return 1
  ip link add p0 type veth peer name ovs-p0 && ip link add p1 type veth peer name ovs-p1 || return 1
  ip link set p0 netns at_ns0 && ip link set p1 netns at_ns1 || return 1
  ip link set ovs-p0 up && ip link set ovs-p1 up || return 1
  ip -n at_ns0 addr add 10.1.1.1/24 dev p0 && ip -n at_ns0 link set p0 up || return 1
  ip -n at_ns1 addr add 10.1.1.2/24 dev p1 && ip -n at_ns1 link set p1 up || return 1
  ovs-vsctl add-port br0 ovs-p0 -- set interface ovs-p0 ofport_request=1 &&
    ovs-vsctl add-port br0 ovs-p1 -- set interface ovs-p1 ofport_request=2
}
