// SPDX-License-Identifier: GPL-2.0
/*
 * C side of zonetp.ko: wrappers for static inline kernel helpers and macros
 * that Rust cannot call directly, plus the module's version string and, in
 * test builds only (see Kbuild), test parameters and ABI probes.
 * Linked into the same zonetp.ko as rust-module/zonetp.rs.
 *
 * Most functions are one helper or macro.  A few hold logic, each because
 * what it needs exists only for the C compiler:
 * - zonetp_compat_default_timeouts(): upstream's per-protocol switch over
 *   the nf_*_pernet() inlines, with #ifdef CONFIG_NF_CT_PROTO_* cases
 *   (which protocols are built in is a preprocessor fact);
 * - zonetp_compat_timeout_hook_install()/_remove(): one cmpxchg each on
 *   the __rcu hook pointer, through the RCU_INITIALIZER()/unrcu_pointer()
 *   macros, so that ownership of the hook is decided atomically;
 * - zonetp_compat_timeout_ref_put(): refcount_dec_and_test() then the
 *   kfree_rcu() macro, as the conntrack core frees these objects;
 * - zonetp_compat_netlink_dump_start(): fills struct netlink_dump_control;
 * - zonetp_compat_selftest_exit_delay() (ZONETP_SELFTEST=1 only): a wait
 *   loop on jiffies, a test aid.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/netlink.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/siphash.h>
#include <linux/skbuff.h>
#include <net/netlink.h>
#include <net/sock.h>
#include <net/netns/generic.h>
#include <net/netfilter/nf_conntrack_l4proto.h>
#include <net/netfilter/nf_conntrack_timeout.h>
#include <net/netfilter/nf_conntrack_zones.h>
#include <linux/netfilter/nfnetlink.h>

#include "zonetp_compat.h"

/* The Rust module! macro in 6.12 has no `version` key. */
MODULE_VERSION("0.1.0");
/*
 * Nor a key for the author that both kernels take: 6.12 wants `author:`,
 * 7.x `authors: [..]`, each rejecting the other.
 */
MODULE_AUTHOR("zonetp developers");

void zonetp_compat_kfree_rcu(struct zonetp_rcu_obj *obj)
{
	kfree_rcu(obj, rcu);
}

unsigned long zonetp_compat_rcu_gp_cookie(void)
{
	/* Not get_state_synchronize_rcu(): it does not ask for a grace
	 * period, and with nothing else asking for one, a resize could be
	 * deferred for as long. */
	return start_poll_synchronize_rcu();
}

bool zonetp_compat_rcu_gp_passed(unsigned long cookie)
{
	return poll_state_synchronize_rcu(cookie);
}

u64 zonetp_compat_siphash(const void *data, size_t len, const siphash_key_t *key)
{
	return siphash(data, len, key);
}

void *zonetp_compat_net_generic(const struct net *net, unsigned int id)
{
	return net_generic(net, id);
}

bool zonetp_compat_check_net(const struct net *net)
{
	return check_net(net);
}

#ifdef ZONETP_SELFTEST
u32 zonetp_compat_abi(void)
{
	return ZONETP_COMPAT_ABI;
}

size_t zonetp_compat_sizeof_timeout(void)
{
	return sizeof(struct nf_ct_timeout);
}

static unsigned int exit_hook_delay_ms;
module_param(exit_hook_delay_ms, uint, 0644);
MODULE_PARM_DESC(exit_hook_delay_ms,
		 "At unload, wait up to this long, between unregistering the subsystem and giving up the hook, for another provider to take the hook (test aid)");

void zonetp_compat_selftest_exit_delay(const struct nf_ct_timeout_hooks *ours)
{
	unsigned long end = jiffies + msecs_to_jiffies(exit_hook_delay_ms);

	while (time_before(jiffies, end) &&
	       rcu_access_pointer(nf_ct_timeout_hook) == ours)
		msleep(20);
	if (rcu_access_pointer(nf_ct_timeout_hook) != ours)
		pr_info("selftest: another provider took nf_ct_timeout_hook during unload\n");
}
#endif

void zonetp_compat_rcu_read_lock(void)
{
	rcu_read_lock();
}

void zonetp_compat_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

void *zonetp_compat_dump_ctx(struct netlink_callback *cb)
{
	/* ctx shares a union with long args[6] today; if that ever changes,
	 * the build stops here rather than Rust misreading its cursor. */
	BUILD_BUG_ON(sizeof_field(struct netlink_callback, ctx) < ZONETP_DUMP_CTX_SIZE);
	BUILD_BUG_ON(offsetof(struct netlink_callback, ctx) % ZONETP_DUMP_CTX_ALIGN);
	BUILD_BUG_ON(__alignof__(struct netlink_callback) < ZONETP_DUMP_CTX_ALIGN);
	return cb->ctx;
}

bool zonetp_compat_module_try_get(void)
{
	return try_module_get(THIS_MODULE);
}

void zonetp_compat_module_put(void)
{
	module_put(THIS_MODULE);
}

