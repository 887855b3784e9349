#!/bin/bash
# Usage: tests/vm/run-vm /boot/vmlinuz-6.12.117+deb12-amd64 tests/vm/test-stock-kernel.sh
#
# Guest script for the stock Debian 6.12 kernel: the upstream cttimeout
# (nfnetlink_cttimeout) and openvswitch modules load, and a timeout policy can
# be added, listed and deleted with nfct.
# shellcheck disable=SC2016 # bash -c snippets expand in the child
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"

mark="zonetp-test-stock-$$"
echo "$mark" >/dev/kmsg

check "running a stock Debian 6.12 kernel" bash -c 'uname -r; [[ $(uname -r) == 6.12.*-amd64 ]]'
check "modprobe openvswitch nfnetlink_cttimeout" modprobe -a openvswitch nfnetlink_cttimeout
check "openvswitch module loaded" test -d /sys/module/openvswitch
check "nfnetlink_cttimeout module loaded" test -d /sys/module/nfnetlink_cttimeout
check "nfct add timeout t1 inet udp unreplied 10 replied 20" \
  nfct add timeout t1 inet udp unreplied 10 replied 20
check "nfct list timeout shows t1 with the requested values" bash -c '
  out=$(nfct list timeout); echo "$out"
  grep -q "^\.t1 = {" <<<"$out" && grep -q "\.UNREPLIED = 10," <<<"$out" &&
    grep -q "\.REPLIED = 20," <<<"$out" && grep -q "\.l4proto = 17," <<<"$out"'
check "nfct delete timeout t1" nfct delete timeout t1
check "t1 is gone" absent '^\.t1 = ' nfct list timeout
finish
