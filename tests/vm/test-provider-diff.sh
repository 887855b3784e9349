#!/bin/bash
# Usage: tests/vm/run-vm "$(scripts/build-kernel --print-dir)" tests/vm/test-provider-diff.sh \
#            ZONETP_KO ZONETP_BIN HOST_CTTIMEOUT_TEST_BIN
#
# Differential test of the cttimeout provider: the same fixed script of
# `nfct` and `zonetp timeout` commands (and raw-netlink bulk creates, a
# multi-part dump, defaults get/set) runs once against upstream
# nfnetlink_cttimeout and once against zonetp.ko, each in a fresh network
# namespace; stdout, stderr and exit codes must be byte-identical.  Then
# the userspace host test binary for cttimeout (required: built by
# tests/vm/run-tests and tests/distro/run-distro) runs against both; each
# run must report passing tests, and the same per-test results.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
usage="usage: test-provider-diff.sh ZONETP_KO ZONETP_BIN HOST_CTTIMEOUT_TEST_BIN"
ko=${1:?$usage} zbin=${2:?$usage} hostbin=${3:?$usage}
mark="zonetp-test-provider-diff-$$"
echo "$mark" >/dev/kmsg
work=$(mktemp -d /tmp/provider-diff.XXXX)

# Raw nfnetlink client: bulk create, dump (counting datagrams), timed GETs.

suite() {  # runs in a fresh netns; everything it prints is compared
  r() { echo "\$ $*"; "$@" 2>&1; echo "rc=$?"; }
  z() { r "$zbin" "$@"; }
  n31=$(printf 'n%.0s' {1..31}) n32=$(printf 'n%.0s' {1..32})
  r nfct add timeout web inet udp unreplied 10 replied 20
  r nfct add timeout web inet udp unreplied 11
  z timeout add web --l3 ipv4 --l4 udp unreplied=5
  z timeout replace web --l3 ipv4 --l4 udp replied=99
  z timeout replace web --l3 ipv4 --l4 tcp established=5
  z timeout replace web --l3 ipv6 --l4 udp replied=5
  z timeout replace nosuch --l3 ipv4 --l4 udp replied=5
  r nfct get timeout web
  z timeout get web
  z timeout get nope
  r nfct get timeout nope
  r nfct add timeout t6 inet6 tcp established 100 close 3
  r nfct add timeout ic inet icmp timeout 7
  r nfct add timeout ic6 inet6 icmpv6 timeout 8
  r nfct add timeout gen inet generic timeout 9
  z timeout add sc --l3 ipv4 --l4 sctp
  z timeout add ul --l3 ipv4 --l4 udplite replied=3
  z timeout add gr --l3 ipv4 --l4 gre
  z timeout add dc --l3 ipv6 --l4 dccp
  z timeout add "$n31" --l3 ipv4 --l4 udp
  z timeout add "$n32" --l3 ipv4 --l4 udp
  r nfct add timeout "$n32" inet udp unreplied 1
  z timeout add x200 --l3 ipv4 --l4 200 timeout=3
  r nfct list timeout
  z timeout list
  z timeout list --format json
  r nfct delete timeout missing
  z timeout delete missing
  z timeout delete ic
  z timeout get ic
  for l3 in ipv4 ipv6; do for l4 in tcp udp icmp icmpv6 udplite sctp gre dccp 200; do
    z timeout defaults get --l3 $l3 --l4 $l4
  done; done
  r nfct default-get timeout inet tcp
  z timeout defaults set --l3 ipv4 --l4 udp unreplied=44
  r nfct default-set timeout inet tcp established 1234
  r nfct default-set timeout inet icmp timeout 12
  z timeout defaults set --l3 ipv6 --l4 icmpv6 timeout=13
  z timeout defaults get --l3 ipv4 --l4 udp
  z timeout defaults get --l3 ipv4 --l4 tcp
  z timeout defaults get --l3 ipv4 --l4 icmp
  z timeout defaults get --l3 ipv6 --l4 icmpv6
  z timeout add afterdef --l3 ipv4 --l4 udp
  z timeout get afterdef
  z timeout delete --all
  r nfct list timeout
  r python3 "$here/ctt.py" create bulk 300
  r python3 "$here/ctt.py" create bulk 2          # duplicates: EEXIST
  r python3 "$here/ctt.py" dump
  r bash -c 'nfct list timeout | md5sum; nfct list timeout | wc -l'
  r bash -c "$(printf '%q' "$zbin") timeout list | md5sum"
  z timeout delete bulk150
  r bash -c 'nfct list timeout | wc -l'
  r nfct flush timeout
  r nfct list timeout
}

