#!/bin/bash
# Usage: tests/distro/vm-root ROOT STATE tests/vm/run-vm --root STATE/root \
#          ROOT/usr/lib/modules/KREL/vmlinuz tests/distro/test-trixie-packages.sh KREL installed|removed
#
# Guest script of the trixie stage (tests/distro/run-distro trixie): a
# Debian 13 root with trixie-backports' stock kernel KREL, booted from
# Debian's own signed image.
#
# installed: apt installed the two packages of `make deb` (zonetp-dkms,
# zonetp).  Installed means used: with nothing loaded by hand, whatever
# autoloads cttimeout gets zonetp.ko, DKMS's build of it:
#   - `nfct add timeout` (nfnetlink's request for subsystem 8, the
#     nfnetlink-subsys-8 alias of nfnetlink_cttimeout, which zonetp's
#     modprobe.d rule turns into zonetp);
#   - an `iptables -j CT --timeout` rule then resolves that object through
#     zonetp's nf_ct_timeout_hook, and a real connection starts with it;
#   - `modprobe nfnetlink_cttimeout` itself.
# (ovs-vswitchd, the fourth user, is tests/vm/test-vswitchd-zonetp.sh
# --autoload in the same boot.)  Then upstream on purpose: `modprobe
# --ignore-install nfnetlink_cttimeout` loads Debian's module, the
# documented way to choose it.
#
# removed: `apt remove zonetp-dkms zonetp` ran (in the root, on the host:
# under TCG, dpkg over the guest's root took 8 minutes when it was 9p).  The
# kernel is upstream's again: no rule, no zonetp.ko, no command, and
# `nfct add timeout` autoloads nfnetlink_cttimeout.
# shellcheck disable=SC2016 # bash -c snippets expand in the child
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/../vm/lib.sh"
usage="usage: test-trixie-packages.sh KREL installed|removed"
krel=${1:?$usage} state=${2:?$usage}
mark="zonetp-test-trixie-packages-$$"
echo "$mark" >/dev/kmsg
loaded() { test -d "/sys/module/$1"; }
neither_loaded() {
  lsmod | grep -E '^(zonetp|nfnetlink_cttimeout) ' && return 1
  ! loaded zonetp && ! loaded nfnetlink_cttimeout
}
only_zonetp() {
  lsmod | grep -E '^(zonetp|nfnetlink_cttimeout|nf_conntrack) '
  loaded zonetp && ! loaded nfnetlink_cttimeout
}
# back_to_nothing: no object, no rule, zonetp unloaded.
back_to_nothing() {
  iptables -t raw -F OUTPUT
  conntrack -F >/dev/null 2>&1
  nfct flush timeout || return 1
  eventually 20 bash -c '[[ $(cat /sys/module/zonetp/refcnt) == 0 ]]' || return 1
  rmmod zonetp && neither_loaded
}
eventually() { local end=$((SECONDS + $1)); shift; until "$@"; do ((SECONDS < end)) || return 1; sleep 0.5; done; }
# The checks below run some of these in `bash -c`.
export -f loaded neither_loaded only_zonetp eventually

check "the trixie-backports kernel $krel, Debian 13" bash -c '
  uname -r; cat /etc/debian_version
  [[ $(uname -r) == "$1" && $(cut -d. -f1 /etc/debian_version) == 13 ]]' _ "$krel"
if [[ $state == removed ]]; then
  check "neither package installed" bash -c '
    dpkg-query -W -f="\${Package} \${Status}\n" zonetp zonetp-dkms 2>&1
    ! dpkg-query -W -f="\${Status}\n" zonetp zonetp-dkms 2>/dev/null | grep -q "install ok installed"'
  check "the command zonetp is gone with its package" bash -c '! command -v zonetp'
  check "no zonetp.ko left for $krel" bash -c '! modinfo zonetp 2>/dev/null'
  check "the modprobe rule is gone" absent "^install nfnetlink_cttimeout " modprobe -c
  check "nothing cttimeout loaded after boot" neither_loaded
  check "nfct add timeout now autoloads Debian's nfnetlink_cttimeout" bash -c '
    nfct add timeout zt-up inet udp unreplied 9 && loaded nfnetlink_cttimeout && ! loaded zonetp &&
    lsmod | grep -E "^(zonetp|nfnetlink_cttimeout) "'
  check "upstream serves it" bash -c 'nfct list timeout | grep "^\.zt-up = "'
  check "nfct flush timeout; rmmod nfnetlink_cttimeout" bash -c 'nfct flush timeout && rmmod nfnetlink_cttimeout && neither_loaded'
  finish
fi
[[ $state == installed ]] || { echo "$usage" >&2; exit 2; }
check "both packages installed" bash -c '
  dpkg-query -W -f="\${Package} \${Status}\n" zonetp zonetp-dkms
  [[ $(dpkg-query -W -f="\${Status}\n" zonetp zonetp-dkms | grep -c "install ok installed") == 2 ]]'
