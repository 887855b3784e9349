#!/bin/bash
# Usage: tests/vm/run-vm "$(scripts/build-kernel --print-dir)" tests/vm/bench-provider.sh ZONETP_KO
#
# Name look-ups, upstream nfnetlink_cttimeout (a list walked with strncmp)
# against zonetp.ko (a hash table), side by side in one VM: for N objects,
# 2000 GETs of the last one created (the worst case of a list walk), median
# of 3 runs, per provider, and the ratio. GET resolves a name the way
# nf_ct_timeout_hook's find_get does when iptables, nft or openvswitch.ko
# attach a policy. Under TCG the absolute numbers are slow; the ratios and
# how they grow with N are the point. Nothing is asserted.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ko=${1:?usage: bench-provider.sh ZONETP_KO}
sizes=(100 1000 4000)
gets=2000

load() { # PROVIDER
  rmmod zonetp 2>/dev/null; rmmod nfnetlink_cttimeout 2>/dev/null
  if [[ $1 == zonetp ]]; then insmod "$ko"; else modprobe nfnetlink_cttimeout; fi
}

us_per_get() { # N: median microseconds per GET of the last of N objects
  local n=$1 runs=()
  ip netns add bench
  ip netns exec bench python3 "$here/ctt.py" create b "$n" >/dev/null
  for _ in 1 2 3; do
    runs+=("$(ip netns exec bench python3 "$here/ctt.py" bench "b$((n - 1))" "$gets" |
      sed -n 's/.*, \([0-9.]*\) us each/\1/p')")
  done
  ip netns del bench
  printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p
}

declare -A result
for p in upstream zonetp; do
  load "$p" || { echo "cannot load $p"; exit 1; }
  for n in "${sizes[@]}"; do
    result[$p,$n]=$(us_per_get "$n")
  done
done
rmmod zonetp 2>/dev/null
echo "GET by name, us per request (median of 3 x $gets), test kernel under qemu TCG"
printf '%8s %12s %12s %10s\n' objects upstream zonetp.ko ratio
for n in "${sizes[@]}"; do
  u=${result[upstream,$n]} z=${result[zonetp,$n]}
  printf '%8s %12s %12s %9.2fx\n' "$n" "$u" "$z" "$(echo "$u / $z" | bc -l)"
done
