#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench-report.py LOG OUTDIR: the table of ratios (printed, and written to
OUTDIR/results.md) and the plot of cost against the number of objects
(OUTDIR/cost-vs-objects.svg, written by hand: no plotting library) from the
BENCH lines of `make bench` (tests/vm/bench-*.sh). Goals are those of issue
10, as ratios measured in one run; a missed goal is reported, not fatal."""
import math
import os
import statistics
import sys

SIZES = [1, 100, 1000, 4096, 16384, 24576]
COLOURS = {'upstream': '#d62728', 'zonetp': '#1f77b4'}
LABELS = {'upstream': 'upstream nfnetlink_cttimeout', 'zonetp': 'zonetp.ko'}


def load(path):
    data, info = {}, {}
    with open(path, errors='replace') as f:
        for line in f:
            w = line.split()
            if len(w) == 5 and w[0] == 'BENCH':
                data.setdefault((w[1], w[2]), {}).setdefault(int(w[3]), []).append(float(w[4]))
            elif len(w) >= 3 and w[0] == 'BENCH-INFO':
                info[w[1]] = ' '.join(w[2:])
    return data, info


class Report:
    def __init__(self, data):
        self.data, self.lines, self.goals = data, [], []

    def get(self, provider, metric, size):
        """The value (median over rounds); None if it was not measured."""
        v = self.data.get((provider, metric), {}).get(size)
        return statistics.median(v) if v else None

    def row(self, *cells):
        self.lines.append('| ' + ' | '.join(cells) + ' |')

    def head(self, title, *cols):
        self.lines += ['', '**%s**' % title, '']
        self.row(*cols)
        self.row(*(['---'] + ['---:'] * (len(cols) - 1)))

    def goal(self, name, ok, text):
        self.goals.append((name, ok, text))


def fmt(v, unit=''):
    if v is None:
        return 'n/a'
    if v >= 100:
        return '%.0f%s' % (v, unit)
    if v >= 10:
        return '%.1f%s' % (v, unit)
    return '%.2f%s' % (v, unit)


def ratio(a, b):
    return a / b if a is not None and b else None


def sizes_of(r, metric):
    return sorted({s for (_, m), d in r.data.items() if m == metric for s in d})


def tables(r):
    # The largest sizes measured (24,576 objects and 4,096 zones, unless a
    # quick run measured less).
    sizes = sizes_of(r, 'get') or SIZES
    n = sizes[-1]
    zn = (sizes_of(r, 'zonetp_sync') or [4096])[-1]
    r.head('a. Creating {:,} objects ({:,} policies x 6), seconds'.format(n, n // 6),
           'how', 'upstream', 'zonetp.ko', 'upstream / zonetp.ko')
    for metric, how in [('create_batched', 'batched, 256 per datagram (time in sendmsg)'),
                        ('create_one', 'one request per round trip (as ovs-vswitchd)')]:
        u, z = r.get('upstream', metric, n), r.get('zonetp', metric, n)
        r.row(how, fmt(u), fmt(z), fmt(ratio(u, z), 'x'))
    q = ratio(r.get('upstream', 'create_batched', n), r.get('zonetp', 'create_batched', n))
    r.goal('a', q is not None and q >= 50, 'batched create at %d objects: %s upstream (goal >= 50x)' % (n, fmt(q, 'x')))

    # b, c. per-operation costs at each size
    for metric, title, unit in [
            ('get', 'b. GET by name, microseconds per GET (256 per datagram)', 'us'),
            ('flow', 'c. Installing OVS flows ct(commit,zone=Z,timeout=NAME), flows per second', 'flows/s'),
            ('rule', 'c. iptables-restore of -j CT --timeout rules, rules per second', 'rules/s')]:
        r.head(title, 'objects', 'upstream', 'zonetp.ko', 'zonetp.ko / upstream' if unit != 'us' else
               'upstream / zonetp.ko')
        for s in sizes:
            u, z = r.get('upstream', metric, s), r.get('zonetp', metric, s)
            if unit != 'us':   # per second from microseconds per operation
                u, z = (1e6 / u if u else None), (1e6 / z if z else None)
                r.row('{:,}'.format(s), fmt(u), fmt(z), fmt(ratio(z, u), 'x'))
            else:
                r.row('{:,}'.format(s), fmt(u), fmt(z), fmt(ratio(u, z), 'x'))
    g1, gn = r.get('zonetp', 'get', 1), r.get('zonetp', 'get', n)
    q = ratio(gn, g1)
    r.goal('b', q is not None and q <= 1.2,
           'zonetp.ko GET at %d objects / at 1: %s (goal <= 1.2x)' % (n, fmt(q, 'x')))
    q = ratio(r.get('upstream', 'flow', n), r.get('zonetp', 'flow', n))
    r.goal('c', q is not None and q >= 20,
           'OVS flow installs at %d objects: %s upstream (goal >= 20x)' % (n, fmt(q, 'x')))
    q = ratio(r.get('upstream', 'rule', n), r.get('zonetp', 'rule', n))
    r.goal('c (iptables)', q is not None and q >= 20,
           'iptables rules at %d objects: %s upstream (goal >= 20x)' % (n, fmt(q, 'x')))

    # d. new connections per second
    u = r.data.get(('upstream', 'conn_rate'), {})
    z = r.data.get(('zonetp', 'conn_rate'), {})
    uv = [v for vs in u.values() for v in vs]
    zv = [v for vs in z.values() for v in vs]
    r.head('d. New connections per second through ct(commit,zone=5,timeout=NAME), %d rounds each' % len(uv),
           'provider', 'median', 'min', 'max')
    for name, v in [('upstream', uv), ('zonetp.ko', zv)]:
        r.row(name, fmt(statistics.median(v) if v else None), fmt(min(v) if v else None),
              fmt(max(v) if v else None))
    q = ratio(statistics.median(zv), statistics.median(uv)) if uv and zv else None
    r.goal('d', q is not None and abs(q - 1) <= 0.02,
           'zonetp.ko / upstream new connections per second: %s (goal within 2%%)' % fmt(q, 'x'))

    # e. userspace
    r.head('e. {:,} zones with a policy each ({:,} objects): seconds until all objects exist'.format(zn, zn * 6),
           'pushed by', 'on upstream', 'on zonetp.ko')
    for metric, who in [('vswitchd_push', "Debian's ovs-vswitchd (one ovs-vsctl transaction)"),
                        ('zonetp_sync', '`zonetp sync`'),
                        ('noop_sync', 'a no-op `zonetp sync`'),
                        ('dump', 'one dump (`zonetp timeout list`)'),
                        ('vsctl_txn', '(the ovs-vsctl transaction alone)')]:
        r.row(who, fmt(r.get('upstream', metric, zn)), fmt(r.get('zonetp', metric, zn)))
    v, s = r.get('upstream', 'vswitchd_push', zn), r.get('zonetp', 'zonetp_sync', zn)
    q = ratio(v, s)
    r.goal('e (push)', q is not None and q >= 20,
           'ovs-vswitchd on upstream / zonetp sync on zonetp.ko: %s (goal >= 20x); same provider: '
           'upstream %s, zonetp.ko %s' % (
               fmt(q, 'x'), fmt(ratio(v, r.get('upstream', 'zonetp_sync', zn)), 'x'),
               fmt(ratio(r.get('zonetp', 'vswitchd_push', zn), s), 'x')))
    q = ratio(r.get('zonetp', 'noop_sync', zn), r.get('zonetp', 'dump', zn))
    r.goal('e (no-op sync)', q is not None and q <= 2,
           'no-op sync / one dump, on zonetp.ko: %s (goal <= 2x)' % fmt(q, 'x'))
    r.head('e. One configuration command, seconds (the file holds N zones)',
           'command', 'N = 1', 'N = {:,}'.format(zn))
    for who, metric in [('`zonetp add-zone-tp` (+ del-zone-tp)', 'add_zone_tp'),
                        ('`zonetp list-zone-tp` (reads the file)', 'list_zone_tp')]:
        r.row(who, fmt(r.get('zonetp', metric, 1)), fmt(r.get('zonetp', metric, zn)))
    r.row('`ovs-vsctl add-zone-tp` (+ del-zone-tp)', 'n/a', fmt(r.get('ovs-vsctl', 'add_zone_tp', zn)))
    a1, an = r.get('zonetp', 'add_zone_tp', 1), r.get('zonetp', 'add_zone_tp', zn)
    l1, ln = r.get('zonetp', 'list_zone_tp', 1), r.get('zonetp', 'list_zone_tp', zn)
    if None not in (a1, an, l1, ln):
        # The measured unit is add-zone-tp plus del-zone-tp: two commands,
        # each reading the file once and writing it once. A pass over the
        # file is costed at list-zone-tp's growth (a read and a parse).
        grow, io = an - a1, 4 * (ln - l1)
        r.goal('e (add-zone-tp)', grow <= io,
               'add-zone-tp + del-zone-tp grow by %.3f s from 1 to %d zones; their four file passes '
               '(two reads, two writes; 4 x list-zone-tp\'s growth) cost %.3f s (goal: no more)' % (grow, zn, io))
    else:
        r.goal('e (add-zone-tp)', False, 'not measured')


def svg_plot(r, path):
    """Three log-log panels: microseconds per GET, per flow install, per rule."""
    panels = [('get', 'GET by name'), ('flow', 'OVS flow install'), ('rule', 'iptables CT rule')]
    W, H, L, T, PW, PH, GAP = 1020, 380, 70, 50, 270, 260, 60
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="12">' % (W, H), '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="15">cost per operation (microseconds, log) against objects '
           'in the namespace (log); perf kernel, qemu TCG</text>' % L]
    xs = [math.log10(s) for s in SIZES]
    for i, (metric, title) in enumerate(panels):
        x0 = L + i * (PW + GAP)
        vals = [v for p in COLOURS for s in SIZES for v in [r.get(p, metric, s)] if v]
        if not vals:
            continue
        lo, hi = math.floor(math.log10(min(vals))), math.ceil(math.log10(max(vals)))
        hi = max(hi, lo + 1)

        def px(lx):
            return x0 + (lx - xs[0]) / (xs[-1] - xs[0]) * PW

        def py(v):
            return T + PH - (math.log10(v) - lo) / (hi - lo) * PH
        out.append('<text x="%d" y="%d" font-weight="bold">%s</text>' % (x0, T - 10, title))
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>' % (x0, T, PW, PH))
        for e in range(lo, hi + 1):
            y = py(10 ** e)
            out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (x0, y, x0 + PW, y))
            out.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (x0 - 4, y + 4, 10 ** e))
        for s, lx in zip(SIZES, xs):
            out.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="10">%s</text>' % (
                px(lx), T + PH + 14, '{:,}'.format(s)))
        for p, colour in COLOURS.items():
            pts = [(px(lx), py(v)) for s, lx in zip(SIZES, xs) for v in [r.get(p, metric, s)] if v]
            if pts:
                out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
                    colour, ' '.join('%.1f,%.1f' % q for q in pts)))
                out += ['<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (x, y, colour) for x, y in pts]
    for j, (p, colour) in enumerate(COLOURS.items()):
        y = H - 30 + j * 16
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (
            L, y - 4, L + 24, y - 4, colour))
        out.append('<text x="%d" y="%d">%s</text>' % (L + 30, y, LABELS[p]))
    out.append('</svg>')
    with open(path, 'w') as f:
        f.write('\n'.join(out) + '\n')


def main():
    log, outdir = sys.argv[1], sys.argv[2]
    data, info = load(log)
    if not data:
        sys.exit('bench-report: no BENCH lines in %s' % log)
    r = Report(data)
    tables(r)
    text = ['# zonetp benchmark results (`make bench`)', '',
            'Kernel %s (%s flavour), %s guest CPUs under qemu TCG, guest run %s s; host load average '
            'before %s, after %s.' % (info.get('kernel', '?'), info.get('flavour', '?').split()[0],
                                      info.get('cpus', '?'), info.get('guest_seconds', '?'),
                                      info.get('host_load_before', '?'), info.get('host_load_after', '?'))]
    text += r.lines + ['', '**Goals (issue 10), as ratios measured in this run**', '']
    text += ['- %s %s: %s' % ('met   ' if ok else 'MISSED', name, t) for name, ok, t in r.goals]
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, 'results.md'), 'w') as f:
        f.write('\n'.join(text) + '\n')
    svg_plot(r, os.path.join(outdir, 'cost-vs-objects.svg'))
    print('\n'.join(text))
    print('\n(table: %s, plot: %s)' % (os.path.join(outdir, 'results.md'),
                                       os.path.join(outdir, 'cost-vs-objects.svg')))


if __name__ == '__main__':
    main()
