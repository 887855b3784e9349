// SPDX-License-Identifier: GPL-2.0
/*
 * C side of zonetp.ko: wrappers for static inline kernel helpers that Rust
 * cannot call directly, plus the module's version string and test parameter.
 * Linked into the same zonetp.ko as rust-module/zonetp.rs.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <net/netns/generic.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "zonetp_compat.h"

/* The Rust module! macro in 6.12 has no `version` key. */
MODULE_VERSION("0.1.0");

#ifndef ZONETP_FAIL_INIT_DEFAULT
#define ZONETP_FAIL_INIT_DEFAULT 0
#endif
static bool fail_init = ZONETP_FAIL_INIT_DEFAULT;
module_param(fail_init, bool, 0444);
MODULE_PARM_DESC(fail_init, "Make module init fail with -EINVAL (test aid)");

u32 zonetp_compat_abi(void)
{
	return ZONETP_COMPAT_ABI;
}

u16 zonetp_compat_default_zone_id(void)
{
	return nf_ct_zone_dflt.id;
}

void *zonetp_compat_net_generic(const struct net *net, unsigned int id)
{
	return net_generic(net, id);
}

bool zonetp_compat_fail_init(void)
{
	return fail_init;
}
