# SPDX-License-Identifier: Apache-2.0
"""cttimeout objects for the benchmarks: OVS's names and layout (policy id
N gives ovs_tp_N_tcp4, _udp4, _icmp4, _tcp6, _udp6, _icmpv6, created in
that order), NEW and GET requests, and a dump of names and USE counts."""
import struct

from bench_nl import (NETLINK_NETFILTER, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
                      NLM_F_REQUEST, Socket, attr, be16, be32, nested, parse_attrs, string)

SUBSYS = 8                        # NFNL_SUBSYS_CTNETLINK_TIMEOUT
MSG_NEW, MSG_GET = 0, 1           # IPCTNL_MSG_TIMEOUT_*
NAME, L3PROTO, L4PROTO, DATA, USE = 1, 2, 3, 4, 5   # CTA_TIMEOUT_*
REPLY = (SUBSYS << 8) | MSG_NEW
# (suffix, l3, l4) in OVS's order
KINDS = [('tcp4', 2, 6), ('udp4', 2, 17), ('icmp4', 2, 1),
         ('tcp6', 10, 6), ('udp6', 10, 17), ('icmpv6', 10, 58)]


class Obj:
    def __init__(self, index):
        """The index-th object (from 0) of policies 1, 2, ... in OVS's order."""
        self.policy = index // 6 + 1
        self.suffix, self.l3, self.l4 = KINDS[index % 6]
        self.name = 'ovs_tp_%d_%s' % (self.policy, self.suffix)

    def data(self):
        """Timeouts that differ per policy (a site's 4,096 distinct ones)."""
        v = 100 + self.policy
        if self.l4 == 6:   # syn_sent .. established
            return be32(1, v) + be32(2, v) + be32(3, v + 3600)
        if self.l4 == 17:  # unreplied, replied
            return be32(1, v) + be32(2, v + 1)
        return be32(1, v)  # icmp/icmpv6 timeout


def nfgen(body):
    return struct.pack('=BBH', 0, 0, 0) + body


class Client(Socket):
    def __init__(self):
        super().__init__(NETLINK_NETFILTER)

    def new_msg(self, obj):
        body = (string(NAME, obj.name) + be16(L3PROTO, obj.l3) + attr(L4PROTO, bytes([obj.l4])) +
                nested(DATA, obj.data()))
        return self.frame((SUBSYS << 8) | MSG_NEW,
                          NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, nfgen(body))

    def get_msg(self, name):
        return self.frame((SUBSYS << 8) | MSG_GET, NLM_F_REQUEST, nfgen(string(NAME, name)))

    def create(self, objs):
        """Creates objs in one datagram; seconds in sendmsg. Every ack is checked."""
        dt = self.send_timed([self.new_msg(o) for o in objs])
        self.collect(len(objs))
        return dt

    def create_one(self, obj):
        """One request, one ack: ovs-vswitchd's way (nl_transact)."""
        self.s.send(self.new_msg(obj))
        self.collect(1)

    def get(self, names):
        """GETs names in one datagram; seconds in sendmsg. Each must answer
        with the object of that name."""
        dt = self.send_timed([self.get_msg(n) for n in names])
        replies = self.collect(len(names), REPLY)
        for want, m in zip(names, replies):
            got = parse_attrs(m, 20)[NAME].rstrip(b'\0').decode()
            assert got == want, 'GET %s answered %s' % (want, got)
        return dt

    def uses(self):
        """{name: USE} of every object in this namespace."""
        out = {}
        for m in self.dump((SUBSYS << 8) | MSG_GET, nfgen(b''), REPLY):
            a = parse_attrs(m, 20)
            out[a[NAME].rstrip(b'\0').decode()] = struct.unpack('>I', a[USE])[0]
        return out
