/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C shims called from zonetp's Rust code (rust-module/).  Declared here so
 * bindgen generates their Rust prototypes along with the kernel bindings.
 * Each wraps static inline kernel functions or macros, which have no
 * symbol Rust could call; most are one call, a few (the default-timeouts
 * switch, the hook's cmpxchg, the selftest's wait) hold the logic that
 * needs the C preprocessor: see zonetp_compat.c.
 */
#ifndef ZONETP_COMPAT_H
#define ZONETP_COMPAT_H

#include <linux/types.h>
#include <linux/siphash.h>

struct net;
struct sk_buff;
struct sock;
struct nlmsghdr;
struct nlattr;
struct netlink_callback;
struct nf_ct_timeout;
struct nf_ct_timeout_hooks;

/*
 * The head of an object Rust frees with kfree_rcu(): a #[repr(C)] Rust
 * struct whose first field is this one, so that a pointer to it is also a
 * pointer to the start of the kmalloc'ed object.
 */
struct zonetp_rcu_obj {
	struct rcu_head rcu;
};

/* kfree_rcu(@obj, rcu): kfree()s the object @obj heads after a grace period. */
void zonetp_compat_kfree_rcu(struct zonetp_rcu_obj *obj);

/* start_poll_synchronize_rcu() (a cookie, and a grace period asked for) /
 * poll_state_synchronize_rcu(@cookie): neither waits. */
unsigned long zonetp_compat_rcu_gp_cookie(void);
bool zonetp_compat_rcu_gp_passed(unsigned long cookie);

/*
 * rcu_read_lock() / rcu_read_unlock(): the RCU read-side critical section
 * that rust-module/table.rs's RcuReadSide guard holds for its lifetime.
 */
void zonetp_compat_rcu_read_lock(void);
void zonetp_compat_rcu_read_unlock(void);

/* siphash(@data, @len, @key) */
u64 zonetp_compat_siphash(const void *data, size_t len, const siphash_key_t *key);

/* net_generic() (rcu_dereference of the netns' generic array). */
void *zonetp_compat_net_generic(const struct net *net, unsigned int id);

/* check_net(): false once @net is being dismantled (its count is zero). */
bool zonetp_compat_check_net(const struct net *net);

#ifdef ZONETP_SELFTEST
/*
 * ABI version of this shim layer; at init Rust compares it with its own
 * SHIM_ABI (rust-module/selftest.rs), ZONETP_SELFTEST=1 only.  Change both
 * when a shim's signature or meaning changes.
 */
#define ZONETP_COMPAT_ABI 3
u32 zonetp_compat_abi(void);
/* sizeof(struct nf_ct_timeout) as C sees it. */
size_t zonetp_compat_sizeof_timeout(void);
/*
 * At unload, between the subsystem's unregistration and the hook's: wait
 * until nf_ct_timeout_hook is no longer @ours (another provider loaded and
 * took it), at most exit_hook_delay_ms (a module parameter, default 0), so
 * that a test can have another provider load in that window every time.
 */
void zonetp_compat_selftest_exit_delay(const struct nf_ct_timeout_hooks *ours);
#endif

/*
 * try_module_get(THIS_MODULE) (false once the module is going: rmmod has
 * begun) / module_put(THIS_MODULE).
 */
bool zonetp_compat_module_try_get(void);
void zonetp_compat_module_put(void);

/* refcount_t of struct nf_ct_timeout. */
void zonetp_compat_timeout_ref_init(struct nf_ct_timeout *t);
void zonetp_compat_timeout_ref_inc(struct nf_ct_timeout *t);
bool zonetp_compat_timeout_ref_get(struct nf_ct_timeout *t);
u32 zonetp_compat_timeout_ref_read(const struct nf_ct_timeout *t);
/* Drops one reference; the last one frees @t with kfree_rcu(t, rcu). */
void zonetp_compat_timeout_ref_put(struct nf_ct_timeout *t);

/*
 * nf_ct_timeout_hook ownership.  install: set it to @hooks only if it is
 * NULL; remove: set it to NULL only if it is still @hooks.  Both are one
 * cmpxchg (fully ordered, so install publishes like rcu_assign_pointer());
 * both return whether they changed the hook.
 */
bool zonetp_compat_timeout_hook_install(const struct nf_ct_timeout_hooks *hooks);
bool zonetp_compat_timeout_hook_remove(const struct nf_ct_timeout_hooks *hooks);

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
/*
 * cb->ctx, the dump's scratch space: at least ZONETP_DUMP_CTX_SIZE bytes,
 * aligned to ZONETP_DUMP_CTX_ALIGN (both checked when zonetp_compat.c is
 * built), which rust-module/handlers.rs's DumpCursor is checked against.
 */
#define ZONETP_DUMP_CTX_SIZE 48
#define ZONETP_DUMP_CTX_ALIGN 8
void *zonetp_compat_dump_ctx(struct netlink_callback *cb);
/* netlink_dump_start() with .dump = @dump and .module = THIS_MODULE */
int zonetp_compat_netlink_dump_start(struct sock *ssk, struct sk_buff *skb,
				     const struct nlmsghdr *nlh,
				     int (*dump)(struct sk_buff *skb,
						 struct netlink_callback *cb));

#endif /* ZONETP_COMPAT_H */
