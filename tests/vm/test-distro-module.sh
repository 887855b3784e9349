#!/bin/bash
# Usage: tests/vm/run-vm SID_ROOT/usr/lib/modules/KREL/vmlinuz \
#          tests/vm/test-distro-module.sh KREL MODULE.ko LOAD_LINE_REGEX
#
# Guest script for a distribution's stock kernel (Debian sid's signed
# vmlinuz, booted with its own modules): the kernel is KREL; its own
# nfnetlink_cttimeout and openvswitch modules load; MODULE.ko, an
# out-of-tree Rust module built by scripts/distro-module for that kernel, has
# its vermagic, loads (after Debian's nfnetlink_cttimeout is unloaded again), (its init logs a line matching LOAD_LINE_REGEX),
# carries exactly the out-of-tree (O) and unsigned (E) taints, unloads, and
# leaves no kernel splat.
# shellcheck disable=SC2016 # bash -c snippets expand in the child
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
krel=$1 ko=$2 load_re=$3
name=$(modinfo -F name "$ko" 2>/dev/null || basename "$ko" .ko)

mark="zonetp-test-distro-module-$$"
echo "$mark" >/dev/kmsg

check "running the distribution kernel $krel" bash -c 'uname -r; [[ $(uname -r) == "$1" ]]' _ "$krel"
check "kernel built with Rust (CONFIG_RUST=y in its config)" bash -c '
  grep -qx CONFIG_RUST=y "/lib/modules/$(uname -r)/config" || grep -qx CONFIG_RUST=y "/boot/config-$(uname -r)"'
check "its own modules load: modprobe nfnetlink_cttimeout openvswitch" modprobe -a nfnetlink_cttimeout openvswitch
# zonetp.ko provides the cttimeout subsystem itself: upstream's must be gone.
check "modprobe -r nfnetlink_cttimeout" modprobe -r nfnetlink_cttimeout
# Modules here (built in on the test kernel): insmod does not load them.
check "modprobe nf_conntrack (zonetp.ko links against it; nfnetlink is built in)" modprobe nf_conntrack
check "module file exists: $ko" test -f "$ko"
check "modinfo: license GPL, vermagic is the running kernel's" bash -c '
  ko=$1; modinfo "$ko" || exit 1
  [[ $(modinfo -F license "$ko") == GPL ]] || { echo "bad license"; exit 1; }
  [[ $(modinfo -F vermagic "$ko") == "$(uname -r) "* ]] || { echo "vermagic mismatch"; exit 1; }' _ "$ko"
check "$name not loaded before the test" bash -c '! test -d "/sys/module/$1"' _ "$name"
if insmod "$ko" >/tmp/insmod.out 2>&1; then
  check "insmod $name.ko" true
else
  check "insmod $name.ko FAILED: $(head -n1 /tmp/insmod.out); dmesg: $(dmesg | tail -n3 | tr '\n' ' ')" false
fi
check "/sys/module/$name exists" test -d "/sys/module/$name"
check "the module's taints are exactly O (out-of-tree) and E (no signature by a trusted key)" bash -c '
  t=$(cat "/sys/module/$1/taint"); echo "taint: $t"; [[ $t == OE ]]' _ "$name"
since_mark() { dmesg | sed -n "/$mark/,\$p"; }
check "dmesg: no unknown symbol, version disagreement or rejected signature" \
  absent 'Unknown symbol|disagrees about version|unsigned module is rejected|Key was rejected' since_mark
check "dmesg: the E taint comes from the kernel's not-enforced signature check" bash -c "
  dmesg | sed -n '/$mark/,\$p' | grep -E '$name: module verification failed: signature and/or required key missing - tainting kernel'"
check "dmesg has the load line /$load_re/" bash -c "dmesg | sed -n '/$mark/,\$p' | grep -E \"\$1\"" _ "$load_re"
check "rmmod $name" rmmod "$name"
check "/sys/module/$name gone after rmmod" bash -c '! test -d "/sys/module/$1"' _ "$name"
check "no WARNING/BUG/Oops/refcount/RCU splat in dmesg" dmesg_splats "$mark"
finish
