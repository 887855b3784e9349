#!/bin/bash
# Usage: tests/vm/run-vm PERF_KERNEL tests/vm/bench-guest.sh ZONETP_KO ZONETP_BIN UDP_FLOOD [quick]
# (started by tests/vm/bench-run.sh, i.e. `make bench`)
#
# Every benchmark of `make bench` in one VM on one kernel: the providers
# (bench-provider.sh: a-d) and userspace against ovs-vswitchd
# (bench-userspace.sh: e). Prints BENCH lines; fails if any part fails.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ko=${1:?usage: bench-guest.sh ZONETP_KO ZONETP_BIN UDP_FLOOD} Z=${2:?} flood=${3:?}
if [[ ${4:-} == quick ]]; then   # a smoke run of the harness: small sizes, one round
  export ZONETP_BENCH_OBJECTS=1000 ZONETP_BENCH_ZONES=50 ZONETP_BENCH_CONNS=2000 ZONETP_BENCH_ROUNDS=1
  echo "BENCH-INFO quick sizes up to 1000 objects, 50 zones"
fi
echo "BENCH-INFO kernel $(uname -r)"
echo "BENCH-INFO cpus $(nproc)"
start=$SECONDS
bash "$here/bench-provider.sh" "$ko" "$Z" "$flood" || exit 1
bash "$here/bench-userspace.sh" "$ko" "$Z" || exit 1
echo "BENCH-INFO guest_seconds $((SECONDS - start))"