check "modprobe finds DKMS's zonetp.ko (updates/dkms)" bash -c '
  f=$(modinfo -F filename zonetp); echo "$f"; [[ $f == */updates/dkms/zonetp.ko* ]]'
check "modprobe's configuration: nfnetlink_cttimeout is installed as zonetp" bash -c '
  modprobe -c | grep -E "^install nfnetlink_cttimeout "'
check "nothing cttimeout loaded after boot" neither_loaded

# 1. nfct: the nfnetlink request autoloads the subsystem's module.
check "nfct add timeout (autoload) succeeds" nfct add timeout zt-auto inet udp unreplied 7 replied 20
check "zonetp.ko answered it: zonetp loaded, upstream not" only_zonetp
check "the object is zonetp's: it holds a zonetp.ko reference" bash -c '
  r=$(cat /sys/module/zonetp/refcnt); echo "zonetp refcnt $r"; ((r == 1))'
check "nfct list timeout shows it" bash -c 'nfct list timeout | grep -A6 "^\.zt-auto = " | grep "UNREPLIED = 7,"'

# 2. iptables -j CT --timeout: resolved through zonetp's hook; a real
# connection (UDP on lo) starts with the policy's 7 s, not the default 30.
ct_rule() {
  iptables -t raw -A OUTPUT -p udp --dport 9 -j CT --timeout zt-auto || return 1
  iptables -t raw -S OUTPUT
}
udp_entry() {
  conntrack -F >/dev/null 2>&1
  echo zonetp >/dev/udp/127.0.0.1/9 || true
  local line t
  line=$(conntrack -L -p udp --dport 9 2>/dev/null | head -n1)
  echo "$line"
  t=$(awk '{print $3}' <<<"$line")
  [[ $t =~ ^[0-9]+$ ]] && ((t <= 7))
}
check "iptables -t raw ... -j CT --timeout zt-auto (resolved by zonetp's hook)" ct_rule
check "the rule holds the policy: refcnt 2 or more" bash -c '
  r=$(cat /sys/module/zonetp/refcnt); echo "zonetp refcnt $r"; ((r >= 2))'
check "a UDP connection through the rule starts with 7 s (default 30)" udp_entry
check "rule, entries and objects gone; rmmod zonetp" back_to_nothing

# 3. modprobe nfnetlink_cttimeout itself.
check "modprobe nfnetlink_cttimeout loads zonetp.ko" bash -c 'modprobe nfnetlink_cttimeout && lsmod | grep -E "^(zonetp|nfnetlink_cttimeout) "'
check "zonetp loaded, upstream not" only_zonetp
check "rmmod zonetp" bash -c 'rmmod zonetp && neither_loaded'

# 4. Upstream by an explicit choice.
check "modprobe --ignore-install nfnetlink_cttimeout loads Debian's module" bash -c '
  modprobe --ignore-install nfnetlink_cttimeout && loaded nfnetlink_cttimeout && ! loaded zonetp'
check "zonetp.ko refuses to load beside it (modprobe zonetp: EBUSY)" fails_with "Device or resource busy" modprobe zonetp
check "  and is not loaded" bash -c '! loaded zonetp'
check "rmmod nfnetlink_cttimeout" bash -c 'rmmod nfnetlink_cttimeout && neither_loaded'

# 5. The agent as zonetp.service starts it (no systemd runs in the VM):
# the unit's ExecStart, with /etc/default/zonetp's variables and the store
# named there, pushes a zone's policy into the kernel, autoloading
# zonetp.ko on the way.
agent_as_unit() {
  local db=/tmp/zonetp-unit/conf.json unit=/usr/lib/systemd/system/zonetp.service cmd pid rc=0
  mkdir -p /tmp/zonetp-unit
  ZONETP_DB=$db zonetp add-dp system && ZONETP_DB=$db zonetp add-zone-tp system zone=5 udp_single=10 || return 1
  cmd=$(sed -n 's/^ExecStart=//p' "$unit"); echo "ExecStart=$cmd"
  [[ -n $cmd ]] || return 1
  (set -a; . /etc/default/zonetp; ZONETP_DB=$db; exec sh -c "exec $cmd") &
  pid=$!
  eventually 30 bash -c 'nfct list timeout 2>/dev/null | grep -A6 "^\.ovs_tp_1_udp4 = " | grep "UNREPLIED = 10,"' || rc=1
  kill "$pid"; wait "$pid"
  loaded zonetp && ! loaded nfnetlink_cttimeout || rc=1
  nfct flush timeout && eventually 20 bash -c '[[ $(cat /sys/module/zonetp/refcnt) == 0 ]]' && rmmod zonetp || rc=1
  return $rc
}
check "zonetp.service's ExecStart with /etc/default/zonetp: the agent pushes zone 5's policy into zonetp.ko" agent_as_unit
check "nothing loaded again" neither_loaded

finish
