/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C shims called from zonetp's Rust code (rust-module/).  Declared here so
 * bindgen generates their Rust prototypes along with the kernel bindings.
 */
#ifndef ZONETP_COMPAT_H
#define ZONETP_COMPAT_H

#include <linux/types.h>

struct net;

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

#endif /* ZONETP_COMPAT_H */
