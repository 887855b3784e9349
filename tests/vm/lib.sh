# shellcheck shell=bash
# Helpers sourced by the tests/vm/test-*.sh guest scripts: TAP-like output,
# one "ok N - name" / "not ok N - name" line per check, and a summary line
# "N passed, N failed".  Call `finish` last; it exits non-zero on any failure.
_n=0 _pass=0 _fail=0 _leak_mark=0

# check NAME CMD...   run CMD (output shown indented), record ok/not ok
check() {
  local name=$1 out rc t0=$SECONDS; shift
  _n=$((_n + 1))
  out=$("$@" 2>&1); rc=$?
  [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/    # /'
  # Slow checks say so: under TCG on the debug kernel, this is where a
  # suite's minutes go.
  ((SECONDS - t0 >= 5)) && echo "    # took $((SECONDS - t0)) s"
  if ((rc == 0)); then
    echo "ok $_n - $name"; _pass=$((_pass + 1))
  else
    echo "not ok $_n - $name (exit $rc)"; _fail=$((_fail + 1))
  fi
  return 0
}

# ---- the kernel checkers' verdict ------------------------------------------
# Sourcing this file starts the watch: on the zonetp test kernel (the debug
# flavour: KASAN, lockdep/PROVE_RCU, DEBUG_ATOMIC_SLEEP, debug objects,
# kmemleak) debugfs is mounted.  The first test of a boot scans for the
# kmemleak suspects that exist before it (early boot, virtme-ng's own
# set-up) and greys them out with `clear`, so they are never blamed on a
# test, and leaves the marker $KMEMLEAK_CLEARED (/run is the guest's own
# tmpfs: one per boot). Every object allocated from then on is judged, by
# each test's final scan: a leak the previous test made in its last
# seconds (kmemleak reports nothing younger than 5 s) or guest-suite's
# clean-up made between tests fails the next scan, the next test's (the
# report's backtrace names what allocated it), and the boot's last test
# is followed by the post-suite verdict (tests/vm/post-suite.sh). A test
# whose scan found a leak greys it out once reported, so each later test
# is judged on its own. (A later test used to start with a scan of its
# own; under TCG a scan of the debug kernel takes 15-20 s, and that scan
# only moved the blame for such a leak from one test to the previous.)
# `finish` ends every test with the verdict: splats in the whole dmesg
# (since boot: KASAN and lockdep report only their first problem), lockdep
# still armed, and a kmemleak scan.  On the stock Debian kernel only the
# dmesg scan applies.

# What counts as a splat.  Lockdep's reports start with "WARNING:"
# (possible circular locking, inconsistent lock state, suspicious RCU
# usage), KASAN's and might_sleep's with "BUG:".
# kmemleak turns itself off for good when its own metadata cannot be
# allocated or its object tree is corrupt (mm/kmemleak.c: every path ends in
# kmemleak_disable(), "Kernel memory leak detector disabled"); from then on
# it tracks nothing, and a scan finding nothing proves nothing.
SPLAT_RE='BUG:|WARNING:|KASAN|Oops|ODEBUG|refcount_t:|possible circular locking|inconsistent lock state|suspicious RCU usage|sleeping function called|general protection|Kernel panic|rcu: INFO|RCU stall|list_add corruption|list_del corruption|UBSAN|kernel BUG'
SPLAT_RE+='|kmemleak: (Kernel memory leak detector disabled|Kmemleak disabled|Cannot allocate a kmemleak_object|Cannot insert .* into the object search tree|Memory pool empty)'
KMEMLEAK=/sys/kernel/debug/kmemleak
KMEMLEAK_CLEARED=/run/zonetp-kmemleak-cleared

# The zonetp test kernel is built from linux-source without a local
# version; Debian's stock kernels end in -amd64.
is_test_kernel() { [[ $(uname -r) != *-amd64 ]]; }

# The first test of a boot: the suspects from before it, listed and
# cleared once.
kmemleak_clear_boot() {
  local n
  kmemleak_scan || return 1
  n=$(kmemleak_count) || return 1
  echo "kmemleak: $n suspect(s) from before the first test of this boot, cleared:"
  sed -n 's/^unreferenced object/  unreferenced object/p' "$KMEMLEAK"
  echo clear >"$KMEMLEAK" || { echo "kmemleak refused the clear"; return 1; }
  touch "$KMEMLEAK_CLEARED"
}
checkers_start() {
  echo "zonetp-checkers-start $$ $(basename "$0")" >/dev/kmsg
  is_test_kernel || return 0
  mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
  if [[ -w $KMEMLEAK && ! -e $KMEMLEAK_CLEARED ]]; then
    check "checkers: kmemleak: suspects from before the first test of this boot cleared" kmemleak_clear_boot
  fi
  _leak_mark=$SECONDS
}

# dmesg_splats: prints every splat line of the whole dmesg (with 3 lines of
# context after each), fails if there is one.  No report is excused: the
# one upstream report the tests used to meet (openvswitch.ko's
# rcu_dereference() outside RCU in ovs_ct_copy_action, at the first flow
# put with a ct timeout after it loads) is fixed in the test kernel by patches/0001-*.patch,
# which scripts/build-kernel applies.  A dmesg that cannot be read fails
# too: no log is not a clean log.
dmesg_splats() {
  local log out
  log=$(dmesg) || { echo "dmesg failed: the kernel log cannot be read"; return 1; }
  [[ -n $log ]] || { echo "dmesg printed nothing: the kernel log cannot be read"; return 1; }
  out=$(awk -v splat="$SPLAT_RE" '
    { line[NR] = $0 }
    END {
      for (i = 1; i <= NR; i++)
        if (line[i] ~ splat) { print line[i]; for (j = 1; j <= 3 && i + j <= NR; j++) print line[i+j] }
    }' <<<"$log")
  [[ -z $out ]] && return 0
  printf '%s\n' "$out" | head -n 200
  return 1
}

# lockdep reports one problem and then turns itself off ("debug_locks: 0"):
# a test that ran with it off proved nothing about locking.
lockdep_armed() {
  local v
  v=$(awk '/debug_locks:/ {print $2}' /proc/lockdep_stats 2>/dev/null)
  echo "debug_locks: ${v:-missing}"
  [[ $v == 1 ]]
}

# leak_scan: two kmemleak scans a second apart, at least 6 s after the
# test's last free (objects younger than 5 s are never reported), then the
# report: any unreferenced object fails, and is printed with its
# backtrace, then greyed out with `clear` so the next test is judged on its
# own. Two scans, always: an entry freed with kfree_rcu() still references
# what it held until the RCU batch frees it, seconds later under TCG, so a
# leak through it shows only in a later scan (the leak self-check's object
# was missed by a single scan); and a pointer only in a register or a list
# in mid-move looks unreferenced for one scan, which the second drops. Run
# it while zonetp.ko is still loaded to see its symbols in the backtraces,
# and again after rmmod.
# A scan that kmemleak refuses (it writes -EPERM once it has disabled
# itself) or a report that cannot be read fails: it proves nothing.
kmemleak_scan() {
  echo scan >"$KMEMLEAK" || { echo "kmemleak refused the scan (disabled? see dmesg)"; return 1; }
}
kmemleak_count() { # prints the number of unreferenced objects reported
  local n
  # grep -c: status 1 is a count of 0, 2 an unreadable file.
  n=$(grep -c '^unreferenced object' "$KMEMLEAK")
  if (($? > 1)) || [[ ! $n =~ ^[0-9]+$ ]]; then echo "cannot read $KMEMLEAK" >&2; return 1; fi
  echo "$n"
}
leak_scan() {
  local n
  [[ -w $KMEMLEAK ]] || { echo "kmemleak not available on the test kernel"; return 1; }
  # kfree_rcu() holds its frees in per-CPU batches for up to 5 s
  # (KFREE_DRAIN_JIFFIES) before it even asks for a grace period, and what
  # a batched entry references stays referenced until it is freed: with a
  # guest fast enough to reach the first scan 6 s after the delete, the
  # leak self-check's object was still referenced at the first scan and
  # new ("changed") at the second, so neither reported it.  kfree_rcu's
  # shrinker drains the batches at once, and dropping the slab caches runs
  # every shrinker; the wait below covers the grace period.
  echo 2 >/proc/sys/vm/drop_caches || { echo "cannot drop the slab caches (to drain kfree_rcu's batches)"; return 1; }
  while ((SECONDS - ${_leak_mark:-0} < 6)); do sleep 1; done
  kmemleak_scan || return 1; sleep 1; kmemleak_scan || return 1
  n=$(kmemleak_count) || return 1
  echo "kmemleak: $n unreferenced object(s)"
  ((n == 0)) && return 0
  head -n 300 "$KMEMLEAK"
  echo clear >"$KMEMLEAK" && echo "(reported, then greyed out: later tests are judged on their own)"
  return 1
}
# Tests call leak_mark after freeing what they made (leak_scan waits 6 s
# from the later of this and the start).
leak_mark() { _leak_mark=$SECONDS; }

verdict() {
  check "checkers: no KASAN/lockdep/RCU/refcount/BUG/WARNING/Oops/ODEBUG line in dmesg" dmesg_splats
  is_test_kernel || return 0
  check "checkers: lockdep still armed" lockdep_armed
  check "checkers: kmemleak finds nothing" leak_scan
}

# ---- a command's output, only from a command that worked --------------------
# A listing that failed prints nothing, and nothing reads as "gone": these
# take a command's output only if the command succeeded.
# absent ERE CMD...: CMD succeeds and no line of its output matches ERE
# (the lines that do are printed).
absent() {
  local re=$1 out rc; shift
  out=$("$@"); rc=$?
  ((rc == 0)) || { echo "'$*' failed (exit $rc)"; return 1; }
  grep -E -- "$re" <<<"$out"; rc=$?
  ((rc == 1)) && return 0
  ((rc == 0)) && echo "(the lines above of '$*' match /$re/)"
  return 1
}
# count_of ERE CMD...: prints how many lines of CMD's output match ERE;
# fails (saying so on stderr) if CMD fails.
count_of() {
  local re=$1 out n rc; shift
  out=$("$@"); rc=$?
  ((rc == 0)) || { echo "'$*' failed (exit $rc)" >&2; return 1; }
  n=$(grep -cE -- "$re" <<<"$out")
  [[ $n =~ ^[0-9]+$ ]] || return 1
  echo "$n"
}
# fails_with TEXT CMD...: CMD fails, and its output says TEXT (so that it
# failed for the reason the check is about).
fails_with() {
  local text=$1 out; shift
  if out=$("$@" 2>&1); then
    printf '%s\n' "$out"; echo "'$*' succeeded"; return 1
  fi
  printf '%s\n' "$out"
  grep -qF -- "$text" <<<"$out" || { echo "'$*' failed, but not with '$text'"; return 1; }
}

# refcnt_is N: zonetp.ko's module reference count is N.
refcnt_is() {
  local r
  r=$(cat /sys/module/zonetp/refcnt) || return 1
  echo "zonetp refcnt $r"
  [[ $r == "$1" ]]
}
# rmmod_refused: `rmmod zonetp` is refused because the module is in use,
# and zonetp.ko is still loaded afterwards.
rmmod_refused() {
  fails_with "in use" rmmod zonetp || return 1
  test -d /sys/module/zonetp || { echo "/sys/module/zonetp is gone"; return 1; }
}

# ---- conntrack events, recorded without guessing when the listener is ready -
# No sleep decides when `conntrack -E` listens: under TCG on a loaded
# host it can take seconds to subscribe.  A sentinel entry of our own
# (`conntrack -I`, UDP 192.0.2.1 -> 192.0.2.2:9 in zone 65000, which no
# flow or rule uses, expiring after 2 s) is inserted until its [NEW] event
# is in the file: then the listener is subscribed (at the start), or has
# written every event before it (at the end; events come in order).
# ct_events_start FILE [NETNS]: records the events of NETNS (default: this
# namespace) with timestamps (`conntrack -E -o timestamp`: timestamp,
# event, protocol name, number, timeout, ...) into FILE.
# ct_events_stop: waits for every event so far, then stops the listener.
# ct_events_recorded: both sentinels were seen (a check).
# Call start and stop at the test's top level, not under `check` (a
# subshell): they keep the listener's pid and the sentinels' port count.
CT_SENTINEL_ZONE=65000 CT_SENTINEL_PORT=20000 CT_EVENTS_OK=0 CT_EVENTS_PID='' CT_EVENTS_FILE='' CT_EVENTS_NS=''
ct_in_ns() { if [[ -n $CT_EVENTS_NS ]]; then ip netns exec "$CT_EVENTS_NS" "$@"; else "$@"; fi; }
ct_sentinel() { # NAME: insert sentinels until one is reported (at most ~2 min)
  local try port i
  for ((try = 0; try < 60; try++)); do
    port=$((CT_SENTINEL_PORT++))
    ct_in_ns conntrack -I -p udp -s 192.0.2.1 -d 192.0.2.2 --sport $port --dport 9 -t 2 -w $CT_SENTINEL_ZONE \
      >/dev/null 2>&1 || { echo "conntrack -I of the $1 sentinel failed" >&2; return 1; }
    for ((i = 0; i < 20; i++)); do
      grep -q "sport=$port dport=9 .*zone=$CT_SENTINEL_ZONE" "$CT_EVENTS_FILE" 2>/dev/null && return 0
      sleep 0.1
    done
  done
  echo "conntrack -E never reported the $1 sentinel" >&2
  return 1
}
ct_events_start() {
  CT_EVENTS_FILE=$1 CT_EVENTS_NS=${2:-}
  # A simple command each (`ip netns exec` execs conntrack), so that $!
  # is the listener itself, not a subshell running a function.
  if [[ -n $CT_EVENTS_NS ]]; then
    ip netns exec "$CT_EVENTS_NS" conntrack -E -o timestamp >"$CT_EVENTS_FILE" 2>/dev/null &
  else
    conntrack -E -o timestamp >"$CT_EVENTS_FILE" 2>/dev/null &
  fi
  CT_EVENTS_PID=$!
  CT_EVENTS_OK=1
  ct_sentinel start || CT_EVENTS_OK=0
}
ct_events_stop() {
  ct_sentinel end || CT_EVENTS_OK=0
  kill "$CT_EVENTS_PID" 2>/dev/null; wait "$CT_EVENTS_PID" 2>/dev/null
  return 0
}
ct_events_recorded() { ((CT_EVENTS_OK)); }

# ovs_two_namespaces ZONETP DP [EXTRA_NS0_ADDR...]: namespaces at_ns0
# (p0, 10.1.1.1/24 and any extra addresses) and at_ns1 (p1, 10.1.1.2/24),
# joined by veths whose host ends ovs-p0 and ovs-p1 become ports 1 and 2 of
# a new OVS kernel datapath DP.
ovs_two_namespaces() {
  local z=$1 dp=$2 a; shift 2
  ip netns add at_ns0 && ip netns add at_ns1 || return 1
  ip link add p0 type veth peer name ovs-p0 && ip link add p1 type veth peer name ovs-p1 || return 1
  ip link set p0 netns at_ns0 && ip link set p1 netns at_ns1 || return 1
  ip link set ovs-p0 up && ip link set ovs-p1 up || return 1
  for a in 10.1.1.1 "$@"; do ip netns exec at_ns0 ip addr add "$a/24" dev p0 || return 1; done
  ip netns exec at_ns0 ip link set p0 up || return 1
  ip netns exec at_ns1 ip addr add 10.1.1.2/24 dev p1 && ip netns exec at_ns1 ip link set p1 up || return 1
  "$z" dp add "$dp" ovs-p0 ovs-p1
}

# add_flows ZONETP DP FLOW...: installs every flow (each is tried), fails
# if any was refused.
add_flows() {
  local z=$1 dp=$2 f rc=0; shift 2
  for f in "$@"; do "$z" dp-flow add "$dp" "$f" || rc=1; done
  return $rc
}

finish() {
  verdict
  echo "1..$_n"
  echo "$_pass passed, $_fail failed"
  ((_fail == 0))
  exit $?
}

checkers_start

# start_ovsdb_and_vswitchd (for the ovs-vswitchd tests) lives in
# tests/vm/ovs-daemons.sh, which the bench sources without this file.
# shellcheck source=tests/vm/ovs-daemons.sh
. "$(dirname "${BASH_SOURCE[0]}")/ovs-daemons.sh"
