#!/bin/bash
# Usage: tests/distro/test-vsctl-diff.sh ZONETP
#
# zonetp's OVSDB verbs against Debian 13's own ovs-vsctl 3.5, on Debian
# 13's own ovsdb-server 3.5 and schema (run inside the trixie chroot by
# tests/distro/run-distro trixie, step vsctl-diff; by hand:
#   scripts/distro-root trixie run tests/distro/test-vsctl-diff.sh \
#       $PWD/userspace/target/release/zonetp).
#
# Two databases made alike from /usr/share/openvswitch/vswitch.ovsschema
# with ovsdb-tool, each served by its own ovsdb-server from a temporary
# directory (both killed at the end, whatever happens), each with the
# `system` and `netdev` Datapath rows made the way OVS's users make them
# (ovs-vsctl create Datapath ... -- set Open_vSwitch . datapaths:NAME=@dp).
# Every command runs once through `ovs-vsctl --no-wait` on the first and
# once through `zonetp --db` on the second; one line per command,
# "ok N - COMMAND" or "not ok N - COMMAND", says whether
#   - the exit statuses are the same,
#   - standard output is the same, byte for byte,
#   - standard error is the same once the program's name is taken off
#     (`ovs-vsctl: ...` / `zonetp: ...`),
#   - the two databases then hold the same configuration: every column of
#     the Datapath rows, their zones and the zones' policies, and the row
#     counts, without row identities (tests/distro/ovsdb-canon.py; keys
#     `zonetp-*` of external_ids, zonetp's policy numbering, left out),
# and for the reading verbs (list-*) the cross reads as well: zonetp
# reading ovs-vsctl's database prints what it prints reading its own, and
# writes nothing there (every row's _version unchanged); ovs-vsctl reading
# zonetp's prints what it prints reading its own.  A command marked
# "swapped" runs the other way round (ovs-vsctl on zonetp's database,
# zonetp on ovs-vsctl's): each tool changes rows the other wrote.  After a
# line whose databases differ, zonetp's becomes a copy of ovs-vsctl's, so
# one difference fails one line.
#
# The differences zonetp makes on purpose (D1 to D8 of docs/zone-limits.md,
# "Beside ovs-vsctl 3.5: the differential test") are stated per command:
# there the test checks both tools' exact status and words, so a change on
# either side fails it too.  Ends with "1..N" and "N passed, N failed";
# exit status 0 when every line is ok.
# ZONETP_VSCTL_DIFF_KEEP=1 keeps the temporary directory.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
zonetp=${1:?usage: test-vsctl-diff.sh ZONETP}
[[ -x $zonetp ]] || { echo "test-vsctl-diff: no zonetp binary at $zonetp" >&2; exit 2; }
schema=/usr/share/openvswitch/vswitch.ovsschema

# A network namespace of its own: add-zone-tp lists the kernel's
# cttimeout objects to number past them (none here), and nothing of the
# caller's namespace is read or changed.
if [[ ${ZONETP_VSCTL_DIFF_NETNS:-} != 1 ]]; then
  exec unshare --net env ZONETP_VSCTL_DIFF_NETNS=1 "$0" "$@"
fi
# The bound add-zone-tp checks for the kernel datapath (seconds * HZ in
# 32 bits) is trixie's kernel's (CONFIG_HZ=250), not the build host's.
export ZONETP_KERNEL_HZ=250
unset ZONETP_DB

