# SPDX-License-Identifier: Apache-2.0
"""Raw netlink for the benchmarks (`make bench`): attributes, messages, and a
socket that sends many requests in one datagram and times only the
sendmsg(2) that carries them.

The kernel handles every request of a datagram synchronously, inside the
sender's sendmsg (netlink_rcv_skb loops over them), and queues the replies
and acks on the socket. So the time of that one call divided by the number
of requests is the kernel's cost per request, without a Python round trip
per request; the replies are read afterwards, untimed, and every ack is
checked."""
import errno
import socket
import struct
import time

NETLINK_NETFILTER = 12
NETLINK_GENERIC = 16
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_ECHO = 0x1, 0x2, 0x4, 0x8
NLM_F_DUMP = 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLA_F_NESTED = 0x8000
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
BUF = 64 << 20


def attr(t, data):
    n = 4 + len(data)
    return struct.pack('=HH', n, t) + data + b'\0' * ((4 - n % 4) % 4)


def nested(t, data):
    return attr(t | NLA_F_NESTED, data)


def u8(t, v): return attr(t, struct.pack('=B', v))
def u16(t, v): return attr(t, struct.pack('=H', v))
def u32(t, v): return attr(t, struct.pack('=I', v))
def be16(t, v): return attr(t, struct.pack('>H', v))
def be32(t, v): return attr(t, struct.pack('>I', v))
def string(t, s): return attr(t, s.encode() + b'\0')


def parse_attrs(data, off=0):
    """{type: payload} of the attributes in data[off:] (last one wins)."""
    out = {}
    while off + 4 <= len(data):
        n, t = struct.unpack_from('=HH', data, off)
        if n < 4:
            break
        out[t & 0x3fff] = data[off + 4:off + n]
        off += (n + 3) & ~3
    return out


class NetlinkError(Exception):
    pass


class Socket:
    """One netlink socket; requests are (type, flags, payload) triples."""

    def __init__(self, proto):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
        for opt in (SO_SNDBUFFORCE, SO_RCVBUFFORCE):
            self.s.setsockopt(socket.SOL_SOCKET, opt, BUF)
        self.s.bind((0, 0))
        self.seq = 0

    def frame(self, mtype, flags, payload):
        self.seq += 1
        return struct.pack('=IHHII', 16 + len(payload), mtype, flags, self.seq, 0) + payload

    def send_timed(self, msgs):
        """Sends msgs (already framed) in one datagram; seconds in sendmsg."""
        data = b''.join(msgs)
        t0 = time.perf_counter()
        self.s.send(data)
        return time.perf_counter() - t0

    def recv(self):
        """The messages of one datagram: (type, flags, bytes) each."""
        data = self.s.recv(BUF)
        out, off = [], 0
        while off + 16 <= len(data):
            n, t, f, _, _ = struct.unpack_from('=IHHII', data, off)
            out.append((t, f, data[off:off + n]))
            off += (n + 3) & ~3
        return out

    def collect(self, count, reply_type=None):
        """Reads the answers to `count` requests: an ack each, or (for GETs
        without NLM_F_ACK) a reply of reply_type each. Returns the replies;
        raises NetlinkError naming the first errno."""
        replies, errors, seen = [], [], 0
        while seen < count:
            for t, _, m in self.recv():
                if t == NLMSG_ERROR:
                    err = -struct.unpack_from('=i', m, 16)[0]
                    seen += 1
                    if err:
                        errors.append(err)
                elif reply_type is None or t == reply_type:
                    replies.append(m)
                    if reply_type is not None:
                        seen += 1
        if errors:
            raise NetlinkError('%d of %d requests failed, first errno %d (%s)' % (
                len(errors), count, errors[0], errno.errorcode.get(errors[0], '?')))
        return replies

    def dump(self, mtype, payload, reply_type):
        """All reply messages of a dump."""
        self.s.send(self.frame(mtype, NLM_F_REQUEST | NLM_F_DUMP, payload))
        out = []
        while True:
            for t, _, m in self.recv():
                if t == NLMSG_DONE:
                    return out
                if t == NLMSG_ERROR:
                    raise NetlinkError('dump failed, errno %d' % -struct.unpack_from('=i', m, 16)[0])
                if t == reply_type:
                    out.append(m)


def chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]
