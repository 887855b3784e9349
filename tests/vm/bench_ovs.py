# SPDX-License-Identifier: Apache-2.0
"""openvswitch.ko over generic netlink for the benchmarks: a datapath, and
flows `ct(commit,zone=Z,timeout=NAME)` installed many per datagram, each
with an exact key of its own (ipv4 src) whose EtherType and IP protocol
match the named object's L3/L4, as the kernel requires for the policy to
attach. Layouts: include/uapi/linux/openvswitch.h."""
import struct

from bench_nl import (NETLINK_GENERIC, NLM_F_ACK, NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REQUEST,
                      Socket, attr, be16, be32, nested, parse_attrs, string, u16, u32)

GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 0x10, 3, 1, 2
CMD_NEW, CMD_DEL = 1, 2
DP_VERSION, FLOW_VERSION = 2, 1
DP_ATTR_NAME, DP_ATTR_UPCALL_PID, DP_ATTR_USER_FEATURES = 1, 2, 5
FLOW_ATTR_KEY, FLOW_ATTR_ACTIONS = 1, 2
KEY_IN_PORT, KEY_ETHERNET, KEY_ETHERTYPE, KEY_IPV4, KEY_TCP, KEY_UDP, KEY_ICMP = 3, 4, 6, 7, 9, 10, 11
KEY_TCP_FLAGS = 18
ACTION_CT = 12
CT_COMMIT, CT_ZONE, CT_TIMEOUT = 1, 2, 9
L4_KEY = {6: KEY_TCP, 17: KEY_UDP, 1: KEY_ICMP}


def genl(cmd, version, body):
    return struct.pack('=BBH', cmd, version, 0) + body


class Client(Socket):
    def __init__(self):
        super().__init__(NETLINK_GENERIC)
        self.dp_family = self.family('ovs_datapath')
        self.flow_family = self.family('ovs_flow')
        self.dp_ifindex = 0

    def family(self, name):
        self.s.send(self.frame(GENL_ID_CTRL, NLM_F_REQUEST,
                               genl(CTRL_CMD_GETFAMILY, 1, string(CTRL_ATTR_FAMILY_NAME, name))))
        m = self.collect(1, GENL_ID_CTRL)[0]
        return struct.unpack('=H', parse_attrs(m, 20)[CTRL_ATTR_FAMILY_ID][:2])[0]

    def dp_add(self, name):
        """Creates datapath `name` (no upcalls: nothing listens) and uses it.
        The new datapath's ifindex comes back only with NLM_F_ECHO:
        openvswitch.ko announces it through genl_notify, which unicasts to
        the requester only when asked to echo (as dpif-netlink does)."""
        body = genl(CMD_NEW, DP_VERSION, struct.pack('=i', 0) + string(DP_ATTR_NAME, name) +
                    u32(DP_ATTR_UPCALL_PID, 0) + u32(DP_ATTR_USER_FEATURES, 0x3))
        self.s.send(self.frame(self.dp_family, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO, body))
        self.dp_ifindex = struct.unpack_from('=i', self.collect(1, self.dp_family)[0], 20)[0]

    def dp_del(self, name):
        body = genl(CMD_DEL, DP_VERSION, struct.pack('=i', 0) + string(DP_ATTR_NAME, name))
        self.s.send(self.frame(self.dp_family, NLM_F_REQUEST | NLM_F_ACK, body))
        self.collect(1)

    def flow_msg(self, i, obj, zone):
        """Flow i, an exact match: in_port(1), eth(), eth_type(0x0800),
        ipv4(src=10.0.0.0+i,dst=10.1.1.2,proto=obj's L4), its L4 key (and the
        TCP flags) -- what net/openvswitch/flow_netlink.c match_validate()
        expects -- actions ct(commit,zone=zone,timeout=obj.name)."""
        assert obj.l3 == 2, 'ipv4 objects only'
        l4 = L4_KEY[obj.l4]
        key = (u32(KEY_IN_PORT, 1) + attr(KEY_ETHERNET, bytes(12)) + be16(KEY_ETHERTYPE, 0x0800) +
               attr(KEY_IPV4, struct.pack('>II', 0x0a000000 + i, 0x0a010102) + bytes([obj.l4, 0, 64, 0])) +
               attr(l4, bytes([8, 0]) if l4 == KEY_ICMP else struct.pack('>HH', 1000, 2000)))
        if l4 == KEY_TCP:   # match_validate expects the flags with every TCP key
            key += be16(KEY_TCP_FLAGS, 0)
        ct = attr(CT_COMMIT, b'') + u16(CT_ZONE, zone) + string(CT_TIMEOUT, obj.name)
        body = genl(CMD_NEW, FLOW_VERSION, struct.pack('=i', self.dp_ifindex) +
                    nested(FLOW_ATTR_KEY, key) + nested(FLOW_ATTR_ACTIONS, nested(ACTION_CT, ct)))
        return self.frame(self.flow_family, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    def flows_add(self, first, objs, zone=5):
        """Installs one flow per object in one datagram; seconds in sendmsg."""
        dt = self.send_timed([self.flow_msg(first + k, o, zone) for k, o in enumerate(objs)])
        self.collect(len(objs))
        return dt

    def flows_flush(self):
        body = genl(CMD_DEL, FLOW_VERSION, struct.pack('=i', self.dp_ifindex))
        self.s.send(self.frame(self.flow_family, NLM_F_REQUEST | NLM_F_ACK, body))
        self.collect(1)