void zonetp_compat_timeout_ref_init(struct nf_ct_timeout *t)
{
	refcount_set(&t->refcnt, 1);
}

void zonetp_compat_timeout_ref_inc(struct nf_ct_timeout *t)
{
	refcount_inc(&t->refcnt);
}

bool zonetp_compat_timeout_ref_get(struct nf_ct_timeout *t)
{
	return refcount_inc_not_zero(&t->refcnt);
}

u32 zonetp_compat_timeout_ref_read(const struct nf_ct_timeout *t)
{
	return refcount_read(&t->refcnt);
}

void zonetp_compat_timeout_ref_put(struct nf_ct_timeout *t)
{
	if (refcount_dec_and_test(&t->refcnt))
		kfree_rcu(t, rcu);
}

bool zonetp_compat_timeout_hook_install(const struct nf_ct_timeout_hooks *hooks)
{
	return !unrcu_pointer(cmpxchg(&nf_ct_timeout_hook, NULL,
				      RCU_INITIALIZER(hooks)));
}

bool zonetp_compat_timeout_hook_remove(const struct nf_ct_timeout_hooks *hooks)
{
	return unrcu_pointer(cmpxchg(&nf_ct_timeout_hook, RCU_INITIALIZER(hooks),
				     NULL)) == hooks;
}

unsigned int *zonetp_compat_default_timeouts(struct net *net, u8 l4num)
{
	switch (l4num) {
	case IPPROTO_ICMP:
		return &nf_icmp_pernet(net)->timeout;
	case IPPROTO_TCP:
		return nf_tcp_pernet(net)->timeouts;
	case IPPROTO_UDP:
	/*
	 * UDP-Lite and DCCP: tracked on 6.12 only.  7.x removed both trackers,
	 * so L4Proto::find() refuses them there (as upstream does) and these
	 * two cases are never reached; kept for 6.12.
	 */
	case IPPROTO_UDPLITE:
		return nf_udp_pernet(net)->timeouts;
	case IPPROTO_DCCP:
#ifdef CONFIG_NF_CT_PROTO_DCCP
		return nf_dccp_pernet(net)->dccp_timeout;
#endif
		return NULL;
	case IPPROTO_ICMPV6:
		return &nf_icmpv6_pernet(net)->timeout;
	case IPPROTO_SCTP:
#ifdef CONFIG_NF_CT_PROTO_SCTP
		return nf_sctp_pernet(net)->timeouts;
#endif
		return NULL;
	case IPPROTO_GRE:
#ifdef CONFIG_NF_CT_PROTO_GRE
		return nf_gre_pernet(net)->timeouts;
#endif
		return NULL;
	case 255:
		return &nf_generic_pernet(net)->timeout;
	default:
		WARN_ONCE(1, "Missing timeouts for proto %d", l4num);
		return NULL;
	}
}

struct sk_buff *zonetp_compat_nlmsg_new(void)
{
	return nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
}

void zonetp_compat_kfree_skb(struct sk_buff *skb)
{
	kfree_skb(skb);
}

unsigned int zonetp_compat_skb_len(const struct sk_buff *skb)
{
	return skb->len;
}

u32 zonetp_compat_skb_portid(const struct sk_buff *skb)
{
	return NETLINK_CB(skb).portid;
}

struct net *zonetp_compat_skb_net(const struct sk_buff *skb)
{
	return sock_net(skb->sk);
}

struct nlmsghdr *zonetp_compat_nfnl_msg_put(struct sk_buff *skb, u32 portid,
					    u32 seq, int type, int flags)
{
	return nfnl_msg_put(skb, portid, seq, type, flags, AF_UNSPEC,
			    NFNETLINK_V0, 0);
}

void zonetp_compat_nlmsg_end(struct sk_buff *skb, struct nlmsghdr *nlh)
{
	nlmsg_end(skb, nlh);
}

void zonetp_compat_nlmsg_cancel(struct sk_buff *skb, struct nlmsghdr *nlh)
{
	nlmsg_cancel(skb, nlh);
}

struct nlattr *zonetp_compat_nla_nest_start(struct sk_buff *skb, int type)
{
	return nla_nest_start(skb, type);
}

void zonetp_compat_nla_nest_end(struct sk_buff *skb, struct nlattr *start)
{
	nla_nest_end(skb, start);
}

int zonetp_compat_netlink_dump_start(struct sock *ssk, struct sk_buff *skb,
				     const struct nlmsghdr *nlh,
				     int (*dump)(struct sk_buff *skb,
						 struct netlink_callback *cb))
{
	/*
	 * .module: the dump pins zonetp.ko until it is done, as upstream's
	 * pins nfnetlink_cttimeout (netlink_dump_start() fills in THIS_MODULE
	 * when .module is NULL; here that would be zonetp too).
	 */
	struct netlink_dump_control c = {
		.dump = dump,
		.module = THIS_MODULE,
	};

	return netlink_dump_start(ssk, skb, nlh, &c);
}
