#!/bin/bash
# Usage: tests/vm/run-vm "$(scripts/build-kernel --print-dir)" tests/vm/test-hook-ownership.sh SELFTEST_KO
#
# nf_ct_timeout_hook belongs to the cttimeout provider that installed it.
# Upstream nfnetlink_cttimeout sets it at init and clears it at exit
# without looking; zonetp.ko must only clear it while it is still its own.
#
# The race, as it happens: `rmmod zonetp` unregisters zonetp's nfnetlink
# subsystem; a cttimeout request arriving now finds no provider, so the
# nfnetlink core autoloads upstream's (module alias nfnetlink-subsys-8),
# which takes the subsystem and sets the hook; then zonetp's exit reaches
# the hook.  Clearing it unconditionally there leaves upstream loaded with
# no hook: iptables CT rules and OVS flows can no longer resolve policies
# ("Timeout policy base is empty"), and templates made in between never
# give their references back.
#
# Under TCG the natural window (one grace period) is far shorter than a
# module load, so the test uses a ZONETP_SELFTEST=1 build of zonetp.ko
# (SELFTEST_KO), whose exit_hook_delay_ms parameter holds zonetp's exit in
# that window until another provider has set the hook (or that many ms
# have passed): every run hits it.  A stream of `nfct` requests during the
# unload makes the core load upstream; afterwards upstream must be loaded
# with a working hook (an `iptables -j CT --timeout` rule naming one of its
# policies is accepted).  The module before the fix fails this every time.
# shellcheck disable=SC2016
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
ko=$1 delay_ms=${ZONETP_HOOK_DELAY_MS:-180000}
mark="zonetp-test-hook-ownership-$$"
echo "$mark" >/dev/kmsg
loaded() { test -d "/sys/module/$1"; }

# hook_works: a policy made through the loaded provider resolves for an
# iptables CT rule (xt_CT -> nf_ct_set_timeout -> the hook).
hook_works() {
  local rc=0
  nfct add timeout hookp inet udp unreplied 5 || rc=1
  iptables -t raw -A OUTPUT -p udp -j CT --timeout hookp || rc=1
  iptables -t raw -S OUTPUT
  iptables -t raw -F
  nfct delete timeout hookp
  return $rc
}

check "no cttimeout provider loaded at the start" bash -c '! test -d /sys/module/nfnetlink_cttimeout && ! test -d /sys/module/zonetp'
check "insmod zonetp.ko (selftest build) exit_hook_delay_ms=$delay_ms" insmod "$ko" exit_hook_delay_ms="$delay_ms"
check "zonetp's hook works" hook_works

# rmmod in the background; requests until upstream is there.
rmmod zonetp & rm_pid=$!
end=$((SECONDS + delay_ms / 1000 + 60)) tries=0
until loaded nfnetlink_cttimeout || ((SECONDS >= end)); do
  nfct list timeout >/dev/null 2>&1; tries=$((tries + 1))
done
echo "# upstream loaded after $tries request(s)"
wait $rm_pid; rm_rc=$?
check "a cttimeout request autoloaded upstream while zonetp was unloading (zonetp saw it take the hook)" \
  bash -c "dmesg | sed -n '/$mark/,\$p' | grep 'zonetp: selftest: another provider took nf_ct_timeout_hook during unload'"
check "rmmod zonetp (exit $rm_rc)" test "$rm_rc" = 0
check "upstream nfnetlink_cttimeout is loaded" loaded nfnetlink_cttimeout
check "upstream's hook survived zonetp's exit: iptables CT --timeout resolves its policy" hook_works
check "rmmod nfnetlink_cttimeout" rmmod nfnetlink_cttimeout
check "zonetp.ko loads again after upstream is gone, with its hook" bash -c "
  insmod '$ko' && $(declare -f hook_works); hook_works; rc=\$?; rmmod zonetp; exit \$rc"
leak_mark   # the last free: leak_scan waits 6 s from here
check "no provider left loaded" bash -c '! test -d /sys/module/nfnetlink_cttimeout && ! test -d /sys/module/zonetp'
check "no WARNING/BUG/Oops/refcount/RCU splat in dmesg" dmesg_splats "$mark"
finish
