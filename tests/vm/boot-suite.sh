# shellcheck shell=bash
# Sourced by tests/vm/run-tests and tests/distro/run-distro.
#
# boot_suite KERNEL TAG NAME...: runs the tests NAME..., already planned
# into the arrays suite_args ("NAME TIMEOUT SCRIPT ARGS...", shell-quoted)
# and suite_limit (their timeouts), in one VM (tests/vm/guest-suite); then
# splits the console log into one log and one result per test: a "PASS
# NAME (Ns)" or "FAIL NAME (...)" line each, added to the caller's
# results, pass and failn.
# The caller sets logdir (where the logs go) and may set:
#   suite_spec_dir  where the test list is written, a path the guest sees
#                   (default: logdir, on the host's root)
#   suite_launch    a command run-vm runs under (an array; default none:
#                   tests/distro/vm-root for a root of its own)
#   suite_vm_opts   run-vm options before KERNEL (an array: --root DIR)
# ZONETP_VM_LIMIT_SCALE=N multiplies every test's time limit (and so the
# VM's): scripts/check sets 3 for its second lane, whose guests run at
# SCHED_IDLE and may wait for a core (a limit catches a hang; it is not a
# measure of speed).
boot_suite() {
  local kimg=$1 tag=$2 log=$logdir/boot-$2.log rc name section trc total=600 l spec errexit=
  local limit rest scale=${ZONETP_VM_LIMIT_SCALE:-1}
  shift 2
  [[ $- == *e* ]] && errexit=1
  spec=${suite_spec_dir:-$logdir}/suite-$tag.spec
  for l in "${suite_limit[@]}"; do total=$((total + l * scale)); done
  echo "== boot $tag: $* (one VM, up to ${total}s)"
  mkdir -p "${spec%/*}"
  # Each line is "NAME LIMIT SCRIPT ARGS..." (shell-quoted): the limit
  # scaled, the rest kept as it is.
  for l in "${suite_args[@]}"; do
    read -r name limit rest <<<"$l"
    printf '%s %s %s\n' "$name" "$((limit * scale))" "$rest"
  done >"$spec"
  set +e
  "${suite_launch[@]}" "${BASH_SOURCE[0]%/*}/run-vm" "${suite_vm_opts[@]}" --timeout "$total" "$kimg" \
    "${BASH_SOURCE[0]%/*}/guest-suite" "$spec" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  [[ -z $errexit ]] || set -e
  for name in "$@"; do
    section=$(sed -n "/^ZONETP-TEST-BEGIN $name\$/,/^ZONETP-TEST-END $name /p" "$log")
    printf '%s\n' "$section" >"$logdir/$name.log"
    trc=$(sed -n "s/^ZONETP-TEST-END $name rc=\([0-9]*\) seconds=\([0-9]*\)\$/\1 \2/p" "$log")
    if [[ -z $trc ]]; then
      results+=("FAIL $name (no result: the VM stopped first, run-vm exit $rc; log $log)"); failn=$((failn + 1))
    elif [[ ${trc% *} == 0 ]]; then
      results+=("PASS $name (${trc#* }s)"); pass=$((pass + 1))
    else
      results+=("FAIL $name (exit ${trc% *}, ${trc#* }s, log $logdir/$name.log)"); failn=$((failn + 1))
    fi
    echo "${results[-1]}"
  done
}
suite_launch=() suite_vm_opts=()
