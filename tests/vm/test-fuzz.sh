#!/bin/bash
# Usage: tests/vm/run-vm "$(scripts/build-kernel --print-dir)" tests/vm/test-fuzz.sh ZONETP_KO MESSAGES
#
# Differential fuzzing of the cttimeout provider (MESSAGES: made by
# `tests/vm/fuzz.py gen SEED COUNT FILE`, see tests/vm/run-tests fuzz).
# Only one cttimeout provider can be registered at a time (the nfnetlink
# subsystem and nf_ct_timeout_hook are global), so two namespaces side by
# side cannot compare them: the same messages go first to upstream
# nfnetlink_cttimeout, then, after it is unloaded, to zonetp.ko, each time
# from a fresh network namespace (objects and default timeouts are per
# namespace, so both start from the same state).  Every reply (bytes, so
# errno too) must be equal; the first difference is printed in hex; and
# each provider must have answered some messages without an error (two
# recordings of nothing but errors, or of nothing, are equal too).  Ends
# with rmmod and the checkers' verdict (KASAN, lockdep, kmemleak...).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
ko=$1 msgs=$2
work=/tmp/fuzz
mkdir -p $work
eventually() { local end=$((SECONDS + $1)); shift; until "$@"; do ((SECONDS < end)) || return 1; sleep 0.5; done; }

# fuzz_provider NAME: the messages from a new namespace; then every object
# is deleted and the namespace destroyed, so the provider can be unloaded.
fuzz_provider() {
  local p=$1 start=$SECONDS rc
  ip netns add "fuzz-$p" || return 1
  ip netns exec "fuzz-$p" python3 "$here/fuzz.py" run "$msgs" "$work/$p.replies"; rc=$?
  ip netns exec "fuzz-$p" nfct flush timeout
  ip netns del "fuzz-$p"
  echo "$p: $((SECONDS - start)) s"
  return $rc
}

check "message file $msgs ($(($(stat -c %s "$msgs") / 1024)) KiB)" test -s "$msgs"
check "load upstream nfnetlink_cttimeout" modprobe nfnetlink_cttimeout
check "fuzz upstream" fuzz_provider upstream
check "unload upstream" eventually 30 rmmod nfnetlink_cttimeout
check "insmod zonetp.ko" insmod "$ko"
check "fuzz zonetp.ko" fuzz_provider zonetp
check "replies and errno identical, message by message; each provider answered some successfully" python3 "$here/fuzz.py" diff "$msgs" \
  "$work/upstream.replies" "$work/zonetp.replies"
python3 "$here/fuzz.py" stats "$msgs" "$work/zonetp.replies" | sed 's/^/# /'
check "rmmod zonetp (every object gone)" eventually 30 rmmod zonetp
leak_mark
finish
