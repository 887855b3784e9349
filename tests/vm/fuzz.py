#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# A structure-aware, seeded, differential fuzzer of the cttimeout nfnetlink
# interface (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_CTNETLINK_TIMEOUT),
# raw sockets only:
#   fuzz.py gen SEED COUNT FILE    write COUNT messages made from SEED (the
#                                  same seed always gives the same bytes)
#   fuzz.py run FILE OUT           send FILE's messages to the kernel (in
#                                  batches, many per sendmsg), record every
#                                  reply, normalized, per message
#   fuzz.py diff FILE A B          compare two recordings message by message;
#                                  prints the first difference in hex; fails
#                                  also if A or B holds no successful reply
#   fuzz.py stats FILE A           what the messages provoked (errno counts)
#
# Messages: every message type (NEW, GET, DELETE, DEFAULT_SET, DEFAULT_GET
# and unknown ones); random flags (ACK, EXCL, REPLACE, CREATE, APPEND,
# ECHO, DUMP, sometimes no REQUEST); a random or truncated nfgenmsg;
# attributes missing, duplicated, reordered, truncated (nla_len past the
# end), oversized or of the wrong size; names of 0-64 bytes with and
# without a NUL, from a small pool (so that objects are created, replaced,
# fetched and deleted again) or random; every L3/L4 including unknown ones;
# CTA_TIMEOUT_DATA with each tracker's attributes, wrong types, wrong sizes,
# nested garbage.  nlmsg_len is always consistent with the bytes sent: a
# bad nlmsg_len makes netlink drop the rest of the datagram, which would
# test nothing but the netlink core.
import errno, os, random, socket, struct, sys

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
SUBSYS = 8                                    # NFNL_SUBSYS_CTNETLINK_TIMEOUT
NEW, GET, DELETE, DEFAULT_SET, DEFAULT_GET = range(5)
NAMES = {NEW: 'NEW', GET: 'GET', DELETE: 'DELETE', DEFAULT_SET: 'DEFAULT_SET', DEFAULT_GET: 'DEFAULT_GET'}
F_REQUEST, F_MULTI, F_ACK, F_ECHO = 0x1, 0x2, 0x4, 0x8
F_REPLACE, F_EXCL, F_CREATE, F_APPEND = 0x100, 0x200, 0x400, 0x800
F_DUMP = F_REPLACE | F_EXCL                  # NLM_F_ROOT | NLM_F_MATCH
NLA_F_NESTED = 0x8000
A_NAME, A_L3, A_L4, A_DATA, A_USE = 1, 2, 3, 4, 5
NLMSG_ERROR, NLMSG_DONE = 2, 3
# Per-tracker attribute counts of CTA_TIMEOUT_DATA (Linux 6.12 uapi):
# TCP 14, UDP/UDPLITE 2, ICMP/ICMPv6 1, SCTP 10, DCCP 8, GRE 2, generic 1.
L4_DATA_MAX = {6: 14, 17: 2, 136: 2, 1: 1, 58: 1, 132: 10, 33: 8, 47: 2}
# One batch holds at most this many messages; a dump request ends its
# batch, so the objects it lists cannot change between its parts (the
# messages after it would otherwise run before its later parts).
BATCH = 128


def attr(t, data, length=None):
    n = 4 + len(data) if length is None else length
    return struct.pack('=HH', n, t) + data + b'\0' * ((4 - (4 + len(data)) % 4) % 4)


