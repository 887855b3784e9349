#!/usr/bin/env python3
"""Usage: ovsdb-canon.py < REPLY

Reads ovsdb-client's reply to a `select` of the Open_vSwitch, Datapath,
CT_Zone and CT_Timeout_Policy tables (in that order) and prints the zone
configuration without row identities, one fact a line, sorted, so that
two databases written by different tools compare with diff:

  datapaths: NAME...
  datapath NAME: COLUMN=VALUE ...             (every column but ct_zones)
  datapath NAME zone N: COLUMN=VALUE ...      (every CT_Zone column; the
                                               policy row's columns inline)
  rows: Datapath=N CT_Zone=N CT_Timeout_Policy=N

Keys of external_ids starting with "zonetp-" are left out: zonetp numbers
policies there (docs/ovsdb.md, "Policy ids"); ovs-vsctl writes none.
Part of tests/distro/test-vsctl-diff.sh.
"""
import json
import sys

ZONETP_KEY = "zonetp-"


def atom(v):
    if isinstance(v, list) and len(v) == 2 and v[0] in ("uuid", "named-uuid"):
        return "<uuid>"
    return json.dumps(v)


def value(column, v):
    """An OVSDB value as text: sets sorted, maps sorted by key."""
    if isinstance(v, list) and len(v) == 2 and v[0] == "set":
        return "[" + " ".join(sorted(atom(x) for x in v[1])) + "]"
    if isinstance(v, list) and len(v) == 2 and v[0] == "map":
        pairs = [(k, x) for k, x in v[1]
                 if not (column == "external_ids" and str(k).startswith(ZONETP_KEY))]
        return "{" + " ".join(f"{atom(k)}={atom(x)}" for k, x in sorted(pairs, key=lambda p: json.dumps(p[0]))) + "}"
    return atom(v)


def uuid_of(v):
    if isinstance(v, list) and len(v) == 2 and v[0] == "uuid":
        return v[1]
    if isinstance(v, list) and len(v) == 2 and v[0] == "set" and len(v[1]) == 1:
        return uuid_of(v[1][0])
    return None


def pairs(v):
    return v[1] if isinstance(v, list) and len(v) == 2 and v[0] == "map" else []


def columns(row, skip=()):
    return " ".join(f"{c}={value(c, row[c])}" for c in sorted(row)
                    if not c.startswith("_") and c not in skip)


def main():
    reply = json.load(sys.stdin)
    ovs, dps, zones, policies = ([r for r in t["rows"]] for t in reply[:4])
    by_uuid = {r["_uuid"][1]: r for r in dps + zones + policies}
    out = []
    names = sorted(k for r in ovs for k, _ in pairs(r["datapaths"]))
    out.append("datapaths: " + " ".join(names))
    for r in ovs:
        for name, ref in pairs(r["datapaths"]):
            dp = by_uuid[ref[1]]
            out.append(f"datapath {name}: {columns(dp, skip=('ct_zones',))}")
            for zone, zref in pairs(dp["ct_zones"]):
                z = by_uuid[zref[1]]
                line = f"datapath {name} zone {zone}: {columns(z, skip=('timeout_policy',))}"
                tp = uuid_of(z["timeout_policy"])
                line += " policy=" + ("(" + columns(by_uuid[tp]) + ")" if tp else "none")
                out.append(line)
    out.append(f"rows: Datapath={len(dps)} CT_Zone={len(zones)} CT_Timeout_Policy={len(policies)}")
    print("\n".join(sorted(out)))


if __name__ == "__main__":
    main()
