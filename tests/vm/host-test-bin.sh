# shellcheck shell=bash
# Sourced by tests/vm/run-tests and tests/distro/run-distro.
#
# host_test_bin REPO: prints the path of the userspace host_cttimeout test
# executable (cargo builds it if needed), which the provider-diff suite runs
# inside the VM against both providers; fails, saying why, when it does not
# build.  The executable of the test target host_cttimeout, not whatever
# cargo lists last.
host_test_bin() {
  local bin
  bin=$( (cd "$1/userspace" && cargo test --no-run -q -p zonetp-cli --test host_cttimeout --message-format=json) |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("executable") and m.get("target", {}).get("name") == "host_cttimeout":
        print(m["executable"])' | tail -n1)
  if [[ -n $bin && -x $bin ]]; then
    echo "$bin"
    return 0
  fi
  echo "${0##*/}: the host_cttimeout test binary did not build (cargo test --no-run -p zonetp-cli --test host_cttimeout)" >&2
  return 1
}
