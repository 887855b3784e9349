# shellcheck shell=bash
# Helpers sourced by the tests/vm/test-*.sh guest scripts: TAP-like output,
# one "ok N - name" / "not ok N - name" line per check, and a summary line
# "N passed, N failed".  Call `finish` last; it exits non-zero on any failure.
_n=0 _pass=0 _fail=0

# check NAME CMD...   run CMD (output shown indented), record ok/not ok
check() {
  local name=$1 out rc; shift
  _n=$((_n + 1))
  out=$("$@" 2>&1); rc=$?
  [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/    # /'
  if ((rc == 0)); then
    echo "ok $_n - $name"; _pass=$((_pass + 1))
  else
    echo "not ok $_n - $name (exit $rc)"; _fail=$((_fail + 1))
  fi
  return 0
}

# dmesg lines that indicate a kernel problem (printed), since mark $1
dmesg_splats() {
  dmesg | sed -n "/$1/,\$p" |
    grep -E 'WARNING:|BUG:|BUG |Oops|refcount_t|rcu: INFO|RCU stall|suspicious RCU|general protection|Kernel panic|Call Trace' && return 1
  return 0
}

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
  echo "1..$_n"
  echo "$_pass passed, $_fail failed"
  ((_fail == 0))
  exit $?
}
