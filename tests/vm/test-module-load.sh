#!/bin/bash
# Usage: tests/vm/run-vm "$(scripts/build-kernel --print-dir)" tests/vm/test-module-load.sh [MODULE.ko]
#
# Guest script for the zonetp test kernel: zonetp.ko (default: the repo's
# build, <repo>/zonetp.ko) has the expected modinfo, loads, shows up in
# /sys/module, logs its line, unloads cleanly, and leaves no kernel splat.
# Creates and deletes one object through it.  Also checks the test kernel's
# upstream cttimeout/openvswitch modules load.  Ends with the checkers'
# verdict (tests/vm/lib.sh).
# shellcheck disable=SC2016 # bash -c snippets expand in the child
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
ko=${1:-$repo/zonetp.ko}

mark="zonetp-test-module-load-$$"
echo "$mark" >/dev/kmsg

check "module file exists: $ko" test -f "$ko"
check "modinfo: license GPL, description, version, vermagic matches $(uname -r)" bash -c '
  ko=$1; modinfo "$ko" || exit 1
  [[ $(modinfo -F license "$ko") == GPL ]] || { echo "bad license"; exit 1; }
  [[ -n $(modinfo -F description "$ko") ]] || { echo "no description"; exit 1; }
  [[ $(modinfo -F version "$ko") == [0-9]*.[0-9]*.[0-9]* ]] || { echo "no version"; exit 1; }
  [[ $(modinfo -F vermagic "$ko") == "$(uname -r) "* ]] || { echo "vermagic mismatch"; exit 1; }' _ "$ko"
check "zonetp not loaded before the test" bash -c '! test -d /sys/module/zonetp'
if insmod "$ko" >/tmp/insmod.out 2>&1; then
  check "insmod zonetp.ko" true
else
  check "insmod zonetp.ko FAILED: $(head -n1 /tmp/insmod.out); dmesg: $(dmesg | grep zonetp | tail -n1)" false
fi
check "/sys/module/zonetp exists" test -d /sys/module/zonetp
check "/sys/module/zonetp/version matches modinfo" bash -c '
  [[ $(cat /sys/module/zonetp/version) == "$(modinfo -F version "$1")" ]]' _ "$ko"
# One object's life through zonetp.ko (what the leak and use-after-free
# self-checks of run-tests inject into: a create and a delete), then a
# kmemleak scan while the module is loaded, so a leak's backtrace names it.
check "nfct add/get/delete one object through zonetp.ko" bash -c '
  nfct add timeout selfcheck inet udp unreplied 5 replied 7 && nfct get timeout selfcheck &&
  nfct delete timeout selfcheck && ! nfct get timeout selfcheck 2>/dev/null'
leak_mark
if is_test_kernel; then check "kmemleak: nothing leaked (module still loaded)" leak_scan; fi
check "rmmod zonetp" rmmod zonetp
check "/sys/module/zonetp gone after rmmod" bash -c '! test -d /sys/module/zonetp'
check "dmesg has the load line (C shim called from Rust)" bash -c "
  dmesg | sed -n '/$mark/,\$p' | grep -E 'zonetp: loaded'"
check "dmesg has the unload line" bash -c "dmesg | sed -n '/$mark/,\$p' | grep 'zonetp: unloaded'"
check "test kernel: modprobe nfnetlink_cttimeout openvswitch (=m)" modprobe -a nfnetlink_cttimeout openvswitch
finish