tmp=$(mktemp -d /tmp/zonetp-vsctl-diff.XXXXXX)
cleanup() {
  stop_server V
  stop_server Z
  if [[ ${ZONETP_VSCTL_DIFF_KEEP:-} == 1 ]]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

n=0 npass=0 nfail=0
say() { printf '    # %s\n' "$@"; }
ok() { n=$((n + 1)); npass=$((npass + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); nfail=$((nfail + 1)); echo "not ok $n - $1"; }

# ---- the two servers ----------------------------------------------------------
# V: ovs-vsctl's database, Z: zonetp's.
declare -A server_pid=()
start_server() { # NAME [DB]: a new database from the schema, or DB
  local d=$tmp/$1 i
  mkdir -p "$d"
  if [[ -n ${2:-} ]]; then
    mv "$2" "$d/conf.db" || return 1
  else
    ovsdb-tool create "$d/conf.db" "$schema" || return 1
  fi
  rm -f "$d/db.sock"
  ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" --unixctl="$d/ctl" \
    --pidfile="$d/pid" --log-file="$d/server.log" </dev/null >>"$d/server.log" 2>&1 &
  server_pid[$1]=$!
  for ((i = 0; i < 100; i++)); do
    [[ -S $d/db.sock ]] && return 0
    sleep 0.1
  done
  echo "ovsdb-server $1 did not come up:"; cat "$d/server.log"; return 1
}
stop_server() { # NAME
  [[ -n ${server_pid[$1]:-} ]] || return 0
  kill "${server_pid[$1]}" 2>/dev/null
  wait "${server_pid[$1]}" 2>/dev/null
  unset "server_pid[$1]"
}
# realign: after the databases differed, zonetp's becomes a copy of
# ovs-vsctl's (ovsdb-client backup), so that the next lines compare
# afresh rather than repeat one difference.
realign() {
  ovsdb-client backup "$(remote V)" >"$tmp/copy.db" || return 1
  stop_server Z
  start_server Z "$tmp/copy.db"
}
remote() { echo "unix:$tmp/$1/db.sock"; }

# select_all NAME: the four tables as ovsdb-client returns them (with
# _uuid and _version).
select_all() {
  local t q='["Open_vSwitch"'
  for t in Open_vSwitch Datapath CT_Zone CT_Timeout_Policy; do
    q+=",{\"op\":\"select\",\"table\":\"$t\",\"where\":[]}"
  done
  ovsdb-client transact "$(remote "$1")" "$q]"
}
canon() { select_all "$1" | python3 "$here/ovsdb-canon.py"; }

# run TOOL DB TAG ARGS...: the command's status, stdout and stderr (the
# program's name taken off each line) in $tmp/TAG.{rc,out,err}.
run() {
  local tool=$1 db=$2 tag=$3 rc
  shift 3
  case $tool in
    vsctl) ovs-vsctl --db="$(remote "$db")" --no-wait "$@" >"$tmp/$tag.out" 2>"$tmp/$tag.raw" ;;
    zonetp) "$zonetp" --db "$(remote "$db")" "$@" >"$tmp/$tag.out" 2>"$tmp/$tag.raw" ;;
  esac
  rc=$?
  echo "$rc" >"$tmp/$tag.rc"
  # The error line: ovs-vsctl's own log lines (vlog: time|N|module|LEVEL|...) before
  # it are left out.
  grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z\|[0-9]+\|' "$tmp/$tag.raw" |
    sed -e 's/^ovs-vsctl: //' -e 's/^zonetp: //' >"$tmp/$tag.err"
}
same() { cmp -s "$tmp/$1" "$tmp/$2"; }
show_run() { # TAG LABEL
  say "$2: exit $(cat "$tmp/$1.rc")"
  [[ -s $tmp/$1.out ]] && sed 's/^/    #   stdout: /' "$tmp/$1.out"
  [[ -s $tmp/$1.raw ]] && sed 's/^/    #   stderr: /' "$tmp/$1.raw"
  return 0
}

