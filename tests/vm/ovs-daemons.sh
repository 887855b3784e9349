# shellcheck shell=bash
# start_ovsdb_and_vswitchd, on its own so that the bench can source it:
# tests/vm/lib.sh (which sources this file for the tests) starts the kernel
# checkers' watch when it is sourced (a /dev/kmsg line, debugfs, a kmemleak
# scan and clear), which tests/vm/bench-userspace.sh must not do.
# Defines functions only; sourcing it runs nothing.

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
