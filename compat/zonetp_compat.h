/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C shims called from zonetp's Rust code (rust-module/).  Declared here so
 * bindgen generates their Rust prototypes along with the kernel bindings.
 * Each wraps a static inline kernel function or macro (which has no symbol
 * Rust could call) and does nothing else.
 */
#ifndef ZONETP_COMPAT_H
#define ZONETP_COMPAT_H

#include <linux/types.h>

struct net;
struct sk_buff;
struct sock;
struct nlmsghdr;
struct nlattr;
struct netlink_callback;
struct nf_ct_timeout;
struct nf_ct_timeout_hooks;

/* ABI version of this shim layer; Rust checks it at init. */
#define ZONETP_COMPAT_ABI 1
u32 zonetp_compat_abi(void);

/* The id of the default conntrack zone (nf_ct_zone_dflt.id). */
u16 zonetp_compat_default_zone_id(void);

/*
 * net_generic() is static inline.  Caller must hold rcu_read_lock() (or
 * otherwise keep @net and its generic array alive) while using the result.
 */
void *zonetp_compat_net_generic(const struct net *net, unsigned int id);

/* Value of the `fail_init` module parameter (test aid). */
bool zonetp_compat_fail_init(void);

/* __module_get(THIS_MODULE) / module_put(THIS_MODULE). */
void zonetp_compat_module_get(void);
void zonetp_compat_module_put(void);

/* refcount_t of struct nf_ct_timeout. */
void zonetp_compat_timeout_ref_init(struct nf_ct_timeout *t);
bool zonetp_compat_timeout_ref_get(struct nf_ct_timeout *t);
u32 zonetp_compat_timeout_ref_read(const struct nf_ct_timeout *t);
/* Drops one reference; the last one frees @t with kfree_rcu(t, rcu). */
void zonetp_compat_timeout_ref_put(struct nf_ct_timeout *t);

/* RCU_INIT_POINTER(nf_ct_timeout_hook, @hooks) */
void zonetp_compat_set_timeout_hook(const struct nf_ct_timeout_hooks *hooks);

/* Per-netns default timeouts of @l4num (the array nlattr_to_obj fills), or NULL. */
unsigned int *zonetp_compat_default_timeouts(struct net *net, u8 l4num);

/* skb / netlink inlines */
struct sk_buff *zonetp_compat_nlmsg_new(void);          /* nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL) */
void zonetp_compat_kfree_skb(struct sk_buff *skb);
unsigned int zonetp_compat_skb_len(const struct sk_buff *skb);
u32 zonetp_compat_skb_portid(const struct sk_buff *skb); /* NETLINK_CB(skb).portid */
struct net *zonetp_compat_skb_net(const struct sk_buff *skb); /* sock_net(skb->sk) */
struct nlmsghdr *zonetp_compat_nfnl_msg_put(struct sk_buff *skb, u32 portid,
					    u32 seq, int type, int flags);
void zonetp_compat_nlmsg_end(struct sk_buff *skb, struct nlmsghdr *nlh);
void zonetp_compat_nlmsg_cancel(struct sk_buff *skb, struct nlmsghdr *nlh);
struct nlattr *zonetp_compat_nla_nest_start(struct sk_buff *skb, int type);
void zonetp_compat_nla_nest_end(struct sk_buff *skb, struct nlattr *start);
/* netlink_dump_start() with .dump = @dump and .module = THIS_MODULE */
int zonetp_compat_netlink_dump_start(struct sock *ssk, struct sk_buff *skb,
				     const struct nlmsghdr *nlh,
				     int (*dump)(struct sk_buff *skb,
						 struct netlink_callback *cb));

#endif /* ZONETP_COMPAT_H */
