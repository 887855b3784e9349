# shellcheck shell=bash
# Helpers sourced by the tests/vm/bench-*.sh guest scripts of `make bench`.
# Results are lines `BENCH PROVIDER METRIC SIZE VALUE` on stdout, which
# tests/vm/bench-report.py turns into the table and the plot.

# bench_out PROVIDER METRIC SIZE VALUE
bench_out() { printf 'BENCH %s %s %s %s\n' "$@"; }
say() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] FAIL: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }   # seconds since a `now`

# provider_load upstream|zonetp: the cttimeout provider the kernel will use
# (ZONETP_KO names zonetp.ko). The other one must not be loaded.
provider_load() {
  case $1 in
    upstream) modprobe nfnetlink_cttimeout ;;
    zonetp) insmod "${ZONETP_KO:?}" ;;
    *) die "unknown provider $1" ;;
  esac || die "cannot load provider $1"
}

# provider_unload: removes whichever provider is loaded, once the rules,
# flows and namespaces that held its policies have let go (their references
# are dropped after an RCU grace period or from a workqueue).
provider_unload() {
  local m i
  for m in zonetp nfnetlink_cttimeout; do
    [[ -d /sys/module/$m ]] || continue
    for i in $(seq 120); do
      rmmod "$m" 2>/dev/null && break
      conntrack -F >/dev/null 2>&1
      sleep 0.5
    done
    [[ -d /sys/module/$m ]] && die "cannot unload $m (refcnt $(cat /sys/module/$m/refcnt))"
  done
  return 0
}

# median VALUE...
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
