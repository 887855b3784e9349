#!/bin/bash
# Usage (inside the VM, the last line of a guest-suite SPEC, added by
# tests/vm/run-tests to every debug-kernel boot): post-suite.sh
#
# The checkers' verdict once more, after the last test of the boot and
# guest-suite's clean-up: sourcing tests/vm/lib.sh scans kmemleak at once
# (a suspect now was left by the last test: "no leak carried over from the
# previous test"); `finish` then reads the whole dmesg (a splat that came
# after the last test's own verdict), checks lockdep, and scans kmemleak
# again 6 s later (kmemleak reports nothing younger than 5 s, so a leak
# made shortly before the last test's final scan shows only here).
# Reported by run-tests as the pseudo-test "post-suite".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
finish
