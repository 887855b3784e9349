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

finish() {
  echo "1..$_n"
  echo "$_pass passed, $_fail failed"
  ((_fail == 0))
  exit $?
}
