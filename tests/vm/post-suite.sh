#!/bin/bash
# Usage (inside the VM, the last line of a guest-suite SPEC, added by
# tests/vm/run-tests to every debug-kernel boot): post-suite.sh
#
# The checkers' verdict once more, after the last test of the boot and
# guest-suite's clean-up: `finish` reads the whole dmesg (a splat that came
# after the last test's own verdict), checks lockdep, and scans kmemleak
# 6 s after it starts (kmemleak reports nothing younger than 5 s, so a leak
# made shortly before the last test's final scan, or by the clean-up, shows
# only here).
# Reported by run-tests as the pseudo-test "post-suite".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
finish