# diff_cmd [OPTION]... ARGS...: one check line for ARGS (see the top).
#   --swap  ovs-vsctl runs on zonetp's database, zonetp on ovs-vsctl's.
#   --known WHY VSCTL_RC VSCTL_ERR ZONETP_RC ZONETP_ERR
#           the statuses and error lines differ on purpose (WHY: the
#           reason, and where it is documented); each tool's status and
#           error line must then be exactly the ones given (VSCTL_ERR a
#           bash pattern, for ovs-vsctl's words that carry a value it read
#           from uninitialised memory; ZONETP_ERR a string; "" for none).
#   --usage-status
#           a command line zonetp refuses as a usage error: ovs-vsctl exits
#           1, zonetp 2 (D1 below), the error lines are the same.
#   --any-order WHY
#           standard output must hold the same words, in any order.
#   --only-writes vsctl|zonetp WHY
#           one tool changes its database where the other refuses: the
#           other's database must be left as it was, and the two must
#           differ; zonetp's then becomes a copy of ovs-vsctl's again.
# Everything else is compared all the same.
diff_cmd() {
  local swap=0 known='' why=() vrc verr='' zrc zerr any_order=0 only='' vdb=V zdb=Z label problems=()
  local raw_before
  while :; do
    case $1 in
      --swap) swap=1; vdb=Z zdb=V; shift ;;
      --known) known=1 vrc=$3 verr=$4 zrc=$5 zerr=$6; why+=("$2"); shift 6 ;;
      --usage-status)
        known=1 vrc=1 zrc=2 verr=same; why+=("D1: exit status 2 for a usage error"); shift ;;
      --any-order) any_order=1; why+=("$2"); shift 2 ;;
      --only-writes) only=$2; why+=("$3"); shift 3 ;;
      *) break ;;
    esac
  done
  label="$*"
  ((swap)) && label+=" (swapped: ovs-vsctl on zonetp's database, zonetp on ovs-vsctl's)"
  ((${#why[@]})) && label+=" (known difference: $(printf '%s\n' "${why[@]}" | awk '!seen[$0]++' | paste -sd ';' | sed 's/; */; /g'))"
  if [[ -n $only ]]; then canon V >"$tmp/V.before" && canon Z >"$tmp/Z.before"; fi
  run vsctl "$vdb" v "$@"
  run zonetp "$zdb" z "$@"
  if [[ $verr == same ]]; then
    [[ $(cat "$tmp/v.rc") == "$vrc" ]] || problems+=("ovs-vsctl's exit status is not the $vrc expected")
    [[ $(cat "$tmp/z.rc") == "$zrc" ]] || problems+=("zonetp's exit status is not the $zrc expected")
    same v.err z.err || problems+=("stderr differs")
  elif [[ -n $known ]]; then
    [[ $(cat "$tmp/v.rc") == "$vrc" ]] || problems+=("ovs-vsctl's exit status is not the $vrc expected")
    [[ $(cat "$tmp/z.rc") == "$zrc" ]] || problems+=("zonetp's exit status is not the $zrc expected")
    # shellcheck disable=SC2053 # a pattern on purpose
    [[ $(cat "$tmp/v.err") == $verr ]] || problems+=("ovs-vsctl's error line does not match the expected: $verr")
    [[ $(cat "$tmp/z.err") == "$zerr" ]] || problems+=("zonetp's error line is not the expected: $zerr")
  else
    same v.rc z.rc || problems+=("exit status differs")
    same v.err z.err || problems+=("stderr differs")
  fi
  if ((any_order)); then
    [[ $(tr ' ' '\n' <"$tmp/v.out" | sort) == $(tr ' ' '\n' <"$tmp/z.out" | sort) ]] ||
      problems+=("stdout differs, even in words taken in any order")
  else
    same v.out z.out || problems+=("stdout differs")
  fi
  if [[ $1 == list-* ]] && ((!swap)); then
    # The cross reads: zonetp on ovs-vsctl's database (writing nothing
    # there) prints what it prints on its own; ovs-vsctl on zonetp's
    # likewise.  With the comparison above: all four the same.
    raw_before=$(select_all V)
    run zonetp V zx "$@"
    [[ $(select_all V) == "$raw_before" ]] || problems+=("zonetp's read wrote to ovs-vsctl's database")
    same z.out zx.out && same z.rc zx.rc && same z.err zx.err ||
      problems+=("zonetp reading ovs-vsctl's database differs from zonetp reading its own")
    run vsctl Z vx "$@"
    same v.out vx.out && same v.rc vx.rc && same v.err vx.err ||
      problems+=("ovs-vsctl reading zonetp's database differs from ovs-vsctl reading its own")
  fi
  canon V >"$tmp/V.canon" && canon Z >"$tmp/Z.canon" || problems+=("cannot read the databases")
  if [[ $only == vsctl ]]; then
    same Z.before Z.canon || problems+=("zonetp changed its database")
    same V.canon Z.canon && problems+=("ovs-vsctl did not change its database")
  elif [[ $only == zonetp ]]; then
    same V.before V.canon || problems+=("ovs-vsctl changed its database")
    same V.canon Z.canon && problems+=("zonetp did not change its database")
  else
    same V.canon Z.canon || problems+=("the databases differ")
  fi
  if ((${#problems[@]})); then
    say "${problems[@]}"
    show_run v "ovs-vsctl ($vdb)"
    show_run z "zonetp ($zdb)"
    [[ $1 == list-* ]] && ((!swap)) && show_run zx "zonetp (V)" && show_run vx "ovs-vsctl (Z)"
  fi
  if ! same V.canon Z.canon; then
    if ((${#problems[@]})); then
      diff -u --label "ovs-vsctl's database (V)" --label "zonetp's database (Z)" \
        "$tmp/V.canon" "$tmp/Z.canon" | sed 's/^/    # /'
    else # as expected: what only one tool wrote
      diff "$tmp/V.canon" "$tmp/Z.canon" | sed -n 's/^< /    # only ovs-vsctl'"'"'s database: /p; s/^> /    # only zonetp'"'"'s database: /p'
    fi
    if realign; then
      say "zonetp's database is now a copy of ovs-vsctl's: the next lines compare afresh"
    else
      say "cannot copy ovs-vsctl's database into zonetp's"
    fi
  fi
  if ((${#problems[@]})); then not_ok "$label"; else ok "$label"; fi
}

# check NAME CMD...: a line of its own for a step that is no comparison
# (CMD runs in this shell: the servers it starts are this shell's).
check() {
  local name=$1
  shift
  local rc=0
  "$@" >"$tmp/check.out" 2>&1 || rc=$?
  sed 's/^/    # /' "$tmp/check.out"
  if ((rc == 0)); then ok "$name"; else not_ok "$name"; fi
}

setup() {
  local db dp
  for db in V Z; do
    start_server "$db" || return 1
    ovs-vsctl --db="$(remote "$db")" --no-wait init || return 1
    for dp in system netdev; do
      ovs-vsctl --db="$(remote "$db")" --no-wait -- --id=@dp create Datapath datapath_version=0 \
        -- set Open_vSwitch . "datapaths:$dp=@dp" >/dev/null || return 1
    done
  done
  canon V >"$tmp/V.canon" && canon Z >"$tmp/Z.canon" || return 1
  cat "$tmp/V.canon"
  same V.canon Z.canon
}
echo "# $(ovs-vsctl --version | head -n1); $(ovsdb-server --version | head -n1); schema $(ovsdb-tool schema-version "$schema"); $("$zonetp" --version)"
check "two ovsdb-servers on databases made from $schema, with the system and netdev Datapath rows" setup
if ((nfail)); then echo "1..$n"; echo "$npass passed, $nfail failed"; exit 1; fi

# The differences zonetp makes on purpose, numbered as in
# docs/zone-limits.md, "Beside ovs-vsctl 3.5: the differential test".
D2="D2: zonetp checks what the schema allows itself, in a sentence of its own"
D3="D3: ovs-vsctl 3.5 takes what its scanf reads of a word"
D4="D4: ovs-vsctl 3.5 reads a timeout into a signed 32-bit int"
D5="D5: the kernel datapath's bounds"
D6="D6: list-dp-cap sorts the keys"
D7="D7: zonetp takes zone=N and limit=L"
# Patterns of ovsdb-server's refusals as ovs-vsctl prints them.
range_error() { # VALUE MAX
  echo "transaction error: {\"details\":\"$1 is not in the valid range 0 to $2 (inclusive)\",\"error\":\"constraint violation\"}"
}
key_error() { # KEY (as the server quotes it)
  echo "transaction error: {\"details\":\"$1 is not one of the allowed values (*)\",\"error\":\"constraint violation\"}"
}
keys="(expected one of tcp_syn_sent, tcp_syn_recv, tcp_established, tcp_fin_wait, tcp_close_wait, tcp_last_ack, tcp_time_wait, tcp_close, tcp_syn_sent2, tcp_retransmit, tcp_unack, udp_first, udp_single, udp_multiple, icmp_first, icmp_reply)"
too_large() { # KEY=VALUE
  echo "$1 is too large for the kernel datapath: the kernel stores seconds*HZ in 32 bits, so at most 17179869 seconds fit (HZ=250)"
}

# ---- an empty datapath --------------------------------------------------------
diff_cmd list-zone-tp system
diff_cmd list-zone-limits system
diff_cmd list-dp-cap system

# ---- timeout policies -----------------------------------------------------------
diff_cmd add-zone-tp system zone=5 udp_single=10 icmp_first=5
diff_cmd add-zone-tp system zone=0 tcp_established=3600
diff_cmd add-zone-tp system zone=7 icmp_first=5 udp_single=10
diff_cmd add-zone-tp system zone=65535 tcp_syn_sent=1 tcp_syn_recv=2 tcp_established=3 tcp_fin_wait=4 \
  tcp_close_wait=5 tcp_last_ack=6 tcp_time_wait=7 tcp_close=8 tcp_syn_sent2=9 tcp_retransmit=10 \
  tcp_unack=11 udp_single=12 udp_multiple=13 icmp_first=14
diff_cmd add-zone-tp netdev zone=5 udp_first=3 icmp_reply=4 udp_single=2147483647
diff_cmd add-zone-tp system zone=0x10 udp_multiple=60
diff_cmd add-zone-tp system zone=010 udp_single=3
diff_cmd add-zone-tp system zone=+22 udp_single=3
diff_cmd list-zone-tp system
diff_cmd list-zone-tp netdev
diff_cmd add-zone-tp system zone=5 udp_single=1
diff_cmd --may-exist add-zone-tp system zone=5 udp_single=1
diff_cmd --may-exist add-zone-tp system zone=9 tcp_close=2
diff_cmd del-zone-tp system zone=7
diff_cmd del-zone-tp system zone=7
diff_cmd --if-exists del-zone-tp system zone=7
diff_cmd list-zone-tp system

# ---- zone limits, and the record a zone keeps while either half is set ----------
diff_cmd set-zone-limit system 5 100
diff_cmd set-zone-limit system 11 50
diff_cmd set-zone-limit system default 1000
diff_cmd list-zone-limits system
diff_cmd list-zone-tp system
diff_cmd set-zone-limit system 5 200
diff_cmd del-zone-tp system zone=5
diff_cmd list-zone-tp system
diff_cmd list-zone-limits system
diff_cmd add-zone-tp system zone=11 udp_single=10 icmp_first=5
diff_cmd del-zone-limit system 11
diff_cmd list-zone-tp system
diff_cmd del-zone-limit system 5
diff_cmd list-zone-tp system
diff_cmd set-zone-limit system 0 0
diff_cmd set-zone-limit system 65535 4294967295
diff_cmd set-zone-limit system 0x20 010
diff_cmd set-zone-limit system +23 -0
diff_cmd set-zone-limit netdev default 3
diff_cmd list-zone-limits system
diff_cmd list-zone-limits netdev
diff_cmd del-zone-limit system default
diff_cmd del-zone-limit system default
diff_cmd --if-exists del-zone-limit system default
diff_cmd del-zone-limit system 12
diff_cmd --if-exists del-zone-limit system 12
diff_cmd list-zone-limits system
# Two zones share a policy; one also has a limit.
diff_cmd add-zone-tp system zone=20 udp_single=77
diff_cmd add-zone-tp system zone=21 udp_single=77
diff_cmd set-zone-limit system 20 5
diff_cmd del-zone-tp system zone=20
diff_cmd list-zone-tp system
diff_cmd --may-exist add-zone-tp system zone=20 udp_single=78
diff_cmd --may-exist add-zone-tp system zone=21 udp_single=78
diff_cmd del-zone-limit system 20
diff_cmd list-zone-tp system
diff_cmd list-zone-limits system

# ---- each tool changes what the other wrote --------------------------------------
diff_cmd --swap del-zone-tp system zone=0
diff_cmd --swap set-zone-limit system 11 7
diff_cmd --swap add-zone-tp system zone=6 udp_single=10 icmp_first=5
diff_cmd --swap del-zone-limit system 65535
diff_cmd --swap set-zone-limit system default 5
diff_cmd --swap del-zone-tp system zone=21
diff_cmd list-zone-tp system
diff_cmd list-zone-limits system

# ---- capabilities -----------------------------------------------------------------
set_caps() {
  local db dp
  for db in V Z; do
    dp=$(ovs-vsctl --db="$(remote "$db")" --no-wait get Open_vSwitch . datapaths:system) || return 1
    ovs-vsctl --db="$(remote "$db")" --no-wait set Datapath "$dp" "$@" || return 1
  done
}
check "ovs-vsctl set Datapath system capabilities:ct_zone=true (both databases)" set_caps capabilities:ct_zone=true
diff_cmd list-dp-cap system
check "ovs-vsctl set Datapath system capabilities:... (eight keys, both databases)" set_caps \
  capabilities:ct_timeout=true capabilities:ct_state=true capabilities:recirc=true \
  capabilities:max_hash_alg=1 capabilities:masked_set_action=true capabilities:ct_orig_tuple=true \
  capabilities:ufid=true
diff_cmd --any-order "$D6" list-dp-cap system
diff_cmd list-dp-cap netdev

# ---- refusals -------------------------------------------------------------------
# An unknown datapath.
diff_cmd add-zone-tp nope zone=1 udp_single=1
diff_cmd --may-exist add-zone-tp nope zone=1 udp_single=1
diff_cmd del-zone-tp nope zone=1
diff_cmd --if-exists del-zone-tp nope zone=1
diff_cmd list-zone-tp nope
diff_cmd set-zone-limit nope 5 1
diff_cmd set-zone-limit nope default 1
diff_cmd set-zone-limit nope five lots
diff_cmd del-zone-limit nope 5
diff_cmd del-zone-limit nope default
diff_cmd --if-exists del-zone-limit nope 5
diff_cmd list-zone-limits nope
diff_cmd list-dp-cap nope
# Zones out of range, limits out of range.
diff_cmd set-zone-limit system 88888 1
diff_cmd set-zone-limit system -1 1
diff_cmd set-zone-limit system 5 -1
diff_cmd set-zone-limit system 88888 -1
diff_cmd set-zone-limit system 5 4294967296
diff_cmd set-zone-limit system default -1
diff_cmd del-zone-limit system 88888
diff_cmd --known "$D2" 1 "$(range_error 70000 65535)" 2 "zone 70000 is not in the valid range 0 to 65535 (inclusive)" \
  add-zone-tp system zone=70000 udp_single=1
diff_cmd --known "$D2" 1 "$(range_error -1 65535)" 2 "zone -1 is not in the valid range 0 to 65535 (inclusive)" \
  add-zone-tp system zone=-1 udp_single=1
diff_cmd --known "$D2" 1 "zone id 70000 does not have a policy" 2 "zone 70000 is not in the valid range 0 to 65535 (inclusive)" \
  del-zone-tp system zone=70000
# Keys and timeouts the schema does not allow.
diff_cmd --known "$D2" 1 "$(key_error bogus)" 2 "bogus is not a valid timeout policy key $keys" \
  add-zone-tp system zone=3 bogus=1
diff_cmd --known "$D2" 1 "$(key_error '\\\"\\\"')" 2 "\"\" is not a valid timeout policy key $keys" \
  add-zone-tp system zone=3 =5
diff_cmd --known "$D2" 1 "$(range_error -1 4294967295)" 2 \
  "udp_single=-1: -1 is not in the valid range 0 to 4294967295 (inclusive)" \
  add-zone-tp system zone=3 udp_single=-1
diff_cmd --known "$D4" 1 "$(range_error -1 4294967295)" 0 "" --only-writes zonetp "$D4" \
  add-zone-tp netdev zone=6 udp_single=4294967295
diff_cmd --known "$D4" 1 "$(range_error -2147483648 4294967295)" 0 "" --only-writes zonetp "$D4" \
  add-zone-tp netdev zone=7 udp_multiple=2147483648
diff_cmd --known "$D4; $D5" 1 "$(range_error -2147483648 4294967295)" 1 "$(too_large udp_single=2147483648)" \
  add-zone-tp system zone=3 udp_single=2147483648
diff_cmd --known "$D5" 0 "" 1 "$(too_large udp_single=2147483647)" --only-writes vsctl "$D5" \
  add-zone-tp system zone=49 udp_single=2147483647
diff_cmd --known "$D5" 0 "" 0 "note: the kernel datapath has no timeout for udp_first; it ignores them" \
  add-zone-tp system zone=50 udp_first=9
diff_cmd --known "$D5" 0 "" 0 "note: the kernel datapath has no timeout for icmp_reply, udp_first; it ignores them" \
  --may-exist add-zone-tp system zone=50 udp_first=9 icmp_reply=2 udp_single=9
diff_cmd add-zone-tp netdev zone=50 udp_first=9
# Words that are no number, or not wholly one.
diff_cmd --known "$D3" 1 "zone_id (-1) out of range" 1 "invalid zone id, five" set-zone-limit system five 1
diff_cmd --known "$D3" 1 "zone_id (-1) out of range" 1 "invalid zone id, Default" set-zone-limit system Default 3
diff_cmd --known "$D3" 1 "limit (-1) out of range" 1 "invalid limit, lots" set-zone-limit system 5 lots
diff_cmd --known "$D3" 0 "" 1 "invalid zone id, 41x" --only-writes vsctl "$D3" set-zone-limit system 41x 3
diff_cmd --known "$D3" 0 "" 1 "invalid limit, 3x" --only-writes vsctl "$D3" set-zone-limit system 42 3x
# ovs-vsctl 3.5 reads no number as zone 0: here it takes zone 0's limit away.
diff_cmd --known "$D3" 0 "" 1 "invalid zone id, five" --only-writes vsctl "$D3" del-zone-limit system five
diff_cmd --known "$D3" 0 "" 1 "invalid zone id, five" --if-exists del-zone-limit system five
diff_cmd --known "$D7" 1 "limit (-1) out of range" 0 "" --only-writes zonetp "$D7" set-zone-limit system zone=5 limit=1
diff_cmd --known "$D7" 1 "zone_id (-1) out of range" 0 "" --only-writes zonetp "$D7" set-zone-limit system zone=default 9
# ovs-vsctl 3.5's own zone word is read from uninitialised memory here.
diff_cmd --known "$D3" 1 "$(range_error '*' 65535)" 2 "invalid zone argument, zone=x" \
  add-zone-tp system zone=x udp_single=1
diff_cmd --known "$D3" 1 "$(range_error '*' 65535)" 2 "invalid zone argument, 3" \
  add-zone-tp system 3 udp_single=1
diff_cmd --known "$D3" 1 "zone id * does not have a policy" 2 "invalid zone argument, zone=x" \
  del-zone-tp system zone=x
diff_cmd --known "$D3" 0 "" 2 "udp_single=x: \"x\" is not a number of seconds (decimal digits only, 0 to 4294967295)" \
  --only-writes vsctl "$D3" add-zone-tp system zone=43 udp_single=x
diff_cmd --known "$D3" 0 "" 2 "udp_single=4294967296: 4294967296 is not in the valid range 0 to 4294967295 (inclusive)" \
  --only-writes vsctl "$D3" add-zone-tp system zone=44 udp_single=4294967296
diff_cmd --known "$D3" 0 "" 2 "udp_single=5.0: \"5.0\" is not a number of seconds (decimal digits only, 0 to 4294967295)" \
  --only-writes vsctl "$D3" add-zone-tp system zone=45 udp_single=5.0
diff_cmd --known "$D3" 0 "" 2 "udp_single=0x10: \"0x10\" is not a number of seconds (decimal digits only, 0 to 4294967295)" \
  --only-writes vsctl "$D3" add-zone-tp system zone=46 udp_single=0x10
diff_cmd --known "$D3" 0 "" 2 "invalid timeout policy argument, udp_single (expected KEY=SECONDS)" \
  --only-writes vsctl "$D3" add-zone-tp system zone=47 udp_single
diff_cmd --known "$D3" 0 "" 2 "udp_single is given twice" \
  --only-writes vsctl "$D3" add-zone-tp system zone=48 udp_single=1 udp_single=2
# Missing and extra arguments, options a verb does not take: ovs-vsctl's
# words (checked before anything else, by both).
diff_cmd --usage-status add-zone-tp
diff_cmd --usage-status add-zone-tp system
diff_cmd --usage-status add-zone-tp system zone=3
diff_cmd --usage-status del-zone-tp system
diff_cmd --usage-status del-zone-tp system zone=1 zone=2
diff_cmd --usage-status list-zone-tp
diff_cmd --usage-status list-zone-tp system netdev
diff_cmd --usage-status set-zone-limit system 5
diff_cmd --usage-status set-zone-limit system 5 1 2
diff_cmd --usage-status del-zone-limit system
diff_cmd --usage-status del-zone-limit system 5 6
diff_cmd --usage-status list-zone-limits
diff_cmd --usage-status list-zone-limits system netdev
diff_cmd --usage-status list-dp-cap
diff_cmd --usage-status list-dp-cap system netdev
# A word after the command that starts with a dash: ovs-vsctl counts it as
# an argument and adds its note on where options go.
diff_cmd --usage-status set-zone-limit system 5 1 -2
diff_cmd --usage-status list-zone-limits system netdev -1
diff_cmd --usage-status --if-exists set-zone-limit system 5 1
diff_cmd --usage-status --may-exist del-zone-tp system zone=1
diff_cmd --usage-status --if-exists add-zone-tp system zone=1 udp_single=1
diff_cmd --usage-status --if-exists list-zone-limits system
# After all the refusals, the same configuration still.
diff_cmd list-zone-tp system
diff_cmd list-zone-limits system

echo "1..$n"
echo "$npass passed, $nfail failed"
((nfail == 0))
