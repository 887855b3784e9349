#!/bin/bash
# Usage: tests/vm/bench-run.sh        (what `make bench` runs; needs root)
#
# Builds (cached) the "perf" test kernel (kernel/perf.config: no KASAN,
# lockdep or kmemleak), builds zonetp.ko against it from a copy of the
# module's sources in build/bench/module-<tree> (the repo's own zonetp.ko stays
# built for the debug kernel `make check` uses), builds the UDP sender, runs
# every benchmark in ONE VM on that kernel (tests/vm/bench-guest.sh), and
# ends with the table (tests/vm/bench-report.py). Outputs in build/bench/:
# vm.log (the raw BENCH lines), results.md (the table), cost-vs-objects.svg.
# ZONETP_BENCH_LOG=FILE only remakes the table and plot from a saved log;
# ZONETP_BENCH_QUICK=1 is a smoke run of the harness (small sizes);
# ZONETP_BENCH_FLAVOUR=debug runs on the debug kernel (numbers then measure
# KASAN and lockdep as much as the code).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$repo/build/bench
mkdir -p "$out"

if [[ -n ${ZONETP_BENCH_LOG:-} ]]; then
  exec python3 "$here/bench-report.py" "$ZONETP_BENCH_LOG" "$out"
fi

Z=$repo/userspace/target/release/zonetp
[[ -x $Z ]] || { echo "bench-run: $Z missing (make userspace)" >&2; exit 1; }
flavour=${ZONETP_BENCH_FLAVOUR:-perf}
export ZONETP_KFLAVOUR=$flavour
tree=$("$repo/scripts/build-kernel" --flavour "$flavour" | tail -n1)

# zonetp.ko for the perf kernel, from a copy of its sources (Kbuild builds
# in the source directory; kbuild only rebuilds what changed).
# One directory per kernel tree: objects built for one never serve another.
mod=$out/module-${tree##*/}
rsync -a --delete --exclude='.*' --include='*/' --include='*.rs' --include='*.c' --include='*.h' \
  --include='Kbuild' --exclude='*' "$repo/Kbuild" "$repo/rust-module" "$repo/compat" "$mod/"
"$repo/scripts/kmake" -C "$tree" M="$mod" -j"$(nproc)" modules
cp "$mod/zonetp.ko" "$out/zonetp.ko"

gcc -O2 -Wall -Wextra -o "$out/bench-udp-flood" "$here/bench-udp-flood.c"

{
  echo "BENCH-INFO flavour $flavour tree ${tree##*/}"
  echo "BENCH-INFO host_load_before $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/vm.log"
"$here/run-vm" --memory 2G --timeout "${ZONETP_BENCH_TIMEOUT:-5400}" "$tree" "$here/bench-guest.sh" \
  "$out/zonetp.ko" "$Z" "$out/bench-udp-flood" ${ZONETP_BENCH_QUICK:+quick} 2>&1 | tee -a "$out/vm.log"
echo "BENCH-INFO host_load_after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/vm.log"
python3 "$here/bench-report.py" "$out/vm.log" "$out"
