#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The per-size benchmarks of one cttimeout provider (whichever is loaded),
in the current network namespace, for `make bench`:

  bench_scale.py PROVIDER grow [--no-ovs] [--no-iptables]
      creates OVS-named objects batched (256 per datagram) up to each size
      of SIZES and, at each size, measures
        get   GET by name: 256 GETs in one datagram, names spread evenly over
              all objects (a list walks half of them on average)
        flow  installing OVS flows ct(commit,zone=Z,timeout=NAME), 256 per
              datagram, names spread over the ipv4 objects
        rule  iptables-restore --noflush of 512 `-j CT --timeout NAME` rules
      and finally the total time in sendmsg of creating them all batched.
  bench_scale.py PROVIDER one-by-one N
      creates N objects one request per round trip (ovs-vswitchd's way).

Prints `BENCH PROVIDER METRIC SIZE VALUE` lines (microseconds per
operation, or seconds for totals): bench-report.py makes the table and the
plot. Every answer is checked (acks, the names GET returns, the USE count
each flow adds); times are only reported, never asserted."""
import statistics
import subprocess
import sys
import os
import time

import bench_ctt
import bench_nl

SIZES = [s for s in [1, 100, 1000, 4096, 16384, 24576]
         if s <= int(os.environ.get('ZONETP_BENCH_OBJECTS', 24576))]
BATCH = 256          # requests per datagram
REPEAT = 5           # measured units per size; the median is reported
GET_REPEAT = 25      # GETs are cheap and noisy under TCG: more units
RULES = 512          # iptables rules per iptables-restore
L4_NAME = {6: 'tcp', 17: 'udp', 1: 'icmp'}


def out(provider, metric, size, value):
    print('BENCH %s %s %d %.3f' % (provider, metric, size, value), flush=True)


def spread(items, k):
    """k items evenly spaced over the list (with repeats when it is short)."""
    return [items[(i * len(items)) // k] for i in range(k)]


def bench_get(ctt, objs):
    names = spread([o.name for o in objs], BATCH)
    return statistics.median(ctt.get(names) for _ in range(GET_REPEAT)) / BATCH * 1e6


def bench_flows(ctt, ovs, objs):
    targets = spread([o for o in objs if o.l3 == 2], BATCH)
    times = []
    for r in range(REPEAT):
        times.append(ovs.flows_add(0, targets, zone=5))
        if r == 0:   # each flow's template holds two references on its object
            uses, want = ctt.uses(), {}
            for o in targets:
                want[o.name] = want.get(o.name, 1) + 2
            wrong = [n for n, u in want.items() if uses.get(n) != u]
            assert not wrong, 'flows did not attach their policy: %s USE %s, want %s' % (
                wrong[0], uses.get(wrong[0]), want[wrong[0]])
        ovs.flows_flush()
    return statistics.median(times) / BATCH * 1e6


def iptables_restore(text):
    t0 = time.perf_counter()
    subprocess.run(['iptables-restore', '--noflush'], input=text.encode(), check=True)
    return time.perf_counter() - t0


def bench_rules(objs):
    targets = spread([o for o in objs if o.l3 == 2], RULES)
    rules = ['-A PREROUTING -s 10.%d.%d.%d/32 -p %s -j CT --timeout %s' % (
        i >> 16 & 255, i >> 8 & 255, i & 255, L4_NAME[o.l4], o.name) for i, o in enumerate(targets)]
    text = '*raw\n' + '\n'.join(rules) + '\nCOMMIT\n'
    times = []
    for _ in range(3):
        times.append(iptables_restore(text))
        subprocess.run(['iptables', '-t', 'raw', '-F'], check=True)
    return statistics.median(times) / RULES * 1e6


def grow(provider, args):
    import bench_ovs
    ctt = bench_ctt.Client()
    ovs = None
    if '--no-ovs' not in args:
        ovs = bench_ovs.Client()
        ovs.dp_add('bench-dp')
    objs, created = [], 0.0
    for size in SIZES:
        new = [bench_ctt.Obj(i) for i in range(len(objs), size)]
        for chunk in bench_nl.chunks(new, BATCH):
            created += ctt.create(chunk)
        objs += new
        out(provider, 'get', size, bench_get(ctt, objs))
        if ovs:
            out(provider, 'flow', size, bench_flows(ctt, ovs, objs))
        if '--no-iptables' not in args:
            out(provider, 'rule', size, bench_rules(objs))
    out(provider, 'create_batched', len(objs), created)
    if ovs:
        ovs.dp_del('bench-dp')


def one_by_one(provider, n):
    ctt = bench_ctt.Client()
    t0 = time.perf_counter()
    for i in range(n):
        ctt.create_one(bench_ctt.Obj(i))
    out(provider, 'create_one', n, time.perf_counter() - t0)


def main():
    provider, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == 'grow':
        grow(provider, args)
    elif cmd == 'one-by-one':
        one_by_one(provider, int(args[0]))
    else:
        sys.exit('bench_scale.py: unknown command %s' % cmd)


if __name__ == '__main__':
    main()
