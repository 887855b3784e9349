# SPDX-License-Identifier: Apache-2.0
"""Prints the kernel's flow dump of an OVS datapath as it came, one
netlink message a line in hex ("FLOW-DUMP-HEX <hex>"): the bytes the
kernel answers OVS_FLOW_CMD_GET with NLM_F_DUMP, for golden fixtures
(userspace/zonetp/tests/data/). Usage: python3 ovs_flow_dump.py DATAPATH"""
import socket
import struct
import sys

from bench_ovs import Client, genl

FLOW_CMD_GET, FLOW_VERSION = 3, 1


def main():
    dp = sys.argv[1]
    c = Client()
    body = genl(FLOW_CMD_GET, FLOW_VERSION, struct.pack('=i', socket.if_nametoindex(dp)))
    for m in c.dump(c.flow_family, body, c.flow_family):
        print('FLOW-DUMP-HEX', m.hex())


if __name__ == '__main__':
    main()
