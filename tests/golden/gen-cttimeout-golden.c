// SPDX-License-Identifier: Apache-2.0
//
// Test-only reference: prints the nfnetlink cttimeout messages that
// libnetfilter_cttimeout (the library behind `nfct`) builds for a fixed set
// of objects, one "case-name hex-bytes" line each. zonetp's codec must emit
// the same bytes (userspace/zonetp/tests/golden.rs reads cttimeout.golden).
//
// Regenerate: make golden   (needs libnetfilter-cttimeout-dev, libmnl-dev)
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink_cttimeout.h>
#include <libnetfilter_cttimeout/libnetfilter_cttimeout.h>

#define SEQ 0x01020304u

static void emit(const char *name, const struct nlmsghdr *nlh)
{
	const unsigned char *p = (const unsigned char *)nlh;
	printf("%s ", name);
	for (unsigned int i = 0; i < nlh->nlmsg_len; i++)
		printf("%02x", p[i]);
	printf("\n");
}

struct policy_value { unsigned int attr; unsigned int seconds; };

static void object(const char *casename, uint8_t cmd, uint16_t flags,
		   const char *name, int l3, int l4,
		   const struct policy_value *pv, int npv)
{
	char buf[8192];
	struct nlmsghdr *nlh;
	struct nfct_timeout *t = nfct_timeout_alloc();

	memset(buf, 0, sizeof(buf));
	if (name)
		nfct_timeout_attr_set(t, NFCT_TIMEOUT_ATTR_NAME, name);
	if (l3 >= 0)
		nfct_timeout_attr_set_u16(t, NFCT_TIMEOUT_ATTR_L3PROTO, l3);
	if (l4 >= 0)
		nfct_timeout_attr_set_u8(t, NFCT_TIMEOUT_ATTR_L4PROTO, l4);
	for (int i = 0; i < npv; i++)
		nfct_timeout_policy_attr_set_u32(t, pv[i].attr, pv[i].seconds);
	nlh = nfct_timeout_nlmsg_build_hdr(buf, cmd, flags, SEQ);
	nfct_timeout_nlmsg_build_payload(nlh, t);
	emit(casename, nlh);
	nfct_timeout_free(t);
}

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
	const uint16_t ovs_set = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK | NLM_F_REPLACE;
	const uint16_t create = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK | NLM_F_EXCL;
	const uint16_t ack = NLM_F_REQUEST | NLM_F_ACK;

	struct policy_value udp30[] = { { NFCT_TIMEOUT_ATTR_UDP_UNREPLIED, 30 } };
	struct policy_value udp_both[] = { { NFCT_TIMEOUT_ATTR_UDP_UNREPLIED, 10 },
					   { NFCT_TIMEOUT_ATTR_UDP_REPLIED, 20 } };
	struct policy_value tcp_all[NFCT_TIMEOUT_ATTR_TCP_MAX];
	for (int i = 0; i < NFCT_TIMEOUT_ATTR_TCP_MAX; i++) {
		tcp_all[i].attr = i;
		tcp_all[i].seconds = 100 + i;
	}
	struct policy_value tcp_est[] = { { NFCT_TIMEOUT_ATTR_TCP_ESTABLISHED, 432000 } };
	struct policy_value icmp1[] = { { NFCT_TIMEOUT_ATTR_ICMP, 1 } };
	struct policy_value icmpv6[] = { { NFCT_TIMEOUT_ATTR_ICMPV6, 7 } };
	struct policy_value gre[] = { { NFCT_TIMEOUT_ATTR_GRE_UNREPLIED, 30 },
				      { NFCT_TIMEOUT_ATTR_GRE_REPLIED, 180 } };
	struct policy_value sctp[] = { { NFCT_TIMEOUT_ATTR_SCTP_CLOSED, 10 },
				       { NFCT_TIMEOUT_ATTR_SCTP_ESTABLISHED, 4000 },
				       { NFCT_TIMEOUT_ATTR_SCTP_SHUTDOWN_ACK_SENT, 3 } };
	struct policy_value dccp[] = { { NFCT_TIMEOUT_ATTR_DCCP_OPEN, 1000 } };
	struct policy_value udplite[] = { { NFCT_TIMEOUT_ATTR_UDPLITE_REPLIED, 99 } };
	struct policy_value generic[] = { { NFCT_TIMEOUT_ATTR_GENERIC, 600 } };
	struct policy_value big[] = { { NFCT_TIMEOUT_ATTR_UDP_REPLIED, 4294967 } };

	object("new_ovs_udp4", IPCTNL_MSG_TIMEOUT_NEW, ovs_set, "ovs_tp_1_udp4", AF_INET, IPPROTO_UDP, udp30, N(udp30));
	object("new_udp4_both", IPCTNL_MSG_TIMEOUT_NEW, create, "t1", AF_INET, IPPROTO_UDP, udp_both, N(udp_both));
	object("new_tcp6_all", IPCTNL_MSG_TIMEOUT_NEW, create, "ovs_tp_4294967294_tcp6", AF_INET6, IPPROTO_TCP, tcp_all, N(tcp_all));
	object("replace_tcp4_est", IPCTNL_MSG_TIMEOUT_NEW, NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE, "web", AF_INET, IPPROTO_TCP, tcp_est, N(tcp_est));
	object("new_icmp4", IPCTNL_MSG_TIMEOUT_NEW, ovs_set, "ovs_tp_7_icmp4", AF_INET, IPPROTO_ICMP, icmp1, N(icmp1));
	object("new_icmpv6", IPCTNL_MSG_TIMEOUT_NEW, ovs_set, "ovs_tp_7_icmpv6", AF_INET6, IPPROTO_ICMPV6, icmpv6, N(icmpv6));
	object("new_gre4", IPCTNL_MSG_TIMEOUT_NEW, create, "gre", AF_INET, IPPROTO_GRE, gre, N(gre));
	object("new_sctp4", IPCTNL_MSG_TIMEOUT_NEW, create, "sctp", AF_INET, IPPROTO_SCTP, sctp, N(sctp));
	object("new_dccp6", IPCTNL_MSG_TIMEOUT_NEW, create, "dccp", AF_INET6, IPPROTO_DCCP, dccp, N(dccp));
	object("new_udplite4", IPCTNL_MSG_TIMEOUT_NEW, create, "lite", AF_INET, IPPROTO_UDPLITE, udplite, N(udplite));
	object("new_generic4", IPCTNL_MSG_TIMEOUT_NEW, create, "gen", AF_INET, 255, generic, N(generic));
	object("new_udp4_big", IPCTNL_MSG_TIMEOUT_NEW, create, "big", AF_INET, IPPROTO_UDP, big, N(big));
	object("get_one", IPCTNL_MSG_TIMEOUT_GET, ack, "ovs_tp_1_udp4", -1, -1, NULL, 0);
	object("dump", IPCTNL_MSG_TIMEOUT_GET, NLM_F_REQUEST | NLM_F_DUMP, NULL, -1, -1, NULL, 0);
	object("delete_one", IPCTNL_MSG_TIMEOUT_DELETE, ack, "ovs_tp_1_udp4", -1, -1, NULL, 0);
	object("delete_unused", IPCTNL_MSG_TIMEOUT_DELETE, ack, NULL, -1, -1, NULL, 0);
	object("default_get_udp4", IPCTNL_MSG_TIMEOUT_DEFAULT_GET, ack, NULL, AF_INET, IPPROTO_UDP, NULL, 0);
	object("default_set_udp4", IPCTNL_MSG_TIMEOUT_DEFAULT_SET, ack, NULL, AF_INET, IPPROTO_UDP, udp_both, N(udp_both));
	object("default_set_tcp6_est", IPCTNL_MSG_TIMEOUT_DEFAULT_SET, ack, NULL, AF_INET6, IPPROTO_TCP, tcp_est, N(tcp_est));
	return 0;
}