class Gen:
    """Makes one message at a time from a seeded random source."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        pool = ['web', 'dns', 'ovs_tp_1_udp4', 'a', 'x' * 30, 'y' * 31, 'z' * 32, '']
        self.pool = pool + ['p%d' % i for i in range(10)]

    def chance(self, p):
        return self.r.random() < p

    def u32(self):
        return self.r.choice([0, 1, 2, 3, 5, 30, 60, 3600, 0x7fffffff, 0x80000000, 0xffffffff,
                              self.r.getrandbits(32), self.r.randrange(1, 100000)])

    def garbage(self, n):
        return bytes(self.r.getrandbits(8) for _ in range(n))

    def name(self):
        r = self.r
        if self.chance(0.75):
            s = r.choice(self.pool).encode()
        elif self.chance(0.5):
            s = bytes(r.choice(b'abcdefghijklmnopqrstuvwxyz_0123456789') for _ in range(r.randrange(0, 65)))
        else:
            s = self.garbage(r.randrange(0, 65))
        if self.chance(0.85):
            s += b'\0'
        if self.chance(0.05):
            s += b'\0' * r.randrange(1, 8) + self.garbage(r.randrange(0, 8))   # bytes after the NUL
        return s

    def l3(self):
        return self.r.choice([2, 2, 2, 10, 10, 0, 7, 3, 0xffff, self.r.getrandbits(16)])

    def l4(self):
        return self.r.choice([6, 17, 1, 58, 136, 132, 33, 47, 255, 0, 2, 41, 200, self.r.getrandbits(8)])

    def sized(self, value, size):
        """value packed big-endian in `size` bytes, sometimes a wrong size."""
        if self.chance(0.06):
            size = self.r.choice([0, 1, 2, 3, 4, 5, 8, 16])
        return (value & ((1 << (8 * size)) - 1)).to_bytes(size, 'big') if size else b''

    def data(self, l4):
        r = self.r
        if self.chance(0.08):                       # nested garbage
            return self.garbage(r.randrange(0, 48))
        out = b''
        top = L4_DATA_MAX.get(l4, 1)
        for _ in range(r.randrange(0, top + 3)):
            t = r.randrange(0, top + 3) if self.chance(0.2) else r.randrange(1, top + 1)
            if self.chance(0.05):
                t |= NLA_F_NESTED
            out += attr(t, self.sized(self.u32(), 4))
        if out and self.chance(0.04):               # last inner attribute cut short
            out = out[:-r.randrange(1, 4)]
        return out

    def attrs(self, mtype):
        r = self.r
        want = {
            NEW: (0.93, 0.9, 0.9, 0.85), GET: (0.85, 0.1, 0.1, 0.05),
            DELETE: (0.8, 0.1, 0.1, 0.05), DEFAULT_SET: (0.1, 0.9, 0.9, 0.85),
            DEFAULT_GET: (0.1, 0.9, 0.9, 0.1),
        }.get(mtype, (0.5, 0.5, 0.5, 0.5))
        l4 = self.l4()
        parts = []
        if self.chance(want[0]):
            parts.append(attr(A_NAME, self.name()))
        if self.chance(want[1]):
            parts.append(attr(A_L3, self.sized(self.l3(), 2)))
        if self.chance(want[2]):
            parts.append(attr(A_L4, self.sized(l4, 1)))
        if self.chance(want[3]):
            parts.append(attr(A_DATA | (NLA_F_NESTED if self.chance(0.5) else 0), self.data(l4)))
        if self.chance(0.05):
            parts.append(attr(A_USE, self.sized(self.u32(), 4)))
        for _ in range(r.choice([0] * 12 + [1, 1, 2])):     # duplicates and strangers
            t = r.choice([A_NAME, A_L3, A_L4, A_DATA, 0, 6, 7, 9, 31, 0x7fff])
            parts.append(attr(t, self.name() if t == A_NAME else self.garbage(r.randrange(0, 12))))
        if self.chance(0.02):                               # oversized
            parts.append(attr(r.choice([A_NAME, A_DATA, 9]), self.garbage(r.randrange(64, 1500))))
        if self.chance(0.15):
            r.shuffle(parts)
        body = b''.join(parts)
        if body and self.chance(0.03):                      # nla_len past the end
            last = len(parts[-1])
            off = len(body) - last
            body = body[:off] + struct.pack('=H', last + r.randrange(1, 64)) + body[off + 2:]
        if body and self.chance(0.02):                      # cut mid-attribute
            body = body[:r.randrange(0, len(body))]
        return body

    def message(self, seq):
        r = self.r
        mtype = r.choices([NEW, GET, DELETE, DEFAULT_SET, DEFAULT_GET, 5, 6, 15, 255],
                          [30, 22, 14, 12, 12, 2, 1, 1, 1])[0]
        flags = F_REQUEST if self.chance(0.97) else 0
        for f, p in ((F_ACK, 0.5), (F_EXCL, 0.2), (F_REPLACE, 0.2), (F_CREATE, 0.3),
                     (F_APPEND, 0.03), (F_ECHO, 0.03), (F_MULTI, 0.02)):
            if self.chance(p):
                flags |= f
        if mtype == GET and self.chance(0.12):
            flags |= F_DUMP
        if self.chance(0.04):
            nfgen = self.garbage(r.randrange(0, 4))          # short nfgenmsg
        else:
            family = r.choice([0, 2, 10, 2, 7, 255])
            version = 0 if self.chance(0.95) else r.getrandbits(8)
            res_id = 0 if self.chance(0.9) else r.getrandbits(16)
            nfgen = struct.pack('=BBH', family, version, socket.htons(res_id))
        payload = nfgen + (self.attrs(mtype) if len(nfgen) == 4 else b'')
        hdr = struct.pack('=IHHII', 16 + len(payload), (SUBSYS << 8) | mtype, flags, seq, 0)
        return hdr + payload


def write_messages(path, seed, count):
    g = Gen(seed)
    with open(path + '.tmp', 'wb') as f:
        for i in range(count):
            m = g.message(i + 1)
            f.write(struct.pack('=I', len(m)) + m)
    os.rename(path + '.tmp', path)


def read_messages(path):
    data = open(path, 'rb').read()
    out, off = [], 0
    while off < len(data):
        (n,) = struct.unpack_from('=I', data, off)
        out.append(data[off + 4:off + 4 + n])
        off += 4 + n
    return out


def ends_batch(m):
    """A GET with either dump bit starts a dump (upstream tests the flags
    with `& NLM_F_DUMP`); it ends its batch."""
    _, t, f, _, _ = struct.unpack_from('=IHHII', m)
    return (t & 0xff) == GET and (t >> 8) == SUBSYS and bool(f & F_DUMP) and bool(f & F_REQUEST)


def batches(msgs):
    cur = []
    for m in msgs:
        cur.append(m)
        if len(cur) >= BATCH or ends_batch(m):
            yield cur
            cur = []
    if cur:
        yield cur


def normalize(reply):
    """The only normalization: nlmsg_pid of a reply is the receiving
    socket's port id (netlink autobind picks it; it differs from run to run
    and provider to provider).  Everything else, including the request
    echoed inside NLMSG_ERROR and extended-ack attributes, must match."""
    return reply[:12] + b'\0\0\0\0' + reply[16:]


def run(path, out):
    msgs = read_messages(path)
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20)
    s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    s.bind((0, 0))
    nsent = nrep = 0
    with open(out + '.tmp', 'wb') as f:
        for b in batches(msgs):
            # Each message starts at the previous one's NLMSG_ALIGN(nlmsg_len).
            s.send(b''.join(m + b'\0' * (-len(m) % 4) for m in b))
            nsent += len(b)
            while True:
                try:
                    data = s.recv(1 << 20, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                off = 0
                while off + 16 <= len(data):
                    n, _, _, seq, _ = struct.unpack_from('=IHHII', data, off)
                    if n < 16:
                        sys.exit('fuzz: malformed reply (nlmsg_len %d)' % n)
                    rep = normalize(data[off:off + n])
                    f.write(struct.pack('=II', seq, len(rep)) + rep)
                    nrep += 1
                    off += (n + 3) & ~3
    os.rename(out + '.tmp', out)
    print('fuzz: sent %d messages, recorded %d replies' % (nsent, nrep))


def read_replies(path):
    data = open(path, 'rb').read()
    by_seq, off = {}, 0
    while off < len(data):
        seq, n = struct.unpack_from('=II', data, off)
        by_seq.setdefault(seq, []).append(data[off + 8:off + 8 + n])
        off += 8 + n
    return by_seq


def describe(replies):
    out = []
    for r in replies:
        t = struct.unpack_from('=H', r, 4)[0]
        if t == NLMSG_ERROR:
            e = -struct.unpack_from('=i', r, 16)[0]
            out.append('error %d (%s)' % (e, errno.errorcode.get(e, '?')) if e else 'ack')
        elif t == NLMSG_DONE:
            out.append('done')
        else:
            out.append('msg type 0x%x, %d bytes' % (t, len(r)))
    return ', '.join(out) or 'no reply'


def mtype_name(m):
    t = struct.unpack_from('=H', m, 4)[0] & 0xff
    return NAMES.get(t, 'unknown type %d' % t)


def diff(path, a_path, b_path):
    msgs = read_messages(path)
    a, b = read_replies(a_path), read_replies(b_path)
    extra = sorted((set(a) | set(b)) - set(range(1, len(msgs) + 1)))
    for seq in list(range(1, len(msgs) + 1)) + extra:
        ra, rb = a.get(seq, []), b.get(seq, [])
        if ra != rb:
            m = msgs[seq - 1] if 1 <= seq <= len(msgs) else b''
            print('fuzz: FIRST DIFFERENCE at message %d of %d (seq %d, %s, flags 0x%x)' % (
                seq, len(msgs), seq, mtype_name(m) if m else '?', struct.unpack_from('=H', m, 6)[0] if m else 0))
            print('message:  ' + m.hex())
            print('A (%s): %s' % (a_path, describe(ra)))
            for r in ra:
                print('  ' + r.hex())
            print('B (%s): %s' % (b_path, describe(rb)))
            for r in rb:
                print('  ' + r.hex())
            return 1
    print('fuzz: %d messages, replies and errno identical (%d replies)' % (
        len(msgs), sum(len(v) for v in a.values())))
    # Identical is not enough: two providers that both refused everything
    # (or recordings that are both empty) compare equal too.  Each must
    # have answered some messages successfully (an ack, or a message such
    # as a GET reply or a dump's part).
    for path, replies in ((a_path, a), (b_path, b)):
        ok = sum(1 for rs in replies.values() for r in rs if successful(r))
        print('fuzz: %s: %d successful replies (acks and messages)' % (path, ok))
        if ok == 0:
            print('fuzz: FAIL: %s holds no successful reply: the provider answered nothing but errors' % path)
            return 1
    return 0


def successful(reply):
    """A reply that is not an error: an ack (NLMSG_ERROR with error 0), a
    message (a NEW/GET reply, a dump's part) or a dump's NLMSG_DONE that
    carries no error."""
    t = struct.unpack_from('=H', reply, 4)[0]
    if t in (NLMSG_ERROR, NLMSG_DONE):
        return len(reply) < 20 or struct.unpack_from('=i', reply, 16)[0] == 0
    return True


def stats(path, a_path):
    """How many messages of each type ended how (ok: a reply without an
    error; ack; errno; none: no reply asked for)."""
    msgs = read_messages(path)
    a = read_replies(a_path)
    count = {}
    for i, m in enumerate(msgs):
        outcome = 'none'
        for r in a.get(i + 1, []):
            if struct.unpack_from('=H', r, 4)[0] == NLMSG_ERROR:
                e = -struct.unpack_from('=i', r, 16)[0]
                outcome = errno.errorcode.get(e, str(e)) if e else ('ack' if outcome == 'none' else outcome)
            elif outcome == 'none':
                outcome = 'ok'
        key = '%s %s' % (mtype_name(m), outcome)
        count[key] = count.get(key, 0) + 1
    print('fuzz: outcomes (count, message type, outcome):')
    for k in sorted(count, key=lambda k: -count[k]):
        print('%8d  %s' % (count[k], k))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ''
    if cmd == 'gen' and len(sys.argv) == 5:
        write_messages(sys.argv[4], int(sys.argv[2]), int(sys.argv[3]))
        print('fuzz: seed %s, %s messages -> %s' % tuple(sys.argv[2:5]))
    elif cmd == 'run' and len(sys.argv) == 4:
        run(sys.argv[2], sys.argv[3])
    elif cmd == 'diff' and len(sys.argv) == 5:
        sys.exit(diff(*sys.argv[2:5]))
    elif cmd == 'stats' and len(sys.argv) == 4:
        stats(sys.argv[2], sys.argv[3])
    else:
        sys.exit('usage: fuzz.py gen SEED COUNT FILE | run FILE OUT | diff FILE A B | stats FILE A')


if __name__ == '__main__':
    main()