run_provider() {  # NAME: load it, run the suite in a new netns
  local p=$1
  ip netns add "diff-$p" || return 1
  ip netns exec "diff-$p" bash -c "$(declare -f suite); zbin=$(printf '%q' "$zbin") work=$work here=$here; suite" \
    >"$work/out.$p" 2>&1
  ip netns del "diff-$p"
}

# --ignore-install: where the zonetp-dkms package is installed (the trixie
# stage), its modprobe rule would load zonetp.ko for nfnetlink_cttimeout;
# this suite wants Debian's own module (elsewhere the option changes nothing).
check "load upstream nfnetlink_cttimeout" modprobe --ignore-install nfnetlink_cttimeout
check "zonetp.ko refuses to load while upstream is loaded" bash -c "! insmod $ko"
check "  with the clear message" bash -c "dmesg | sed -n '/$mark/,\$p' | grep -F 'zonetp: nf_ct_timeout_hook is held by another cttimeout provider (is nfnetlink_cttimeout loaded? rmmod it first)'"
check "suite against upstream" run_provider upstream
check "unload upstream, load zonetp.ko" bash -c "rmmod nfnetlink_cttimeout && insmod $ko"
# Upstream's init fails with EBUSY: the nfnetlink subsystem is taken.
check "upstream refuses to load while zonetp is (EBUSY), and is not loaded" bash -c "$(declare -f fails_with)
  fails_with 'Device or resource busy' modprobe --ignore-install nfnetlink_cttimeout && ! test -d /sys/module/nfnetlink_cttimeout"
check "suite against zonetp" run_provider zonetp
sleep 1
check "outputs identical (diff upstream zonetp)" diff -u "$work/out.upstream" "$work/out.zonetp"
check "the dump was multi-part, with 300 objects in creation order" bash -c "
  grep -q 'objects 300 multipart True' $work/out.zonetp &&
  grep '^order' $work/out.zonetp | grep -q '^order bulk0 bulk1 bulk2 .* bulk298 bulk299\$'"
wc -l "$work/out.zonetp"

# The per-test results must be the same with both providers (a test that
# fails on 6.12 with upstream must fail the same way with zonetp).  A
# binary that did not run leaves two empty result files, equal: each run
# must show passing tests ("test NAME ... ok" lines).
check "host_cttimeout test binary is executable: $hostbin" test -x "$hostbin"
host_tests() {
  "$hostbin" --test-threads=1 >"$work/host.$1" 2>&1
  grep -E '^test .* \.\.\. ' "$work/host.$1" | sort >"$work/host-results.$1"
  cat "$work/host-results.$1"
  echo "$(grep -c ' \.\.\. ok$' "$work/host-results.$1") passed of $(wc -l <"$work/host-results.$1") tests"
  grep -q ' \.\.\. ok$' "$work/host-results.$1"
}
# every_host_test_passes: the zonetp run has results, all of them ok.
every_host_test_passes() {
  local f=$work/host-results.zonetp
  grep -q ' \.\.\. ok$' "$f" || { echo "no passing test"; return 1; }
  ! grep -v ' \.\.\. ok$' "$f"
}
check "host_cttimeout tests run against zonetp, some pass" host_tests zonetp
check "switch back to upstream" bash -c 'rmmod zonetp && modprobe --ignore-install nfnetlink_cttimeout'
check "host_cttimeout tests run against upstream, some pass" host_tests upstream
check "host_cttimeout: identical per-test results with both providers" \
  diff -u "$work/host-results.upstream" "$work/host-results.zonetp"
check "host_cttimeout: every test passes with zonetp.ko" every_host_test_passes
grep -A6 -- '^---- ' "$work/host.zonetp" | sed 's/^/    # zonetp: /'
check "switch to zonetp" bash -c "rmmod nfnetlink_cttimeout && insmod $ko"

check "rmmod zonetp" rmmod zonetp
leak_mark
finish
