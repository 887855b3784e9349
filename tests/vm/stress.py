#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A cttimeout request worker for tests/vm/test-stress.sh:
#   stress.py SEED SECONDS PREFIX NAMES STATS [QUIET]
# For SECONDS, sends random requests on the names PREFIX0..PREFIX<NAMES-1>
# (shared with the other workers, so they overlap): create (udp or icmp,
# 2-3 s, sometimes EXCL), replace, delete, get, dump, delete-all (rarely),
# each with NLM_F_ACK, and reads every reply.  While the file QUIET exists
# (the module-cycle worker wants zonetp.ko's references gone so that rmmod
# can succeed) it creates nothing, but goes on sending get, delete and dump
# requests, so requests arrive while the provider is unloaded.  Any errno is accepted: the
# object may just have been deleted by another worker, or the provider may
# be between rmmod and insmod.  What is judged is the kernel afterwards (no
# splat, no leak, a consistent table).  Writes "requests N errors N
# timeouts N" to STATS.
import errno, os, random, socket, struct, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fuzz import (A_DATA, A_L3, A_L4, A_NAME, DELETE, F_ACK, F_CREATE, F_DUMP, F_EXCL,
                  F_REPLACE, F_REQUEST, GET, NEW, NLA_F_NESTED, NLMSG_DONE, NLMSG_ERROR,
                  NETLINK_NETFILTER, SUBSYS, attr)


def main():
    seed, seconds, prefix, nnames, stats = (int(sys.argv[1]), float(sys.argv[2]), sys.argv[3],
                                            int(sys.argv[4]), sys.argv[5])
    quiet = sys.argv[6] if len(sys.argv) > 6 else None
    r = random.Random(seed)
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.bind((0, 0))
    s.settimeout(10)
    end = time.monotonic() + seconds
    seq = reqs = errs = timeouts = 0
    while time.monotonic() < end:
        name = ('%s%d' % (prefix, r.randrange(nnames))).encode() + b'\0'
        if quiet and os.path.exists(quiet):
            op = r.choices(['delete', 'get', 'dump'], [30, 50, 20])[0]
        else:
            op = r.choices(['new', 'replace', 'delete', 'get', 'dump', 'flush'], [30, 15, 25, 20, 9, 1])[0]
        flags = F_REQUEST | F_ACK
        if op in ('new', 'replace'):
            l4 = r.choice([17, 1])
            t = r.choice([2, 3])
            data = attr(1, struct.pack('>I', t)) + (attr(2, struct.pack('>I', t)) if l4 == 17 else b'')
            body = (attr(A_NAME, name) + attr(A_L3, struct.pack('>H', 2)) + attr(A_L4, bytes([l4])) +
                    attr(A_DATA | NLA_F_NESTED, data))
            mtype = NEW
            flags |= F_CREATE | (F_REPLACE if op == 'replace' else (F_EXCL if r.random() < 0.3 else 0))
        elif op == 'delete':
            mtype, body = DELETE, attr(A_NAME, name)
        elif op == 'flush':
            mtype, body = DELETE, b''
        elif op == 'get':
            mtype, body = GET, attr(A_NAME, name)
        else:
            mtype, body, flags = GET, b'', F_REQUEST | F_DUMP
        seq += 1
        payload = struct.pack('=BBH', 2, 0, 0) + body
        s.send(struct.pack('=IHHII', 16 + len(payload), (SUBSYS << 8) | mtype, flags, seq, 0) + payload)
        reqs += 1
        # Read until this request's ack/error (or a dump's DONE).
        try:
            done = False
            while not done:
                data = s.recv(1 << 16)
                off = 0
                while off + 16 <= len(data):
                    n, t, _, rseq, _ = struct.unpack_from('=IHHII', data, off)
                    if rseq == seq and t == NLMSG_ERROR:
                        e = -struct.unpack_from('=i', data, off + 16)[0]
                        errs += e != 0
                        done = True
                    elif rseq == seq and t == NLMSG_DONE:
                        done = True
                    off += max(16, (n + 3) & ~3)
        except socket.timeout:
            timeouts += 1
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                raise
            errs += 1
    with open(stats, 'w') as f:
        f.write('requests %d errors %d timeouts %d\n' % (reqs, errs, timeouts))


if __name__ == '__main__':
    main()
