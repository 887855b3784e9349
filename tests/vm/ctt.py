#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A raw nfnetlink cttimeout client for the VM tests and benchmarks (one
# process for many requests; nfct forks a process per object):
#   ctt.py create PREFIX N   create PREFIX0..PREFIX<N-1> (udp, ipv4)
#   ctt.py dump              count objects and datagrams, print the order
#   ctt.py bench NAME N      N GETs of NAME, timed
import socket, struct, sys, time
NLA_F_NESTED = 0x8000
def attr(t, data):
    l = 4 + len(data)
    return struct.pack('=HH', l, t) + data + b'\0' * ((4 - l % 4) % 4)
class Nl:
    def __init__(self):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
        self.s.bind((0, 0)); self.seq = 0
    def send(self, mtype, flags, payload):
        self.seq += 1
        hdr = struct.pack('=IHHII', 20 + len(payload), (8 << 8) | mtype, flags, self.seq, 0)
        self.s.send(hdr + struct.pack('=BBH', 0, 0, 0) + payload)
    def recv_msgs(self, bufsize=8192):
        data = self.s.recv(bufsize); out = []; off = 0
        while off + 16 <= len(data):
            l, t, f, seq, pid = struct.unpack_from('=IHHII', data, off)
            out.append((t, f, data[off:off + l])); off += (l + 3) & ~3
        return out
    def ack(self):
        for t, f, m in self.recv_msgs():
            if t == 2:
                return -struct.unpack_from('=i', m, 16)[0]
        return None
def new_payload(name, l4, val):
    inner = attr(1, struct.pack('>I', val))
    if l4 == 6: inner += attr(3, struct.pack('>I', val + 1))
    return (attr(1, name.encode() + b'\0') + attr(2, struct.pack('>H', 2)) +
            attr(3, bytes([l4])) + attr(4 | NLA_F_NESTED, inner))
nl = Nl(); cmd = sys.argv[1]
if cmd == 'create':            # create PREFIX N
    bad = 0
    for i in range(int(sys.argv[3])):
        nl.send(0, 0x1 | 0x4 | 0x400 | 0x200, new_payload('%s%d' % (sys.argv[2], i), 6 if i % 2 else 17, 10 + i))
        if nl.ack() != 0: bad += 1
    print('created', int(sys.argv[3]) - bad, 'failed', bad)
elif cmd == 'dump':             # objects and datagrams of one dump
    nl.send(1, 0x1 | 0x300, b''); n = grams = 0; names = []
    while True:
        msgs = nl.recv_msgs(); grams += 1; done = False
        for t, f, m in msgs:
            if t == 3: done = True
            elif t == 0x800:
                n += 1; assert f & 2, 'NLM_F_MULTI missing'
                names.append(m[24:m.index(b'\0', 24)].decode())
        if done: break
    print('objects', n, 'multipart', grams > 1)
    print('order', ' '.join(names))
elif cmd == 'bench':            # bench NAME N: N GETs of NAME
    name, n = sys.argv[2], int(sys.argv[3])
    p = attr(1, name.encode() + b'\0'); t0 = time.perf_counter()
    for _ in range(n):
        nl.send(1, 0x1, p); nl.recv_msgs()
    dt = time.perf_counter() - t0
    print('%d GETs of %s: %.1f ms total, %.1f us each' % (n, name, dt * 1e3, dt * 1e6 / n))
